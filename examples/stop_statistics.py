"""How long a model runs before the uncertainty stop: the 20 ps check of examples/check_demo_model.sh as a
statistic. One run passing or failing says little (the stops are rare events); N runs with different seeds from
the same start, in one vmapped MD, give the mean simulated time per stop (total time / number of stops, runs that
reach the end counted as censored) and, for each stop, the atom whose force the members disagree on most and its
closest contacts, so that one can see which configurations the labels lack. The stop count of a few runs is a
noisy measure; the distribution of the max force uncertainty over all frames after the first picosecond (median,
90th and 99th percentile) separates two models with far less MD, since the stops are its far tail.

    python examples/stop_statistics.py MODEL_DIR START.extxyz OUT_DIR [--seeds 6] [--steps 20000]
        [--temperature-K 353] [--timestep-fs 0.5] [--dispersion gfn1 --d3-cutoff-A 20 --dispersion-every 8]

Nose-Hoover NVT, the stop at 0.5 eV/Å (paper eqn 8) and the broken-molecule check, as in the check. Measured on
the demo's dispersion-free final models (8 seeds x 2 ps, 353 K, without D3 for speed; uncertainty median / 90th
percentile): 154 labelled frames, the last ensemble trained 30 more epochs: 2 stops in 14 ps, 0.21 / 0.29 eV/Å;
202 frames, trained anew for 60 epochs: no stop in 16 ps, 0.15 / 0.20 eV/Å.
"""

import argparse
import json

import numpy as np
from ase import Atoms
from ase.io import read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("start")
    parser.add_argument("out")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--temperature-K", type=float, default=353.0)
    parser.add_argument("--timestep-fs", type=float, default=0.5)
    parser.add_argument("--max-uncertainty-eV-A", type=float, default=0.5)
    parser.add_argument("--dispersion", default=None, help="run-time D3 functional (e.g. gfn1): the hybrid")
    parser.add_argument("--d3-cutoff-A", type=float, default=20.0)
    parser.add_argument("--d3-cn-cutoff-A", type=float, default=13.2294, help="coordination numbers (GFN1: 25 bohr)")
    parser.add_argument("--dispersion-every", type=int, default=8, help="D3 every k steps (as the check)")
    args = parser.parse_args()

    from ilflow.md import Checks, RunSettings, from_model, make_integrator
    from ilflow.md.modifiers import Schedule
    from ilflow.md.runner import run_replicas

    atoms = read(args.start)
    frame_every = 48  # a multiple of the slow step (D3 every 8th step)
    steps = -(-args.steps // frame_every) * frame_every
    dispersion = {"functional": args.dispersion, "cutoff_A": args.d3_cutoff_A,
                  "cn_cutoff_A": args.d3_cn_cutoff_A} if args.dispersion else None
    checks = Checks.with_topology(atoms, max_uncertainty_eV_A=args.max_uncertainty_eV_A, max_temperature_K=1500.0)
    settings = RunSettings(steps=steps, frame_every=frame_every, checks=checks,
                           schedule=Schedule(args.temperature_K, 1.0))
    seeds = list(range(args.seeds))
    force_field = from_model(args.model, dispersion, dispersion_every=args.dispersion_every) if dispersion \
        else from_model(args.model)
    summaries = run_replicas(force_field, atoms, make_integrator("nvt", args.timestep_fs),
                             settings, args.out, seeds=seeds)
    total_ps = sum(s.steps_done for s in summaries) * args.timestep_fs * 1e-3
    stops = [s for s in summaries if s.stop_reason is not None]
    for k, summary in enumerate(summaries):
        where = _disagreement(args.model, atoms, f"{args.out}/replica-{k}") if summary.stop_reason else ""
        print(f"seed {seeds[k]}: {summary.steps_done} steps, {summary.stop_reason or 'completed'} {where}")
    result = {"runs": len(summaries), "stops": len(stops), "simulated_ps": total_ps,
              "ps_per_stop": total_ps / len(stops) if stops else None,
              **_uncertainty_quantiles(args.out, len(seeds), after_step=round(1000.0 / args.timestep_fs))}
    print(json.dumps(result))


def _uncertainty_quantiles(out: str, runs: int, after_step: int) -> dict:
    """Median, 90th and 99th percentile (eV/Å) of the frames' max force uncertainty after `after_step`, all runs."""
    import h5py

    values = []
    for k in range(runs):
        with h5py.File(f"{out}/replica-{k}/trajectory.h5md", "r") as f:
            series = f["observables/force_uncertainty"]
            values.append(series["value"][:][series["step"][:] > after_step])
    values = np.concatenate(values)
    if values.size == 0:
        return {}
    median, p90, p99 = np.quantile(values, [0.5, 0.9, 0.99])
    return {"frames_after_1_ps": int(values.size), "uncertainty_median_eV_A": round(float(median), 3),
            "uncertainty_p90_eV_A": round(float(p90), 3), "uncertainty_p99_eV_A": round(float(p99), 3)}


def _disagreement(model_dir: str, start: Atoms, run_dir: str) -> str:
    """The atom with the largest member force std in a run's last frame, and its five nearest atoms ('*': in
    another molecule)."""
    import h5py

    from ilflow.potentials.ensemble import ensemble_forces
    from ilflow.potentials.gmnn import energy
    from ilflow.potentials.model_io import load_model
    from ilflow.potentials.neighbors import host_neighbors
    from ilflow.potentials.system import make_system
    from ilflow.system.topology import find_molecules

    with h5py.File(f"{run_dir}/trajectory.h5md", "r") as f:
        positions = f["particles/trajectory/position/value"][-1]
        cell = f["particles/trajectory/box/edges/value"][-1]
    atoms = Atoms(start.numbers, positions=positions, cell=cell, pbc=True)
    config, params, _ = load_model(model_dir)
    result = ensemble_forces(lambda p, s, n: energy(p, config, s, n), params, make_system(atoms, config.elements),
                             host_neighbors(atoms, config.cutoff_A))
    std = np.asarray(result.forces_std).max(axis=1)
    i = int(np.argmax(std))
    molecule = find_molecules(start)
    distances = atoms.get_distances(i, range(len(atoms)), mic=True)
    near = ", ".join(f"{atoms[j].symbol}{j}{'*' if molecule[j] != molecule[i] else ''} {distances[j]:.2f} Å"
                     for j in np.argsort(distances)[1:6])
    return f"(largest std {std[i]:.2f} eV/Å on {atoms[i].symbol}{i}; nearest: {near})"


if __name__ == "__main__":
    main()
