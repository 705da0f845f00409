"""Frames on disk: extxyz with all per-atom arrays and info, written atomically."""

from collections.abc import Sequence
from pathlib import Path

from ase import Atoms
from ase.io import read, write

from ilflow.errors import IlflowError
from ilflow.project import atomic_path


def write_frames(path: str | Path, frames: Atoms | Sequence[Atoms]) -> Path:
    """Write one or more frames as extxyz (molecule_id, species_name, charges and info kept), atomically."""
    frames = [frames] if isinstance(frames, Atoms) else list(frames)
    with atomic_path(path) as tmp:
        write(tmp, frames, format="extxyz")
    return Path(path)


def read_frames(path: str | Path, index: str | int = ":") -> list[Atoms]:
    """Read frames from any format ASE knows; an IlflowError naming the file if it cannot."""
    path = Path(path)
    if not path.is_file():
        raise IlflowError(f"structure file {str(path)!r} does not exist")
    try:
        frames = read(path, index=index)
    except Exception as exc:  # ASE raises many kinds for unreadable files
        raise IlflowError(f"structure file {str(path)!r} could not be read: {exc}") from None
    return frames if isinstance(frames, list) else [frames]
