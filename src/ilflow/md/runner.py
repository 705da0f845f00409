"""The MD runner: chunks of steps compiled once, lists and checks inside the loop, H5MD frames, checkpoints.

A chunk is `frames_per_chunk` frames of `frame_every` steps, one jitted lax.scan with no host round trip, or
fewer frames where that would take longer than CHUNK_TARGET_S (sparse frames of a slow model): progress lines
and checkpoints come after chunks.
After a chunk the host checks the neighbour-list overflow flag (then reallocates and redoes the chunk),
appends the frames to `trajectory.h5md`, and writes `checkpoint.npz` atomically. Running again in the same
directory continues from the checkpoint, bit for bit as if never interrupted. The first failing check stops
the run at that step; its frame is the last one written. `summary.json` has the run's figures.
"""

import hashlib
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ilflow import progress, units
from ilflow.errors import IlflowError
from ilflow.md.checks import STOP_REASONS, Checks, first_failure
from ilflow.md.force_field import ForceField, allocate_lists, make_force, restart_forces, start_forces
from ilflow.md.h5md import H5MDWriter
from ilflow.md.modifiers import Schedule, scale_molecules_rigidly
from ilflow.md.state import Control
from ilflow.md.summary import MDSummary
from ilflow.md.state import kinetic_energy, pressure_bar, pressure_tensor_eV_A3, temperature_K
from ilflow.potentials.neighbors import NeighborSpec
from ilflow.potentials.system import make_system
from ilflow.project import atomic_path
from ilflow.runtime import ensure_configured

CHECKPOINT = "checkpoint.npz"


CHUNK_TARGET_S = 10.0  # a chunk's wall time at most (above one frame): progress lines every 30 s need it


@dataclass(frozen=True)
class RunSettings:
    steps: int
    frame_every: int = 100
    frames_per_chunk: int = 10  # at most; fewer where they would take longer than CHUNK_TARGET_S
    seed: int = 0
    schedule: Schedule = field(default_factory=Schedule)
    checks: Checks = field(default_factory=Checks)
    velocities: bool = False  # also write velocities
    # also write the pressure tensor every this many steps (a divisor of frame_every), for the viscosity: its
    # autocorrelation decays within a picosecond or two, much faster than frames are usually written
    stress_every: int | None = None


def _frame(state, integrator, control):
    mask = state.system.mask
    volume = jnp.abs(jnp.linalg.det(state.system.cell))
    mass = jnp.sum(jnp.where(mask, state.masses, 0.0))
    return {"step": state.step, "time_fs": state.step * integrator.timestep_fs, "cell": state.system.cell,
            "positions": state.system.positions, "velocities": state.momenta / state.masses[:, None] * units.FS,
            "potential_energy": state.evaluation.energy,
            "kinetic_energy": kinetic_energy(state.momenta, state.masses, mask),
            "conserved_energy": integrator.conserved(state, control),
            "temperature": temperature_K(state.momenta, state.masses, mask), "pressure": pressure_bar(state),
            "force_uncertainty": state.evaluation.uncertainty,
            "density": mass * units.AMU_IN_G / (volume * units.ANGSTROM3_IN_CM3)}


def _control_at(schedule: Schedule, step, target):
    """The schedule's control; per-replica constant targets (temperature, pressure) replace constants, not ramps."""
    control = schedule(step)
    if target is None:
        return control
    return Control(control.temperature_K if schedule.temperature_ramp else target[0],
                   control.pressure_bar if schedule.pressure_ramp else target[1])


