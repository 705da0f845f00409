"""The MD runner: chunks of steps compiled once, lists and checks inside the loop, H5MD frames, checkpoints.

A chunk is `frames_per_chunk` frames of `frame_every` steps, one jitted lax.scan with no host round trip.
After a chunk the host checks the neighbour-list overflow flag (then reallocates and redoes the chunk),
appends the frames to `trajectory.h5md`, and writes `checkpoint.npz` atomically. Running again in the same
directory continues from the checkpoint, bit for bit as if never interrupted. The first failing check stops
the run at that step; its frame is the last one written. `summary.json` has the run's figures.
"""

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ilflow import units
from ilflow.errors import IlflowError
from ilflow.md.checks import STOP_REASONS, Checks, first_failure
from ilflow.md.force_field import ForceField, allocate_lists, build_lists, update_lists
from ilflow.md.h5md import H5MDWriter
from ilflow.md.modifiers import Schedule, scale_molecules_rigidly
from ilflow.md.state import kinetic_energy, pressure_bar, temperature_K
from ilflow.potentials.neighbors import NeighborSpec
from ilflow.potentials.system import make_system
from ilflow.project import atomic_path, atomic_write_text


@dataclass(frozen=True)
class RunSettings:
    steps: int
    frame_every: int = 100
    frames_per_chunk: int = 10
    seed: int = 0
    schedule: Schedule = field(default_factory=Schedule)
    checks: Checks = field(default_factory=Checks)
    velocities: bool = False  # also write velocities


def _frame(state, integrator, schedule):
    mask = state.system.mask
    control = schedule(state.step)
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


def _make_chunk(force_field: ForceField, specs: dict, integrator, settings: RunSettings, n_frames: int,
                molecules=None):
    edge_ramp = settings.schedule.edge_ramp

    def force(system, lists):
        lists = update_lists(specs, lists, system, force_field.skin_A)
        return force_field.evaluate(system, lists.lists), lists

    def one_step(carry, _):
        state, lists, code, at = carry

        def advance(_):
            now = state
            if edge_ramp is not None:  # the box of this step, then the integrator (forces follow in its step)
                now = scale_molecules_rigidly(state, edge_ramp(state.step + 1), *molecules)
            new, new_lists = integrator.step(now, settings.schedule(state.step), force, lists)
            failed = first_failure(settings.checks, new, settings.schedule(new.step))
            return (new, new_lists, jnp.asarray(failed, jnp.int32),
                    jnp.asarray(jnp.where(failed > 0, new.step, at), jnp.int32))

        return jax.lax.cond(code > 0, lambda _: carry, advance, None), None

    def one_frame(carry, _):
        carry, _ = jax.lax.scan(one_step, carry, None, length=settings.frame_every)
        return carry, _frame(carry[0], integrator, settings.schedule)

    @jax.jit
    def chunk(carry):
        state, lists, code, at = carry
        return jax.lax.scan(one_frame, (state, lists._replace(overflow=jnp.asarray(False)), code, at), None,
                            length=n_frames)

    return chunk, force


def _settings_id(force_field, integrator, settings: RunSettings) -> str:
    text = repr((force_field.name, force_field.skin_A, integrator, settings.frame_every, settings.frames_per_chunk,
                 settings.seed, settings.schedule, settings.checks, settings.velocities))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _save_checkpoint(path: Path, carry, meta: dict) -> None:
    leaves = jax.tree_util.tree_leaves(carry)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **{f"leaf{k}": np.asarray(x) for k, x in enumerate(leaves)})


