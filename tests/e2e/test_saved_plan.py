"""Saved plans end to end: ``kstool plan SPEC --out FILE`` and ``kstool apply FILE``.

A saved plan applies only while everything it depended on is unchanged (spec, input files, artifacts, settings,
the decisions the clock made); otherwise apply refuses, names what changed and writes nothing. The plan file holds
no password, no private key and no key digest, whatever kind of key and password the spec uses.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kstool.formats.codec import decode
from kstool.formats.entries import KeyEntry, StoreType, detect_type
from tests.support.clirun import CANARY, run, snapshot
from tests.support.javatools import keytool_list

STORE_PW = "Saved-Plan-Store-Pw-31"
FILE_PW = f"{CANARY}-file-pw"  # a password file's content: the canary must never reach any output or the plan
KEY_PW = "Saved-Plan-Key-Enc-Pw-9"

SPEC = """\
version: 1
keystores:
  - name: app
    path: out/app.p12
    password: {env: SAVED_STORE_PW}
    entries:
      - alias: gen
        generate:
          dname: "CN=gen.example"
          key: {algorithm: EC, size: 256}
          validity_days: 200
      - alias: imported
        import:
          certificate: in/leaf.pem
          private_key: in/leaf.key
          private_key_password: {env: SAVED_KEY_PW}
  - name: trust
    path: out/trust.jks
    password: {file: secrets/trust.pass}
    entries:
      - alias: root
        trusted: {certificate: in/root.pem}
  - name: gen-only
    path: out/gen.jks
    password: {file: secrets/gen.pass, generate: true}
    entries:
      - alias: rsa
        generate:
          dname: "CN=rsa.example"
          key: {algorithm: RSA, size: 2048}
          validity_days: 100
"""


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, *, days: int = 300) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))


@pytest.fixture()
def project(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAVED_STORE_PW", STORE_PW)
    monkeypatch.setenv("SAVED_KEY_PW", KEY_PW)
    (workdir / "in").mkdir()
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    (workdir / "in" / "leaf.key").write_bytes(leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(KEY_PW.encode())))
    (workdir / "in" / "leaf.pem").write_bytes(_cert("leaf.example", leaf_key).public_bytes(serialization.Encoding.PEM))
    root_key = ec.generate_private_key(ec.SECP256R1())
    (workdir / "in" / "root.pem").write_bytes(_cert("root.example", root_key).public_bytes(serialization.Encoding.PEM))
    (workdir / "secrets").mkdir(mode=0o700)
    pw = workdir / "secrets" / "trust.pass"
    pw.write_text(FILE_PW + "\n")
    pw.chmod(0o600)
    (workdir / "kstool.yaml").write_text(SPEC)
    return workdir


def _errors(err: str) -> str:
    return err.replace("kstool: error: ", "")


def test_plan_out_writes_a_private_versioned_file_and_apply_uses_it(project: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    r = run(capsys, "plan", "kstool.yaml", "--out", "plan.json")
    assert r.code == 0, r.err
    assert "kstool apply plan.json" in r.out
    path = project / "plan.json"
    assert path.stat().st_mode & 0o777 == 0o600
    doc = json.loads(path.read_text())
    assert (doc["format"], doc["version"]) == ("kstool-plan", 1)
    assert "generated at apply time" in doc["key_material"]
    assert doc["settings"]["output_root"] == str(project.resolve())
    assert set(doc["depends_on"]["inputs"]) == {"in/leaf.pem", "in/leaf.key", "in/root.pem"}
    assert doc["depends_on"]["password_files"] == {"secrets/gen.pass": {"state": "missing"},
                                                   "secrets/trust.pass": {"state": "present"}}
    assert {"kstool.lock", "out/app.p12", "out/trust.jks", "out/gen.jks"} <= set(doc["depends_on"]["artifacts"])
    assert [k["action"] for k in doc["plan"]["keystores"]] == ["create", "create", "create"]

    r = run(capsys, "apply", "plan.json")
    assert r.code == 0, r.err
    assert r.out.startswith("Applying the saved plan plan.json (made ")
    stored = decode((project / "out" / "app.p12").read_bytes(), "pkcs12", STORE_PW)
    assert sorted(e.alias for e in stored) == ["gen", "imported"]
    # the applied estate is what a normal apply of the spec makes: a plan now has nothing to do
    r = run(capsys, "plan", "kstool.yaml", "--json")
    assert r.code == 0 and r.json()["changes"] is False


def test_an_unchanged_saved_plan_applies_like_a_normal_apply(project: Path, tmp_path_factory: pytest.TempPathFactory,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """With the clock fixed (SOURCE_DATE_EPOCH) an apply's bytes are reproducible: the saved plan's apply and a
    normal apply of a copy of the same project write the same files, byte for byte."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(datetime.datetime.now(datetime.UTC).timestamp()) - 3600))
    # generated keys are random: the comparison is over the imported and trusted entries, which are reproducible
    spec = SPEC.split("  - name: gen-only", maxsplit=1)[0].replace("""      - alias: gen
        generate:
          dname: "CN=gen.example"
          key: {algorithm: EC, size: 256}
          validity_days: 200
""", "")
    assert "generate" not in spec
    (project / "kstool.yaml").write_text(spec)
    twin = tmp_path_factory.mktemp("twin")
    for rel in ("in/leaf.pem", "in/leaf.key", "in/root.pem", "secrets/trust.pass", "kstool.yaml"):
        (twin / rel).parent.mkdir(exist_ok=True)
        (twin / rel).write_bytes((project / rel).read_bytes())
    assert run(capsys, "plan", "kstool.yaml", "--out", "p.plan").code == 0
    r = run(capsys, "apply", "p.plan")
    assert r.code == 0, r.err
    r = run(capsys, "apply", twin / "kstool.yaml")
    assert r.code == 0, r.err
    for rel in ("out/app.p12", "out/trust.jks"):
        assert (project / rel).read_bytes() == (twin / rel).read_bytes(), rel
    mine = json.loads((project / "kstool.lock").read_text())["keystores"]
    theirs = json.loads((twin / "kstool.lock").read_text())["keystores"]
    assert mine == theirs


