"""The libcrypto PKCS12 KDF is an optimisation only: same bytes as the pure-Python one, and kstool works without it."""

from __future__ import annotations

import hashlib

import pytest

import kstool.formats.native as native
import kstool.formats.pkcs12 as pkcs12
from kstool.formats.model import TrustedEntry


@pytest.mark.parametrize("hash_name", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize(("purpose", "iterations", "length"), [(1, 1, 24), (2, 2048, 8), (3, 10000, 32), (1, 7, 64)])
def test_native_equals_python(hash_name: str, purpose: int, iterations: int, length: int) -> None:
    fast = native.pkcs12_kdf()
    if fast is None:
        pytest.skip("no usable libcrypto on this machine")
    password = "päss-wörd".encode("utf-16-be") + b"\0\0"
    salt = hashlib.sha256(f"{hash_name}{purpose}".encode()).digest()[:20]
    assert fast(hash_name, password, salt, purpose, iterations, length) == pkcs12.python_pkcs12_kdf(
        hash_name, password, salt, purpose=purpose, iterations=iterations, length=length)


def test_encoding_without_libcrypto_gives_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from tests.e2e.test_reproducible import CERTS  # the shipped example CA

    root = x509.load_pem_x509_certificate((CERTS / "root.crt").read_bytes()).public_bytes(Encoding.DER)
    entries = [TrustedEntry("root", root, 0)]
    with_native = [pkcs12.encode_pkcs12(entries, "Password-1", profile=p) for p in ("modern", "legacy")]
    pkcs12.pkcs12_kdf.cache_clear()
    monkeypatch.setattr(native, "pkcs12_kdf", lambda: None)
    without = [pkcs12.encode_pkcs12(entries, "Password-1", profile=p) for p in ("modern", "legacy")]
    pkcs12.pkcs12_kdf.cache_clear()
    assert with_native == without
