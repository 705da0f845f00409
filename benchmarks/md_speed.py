"""MD speed: ilflow's jitted MD against ASE MD driving our own ASE calculator (the study's hybrid path), one run.

  .venv/bin/python benchmarks/md_speed.py [--pairs 8 16 32 64] [--steps 20]

BMIM-BF4 boxes (1.2 g/cm3) with a 2-member GMNN ensemble (2 x 512 readout, random weights: the cost does not
depend on them), alone and + D3(BJ, B97-3c) at 8 and 20 Å (CN cutoff equal), NVT (Nose-Hoover chain), 0.5 fs.
ilflow: steady-state chunks (compilation excluded); ASE: NoseHooverChainNVT with `Calculator(model,
dispersion=...)`, after one warm-up step. Prints ns/day, atom-steps/s and the ratio; writes
benchmarks/results/md_speed.json.
"""

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

HERE = Path(__file__).resolve().parent
DT_FS = 0.5


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--steps", type=int, default=20, help="steps per timed ilflow chunk (two chunks timed)")
    parser.add_argument("--ase-steps", type=int, default=4)
    args = parser.parse_args()
    from ase import units
    from ase.md.nose_hoover_chain import NoseHooverChainNVT
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    from ilflow.config import Box, Species
    from ilflow.md import NoseHoover, RunSettings, Schedule, from_model, run_md
    from ilflow.potentials import Calculator, GMNNConfig, init_params, save_model
    from ilflow.system import build_box

    work = Path(tempfile.mkdtemp(prefix="md-speed-"))
    elements = (1, 5, 6, 7, 9)
    config = GMNNConfig(elements=elements, hidden=(512, 512))
    params = jax.vmap(lambda k: init_params(config, k))(jax.random.split(jax.random.PRNGKey(0), 2))
    params["scale"] = params["scale"] * 0.01
    save_model(work / "model", config, params)
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "timestep_fs": DT_FS, "rows": []}
    for pairs in args.pairs:
        atoms = build_box([Species(name="BMIM", smiles="CCCCn1cc[n+](C)c1", count=pairs),
                           Species(name="BF4", smiles="F[B-](F)(F)F", count=pairs)], Box(density_g_cm3=1.2, seed=5))
        n = len(atoms)
        for d3_cutoff in (None, 8.0, 20.0):
            dispersion = {"functional": "b97-3c", "cutoff_A": d3_cutoff, "cn_cutoff_A": d3_cutoff} if d3_cutoff else None
            out = work / f"run-{pairs}-{d3_cutoff}"
            settings = RunSettings(steps=3 * args.steps, frame_every=args.steps, frames_per_chunk=1,
                                   schedule=Schedule(300.0))
            summary = run_md(from_model(work / "model", dispersion), atoms, NoseHoover(DT_FS), settings, out)
            ours_s = 1.0 / (summary.atom_steps_per_s / n)  # seconds per step, steady chunks
            shutil.rmtree(out)

            ase_atoms = atoms.copy()
            ase_atoms.calc = Calculator(work / "model", dispersion=dispersion)
            MaxwellBoltzmannDistribution(ase_atoms, temperature_K=300.0, rng=np.random.default_rng(0))
            dyn = NoseHooverChainNVT(ase_atoms, DT_FS * units.fs, 300.0, 100 * units.fs)
            dyn.run(1)
            t0 = time.perf_counter()
            dyn.run(args.ase_steps)
            ase_s = (time.perf_counter() - t0) / args.ase_steps
            row = {"pairs": pairs, "atoms": n, "d3_cutoff_A": d3_cutoff, "ilflow_s_per_step": ours_s,
                   "ase_s_per_step": ase_s, "ilflow_ns_per_day": DT_FS * 1e-6 / ours_s * 86400,
                   "ase_ns_per_day": DT_FS * 1e-6 / ase_s * 86400, "ilflow_atom_steps_per_s": n / ours_s,
                   "speedup_vs_ase": ase_s / ours_s}
            results["rows"].append(row)
            print(f"{pairs:3d} pairs ({n:5d} atoms), D3 {str(d3_cutoff or '-'):>4}: ilflow {row['ilflow_ns_per_day']:7.3f} "
                  f"ns/day ({row['ilflow_atom_steps_per_s']:8.0f} atom-steps/s), ASE MD {row['ase_ns_per_day']:7.3f} "
                  f"ns/day -> {row['speedup_vs_ase']:.1f}x", flush=True)
    (HERE / "results" / "md_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {HERE / 'results' / 'md_speed.json'}")


if __name__ == "__main__":
    main()