def _refused(capsys: pytest.CaptureFixture[str], project: Path, plan: str = "plan.json", *extra: str) -> str:
    before = snapshot(project / "out") if (project / "out").exists() else {}
    lock = (project / "kstool.lock").read_bytes() if (project / "kstool.lock").exists() else None
    r = run(capsys, "apply", plan, *extra)
    assert r.code == 1, r.out + r.err
    assert "no longer matches, so nothing was changed" in r.err
    assert "Traceback" not in r.err
    after = snapshot(project / "out") if (project / "out").exists() else {}
    assert before == after, "a refused saved plan wrote an artifact"
    assert lock == ((project / "kstool.lock").read_bytes() if (project / "kstool.lock").exists() else None)
    return _errors(r.err)


def test_refused_after_an_input_file_changed(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "plan", "kstool.yaml", "--out", "plan.json").code == 0
    other = ec.generate_private_key(ec.SECP256R1())
    (project / "in" / "root.pem").write_bytes(_cert("root.example", other).public_bytes(serialization.Encoding.PEM))
    err = _refused(capsys, project)
    assert "input file in/root.pem changed" in err
    assert "in/leaf.pem" not in err


def test_refused_after_the_spec_changed(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "plan", "kstool.yaml", "--out", "plan.json").code == 0
    (project / "kstool.yaml").write_text(SPEC.replace("validity_days: 200", "validity_days: 201"))
    err = _refused(capsys, project)
    assert f"the spec file {project.resolve() / 'kstool.yaml'} changed" in err


def test_refused_after_an_artifact_changed_on_disk(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "apply", "kstool.yaml").code == 0
    assert run(capsys, "plan", "kstool.yaml", "--out", "plan.json").code == 0
    store = project / "out" / "trust.jks"
    data = bytearray(store.read_bytes())
    data[-30] ^= 1  # a damaged store: planning again would stop at its integrity check; the file is named first
    store.write_bytes(bytes(data))
    err = _refused(capsys, project)
    assert "artifact out/trust.jks changed" in err
    assert "out/app.p12" not in err
    # a flag the plan was made without is refused too, naming the flag
    err = _refused(capsys, project, "plan.json", "--replace-unreadable")
    assert "--replace-unreadable: given to this apply, but the plan was made without it" in err


def test_refused_after_an_artifact_was_replaced_by_another_valid_store(project: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "apply", "kstool.yaml").code == 0
    assert run(capsys, "plan", "kstool.yaml", "--out", "plan.json").code == 0
    saved = (project / "out" / "app.p12").read_bytes()
    # another apply elsewhere rebuilt the store (a new generated key): a valid file, but not the one planned for
    (project / "out" / "app.p12").unlink()
    assert run(capsys, "apply", "kstool.yaml").code == 0
    assert (project / "out" / "app.p12").read_bytes() != saved
    err = _refused(capsys, project)
    assert "artifact out/app.p12 changed" in err
    assert "artifact kstool.lock changed" in err


