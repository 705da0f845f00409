"""The hybrid's price with multiple time stepping: MD time per step of GMNN + D3(20 Å) with D3 every k steps,
against the model alone, one run.

  .venv/bin/python benchmarks/mts_speed.py [--atoms 240 960] [--every 1 8] [--model DIR --model-atoms 120 240]

Boxes: benchmarks/data/bmim_bf4_353K_120.extxyz (120 atoms of BMIM-BF4, equilibrated) repeated along x, y, z.
NVT (Nose-Hoover chain) at 353 K, 0.5 fs. D3(BJ) with GFN1-xTB's parameters as the demo's hybrid uses them: two-body
terms within 20 Å, coordination numbers within GFN1's own 25 bohr (13.23 Å, their own shorter list; rows before
2026-12-04: 20 Å, one list). Models: an ensemble of 2 with a 2 x 512 readout trained for --epochs on
benchmarks/data/bmim_xtb.db, and with --model another trained one (e.g. a demo campaign's final model). Trained,
not random, weights and an equilibrated box: the cost of one evaluation does not depend on the weights, but the
cost of the 20 Å list does, through how often it is rebuilt; with random weights atoms fly apart, and from a
packed box (or with B97-3c's stronger D3 on this GFN2-trained model) the box heats by 200-250 K in 100-200 fs,
and either way the list is rebuilt every few steps, which no equilibrated run does.
Warm-up: each force field first runs --warmup-steps of strongly damped Langevin dynamics from that box and is
timed from where it ended. A GFN2-trained model (its labels contain D4) plus GFN1's D3 is a different liquid from the
model alone: started from the box of the model alone it released that difference as heat (mean 430 K instead of
353 K over the timed 200 fs), its lists were rebuilt at that temperature's rate, and the ratio measured the
transient, not the step.
Timing: steady-state chunks (compilation excluded) spanning list rebuilds of both kinds; this machine's speed drifts
by 10-30% between runs of a few chunks (the same two runs measured 1.05x, 1.09x and 1.30x apart), so the cases run
interleaved --repeats times and each ratio is against the model alone of the same repeat (median reported).
Prints ms/step, the ratio to the model alone, list builds and the mean temperature; writes
benchmarks/results/mts_speed.json.
"""

import argparse
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DT_FS = 0.5
D3 = {"functional": "gfn1", "cutoff_A": 20.0, "cn_cutoff_A": 13.2294}


def box(atoms: int):
    """The equilibrated 120-atom box repeated to `atoms` (120 times a power of two)."""
    from ase.io import read

    unit = read(HERE / "data" / "bmim_bf4_353K_120.extxyz")
    repeats, axis = [1, 1, 1], 0
    while len(unit) * repeats[0] * repeats[1] * repeats[2] < atoms:
        repeats[axis] *= 2
        axis = (axis + 1) % 3
    if len(unit) * repeats[0] * repeats[1] * repeats[2] != atoms:
        raise SystemExit(f"--atoms {atoms}: use 120 times a power of two")
    return unit.repeat(repeats)


