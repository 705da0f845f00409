"""The MD engine against analytic results: NVE energy conservation shrinking as dt^2, canonical kinetic-energy
mean and variance from Langevin and Nose-Hoover chains, bitwise restarts, and checks that stop at the first
failing step."""

from dataclasses import replace

import jax
import jax.numpy as jnp
import json

import numpy as np
import pytest
from ase.lattice.cubic import FaceCenteredCubic

from ilflow import units
from ilflow.errors import IlflowError
from ilflow.md.summary import MDSummary
from ilflow.md import NVE, Checks, Evaluation, ForceField, Langevin, NoseHoover, RunSettings, Schedule, lennard_jones, run_md
from ilflow.md.force_field import allocate_lists, make_force, start_forces
from ilflow.md.state import Control, degrees_of_freedom, kinetic_energy
from ilflow.potentials.system import make_system


def argon(size=2, seed=0):
    """FCC argon (32 atoms for size 2), slightly rattled so that no symmetry survives."""
    atoms = FaceCenteredCubic("Ar", size=(size,) * 3, latticeconstant=5.4)
    atoms.rattle(0.05, seed=seed)
    return atoms


def trajectory(integrator, atoms, steps, temperature_K, seed=0):
    """Per-step conserved quantity and kinetic energy (eV) from the integrator's init/step pair."""
    force_field = lennard_jones()
    system = make_system(atoms, (18,))
    specs = allocate_lists(force_field, system, margin=2.0)
    control = Control(jnp.asarray(temperature_K), jnp.asarray(1.0))

    force = make_force(force_field, specs, force_field.params)
    state, lists = integrator.init(system, jnp.asarray(atoms.get_masses()), jax.random.PRNGKey(seed), temperature_K,
                                   force, start_forces(force_field, specs, system))

    @jax.jit
    def run(state, lists):
        def body(carry, _):
            s, nl = integrator.step(carry[0], control, force, carry[1])
            return (s, nl), (integrator.conserved(s, control), kinetic_energy(s.momenta, s.masses, s.system.mask))
        return jax.lax.scan(body, (state, lists), None, length=steps)

    (state, lists), (conserved, kinetic) = run(state, lists)
    assert not bool(lists.overflow)
    return np.asarray(conserved), np.asarray(kinetic), state


def test_nve_energy_error_shrinks_as_dt_squared():
    atoms = argon()
    spread = {}
    for dt in (8.0, 4.0):
        conserved, _, _ = trajectory(NVE(dt), atoms, int(4000 / dt), 40.0)  # the same 4 ps
        spread[dt] = np.std(conserved) / len(atoms)
        assert abs(conserved[-1] - conserved[0]) / len(atoms) < 2e-5  # eV/atom over 4 ps
    assert 3.0 < spread[8.0] / spread[4.0] < 5.0  # velocity Verlet: shadow-energy error ~ dt^2


@pytest.mark.parametrize("integrator", [Langevin(10.0, friction_per_ps=5.0), NoseHoover(10.0, tau_fs=100.0)],
                         ids=["langevin", "nose-hoover-chain"])
def test_thermostats_give_canonical_kinetic_energy(integrator):
    """<K> = f kT / 2 and var(K) = f (kT)^2 / 2 with f = 3N - 3 degrees of freedom."""
    atoms = argon(seed=1)
    temperature = 60.0
    _, kinetic, state = trajectory(integrator, atoms, 40000, temperature, seed=2)
    kinetic = kinetic[4000:]
    f = float(degrees_of_freedom(state.system.mask))
    kt = units.KB_EV_K * temperature
    blocks = kinetic.reshape(36, -1).mean(axis=1)  # block averages for the statistical error of the mean
    error = blocks.std() / np.sqrt(len(blocks))
    assert abs(kinetic.mean() - 0.5 * f * kt) < max(4 * error, 0.005 * f * kt)
    assert kinetic.var() == pytest.approx(0.5 * f * kt**2, rel=0.15)


