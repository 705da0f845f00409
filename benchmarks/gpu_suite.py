"""One-shot accelerator measurement of ilflow's MD, within a time budget; run through benchmarks/gpu_suite.sh.

  python benchmarks/gpu_suite.py [--quick] [--budget-s 420] [--out gpu_suite.json] [--model DIR] [--parts ...]

Boxes: benchmarks/data/bmim_bf4_353K_120.extxyz (120 atoms, equilibrated) tiled n x n x n (120, 960, 3240,
7680, 25920 atoms: no PACKMOL or RDKit needed on the machine). Model: a trained ensemble given with --model (its
float32 vs float64 forces then mean something), else a 2-member 2 x 512 GMNN ensemble with random weights, scaled
down so that the short runs stay gentle (the cost per evaluation does not depend on the weights). NVT (Nose-Hoover
chain), 0.5 fs. Measured, in this order, until the budget is spent:
  1. ns/day and atom-steps/s against atoms for the model alone, the hybrid (+ D3(BJ, b97-3c, 20 Å)) with D3
     at every step, and the hybrid with D3 every 8 steps (multiple time stepping); the model alone with TF32
     matrix products (JAX's default on NVIDIA GPUs; ilflow's is exact float32);
  2. 4 and 16 replicas of the 120-atom box in one vmapped MD against the same runs one after another;
  3. float32 (exact and TF32 products) against float64 forces of the same model on the same frames;
  4. the largest box whose model-alone force evaluation fits in the accelerator's memory (atoms doubled until
     allocation fails, else extrapolated from the memory XLA plans per atom);
  5. Apax's JAX-MD driver on the same boxes, if apax is importable (else recorded as not installed).
--quick (CPU, seconds; CI runs it): the 120-atom box, a 2 x 32 model, D3 over 8 Å, a few steps, no memory search.
--parts and --tiles choose what to measure (a second call can finish what a first one ran out of time for).
Writes one JSON file (default benchmarks/results/gpu_suite.json).
"""

import argparse
import contextlib
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
PARTS = ("md", "md-tf32", "replicas", "precision", "largest", "apax")
DT_FS = 0.5


def tiled_box(n: int):
    """The equilibrated 120-atom BMIM-BF4 box of the benchmarks (353 K), repeated n x n x n."""
    from ase.io import read

    return read(HERE / "data" / "bmim_bf4_353K_120.extxyz").repeat((n, n, n))


def md_rate(model_dir: Path, atoms, dispersion, every: int, steps: int, work: Path, matmul: str | None = None) -> dict:
    """Steady-state speed of NVT MD (the first chunk, with compilation, is left out); `matmul`: JAX's precision of
    float32 matrix products ("tensorfloat32": JAX's default on NVIDIA GPUs), else ilflow's ("highest")."""
    from ilflow.md import NoseHoover, RunSettings, Schedule, from_model, run_md

    force_field = from_model(model_dir, dispersion, dispersion_every=every)
    out = Path(tempfile.mkdtemp(dir=work))
    with jax.default_matmul_precision(matmul) if matmul else contextlib.nullcontext():
        summary = run_md(force_field, atoms, NoseHoover(DT_FS), RunSettings(
            steps=3 * steps, frame_every=steps, frames_per_chunk=1, schedule=Schedule(300.0)), out)
    return {"ns_per_day": summary.ns_per_day, "atom_steps_per_s": summary.atom_steps_per_s,
            "ms_per_step": 1e3 * len(atoms) / summary.atom_steps_per_s if summary.atom_steps_per_s else None}


def replica_rate(model_dir: Path, alone: dict, replicas: int, steps: int, work: Path) -> dict:
    """`replicas` runs of the 120-atom box as one vmapped MD (`run_replicas`) against the same runs one after
    another (the model-alone row `alone` of that box): on an accelerator a 120-atom step leaves most of it idle."""
    from ilflow.md import NoseHoover, RunSettings, Schedule, from_model, run_replicas

    out = Path(tempfile.mkdtemp(dir=work))
    summaries = run_replicas(from_model(model_dir), tiled_box(1), NoseHoover(DT_FS),
                             RunSettings(steps=3 * steps, frame_every=steps, frames_per_chunk=1,
                                         schedule=Schedule(300.0)), out, seeds=list(range(replicas)))
    total = replicas * summaries[0].atom_steps_per_s  # each summary: one replica's rate
    return {"atoms": alone["atoms"], "replicas": replicas, "atom_steps_per_s": total,
            "one_after_another_atom_steps_per_s": alone["atom_steps_per_s"],
            "speedup": total / alone["atom_steps_per_s"] if alone["atom_steps_per_s"] else None}


