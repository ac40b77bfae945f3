"""kstool.crypto.certs: keys, SANs, and self-signed certificates shaped like JDK 17 keytool's.

The strongest check: keytool -genkeypair makes a certificate; build_self_signed gets keytool's own key,
subject, start date, validity and SANs, and must produce a TBSCertificate identical to keytool's byte for
byte in every field but the serial number (keytool's is random).
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from kstool.crypto.certs import (
    PrivateKey,
    build_self_signed,
    generate_private_key,
    signature_hash_for,
)
from kstool.crypto.certs import supported_key_params as key_params
from kstool.crypto.dn import parse_rdns, to_name
from kstool.crypto.san import check_san, to_general_names
from kstool.errors import MaterialError
from kstool.formats import der


def parse_san(items: list[str]) -> list[x509.GeneralName]:
    return to_general_names(check_san(items))


def parse_dname(text: str) -> x509.Name:
    return to_name(parse_rdns(text))


START = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
KEYTOOL_START = "2024/01/02 03:04:05"  # the same instant, keytool runs with TZ=UTC
SUBJECT = "CN=kstool test, OU=Home, O=Home, L=SL, S=WS, C=LK"
SAN_ITEMS = ["dns:a.example", "ip:1.2.3.4", "email:a@b.example", "uri:https://x.example/p", "ip:::1",
             "oid:1.2.3.4", "DNS:*.wild.example"]
KEYTOOL_SAN = "SAN=dns:a.example,ip:1.2.3.4,email:a@b.example,uri:https://x.example/p,ip:::1,oid:1.2.3.4," \
              "dns:*.wild.example"

# (algorithm, size, keytool options, days); keytool-shaped signature algorithm OIDs below.
PARAMS = [
    ("RSA", 2048, ["-keyalg", "RSA", "-keysize", "2048"], 30),
    ("RSA", 3072, ["-keyalg", "RSA", "-keysize", "3072"], 365),
    ("EC", 256, ["-keyalg", "EC", "-groupname", "secp256r1"], 90),
    ("EC", 384, ["-keyalg", "EC", "-groupname", "secp384r1"], 1),
    ("EC", 521, ["-keyalg", "EC", "-groupname", "secp521r1"], 3650),
    ("Ed25519", None, ["-keyalg", "Ed25519"], 90),
]
RSA_4096 = ("RSA", 4096, ["-keyalg", "RSA", "-keysize", "4096"], 90)
SIGNATURE_OIDS = {
    ("RSA", 2048): "1.2.840.113549.1.1.11", ("RSA", 3072): "1.2.840.113549.1.1.11",
    ("RSA", 4096): "1.2.840.113549.1.1.12", ("EC", 256): "1.2.840.10045.4.3.2",
    ("EC", 384): "1.2.840.10045.4.3.3", ("EC", 521): "1.2.840.10045.4.3.4", ("Ed25519", None): "1.3.101.112",
}


@dataclass(frozen=True)
class KeytoolCert:
    key: PrivateKey
    cert: x509.Certificate
    days: int
    san: list[str]


def _keytool_genkeypair(folder: Path, name: str, options: list[str], days: int, ext: list[str]) -> KeytoolCert:
    store = folder / f"{name}.p12"
    env = dict(os.environ, KSTOOL_TEST_STOREPASS="changeit", TZ="UTC")
    subprocess.run(["keytool", "-genkeypair", *options, "-storetype", "PKCS12", "-dname", SUBJECT, "-alias", name,
                    "-startdate", KEYTOOL_START, "-validity", str(days), *ext, "-keystore", str(store),
                    "-storepass:env", "KSTOOL_TEST_STOREPASS"],
                   env=env, capture_output=True, check=True, timeout=300)
    key, cert, _ = pkcs12.load_key_and_certificates(store.read_bytes(), b"changeit")
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
    assert cert is not None
    return KeytoolCert(key, cert, days, SAN_ITEMS if ext else [])


@pytest.fixture(scope="session")
def keytool_certs(jdk: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeytoolCert]:
    """One keytool -genkeypair certificate per PARAMS entry, plus an EC one with SANs."""
    folder = tmp_path_factory.mktemp("keytool-certs")
    certs = {f"{alg}-{size}": _keytool_genkeypair(folder, f"{alg}{size}", opts, days, [])
             for alg, size, opts, days in PARAMS}
    certs["san"] = _keytool_genkeypair(folder, "san", PARAMS[2][2], 90, ["-ext", KEYTOOL_SAN])
    return certs


def _rebuild(kt: KeytoolCert) -> x509.Certificate:
    return build_self_signed(kt.key, kt.cert.subject, not_before=kt.cert.not_valid_before_utc,
                             validity_days=kt.days, san=parse_san(kt.san))


def _tbs_fields(cert: x509.Certificate) -> list[bytes]:
    """version, serial, signature, issuer, validity, subject, SPKI, extensions: each field's DER."""
    return [node.raw for node in der.decode(cert.tbs_certificate_bytes).children()]