def test_refused_with_a_different_output_dir(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "plan", "kstool.yaml", "--out", "plan.json", "--output-dir", "build").code == 0
    err = _refused(capsys, project, "plan.json", "--output-dir", "elsewhere")
    assert "--output-dir: the plan was made for" in err and "elsewhere" in err
    assert not (project / "elsewhere").exists()
    # without --output-dir the plan's own folder is used
    r = run(capsys, "apply", "plan.json")
    assert r.code == 0, r.err
    assert (project / "build" / "out" / "app.p12").exists() and not (project / "out").exists()


def test_refused_when_the_clock_setting_differs(project: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(datetime.datetime.now(datetime.UTC).timestamp())))
    assert run(capsys, "plan", "kstool.yaml", "--out", "plan.json").code == 0
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    err = _refused(capsys, project)
    assert "SOURCE_DATE_EPOCH: the plan was made with" in err


def _clock_moved(monkeypatch: pytest.MonkeyPatch, days: int) -> None:
    """The engine's one clock (kstool.engine.clock), ``days`` from now."""
    from kstool.engine import clock

    real = clock.read_clock

    def read(env: object = None, *, wall: datetime.datetime | None = None) -> clock.Clock:
        moved = (wall or datetime.datetime.now(datetime.UTC)) + datetime.timedelta(days=days)
        return real(env, wall=moved)  # type: ignore[arg-type]

    monkeypatch.setattr(clock, "read_clock", read)


