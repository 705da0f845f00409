"""The learning-on-the-fly loop (paper Table 1) as stages: iteration 0 labels the initial frames and trains;
every later iteration samples -> selects -> labels -> retrains.

Each step is a stage of the project (`learning/iteration-NNN/<step>`) whose identity covers the campaign keys
it reads and the steps it consumes, so an edit of iteration k's settings redoes k and everything after it,
and nothing before. Labels live in one dataset (`learning/dataset.db`) keyed by structure and reference
settings: a step that is redone labels only structures the dataset does not hold yet. The stages' records
(`ilflow.active.records`) say which structures each split holds; the dataset's own `split` column is only
the role a label had when it was first computed.
"""

import csv
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from ilflow.active import samplers
from ilflow.active.records import (IterationRecord, LabelRecord, SamplingRecord, SelectionRecord,
                                   TrainingRecord)
from ilflow.config import Campaign
from ilflow.data.store import Dataset, Origin, structure_hash
from ilflow.io import read_frames, write_frames
from ilflow.project import Project, ProjectError, StageResult, StageStatus, atomic_path, atomic_write_text

logger = logging.getLogger(__name__)

RECORD = {"sampling": "sampling.json", "selection": "selection.json", "labels": "labels.json",
          "training": "training.json"}


@dataclass(frozen=True)
class Step:
    """One expanded iteration of the schedule."""

    index: int  # 1, 2, ... (0 is the initial data)
    name: str
    spec: object  # config.learning.Iteration


def expand(campaign: Campaign) -> list[Step]:
    steps = []
    for spec in campaign.learning.iterations:
        for r in range(spec.repeat):
            name = spec.name or f"iteration {len(steps) + 1}"
            steps.append(Step(len(steps) + 1, name if spec.repeat == 1 else f"{name} {r + 1}", spec))
    return steps


@dataclass(frozen=True)
class LearningStage:
    """One step of one iteration: its stage name, the campaign keys it reads, the stages it consumes."""

    kind: str  # labels, training, sampling or selection
    index: int
    inputs: dict
    upstream: tuple[str, ...]
    step: Step | None = None

    @property
    def stage(self) -> str:
        return Project.iteration_stage(self.index, self.kind)


def plan(campaign: Campaign, reference_id: str) -> list[LearningStage]:
    """Every learning stage of the campaign, in the order they run."""
    stage = Project.iteration_stage
    init = campaign.learning.initial
    # run-time dispersion is not the training's business: editing it never retrains
    model = campaign.model.model_dump(mode="json", exclude={"dispersion"})
    stages = [LearningStage("labels", 0, {"reference": reference_id, "n_train": init.n_train,
                                          "n_validation": init.n_validation, "n_test": init.n_test,
                                          "outlier_sigma": init.outlier_sigma, "split_seed": init.split_seed},
                            ("initial",)),
              LearningStage("training", 0, {"model": model}, (stage(0, "labels"),))]
    system = {"species": [s.model_dump() for s in campaign.species], "box": campaign.box.model_dump()}
    for step in expand(campaign):
        k, before = step.index, stage(step.index - 1, "training")
        previous = (stage(k - 1, "sampling"),) if k > 1 else ()
        training = step.spec.training or campaign.learning.iteration_training
        trained = campaign.model.model_copy(update={"training": training}) if training else campaign.model
        stages += [
            LearningStage("sampling", k, {"name": step.name, "samplers": [s.model_dump(mode="json") for s in
                                                                        step.spec.samplers], **system},
                          (before, "initial", "build", *previous), step),
            LearningStage("selection", k, {"selection": step.spec.selection.model_dump()},
                          (stage(k, "sampling"), before), step),
            LearningStage("labels", k, {"reference": reference_id, "name": step.name}, (stage(k, "selection"),), step),
            LearningStage("training", k, {"model": trained.model_dump(mode="json", exclude={"dispersion"})},
                          (stage(k, "labels"), before), step),
        ]
    return stages


def _frames_or_none(path: Path) -> list[Atoms]:
    """The frames of an extxyz file that may be empty (a stage that found nothing)."""
    return read_frames(path) if path.stat().st_size else []


def _unique(hashes: list[str]) -> list[str]:
    return list(dict.fromkeys(hashes))


