"""What the MD engine integrates: a force field = an evaluation function, its parameters and the neighbour lists it
needs, optionally with a slow term integrated by multiple time stepping.

`evaluate(params, system, lists) -> Evaluation` is pure JAX; `lists` maps a list name to a `Neighbors`. The
parameters (a pytree of arrays, e.g. the ensemble's weights) are passed in, not closed over, so that one compiled
program serves every model of the same architecture. The lists are kept in a `NeighborState` inside the jitted
loop: rebuilt in place when atoms (or the cell) moved by more than the skin allows, with an overflow flag that the
host checks once per chunk.

Multiple time stepping (impulse r-RESPA; Tuckerman, Berne & Martyna, J. Chem. Phys. 97, 1990 (1992)): a `SlowTerm`
(D3 over 20 Å: smooth, small, and as costly as the model again when evaluated at every step) is evaluated at every
`every`-th force evaluation only, with its own lists rebuilt only then. The integrators kick with
`Evaluation.kick_forces`: the fast force every step plus `every` times the slow force at those evaluations and
nothing in between. The two half kicks around such an evaluation (end of one step, start of the next) then add up
to the slow kick of the outer step `every x dt`, which is r-RESPA's "slow half kick, `every` inner steps, slow half
kick" for velocity Verlet, and the same impulse enters the thermostat and barostat splittings (the slow virial as a
barostat impulse).
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
    """The potential at the current positions, and what the integrator's kicks apply there.

    With a slow term (multiple time stepping) energy, forces and stress hold its value from its last evaluation,
    exact at the evaluations where it was due (the runner writes frames only there), and the kicks apply the
    slow term as an impulse. Without one, kick_forces is forces and kick_stress is stress."""

    energy: jax.Array  # eV
    forces: jax.Array  # (N, 3) eV/Å
    stress: jax.Array  # (3, 3) eV/Å^3, ASE sign
    uncertainty: jax.Array  # largest ensemble force standard deviation (paper eqn 8), eV/Å; 0 without ensemble
    kick_forces: jax.Array  # (N, 3) eV/Å: the force the integrator's kicks apply
    kick_stress: jax.Array  # (3, 3) eV/Å^3: the stress the barostat's kicks apply

    @classmethod
    def plain(cls, energy, forces, stress, uncertainty) -> "Evaluation":
        """An evaluation without an impulse: the kicks apply the forces and stress themselves."""
        return cls(energy, forces, stress, uncertainty, forces, stress)


class ListSpec(NamedTuple):
    cutoff_A: float
    half: bool = False
    trim: bool = False  # hand the potential only the pairs within cutoff_A, compacted every step (less padding)


Evaluate = Callable[[Any, System, dict[str, Neighbors]], Evaluation]


@dataclass(frozen=True)
class SlowTerm:
    """A term evaluated at every `every`-th force evaluation and applied as an impulse (multiple time stepping):
    evaluate(params, system, lists) with the force field's params, and the lists it reads (distinct names)."""

    evaluate: Evaluate
    lists: tuple[tuple[str, ListSpec], ...]
    every: int
    skin_A: float | None = None  # Verlet skin of its lists (None: the force field's)


@dataclass(frozen=True)
class ForceField:
    """evaluate(params, system, lists), its params, and the lists it reads: name -> (cutoff, half); optionally a
    slow term integrated every `slow.every` steps."""

    evaluate: Evaluate
    lists: tuple[tuple[str, ListSpec], ...]
    skin_A: float = 1.0
    name: str = "force field"
    elements: tuple[int, ...] | None = None  # atomic numbers in species-index order (None: those of the structure)
    params: Any = None  # pytree of arrays handed to evaluate
    slow: SlowTerm | None = None

    @property
    def slow_every(self) -> int:
        """Steps between evaluations of the slow term (1: no multiple time stepping)."""
        return self.slow.every if self.slow else 1

    @property
    def slow_skin_A(self) -> float:
        return self.slow.skin_A if self.slow and self.slow.skin_A is not None else self.skin_A


class NeighborState(NamedTuple):
    lists: dict  # name -> Neighbors
    positions: jax.Array  # positions at the last build (Å)
    cell: jax.Array  # cell at the last build
    overflow: jax.Array  # bool: some build since the chunk started overflowed
    builds: jax.Array  # int: number of builds


