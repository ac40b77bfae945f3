"""YAML → plain data with a source location for every value, refusing YAML 1.1's traps.

PyYAML implements YAML 1.1: unquoted ``NO`` is a boolean, ``0600`` an octal int, ``1:20`` is 80,
``2024-01-01`` a date, and duplicate keys silently keep the last. A spec is security configuration,
so each of these is an error that points at the value and says "quote it". Anchors and aliases are
refused too (no billion-laughs expansion), as are several documents and non-string keys.
"""

from __future__ import annotations

import contextlib
import gc
import re
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kstool.errors import KstoolError

# Hostile-input bounds: a spec is read whole, parsed in one pass and refused at the first bound it crosses.
PLAIN_SPEC_BYTES = 1024 * 1024  # any spec up to this size
MAX_SPEC_BYTES = 16 * 1024 * 1024  # up to this when it is plainly a keystore list (10,000 keystores: ~2 MB)
MAX_LINE_CHARS = 4096  # above PLAIN_SPEC_BYTES: no longer line
MAX_BYTES_PER_ITEM = 4096  # above PLAIN_SPEC_BYTES: at least one keystore or entry per this many bytes
MAX_NODES = 2_000_000  # values (scalars and collections) in a spec; a keystore takes ~15
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


# Where each value of a loaded spec stands, as a compact tree parallel to the data (a dict of every path cost
# ~6 KB per keystore while loading): (mark of the node, marks of its children in order, the trees of its children
# that are collections by index, or None). A mapping's children are marked at their keys, a sequence's at the
# items; a mark is one int, line << 21 | column (1-based; a line of the largest spec is shorter than 2**21).
MarkTree = tuple[int, "array[int]", "dict[int, MarkTree] | None"]
_COLUMN_BITS = 21


def _mark(line: int, column: int) -> int:
    return line << _COLUMN_BITS | column


def _location(file: str, mark: int, path: JsonPath) -> Location:
    return Location(file, mark >> _COLUMN_BITS, mark & ((1 << _COLUMN_BITS) - 1), path)


@dataclass(frozen=True, slots=True)
class Document:
    data: Any
    marks: MarkTree
    file: str

    def at(self, path: JsonPath) -> Location:
        """The location of ``path`` or of its nearest located ancestor."""
        mark, marks, children = self.marks
        node = self.data
        depth = 0
        for part in path:
            if type(node) is dict and isinstance(part, str) and part in node:
                index = list(node).index(part)  # the marks follow the mapping's order (keys are unique)
            elif type(node) is list and type(part) is int and 0 <= part < len(node):
                index = part
            else:
                break
            mark, depth, node = marks[index], depth + 1, node[part]
            sub = children.get(index) if children else None
            if sub is None:
                break
            _, marks, children = sub
        return _location(self.file, mark, path[:depth])

    @property
    def locations(self) -> dict[JsonPath, Location]:
        """Every located path (for tools and tests; ``at`` walks the tree without building this)."""
        out: dict[JsonPath, Location] = {(): _location(self.file, self.marks[0], ())}

        def walk(node: Any, tree: MarkTree, path: JsonPath) -> None:
            _, marks, children = tree
            for index, part in enumerate(node if type(node) is dict else range(len(node))):
                out[(*path, part)] = _location(self.file, marks[index], (*path, part))
                if children and index in children:
                    walk(node[part], children[index], (*path, part))

        if type(self.data) in (dict, list):
            walk(self.data, self.marks, ())
        return out


# libyaml's C parser when PyYAML has it (5x faster on large specs); same resolver, same marks
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_IMPLICIT: dict[str | None, list[tuple[str, re.Pattern[str]]]] = yaml.resolver.Resolver.yaml_implicit_resolvers

_PLAIN_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_STR, _MERGE = "tag:yaml.org,2002:str", "tag:yaml.org,2002:merge"


def load_yaml(text: str, file: str) -> Document:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SPEC_BYTES:
        raise SpecError(file, f"spec is larger than {MAX_SPEC_BYTES // 1024} KiB; is this the right file?")
    if size > PLAIN_SPEC_BYTES:
        _refuse_unplain(text, file)
    loader = _LOADER(text)
    try:
        documents, data, marks, problem = _load_events(loader, file)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = _where(file, mark)
        raise SpecError(where, f"not valid YAML: {e.problem}") from None
    except yaml.YAMLError as e:
        raise SpecError(file, f"not valid YAML: {e}") from None
    finally:
        loader.dispose()
    if documents == 0:
        raise SpecError(file, "the spec is empty; start with 'version: 1' and a 'keystores:' list")
    if documents > 1:
        raise SpecError(file, "the spec holds several YAML documents ('---'); keep one")
    if problem is not None:
        raise problem
    assert marks is not None
    doc = Document(data, marks, file)
    if size > PLAIN_SPEC_BYTES:
        _refuse_sparse(doc, size)
    return doc