def test_restart_is_bitwise_identical(tmp_path):
    atoms = argon()
    settings = RunSettings(steps=200, frame_every=20, frames_per_chunk=2, schedule=Schedule(50.0), velocities=True)
    run_md(lennard_jones(), atoms, Langevin(5.0), settings, tmp_path / "straight")
    first = run_md(lennard_jones(), atoms, Langevin(5.0), RunSettings(**{**settings.__dict__, "steps": 80}),
                   tmp_path / "restarted")
    assert first.steps_done == 80
    summary = run_md(lennard_jones(), atoms, Langevin(5.0), settings, tmp_path / "restarted")
    assert summary.steps_done == 200
    import h5py

    with h5py.File(tmp_path / "straight" / "trajectory.h5md") as a, h5py.File(tmp_path / "restarted" / "trajectory.h5md") as b:
        for name in ("particles/trajectory/position", "particles/trajectory/velocity", "observables/potential_energy"):
            assert np.array_equal(a[name + "/value"][:], b[name + "/value"][:])
            assert np.array_equal(a[name + "/step"][:], np.arange(0, 201, 20))


def test_slow_chunks_are_cut_to_fewer_frames_with_the_same_trajectory(tmp_path, monkeypatch):
    """A chunk that takes longer than CHUNK_TARGET_S (sparse frames of a slow model: no progress line for minutes)
    is cut to fewer frames from the next chunk on, and the run stays bit for bit the one with full chunks."""
    import h5py

    from ilflow.md import runner

    atoms = argon()
    settings = RunSettings(steps=200, frame_every=10, frames_per_chunk=5, schedule=Schedule(50.0))
    run_md(lennard_jones(), atoms, Langevin(5.0), settings, tmp_path / "full")
    monkeypatch.setattr(runner, "CHUNK_TARGET_S", 1e-9)  # every chunk is too slow: one frame per chunk
    run_md(lennard_jones(), atoms, Langevin(5.0), settings, tmp_path / "cut")
    with h5py.File(tmp_path / "full" / "trajectory.h5md") as a, h5py.File(tmp_path / "cut" / "trajectory.h5md") as b:
        for name in ("particles/trajectory/position", "observables/potential_energy"):
            assert np.array_equal(a[name + "/value"][:], b[name + "/value"][:])
    chunk_steps = [int(steps) for steps, _ in json.loads(str(np.load(tmp_path / "cut" / "checkpoint.npz")["meta"]))[
        "chunk_seconds"]]
    # the first chunk (compiling) and the second (measured, too slow) have 5 frames, the rest one each
    assert chunk_steps == [50, 50] + [10] * 10


def _uncertain_lj():
    """LJ whose 'uncertainty' is the largest force component: known at every step."""
    lj = lennard_jones()

    def evaluate(params, system, lists):
        out = lj.evaluate(params, system, lists)
        return Evaluation.plain(out.energy, out.forces, out.stress, jnp.max(jnp.abs(out.forces)))

    return ForceField(evaluate, lj.lists, lj.skin_A, "LJ with force uncertainty")


def test_uncertainty_stop_fires_at_the_first_crossing(tmp_path):
    import h5py

    atoms = argon()
    base = dict(frame_every=1, frames_per_chunk=50, schedule=Schedule(80.0))
    run_md(_uncertain_lj(), atoms, Langevin(5.0), RunSettings(steps=300, **base), tmp_path / "free")
    with h5py.File(tmp_path / "free" / "trajectory.h5md") as f:
        uncertainty = f["observables/force_uncertainty/value"][:]
        positions = f["particles/trajectory/position/value"][:]
    threshold = float(np.quantile(uncertainty[1:], 0.8))
    first = int(np.argmax(uncertainty[1:] > threshold)) + 1  # frame k = step k
    base["frame_every"] = 10  # frames less often than checks: the stop frame is still written
    summary = run_md(_uncertain_lj(), atoms, Langevin(5.0),
                     RunSettings(steps=300, checks=Checks(max_uncertainty_eV_A=threshold), **base), tmp_path / "stop")
    assert summary.stop_reason == "uncertainty" and summary.stop_step == first
    assert summary.steps_done == first
    with h5py.File(tmp_path / "stop" / "trajectory.h5md") as f:
        steps = f["particles/trajectory/position/step"][:]
        assert steps[-1] == first and np.all(np.diff(steps) > 0)
        assert np.array_equal(f["particles/trajectory/position/value"][-1], positions[first])
    assert MDSummary.load(tmp_path / "stop" / "summary.json").stop_step == first
    # the speed counts the steps run: a stop in the middle of a chunk made it up to frames_per_chunk x too high
    chunk_steps = [steps for steps, _ in json.loads(str(np.load(tmp_path / "stop" / "checkpoint.npz")["meta"]))[
        "chunk_seconds"]]
    assert sum(chunk_steps) == first


