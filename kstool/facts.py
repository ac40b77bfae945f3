"""Public facts about certificates and entries: what plans, lock files and inspect show. Never secrets."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509 import InvalidVersion

from kstool.crypto.certparse import parse_der
from kstool.errors import FormatError
from kstool.formats.model import Entry, KeyEntry

PublicKey = CertificatePublicKeyTypes  # cryptography's own union: it grows with the library (ML-DSA, ...)


def key_params(key: PublicKey) -> tuple[str, int | None]:
    """("RSA", 2048), ("EC", 256), ("Ed25519", None)... for any key a certificate may carry."""
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        return ("RSA" if isinstance(key, rsa.RSAPublicKey) else "DSA"), key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    return type(key).__name__.removesuffix("PublicKey").removeprefix("_"), None


def key_text(algorithm: str, size: int | None) -> str:
    return f"{algorithm} {size}" if size else algorithm


@lru_cache(maxsize=4096)
def load_cert(der: bytes) -> x509.Certificate:
    """A parsed certificate whose names and key parse too (cryptography parses them lazily)."""
    try:
        cert = parse_der(der)
        _ = (cert.subject, cert.issuer, cert.public_key(), cert.not_valid_after_utc)
    except (ValueError, KeyError, TypeError, InvalidVersion, UnsupportedAlgorithm) as e:
        raise FormatError(f"malformed or unsupported certificate ({type(e).__name__})") from None
    return cert


def cert_facts(der: bytes) -> dict[str, str]:
    """Public facts about one certificate (a fresh dict each call; computed once per certificate)."""
    return dict(_cert_facts(der))


@lru_cache(maxsize=4096)
def _cert_facts(der: bytes) -> dict[str, str]:
    from kstool.crypto.dn import format_dname  # noqa: PLC0415
    from kstool.crypto.material import describe_certificate  # noqa: PLC0415

    cert = load_cert(der)
    facts = describe_certificate(cert)
    facts["subject"] = format_dname(cert.subject)
    facts["issuer"] = format_dname(cert.issuer)
    algorithm, size = key_params(cert.public_key())
    facts["key"] = key_text(algorithm, size)
    return facts


def entry_facts(entry: Entry) -> dict[str, Any]:
    if isinstance(entry, KeyEntry) and not entry.chain_der:
        raise FormatError(f"key entry {entry.alias!r} holds a private key without its certificate, which Java "
                          "needs; export the store again with the certificate")
    leaf = entry.chain_der[0] if isinstance(entry, KeyEntry) else entry.cert_der
    facts: dict[str, Any] = {"alias": entry.alias, "kind": "key" if isinstance(entry, KeyEntry) else "trusted"}
    facts.update(cert_facts(leaf))
    if isinstance(entry, KeyEntry):
        facts["chain_sha256"] = [hashlib.sha256(c).hexdigest() for c in entry.chain_der]
    return facts
