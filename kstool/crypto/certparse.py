"""Certificates as Java reads them: cryptography's parser, plus the rules of Java's own X.509 parser.

A certificate that ``sun.security.x509.X509CertImpl`` cannot parse makes Java refuse the *whole* keystore
that holds it (PKCS12 even reports a wrong password), so kstool refuses such a certificate up front,
whatever the entry's allow flags. ``java_refusal`` holds the rules, each measured with JDK 17 on the
cryptography-vectors corpus (``tests/e2e/test_real_inputs.py`` parses every certificate kstool accepts with
Java's CertificateFactory).

Certificates with serial number 0 (nine Mozilla roots) are valid for Java; cryptography warns about them
(RFC 5280 wants positive serials). ``parse_der`` and ``serial_number`` read them without that warning.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.utils import CryptographyDeprecationWarning

from kstool.errors import FormatError
from kstool.formats import der

_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_SERIAL_WARNING = r"Parsed a serial number which wasn't positive"
# Java's parser refuses the certificate, and KeyStore.load then refuses the whole store (PKCS12: "keystore
# password was incorrect"; Tomcat: "trustAnchors parameter must be non-empty")
_JAVA_REFUSES = ": Java refuses such a certificate and every keystore holding it ("


@contextmanager
def _serial_zero_allowed() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SERIAL_WARNING, category=CryptographyDeprecationWarning)
        yield


serial_zero_allowed = _serial_zero_allowed  # for callers that read a parsed certificate's extensions


def parse_der(data: bytes) -> x509.Certificate:
    """``x509.load_der_x509_certificate`` without the serial-number warning (ValueError when malformed)."""
    with _serial_zero_allowed():
        return x509.load_der_x509_certificate(data)


class CertificateParseError(ValueError):
    """cryptography cannot read a certificate: ``part`` says where ("der", "version" or "names"), ``cause`` is the
    library's exception (its text may be Rust debug output: ``imports.plain_error`` makes it readable)."""

    def __init__(self, part: str, cause: Exception) -> None:
        super().__init__(f"certificate {part}: {type(cause).__name__}")
        self.part, self.cause = part, cause


@lru_cache(maxsize=1024)
def parse_certificate(data: bytes) -> x509.Certificate:
    """The one certificate parser the others wrap: ``parse_der``, then the subject and issuer, which cryptography
    parses lazily (an unknown string tag raises KeyError there). Any failure is ``CertificateParseError``.

    The last certificates parsed are remembered (a certificate is immutable, so sharing one is safe): an input
    certificate is read, checked for Java and checked against the policy one after the other, on one parse. The
    memory stays bounded (~6 KiB per certificate)."""
    try:
        cert = parse_der(data)
    except x509.InvalidVersion as exc:  # not a ValueError
        raise CertificateParseError("version", exc) from None
    except (ValueError, KeyError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertificateParseError("der", exc) from None
    try:
        cert.subject, cert.issuer  # noqa: B018
    except (ValueError, KeyError) as exc:
        raise CertificateParseError("names", exc) from None
    return cert


def spki(public_key: PublicKeyTypes) -> bytes:
    """SubjectPublicKeyInfo DER. Re-encoding through cryptography normalises the point format, so compressed and
    uncompressed EC encodings of one key compare equal (Java re-encodes the same way)."""
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def cert_spki(cert: x509.Certificate) -> bytes | None:
    """``spki`` of the certificate's key; None for a key algorithm cryptography cannot read."""
    try:
        return spki(cert.public_key())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def serial_number(cert: x509.Certificate) -> int:
    """``cert.serial_number`` without the warning for serial 0 (valid for Java, kept by kstool)."""
    with _serial_zero_allowed():
        return cert.serial_number


def java_refusal(cert: x509.Certificate) -> str | None:
    """Why Java's X.509 parser refuses ``cert`` (a phrase for a message), or None when Java reads it."""
    try:
        reason = _structure_refusal(cert)
        if reason is None:
            reason = _empty_names(cert) or _bad_extensions(cert)
    except (FormatError, ValueError, IndexError):  # kstool's strict DER reader (or cryptography's lazy one) fails
        return "its encoding is malformed, so kstool cannot check what Java would make of it"
    return reason


def refusal_message(cert: x509.Certificate, reason: str) -> str:
    subject = cert.subject.rfc4514_string() or "(empty subject)"
    return (f"the certificate {subject!r} cannot go into a keystore: {reason} (no allow flag changes this); use "
            "a certificate that Java accepts")


def _algorithm_id(node: der.Node) -> tuple[str, bytes | None]:
    """(OID, parameters DER); an explicit NULL is no parameters, as Java's AlgorithmId reads it."""
    parts = node.expect(der.SEQUENCE, "AlgorithmIdentifier").children()
    params = parts[1].raw if len(parts) > 1 else None
    return parts[0].as_oid(), None if params == der.null() else params


def _structure_refusal(cert: x509.Certificate) -> str | None:
    """The rules read from the encoding itself, in one pass over it: the outer and inner signature algorithms
    agree, and an EC key names its curve."""
    tbs, outer_algorithm = der.decode(cert.public_bytes(Encoding.DER)).children()[:2]
    fields = tbs.children()
    if fields and fields[0].tag == der.context(0):  # [0] version is optional
        fields = fields[1:]
    if _algorithm_id(outer_algorithm) != _algorithm_id(fields[1]):
        return ("its outer signature algorithm differs from the one inside the signed part" + _JAVA_REFUSES
                + "'Signature algorithm mismatch')")
    oid, params = _algorithm_id(fields[5].children()[0])  # SubjectPublicKeyInfo's algorithm
    if oid == _EC_PUBLIC_KEY and (params is None or params[0] != der.OID):
        return ("its EC key has explicit curve parameters instead of a named curve" + _JAVA_REFUSES
                + "'Only named ECParameters supported')")
    return None


def _empty_names(cert: x509.Certificate) -> str | None:
    if not cert.issuer.rdns:
        return "its issuer name is empty" + _JAVA_REFUSES + "'Empty issuer DN not allowed')"
    if not cert.subject.rdns and not _has_extension(cert, x509.SubjectAlternativeName):
        return "its subject name is empty and it has no subject alternative name" + _JAVA_REFUSES + "'incomplete')"
    return None


def _has_extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> bool:
    try:
        cert.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return False
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return True  # cannot tell here; _bad_extensions judges the extensions
    return True


def _bad_extensions(cert: x509.Certificate) -> str | None:
    try:
        extensions = cert.extensions
    except x509.DuplicateExtension as e:
        return f"it holds the extension {e.oid.dotted_string} twice" + _JAVA_REFUSES + "'Duplicate extensions')"
    except x509.UnsupportedGeneralNameType:  # x400Address, ediPartyName: Java reads them, cryptography does not
        return None
    except ValueError:  # cryptography's text is its parser's debug output: name the problem instead
        return "one of its extensions is malformed, so kstool cannot check what Java would make of it"
    for ext in extensions:
        if isinstance(ext.value, x509.NameConstraints):
            return _name_constraints(ext.value)
    return None


def _name_constraints(value: x509.NameConstraints) -> str | None:
    for name in (*(value.permitted_subtrees or ()), *(value.excluded_subtrees or ())):
        if isinstance(name, x509.UniformResourceIdentifier) and _URI_SCHEME.match(name.value):
            return (f"its name constraint URI {name.value!r} includes a scheme (a URI constraint is a host or "
                    "domain)" + _JAVA_REFUSES + "'invalid URI name constraint')")
    return None

