"""Skip a JCEKS secret-key entry: one Java serialization stream, measured, never deserialized.

A JCEKS secret-key entry (``keytool -genseckey``, Hadoop credential stores) is written with a fresh
``ObjectOutputStream``: the stream header, then a ``SealedObjectForKeyProtector`` (a ``javax.crypto.
SealedObject``: byte arrays and strings). JCEKS stores no length for it, so reading past it means walking
the serialization grammar (Java Object Serialization Specification, chapter 6). This walker accepts only
the subset such an object uses -- class descriptors of plain Serializable classes, strings, primitive
arrays, nulls and back-references -- and no object is ever created: it only finds where the stream ends.
Everything it reads is bounded by the data, and nesting by ``_MAX_DEPTH``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from kstool.errors import FormatError

_MAGIC = b"\xac\xed\x00\x05"
_TC_NULL, _TC_REFERENCE, _TC_CLASSDESC, _TC_OBJECT = 0x70, 0x71, 0x72, 0x73
_TC_STRING, _TC_ARRAY, _TC_ENDBLOCKDATA, _TC_LONGSTRING = 0x74, 0x75, 0x78, 0x7C
_SC_WRITE_METHOD, _SC_SERIALIZABLE, _SC_EXTERNALIZABLE = 0x01, 0x02, 0x04
_BASE_HANDLE = 0x7E0000
_PRIMITIVE_SIZES = {"B": 1, "C": 2, "D": 8, "F": 4, "I": 4, "J": 8, "S": 2, "Z": 1}
_MAX_DEPTH = 8


@dataclass(slots=True)
class _ClassDesc:
    name: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # (type code, name)
    parent: _ClassDesc | None = None


class _Walker:
    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos
        self.handles: list[object] = []

    def fail(self, problem: str) -> FormatError:
        return FormatError(f"secret-key entry: {problem} at offset {self.pos}")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail("truncated serialized object")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def byte(self) -> int:
        return self.take(1)[0]

    def utf(self, long: bool = False) -> str:
        size = struct.unpack(">Q" if long else ">H", self.take(8 if long else 2))[0]
        return self.take(size).decode("utf-8", "replace")  # only for class and field names: never shown raw

    def handle(self) -> object:
        index = struct.unpack(">i", self.take(4))[0] - _BASE_HANDLE
        if not 0 <= index < len(self.handles):
            raise self.fail("bad back-reference")
        return self.handles[index]

    def content(self, depth: int) -> object:
        if depth > _MAX_DEPTH:
            raise self.fail("objects nested too deeply")
        tag = self.byte()
        if tag == _TC_NULL:
            return None
        if tag == _TC_REFERENCE:
            return self.handle()
        if tag in (_TC_STRING, _TC_LONGSTRING):
            text = self.utf(long=tag == _TC_LONGSTRING)
            self.handles.append(text)
            return text
        if tag == _TC_CLASSDESC:
            return self.new_class_desc(depth)
        if tag == _TC_OBJECT:
            return self.new_object(depth)
        if tag == _TC_ARRAY:
            return self.new_array(depth)
        raise self.fail(f"unexpected serialization tag 0x{tag:02x} (not a sealed key)")

    def class_desc(self, depth: int) -> _ClassDesc | None:
        desc = self.content(depth)
        if desc is not None and not isinstance(desc, _ClassDesc):
            raise self.fail("a class descriptor was expected")
        return desc

    def new_class_desc(self, depth: int) -> _ClassDesc:
        desc = _ClassDesc(self.utf())
        self.take(8)  # serialVersionUID
        self.handles.append(desc)
        flags = self.byte()
        if flags & _SC_EXTERNALIZABLE or flags & _SC_WRITE_METHOD or not flags & _SC_SERIALIZABLE:
            raise self.fail(f"class {desc.name!r} is not a plain Serializable class (not a sealed key)")
        for _ in range(struct.unpack(">H", self.take(2))[0]):
            code = chr(self.byte())
            name = self.utf()
            if code in "[L":
                if not isinstance(self.content(depth + 1), str):
                    raise self.fail("a field type name was expected")
            elif code not in _PRIMITIVE_SIZES:
                raise self.fail(f"unknown field type code {code!r}")
            desc.fields.append((code, name))
        if self.byte() != _TC_ENDBLOCKDATA:
            raise self.fail("class annotations are not expected in a sealed key")
        desc.parent = self.class_desc(depth + 1)
        return desc

    def new_object(self, depth: int) -> object:
        desc = self.class_desc(depth + 1)
        if desc is None:
            raise self.fail("an object without a class")
        marker = object()
        self.handles.append(marker)
        hierarchy: list[_ClassDesc] = []
        current: _ClassDesc | None = desc
        while current is not None:
            if len(hierarchy) > _MAX_DEPTH:
                raise self.fail("class hierarchy too deep")
            hierarchy.append(current)
            current = current.parent
        for cls in reversed(hierarchy):  # superclass data first
            for code, _ in cls.fields:
                if code in _PRIMITIVE_SIZES:
                    self.take(_PRIMITIVE_SIZES[code])
                else:
                    self.content(depth + 1)
        return marker

    def new_array(self, depth: int) -> object:
        desc = self.class_desc(depth + 1)
        if desc is None or len(desc.name) != 2 or desc.name[0] != "[" or desc.name[1] not in _PRIMITIVE_SIZES:
            raise self.fail("only arrays of primitives are expected in a sealed key")
        marker = object()
        self.handles.append(marker)
        size = struct.unpack(">i", self.take(4))[0]
        if size < 0:
            raise self.fail("negative array size")
        self.take(size * _PRIMITIVE_SIZES[desc.name[1]])
        return marker


def skip_sealed_object(data: bytes, pos: int) -> int:
    """The offset just past the serialized object that starts at ``pos``; FormatError if it is not one."""
    walker = _Walker(data, pos)
    if walker.take(len(_MAGIC)) != _MAGIC:
        raise walker.fail("not a Java serialization stream")
    if walker.byte() != _TC_OBJECT:
        raise walker.fail("a serialized object was expected")
    walker.new_object(0)
    return walker.pos
