"""Is the hybrid with multiple time stepping the same physics? A trained dispersion-free model + D3 at run time,
D3 every step against D3 every k steps, from the same start, one run.

  .venv/bin/python benchmarks/mts_physics.py --model DIR --structure START.extxyz [--every 4] [--npt-ps 10]

NVE: drift and spread of the conserved energy (eV/atom). MTK NPT at --temperature-K and 1 bar: mean density with
its 95% interval (block averages) and the B-B and N-B radial distribution functions with 95% intervals from 5
blocks; the share of RDF bins where the two runs agree within their combined interval. D3(BJ) with --functional
(default gfn1, the demo's hybrid) over 20 Å. Writes benchmarks/results/mts_physics.json.
"""

import argparse
import json
from dataclasses import replace
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True, help="a dispersion-free model (e.g. a demo's final)")
    parser.add_argument("--structure", type=Path, required=True, help="an equilibrated box (extxyz)")
    parser.add_argument("--functional", default="gfn1")
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--timestep-fs", type=float, default=1.0)
    parser.add_argument("--temperature-K", type=float, default=353.0)
    parser.add_argument("--nve-ps", type=float, default=2.0)
    parser.add_argument("--npt-ps", type=float, default=10.0)
    parser.add_argument("--equilibration-ps", type=float, default=1.0)
    args = parser.parse_args()
    from ilflow.analysis.rdf import rdf
    from ilflow.analysis.statistics import block_average
    from ilflow.analysis.trajectory import read_h5md
    from ilflow.io import read_frames
    from ilflow.md import MTKNPT, NVE, RunSettings, Schedule, from_model, run_md

    atoms = read_frames(args.structure, -1)[0]
    dispersion = {"functional": args.functional, "cutoff_A": 20.0, "cn_cutoff_A": 20.0}
    work = Path(tempfile.mkdtemp(prefix="mts-physics-"))
    frame_every = 4 * args.every
    steps = lambda ps: int(round(ps * 1000 / args.timestep_fs / frame_every)) * frame_every  # noqa: E731
    results = {"model": str(args.model), "atoms": len(atoms), "timestep_fs": args.timestep_fs, "d3": dispersion,
               "temperature_K": args.temperature_K, "every": args.every, "nve": {}, "npt": {}}
    trajectories = {}
    for every in (1, args.every):
        force_field = from_model(args.model, dispersion, dispersion_every=every)
        nve = run_md(force_field, atoms, NVE(args.timestep_fs),
                     RunSettings(steps=steps(args.nve_ps), frame_every=frame_every, frames_per_chunk=25,
                                 schedule=Schedule(args.temperature_K)), work / f"nve-{every}")
        conserved = read_h5md_observable(work / f"nve-{every}" / "trajectory.h5md", "conserved_energy") / len(atoms)
        results["nve"][every] = {"drift_eV_per_atom_per_ps": nve.conserved_drift_eV_per_atom_per_ps,
                                 "spread_eV_per_atom": float(np.std(conserved)), "ns_per_day": nve.ns_per_day}
        print(f"NVE, D3 every {every}: drift {nve.conserved_drift_eV_per_atom_per_ps:.2e} eV/atom/ps, spread "
              f"{np.std(conserved):.2e} eV/atom, {nve.ns_per_day:.3f} ns/day", flush=True)
        npt = run_md(force_field, atoms, MTKNPT(args.timestep_fs, tau_fs=50.0, tau_barostat_fs=500.0),
                     RunSettings(steps=steps(args.equilibration_ps + args.npt_ps), frame_every=frame_every,
                                 frames_per_chunk=25, seed=1, schedule=Schedule(args.temperature_K, 1.01325)),
                     work / f"npt-{every}")
        traj = read_h5md(work / f"npt-{every}" / "trajectory.h5md")
        keep = traj.time_ps >= args.equilibration_ps
        density = read_h5md_observable(work / f"npt-{every}" / "trajectory.h5md", "density")[keep]
        block = block_average(density)
        trajectories[every] = (traj, keep)
        results["npt"][every] = {"density_g_cm3": block.mean, "half_width_95": block.half_width_95,
                                 "blocks": block.blocks, "ns_per_day": npt.ns_per_day}
        print(f"NPT, D3 every {every}: density {block}, {npt.ns_per_day:.3f} ns/day", flush=True)
    a, b = results["npt"][1], results["npt"][args.every]
    results["density_difference_within_95"] = bool(abs(a["density_g_cm3"] - b["density_g_cm3"])
                                                   <= np.hypot(a["half_width_95"], b["half_width_95"]))
    r_max = 0.5 * min(np.min(np.linalg.norm(t.cells[k], axis=-1)) for t, k in trajectories.values()) * 0.95
    for pair in (("B", "B"), ("N", "B")):
        curves = {}
        for every, (traj, keep) in trajectories.items():
            index = np.flatnonzero(keep)
            blocks = [rdf(replace(traj, positions=traj.positions[i], cells=traj.cells[i], time_ps=traj.time_ps[i]),
                          pair, r_max, bins=60).g for i in np.array_split(index, 5)]
            curves[every] = (np.mean(blocks, axis=0), 2.776 * np.std(blocks, axis=0, ddof=1) / np.sqrt(5))
        (g1, e1), (gk, ek) = curves[1], curves[args.every]
        agree = float(np.mean(np.abs(g1 - gk) <= np.hypot(e1, ek) + 1e-12))
        results[f"rdf_{pair[0]}-{pair[1]}_bins_within_95"] = agree
        print(f"g(r) {pair[0]}-{pair[1]}: {100 * agree:.0f}% of bins agree within the combined 95% interval", flush=True)
    (HERE / "results" / "mts_physics.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {HERE / 'results' / 'mts_physics.json'}")


def read_h5md_observable(path: Path, name: str) -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as f:
        return f[f"observables/{name}/value"][:]


if __name__ == "__main__":
    main()
