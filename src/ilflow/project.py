"""The project directory of a campaign: where every stage keeps its outputs, and the stage engine.

Stage contract. A stage is a directory under the project root (`build`, `initial`,
`learning/iteration-003/training`, `production/npt/4fu-353K-seed0`, `analysis`, `report`). Its identity is the
hash of the campaign keys it reads and of the outputs hashes of the upstream stages it consumes
(`ilflow.manifest`). `manifest.json` records that identity, the state (running, then done) and every output
with its size and SHA-256. `Project.run_stage` then:
- skips a stage that is done with the same identity and intact outputs;
- resumes a stage that was interrupted with the same identity: its producer runs again in the same directory
  and continues from what is there (MD checkpoints, labels already in the dataset);
- otherwise moves the old contents to `<stage>/superseded/<old identity>/` (expensive stages: labels, models,
  trajectories) or deletes them (cheap stages), and runs the producer in a clean directory.
Producers never read a file back "because it exists": what is in a stage directory belongs to its identity.
"""

import json
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from ilflow import __version__
from ilflow.manifest import DONE, RUNNING, Manifest, Output, ProjectError, file_sha256, identity, inputs_hash

__all__ = ["Project", "ProjectError", "StageResult", "StageStatus", "atomic_path", "atomic_write_text", "inputs_hash"]

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SUPERSEDED = "superseded"
PROJECT_FILE = "project.json"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically (temp file + rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StageResult:
    """What a stage left in the project: its directory, outputs, manifest, and whether this call ran it."""

    name: str
    directory: Path
    outputs: list[Path]
    ran: bool
    manifest: Manifest
    superseded: Path | None = None  # where the previous contents were kept, if they were
    began_s: float = 0.0  # time.time() when this call began the stage


@dataclass(frozen=True)
class StageStatus:
    """One line of `ilflow status`: done, stale (`changed` says why), missing, running, interrupted, or unused (a
    production run the campaign no longer plans)."""

    stage: str
    state: str
    changed: tuple[str, ...] = ()
    detail: str = ""


class Project:
    """A campaign's working directory: its layout (every path is made here) and its stages."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # -- layout ----------------------------------------------------------------------------------------
    def stage_dir(self, stage: str) -> Path:
        return self.root / stage

    @property
    def log_path(self) -> Path:
        """What every command that runs stages logged, with times (appended)."""
        return self.root / "ilflow.log"

    @property
    def box_path(self) -> Path:
        return self.root / "build" / "box.extxyz"

    @property
    def initial_frames_path(self) -> Path:
        return self.root / "initial" / "frames.extxyz"

    @property
    def learning_dir(self) -> Path:
        return self.root / "learning"

    @property
    def dataset_path(self) -> Path:
        """Every reference label of the project, keyed by structure and reference settings; never superseded."""
        return self.learning_dir / "dataset.db"

    @staticmethod
    def iteration_stage(index: int, step: str) -> str:
        """`learning/iteration-NNN/<step>` with step sampling, selection, labels or training."""
        return f"learning/iteration-{index:03d}/{step}"

    def model_dir(self, index: int) -> Path:
        return self.stage_dir(self.iteration_stage(index, "training")) / "model"

    @property
    def history_path(self) -> Path:
        return self.learning_dir / "history.json"

    @property
    def final_record_path(self) -> Path:
        return self.learning_dir / "final.json"

    def record_final_model(self, training: Manifest, iterations: int) -> None:
        """Record the training stage of the campaign's last learning iteration as the final model."""
        atomic_write_text(self.final_record_path, json.dumps({"stage": training.stage, "identity": training.identity,
                                                              "iterations": iterations}, indent=2) + "\n")

    def final_model(self) -> tuple[Path, Manifest]:
        """The model of the campaign's last learning iteration and its training stage's manifest."""
        try:
            final = json.loads(self.final_record_path.read_text())
            manifest = self.manifest(final["stage"])
        except (FileNotFoundError, KeyError, json.JSONDecodeError):
            manifest = None
        if manifest is None or not manifest.done or manifest.identity != final.get("identity"):
            raise ProjectError(f"{self.learning_dir} holds no finished learning stage for this campaign; run it "
                               "first (ilflow learn)")
        return self.stage_dir(final["stage"]) / "model", manifest

    @staticmethod
    def final_stage(name: str) -> str:
        """`final/<name>`: a final model trained after learning on a variant of the labels."""
        return f"final/{name}"

    @staticmethod
    def production_stage(group: str, key: str) -> str:
        return f"production/{group}/{key}"

    def production_dir(self, group: str, key: str) -> Path:
        return self.stage_dir(self.production_stage(group, key))

    def production_stages(self) -> list[str]:
        """Every production run stage this directory holds (planned by the campaign or not)."""
        return sorted(str(p.parent.relative_to(self.root)) for p in self.root.glob(f"production/*/*/{MANIFEST}"))

    @property
    def analysis_dir(self) -> Path:
        return self.root / "analysis"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    # -- the campaign this directory belongs to ----------------------------------------------------------
    def check_owner(self, campaign_name: str) -> bool:
        """True if this directory is `campaign_name`'s project, False if it is nobody's yet; a directory of
        another campaign is a ProjectError naming both."""
        path = self.root / PROJECT_FILE
        if not path.exists():
            return False
        try:
            owner = json.loads(path.read_text())["campaign"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ProjectError(f"{path} is corrupt; restore it, or remove it if {self.root} is this campaign's "
                               "project (nothing was deleted)") from None
        if owner != campaign_name:
            raise ProjectError(f"{self.root} is the project of campaign {owner!r}, not {campaign_name!r}; give "
                               f"another --dir for {campaign_name!r} (nothing was changed)")
        return True

    def claim(self, campaign_name: str) -> None:
        """Record the campaign's name in a new project; a directory of another campaign is refused."""
        if not self.check_owner(campaign_name):
            atomic_write_text(self.root / PROJECT_FILE, json.dumps({"campaign": campaign_name, "created_utc": _now(),
                                                                    "ilflow_version": __version__}, indent=2) + "\n")

    # -- manifests ----------------------------------------------------------------------------------------
    def manifest(self, stage: str) -> Manifest | None:
        """The stage's manifest, or None if it has none; a corrupt or foreign one is a ProjectError."""
        path = self.stage_dir(stage) / MANIFEST
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        return Manifest.from_json(text, path)

    def intact(self, manifest: Manifest) -> bool:
        """All outputs of a done stage are still there with their recorded sizes."""
        directory = self.stage_dir(manifest.stage)
        return manifest.done and all((directory / o.path).is_file() and (directory / o.path).stat().st_size ==
                                     o.size_bytes for o in manifest.outputs)

    def done(self, stage: str) -> Manifest:
        """The manifest of a stage that must be done (an upstream of the stage being run)."""
        manifest = self.manifest(stage)
        if manifest is None or not self.intact(manifest):
            raise ProjectError(f"stage {stage} of {self.root} is not finished; run the stages before it first")
        return manifest

    # -- running a stage ----------------------------------------------------------------------------------
    def status(self, stage: str, inputs: dict, upstream: Iterable[Manifest] = ()) -> StageStatus:
        """Would `run_stage` skip, resume or redo this stage?"""
        ups = _upstream(upstream)
        manifest = self.manifest(stage)
        if manifest is None:
            return StageStatus(stage, "missing")
        changed = tuple(manifest.changed_inputs(inputs, ups))
        if manifest.identity != identity(inputs, ups):
            return StageStatus(stage, "stale", changed or ("(ilflow inputs)",))
        if manifest.state == RUNNING:
            if _alive(manifest.notes.get("host"), manifest.notes.get("pid")):
                return StageStatus(stage, "running", detail=f"pid {manifest.notes.get('pid')}")
            directory = self.stage_dir(stage)
            checkpoints = [p for p in directory.rglob("checkpoint.*") if SUPERSEDED not in p.relative_to(directory).parts]
            return StageStatus(stage, "interrupted", detail=f"resumes where it stopped ({len(checkpoints)} MD "
                                                            "checkpoints)" if checkpoints else "resumes where it stopped")
        if not self.intact(manifest):
            return StageStatus(stage, "stale", ("outputs damaged",))
        return StageStatus(stage, "done")

    def status_after(self, seen: dict[str, StageStatus], stage: str, inputs: dict,
                     upstream: Iterable[str]) -> StageStatus:
        """Status of a stage that consumes the stages named in `upstream`: one that is not done (in `seen`, the
        statuses found so far, or on disk) makes this one stale if it ran before, else missing."""
        manifests = []
        for name in upstream:
            manifest = self.manifest(name)
            state = seen[name].state if name in seen else ("done" if manifest and self.intact(manifest) else "missing")
            if state != "done":
                return StageStatus(stage, "stale" if self.manifest(stage) else "missing", (f"upstream {name} ({state})",))
            manifests.append(manifest)
        return self.status(stage, inputs, manifests)

    def run_stage(self, stage: str, inputs: dict, produce: Callable[[Path], Iterable[Path]],
                  upstream: Iterable[Manifest] = (), expensive: bool = False) -> StageResult:
        """Run `produce(stage_dir) -> outputs` unless the stage is done with these inputs; record its manifest.

        `produce` writes its outputs (files or directories) inside the stage directory, each atomically, and
        returns them; it may return a `(outputs, notes)` pair to record notes (a dict) in the manifest.
        """
        started = self.begin_stage(stage, inputs, upstream, expensive)
        return self.finish_stage(started, produce(started.directory)) if started.ran else started

    def begin_stage(self, stage: str, inputs: dict, upstream: Iterable[Manifest] = (),
                    expensive: bool = False) -> StageResult:
        """The first half of `run_stage`, for producers that serve several stages at once (production replicas):
        a done stage's result (`ran` False), or the stage made ready and marked running (`ran` True), to be
        completed by `finish_stage` with its outputs."""
        ups = _upstream(upstream)
        ident = identity(inputs, ups)
        directory = self.stage_dir(stage)
        previous = self.manifest(stage)
        if previous is not None and previous.identity == ident and self.intact(previous):
            return StageResult(stage, directory, [directory / o.path for o in previous.outputs], False, previous)
        superseded = None
        if previous is None or previous.identity != ident or previous.done:
            superseded = self._clear(directory, previous, expensive)
        manifest = Manifest(stage=stage, identity=ident, inputs=json.loads(json.dumps(inputs, default=str)),
                            upstream=ups, state=RUNNING, ilflow_version=__version__, started_utc=_now(),
                            notes={"host": socket.gethostname(), "pid": os.getpid()})
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(directory / MANIFEST, manifest.to_json())
        return StageResult(stage, directory, [], True, manifest, superseded, time.time())

    def finish_stage(self, started: StageResult, produced) -> StageResult:
        """Record the outputs of a stage made ready by `begin_stage` (the producer's return value) as done."""
        notes = {}
        if isinstance(produced, tuple):
            produced, notes = produced
        directory = started.directory
        outputs = _outputs(directory, [Path(p) for p in produced])
        manifest = replace(started.manifest, state=DONE, finished_utc=_now(),
                           wall_time_s=round(time.time() - started.began_s, 3),
                           outputs=outputs, outputs_hash=inputs_hash([(o.path, o.sha256) for o in outputs]),
                           notes=notes)
        atomic_write_text(directory / MANIFEST, manifest.to_json())
        return replace(started, outputs=[directory / o.path for o in outputs], manifest=manifest)

    def _clear(self, directory: Path, previous: Manifest | None, expensive: bool) -> Path | None:
        """Empty a stage directory for a fresh run; expensive or unknown contents are kept aside, and said so."""
        entries = [p for p in directory.iterdir() if p.name != SUPERSEDED] if directory.is_dir() else []
        if not entries:
            return None
        if previous is not None and not expensive:
            for path in entries:
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            return None
        name = previous.identity[:16] if previous is not None else f"unrecorded-{int(time.time())}"
        kept = directory / SUPERSEDED / name
        kept.mkdir(parents=True, exist_ok=True)
        for path in entries:
            target = kept / path.name
            if target.exists():  # the same old identity superseded twice: keep the later copy beside it
                target = kept / f"{path.name}.{int(time.time())}"
            os.replace(path, target)
        logger.warning("%s: its inputs changed; the previous results were kept in %s", directory, kept)
        return kept


def _upstream(manifests: Iterable[Manifest]) -> dict[str, str]:
    return {m.stage: m.outputs_hash for m in manifests}


def _outputs(directory: Path, paths: list[Path]) -> tuple[Output, ...]:
    files = []
    for path in paths:
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    root = directory.resolve()
    return tuple(Output(str(p.resolve().relative_to(root)), p.stat().st_size, file_sha256(p)) for p in files)


def _alive(host: str | None, pid: int | None) -> bool:
    """Is the process that started a stage still running (on this machine)?"""
    if host != socket.gethostname() or not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, PermissionError, ValueError):
        return False
    return int(pid) != os.getpid()
