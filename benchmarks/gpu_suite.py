"""One-shot accelerator measurement of ilflow's MD, within a time budget; run through benchmarks/gpu_suite.sh.

  python benchmarks/gpu_suite.py [--quick] [--budget-s 420] [--out gpu_suite.json]

Boxes: benchmarks/data/bmim_bf4_353K_120.extxyz (120 atoms, equilibrated) tiled n x n x n (120, 960, 3240, 7680, ... atoms:
no PACKMOL or RDKit needed on the machine). Model: a 2-member 2 x 512 GMNN ensemble with random weights, scaled
down so that the short runs stay gentle (the cost per evaluation does not depend on the weights). NVT (Nose-Hoover chain), 0.5 fs. Measured, in this order, until the
budget is spent:
  1. ns/day and atom-steps/s against atoms for the model alone, the hybrid (+ D3(BJ, b97-3c, 20 Å)) with D3
     at every step, and the hybrid with D3 every 8 steps (multiple time stepping);
  2. the largest box whose model-alone MD step fits in the accelerator's memory (tiles grown until allocation
     fails);
  3. float32 against float64 forces of the same model on the same frames (largest and RMS difference);
  4. Apax's JAX-MD driver on the same boxes, if apax is importable (else recorded as not installed).
--quick (CPU, seconds; CI runs it): the 120-atom box, a 2 x 32 model, D3 over 8 Å, a few steps, no memory search.
Writes one JSON file (default benchmarks/results/gpu_suite.json).
"""

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
DT_FS = 0.5


def tiled_box(n: int):
    """The equilibrated 120-atom BMIM-BF4 box of the benchmarks (353 K), repeated n x n x n."""
    from ase.io import read

    return read(HERE / "data" / "bmim_bf4_353K_120.extxyz").repeat((n, n, n))


def md_rate(model_dir: Path, atoms, dispersion, every: int, steps: int, work: Path) -> dict:
    """Steady-state speed of NVT MD (the first chunk, with compilation, is left out)."""
    from ilflow.md import NoseHoover, RunSettings, Schedule, from_model, run_md

    force_field = from_model(model_dir, dispersion, dispersion_every=every)
    out = Path(tempfile.mkdtemp(dir=work))
    summary = run_md(force_field, atoms, NoseHoover(DT_FS),
                     RunSettings(steps=3 * steps, frame_every=steps, frames_per_chunk=1, schedule=Schedule(300.0)), out)
    return {"ns_per_day": summary.ns_per_day, "atom_steps_per_s": summary.atom_steps_per_s,
            "ms_per_step": 1e3 * len(atoms) / summary.atom_steps_per_s if summary.atom_steps_per_s else None}


def largest_box(model_dir: Path, start: int, deadline: float) -> dict:
    """Tiles grown from `start` until one model-alone MD step no longer fits in memory (or time runs out)."""
    from ilflow.md.force_field import allocate_lists, from_model, make_force, start_forces
    from ilflow.potentials.system import make_system

    force_field = from_model(model_dir)
    fits, n = None, start
    while time.perf_counter() < deadline:
        atoms = tiled_box(n)
        try:
            system = make_system(atoms, force_field.elements)
            specs = allocate_lists(force_field, system)
            force = jax.jit(make_force(force_field, specs, force_field.params))
            jax.block_until_ready(force(system, start_forces(force_field, specs, system))[0].forces)
        except Exception as exc:  # noqa: BLE001  (XLA reports an allocation failure as a runtime error)
            if "RESOURCE_EXHAUSTED" not in str(exc) and "out of memory" not in str(exc).lower():
                raise
            return {"largest_atoms": fits, "failed_atoms": len(atoms), "reason": str(exc).splitlines()[0][:200]}
        fits, n = len(atoms), n + 1
    return {"largest_atoms": fits, "failed_atoms": None, "reason": "time budget reached before memory ran out"}


def precision(model_dir: Path, atoms) -> dict:
    """Forces of the same weights evaluated in float32 and float64 on the same frame."""
    from dataclasses import replace

    from ilflow.potentials.ensemble import ensemble_forces
    from ilflow.potentials.gmnn import energy
    from ilflow.potentials.model_io import load_model
    from ilflow.potentials.neighbors import host_neighbors
    from ilflow.potentials.system import make_system

    config, params, _ = load_model(model_dir)
    system = make_system(atoms, config.elements)
    neighbors = host_neighbors(atoms, config.cutoff_A)
    forces = {}
    for dtype in ("float32", "float64"):
        cfg = replace(config, dtype=dtype)
        cast = jax.tree_util.tree_map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, params)
        f = jax.jit(lambda p, s, n: ensemble_forces(lambda q, s, n: energy(q, cfg, s, n), p, s, n).forces)
        forces[dtype] = np.asarray(jax.block_until_ready(f(cast, system, neighbors)), dtype=np.float64)
    diff = forces["float32"] - forces["float64"]
    return {"atoms": len(atoms), "max_abs_diff_eV_A": float(np.max(np.abs(diff))),
            "rms_diff_eV_A": float(np.sqrt(np.mean(diff**2))),
            "rms_force_eV_A": float(np.sqrt(np.mean(forces["float64"] ** 2)))}


