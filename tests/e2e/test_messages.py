"""Messages a person can act on (issue 12, items 11, 12, 13 and 15): every error of a run at once, at its own
location; paths as typed; no raw library text; untrusted text escaped; the human plan as reviewers read it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.clirun import run

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
    spec.write_text(spec.read_text().replace("pasword", "password").replace("generate:", "genrate:"))
    result = run(capsys, "validate", spec)
    assert error_lines(result.err) == [  # not also "an entry needs exactly one of generate, import or trusted"
        f"kstool: error: {spec}:8:9: keystores[0].entries[0].genrate: unknown key 'genrate'; did you mean "
        "'generate'?"]


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


# -- item 12: messages a person can act on ------------------------------------------------------------------


def _trusted_spec(folder: Path, *files: str) -> Path:
    return write_spec(folder, "version: 1\nkeystores:\n  - name: trust\n    path: trust.p12\n"
                              "    password: {env: MSG_PASS}\n    entries:" + ("\n" if files else " []\n") + "".join(
                                  f"      - alias: t{i}\n        trusted: {{certificate: {f}}}\n"
                                  for i, f in enumerate(files)))


def test_input_paths_are_shown_as_typed_from_any_folder(tmp_path: Path, env: None, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "deploy"
    project.mkdir()
    write_pem(project / "roots" / "old.pem", make_cert("Old", days=(-90, -3)))
    spec = _trusted_spec(project, "roots/old.pem", "roots/missing.pem")
    monkeypatch.chdir(tmp_path)
    result = run(capsys, "plan", "deploy/kstool.yaml")
    lines = error_lines(result.err)
    assert result.code == 1 and len(lines) == 2, result.err
    assert lines[0].startswith("kstool: error: deploy/kstool.yaml:7:9: keystores[0].entries[0]: roots/old.pem: "
                               "the certificate 'CN=Old' expired on ")
    assert lines[1].startswith("kstool: error: deploy/kstool.yaml:9:9: keystores[0].entries[1]: certificate file "
                               "roots/missing.pem does not exist")
    assert str(tmp_path) not in result.err and spec.exists()


def _with_unknown_key_algorithm(cert: x509.Certificate) -> bytes:
    der = cert.public_bytes(serialization.Encoding.DER)
    ec_public_key = bytes.fromhex("06072a8648ce3d0201")  # OID 1.2.840.10045.2.1 in the SubjectPublicKeyInfo
    assert der.count(ec_public_key) == 1
    return der.replace(ec_public_key, bytes.fromhex("06072a85030701010a"))  # same length, a GOST-like arc


def test_an_unsupported_algorithm_certificate_names_its_file(workdir: Path, env: None,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "gost.der").write_bytes(_with_unknown_key_algorithm(make_cert("gost")))
    (workdir / "gost.key").write_bytes(_KEY.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    spec = _trusted_spec(workdir, "gost.der")
    spec.write_text(spec.read_text() + "      - alias: k\n"
                                       "        import: {certificate: gost.der, private_key: gost.key}\n")
    result = run(capsys, "plan", "kstool.yaml")
    assert result.code == 1
    unsupported = ("gost.der: the certificate's public key uses an unknown algorithm (OID 1.2.643.7.1.1.10), which "
                   "kstool does not support (supported: RSA, EC on P-256/P-384/P-521, Ed25519)")
    assert error_lines(result.err) == [f"kstool: error: kstool.yaml:7:9: keystores[0].entries[0]: {unsupported}",
                                       f"kstool: error: kstool.yaml:9:9: keystores[0].entries[1]: {unsupported}"]


def test_a_malformed_date_is_described_in_words(workdir: Path, env: None,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    der = make_cert("dates").public_bytes(serialization.Encoding.DER)
    at = der.index(b"\x17\x0d")  # the notBefore UTCTime: YYMMDDHHMMSSZ
    (workdir / "dates.der").write_bytes(der[:at + 2] + b"991399000000Z" + der[at + 15:])  # month 13
    _trusted_spec(workdir, "dates.der")
    result = run(capsys, "plan", "kstool.yaml")
    assert result.code == 1
    assert error_lines(result.err) == [
        "kstool: error: kstool.yaml:7:9: keystores[0].entries[0]: dates.der: the DER certificate cannot be parsed "
        "as X.509 (an invalid value in its not before field)"]
    assert "ParseError" not in result.err and "kind:" not in result.err


def test_plain_error_adapter_reads_cryptographys_parse_errors() -> None:
    """The adapter over cryptography's message text: if its format changes, this fails loudly."""
    from kstool.crypto.imports import plain_error

    with pytest.raises(ValueError) as info:
        x509.load_der_x509_certificate(b"\x30\x03\x02\x01\x01")
    assert "ParseError" in str(info.value)  # the raw form the adapter must translate
    assert "ParseError" not in plain_error(info.value) and "{" not in plain_error(info.value)
    assert plain_error(ValueError('ParseError { kind: ShortData, location: ["Certificate::tbs_cert"] }')) == \
        "truncated data in its tbs cert field"
    assert plain_error(ValueError("error parsing asn1 value: Foo::Bar")) == "malformed DER encoding"


