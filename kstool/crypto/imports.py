"""Existing certificates and private keys, read from files and checked before they go into a keystore.

This is what ``openssl pkcs12 -export -in leaf.crt -inkey leaf.key -certfile chain.crt`` does, made strict:
every PEM block is counted by type (cryptography's loaders silently skip extra blocks or return the first
of several), every chain link is checked by name *and* signature, and every failure is a ``MaterialError``
whose message names the file as given and says what to do. Messages never contain passwords or key bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import (
    ec,
    ed25519,
    rsa,
)
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.utils import CryptographyDeprecationWarning

from kstool.crypto.certparse import (
    CertificateParseError,
    cert_spki,
    java_refusal,
    parse_certificate,
    refusal_message,
    serial_number,
    spki,
)
from kstool.crypto.certs import PrivateKey
from kstool.errors import FormatError, MaterialError
from kstool.formats import der

_Loader = Callable[[], PrivateKeyTypes]

SUPPORTED_KEY_TYPES = "RSA, EC P-256/384/521, Ed25519"
_SUPPORTED_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})

# "X509 CERTIFICATE" is the label of very old OpenSSL/SSLeay output; OpenSSL still reads it.
_CERT_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE"})
# OpenSSL's "TRUSTED CERTIFICATE" carries trust settings (e.g. "rejected for serverAuth") that a keystore
# cannot hold: accepting it would silently widen trust, so it is refused with the conversion command.
_TRUSTED_CERT_LABEL = "TRUSTED CERTIFICATE"
_KEY_LABELS = frozenset({"PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"})
# Private keys kstool cannot use, recognised by label so the message can name the type.
_UNSUPPORTED_KEY_LABELS = {
    "DSA PRIVATE KEY": "DSA",
    "OPENSSH PRIVATE KEY": "OpenSSH-format",
    "ANY PRIVATE KEY": "unknown",
}
# Blocks that may travel with a key ("openssl ecparam -genkey" writes EC PARAMETERS first) and are harmless.
_KEY_COMPANION_LABELS = frozenset({"EC PARAMETERS"})

_NO_CERT = "no certificate found (expected PEM 'BEGIN CERTIFICATE' or DER)"
_NO_KEY = (
    "no private key found (expected PEM 'BEGIN PRIVATE KEY', 'BEGIN ENCRYPTED PRIVATE KEY', "
    "'BEGIN RSA PRIVATE KEY' or 'BEGIN EC PRIVATE KEY', or DER PKCS#8/PKCS#1/SEC1)"
)

_PKCS7_HINT = "; extract its certificates with 'openssl pkcs7 -print_certs -in {path} -out certs.pem'"

# Labels are bounded so that every match attempt costs O(1): scanning a hostile file stays linear.
_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,64})-----[ \t]*\r?\n")
_PEM_END = re.compile(rb"-----END ([A-Z0-9 ]{1,64})-----")
_NO_END = "malformed PEM: a '-----BEGIN' line has no matching '-----END' line"


# -- PEM framing ------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _PemBlock:
    label: str
    headers: dict[str, str]  # RFC 1421 headers (Proc-Type, DEK-Info) of legacy encrypted keys
    body: bytes  # base64-decoded content
    text: bytes  # the block as it appeared, for loaders that need the headers
    line: int  # 1-based line of its BEGIN


def _is_pem(data: bytes) -> bool:
    # A well-formed DER object wins: PEM text never parses as one, while DER may contain any bytes.
    return b"-----BEGIN " in data and not _is_der(data)


def _is_der(data: bytes) -> bool:
    try:
        der.decode(data)
    except FormatError:
        return False
    return True


def _pem_blocks(path: Path, data: bytes) -> list[_PemBlock]:
    """Every PEM block in ``data``; text between blocks (e.g. ``openssl x509 -text`` output) is ignored.

    One pass over the bytes: each BEGIN's END is looked for only up to the next BEGIN (a file of BEGIN lines
    without END lines would otherwise be scanned to its end once per line).
    """
    blocks: list[_PemBlock] = []
    pos, line, counted = 0, 1, 0  # line = the 1-based line number at offset `counted`
    while (start := data.find(b"-----BEGIN ", pos)) != -1:
        begin = _PEM_BEGIN.match(data, start)
        if begin is None:
            raise MaterialError(f"{path}: {_NO_END}")
        following = data.find(b"-----BEGIN ", begin.end())
        end = _PEM_END.search(data, begin.end(), len(data) if following == -1 else following)
        if end is None:
            raise MaterialError(f"{path}: {_NO_END}")
        line += data.count(b"\n", counted, start)
        counted = start
        blocks.append(_pem_block(path, data, begin, end, line))
        pos = end.end()
    return blocks


def _pem_block(path: Path, data: bytes, begin: re.Match[bytes], end: re.Match[bytes], line: int) -> _PemBlock:
    label = begin.group(1).decode("ascii")
    if end.group(1) != begin.group(1):
        end_label = end.group(1).decode("ascii")
        raise MaterialError(f"{path}: malformed PEM: 'BEGIN {label}' (line {line}) ends with 'END {end_label}'")
    headers, b64 = _split_headers(data[begin.end():end.start()])
    try:
        body = base64.b64decode(b"".join(b64.split()), validate=True)
    except (binascii.Error, ValueError):
        raise MaterialError(
            f"{path}: malformed PEM: the '{label}' block at line {line} is not valid base64"
        ) from None
    return _PemBlock(label, headers, body, data[begin.start():end.end()], line)


def _split_headers(content: bytes) -> tuple[dict[str, str], bytes]:
    lines = content.splitlines()
    if not lines or b":" not in lines[0]:
        return {}, content
    headers: dict[str, str] = {}
    for i, raw in enumerate(lines):
        if not raw.strip():
            return headers, b"\n".join(lines[i + 1:])
        name, _, value = raw.decode("ascii", "replace").partition(":")
        headers[name.strip()] = value.strip()
    return headers, b""


def _labels(blocks: Sequence[_PemBlock]) -> str:
    return ", ".join(f"'{b.label}'" for b in blocks)


# -- certificates -----------------------------------------------------------------------------------------

def load_certificates(path: Path, data: bytes) -> list[x509.Certificate]:
    """The certificates of a PEM bundle (file order) or of a single DER certificate.

    Private-key blocks in a PEM bundle are skipped (a combined ``cert+key`` file is a common idiom);
    any other non-certificate block is an error rather than something silently ignored.
    """
    if not _is_pem(data):
        return [_der_certificate(path, data)]
    blocks = _pem_blocks(path, data)
    certs = [b for b in blocks if b.label in _CERT_LABELS]
    for block in blocks:
        _check_cert_file_block(path, block, found_certs=bool(certs))
    if not certs:
        hint = _PKCS7_HINT.format(path=path) if any(b.label == "PKCS7" for b in blocks) else ""
        raise MaterialError(f"{path}: {_NO_CERT}; it holds PEM block(s) {_labels(blocks)}{hint}")
    return [_parse_certificate(path, b.body, f"certificate #{i} (line {b.line})")
            for i, b in enumerate(certs, 1)]


def _check_cert_file_block(path: Path, block: _PemBlock, *, found_certs: bool) -> None:
    if block.label == _TRUSTED_CERT_LABEL:
        raise MaterialError(
            f"{path}: line {block.line} holds an OpenSSL 'TRUSTED CERTIFICATE' whose trust settings a keystore "
            f"cannot carry; convert it with 'openssl x509 -in {path} -out plain.pem' and use plain.pem"
        )
    allowed = _CERT_LABELS | _KEY_LABELS | _KEY_COMPANION_LABELS | _UNSUPPORTED_KEY_LABELS.keys()
    if block.label not in allowed and found_certs:
        raise MaterialError(
            f"{path}: unexpected PEM block '{block.label}' at line {block.line}; a certificate file may hold "
            "only 'CERTIFICATE' blocks (and the matching private key): remove it"
        )


def _der_certificate(path: Path, data: bytes) -> x509.Certificate:
    if not data.strip():
        raise MaterialError(f"{path}: {_NO_CERT}; the file is empty")
    if _looks_like_certificate(data):
        return _parse_certificate(path, data, "the DER certificate")
    raise MaterialError(f"{path}: {_NO_CERT}")


def _looks_like_certificate(data: bytes) -> bool:
    """A DER Certificate is SEQUENCE { SEQUENCE tbs, SEQUENCE algorithm, BIT STRING }."""
    try:
        parts = der.decode(data).expect(der.SEQUENCE, "certificate").children()
    except FormatError:
        return False
    return [p.tag for p in parts] == [der.SEQUENCE, der.SEQUENCE, der.BIT_STRING]


def _parse_certificate(path: Path, body: bytes, what: str) -> x509.Certificate:
    try:
        cert = parse_certificate(body)
    except CertificateParseError as exc:  # cryptography's reason names ASN.1 structure only, never key material
        if isinstance(exc.cause, x509.InvalidVersion):
            raise MaterialError(f"{path}: {what} has X.509 version {exc.cause.parsed_version + 1}, which does not "
                                "exist (only v1, v2 and v3 do)") from None
        if exc.part == "names":
            raise MaterialError(f"{path}: {what} has a malformed subject or issuer name") from None
        raise MaterialError(f"{path}: {what} cannot be parsed as X.509 ({plain_error(exc.cause)})") from None
    check_java_parsable(cert, f"{path}: {what}")
    return cert


def check_java_parsable(cert: x509.Certificate, where: str) -> None:
    """MaterialError naming ``where`` when Java's X.509 parser refuses ``cert`` (see kstool.crypto.certparse)."""
    reason = java_refusal(cert)
    if reason is not None:
        raise MaterialError(f"{where}: {refusal_message(cert, reason)}")


