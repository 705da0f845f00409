"""The learning-on-the-fly loop (paper Table 1): initial labels and model, then per iteration
sample -> select -> label -> retrain, every stage resumable.

Layout under `learning/`: dataset.db (every label, committed as it arrives), iteration-NNN/ with
sampling/ (MD runs with checkpoints), candidates.extxyz, selected.extxyz, model/, and one marker JSON per
finished stage (sampling.json, selection.json, labels.json, training.json). A killed run continues at the
first unfinished stage; labels already in the dataset are never recomputed. history.json/.csv and
figures collect the figures of every iteration.
"""

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from ilflow.active import samplers
from ilflow.active.features import last_layer_features
from ilflow.active.selection import select_maxdist, select_random, unique_candidates
from ilflow.config import Campaign
from ilflow.data.store import Dataset, Origin, structure_hash
from ilflow.io import read_frames, write_frames
from ilflow.project import atomic_write_text


@dataclass
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


def _done(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _frames_or_none(path: Path) -> list[Atoms]:
    """The frames of an extxyz file that may be empty (a stage that found nothing)."""
    return read_frames(path) if path.stat().st_size else []


def _mark(path: Path, record: dict) -> dict:
    atomic_write_text(path, json.dumps(record, indent=2, default=float) + "\n")
    return record


class Loop:
    def __init__(self, campaign: Campaign, root: str | Path, initial_frames: Path, box: Atoms, client, say=print):
        """`box`: where MD starts when no earlier MD frame exists (the last initial frame is used if it has the
        box's atoms)."""
        from ilflow.reference import make_labeler

        self.campaign = campaign
        self.dir = Path(root) / "learning"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dataset = Dataset(self.dir / "dataset.db")
        self.initial_frames = Path(initial_frames)
        last = read_frames(self.initial_frames, -1)[0]
        same = len(last) == len(box) and (last.numbers == box.numbers).all() and last.pbc.all()
        if same:
            for name in ("molecule_id", "species_name"):
                if name in box.arrays and name not in last.arrays:
                    last.new_array(name, box.arrays[name])
        self.box = last if same else box
        self.client = client
        self.labeler = make_labeler(campaign.reference)
        self.say = say

    # -- data ----------------------------------------------------------------------------------------
    def split(self, name: str) -> list[Atoms]:
        frames = list(self.dataset.frames(split=name, settings_hash=self.labeler.settings_id))
        return sorted(frames, key=lambda a: a.info["row_id"])

    def _label(self, frames, split, stage: str, iteration: int) -> dict:
        from ilflow.labelling import label_into_dataset

        origins = [Origin(stage=stage, iteration=iteration, frame=k) for k in range(len(frames))]
        summary = label_into_dataset(self.dataset, frames, self.labeler, self.client, split, origins,
                                     show_progress=False)
        return {"labelled": summary.labelled, "failed": summary.failed, "skipped_known": summary.skipped_known,
                "label_wall_s": summary.wall_time_s}

    # -- iteration 0 ---------------------------------------------------------------------------------
    def initial(self) -> dict:
        """Label the initial frames, drop energy outliers, split train/validation/test (fixed from now on)."""
        folder = self.dir / "iteration-000"
        marker = _done(folder / "labels.json")
        if marker is None:
            t0 = time.perf_counter()
            frames = read_frames(self.initial_frames)
            marker = self._label(frames, "pool", "initial", 0)
            marker.update(self._assign_initial_splits(), candidates=len(frames), label_s=time.perf_counter() - t0)
            folder.mkdir(parents=True, exist_ok=True)
            _mark(folder / "labels.json", marker)
        return marker

    def _assign_initial_splits(self) -> dict:
        init = self.campaign.learning.initial
        frames = [a for a in self.split("pool") if a.info.get("stage") == "initial"]
        frames += [a for s in ("train", "validation", "test") for a in self.split(s) if a.info.get("stage") == "initial"]
        frames.sort(key=lambda a: a.info["frame"])
        per_atom = np.array([a.get_potential_energy() / len(a) for a in frames])
        keep = np.ones(len(frames), bool)
        if init.outlier_sigma and len(frames) > 2:
            keep = np.abs(per_atom - per_atom.mean()) <= init.outlier_sigma * per_atom.std()
        order = np.random.default_rng(init.split_seed).permutation(np.flatnonzero(keep))
        sizes = {"train": init.n_train, "validation": init.n_validation, "test": init.n_test}
        assigned, start = {}, 0
        for name, size in sizes.items():
            for k in order[start:start + size]:
                assigned[int(frames[k].info["row_id"])] = name
            start += size
        for atoms in frames:
            row = int(atoms.info["row_id"])
            self.dataset.db.update(row, split=assigned.get(row, "pool"))
        return {"outliers": int((~keep).sum()), **{n: sum(v == n for v in assigned.values()) for n in sizes}}

    # -- one iteration -------------------------------------------------------------------------------
    def model_dir(self, index: int) -> Path:
        return self.dir / f"iteration-{index:03d}" / "model"

    def train(self, index: int, training=None) -> dict:
        from ilflow.training.api import model_errors, train_model

        folder = self.dir / f"iteration-{index:03d}"
        marker = _done(folder / "training.json")
        if marker is not None:
            return marker
        model = self.campaign.model
        if training is not None:
            model = model.model_copy(update={"training": training})
        warm = self.model_dir(index - 1) if index > 0 and model.training.warm_start else None
        t0 = time.perf_counter()
        train, validation, test = self.split("train"), self.split("validation"), self.split("test")
        table = train_model(train, validation, model, self.model_dir(index), warm)
        record = {"train_frames": len(train), "validation": table, "train_s": time.perf_counter() - t0}
        if test:
            record["test"] = model_errors(self.model_dir(index), test)
        return _mark(folder / "training.json", record)

    def sample(self, step: Step) -> dict:
        folder = self.dir / f"iteration-{step.index:03d}"
        marker = _done(folder / "sampling.json")
        if marker is not None:
            return marker
        t0 = time.perf_counter()
        ctx = samplers.SamplerContext(self.model_dir(step.index - 1), folder / "sampling", self.dir, self.box,
                                      list(self.campaign.species), self.campaign.box, step.index)
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        candidates = []
        for k, sampler in enumerate(step.spec.samplers):
            candidates += samplers.SAMPLERS[sampler.kind](sampler, ctx, k)
        sampled = len(candidates)
        candidates = samplers.physical(candidates)
        for atoms in candidates:
            atoms.info = {k: v for k, v in atoms.info.items() if isinstance(v, (int, float, str, bool))}
        write_frames(folder / "candidates.extxyz", candidates)
        return _mark(folder / "sampling.json", {"samplers": ctx.records, "candidates": len(candidates),
                                                "unphysical_dropped": sampled - len(candidates),
                                                "sample_s": time.perf_counter() - t0})

    def select(self, step: Step) -> dict:
        folder = self.dir / f"iteration-{step.index:03d}"
        marker = _done(folder / "selection.json")
        if marker is not None:
            return marker
        from ilflow.potentials.model_io import load_model

        t0 = time.perf_counter()
        selection = step.spec.selection
        candidates = _frames_or_none(folder / "candidates.extxyz")
        known = self.dataset.known(self.labeler.settings_id)
        pool = unique_candidates([structure_hash(a) for a in candidates], known)
        rng = np.random.default_rng(selection.seed + 1000 * step.index)
        method = selection.method
        if len(pool) > selection.pool_cap:
            pool = np.sort(rng.choice(pool, selection.pool_cap, replace=False))
        if method == "maxdist" and len(pool) > selection.frames:
            config, params, _ = load_model(self.model_dir(step.index - 1))
            features = last_layer_features(config, params, [candidates[k] for k in pool] + self.split("train"))
            picks = pool[select_maxdist(features[:len(pool)], selection.frames, features[len(pool):])]
        else:
            picks = pool[select_random(len(pool), selection.frames, rng)]
        write_frames(folder / "selected.extxyz", [candidates[k] for k in picks])
        return _mark(folder / "selection.json", {"method": method, "pool": int(len(pool)), "selected": int(len(picks)),
                                                 "select_s": time.perf_counter() - t0})

    def label(self, step: Step) -> dict:
        folder = self.dir / f"iteration-{step.index:03d}"
        marker = _done(folder / "labels.json")
        if marker is not None:
            return marker
        frames = _frames_or_none(folder / "selected.extxyz")
        return _mark(folder / "labels.json", self._label(frames, "train", step.name, step.index))

    # -- the whole schedule ------------------------------------------------------------------------
    def run(self, progress=None) -> list[dict]:
        history = []
        start = self.initial()
        trained = self.train(0)
        history.append(self._row(0, "initial", {"candidates": start["candidates"]}, {}, start, trained))
        self._write_history(history, progress)
        for step in expand(self.campaign):
            sampled = self.sample(step)
            selected = self.select(step)
            labelled = self.label(step)
            trained = self.train(step.index, step.spec.training or self.campaign.learning.iteration_training)
            history.append(self._row(step.index, step.name, sampled, selected, labelled, trained))
            self._write_history(history, progress)
        return history

    def _row(self, index, name, sampled, selected, labelled, trained) -> dict:
        md = [r for r in sampled.get("samplers", []) if r["sampler"] == "md"]
        row = {"iteration": index, "name": name,
               "md_steps_run": sum(r["steps_run"] for r in md) if md else None,
               "md_stop": ", ".join(sorted({r["stop_reason"] for r in md})) if md else "",
               "simulated_ps": sum(r["simulated_ps"] for r in md) if md else 0.0,
               "candidates": sampled.get("candidates", 0), "selected": selected.get("selected", 0),
               "labelled": labelled.get("labelled", 0), "failed": labelled.get("failed", 0),
               "train_size": trained["train_frames"],
               "dataset_size": len(list(self.dataset.db.select(status="ok", columns=["id"]))),
               "sample_s": sampled.get("sample_s", 0.0), "select_s": selected.get("select_s", 0.0),
               "label_s": labelled.get("label_wall_s", labelled.get("label_s", 0.0)), "train_s": trained["train_s"]}
        for split in ("validation", "test"):
            table = trained.get(split, {})
            for key in ("energy_mae_meV_atom", "forces_mae_meV_A", "stress_mae_meV_A3"):
                row[f"{split}_{key}"] = table.get(key)
        return row

    def _write_history(self, history: list[dict], progress) -> None:
        atomic_write_text(self.dir / "history.json", json.dumps(history, indent=2) + "\n")
        with open(self.dir / "history.csv.tmp", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)
        (self.dir / "history.csv.tmp").replace(self.dir / "history.csv")
        from ilflow.active.plots import history_figure

        history_figure(history, self.dir / "history.png")
        if progress is not None:
            progress(history[-1])
