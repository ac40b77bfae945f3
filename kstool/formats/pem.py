"""PEM for non-Java consumers (nginx, Envoy, HAProxy, Go, Python): private keys, certificates, chains, bundles.

Bytes in, bytes out, no knowledge of specs. An encrypted key is a PKCS#8 ``EncryptedPrivateKeyInfo`` (RFC 5958)
with PBES2: PBKDF2-HMAC-SHA256 and AES-256-CBC, as ``openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256``
writes it (and as the PKCS#12 "modern" profile protects its keys). Its salt and IV come from
``kstool.formats.derive``, keyed by the private key and taking the password as a part (like the PKCS#12 key bags):
the same key and password always give the same bytes, and the salt is no cheap password oracle.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from kstool.formats import der, protection
from kstool.formats.codec import DEFAULT_PKCS12_ITERATIONS, MAX_ITERATIONS
from kstool.formats.derive import derive

SALT_LEN = 16
MIN_ITERATIONS = 1000


def armor(label: str, data: bytes) -> bytes:
    """One PEM block (RFC 7468): base64 in lines of 64 characters, ``\\n`` line ends."""
    text = base64.b64encode(data).decode("ascii")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return ("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n").encode("ascii")


def certificates_pem(certs_der: Iterable[bytes]) -> bytes:
    """Certificates (DER) as concatenated ``CERTIFICATE`` blocks, in the order given."""
    return b"".join(armor("CERTIFICATE", cert) for cert in certs_der)


def private_key_pem(key_der: bytes) -> bytes:
    """An unencrypted PKCS#8 ``PRIVATE KEY`` block (``key_der``: PrivateKeyInfo DER)."""
    return armor("PRIVATE KEY", key_der)


def encrypted_private_key_der(key_der: bytes, password: str, *, iterations: int = DEFAULT_PKCS12_ITERATIONS,
                              cache: protection.KdfCache | None = None) -> bytes:
    """PKCS#8 EncryptedPrivateKeyInfo under PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC); deterministic."""
    if not password:
        raise ValueError("an encrypted private key needs a non-empty password")
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}")
    secret = password.encode("utf-8")
    salt = derive("kstool/pem/key-salt", key_der, secret, length=SALT_LEN)
    iv = derive("kstool/pem/key-iv", key_der, secret, salt, length=16)
    alg, ciphertext = protection.encrypt_pbes2_aes256(key_der, password, salt, iv, iterations, cache=cache)
    return der.seq(alg, der.octet_string(ciphertext))


def encrypted_private_key_pem(key_der: bytes, password: str, *, iterations: int = DEFAULT_PKCS12_ITERATIONS,
                              cache: protection.KdfCache | None = None) -> bytes:
    """An ``ENCRYPTED PRIVATE KEY`` block: what ``openssl pkey -passin`` and cryptography's
    ``load_pem_private_key(data, password)`` open."""
    return armor("ENCRYPTED PRIVATE KEY",
                 encrypted_private_key_der(key_der, password, iterations=iterations, cache=cache))
