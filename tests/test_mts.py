"""Multiple time stepping (impulse r-RESPA) of a slow term, on FCC argon: Lennard-Jones every step, a weak D3(BJ)
every k steps. With k = 1 it is bitwise the ordinary integrator of the summed potential; with k > 1 the error
of the conserved quantity stays bounded and shrinks with the slow step (NVE, Nose-Hoover, MTK NPT); the impulses
carry, on average, the same momentum as the per-step slow force; restarts and replicas keep the slow steps'
phase."""

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.lattice.cubic import FaceCenteredCubic

from ilflow import units
from ilflow.errors import IlflowError
from ilflow.md import MTKNPT, NVE, Langevin, NoseHoover, RunSettings, Schedule, lennard_jones, run_md, run_replicas
from ilflow.md.force_field import (Evaluation, ForceField, ListSpec, SlowTerm, allocate_lists, make_force,
                                   start_forces)
from ilflow.md.state import Control
from ilflow.potentials.d3 import D3Neighbors, d3_config, d3_energy, d3_tables
from ilflow.potentials.forces import energy_forces_stress
from ilflow.potentials.system import make_system

# PBE's D3(BJ) damping, scaled to a quarter: a slow term of a few percent of the LJ forces, as D3 beyond a model's
# cutoff is (the full PBE D3 on top of LJ argon doubles the attraction and collapses the box). Smoothly switched
# off over the last 2 Å so that the energy is conserved without it.
D3 = d3_config((18,), "pbe", s6=0.25, s8=0.25, cutoff_A=9.0, cn_cutoff_A=9.0, switch_width_A=2.0)
DT_FS = 4.0


def argon(seed=0, lattice_A=5.4):
    """32 atoms of FCC argon near the LJ lattice constant, rattled."""
    atoms = FaceCenteredCubic("Ar", size=(2, 2, 2), latticeconstant=lattice_A)
    atoms.rattle(0.05, seed=seed)
    return atoms


def d3_evaluate(params, system, lists):
    out = energy_forces_stress(lambda q, s, n: d3_energy(q, D3, s, n), params, system, D3Neighbors(lists["d3"], None))
    return Evaluation.plain(out.energy, out.forces, out.stress, jnp.zeros(()))


D3_LISTS = (("d3", ListSpec(D3.pair_cutoff_A, half=True)),)


def lj_plus_d3(every: int) -> ForceField:
    """LJ every step, D3 every `every` steps."""
    lj = lennard_jones()
    return ForceField(lj.evaluate, lj.lists, lj.skin_A, f"LJ + D3 every {every}", (18,), d3_tables(D3),
                      SlowTerm(d3_evaluate, D3_LISTS, every))


def lj_plus_d3_summed() -> ForceField:
    """The same potential as one term (the ordinary integrator's force field)."""
    lj = lennard_jones()

    def evaluate(params, system, lists):
        a, b = lj.evaluate(params, system, lists), d3_evaluate(params, system, lists)
        return Evaluation.plain(a.energy + b.energy, a.forces + b.forces, a.stress + b.stress, jnp.zeros(()))

    return ForceField(evaluate, lj.lists + D3_LISTS, lj.skin_A, "LJ + D3", (18,), d3_tables(D3))


def trajectory(force_field, integrator, steps, temperature_K=40.0, seed=0, lattice_A=5.4):
    """Per-step (conserved quantity, positions, cell, kicked minus physical forces, the slow term's forces)."""
    atoms = argon(lattice_A=lattice_A)
    system = make_system(atoms, (18,))
    specs = allocate_lists(force_field, system, margin=2.0)
    control = Control(jnp.asarray(temperature_K), jnp.asarray(1.0))
    force = make_force(force_field, specs, force_field.params)
    state, aux = integrator.init(system, jnp.asarray(atoms.get_masses()), jax.random.PRNGKey(seed), temperature_K,
                                 force, start_forces(force_field, specs, system))

    @jax.jit
    def run(state, aux):
        def body(carry, _):
            s, a = integrator.step(carry[0], control, force, carry[1])
            slow = a.slow.forces if a.slow is not None else jnp.zeros_like(s.system.positions)
            return (s, a), (integrator.conserved(s, control), s.system.positions, s.system.cell,
                            s.evaluation.kick_forces - s.evaluation.forces, slow)
        return jax.lax.scan(body, (state, aux), None, length=steps)

    (_, aux), out = run(state, aux)
    assert not bool(aux.overflow)
    return [np.asarray(x) for x in out]


def test_one_step_per_slow_step_is_bitwise_the_ordinary_integrator():
    mts = trajectory(lj_plus_d3(1), NVE(DT_FS), 300)
    plain = trajectory(lj_plus_d3_summed(), NVE(DT_FS), 300)
    assert np.array_equal(mts[1], plain[1]) and np.array_equal(mts[0], plain[0])


@pytest.mark.parametrize("integrator", [NVE(DT_FS), NoseHoover(DT_FS, tau_fs=200.0),
                                        MTKNPT(DT_FS, tau_fs=200.0, tau_barostat_fs=1000.0)],
                         ids=["nve", "nose-hoover", "mtk-npt"])