def largest_box(model_dir: Path, start: int, deadline: float, report) -> dict:
    """Tiles grown from `start` (about doubling the atoms) until one model-alone force evaluation no longer fits in
    memory, or time runs out: then the largest box is extrapolated from the memory XLA plans for the last one that
    ran (arguments, outputs and temporaries of the compiled program, per atom) and the accelerator's memory limit.
    `report(result)` after every try."""
    from ilflow.md.force_field import allocate_lists, from_model, make_force, start_forces
    from ilflow.potentials.system import make_system

    force_field = from_model(model_dir)
    limit = (jax.devices()[0].memory_stats() or {}).get("bytes_limit")
    result = {"largest_atoms": None, "failed_atoms": None, "reason": "time budget reached before memory ran out",
              "device_bytes_limit": limit, "tries": [], "extrapolated_largest_atoms": None}
    n = start
    while time.perf_counter() < deadline:
        atoms, began = tiled_box(n), time.perf_counter()
        try:
            system = make_system(atoms, force_field.elements)
            specs = allocate_lists(force_field, system)
            state = start_forces(force_field, specs, system)
            force = jax.jit(make_force(force_field, specs, force_field.params)).lower(system, state).compile()
            memory = force.memory_analysis()
            jax.block_until_ready(force(system, state)[0].forces)
        except Exception as exc:  # noqa: BLE001  (XLA reports an allocation failure as a runtime error)
            if "RESOURCE_EXHAUSTED" not in str(exc) and "out of memory" not in str(exc).lower():
                raise
            result |= {"failed_atoms": len(atoms), "reason": str(exc).splitlines()[0][:200]}
            break
        planned = (memory.argument_size_in_bytes + memory.output_size_in_bytes + memory.temp_size_in_bytes
                   if memory is not None else None)
        result["largest_atoms"] = len(atoms)
        result["tries"].append({"atoms": len(atoms), "planned_bytes": planned, "s": time.perf_counter() - began})
        if limit and planned:
            result["extrapolated_largest_atoms"] = int(limit / (planned / len(atoms)))
        report(result)
        n = max(n + 1, math.ceil(n * 2 ** (1 / 3)))  # about twice the atoms per try
    return result


