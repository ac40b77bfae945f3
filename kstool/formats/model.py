"""Keystore contents as plain data: what every format encodes and decodes.

Encoders are bytes-in/bytes-out and know nothing of specs or plans. Aliases are stored as given; callers
lowercase them first (Java treats JKS and PKCS12 aliases case-insensitively).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

StoreType = Literal["jks", "jceks", "pkcs12"]


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


def detect_type(data: bytes) -> StoreType | None:
    """The store type from its bytes (never from a file name: JDK 9+ writes PKCS12 into ``x.jks``)."""
    if data[:4] == b"\xfe\xed\xfe\xed":
        return "jks"
    if data[:4] == b"\xce\xce\xce\xce":
        return "jceks"
    if data[:1] == b"\x30":
        return "pkcs12"
    return None