def _refuse_unplain(text: str, file: str) -> None:
    """Above PLAIN_SPEC_BYTES a spec must plainly be a list of keystores: short lines only."""
    long_line = re.search(f"[^\\n]{{{MAX_LINE_CHARS + 1}}}", text)
    if long_line is not None:
        line = text.count("\n", 0, long_line.start()) + 1
        raise SpecError(file, f"spec is larger than {PLAIN_SPEC_BYTES // 1024} KiB and line {line} is longer than "
                              f"{MAX_LINE_CHARS} characters: not a list of keystores; is this the right file? (up "
                              f"to {MAX_SPEC_BYTES // (1024 * 1024)} MiB are read when every line is shorter)")


def _refuse_sparse(doc: Document, size: int) -> None:
    """Above PLAIN_SPEC_BYTES, at least one keystore or entry per MAX_BYTES_PER_ITEM bytes of text."""
    data = doc.data
    keystores = data.get("keystores") if isinstance(data, dict) else None
    items = 0
    if isinstance(keystores, list):
        items = len(keystores) + sum(len(k["entries"]) for k in keystores
                                     if isinstance(k, dict) and isinstance(k.get("entries"), list))
    if items * MAX_BYTES_PER_ITEM < size:
        raise SpecError(doc.file, f"spec is larger than {PLAIN_SPEC_BYTES // 1024} KiB and holds {items} keystores "
                                  f"and entries, fewer than one per {MAX_BYTES_PER_ITEM} bytes: not plainly a list "
                                  "of keystores; is this the right file?")


def _load_events(loader: Any, file: str) -> tuple[int, Any, MarkTree | None, SpecError | None]:  # noqa: PLR0915
    """One pass over libyaml's events: the data of the first document, its marks, and the first problem.

    Anchors, aliases, deep nesting and too many values are refused as they are met, before anything is
    expanded (the composers recurse once per level). A problem with a value (a YAML 1.1 trap, a duplicate
    key) is kept and the scan goes on, so YAML syntax errors and anchors anywhere are reported first, as
    a separate event pass used to.
    """
    documents = 0
    nodes = 0
    root: Any = None
    root_tree: MarkTree | None = None
    problem: SpecError | None = None
    # open collections: [container, marks, children, key waiting for its value (None: none), key mark, part]
    # where part is this collection's key or index in its parent (for error paths)
    stack: list[list[Any]] = []
    building = True  # off after the first problem, or in any document after the first

    def path_of(extra: tuple[str | int, ...] = ()) -> JsonPath:
        return (*(frame[5] for frame in stack[1:]), *extra)

    while True:
        event = loader.get_event()
        kind = type(event)
        if kind is yaml.ScalarEvent or kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            nodes += 1
            if nodes > MAX_NODES:
                raise SpecError(_where(file, event.start_mark),
                                f"the spec holds more than {MAX_NODES} values; a list of keystores needs far fewer")
            if event.anchor is not None:
                raise SpecError(_where(file, event.start_mark), _ANCHORS)
            start = event.start_mark
            mark = (start.line + 1) << _COLUMN_BITS | (start.column + 1)
            if kind is yaml.ScalarEvent:
                if not building:
                    documents += not stack
                    continue
                value: Any = event.value
                tag = event.tag
                if tag is None or tag == "!":
                    tag = _resolve(value, event.implicit)
                if stack and type(stack[-1][0]) is dict and stack[-1][3] is None:  # a mapping key
                    frame = stack[-1]
                    if tag == _MERGE:
                        problem, building = SpecError(_location(file, mark, path_of()), _MERGE_KEYS), False
                    elif tag != _STR:
                        problem, building = SpecError(_location(file, mark, path_of()),
                                                      f"keys must be strings, found {value!r}; quote it"), False
                    elif value in frame[0]:
                        first = frame[1][list(frame[0]).index(value)]
                        problem, building = SpecError(_location(file, mark, path_of()),
                                                      f"duplicate key {value!r} (first at line "
                                                      f"{first >> _COLUMN_BITS}, again at line "
                                                      f"{mark >> _COLUMN_BITS}); keep one"), False
                    else:
                        frame[3], frame[4] = sys.intern(value), mark  # the same keys in every keystore
                    continue
                if not (event.style or tag == _STR):
                    try:
                        value = _scalar(value, tag)
                    except _TrapError as trap:
                        where = _location(file, mark, path_of(() if not stack else (_next_part(stack[-1]),)))
                        problem, building = SpecError(where, str(trap)), False
                        documents += not stack
                        continue
                if not stack:
                    documents += 1
                    if documents == 1:
                        root, root_tree = value, (mark, array("q"), None)
                    building = False
                else:
                    _store(stack[-1], value, mark, None)
                continue
            # a collection starts
            depth = len(stack) + 1
            if depth > MAX_NESTING:
                raise SpecError(_where(file, start),
                                f"values are nested more than {MAX_NESTING} levels deep; a spec needs far fewer")
            if not building:
                stack.append([None, None, None, None, None, None])
                continue
            if stack and type(stack[-1][0]) is dict and stack[-1][3] is None:  # a collection as a key
                problem, building = SpecError(_location(file, mark, path_of()),
                                              "keys must be strings, found 'a collection'; quote it"), False
                stack.append([None, None, None, None, None, None])
                continue
            part = _next_part(stack[-1]) if stack else None
            stack.append([{} if kind is yaml.MappingStartEvent else [], array("q"), None, None, None, part, mark])
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            frame = stack.pop()
            if frame[0] is None or not building:
                documents += not stack
                building = False
                continue
            tree: MarkTree = (frame[6], frame[1], frame[2])
            if not stack:
                documents += 1
                if documents == 1:
                    root, root_tree = frame[0], tree
                building = False
            else:
                _store(stack[-1], frame[0], frame[6], tree)
        elif kind is yaml.AliasEvent:
            raise SpecError(_where(file, event.start_mark), _ANCHORS)
        elif kind is yaml.StreamEndEvent:
            return documents, root, root_tree, problem


