"""A stage's manifest: what it was run from (identity, inputs, upstream hashes) and what it left (outputs).

The identity of a stage is the SHA-256 of its inputs (the campaign keys it reads) together with the outputs
hashes of the upstream stages it consumes, so an edit propagates downstream and nowhere else.
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ilflow.errors import IlflowError

FORMAT = 1  # bump when the manifest's fields change meaning; older manifests are refused, never guessed at
RUNNING, DONE = "running", "done"


class ProjectError(IlflowError):
    """A project directory that cannot be used as it is (corrupt or foreign records); nothing is deleted."""


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def inputs_hash(inputs: Any) -> str:
    """SHA-256 of the canonical JSON of a stage's inputs."""
    return hashlib.sha256(canonical_json(inputs).encode()).hexdigest()


def identity(inputs: dict, upstream: dict[str, str]) -> str:
    """A stage's identity: its inputs and the outputs hashes of the stages it consumes."""
    return inputs_hash({"inputs": inputs, "upstream": upstream})


def file_sha256(path: Path, chunk_bytes: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Output:
    """One output file of a stage, relative to the stage directory."""

    path: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """`manifest.json` of a stage directory."""

    stage: str
    identity: str
    inputs: dict
    upstream: dict[str, str]  # upstream stage -> its outputs_hash
    state: str  # RUNNING while the producer runs (or was killed), DONE after
    ilflow_version: str
    started_utc: str
    finished_utc: str | None = None
    wall_time_s: float | None = None
    outputs: tuple[Output, ...] = ()
    outputs_hash: str | None = None
    format: int = FORMAT
    notes: dict = field(default_factory=dict)  # what the producer wants recorded (e.g. labels reused)

    @property
    def done(self) -> bool:
        return self.state == DONE

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str) + "\n"

    @classmethod
    def from_json(cls, text: str, where: Path) -> "Manifest":
        """Parse a manifest; a corrupt one or one of another format is a ProjectError naming the file."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProjectError(f"{where} is corrupt ({exc}); restore it, or move the stage directory away to run the "
                               "stage again (nothing was deleted)") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            version = raw.get("ilflow_version", "an older ilflow") if isinstance(raw, dict) else "an unknown tool"
            raise ProjectError(f"{where} was written by {version} in another format than this ilflow's (format "
                               f"{FORMAT}); run the campaign in a new --dir, or move this project away (nothing was "
                               "deleted)")
        try:
            outputs = tuple(Output(**o) for o in raw.pop("outputs", []))
            return cls(**raw, outputs=outputs)
        except TypeError as exc:
            raise ProjectError(f"{where} is not a complete ilflow manifest ({exc}); move the stage directory away to "
                               "run the stage again (nothing was deleted)") from None

    def changed_inputs(self, inputs: dict, upstream: dict[str, str]) -> list[str]:
        """What differs from `inputs`/`upstream`: dotted key paths of changed inputs, 'upstream NAME' entries."""
        changed = _diff(self.inputs, json.loads(canonical_json(inputs)), "")
        for name in sorted(set(self.upstream) | set(upstream)):
            if self.upstream.get(name) != upstream.get(name):
                changed.append(f"upstream {name}")
        return changed


def _diff(old: Any, new: Any, prefix: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            out += _diff(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for k, (a, b) in enumerate(zip(old, new)):
            out += _diff(a, b, f"{prefix}[{k}]")
        return out
    return [] if canonical_json(old) == canonical_json(new) else [prefix or "(inputs)"]
