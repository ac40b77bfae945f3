"""Subject alternative names in keytool's ``-ext SAN=`` forms, checked without importing cryptography.

``check_san`` is what ``kstool validate`` runs; ``to_general_names`` builds the cryptography objects when
a certificate is actually issued; ``san_key`` and ``same_san`` decide whether a certificate's SANs are the
ones the spec asks for.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from kstool.errors import MaterialError

if TYPE_CHECKING:
    from cryptography import x509

SanItem = tuple[str, str]  # (kind: dns | ip | email | uri | oid, value)

_DNS_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_SAN_FORMS = "dns:NAME, ip:ADDRESS, email:ADDRESS, uri:URI or oid:N.N.N"


def check_san(items: Sequence[str]) -> tuple[SanItem, ...]:
    """keytool ``-ext SAN=`` items, one per string: ``dns:x``, ``ip:1.2.3.4`` / IPv6, ``email:a@b``,
    ``uri:https://...``, ``oid:1.2.3``; the type is case-insensitive, the order is kept.

    Checks follow keytool's (DNS names as sun.security.x509.DNSName, a leading ``*.`` allowed; URIs need a
    scheme), but stricter where keytool would write something else than was meant: IP addresses must be
    literal (keytool resolves host names), and email addresses and URIs must be ASCII (keytool writes
    ``?`` for other characters in an IA5String). Raises MaterialError naming the item.
    """
    return tuple(_check(item) for item in items)


def _check(item: str) -> SanItem:
    kind, sep, value = item.partition(":")
    kind = kind.strip().lower()
    check = _CHECKS.get(kind) if sep else None
    if check is None:
        raise MaterialError(f"subject alternative name {item!r}: expected TYPE:VALUE, one of {_SAN_FORMS}")
    problem = check(value)
    if problem is not None:
        raise MaterialError(f"subject alternative name {item!r}: {problem}")
    return kind, value


def _dns(value: str) -> str | None:
    labels = value.split(".")
    if labels[0] == "*" and len(labels) > 1:
        labels = labels[1:]  # RFC 4592 wildcard, leftmost label only (as keytool allows)
    if not value or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        return ("a DNS name is dot-separated labels of ASCII letters, digits and hyphens, each starting "
                "with a letter or digit (a leading '*.' is allowed); use the punycode (xn--) form of "
                "international names")
    return None


def _ip(value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return "not an IPv4 or IPv6 address (write a literal address such as 10.0.0.1 or ::1)"
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return "an IPv6 scope (%...) cannot be put in a certificate; drop it"
    return None


def _email(value: str) -> str | None:
    local, at, domain = value.rpartition("@")
    if not (at and local and domain) or not value.isascii() or any(c.isspace() for c in value):
        return "an email address is ASCII local@domain without blanks"
    return None


def _uri(value: str) -> str | None:
    if not value.isascii() or not _URI_SCHEME.fullmatch(value):
        return "a URI needs a scheme (such as https:) and ASCII characters without blanks (percent-encode others)"
    return None


def _registered_id(value: str) -> str | None:
    if not _OID.fullmatch(value):
        return "an OID is dotted decimal, e.g. 1.2.3.4"
    arcs = [int(a) for a in value.split(".")]
    if arcs[0] < 2 and arcs[1] >= 40:  # X.660: arcs under 0 and 1 stop at 39
        return f"invalid OID (the second arc under {arcs[0]} must be below 40)"
    return None


_CHECKS: dict[str, Callable[[str], str | None]] = {
    "dns": _dns, "ip": _ip, "email": _email, "uri": _uri, "oid": _registered_id,
}


def san_key(item: SanItem) -> str:
    """The comparison form of one SAN: two items that mean the same name have the same key.

    - ``dns``: case-insensitive (RFC 4343): lowercased.
    - ``ip``: the address as an ``ipaddress`` object, in its compressed text form: ``0:0:0:0:0:0:0:1``,
      ``::1`` and ``::0001`` are one address. IPv4 and IPv4-mapped IPv6 (``::ffff:1.2.3.4``) stay different:
      they are different bytes in a certificate.
    - ``email``: the domain (after the last ``@``) is case-insensitive, the local part is not (RFC 5321 §2.4:
      only the receiving host may treat it so): ``Admin@Example.COM`` = ``Admin@example.com`` ≠ ``admin@...``.
    - ``uri`` and ``oid``: exact. A URI's case is kept as written and may matter to whoever reads it (paths,
      SPIFFE IDs), so a case-only change is a change.
    The type prefix is case-insensitive (``DNS:`` = ``dns:``); ``check_san`` already lowercased it.
    """
    kind, value = item
    if kind == "dns":
        return f"dns:{value.lower()}"
    if kind == "ip":
        try:
            return f"ip:{ipaddress.ip_address(value).compressed}"
        except ValueError:
            return f"ip:{value}"  # not an address (check_san refuses it): compared as written
    if kind == "email":
        local, at, domain = value.rpartition("@")
        return f"email:{local}{at}{domain.lower()}"
    return f"{kind}:{value}"


def same_san(a: Sequence[SanItem], b: Sequence[SanItem]) -> bool:
    """Do two SAN lists name the same things in the same order (``san_key`` of each item)?"""
    return [san_key(i) for i in a] == [san_key(i) for i in b]


def from_general_names(names: Sequence[x509.GeneralName]) -> tuple[SanItem, ...]:
    """A certificate's SANs as ``(kind, value)`` items; a kind kstool never writes becomes ``("other", repr)``."""
    from cryptography import x509  # noqa: PLC0415

    items: list[SanItem] = []
    for name in names:
        if isinstance(name, x509.DNSName | x509.RFC822Name | x509.UniformResourceIdentifier):
            kind = "dns" if isinstance(name, x509.DNSName) else "email" if isinstance(name, x509.RFC822Name) else "uri"
            items.append((kind, name.value))
        elif isinstance(name, x509.IPAddress):
            items.append(("ip", str(name.value)))
        elif isinstance(name, x509.RegisteredID):
            items.append(("oid", name.value.dotted_string))
        else:
            items.append(("other", repr(name)))
    return tuple(items)


def to_general_names(items: tuple[SanItem, ...]) -> list[x509.GeneralName]:
    return list(_general_names(items))


@lru_cache(maxsize=1024)
def _general_names(items: tuple[SanItem, ...]) -> tuple[x509.GeneralName, ...]:
    from cryptography import x509  # noqa: PLC0415

    build: dict[str, Callable[[str], x509.GeneralName]] = {
        "dns": x509.DNSName,
        "ip": lambda v: x509.IPAddress(ipaddress.ip_address(v)),
        "email": x509.RFC822Name,
        "uri": x509.UniformResourceIdentifier,
        "oid": lambda v: x509.RegisteredID(x509.ObjectIdentifier(v)),
    }
    return tuple(build[kind](value) for kind, value in items)
