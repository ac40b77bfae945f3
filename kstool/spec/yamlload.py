"""YAML → plain data with a source location for every value, refusing YAML 1.1's traps.

PyYAML implements YAML 1.1: unquoted ``NO`` is a boolean, ``0600`` an octal int, ``1:20`` is 80,
``2024-01-01`` a date, and duplicate keys silently keep the last. A spec is security configuration,
so each of these is an error that points at the value and says "quote it". Anchors and aliases are
refused too (no billion-laughs expansion), as are several documents and non-string keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kstool.errors import KstoolError

MAX_SPEC_BYTES = 1024 * 1024
MAX_NESTING = 32  # a valid spec nests 7 levels (keystores[].entries[].generate.key)

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a value stands in the spec: ``spec.yaml:14:9: keystores[0].entries[1].alias``."""

    file: str
    line: int  # 1-based
    column: int  # 1-based
    path: JsonPath

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {format_path(self.path)}" if self.path else where


def format_path(path: JsonPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class SpecError(KstoolError):
    """A mistake in the spec, reported at its location."""

    def __init__(self, location: Location | str, message: str) -> None:
        self.location = location
        super().__init__(f"{location}: {message}")


@dataclass(frozen=True, slots=True)
class Document:
    data: Any
    locations: dict[JsonPath, Location]
    file: str

    def at(self, path: JsonPath) -> Location:
        """The location of ``path`` or of its nearest located ancestor."""
        while path not in self.locations and path:
            path = path[:-1]
        return self.locations.get(path, Location(self.file, 1, 1, path))


# libyaml's C parser when PyYAML has it (5x faster on large specs); same resolver, same marks
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_PLAIN_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")


def load_yaml(text: str, file: str) -> Document:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SPEC_BYTES:
        raise SpecError(file, f"spec is larger than {MAX_SPEC_BYTES // 1024} KiB; is this the right file?")
    try:
        _refuse_anchors(text, file)
        nodes = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = _where(file, mark)
        raise SpecError(where, f"not valid YAML: {e.problem}") from None
    except yaml.YAMLError as e:
        raise SpecError(file, f"not valid YAML: {e}") from None
    if not nodes or nodes[0] is None:
        raise SpecError(file, "the spec is empty; start with 'version: 1' and a 'keystores:' list")
    if len(nodes) > 1:
        raise SpecError(file, "the spec holds several YAML documents ('---'); keep one")
    locations: dict[JsonPath, Location] = {}
    data = _convert(nodes[0], (), file, locations)
    return Document(data, locations, file)


def _where(file: str, mark: Any) -> str:
    return file if mark is None else f"{file}:{mark.line + 1}:{mark.column + 1}"


def _refuse_anchors(text: str, file: str) -> None:
    """Refuse anchors, aliases and deep nesting from the event stream, before anything is expanded or composed.

    PyYAML's composer (and ``_convert``) recurse once per level: a few thousand ``- `` would be a RecursionError.
    """
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise SpecError(_where(file, event.start_mark),
                            "YAML anchors ('&name') and aliases ('*name') are not supported in a spec; "
                            "write the value out")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                raise SpecError(_where(file, event.start_mark),
                                f"values are nested more than {MAX_NESTING} levels deep; a spec needs far fewer")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _loc(node: yaml.Node, file: str, path: JsonPath) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1, path)


def _convert(node: yaml.Node, path: JsonPath, file: str, locations: dict[JsonPath, Location]) -> Any:
    loc = _loc(node, file, path)
    locations[path] = loc
    if isinstance(node, yaml.MappingNode):
        return _convert_mapping(node, path, file, locations)
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), file, locations) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    return _convert_scalar(node, loc)


def _convert_mapping(node: yaml.MappingNode, path: JsonPath, file: str,
                     locations: dict[JsonPath, Location]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    seen: dict[str, Location] = {}
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:merge":
            raise SpecError(_loc(key_node, file, path), "YAML merge keys ('<<') are not supported in a spec")
        key_loc = _loc(key_node, file, path)
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
            shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a collection"
            raise SpecError(key_loc, f"keys must be strings, found {shown!r}; quote it")
        key = str(key_node.value)
        if key in seen:
            first = seen[key]
            raise SpecError(key_loc, f"duplicate key {key!r} (first at line {first.line}, again at line "
                                     f"{key_loc.line}); keep one")
        seen[key] = key_loc
        out[key] = _convert(value_node, (*path, key), file, locations)
        locations[(*path, key)] = Location(file, key_loc.line, key_loc.column, (*path, key))  # point at the key
    return out


def _convert_scalar(node: yaml.ScalarNode, loc: Location) -> Any:
    value: str = node.value
    if node.style or node.tag == "tag:yaml.org,2002:str":  # quoted, block or explicitly a string
        return value
    tag = node.tag
    if tag == "tag:yaml.org,2002:null":
        return None
    # Values are never echoed: a misplaced password must not end up in an error message.
    if tag == "tag:yaml.org,2002:bool":
        if value in ("true", "false"):
            return value == "true"
        raise SpecError(loc, "this unquoted value is a boolean in YAML 1.1 (like yes/no/on/off); "
                             "write true or false, or quote it if you mean the text")
    if tag == "tag:yaml.org,2002:int":
        if _PLAIN_INT.match(value):
            return int(value)
        raise SpecError(loc, "this unquoted value is read as a number in YAML 1.1 (octal, hex, sexagesimal or "
                             "with '_'); quote it if you mean the text")
    if tag == "tag:yaml.org,2002:float":
        raise SpecError(loc, "this unquoted value is read as a decimal number; quote it if you mean the text")
    if tag == "tag:yaml.org,2002:timestamp":
        raise SpecError(loc, "this unquoted value is read as a date in YAML; quote it")
    return value


def read_spec_text(path: Path) -> str:
    from kstool.engine.fsutil import NotRegularFileError, read_regular_file  # noqa: PLC0415

    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise SpecError(str(path), f"spec is larger than {MAX_SPEC_BYTES // 1024} KiB; is this the right file?")
        raw = read_regular_file(path, MAX_SPEC_BYTES, "the spec")
    except NotRegularFileError as e:
        raise SpecError(str(path), str(e)) from None
    except FileNotFoundError:
        raise KstoolError(f"{path}: spec file not found") from None
    except IsADirectoryError:
        raise KstoolError(f"{path}: is a directory; give the spec file (e.g. {path}/kstool.yaml)") from None
    except OSError as e:
        raise KstoolError(f"{path}: cannot read spec: {e.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(str(path), f"not UTF-8 text (byte {e.start}); save the spec as UTF-8") from None
