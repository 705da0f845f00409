"""What a command may write. It never replaces one of its own inputs, and never replaces something it did not make
for the same purpose (a dataset, a model, a campaign, a project, a directory where a file goes) unless `--force`
says so. Outputs are written beside their final place and renamed into it (ilflow.project.atomic_path)."""

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ilflow.errors import ConfigError

SQLITE_MAGIC = b"SQLite format 3\x00"
FORCE_HINT = "choose another path, or add --force to replace it"


def _head(path: Path, size: int = 4096) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


def describe(path: Path) -> str | None:
    """What an existing path holds, in words, when it is something a command must not replace unasked; None for
    nothing there."""
    if path.is_dir():
        if (path / "model.json").exists() or (path / "params.npz").exists():
            return "a model directory"
        if (path / "project.json").exists() or (path / "manifest.json").exists():
            return "an ilflow project directory"
        return "a directory" if any(path.iterdir()) else "an empty directory"
    if not path.exists():
        return None
    head = _head(path)
    if head.startswith(SQLITE_MAGIC):
        return "an ase.db dataset (SQLite)"
    if path.suffix in (".db", ".sqlite"):
        return "a dataset file"
    if path.name in ("model.json", "params.npz", "project.json", "manifest.json"):
        return f"ilflow's {path.name}"
    if path.suffix in (".yaml", ".yml"):
        return "a YAML file (a campaign?)"
    if path.suffix in (".h5", ".h5md", ".npz", ".chk"):
        return f"a {path.suffix[1:]} file"
    return "a file"


def _is_extxyz(path: Path) -> bool:
    lines = _head(path).decode("utf-8", "replace").splitlines()
    return len(lines) >= 2 and lines[0].strip().isdigit() and ("Lattice=" in lines[1] or "Properties=" in lines[1])


def _is_json_object(path: Path, keys: Iterable[str]) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and set(keys) <= set(data)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _refuse_inputs(option: str, path: Path, inputs: Iterable[Path | str | None]) -> None:
    for item in inputs:
        if item is None or "://" in str(item):
            continue
        item = Path(item)
        if _same(path, item) or (item.is_dir() and path.resolve().is_relative_to(item.resolve())):
            raise ConfigError(f"{option} {str(path)!r} is also an input of this command ({str(item)!r}); write the "
                              "output to another path")


def output_file(option: str, path: Path, makes: str, inputs: Iterable = (), force: bool = False,
                json_keys: Iterable[str] = ()) -> Path:
    """Check that `path` may receive a new file of kind `makes` ('extxyz' or 'json'): not an input, not a
    directory, and (without `force`) either new or a file of that same kind."""
    path = Path(path)
    _refuse_inputs(option, path, inputs)
    if path.is_dir():
        raise ConfigError(f"{option} {str(path)!r} is a directory; give a file name")
    if not path.exists() or force:
        return path
    same_kind = _is_extxyz(path) if makes == "extxyz" else _is_json_object(path, json_keys)
    if not same_kind:
        raise ConfigError(f"{option} {str(path)!r} exists and is {describe(path)}, not {makes} output of this "
                          f"command; {FORCE_HINT}")
    return path


def output_directory(option: str, path: Path, makes: str, inputs: Iterable = (), force: bool = False,
                     continues: Iterable[str] = ()) -> Path:
    """Check that `path` may receive a directory of kind `makes` ('model' or 'run'): not a file, not an input, and
    (without `force`) new, empty, or holding one of the files in `continues` (a run of the same kind to continue)."""
    path = Path(path)
    _refuse_inputs(option, path, inputs)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {str(path)!r} exists and is {describe(path)}; give a directory")
    if not path.exists() or force or not any(path.iterdir()):
        return path
    if any((path / name).exists() for name in continues):
        return path
    if continues:  # a run directory: --force writes into it
        raise ConfigError(f"{option} {str(path)!r} exists and is {describe(path)}, not a {makes} directory this "
                          "command can continue; choose another path, or add --force to write into it")
    raise ConfigError(f"{option} {str(path)!r} exists and is {describe(path)}; {FORCE_HINT}")


@contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield a new directory beside `path`; on success it replaces `path` (whatever was there), on error it is
    removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            if path.exists():
                path.unlink()
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
