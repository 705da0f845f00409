"""Final models (`final_models`): after the last learning iteration, named ensembles trained on variants of the
same labelled frames, one stage each (`final/<name>`), and the model every production run uses.

A variant's labels are the stored labels with the dispersion they contain removed and `labels_d3` added, both
by ilflow's D3 (computed once and stored in the stage as `labels.extxyz`); no reference label is recomputed.
Production runs name a final model; one with `run_time_d3` is the study's hybrid (E = E_model + E_D3).
"""

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from ilflow import progress
from ilflow.active.records import FinalModelRecord, TrainingRecord
from ilflow.config import Campaign
from ilflow.config.dispersion import D3
from ilflow.config.final import FinalModel
from ilflow.io import read_frames, write_frames
from ilflow.manifest import Manifest
from ilflow.project import Project, ProjectError, StageStatus

logger = logging.getLogger(__name__)

RECORD = "final.json"
LABELS = "labels.extxyz"


@dataclass(frozen=True)
class ProductionModel:
    """The model a production run uses: its ensemble directory, the stage that trained it, run-time D3."""

    name: str
    directory: Path
    stage: str
    dispersion: dict | None  # keyword arguments of ilflow.md.from_model(..., dispersion=)


def last_training_stage(campaign: Campaign) -> str:
    from ilflow.active.loop import expand

    return Project.iteration_stage(len(expand(campaign)), "training")


def _training(campaign: Campaign, final: FinalModel):
    return final.training or campaign.learning.iteration_training or campaign.model.training


def final_inputs(campaign: Campaign, final: FinalModel, reference_id: str) -> dict:
    """The campaign keys a final model's stage reads."""
    labels = campaign.reference.label_dispersion()
    return {"name": final.name, "reference": reference_id,
            "removed_d3": labels.contained.settings() if labels.contained else None,
            "labels_d3": final.labels_d3.settings() if final.labels_d3 else None,
            "model": campaign.model.model_copy(update={"training": _training(campaign, final)}).model_dump(
                mode="json", exclude={"dispersion"})}


def model_stage(campaign: Campaign, name: str) -> tuple[str, dict | None]:
    """The stage that trained a production run's `model`, and its run-time D3 (None: the model alone)."""
    if not campaign.final_models:  # the last learning ensemble, alone or + model.dispersion
        hybrid = name == "hybrid" and campaign.model.dispersion is not None
        return last_training_stage(campaign), campaign.model.dispersion.settings() if hybrid else None
    final = campaign.final_model(name)
    return Project.final_stage(final.of or final.name), final.run_time_d3.settings() if final.run_time_d3 else None


def resolve_model(campaign: Campaign, project: Project, name: str) -> tuple[ProductionModel, Manifest]:
    """A production run's model in `project`, and the manifest of the finished stage that trained it."""
    stage, dispersion = model_stage(campaign, name)
    manifest = project.manifest(stage)
    if manifest is None or not manifest.done:
        raise ProjectError(f"production model {name!r} needs stage {stage}, which is not finished; run ilflow learn "
                           "first")
    return ProductionModel(name, project.stage_dir(stage) / "model", stage, dispersion), manifest


def _d3_term(atoms: Atoms, settings: dict, sign: float):
    from ilflow.potentials.d3_calculator import d3_results

    energy, forces, stress = d3_results(atoms, **settings)
    return sign * energy, sign * forces, None if stress is None else sign * stress


def variant_labels(frames: list[Atoms], removed: D3 | None, added: D3 | None) -> list[Atoms]:
    """Copies of labelled frames with ilflow's D3 `removed` subtracted and `added` added (energy, forces, stress);
    info['d3_removed'] and info['d3_added'] record the settings (JSON). The progress is reported through
    ilflow.progress (a minute for 150 frames of 120 atoms at GFN1's 26 Å)."""
    terms = [(removed, -1.0), (added, 1.0)]
    out = []
    with progress.task("D3 of the labels", total=len(frames), unit="frames") as task:
        for atoms in frames:
            out.append(_with_d3(atoms, terms))
            task.update(len(out))
    return out


def _with_d3(atoms: Atoms, terms: list[tuple[D3 | None, float]]) -> Atoms:
    """A copy of one labelled frame with each D3 term of `terms` (settings, sign) added."""
    energy, forces = atoms.get_potential_energy(), atoms.get_forces().copy()
    stress = atoms.get_stress().copy() if "stress" in atoms.calc.results else None
    info = dict(atoms.info)
    for d3, sign in terms:
        if d3 is None:
            continue
        e, f, s = _d3_term(atoms, d3.settings(), sign)
        energy, forces = energy + e, forces + f
        if stress is not None and s is not None:
            stress = stress + s
        info["d3_removed" if sign < 0 else "d3_added"] = json.dumps(d3.settings(), sort_keys=True)
    copy = atoms.copy()
    copy.calc = SinglePointCalculator(copy, energy=energy, forces=forces,
                                      **({"stress": stress} if stress is not None else {}))
    copy.info = info
    return copy


