"""The hybrid's price with multiple time stepping: MD time per step of GMNN + D3(20 Å) with D3 every k steps,
against the model alone, one run.

  .venv/bin/python benchmarks/mts_speed.py [--pairs 8 32] [--every 1 4 8] [--model DIR]

BMIM-BF4 boxes (1.2 g/cm3), NVT (Nose-Hoover chain), 0.5 fs; D3(BJ, b97-3c) with two-body and CN cutoffs of 20 Å.
Models: the 2 x 512 ensemble of 2 of benchmarks/md_speed.py (random weights: the cost does not depend on them)
and, with --model, a trained one (e.g. a demo campaign's final model). Steady-state chunks (compilation
excluded; each timed part spans list rebuilds of both kinds). Prints s/step and the ratio to the model alone; writes benchmarks/results/mts_speed.json.
"""

import argparse
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

import jax

HERE = Path(__file__).resolve().parent
DT_FS = 0.5
D3 = {"functional": "b97-3c", "cutoff_A": 20.0, "cn_cutoff_A": 20.0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--every", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--steps", type=int, default=96, help="steps per chunk, a multiple of every k (the first "
                        "chunk compiles, three are timed)")
    parser.add_argument("--model", type=Path, help="also a trained model (its own architecture), at --model-pairs")
    parser.add_argument("--model-pairs", type=int, default=4)
    args = parser.parse_args()
    from ilflow.config import Box, Species
    from ilflow.md import NoseHoover, RunSettings, Schedule, from_model, run_md
    from ilflow.potentials import GMNNConfig, init_params, save_model
    from ilflow.system import build_box

    work = Path(tempfile.mkdtemp(prefix="mts-speed-"))
    config = GMNNConfig(elements=(1, 5, 6, 7, 9), hidden=(512, 512))
    params = jax.vmap(lambda k: init_params(config, k))(jax.random.split(jax.random.PRNGKey(0), 2))
    params["scale"] = params["scale"] * 0.01
    save_model(work / "model", config, params)
    cases = [("2 x 512 (random)", work / "model", p) for p in args.pairs]
    if args.model:
        cases.append((f"{args.model}", args.model, args.model_pairs))
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "timestep_fs": DT_FS, "d3": D3, "rows": []}
    for label, model, pairs in cases:
        atoms = build_box([Species(name="BMIM", smiles="CCCCn1cc[n+](C)c1", count=pairs),
                           Species(name="BF4", smiles="F[B-](F)(F)F", count=pairs)], Box(density_g_cm3=1.2, seed=5))
        alone = None
        for every in [None] + args.every:
            frame_every = args.steps  # a multiple of every k measured
            settings = RunSettings(steps=4 * frame_every, frame_every=frame_every, frames_per_chunk=1,
                                   schedule=Schedule(300.0))
            force_field = from_model(model, D3 if every else None, dispersion_every=every or 1)
            out = work / "run"
            summary = run_md(force_field, atoms, NoseHoover(DT_FS), settings, out)
            shutil.rmtree(out)
            seconds = len(atoms) / summary.atom_steps_per_s
            alone = alone or seconds
            row = {"model": label, "atoms": len(atoms), "dispersion_every": every, "s_per_step": seconds,
                   "ns_per_day": summary.ns_per_day, "ratio_to_model_alone": seconds / alone}
            results["rows"].append(row)
            what = "model alone" if every is None else f"+ D3 every {every}"
            print(f"{label}, {len(atoms):4d} atoms, {what:14s}: {1e3 * seconds:7.1f} ms/step, "
                  f"{summary.ns_per_day:6.3f} ns/day, {seconds / alone:4.2f}x the model alone", flush=True)
    (HERE / "results" / "mts_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {HERE / 'results' / 'mts_speed.json'}")


if __name__ == "__main__":
    main()
