"""Peak memory of ilflow MD per atom, and the largest BMIM-BF4 box that runs in 8 GB.

  .venv/bin/python benchmarks/md_memory.py [--repeats 1 2 3] [--d3-cutoff 20]

Boxes are k x k x k copies of a 16-pair BMIM-BF4 box (480 atoms; copies make big liquid boxes without packing
them). Each size runs in a fresh process (2-member 2 x 512 GMNN ensemble, optionally + D3(BJ), NVT, two chunks of two
steps) and reports its peak resident memory (VmHWM). A straight line through the sizes gives memory per atom and
the largest box within 8 GB, which is then run to check. Writes benchmarks/results/md_memory.json.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
LIMIT_GB = 8.0


def child(repeat: int, d3_cutoff: float, model_dir: str) -> None:
    import tempfile
    import time

    from ilflow.config import Box, Species
    from ilflow.md import NoseHoover, RunSettings, Schedule, from_model, run_md
    from ilflow.system import build_box

    atoms = build_box([Species(name="BMIM", smiles="CCCCn1cc[n+](C)c1", count=16),
                       Species(name="BF4", smiles="F[B-](F)(F)F", count=16)],
                      Box(density_g_cm3=1.2, seed=5)).repeat((repeat,) * 3)
    pairs = 16 * repeat**3
    dispersion = {"functional": "b97-3c", "cutoff_A": d3_cutoff, "cn_cutoff_A": d3_cutoff} if d3_cutoff else None
    t0 = time.perf_counter()
    summary = run_md(from_model(model_dir, dispersion), atoms, NoseHoover(0.5),
                     RunSettings(steps=4, frame_every=2, frames_per_chunk=1, schedule=Schedule(300.0)),
                     tempfile.mkdtemp(prefix="md-memory-"))
    status = Path("/proc/self/status").read_text()
    peak_kb = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])
    print(json.dumps({"pairs": pairs, "atoms": len(atoms), "peak_GB": peak_kb / 2**20,
                      "s_per_step": len(atoms) / summary.atom_steps_per_s, "wall_s": time.perf_counter() - t0}))


def measure(repeat, d3_cutoff, model_dir):
    out = subprocess.run([sys.executable, __file__, "--child", str(repeat), "--d3-cutoff", str(d3_cutoff),
                          "--model", model_dir], capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        return {"pairs": 16 * repeat**3, "error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--d3-cutoff", type=float, default=0.0)
    parser.add_argument("--child", type=int)
    parser.add_argument("--model")
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.d3_cutoff, args.model)
    import tempfile

    import jax

    from ilflow.potentials import GMNNConfig, init_params, save_model

    model_dir = Path(tempfile.mkdtemp(prefix="md-memory-model-")) / "model"
    config = GMNNConfig(elements=(1, 5, 6, 7, 9), hidden=(512, 512))
    params = jax.vmap(lambda k: init_params(config, k))(jax.random.split(jax.random.PRNGKey(0), 2))
    save_model(model_dir, config, params)
    rows = []
    for repeat in args.repeats:
        rows.append(measure(repeat, args.d3_cutoff, str(model_dir)))
        print(rows[-1], flush=True)
    ok = [r for r in rows if "peak_GB" in r]
    slope, intercept = np.polyfit([r["atoms"] for r in ok], [r["peak_GB"] for r in ok], 1)
    largest_atoms = int((LIMIT_GB - intercept) / slope)
    largest_pairs = largest_atoms // 30
    repeat = int((largest_pairs / 16) ** (1 / 3))  # the largest copy that fits by the line, run to check
    print(f"memory per atom {slope * 2**20:.1f} kB (+ {intercept:.2f} GB base); largest box in {LIMIT_GB} GB: "
          f"~{largest_atoms} atoms ({largest_pairs} pairs); checking {16 * repeat**3} pairs ...", flush=True)
    checks = []
    while repeat >= 1:  # the line is a guess (memory grows faster than linearly for large boxes): step down
        checks.append(measure(repeat, args.d3_cutoff, str(model_dir)))
        print(checks[-1], flush=True)
        if checks[-1].get("peak_GB", LIMIT_GB + 1) <= LIMIT_GB:
            break
        repeat -= 1
    fits = checks[-1] if checks and checks[-1].get("peak_GB", LIMIT_GB + 1) <= LIMIT_GB else None
    measured = sorted([r for r in rows + checks if "peak_GB" in r], key=lambda r: r["atoms"])
    big = measured[-2:]  # memory per atom from the two largest boxes measured
    per_atom_kB = (big[1]["peak_GB"] - big[0]["peak_GB"]) / (big[1]["atoms"] - big[0]["atoms"]) * 2**20
    print(f"largest measured box within {LIMIT_GB} GB: {fits['pairs'] if fits else None} pairs "
          f"({fits['atoms'] if fits else None} atoms, {fits['peak_GB'] if fits else 0:.2f} GB); "
          f"{per_atom_kB:.0f} kB per atom between the two largest boxes")
    result = {"d3_cutoff_A": args.d3_cutoff or None, "rows": measured, "linear_fit_kB_per_atom": slope * 2**20,
              "base_GB": intercept, "kB_per_atom_large": per_atom_kB,
              "largest_measured_within_8GB": fits}
    name = f"md_memory{'_d3_' + str(int(args.d3_cutoff)) if args.d3_cutoff else ''}.json"
    (HERE / "results" / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