def apax_md(work: Path, ours: list[dict], steps: int, deadline: float) -> dict:
    """Apax's JAX-MD driver on the boxes of `ours` (model alone), when its environment is there
    (benchmarks/setup_peer_env.sh apax, which needs the package index): trained one epoch, as md_vs_apax.py."""
    if not (HERE / ".venv-apax" / "bin" / "python").exists():
        return {"installed": False, "reason": "no benchmarks/.venv-apax (bash benchmarks/setup_peer_env.sh apax)"}
    from ase.io import write

    from gmnn_vs_apax import apax, write_splits

    write_splits(work)
    apax("train", work / "train.extxyz", work / "val.extxyz", work / "apax-model", 1, "512,512")
    rows = []
    for row in ours:
        if time.perf_counter() > deadline:
            break
        write(work / "apax-box.extxyz", tiled_box(round((row["atoms"] / 120) ** (1 / 3))))
        seconds = apax("md", work / "apax-model", work / "apax-box.extxyz", steps)["s_per_step"]
        rows.append({"atoms": row["atoms"], "apax_ms_per_step": 1e3 * seconds,
                     "ilflow_speedup": seconds / (row["ms_per_step"] / 1e3)})
    return {"installed": True, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="CPU smoke run: seconds, smallest settings")
    parser.add_argument("--budget-s", type=float, default=420.0, help="stop starting new measurements after this")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "gpu_suite.json")
    args = parser.parse_args()
    start = time.perf_counter()
    deadline = start + args.budget_s
    from ilflow.potentials import GMNNConfig, init_params, save_model

    work = Path(tempfile.mkdtemp(prefix="gpu-suite-"))
    hidden, cutoff, steps = ((32, 32), 8.0, 8) if args.quick else ((512, 512), 20.0, 48)  # steps: a multiple of 8
    config = GMNNConfig(elements=(1, 5, 6, 7, 9), hidden=hidden)
    params = jax.vmap(lambda k: init_params(config, k))(jax.random.split(jax.random.PRNGKey(0), 2))
    params["scale"] = params["scale"] * 0.01
    save_model(work / "model", config, params)
    dispersion = {"functional": "b97-3c", "cutoff_A": cutoff, "cn_cutoff_A": cutoff}
    device = jax.devices()[0]
    results = {"device": str(device), "platform": device.platform, "jax": jax.__version__,
               "host": f"{platform.machine()}, {os.cpu_count()} cores", "quick": args.quick, "timestep_fs": DT_FS,
               "model_hidden": list(hidden), "d3": dispersion, "md": [], "largest_box": None, "precision": None,
               "apax": None}

    def save():
        results["wall_s"] = time.perf_counter() - start
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")

    tiles = [1] if args.quick else [1, 2, 3, 4, 5, 6]
    variants = [("model alone", None, 1), ("hybrid", dispersion, 1), ("hybrid, D3 every 8", dispersion, 8)]
    for n in tiles:
        atoms = tiled_box(n)
        for label, d3, every in variants:
            if time.perf_counter() > deadline:
                break
            row = {"atoms": len(atoms), "variant": label, **md_rate(work / "model", atoms, d3, every, steps, work)}
            results["md"].append(row)
            print(f"{len(atoms):6d} atoms, {label:20s}: {row['ns_per_day']:8.3f} ns/day, "
                  f"{row['atom_steps_per_s']:11.0f} atom-steps/s", flush=True)
            save()
    if not args.quick and time.perf_counter() < deadline:
        results["largest_box"] = largest_box(work / "model", tiles[-1] + 1, deadline)
        print(f"largest box: {results['largest_box']}", flush=True)
        save()
    results["precision"] = precision(work / "model", tiled_box(1 if args.quick else 2))
    print(f"float32 vs float64 forces: {results['precision']}", flush=True)
    results["apax"] = apax_md(work, [r for r in results["md"] if r["variant"] == "model alone"], steps, deadline)
    save()
    print(f"written {args.out} after {results['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
