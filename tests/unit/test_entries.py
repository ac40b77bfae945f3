"""One entry check for every store type (formats/entries.py): the same refusal, the same message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from kstool.errors import FormatError
from kstool.formats.codec import MAX_ITERATIONS, MIN_ITERATIONS, encode
from kstool.formats.entries import Entry, EntryError, KeyEntry, StoreType, TrustedEntry, check_entries, detect_type
from tests.e2e.test_reproducible import CERTS

ROOT = x509.load_pem_x509_certificate((CERTS / "root.crt").read_bytes()).public_bytes(Encoding.DER)
TYPES: list[StoreType] = ["jks", "jceks", "pkcs12"]

BAD: dict[str, list[Entry]] = {
    "duplicate alias 'A' (aliases are case-insensitive in Java)": [TrustedEntry("a", ROOT, 0),
                                                                   TrustedEntry("A", ROOT, 0)],
    "key entry 'k' has no certificate chain; Java needs the leaf": [KeyEntry("k", b"\x30\x00", (), 0)],
    "entry 'a': timestamp 9223372036854775808 does not fit a Java long": [TrustedEntry("a", ROOT, 2**63)],
}


@pytest.mark.parametrize("store_type", TYPES)
@pytest.mark.parametrize("message", sorted(BAD))
def test_every_encoder_refuses_alike(store_type: StoreType, message: str) -> None:
    with pytest.raises(EntryError) as info:
        encode(BAD[message], store_type, "Password-1", iterations=1000)
    assert str(info.value) == message
    assert isinstance(info.value, FormatError) and isinstance(info.value, ValueError)


def test_store_specific_rules() -> None:
    check_entries([TrustedEntry("a", ROOT, -1)], "jks")  # a Java long may be negative
    with pytest.raises(EntryError, match="negative timestamp"):  # PKCS12 reads "Time <ms>" back as digits
        check_entries([TrustedEntry("a", ROOT, -1)], "pkcs12")
    with pytest.raises(EntryError, match="not a PKCS#8 PrivateKeyInfo"):
        check_entries([KeyEntry("k", b"\x04\x00", (ROOT,), 0)], "jceks")
    with pytest.raises(TypeError):
        check_entries(["not an entry"], "jks")  # type: ignore[list-item]


def test_detect_type() -> None:
    assert [detect_type(b) for b in (b"\xfe\xed\xfe\xed", b"\xce\xce\xce\xce", b"\x30\x82", b"PK")] == [
        "jks", "jceks", "pkcs12", None]


def test_schema_bounds_are_the_codec_constants() -> None:
    schema = json.loads((Path(__file__).resolve().parents[2] / "kstool" / "kstool.schema.json").read_text())
    bounds = schema["$defs"]["keystore"]["properties"]["iterations"]
    assert (bounds["minimum"], bounds["maximum"]) == (MIN_ITERATIONS, MAX_ITERATIONS)