# cryptography's Rust parser reports "ParseError { kind: InvalidValue, location: ["Certificate::tbs_cert",
# "TbsCertificate::validity", "Validity::not_before", ...] }": the kind and the innermost named field, in words
_PARSE_ERROR = re.compile(r"ParseError \{ kind: (\w+)(?:, location: \[(.*?)\])?")
_PARSE_KINDS = {
    "InvalidValue": "an invalid value", "UnexpectedTag": "an unexpected field", "ShortData": "truncated data",
    "ExtraData": "unexpected extra bytes", "InvalidLength": "an invalid length", "InvalidTag": "an invalid tag",
    "IntegerOverflow": "a number that is too large", "InvalidSetOrdering": "a badly ordered set",
    "EncodedDefault": "a default value that DER omits", "OidTooLong": "an object identifier that is too long",
    "UnknownDefinedBy": "an unknown algorithm",
}
_GENERIC_FIELDS = frozenset({"Time", "UtcTime", "GeneralizedTime", "Certificate"})


def plain_error(exc: Exception) -> str:
    """A library's error text a person can read: never Rust debug output (the one adapter for such text)."""
    text = str(exc)
    match = _PARSE_ERROR.search(text)
    if match is None:
        return text if "{" not in text and "::" not in text else "malformed DER encoding"
    kind = _PARSE_KINDS.get(match.group(1), "malformed DER encoding")
    fields = [part.strip().strip('"').rpartition("::")[2] for part in (match.group(2) or "").split(",")]
    named = [f.replace("_", " ") for f in fields if f and f not in _GENERIC_FIELDS and not f.isdigit()]
    return f"{kind} in its {named[-1]} field" if named else kind


