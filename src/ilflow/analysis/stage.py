"""The analysis stage: every planned production run and the learning history -> `analysis/results.json`."""

import logging
from pathlib import Path

from ilflow.config import Campaign
from ilflow.project import Project, StageResult

logger = logging.getLogger(__name__)

RESULTS = "results.json"


def analysis_inputs(campaign: Campaign) -> dict:
    """The campaign keys the analysis reads (besides the runs and the learning history it consumes)."""
    from ilflow.analysis.uncertainty import learning_threshold

    return {"analysis": campaign.analysis.model_dump(mode="json"), "campaign": campaign.name,
            "reference_method": getattr(campaign.reference, "method", ""),
            "smiles": [s.smiles for s in campaign.species],
            "uncertainty_threshold_eV_A": learning_threshold(campaign.learning)[0]}


def analysis_upstream(campaign: Campaign, project: Project) -> list[str]:
    """The stages the analysis consumes: the last training stage, the final models and every planned production run."""
    from ilflow.active.final import last_training_stage
    from ilflow.production.stage import planned_runs

    finals = [Project.final_stage(m.name) for m in campaign.final_models if m.trained]
    return [last_training_stage(campaign)] + finals + [project.production_stage(r.group, r.key)
                                                       for r in planned_runs(campaign)]


def analysis_stage(campaign: Campaign, project: Project) -> StageResult:
    from ilflow.analysis.campaign import analyze_project, learning_summary
    from ilflow.production.stage import load_record, planned_runs

    def produce(directory: Path) -> list[Path]:
        runs = [(project.production_dir(r.group, r.key), load_record(project, r)) for r in planned_runs(campaign)]
        results = analyze_project(campaign, runs, learning_summary(campaign, project), directory, project.box_path)
        scene = [] if results.scene is None else [directory / results.scene]
        return [directory / RESULTS] + [directory / name for name in results.figures.values()] + scene

    upstream = [project.done(name) for name in analysis_upstream(campaign, project)]
    result = project.run_stage("analysis", analysis_inputs(campaign), produce, upstream)
    logger.info("analysis (%s): %s", "done" if result.ran else "up to date, skipped", result.outputs[0])
    return result
