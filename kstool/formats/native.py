"""The RFC 7292 PKCS12 key derivation from the system's libcrypto, when it has one.

cryptography exposes no PKCS12 KDF, and the pure-Python one (``pkcs12.pkcs12_kdf``) spends ~2.5 ms in a
loop of 10,000 hashes per PKCS12 MAC; OpenSSL's ``PKCS12_key_gen_uni`` does the same in ~0.7 ms. It is
used only after it reproduces the Python implementation on a known vector, and everything works without it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache

NativeKdf = Callable[[str, bytes, bytes, int, int, int], bytes]


@cache
def pkcs12_kdf() -> NativeKdf | None:
    """``f(hash_name, password_bmp, salt, purpose, iterations, length)``, or None without a usable libcrypto."""
    try:
        name = ctypes.util.find_library("crypto")
        if name is None:
            return None
        lib = ctypes.CDLL(name)
        get_digest = lib.EVP_get_digestbyname
        keygen = lib.PKCS12_key_gen_uni
    except (OSError, AttributeError):
        return None
    get_digest.restype = ctypes.c_void_p
    get_digest.argtypes = [ctypes.c_char_p]
    keygen.restype = ctypes.c_int
    keygen.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p]

    def derive(hash_name: str, password_bmp: bytes, salt: bytes, purpose: int, iterations: int,  # noqa: PLR0917
               length: int) -> bytes:
        md = get_digest(hash_name.upper().encode("ascii"))
        if not md:
            raise ValueError(f"libcrypto lacks {hash_name}")
        out = ctypes.create_string_buffer(length)
        if keygen(password_bmp, len(password_bmp), salt, len(salt), purpose, iterations, length, out, md) != 1:
            raise ValueError("PKCS12_key_gen_uni failed")
        return out.raw

    return derive if _agrees(derive) else None


def _agrees(derive: NativeKdf) -> bool:
    from kstool.formats.pkcs12 import python_pkcs12_kdf  # noqa: PLC0415

    password = "kstool-self-test".encode("utf-16-be") + b"\0\0"
    try:
        return all(
            derive(name, password, b"salt-1234", purpose, 3, length)
            == python_pkcs12_kdf(name, password, b"salt-1234", purpose=purpose, iterations=3, length=length)
            for name in ("sha1", "sha256") for purpose, length in ((1, 24), (2, 8), (3, 32))
        )
    except (ValueError, OSError):
        return False