# -- private keys -----------------------------------------------------------------------------------------

def load_private_key(path: Path, data: bytes, password: bytes | None) -> PrivateKey:
    """The one private key in ``path`` (PEM or DER; PKCS#8, encrypted PKCS#8, PKCS#1, SEC1).

    ``password`` must be given exactly when the key is encrypted. Certificate blocks next to the key are
    skipped; two keys in one file are an error.
    """
    load = _load_pem_key if _is_pem(data) else _load_der_key
    return _supported_key(path, load(path, data, password))


def _load_pem_key(path: Path, data: bytes, password: bytes | None) -> PrivateKeyTypes:
    block = _single_key_block(path, _pem_blocks(path, data))
    encrypted = block.label == "ENCRYPTED PRIVATE KEY" or "ENCRYPTED" in block.headers.get("Proc-Type", "")
    _check_password_presence(path, encrypted=encrypted, password=password)
    return _deserialize(path, lambda: serialization.load_pem_private_key(
        block.text, password, unsafe_skip_rsa_key_validation=True), encrypted)


def _single_key_block(path: Path, blocks: Sequence[_PemBlock]) -> _PemBlock:
    for block in blocks:
        if block.label in _UNSUPPORTED_KEY_LABELS:
            kind = _UNSUPPORTED_KEY_LABELS[block.label]
            raise MaterialError(f"{path}: unsupported {kind} private key at line {block.line}; "
                                f"supported key types: {SUPPORTED_KEY_TYPES}")
    keys = [b for b in blocks if b.label in _KEY_LABELS]
    if not keys:
        raise MaterialError(f"{path}: {_NO_KEY}; it holds PEM block(s) {_labels(blocks)}")
    known = _KEY_LABELS | _KEY_COMPANION_LABELS | _CERT_LABELS | {_TRUSTED_CERT_LABEL}
    for block in blocks:
        if block.label not in known:
            raise MaterialError(f"{path}: unexpected PEM block '{block.label}' at line {block.line}; "
                                "a private key file may hold only the private key (and its certificates)")
    if len(keys) > 1:
        lines = ", ".join(str(b.line) for b in keys)
        raise MaterialError(f"{path}: holds {len(keys)} private keys (lines {lines}); "
                            "put exactly one private key in the file")
    return keys[0]


