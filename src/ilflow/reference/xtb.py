"""GFN2-xTB / GFN1-xTB through tblite: periodic, with stress. The embedded default reference."""

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from ase import Atoms

from ilflow.config.reference import XtbReference
from ilflow.reference.base import LabelError, Labeler, multiplicity, net_charge


@lru_cache(maxsize=2)
def _without_dispersion(hamiltonian: str) -> dict:
    """tblite's parameter set of the Hamiltonian with its `dispersion` table deleted (tblite >= 0.7 takes a
    parameter dictionary as `method`)."""
    from tblite import library

    export = {"GFN1-xTB": library.export_gfn1_param, "GFN2-xTB": library.export_gfn2_param}[hamiltonian]
    param, table = library.new_param(), library.new_table()
    export(param)
    library.dump_param(param, table)
    parameters = library.table_to_dict(table)
    del parameters["dispersion"]
    return parameters


@dataclass
class XtbLabeler(Labeler):
    """tblite's ASE calculator with the campaign's settings; charge and spin from the frame's species."""

    config: XtbReference = XtbReference()

    def __post_init__(self):
        self.method = f"xtb:{self.config.hamiltonian}"

    def settings(self) -> dict[str, Any]:
        return self.config.model_dump()

    def calculator(self, atoms: Atoms):
        from tblite.ase import TBLite

        charge = net_charge(atoms)
        return TBLite(
            method=self.config.hamiltonian if self.config.dispersion == "include" else _without_dispersion(
                self.config.hamiltonian),
            charge=charge,
            multiplicity=multiplicity(atoms, charge),
            accuracy=self.config.accuracy,
            electronic_temperature=self.config.electronic_temperature_K,
            max_iterations=self.config.max_iterations,
            verbosity=0,
        )

    def compute(self, atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray | None]:
        work = atoms.copy()
        work.calc = self.calculator(work)
        try:
            energy = work.get_potential_energy()
            forces = work.get_forces()
            stress = work.get_stress(voigt=True) if work.pbc.all() else None
        except Exception as exc:
            text = str(exc)
            kind = "scf_not_converged" if "converge" in text.lower() else "crashed"
            raise LabelError(kind, f"tblite ({self.config.hamiltonian}) failed: {text.strip().splitlines()[-1] if text.strip() else type(exc).__name__}", text[-2000:]) from None
        return energy, forces, stress