class ForceState(NamedTuple):
    """What a force evaluation carries to the next one: the lists, and the slow term's lists and last value."""

    lists: NeighborState  # of the lists evaluated every step
    slow_lists: NeighborState | None  # of the slow term's lists, rebuilt only when the slow term is due
    slow: Evaluation | None  # the slow term at its last evaluation (zeros before the first)
    calls: jax.Array  # force evaluations so far (int): the slow term is due when calls % every == 0

    @property
    def overflow(self) -> jax.Array:
        return self.lists.overflow | (self.slow_lists.overflow if self.slow_lists is not None else False)

    @property
    def builds(self) -> jax.Array:
        return self.lists.builds + (self.slow_lists.builds if self.slow_lists is not None else 0)

    def cleared(self) -> "ForceState":
        """The same state with the overflow flags reset (at the start of a chunk)."""
        no = jnp.zeros_like(self.lists.overflow)
        return self._replace(lists=self.lists._replace(overflow=no),
                             slow_lists=None if self.slow_lists is None else self.slow_lists._replace(overflow=no))


def allocate_lists(force_field: ForceField, system: System | list[System],
                   margin: float = 1.3) -> dict[str, NeighborSpec]:
    """Host side: capacities for `system`, or for every system of a list (replicas), static (changing them
    recompiles), the slow term's lists included."""
    lists = [(name, spec, force_field.skin_A) for name, spec in force_field.lists]
    if force_field.slow:
        lists += [(name, spec, force_field.slow_skin_A) for name, spec in force_field.slow.lists]
    return {name: allocate(system, spec.cutoff_A + skin, margin=margin, half=spec.half,
                           trim_cutoff_A=spec.cutoff_A if spec.trim else None)
            for name, spec, skin in lists}


def _split(force_field: ForceField, specs: dict) -> tuple[dict, dict]:
    fast = {name: specs[name] for name, _ in force_field.lists}
    return fast, {name: spec for name, spec in specs.items() if name not in fast}


def start_forces(force_field: ForceField, specs: dict, system: System) -> ForceState:
    """The ForceState of a start at `system`: lists built, the slow term due at the first evaluation."""
    fast, slow = _split(force_field, specs)
    if not force_field.slow:
        return ForceState(build_lists(fast, system), None, None, jnp.asarray(0))
    zero, zeros = jnp.zeros(()), jnp.zeros_like(system.positions)
    return ForceState(build_lists(fast, system), build_lists(slow, system),
                      Evaluation.plain(zero, zeros, jnp.zeros((3, 3)), zero), jnp.asarray(0))


def restart_forces(force_field: ForceField, specs: dict, system: System, old: ForceState) -> ForceState:
    """`old` with every list rebuilt for new capacities `specs`; the build counts, the slow term's value and the
    evaluation count (the phase of the slow steps) carry on."""
    fast, slow = _split(force_field, specs)
    return old._replace(lists=build_lists(fast, system, old.lists.builds),
                        slow_lists=build_lists(slow, system, old.slow_lists.builds) if force_field.slow else None)


def make_force(force_field: ForceField, specs: dict, params, axis_name=None):
    """force(system, ForceState) -> (Evaluation, ForceState), the function the integrators call (jit-friendly).
    The slow term's value is kept between its evaluations; at the first call it is always due."""
    fast_specs, slow_specs = _split(force_field, specs)

    def lists_now(specs, state, system, skin, allowed=True):
        state = update_lists(specs, state, system, skin, axis_name, allowed)
        return current_lists(specs, state, system)

    def force(system, aux: ForceState):
        lists, fast_lists = lists_now(fast_specs, aux.lists, system, force_field.skin_A)
        fast = force_field.evaluate(params, system, lists)
        if force_field.slow is None:
            return fast, aux._replace(lists=fast_lists, calls=aux.calls + 1)
        every = force_field.slow.every
        due = aux.calls % every == 0
        if axis_name is not None:  # replicas step together: one branch for all (see update_lists)
            due = jax.lax.psum(due.astype(jnp.int32), axis_name) > 0
        # the slow lists are rebuilt only when the slow term is due; only its small result leaves the branch (a
        # branch that also returned the 20 Å lists would copy them at every step)
        slow_now, slow_lists = lists_now(slow_specs, aux.slow_lists, system, force_field.slow_skin_A, due)
        slow = jax.lax.cond(due, lambda _: force_field.slow.evaluate(params, system, slow_now), lambda _: aux.slow, None)
        weight = jnp.where(due, float(every), 0.0)
        total = Evaluation(fast.energy + slow.energy, fast.forces + slow.forces, fast.stress + slow.stress,
                           fast.uncertainty, fast.kick_forces + weight * slow.forces,
                           fast.kick_stress + weight * slow.stress)
        return total, ForceState(fast_lists, slow_lists, slow, aux.calls + 1)

    return force


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