def test_refused_when_a_renewal_decision_would_differ(project: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Planned when nothing was due; applied when the clock puts gen (200 days) in its renewal window."""
    assert run(capsys, "apply", "kstool.yaml").code == 0
    assert run(capsys, "plan", "kstool.yaml", "--out", "plan.json").code == 0
    doc = json.loads((project / "plan.json").read_text())
    assert {k["name"]: k["action"] for k in doc["plan"]["keystores"]}["app"] == "no-op"
    _clock_moved(monkeypatch, 150)
    err = _refused(capsys, project)
    assert "plan.keystores[app]: no-op in the saved plan, update now" in err


def test_a_later_clock_alone_does_not_refuse(project: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Only decisions count: two days later the certificates apply issues end two days later, nothing else moves."""
    assert run(capsys, "plan", "kstool.yaml", "--out", "plan.json").code == 0
    _clock_moved(monkeypatch, 2)
    r = run(capsys, "apply", "plan.json")
    assert r.code == 0, r.err


@pytest.mark.parametrize("content, message", [
    (b"", "is not a kstool plan file"),
    (b'{"format": "kstool-plan", "version": 1', "not valid JSON"),
    (b'{"format": "kstool-plan", "version": 2}', "has version 2; this kstool reads version 1 only"),
    (b'{"format": "kstool-plan", "version": "1"}', "has version \"1\""),
    (b'{"format": "kstool-plan", "version": 1, "settings": []}', "\"settings\" is missing or incomplete"),
    (b'{"format": "kstool-plan", "version": 1, "settings": {"spec": 1, "output_root": "/x", '
     b'"replace_unreadable": false, "strict_permissions": false, "targets": [], "source_date_epoch": null}}',
     "settings.spec is not an absolute path"),
    (b'{"format": "kstool-plan", "version": 1, "settings": {"spec": "kstool.yaml", "output_root": "/x", '
     b'"replace_unreadable": false, "strict_permissions": false, "targets": [], "source_date_epoch": null}}',
     "settings.spec is not an absolute path"),
    (b'{"format": "kstool-plan", "version": 1, "settings": {"spec": "/x", "output_root": "/x", '
     b'"replace_unreadable": false, "strict_permissions": false, "targets": [], "source_date_epoch": null}, '
     b'"depends_on": {"spec_sha256": "x", "inputs": [], "password_files": {}, "artifacts": {}}}',
     "\"depends_on\" is missing or malformed"),
    (b'{"format": "kstool-plan", "version": 1, "x": ' + b"[" * 100000 + b"]" * 100000 + b"}", "not valid JSON"),
    (b'{"format": "kstool-plan", "version": 1}\xff\xfe', "not valid JSON"),
    (b'{"format": "kstool-plan", "version": 1, "x": ' + b"[" * 900 + b"]" * 900 + b"}", "nests deeper than 32"),
])
def test_hostile_or_corrupt_plan_files_get_clear_errors(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                        content: bytes, message: str) -> None:
    path = workdir / "bad.plan"
    path.write_bytes(content if content else b'{"format": "kstool-plan"}')
    if not content:
        path.write_bytes(b'{"format": "kstool-plan", "version": 1, "nothing": true}')
        message = "\"settings\" is missing or incomplete"
    r = run(capsys, "apply", path)
    assert r.code == 1
    assert message in r.err, r.err
    assert "Traceback" not in r.err and r.err.count("\n") <= 3


def test_a_too_big_plan_file_is_refused_before_reading(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from kstool.engine import savedplan

    monkeypatch.setattr(savedplan, "MAX_PLAN_BYTES", 1000)
    path = workdir / "big.plan"
    path.write_bytes(b'{"format": "kstool-plan", "version": 1, "pad": "' + b"x" * 2000 + b'"}')
    r = run(capsys, "apply", path)
    assert r.code == 1 and "plan file" in r.err and "Traceback" not in r.err


def test_plan_out_refuses_to_overwrite_the_spec_and_a_plan_is_not_a_spec(project: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    r = run(capsys, "plan", "kstool.yaml", "--out", "kstool.yaml")
    assert r.code == 1 and "is the spec file itself" in r.err
    assert (project / "kstool.yaml").read_text() == SPEC
    assert run(capsys, "plan", "kstool.yaml", "--out", "p.plan").code == 0
    r = run(capsys, "plan", "p.plan", "--out", "q.plan")
    assert r.code == 1 and "is a saved plan file, not a spec" in r.err
    r = run(capsys, "plan", "p.plan")
    assert r.code == 1 and "p.plan is a saved plan file, not a spec: apply it with kstool apply p.plan" in r.err
    assert not (project / "q.plan").exists()


def _private_key_ders(project: Path) -> list[bytes]:
    """Every private key the artifacts and inputs hold, as PKCS#8 DER (what a leak would contain)."""
    out = []
    generated = (project / "secrets/gen.pass").read_text().strip()
    stores: list[tuple[str, StoreType, str]] = [("out/app.p12", "pkcs12", STORE_PW), ("out/gen.jks", "jks", generated)]
    for rel, store_type, pw in stores:
        for entry in decode((project / rel).read_bytes(), store_type, pw):
            if isinstance(entry, KeyEntry):
                out.append(entry.key_der)
    return out


def _assert_no_secret(text: str, project: Path) -> None:
    generated_pw = (project / "secrets" / "gen.pass").read_text().strip()
    for secret in (STORE_PW, FILE_PW, KEY_PW, CANARY, generated_pw):
        assert secret not in text
    for marker in ("PRIVATE KEY", "BEGIN ", "ENCRYPTED"):
        assert marker not in text
    raw = text.encode()
    for der in _private_key_ders(project):
        assert len(der) > 30
        for form in (der, der.hex().encode(), base64.b64encode(der), der[-32:].hex().encode()):
            assert form not in raw
    for name in ("leaf.key",):
        key_file = (project / "in" / name).read_bytes()
        assert key_file not in raw and key_file.strip().splitlines()[1] not in raw


def test_the_plan_file_holds_no_secret(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Generated keys, an imported (encrypted) key, env and file passwords: none of it reaches the plan file,
    neither before the first apply nor after it (when the stores hold the keys and the plan shows their facts)."""
    assert run(capsys, "plan", "kstool.yaml", "--out", "before.plan").code == 0
    assert run(capsys, "apply", "before.plan").code == 0
    (project / "in" / "root.pem").write_bytes((project / "in" / "leaf.pem").read_bytes())  # a change to plan
    assert run(capsys, "plan", "kstool.yaml", "--out", "after.plan", "-v").code == 0
    for name in ("before.plan", "after.plan"):
        text = (project / name).read_text()
        _assert_no_secret(text, project)
        assert detect_type((project / name).read_bytes()) is None
    assert json.loads((project / "after.plan").read_text())["plan"]["keystores"][1]["action"] == "update"


def test_apply_plan_with_json_and_plan_json_out(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run(capsys, "plan", "kstool.yaml", "--json", "--out", "plan.json")
    assert r.code == 0
    assert json.loads(r.out)["changes"] is True  # stdout stays one JSON document; the note goes to stderr
    assert "kstool apply plan.json" in r.err
    assert json.loads((project / "plan.json").read_text())["plan"] == {**json.loads(r.out)}
    r = run(capsys, "apply", "plan.json", "--json")
    assert r.code == 0, r.err
    assert os.path.exists(project / "out" / "gen.jks")


@pytest.mark.java
@pytest.mark.slow
def test_keytool_opens_what_a_saved_plan_applied(project: Path, capsys: pytest.CaptureFixture[str], jdk: None) -> None:
    assert run(capsys, "plan", "kstool.yaml", "--out", "plan.json").code == 0
    assert run(capsys, "apply", "plan.json").code == 0
    listing = keytool_list(project / "out" / "app.p12", STORE_PW, "PKCS12")
    assert "Alias name: gen" in listing and "Alias name: imported" in listing
    listing = keytool_list(project / "out" / "trust.jks", FILE_PW, "JKS")
    assert "trustedCertEntry" in listing and "CN=root.example" in listing
