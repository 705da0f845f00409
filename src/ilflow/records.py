"""Typed records that stages hand each other, with a JSON round trip.

A record is a frozen dataclass; `save(path)` writes it atomically, `load(path)` reads it back and refuses
a file that is not a complete record of that kind (a ProjectError naming the file, nothing deleted).
"""

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from ilflow.manifest import ProjectError

R = TypeVar("R", bound="Record")


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars as Python numbers, NaN and inf as None, tuples as lists."""
    if dataclasses.is_dataclass(value):
        return {_key(f): _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _key(f: dataclasses.Field) -> str:
    """A field's name in JSON: its own, or `metadata["key"]` (e.g. a JSON key that is a Python keyword)."""
    return f.metadata.get("key", f.name)


def _build(kind: Any, value: Any) -> Any:
    """A typed value from its JSON form (nested records; lists, tuples and dict values of records; a union of
    records: the first of them whose fields the data fills)."""
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind) and isinstance(value, dict):
        return kind.from_dict(value)
    if origin in (list, tuple) and isinstance(value, list):
        args = [a for a in typing.get_args(kind) if a is not Ellipsis]
        items = [_build(args[0], v) for v in value] if args else value
        return tuple(items) if origin is tuple else items
    if origin is dict and isinstance(value, dict):
        args = typing.get_args(kind)
        return {k: _build(args[1], v) for k, v in value.items()} if args else value
    if origin in (typing.Union, types.UnionType) and isinstance(value, dict):
        *others, last = [a for a in typing.get_args(kind) if dataclasses.is_dataclass(a)] or [None]
        for arg in others:
            try:
                return arg.from_dict(value)
            except TypeError:
                continue
        if last is not None:
            return last.from_dict(value)
    return value


@dataclasses.dataclass(frozen=True)
class Record:
    """Base of the typed records: dict and JSON round trips."""

    def to_dict(self) -> dict:
        return _plain(self)

    @classmethod
    def from_dict(cls: type[R], data: dict) -> R:
        if not isinstance(data, dict):
            raise TypeError(f"a JSON object expected, not {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        names = {_key(f): f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - set(names)
        if unknown:
            raise TypeError(f"unknown fields {sorted(unknown)}")
        return cls(**{names[k]: _build(hints[names[k]], v) for k, v in data.items()})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"

    def save(self, path: str | Path) -> Path:
        from ilflow.project import atomic_write_text

        return atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls: type[R], path: str | Path) -> R:
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise ProjectError(f"{path} is missing; run the stage that writes it again") from None
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            raise ProjectError(f"{path} is not a {cls.__name__} record of this ilflow ({exc}); move it away and run "
                               "its stage again (nothing was deleted)") from None
