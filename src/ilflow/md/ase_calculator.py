"""Any `ForceField` as an ASE calculator (for ASE's integrators and optimisers, and the benchmarks that drive
our potentials through ASE as the study did). The lists are kept between calls and rebuilt like in our MD; a
slow term (multiple time stepping) is evaluated at every call: ASE's integrators know nothing of impulses."""

import jax
import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from ilflow.md.force_field import ForceField, allocate_lists, make_force, start_forces
from ilflow.potentials.forces import voigt
from ilflow.potentials.system import make_system
from ilflow.runtime import ensure_configured


class ForceFieldCalculator(Calculator):
    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, force_field: ForceField, **kwargs):
        ensure_configured()  # energies, forces and stress in float64
        super().__init__(**kwargs)
        self.force_field = force_field
        self.specs = None
        self.lists = None
        self._evaluate = None

    def _compile(self):
        specs, ff = self.specs, self.force_field

        @jax.jit
        def evaluate(params, system, state):
            return make_force(ff, specs, params)(system, state._replace(calls=jax.numpy.zeros_like(state.calls)))

        self._evaluate = evaluate

    def _start(self, system):
        """A fresh ForceState for the current capacities, and evaluate compiled for them."""
        self._compile()
        return start_forces(self.force_field, self.specs, system)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        elements = self.force_field.elements or tuple(sorted({int(z) for z in self.atoms.numbers}))
        system = make_system(self.atoms, elements)
        if self.lists is None or "numbers" in system_changes:
            self.specs = allocate_lists(self.force_field, system)
            self.lists = self._start(system)
        out, lists = self._evaluate(self.force_field.params, system, self.lists)
        if bool(lists.overflow):
            self.specs = allocate_lists(self.force_field, system, margin=1.6)
            out, lists = self._evaluate(self.force_field.params, system, self._start(system))
        self.lists = lists.cleared()
        self.results = {"energy": float(out.energy), "free_energy": float(out.energy),
                        "forces": np.asarray(out.forces), "stress": np.asarray(voigt(out.stress))}
