"""Every use of cryptography beyond its stable public API, in one place.

cryptography keeps some things private or "decrepit"; kstool needs a few of them:

- ``hazmat.decrepit``: TripleDES (JCEKS keys, legacy PKCS12) and RC2 (old OpenSSL PKCS12 exports). Public, but
  on a path cryptography may drop; RC2 is missing from some builds, and 40-bit keys are outside its sizes.
- ``x509.name._ASN1Type`` and ``NameAttribute(_type=, _validate=)``: a distinguished name with the exact ASN.1
  string type keytool writes (PrintableString vs UTF8String) and values keytool accepts that cryptography would
  refuse (``C=LKX``); ``NameAttribute._type`` to show a value's string type as keytool does.
- an error's text: cryptography before 46 reports a certificate key of an unknown algorithm as
  ``ValueError("Unknown key type: OID")`` instead of ``UnsupportedAlgorithm``.

``tests/unit/test_crypto_adapter.py`` calls each of these against the installed cryptography, so an upgrade that
breaks one fails there, loudly, with this module's name, not deep in an encoder.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm


def decrepit_triple_des(key: bytes) -> BlockCipherAlgorithm:
    """3DES (``cryptography.hazmat.decrepit.ciphers.algorithms.TripleDES``) keyed by ``key``."""
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES  # noqa: PLC0415

    return TripleDES(key)


def decrepit_rc2(key: bytes) -> BlockCipherAlgorithm | None:
    """RC2 keyed by ``key``, or None when this cryptography has no RC2 or not for this key size (40-bit)."""
    from cryptography.hazmat.decrepit.ciphers import algorithms  # noqa: PLC0415

    rc2 = getattr(algorithms, "RC2", None)
    if rc2 is None or len(key) * 8 not in rc2.key_sizes:
        return None
    cipher: BlockCipherAlgorithm = rc2(key)
    return cipher


def name_attribute(oid: str, value: str, tag: int) -> x509.NameAttribute[str]:
    """A NameAttribute whose value has ASN.1 universal string type ``tag``, unvalidated (keytool's rules apply)."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.x509.name import _ASN1Type  # noqa: PLC0415

    # _validate=False: keytool accepts e.g. C=LKX or an empty C, which cryptography would refuse.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return x509.NameAttribute(x509.ObjectIdentifier(oid), value, _type=_ASN1Type(tag), _validate=False)


def string_tag(attribute: x509.NameAttribute[str | bytes]) -> int:
    """The ASN.1 universal tag of an attribute value's string type (12 UTF8String, 19 PrintableString, ...)."""
    tag: int = attribute._type.value
    return tag


def is_unknown_key_type(error: Exception) -> bool:
    """Does ``error`` say that a certificate's key algorithm is unknown? (``UnsupportedAlgorithm`` from
    cryptography 46 on; a ``ValueError`` with this text before.)"""
    from cryptography.exceptions import UnsupportedAlgorithm  # noqa: PLC0415

    return isinstance(error, UnsupportedAlgorithm) or (
        isinstance(error, ValueError) and str(error).startswith("Unknown key type"))