def test_broken_molecule_and_blow_up_stop_the_run(tmp_path, box_2_pairs):
    from ilflow.md.checks import first_failure
    from ilflow.md.integrators import initial_state

    checks = Checks.with_topology(box_2_pairs, max_temperature_K=1000.0)
    assert len(checks.bonds) == 2 * 25 + 2 * 4  # BMIM+ has 25 bonds, BF4- 4
    system = make_system(box_2_pairs, (1, 5, 6, 7, 9))
    zero = Evaluation.plain(jnp.zeros(()), jnp.zeros((60, 3)), jnp.zeros((3, 3)), jnp.zeros(()))
    state, _ = initial_state(system, jnp.asarray(box_2_pairs.get_masses()), jax.random.PRNGKey(0), 300.0,
                             lambda s, a: (zero, a), None)
    control = Control(jnp.asarray(300.0), jnp.asarray(1.0))
    assert int(first_failure(checks, state, control)) == 0
    stretched = state._replace(system=system._replace(positions=system.positions.at[checks.bonds[0][0]].add(2.0)))
    assert int(first_failure(checks, stretched, control)) == 4
    hot = state._replace(momenta=state.momenta * 3.0)  # 2700 K
    assert int(first_failure(checks, hot, control)) == 3
    nan = state._replace(evaluation=zero._replace(energy=jnp.asarray(np.nan)))
    assert int(first_failure(checks, nan, control)) == 2


def test_trajectory_opens_with_h5py_and_mdanalysis(tmp_path):
    import h5py
    import MDAnalysis as mda

    atoms = argon()
    summary = run_md(lennard_jones(), atoms, NoseHoover(5.0), RunSettings(steps=100, frame_every=25,
                                                                         schedule=Schedule(40.0)), tmp_path)
    path = tmp_path / "trajectory.h5md"
    universe = mda.Universe(str(path), topology_format="MINIMAL", format="H5MD", n_atoms=len(atoms))
    assert len(universe.trajectory) == summary.frames == 5
    with h5py.File(path) as f:
        assert f["h5md"].attrs["version"].tolist() == [1, 1]
        assert f["particles/trajectory/species"][:].tolist() == atoms.numbers.tolist()
        for k, ts in enumerate(universe.trajectory):
            assert np.allclose(ts.positions, f["particles/trajectory/position/value"][k], atol=1e-4)  # float32
            assert ts.time == pytest.approx(k * 25 * 5.0 / 1000.0)  # ps
            assert np.allclose(ts.dimensions, [*atoms.cell.lengths(), 90, 90, 90], atol=1e-4)
        temperature = f["observables/temperature/value"][:]
    assert summary.mean_temperature_K == pytest.approx(temperature[1:].mean())
    assert summary.steps_done == 100 and summary.stop_reason is None and summary.ns_per_day > 0