@pytest.mark.parametrize("store_type", ["pkcs12", "jks"])
def test_a_flipped_byte_is_an_integrity_failure(store_type: Literal["pkcs12", "jks"]) -> None:
    from kstool.crypto.imports import private_key_to_pkcs8
    from kstool.errors import WrongPasswordError
    from kstool.formats.codec import decode
    from kstool.formats.entries import KeyEntry
    from kstool.formats.jks import encode_jks
    from kstool.formats.pkcs12 import encode_pkcs12

    entry = KeyEntry("k", private_key_to_pkcs8(_KEY), (make_cert("k").public_bytes(serialization.Encoding.DER),), 0)
    data = encode_pkcs12([entry], PW, iterations=1000) if store_type == "pkcs12" else encode_jks([entry], PW, PW)
    hmac_sha256 = bytes.fromhex("2a864886f70d0209")  # the PBKDF2 PRF (PKCS12); any byte of a JKS
    at = data.index(hmac_sha256) + 7 if store_type == "pkcs12" else len(data) // 2
    flipped = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]
    with pytest.raises(WrongPasswordError, match="integrity check failed"):
        decode(flipped, store_type, PW)
    if store_type == "pkcs12":  # every byte inside the MAC-protected content
        for at in range(60, len(data) - 80, 7):
            with pytest.raises(WrongPasswordError, match="integrity check failed"):
                decode(data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1:], store_type, PW)


HOSTILE = "evil\nNo changes. 0 keystore(s) match the spec.\x1b[2K\x1b[32m\u202e"


