"""Keystore contents as plain data: what every format encodes and decodes.

Encoders are bytes-in/bytes-out and know nothing of specs or plans. Aliases are stored as given; callers
lowercase them first (Java treats JKS and PKCS12 aliases case-insensitively).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from kstool.errors import FormatError
from kstool.formats import der

StoreType = Literal["jks", "jceks", "pkcs12"]
_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """A private key with its certificate chain (leaf first)."""

    alias: str
    key_der: bytes  # PKCS#8 PrivateKeyInfo, unencrypted DER
    chain_der: tuple[bytes, ...]  # X.509 DER, leaf first
    timestamp_ms: int  # creation date as Java stores it (JKS/JCEKS); PKCS12 derives its localKeyId from it

    def __repr__(self) -> str:  # never show key bytes
        chain = f"{len(self.chain_der)} cert(s)"
        return f"KeyEntry(alias={self.alias!r}, chain={chain}, timestamp_ms={self.timestamp_ms})"


@dataclass(frozen=True, slots=True)
class TrustedEntry:
    """A trusted certificate (a truststore entry)."""

    alias: str
    cert_der: bytes
    timestamp_ms: int


Entry = KeyEntry | TrustedEntry


def leaf_der(entry: Entry) -> bytes:
    """The entry's own certificate: a key entry's leaf (IndexError for a key without its chain), or the trusted one."""
    return entry.chain_der[0] if isinstance(entry, KeyEntry) else entry.cert_der


def detect_type(data: bytes) -> StoreType | None:
    """The store type from its bytes (never from a file name: JDK 9+ writes PKCS12 into ``x.jks``)."""
    if data[:4] == b"\xfe\xed\xfe\xed":
        return "jks"
    if data[:4] == b"\xce\xce\xce\xce":
        return "jceks"
    if data[:1] == b"\x30":
        return "pkcs12"
    return None


class EntryError(FormatError, ValueError):
    """Entries no store can hold as given (a FormatError; a ValueError too, as the PKCS12 encoder raised before)."""


def check_entries(entries: Sequence[Entry], store_type: StoreType) -> None:
    """What every encoder refuses before writing a byte: not an entry (``TypeError``: our own misuse); two aliases
    that differ only by case (Java folds them); a key without its certificate (Java needs the leaf); a key that is
    not a PKCS#8 PrivateKeyInfo; a timestamp that is no Java long, or negative in PKCS12 (whose ``Time <ms>``
    localKeyId is read back as digits). The rest raise ``EntryError``.
    """
    seen: set[str] = set()
    for entry in entries:
        if not isinstance(entry, KeyEntry | TrustedEntry):
            raise TypeError(f"not a keystore entry: {type(entry).__name__}")
        if not _INT64[0] <= entry.timestamp_ms <= _INT64[1]:
            raise EntryError(f"entry {entry.alias!r}: timestamp {entry.timestamp_ms} does not fit a Java long")
        if store_type == "pkcs12" and entry.timestamp_ms < 0:
            raise EntryError(f"entry {entry.alias!r} has a negative timestamp")
        folded = entry.alias.lower()  # Java folds aliases: two that differ by case collide (one would be lost)
        if folded in seen:
            raise EntryError(f"duplicate alias {entry.alias!r} (aliases are case-insensitive in Java)")
        seen.add(folded)
        if isinstance(entry, KeyEntry):
            if not entry.chain_der:
                raise EntryError(f"key entry {entry.alias!r} has no certificate chain; Java needs the leaf")
            if store_type != "pkcs12" and not is_pkcs8(entry.key_der):
                raise EntryError(f"key entry {entry.alias!r}: the key is not a PKCS#8 PrivateKeyInfo")


def is_pkcs8(data: bytes) -> bool:
    """A PrivateKeyInfo shape: SEQUENCE { INTEGER 0|1, SEQUENCE algorithm, OCTET STRING, ... } and nothing else."""
    try:
        kids = der.decode(data).expect(der.SEQUENCE, "PrivateKeyInfo").children()
        if len(kids) < 3 or kids[0].as_int() not in (0, 1):
            return False
        kids[1].expect(der.SEQUENCE, "AlgorithmIdentifier")
        kids[2].expect(der.OCTET_STRING, "privateKey")
    except FormatError:
        return False
    return True
