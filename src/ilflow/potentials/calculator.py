"""ASE calculator for a model directory: energy, forces, stress and, for ensembles, their uncertainties;
optionally with D3 added at run time (the hybrid model of the study).

Neighbour lists (cutoff + skin) are kept between calls and rebuilt only when an atom has moved more than
half the skin, the cell or the atoms changed, or a list overflowed.
"""

from functools import partial

import jax
import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from ilflow.potentials.d3 import D3Neighbors, d3_config, d3_tables
from ilflow.potentials.ensemble import ensemble_forces
from ilflow.potentials.forces import voigt
from ilflow.potentials.gmnn import energy
from ilflow.potentials.hybrid import HybridNeighbors, hybrid_ensemble_forces
from ilflow.potentials.model_io import load_model
from ilflow.potentials.neighbors import allocate, build_neighbors, host_neighbors
from ilflow.potentials.system import make_system
from ilflow.runtime import ensure_configured


@partial(jax.jit, static_argnums=0)
def _evaluate(config, params, system, neighbors):
    return ensemble_forces(lambda p, s, n: energy(p, config, s, n), params, system, neighbors)


@partial(jax.jit, static_argnums=0)
def _evaluate_hybrid(configs, params, system, neighbors):
    return hybrid_ensemble_forces(params, configs, system, neighbors)


class _ListCache:
    """One neighbour list of a given radius, reused while atoms move less than skin/2."""

    def __init__(self, cutoff_A: float, skin_A: float, half: bool = False):
        self.cutoff_A, self.skin_A, self.half = cutoff_A, skin_A, half
        self.spec = None
        self.state = None  # (positions, cell, numbers, neighbors)
        self.rebuilds = 0

    def get(self, atoms, system):
        radius = self.cutoff_A + self.skin_A
        if not atoms.pbc.all():
            self.rebuilds += 1
            return host_neighbors(atoms, radius, half=self.half)
        if self.state is not None:
            pos0, cell0, numbers0, neighbors = self.state
            if (np.array_equal(atoms.numbers, numbers0) and np.allclose(atoms.cell.array, cell0)
                    and np.max(np.linalg.norm(atoms.positions - pos0, axis=1)) < self.skin_A / 2):
                return neighbors
        if self.spec is None or self.state is None or len(atoms) != len(self.state[2]):
            self.spec = allocate(system, radius, half=self.half)
        neighbors, overflow = build_neighbors(system, self.spec)
        if bool(overflow):
            self.spec = allocate(system, radius, half=self.half)
            neighbors, _ = build_neighbors(system, self.spec)
        self.state = (atoms.positions.copy(), atoms.cell.array.copy(), atoms.numbers.copy(), neighbors)
        self.rebuilds += 1
        return neighbors


class GMNNCalculator(Calculator):
    """`GMNNCalculator("model_dir", dispersion={"functional": "b97-3c", "cutoff_A": 20.0})`.

    Results: energy, forces, stress, energy_uncertainty, forces_uncertainty (per component, eV/Å).
    `dispersion` adds D3(BJ) (keys of `potentials.d3.d3_config`: functional, three_body, cutoff_A,
    cn_cutoff_A, three_body_cutoff_A, switch widths, tail_correction); uncertainties stay the ensemble's.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energy_uncertainty", "forces_uncertainty"]

    def __init__(self, model_dir, skin_A: float = 1.0, dispersion: dict | None = None, **kwargs):
        ensure_configured()  # energies, forces and stress in float64
        super().__init__(**kwargs)
        self.config, self.params, self.info = load_model(model_dir)
        self.lists = {"gmnn": _ListCache(self.config.cutoff_A, skin_A)}
        self.d3 = None
        if dispersion:
            self.d3 = d3_config(self.config.elements, **dispersion)
            self.d3_tables = d3_tables(self.d3)
            self.lists["d3"] = _ListCache(self.d3.pair_cutoff_A, skin_A, half=True)
            if self.d3.s9:
                self.lists["d3_triples"] = _ListCache(self.d3.three_body_cutoff_A, skin_A)
            if self.d3.separate_cn_list:
                self.lists["d3_cn"] = _ListCache(self.d3.cn_cutoff_A, skin_A, half=True)

    @property
    def rebuilds(self) -> int:
        return self.lists["gmnn"].rebuilds

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        system = make_system(self.atoms, self.config.elements)
        nbrs = {name: cache.get(self.atoms, system) for name, cache in self.lists.items()}
        if self.d3 is None:
            out = _evaluate(self.config, self.params, system, nbrs["gmnn"])
        else:
            d3_lists = D3Neighbors(nbrs["d3"], nbrs.get("d3_triples"), nbrs.get("d3_cn"))
            neighbors = HybridNeighbors(nbrs["gmnn"], d3_lists)
            out = _evaluate_hybrid((self.config, self.d3), {"gmnn": self.params, "d3": self.d3_tables}, system,
                                   neighbors)
        self.results = {"energy": float(out.energy), "free_energy": float(out.energy),
                        "forces": np.asarray(out.forces), "energy_uncertainty": float(out.energy_std),
                        "forces_uncertainty": np.asarray(out.forces_std)}
        if self.atoms.pbc.all():
            self.results["stress"] = np.asarray(voigt(out.stress))
