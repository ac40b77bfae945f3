"""RC2 decryption (RFC 2268) for old PKCS12 files: the RFC's vectors, cryptography's RC2 and OpenSSL agree."""

from __future__ import annotations

import os
import random
import subprocess

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import RC2
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from kstool.formats.rc2 import PITABLE, decrypt_block, decrypt_cbc, expand_key

RFC_2268_VECTORS = [  # key, effective key bits, plaintext, ciphertext (section 5)
    ("0000000000000000", 63, "0000000000000000", "ebb773f993278eff"),
    ("ffffffffffffffff", 64, "ffffffffffffffff", "278b27e42e2f0d49"),
    ("3000000000000000", 64, "1000000000000001", "30649edf9be7d2c2"),
    ("88", 64, "0000000000000000", "61a8a244adacccf0"),
    ("88bca90e90875a", 64, "0000000000000000", "6ccf4308974c267f"),
    ("88bca90e90875a7f0f79c384627bafb2", 64, "0000000000000000", "1a807d272bbe5db1"),
    ("88bca90e90875a7f0f79c384627bafb2", 128, "0000000000000000", "2269552ab0f85ca6"),
    ("88bca90e90875a7f0f79c384627bafb216f80a6f85920584c42fceb0be255daf1e", 129, "0000000000000000",
     "5b78d3a43dfff1f1"),
]


def test_pitable_is_a_permutation() -> None:
    assert sorted(PITABLE) == list(range(256))


@pytest.mark.parametrize(("key", "bits", "plain", "cipher"), RFC_2268_VECTORS)
def test_rfc_2268_vectors(key: str, bits: int, plain: str, cipher: str) -> None:
    assert decrypt_block(expand_key(bytes.fromhex(key), bits), bytes.fromhex(cipher)) == bytes.fromhex(plain)


def test_agrees_with_cryptography_for_128_bit_keys() -> None:
    rng = random.Random(2268)
    for _ in range(20):
        key, iv = rng.randbytes(16), rng.randbytes(8)
        plain = rng.randbytes(8 * rng.randint(1, 20))
        encryptor = Cipher(RC2(key), modes.CBC(iv)).encryptor()
        assert decrypt_cbc(key, 128, iv, encryptor.update(plain) + encryptor.finalize()) == plain


def test_agrees_with_openssl_rc2_40_cbc() -> None:
    key, iv, plain = os.urandom(5), os.urandom(8), os.urandom(64)
    result = subprocess.run(["openssl", "enc", "-rc2-40-cbc", "-provider", "legacy", "-provider", "default",
                             "-K", key.hex(), "-iv", iv.hex(), "-nopad"], input=plain, capture_output=True,
                            check=True)
    assert decrypt_cbc(key, 40, iv, result.stdout) == plain


@pytest.mark.parametrize(("key", "bits", "iv", "data"), [
    (b"", 40, bytes(8), bytes(8)), (bytes(129), 40, bytes(8), bytes(8)), (bytes(5), 0, bytes(8), bytes(8)),
    (bytes(5), 40, bytes(7), bytes(8)), (bytes(5), 40, bytes(8), bytes(9)),
])
def test_bad_parameters_are_refused(key: bytes, bits: int, iv: bytes, data: bytes) -> None:
    with pytest.raises(ValueError, match="RC2"):
        decrypt_cbc(key, bits, iv, data)
