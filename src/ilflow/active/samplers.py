"""Samplers of one learning iteration: each returns candidate frames and a record of what it did.

All run with the current ensemble. `md` stops at the first step whose force uncertainty exceeds its
threshold (paper eqn 8) and keeps that frame; `relax` (FIRE) starts from the last MD frame; `conformers`
packs fresh boxes; `volume_scan` scales a relaxed box with rigid molecules; `rattle` displaces copies of earlier
candidates at random; `contacts` pushes two molecules of earlier candidates closer together than MD brings them;
`bonds` stretches or compresses one bond of earlier candidates to the far end of its thermal spread.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from ilflow.active.records import SamplerRun
from ilflow.config.modifiers import Modifiers
from ilflow.io import read_frames, write_frames

logger = logging.getLogger(__name__)


LAST_MD, LAST_RELAXED = "last_md.extxyz", "last_relaxed.extxyz"
CANDIDATES = "candidates.extxyz"  # every physical candidate of an iteration's samplers, in its sampling directory
LAST_FRAMES = (LAST_MD, LAST_RELAXED)
SLOW_STEP_FS = 4.0  # run-time D3 of an MD sampler: its slow step (multiple time stepping), as production's default
STOPPED = "stopped_by_uncertainty"  # info key (True) of the frame at which an MD stopped on the uncertainty rule


@dataclass
class SamplerContext:
    """What samplers share within one iteration, and the sampling directories of the iterations before."""

    model_dir: Path
    work_dir: Path  # this iteration's sampling directory; samplers leave last_md/last_relaxed.extxyz here
    earlier: list[Path]  # the sampling directories of earlier iterations, newest first
    start: Atoms  # the last frame of the initial data (else the built box): start "initial" and the fallback
    species: list
    box: object  # config.Box
    iteration: int
    initial: list[Atoms] = field(default_factory=list)  # every frame of the initial data: start "initial_frames"
    records: list = field(default_factory=list)  # SamplerRun of every sampler run

    def latest(self, *names: str) -> Atoms:
        """The newest frame saved under the first of `names` that any sampler left (this iteration first), else
        the start frame."""
        for name in names:
            for folder in [self.work_dir, *self.earlier]:
                if (folder / name).exists():
                    return read_frames(folder / name)[-1]
        return self.start.copy()


MIN_DISTANCE_A = 0.7  # candidates with two atoms closer than this are unphysical (a model gone astray)


def physical(frames: list[Atoms]) -> list[Atoms]:
    """The frames whose atoms are all at least MIN_DISTANCE_A apart."""
    from ase.neighborlist import neighbor_list

    return [a for a in frames if len(neighbor_list("i", a, MIN_DISTANCE_A, self_interaction=False)) == 0]


def _start(sampler, ctx: SamplerContext, replica: int) -> Atoms:
    from ilflow.system import build_box
    from ilflow.system.topology import rescale_to_density

    if sampler.start == "fresh_box":
        atoms = build_box(ctx.species, ctx.box.model_copy(update={"seed": ctx.box.seed + 1000 * ctx.iteration}))
    elif sampler.start == "initial":
        atoms = ctx.start.copy()
    elif sampler.start == "initial_frames":  # a frame drawn by iteration and replica: the same on a rerun
        frames = ctx.initial or [ctx.start]
        atoms = frames[np.random.default_rng([ctx.iteration, replica]).integers(len(frames))].copy()
    else:
        atoms = ctx.latest(*((LAST_RELAXED, LAST_MD) if sampler.start == "relaxed" else (LAST_MD,)))
    if sampler.density_g_cm3 and sampler.ensemble != "npt":
        atoms = rescale_to_density(atoms, sampler.density_g_cm3)
    return atoms


def md(sampler, ctx: SamplerContext, index: int) -> list[Atoms]:
    from ilflow.config.dispersion import dispersion_every
    from ilflow.md import Checks, RunSettings, from_model, make_integrator, run_md, schedule_from
    from ilflow.md.h5md import atoms_frames

    integrator = make_integrator(sampler.ensemble, sampler.timestep_fs, friction_per_ps=sampler.friction_per_ps)
    steps = -(-sampler.steps // sampler.frame_interval) * sampler.frame_interval
    d3 = sampler.run_time_d3
    force_field = from_model(ctx.model_dir, d3.settings() if d3 else None,
                             dispersion_every=dispersion_every(SLOW_STEP_FS, sampler.timestep_fs,
                                                               sampler.frame_interval) if d3 else 1)
    candidates = []
    # all starts before the first replica leaves its last frame (start "previous" would take it)
    starts = ([_start(sampler, ctx, replica) for replica in range(sampler.replicas)]
              if sampler.start == "initial_frames" else [_start(sampler, ctx, 0)] * sampler.replicas)
    for replica, atoms in enumerate(starts):
        schedule = schedule_from(Modifiers(temperature_ramp=sampler.temperature_ramp, box_ramp=sampler.box_ramp),
                                 atoms, steps, sampler.temperature_K, sampler.pressure_bar or 1.0)
        checks = Checks.with_topology(atoms, max_uncertainty_eV_A=sampler.uncertainty_threshold_eV_A,
                                      max_temperature_K=max(3.0 * sampler.temperature_K, 1500.0))
        run_dir = ctx.work_dir / f"md-{index}-{replica}"
        settings = RunSettings(steps=steps, frame_every=sampler.frame_interval, seed=1000 * ctx.iteration + replica,
                               schedule=schedule, checks=checks)
        summary = run_md(force_field, atoms, integrator, settings, run_dir)
        frames = atoms_frames(run_dir / "trajectory.h5md", atoms)
        if summary.stop_reason == "uncertainty" and frames:
            frames[-1].info[STOPPED] = True
        candidates += frames
        ctx.records.append(SamplerRun("md", len(frames), replica, summary.steps_done, steps,
                                      summary.stop_reason or "completed",
                                      summary.steps_done * sampler.timestep_fs / 1000.0, summary.mean_temperature_K))
        if summary.stop_reason in (None, "uncertainty") and frames:
            write_frames(ctx.work_dir / LAST_MD, frames[-1])
    return candidates


def relax(sampler, ctx: SamplerContext, index: int) -> list[Atoms]:
    from ilflow.md import FIRE, Checks, RunSettings, Schedule, from_model, run_md
    from ilflow.md.h5md import atoms_frames

    atoms = ctx.latest(LAST_MD)
    every = 10
    checks = Checks.with_topology(atoms, converged_fmax_eV_A=sampler.fmax_eV_A,
                                  max_uncertainty_eV_A=sampler.uncertainty_threshold_eV_A)
    settings = RunSettings(steps=-(-sampler.max_steps // every) * every, frame_every=every, schedule=Schedule(0.0, 0.0),
                           checks=checks)
    run_dir = ctx.work_dir / f"relax-{index}"
    summary = run_md(from_model(ctx.model_dir), atoms, FIRE(), settings, run_dir)
    frames = atoms_frames(run_dir / "trajectory.h5md", atoms)
    if frames:
        write_frames(ctx.work_dir / LAST_RELAXED, frames[-1])
    ctx.records.append(SamplerRun("relax", len(frames), steps_run=summary.steps_done,
                                  stop_reason=summary.stop_reason or "max_steps"))
    return frames


def conformers(sampler, ctx: SamplerContext, index: int) -> list[Atoms]:
    from ilflow.system import build_box

    species = [s.model_copy(update={"conformers": sampler.n_conformers}) for s in ctx.species]
    boxes = []
    for b in range(sampler.boxes):
        box = ctx.box.model_copy(update={"density_g_cm3": sampler.density_g_cm3,
                                         "seed": sampler.seed + 7 * b + 1000 * ctx.iteration})
        boxes.append(build_box(species, box))
    ctx.records.append(SamplerRun("conformers", len(boxes)))
    return boxes


def volume_scan(sampler, ctx: SamplerContext, index: int) -> list[Atoms]:
    from ilflow.system.topology import scale_cell_rigid

    base = ctx.latest(LAST_RELAXED, LAST_MD)
    rng = np.random.default_rng(1000 * ctx.iteration + index)
    factors = np.linspace(sampler.factor_min, sampler.factor_max, sampler.points)
    picks = np.sort(rng.choice(len(factors), size=min(sampler.picks, len(factors)), replace=False))
    frames = []
    for f in factors[picks]:
        frame = scale_cell_rigid(base, base.cell.array * f ** (1 / 3))
        frame.info["volume_factor"] = float(f)
        frames.append(frame)
    ctx.records.append(SamplerRun("volume_scan", len(frames)))
    return frames


def rattle(sampler, ctx: SamplerContext, index: int) -> list[Atoms]:
    """`copies` frames drawn at random from the candidates of earlier iterations (else the start frame), each atom
    displaced by a Gaussian of `displacement_A` per Cartesian component."""
    pool = _earlier_candidates(ctx)
    rng = np.random.default_rng(sampler.seed + 1000 * ctx.iteration + index)
    frames = []
    for k in rng.choice(len(pool), size=sampler.copies, replace=sampler.copies > len(pool)):
        frame = pool[k].copy()
        frame.positions += rng.normal(0.0, sampler.displacement_A, frame.positions.shape)
        frame.info = {"rattled_A": sampler.displacement_A}
        frames.append(frame)
    ctx.records.append(SamplerRun("rattle", len(frames)))
    return frames


def contacts(sampler, ctx: SamplerContext, index: int) -> list[Atoms]:
    """`copies` frames drawn at random from the candidates of earlier iterations (else the start frame), in each of
    which one molecule is moved rigidly towards a neighbour (`pushed_together`), with a contact fraction drawn
    uniformly from `sampler.fractions`. A draw that finds no such contact is redrawn (at most 20 per copy)."""
    from ilflow.system.topology import molecule_ids

    pool = _earlier_candidates(ctx)
    molecules = {}  # molecule ids of the frames drawn so far (a pool can hold thousands of frames)
    rng = np.random.default_rng(sampler.seed + 1000 * ctx.iteration + index)
    frames = []
    for _ in range(20 * sampler.copies):
        if len(frames) == sampler.copies:
            break
        k = int(rng.integers(len(pool)))
        if k not in molecules:
            molecules[k] = molecule_ids(pool[k])
        frame = pushed_together(pool[k], molecules[k], float(rng.uniform(*sampler.fractions)), rng)
        if frame is not None:
            frames.append(frame)
    if len(frames) < sampler.copies:
        logger.warning("contacts: %d of %d copies; the earlier candidates have too few contacts within %.1f Å of the "
                       "drawn distances (lower `copies`, or sample denser liquids first)", len(frames), sampler.copies,
                       MAX_PUSH_A)
    ctx.records.append(SamplerRun("contacts", len(frames)))
    return frames


MAX_PUSH_A = 0.7  # `pushed_together` moves a molecule at most this far: contacts that MD already brings close


def pushed_together(atoms: Atoms, mol_ids: np.ndarray, fraction: float, rng: np.random.Generator) -> Atoms | None:
    """A copy of `atoms` in which one molecule has moved rigidly along one of its contacts with another molecule, so
    that this pair of atoms is at `fraction` of the sum of their van der Waals radii, the closest pair of the frame
    relative to that sum. The contact is drawn among the pairs that need a move of at most MAX_PUSH_A, first its kind
    (the two elements) and then a pair of that kind, so that rarer kinds get their share: drawn over pairs, the
    demo's copies were 85% H...F and 12% H...H, drawn by kind 48% and 22% (the rest C...H, B...H, C...F, ...).
    None if there is no such pair, or if the move brought other atoms closer still."""
    from ase.neighborlist import neighbor_list

    radii = _vdw_radii(atoms.numbers)
    i, j, d, D = neighbor_list("ijdD", atoms, list(radii), self_interaction=False)  # pairs closer than r_i + r_j
    target = fraction * (radii[i] + radii[j])
    reachable = np.flatnonzero((mol_ids[i] != mol_ids[j]) & (d > target) & (d - target <= MAX_PUSH_A))
    if reachable.size == 0:
        return None
    kinds = np.sort(np.stack([atoms.numbers[i[reachable]], atoms.numbers[j[reachable]]]), axis=0)  # (2, pairs)
    unique = np.unique(kinds, axis=1)
    kind = unique[:, rng.integers(unique.shape[1])]
    k = int(rng.choice(reachable[np.all(kinds == kind[:, None], axis=0)]))
    out = atoms.copy()
    out.positions[mol_ids == mol_ids[j[k]]] -= D[k] * (1.0 - target[k] / d[k])  # j's molecule moves towards i
    i2, j2, d2 = neighbor_list("ijd", out, list(radii), self_interaction=False)
    inter = mol_ids[i2] != mol_ids[j2]
    if np.any(d2[inter] / (radii[i2] + radii[j2])[inter] < fraction - 1e-9):
        return None
    out.info = {"contact_A": float(target[k]), "contact_vdw_fraction": fraction}
    return out


def bonds(sampler, ctx: SamplerContext, index: int) -> list[Atoms]:
    """`copies` frames drawn at random from the candidates of earlier iterations (else the start frame), each with
    one bond moved (`bond_moved`) to a deviation drawn uniformly from `sampler.deviations`, stretched or compressed
    with equal odds. The spread of each kind of bond comes from up to BOND_STATISTICS_FRAMES of those candidates."""
    pool = _earlier_candidates(ctx)
    rng = np.random.default_rng(sampler.seed + 1000 * ctx.iteration + index)
    sample = rng.choice(len(pool), size=min(len(pool), BOND_STATISTICS_FRAMES), replace=False)
    spread = bond_spread([pool[k] for k in sample])
    frames = []
    for k in rng.choice(len(pool), size=sampler.copies, replace=sampler.copies > len(pool)):
        deviation = float(rng.uniform(*sampler.deviations)) * rng.choice([-1.0, 1.0])
        frame = bond_moved(pool[k], spread, deviation, rng)
        if frame is not None:
            frames.append(frame)
    if len(frames) < sampler.copies:
        logger.warning("bonds: %d of %d copies; the other frames drawn have no covalent bond (a liquid of single "
                       "atoms has none to move)", len(frames), sampler.copies)
    ctx.records.append(SamplerRun("bonds", len(frames)))
    return frames


BOND_STATISTICS_FRAMES = 200  # frames enough for a bond kind's mean and spread (a 4-pair box has 12 alkyl C-C each)


def bond_kinds(atoms: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The frame's covalent bonds once each: (i, j, D) with D from i to j (Å), and each bond's kind, e.g. "C4-C4"
    for two carbons with four bonds each (element and number of bonds, in alphabetical order)."""
    from ilflow.system.topology import bond_pairs

    i, j, D = bond_pairs(atoms)
    degree = np.bincount(i, minlength=len(atoms))
    once = i < j
    i, j, D = i[once], j[once], D[once]
    names = [f"{s}{n}" for s, n in zip(atoms.get_chemical_symbols(), degree)]
    return i, j, D, ["-".join(sorted((names[a], names[b]))) for a, b in zip(i, j)]


