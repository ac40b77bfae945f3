"""Aliases derived for certificates of bundles and folders: readable, unique, independent of order."""

from __future__ import annotations

import itertools

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from kstool.crypto.aliases import alias_base, derive_aliases, fingerprint, slug
from tests.support.trustcerts import issue


@pytest.mark.parametrize(("text", "expected"), [
    ("DigiCert Global Root CA", "digicert-global-root-ca"),
    ("TÜRKTRUST Elektronik Sertifika", "turktrust-elektronik-sertifika"),
    ("  --Weird__Name!!  ", "weird-name"),
    ("中国金融认证中心", ""),
    ("", ""),
    ("x" * 100, "x" * 64),
    ("a" * 63 + " b", "a" * 63),  # cut at 64, no trailing '-'
])
def test_slug(text: str, expected: str) -> None:
    assert slug(text) == expected


def _with_subject(attributes: list[tuple[x509.ObjectIdentifier, str]]) -> tuple[x509.Certificate, bytes]:
    base = issue("placeholder")
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(base.key.public_key())
            .serial_number(1).not_valid_before(base.cert.not_valid_before_utc)
            .not_valid_after(base.cert.not_valid_after_utc).sign(base.key, hashes.SHA256()))
    return cert, cert.public_bytes(Encoding.DER)


@pytest.mark.parametrize(("attributes", "expected"), [
    ([(NameOID.ORGANIZATION_NAME, "Org"), (NameOID.COMMON_NAME, "My Root CA")], "my-root-ca"),
    ([(NameOID.ORGANIZATION_NAME, "Secom"), (NameOID.ORGANIZATIONAL_UNIT_NAME, "Security Communication RootCA1")],
     "security-communication-rootca1"),
    ([(NameOID.ORGANIZATION_NAME, "Only Org")], "only-org"),
    ([(NameOID.COMMON_NAME, "中国金融认证中心"), (NameOID.ORGANIZATION_NAME, "CFCA")], "cfca"),
    ([(NameOID.COUNTRY_NAME, "CN"), (NameOID.COMMON_NAME, "中国")], None),  # nothing readable: fingerprint
])
def test_alias_base(attributes: list[tuple[x509.ObjectIdentifier, str]], expected: str | None) -> None:
    cert, der = _with_subject(attributes)
    assert alias_base(cert, der) == (expected or f"cert-{fingerprint(der)[:16]}")


def test_unique_wanted_aliases_are_kept() -> None:
    assert derive_aliases({"aa" * 32: "corp-a", "bb" * 32: "corp-b"}) == {"aa" * 32: "corp-a", "bb" * 32: "corp-b"}


def test_collisions_get_a_fingerprint_suffix_each_whatever_the_order() -> None:
    fps = ["1234abcd" + "0" * 56, "9876fedc" + "1" * 56, "5555aaaa" + "2" * 56]
    wanted = {fps[0]: "root", fps[1]: "root", fps[2]: "other"}
    expected = {fps[0]: "root-1234abcd", fps[1]: "root-9876fedc", fps[2]: "other"}
    for order in itertools.permutations(wanted):
        assert derive_aliases({fp: wanted[fp] for fp in order}) == expected


def test_a_suffix_that_collides_again_takes_the_whole_fingerprint() -> None:
    a, b = "abcdef01" + "0" * 56, "abcdef01" + "f" * 56  # same first 8 hex digits (crafted)
    assert derive_aliases({a: "x", b: "x"}) == {a: f"x-{a}", b: f"x-{b}"}


def test_a_wanted_alias_equal_to_a_suffixed_one_is_disambiguated_too() -> None:
    a, b, c = "11111111" + "0" * 56, "22222222" + "0" * 56, "33333333" + "0" * 56
    got = derive_aliases({a: "x", b: "x", c: "x-11111111"})
    assert len(set(got.values())) == 3
    assert got[b] == "x-22222222"


def test_prefixes_are_part_of_the_wanted_alias() -> None:
    a, b = "aa" * 32, "bb" * 32
    assert derive_aliases({a: "corp-root", b: "ext-root"}) == {a: "corp-root", b: "ext-root"}