def _assert_same_shape_as_keytool(ours: x509.Certificate, theirs: x509.Certificate) -> None:
    ours_fields, their_fields = _tbs_fields(ours), _tbs_fields(theirs)
    assert len(ours_fields) == len(their_fields) == 8
    for i in (0, 2, 3, 4, 5, 6, 7):  # all but the serial number (field 1)
        assert ours_fields[i] == their_fields[i], f"TBSCertificate field {i} differs from keytool's"
    assert ours.signature_algorithm_oid == theirs.signature_algorithm_oid
    assert ours.version == x509.Version.v3


# -- against keytool ---------------------------------------------------------------------------------------

@pytest.mark.java
@pytest.mark.parametrize(("alg", "size"), [(a, s) for a, s, _, _ in PARAMS])
def test_same_tbs_as_keytool(alg: str, size: int | None, keytool_certs: dict[str, KeytoolCert]) -> None:
    kt = keytool_certs[f"{alg}-{size}"]
    assert key_params(kt.key) == (alg, size)
    ours = _rebuild(kt)
    _assert_same_shape_as_keytool(ours, kt.cert)
    assert ours.signature_algorithm_oid.dotted_string == SIGNATURE_OIDS[(alg, size)]
    ours.verify_directly_issued_by(ours)


@pytest.mark.java
def test_same_tbs_as_keytool_with_san(keytool_certs: dict[str, KeytoolCert]) -> None:
    kt = keytool_certs["san"]
    ours = _rebuild(kt)
    _assert_same_shape_as_keytool(ours, kt.cert)
    assert [(e.oid, e.critical) for e in ours.extensions] == [
        (x509.oid.ExtensionOID.SUBJECT_KEY_IDENTIFIER, False),
        (x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME, False),
    ]


@pytest.mark.java
def test_keytool_certificate_verifies_ours(keytool_certs: dict[str, KeytoolCert]) -> None:
    """Same subject and key: keytool's certificate is a valid issuer of ours (names and signature)."""
    kt = keytool_certs["RSA-2048"]
    ours = _rebuild(kt)
    kt.cert.verify_directly_issued_by(kt.cert)
    ours.verify_directly_issued_by(kt.cert)


@pytest.mark.java
@pytest.mark.slow
def test_rsa_4096_like_keytool(jdk: None, tmp_path: Path) -> None:
    alg, size, opts, days = RSA_4096
    kt = _keytool_genkeypair(tmp_path, "rsa4096", opts, days, [])
    _assert_same_shape_as_keytool(_rebuild(kt), kt.cert)
    assert isinstance(signature_hash_for(kt.key), hashes.SHA384)
    ours = generate_private_key("RSA", 4096)
    assert key_params(ours) == ("RSA", 4096)
    assert build_self_signed(ours, parse_dname(SUBJECT), not_before=START, validity_days=days) \
        .signature_algorithm_oid.dotted_string == SIGNATURE_OIDS[(alg, size)]