def _make_chunk(force_field: ForceField, specs: dict, integrator, settings: RunSettings, n_frames: int,
                molecules=None, replicas: bool = False):
    """chunk(params, carry, target) -> (carry, frames); with `replicas`, carry and target have a leading
    replica axis.

    The force field's parameters are an argument, not constants of the program: the compiled chunk is then the
    same for every model of one architecture and size, and the persistent compilation cache serves the next
    learning iteration, final model or production run (9-20 s of compilation each on 2 cores)."""
    edge_ramp = settings.schedule.edge_ramp
    axis = "replica" if replicas else None

    def one_chunk(params, carry, target):
        force = make_force(force_field, specs, params, axis)

        def one_step(carry, _):
            def advance(carry):
                state, lists, code, at = carry
                now = state
                if edge_ramp is not None:  # the box of this step, then the integrator (forces follow in its step)
                    now = scale_molecules_rigidly(state, edge_ramp(state.step + 1), *molecules)
                new, new_lists = integrator.step(now, _control_at(settings.schedule, state.step, target), force, lists)
                failed = first_failure(settings.checks, new, _control_at(settings.schedule, new.step, target))
                return (new, new_lists, jnp.asarray(failed, jnp.int32),
                        jnp.asarray(jnp.where(failed > 0, new.step, at), jnp.int32))

            code = carry[2]
            if replicas:  # a stopped replica keeps its state (the step is computed and dropped)
                new = advance(carry)
                carry = jax.tree_util.tree_map(lambda old, nw: jnp.where(code > 0, old, nw), carry, new)
            else:
                # a loop run once or not at all rather than a `cond`: XLA updates a loop's state in place, while a
                # conditional that passes the state through copies it at every step, neighbour lists included (D3's
                # 23 Å lists of 240 atoms: 9 MB per step)
                carry = jax.lax.while_loop(lambda c: c[0], lambda c: (jnp.zeros_like(c[0]), advance(c[1])),
                                           (code == 0, carry))[1]
            return carry, None

        def one_sample(carry, _):  # stress_every steps, then the pressure tensor
            carry, _ = jax.lax.scan(one_step, carry, None, length=settings.stress_every)
            return carry, (carry[0].step, pressure_tensor_eV_A3(carry[0]))

        def one_frame(carry, _):
            if settings.stress_every:
                carry, (steps, tensors) = jax.lax.scan(one_sample, carry, None,
                                                       length=settings.frame_every // settings.stress_every)
            else:
                carry, _ = jax.lax.scan(one_step, carry, None, length=settings.frame_every)
            state = carry[0]
            frame = _frame(state, integrator, _control_at(settings.schedule, state.step, target))
            if settings.stress_every:
                frame.update(pressure_tensor_step=steps, pressure_tensor_time_fs=steps * integrator.timestep_fs,
                             pressure_tensor=tensors)
            return carry, frame

        state, lists, code, at = carry
        return jax.lax.scan(one_frame, (state, lists.cleared(), code, at), None, length=n_frames)

    chunk = jax.vmap(one_chunk, in_axes=(None, 0, 0), axis_name="replica") if replicas else one_chunk
    return jax.jit(chunk)


def _settings_id(force_field, integrator, settings: RunSettings) -> str:
    skins = (force_field.skin_A,) + ((force_field.slow_skin_A,) if force_field.slow_skin_A != force_field.skin_A else ())
    text = repr((force_field.name, *skins, integrator, settings.frame_every, settings.frames_per_chunk,
                 settings.seed, settings.schedule, settings.checks, settings.velocities)
                + ((settings.stress_every,) if settings.stress_every else ()))  # runs without it keep their ids
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _save_checkpoint(path: Path, carry, meta: dict) -> None:
    leaves = jax.tree_util.tree_leaves(carry)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **{f"leaf{k}": np.asarray(x) for k, x in enumerate(leaves)})


def _params_sha(force_field) -> str:
    """A hash of the force field's parameters: the settings id names the kind of model, not the model."""
    digest = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(force_field.params):
        digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    return digest.hexdigest()[:16]


def _load_checkpoint(path: Path, settings_id: str, params_sha: str, n_atoms: int, initial_for):
    """(meta, list specs, carry) of a checkpoint written by a run with `settings_id` and a model with parameters
    `params_sha` (checkpoints that predate the hash are taken as the same model); `initial_for(specs)` gives the
    carry's structure."""
    data = np.load(path)
    meta = json.loads(str(data["meta"]))
    if meta["settings_id"] != settings_id or meta["n_atoms"] != n_atoms:
        raise IlflowError(f"{path.parent} holds a run with other settings or another structure; continue it with the "
                          "same settings, or choose a new output directory")
    if meta.get("params_sha", params_sha) != params_sha:
        raise IlflowError(f"{path.parent} holds a run of another model of the same kind (other parameters); continue "
                          "it with that model, or choose a new output directory")
    specs = {k: NeighborSpec(v[0], tuple(v[1]), tuple(v[2]), *v[3:]) for k, v in meta["specs"].items()}
    expected = jax.eval_shape(lambda: initial_for(specs))
    treedef = jax.tree_util.tree_structure(expected)
    if len(data.files) - 1 != treedef.num_leaves:
        raise IlflowError(f"{path} was written by another version of ilflow (its MD state has {len(data.files) - 1} "
                          f"arrays, this version's {treedef.num_leaves}); the frames in trajectory.h5md are kept: "
                          "start a new run from its last frame, or move the checkpoint aside to redo this run from "
                          "the start")
    # in the dtypes of this version (checkpoints from before the lists' shifts became int16 hold float64 ones)
    carry = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(data[f"leaf{k}"], dtype=leaf.dtype)
                                                   for k, leaf in enumerate(jax.tree_util.tree_leaves(expected))])
    return meta, specs, carry


