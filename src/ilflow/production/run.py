"""Production runs, prepared as in the study: pack at a low density -> CL&P NPT or FIRE -> rescale the box
linearly to the target density over a short Langevin MD -> equilibrate + produce (Nosé-Hoover NVT or MTK NPT),
alone or, for runs of one group and size, as replicas of one vmapped MD.

Every step is an MD-runner directory (checkpointed): killed at any moment and started again in the same stage
directory (the stage engine does that only while the run's inputs are unchanged), the run continues where it
stopped. `run.json` is written last.
"""

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from ase import Atoms

from ilflow.io import write_frames
from ilflow.production.plan import ProductionRun, scaled_species
from ilflow.md.summary import MDSummary
from ilflow.production.records import RunRecord, StepRecord

logger = logging.getLogger(__name__)

FIRE_FRAME_EVERY = 10
RUN_RECORD = "run.json"


def _steps(duration_ps: float, timestep_fs: float, frame_every: int) -> int:
    """Steps for `duration_ps`, rounded up to a multiple of `frame_every` (at least one frame)."""
    steps = max(1, round(duration_ps * 1000.0 / timestep_fs))
    return -(-steps // frame_every) * frame_every


def _md_step(run_dir: Path, force_field, atoms: Atoms, integrator, settings) -> tuple[MDSummary, Atoms]:
    """Run (or continue from its checkpoint) one MD step; returns its summary and last frame."""
    from ilflow.md import run_md
    from ilflow.md.h5md import atoms_frames

    logger.info("  %s: %d steps", run_dir, settings.steps)
    summary = run_md(force_field, atoms, integrator, settings, run_dir)
    return summary, atoms_frames(run_dir / "trajectory.h5md", atoms, slice(-1, None))[0]


def classical_cutoff_A(mass_amu: float, density_g_cm3: float) -> float:
    """The cutoff (Å) of a run's CL&P relaxation of `mass_amu` at `density_g_cm3`: the NPT shrinks the box from the
    packing density, so the cutoff must fit the compressed box (a cube at 1.1 x the density): 12 Å, or 0.5 Å less
    than half its edge."""
    from ilflow import units

    edge_A = units.volume_A3_for_density(mass_amu, 1.1 * density_g_cm3) ** (1 / 3)
    return min(12.0, 0.5 * edge_A - 0.5)


def _classical_relax(atoms: Atoms, run: ProductionRun, out: Path) -> tuple[StepRecord, Atoms] | None:
    """CL&P minimisation + NPT (1 bar, run.temperature_K) for classical_ps; None if the species have no CL&P types."""
    from ilflow.classical import ClassicalSettings, NoTemplateError, run_classical
    from ilflow.classical.system import type_box

    try:
        type_box(atoms)
    except NoTemplateError:
        logger.info("  %s: no CL&P types for these species; relaxing with the model (FIRE) instead", out)
        return None
    from ilflow.md.h5md import atoms_frames

    settings = ClassicalSettings(ensemble="npt", temperature_K=run.temperature_K, pressure_bar=run.spec.pressure_bar,
                                 equilibration_ps=run.spec.classical_ps, duration_ps=1.0, frame_every_ps=0.1,
                                 cutoff_A=classical_cutoff_A(float(atoms.get_masses().sum()), run.density_g_cm3),
                                 seed=run.seed + 1)
    logger.info("  %s: CL&P NPT %g ps", out, run.spec.classical_ps)
    run_classical(atoms, settings, out)
    return (StepRecord(None, "classical NPT"),
            atoms_frames(out / "trajectory.h5md", atoms, slice(-1, None))[0])


@dataclass(frozen=True)
class Prepared:
    """A run after its preparation: the structure production starts from, and the preparation's records."""

    run: ProductionRun
    directory: Path
    atoms: Atoms  # the rescale's last frame
    relaxed: StepRecord
    rescaled: MDSummary
    began_s: float  # time.perf_counter() at the start of the preparation
    packed: Atoms  # the packed box: its molecules are the topology every later step checks against

    @property
    def ready(self) -> bool:
        """The box reached its density: production can start (else the rescale's stop reason says why not)."""
        return self.rescaled.stop_reason is None


def max_temperature_K(temperature_K: float) -> float:
    """The temperature at which a run is stopped as blown up."""
    return max(5.0 * temperature_K, 2000.0)


def _checks(run: ProductionRun, packed: Atoms):
    """Blow-up checks, with the bonds of the packed box (whole molecules, 2 Å apart): taken from a later structure,
    a bond a relaxation broke would be missing from them (and an intermolecular contact counted as a bond)."""
    from ilflow.md import Checks

    return Checks.with_topology(packed, max_temperature_K=max_temperature_K(run.temperature_K),
                                max_uncertainty_eV_A=run.spec.max_uncertainty_eV_A)


def prepare(run: ProductionRun, species: list, box, model_dir: str | Path, out_dir: str | Path) -> Prepared:
    """Pack, relax (CL&P or FIRE) and rescale the box of `run` to its density in `out_dir`, with the model alone
    (D3 over 20 Å costs 3-4x the model's time and its compilation, and the equilibration that follows brings the
    structure to the hybrid's liquid)."""
    from ilflow.md import FIRE, Checks, Langevin, RunSettings, Schedule, from_model
    from ilflow.md.modifiers import EdgeRamp
    from ilflow.system import build_box

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec, T = run.spec, run.temperature_K
    t0 = time.perf_counter()
    box_spec = box.model_copy(update={"density_g_cm3": spec.pack_density_g_cm3, "seed": box.seed + run.seed})
    atoms = packed = build_box(scaled_species(species, run.formula_units), box_spec)  # the same on resume
    write_frames(out / "packed.extxyz", atoms)
    model = from_model(model_dir)
    relaxed = _classical_relax(atoms, run, out / "classical") if spec.classical_ps else None
    if relaxed is not None:
        relaxed, atoms = relaxed
    else:
        relax = RunSettings(steps=-(-spec.relax_max_steps // FIRE_FRAME_EVERY) * FIRE_FRAME_EVERY,
                            frame_every=FIRE_FRAME_EVERY, schedule=Schedule(0.0, 0.0),
                            checks=Checks.with_topology(atoms, converged_fmax_eV_A=spec.relax_fmax_eV_A))
        summary, atoms = _md_step(out / "relax", model, atoms, FIRE(), relax)
        relaxed = StepRecord(summary.steps_done, summary.stop_reason)

    every = spec.frame_steps
    steps = _steps(spec.rescale_ps, spec.timestep_fs, every)
    ramp = EdgeRamp.to_density(atoms, run.density_g_cm3, steps)
    rescale = RunSettings(steps=steps, frame_every=every, seed=run.seed, checks=_checks(run, packed),
                          schedule=Schedule(T, spec.pressure_bar, edge_ramp=ramp))
    rescaled, atoms = _md_step(out / "rescale", model, atoms, Langevin(spec.timestep_fs, 10.0), rescale)
    if rescaled.stop_reason is not None:
        logger.warning("  %s: the rescale stopped (%s); no production run", out, rescaled.stop_reason)
    return Prepared(run, out, atoms, relaxed, rescaled, t0, packed)


def production_md(prepared: Prepared):
    """(integrator, RunSettings) of the run's equilibration + production MD (`md/` of its directory)."""
    from ilflow.md import RunSettings, Schedule, make_integrator

    run, spec = prepared.run, prepared.run.spec
    every = spec.frame_steps
    integrator = make_integrator(spec.ensemble, spec.timestep_fs, thermostat_tau_fs=spec.thermostat_tau_fs,
                                 barostat_tau_fs=spec.barostat_tau_fs, chain=spec.thermostat_chain)
    return integrator, RunSettings(steps=_steps(spec.equilibration_ps + spec.production_ps, spec.timestep_fs, every),
                                   frame_every=every, seed=run.seed + 1, checks=_checks(run, prepared.packed),
                                   schedule=Schedule(run.temperature_K, spec.pressure_bar),
                                   stress_every=spec.stress_steps)


def run_production(run: ProductionRun, species: list, box, model_dir: str | Path, dispersion: dict | None,
                   out_dir: str | Path) -> RunRecord:
    """Prepare and run one state point in `out_dir`; returns (and writes) its record `run.json`."""
    return run_productions([run], species, box, model_dir, dispersion, [out_dir])[0]


def run_productions(runs: list[ProductionRun], species: list, box, model_dir: str | Path, dispersion: dict | None,
                    out_dirs: list, together: bool = False) -> list[RunRecord]:
    """Prepare and run state points, each in its directory; returns (and writes) their records `run.json`.

    With `together`, runs of one size and settings (seed and temperature aside) do their production MD as replicas
    of one vmapped MD (`run_replicas`: each run's `md/` is the directory of its run alone), grouped by the step
    their checkpoints hold. On an accelerator that multiplies the throughput (4 replicas of 120 atoms 3.1x, 16
    replicas 8.1x on an H200); on 2 CPU cores separate processes are faster."""
    from ilflow.md import from_model, run_replicas

    force_field = from_model(model_dir, dispersion, dispersion_every=runs[0].spec.dispersion_every) \
        if dispersion else from_model(model_dir)
    prepared = [prepare(run, species, box, model_dir, out) for run, out in zip(runs, out_dirs)]
    batches: dict = {}
    for item in (p for p in prepared if p.ready):
        batches.setdefault(_batch_key(item) if together else id(item), []).append(item)
    produced = {}
    for batch in batches.values():
        integrator, settings = production_md(batch[0])
        if len(batch) == 1:
            produced[batch[0].directory] = _md_step(batch[0].directory / "md", force_field, batch[0].atoms,
                                                    integrator, settings)[0]
            continue
        logger.info("  %d runs as replicas of one MD: %s", len(batch), ", ".join(str(p.directory) for p in batch))
        summaries = run_replicas(force_field, [p.atoms for p in batch], integrator, settings,
                                 [p.directory / "md" for p in batch], temperatures_K=[p.run.temperature_K for p in batch],
                                 seeds=[p.run.seed + 1 for p in batch],
                                 pressures_bar=[p.run.spec.pressure_bar for p in batch])
        produced.update({p.directory: summary for p, summary in zip(batch, summaries)})
    return [_record(p, produced.get(p.directory), force_field, dispersion) for p in prepared]


def _batch_key(prepared: Prepared):
    """Runs with equal keys can be replicas of one MD: one group and size (so one box, integrator and step count),
    the same blow-up checks, and checkpoints at the same step (or none)."""
    from ilflow.md.runner import CHECKPOINT, checkpoint_step

    run, md = prepared.run, prepared.directory / "md"
    step = checkpoint_step(md)
    if step is None and (md / CHECKPOINT).exists():  # a checkpoint that does not say its step: continued alone
        return id(prepared)
    return run.group, run.formula_units, max_temperature_K(run.temperature_K), step


def _record(prepared: Prepared, produced: MDSummary | None, force_field, dispersion: dict | None) -> RunRecord:
    """The run's record, written to its `run.json`; `produced` is None where the rescale stopped."""
    run, spec, rescaled = prepared.run, prepared.run.spec, prepared.rescaled
    record = RunRecord(
        group=run.group, key=run.key, ensemble=spec.ensemble, temperature_K=run.temperature_K,
        formula_units=run.formula_units, seed=run.seed, atoms=len(prepared.atoms),
        target_density_g_cm3=run.density_g_cm3 if spec.ensemble == "nvt" else None,
        start_density_g_cm3=run.density_g_cm3, pressure_bar=spec.pressure_bar if spec.ensemble == "npt" else None,
        model=spec.model, force_field=force_field.name, dispersion=dispersion,
        dispersion_every=force_field.slow_every, timestep_fs=spec.timestep_fs,
        frame_interval_fs=spec.frame_steps * spec.timestep_fs, equilibration_ps=spec.equilibration_ps,
        production_ps=spec.production_ps, relax=prepared.relaxed,
        rescale=StepRecord(rescaled.steps_done, rescaled.stop_reason, rescaled.mean_temperature_K),
        md=produced or rescaled, trajectory="md/trajectory.h5md", structure="packed.extxyz",
        completed=produced is not None and produced.stop_reason is None, wall_s=time.perf_counter() - prepared.began_s,
        failed_step=None if produced is not None else "rescale")
    record.save(prepared.directory / RUN_RECORD)
    return record
