"""The RFC 7292 PKCS12 key derivation from the system's libcrypto, on Linux, when it has one.

cryptography exposes no PKCS12 KDF, and the pure-Python one (``protection.python_pkcs12_kdf``) spends ~2.5 ms in
a loop of 10,000 hashes per PKCS12 MAC; OpenSSL's ``PKCS12_key_gen_uni`` does the same in ~0.7 ms. It is an
optimisation only, and everything works without it:

- Linux only: elsewhere the library is not loaded at all (on macOS, loading the unversioned system libcrypto
  aborts the process, uncatchably);
- only a versioned soname, ``libcrypto.so.3`` then ``libcrypto.so.1.1`` (the ABI ``PKCS12_key_gen_uni`` has
  had since OpenSSL 1.1), never whatever ``libcrypto.so`` a development package links to;
- ``KSTOOL_NO_NATIVE=1`` in the environment turns it off;
- it is used only after it reproduces the Python implementation on known vectors.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable
from functools import cache

NativeKdf = Callable[[str, bytes, bytes, int, int, int], bytes]

SONAMES = ("libcrypto.so.3", "libcrypto.so.1.1")
OPT_OUT = "KSTOOL_NO_NATIVE"


def disabled() -> bool:
    """Is the native KDF turned off (``KSTOOL_NO_NATIVE=1``), or is this not Linux?"""
    return os.environ.get(OPT_OUT, "") not in ("", "0") or not sys.platform.startswith("linux")


def pkcs12_kdf() -> NativeKdf | None:
    """``f(hash_name, password_bmp, salt, purpose, iterations, length)``, or None without a usable libcrypto."""
    if disabled():
        return None
    return _load()


def load_uncached() -> NativeKdf | None:
    """The KDF of the first versioned libcrypto that loads, if it passes ``self_check``."""
    for soname in SONAMES:
        derive = _bind(soname)
        if derive is not None:
            return derive if self_check(derive) else None
    return None


_load = cache(load_uncached)  # the library and its self-check, once per process (no password involved)


def _bind(soname: str) -> NativeKdf | None:
    try:
        lib = ctypes.CDLL(soname)
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

    return derive


def self_check(derive: NativeKdf) -> bool:
    """Does ``derive`` reproduce the pure-Python KDF on known inputs (SHA-1 and SHA-256, every purpose)?"""
    from kstool.formats.protection import python_pkcs12_kdf  # noqa: PLC0415

    password = "kstool-self-test".encode("utf-16-be") + b"\0\0"
    try:
        return all(
            derive(name, password, b"salt-1234", purpose, 3, length)
            == python_pkcs12_kdf(name, password, b"salt-1234", purpose=purpose, iterations=3, length=length)
            for name in ("sha1", "sha256") for purpose, length in ((1, 24), (2, 8), (3, 32))
        )
    except (ValueError, OSError):
        return False
