"""Samplers of one learning iteration: each returns candidate frames and a record of what it did.

All run with the current ensemble. `md` stops at the first step whose force uncertainty exceeds its
threshold (paper eqn 8) and keeps that frame; `relax` (FIRE) starts from the last MD frame; `conformers`
packs fresh boxes; `volume_scan` scales a relaxed box with rigid molecules.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from ilflow.config.modifiers import Modifiers
from ilflow.io import read_frames, write_frames


@dataclass
class SamplerContext:
    """What samplers share within one iteration (and across, through files in `state_dir`)."""

    model_dir: Path
    work_dir: Path  # this iteration's sampling directory
    state_dir: Path  # learning directory: last_md.extxyz, last_relaxed.extxyz
    start: Atoms  # the last frame of the initial data (else the built box): start "initial" and the fallback
    species: list
    box: object  # config.Box
    iteration: int
    records: list = field(default_factory=list)


MIN_DISTANCE_A = 0.7  # candidates with two atoms closer than this are unphysical (a model gone astray)


def physical(frames: list[Atoms]) -> list[Atoms]:
    """The frames whose atoms are all at least MIN_DISTANCE_A apart."""
    from ase.neighborlist import neighbor_list

    return [a for a in frames if len(neighbor_list("i", a, MIN_DISTANCE_A, self_interaction=False)) == 0]


def _start(sampler, ctx: SamplerContext) -> Atoms:
    from ilflow.system import build_box
    from ilflow.system.topology import rescale_to_density

    if sampler.start == "fresh_box":
        atoms = build_box(ctx.species, ctx.box.model_copy(update={"seed": ctx.box.seed + 1000 * ctx.iteration}))
    elif sampler.start == "initial":
        atoms = ctx.start.copy()
    else:
        names = ["last_relaxed.extxyz", "last_md.extxyz"] if sampler.start == "relaxed" else ["last_md.extxyz"]
        found = [ctx.state_dir / n for n in names if (ctx.state_dir / n).exists()]
        atoms = read_frames(found[0])[-1] if found else ctx.start.copy()
    if sampler.density_g_cm3 and sampler.ensemble != "npt":
        atoms = rescale_to_density(atoms, sampler.density_g_cm3)
    return atoms


def md(sampler, ctx: SamplerContext, index: int) -> list[Atoms]:
    from ilflow.md import Checks, RunSettings, from_model, make_integrator, run_md, schedule_from
    from ilflow.md.h5md import atoms_frames

    integrator = make_integrator(sampler.ensemble, sampler.timestep_fs, friction_per_ps=sampler.friction_per_ps)
    atoms = _start(sampler, ctx)
    steps = -(-sampler.steps // sampler.frame_interval) * sampler.frame_interval
    schedule = schedule_from(Modifiers(temperature_ramp=sampler.temperature_ramp, box_ramp=sampler.box_ramp),
                             atoms, steps, sampler.temperature_K, sampler.pressure_bar or 1.0)
    checks = Checks.with_topology(atoms, max_uncertainty_eV_A=sampler.uncertainty_threshold_eV_A,
                                  max_temperature_K=max(3.0 * sampler.temperature_K, 1500.0))
    candidates = []
    for replica in range(sampler.replicas):
        run_dir = ctx.work_dir / f"md-{index}-{replica}"
        settings = RunSettings(steps=steps, frame_every=sampler.frame_interval, seed=1000 * ctx.iteration + replica,
                               schedule=schedule, checks=checks)
        summary = run_md(from_model(ctx.model_dir), atoms, integrator, settings, run_dir)
        frames = atoms_frames(run_dir / "trajectory.h5md", atoms)
        candidates += frames
        ctx.records.append({"sampler": "md", "replica": replica, "steps_run": summary["steps_done"],
                            "steps_planned": steps, "stop_reason": summary["stop_reason"] or "completed",
                            "simulated_ps": summary["steps_done"] * sampler.timestep_fs / 1000.0,
                            "frames": len(frames), "mean_temperature_K": summary["mean_temperature_K"]})
        if summary["stop_reason"] in (None, "uncertainty") and frames:
            write_frames(ctx.state_dir / "last_md.extxyz", frames[-1])
    return candidates


def relax(sampler, ctx: SamplerContext, index: int) -> list[Atoms]:
    from ilflow.md import FIRE, Checks, RunSettings, Schedule, from_model, run_md
    from ilflow.md.h5md import atoms_frames

    source = ctx.state_dir / "last_md.extxyz"
    atoms = read_frames(source)[-1] if source.exists() else ctx.start.copy()
    every = 10
    checks = Checks.with_topology(atoms, converged_fmax_eV_A=sampler.fmax_eV_A,
                                  max_uncertainty_eV_A=sampler.uncertainty_threshold_eV_A)
    settings = RunSettings(steps=-(-sampler.max_steps // every) * every, frame_every=every, schedule=Schedule(0.0, 0.0),
                           checks=checks)
    run_dir = ctx.work_dir / f"relax-{index}"
    summary = run_md(from_model(ctx.model_dir), atoms, FIRE(), settings, run_dir)
    frames = atoms_frames(run_dir / "trajectory.h5md", atoms)
    if frames:
        write_frames(ctx.state_dir / "last_relaxed.extxyz", frames[-1])
    ctx.records.append({"sampler": "relax", "steps_run": summary["steps_done"],
                        "stop_reason": summary["stop_reason"] or "max_steps", "frames": len(frames)})
    return frames


def conformers(sampler, ctx: SamplerContext, index: int) -> list[Atoms]:
    from ilflow.system import build_box

    species = [s.model_copy(update={"conformers": sampler.n_conformers}) for s in ctx.species]
    boxes = []
    for b in range(sampler.boxes):
        box = ctx.box.model_copy(update={"density_g_cm3": sampler.density_g_cm3,
                                         "seed": sampler.seed + 7 * b + 1000 * ctx.iteration})
        boxes.append(build_box(species, box))
    ctx.records.append({"sampler": "conformers", "frames": len(boxes)})
    return boxes


def volume_scan(sampler, ctx: SamplerContext, index: int) -> list[Atoms]:
    from ilflow.system.topology import scale_cell_rigid

    names = ["last_relaxed.extxyz", "last_md.extxyz"]
    found = [ctx.state_dir / n for n in names if (ctx.state_dir / n).exists()]
    base = read_frames(found[0])[-1] if found else ctx.start.copy()
    rng = np.random.default_rng(1000 * ctx.iteration + index)
    factors = np.linspace(sampler.factor_min, sampler.factor_max, sampler.points)
    picks = np.sort(rng.choice(len(factors), size=min(sampler.picks, len(factors)), replace=False))
    frames = []
    for f in factors[picks]:
        frame = scale_cell_rigid(base, base.cell.array * f ** (1 / 3))
        frame.info["volume_factor"] = float(f)
        frames.append(frame)
    ctx.records.append({"sampler": "volume_scan", "frames": len(frames)})
    return frames


SAMPLERS = {"md": md, "relax": relax, "conformers": conformers, "volume_scan": volume_scan}
