"""Replicas in one vmapped MD (`ilflow.md.run_replicas`) against the same runs made separately.

  .venv/bin/python benchmarks/replica_speed.py [--replicas 4] [--steps 1600] [--model DIR] [--repeats 2]

Box: the shipped 120-atom BMIM-BF4 box (353 K). Model: DIR, or a random ensemble of 2 of the demo's architecture
(16 basis functions, 5 radial, 5 Å, 2 x 128; weights scaled down so that the short runs stay gentle: the cost
does not depend on them). NVT (Nose-Hoover chain) at 353 K, 0.5 fs, one seed per replica. Three ways to make the
same `--replicas` runs, interleaved `--repeats` times (this machine's speed drifts between minutes):
  one after another: one run alone, its steady time per step times the number of runs;
  concurrent processes: the runs as separate processes started together (what a Dask cluster of one worker per
    run does), each sharing the machine's cores with the others;
  replicas: one process, `run_replicas`, every replica in one vmapped step.
Reports total atom-steps/s of each and the ratios (median over repeats); results/replica_speed.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BOX = HERE / "data" / "bmim_bf4_353K_120.extxyz"
DT_FS = 0.5


def demo_architecture_model(out: Path) -> Path:
    """A random ensemble of 2 with the demo's architecture, saved to `out`."""
    import jax

    from ilflow.potentials import GMNNConfig, init_params, save_model

    config = GMNNConfig(elements=(1, 5, 6, 7, 9), n_basis=16, n_radial=5, r_max_A=5.0, hidden=(128, 128))
    params = jax.vmap(lambda k: init_params(config, k))(jax.random.split(jax.random.PRNGKey(0), 2))
    params["scale"] = params["scale"] * 0.01
    save_model(out, config, params)
    return out


def md(model: Path, seeds: list[int], steps: int, out: Path) -> float:
    """Total atom-steps/s (steady state: the first chunk, with compilation, left out) of NVT runs with `seeds`:
    one run with one seed, replicas with several."""
    from ase.io import read

    from ilflow.md import NoseHoover, RunSettings, Schedule, from_model, run_md, run_replicas

    atoms = read(BOX)
    force_field = from_model(model)
    settings = RunSettings(steps=steps, frame_every=100, frames_per_chunk=max(1, steps // 400), seed=seeds[0],
                           schedule=Schedule(353.0))
    if len(seeds) == 1:
        return run_md(force_field, atoms, NoseHoover(DT_FS), settings, out).atom_steps_per_s
    summaries = run_replicas(force_field, atoms, NoseHoover(DT_FS), settings, out, seeds=seeds)
    return len(seeds) * summaries[0].atom_steps_per_s  # each summary: one replica's atom-steps per second


def concurrent(model: Path, n: int, steps: int, work: Path) -> float:
    """Total atom-steps/s of `n` single runs as separate processes started together."""
    procs = [subprocess.Popen([sys.executable, __file__, "--single", str(k), "--model", str(model),
                               "--steps", str(steps), "--out", str(work / f"process-{k}")],
                              stdout=subprocess.PIPE, text=True) for k in range(n)]
    rates = [float(p.communicate()[0].split()[-1]) for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit("a concurrent run failed")
    return sum(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--steps", type=int, default=1600)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--single", type=int, help=argparse.SUPPRESS)  # one run with this seed (a child process)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, default=HERE / "results" / "replica_speed.json")
    args = parser.parse_args()
    from ilflow.runtime import ensure_configured

    ensure_configured()
    if args.single is not None:
        print(md(args.model, [args.single], args.steps, args.out))
        return
    work = Path(tempfile.mkdtemp(prefix="replica-speed-"))
    model = args.model or demo_architecture_model(work / "model")
    seeds = list(range(args.replicas))
    rows = []
    for repeat in range(args.repeats):
        alone = md(model, seeds[:1], args.steps, work / f"alone-{repeat}")  # n of these one after another: same total
        together = concurrent(model, args.replicas, args.steps, work / f"concurrent-{repeat}")
        replicas = md(model, seeds, args.steps, work / f"replicas-{repeat}")
        rows.append({"one_after_another": alone, "concurrent_processes": together, "replicas": replicas})
        print(f"repeat {repeat}: atom-steps/s one after another {alone:.0f}, {args.replicas} concurrent processes "
              f"{together:.0f}, {args.replicas} replicas {replicas:.0f}", flush=True)
    ratio = {base: statistics.median(r["replicas"] / r[base] for r in rows)
             for base in ("one_after_another", "concurrent_processes")}
    print(f"replicas / one after another: {ratio['one_after_another']:.2f}x; "
          f"replicas / concurrent processes: {ratio['concurrent_processes']:.2f}x")
    result = {"date": time.strftime("%Y-%m-%d"), "host": f"{os.cpu_count()} cores", "atoms": 120,
              "replicas": args.replicas, "steps": args.steps, "timestep_fs": DT_FS,
              "model": str(args.model) if args.model else "random, demo architecture (2 x 128, ensemble of 2)",
              "repeats": rows, "median_ratio_replicas_over": ratio}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
