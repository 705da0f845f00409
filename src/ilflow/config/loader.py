"""Read `campaign.yaml` and report every problem with its key path and line."""

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ilflow.config.campaign import Campaign
from ilflow.errors import ConfigError

KeyPath = tuple[str | int, ...]


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys instead of silently keeping the last one."""

    def construct_mapping(self, node, deep=False):
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map every key path in a YAML document to its 1-based line number."""
    lines: dict[KeyPath, int] = {}

    def walk(node: yaml.Node, path: KeyPath) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key_path = path + (str(key_node.value),)
                walk(value_node, key_path)
                lines[key_path] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, path + (index,))

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, ())
    return lines


def _line_of(loc: KeyPath, lines: dict[KeyPath, int]) -> int | None:
    """Line of the longest prefix of `loc` found in the file (pydantic adds union tags to paths)."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _fields_at(model: type[BaseModel], loc: KeyPath) -> list[str]:
    """Field names of the section that holds the key at `loc` (for 'did you mean')."""
    candidates = [model]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        holders = [c for c in candidates if part in c.model_fields]
        if holders:
            candidates = _models_in(holders[0].model_fields[part].annotation)
        else:  # a union tag that pydantic puts in the path, e.g. samplers.0.md
            candidates = [c for c in candidates if part in _tag_values(c)]
        if not candidates:
            return []
    return list(candidates[0].model_fields) if len(candidates) == 1 else []


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Every BaseModel inside an annotation (Optional, list, Union, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


def _tag_values(model: type[BaseModel]) -> set[str]:
    """Literal values of a model's discriminator field (`kind` or `method`)."""
    values: set[str] = set()
    for name in ("kind", "method"):
        if name in model.model_fields:
            values |= set(getattr(model.model_fields[name].annotation, "__args__", ()))
    return values


def _hint_for_unknown_key(key: str, known: list[str]) -> str:
    with_unit = [name for name in known if name.startswith(key + "_")]
    if with_unit:
        return f"; keys carry their unit: did you mean {with_unit[0]!r}?"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known keys here: {', '.join(known)}" if known else ""


def _format_error(error: dict, lines: dict[KeyPath, int], source: str, model: type[BaseModel] = Campaign) -> str:
    loc: KeyPath = tuple(error["loc"])
    path = ".".join(str(p) for p in loc) or "(top level)"
    line = _line_of(loc, lines)
    where = f"{source}:{line}" if line else source
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key" + _hint_for_unknown_key(str(loc[-1]), _fields_at(model, loc))
    elif error["type"] == "missing":
        message = "required key is missing"
    elif "input" in error and not isinstance(error["input"], (dict, list)):
        message += f" (got {error['input']!r})"
    return f"{where}: {path}: {message}"


MAX_NODES = 100_000  # values in a YAML file with its aliases expanded; a campaign has a few hundred
MAX_DEPTH = 50  # nesting levels; a campaign has fewer than 10


def _expanded_size(root: yaml.Node) -> int:
    """Number of values once aliases are expanded (a few lines of aliases can stand for billions); ValueError
    naming the limit when it passes MAX_NODES values or MAX_DEPTH levels."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise ValueError(f"is nested more than {MAX_DEPTH} levels deep")
        if id(node) in sizes:
            return sizes[id(node)]
        children = ([v for pair in node.value for v in pair] if isinstance(node, yaml.MappingNode) else
                    node.value if isinstance(node, yaml.SequenceNode) else [])
        total = 1 + sum(size(child, depth + 1) for child in children)
        if total > MAX_NODES:
            raise ValueError(f"expands to more than {MAX_NODES} values through its aliases (&name / *name)")
        sizes[id(node)] = total
        return total

    return size(root, 0)


def parse_yaml(text: str, model: type[BaseModel], source: str, what: str) -> BaseModel:
    """Validate YAML text against a section model; ConfigError listing every problem with key path and line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None:
            _expanded_size(root)
        data = yaml.load(text, Loader=_UniqueKeyLoader)
        lines = key_lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{source}: is nested too deeply to read (more than {MAX_DEPTH} levels are never "
                          f"needed in a {what})") from None
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}; a {what} never needs that") from None
    if data is None:
        raise ConfigError(f"{source}: the {what} is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a {what} is a mapping of sections ({', '.join(list(model.model_fields)[:3])}, "
                          f"...); got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [_format_error(err, lines, source, model) for err in exc.errors()]
        header = f"{source}: {len(problems)} problem(s) in the {what}:"
        raise ConfigError("\n".join([header] + ["  " + p for p in problems])) from None


def parse_campaign(text: str, source: str = "<campaign>") -> Campaign:
    """Validate campaign YAML text; raise ConfigError listing every problem with key path and line."""
    return parse_yaml(text, Campaign, source, "campaign file")


def read_yaml(path: str | Path, model: type[BaseModel], what: str) -> BaseModel:
    """Read and validate a YAML file against `model` (ConfigError for a missing or unreadable file)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{what} {str(path)!r} does not exist; give the path to a YAML file") from None
    except (IsADirectoryError, UnicodeDecodeError, PermissionError) as exc:
        raise ConfigError(f"{what} {str(path)!r} cannot be read as text: {exc}") from None
    return parse_yaml(text, model, str(path), what)


def load_campaign(path: str | Path) -> Campaign:
    """Read and validate a campaign file."""
    return read_yaml(path, Campaign, "campaign file")
