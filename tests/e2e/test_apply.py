"""spec → plan → apply, end to end through the CLI, with Java as the judge."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from kstool.engine.facts import load_cert
from kstool.formats.codec import decode
from kstool.formats.entries import Entry, KeyEntry, TrustedEntry, detect_type
from tests.support.clirun import ROOT, copy_example, run, snapshot
from tests.support.javatools import Java, keytool_list, sha256_hex

PW = "Store-Pass-1"
PW2 = "Store-Pass-2"


def write_spec(folder: Path, body: str) -> Path:
    spec = folder / "kstool.yaml"
    spec.write_text("version: 1\nkeystores:\n" + body, encoding="utf-8")
    return spec


def gen_entry(alias: str, dname: str, key: str = "{algorithm: EC, size: 256}", extra: str = "") -> str:
    return f"      - alias: {alias}\n        generate:\n          dname: \"{dname}\"\n          key: {key}\n{extra}"


def store(name: str, path: str, entries: str, password: str = "{env: KS_PASS}", extra: str = "") -> str:
    return f"  - name: {name}\n    path: {path}\n    password: {password}\n{extra}    entries:\n{entries}"


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_PASS", PW)


def entries_of(path: Path, password: str = PW) -> dict[str, Entry]:
    data = path.read_bytes()
    store_type = detect_type(data)
    assert store_type is not None
    return {e.alias: e for e in decode(data, store_type, password)}


def as_key(entry: Entry) -> KeyEntry:
    assert isinstance(entry, KeyEntry), entry
    return entry


def as_trusted(entry: Entry) -> TrustedEntry:
    assert isinstance(entry, TrustedEntry), entry
    return entry


def plan_json(capsys: pytest.CaptureFixture[str], spec: Path) -> dict[str, Any]:
    result = run(capsys, "plan", spec, "--json")
    assert result.code == 0, result.err
    return result.json()


def actions(plan: dict) -> dict[str, object]:
    return {k["name"]: (k["action"], {e["alias"]: e["action"] for e in k["entries"]}) for k in plan["keystores"]}


# -- the shipped example ---------------------------------------------------------------------------------

def test_example_applies_and_second_apply_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = copy_example("wso2", tmp_path)
    folder = spec.parent
    first = run(capsys, "apply", spec)
    assert first.code == 0, first.err
    assert "Apply complete" in first.out
    for name in ("newkeystore.jks", "wso2carbon.jks", "secrets/newkeystore.pass"):
        assert (folder / name).stat().st_mode & 0o777 == 0o600
    assert (folder / "kstool.lock").stat().st_mode & 0o777 == 0o644
    before = snapshot(folder)
    again = run(capsys, "plan", spec, "--detailed-exitcode")
    assert again.code == 0 and "No changes." in again.out
    second = run(capsys, "apply", spec)
    assert second.code == 0 and "wrote" not in second.out
    assert snapshot(folder) == before  # same bytes, same modes, same mtimes


@pytest.mark.java
def test_example_artifacts_open_in_keytool_and_java(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    java: Java) -> None:
    spec = copy_example("wso2", tmp_path)
    assert run(capsys, "apply", spec).code == 0
    folder = spec.parent
    stores = {"newkeystore": ["newcert"], "wso2carbon": ["wso2carbon"], "gateway": ["gateway"],
              "client-truststore": ["wso2carbon", "example-root-ca"]}
    for name, aliases in stores.items():
        password = (folder / "secrets" / f"{name}.pass").read_text().rstrip("\n")
        listing = keytool_list(folder / f"{name}.jks", password)
        assert "Keystore type: JKS" in listing
        assert f"Your keystore contains {len(aliases)} entr" in listing
        info, *loaded = java.load(folder / f"{name}.jks", password)
        ours = entries_of(folder / f"{name}.jks", password)
        assert info["size"] == len(aliases) and sorted(e["alias"] for e in loaded) == sorted(aliases)
        for entry in loaded:
            mine = ours[entry["alias"]]
            if isinstance(mine, KeyEntry):
                assert entry["kind"] == "key" and entry["key_sha256"] == sha256_hex(mine.key_der)
                assert entry["chain"] == [sha256_hex(c) for c in mine.chain_der]
            else:
                assert entry["kind"] == "trusted"
    listing = keytool_list(folder / "newkeystore.jks",
                           (folder / "secrets/newkeystore.pass").read_text().rstrip("\n"))
    assert "Owner: CN=testdomain.org, OU=Home, O=Home, L=SL, ST=WS, C=LK" in listing
    # the truststore trusts exactly wso2carbon's certificate
    carbon = entries_of(folder / "wso2carbon.jks", (folder / "secrets/wso2carbon.pass").read_text().rstrip("\n"))
    trust = entries_of(folder / "client-truststore.jks",
                       (folder / "secrets/client-truststore.pass").read_text().rstrip("\n"))
    assert as_trusted(trust["wso2carbon"]).cert_der == as_key(carbon["wso2carbon"]).chain_der[0]
    gateway = entries_of(folder / "gateway.jks", (folder / "secrets/gateway.pass").read_text().rstrip("\n"))
    subjects = [load_cert(c).subject.rfc4514_string() for c in as_key(gateway["gateway"]).chain_der]
    assert [s.split(",")[0] for s in subjects] == ["CN=gateway.example.org",
                                                    "CN=kstool Example Intermediate CA (TEST ONLY)",
                                                    "CN=kstool Example Root CA (TEST ONLY)"]


@pytest.mark.java
def test_generated_subject_der_equals_keytools(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               env: None, java: Java) -> None:
    dname = "CN=testdomain.org, OU=Home,O=Home,L=SL,S=WS,C=LK"
    spec = write_spec(tmp_path, store("k", "k.p12", gen_entry("a", dname)))
    assert run(capsys, "apply", spec).code == 0
    ours = entries_of(tmp_path / "k.p12")["a"]
    assert isinstance(ours, KeyEntry)
    ref = tmp_path / "ref.p12"
    subprocess.run(["keytool", "-genkeypair", "-keyalg", "EC", "-groupname", "secp256r1", "-alias", "a",
                    "-dname", dname, "-keystore", str(ref), "-storetype", "PKCS12", "-storepass:env", "KS_PASS"],
                   check=True, capture_output=True)
    theirs = entries_of(ref)["a"]
    assert isinstance(theirs, KeyEntry)
    mine, keytools = load_cert(ours.chain_der[0]), load_cert(theirs.chain_der[0])
    assert mine.subject.public_bytes() == keytools.subject.public_bytes()
    assert [e.oid for e in mine.extensions] == [e.oid for e in keytools.extensions]
    assert mine.signature_algorithm_oid == keytools.signature_algorithm_oid
    java.load(tmp_path / "k.p12", PW)


# -- plans as tables -------------------------------------------------------------------------------------

TWO = (store("a", "a.jks", gen_entry("one", "CN=one") + gen_entry("two", "CN=two"))
       + store("b", "b.p12", gen_entry("three", "CN=three")))


def test_changing_one_dname_replaces_that_entry_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      env: None) -> None:
    spec = write_spec(tmp_path, TWO)
    assert run(capsys, "apply", spec).code == 0
    old_a = entries_of(tmp_path / "a.jks")
    b_before = snapshot(tmp_path)["b.p12"]
    write_spec(tmp_path, TWO.replace("CN=two", "CN=deux"))
    plan = plan_json(capsys, spec)
    assert actions(plan) == {"a": ("update", {"one": "no-op", "two": "replace"}),
                             "b": ("no-op", {"three": "no-op"})}
    two = next(e for e in plan["keystores"][0]["entries"] if e["alias"] == "two")
    assert two["reasons"] == ["dname changed: CN=two → CN=deux"]
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 2
    assert run(capsys, "apply", spec).code == 0
    new_a = entries_of(tmp_path / "a.jks")
    assert new_a["one"] == old_a["one"]  # untouched key and certificate
    assert as_key(new_a["two"]).key_der != as_key(old_a["two"]).key_der
    assert snapshot(tmp_path)["b.p12"] == b_before  # the other file is not even rewritten
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


@pytest.mark.parametrize(("change", "entry_action", "reason"), [
    (("{algorithm: EC, size: 256}", "{algorithm: EC, size: 384}"), "replace", "key changed: EC 256 → EC 384"),
    (("{algorithm: EC, size: 256}", "{algorithm: Ed25519}"), "replace", "key changed: EC 256 → Ed25519"),
    (("CN=one\"", "CN=one\"\n          validity_days: 30"), "update", "validity changed: 90 → 30 days"),
    (("CN=one\"", "CN=one\"\n          san: [\"dns:one.example\"]"), "update", "san changed: none → [dns:one.example]"),
])
def test_generate_setting_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None,
                                  change: tuple[str, str], entry_action: str, reason: str) -> None:
    body = store("a", "a.jks", gen_entry("one", "CN=one"))
    spec = write_spec(tmp_path, body)
    assert run(capsys, "apply", spec).code == 0
    before = entries_of(tmp_path / "a.jks")["one"]
    write_spec(tmp_path, body.replace(*change))
    plan = plan_json(capsys, spec)
    entry = plan["keystores"][0]["entries"][0]
    assert entry["action"] == entry_action and reason in entry["reasons"]
    assert run(capsys, "apply", spec).code == 0
    after = entries_of(tmp_path / "a.jks")["one"]
    assert isinstance(before, KeyEntry) and isinstance(after, KeyEntry)
    assert (after.key_der == before.key_der) == (entry_action == "update")  # reissue keeps the key
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


def test_entry_removed_from_spec_is_deleted(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    spec = write_spec(tmp_path, TWO)
    assert run(capsys, "apply", spec).code == 0
    write_spec(tmp_path, TWO.replace(gen_entry("two", "CN=two"), ""))
    plan = plan_json(capsys, spec)
    assert actions(plan)["a"] == ("update", {"one": "no-op", "two": "delete"})
    assert plan["keystores"][0]["entries"][1]["reasons"] == ["entry not in spec"]
    assert run(capsys, "apply", spec).code == 0
    assert set(entries_of(tmp_path / "a.jks")) == {"one"}


def test_alias_rename_keeps_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    spec = write_spec(tmp_path, TWO)
    assert run(capsys, "apply", spec).code == 0
    before = entries_of(tmp_path / "a.jks")["two"]
    write_spec(tmp_path, TWO.replace("alias: two", "alias: zwei"))
    plan = plan_json(capsys, spec)
    assert actions(plan)["a"] == ("update", {"one": "no-op", "zwei": "update"})
    assert plan["keystores"][0]["entries"][1]["reasons"] == ["alias changed: two → zwei"]
    assert run(capsys, "apply", spec).code == 0
    after = as_key(entries_of(tmp_path / "a.jks")["zwei"])
    assert after.key_der == as_key(before).key_der


def test_keystore_removed_from_spec_is_deleted_via_lock(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        env: None) -> None:
    spec = write_spec(tmp_path, TWO)
    assert run(capsys, "apply", spec).code == 0
    write_spec(tmp_path, store("a", "a.jks", gen_entry("one", "CN=one") + gen_entry("two", "CN=two")))
    plan = plan_json(capsys, spec)
    assert actions(plan)["b"] == ("delete", {})
    assert run(capsys, "apply", spec).code == 0
    assert not (tmp_path / "b.p12").exists()
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


def test_path_and_type_change_keep_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    spec = write_spec(tmp_path, TWO)
    assert run(capsys, "apply", spec).code == 0
    before = entries_of(tmp_path / "a.jks")
    write_spec(tmp_path, TWO.replace("path: a.jks", "path: sub/a.p12"))
    plan = plan_json(capsys, spec)
    ks = plan["keystores"][0]
    assert ks["action"] == "update"
    assert ks["reasons"] == ["path changed: a.jks → sub/a.p12", "type changed: jks → pkcs12"]
    assert run(capsys, "apply", spec).code == 0
    assert not (tmp_path / "a.jks").exists()
    after = entries_of(tmp_path / "sub" / "a.p12")
    assert {a: as_key(e).key_der for a, e in after.items()} == {a: as_key(e).key_der for a, e in before.items()}
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


def test_password_rotation_with_previous_password(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    spec = write_spec(tmp_path, TWO)
    assert run(capsys, "apply", spec).code == 0
    before = {n: entries_of(tmp_path / n) for n in ("a.jks", "b.p12")}
    monkeypatch.setenv("KS_PASS", PW2)
    failed = run(capsys, "plan", spec)
    assert failed.code == 1
    assert "does not open this keystore" in failed.err and "previous_password" in failed.err
    assert PW2 not in failed.err and PW not in failed.err
    monkeypatch.setenv("KS_OLD", PW)
    rotated = TWO.replace("    entries:\n", "    previous_password: {env: KS_OLD}\n    entries:\n")
    write_spec(tmp_path, rotated)
    plan = plan_json(capsys, spec)
    assert [k["reasons"] for k in plan["keystores"]] == [["password changed"], ["password changed"]]
    assert run(capsys, "apply", spec).code == 0
    for name, old in before.items():
        assert entries_of(tmp_path / name, PW2) == old  # same keys, same certificates
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


def test_key_password_for_jks(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    monkeypatch.setenv("KEY_PASS", "Key-Pass-9")
    body = store("a", "a.jks", gen_entry("one", "CN=one"), extra="    key_password: {env: KEY_PASS}\n")
    spec = write_spec(tmp_path, body)
    assert run(capsys, "apply", spec).code == 0
    data = (tmp_path / "a.jks").read_bytes()
    assert decode(data, "jks", PW, key_password="Key-Pass-9")
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    # back to the store password; the old key password opens the key as previous_password
    previous = "    previous_password: {env: KEY_PASS}\n"
    write_spec(tmp_path, store("a", "a.jks", gen_entry("one", "CN=one"), extra=previous))
    plan = plan_json(capsys, spec)
    assert plan["keystores"][0]["reasons"] == ["key password changed"]
    assert run(capsys, "apply", spec).code == 0
    assert decode((tmp_path / "a.jks").read_bytes(), "jks", PW)


# -- passwords and errors --------------------------------------------------------------------------------

def test_env_unset_and_empty_are_different_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_spec(tmp_path, TWO)
    monkeypatch.delenv("KS_PASS", raising=False)
    unset = run(capsys, "plan", spec)
    assert unset.code == 1 and "environment variable KS_PASS is not set" in unset.err
    assert unset.err.startswith(f"kstool: error: {spec}:5:")
    monkeypatch.setenv("KS_PASS", "")
    empty = run(capsys, "plan", spec)
    assert empty.code == 1 and "KS_PASS is set but empty" in empty.err
    monkeypatch.setenv("KS_PASS", "short")
    short = run(capsys, "plan", spec)
    assert short.code == 1 and "shorter than 6 characters" in short.err and "short" not in short.err.split(":")[-1]


def test_password_file_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path, store("a", "a.p12", gen_entry("one", "CN=one"), password="{file: pw.txt}"))
    assert "password file pw.txt does not exist" in run(capsys, "plan", spec).err
    (tmp_path / "pw.txt").write_text("\n")
    assert "password file pw.txt is empty" in run(capsys, "plan", spec).err
    (tmp_path / "pw.txt").write_text("Pass\nWord\n")
    assert "contains a line break" in run(capsys, "plan", spec).err
    (tmp_path / "pw.txt").write_text("Pässwörd-1\r\n")
    assert "non-ASCII" in run(capsys, "plan", spec).err
    (tmp_path / "pw.txt").write_text("Password-1\r\n")
    (tmp_path / "pw.txt").chmod(0o644)
    ok = run(capsys, "apply", spec)
    assert ok.code == 0 and "readable by group or others" in ok.err
    assert decode((tmp_path / "a.p12").read_bytes(), "pkcs12", "Password-1")


def test_generated_password_file_is_reused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path, store("a", "a.jks", gen_entry("one", "CN=one"),
                                      password="{file: s/a.pass, generate: true}"))
    plan = run(capsys, "plan", spec)
    assert "password file s/a.pass will be generated" in plan.out
    assert not (tmp_path / "s").exists()  # plan writes nothing
    assert run(capsys, "apply", spec).code == 0
    secret = (tmp_path / "s" / "a.pass").read_text()
    assert len(secret.strip()) >= 32 and (tmp_path / "s" / "a.pass").stat().st_mode & 0o777 == 0o600
    assert secret.strip() not in (tmp_path / "kstool.lock").read_text()
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    (tmp_path / "s" / "a.pass").unlink()
    lost = run(capsys, "plan", spec)
    assert lost.code == 1 and "does not open this keystore" in lost.err


def test_corrupt_artifact_is_an_error_not_a_rebuild(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    env: None) -> None:
    spec = write_spec(tmp_path, TWO)
    assert run(capsys, "apply", spec).code == 0
    data = bytearray((tmp_path / "b.p12").read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "b.p12").write_bytes(bytes(data))
    result = run(capsys, "apply", spec)
    assert result.code == 1 and "b.p12" in result.err and "Traceback" not in result.err
    assert (tmp_path / "b.p12").read_bytes() == bytes(data)


def test_json_plan_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    spec = write_spec(tmp_path, TWO)
    plan = plan_json(capsys, spec)
    assert plan["format_version"] == 1 and plan["changes"] is True
    ks = plan["keystores"][0]
    assert {"name", "path", "type", "action", "reasons", "entries"} <= set(ks)
    entry = ks["entries"][0]
    assert {"alias", "action", "reasons"} <= set(entry)
    assert entry["after"]["subject"] == "CN=one" and entry["after"]["key"] == "EC 256"
    assert PW not in str(plan)


def test_source_date_epoch_sets_not_before(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    epoch = int(time.time()) // 86400 * 86400  # today, midnight: an older epoch issues expired certificates
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(epoch))
    spec = write_spec(tmp_path, store("a", "a.jks", gen_entry("one", "CN=one")))
    assert run(capsys, "apply", spec).code == 0
    entry = entries_of(tmp_path / "a.jks")["one"]
    cert = x509.load_der_x509_certificate(as_key(entry).chain_der[0])
    assert int(cert.not_valid_before_utc.timestamp()) == epoch
    assert 0 < cert.serial_number < 2**64


def test_output_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    spec = write_spec(tmp_path, TWO)
    out = tmp_path / "out"
    assert run(capsys, "apply", spec, "--output-dir", out).code == 0
    assert (out / "a.jks").exists() and (out / "kstool.lock").exists() and not (tmp_path / "a.jks").exists()
    assert run(capsys, "plan", spec, "-o", out, "--detailed-exitcode").code == 0


# -- the other commands ----------------------------------------------------------------------------------

def test_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    spec = write_spec(tmp_path, TWO)
    assert run(capsys, "apply", spec).code == 0
    text = run(capsys, "inspect", tmp_path / "a.jks", "--password-env", "KS_PASS")
    assert text.code == 0 and "Keystore type: JKS" in text.out and "Alias name: two" in text.out
    doc = run(capsys, "inspect", tmp_path / "b.p12", "--password-env", "KS_PASS", "--json").json()
    assert doc["type"] == "pkcs12" and doc["entries"][0]["alias"] == "three"
    bad = run(capsys, "inspect", tmp_path / "a.jks")
    assert bad.code == 1 and "--password-env" in bad.err


def test_validate_schema_version_and_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = run(capsys, "validate", ROOT / "examples" / "wso2" / "kstool.yaml")
    assert ok.code == 0 and "valid (4 keystore(s)" in ok.out
    assert run(capsys, "schema").json()["title"] == "kstool spec"
    assert run(capsys, "--version").out.startswith("kstool ")
    usage = run(capsys, "plan")
    assert usage.code == 1 and usage.err.startswith("kstool: error:")
    missing = run(capsys, "plan", tmp_path / "nope.yaml")
    assert missing.code == 1 and "spec file not found" in missing.err


def test_real_subprocess(tmp_path: Path) -> None:
    spec = copy_example("wso2", tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    done = subprocess.run([sys.executable, "-m", "kstool", "apply", str(spec)], capture_output=True, text=True,
                          env=env, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    again = subprocess.run([sys.executable, "-m", "kstool", "plan", "--detailed-exitcode", str(spec)],
                           capture_output=True, text=True, env=env, check=False, timeout=120)
    assert again.returncode == 0 and "No changes." in again.stdout