@pytest.mark.java
def test_java_reads_our_certificates(jdk: None, tmp_path: Path) -> None:
    pems = tmp_path / "ours.pem"
    names = []
    with pems.open("wb") as out:
        for alg, size, _, days in PARAMS:
            cert = build_self_signed(_key(alg, size), parse_dname(f"CN={alg}-{size}, O=kstool"), not_before=START,
                                     validity_days=days, san=parse_san(SAN_ITEMS))
            out.write(cert.public_bytes(Encoding.PEM))
            names.append(f"CN={alg}-{size}, O=kstool")
    result = subprocess.run(["keytool", "-printcert", "-file", str(pems)], capture_output=True, text=True,
                            check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in names:
        assert f"Owner: {name}" in result.stdout
    for algorithm in ("SHA256withRSA", "SHA256withECDSA", "SHA384withECDSA", "SHA512withECDSA", "Ed25519"):
        assert f"Signature algorithm name: {algorithm}" in result.stdout
    assert result.stdout.count("DNSName: *.wild.example") == len(PARAMS)
    assert result.stdout.count("Version: 3") == len(PARAMS)


# -- determinism and shape, without Java -------------------------------------------------------------------

_KEYS: dict[tuple[str, int | None], PrivateKey] = {}


def _key(alg: str, size: int | None) -> PrivateKey:
    """One generated key per (alg, size) for the whole module: key generation is the slow, random part."""
    if (alg, size) not in _KEYS:
        _KEYS[(alg, size)] = generate_private_key(alg, size)  # type: ignore[arg-type]  # the table's str
    return _KEYS[(alg, size)]


@pytest.mark.parametrize(("alg", "size"), [(a, s) for a, s, _, _ in PARAMS])
def test_same_inputs_same_certificate(alg: str, size: int | None) -> None:
    key = _key(alg, size)

    def build() -> bytes:
        cert = build_self_signed(key, parse_dname(SUBJECT), not_before=START, validity_days=90,
                                 san=parse_san(SAN_ITEMS))
        return cert.public_bytes(Encoding.DER)

    assert build() == build()


@pytest.mark.parametrize(("alg", "size"), [(a, s) for a, s, _, _ in PARAMS])
def test_certificate_shape(alg: str, size: int | None) -> None:
    key = _key(alg, size)
    subject = parse_dname(SUBJECT)
    cert = build_self_signed(key, subject, not_before=START + timedelta(microseconds=999_999), validity_days=90)
    assert cert.version == x509.Version.v3
    assert cert.subject.public_bytes() == cert.issuer.public_bytes() == subject.public_bytes()
    assert cert.not_valid_before_utc == START  # truncated to whole seconds
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(seconds=90 * 86400)
    assert [(e.oid, e.critical) for e in cert.extensions] == [(x509.oid.ExtensionOID.SUBJECT_KEY_IDENTIFIER, False)]
    assert cert.extensions[0].value == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    assert cert.signature_algorithm_oid.dotted_string == SIGNATURE_OIDS[(alg, size)]
    assert 0 < cert.serial_number < 2**63
    cert.verify_directly_issued_by(cert)


def test_serial_depends_on_every_input() -> None:
    key, other_key = _key("EC", 256), generate_private_key("EC", 256)
    a, b = parse_dname("CN=a"), parse_dname("CN=b")
    san_a, san_b = parse_san(["dns:a"]), parse_san(["dns:b"])
    later = START + timedelta(seconds=1)
    certs = [
        build_self_signed(key, a, not_before=START, validity_days=90, san=san_a),
        build_self_signed(other_key, a, not_before=START, validity_days=90, san=san_a),
        build_self_signed(key, b, not_before=START, validity_days=90, san=san_a),
        build_self_signed(key, a, not_before=later, validity_days=90, san=san_a),
        build_self_signed(key, a, not_before=START, validity_days=91, san=san_a),
        build_self_signed(key, a, not_before=START, validity_days=90, san=san_b),
        build_self_signed(key, a, not_before=START, validity_days=90),
    ]
    assert len({c.serial_number for c in certs}) == len(certs)


def test_not_before_in_another_timezone() -> None:
    plus_two = START.astimezone(timezone(timedelta(hours=2)))
    key = _key("Ed25519", None)
    a = build_self_signed(key, parse_dname("CN=a"), not_before=START, validity_days=1)
    b = build_self_signed(key, parse_dname("CN=a"), not_before=plus_two, validity_days=1)
    assert a.not_valid_before_utc == b.not_valid_before_utc == START


def test_naive_not_before_is_a_bug() -> None:
    with pytest.raises(TypeError, match="timezone-aware"):
        build_self_signed(_key("Ed25519", None), parse_dname("CN=a"), not_before=datetime(2024, 1, 1),
                          validity_days=1)


@pytest.mark.parametrize(("days", "message"), [
    (0, "validity of 0 days: a certificate must be valid for at least 1 day"),
    (-5, "validity of -5 days: a certificate must be valid for at least 1 day"),
    (10**7, "a validity of 10000000 days ends after the year 9999"),
])
def test_bad_validity(days: int, message: str) -> None:
    with pytest.raises(MaterialError) as info:
        build_self_signed(_key("Ed25519", None), parse_dname("CN=a"), not_before=START, validity_days=days)
    assert str(info.value) == message


def test_dates_after_2049_use_generalized_time() -> None:
    cert = build_self_signed(_key("Ed25519", None), parse_dname("CN=a"), not_before=START, validity_days=365 * 30)
    assert cert.not_valid_after_utc.year == 2053
    validity = der.decode(cert.tbs_certificate_bytes).children()[4].children()
    assert [node.tag for node in validity] == [0x17, 0x18]  # UTCTime, GeneralizedTime (RFC 5280, as Java)


# -- keys ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("alg", "size"), [(a, s) for a, s, _, _ in PARAMS])
def test_generated_key_params(alg: str, size: int | None) -> None:
    key = _key(alg, size)
    assert key_params(key) == (alg, size)
    assert key_params(key.public_key()) == (alg, size)
    if isinstance(key, rsa.RSAPrivateKey):
        assert key.public_key().public_numbers().e == 65537


@pytest.mark.parametrize(("alg", "size"), [("RSA", 1024), ("RSA", None), ("EC", 224), ("EC", None),
                                           ("Ed25519", 256), ("DSA", 2048)])
def test_cannot_generate(alg: str, size: int | None) -> None:
    with pytest.raises(MaterialError, match=f"cannot generate a {alg} key of size {size}; supported: RSA 2048"):
        generate_private_key(alg, size)  # type: ignore[arg-type]  # unsupported on purpose


def test_key_params_refuses_what_java_17_lacks() -> None:
    with pytest.raises(MaterialError, match="EC curve secp256k1 is not supported"):
        key_params(ec.generate_private_key(ec.SECP256K1()))
    with pytest.raises(MaterialError, match="unsupported key type"):
        key_params(x25519.X25519PrivateKey.generate())  # type: ignore[arg-type]  # unsupported on purpose


@pytest.mark.parametrize(("alg", "size", "expected"), [
    ("RSA", 2048, hashes.SHA256), ("RSA", 3072, hashes.SHA256), ("EC", 256, hashes.SHA256),
    ("EC", 384, hashes.SHA384), ("EC", 521, hashes.SHA512),
])
def test_signature_hash_for(alg: str, size: int, expected: type[hashes.HashAlgorithm]) -> None:
    assert isinstance(signature_hash_for(_key(alg, size)), expected)


def test_signature_hash_for_ed25519_and_small_rsa() -> None:
    assert signature_hash_for(_key("Ed25519", None)) is None
    assert isinstance(signature_hash_for(rsa.generate_private_key(65537, 1024)), hashes.SHA256)


# -- subject alternative names ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("item", "expected"), [
    ("dns:example.com", x509.DNSName("example.com")),
    ("DNS:Mixed.Case.Example", x509.DNSName("Mixed.Case.Example")),  # kept as written, like keytool
    ("dns:*.example.com", x509.DNSName("*.example.com")),
    ("dns:localhost", x509.DNSName("localhost")),
    ("dns:xn--bcher-kva.example", x509.DNSName("xn--bcher-kva.example")),
    ("ip:10.0.0.1", x509.IPAddress(ipaddress.ip_address("10.0.0.1"))),
    ("IP:2001:db8::1", x509.IPAddress(ipaddress.ip_address("2001:db8::1"))),
    ("ip:::1", x509.IPAddress(ipaddress.ip_address("::1"))),
    ("email:admin@example.com", x509.RFC822Name("admin@example.com")),
    ("EMAIL:a@b", x509.RFC822Name("a@b")),
    ("uri:https://example.com/path?q=1", x509.UniformResourceIdentifier("https://example.com/path?q=1")),
    ("Uri:urn:isbn:0451450523", x509.UniformResourceIdentifier("urn:isbn:0451450523")),
    ("oid:1.2.3.4", x509.RegisteredID(x509.ObjectIdentifier("1.2.3.4"))),
])
def test_parse_san(item: str, expected: x509.GeneralName) -> None:
    assert parse_san([item]) == [expected]