def _next_part(frame: list[Any]) -> str | int:
    """The key or index the next value of an open collection gets."""
    return frame[3] if type(frame[0]) is dict else len(frame[0])


def _store(frame: list[Any], value: Any, mark: int, tree: MarkTree | None) -> None:
    container = frame[0]
    index = len(container)
    if type(container) is dict:
        container[frame[3]] = value
        frame[1].append(frame[4])  # a mapping's value is located at its key
        frame[3] = None
    else:
        container.append(value)
        frame[1].append(mark)
    if tree is not None:
        if frame[2] is None:
            frame[2] = {}
        frame[2][index] = tree


def _resolve(value: str, implicit: tuple[bool, bool]) -> str:
    """PyYAML's Resolver.resolve for a scalar (the tag its composer would give it)."""
    if implicit[0]:
        for tag, regexp in _IMPLICIT.get(value[:1], []) + _IMPLICIT.get(None, []):
            if regexp.match(value):
                return tag
    return _STR


_ANCHORS = "YAML anchors ('&name') and aliases ('*name') are not supported in a spec; write the value out"
_MERGE_KEYS = "YAML merge keys ('<<') are not supported in a spec"


class _TrapError(Exception):
    """A YAML 1.1 trap in a plain scalar (the message says which)."""


def _where(file: str, mark: Any) -> str:
    return file if mark is None else f"{file}:{mark.line + 1}:{mark.column + 1}"


def _scalar(value: str, tag: str) -> Any:
    """A plain, unquoted scalar's value by its resolved tag; _TrapError for YAML 1.1's traps."""
    if tag == "tag:yaml.org,2002:null":
        return None
    # Values are never echoed: a misplaced password must not end up in an error message.
    if tag == "tag:yaml.org,2002:bool":
        if value in ("true", "false"):
            return value == "true"
        raise _TrapError("this unquoted value is a boolean in YAML 1.1 (like yes/no/on/off); "
                    "write true or false, or quote it if you mean the text")
    if tag == "tag:yaml.org,2002:int":
        if _PLAIN_INT.match(value):
            return int(value)
        raise _TrapError("this unquoted value is read as a number in YAML 1.1 (octal, hex, sexagesimal or "
                    "with '_'); quote it if you mean the text")
    if tag == "tag:yaml.org,2002:float":
        raise _TrapError("this unquoted value is read as a decimal number; quote it if you mean the text")
    if tag == "tag:yaml.org,2002:timestamp":
        raise _TrapError("this unquoted value is read as a date in YAML; quote it")
    return value


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off for the block. Loading a 10,000-keystore spec allocates millions of
    objects, none in a cycle (reference counting frees them): the collector only rescanned them, again and
    again as they grew (a third of the load time at N=10,000)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
