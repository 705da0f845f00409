"""How close D3(BJ) with a short cutoff plus the homogeneous-liquid tail correction gets to a 40 Å reference.

  .venv/bin/python benchmarks/d3_tail.py

10 BMIM-BF4 pairs at 1.21 g/cm3 (300 atoms, 14.58 Å box), B97-3c parameters, CN cutoff 20 Å for all runs;
energy per atom and pressure (-trace(stress)/3) with two-body cutoffs of 8, 12 and 20 Å, with and without
the tail correction, against 40 Å without it. Writes benchmarks/results/d3_tail.json.
"""

import json
from pathlib import Path

import numpy as np
from ase import units

from ilflow.config import Box, Species
from ilflow.potentials.d3_calculator import d3_results
from ilflow.system import build_box


def main() -> None:
    atoms = build_box([Species(name="BMIM", smiles="CCCCn1cc[n+](C)c1", count=10),
                       Species(name="BF4", smiles="F[B-](F)(F)F", count=10)], Box(density_g_cm3=1.21, seed=5))
    n = len(atoms)

    def evaluate(cutoff, tail):
        e, _, s = d3_results(atoms, functional="b97-3c", cutoff_A=cutoff, cn_cutoff_A=20.0, tail_correction=tail)
        return e / n, -np.mean(s[:3]) / units.bar  # eV/atom, bar

    e_ref, p_ref = evaluate(40.0, False)
    rows = []
    print(f"reference 40 Å: {e_ref * 1000:.3f} meV/atom, D3 pressure {p_ref:.0f} bar")
    for cutoff in (8.0, 12.0, 20.0):
        for tail in (False, True):
            e, p = evaluate(cutoff, tail)
            rows.append({"cutoff_A": cutoff, "tail": tail, "energy_error_meV_atom": (e - e_ref) * 1000,
                         "pressure_error_bar": p - p_ref})
            print(f"{cutoff:4.0f} Å {'+ tail' if tail else '      '}: energy error {(e - e_ref) * 1000:8.4f} meV/atom, "
                  f"pressure error {p - p_ref:8.1f} bar")
    out = Path(__file__).parent / "results" / "d3_tail.json"
    out.write_text(json.dumps({"reference_40A": {"energy_meV_atom": e_ref * 1000, "pressure_bar": p_ref},
                               "rows": rows}, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
