"""D3's written-out gradient against autodiff of the same energy, one run: time per energy + forces + stress and the
largest differences.

  .venv/bin/python benchmarks/d3_gradient.py [--atoms 240 960] [--repeats 7]

Boxes: benchmarks/data/bmim_bf4_353K_120.extxyz repeated along x. D3(BJ) with GFN1-xTB's parameters, two-body and
CN cutoffs of 20 Å, the half list of MD with multiple time stepping (23 Å: a 3 Å skin), plain and with both
smooth switches and the tail correction. Writes benchmarks/results/d3_gradient.json.
"""

import argparse
import json
import os
import platform
from pathlib import Path

import jax
import jax.numpy as jnp
from roofline import seconds

HERE = Path(__file__).resolve().parent
SKIN_A = 3.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--atoms", type=int, nargs="+", default=[240, 960], help="120 x a whole number")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    from ase.io import read

    from ilflow.potentials.d3 import D3Neighbors, d3_config, d3_energy, d3_tables
    from ilflow.potentials.d3_forces import d3_two_body_forces
    from ilflow.potentials.forces import energy_forces_stress
    from ilflow.potentials.neighbors import allocate, build_neighbors
    from ilflow.potentials.system import make_system
    from ilflow.runtime import ensure_configured

    ensure_configured()
    unit = read(HERE / "data" / "bmim_bf4_353K_120.extxyz")
    rows = []
    for n_atoms in args.atoms:
        atoms = unit.repeat((n_atoms // len(unit), 1, 1))
        for options in ({}, {"switch_width_A": 2.0, "cn_switch_width_A": 1.5, "tail_correction": True}):
            config = d3_config(tuple(sorted(set(atoms.numbers))), functional="gfn1", cutoff_A=20.0, cn_cutoff_A=20.0,
                               **options)
            system = make_system(atoms, config.elements)
            pairs, _ = build_neighbors(system, allocate(system, config.pair_cutoff_A + SKIN_A, half=True))
            inputs = (d3_tables(config), system, pairs)
            autodiff = jax.jit(lambda t, s, nb, c=config: energy_forces_stress(
                lambda q, ss, nn: d3_energy(q, c, ss, D3Neighbors(nn)), t, s, nb))
            written = jax.jit(lambda t, s, nb, c=config: d3_two_body_forces(t, c, s, nb))
            a, w = autodiff(*inputs), written(*inputs)
            row = {"atoms": len(atoms), "slots_per_atom": int(pairs.idx.shape[1]), "options": options,
                   "autodiff_ms": 1e3 * seconds(autodiff, *inputs, repeats=args.repeats),
                   "written_ms": 1e3 * seconds(written, *inputs, repeats=args.repeats),
                   "max_force_difference_eV_A": float(jnp.abs(a.forces - w.forces).max()),
                   "max_stress_difference_eV_A3": float(jnp.abs(a.stress - w.stress).max()),
                   "energy_difference_eV": float(abs(a.energy - w.energy))}
            row["speedup"] = row["autodiff_ms"] / row["written_ms"]
            rows.append(row)
            print(f"{len(atoms):5d} atoms {'switches + tail' if options else 'plain':15s} autodiff "
                  f"{row['autodiff_ms']:7.1f} ms, written out {row['written_ms']:7.1f} ms ({row['speedup']:.2f}x); "
                  f"max |dF| {row['max_force_difference_eV_A']:.1e} eV/Å", flush=True)
    out = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "jax": jax.__version__, "rows": rows}
    (HERE / "results" / "d3_gradient.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