def checkpoint_step(out_dir) -> int | None:
    """The step at which the checkpoint in the run directory `out_dir` stands (None: no checkpoint, or one
    from a version that did not record it)."""
    path = Path(out_dir) / CHECKPOINT
    if not path.exists():
        return None
    with np.load(path) as data:
        return json.loads(str(data["meta"])).get("step")


def run_md(force_field: ForceField, atoms, integrator, settings: RunSettings, out_dir) -> MDSummary:
    """Run (or continue) MD of `atoms` in `out_dir`; returns its MDSummary (also in summary.json). The progress
    (steps, ns/day) is reported through ilflow.progress."""
    ensure_configured()  # integrator state in float64; a continued run reuses the compiled chunks
    return _run(force_field, atoms, integrator, settings, Path(out_dir), None)[0]


def run_replicas(force_field: ForceField, atoms, integrator, settings: RunSettings, out_dir,
                 temperatures_K=None, seeds=None, pressures_bar=None) -> list[MDSummary]:
    """Independent replicas in one vmapped run: one per seed and/or state point (constant temperature and
    pressure targets; ramps of the schedule apply to all). `atoms`: one start structure for all, or a list with one
    per replica (the same atoms in the same order; boxes may differ). `out_dir`: one directory (replica k writes to
    `out_dir/replica-k/`) or a list with one directory per replica.

    Each replica's directory is that of the same run made alone with `run_md` (its seed and targets in
    `settings`): trajectory, summary and checkpoint. Replicas continue together from checkpoints of one step, and
    any of them can be continued alone."""
    ensure_configured()  # integrator state in float64; a continued run reuses the compiled chunks
    starts = list(atoms) if isinstance(atoms, (list, tuple)) else None
    dirs = [Path(d) for d in out_dir] if isinstance(out_dir, (list, tuple)) else None
    sizes = {len(x) for x in (temperatures_K, seeds, pressures_bar, starts, dirs) if x is not None}
    if len(sizes) != 1:
        raise IlflowError("give start structures, output directories, temperatures_K, seeds and/or pressures_bar "
                          "with one value per replica (same lengths)")
    if starts and any(not np.array_equal(a.numbers, starts[0].numbers) for a in starts):
        raise IlflowError("the replicas' start structures must hold the same atoms in the same order")
    n = sizes.pop()
    replicas = [(settings.seed + k if seeds is None else int(seeds[k]),
                 settings.schedule.temperature_K if temperatures_K is None else float(temperatures_K[k]),
                 settings.schedule.pressure_bar if pressures_bar is None else float(pressures_bar[k])) for k in range(n)]
    if dirs is None and (Path(out_dir) / CHECKPOINT).exists():  # written by ilflow before replicas had their own
        raise IlflowError(f"{out_dir} holds the shared checkpoint of an earlier version's replicas; this version keeps "
                          "one per replica: continue that run with the earlier version, or move it aside (its "
                          "trajectories are kept) and start anew")
    dirs = dirs or [Path(out_dir) / f"replica-{k}" for k in range(n)]
    return _run(force_field, starts[0] if starts else atoms, integrator, settings, dirs, replicas, starts)


def _alone(settings: RunSettings, seed: int, temperature_K: float, pressure_bar: float) -> RunSettings:
    """The settings of one replica as a run of its own."""
    return replace(settings, seed=seed, schedule=replace(settings.schedule, temperature_K=temperature_K,
                                                         pressure_bar=pressure_bar))