def precision(model_dir: Path, atoms) -> dict:
    """Forces of the same weights evaluated in float32 (ilflow's exact float32 matrix products, and TF32 ones,
    10-bit mantissas, JAX's default on NVIDIA GPUs) and in float64 on the same frame."""
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
    for dtype, matmul in (("float32", None), ("float32", "tensorfloat32"), ("float64", None)):
        cfg = replace(config, dtype=dtype)
        cast = jax.tree_util.tree_map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, params)
        f = jax.jit(lambda p, s, n: ensemble_forces(lambda q, s, n: energy(q, cfg, s, n), p, s, n).forces)
        with jax.default_matmul_precision(matmul) if matmul else contextlib.nullcontext():
            forces[dtype, matmul] = np.asarray(jax.block_until_ready(f(cast, system, neighbors)), dtype=np.float64)
    exact = forces["float64", None]
    result = {"atoms": len(atoms), "rms_force_eV_A": float(np.sqrt(np.mean(exact**2)))}
    for name, key in (("", ("float32", None)), ("tf32_", ("float32", "tensorfloat32"))):
        diff = forces[key] - exact
        result |= {f"{name}max_abs_diff_eV_A": float(np.max(np.abs(diff))),
                   f"{name}rms_diff_eV_A": float(np.sqrt(np.mean(diff**2)))}
    return result


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
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--tiles", default="1,2,3,4,6", help="boxes: the 120-atom box repeated n x n x n")
    parser.add_argument("--model", type=Path,
                        help="trained ensemble (model.json, params.npz) instead of random weights")
    args = parser.parse_args()
    start = time.perf_counter()
    deadline = start + args.budget_s
    from ilflow.potentials import GMNNConfig, init_params, save_model

    work = Path(tempfile.mkdtemp(prefix="gpu-suite-"))
    hidden, cutoff, steps = ((32, 32), 8.0, 8) if args.quick else ((512, 512), 20.0, 48)  # steps: a multiple of 8
    model = args.model or work / "model"
    if args.model is None:
        config = GMNNConfig(elements=(1, 5, 6, 7, 9), hidden=hidden)
        params = jax.vmap(lambda k: init_params(config, k))(jax.random.split(jax.random.PRNGKey(0), 2))
        params["scale"] = params["scale"] * 0.01
        save_model(model, config, params)
    dispersion = {"functional": "b97-3c", "cutoff_A": cutoff, "cn_cutoff_A": cutoff}
    device = jax.devices()[0]
    results = {"device": str(device), "platform": device.platform, "jax": jax.__version__,
               "host": f"{platform.machine()}, {os.cpu_count()} cores", "quick": args.quick, "timestep_fs": DT_FS,
               "model": str(args.model) if args.model else f"random weights, hidden {list(hidden)}", "d3": dispersion,
               "md": [], "replicas": None, "largest_box": None, "precision": None, "apax": None}

    def save():
        results["wall_s"] = time.perf_counter() - start
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")

    parts = set(args.parts.split(","))
    tiles = [1] if args.quick else [int(n) for n in args.tiles.split(",")]
    variants = [("model alone", None, 1, None), ("hybrid", dispersion, 1, None),
                ("hybrid, D3 every 8", dispersion, 8, None)] if "md" in parts else []
    if "md-tf32" in parts and not args.quick:  # on CPUs the same as the model alone
        variants.append(("model alone, TF32 matrix products", None, 1, "tensorfloat32"))
    for n in tiles:
        atoms = tiled_box(n)
        for label, d3, every, matmul in variants:
            if time.perf_counter() > deadline:
                break
            row = {"atoms": len(atoms), "variant": label, **md_rate(model, atoms, d3, every, steps, work, matmul)}
            results["md"].append(row)
            print(f"{len(atoms):6d} atoms, {label:20s}: {row['ns_per_day']:8.3f} ns/day, "
                  f"{row['atom_steps_per_s']:11.0f} atom-steps/s", flush=True)
            save()
    alone = next((r for r in results["md"] if r["atoms"] == 120 and r["variant"] == "model alone"), None)
    if alone is None and "replicas" in parts:
        alone = {"atoms": 120, **md_rate(model, tiled_box(1), None, 1, steps, work)}
    results["replicas"] = []
    for count in (4,) if args.quick else (4, 16):
        if "replicas" not in parts or time.perf_counter() > deadline:
            break
        results["replicas"].append(replica_rate(model, alone, count, steps, work))
        print(f"{count} replicas of 120 atoms: {results['replicas'][-1]['speedup']:.2f}x the runs one after another",
              flush=True)
        save()
    if "precision" in parts:
        results["precision"] = precision(model, tiled_box(1 if args.quick else 2))
        print(f"float32 vs float64 forces: {results['precision']}", flush=True)
        save()
    # last but Apax: running out of the accelerator's memory may end the process
    if "largest" in parts and not args.quick and time.perf_counter() < deadline:
        def report(largest):
            results["largest_box"] = largest
            print(f"largest box so far: {largest['tries'][-1]}", flush=True)
            save()

        results["largest_box"] = largest_box(model, tiles[-1] + 1, deadline, report)
        print(f"largest box: {results['largest_box']}", flush=True)
        save()
    if "apax" in parts:
        ours = [r for r in results["md"] if r["variant"] == "model alone"]
        results["apax"] = apax_md(work, ours, steps, deadline)
    save()
    print(f"written {args.out} after {results['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
