"""A campaign as a table of stages in its project directory (the stage contract is in `ilflow.project`).

build -> initial -> learning (per iteration: sampling, selection, labels, training) -> final models (one stage
each) -> production (one stage per run) -> analysis -> report. Every stage names the campaign keys it reads and the upstream stages it consumes;
`run_campaign` runs them in order up to `until`, and `campaign_status` says which are done, stale or missing.
"""

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ilflow.config import Campaign
from ilflow.manifest import file_sha256
from ilflow.project import Project, StageResult, StageStatus

logger = logging.getLogger(__name__)


# -- build ---------------------------------------------------------------------------------------------------
def build_inputs(campaign: Campaign) -> dict:
    return {"species": [s.model_dump() for s in campaign.species], "box": campaign.box.model_dump()}


def build_stage(campaign: Campaign, project: Project) -> StageResult:
    """Stage `build`: the campaign's box as `build/box.extxyz`."""
    from ilflow.io import read_frames, write_frames
    from ilflow.system import build_box, summarize

    def produce(directory: Path) -> list[Path]:
        return [write_frames(directory / "box.extxyz", build_box(campaign.species, campaign.box))]

    result = project.run_stage("build", build_inputs(campaign), produce)
    logger.info("build (%s): %s", "built" if result.ran else "up to date, skipped", project.box_path)
    logger.info("  %s", summarize(read_frames(project.box_path)[0]))
    return result


# -- initial frames ------------------------------------------------------------------------------------------
def _classical_settings(campaign: Campaign):
    from ilflow.classical import ClassicalSettings

    initial = campaign.learning.initial
    return ClassicalSettings(temperature_K=initial.temperature_K, duration_ps=initial.duration_ps,
                             frame_every_ps=min(0.5, initial.duration_ps / initial.frames), seed=initial.split_seed)


def initial_inputs(campaign: Campaign) -> dict:
    """The `learning.initial` keys that make the frames (splits are the labels stage's business)."""
    initial = campaign.learning.initial
    inputs = {"source": initial.source, "frames": initial.frames, "seed": initial.split_seed}
    if initial.source == "file":
        path = Path(initial.file)
        inputs["file"] = {"path": str(path), "sha256": file_sha256(path) if path.is_file() else None}
    else:
        inputs["density_g_cm3"] = initial.density_g_cm3
    if initial.source == "classical":
        inputs["classical"] = asdict(_classical_settings(campaign))
    return inputs


def initial_stage(campaign: Campaign, project: Project) -> StageResult:
    """Stage `initial`: frames for iteration 0 (classical CL&P MD, a bootstrap or a file) as `initial/frames.extxyz`."""
    from ilflow.errors import ConfigError
    from ilflow.io import read_frames, write_frames

    initial = campaign.learning.initial

    def produce(directory: Path) -> list[Path]:
        if initial.source == "file":
            if not Path(initial.file).is_file():
                raise ConfigError(f"learning.initial.file: {initial.file} does not exist")
            write_frames(directory / "frames.extxyz", read_frames(initial.file))
            return [directory / "frames.extxyz"]
        from ilflow.classical import initial_frames
        from ilflow.system.topology import rescale_to_density

        atoms = read_frames(project.box_path)[0]
        if initial.density_g_cm3:
            atoms = rescale_to_density(atoms, initial.density_g_cm3)
        initial_frames(atoms, initial.frames, directory, initial.source, _classical_settings(campaign),
                       initial.split_seed)
        return [directory / "frames.extxyz", directory / "summary.json"]

    result = project.run_stage("initial", initial_inputs(campaign), produce, [project.done("build")], expensive=True)
    logger.info("initial (%s): %s", "done" if result.ran else "up to date, skipped", project.initial_frames_path)
    return result


