"""ASE calculator for a model directory: energy, forces, stress and, for ensembles, their uncertainties.

The neighbour list (cutoff + skin) is kept between calls and rebuilt only when an atom has moved more
than half the skin, the cell or the atoms changed, or the list overflowed.
"""

from functools import partial

import jax
import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from ilflow.potentials.ensemble import ensemble_forces
from ilflow.potentials.forces import voigt
from ilflow.potentials.gmnn import energy
from ilflow.potentials.model_io import load_model
from ilflow.potentials.neighbors import allocate, build_neighbors, host_neighbors
from ilflow.potentials.system import make_system


@partial(jax.jit, static_argnums=0)
def _evaluate(config, params, system, neighbors):
    return ensemble_forces(lambda p, s, n: energy(p, config, s, n), params, system, neighbors)


class GMNNCalculator(Calculator):
    """`GMNNCalculator("model_dir")`; results: energy, forces, stress, energy_uncertainty, forces_uncertainty."""

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energy_uncertainty", "forces_uncertainty"]

    def __init__(self, model_dir, skin_A: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.config, self.params, self.info = load_model(model_dir)
        self.skin_A = skin_A
        self._spec = None
        self._state = None  # (positions at build, cell, numbers, neighbors)
        self.rebuilds = 0

    def _neighbors(self, atoms, system):
        cutoff = self.config.cutoff_A + self.skin_A
        if not atoms.pbc.all():
            self.rebuilds += 1
            return host_neighbors(atoms, cutoff)
        if self._state is not None:
            pos0, cell0, numbers0, neighbors = self._state
            if (len(atoms) == len(numbers0) and np.array_equal(atoms.numbers, numbers0)
                    and np.allclose(atoms.cell.array, cell0)
                    and np.max(np.linalg.norm(atoms.positions - pos0, axis=1)) < self.skin_A / 2):
                return neighbors
        if self._spec is None or len(atoms) != len(self._state[2] if self._state else []):
            self._spec = allocate(system, cutoff)
        neighbors, overflow = build_neighbors(system, self._spec)
        if bool(overflow):
            self._spec = allocate(system, cutoff)
            neighbors, _ = build_neighbors(system, self._spec)
        self._state = (atoms.positions.copy(), atoms.cell.array.copy(), atoms.numbers.copy(), neighbors)
        self.rebuilds += 1
        return neighbors

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        system = make_system(self.atoms, self.config.elements)
        out = _evaluate(self.config, self.params, system, self._neighbors(self.atoms, system))
        self.results = {"energy": float(out.energy), "free_energy": float(out.energy),
                        "forces": np.asarray(out.forces), "energy_uncertainty": float(out.energy_std),
                        "forces_uncertainty": np.asarray(out.forces_std)}
        if self.atoms.pbc.all():
            self.results["stress"] = np.asarray(voigt(out.stress))