def update_lists(specs, state: NeighborState, system: System, skin_A: float, axis_name=None,
                 allowed=True) -> NeighborState:
    """The lists, rebuilt if needed for `system` and `allowed` (jit-friendly); the overflow flag accumulates.
    Under vmap over replicas (`axis_name`), all replicas rebuild together when one needs it, so that the
    rebuild stays a branch taken only then (a per-replica predicate would turn it into a select: every step)."""
    def rebuild(_):
        new = build_lists(specs, system, state.builds)
        return new._replace(overflow=new.overflow | state.overflow)

    need = _needs_rebuild(specs, state, system, skin_A) & allowed
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
        return Evaluation.plain(out.energy, out.forces, out.stress, jnp.zeros(()))

    return ForceField(evaluate, (("lj", ListSpec(config.cutoff_A)),), skin_A, "Lennard-Jones")


def from_model(model_dir, dispersion: dict | None = None, skin_A: float | None = None,
               dispersion_every: int = 1, dispersion_skin_A: float | None = None) -> ForceField:
    """A trained GMNN ensemble (uncertainty = eqn 8), optionally + D3 at run time (the study's hybrid), D3 as a
    slow term evaluated every `dispersion_every` steps (multiple time stepping; 1: every step).

    Verlet skins: skin_A of the model's list, dispersion_skin_A of D3's. They were chosen when building D3's 20 Å
    list cost 7-10x one D3 evaluation (120 atoms: 268 ms against 20-40 ms); the list's skin trades its size against
    rebuilds. The bin-by-bin build now takes 44 ms there (benchmarks/neighbor_speed.py); a rescan at k = 8 (demo
    model, 120 atoms, run beside another job) found 0.5/3, 1/3, 1/2 and 1/1.5 Å within 3% of each other:
    - D3 every step: 1.0 Å for both lists (120 atoms, MTK NPT at 283 K: 1.35 ns/day with 74 rebuilds per 400
      steps at 0.5 Å, 1.79 ns/day with 29 at 1.0 Å, 1.50 with 11 at 2.0 Å);
    - D3 every k > 1 steps: 0.5 Å for the model, 3.0 Å for D3 (demo model, 120 atoms at 353 K, k = 8, 0.5 fs,
      624 steps: D3 rebuilt 24 / 10 / 6 / 5 times at 1 / 2 / 3 / 4 Å, 32.9 / 30.9 / 28.3 / 39.1 ms per step
      against 24.9 for the model alone)."""
    ensure_configured()  # energies, forces and the integrator state in float64
    if int(dispersion_every) != dispersion_every or dispersion_every < 1:
        raise ValueError(f"dispersion_every ({dispersion_every}) must be a positive whole number of steps")
    every = int(dispersion_every)
    if skin_A is None:
        skin_A = 1.0 if dispersion and every == 1 else 0.5
    if dispersion_skin_A is None and every > 1:
        dispersion_skin_A = 3.0
    from ilflow.potentials.d3 import D3Neighbors, d3_config, d3_tables
    from ilflow.potentials.d3_forces import d3_energy_forces_stress
    from ilflow.potentials.ensemble import ensemble_forces
    from ilflow.potentials.gmnn import energy
    from ilflow.potentials.model_io import load_model

    config, params, _ = load_model(model_dir)
    members = np.shape(params["scale"])[0]

    def evaluate(params, system, nb):
        out = ensemble_forces(lambda p, s, n: energy(p, config, s, n), params["gmnn"], system, nb["gmnn"])
        return Evaluation.plain(out.energy, out.forces, out.stress, out.force_uncertainty)

    lists = (("gmnn", ListSpec(config.cutoff_A, trim=True)),)
    if not dispersion:
        return ForceField(evaluate, lists, skin_A, f"GMNN ensemble of {members}", config.elements, {"gmnn": params})
    d3 = d3_config(config.elements, **dispersion)
    d3_lists = (("d3", ListSpec(d3.pair_cutoff_A, half=True)),)
    if d3.s9:
        d3_lists += (("d3_triples", ListSpec(d3.three_body_cutoff_A)),)
    if d3.separate_cn_list:
        d3_lists += (("d3_cn", ListSpec(d3.cn_cutoff_A, half=True)),)

    def evaluate_d3(params, system, nb):
        out = d3_energy_forces_stress(params["d3"], d3, system,
                                      D3Neighbors(nb["d3"], nb.get("d3_triples"), nb.get("d3_cn")))
        return Evaluation.plain(out.energy, out.forces, out.stress, jnp.zeros(()))

    name = f"GMNN ensemble + D3({d3.functional}, {d3.cutoff_A} Å)"
    return ForceField(evaluate, lists, skin_A, name + (f" every {every} steps" if every > 1 else ""), config.elements,
                      {"gmnn": params, "d3": d3_tables(d3)}, SlowTerm(evaluate_d3, d3_lists, every, dispersion_skin_A))
