"""One entry point over the three store formats."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from kstool.formats.model import Entry, StoreType

Profile = Literal["modern", "legacy"]


def encode(entries: Sequence[Entry], store_type: StoreType, password: str, *, key_password: str | None = None,
           profile: Profile = "modern", iterations: int | None = None) -> bytes:
    """Deterministic bytes for ``entries`` (same inputs, same bytes)."""
    if store_type == "pkcs12":
        from kstool.formats.pkcs12 import encode_pkcs12  # noqa: PLC0415

        return encode_pkcs12(entries, password, profile=profile, iterations=iterations or 10_000)
    from kstool.formats.jks import encode_jceks, encode_jks  # noqa: PLC0415

    if store_type == "jceks":
        return encode_jceks(entries, password, key_password or password, iterations=iterations or 200_000)
    return encode_jks(entries, password, key_password or password)


def decode(data: bytes, store_type: StoreType, password: str, *, key_password: str | None = None,
           alias: str | None = None, known_intact: bool = False, keys: bool = True,
           skip_secret_keys: bool = False) -> tuple[Entry, ...]:
    """Entries of a store, after its integrity check; raises FormatError / WrongPasswordError.

    With ``alias``, only that entry (case-insensitively); JKS/JCEKS then decrypt no other key.
    ``known_intact``: the bytes are exactly what kstool wrote (checked by digest), so PKCS12 may skip its
    slow MAC and prove the password by decryption alone. ``keys=False`` (only for known-intact bytes whose
    keys are protected by the store password) leaves private keys encrypted: ``key_der`` is empty.
    ``skip_secret_keys``: JCEKS secret-key entries are left out instead of refused (for import sources).
    """
    if not keys and not known_intact:
        raise TypeError("keys=False is only for known-intact bytes")
    if store_type == "pkcs12":
        from kstool.formats.pkcs12 import decode_pkcs12  # noqa: PLC0415

        entries = decode_pkcs12(data, password, verify_mac=not known_intact, keys=keys)
        return entries if alias is None else tuple(e for e in entries if e.alias.lower() == alias.lower())
    from kstool.formats.jks import decode_jceks, decode_jks  # noqa: PLC0415

    if store_type == "jceks":
        return decode_jceks(data, password, key_password, alias=alias, keys=keys, skip_secret_keys=skip_secret_keys)
    return decode_jks(data, password, key_password, alias=alias, keys=keys)


def prove_password(data: bytes, store_type: StoreType, password: str) -> bool:
    """Prove the store password by the store's integrity check alone, decrypting nothing.

    False when the store has no integrity check (a PKCS12 store without a MAC): only decryption can tell.
    Raises WrongPasswordError / FormatError like ``decode``.
    """
    if store_type == "pkcs12":
        from kstool.formats.pkcs12 import prove_password_pkcs12  # noqa: PLC0415

        return prove_password_pkcs12(data, password)
    from kstool.formats.jks import prove_store_password  # noqa: PLC0415

    prove_store_password(data, password, jceks=store_type == "jceks")
    return True


def has_integrity_check(data: bytes, store_type: StoreType) -> bool:
    """Is the store protected by its password as a whole? JKS and JCEKS always are (the store hash); PKCS12 only
    when it has a MAC. Malformed: FormatError."""
    if store_type != "pkcs12":
        return True
    from kstool.formats.pkcs12 import has_mac_pkcs12  # noqa: PLC0415

    return has_mac_pkcs12(data)
