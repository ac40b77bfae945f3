"""Certificate authorities: the CA and CA-signed certificates crypto/certs.py builds, and the spec's issuer checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from kstool.crypto.certs import build_issued, build_self_signed, is_ca_certificate
from kstool.errors import KstoolError, MaterialError
from kstool.spec.model import Generate, load_spec

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ROOT_NAME = x509.Name.from_rfc4514_string("CN=Root CA,O=Example")
LEAF_NAME = x509.Name.from_rfc4514_string("CN=leaf,O=Example")


@pytest.fixture(scope="module")
def root() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP384R1())
    return key, build_issued(key, ROOT_NAME, not_before=NOW, validity_days=3650, ca=True, path_length=1)


E = TypeVar("E", bound=x509.ExtensionType)

def ext(cert: x509.Certificate, kind: type[E]) -> x509.Extension[E]:
    return cert.extensions.get_extension_for_class(kind)


def test_ca_certificate_has_critical_constraints_and_cert_sign_usage(root: tuple[ec.EllipticCurvePrivateKey,
                                                                                  x509.Certificate]) -> None:
    _, cert = root
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical and bc.value == x509.BasicConstraints(ca=True, path_length=1)
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
    assert ext(cert, x509.SubjectKeyIdentifier).value == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    assert cert.issuer == cert.subject and is_ca_certificate(cert)
    cert.verify_directly_issued_by(cert)


@pytest.mark.parametrize(("make_key", "encipherment"), [
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), True),
    (lambda: ec.generate_private_key(ec.SECP256R1()), False),
    (ed25519.Ed25519PrivateKey.generate, False),
])
def test_leaf_signed_by_ca(root: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], make_key: object,
                           encipherment: bool) -> None:
    ca_key, ca_cert = root
    key = make_key()  # type: ignore[operator]
    san = [x509.DNSName("leaf.example")]
    leaf = build_issued(key, LEAF_NAME, not_before=NOW, validity_days=397, san=san, usage=["server", "client"],
                        issuer_key=ca_key, issuer_cert=ca_cert)
    leaf.verify_directly_issued_by(ca_cert)
    assert leaf.issuer == ca_cert.subject
    assert ext(leaf, x509.AuthorityKeyIdentifier).value.key_identifier == \
        ext(ca_cert, x509.SubjectKeyIdentifier).value.digest
    assert ext(leaf, x509.SubjectKeyIdentifier).value == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    bc = ext(leaf, x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = ext(leaf, x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment is encipherment and not ku.key_cert_sign
    assert list(ext(leaf, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH,
                                                           ExtendedKeyUsageOID.CLIENT_AUTH]
    assert list(ext(leaf, x509.SubjectAlternativeName).value) == san
    assert not is_ca_certificate(leaf)
    # deterministic: the same inputs give the same bytes (RFC 6979 ECDSA signature by the EC root)
    again = build_issued(key, LEAF_NAME, not_before=NOW, validity_days=397, san=san, usage=["server", "client"],
                         issuer_key=ca_key, issuer_cert=ca_cert)
    assert again == leaf and again.signature == leaf.signature
    assert 0 < leaf.serial_number < 2 ** 159  # positive, at most 20 bytes


def test_serials_differ_per_certificate_of_one_issuer(root: tuple[ec.EllipticCurvePrivateKey,
                                                                  x509.Certificate]) -> None:
    ca_key, ca_cert = root
    key = ec.generate_private_key(ec.SECP256R1())
    serials = {build_issued(key, x509.Name.from_rfc4514_string(f"CN=leaf{i}"), not_before=NOW, validity_days=30,
                            issuer_key=ca_key, issuer_cert=ca_cert).serial_number for i in range(20)}
    assert len(serials) == 20


def test_leaf_may_not_outlive_its_issuer(root: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]) -> None:
    ca_key, ca_cert = root
    with pytest.raises(MaterialError, match="may not outlive its issuer"):
        build_issued(ec.generate_private_key(ec.SECP256R1()), LEAF_NAME, not_before=NOW, validity_days=4000,
                     issuer_key=ca_key, issuer_cert=ca_cert)


def test_plain_self_signed_is_not_a_ca() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert not is_ca_certificate(build_self_signed(key, LEAF_NAME, not_before=NOW, validity_days=1))


# -- the spec ------------------------------------------------------------------------------------------------

HEAD = """\
version: 1
keystores:
  - name: ca
    path: ca.p12
    password: {env: CA_PASS}
    entries:
      - alias: root
        generate:
          dname: "CN=Root"
          key: {algorithm: EC}
          validity_days: 1000
          ca: {path_length: 0}
      - alias: plain
        generate: {dname: "CN=Plain", key: {algorithm: EC}}
      - alias: a
        generate: {dname: "CN=A", key: {algorithm: EC}, ca: {}, issuer: ca/b}
      - alias: b
        generate: {dname: "CN=B", key: {algorithm: EC}, ca: {}, issuer: ca/a}
      - alias: t
        trusted: {entry: ca/root}
  - name: leaves
    path: leaves.p12
    password: {env: LEAVES_PASS}
    entries:
