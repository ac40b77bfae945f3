"""``kstool adopt``: keytool-made stores → a spec whose plan changes no key; apply keeps every private key.

Judged by Java (``KsCheck``: the SHA-256 of each recovered private key and the chains), keytool (``-list`` with the
same passwords) and pyjks (the JKS keys' bytes under the separate key password).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import jks as pyjks
import pytest

from tests.support.clirun import CANARY, run, snapshot
from tests.support.javatools import Java, keytool_list

STORE_PASS = f"{CANARY}-store"
KEY_PASS = f"{CANARY}-key"
P12_PASS = f"{CANARY}-p12"


def keytool(folder: Path, *args: str) -> None:
    env = dict(os.environ, KT_SP=STORE_PASS, KT_KP=KEY_PASS, KT_P12=P12_PASS)
    out = subprocess.run(["keytool", *args], cwd=folder, env=env, capture_output=True, text=True, check=False,
                         timeout=120)
    assert out.returncode == 0, f"keytool {' '.join(args)}:\n{out.stdout}\n{out.stderr}"


def make_estate(folder: Path) -> None:
    """app.jks (JKS; keys under a separate key password): a self-signed RSA key with SANs, an EC key, an RSA 1024
    key (which kstool does not generate), a key signed by a CA with keytool -gencert (chain of 2), a trusted root;
    ca.p12 (PKCS12): the CA's key (a self-signed CA), a self-signed RSA 3072 key, a trusted certificate, an EC
    P-384 key signed by the CA (keytool names its chain certificate in the file, which Java does not list)."""
    jks = ["-keystore", "app.jks", "-storetype", "JKS", "-storepass:env", "KT_SP", "-keypass:env", "KT_KP"]
    p12 = ["-keystore", "ca.p12", "-storetype", "PKCS12", "-storepass:env", "KT_P12"]
    keytool(folder, "-genkeypair", *jks, "-alias", "web", "-keyalg", "RSA", "-keysize", "2048", "-validity", "365",
            "-dname", "CN=web.example.com, OU=Ops, O=Example, C=LK", "-ext", "san=dns:web.example.com,ip:10.0.0.1")
    keytool(folder, "-genkeypair", *jks, "-alias", "ec", "-keyalg", "EC", "-groupname", "secp256r1",
            "-validity", "90", "-dname", "CN=ec.example.com")
    keytool(folder, "-genkeypair", *jks, "-alias", "old", "-keyalg", "RSA", "-keysize", "1024", "-validity", "365",
            "-dname", "CN=old")
    keytool(folder, "-genkeypair", *p12, "-alias", "root", "-keyalg", "RSA", "-keysize", "2048", "-validity", "3650",
            "-dname", "CN=Example Root CA, O=Example", "-ext", "bc:c")
    keytool(folder, "-genkeypair", *p12, "-alias", "batch", "-keyalg", "RSA", "-keysize", "3072", "-validity", "730",
            "-dname", "CN=batch")
    keytool(folder, "-genkeypair", *jks, "-alias", "signed", "-keyalg", "RSA", "-keysize", "2048", "-validity", "365",
            "-dname", "CN=api.example.com, O=Example")
    keytool(folder, "-certreq", *jks, "-alias", "signed", "-file", "signed.csr")
    keytool(folder, "-gencert", *p12, "-alias", "root", "-infile", "signed.csr", "-outfile", "signed.crt",
            "-validity", "300", "-ext", "san=dns:api.example.com", "-ext", "eku=serverAuth")
    keytool(folder, "-exportcert", *p12, "-alias", "root", "-rfc", "-file", "root.crt")
    keytool(folder, "-importcert", "-noprompt", *jks, "-alias", "rootca", "-file", "root.crt")
    keytool(folder, "-importcert", "-noprompt", *jks, "-alias", "signed", "-file", "signed.crt")
    keytool(folder, "-importcert", "-noprompt", *p12, "-alias", "partner", "-file", "signed.crt")
    keytool(folder, "-genkeypair", *p12, "-alias", "svc", "-keyalg", "EC", "-groupname", "secp384r1",
            "-validity", "365", "-dname", "CN=svc.example.com")
    keytool(folder, "-certreq", *p12, "-alias", "svc", "-file", "svc.csr")
    keytool(folder, "-gencert", *p12, "-alias", "root", "-infile", "svc.csr", "-outfile", "svc.crt",
            "-validity", "200")
    keytool(folder, "-importcert", "-noprompt", *p12, "-alias", "svc", "-file", "svc.crt")
    for name in ("signed.csr", "signed.crt", "root.crt", "svc.csr", "svc.crt"):
        (folder / name).unlink()


def keys_by_alias(java: Java, path: Path, store_password: str, key_password: str | None = None) -> dict[str, Any]:
    entries = java.load(path, store_password, key_password)[1:]
    return {e["alias"]: (e["kind"], e.get("key_sha256"), e.get("chain") or e.get("cert")) for e in entries}


@pytest.fixture()
def estate(tmp_path: Path, jdk: None, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_estate(tmp_path)
    monkeypatch.setenv("APP_STORE_PASS", STORE_PASS)
    monkeypatch.setenv("APP_KEY_PASS", KEY_PASS)
    (tmp_path / "ca.pass").write_text(P12_PASS + "\n")
    (tmp_path / "ca.pass").chmod(0o600)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def adopt_estate(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "adopt", "app.jks", "ca.p12", "--password-env", "app.jks=APP_STORE_PASS",
                 "--password-file", "ca.p12=ca.pass", "--key-password-env", "app=APP_KEY_PASS", "--out", "kstool.yaml")
    assert result.code == 0, result.err


@pytest.mark.java
@pytest.mark.slow
def test_keytool_stores_round_trip_without_a_key_change(estate: Path, java: Java,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    before_jks = keys_by_alias(java, estate / "app.jks", STORE_PASS, KEY_PASS)
    before_p12 = keys_by_alias(java, estate / "ca.p12", P12_PASS)
    adopt_estate(capsys)
    spec = (estate / "kstool.yaml").read_text()
    for secret in (STORE_PASS, KEY_PASS, P12_PASS, CANARY):  # references only, never a password
        assert secret not in spec
        assert all(secret not in p.read_text() for p in (estate / "certs").iterdir())
    assert "password: {env: \"APP_STORE_PASS\"}" in spec and "key_password: {env: \"APP_KEY_PASS\"}" in spec
    assert "password: {file: \"ca.pass\"}" in spec
    assert run(capsys, "validate", "kstool.yaml").code == 0

    plan = run(capsys, "plan", "kstool.yaml", "--json").json()
    entries = {(k["name"], e["alias"]): e for k in plan["keystores"] for e in k["entries"]}
    assert set(entries) - {("ca", "CN=Example Root CA,O=Example")} == {
        ("app", a) for a in ("web", "ec", "old", "signed", "rootca")} | {
        ("ca", a) for a in ("root", "batch", "partner", "svc")}
    changed = {a: (e["kind"], e["action"]) for a, e in entries.items() if e["action"] != "no-op"}
    # no key created, replaced or reissued; the name keytool gave the chain certificate (no entry for Java) goes
    assert changed == {("ca", "CN=Example Root CA,O=Example"): ("trusted", "delete")}, changed
    assert plan["summary"]["keys_destroyed"] == 0 and plan["destroyed_keys"] == []
    assert {a: e["source"] for a, e in entries.items() if e["kind"] == "key" and e["source"] != "generate"} == {
        ("app", "old"): "import"}  # RSA 1024: imported from the store itself
    reencoded = ("re-encoded to kstool's canonical bytes, keys kept: kstool.lock has no record of this file (a store "
                 "kstool did not write, e.g. one kstool adopt described)")
    for keystore in plan["keystores"]:  # at most a re-encode, stated as such (or the chain certificate's name)
        assert keystore["action"] == "update"
        assert keystore["reasons"] == ([reencoded] if keystore["name"] == "app" else [])

    assert run(capsys, "apply", "kstool.yaml").code == 0
    assert keys_by_alias(java, estate / "app.jks", STORE_PASS, KEY_PASS) == before_jks
    assert keys_by_alias(java, estate / "ca.p12", P12_PASS) == before_p12
    assert "Your keystore contains 5 entries" in keytool_list(estate / "app.jks", STORE_PASS)
    assert "Your keystore contains 4 entries" in keytool_list(estate / "ca.p12", P12_PASS)
    loaded = pyjks.KeyStore.load(str(estate / "app.jks"), STORE_PASS, try_decrypt_keys=False)
    for entry in loaded.private_keys.values():
        entry.decrypt(KEY_PASS)  # the keys are still under the separate key password
    assert len(loaded.private_keys) == 4
    assert sorted(p.name for p in estate.glob("*.kstool-backup")) != []  # apply kept the keytool-made files

    again = run(capsys, "plan", "kstool.yaml", "--detailed-exitcode")
    assert again.code == 0, again.out


@pytest.mark.java
@pytest.mark.slow
def test_the_spec_says_what_was_adopted_and_how(estate: Path, capsys: pytest.CaptureFixture[str]) -> None:
    adopt_estate(capsys)
    spec = (estate / "kstool.yaml").read_text()
    # self-signed keytool keys: generate entries with the certificate's shape
    assert 'dname: "CN=web.example.com, OU=Ops, O=Example, C=LK"' in spec
    assert 'san: ["dns:web.example.com", "ip:10.0.0.1"]' in spec and "validity_days: 365" in spec
    assert "key: {algorithm: EC, size: 256}" in spec and "key: {algorithm: RSA, size: 3072}" in spec
    # the CA-signed key: its certificate and chain as the CA's reply; the self-signed CA a generated CA
    assert 'reply: {certificate: "certs/app-signed.pem", chain: ["certs/app-signed-chain1.pem"]}' in spec
    assert '          validity_days: 3650\n          ca: {}\n' in spec
    assert 'trusted: {certificate: "certs/app-rootca.pem"}' in spec
    assert 'trusted: {certificate: "certs/ca-partner.pem"}' in spec
    assert "# app.jks: JKS, 5 entries" in spec and "adopted as a generated entry" in spec
    assert ('import:\n          keystore: "app.jks"\n          password: {env: "APP_STORE_PASS"}\n'
            '          key_password: {env: "APP_KEY_PASS"}\n          alias: "old"\n        allow_weak: true') in spec
    certs = estate / "certs"
    assert (certs / "app-signed-chain1.pem").read_bytes() == (certs / "app-rootca.pem").read_bytes()
    assert all(line.startswith(("#", " ", "version", "keystores")) or not line for line in spec.splitlines())


@pytest.mark.slow
def test_a_kstool_made_store_round_trips_with_zero_changes(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_PASS", STORE_PASS)
    (workdir / "orig.yaml").write_text(
        "version: 1\nkeystores:\n"
        "  - name: server\n    path: server.jks\n    password: {env: KS_PASS}\n    entries:\n"
        "      - alias: web\n        generate: {dname: \"CN=web\", san: [\"dns:web\"], validity_days: 200}\n"
        "      - alias: ca\n        generate: {dname: \"CN=My CA\", ca: {}, key: {algorithm: EC, size: 256}, "
        "validity_days: 365}\n"
        "      - alias: leaf\n        generate: {dname: \"CN=leaf\", issuer: server/ca, usage: [server]}\n"
        "  - name: trust\n    path: trust.p12\n    password: {env: KS_PASS}\n    entries:\n"
        "      - alias: ca\n        trusted: {entry: server/ca}\n")
    assert run(capsys, "apply", "orig.yaml").code == 0
    (workdir / "orig.yaml").unlink()  # the spec is lost; kstool.lock and the stores remain
    stores = {name: (workdir / name).read_bytes() for name in ("server.jks", "trust.p12")}
    result = run(capsys, "adopt", "server.jks", "trust.p12", "--password-env", "KS_PASS", "--out", "orig.yaml")
    assert result.code == 0, result.err
    plan = run(capsys, "plan", "orig.yaml", "--json").json()
    assert [k["action"] for k in plan["keystores"]] == ["no-op", "no-op"]
    assert all(e["action"] == "no-op" for k in plan["keystores"] for e in k["entries"])
    assert run(capsys, "apply", "orig.yaml").code == 0
    assert {name: (workdir / name).read_bytes() for name in stores} == stores  # not even re-encoded

    (workdir / "kstool.lock").unlink()  # and without kstool.lock: the stores still match byte for byte
    result = run(capsys, "adopt", "server.jks", "trust.p12", "--password-env", "KS_PASS", "--out", "other.yaml",
                 "--certs-dir", "pem")
    assert result.code == 0, result.err
    assert 'trusted: {certificate: "pem/trust-ca.pem"}' in (workdir / "other.yaml").read_text()
    assert (workdir / "pem" / "trust-ca.pem").read_bytes() == (workdir / "certs" / "trust-ca.pem").read_bytes()
    plan = run(capsys, "plan", "other.yaml", "--json").json()
    assert [k["action"] for k in plan["keystores"]] == ["no-op", "no-op"]


@pytest.fixture()
def one_store(workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """a.p12 made by kstool from a throw-away spec, which is then removed with its lock."""
    monkeypatch.setenv("KS_PASS", STORE_PASS)
    (workdir / "make.yaml").write_text(
        "version: 1\nkeystores:\n  - name: a\n    path: a.p12\n    password: {env: KS_PASS}\n    entries:\n"
        "      - alias: k\n        generate: {dname: \"CN=k\", key: {algorithm: EC, size: 256}}\n")
    assert run(capsys, "apply", "make.yaml").code == 0
    for name in ("make.yaml", "kstool.lock"):
        (workdir / name).unlink()
    return workdir


def test_wrong_password_is_a_clear_error_naming_the_store(one_store: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRONG_PASS", f"{CANARY}-wrong")
    before = snapshot(one_store)
    result = run(capsys, "adopt", "a.p12", "--password-env", "WRONG_PASS")
    assert result.code == 1
    assert result.err.startswith("kstool: error: a.p12: the store password from environment variable WRONG_PASS "
                                 "does not open this keystore")
    assert "Traceback" not in result.err and snapshot(one_store) == before  # nothing written


@pytest.mark.parametrize(("content", "message"), [
    (b"not a keystore at all", "x.p12 is not a JKS, JCEKS or PKCS12 keystore"),
    (b"\x30\x82\xff\xff" + b"\x00" * 64, "x.p12 is not a valid PKCS12 keystore ("),
    (b"\xfe\xed\xfe\xed\x00\x00\x00\x02\x7f\xff\xff\xff" + b"\x00" * 40,
     "x.p12: the store password from environment variable KS_PASS does not open this keystore, or the file is "
     "corrupted"),
    (b"", "x.p12 is not a JKS, JCEKS or PKCS12 keystore"),
], ids=["text", "bad-der", "jks-huge-count", "empty"])
def test_corrupt_or_hostile_store_is_a_clear_error(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, content: bytes,
                                                   message: str) -> None:
    monkeypatch.setenv("KS_PASS", STORE_PASS)
    (workdir / "x.p12").write_bytes(content)
    result = run(capsys, "adopt", "x.p12", "--password-env", "KS_PASS")
    assert result.code == 1 and message in result.err, result.err
    assert not (workdir / "kstool.yaml").exists()


def test_an_existing_spec_is_kept_unless_forced(one_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (one_store / "kstool.yaml").write_text("# mine\n")
    result = run(capsys, "adopt", "a.p12", "--password-env", "KS_PASS")
    assert result.code == 1 and "kstool.yaml exists; adopt never overwrites a spec" in result.err
    assert (one_store / "kstool.yaml").read_text() == "# mine\n"
    assert run(capsys, "adopt", "a.p12", "--password-env", "KS_PASS", "--force").code == 0
    assert "generate:" in (one_store / "kstool.yaml").read_text()
    assert list(one_store.glob(".kstool.yaml.adopt-*")) == []  # no temporary file left


def test_missing_or_ambiguous_passwords_are_errors(one_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no store password given" in run(capsys, "adopt", "a.p12").err
    result = run(capsys, "adopt", "a.p12", "--password-env", "KS_PASS", "--password-file", "pw")
    assert "give one" in result.err
    result = run(capsys, "adopt", "a.p12", "--password-env", "not a name")
    assert "not an environment variable name" in result.err
    result = run(capsys, "adopt", "a.p12", "--password-env", "KS_PASS", "--key-password-env", "KS_PASS")
    assert "a PKCS12 keystore has one password" in result.err
    assert not (one_store / "kstool.yaml").exists()


def test_a_store_outside_the_spec_folder_is_refused(one_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (one_store / "sub").mkdir()
    result = run(capsys, "adopt", "a.p12", "--password-env", "KS_PASS", "--out", "sub/kstool.yaml")
    assert result.code == 1 and "is outside the spec's folder" in result.err


@pytest.mark.java
@pytest.mark.slow
def test_keys_under_different_key_passwords_are_refused(tmp_path: Path, jdk: None,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    jks = ["-keystore", "m.jks", "-storetype", "JKS", "-storepass:env", "KT_SP"]
    keytool(tmp_path, "-genkeypair", *jks, "-keypass:env", "KT_KP", "-alias", "one", "-keyalg", "EC",
            "-dname", "CN=one")
    keytool(tmp_path, "-genkeypair", *jks, "-keypass:env", "KT_SP", "-alias", "two", "-keyalg", "EC",
            "-dname", "CN=two")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("S_PASS", STORE_PASS)
    monkeypatch.setenv("K_PASS", KEY_PASS)
    result = run(capsys, "adopt", "m.jks", "--password-env", "S_PASS")
    assert "the private key of entry 'one' cannot be decrypted" in result.err and "--key-password-env" in result.err
    result = run(capsys, "adopt", "m.jks", "--password-env", "S_PASS", "--key-password-env", "K_PASS")
    assert "kstool keeps one key password per keystore" in result.err
    assert not (tmp_path / "kstool.yaml").exists()


def test_an_openssl_export_with_a_mixed_case_name_keeps_its_key_lowercased(workdir: Path,
                                                                       capsys: pytest.CaptureFixture[str],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P12_PASS", P12_PASS)
    for args in (["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                  "k.pem", "-out", "c.pem", "-subj", "/CN=Mixed", "-days", "30"],
                 ["pkcs12", "-export", "-in", "c.pem", "-inkey", "k.pem", "-name", "MyKey", "-out", "m.p12",
                  "-passout", "env:P12_PASS"]):
        subprocess.run(["openssl", *args], cwd=workdir, check=True, capture_output=True, timeout=60)
    result = run(capsys, "adopt", "m.p12", "--password-env", "P12_PASS")
    assert result.code == 0, result.err
    spec = (workdir / "kstool.yaml").read_text()
    assert '- alias: "mykey"' in spec and "iterations: 2048" in spec  # OpenSSL 3's count, kept
    plan = run(capsys, "plan", "kstool.yaml", "--json").json()
    # Java folds aliases: the key is kept under the lowercased alias, and the plan says so
    assert [(e["alias"], e["action"], e["reasons"][0]) for e in plan["keystores"][0]["entries"]] == [
        ("mykey", "update", "alias changed: MyKey → mykey")]
    assert plan["summary"]["keys_destroyed"] == 0


def test_the_spec_never_goes_over_an_adopted_store(one_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (one_store / "a.p12").read_bytes()
    result = run(capsys, "adopt", "a.p12", "--password-env", "KS_PASS", "--out", "a.p12", "--force")
    assert result.code == 1 and "a.p12 is one of the keystores being adopted" in result.err
    assert (one_store / "a.p12").read_bytes() == before
