"""The project directory of a campaign: atomic writes, stage manifests, and skipping completed stages.

Layout: <root>/<stage>/ holds a stage's outputs and its `manifest.json` (inputs hash, inputs, ilflow
version, UTC time, wall time, outputs with sizes). A stage whose manifest matches its inputs and whose
outputs all exist with the recorded sizes is complete and is skipped on re-run.
"""

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ilflow import __version__

MANIFEST = "manifest.json"


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


def inputs_hash(inputs: Any) -> str:
    """SHA-256 of the canonical JSON of a stage's inputs."""
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class StageResult:
    """What a stage left in the project: its directory, outputs, and whether this call ran it."""

    name: str
    directory: Path
    outputs: list[Path]
    ran: bool
    manifest: dict


class Project:
    """A campaign's working directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def stage_dir(self, stage: str) -> Path:
        return self.root / stage

    def manifest(self, stage: str) -> dict | None:
        """The stage's manifest, or None if it has none (or an unreadable one)."""
        try:
            return json.loads((self.stage_dir(stage) / MANIFEST).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def is_complete(self, stage: str, inputs: Any) -> bool:
        """True if the stage ran with these inputs and all its outputs are still there, unchanged in size."""
        manifest = self.manifest(stage)
        if manifest is None or manifest.get("inputs_hash") != inputs_hash(inputs):
            return False
        for out in manifest.get("outputs", []):
            path = self.stage_dir(stage) / out["path"]
            if not path.is_file() or path.stat().st_size != out["size_bytes"]:
                return False
        return True

    def run_stage(self, stage: str, inputs: Any, produce: Callable[[Path], list[Path]]) -> StageResult:
        """Run `produce(stage_dir) -> outputs` unless the stage is complete; then record its manifest.

        `produce` must write each output atomically (see `atomic_path`) inside the stage directory.
        """
        directory = self.stage_dir(stage)
        if self.is_complete(stage, inputs):
            manifest = self.manifest(stage)
            return StageResult(stage, directory, [directory / o["path"] for o in manifest["outputs"]], False, manifest)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MANIFEST).unlink(missing_ok=True)  # a stage being redone is not complete
        start = time.perf_counter()
        outputs = [Path(p) for p in produce(directory)]
        manifest = {
            "stage": stage,
            "inputs_hash": inputs_hash(inputs),
            "inputs": inputs,
            "ilflow_version": __version__,
            "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_time_s": round(time.perf_counter() - start, 3),
            "outputs": [
                {"path": str(p.resolve().relative_to(directory.resolve())), "size_bytes": p.stat().st_size}
                for p in outputs
            ],
        }
        atomic_write_text(directory / MANIFEST, json.dumps(manifest, indent=2, default=str) + "\n")
        return StageResult(stage, directory, outputs, True, manifest)