def test_untrusted_text_is_escaped_in_the_plan_inspect_and_errors(workdir: Path, env: None,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    write_pem(workdir / "evil.pem", make_cert(HOSTILE))
    _trusted_spec(workdir, "evil.pem")
    for colour in ("", "1"):
        monkeypatch.setenv("FORCE_COLOR", colour) if colour else monkeypatch.delenv("FORCE_COLOR", raising=False)
        plan = run(capsys, "plan", "kstool.yaml", "-v")
        assert plan.code == 0
        assert not any(line.startswith("No changes") for line in plan.out.splitlines())
        assert "\u202e" not in plan.out and "\x1b[2K" not in plan.out and "\\x1b[2K" in plan.out
        assert "evil\\x0aNo changes." in plan.out
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    as_json = run(capsys, "plan", "kstool.yaml", "--json")
    assert "\u202e" not in as_json.out and as_json.json()["keystores"][0]["entries"][0]["after"]["subject"] == \
        f"CN={HOSTILE}"  # JSON escapes, and a JSON reader still gets the value
    assert run(capsys, "apply", "kstool.yaml").code == 0
    shown = run(capsys, "inspect", "trust.p12", "--password-env", "MSG_PASS")
    assert shown.code == 0 and "Owner: CN=evil\\x0aNo changes." in shown.out and "\x1b" not in shown.out
    assert run(capsys, "inspect", "trust.p12", "--password-env", "MSG_PASS", "--json").json()[
        "entries"][0]["chain"][0]["subject"] == f"CN={HOSTILE}"  # JSON carries the value, escaped by JSON
    write_pem(workdir / "evil.pem", make_cert(HOSTILE, days=(-9, -2)))
    refused = run(capsys, "plan", "kstool.yaml")
    assert refused.code == 1 and len(refused.err.splitlines()) == 1 and "\x1b" not in refused.err


@pytest.mark.parametrize(("args", "message"), [
    # Terraform's `plan -out`: plan has --out (a saved plan) since issue 17
    (["plan", "-out", "x", "kstool.yaml"], "unknown option '-out': long options take two dashes; did you mean "
                                           "--out?"),
    (["apply", "-out", "x", "kstool.yaml"], "unknown option '-out': long options take two dashes; did you mean "
                                            "--output-dir?"),
    (["plan", "-json", "kstool.yaml"], "unknown option '-json': long options take two dashes; did you mean --json?"),
    (["plan", "-odist", "kstool.yaml"], "unknown option '-odist': a single dash takes one letter; write -o dist if "
                                        "you mean that"),
    (["inspect", "-password-env", "X", "a.p12"], "did you mean --password-env?"),
])
def test_a_single_dash_long_option_is_an_error(workdir: Path, env: None, capsys: pytest.CaptureFixture[str],
                                               args: list[str], message: str) -> None:
    _trusted_spec(workdir)
    result = run(capsys, *args)
    assert result.code == 1 and message in result.err and result.out == ""
    assert not (workdir / "ut").exists() and not (workdir / "dist").exists()


def test_short_options_still_work(workdir: Path, env: None, capsys: pytest.CaptureFixture[str]) -> None:
    _trusted_spec(workdir)
    assert run(capsys, "plan", "-j1", "-v", "-o", "out", "kstool.yaml").code == 0
    assert run(capsys, "plan", "-o", "-out", "kstool.yaml").code == 0  # a value that looks like an option


@pytest.mark.parametrize("args", [["plan", "--json", "kstool.yaml"], ["plan", "kstool.yaml"],
                                  ["validate", "kstool.yaml"], ["schema"]])
def test_a_closed_pipe_exits_quietly(workdir: Path, args: list[str]) -> None:
    """`kstool plan --json | head -1`: the reader goes away; no traceback, no "unexpected error"."""
    _trusted_spec(workdir)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MSG_PASS": PW}
    process = subprocess.Popen([sys.executable, "-m", "kstool", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, cwd=workdir)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # long before the interpreter has started: every write meets a closed pipe
    with process.stderr:
        err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert err == ""


# -- item 13: inspect at parity with keytool -list -v -------------------------------------------------------


def test_inspect_shows_every_certificate_with_extensions(workdir: Path, env: None,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    root_key = ec.generate_private_key(ec.SECP384R1())
    root = make_cert("Msg Root", key=root_key, days=(-1, 400))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web")]))
            .issuer_name(root.subject).public_key(_KEY.public_key()).serial_number(77)
            .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=30, hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("web.example"),
                                                        x509.IPAddress(ipaddress.ip_address("::1"))]),
                           critical=False)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(_KEY.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA384()))
    write_pem(workdir / "web.pem", leaf, root)
    (workdir / "web.key").write_bytes(_KEY.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    write_spec(workdir, "version: 1\nkeystores:\n  - name: web\n    path: web.p12\n    password: {env: MSG_PASS}\n"
                        "    entries:\n      - alias: web\n"
                        "        import: {certificate: web.pem, private_key: web.key}\n")
    assert run(capsys, "apply", "kstool.yaml").code == 0
    text = run(capsys, "inspect", "web.p12", "--password-env", "MSG_PASS").out
    assert "Certificate chain length: 2" in text and "Certificate[1]:" in text and "Certificate[2]:" in text
    assert "Owner: CN=Msg Root" in text  # the second certificate of the chain, not only the leaf
    assert "Subject alternative names: dns:web.example, ip:::1" in text
    assert "Key usage: digital_signature" in text and "Extended key usage: serverAuth" in text
    assert "Basic constraints: CA:false" in text and "Basic constraints: CA:true" in text
    assert "Subject Public Key Algorithm: EC 256 (secp256r1)" in text
    assert "Subject Public Key Algorithm: EC 384 (secp384r1)" in text
    assert "(30 days left)" in text and "Signature algorithm name: ecdsa-with-SHA384" in text
    sha1 = leaf.fingerprint(hashes.SHA1()).hex().upper()
    assert "SHA1: " + ":".join(sha1[i:i + 2] for i in range(0, len(sha1), 2)) in text
    assert "Subject key identifier: " in text and "Authority key identifier: " in text
    doc = run(capsys, "inspect", "web.p12", "--password-env", "MSG_PASS", "--json").json()
    chain = doc["entries"][0]["chain"]
    assert [c["subject"] for c in chain] == ["CN=web", "CN=Msg Root"]
    assert chain[0]["key"] == {"algorithm": "EC", "size": 256, "curve": "secp256r1"}
    assert chain[0]["subject_alt_names"] == ["dns:web.example", "ip:::1"]
    assert chain[0]["extended_key_usage"] == ["serverAuth"] and chain[0]["key_usage"] == ["digital_signature"]
    assert chain[0]["basic_constraints"] == {"ca": False, "path_length": None}
    assert chain[0]["days_left"] == 30 and chain[0]["sha1"] == leaf.fingerprint(hashes.SHA1()).hex()
    assert chain[0]["authority_key_identifier"] == chain[1]["subject_key_identifier"] or \
        chain[1]["subject_key_identifier"] is None
    assert {e["name"] for e in chain[0]["extensions"]} >= {"subjectAltName", "keyUsage", "basicConstraints"}


# -- item 15: the human plan as reviewers read it -----------------------------------------------------------


def _generated_spec(folder: Path, n: int, key: str = "EC, size: 256") -> Path:
    return write_spec(folder, "version: 1\nkeystores:\n" + "".join(
        f"  - name: s{i}\n    path: s{i}.p12\n    password: {{env: MSG_PASS}}\n    entries:\n      - alias: k\n"
        f"        generate: {{dname: CN=s{i}, key: {{algorithm: {key}}}}}\n" for i in range(n)))


def test_creates_have_no_filler_lines_and_a_replacement_is_counted_as_one(
        workdir: Path, env: None, capsys: pytest.CaptureFixture[str]) -> None:
    _generated_spec(workdir, 3)
    created = run(capsys, "plan", "kstool.yaml")
    assert created.out.splitlines() == [line for i in range(3) for line in (
        f"  + keystore s{i} (s{i}.p12, pkcs12): create", f"      + k (key, EC 256, CN=s{i}): create")] + [
        "Plan: 3 to create, 0 to update, 0 to replace, 0 to delete (entries: 3 to create, 0 to update, 0 to "
        "replace, 0 to delete, 0 unchanged)."]
    assert run(capsys, "apply", "kstool.yaml").code == 0
    spec = workdir / "kstool.yaml"
    spec.write_text(spec.read_text().replace("CN=s1,", "CN=renamed,"))
    replaced = run(capsys, "plan", "kstool.yaml").out.splitlines()
    assert replaced[0] == "  ~ keystore s1 (s1.p12, pkcs12): update (1 key replaced)"
    assert replaced[-1] == ("Plan: 0 to create, 0 to update, 1 to replace, 0 to delete (entries: 0 to create, 0 to "
                            "update, 1 to replace, 0 to delete, 2 unchanged). 1 private key(s) destroyed.")


def test_every_coloured_span_is_reset_on_its_own_line(workdir: Path, env: None, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    write_pem(workdir / "evil.pem", make_cert("multi\nline"))
    _trusted_spec(workdir, "evil.pem")
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = run(capsys, "plan", "kstool.yaml").out
    assert "\x1b[" in out
    for line in out.splitlines():  # each line self-contained: nothing open at its end, nothing assumed at its start
        codes = re.findall(r"\x1b\[([0-9;]*)m", line)
        assert not codes or codes[-1] in ("0", ""), repr(line)


def test_no_color_flag_on_every_command_that_prints(workdir: Path, env: None, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import kstool.cli.views.console

    monkeypatch.setattr(kstool.cli.views.console, "_settings", {"no_color": False})  # restored after the test
    _generated_spec(workdir, 1)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" in run(capsys, "plan", "kstool.yaml").out
    for args in (["plan", "kstool.yaml"], ["apply", "kstool.yaml"], ["verify", "kstool.yaml"],
                 ["inspect", "s0.p12", "--password-env", "MSG_PASS"], ["validate", "kstool.yaml"], ["schema"]):
        result = run(capsys, *args, "--no-color")
        assert result.code == 0 and "\x1b" not in result.out + result.err, args
        assert "\x1b[" in run(capsys, "plan", "kstool.yaml").out  # the next invocation has its colours back
    assert "\x1b" not in run(capsys, "--no-color", "plan", "kstool.yaml").out
