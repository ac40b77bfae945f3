"""cryptography's non-public and decrepit API, used only through kstool/crypto/adapter.py: each use is exercised
here against the installed cryptography, so an upgrade that breaks one fails in this file, by name."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import cryptography
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.serialization import Encoding

from kstool.crypto import adapter

PACKAGE = Path(__file__).resolve().parents[2] / "kstool"
PRIVATE_USE = re.compile(r"_rust|hazmat\.bindings|hazmat\.decrepit|_ASN1Type|\._type\b|_validate=|\bdecrepit\b")


def test_private_api_is_used_in_the_adapter_only() -> None:
    users = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if PRIVATE_USE.search(p.read_text()))
    assert users == ["crypto/adapter.py"]


def test_installed_version_is_in_the_tested_range() -> None:
    major = int(cryptography.__version__.split(".")[0])
    assert 45 <= major < 51, f"cryptography {cryptography.__version__} is outside pyproject's tested range"


def test_triple_des_matches_a_known_vector() -> None:
    # NIST SP 800-67 style check: 3DES with K1=K2=K3 is single DES; FIPS 81's "Now is t" example
    cipher = adapter.decrepit_triple_des(bytes.fromhex("0123456789abcdef") * 3)
    encryptor = Cipher(cipher, modes.ECB()).encryptor()
    assert (encryptor.update(b"Now is t") + encryptor.finalize()).hex() == "3fa40e8a984d4815"


def test_rc2_for_128_bit_keys_and_none_for_40() -> None:
    cipher = adapter.decrepit_rc2(bytes.fromhex("88bca90e90875a7f0f79c384627bafb2"))
    assert cipher is not None  # RFC 2268's vector with 128 effective bits
    encryptor = Cipher(cipher, modes.CBC(bytes(8))).encryptor()  # one block after a zero IV: the bare block
    assert (encryptor.update(bytes(8)) + encryptor.finalize()).hex() == "2269552ab0f85ca6"
    assert adapter.decrepit_rc2(bytes(5)) is None  # 40-bit: kstool.formats.rc2 decrypts those


@pytest.mark.parametrize(("tag", "der_tag"), [(19, 0x13), (12, 0x0C), (22, 0x16)])
def test_name_attribute_keeps_the_string_type_and_skips_validation(tag: int, der_tag: int) -> None:
    unvalidated = adapter.name_attribute("2.5.4.6", "LKX", tag)  # a 3-letter country: cryptography would refuse
    assert unvalidated.value == "LKX" and adapter.string_tag(unvalidated) == tag
    attribute = adapter.name_attribute("2.5.4.6", "LK", tag)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.RelativeDistinguishedName([attribute])])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
            .sign(key, hashes.SHA256(), ecdsa_deterministic=True))
    assert bytes([der_tag, 2]) + b"LK" in cert.public_bytes(Encoding.DER)
    assert adapter.string_tag(x509.load_der_x509_certificate(cert.public_bytes(Encoding.DER)).subject.rdns[0]
                              .get_attributes_for_oid(x509.ObjectIdentifier("2.5.4.6"))[0]) == tag


def test_unknown_key_type_errors_of_every_supported_cryptography() -> None:
    from cryptography.exceptions import UnsupportedAlgorithm

    from kstool.crypto.adapter import is_unknown_key_type

    assert is_unknown_key_type(UnsupportedAlgorithm("Unknown key type: 1.2.643.7.1.1.1.1"))
    assert is_unknown_key_type(ValueError("Unknown key type: 1.2.643.7.1.1.1.1"))  # cryptography < 46
    assert not is_unknown_key_type(ValueError("error parsing asn1 value"))
