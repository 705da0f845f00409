"""D3(BJ) for ASE Atoms: an ASE calculator, and dispersion-free labels by subtraction."""

import json
from functools import partial

import jax
import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from ilflow.potentials.d3 import d3_config, d3_tables, host_d3_neighbors
from ilflow.potentials.d3_forces import d3_energy_forces_stress
from ilflow.potentials.forces import voigt
from ilflow.potentials.system import make_system
from ilflow.runtime import ensure_configured


@partial(jax.jit, static_argnums=0)
def _evaluate(config, tables, system, neighbors):
    return d3_energy_forces_stress(tables, config, system, neighbors)


def d3_results(atoms: Atoms, **settings) -> tuple[float, np.ndarray, np.ndarray | None]:
    """D3 energy (eV), forces (eV/Å) and stress (eV/Å^3, Voigt; None if not periodic) of one frame.

    `settings`: keys of `d3_config` (functional, three_body, cutoff_A, cn_cutoff_A, ...)."""
    ensure_configured()  # energies, forces and stress in float64
    config = d3_config(sorted(set(int(z) for z in atoms.numbers)), **settings)
    out = _evaluate(config, d3_tables(config), make_system(atoms, config.elements), host_d3_neighbors(atoms, config))
    stress = np.asarray(voigt(out.stress)) if atoms.pbc.all() else None
    return float(out.energy), np.asarray(out.forces), stress


class D3Calculator(Calculator):
    """ASE calculator of D3(BJ) alone: `D3Calculator(functional="b97-3c", cutoff_A=20.0)`."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, **settings):
        ensure_configured()
        super().__init__()
        self.settings = settings

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy, forces, stress = d3_results(self.atoms, **self.settings)
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
        if stress is not None:
            self.results["stress"] = stress


def subtract_d3(labelled: Atoms, settings: dict) -> Atoms:
    """A copy of a labelled frame with our D3 removed from energy, forces and stress; the settings are
    recorded in info['d3_subtracted'] (JSON), so a model trained on it plus the same D3 reproduces the labels."""
    from ase.calculators.singlepoint import SinglePointCalculator

    energy, forces, stress = d3_results(labelled, **settings)
    results = {"energy": labelled.get_potential_energy() - energy, "forces": labelled.get_forces() - forces}
    if stress is not None and "stress" in labelled.calc.results:
        results["stress"] = labelled.get_stress() - stress
    out = labelled.copy()
    out.calc = SinglePointCalculator(out, **results)
    out.info = dict(labelled.info, d3_subtracted=json.dumps(settings, sort_keys=True))
    return out