"""


def leaf(alias: str, issuer: str, extra: str = "") -> str:
    return (f"      - alias: {alias}\n        generate: {{dname: \"CN={alias}\", key: {{algorithm: EC}}, "
            f"issuer: {issuer}{extra}}}\n")


def test_issuer_errors_are_located_and_reported_together(tmp_path: Path) -> None:
    text = HEAD + "".join([
        leaf("ok", "ca/root", ", usage: [server]"),
        leaf("missing-store", "nowhere/root"),
        leaf("missing-alias", "ca/nope"),
        leaf("not-ca", "ca/plain"),
        leaf("trusted", "ca/t"),
        leaf("too-long", "ca/root", ", validity_days: 2000"),
        leaf("sub-ca", "ca/root", ", ca: {path_length: 0}"),
    ])
    spec = tmp_path / "kstool.yaml"
    spec.write_text(text, encoding="utf-8")
    with pytest.raises(KstoolError) as info:
        load_spec(spec)
    message = str(info.value)
    expected = [
        "keystores[0].entries[2]: generate.issuer: issuers form a cycle: ca/a → ca/b → ca/a",
        "keystores[0].entries[3]: generate.issuer: issuers form a cycle: ca/b → ca/a → ca/b",
        "keystores[1].entries[1]: generate.issuer: nowhere/root names keystore 'nowhere', which is not in the spec",
        "keystores[1].entries[2]: generate.issuer: ca/nope: keystore 'ca' has no alias 'nope'",
        "keystores[1].entries[3]: generate.issuer: ca/plain is not a CA certificate: add ca: {path_length: N}",
        "keystores[1].entries[4]: generate.issuer: ca/t is a trusted certificate",
        "keystores[1].entries[5]: generate.issuer: validity_days 2000 outlives the issuer ca/root (1000 days)",
        "keystores[1].entries[6]: generate.issuer: ca/root has path_length 0, which forbids a CA below it",
    ]
    for line in expected:
        assert line in message, message
    assert "entries[0]" not in message.replace("keystores[0].entries[0]", "")


def test_ca_issuer_and_usage_load_into_generate(tmp_path: Path) -> None:
    spec = tmp_path / "kstool.yaml"
    spec.write_text(HEAD.replace("""      - alias: a
        generate: {dname: "CN=A", key: {algorithm: EC}, ca: {}, issuer: ca/b}
      - alias: b
        generate: {dname: "CN=B", key: {algorithm: EC}, ca: {}, issuer: ca/a}
""", "") + leaf("Web", "ca/Root", ", usage: [server, client]"), encoding="utf-8")
    loaded = load_spec(spec)
    root, web = loaded.keystores[0].entries[0].source, loaded.keystores[1].entries[0].source
    assert isinstance(root, Generate) and (root.ca, root.path_length, root.issuer) == (True, 0, None)
    assert isinstance(web, Generate)
    assert (web.ca, web.issuer, web.usage) == (False, ("ca", "root"), ("server", "client"))


def test_reply_and_issuer_exclude_each_other(tmp_path: Path) -> None:
    spec = tmp_path / "kstool.yaml"
    head = HEAD.split("      - alias: a\n", maxsplit=1)[0]
    spec.write_text(head + "  - name: leaves\n    path: leaves.p12\n    password: {env: LEAVES_PASS}\n    entries:\n"
                    + "      - alias: leaf\n        generate: {dname: \"CN=leaf\", key: {algorithm: EC}, issuer: "
                      "ca/root, reply: {certificate: signed.pem}}\n", encoding="utf-8")
    with pytest.raises(KstoolError) as info:
        load_spec(spec)
    assert "generate.reply: reply imports a certificate signed by an outside CA, issuer has kstool sign it" in \
        str(info.value)