class Loop:
    def __init__(self, campaign: Campaign, project: Project, client):
        from ilflow.reference import make_labeler

        self.campaign, self.project, self.client = campaign, project, client
        self.labeler = make_labeler(campaign.reference)
        self.dataset = Dataset(project.dataset_path)

    def run(self) -> list[IterationRecord]:
        """Run (or skip, or resume) every learning stage; returns the history, one row per iteration."""
        stages = plan(self.campaign, self.labeler.settings_id)
        results: dict[str, StageResult] = {}
        history = []
        for item in stages:
            produce = getattr(self, f"_{item.kind}")
            upstream = [self.project.done(name) for name in item.upstream]
            result = self.project.run_stage(item.stage, item.inputs, lambda d, i=item: produce(i, d), upstream,
                                            expensive=True)
            results[item.stage] = result
            if item.kind == "training":
                history.append(self._row(item, results))
                self._write_history(history)
                logger.info(progress_line(history[-1], skipped=not result.ran))
        final = results[stages[-1].stage]
        self.project.record_final_model(final.manifest, len(history) - 1)
        return history

    def _labelled(self, hashes: list[str]) -> list[Atoms]:
        """The labelled frames of these structures, in order; one missing from the dataset is a ProjectError."""
        found = self.dataset.labelled(self.labeler.settings_id, hashes)
        missing = [h for h in hashes if h not in found]
        if missing:
            raise ProjectError(f"{self.project.dataset_path} lacks {len(missing)} labels that the learning records "
                               "name (was the dataset replaced?); restore it, or move learning/ away to label again")
        return [found[h] for h in hashes]

    def _record(self, index: int, kind: str, cls):
        return cls.load(self.project.stage_dir(Project.iteration_stage(index, kind)) / RECORD[kind])

    # -- labels ---------------------------------------------------------------------------------------------
    def _label(self, frames: list[Atoms], split: str, stage: str, iteration: int) -> tuple[list[str], list[str], int,
                                                                                          int]:
        """Label what the dataset lacks; returns (ok hashes, failed hashes, computed, reused) in frame order."""
        from ilflow.labelling import label_into_dataset

        origins = [Origin(stage=stage, iteration=iteration, frame=k) for k in range(len(frames))]
        summary = label_into_dataset(self.dataset, frames, self.labeler, self.client, split, origins)
        hashes = _unique([structure_hash(a) for a in frames])
        ok = self.dataset.labelled(self.labeler.settings_id, hashes)
        return [h for h in hashes if h in ok], [h for h in hashes if h not in ok], summary.submitted, \
            summary.skipped_known

    def _labels(self, item: LearningStage, directory: Path):
        t0 = time.perf_counter()
        if item.index == 0:
            frames = read_frames(self.project.initial_frames_path)
            ok, failed, computed, reused = self._label(frames, "pool", "initial", 0)
            splits, outliers = self._initial_splits(ok)
        else:
            selected = self.project.stage_dir(Project.iteration_stage(item.index, "selection")) / "selected.extxyz"
            ok, failed, computed, reused = self._label(_frames_or_none(selected), "train", item.step.name, item.index)
            splits, outliers = {"train": ok}, 0
        record = LabelRecord(splits, failed, computed, reused, time.perf_counter() - t0, outliers)
        return [record.save(directory / RECORD["labels"])], {"computed": computed, "reused": reused}

    def _initial_splits(self, hashes: list[str]) -> tuple[dict[str, list[str]], int]:
        """Drop energy outliers, then split train/validation/test at random (fixed for the whole campaign)."""
        init = self.campaign.learning.initial
        frames = self.dataset.labelled(self.labeler.settings_id, hashes)
        per_atom = np.array([frames[h].get_potential_energy() / len(frames[h]) for h in hashes])
        keep = np.ones(len(hashes), bool)
        if init.outlier_sigma and len(hashes) > 2:
            keep = np.abs(per_atom - per_atom.mean()) <= init.outlier_sigma * per_atom.std()
        order = [hashes[k] for k in np.random.default_rng(init.split_seed).permutation(np.flatnonzero(keep))]
        splits, start = {}, 0
        for name, size in (("train", init.n_train), ("validation", init.n_validation), ("test", init.n_test)):
            splits[name] = order[start:start + size]
            start += size
        splits["pool"] = [h for h in hashes if not any(h in s for s in splits.values())]
        return splits, int((~keep).sum())

    # -- training -------------------------------------------------------------------------------------------
    def _training(self, item: LearningStage, directory: Path):
        from ilflow.config.model import Model
        from ilflow.training.api import model_errors, train_model

        t0 = time.perf_counter()
        model = Model.model_validate(item.inputs["model"])
        labels = self._record(item.index, "labels", LabelRecord)
        if item.index == 0:
            train, validation, test = labels.splits["train"], labels.splits["validation"], labels.splits["test"]
            known, warm = labels.hashes, None
        else:
            before = self._record(item.index - 1, "training", TrainingRecord)
            train, validation, test = (before.train + labels.splits["train"], before.validation_hashes,
                                       before.test_hashes)
            known = before.known + labels.hashes
            warm = self.project.model_dir(item.index - 1) if model.training.warm_start else None
        table = train_model(self._labelled(train), self._labelled(validation), model, directory / "model", warm)
        errors = model_errors(directory / "model", self._labelled(test)) if test else None
        record = TrainingRecord(train, validation, test, _unique(known), table, errors, time.perf_counter() - t0)
        return [record.save(directory / RECORD["training"]), directory / "model"]

    # -- sampling and selection -------------------------------------------------------------------------------
    def _initial_frames(self) -> list[Atoms]:
        """The initial frames with the box's molecule arrays, if they hold the box's atoms (else none)."""
        box = read_frames(self.project.box_path)[0]
        frames = read_frames(self.project.initial_frames_path)
        if not all(len(a) == len(box) and (a.numbers == box.numbers).all() and a.pbc.all() for a in frames):
            return []
        for atoms in frames:
            for name in ("molecule_id", "species_name"):
                if name in box.arrays and name not in atoms.arrays:
                    atoms.new_array(name, box.arrays[name])
        return frames

    def _sampling(self, item: LearningStage, directory: Path):
        t0 = time.perf_counter()
        k = item.index
        earlier = [self.project.stage_dir(Project.iteration_stage(j, "sampling")) for j in range(k - 1, 0, -1)]
        initial = self._initial_frames()
        start = initial[-1] if initial else read_frames(self.project.box_path)[0]
        ctx = samplers.SamplerContext(self.project.model_dir(k - 1), directory, earlier, start,
                                      list(self.campaign.species), self.campaign.box, k, initial)
        candidates = []
        for n, sampler in enumerate(item.step.spec.samplers):
            candidates += samplers.SAMPLERS[sampler.kind](sampler, ctx, n)
        sampled = len(candidates)
        candidates = samplers.physical(candidates)
        for atoms in candidates:
            atoms.info = {key: v for key, v in atoms.info.items() if isinstance(v, (int, float, str, bool))}
        write_frames(directory / samplers.CANDIDATES, candidates)
        record = SamplingRecord(ctx.records, len(candidates), sampled - len(candidates), time.perf_counter() - t0)
        outputs = [directory / samplers.CANDIDATES, record.save(directory / RECORD["sampling"])]
        return outputs + [p for p in (directory / n for n in samplers.LAST_FRAMES) if p.exists()]

    def _selection(self, item: LearningStage, directory: Path):
        from ilflow.active.features import last_layer_features
        from ilflow.active.selection import select_maxdist, select_random, unique_candidates
        from ilflow.potentials.model_io import load_model

        t0 = time.perf_counter()
        k, selection = item.index, item.step.spec.selection
        sampling = self.project.stage_dir(Project.iteration_stage(k, "sampling"))
        candidates = _frames_or_none(sampling / samplers.CANDIDATES)
        before = self._record(k - 1, "training", TrainingRecord)
        pool = unique_candidates([structure_hash(a) for a in candidates], set(before.known))
        first = np.zeros(0, dtype=int)
        if selection.stop_frames_first:
            stopped = [i for i in pool if candidates[i].info.get(samplers.STOPPED)]
            first = np.array(stopped, dtype=int)[:selection.frames]
            pool = np.setdiff1d(pool, first)
        rng = np.random.default_rng(selection.seed + 1000 * k)
        if len(pool) > selection.pool_cap:
            pool = np.sort(rng.choice(pool, selection.pool_cap, replace=False))
        wanted = selection.frames - len(first)
        if wanted == 0:
            picks = np.zeros(0, dtype=int)
        elif selection.method == "maxdist" and len(pool) > wanted:
            config, params, _ = load_model(self.project.model_dir(k - 1))
            known = [candidates[i] for i in first] + self._labelled(before.train)
            features = last_layer_features(config, params, [candidates[i] for i in pool] + known)
            picks = pool[select_maxdist(features[:len(pool)], wanted, features[len(pool):])]
        else:
            picks = pool[select_random(len(pool), wanted, rng)]
        picks = np.concatenate([first, picks])
        write_frames(directory / "selected.extxyz", [candidates[i] for i in picks])
        record = SelectionRecord(selection.method, int(len(pool) + len(first)), int(len(picks)),
                                 time.perf_counter() - t0, stop_frames=int(len(first)))
        return [directory / "selected.extxyz", record.save(directory / RECORD["selection"])]

    # -- history --------------------------------------------------------------------------------------------
    def _row(self, item: LearningStage, results: dict[str, StageResult]) -> IterationRecord:
        k = item.index
        labels = self._record(k, "labels", LabelRecord)
        trained = self._record(k, "training", TrainingRecord)
        sampled = self._record(k, "sampling", SamplingRecord) if k else None
        selected = self._record(k, "selection", SelectionRecord) if k else None
        md = [r for r in sampled.samplers if r.sampler == "md"] if sampled else []
        return IterationRecord(
            iteration=k, name=item.step.name if item.step else "initial",
            md_steps_run=sum(r.steps_run for r in md) if md else None,
            md_stop=", ".join(sorted({r.stop_reason for r in md})), simulated_ps=sum(r.simulated_ps for r in md),
            candidates=sampled.candidates if sampled else len(labels.hashes),
            selected=selected.selected if selected else 0,
            labelled=sum(len(s) for s in labels.splits.values()), failed=len(labels.failed),
            train_size=trained.train_frames, sample_s=sampled.sample_s if sampled else 0.0,
            select_s=selected.select_s if selected else 0.0, label_s=labels.label_s, train_s=trained.train_s,
            validation=trained.validation, test=trained.test)

    def _write_history(self, history: list[IterationRecord]) -> None:
        from ilflow.active.plots import history_figure

        atomic_write_text(self.project.history_path, "[\n" + ",\n".join(r.to_json().strip() for r in history) + "\n]\n")
        flat = [{**{k: v for k, v in r.to_dict().items() if k not in ("validation", "test")},
                 **{f"{split}_{key}": getattr(getattr(r, split), key, None) for split in ("validation", "test")
                    for key in ("energy_mae_meV_atom", "forces_mae_meV_A", "stress_mae_meV_A3")}} for r in history]
        with atomic_path(self.project.history_path.with_suffix(".csv")) as tmp:
            with open(tmp, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(flat[0]))
                writer.writeheader()
                writer.writerows(flat)
        history_figure(history, self.project.history_path.with_suffix(".png"))


