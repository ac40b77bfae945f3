"""A minimal, strict DER encoder/decoder: just what the keystore formats need.

Decoding is bounds-checked everywhere and raises ``FormatError`` (never IndexError) on malformed input,
so corrupt files surface as kstool's own errors.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from kstool.errors import FormatError

# Universal tags
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
UTF8_STRING = 0x0C
BMP_STRING = 0x1E
SEQUENCE = 0x30
SET = 0x31


def context(n: int, *, constructed: bool = True) -> int:
    """The tag byte of ``[n]`` (context-specific)."""
    return 0x80 | (0x20 if constructed else 0) | n


# -- encoding ---------------------------------------------------------------------------------------------

def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _length(len(value)) + value


def seq(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def set_of(*items: bytes) -> bytes:
    """A DER SET OF: elements sorted by their encodings, as DER requires."""
    return tlv(SET, b"".join(sorted(items)))


def integer(n: int) -> bytes:
    if n < 0:
        raise TypeError("negative INTEGERs are not needed here")
    body = n.to_bytes(n.bit_length() // 8 + 1, "big")  # leading 0x00 keeps the sign bit clear
    return tlv(INTEGER, body)


def octet_string(data: bytes) -> bytes:
    return tlv(OCTET_STRING, data)


def null() -> bytes:
    return b"\x05\x00"


def bmp_string(text: str) -> bytes:
    return tlv(BMP_STRING, text.encode("utf-16-be"))


@lru_cache(maxsize=256)  # a few dozen OIDs, encoded thousands of times
def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40):
        raise TypeError(f"bad OID {dotted!r}")
    # the first two arcs share one base-128 number (X.690 8.19.4), like every later arc
    return tlv(OID, b"".join(_base128(arc) for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]))


def _base128(value: int) -> bytes:
    chunk = [value & 0x7F]
    value >>= 7
    while value:
        chunk.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(chunk))


def explicit(n: int, value: bytes) -> bytes:
    return tlv(context(n), value)


# -- decoding ---------------------------------------------------------------------------------------------

class Node(NamedTuple):  # a NamedTuple: immutable, and built in half the time of a frozen dataclass (hot path)
    tag: int
    value: bytes  # content octets
    raw: bytes  # the whole TLV

    def children(self) -> list[Node]:
        return decode_all(self.value)

    def expect(self, tag: int, what: str) -> Node:
        if self.tag != tag:
            raise FormatError(f"malformed {what}: expected tag 0x{tag:02x}, found 0x{self.tag:02x}")
        return self

    def as_int(self) -> int:
        self.expect(INTEGER, "INTEGER")
        if not self.value:
            raise FormatError("malformed INTEGER: empty")
        return int.from_bytes(self.value, "big", signed=True)

    def as_oid(self) -> str:
        self.expect(OID, "OBJECT IDENTIFIER")
        return decode_oid(self.value)


@lru_cache(maxsize=256)  # likewise decoded (malformed ones raise, and are not cached)
def decode_oid(body: bytes) -> str:
    if not body:
        raise FormatError("malformed OBJECT IDENTIFIER: empty")
    arcs: list[int] = []
    value = 0
    for i, byte in enumerate(body):
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
        elif i == len(body) - 1:
            raise FormatError("malformed OBJECT IDENTIFIER: truncated")
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def decode_one(data: bytes, offset: int = 0) -> tuple[Node, int]:
    """Decode one TLV at ``offset``; returns the node and the offset after it."""
    end = len(data)
    if offset + 2 > end:
        raise FormatError("malformed DER: truncated")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise FormatError("malformed DER: multi-byte tags are not supported")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end:  # indefinite, or over 4 GiB
            raise FormatError("malformed DER: bad length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > end:
        raise FormatError("malformed DER: value runs past the end of the data")
    return Node(tag, data[pos:pos + length], data[offset:pos + length]), pos + length


def decode(data: bytes) -> Node:
    """Decode exactly one TLV that spans all of ``data``."""
    node, end = decode_one(data)
    if end != len(data):
        raise FormatError("malformed DER: trailing bytes")
    return node


def decode_all(data: bytes) -> list[Node]:
    nodes: list[Node] = []
    offset = 0
    while offset < len(data):
        node, offset = decode_one(data, offset)
        nodes.append(node)
    return nodes
