"""Aliases for certificates that arrive without one (a CA bundle, a folder of certificates), like the JDK's cacerts
aliases: readable, derived from the subject, and stable.

- ``alias_base``: the subject's common name (else its organisational unit, else its organisation) as a lowercase
  ASCII slug: accents folded (``Türktrust`` → ``turktrust``), every other run of characters outside ``a-z0-9``
  one ``-``, at most ``MAX_BASE`` characters. A subject with none of them, or whose slug is empty (a CN in a
  script without an ASCII transliteration), gets ``cert-`` and 16 hex digits of the certificate's SHA-256.
- ``derive_aliases``: a function of the *set* of certificates, never of their order: a wanted alias that two
  different certificates share is given to neither; each gets ``-`` and the first 8 hex digits of its SHA-256
  (then the whole fingerprint, in the adversarial case where even that collides).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping

from cryptography import x509
from cryptography.x509.oid import NameOID

MAX_BASE = 64
SHORT_SUFFIX = 8  # hex digits of the SHA-256 that tell colliding certificates apart
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """``text`` as a lowercase ASCII slug: accents folded, runs of other characters one '-', no '-' at the ends."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return _NOT_SLUG.sub("-", folded).strip("-")[:MAX_BASE].rstrip("-")


def fingerprint(cert_der: bytes) -> str:
    return hashlib.sha256(cert_der).hexdigest()


def alias_base(cert: x509.Certificate, cert_der: bytes) -> str:
    """The readable part of a certificate's alias (see the module docstring)."""
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.ORGANIZATION_NAME):
        # the most specific value first: Java shows the last RDN of the DER sequence first
        for attribute in reversed(cert.subject.get_attributes_for_oid(oid)):
            value = attribute.value if isinstance(attribute.value, str) else ""
            text = slug(value)
            if text:
                return text
    return f"cert-{fingerprint(cert_der)[:16]}"


def derive_aliases(wanted: Mapping[str, str]) -> dict[str, str]:
    """``wanted``: SHA-256 fingerprint (hex) → the alias it would like (prefix + base). Returns fingerprint →
    a unique alias. The result depends on the mapping's contents only, not on its order."""
    aliases = dict(wanted)
    for width in (SHORT_SUFFIX, 64):
        counts = Counter(aliases.values())
        colliding = {fp for fp, alias in aliases.items() if counts[alias] > 1}
        if not colliding:
            return aliases
        for fp in colliding:
            aliases[fp] = f"{wanted[fp]}-{fp[:width]}"
    counts = Counter(aliases.values())
    clashing = sorted(alias for alias, n in counts.items() if n > 1)
    if clashing:  # a wanted alias that is itself another certificate's full fallback: crafted input
        raise ValueError(f"cannot derive unique aliases: {', '.join(clashing)}")
    return aliases
