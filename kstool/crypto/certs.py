"""Generated keys and self-signed certificates shaped like JDK 17 ``keytool -genkeypair``'s.

keytool's certificate (measured with JDK 17): X.509 v3, issuer = subject, a non-critical
SubjectKeyIdentifier (SHA-1 of the public key bits) and, with ``-ext SAN=...``, a non-critical
SubjectAlternativeName after it, in that order; notAfter = notBefore + days x 86400 s; the signature
hash from the key size (``signature_hash_for``). Unlike keytool, nothing here is random except the key
itself: the serial number is derived from the certificate's contents and ECDSA signs per RFC 6979, so
the same key and inputs always give the same certificate bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import overload

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kstool.crypto import KeyAlgorithm
from kstool.errors import MaterialError
from kstool.formats.derive import PUBLIC_KEY, derive

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

RSA_SIZES = (2048, 3072, 4096)
_CURVES: dict[int, ec.EllipticCurve] = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 521: ec.SECP521R1()}
_CURVE_SIZES = {curve.name: size for size, curve in _CURVES.items()}
SignatureHash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512
_RSA_EXPONENT = 65537  # keytool's (RSAKeyGenParameterSpec.F4)


# -- keys -------------------------------------------------------------------------------------------------

def generate_private_key(algorithm: KeyAlgorithm, size: int | None) -> PrivateKey:
    """A fresh key: RSA 2048/3072/4096 (e = 65537), EC 256/384/521 (P-256/384/521), Ed25519 (size None).

    The one place in kstool where randomness is allowed.
    """
    if algorithm == "RSA" and size in RSA_SIZES:
        return rsa.generate_private_key(public_exponent=_RSA_EXPONENT, key_size=size)
    if algorithm == "EC" and size in _CURVES:
        return ec.generate_private_key(_CURVES[size])
    if algorithm == "Ed25519" and size is None:
        return ed25519.Ed25519PrivateKey.generate()
    raise MaterialError(f"cannot generate a {algorithm} key of size {size}; supported: RSA 2048, 3072 or "
                        "4096; EC 256, 384 or 521; Ed25519 (no size)")


def supported_key_params(key: PrivateKey | PublicKey) -> tuple[KeyAlgorithm, int | None]:
    """``("RSA", 2048)``, ``("EC", 256)`` or ``("Ed25519", None)`` for a key kstool generates or signs with;
    MaterialError for keys Java 17 lacks (``display_key_params`` names any key instead)."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        size = _CURVE_SIZES.get(key.curve.name)
        if size is None:
            raise MaterialError(f"EC curve {key.curve.name} is not supported (JDK 17 keytool offers "
                                "secp256r1, secp384r1 and secp521r1); use one of those")
        return "EC", size
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "Ed25519", None
    raise MaterialError(f"unsupported key type {type(key).__name__}; use RSA, EC (P-256/384/521) or Ed25519")


def display_key_params(key: CertificatePublicKeyTypes) -> tuple[str, int | None]:
    """``("RSA", 2048)``, ``("EC", 256)``, ``("DSA", 1024)``, ``("Ed448", None)``... for any key a certificate
    may carry (plans, lock files, inspect); never raises (``supported_key_params`` judges instead)."""
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        return ("RSA" if isinstance(key, rsa.RSAPublicKey) else "DSA"), key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    return type(key).__name__.removesuffix("PublicKey").removeprefix("_"), None


def signature_hash_for(key: PrivateKey | PublicKey) -> SignatureHash | None:
    """The hash JDK 17 keytool signs with (SignatureUtil.getDefaultSigAlgForKey); None for Ed25519.

    RSA: SHA-256 up to 3072 bits, SHA-384 up to 7680, SHA-512 above. EC: SHA-256 below 384 bits,
    SHA-384 below 512, SHA-512 from 512 (P-521).
    """
    algorithm, size = supported_key_params(key)
    if algorithm == "Ed25519" or size is None:
        return None
    if algorithm == "RSA":
        return hashes.SHA512() if size > 7680 else hashes.SHA384() if size > 3072 else hashes.SHA256()
    return hashes.SHA512() if size >= 512 else hashes.SHA384() if size >= 384 else hashes.SHA256()


# -- certificates ---------------------------------------------------------------------------------------------