def progress_line(row: IterationRecord, skipped: bool = False) -> str:
    """One line of the learning progress table."""
    md = f"MD {row.md_steps_run} steps ({row.md_stop})" if row.md_steps_run is not None else "no MD"
    errors = "".join(f", {'val' if split == 'validation' else split} F {value:.0f} meV/Å"
                     for split in ("validation", "test") if (value := row.forces_mae_meV_A(split)) is not None)
    return (f"  {row.iteration:3d} {row.name:<20} {md}, {row.candidates} candidates, {row.selected} selected, "
            f"{row.labelled} labelled ({row.failed} failed), train {row.train_size}{errors}"
            + (" (up to date, skipped)" if skipped else ""))


def load_history(project: Project) -> list[IterationRecord]:
    """The learning history of a project ([] before the first iteration finished)."""
    import json

    if not project.history_path.exists():
        return []
    return [IterationRecord.from_dict(row) for row in json.loads(project.history_path.read_text())]


def learning_status(campaign: Campaign, project: Project, seen: dict[str, StageStatus]) -> list[StageStatus]:
    """Status of every learning stage; a labels stage also says how many of its frames the dataset holds."""
    from ilflow.reference import make_labeler

    labeler = make_labeler(campaign.reference)
    lines = []
    for item in plan(campaign, labeler.settings_id):
        status = project.status_after(seen, item.stage, item.inputs, item.upstream)
        if item.kind == "labels" and status.state != "done":
            status = _label_reuse(project, item, status, labeler.settings_id, seen)
        seen[item.stage] = status
        lines.append(status)
    return lines


def _label_reuse(project: Project, item: LearningStage, status: StageStatus, settings_id: str,
                 seen: dict[str, StageStatus]) -> StageStatus:
    """How many of the frames a labels stage would label are already in the dataset (when they are known: the
    stage that makes them is done)."""
    from dataclasses import replace

    source = project.initial_frames_path if item.index == 0 else \
        project.stage_dir(Project.iteration_stage(item.index, "selection")) / "selected.extxyz"
    upstream_done = all(seen[u].state == "done" for u in item.upstream if u in seen)
    if not (upstream_done and source.exists() and project.dataset_path.exists()):
        return status
    hashes = _unique([structure_hash(a) for a in _frames_or_none(source)])
    known = Dataset(project.dataset_path).known(settings_id)
    reused = sum(h in known for h in hashes)
    return replace(status, detail=f"{reused} of {len(hashes)} labels already in the dataset, "
                                  f"{len(hashes) - reused} to compute")