def _load_der_key(path: Path, data: bytes, password: bytes | None) -> PrivateKeyTypes:
    if not data.strip():
        raise MaterialError(f"{path}: {_NO_KEY}; the file is empty")
    shape = _der_key_shape(data)
    if shape is None:
        hint = "; it holds a certificate" if _looks_like_certificate(data) else ""
        raise MaterialError(f"{path}: {_NO_KEY}{hint}")
    encrypted = shape == "encrypted"
    _check_password_presence(path, encrypted=encrypted, password=password)
    return _deserialize(path, lambda: serialization.load_der_private_key(
        data, password, unsafe_skip_rsa_key_validation=True), encrypted)


def _der_key_shape(data: bytes) -> str | None:
    """'encrypted' (EncryptedPrivateKeyInfo), 'plain' (PKCS#8 / PKCS#1 / SEC1 / ...) or None."""
    try:
        parts = der.decode(data).expect(der.SEQUENCE, "private key").children()
    except FormatError:
        return None
    tags = [p.tag for p in parts]
    if tags == [der.SEQUENCE, der.OCTET_STRING]:  # { AlgorithmIdentifier, encryptedData }
        return "encrypted"
    # PKCS#8 {version, AlgorithmIdentifier, key, ...}, PKCS#1/DSA {INTEGER...}, SEC1 {1, OCTET STRING, ...}
    if len(tags) >= 3 and tags[0] == der.INTEGER and tags[1] in (der.SEQUENCE, der.INTEGER, der.OCTET_STRING):
        return "plain"
    return None


def _check_password_presence(path: Path, *, encrypted: bool, password: bytes | None) -> None:
    if encrypted and password is None:
        raise MaterialError(f"{path}: the private key is encrypted: set private_key_password")
    if not encrypted and password is not None:
        raise MaterialError(f"{path}: the private key is not encrypted: remove private_key_password")


def _deserialize(path: Path, load: _Loader, encrypted: bool) -> PrivateKeyTypes:
    try:
        with warnings.catch_warnings():  # a deprecated key type (FFDH) is refused below, in kstool's words
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            key = load()
        if isinstance(key, rsa.RSAPrivateKey):
            _check_rsa(path, key)
        return key
    except UnsupportedAlgorithm:
        raise MaterialError(f"{path}: the private key uses an unsupported algorithm or encryption; "
                            f"supported key types: {SUPPORTED_KEY_TYPES}") from None
    except TypeError:  # our own presence check disagreed with cryptography's: report it, never guess
        state = "encrypted" if encrypted else "not encrypted"
        raise MaterialError(f"{path}: cannot tell whether the private key is encrypted "
                            f"(it looks {state}); re-export it as PKCS#8") from None
    except ValueError as exc:
        if encrypted and _unknown_encryption(exc):  # the password may be right: say what is really wrong
            raise MaterialError(f"{path}: the private key is encrypted with an algorithm kstool cannot decrypt "
                                f"({plain_error(exc)}); re-encrypt it with 'openssl pkcs8 -topk8 -v2 aes-256-cbc'"
                                ) from None
        if encrypted:
            raise MaterialError(f"{path}: wrong private_key_password: it does not decrypt the private key "
                                "(or the encrypted key is corrupt)") from None
        raise MaterialError(f"{path}: the private key cannot be parsed (corrupt, or an unsupported key type "
                            f"or encoding; supported key types: {SUPPORTED_KEY_TYPES})") from None


