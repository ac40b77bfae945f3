"""What kstool refuses to put into a keystore unless an entry explicitly opts in (the flags are set on the entry,
its keystore or the spec; the nearest wins: kstool.spec.model).

- a leaf certificate outside its validity period (expired, or not yet valid): ``allow_expired: true``;
- weak crypto: RSA keys under 2048 bits, DSA keys, and SHA-1 or MD5 signatures on certificates that are
  not self-signed (a trust anchor's own signature is never checked by Java, so it does not matter):
  ``allow_weak: true``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, rsa

from kstool.errors import Collector, MaterialError

MIN_RSA_BITS = 2048
WEAK_HASHES = (hashes.SHA1, hashes.MD5)


def check_certificates(chain: Sequence[x509.Certificate], *, now: datetime, allow_expired: bool,
                       allow_weak: bool, what: str, wall: datetime | None = None) -> None:
    """``chain`` leaf first; ``what`` names the input for the message (e.g. the certificate file). ``now`` judges
    expiry; ``wall`` (default ``now``), the real time, judges "not yet valid" (an old SOURCE_DATE_EPOCH dates a
    build, not its certificates).

    Every refusal is reported, not only the first (several at once as ``MultiError``).
    """
    errors = Collector()
    if not allow_expired:
        errors.attempt(lambda: _check_dates(chain[0], now, wall or now, what))
    if not allow_weak:
        for cert in chain:
            errors.attempt(partial(_check_strength, cert, what))
    errors.raise_all()


def _check_dates(leaf: x509.Certificate, now: datetime, wall: datetime, what: str) -> None:
    if now > leaf.not_valid_after_utc:
        subject = leaf.subject.rfc4514_string()
        ago = (now - leaf.not_valid_after_utc).days
        raise MaterialError(f"{what}: the certificate {subject!r} expired on {leaf.not_valid_after_utc:%Y-%m-%d} "
                            f"({ago} day{'' if ago == 1 else 's'} ago); kstool cannot renew it: replace {what} with a "
                            "renewed certificate, or set allow_expired: true on the entry (or on its keystore, for all "
                            "its entries) to accept it")
    if wall < leaf.not_valid_before_utc:
        raise MaterialError(f"{what}: the certificate {leaf.subject.rfc4514_string()!r} is not valid before "
                            f"{leaf.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC; check the clock, or set "
                            "allow_expired: true on the entry (or on its keystore) to accept it")


def _check_strength(cert: x509.Certificate, what: str) -> None:
    key = cert.public_key()
    weak = None
    if isinstance(key, dsa.DSAPublicKey):
        weak = "has a DSA key, which Java and TLS 1.3 no longer use"
    elif isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        weak = f"has a {key.key_size}-bit RSA key (under {MIN_RSA_BITS})"
    else:
        try:
            digest = cert.signature_hash_algorithm
        except UnsupportedAlgorithm:  # a signature algorithm cryptography does not know is not judged here
            return
        if isinstance(digest, WEAK_HASHES) and cert.issuer != cert.subject:
            weak = f"is signed with {digest.name.upper()}, which is broken"
    if weak is not None:
        raise MaterialError(f"{what}: the certificate {cert.subject.rfc4514_string()!r} {weak}; replace it, or set "
                            "allow_weak: true on the entry (or on its keystore, for all its entries) to accept it")


def weaknesses(cert: x509.Certificate) -> list[str]:
    """What ``allow_weak`` would have to accept in this certificate, in words (empty: nothing)."""
    try:
        _check_strength(cert, "")
    except MaterialError as e:
        return [str(e).removeprefix(": ").split("; replace it")[0]]
    return []
