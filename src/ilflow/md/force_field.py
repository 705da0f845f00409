"""What the MD engine integrates: a force field = an evaluation function, its parameters and the neighbour lists it
needs.

`evaluate(params, system, lists) -> Evaluation` is pure JAX; `lists` maps a list name to a `Neighbors`. The
parameters (a pytree of arrays, e.g. the ensemble's weights) are passed in, not closed over, so that one compiled
program serves every model of the same architecture. The lists
are kept in a `NeighborState` inside the jitted loop: rebuilt in place when atoms (or the cell) moved by
more than the skin allows, with an overflow flag that the host checks once per chunk.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ilflow.potentials.neighbors import NeighborSpec, allocate, build_neighbors, trim_neighbors
from ilflow.potentials.system import Neighbors, System
from ilflow.runtime import ensure_configured


class Evaluation(NamedTuple):
    energy: jax.Array  # eV
    forces: jax.Array  # (N, 3) eV/Å
    stress: jax.Array  # (3, 3) eV/Å^3, ASE sign
    uncertainty: jax.Array  # largest ensemble force standard deviation (paper eqn 8), eV/Å; 0 without ensemble


class ListSpec(NamedTuple):
    cutoff_A: float
    half: bool = False
    trim: bool = False  # hand the potential only the pairs within cutoff_A, compacted every step (less padding)


@dataclass(frozen=True)
class ForceField:
    """evaluate(params, system, lists), its params, and the lists it reads: name -> (cutoff, half)."""

    evaluate: Callable[[Any, System, dict[str, Neighbors]], Evaluation]
    lists: tuple[tuple[str, ListSpec], ...]
    skin_A: float = 1.0
    name: str = "force field"
    elements: tuple[int, ...] | None = None  # atomic numbers in species-index order (None: those of the structure)
    params: Any = None  # pytree of arrays handed to evaluate


class NeighborState(NamedTuple):
    lists: dict  # name -> Neighbors
    positions: jax.Array  # positions at the last build (Å)
    cell: jax.Array  # cell at the last build
    overflow: jax.Array  # bool: some build since the chunk started overflowed
    builds: jax.Array  # int: number of builds


def allocate_lists(force_field: ForceField, system: System, margin: float = 1.3) -> dict[str, NeighborSpec]:
    """Host side: capacities for `system` (static; changing them recompiles)."""
    return {name: allocate(system, spec.cutoff_A + force_field.skin_A, margin=margin, half=spec.half,
                           trim_cutoff_A=spec.cutoff_A if spec.trim else None)
            for name, spec in force_field.lists}


def build_lists(specs: dict[str, NeighborSpec], system: System, builds=0) -> NeighborState:
    built = {name: build_neighbors(system, spec) for name, spec in specs.items()}
    overflow = jnp.any(jnp.array([flag for _, flag in built.values()]))
    return NeighborState({name: nb for name, (nb, _) in built.items()}, system.positions, system.cell, overflow,
                         jnp.asarray(builds) + 1)


def _needs_rebuild(specs, state: NeighborState, system: System, skin_A: float) -> jax.Array:
    """True if a pair outside a list's radius R could now be within R - skin. With the cell deformed by
    F (cell = cell_0 F) every listed vector is v_0 F + (d_j - d_i), d the displacement beyond the affine
    one, so the bound is 2 max|d| + R |F - I| (spectral norm) < skin."""
    deform = jnp.linalg.solve(state.cell, system.cell)
    moved = system.positions - state.positions @ deform
    moved = jnp.where(system.mask, jnp.sum(moved**2, axis=-1), 0.0)
    radius = max(spec.cutoff_A for spec in specs.values())
    strain = jnp.linalg.norm(deform - jnp.eye(3), ord=2)
    return 2.0 * jnp.sqrt(jnp.max(moved)) + radius * strain > skin_A


def update_lists(specs, state: NeighborState, system: System, skin_A: float, axis_name=None) -> NeighborState:
    """The lists, rebuilt if needed for `system` (jit-friendly); the overflow flag accumulates.
    Under vmap over replicas (`axis_name`), all replicas rebuild together when one needs it, so that the
    rebuild stays a branch taken only then (a per-replica predicate would turn it into a select: every step)."""
    def rebuild(_):
        new = build_lists(specs, system, state.builds)
        return new._replace(overflow=new.overflow | state.overflow)

    need = _needs_rebuild(specs, state, system, skin_A)
    if axis_name is not None:
        need = jax.lax.psum(need.astype(jnp.int32), axis_name) > 0
    return jax.lax.cond(need, rebuild, lambda _: state, None)


def current_lists(specs, state: NeighborState, system: System) -> tuple[dict, NeighborState]:
    """The lists the potential reads now (trimmed where the spec says so); a trimmed row that overflowed
    sets the state's overflow flag."""
    lists, overflow = {}, state.overflow
    for name, spec in specs.items():
        lists[name] = state.lists[name]
        if spec.trim_capacity:
            lists[name], over = trim_neighbors(system, lists[name], spec)
            overflow = overflow | over
    return lists, state._replace(overflow=overflow)