def run_md(force_field: ForceField, atoms, integrator, settings: RunSettings, out_dir, progress: bool = False) -> dict:
    """Run (or continue) MD of `atoms` in `out_dir`; returns the summary (also in summary.json)."""
    out = Path(out_dir)
    if settings.steps < 1 or settings.frame_every < 1 or settings.steps % settings.frame_every:
        raise IlflowError(f"steps ({settings.steps}) must be a positive multiple of frame_every ({settings.frame_every})")
    if not atoms.pbc.all():
        raise IlflowError("the structure must be periodic in all three directions (a cell and pbc=True)")
    elements = force_field.elements or tuple(sorted({int(z) for z in atoms.numbers}))
    try:
        system = make_system(atoms, elements)
    except ValueError as exc:
        raise IlflowError(f"structure: {exc}; use a model trained on these elements") from None
    molecules = None
    if settings.schedule.edge_ramp is not None:
        if getattr(integrator, "tau_barostat_fs", None) is not None:
            raise IlflowError("a box-edge ramp sets the volume; use it with nve, nvt or langevin, not npt")
        from ilflow.system.topology import find_molecules, unwrap_molecules

        ids = find_molecules(atoms)
        atoms = atoms.copy()
        atoms.positions = unwrap_molecules(atoms, ids)  # whole molecules; MD never wraps them again
        system = system._replace(positions=jnp.asarray(atoms.positions))
        molecules = (jnp.asarray(ids), int(ids.max()) + 1)
    out.mkdir(parents=True, exist_ok=True)
    masses = jnp.asarray(atoms.get_masses())
    settings_id = _settings_id(force_field, integrator, settings)
    checkpoint = out / "checkpoint.npz"
    margin = 1.3
    start_K = float(settings.schedule(0).temperature_K)

    def initial(specs):
        lists = build_lists(specs, system)
        force = _make_chunk(force_field, specs, integrator, settings, 1)[1]
        state, lists = integrator.init(system, masses, jax.random.PRNGKey(settings.seed),
                                       start_K, force, lists)
        carry = (state, lists, jnp.asarray(0, jnp.int32), jnp.asarray(-1, jnp.int32))
        # strong dtypes everywhere, as the chunk returns them: otherwise the second chunk compiles again
        return jax.tree_util.tree_map(lambda x: jnp.array(x, dtype=jnp.asarray(x).dtype), carry)

    if checkpoint.exists():
        data = np.load(checkpoint)
        meta = json.loads(str(data["meta"]))
        if meta["settings_id"] != settings_id or meta["n_atoms"] != len(atoms):
            raise IlflowError(f"{out} holds a run with other settings or another structure; continue it with the "
                              "same settings, or choose a new output directory")
        specs = {k: NeighborSpec(v[0], tuple(v[1]), tuple(v[2]), *v[3:]) for k, v in meta["specs"].items()}
        margin = meta["margin"]
        template = jax.eval_shape(lambda: initial(specs))
        treedef = jax.tree_util.tree_structure(template)
        carry = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(data[f"leaf{k}"]) for k in range(treedef.num_leaves)])
        timings = meta["chunk_seconds"]
    else:
        specs = allocate_lists(force_field, system, margin)
        carry = initial(specs)
        meta = {"frames": 0}
        timings = []

    writer = H5MDWriter(out / "trajectory.h5md", atoms.numbers, atoms.get_masses(), settings.velocities)
    writer.truncate(meta["frames"])  # frames written after the last checkpoint are written again
    if writer.n_frames == 0:
        first = jax.tree_util.tree_map(lambda x: np.asarray(x)[None], _frame(carry[0], integrator, settings.schedule))
        writer.append(first)
    chunks = {}
    bar = _progress(progress, settings.steps, int(carry[0].step))
    try:
        while int(carry[0].step) < settings.steps and int(carry[2]) == 0:
            n_frames = min(settings.frames_per_chunk, (settings.steps - int(carry[0].step)) // settings.frame_every)
            key = (tuple(specs.items()), n_frames)
            if key not in chunks:
                chunks[key] = _make_chunk(force_field, specs, integrator, settings, n_frames, molecules)[0]
            t0 = time.perf_counter()
            new_carry, frames = chunks[key](carry)
            jax.block_until_ready(new_carry)
            if bool(new_carry[1].overflow):  # a list was too small somewhere in the chunk: bigger lists, redo it
                margin *= 1.25
                specs = allocate_lists(force_field, carry[0].system, margin)
                carry = (carry[0], build_lists(specs, carry[0].system, carry[1].builds), carry[2], carry[3])
                continue
            timings.append([n_frames * settings.frame_every, time.perf_counter() - t0])
            frames = jax.tree_util.tree_map(np.asarray, frames)
            steps = frames["step"]
            keep = np.concatenate([[True], steps[1:] > steps[:-1]])  # after a stop the state is frozen
            writer.append({k: v[keep] for k, v in frames.items()})
            carry = new_carry
            meta = {"settings_id": settings_id, "n_atoms": len(atoms), "frames": writer.n_frames, "margin": margin,
                    "specs": {k: list(v) for k, v in specs.items()}, "chunk_seconds": timings}
            _save_checkpoint(checkpoint, carry, meta)
            if bar:
                bar[0].update(bar[1], completed=int(carry[0].step), ns_day=_ns_per_day(timings, integrator))
    finally:
        writer.close()
        if bar:
            bar[0].stop()
    summary = _summary(out / "trajectory.h5md", carry, timings, integrator, len(atoms), settings)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _ns_per_day(timings, integrator) -> float:
    steady = timings[1:] if len(timings) > 1 else timings  # the first chunk includes compilation
    steps, seconds = sum(t[0] for t in steady), sum(t[1] for t in steady)
    return steps * integrator.timestep_fs * 1e-6 / seconds * 86400.0 if seconds else 0.0


def _summary(path, carry, timings, integrator, n_atoms, settings) -> dict:
    import h5py

    with h5py.File(path, "r") as f:
        obs = {k: f[f"observables/{k}/value"][:] for k in f["observables"]}
        time_ps = f["observables/conserved_energy/time"][:] * 1e-3
    drift = float(np.polyfit(time_ps, obs["conserved_energy"] / n_atoms, 1)[0]) if len(time_ps) > 2 else 0.0
    steady = timings[1:] if len(timings) > 1 else timings
    steps, seconds = sum(t[0] for t in steady), sum(t[1] for t in steady)
    code = int(carry[2])
    return {"steps_done": int(carry[0].step), "steps_requested": settings.steps, "stop_reason": STOP_REASONS[code],
            "stop_step": int(carry[3]) if code else None, "frames": int(len(time_ps)), "atoms": n_atoms,
            "mean_temperature_K": float(np.mean(obs["temperature"][1:])) if len(time_ps) > 1 else None,
            "mean_pressure_bar": float(np.mean(obs["pressure"][1:])) if len(time_ps) > 1 else None,
            "mean_density_g_cm3": float(np.mean(obs["density"])),
            "max_force_uncertainty_eV_A": float(np.max(obs["force_uncertainty"])),
            "conserved_drift_eV_per_atom_per_ps": drift,
            "ns_per_day": _ns_per_day(timings, integrator),
            "atom_steps_per_s": steps * n_atoms / seconds if seconds else 0.0,
            "neighbor_list_builds": int(carry[1].builds)}


def _progress(enabled: bool, total: int, done: int):
    if not enabled:
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("MD"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                   TextColumn("{task.fields[ns_day]:.3f} ns/day"), TimeRemainingColumn())
    bar.start()
    return bar, bar.add_task("md", total=total, completed=done, ns_day=0.0)
