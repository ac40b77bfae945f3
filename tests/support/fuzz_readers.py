"""Mutation fuzzing of the three keystore readers: shared material for tests/e2e/test_fuzz.py, and a CI harness.

Run ``python3 tests/support/fuzz_readers.py --seconds 20 [--seed N]``: a seeded, time-bounded loop mutates valid JKS,
JCEKS and PKCS12 stores (and their passwords) and calls ``kstool.formats.codec.decode``. Only
``kstool.errors.FormatError`` (WrongPasswordError is one) may escape; anything else, or a decode slower than
``SLOW_SECONDS``, is a crash: it is printed with the input as hex and the exit code is 1.

Mutations either hit the raw bytes (the integrity check then refuses almost everything) or are "resealed":
the JKS/JCEKS store hash or the PKCS12 MAC is recomputed after mutating what it covers, so the mutated
structure reaches the parsers and the key decryption behind the integrity check.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import hmac
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

if __package__ in (None, ""):  # run as a script: make ``tests`` and ``kstool`` importable from a clone
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kstool.errors import FormatError
from kstool.formats import der, protection
from kstool.formats import pkcs12 as p12
from kstool.formats.codec import decode, encode
from kstool.formats.entries import Entry, KeyEntry, StoreType, TrustedEntry

PASSWORD = "fuzz-pass-1"
ITERATIONS = 1234  # small (fast decodes) and unusual, so tests can find it among the DER INTEGERs
T0 = 1_700_000_000_000
SLOW_SECONDS = 2.0
NOT_BEFORE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
_DIGEST_LEN = 20

# -- material ---------------------------------------------------------------------------------------------


def _self_signed(key: ec.EllipticCurvePrivateKey, cn: str, serial: int) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(NOT_BEFORE)
            .not_valid_after(NOT_BEFORE + dt.timedelta(days=365))
            .sign(key, hashes.SHA256(), ecdsa_deterministic=True))
    return cert.public_bytes(serialization.Encoding.DER)


@functools.cache
def entries() -> tuple[Entry, ...]:
    """An EC P-256 key entry (self-signed) and a trusted certificate; fixed scalars, so fixed bytes."""
    key = ec.derive_private_key(0x1F2E3D4C5B6A79881726354453627180 | 1 << 200, ec.SECP256R1())
    other = ec.derive_private_key(0x0A1B2C3D4E5F60718293A4B5C6D7E8F9 | 1 << 201, ec.SECP256R1())
    key_der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return (KeyEntry("mykey", key_der, (_self_signed(key, "fuzz leaf", 0x51F0_0D01_0203_0405),), T0),
            TrustedEntry("peer-ca", _self_signed(other, "fuzz peer", 0x51F0_0D01_0203_0406), T0 + 1))


Target = Literal["jks", "jceks", "pkcs12-modern", "pkcs12-legacy", "pkcs12-plain"]
TARGETS: tuple[Target, ...] = ("jks", "jceks", "pkcs12-modern", "pkcs12-legacy", "pkcs12-plain")


def store_type(target: Target) -> StoreType:
    if target == "jks" or target == "jceks":
        return target
    return "pkcs12"


@functools.cache
def store(target: Target) -> bytes:
    """A valid store of ``entries()`` for ``target`` (pkcs12-plain: unencrypted bags, as OpenSSL -nodes -nomac)."""
    if target == "pkcs12-plain":
        return reseal_pkcs12(_plain_auth_safe(), PASSWORD)
    profile: Literal["modern", "legacy"] = "legacy" if target == "pkcs12-legacy" else "modern"
    return encode(entries(), store_type(target), PASSWORD, profile=profile, iterations=ITERATIONS)


def _bag(kind: str, value: bytes, *attributes: bytes) -> bytes:
    return der.seq(der.oid(kind), der.explicit(0, value), der.set_of(*attributes) if attributes else b"")


def _attr(oid: str, value: bytes) -> bytes:
    return der.seq(der.oid(oid), der.set_of(value))


def _plain_auth_safe() -> bytes:
    """Keys in a clear KeyBag and certificates in a clear Data safe: mutations reach the bag parsers."""
    key, trusted = entries()
    assert isinstance(key, KeyEntry) and isinstance(trusted, TrustedEntry)
    key_id = _attr(p12.LOCAL_KEY_ID, der.octet_string(b"Time %d" % key.timestamp_ms))

    def cert_bag(cert: bytes, *attributes: bytes) -> bytes:
        value = der.seq(der.oid(p12.X509_CERTIFICATE), der.explicit(0, der.octet_string(cert)))
        return _bag(p12.CERT_BAG, value, *attributes)

    bags = [_bag(p12.KEY_BAG, key.key_der, _attr(p12.FRIENDLY_NAME, der.bmp_string(key.alias)), key_id),
            cert_bag(key.chain_der[0], _attr(p12.FRIENDLY_NAME, der.bmp_string(key.alias)), key_id),
            cert_bag(trusted.cert_der, _attr(p12.FRIENDLY_NAME, der.bmp_string(trusted.alias)),
                     _attr(p12.JAVA_TRUSTED_USAGE, der.oid(p12.ANY_EXTENDED_KEY_USAGE)))]
    return der.seq(data_info(der.seq(*bags[:1])), data_info(der.seq(*bags[1:])))


def data_info(content: bytes) -> bytes:
    return der.seq(der.oid(p12.DATA), der.explicit(0, der.octet_string(content)))


# -- resealing: integrity checks recomputed over mutated content -------------------------------------------


def reseal_jks(data: bytes, password: str) -> bytes:
    """Replace the last 20 bytes with the store hash of everything before them."""
    body = data[:-_DIGEST_LEN] if len(data) > _DIGEST_LEN else data
    digest = hashlib.sha1(password.encode("utf-16-be") + b"Mighty Aphrodite" + body)  # SHA-1: fixed by the format
    return body + digest.digest()


def int_tlv(value: int) -> bytes:
    """A DER INTEGER of any sign (der.integer takes non-negative values only)."""
    return der.tlv(der.INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def reseal_pkcs12(auth_safe: bytes, password: str, *, mac_iterations: int = 1,
                  mac_digest: bytes | None = None) -> bytes:
    """A PFX around ``auth_safe`` (any bytes) with an HMAC-SHA256 MAC; ``mac_digest`` overrides the MAC."""
    salt = b"\x5a" * 20
    if mac_digest is None:
        bmp = password.encode("utf-16-be") + b"\x00\x00"
        mac_key = protection.pkcs12_kdf("sha256", bmp, salt, purpose=3, iterations=mac_iterations, length=32)
        mac_digest = hmac.new(mac_key, auth_safe, "sha256").digest()
    digest_info = der.seq(der.seq(der.oid("2.16.840.1.101.3.4.2.1"), der.null()), der.octet_string(mac_digest))
    mac = der.seq(digest_info, der.octet_string(salt), int_tlv(mac_iterations))
    return der.seq(der.integer(3), data_info(auth_safe), mac)


def auth_safe(target: Target) -> bytes:
    """The authenticated-safe bytes (what the MAC covers) of a PKCS12 target."""
    _, content, _ = der.decode(store(target)).children()
    return der.decode(content.children()[1].value).value


def mutable_part(target: Target) -> bytes:
    """What a resealed mutation changes: the JKS/JCEKS body (with its hash slot), or the PKCS12 auth safe."""
    return store(target) if target in ("jks", "jceks") else auth_safe(target)


def reseal(target: Target, mutated: bytes, password: str = PASSWORD) -> bytes:
    return reseal_jks(mutated, password) if target in ("jks", "jceks") else reseal_pkcs12(mutated, password)


# -- mutations --------------------------------------------------------------------------------------------

OpKind = Literal["flip", "insert", "delete", "truncate", "overwrite"]
OP_KINDS: tuple[OpKind, ...] = ("flip", "insert", "delete", "truncate", "overwrite")
# bytes that steer parsers into their edge cases: DER long-form lengths, sign bits, tags, Java magics
INTERESTING: tuple[bytes, ...] = (
    b"\x00", b"\xff", b"\x7f", b"\x80", b"\x81", b"\x82", b"\x84", b"\x85", b"\x30", b"\x31", b"\x04", b"\x24",
    b"\x02", b"\xa0", b"\x1f", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00", b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x02", b"\x84\xff\xff\xff\xff", b"\xfe\xed\xfe\xed", b"\xce\xce\xce\xce", b"\xed\xa0\x80",
)


@dataclass(frozen=True, slots=True)
class Op:
    kind: OpKind
    pos: int  # taken modulo the current length (+1 for insert)
    size: int  # flip: bit number; delete: byte count
    data: bytes  # insert / overwrite payload


def apply_op(data: bytes, op: Op) -> bytes:
    n = len(data)
    if op.kind == "insert":
        at = op.pos % (n + 1)
        return data[:at] + op.data + data[at:]
    if n == 0:
        return data
    at = op.pos % n
    if op.kind == "flip":
        return data[:at] + bytes([data[at] ^ 1 << op.size % 8]) + data[at + 1:]
    if op.kind == "delete":
        return data[:at] + data[at + max(1, op.size):]
    if op.kind == "truncate":
        return data[:at]
    return data[:at] + op.data + data[at + len(op.data):]  # overwrite (may extend the end)


def apply_ops(data: bytes, ops: Sequence[Op]) -> bytes:
    for op in ops:
        data = apply_op(data, op)
    return data


def random_op(rng: random.Random, length: int) -> Op:
    kind = rng.choice(OP_KINDS)
    payload = rng.choice(INTERESTING) if rng.random() < 0.5 else rng.randbytes(rng.randint(1, 8))
    return Op(kind, rng.randrange(max(1, length + 1)), rng.choice((1, 1, 2, 4, 8, rng.randint(1, 64))), payload)


# -- one decode, judged -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Crash:
    target: Target
    password: str
    data: bytes
    error: str

    def report(self) -> str:
        return (f"CRASH target={self.target} password={self.password!r} error={self.error}\n"
                f"input ({len(self.data)} bytes): {self.data.hex()}")


def judge(target: Target, data: bytes, password: str = PASSWORD) -> Crash | None:
    """Decode ``data``; a crash is any exception but FormatError (incl. BaseExceptions like a Rust panic)."""
    started = time.perf_counter()
    try:
        decode(data, store_type(target), password)
    except FormatError:
        pass
    except BaseException as error:  # judging every escape is the point
        if isinstance(error, KeyboardInterrupt):
            raise
        return Crash(target, password, data, f"{type(error).__module__}.{type(error).__qualname__}: {error}")
    elapsed = time.perf_counter() - started
    if elapsed > SLOW_SECONDS:
        return Crash(target, password, data, f"slow decode: {elapsed:.2f} s > {SLOW_SECONDS} s")
    return None


def _cases(rng: random.Random) -> Iterator[tuple[Target, bytes, str]]:
    while True:
        target = rng.choice(TARGETS)
        roll = rng.random()
        password = PASSWORD
        if roll < 0.1:  # a mutated password on an intact store
            ops = [random_op(rng, len(PASSWORD)) for _ in range(rng.randint(1, 3))]
            password = apply_ops(PASSWORD.encode("ascii"), ops).decode("latin-1")
            yield target, store(target), password
            continue
        if roll < 0.15:  # pure noise behind the right first byte(s)
            head = store(target)[:rng.choice((0, 1, 4, 12))]
            yield target, head + rng.randbytes(rng.randint(0, 300)), password
            continue
        resealed = roll < 0.65
        base = mutable_part(target) if resealed else store(target)
        data = apply_ops(base, [random_op(rng, len(base)) for _ in range(rng.randint(1, 4))])
        yield target, reseal(target, data) if resealed else data, password


def fuzz(seconds: float, seed: int, on_crash: Callable[[Crash], None], max_crashes: int = 5) -> tuple[int, int]:
    """Mutate and decode until ``seconds`` pass; returns (iterations, crashes)."""
    rng = random.Random(seed)  # reproducible fuzzing, not cryptography
    for target in TARGETS:
        store(target)  # build before the clock starts
    deadline = time.monotonic() + seconds
    iterations = crashes = 0
    for target, data, password in _cases(rng):
        if time.monotonic() >= deadline or crashes >= max_crashes:
            break
        iterations += 1
        crash = judge(target, data, password)
        if crash is not None:
            crashes += 1
            on_crash(crash)
    return iterations, crashes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to fuzz (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="PRNG seed: the same seed replays the same inputs")
    args = parser.parse_args(argv)

    def show(crash: Crash) -> None:
        print(crash.report(), flush=True)

    iterations, crashes = fuzz(args.seconds, args.seed, show)
    print(f"fuzz_readers: seed {args.seed}, {iterations} iterations, {crashes} crash(es)")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