def bond_spread(frames: list[Atoms]) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation (Å) of the bond length of each kind of bond over `frames`."""
    lengths = {}
    for atoms in frames:
        _, _, D, kinds = bond_kinds(atoms)
        for kind, d in zip(kinds, np.linalg.norm(D, axis=1)):
            lengths.setdefault(kind, []).append(d)
    return {kind: (float(np.mean(v)), float(np.std(v))) for kind, v in lengths.items()}


def bond_moved(atoms: Atoms, spread: dict[str, tuple[float, float]], deviation: float,
               rng: np.random.Generator) -> Atoms | None:
    """A copy of `atoms` with one bond at `deviation` standard deviations from its kind's mean length (`spread`):
    first a kind of bond is drawn, then a bond of that kind, so that rare kinds (a ring C-C) get as many copies as
    common ones (an alkyl C-H). Both atoms move along the bond, in inverse proportion to their masses (an H moves
    12 times as far as its C), so that their centre of mass stays. None if the frame has no bond of a kind in
    `spread`."""
    i, j, D, kinds = bond_kinds(atoms)
    kinds = np.array(kinds)
    known = sorted(set(kinds) & set(spread))
    if not known:
        return None
    kind = rng.choice(known)
    k = int(rng.choice(np.flatnonzero(kinds == kind)))
    mean, std = spread[kind]
    target = mean + deviation * std
    d = float(np.linalg.norm(D[k]))
    masses = atoms.get_masses()
    shift = D[k] / d * (target - d) / (masses[i[k]] + masses[j[k]])
    out = atoms.copy()
    out.positions[i[k]] -= shift * masses[j[k]]
    out.positions[j[k]] += shift * masses[i[k]]
    out.info = {"bond": str(kind), "bond_A": float(target), "bond_deviation": float(deviation)}
    return out


def _vdw_radii(numbers: np.ndarray) -> np.ndarray:
    """Van der Waals radii (Å): Bondi's where ASE has them, else Alvarez's."""
    from ase.data.vdw import vdw_radii as bondi
    from ase.data.vdw_alvarez import vdw_radii as alvarez

    radii = bondi[numbers]
    return np.where(np.isnan(radii), alvarez[numbers], radii)


def _earlier_candidates(ctx: SamplerContext) -> list[Atoms]:
    """Every candidate of the earlier iterations, else the start frame."""
    pool = [a for folder in ctx.earlier if (folder / CANDIDATES).exists() for a in read_frames(folder / CANDIDATES)]
    return pool or [ctx.start]


SAMPLERS = {"md": md, "relax": relax, "conformers": conformers, "volume_scan": volume_scan, "rattle": rattle,
            "contacts": contacts, "bonds": bonds}