def build_self_signed(key: PrivateKey, subject: x509.Name, *, not_before: datetime, validity_days: int,
                      san: Sequence[x509.GeneralName] = ()) -> x509.Certificate:
    """A self-signed certificate shaped like JDK 17 ``keytool -genkeypair``'s, byte-for-byte reproducible.

    - X.509 v3, issuer = subject, signature hash per ``signature_hash_for`` (RSA PKCS#1 v1.5, ECDSA with
      RFC 6979 deterministic nonces, Ed25519).
    - Extensions, in keytool's order: SubjectKeyIdentifier (SHA-1 of the public key bits), then
      SubjectAlternativeName when ``san`` is given; both non-critical.
    - notBefore = ``not_before`` truncated to whole seconds (it must be timezone-aware); notAfter =
      notBefore + ``validity_days`` x 86400 s, as keytool computes it.
    - Serial number: the first 8 bytes of ``derive("kstool/certificate-serial", PUBLIC_KEY, subject DER,
      SubjectPublicKeyInfo DER, notBefore as ISO 8601, validity_days as decimal, SAN extension DER or
      empty)`` (HMAC-SHA256, see kstool.formats.derive) with the top bit cleared, so a positive integer
      below 2**63, the same for the same inputs; 1 if that would be 0.
    """
    start = _whole_seconds(not_before)
    if validity_days < 1:
        raise MaterialError(f"validity of {validity_days} days: a certificate must be valid for at least 1 day")
    try:
        end = start + timedelta(days=validity_days)
    except OverflowError:
        raise MaterialError(f"a validity of {validity_days} days ends after the year 9999") from None
    public_key = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)  # self-signed
        .public_key(public_key)
        .serial_number(_serial(subject, public_key, start, validity_days, san))
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return _sign(builder, key)


def _whole_seconds(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise TypeError("not_before must be timezone-aware")
    return moment.replace(microsecond=0)


def _serial(subject: x509.Name, public_key: PublicKey, start: datetime, validity_days: int,
            san: Sequence[x509.GeneralName]) -> int:
    spki = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    san_der = x509.SubjectAlternativeName(san).public_bytes() if san else b""
    digest = derive("kstool/certificate-serial", PUBLIC_KEY, subject.public_bytes(), spki,
                    start.isoformat().encode("ascii"), str(validity_days).encode("ascii"), san_der, length=8)
    return int.from_bytes(digest, "big") & ((1 << 63) - 1) or 1


# -- CA certificates and certificates a CA signs -----------------------------------------------------------------

EXTENDED_USAGES = {"server": x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                   "client": x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH}


def build_issued(key: PrivateKey, subject: x509.Name, *, not_before: datetime, validity_days: int,
                 san: Sequence[x509.GeneralName] = (), ca: bool = False, path_length: int | None = None,
                 usage: Sequence[str] = (), issuer_key: PrivateKey | None = None,
                 issuer_cert: x509.Certificate | None = None) -> x509.Certificate:
    """A CA certificate (``ca``) or a leaf, signed by ``issuer_key`` (whose certificate is ``issuer_cert``), or
    self-signed when both are None; byte-for-byte reproducible like ``build_self_signed``.

    - A CA: basicConstraints CA:true with ``path_length`` (critical), keyUsage keyCertSign + cRLSign
      (critical). A leaf: basicConstraints CA:false (critical), keyUsage fitting its key (critical; RSA:
      digitalSignature + keyEncipherment, EC and Ed25519: digitalSignature) and the extended key usages of
      ``usage`` ("server", "client").
    - SubjectKeyIdentifier (SHA-1 of the public key bits); with an issuer, AuthorityKeyIdentifier = the issuer's
      key identifier (its SubjectKeyIdentifier when it has one); SubjectAlternativeName when ``san`` is given.
    - Signed with the issuer's key: RSA PKCS#1 v1.5, ECDSA with RFC 6979 nonces, or Ed25519 (all deterministic).
    - Serial number: 16 bytes of ``derive("kstool/issued-serial", ...)`` over the issuer's name and key, the
      subject, the public key, the dates and the extensions, top bit cleared (positive, at most 16 bytes): the
      same inputs give the same serial, different certificates of one issuer differ.
    """
    if (issuer_key is None) != (issuer_cert is None):
        raise TypeError("issuer_key and issuer_cert go together")
    start = _whole_seconds(not_before)
    end = _end(start, validity_days)
    signer = issuer_key if issuer_key is not None else key
    issuer_name = issuer_cert.subject if issuer_cert is not None else subject
    if issuer_cert is not None and end > issuer_cert.not_valid_after_utc:
        raise MaterialError(f"the certificate would end {end:%Y-%m-%d} after its issuer's "
                            f"({issuer_cert.not_valid_after_utc:%Y-%m-%d}); a certificate may not outlive its "
                            "issuer: shorten validity_days or reissue the CA")
    public_key = key.public_key()
    extensions = _issued_extensions(key, ca=ca, path_length=path_length, usage=usage, san=san,
                                    issuer_cert=issuer_cert, signer=signer)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(public_key)
               .serial_number(_issued_serial(issuer_name, signer.public_key(), subject, public_key, start=start,
                                             end=end, extensions=extensions))
               .not_valid_before(start).not_valid_after(end))
    for extension in extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    return _sign(builder, signer)



