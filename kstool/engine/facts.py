"""Public facts about certificates and entries: what plans, lock files and inspect show. Never secrets."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec

from kstool.crypto.certparse import CertificateParseError, parse_certificate, serial_number
from kstool.crypto.certs import display_key_params
from kstool.errors import FormatError
from kstool.formats.entries import Entry, KeyEntry, leaf_der


def key_text(algorithm: str, size: int | None) -> str:
    return f"{algorithm} {size}" if size else algorithm


def load_cert(der: bytes) -> x509.Certificate:
    """A parsed certificate whose names and key parse too (cryptography parses them lazily); the parse itself is
    remembered by ``parse_certificate``."""
    from kstool.crypto.adapter import is_unknown_key_type  # noqa: PLC0415
    from kstool.crypto.imports import plain_error  # noqa: PLC0415

    try:
        cert = parse_certificate(der)
        _ = cert.not_valid_after_utc
    except CertificateParseError as e:
        raise FormatError(f"malformed or unsupported certificate ({plain_error(e.cause)})") from None
    except (ValueError, KeyError, TypeError) as e:
        raise FormatError(f"malformed or unsupported certificate ({plain_error(e)})") from None
    try:
        cert.public_key()
    except (UnsupportedAlgorithm, ValueError, KeyError, TypeError) as e:
        if is_unknown_key_type(e):
            oid = cert.public_key_algorithm_oid.dotted_string
            name = _KEY_ALGORITHM_NAMES.get(oid, "an unknown algorithm")
            raise FormatError(f"the certificate's public key uses {name} (OID {oid}), which kstool does not "
                              "support (supported: RSA, EC on P-256/P-384/P-521, Ed25519)") from None
        raise FormatError(f"malformed certificate: its public key cannot be read ({plain_error(e)})") from None
    return cert


_KEY_ALGORITHM_NAMES = {
    "1.2.643.2.2.19": "GOST R 34.10-2001",
    "1.2.643.7.1.1.1.1": "GOST R 34.10-2012 (256 bits)",
    "1.2.643.7.1.1.1.2": "GOST R 34.10-2012 (512 bits)",
    "1.2.156.10197.1.301": "SM2",
}


def cert_facts(der: bytes) -> dict[str, str]:
    """Public facts about one certificate (a fresh dict each call; computed once per certificate)."""
    found = _FACTS.get(der)
    if found is None:
        found = _describe(der)
        _remember(der, found)
    return dict(found)


FACTS_REMEMBERED = 32768  # certificates whose facts are kept (~1.3 KiB each): a 10,000-certificate truststore fits
_FACTS: dict[bytes, dict[str, str]] = {}  # by DER, oldest first


def _remember(der: bytes, facts: dict[str, str]) -> None:
    if len(_FACTS) >= FACTS_REMEMBERED:
        del _FACTS[next(iter(_FACTS))]
    _FACTS[der] = facts


def _describe(der: bytes) -> dict[str, str]:
    from kstool.crypto.dn import format_dname  # noqa: PLC0415
    from kstool.crypto.imports import describe_certificate  # noqa: PLC0415

    cert = load_cert(der)
    key = cert.public_key()
    facts = describe_certificate(cert, names=format_dname, key=key)
    algorithm, size = display_key_params(key)
    facts["key"] = key_text(algorithm, size)
    return facts


def _describe_or_none(der: bytes) -> dict[str, str] | None:
    try:
        return _describe(der)
    except FormatError:  # reported where the certificate is used, by cert_facts
        return None


PARALLEL_CERTIFICATES = 256  # below this many, describing them in-process costs less than starting workers


def describe_all(ders: Iterable[bytes], jobs: int) -> None:
    """Compute the facts of many certificates at once, on ``jobs`` processes (each certificate costs ~0.1 ms, most
    of it cryptography building its names): ``cert_facts`` then finds them. Only with forked workers, which start
    in milliseconds; otherwise (and for a few certificates) each is described when first asked for."""
    from kstool.engine.parallel import cpu_count, pmap, workers_fork  # noqa: PLC0415

    missing = [der for der in dict.fromkeys(ders) if der not in _FACTS][:FACTS_REMEMBERED]
    if jobs <= 1 or cpu_count() <= 1 or len(missing) < PARALLEL_CERTIFICATES or not workers_fork():
        return
    for der, facts in zip(missing, pmap(_describe_or_none, missing, jobs=jobs, min_tasks=PARALLEL_CERTIFICATES),
                          strict=True):
        if facts is not None:
            _remember(der, facts)


def entry_facts(entry: Entry) -> dict[str, Any]:
    if isinstance(entry, KeyEntry) and not entry.chain_der:
        raise FormatError(f"key entry {entry.alias!r} holds a private key without its certificate, which Java "
                          "needs; export the store again with the certificate")
    leaf = leaf_der(entry)
    facts: dict[str, Any] = {"alias": entry.alias, "kind": "key" if isinstance(entry, KeyEntry) else "trusted"}
    facts.update(cert_facts(leaf))
    if isinstance(entry, KeyEntry):
        facts["chain_sha256"] = [hashlib.sha256(c).hexdigest() for c in entry.chain_der]
    return facts


# -- inspect: everything `keytool -list -v` shows, per certificate ------------------------------------------

_KEY_USAGES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
               "key_cert_sign", "crl_sign")


def certificate_details(der: bytes, now: datetime) -> dict[str, Any]:
    """Public facts about one certificate, as `keytool -list -v` prints them: names, validity with the days
    left (negative once expired), key algorithm with size or curve, fingerprints and the extensions."""
    from kstool.crypto.dn import format_dname  # noqa: PLC0415

    cert = load_cert(der)
    key = cert.public_key()
    algorithm, size = display_key_params(key)
    after = cert.not_valid_after_utc
    details: dict[str, Any] = {
        "subject": format_dname(cert.subject),
        "issuer": format_dname(cert.issuer),
        "serial": f"{serial_number(cert):x}",
        "version": cert.version.value + 1,
        "signature_algorithm": _oid_name(cert.signature_algorithm_oid),
        "not_before": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "days_left": (after - now).days,
        "key": {"algorithm": algorithm, "size": size,
                "curve": key.curve.name if isinstance(key, ec.EllipticCurvePublicKey) else None},
        "sha1": hashlib.sha1(der, usedforsecurity=False).hexdigest(),
        "sha256": hashlib.sha256(der).hexdigest(),
    }
    details.update(_extensions(cert))
    return details


def _oid_name(oid: x509.ObjectIdentifier) -> str:
    name = getattr(oid, "_name", "Unknown OID")
    return oid.dotted_string if name == "Unknown OID" else str(name)


def _extensions(cert: x509.Certificate) -> dict[str, Any]:
    out: dict[str, Any] = {"subject_alt_names": [], "key_usage": None, "extended_key_usage": None,
                           "basic_constraints": None, "subject_key_identifier": None,
                           "authority_key_identifier": None, "extensions": []}
    try:
        extensions = list(cert.extensions)
    except ValueError as e:
        from kstool.crypto.imports import plain_error  # noqa: PLC0415

        raise FormatError(f"malformed certificate extensions ({plain_error(e)})") from None
    for ext in extensions:
        value = ext.value
        out["extensions"].append({"name": _oid_name(ext.oid), "oid": ext.oid.dotted_string, "critical": ext.critical})
        if isinstance(value, x509.SubjectAlternativeName):
            out["subject_alt_names"] = [_general_name(n) for n in value]
        elif isinstance(value, x509.KeyUsage):
            out["key_usage"] = [u for u in _KEY_USAGES if getattr(value, u)] + _agreement_only(value)
        elif isinstance(value, x509.ExtendedKeyUsage):
            out["extended_key_usage"] = [_oid_name(u) for u in value]
        elif isinstance(value, x509.BasicConstraints):
            out["basic_constraints"] = {"ca": value.ca, "path_length": value.path_length}
        elif isinstance(value, x509.SubjectKeyIdentifier):
            out["subject_key_identifier"] = value.digest.hex()
        elif isinstance(value, x509.AuthorityKeyIdentifier) and value.key_identifier is not None:
            out["authority_key_identifier"] = value.key_identifier.hex()
    return out


def _agreement_only(usage: x509.KeyUsage) -> list[str]:
    if not usage.key_agreement:
        return []  # cryptography refuses to read encipher_only/decipher_only without key_agreement
    return [u for u in ("encipher_only", "decipher_only") if getattr(usage, u)]


def _general_name(name: x509.GeneralName) -> str:
    prefixes: dict[type, str] = {x509.DNSName: "dns", x509.IPAddress: "ip", x509.RFC822Name: "email",
                                 x509.UniformResourceIdentifier: "uri"}
    if type(name) in prefixes:
        return f"{prefixes[type(name)]}:{name.value}"
    if isinstance(name, x509.RegisteredID):
        return f"oid:{name.value.dotted_string}"
    if isinstance(name, x509.DirectoryName):
        from kstool.crypto.dn import format_dname  # noqa: PLC0415

        return f"dirname:{format_dname(name.value)}"
    if isinstance(name, x509.OtherName):
        return f"othername:{name.type_id.dotted_string}"
    return str(name)


def inspect_entry(entry: Entry, now: datetime) -> dict[str, Any]:
    """An entry for ``kstool inspect``: the leaf's facts as before, and every certificate of its chain."""
    facts = entry_facts(entry)
    chain = entry.chain_der if isinstance(entry, KeyEntry) else (entry.cert_der,)
    facts["chain"] = [certificate_details(der, now) for der in chain]
    return facts