def _check_rsa(path: Path, key: rsa.RSAPrivateKey) -> None:
    """Is the RSA key consistent? cryptography's own check also tests p and q for primality, which costs
    ~25 ms per key; these identities catch a corrupt or tampered key in microseconds."""
    numbers = key.private_numbers()
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    p, q, d = numbers.p, numbers.q, numbers.d
    lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    consistent = (p > 1 and q > 1 and p * q == n and (d * e) % lam == 1 and numbers.dmp1 == d % (p - 1)
                  and numbers.dmq1 == d % (q - 1) and (numbers.iqmp * q) % p == 1)
    if not consistent:
        raise MaterialError(f"{path}: the RSA private key is inconsistent (its numbers do not fit together): "
                            "the file is corrupt")


def _unknown_encryption(exc: ValueError) -> bool:
    """cryptography's ValueError for a cipher it lacks (e.g. Camellia, ARIA); its text names only the algorithm.

    Matched on the message because cryptography raises the same ValueError type for a wrong password.
    """
    text = str(exc).lower()
    return "unknown cipher" in text or "unknown key encryption algorithm" in text


def _supported_key(path: Path, key: PrivateKeyTypes) -> PrivateKey:
    if isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name in _SUPPORTED_CURVES:
            return key
        kind = f"EC on curve {key.curve.name}"
    else:
        kind = _key_type_name(key)
    raise MaterialError(f"{path}: unsupported key type {kind}; supported key types: {SUPPORTED_KEY_TYPES}")


def _key_type_name(key: PrivateKeyTypes) -> str:
    # by class name: touching cryptography's deprecated dh module would itself raise a deprecation warning
    classes = {cls.__name__ for cls in type(key).__mro__}
    names = {"DSAPrivateKey": "DSA", "DHPrivateKey": "DH", "X25519PrivateKey": "X25519", "X448PrivateKey": "X448",
             "Ed448PrivateKey": "Ed448"}
    return next((name for cls, name in names.items() if cls in classes), type(key).__name__)


# -- keys and certificates together -----------------------------------------------------------------------

def key_matches_certificate(key: PrivateKey, cert: x509.Certificate) -> bool:
    """True when ``cert`` certifies ``key``'s public key (SubjectPublicKeyInfo DER compared)."""
    return cert_spki(cert) == spki(key.public_key())


def select_leaf(certs: Sequence[x509.Certificate], key: PrivateKey, *, source: str) -> x509.Certificate:
    """The certificate of ``certs`` whose public key is ``key``'s.

    ``source`` names both inputs, e.g. ``"private key leaf.key / certificate leaf.crt"``. Identical copies of
    the leaf are returned as one (``order_chain`` then reports the duplicate).
    """
    matches = [c for c in certs if key_matches_certificate(key, c)]
    if not matches:
        what = "the certificate" if len(certs) == 1 else f"any of the {len(certs)} certificates"
        raise MaterialError(f"{source}: the private key does not match {what} "
                            "(different public key); check that the key and certificate belong together")
    distinct = {c.public_bytes(serialization.Encoding.DER) for c in matches}
    if len(distinct) > 1:
        names = "; ".join(_label(c) for c in matches)
        raise MaterialError(f"{source}: {len(distinct)} different certificates match the private key "
                            f"({names}); keep only the one to use")
    return matches[0]


