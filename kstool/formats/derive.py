"""Deterministic salts, IVs and ids: the one place where the formats get their "random" bytes.

Every value is ``HMAC-SHA256(key, encode(domain, *parts))`` expanded to the length needed, where
``encode`` length-prefixes each part so no two inputs collide. Rules (see docs/reproducibility.md):

- Bytes that protect a private key (JKS/JCEKS key salts, PKCS12 shrouded-key salts and IVs) are keyed by
  the private key itself and take the password and alias as parts: unknown to an attacker, so a salt is no
  cheap password oracle, and two different keys never share a JKS keystream or a CBC IV.
- Bytes that protect public data (PKCS12 certificate-bag salts and IVs, the MAC salt) are keyed by
  ``secret_seed(keys)`` (a digest of all private keys in the store) and take the password as a part;
  a store with no private key (a truststore) uses the public key ``b"kstool-public"`` and no password,
  so its salts depend on public data only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

PUBLIC_KEY = b"kstool-public"


def _encode(domain: str, parts: Iterable[bytes]) -> bytes:
    out = bytearray()
    for part in (domain.encode("ascii"), *parts):
        out += len(part).to_bytes(4, "big") + part
    return bytes(out)


def derive(domain: str, key: bytes, *parts: bytes, length: int) -> bytes:
    """``length`` bytes from HMAC-SHA256 in counter mode over (domain, parts), keyed by ``key``."""
    message = _encode(domain, parts)
    out = b""
    counter = 0
    while len(out) < length:
        out += hmac.new(key, counter.to_bytes(4, "big") + message, hashlib.sha256).digest()
        counter += 1
    return out[:length]


def secret_seed(key_ders: Iterable[bytes]) -> bytes:
    """A key for deriving bytes that protect public data in a store holding these private keys.

    Returns ``PUBLIC_KEY`` when there are none (trust-only stores derive from public data only).
    """
    keys = list(key_ders)
    if not keys:
        return PUBLIC_KEY
    return hashlib.sha256(_encode("kstool/secret-seed", keys)).digest()
