"""The libcrypto PKCS12 KDF is an optimisation only: the same bytes as OpenSSL's own ``openssl kdf`` (an independent
judge, run as a separate program) and as the pure-Python KDF, Linux only, versioned sonames only, and kstool works
without it."""

from __future__ import annotations

import ctypes
import hashlib
import subprocess

import pytest

import kstool.formats.native as native
import kstool.formats.pkcs12 as pkcs12
from kstool.formats.entries import TrustedEntry
from kstool.formats.protection import python_pkcs12_kdf

CASES = [(h, p, i, n) for h in ("sha1", "sha256", "sha512") for p, i, n in ((1, 1, 24), (2, 2048, 8), (3, 10000, 32),
                                                                          (1, 7, 64))]
PASSWORD = "päss-wörd".encode("utf-16-be") + b"\0\0"


def _salt(hash_name: str, purpose: int) -> bytes:
    return hashlib.sha256(f"{hash_name}{purpose}".encode()).digest()[:20]


def _openssl_kdf(hash_name: str, password_bmp: bytes, salt: bytes, purpose: int, iterations: int,
                 length: int) -> bytes:
    out = subprocess.run(["openssl", "kdf", "-keylen", str(length), "-kdfopt", f"digest:{hash_name.upper()}",
                          "-kdfopt", f"hexpass:{password_bmp.hex()}", "-kdfopt", f"hexsalt:{salt.hex()}",
                          "-kdfopt", f"iter:{iterations}", "-kdfopt", f"id:{purpose}", "PKCS12KDF"],
                         capture_output=True, text=True, check=True, timeout=60)
    return bytes.fromhex(out.stdout.strip().replace(":", ""))


@pytest.fixture(scope="module")
def judged() -> dict[tuple[str, int, int, int], bytes]:
    """What the openssl program derives for every case (its own process: nothing of kstool's is in it)."""
    return {case: _openssl_kdf(case[0], PASSWORD, _salt(case[0], case[1]), *case[1:]) for case in CASES}


@pytest.mark.parametrize(("hash_name", "purpose", "iterations", "length"), CASES)
def test_python_kdf_equals_openssl(hash_name: str, purpose: int, iterations: int, length: int,
                                   judged: dict[tuple[str, int, int, int], bytes]) -> None:
    got = python_pkcs12_kdf(hash_name, PASSWORD, _salt(hash_name, purpose), purpose=purpose, iterations=iterations,
                            length=length)
    assert got == judged[hash_name, purpose, iterations, length]


@pytest.mark.parametrize(("hash_name", "purpose", "iterations", "length"), CASES)
def test_native_kdf_equals_openssl(hash_name: str, purpose: int, iterations: int, length: int,
                                   judged: dict[tuple[str, int, int, int], bytes],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.OPT_OUT, raising=False)
    fast = native.pkcs12_kdf()
    if fast is None:
        pytest.skip("no usable versioned libcrypto on this machine (the Python KDF is judged above)")
    assert fast(hash_name, PASSWORD, _salt(hash_name, purpose), purpose, iterations, length) == judged[
        hash_name, purpose, iterations, length]


def test_rfc_7292_vector() -> None:
    """A published vector (OpenSSL's test/recipes/30-test_evp_data/evpkdf_pkcs12.txt, first case: password
    "smeg", SHA1, ID 1, 1 iteration), so the Python KDF is not judged by one implementation only."""
    bmp = "smeg".encode("utf-16-be") + b"\0\0"
    salt = bytes.fromhex("0A58CF64530D823F")
    expected = bytes.fromhex("8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3")
    assert python_pkcs12_kdf("sha1", bmp, salt, purpose=1, iterations=1, length=24) == expected
    assert _openssl_kdf("sha1", bmp, salt, 1, 1, 24) == expected


def test_opt_out_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(native.OPT_OUT, "1")
    assert native.pkcs12_kdf() is None


def test_not_loaded_outside_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.OPT_OUT, raising=False)
    monkeypatch.setattr("kstool.formats.native.sys.platform", "darwin")
    assert native.pkcs12_kdf() is None


def test_only_versioned_sonames_are_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []

    def refuse(name: str, *_args: object, **_kwargs: object) -> ctypes.CDLL:
        loaded.append(name)
        raise OSError(name)

    monkeypatch.setattr("kstool.formats.native.ctypes.CDLL", refuse)
    assert native.load_uncached() is None
    assert loaded == ["libcrypto.so.3", "libcrypto.so.1.1"]


def test_self_check_refuses_a_kdf_that_disagrees() -> None:
    assert not native.self_check(lambda _h, _p, _s, _purpose, _i, length: bytes(length))
    assert native.self_check(lambda h, p, s, purpose, i, n: python_pkcs12_kdf(h, p, s, purpose=purpose,
                                                                              iterations=i, length=n))


def test_encoding_without_libcrypto_gives_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from tests.e2e.test_reproducible import CERTS  # the shipped example CA

    root = x509.load_pem_x509_certificate((CERTS / "root.crt").read_bytes()).public_bytes(Encoding.DER)
    entries = [TrustedEntry("root", root, 0)]
    monkeypatch.delenv(native.OPT_OUT, raising=False)
    with_native = [pkcs12.encode_pkcs12(entries, "Password-1", profile=p) for p in ("modern", "legacy")]
    monkeypatch.setenv(native.OPT_OUT, "1")
    without = [pkcs12.encode_pkcs12(entries, "Password-1", profile=p) for p in ("modern", "legacy")]
    assert with_native == without