def train_final_model(campaign: Campaign, project: Project, final: FinalModel, labelled, directory: Path):
    """Stage `final/<name>`: the variant's labels (if they differ from the stored ones), then an ensemble trained
    on them with the last iteration's train/validation/test frames, warm-started from its ensemble if the
    training says so."""
    from ilflow.training.api import model_errors, train_model

    t0 = time.perf_counter()
    last = last_training_stage(campaign)
    splits = TrainingRecord.load(project.stage_dir(last) / "training.json")
    stored = campaign.reference.label_dispersion()
    removed = stored.contained if stored.kind == "d3" else None
    frames = {name: labelled(hashes) for name, hashes in
              (("train", splits.train), ("validation", splits.validation_hashes), ("test", splits.test_hashes))}
    outputs = []
    if removed or final.labels_d3:
        frames = {name: variant_labels(f, removed, final.labels_d3) for name, f in frames.items()}
        for name, f in frames.items():
            for atoms in f:
                atoms.info["split"] = name
        outputs.append(write_frames(directory / LABELS, [a for f in frames.values() for a in f]))
    model = campaign.model.model_copy(update={"training": _training(campaign, final)})
    warm = project.stage_dir(last) / "model" if model.training.warm_start else None
    table = train_model(frames["train"], frames["validation"], model, directory / "model", warm)
    test = model_errors(directory / "model", frames["test"]) if frames["test"] else None
    description = stored.dispersion_free().description + (
        f" + {final.labels_d3.describe()}" if final.labels_d3 else "")
    record = FinalModelRecord(final.name, description, len(frames["train"]), table, test, time.perf_counter() - t0,
                              warm_started=warm is not None)
    logger.info("  final model %s: %s, %d training frames, validation F %.0f meV/Å%s", final.name, description,
                record.train_frames, table.forces_mae_meV_A,
                f", test F {test.forces_mae_meV_A:.0f} meV/Å" if test else "")
    return outputs + [record.save(directory / RECORD), directory / "model"]


def run_final_models(campaign: Campaign, project: Project, labeler, dataset) -> list[FinalModelRecord]:
    """Train (or skip, when up to date) every trained final model of the campaign."""
    last = project.done(last_training_stage(campaign))

    def labelled(hashes: list[str]) -> list[Atoms]:
        found = dataset.labelled(labeler.settings_id, hashes)
        missing = [h for h in hashes if h not in found]
        if missing:
            raise ProjectError(f"{project.dataset_path} lacks {len(missing)} labels that the learning records name "
                               "(was the dataset replaced?); restore it, or move learning/ away to label again")
        return [found[h] for h in hashes]

    records = []
    for final in campaign.final_models:
        if not final.trained:
            continue
        stage = Project.final_stage(final.name)
        result = project.run_stage(stage, final_inputs(campaign, final, labeler.settings_id),
                                   lambda d, f=final: train_final_model(campaign, project, f, labelled, d), [last],
                                   expensive=True)
        if not result.ran:
            logger.info("  final model %s: up to date, skipped", final.name)
        records.append(FinalModelRecord.load(project.stage_dir(stage) / RECORD))
    return records


def final_status(campaign: Campaign, project: Project, seen: dict[str, StageStatus]) -> list[StageStatus]:
    from ilflow.reference import make_labeler

    reference_id = make_labeler(campaign.reference).settings_id
    return [project.status_after(seen, Project.final_stage(f.name), final_inputs(campaign, f, reference_id),
                                 [last_training_stage(campaign)]) for f in campaign.final_models if f.trained]


def load_final_records(campaign: Campaign, project: Project) -> list[FinalModelRecord]:
    """The records of the campaign's trained final models that are finished."""
    out = []
    for final in campaign.final_models:
        path = project.stage_dir(Project.final_stage(final.name)) / RECORD
        if final.trained and path.exists():
            out.append(FinalModelRecord.load(path))
    return out


def read_variant_labels(project: Project, name: str) -> list[Atoms]:
    """The stored labels a final model was trained, validated and tested on (when they differ from the dataset's)."""
    return read_frames(project.stage_dir(Project.final_stage(name)) / LABELS)