@pytest.mark.parametrize("coupling", ["isotropic", "orthorhombic"])
def test_mtk_npt_holds_the_target_pressure_and_conserves_its_energy(tmp_path, coupling):
    import h5py

    from ilflow.md.npt import MTKNPT

    atoms = argon(size=3, seed=3)
    settings = RunSettings(steps=8000, frame_every=10, frames_per_chunk=200, schedule=Schedule(60.0, 500.0))
    integrator = MTKNPT(10.0, tau_fs=200.0, tau_barostat_fs=1000.0, coupling=coupling)
    summary = run_md(lennard_jones(), atoms, integrator, settings, tmp_path)
    with h5py.File(tmp_path / "trajectory.h5md") as f:
        pressure = f["observables/pressure/value"][100:]
        conserved = f["observables/conserved_energy/value"][:]
        cells = f["particles/trajectory/box/edges/value"][:]
        volume = np.abs(np.linalg.det(cells))
    edges = np.diagonal(cells, axis1=1, axis2=2)
    assert np.allclose(cells - np.einsum("fk,kl->fkl", edges, np.eye(3)), 0.0)  # stays orthorhombic
    spread = np.std(edges[:, 0] / edges[:, 1])
    assert spread > 1e-3 if coupling == "orthorhombic" else spread < 1e-12  # edges independent, or locked
    blocks = pressure[: len(pressure) // 10 * 10].reshape(10, -1).mean(axis=1)
    assert abs(pressure.mean() - 500.0) < 4.0 * blocks.std() / np.sqrt(10)  # the target on average
    assert volume.std() > 0.002 * volume.mean()  # the box does breathe
    assert (conserved.max() - conserved.min()) / len(atoms) < 1e-4  # eV/atom over 80 ps
    assert summary.stop_reason is None and summary.steps_done == 8000


def _fcc_energy_per_atom(a):
    from ilflow.md.force_field import allocate_lists, build_lists

    atoms = FaceCenteredCubic("Ar", size=(3, 3, 3), latticeconstant=a)
    force_field = lennard_jones()
    system = make_system(atoms, (18,))
    lists = build_lists(allocate_lists(force_field, system), system)
    return float(force_field.evaluate(force_field.params, system, lists.lists).energy) / len(atoms)


@pytest.mark.parametrize("relax_cell", [False, True])
def test_fire_relaxes_to_the_lattice_minimum(tmp_path, relax_cell):
    """Rattled FCC argon: positions-only FIRE returns to the perfect lattice energy; with the cell it reaches
    the lattice constant of the minimum of E(a), found here by a parabola through a fine scan."""
    from ilflow.md.fire import FIRE

    start = FaceCenteredCubic("Ar", size=(3, 3, 3), latticeconstant=5.6)
    start.rattle(0.1, seed=1)
    checks = Checks(converged_fmax_eV_A=1e-4, converged_pressure_bar=1.0 if relax_cell else None)
    settings = RunSettings(steps=3000, frame_every=10, frames_per_chunk=20, schedule=Schedule(0.0, 0.0), checks=checks)
    summary = run_md(lennard_jones(), start, FIRE(relax_cell=relax_cell), settings, tmp_path)
    assert summary.stop_reason == "converged"
    import h5py

    with h5py.File(tmp_path / "trajectory.h5md") as f:
        energy = f["observables/potential_energy/value"][-1] / len(start)
        a = f["particles/trajectory/box/edges/value"][-1][0, 0] / 3
    if not relax_cell:
        assert energy == pytest.approx(_fcc_energy_per_atom(5.6), abs=1e-7)
        return
    grid = np.linspace(5.20, 5.34, 15)
    scan = np.array([_fcc_energy_per_atom(x) for x in grid])
    k = int(np.argmin(scan))
    c2, c1, _ = np.polyfit(grid[k - 2:k + 3], scan[k - 2:k + 3], 2)
    assert a == pytest.approx(-c1 / (2 * c2), abs=2e-3)
    assert energy == pytest.approx(scan.min(), abs=1e-5)


def test_box_ramp_follows_eqn_9_and_keeps_molecules_rigid(tmp_path, box_2_pairs):
    """L(s) = L0 + min(p n / n_ramp, 1)(L1 - L0) + A sin(2 pi n p) at every frame (the study's box ramp with
    3 oscillations, done after half of one), computed here with NumPy; bond lengths unchanged by the scaling."""
    import h5py

    from ilflow.md.modifiers import EdgeRamp, scale_molecules_rigidly
    from ilflow.md.integrators import initial_state
    from ilflow.system.topology import find_molecules, unwrap_molecules

    atoms = argon()
    l0 = atoms.get_volume() ** (1 / 3)
    ramp = EdgeRamp(l0, l0 * 1.1, amplitude_A=0.3, oscillations=3, ramp_oscillations=0.5, steps=600)
    settings = RunSettings(steps=600, frame_every=20, frames_per_chunk=10, schedule=Schedule(40.0, edge_ramp=ramp))
    run_md(lennard_jones(), atoms, NoseHoover(5.0), settings, tmp_path)
    with h5py.File(tmp_path / "trajectory.h5md") as f:
        steps = f["particles/trajectory/box/edges/step"][:]
        edges = np.abs(np.linalg.det(f["particles/trajectory/box/edges/value"][:])) ** (1 / 3)
    p = steps / 600
    expected = l0 + np.minimum(p * 3 / 0.5, 1.0) * (0.1 * l0) + 0.3 * np.sin(2 * np.pi * 3 * p)
    assert np.allclose(edges, expected, rtol=0, atol=1e-10)

    ids = find_molecules(box_2_pairs)
    whole = box_2_pairs.copy()
    whole.positions = unwrap_molecules(box_2_pairs, ids)
    system = make_system(whole, (1, 5, 6, 7, 9))
    zero = Evaluation.plain(jnp.zeros(()), jnp.zeros((60, 3)), jnp.zeros((3, 3)), jnp.zeros(()))
    state, _ = initial_state(system, jnp.asarray(whole.get_masses()), jax.random.PRNGKey(0), 0.0,
                             lambda s, a: (zero, a), None)
    edge = whole.get_volume() ** (1 / 3) * 1.2
    scaled = scale_molecules_rigidly(state, edge, jnp.asarray(ids), int(ids.max()) + 1)
    before, after = np.asarray(system.positions), np.asarray(scaled.system.positions)
    for mol in np.unique(ids):
        members = np.flatnonzero(ids == mol)
        d0 = np.linalg.norm(before[members][:, None] - before[members][None], axis=-1)
        d1 = np.linalg.norm(after[members][:, None] - after[members][None], axis=-1)
        assert np.allclose(d0, d1, atol=1e-12)
        com0 = np.average(before[members], axis=0, weights=whole.get_masses()[members])
        com1 = np.average(after[members], axis=0, weights=whole.get_masses()[members])
        assert np.allclose(com1, com0 * 1.2, atol=1e-10)
    assert abs(np.linalg.det(np.asarray(scaled.system.cell)) ** (1 / 3) - edge) < 1e-10


def test_replicas_run_together_and_each_is_its_own_run(tmp_path):
    """Two replicas (seeds, temperatures) in one vmapped run: each equals the same run made alone, and each is
    thermalised at its own target."""
    import h5py

    from ilflow.md import run_replicas

    atoms = argon(seed=5)
    settings = RunSettings(steps=400, frame_every=20, frames_per_chunk=10, schedule=Schedule(40.0))
    summaries = run_replicas(lennard_jones(), atoms, Langevin(5.0, friction_per_ps=10.0), settings, tmp_path / "both",
                             temperatures_K=[30.0, 90.0], seeds=[1, 2])
    assert [s.replica for s in summaries] == [0, 1] and all(s.steps_done == 400 for s in summaries)
    alone = RunSettings(**{**settings.__dict__, "seed": 2, "schedule": Schedule(90.0)})
    run_md(lennard_jones(), atoms, Langevin(5.0, friction_per_ps=10.0), alone, tmp_path / "alone")
    with h5py.File(tmp_path / "both" / "replica-1" / "trajectory.h5md") as a, \
            h5py.File(tmp_path / "alone" / "trajectory.h5md") as b:
        assert np.allclose(a["particles/trajectory/position/value"][:], b["particles/trajectory/position/value"][:],
                           atol=1e-8)
    assert summaries[0].mean_temperature_K < 45.0 < 75.0 < summaries[1].mean_temperature_K


def test_replicas_from_their_own_start_structures_equal_their_runs_alone(tmp_path):
    """Replicas may start from structures of their own (same atoms, different boxes): each equals the run made
    alone from its structure, box included, and the lists are sized for both boxes."""
    import h5py

    from ilflow.md import run_replicas

    dense, wide = argon(seed=5), argon(seed=6)
    wide.set_cell(wide.cell * 1.04, scale_atoms=True)
    settings = RunSettings(steps=200, frame_every=20, frames_per_chunk=5, schedule=Schedule(40.0))
    run_replicas(lennard_jones(), [dense, wide], Langevin(5.0, friction_per_ps=10.0), settings, tmp_path / "both",
                 seeds=[1, 2])
    for k, (start, seed) in enumerate([(dense, 1), (wide, 2)]):
        alone = tmp_path / f"alone-{k}"
        run_md(lennard_jones(), start, Langevin(5.0, friction_per_ps=10.0),
               RunSettings(**{**settings.__dict__, "seed": seed}), alone)
        with h5py.File(tmp_path / "both" / f"replica-{k}" / "trajectory.h5md") as a, \
                h5py.File(alone / "trajectory.h5md") as b:
            position = "particles/trajectory/position/value"
            assert np.allclose(a[position][0], start.positions) and np.allclose(a[position][:], b[position][:],
                                                                                 atol=1e-8)
            edges = a["particles/trajectory/box/edges/value"][0]
            assert np.allclose(edges, start.cell.array)
    with pytest.raises(IlflowError, match="same atoms in the same order"):
        run_replicas(lennard_jones(), [dense, dense[:-1]], Langevin(5.0), settings, tmp_path / "bad")


def test_a_replica_directory_is_that_of_its_run_alone(tmp_path):
    """Each replica keeps its own checkpoint, the one its run alone would write: runs begun alone continue as
    replicas of one vmapped run, replicas continue alone, and every trajectory equals its run made at once; replicas
    at different steps are refused."""
    import h5py

    from ilflow.md import run_replicas

    atoms, dynamics = argon(seed=5), Langevin(5.0, friction_per_ps=10.0)
    members = [(1, 30.0), (2, 90.0)]
    half = RunSettings(steps=100, frame_every=20, frames_per_chunk=2)

    def alone(seed, temperature_K, steps):
        return replace(half, steps=steps, seed=seed, schedule=Schedule(temperature_K))

    def positions(path):
        with h5py.File(path / "trajectory.h5md") as f:
            return f["particles/trajectory/position/value"][:]

    for seed, T in members:
        run_md(lennard_jones(), atoms, dynamics, alone(seed, T, 200), tmp_path / f"at-once-{seed}")
        run_md(lennard_jones(), atoms, dynamics, alone(seed, T, 100), tmp_path / f"alone-first-{seed}")
    begun_alone = [tmp_path / f"alone-first-{seed}" for seed, _ in members]
    run_replicas(lennard_jones(), atoms, dynamics, replace(half, steps=200), begun_alone, seeds=[1, 2],
                 temperatures_K=[30.0, 90.0])
    begun_together = [tmp_path / f"together-first-{seed}" for seed, _ in members]
    run_replicas(lennard_jones(), atoms, dynamics, half, begun_together, seeds=[1, 2], temperatures_K=[30.0, 90.0])
    for seed, T in members:
        run_md(lennard_jones(), atoms, dynamics, alone(seed, T, 200), tmp_path / f"together-first-{seed}")
    for seed, _ in members:
        expected = positions(tmp_path / f"at-once-{seed}")
        assert len(expected) == 11
        for start in ("alone-first", "together-first"):
            assert np.allclose(positions(tmp_path / f"{start}-{seed}"), expected, atol=1e-8), (start, seed)
    run_md(lennard_jones(), atoms, dynamics, alone(1, 30.0, 300), begun_alone[0])
    with pytest.raises(IlflowError, match="different steps"):
        run_replicas(lennard_jones(), atoms, dynamics, replace(half, steps=400), begun_alone, seeds=[1, 2],
                     temperatures_K=[30.0, 90.0])
    legacy = tmp_path / "shared-checkpoint"  # an earlier version's replicas: refused, nothing overwritten
    legacy.mkdir()
    (legacy / "checkpoint.npz").write_bytes(b"")
    with pytest.raises(IlflowError, match="earlier version"):
        run_replicas(lennard_jones(), atoms, dynamics, half, legacy, seeds=[1, 2])
    assert sorted(p.name for p in legacy.iterdir()) == ["checkpoint.npz"]


def test_schedules_follow_eqn_9():
    """T(s) = T0 + p (T1 - T0) + A sin(2 pi n p) (the study's 230 -> 500 K, A = 150 K, 10 oscillations) and a
    linear pressure ramp, at every step, against NumPy."""
    from ilflow.md import PressureRamp, TemperatureRamp

    n = 5000
    schedule = Schedule(temperature_ramp=TemperatureRamp(230.0, 500.0, 150.0, 10, n),
                        pressure_ramp=PressureRamp(1.0, 1000.0, n))
    steps = np.arange(n + 1)
    controls = jax.vmap(schedule)(jnp.asarray(steps))
    p = steps / n
    assert np.allclose(controls.temperature_K, 230.0 + p * 270.0 + 150.0 * np.sin(2 * np.pi * 10 * p), atol=1e-9)
    assert np.allclose(controls.pressure_bar, 1.0 + p * 999.0, atol=1e-9)
    assert float(controls.temperature_K[n // 40]) == pytest.approx(230.0 + 270.0 / 40 + 150.0)  # first crest


def test_a_checkpoint_of_another_layout_is_refused_with_its_frames_kept(tmp_path):
    """A checkpoint whose MD state has another number of arrays (an earlier ilflow) stops the continuation with
    a message that says what to do; trajectory.h5md is untouched."""
    settings = RunSettings(steps=40, frame_every=20, schedule=Schedule(40.0))
    run_md(lennard_jones(), argon(), NVE(5.0), RunSettings(**{**settings.__dict__, "steps": 20}), tmp_path)
    data = dict(np.load(tmp_path / "checkpoint.npz"))
    last = f"leaf{sum(k.startswith('leaf') for k in data) - 1}"
    np.savez(tmp_path / "checkpoint.npz", **{k: v for k, v in data.items() if k != last})
    before = (tmp_path / "trajectory.h5md").read_bytes()
    with pytest.raises(IlflowError, match="another version of ilflow"):
        run_md(lennard_jones(), argon(), NVE(5.0), settings, tmp_path)
    assert (tmp_path / "trajectory.h5md").read_bytes() == before


def test_a_checkpoint_with_float64_list_shifts_continues_bit_for_bit(tmp_path):
    """Checkpoints written before the device lists' shifts became int16 hold them as float64: they load in this
    version's dtypes and the continuation equals the straight run."""
    settings = RunSettings(steps=60, frame_every=20, schedule=Schedule(40.0))
    run_md(lennard_jones(), argon(), NVE(5.0), settings, tmp_path / "straight")
    part = tmp_path / "part"
    run_md(lennard_jones(), argon(), NVE(5.0), RunSettings(**{**settings.__dict__, "steps": 20}), part)
    data = dict(np.load(part / "checkpoint.npz"))
    integer = [k for k, v in data.items() if v.dtype == np.int16]
    assert integer  # the lists' shifts
    np.savez(part / "checkpoint.npz", **{k: v.astype(np.float64) if k in integer else v for k, v in data.items()})
    run_md(lennard_jones(), argon(), NVE(5.0), settings, part)
    import h5py

    with h5py.File(tmp_path / "straight" / "trajectory.h5md") as a, h5py.File(part / "trajectory.h5md") as b:
        assert np.array_equal(a["particles/trajectory/position/value"][:], b["particles/trajectory/position/value"][:])


def test_the_pressure_tensor_series_is_the_kinetic_tensor_minus_the_stress_and_survives_a_restart(tmp_path):
    """Every 5th step: trace / 3 is the pressure observable at the frames; at the last frame it is (sum p p^T / m)
    / V from the written velocities minus the stress of that frame (ASE's get_stress through our calculator); a run
    stopped at step 80 and continued writes the same series as one straight run."""
    import h5py
    from ase import Atoms

    from ilflow.md.ase_calculator import ForceFieldCalculator
    from ilflow.md.h5md import pressure_tensor_series

    atoms = argon()
    settings = RunSettings(steps=200, frame_every=20, frames_per_chunk=2, schedule=Schedule(80.0), velocities=True,
                           stress_every=5)
    run_md(lennard_jones(), atoms, Langevin(5.0), settings, tmp_path / "straight")
    run_md(lennard_jones(), atoms, Langevin(5.0), replace(settings, steps=80), tmp_path / "restarted")
    run_md(lennard_jones(), atoms, Langevin(5.0), settings, tmp_path / "restarted")
    steps, time_fs, tensors = pressure_tensor_series(tmp_path / "straight" / "trajectory.h5md")
    assert np.array_equal(steps, np.arange(5, 201, 5)) and time_fs == pytest.approx(steps * 5.0)
    again = pressure_tensor_series(tmp_path / "restarted" / "trajectory.h5md")
    assert np.array_equal(again[0], steps) and np.array_equal(again[2], tensors)
    assert np.allclose(tensors, tensors.transpose(0, 2, 1), atol=1e-12)
    with h5py.File(tmp_path / "straight" / "trajectory.h5md") as f:
        pressure = f["observables/pressure/value"][1:]
        positions, velocities = f["particles/trajectory/position/value"][-1], f["particles/trajectory/velocity/value"][-1]
        cell = f["particles/trajectory/box/edges/value"][-1]
    at_frames = tensors[3::4]  # steps 20, 40, ...
    assert np.trace(at_frames, axis1=1, axis2=2) / 3 / units.BAR_EV_A3 == pytest.approx(pressure, rel=1e-9)
    frame = Atoms(atoms.numbers, positions=positions, cell=cell, pbc=True)
    frame.calc = ForceFieldCalculator(lennard_jones())
    masses = frame.get_masses()
    momenta = masses[:, None] * velocities / units.FS  # Å/fs -> ASE momenta
    kinetic = np.einsum("ia,ib,i->ab", momenta, momenta, 1 / masses) / frame.get_volume()
    stress = frame.get_stress(voigt=False)
    assert tensors[-1] == pytest.approx(kinetic - stress, rel=1e-8, abs=1e-12)
    with pytest.raises(IlflowError, match="must divide frame_every"):
        run_md(lennard_jones(), atoms, Langevin(5.0), replace(settings, stress_every=3), tmp_path / "bad")


def _scaled_lj(scale: float) -> ForceField:
    """LJ times `scale`, the factor a parameter: two models of the same kind, as two trained ensembles are."""
    lj = lennard_jones()

    def evaluate(params, system, lists):
        out = lj.evaluate(None, system, lists)
        return Evaluation.plain(params["scale"] * out.energy, params["scale"] * out.forces,
                                params["scale"] * out.stress, out.uncertainty)

    return replace(lj, evaluate=evaluate, params={"scale": jnp.asarray(scale)})


def test_a_run_directory_is_continued_only_with_the_model_that_wrote_it(tmp_path):
    """The settings id names the kind of model; the checkpoint also holds a hash of its parameters, so that a
    copied run directory is not continued (or reported finished) with another model of the same kind."""
    atoms = argon()
    settings = RunSettings(steps=40, frame_every=10, frames_per_chunk=2, schedule=Schedule(50.0))
    run_md(_scaled_lj(1.0), atoms, Langevin(5.0), settings, tmp_path / "run")
    with pytest.raises(IlflowError, match="another model of the same kind"):
        run_md(_scaled_lj(1.01), atoms, Langevin(5.0), replace(settings, steps=60), tmp_path / "run")
    assert run_md(_scaled_lj(1.0), atoms, Langevin(5.0), replace(settings, steps=60), tmp_path / "run").steps_done == 60