def private_key_to_pkcs8(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PrivateKeyInfo DER (what ``KeyEntry.key_der`` holds)."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# -- chains -----------------------------------------------------------------------------------------------

def order_chain(
    leaf: x509.Certificate, others: Sequence[x509.Certificate], *, source: str
) -> tuple[x509.Certificate, ...]:
    """``leaf`` followed by ``others`` sorted leaf → root, every link checked by name and signature.

    The chain may end at an intermediate (the root need not be given); every certificate of ``others``
    must be used exactly once. ``source`` says where the certificates came from, e.g. the file names.
    """
    _check_no_duplicates(leaf, others, source=source)
    chain = [leaf]
    remaining = list(others)
    while remaining and not _is_self_signed(chain[-1]):
        issuer = _next_link(chain[-1], remaining, source=source)
        if issuer is None:
            break
        chain.append(issuer)
        remaining.remove(issuer)
    if remaining:
        raise _leftover_error(chain, remaining, source=source)
    return tuple(chain)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _check_no_duplicates(leaf: x509.Certificate, others: Sequence[x509.Certificate], *, source: str) -> None:
    leaf_der = _der(leaf)
    seen: set[bytes] = set()
    for cert in others:
        encoded = _der(cert)
        if encoded == leaf_der:
            raise MaterialError(f"{source}: the leaf certificate {_label(leaf)} appears twice; "
                                "remove the extra copy from the chain")
        if encoded in seen:
            raise MaterialError(f"{source}: duplicate certificate {_label(cert)}; remove one copy")
        seen.add(encoded)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _is_self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and _signed_by(cert, cert)


def _next_link(
    cert: x509.Certificate, remaining: Sequence[x509.Certificate], *, source: str
) -> x509.Certificate | None:
    """The one certificate of ``remaining`` that issued ``cert``; None when its issuer is not given."""
    named = [c for c in remaining if c.subject == cert.issuer]
    if not named:
        return None
    verified = [c for c in named if _signed_by(cert, c)]
    if len(verified) == 1:
        return verified[0]
    if not verified:
        candidates = "; ".join(_label(c) for c in named)
        raise MaterialError(
            f"{source}: the signature of {_label(cert)} does not verify with the public key of its named "
            f"issuer ({candidates}): a wrong or forged issuer certificate; use the real issuer certificate"
        )
    candidates = "; ".join(_label(c) for c in verified)
    raise MaterialError(f"{source}: {len(verified)} certificates could have issued {_label(cert)} "
                        f"({candidates}); keep only one of them")


def _leftover_error(
    chain: Sequence[x509.Certificate], remaining: Sequence[x509.Certificate], *, source: str
) -> MaterialError:
    """Why ``remaining`` did not fit: a missing intermediate (gap) or a certificate from elsewhere.

    Without the missing certificate a gap cannot be proved, so a CA certificate above an open-ended chain
    is reported as a gap (the likely cause) and anything else as unrelated.
    """
    top = chain[-1]
    if not _is_self_signed(top):
        above = [c for c in remaining if _is_ca(c) and not _issued_within(c, chain)]
        if above:
            return MaterialError(
                f"{source}: the chain has a gap: {_label(top)} was issued by "
                f"'{top.issuer.rfc4514_string()}', which is not among the certificates, so "
                f"{_label(above[0])} cannot be linked; add the missing intermediate certificate "
                "(or remove the certificate if it is unrelated)"
            )
    return MaterialError(f"{source}: unrelated certificate {_label(remaining[0])}: it is not part of the "
                         f"chain of {_label(chain[0])}; remove it")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return cert.version == x509.Version.v1  # old v1 CA certificates carry no extensions at all
    except ValueError:  # malformed extensions: nothing suggests a CA
        return False


def _issued_within(cert: x509.Certificate, chain: Sequence[x509.Certificate]) -> bool:
    """True when ``cert`` hangs below the chain (e.g. a sibling leaf), so it cannot fill a gap above it."""
    return any(cert.issuer == c.subject for c in chain)


def _label(cert: x509.Certificate) -> str:
    return f"'{cert.subject.rfc4514_string()}' (serial 0x{serial_number(cert):x})"


# -- public facts -----------------------------------------------------------------------------------------

def describe_certificate(cert: x509.Certificate, names: Callable[[x509.Name], str] = x509.Name.rfc4514_string,
                         key: PublicKeyTypes | None = None) -> dict[str, str]:
    """Public facts for plans and locks; nothing here is secret. ``names`` writes the subject and issuer; ``key``:
    the certificate's public key when the caller has it already (cryptography builds a new one at every call)."""
    key_info = spki(key) if key is not None else cert_spki(cert)
    return {
        "subject": names(cert.subject),
        "issuer": names(cert.issuer),
        "serial": f"{serial_number(cert):x}",
        "not_before": f"{cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}",
        "not_after": f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}",
        "sha256": cert.fingerprint(SHA256()).hex(),
        "public_key_sha256": hashlib.sha256(key_info if key_info is not None else _raw_spki(cert)).hexdigest(),
    }


def _raw_spki(cert: x509.Certificate) -> bytes:
    """The SubjectPublicKeyInfo as encoded in the certificate (for key types cryptography cannot load)."""
    tbs = der.decode(cert.tbs_certificate_bytes).children()
    offset = 1 if tbs and tbs[0].tag == der.context(0) else 0  # [0] version is optional (v1)
    return tbs[offset + 5].raw  # serial, signature, issuer, validity, subject, SPKI
