"""MD speed: ilflow's MD against Apax 0.14's JAX-MD driver (the study's production engine), one run, same
machine, equal model size (2-member ensemble, 2 x 512 readout), NVT Nose-Hoover chain, 0.5 fs, no D3.

  bash benchmarks/setup_peer_env.sh apax        # once
  .venv/bin/python benchmarks/md_vs_apax.py [--pairs 8 16 32] [--steps 50]

Apax is trained for one epoch on benchmarks/data/bmim_xtb.db (its speed does not depend on the weights);
seconds per step from the difference of a 3S- and an S-step run in Apax's log (compilation cancels). ilflow: steady chunks.
Writes benchmarks/results/md_vs_apax.json.
"""

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

import jax

from gmnn_vs_apax import apax, write_splits

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    from ase.io import write

    from ilflow.config import Box, Species
    from ilflow.md import NoseHoover, RunSettings, Schedule, from_model, run_md
    from ilflow.potentials import GMNNConfig, init_params, save_model
    from ilflow.system import build_box

    work = Path(tempfile.mkdtemp(prefix="md-vs-apax-"))
    write_splits(work)
    apax("train", work / "train.extxyz", work / "val.extxyz", work / "apax-model", 1, "512,512")
    config = GMNNConfig(elements=(1, 5, 6, 7, 9), hidden=(512, 512))
    params = jax.vmap(lambda k: init_params(config, k))(jax.random.split(jax.random.PRNGKey(0), 2))
    params["scale"] = params["scale"] * 0.01
    save_model(work / "ilflow-model", config, params)
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "timestep_fs": 0.5, "rows": []}
    for pairs in args.pairs:
        atoms = build_box([Species(name="BMIM", smiles="CCCCn1cc[n+](C)c1", count=pairs),
                           Species(name="BF4", smiles="F[B-](F)(F)F", count=pairs)], Box(density_g_cm3=1.2, seed=5))
        write(work / f"box{pairs}.extxyz", atoms)
        theirs = apax("md", work / "apax-model", work / f"box{pairs}.extxyz", args.steps)["s_per_step"]
        settings = RunSettings(steps=3 * args.steps, frame_every=args.steps, frames_per_chunk=1,
                               schedule=Schedule(300.0))
        summary = run_md(from_model(work / "ilflow-model"), atoms, NoseHoover(0.5), settings, work / f"run{pairs}")
        ours = len(atoms) / summary.atom_steps_per_s
        row = {"pairs": pairs, "atoms": len(atoms), "ilflow_s_per_step": ours, "apax_s_per_step": theirs,
               "ilflow_ns_per_day": 0.5e-6 / ours * 86400, "apax_ns_per_day": 0.5e-6 / theirs * 86400,
               "speedup": theirs / ours}
        results["rows"].append(row)
        print(f"{pairs:3d} pairs ({len(atoms):5d} atoms): ilflow {row['ilflow_ns_per_day']:.3f} ns/day, Apax JAX-MD "
              f"{row['apax_ns_per_day']:.3f} ns/day -> {row['speedup']:.2f}x", flush=True)
    path = HERE / "results" / "md_vs_apax.json"  # rows of other box sizes from earlier runs are kept
    if path.exists():
        earlier = [r for r in json.loads(path.read_text())["rows"] if r["pairs"] not in args.pairs]
        results["rows"] = sorted(earlier + results["rows"], key=lambda r: r["pairs"])
    path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