def test_the_conserved_quantity_error_is_bounded_and_shrinks_with_the_slow_step(integrator):
    """Fluctuation (eV/atom) of the conserved quantity at the slow steps over 8 ps, slow steps of 16, 32 and 64 fs:
    it decreases with the slow step, and at 16 fs it does not drift. With fixed volume the error of the 4 fs inner step dominates
    up to 16 fs (within 1.5x of k = 1; measured: the same within 5%). Under MTK the slow term's virial, a large
    near-constant pressure (here about -4 kbar), reaches the piston as impulses: measured 1e-5 eV/atom at 16 fs,
    20x k = 1 and falling as k^3 (the error scales with that virial squared and the piston's frequency); bounded
    here at 1% of kT."""
    spread, drift = {}, {}
    for every in (1, 4, 8, 16):
        conserved = trajectory(lj_plus_d3(every), integrator, 2000, lattice_A=5.3)[0][every - 1::every] / 32
        spread[every] = np.std(conserved)
        drift[every] = abs(np.polyfit(np.arange(len(conserved)) * every * DT_FS * 1e-3, conserved, 1)[0])
    assert spread[16] > spread[8] > spread[4], spread
    if isinstance(integrator, MTKNPT):
        assert spread[4] < 0.01 * units.KB_EV_K * 40.0, spread
    else:
        assert spread[4] < 1.5 * spread[1], spread
    assert max(drift[1], drift[4]) < 1e-5, drift  # eV/atom/ps


def test_the_impulses_carry_the_momentum_of_the_per_step_slow_force():
    """The impulse k F(t_m) at slow step m against the per-step force over its window (trapezoid from t_m - k/2 to
    t_m + k/2): their difference averages to zero within its standard error for every atom and direction (z
    scores those of a normal distribution), and is small next to the impulse itself."""
    every = 8
    _, positions, cells, kicked_minus_physical, _ = trajectory(lj_plus_d3(every), NVE(DT_FS), 4000)
    # per-step D3 forces along the same trajectory, from D3 alone as an every-step force field
    alone = ForceField(d3_evaluate, D3_LISTS, 1.0, "D3", (18,), d3_tables(D3))
    system = make_system(argon(), (18,))
    specs = allocate_lists(alone, system, margin=2.0)
    force = make_force(alone, specs, alone.params)
    at = lambda rc: force(system._replace(positions=rc[0], cell=rc[1]), start_forces(alone, specs, system))[0]  # noqa: E731
    per_step = np.asarray(jax.jit(lambda r, c: jax.lax.map(lambda rc: at(rc).forces, (r, c)))(positions, cells))
    # the kicks apply F_fast + (k at slow steps, else 0) x F_slow; the physical force is F_fast + F_slow
    slow_steps = np.arange(every - 1, len(positions), every)  # step index s of the evaluation after step s + 1
    impulse = kicked_minus_physical[slow_steps] + per_step[slow_steps]
    assert np.allclose(impulse, every * per_step[slow_steps], atol=1e-9)  # k F at the slow steps
    window = np.array([0.5] + [1.0] * (every - 1) + [0.5])
    inner = slow_steps[(slow_steps >= every // 2) & (slow_steps + every // 2 < len(positions))]
    quadrature = np.array([np.tensordot(window, per_step[s - every // 2: s + every // 2 + 1], axes=1) for s in inner])
    difference = every * per_step[inner] - quadrature
    z = difference.mean(axis=0) / (difference.std(axis=0) / np.sqrt(len(inner)))
    assert np.mean(z**2) < 2.0 and np.max(np.abs(z)) < 5.0, (np.mean(z**2), np.max(np.abs(z)))
    assert np.sqrt(np.mean(difference**2)) < 0.1 * np.sqrt(np.mean(quadrature**2))


def test_restart_and_replicas_keep_the_phase_of_the_slow_steps(tmp_path):
    """An MTS run continued from its checkpoint is bitwise the run made at once; a replica of a vmapped run is the
    run made alone; frames fall only on slow steps."""
    settings = RunSettings(steps=240, frame_every=24, frames_per_chunk=2, schedule=Schedule(40.0))
    ff = lj_plus_d3(8)
    run_md(ff, argon(), Langevin(DT_FS), settings, tmp_path / "straight")
    run_md(ff, argon(), Langevin(DT_FS), RunSettings(**{**settings.__dict__, "steps": 96}), tmp_path / "restarted")
    run_md(ff, argon(), Langevin(DT_FS), settings, tmp_path / "restarted")
    run_replicas(ff, argon(), Langevin(DT_FS), settings, tmp_path / "replicas", seeds=[1, 0])
    name = "particles/trajectory/position/value"
    with h5py.File(tmp_path / "straight/trajectory.h5md") as a, h5py.File(tmp_path / "restarted/trajectory.h5md") as b, \
            h5py.File(tmp_path / "replicas/replica-1/trajectory.h5md") as c:
        assert np.array_equal(a[name][:], b[name][:])
        assert np.allclose(a[name][:], c[name][:], atol=1e-8)
        energy = a["observables/potential_energy/value"][:]
    lj = lennard_jones()  # the frames' energy is the full potential at their positions
    with h5py.File(tmp_path / "straight/trajectory.h5md") as a:
        last = a[name][-1]
    atoms = argon()
    atoms.positions = last
    assert energy[-1] == pytest.approx(_energy(lj_plus_d3_summed(), atoms), abs=1e-9)
    assert energy[-1] != pytest.approx(_energy(lj, atoms), abs=1e-3)
    with pytest.raises(IlflowError, match="multiple of the slow term"):
        run_md(ff, argon(), Langevin(DT_FS), RunSettings(steps=20, frame_every=10), tmp_path / "odd")


def _energy(force_field, atoms) -> float:
    system = make_system(atoms, (18,))
    specs = allocate_lists(force_field, system)
    return float(make_force(force_field, specs, force_field.params)(system, start_forces(force_field, specs, system))[0].energy)
