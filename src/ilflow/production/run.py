"""One production run, prepared as in the study: pack at a low density -> FIRE -> rescale the box linearly to
the target density over a short Langevin MD -> equilibrate + produce (Nosé-Hoover NVT or MTK NPT).

Every step is an MD-runner directory (checkpointed): killed at any moment and started again in the same stage
directory (the stage engine does that only while the run's inputs are unchanged), the run continues where it
stopped. `run.json` is written last.
"""

import logging
import time
from pathlib import Path

from ase import Atoms

from ilflow.io import read_frames, write_frames
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


def _classical_relax(atoms: Atoms, run: ProductionRun, out: Path) -> tuple[StepRecord, Atoms] | None:
    """CL&P minimisation + NPT (1 bar, run.temperature_K) for classical_ps; None if the species have no CL&P types."""
    from ilflow.classical import ClassicalSettings, NoTemplateError, run_classical
    from ilflow.classical.system import type_box

    try:
        type_box(atoms)
    except NoTemplateError:
        logger.info("  %s: no CL&P types for these species; relaxing with the model (FIRE) instead", out)
        return None
    from ilflow import units
    from ilflow.md.h5md import atoms_frames

    # the box shrinks from the packing density: the cutoff must fit the compressed box (10% below its edge there)
    edge_A = units.volume_A3_for_density(float(atoms.get_masses().sum()), 1.1 * run.density_g_cm3) ** (1 / 3)
    settings = ClassicalSettings(ensemble="npt", temperature_K=run.temperature_K, pressure_bar=run.spec.pressure_bar,
                                 equilibration_ps=run.spec.classical_ps, duration_ps=1.0, frame_every_ps=0.1,
                                 cutoff_A=min(12.0, 0.5 * edge_A - 0.5), seed=run.seed + 1)
    logger.info("  %s: CL&P NPT %g ps", out, run.spec.classical_ps)
    run_classical(atoms, settings, out)
    return (StepRecord(None, "classical NPT"),
            atoms_frames(out / "trajectory.h5md", atoms, slice(-1, None))[0])


def run_production(run: ProductionRun, species: list, box, model_dir: str | Path, dispersion: dict | None,
                   out_dir: str | Path) -> RunRecord:
    """Prepare and run one state point in `out_dir`; returns (and writes) its record `run.json`."""
    from ilflow.md import FIRE, Checks, Langevin, RunSettings, Schedule, from_model, make_integrator
    from ilflow.md.modifiers import EdgeRamp
    from ilflow.system import build_box

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec, T = run.spec, run.temperature_K
    t0 = time.perf_counter()
    box_spec = box.model_copy(update={"density_g_cm3": spec.pack_density_g_cm3, "seed": box.seed + run.seed})
    atoms = build_box(scaled_species(species, run.formula_units), box_spec)  # deterministic: the same on resume
    write_frames(out / "packed.extxyz", atoms)
    # preparation (FIRE fallback, rescale to density) with the model alone; D3 over 20 Å costs 3-4x the model's
    # time and its compilation, and the equilibration that follows brings the structure to the hybrid's liquid
    prepare = from_model(model_dir)
    force_field = from_model(model_dir, dispersion, dispersion_every=spec.dispersion_every) if dispersion else prepare
    blow_up = Checks.with_topology(atoms, max_temperature_K=max(5.0 * T, 2000.0),
                                   max_uncertainty_eV_A=spec.max_uncertainty_eV_A)

    relaxed = _classical_relax(atoms, run, out / "classical") if spec.classical_ps else None
    if relaxed is not None:
        relaxed, atoms = relaxed
    else:
        relax = RunSettings(steps=-(-spec.relax_max_steps // FIRE_FRAME_EVERY) * FIRE_FRAME_EVERY,
                            frame_every=FIRE_FRAME_EVERY, schedule=Schedule(0.0, 0.0),
                            checks=Checks.with_topology(atoms, converged_fmax_eV_A=spec.relax_fmax_eV_A))
        summary, atoms = _md_step(out / "relax", prepare, atoms, FIRE(), relax)
        relaxed = StepRecord(summary.steps_done, summary.stop_reason)

    every = spec.frame_steps
    steps = _steps(spec.rescale_ps, spec.timestep_fs, every)
    ramp = EdgeRamp.to_density(atoms, run.density_g_cm3, steps)
    rescale = RunSettings(steps=steps, frame_every=every, seed=run.seed, checks=blow_up,
                          schedule=Schedule(T, spec.pressure_bar, edge_ramp=ramp))
    rescaled, atoms = _md_step(out / "rescale", prepare, atoms, Langevin(spec.timestep_fs, 10.0), rescale)

    failed_step = None
    if rescaled.stop_reason is None:  # else the box never reached its density: no production from there
        steps = _steps(spec.equilibration_ps + spec.production_ps, spec.timestep_fs, every)
        integrator = make_integrator(spec.ensemble, spec.timestep_fs, thermostat_tau_fs=spec.thermostat_tau_fs,
                                     barostat_tau_fs=spec.barostat_tau_fs, chain=spec.thermostat_chain)
        production = RunSettings(steps=steps, frame_every=every, seed=run.seed + 1, checks=blow_up,
                                 schedule=Schedule(T, spec.pressure_bar))
        produced, _ = _md_step(out / "md", force_field, atoms, integrator, production)
    else:
        logger.warning("  %s: the rescale stopped (%s); no production run", out, rescaled.stop_reason)
        produced, failed_step = rescaled, "rescale"

    record = RunRecord(
        group=run.group, key=run.key, ensemble=spec.ensemble, temperature_K=T, formula_units=run.formula_units,
        seed=run.seed, atoms=len(atoms), target_density_g_cm3=run.density_g_cm3 if spec.ensemble == "nvt" else None,
        start_density_g_cm3=run.density_g_cm3, pressure_bar=spec.pressure_bar if spec.ensemble == "npt" else None,
        model=spec.model, force_field=force_field.name, dispersion=dispersion,
        dispersion_every=force_field.slow_every,
        timestep_fs=spec.timestep_fs, frame_interval_fs=every * spec.timestep_fs,
        equilibration_ps=spec.equilibration_ps, production_ps=spec.production_ps,
        relax=relaxed,
        rescale=StepRecord(rescaled.steps_done, rescaled.stop_reason, rescaled.mean_temperature_K), md=produced, trajectory="md/trajectory.h5md", structure="packed.extxyz",
        completed=produced.stop_reason is None and failed_step is None, wall_s=time.perf_counter() - t0,
        failed_step=failed_step)
    record.save(out / RUN_RECORD)
    return record
