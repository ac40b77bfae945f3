"""The CSR → CA → reply round trip: kstool csr, an OpenSSL CA signs it, reply: imports it onto the same key, and
Java recovers that key with the CA-signed chain; keytool -certreq's subject DER is the same as kstool's."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kstool.formats.codec import decode
from kstool.formats.entries import KeyEntry
from tests.support.clirun import run, snapshot
from tests.support.javatools import compile_java, have_jdk

DNAME = "CN=partner.example.org, OU=Integration, O=Partner, C=LK"
SPEC = f"""\
version: 1
keystores:
  - name: partner
    path: partner.p12
    password: {{file: secrets/partner.pass, generate: true}}
    entries:
      - alias: partner
        generate:
          dname: "{DNAME}"
          key: {{algorithm: EC, size: 256}}
          san: ["dns:partner.example.org"]
"""
REPLY = """\
          reply:
            certificate: certs/partner-signed.pem
            chain: [certs/partner-ca.pem]
"""


def openssl(*args: str | Path, cwd: Path) -> str:
    out = subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def make_ca(folder: Path) -> None:
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
            "-out", "partner-ca.pem", "-days", "365", "-subj", "/CN=Partner Test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=folder)


def sign(folder: Path, csr: str, out: str) -> None:
    (folder / "request.csr").write_text(csr, encoding="ascii")
    openssl("x509", "-req", "-in", "request.csr", "-CA", "partner-ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "90", "-copy_extensions", "copy", "-out", out, cwd=folder)


def stored(folder: Path) -> KeyEntry:
    password = (folder / "secrets" / "partner.pass").read_text(encoding="utf-8").strip()
    (entry,) = decode((folder / "partner.p12").read_bytes(), "pkcs12", password)
    assert isinstance(entry, KeyEntry)
    return entry


@pytest.fixture()
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    (tmp_path / "kstool.yaml").write_text(SPEC, encoding="utf-8")
    (tmp_path / "certs").mkdir()
    make_ca(tmp_path / "certs")
    assert run(capsys, "apply", tmp_path / "kstool.yaml").code == 0
    return tmp_path


def test_csr_signed_by_a_ca_goes_back_onto_the_same_key(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = project / "kstool.yaml"
    before = stored(project)
    csr = run(capsys, "csr", spec, "partner/partner")
    assert csr.code == 0
    (project / "partner.csr").write_text(csr.out, encoding="ascii")
    assert "verify OK" in openssl("req", "-verify", "-noout", "-in", "partner.csr", cwd=project)
    sign(project / "certs", csr.out, "partner-signed.pem")
    spec.write_text(SPEC + REPLY, encoding="utf-8")
    plan = run(capsys, "plan", "--json", spec).json()
    (change,) = plan["keystores"][0]["entries"]
    assert change["action"] == "update"
    assert change["reasons"] == ["CA-signed certificate replaces the self-signed one (key kept)"]
    assert run(capsys, "apply", spec).code == 0
    after = stored(project)
    ca_der = x509.load_pem_x509_certificate((project / "certs" / "partner-ca.pem").read_bytes()).public_bytes(
        Encoding.DER)
    assert after.key_der == before.key_der and len(after.chain_der) == 2 and after.chain_der[1] == ca_der
    assert x509.load_der_x509_certificate(after.chain_der[0]).issuer.rfc4514_string() == "CN=Partner Test CA"
    quiet = snapshot(project)
    again = run(capsys, "apply", spec)
    assert again.code == 0 and "No changes" in again.out and snapshot(project) == quiet
    assert run(capsys, "verify", spec).code == 0
    if have_jdk():
        java = compile_java(project / "classes")
        password = (project / "secrets" / "partner.pass").read_text(encoding="utf-8").strip()
        _, entry = java.load(project / "partner.p12", password)
        assert entry["chain"] == [hashlib.sha256(c).hexdigest() for c in after.chain_der]
        assert entry["key_sha256"] == hashlib.sha256(after.key_der).hexdigest()


def test_reply_for_another_key_names_both_fingerprints(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = project / "other"
    other.mkdir()
    (other / "kstool.yaml").write_text(SPEC, encoding="utf-8")
    assert run(capsys, "apply", other / "kstool.yaml").code == 0
    sign(project / "certs", run(capsys, "csr", other / "kstool.yaml", "partner/partner").out, "partner-signed.pem")
    (project / "kstool.yaml").write_text(SPEC + REPLY, encoding="utf-8")
    result = run(capsys, "plan", project / "kstool.yaml")
    mine = hashlib.sha256(x509.load_der_x509_certificate(stored(project).chain_der[0]).public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()
    assert result.code == 1 and "the reply answers another request; make a new CSR" in result.err
    assert mine in result.err


def test_dname_change_with_a_reply_asks_for_a_new_csr(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = project / "kstool.yaml"
    sign(project / "certs", run(capsys, "csr", spec, "partner/partner").out, "partner-signed.pem")
    spec.write_text((SPEC + REPLY).replace("OU=Integration", "OU=Payments"), encoding="utf-8")
    before = snapshot(project)
    result = run(capsys, "plan", spec)
    assert result.code == 1 and "the CA's reply no longer matches the entry" in result.err
    assert "a new CSR is needed" in result.err
    assert run(capsys, "apply", spec).code == 1 and snapshot(project) == before


@pytest.mark.java
@pytest.mark.skipif(not have_jdk(), reason="needs the JDK")
def test_csr_subject_der_equals_keytool_certreq(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = dict(os.environ, KT_PASS="changeit-kt")
    base = ["-keystore", str(project / "kt.p12"), "-storepass:env", "KT_PASS"]
    subprocess.run(["keytool", "-genkeypair", "-alias", "k", "-keyalg", "EC", "-groupname", "secp256r1",
                    "-dname", DNAME, *base], env=env, check=True, capture_output=True, timeout=120)
    theirs = subprocess.run(["keytool", "-certreq", "-alias", "k", *base], env=env, check=True,
                            capture_output=True, text=True, timeout=120).stdout
    ours = run(capsys, "csr", project / "kstool.yaml", "partner/partner").out
    assert x509.load_pem_x509_csr(ours.encode()).subject.public_bytes() == \
        x509.load_pem_x509_csr(theirs.encode()).subject.public_bytes()
