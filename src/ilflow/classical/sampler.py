"""The initial-data sampler the learning loop calls: classical frames where CL&P covers every molecule,
otherwise (with a message saying why) bootstrap frames."""

import json
import logging
from dataclasses import replace
from pathlib import Path

from ase import Atoms

from ilflow.classical.bootstrap import bootstrap_frames
from ilflow.classical.forcefield import NoTemplateError
from ilflow.classical.run import ClassicalSettings, run_classical
from ilflow.classical.system import type_box
from ilflow.io import read_frames, write_frames
from ilflow.project import atomic_path

logger = logging.getLogger(__name__)


def initial_frames(atoms: Atoms, n_frames: int, out: str | Path, source: str = "classical",
                   settings: ClassicalSettings | None = None, seed: int = 0) -> list[Atoms]:
    """`n_frames` frames for iteration 0 in `out` (frames.extxyz; a classical run killed earlier in `out`
    continues from its checkpoint). source: "classical" (CL&P + OpenMM; falls back to "bootstrap" for molecules
    without a template)."""
    out = Path(out)
    if source == "classical":
        try:
            type_box(atoms)
        except NoTemplateError as exc:
            logger.warning("%s. Starting from bootstrap frames instead.", exc)
            source = "bootstrap"
    if source == "bootstrap":
        frames = bootstrap_frames(atoms, n_frames, seed)
        out.mkdir(parents=True, exist_ok=True)
        write_frames(out / "frames.extxyz", frames)
        with atomic_path(out / "summary.json") as tmp:
            Path(tmp).write_text(json.dumps({"source": "bootstrap", "frames": len(frames), "seed": seed}) + "\n")
        return frames
    settings = settings or ClassicalSettings()
    run_classical(atoms, replace(settings, frames_wanted=n_frames), out)
    return read_frames(out / "frames.extxyz")
