"""The small DER codec: OIDs (incl. large first arcs) and strict decoding."""

from __future__ import annotations

import pytest

from kstool.errors import FormatError
from kstool.formats import der


@pytest.mark.parametrize(("dotted", "hex_"), [
    ("1.2.840.113549.1.12.10.1.2", "060b2a864886f70d010c0a0102"),
    ("2.5.29.37.0", "0604551d2500"),
    ("2.999.1", "0603883701"),
    ("2.48", "06028100"),
])
def test_oid_round_trip(dotted: str, hex_: str) -> None:
    assert der.oid(dotted).hex() == hex_
    assert der.decode(bytes.fromhex(hex_)).as_oid() == dotted


@pytest.mark.parametrize("data", ["30", "3005020101", "30800000", "3001", "020100ff", "3085ffffffffff"])
def test_malformed_is_format_error(data: str) -> None:
    with pytest.raises(FormatError):
        der.decode(bytes.fromhex(data))


def test_integer_and_sequence() -> None:
    node = der.decode(der.seq(der.integer(0), der.integer(128), der.octet_string(b"x")))
    a, b, c = node.children()
    assert (a.as_int(), b.as_int(), c.value) == (0, 128, b"x")