def test_parse_san_keeps_order() -> None:
    assert [type(n).__name__ for n in parse_san(SAN_ITEMS)] == [
        "DNSName", "IPAddress", "RFC822Name", "UniformResourceIdentifier", "IPAddress", "RegisteredID", "DNSName"]


@pytest.mark.parametrize(("item", "problem"), [
    ("example.com", "expected TYPE:VALUE, one of dns:NAME, ip:ADDRESS, email:ADDRESS, uri:URI or oid:N.N.N"),
    ("dnsname:example.com", "expected TYPE:VALUE"),
    ("dns:", "a DNS name is dot-separated labels"),
    ("dns:a..b", "a DNS name is dot-separated labels"),
    ("dns:a.b.", "a DNS name is dot-separated labels"),
    ("dns:-bad.example", "a DNS name is dot-separated labels"),
    ("dns:under_score.example", "a DNS name is dot-separated labels"),
    ("dns:é.example", "use the punycode (xn--) form"),
    ("dns:a.*.example", "a DNS name is dot-separated labels"),
    ("dns:*", "a DNS name is dot-separated labels"),
    ("ip:300.1.1.1", "not an IPv4 or IPv6 address"),
    ("ip:host.example", "not an IPv4 or IPv6 address"),
    ("ip:fe80::1%eth0", "an IPv6 scope"),
    ("email:", "an email address is ASCII local@domain"),
    ("email:no-at-sign", "an email address is ASCII local@domain"),
    ("email:é@example.com", "an email address is ASCII local@domain"),
    ("uri:relative/path", "a URI needs a scheme"),
    ("uri:https://ex ample.com", "a URI needs a scheme"),
    ("oid:1", "an OID is dotted decimal"),
    ("oid:3.1", "an OID is dotted decimal"),
])
def test_parse_san_rejects(item: str, problem: str) -> None:
    with pytest.raises(MaterialError) as info:
        parse_san(["dns:fine.example", item])
    assert str(info.value).startswith(f"subject alternative name {item!r}: ")
    assert problem in str(info.value)
