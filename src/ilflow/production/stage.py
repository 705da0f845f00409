"""The production stage: one project stage per planned run (`production/<group>/<key>`), run as Dask tasks.

A run's identity covers its state point, the species and box settings, its model's run-time dispersion and the
model itself (its training stage's outputs hash): a new model or an edited temperature redoes that run alone, and the
trajectory it replaces is kept aside under the run's `superseded/` folder.
"""

import logging
from pathlib import Path

from ilflow.active.final import ProductionModel, model_stage, resolve_model
from ilflow.config import Campaign
from ilflow.manifest import Manifest
from ilflow.production.plan import ProductionRun, plan_runs
from ilflow.production.records import RunRecord
from ilflow.production.run import RUN_RECORD, run_productions
from ilflow.project import Project, StageStatus

logger = logging.getLogger(__name__)


def planned_runs(campaign: Campaign) -> list[ProductionRun]:
    return plan_runs(campaign.production.runs, list(campaign.species), campaign.analysis.experimental_density_csv)


def run_inputs(campaign: Campaign, run: ProductionRun) -> dict:
    """The campaign keys one production run reads (of its group's grid, only its own point)."""
    grid = {"temperatures_K", "formula_units", "seeds", "dispersion_step_fs"}
    dispersion = model_stage(campaign, run.spec.model)[1]
    inputs = {"run": run.spec.model_dump(exclude=grid), "temperature_K": run.temperature_K,
              "formula_units": run.formula_units, "seed": run.seed, "density_g_cm3": run.density_g_cm3,
              "dispersion": dispersion, "species": [s.model_dump() for s in campaign.species],
              "box": campaign.box.model_dump()}
    # what the slow step changes: k of a run with run-time dispersion (runs with D3 at every step, or none, keep
    # the identity they had before multiple time stepping existed)
    if dispersion and run.spec.dispersion_every > 1:
        inputs["dispersion_every"] = run.spec.dispersion_every
    return inputs


def _run_stages(root: Path, runs: list[ProductionRun], inputs: list[dict], model: ProductionModel,
                model_manifest: Manifest, species: list, box, together: bool) -> list[RunRecord]:
    """A Dask task: run (skip, resume) production runs' stages; `together`: their MD as replicas of one MD."""
    project = Project(root)
    started = [project.begin_stage(project.production_stage(run.group, run.key), run_inputs, [model_manifest],
                                   expensive=True) for run, run_inputs in zip(runs, inputs)]
    todo = [(run, stage) for run, stage in zip(runs, started) if stage.ran]
    if todo:
        run_productions([run for run, _ in todo], species, box, model.directory, model.dispersion,
                        [stage.directory for _, stage in todo], together)
        for _, stage in todo:
            project.finish_stage(stage, [stage.directory / RUN_RECORD])
    return [load_record(project, run) for run in runs]


def load_record(project: Project, run: ProductionRun) -> RunRecord:
    return RunRecord.load(project.production_dir(run.group, run.key) / RUN_RECORD)


def _accelerated() -> bool:
    """Does JAX compute on an accelerator here (a Dask worker: where the MD runs)?"""
    import jax

    return jax.default_backend() != "cpu"


def _batches(runs: list[ProductionRun], together: bool) -> list[list[ProductionRun]]:
    """One task per run, or, `together`, one per model, group and size (the runs that can share one MD)."""
    if not together:
        return [[run] for run in runs]
    batches: dict = {}
    for run in runs:
        batches.setdefault((run.spec.model, run.group, run.formula_units), []).append(run)
    return list(batches.values())


def run_all(campaign: Campaign, project: Project) -> list[RunRecord]:
    """Every planned production run with the final model; runs that are done are skipped."""
    from distributed import as_completed

    from ilflow import progress
    from ilflow.distributed import dask_client, with_log

    runs = planned_runs(campaign)
    if not runs:
        logger.info("production: no runs in the campaign's production section")
        return []
    models = {name: resolve_model(campaign, project, name) for name in dict.fromkeys(r.spec.model for r in runs)}
    records, todo = {}, []
    for run in runs:
        stage = project.production_stage(run.group, run.key)
        status = project.status(stage, run_inputs(campaign, run), [models[run.spec.model][1]])
        if status.state == "done":
            records[stage] = load_record(project, run)
            continue
        if status.state == "stale":
            logger.warning("  %s: %s changed; its previous run is kept under %s/superseded/", stage,
                           ", ".join(status.changed), project.stage_dir(stage))
        todo.append(run)
    logger.info("production: %d runs with %s (%d already done)", len(runs),
                ", ".join(f"{name} ({m.directory})" for name, (m, _) in models.items()), len(runs) - len(todo))
    if todo:
        with dask_client(campaign.execution) as client:
            mode = campaign.execution.production_replicas
            together = mode == "together" or (mode == "auto" and client.submit(_accelerated, pure=False).result())
            batches = _batches(todo, together)
            if together and len(batches) < len(todo):
                logger.info("production: %d runs in %d MD runs of replicas (execution.production_replicas: %s)",
                            len(todo), len(batches), mode)
            futures = [client.submit(with_log, ", ".join(project.production_stage(r.group, r.key) for r in batch),
                                     progress.INTERVAL_S, _run_stages, project.root, batch,
                                     [run_inputs(campaign, r) for r in batch], *models[batch[0].spec.model],
                                     list(campaign.species), campaign.box, together, pure=False)
                       for batch in batches]
            for future in as_completed(futures):
                for record in future.result():
                    stage = project.production_stage(record.group, record.key)
                    records[stage] = record
                    md = record.md
                    logger.info("  %s: %d atoms, %d steps, %s; mean T %.0f K, density %.3f g/cm3, %.2f ns/day",
                                stage, record.atoms, md.steps_done, md.stop_reason or "done",
                                md.mean_temperature_K or 0.0, md.mean_density_g_cm3, md.ns_per_day)
    return [records[project.production_stage(r.group, r.key)] for r in runs]


def production_status(campaign: Campaign, project: Project, seen: dict[str, StageStatus]) -> list[StageStatus]:
    """Every planned run's status, then the run directories the campaign no longer plans (`unused`, kept)."""
    runs = planned_runs(campaign)
    lines = [project.status_after(seen, project.production_stage(run.group, run.key), run_inputs(campaign, run),
                                  [model_stage(campaign, run.spec.model)[0]]) for run in runs]
    planned = {line.stage for line in lines}
    for stage in project.production_stages():
        if stage not in planned:
            lines.append(StageStatus(stage, "unused", detail="not in the campaign; never analysed or reported, kept "
                                                             "until you delete it"))
    return lines
