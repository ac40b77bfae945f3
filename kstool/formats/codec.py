"""One entry point over the three store formats, and the settings they share.

``Profile`` and the iteration constants are defined here once; the formats, the spec and the schema's bounds
use these (``MIN_ITERATIONS`` is the spec's floor; the formats accept any count from 1, as Java reads them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from kstool.formats.entries import Entry, StoreType, TrustedEntry

if TYPE_CHECKING:  # protection imports cryptography: the commands that never decode skip it
    from kstool.formats.protection import KdfCache

Profile = Literal["modern", "legacy"]  # PKCS12: AES-256/HMAC-SHA256 (JDK 17) or 3DES/HMAC-SHA1 (older Java)
MAX_ITERATIONS = 5_000_000  # what Java accepts when loading (PKCS12 and JCEKS); more is a denial of service
MIN_ITERATIONS = 1_000  # the least a spec may ask for
DEFAULT_PKCS12_ITERATIONS = 10_000  # JDK 17 keytool's PBE and MAC counts
DEFAULT_JCEKS_ITERATIONS = 200_000  # JDK 17 keytool's JCEKS key protection count


def encode(entries: Sequence[Entry], store_type: StoreType, password: str, *, key_password: str | None = None,
           profile: Profile = "modern", iterations: int | None = None, cache: KdfCache | None = None) -> bytes:
    """Deterministic bytes for ``entries`` (same inputs, same bytes).

    ``cache``: give the checking ``decode`` the same object, and it derives no key again.
    """
    if store_type == "pkcs12":
        from kstool.formats.pkcs12 import encode_pkcs12  # noqa: PLC0415

        return encode_pkcs12(entries, password, profile=profile, iterations=iterations or DEFAULT_PKCS12_ITERATIONS,
                             cache=cache)
    from kstool.formats.jks import encode_jceks, encode_jks  # noqa: PLC0415

    if store_type == "jceks":
        return encode_jceks(entries, password, key_password or password,
                            iterations=iterations or DEFAULT_JCEKS_ITERATIONS, cache=cache)
    return encode_jks(entries, password, key_password or password)


def decode(data: bytes, store_type: StoreType, password: str, *, key_password: str | None = None,
           alias: str | None = None, known_intact: bool = False, keys: bool = True,
           skip_secret_keys: bool = False, cache: KdfCache | None = None) -> tuple[Entry, ...]:
    """Entries of a store, after its integrity check; raises FormatError / WrongPasswordError.

    With ``alias``, only that entry (case-insensitively); JKS/JCEKS then decrypt no other key.
    ``known_intact``: the bytes are exactly what kstool wrote (checked by digest), so PKCS12 may skip its
    slow MAC and prove the password by decryption alone. ``keys=False`` (only for known-intact bytes whose
    keys are protected by the store password) leaves private keys encrypted: ``key_der`` is empty.
    ``skip_secret_keys``: JCEKS secret-key entries are left out instead of refused (for import sources).
    ``cache``: derivations to reuse (``KdfCache``; by default, a fresh one for this call).
    """
    if not keys and not known_intact:
        raise TypeError("keys=False is only for known-intact bytes")
    if store_type == "pkcs12":
        from kstool.formats.pkcs12 import decode_pkcs12  # noqa: PLC0415

        entries = decode_pkcs12(data, password, verify_mac=not known_intact, keys=keys, cache=cache)
        return entries if alias is None else tuple(e for e in entries if e.alias.lower() == alias.lower())
    from kstool.formats.jks import decode_jceks, decode_jks  # noqa: PLC0415

    if store_type == "jceks":
        return decode_jceks(data, password, key_password, alias=alias, keys=keys, skip_secret_keys=skip_secret_keys,
                            cache=cache)
    return decode_jks(data, password, key_password, alias=alias, keys=keys)


def prove_password(data: bytes, store_type: StoreType, password: str, *, cache: KdfCache | None = None) -> bool:
    """Prove the store password by the store's integrity check alone, decrypting nothing.

    False when the store has no integrity check (a PKCS12 store without a MAC): only decryption can tell.
    Raises WrongPasswordError / FormatError like ``decode``.
    """
    if store_type == "pkcs12":
        from kstool.formats.pkcs12 import prove_password_pkcs12  # noqa: PLC0415

        return prove_password_pkcs12(data, password, cache=cache)
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


def trusted_entries(data: bytes, store_type: StoreType, password: str | None) -> tuple[TrustedEntry, ...]:
    """The trusted-certificate entries of a store (a source of trust such as the JDK's cacerts), in file order;
    key entries are left out, their keys never decrypted. With ``password`` the store's integrity check runs
    first; without, JKS/JCEKS are read unchecked and PKCS12 only when nothing in it needs the password
    (``kstool.formats.pkcs12.trusted_entries_pkcs12``). Raises FormatError / WrongPasswordError."""
    if store_type == "pkcs12":
        from kstool.formats.pkcs12 import trusted_entries_pkcs12  # noqa: PLC0415

        return trusted_entries_pkcs12(data, password)
    from kstool.formats.jks import prove_store_password, trusted_entries_unchecked  # noqa: PLC0415

    if password is not None:
        prove_store_password(data, password, jceks=store_type == "jceks")
    return trusted_entries_unchecked(data, jceks=store_type == "jceks")