def train_2x512(work: Path, epochs: int) -> None:
    """An ensemble of 2, 2 x 512 readout, trained on the benchmark data set into work/model."""
    from gmnn_vs_apax import DB
    from ilflow.config.model import Model, Training
    from ilflow.data import Dataset
    from ilflow.training.api import train_model

    dataset = Dataset(DB)
    model = Model(hidden_layers=[512, 512], ensemble_size=2,
                  training=Training(epochs=epochs, batch_size=4, patience_epochs=None))
    train_model(list(dataset.frames(split="train")), list(dataset.frames(split="validation")), model, work / "model")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--atoms", type=int, nargs="*", default=[240, 960], help="120 x 1, 2, 4, 8, ... (none: --model only)")
    parser.add_argument("--every", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--steps", type=int, default=48, help="steps per chunk, a multiple of every k")
    parser.add_argument("--chunks", type=int, default=8, help="chunks per run; the first (compilation) is not timed")
    parser.add_argument("--model", type=Path, help="also a trained model (its own architecture), at --model-atoms")
    parser.add_argument("--model-atoms", type=int, nargs="+", default=[120, 240])
    parser.add_argument("--epochs", type=int, default=8, help="training of the 2 x 512 ensemble")
    parser.add_argument("--trained", type=Path, help="a 2 x 512 ensemble trained before (skips the training)")
    parser.add_argument("--warmup-steps", type=int, default=400, help="damped Langevin steps before the timing")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of every case (median ratio)")
    parser.add_argument("--dispersion-skin-A", type=float, help="Verlet skin of D3's list with k > 1 (default: from_model's)")
    args = parser.parse_args()
    from ilflow.md import Langevin, NoseHoover, RunSettings, Schedule, from_model, run_md
    from ilflow.md.h5md import atoms_frames

    work = Path(tempfile.mkdtemp(prefix="mts-speed-"))
    if args.atoms and not args.trained:
        train_2x512(work, args.epochs)
    cases = [("2 x 512", args.trained or work / "model", n) for n in args.atoms]
    if args.model:
        cases += [(f"{args.model}", args.model, n) for n in args.model_atoms]
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "timestep_fs": DT_FS, "d3": D3,
               "repeats": args.repeats, "rows": []}

    def timed(model, atoms, every) -> tuple[float, object]:
        """Seconds per step of one run (after its warm-up), and its summary."""
        force_field = from_model(model, D3 if every else None, dispersion_every=every or 1,
                                 dispersion_skin_A=args.dispersion_skin_A if every and every > 1 else None)
        out = work / "run"
        start = atoms
        if args.warmup_steps:
            warm = RunSettings(steps=args.warmup_steps, frame_every=args.warmup_steps, frames_per_chunk=1,
                               schedule=Schedule(353.0), seed=1)
            run_md(force_field, atoms, Langevin(DT_FS, friction_per_ps=20.0), warm, out)
            start = atoms_frames(out / "trajectory.h5md", atoms, slice(-1, None))[0]
            shutil.rmtree(out)
        settings = RunSettings(steps=args.chunks * args.steps, frame_every=args.steps, frames_per_chunk=1,
                               schedule=Schedule(353.0))
        summary = run_md(force_field, start, NoseHoover(DT_FS), settings, out)
        shutil.rmtree(out)
        return len(atoms) / summary.atom_steps_per_s, summary

    for label, model, n in cases:
        atoms = box(n)
        # the model alone and every k, interleaved and repeated: the machine's speed drifts by 10-30% between
        # runs, so each ratio is taken against the model alone of the same repeat, and the median is reported
        times = {every: [] for every in [None] + args.every}
        for _ in range(args.repeats):
            for every in times:
                seconds, summary = timed(model, atoms, every)
                times[every].append((seconds, summary))
        for every, runs in times.items():
            ratios = [s / alone for (s, _), (alone, _) in zip(runs, times[None])]
            summary = runs[0][1]  # list builds and temperature of the first repeat
            row = {"model": label, "atoms": len(atoms), "dispersion_every": every,
                   "s_per_step": float(np.median([s for s, _ in runs])),
                   "ns_per_day": float(np.median([r.ns_per_day for _, r in runs])),
                   "ratio_to_model_alone": float(np.median(ratios)), "ratios_per_repeat": ratios,
                   "list_builds": summary.neighbor_list_builds, "mean_temperature_K": summary.mean_temperature_K}
            results["rows"].append(row)
            (HERE / "results" / "mts_speed.json").write_text(json.dumps(results, indent=2) + "\n")  # row by row
            what = "model alone" if every is None else f"+ D3 every {every}"
            print(f"{label}, {len(atoms):4d} atoms, {what:14s}: {1e3 * row['s_per_step']:7.1f} ms/step, "
                  f"{row['ns_per_day']:6.3f} ns/day, {row['ratio_to_model_alone']:4.2f}x the model alone "
                  f"(per repeat {', '.join(f'{r:.2f}' for r in ratios)}; {summary.neighbor_list_builds} list builds, "
                  f"{summary.mean_temperature_K:.0f} K)", flush=True)
    (HERE / "results" / "mts_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {HERE / 'results' / 'mts_speed.json'}")


if __name__ == "__main__":
    main()