def lennard_jones(config=None, skin_A: float = 1.0) -> ForceField:
    """LJ (potentials.lj), for tests and examples."""
    ensure_configured()  # energies, forces and the integrator state in float64
    from ilflow.potentials.forces import energy_forces_stress
    from ilflow.potentials.lj import LJConfig, lj_energy

    config = config or LJConfig()

    def evaluate(_, system, lists):
        out = energy_forces_stress(lambda p, s, n: lj_energy(p, config, s, n), None, system, lists["lj"])
        return Evaluation(out.energy, out.forces, out.stress, jnp.zeros(()))

    return ForceField(evaluate, (("lj", ListSpec(config.cutoff_A)),), skin_A, "Lennard-Jones")


def from_model(model_dir, dispersion: dict | None = None, skin_A: float | None = None) -> ForceField:
    """A trained GMNN ensemble (uncertainty = eqn 8), optionally + D3 at run time (the study's hybrid).

    skin_A (Verlet skin of every list): default 0.5 Å, 1.0 Å with D3, whose long list is costly to rebuild (120
    atoms, D3 20 Å, MTK NPT at 283 K: 1.35 ns/day with 74 rebuilds per 400 steps at 0.5 Å, 1.79 ns/day with 29 at
    1.0 Å, 1.50 with 11 at 2.0 Å)."""
    ensure_configured()  # energies, forces and the integrator state in float64
    if skin_A is None:
        skin_A = 1.0 if dispersion else 0.5
    from ilflow.potentials.d3 import D3Neighbors, d3_config, d3_tables
    from ilflow.potentials.ensemble import ensemble_forces
    from ilflow.potentials.gmnn import energy
    from ilflow.potentials.hybrid import HybridNeighbors, hybrid_ensemble_forces
    from ilflow.potentials.model_io import load_model

    config, params, _ = load_model(model_dir)
    lists = [("gmnn", ListSpec(config.cutoff_A, trim=True))]
    if not dispersion:
        def evaluate(params, system, nb):
            out = ensemble_forces(lambda p, s, n: energy(p, config, s, n), params, system, nb["gmnn"])
            return Evaluation(out.energy, out.forces, out.stress, out.force_uncertainty)

        return ForceField(evaluate, tuple(lists), skin_A, f"GMNN ensemble of {np.shape(params['scale'])[0]}",
                          config.elements, params)
    d3 = d3_config(config.elements, **dispersion)
    tables = d3_tables(d3)
    lists.append(("d3", ListSpec(d3.pair_cutoff_A, half=True)))
    if d3.s9:
        lists.append(("d3_triples", ListSpec(d3.three_body_cutoff_A)))

    def evaluate_hybrid(both, system, nb):
        neighbors = HybridNeighbors(nb["gmnn"], D3Neighbors(nb["d3"], nb.get("d3_triples")))
        out = hybrid_ensemble_forces(both, (config, d3), system, neighbors)
        return Evaluation(out.energy, out.forces, out.stress, out.force_uncertainty)

    return ForceField(evaluate_hybrid, tuple(lists), skin_A, f"GMNN ensemble + D3({d3.functional}, {d3.cutoff_A} Å)",
                      config.elements, {"gmnn": params, "d3": tables})
