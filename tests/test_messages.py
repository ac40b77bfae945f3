"""Messages a person can act on (issue 12, items 11, 12, 13 and 15): every error of a run at once, at its own
location; paths as typed; no raw library text; untrusted text escaped; the human plan as reviewers read it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.clirun import run

NOW = dt.datetime.now(dt.UTC)
PW = "Msg-Store-Pw-1"
_KEY = ec.generate_private_key(ec.SECP256R1())


def make_cert(cn: str, *, days: tuple[int, int] = (-1, 30), key: ec.EllipticCurvePrivateKey | None = None,
              issuer: x509.Name | None = None, signer: ec.EllipticCurvePrivateKey | None = None,
              san: list[x509.GeneralName] | None = None, ca: bool = True) -> x509.Certificate:
    key = key or _KEY
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
               .public_key(key.public_key()).serial_number(abs(hash(cn)) % (1 << 60) + 1)
               .not_valid_before(NOW + dt.timedelta(days=days[0]))
               .not_valid_after(NOW + dt.timedelta(days=days[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(signer or key, hashes.SHA256())


def write_pem(path: Path, *certs: x509.Certificate) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def write_spec(folder: Path, text: str) -> Path:
    spec = folder / "kstool.yaml"
    spec.write_text(text)
    return spec


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("kstool: error: ")]


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MSG_A", "MSG_B", "MSG_C"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MSG_PASS", PW)
    monkeypatch.delenv("FORCE_COLOR", raising=False)


# -- item 11: every error in one run ------------------------------------------------------------------------


def test_three_unset_variables_are_three_errors_in_one_run(workdir: Path, env: None,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(workdir, "version: 1\nkeystores:\n" + "".join(
        f"  - name: s{n}\n    path: s{n}.p12\n    password: {{env: MSG_{n}}}\n    entries:\n"
        "      - alias: k\n        generate: {dname: CN=a, key: {algorithm: EC, size: 256}}\n" for n in "ABC"))
    result = run(capsys, "plan", spec)
    assert result.code == 1
    lines = error_lines(result.err)
    assert len(lines) == 3
    for n, line in zip("ABC", lines, strict=True):
        assert f"environment variable MSG_{n} is not set" in line
    assert [int(m) for m in re.findall(r"kstool\.yaml:(\d+):", result.err)] == sorted(
        int(m) for m in re.findall(r"kstool\.yaml:(\d+):", result.err))


def test_a_misspelt_key_is_named_at_its_own_line_with_did_you_mean(workdir: Path, env: None,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(workdir, "version: 1\nkeystores:\n  - name: web\n    path: web.jks\n"
                               "    pasword: {env: MSG_PASS}\n    entries:\n      - alias: k\n"
                               "        generate: {dname: CN=a}\n")
    result = run(capsys, "validate", spec)
    assert result.code == 1
    assert error_lines(result.err) == [
        f"kstool: error: {spec}:5:5: keystores[0].pasword: unknown key 'pasword'; did you mean 'password'?"]


def test_schema_errors_all_at_once_in_document_order(workdir: Path, env: None,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(workdir, "version: 1\nkeystores:\n  - name: web\n    path: web.jks\n"
                               "    password: {env: MSG_PASS}\n    entires: []\n    entries:\n      - alias: k\n"
                               "        generate: {dnam: CN=a}\n  - name: api\n    path: api.jks\n"
                               "    password: {env: MSG_PASS}\n    iterations: 10\n    entries: []\n")
    result = run(capsys, "validate", spec)
    lines = error_lines(result.err)
    assert result.code == 1 and len(lines) == 3, result.err
    assert "6:5: keystores[0].entires: unknown key 'entires'; did you mean 'entries'?" in lines[0]
    assert "9:20: keystores[0].entries[0].generate.dnam: unknown key 'dnam'; did you mean 'dname'?" in lines[1]
    assert "13:5: keystores[1].iterations: must be a whole number" in lines[2]


def test_cross_check_errors_all_at_once(workdir: Path, env: None, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(workdir, "version: 1\nkeystores:\n  - name: web\n    path: web.jks\n"
                               "    password: {env: MSG_PASS}\n    pkcs12_profile: legacy\n    entries:\n"
                               "      - alias: k\n        generate: {dname: 'CN=a,XX=b'}\n"
                               "  - name: trust\n    path: trust.jks\n    password: {env: MSG_PASS}\n    entries:\n"
                               "      - alias: t\n        trusted: {entry: nowhere/k}\n")
    result = run(capsys, "validate", spec)
    lines = error_lines(result.err)
    assert result.code == 1 and len(lines) == 3, result.err
    assert ":6:5: keystores[0].pkcs12_profile: pkcs12_profile applies to pkcs12 only" in lines[0]
    assert ":9:20: keystores[0].entries[0].generate.dname: invalid dname" in lines[1]
    assert ":14:9: keystores[1].entries[0]: trusted.entry names keystore 'nowhere'" in lines[2]


def test_two_expired_roots_are_both_named_in_one_run(workdir: Path, env: None,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    write_pem(workdir / "roots" / "old1.pem", make_cert("Old Root 1", days=(-900, -30)))
    write_pem(workdir / "roots" / "old2.pem", make_cert("Old Root 2", days=(-900, -60)))
    write_pem(workdir / "roots" / "good.pem", make_cert("Good Root"))
    spec = write_spec(workdir, "version: 1\nkeystores:\n  - name: trust\n    path: trust.p12\n"
                               "    password: {env: MSG_PASS}\n    entries:\n"
                               "      - alias: old1\n        trusted: {certificate: roots/old1.pem}\n"
                               "      - alias: good\n        trusted: {certificate: roots/good.pem}\n"
                               "      - alias: old2\n        trusted: {certificate: roots/old2.pem}\n"
                               "  - name: other\n    path: other.p12\n    password: {env: MSG_A}\n    entries: []\n")
    result = run(capsys, "plan", spec.name)
    lines = error_lines(result.err)
    assert result.code == 1 and len(lines) == 3, result.err
    assert ":7:9: keystores[0].entries[0]: roots/old1.pem: the certificate 'CN=Old Root 1' expired" in lines[0]
    assert ":11:9: keystores[0].entries[2]: roots/old2.pem: the certificate 'CN=Old Root 2' expired" in lines[1]
    assert ":15:5: keystores[1].password: environment variable MSG_A is not set" in lines[2]
    assert str(workdir) not in result.err  # paths as typed, never absolute
    assert not (workdir / "trust.p12").exists()
