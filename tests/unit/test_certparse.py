"""One certificate parser (crypto/certparse.parse_certificate) under the three wrappers that name the context."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from kstool.crypto.certparse import CertificateParseError, cert_spki, parse_certificate, spki
from kstool.crypto.imports import load_certificates
from kstool.engine.facts import load_cert
from kstool.errors import FormatError, MaterialError
from tests.e2e.test_reproducible import CERTS

ROOT = (CERTS / "root.crt").read_bytes()
ROOT_DER = x509.load_pem_x509_certificate(ROOT).public_bytes(Encoding.DER)
VERSION_18 = ROOT_DER.replace(b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x12", 1)
BAD_NAME_TAG = ROOT_DER.replace(b"\x06\x03\x55\x04\x03\x0c", b"\x06\x03\x55\x04\x03\xf9", 1)


@pytest.mark.parametrize(("data", "part"), [(b"\x30\x03\x02\x01\x00", "der"), (VERSION_18, "version"),
                                            (BAD_NAME_TAG, "names")])
def test_every_failure_is_one_error_type(data: bytes, part: str) -> None:
    assert data != ROOT_DER
    with pytest.raises(CertificateParseError) as info:
        parse_certificate(data)
    assert info.value.part == part


def test_the_wrappers_keep_their_messages(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"^malformed or unsupported certificate \("):
        load_cert(BAD_NAME_TAG)
    for data, message in ((VERSION_18, "has X.509 version 19, which does not exist"),
                          (BAD_NAME_TAG, "has a malformed subject or issuer name")):
        with pytest.raises(MaterialError, match=message):
            load_certificates(tmp_path / "x.crt", data)
    assert parse_certificate(ROOT_DER).subject == x509.load_pem_x509_certificate(ROOT).subject


def test_spki_of_a_certificate() -> None:
    cert = parse_certificate(ROOT_DER)
    assert cert_spki(cert) == spki(cert.public_key())