# -- learning, production, analysis, report ------------------------------------------------------------------
def learning_stage(campaign: Campaign, project: Project):
    """Learning on the fly (`ilflow.active.loop`): one stage per step of every iteration."""
    from ilflow.active.loop import Loop
    from ilflow.distributed import dask_client

    logger.info("learning: iteration, sampling, selection, labels, errors")
    with dask_client(campaign.execution) as client:
        history = Loop(campaign, project, client).run()
    model, _ = project.final_model()
    logger.info("learning: %d iterations, history in %s, final model %s", len(history) - 1, project.history_path,
                model)
    return history


def final_stage(campaign: Campaign, project: Project):
    """The campaign's final models (`ilflow.active.final`), trained on variants of the learning's labels."""
    from ilflow.active.final import run_final_models
    from ilflow.data.store import Dataset
    from ilflow.reference import make_labeler

    if not campaign.final_models:
        return []
    logger.info("final models: %s", ", ".join(m.name for m in campaign.final_models))
    return run_final_models(campaign, project, make_labeler(campaign.reference), Dataset(project.dataset_path))


def production_stage(campaign: Campaign, project: Project):
    from ilflow.production.stage import run_all

    return run_all(campaign, project)


def analysis_stage(campaign: Campaign, project: Project):
    from ilflow.analysis.stage import analysis_stage as run

    return run(campaign, project)


def report_stage(campaign: Campaign, project: Project) -> StageResult:
    """The self-contained HTML report `report/report.html` (and `report/results.json`)."""
    from ilflow.report import write_report

    result = project.run_stage("report", report_inputs(campaign),
                               lambda directory: write_report(campaign, project, directory),
                               [project.done("analysis")])
    logger.info("report (%s): %s", "written" if result.ran else "up to date, skipped", result.outputs[0])
    return result


def report_inputs(campaign: Campaign) -> dict:
    return {"campaign": campaign.model_dump(mode="json")}


# -- the table ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[Campaign, Project], object]
    status: Callable[[Campaign, Project, dict], list[StageStatus]]  # (campaign, project, statuses so far)


def _status_build(campaign, project, seen):
    return [project.status("build", build_inputs(campaign))]


def _status_initial(campaign, project, seen):
    return [project.status_after(seen, "initial", initial_inputs(campaign), ["build"])]


def _status_learning(campaign, project, seen):
    from ilflow.active.loop import learning_status

    return learning_status(campaign, project, seen)


def _status_final(campaign, project, seen):
    from ilflow.active.final import final_status

    return final_status(campaign, project, seen)


def _status_production(campaign, project, seen):
    from ilflow.production.stage import production_status

    return production_status(campaign, project, seen)


def _status_analysis(campaign, project, seen):
    from ilflow.analysis.stage import analysis_inputs, analysis_upstream

    return [project.status_after(seen, "analysis", analysis_inputs(campaign), analysis_upstream(campaign, project))]


def _status_report(campaign, project, seen):
    return [project.status_after(seen, "report", report_inputs(campaign), ["analysis"])]


STAGES = (
    Stage("build", build_stage, _status_build),
    Stage("initial", initial_stage, _status_initial),
    Stage("learning", learning_stage, _status_learning),
    Stage("final", final_stage, _status_final),
    Stage("production", production_stage, _status_production),
    Stage("analysis", analysis_stage, _status_analysis),
    Stage("report", report_stage, _status_report),
)
STAGE_NAMES = tuple(s.name for s in STAGES)


def run_campaign(campaign: Campaign, root: str | Path, until: str = "report") -> list:
    """Run the stages in order up to and including `until`; returns what each stage returned."""
    project = Project(root)
    project.claim(campaign.name)
    results = []
    for stage in STAGES[:STAGE_NAMES.index(until) + 1]:
        results.append(stage.run(campaign, project))
    return results


def campaign_status(campaign: Campaign, root: str | Path) -> list[StageStatus]:
    """Every stage and sub-stage with done / stale (and what changed) / missing / running / interrupted / unused."""
    project = Project(root)
    project.check_owner(campaign.name)
    seen: dict[str, StageStatus] = {}
    for stage in STAGES:
        for line in stage.status(campaign, project, seen):
            seen[line.stage] = line
    return list(seen.values())