def _run(force_field, atoms, integrator, settings: RunSettings, out, replicas, starts=None) -> list[MDSummary]:
    """MD in `out` (one directory), or replicas (seed, temperature, pressure) in the directories `out`."""
    if settings.steps < 1 or settings.frame_every < 1 or settings.steps % settings.frame_every:
        raise IlflowError(f"steps ({settings.steps}) must be a positive multiple of frame_every ({settings.frame_every})")
    if settings.stress_every and (settings.stress_every < 1 or settings.frame_every % settings.stress_every):
        raise IlflowError(f"the pressure tensor's interval ({settings.stress_every} steps) must divide frame_every "
                          f"({settings.frame_every})")
    if settings.stress_every and settings.stress_every % force_field.slow_every:
        raise IlflowError(f"the pressure tensor's interval ({settings.stress_every} steps) must be a multiple of the "
                          f"slow term's interval ({force_field.slow_every} steps): samples are taken where every term "
                          "is current")
    if settings.frame_every % force_field.slow_every:
        raise IlflowError(f"frame_every ({settings.frame_every}) must be a multiple of the slow term's interval "
                          f"({force_field.slow_every} steps): frames are written where every term is current")
    if not atoms.pbc.all():
        raise IlflowError("the structure must be periodic in all three directions (a cell and pbc=True)")
    elements = force_field.elements or tuple(sorted({int(z) for z in atoms.numbers}))
    try:
        system = make_system(atoms, elements)
        systems = [make_system(a, elements) for a in starts] if starts else None  # replicas' own start structures
    except ValueError as exc:
        raise IlflowError(f"structure: {exc}; use a model trained on these elements") from None
    molecules = None
    if settings.schedule.edge_ramp is not None:
        if getattr(integrator, "tau_barostat_fs", None) is not None:
            raise IlflowError("a box-edge ramp sets the volume; use it with nve, nvt or langevin, not npt")
        if systems:
            raise IlflowError("a box-edge ramp starts from one structure; give replicas one start structure")
        from ilflow.system.topology import find_molecules, unwrap_molecules

        ids = find_molecules(atoms)
        atoms = atoms.copy()
        atoms.positions = unwrap_molecules(atoms, ids)  # whole molecules; MD never wraps them again
        system = system._replace(positions=jnp.asarray(atoms.positions))
        molecules = (jnp.asarray(ids), int(ids.max()) + 1)
    batched = replicas is not None
    runs = out if batched else [out]
    members = replicas if batched else [(settings.seed, settings.schedule.temperature_K, settings.schedule.pressure_bar)]
    targets = jnp.asarray([[t, p] for _, t, p in replicas]) if batched else None
    for path in runs:
        path.mkdir(parents=True, exist_ok=True)
    masses = jnp.asarray(atoms.get_masses())
    settings_ids = [_settings_id(force_field, integrator, _alone(settings, *member)) for member in members]
    params_sha = _params_sha(force_field)
    checkpoints = [path / CHECKPOINT for path in runs]
    margin = 1.2 * _compression(settings.schedule, settings.steps, atoms)  # lists sized for the densest box ahead
    start_K = float(settings.schedule(0).temperature_K)

    def initial(specs, seed, temperature, start):
        # jitted: run op by op, the first force evaluation compiles some 500 small programs (23 s on 2 cores)
        @jax.jit
        def one(params, seed, temperature, start):
            state, lists = integrator.init(start, masses, jax.random.PRNGKey(seed), temperature,
                                           make_force(force_field, specs, params),
                                           start_forces(force_field, specs, start))
            return (state, lists, jnp.asarray(0, jnp.int32), jnp.asarray(-1, jnp.int32))

        # strong dtypes everywhere, as the chunk returns them: otherwise the second chunk compiles again
        return jax.tree_util.tree_map(lambda x: jnp.array(x, dtype=jnp.asarray(x).dtype),
                                      one(force_field.params, seed, temperature, start))

    def stacked(carries):
        return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *carries) if batched else carries[0]

    found = [path.exists() for path in checkpoints]
    if any(found):
        if not all(found):
            raise IlflowError(f"{', '.join(str(c.parent) for c, f in zip(checkpoints, found) if not f)} has no "
                              "checkpoint, the other replicas have: replicas continue together only from checkpoints "
                              "of one step; continue each with run_md, or start them all anew")
        loaded = [_load_checkpoint(path, ident, params_sha, len(atoms),
                                   lambda specs: initial(specs, 0, start_K, system))
                  for path, ident in zip(checkpoints, settings_ids)]
        if len({int(carry[0].step) for _, _, carry in loaded if int(carry[2]) == 0}) > 1:  # stopped ones stay
            raise IlflowError(f"the checkpoints in {', '.join(str(p) for p in runs)} are at different steps: "
                              "continue each with run_md, or group the replicas by step")
        metas = [meta for meta, _, _ in loaded]
        margin, timings = max(meta["margin"] for meta in metas), metas[0]["chunk_seconds"]
        specs, carries = loaded[0][1], [carry for _, _, carry in loaded]
        if any(s != specs for _, s, _ in loaded):  # checkpoints of separate runs: lists valid for every box
            specs = allocate_lists(force_field, [c[0].system for c in carries], margin)
            carries = [(c[0], restart_forces(force_field, specs, c[0].system, c[1]), c[2], c[3]) for c in carries]
        carry = stacked(carries)
        frames_done = [meta["frames"][0] for meta in metas]
    else:
        specs = allocate_lists(force_field, systems or system, margin)
        carry = stacked([initial(specs, seed, t if batched else start_K, systems[k] if systems else system)
                         for k, (seed, t, _) in enumerate(members)])
        frames_done = [0] * len(runs)
        timings = []

    def replica(tree, k):
        return jax.tree_util.tree_map(lambda x: x[k], tree) if batched else tree

    writers = [H5MDWriter(path / "trajectory.h5md", atoms.numbers, atoms.get_masses(), settings.velocities,
                          bool(settings.stress_every)) for path in runs]
    chunks, warm = {}, set()  # compiled chunk functions; those called once already (compiled, timings valid)
    most_frames = settings.frames_per_chunk
    step_now = lambda c: int(np.max(np.asarray(c[0].step)))  # noqa: E731  (replicas step together)
    running = lambda c: bool(np.any(np.asarray(c[2]) == 0))  # noqa: E731
    name = f"MD, {len(runs)} replicas" if batched else "MD"
    with progress.task(name, total=settings.steps, unit="steps", done=step_now(carry)) as task, \
            _closing(writers):
        for k, writer in enumerate(writers):
            writer.truncate(frames_done[k])  # frames written after the last checkpoint are written again
            if writer.n_frames == 0:
                target = None if not batched else targets[k]
                state = replica(carry, k)[0]
                first = _frame(state, integrator, _control_at(settings.schedule, state.step, target))
                writer.append(jax.tree_util.tree_map(lambda x: np.asarray(x)[None], first))
        while step_now(carry) < settings.steps and running(carry):
            n_frames = min(most_frames, (settings.steps - step_now(carry)) // settings.frame_every)
            key = (tuple(specs.items()), n_frames)
            if key not in chunks:
                chunks[key] = _make_chunk(force_field, specs, integrator, settings, n_frames, molecules, batched)
            t0 = time.perf_counter()
            new_carry, frames = chunks[key](force_field.params, carry, targets)
            jax.block_until_ready(new_carry)
            if bool(np.any(np.asarray(new_carry[1].overflow))):  # a list was too small: bigger lists, redo the chunk
                margin *= 1.25
                specs = allocate_lists(force_field, [replica(carry, k)[0].system for k in range(len(runs))]
                                       if batched else carry[0].system, margin)  # valid for every replica
                restart = lambda s, old: restart_forces(force_field, specs, s, old)  # noqa: E731
                rebuilt = jax.vmap(restart)(carry[0].system, carry[1]) if batched else restart(carry[0].system, carry[1])
                carry = (carry[0], rebuilt, carry[2], carry[3])
                continue
            elapsed_s = time.perf_counter() - t0
            # the steps run, not those asked for: after a stop the rest of the chunk costs almost nothing
            timings.append([step_now(new_carry) - step_now(carry), elapsed_s])
            if key in warm and elapsed_s > CHUNK_TARGET_S:  # the first call's time is mostly compiling
                most_frames = max(1, min(most_frames, int(n_frames * CHUNK_TARGET_S / elapsed_s)))
            warm.add(key)
            frames = jax.tree_util.tree_map(np.asarray, frames)
            for k, writer in enumerate(writers):
                mine = replica(frames, k)
                steps = mine["step"]
                keep = np.concatenate([[True], steps[1:] > steps[:-1]])  # after a stop the state is frozen
                if int(replica(carry, k)[2]) == 0:  # nothing new from a replica that had stopped before
                    writer.append({name: v[keep] for name, v in mine.items()})
            carry = new_carry
            for k, writer in enumerate(writers):  # each replica's checkpoint is that of its run alone
                meta = {"settings_id": settings_ids[k], "params_sha": params_sha, "n_atoms": len(atoms),
                        "frames": [writer.n_frames],
                        "step": int(replica(carry, k)[0].step),
                        "margin": margin, "specs": {name: list(v) for name, v in specs.items()},
                        "chunk_seconds": timings}
                _save_checkpoint(checkpoints[k], replica(carry, k), meta)
            task.update(step_now(carry), ns_per_day=_ns_per_day(timings, integrator))
    summaries = []
    for k, path in enumerate(runs):
        summary = _summary(path / "trajectory.h5md", replica(carry, k), timings, integrator, len(atoms), settings)
        if batched:
            summary = replace(summary, replica=k, seed=replicas[k][0], target_temperature_K=replicas[k][1],
                           target_pressure_bar=replicas[k][2], replicas=len(runs))
        summary.save(path / "summary.json")
        summaries.append(summary)
    return summaries


@contextmanager
def _closing(writers):
    """Close all the writers when the block ends, however it ends."""
    try:
        yield
    finally:
        for writer in writers:
            writer.close()


def _compression(schedule: Schedule, steps: int, atoms) -> float:
    """How much denser than now the box gets along a box-edge ramp (1 without one): the neighbour lists are
    allocated for that at the start, instead of overflowing, growing and recompiling again and again."""
    if schedule.edge_ramp is None:
        return 1.0
    edges = np.asarray(jax.vmap(schedule.edge_ramp)(jnp.arange(0, steps + 1, max(1, steps // 200))))
    return float(max(1.0, (atoms.get_volume() ** (1 / 3) / edges.min()) ** 3))


def _ns_per_day(timings, integrator) -> float:
    steady = timings[1:] if len(timings) > 1 else timings  # the first chunk includes compilation
    steps, seconds = sum(t[0] for t in steady), sum(t[1] for t in steady)
    return steps * integrator.timestep_fs * 1e-6 / seconds * 86400.0 if seconds else 0.0


def _summary(path, carry, timings, integrator, n_atoms, settings) -> MDSummary:
    import h5py

    with h5py.File(path, "r") as f:
        obs = {k: f[f"observables/{k}/value"][:] for k in f["observables"]}
        time_ps = f["observables/conserved_energy/time"][:] * 1e-3
    drift = float(np.polyfit(time_ps, obs["conserved_energy"] / n_atoms, 1)[0]) if len(time_ps) > 2 else 0.0
    steady = timings[1:] if len(timings) > 1 else timings
    steps, seconds = sum(t[0] for t in steady), sum(t[1] for t in steady)
    code = int(carry[2])
    return MDSummary(
        steps_done=int(carry[0].step), steps_requested=settings.steps, stop_reason=STOP_REASONS[code],
        stop_step=int(carry[3]) if code else None, frames=int(len(time_ps)), atoms=n_atoms,
        mean_temperature_K=float(np.mean(obs["temperature"][1:])) if len(time_ps) > 1 else None,
        mean_pressure_bar=float(np.mean(obs["pressure"][1:])) if len(time_ps) > 1 else None,
        mean_density_g_cm3=float(np.mean(obs["density"])),
        max_force_uncertainty_eV_A=float(np.max(obs["force_uncertainty"])), conserved_drift_eV_per_atom_per_ps=drift,
        ns_per_day=_ns_per_day(timings, integrator), atom_steps_per_s=steps * n_atoms / seconds if seconds else 0.0,
        neighbor_list_builds=int(carry[1].builds))