@overload
def _sign(builder: x509.CertificateBuilder, key: PrivateKey) -> x509.Certificate: ...
@overload
def _sign(builder: x509.CertificateSigningRequestBuilder, key: PrivateKey) -> x509.CertificateSigningRequest: ...
def _sign(builder: x509.CertificateBuilder | x509.CertificateSigningRequestBuilder,
          key: PrivateKey) -> x509.Certificate | x509.CertificateSigningRequest:
    """Signed the way keytool picks the hash, and deterministically: RSA PKCS#1 v1.5 and Ed25519 are by nature,
    ECDSA only with RFC 6979 nonces (``ecdsa_deterministic``), so the same inputs give the same bytes."""
    hash_algorithm = signature_hash_for(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return builder.sign(key, hash_algorithm, ecdsa_deterministic=True)
    return builder.sign(key, hash_algorithm)


def is_ca_certificate(cert: x509.Certificate) -> bool:
    """basicConstraints CA:true, and keyCertSign when it has a keyUsage (what Java and OpenSSL require)."""
    try:
        if not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return False
    except x509.ExtensionNotFound:
        return False
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        return True


def _end(start: datetime, validity_days: int) -> datetime:
    if validity_days < 1:
        raise MaterialError(f"validity of {validity_days} days: a certificate must be valid for at least 1 day")
    try:
        return start + timedelta(days=validity_days)
    except OverflowError:
        raise MaterialError(f"a validity of {validity_days} days ends after the year 9999") from None


def _issued_extensions(key: PrivateKey, *, ca: bool, path_length: int | None, usage: Sequence[str],
                       san: Sequence[x509.GeneralName], issuer_cert: x509.Certificate | None,
                       signer: PrivateKey) -> list[x509.Extension[x509.ExtensionType]]:
    out: list[x509.Extension[x509.ExtensionType]] = []

    def add(value: x509.ExtensionType, *, critical: bool) -> None:
        out.append(x509.Extension(value.oid, critical, value))

    add(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
    if ca:
        add(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,  # it signs certificates
            crl_sign=True,  # and may sign revocation lists
            encipher_only=False, decipher_only=False), critical=True)
    else:
        add(x509.KeyUsage(
            digital_signature=True,  # TLS 1.3 and ECDHE sign the handshake
            content_commitment=False,
            key_encipherment=isinstance(key, rsa.RSAPrivateKey),  # TLS_RSA_* suites encrypt the premaster key
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
    add(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if issuer_cert is not None:
        add(_authority_key_identifier(issuer_cert, signer), critical=False)
    if usage:
        add(x509.ExtendedKeyUsage([EXTENDED_USAGES[u] for u in usage]), critical=False)
    if san:
        add(x509.SubjectAlternativeName(san), critical=False)
    return out


def _authority_key_identifier(issuer_cert: x509.Certificate, signer: PrivateKey) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key())


def _issued_serial(issuer: x509.Name, issuer_public_key: PublicKey, subject: x509.Name, public_key: PublicKey, *,
                   start: datetime, end: datetime, extensions: Sequence[x509.Extension[x509.ExtensionType]]) -> int:
    spkis = [k.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) for k in (issuer_public_key, public_key)]
    digest = derive("kstool/issued-serial", PUBLIC_KEY, issuer.public_bytes(), spkis[0], subject.public_bytes(),
                    spkis[1], start.isoformat().encode("ascii"), end.isoformat().encode("ascii"),
                    *(e.value.public_bytes() for e in extensions), length=16)
    return int.from_bytes(digest, "big") & ((1 << 127) - 1) or 1


def build_csr(key: PrivateKey, subject: x509.Name, *, san: Sequence[x509.GeneralName] = ()
              ) -> x509.CertificateSigningRequest:
    """A PKCS#10 request as ``keytool -certreq`` makes it: the subject (same DER as the certificate's), the SANs as
    a requested extension, signed by ``key`` with the hash ``signature_hash_for`` picks (deterministic)."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return _sign(builder, key)
