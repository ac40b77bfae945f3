"""``kstool plan --no-secrets``: a plan with no password in the environment, from the spec, the committed
kstool.lock and the public input files, through the CLI.

Each estate is applied with the passwords, then every password variable is removed and the password files are
moved away (as a reviewer's checkout has neither). Where the no-secrets plan knows an entry's action, it must be
the one the full plan (with the passwords) gives; what it cannot know is "unknown" with a reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from cryptography.x509.oid import NameOID

from kstool.errors import ExitCode
from kstool.formats.codec import encode
from kstool.formats.entries import KeyEntry
from tests.support.clirun import Result, run

PASSWORDS = {"NS_STORE_PASS": "Ns-Store-Pass-1", "NS_TRUST_PASS": "Ns-Trust-Pass-2", "NS_KEY_PASS": "Ns-Key-Pass-3",
             "NS_SRC_PASS": "Ns-Src-Pass-4"}
GENERATED_PASSWORD_FILE = "secrets/ca.pass"


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None = None,
          *, ca: bool = False, days: int = 800, serial: int = 1) -> x509.Certificate:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, signer = (x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]), issuer[1]) \
        if issuer else (name, key)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(serial).not_valid_before(now).not_valid_after(now + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                        critical=True)
    return builder.sign(signer, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.PEM)


def write_material(folder: Path) -> None:
    """An outside CA, a leaf it signed (its key encrypted), a partner's certificate, and a source keystore."""
    pki = folder / "pki"
    pki.mkdir()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Outside CA", ca_key, ca=True, days=3000)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert("api.example.org", leaf_key, ("Outside CA", ca_key), serial=2)
    (pki / "ca.pem").write_bytes(_pem(ca))
    (pki / "api.pem").write_bytes(_pem(leaf))
    (pki / "api.key").write_bytes(leaf_key.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(PASSWORDS["NS_KEY_PASS"].encode())))
    partner_key = ec.generate_private_key(ec.SECP256R1())
    (pki / "partner.pem").write_bytes(_pem(_cert("Partner", partner_key, serial=3)))
    src_key = ec.generate_private_key(ec.SECP256R1())
    src = _cert("legacy", src_key, serial=4)
    pkcs8 = src_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    (pki / "legacy.p12").write_bytes(encode([KeyEntry("legacy", pkcs8, (src.public_bytes(Encoding.DER),), 0)],
                                            "pkcs12", PASSWORDS["NS_SRC_PASS"]))


def spec_doc(*, legacy: bool = False) -> dict[str, Any]:
    services: list[dict[str, Any]] = [
        {"alias": "web", "generate": {"dname": "CN=web, O=Example", "key": {"algorithm": "EC", "size": 256},
                                      "validity_days": 365, "san": ["dns:web.example.org"], "issuer": "ca/root"}},
        {"alias": "api", "import": {"certificate": "pki/api.pem", "private_key": "pki/api.key",
                                    "private_key_password": {"env": "NS_KEY_PASS"}, "chain": ["pki/ca.pem"]}},
    ]
    if legacy:
        services.append({"alias": "legacy", "import": {"keystore": "pki/legacy.p12",
                                                       "password": {"env": "NS_SRC_PASS"}}})
    return {"version": 1, "keystores": [
        {"name": "ca", "path": "out/ca.p12", "password": {"file": GENERATED_PASSWORD_FILE, "generate": True},
         "entries": [{"alias": "root", "generate": {"dname": "CN=Root CA, O=Example",
                                                    "key": {"algorithm": "EC", "size": 256},
                                                    "validity_days": 3650, "ca": {"path_length": 1}}}]},
        {"name": "services", "path": "out/services.p12", "password": {"env": "NS_STORE_PASS"},
         "entries": services},
        {"name": "trust", "path": "out/trust.jks", "password": {"env": "NS_TRUST_PASS"},
         "entries": [{"alias": "root", "trusted": {"entry": "ca/root"}},
                     {"alias": "partner", "trusted": {"certificate": "pki/partner.pem"}}]},
    ]}


def write_spec(folder: Path, doc: dict[str, Any]) -> Path:
    spec = folder / "kstool.yaml"
    spec.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return spec


class Estate:
    """An applied estate, and a reviewer's view of it: no password variables, no password files."""

    def __init__(self, folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                 doc: dict[str, Any]) -> None:
        self.folder, self.capsys, self.monkeypatch = folder, capsys, monkeypatch
        write_material(folder)
        self.spec = write_spec(folder, doc)
        self.with_secrets(lambda: _ok(run(capsys, "apply", self.spec)))

    def with_secrets(self, action: Any) -> Any:
        """Run ``action`` as the CI's apply job would: the variables set, the password file in place."""
        for name, value in PASSWORDS.items():
            self.monkeypatch.setenv(name, value)
        hidden = self.folder / "hidden.pass"
        if hidden.exists():
            shutil.move(hidden, self.folder / GENERATED_PASSWORD_FILE)
        try:
            return action()
        finally:
            for name in PASSWORDS:
                self.monkeypatch.delenv(name, raising=False)
            if (self.folder / GENERATED_PASSWORD_FILE).exists():
                shutil.move(self.folder / GENERATED_PASSWORD_FILE, hidden)

    def full_plan(self) -> dict[str, Any]:
        result: Result = self.with_secrets(lambda: run(self.capsys, "plan", self.spec, "--json"))
        assert result.code == 0, result.err
        return result.json()

    def no_secrets(self, *args: str) -> Result:
        assert not any(name in os.environ for name in PASSWORDS), "a password variable is set"
        assert not (self.folder / GENERATED_PASSWORD_FILE).exists()
        return run(self.capsys, "plan", self.spec, "--no-secrets", *args)

    def no_secrets_json(self) -> tuple[int, dict[str, Any]]:
        result = self.no_secrets("--json", "--detailed-exitcode")
        assert result.code in (0, 2, 6), result.err
        return result.code, result.json()


def _ok(result: Result) -> Result:
    assert result.code == 0, result.err
    return result


def actions(plan: dict[str, Any]) -> dict[str, str]:
    out = {k["name"]: k["action"] for k in plan["keystores"]}
    out |= {f"{k['name']}/{e['alias']}": e["action"] for k in plan["keystores"] for e in k["entries"]}
    return out


def agree(partial: dict[str, Any], full: dict[str, Any]) -> None:
    """Every action the no-secrets plan knows is the full plan's."""
    known = {k: a for k, a in actions(partial).items() if a != "unknown"}
    assert known == {k: a for k, a in actions(full).items() if k in known}


def _no_secret_in(text: str) -> None:
    assert not any(v in text for v in PASSWORDS.values())


@pytest.fixture()
def estate(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Estate:
    for name in PASSWORDS:
        monkeypatch.delenv(name, raising=False)
    return Estate(tmp_path, capsys, monkeypatch, spec_doc())


def test_the_plain_plan_needs_the_passwords_the_no_secrets_plan_does_not(estate: Estate) -> None:
    plain = run(estate.capsys, "plan", estate.spec)
    assert plain.code == ExitCode.ERROR and "NS_STORE_PASS" in plain.err
    result = estate.no_secrets("--detailed-exitcode")
    assert result.code == ExitCode.OK, result.out + result.err


def test_an_applied_estate_with_nothing_changed(estate: Estate) -> None:
    code, plan = estate.no_secrets_json()
    assert code == ExitCode.OK
    assert plan["changes"] is False and plan["unknown_changes"] is False
    assert plan["summary"]["unknown"] == 0 and plan["summary"]["no-op"] == 3
    info = plan["no_secrets"]
    assert info["unverified"] == []
    assert any("SHA-256 against kstool.lock: 3 match" in c for c in info["checked"])
    assert any("no password was read" in u for u in info["unproven"])
    # the encrypted key file of the import is named as not read
    assert any("private key files are not read" in u and "services/api" in u for u in info["unproven"])
    agree(plan, estate.full_plan())
    human = estate.no_secrets()
    lines = human.out.splitlines()
    assert lines[0].startswith("No-secrets plan:")
    assert "No changes known." in human.out
    assert lines[-1].startswith("  - ") and "Not proven without passwords:" in human.out
    markdown = estate.no_secrets("--format", "markdown")
    assert "**No changes known.**" in markdown.out and "No-secrets plan" in markdown.out
    for text in (human.out, markdown.out, json.dumps(plan)):
        _no_secret_in(text)


def test_a_spec_change_adding_an_entry(estate: Estate) -> None:
    doc = spec_doc()
    doc["keystores"][1]["entries"].append(
        {"alias": "worker", "generate": {"dname": "CN=worker", "key": {"algorithm": "EC", "size": 256},
                                         "validity_days": 300}})
    write_spec(estate.folder, doc)
    code, plan = estate.no_secrets_json()
    assert code == ExitCode.CHANGES
    got = actions(plan)
    assert got["services/worker"] == "create" and got["services"] == "update"
    # the other entries are proven unchanged: the lock's content digest over them still matches
    assert got["services/web"] == "no-op" and got["services/api"] == "no-op"
    assert plan["no_secrets"]["unverified"] == []
    agree(plan, estate.full_plan())


def test_a_rotated_ca_reissues_what_it_signed(estate: Estate) -> None:
    doc = spec_doc()
    doc["keystores"][0]["entries"][0]["generate"]["key"] = {"algorithm": "EC", "size": 384}
    write_spec(estate.folder, doc)
    code, plan = estate.no_secrets_json()
    assert code == ExitCode.CHANGES
    got = actions(plan)
    assert got["ca/root"] == "replace" and got["services/web"] == "update" and got["trust/root"] == "update"
    assert [(d["keystore"], d["alias"]) for d in plan["destroyed_keys"]] == [("ca", "root")]
    web = next(e for k in plan["keystores"] for e in k["entries"] if e["alias"] == "web")
    assert web["reasons"][0] == "issuer ca/root replaced"
    agree(plan, estate.full_plan())
    markdown = estate.no_secrets("--format", "markdown").out
    assert "**replace** (destroys a private key)" in markdown and "[!WARNING]" in markdown


def test_an_edited_input_certificate(estate: Estate) -> None:
    partner_key = ec.generate_private_key(ec.SECP256R1())
    (estate.folder / "pki/partner.pem").write_bytes(_pem(_cert("Partner", partner_key, serial=9)))
    code, plan = estate.no_secrets_json()
    assert code == ExitCode.CHANGES
    partner = next(e for k in plan["keystores"] for e in k["entries"] if e["alias"] == "partner")
    assert partner["action"] == "update" and partner["reasons"][0].startswith("certificate changed:")
    assert partner["after"]["sha256"] != partner["before"]["sha256"]
    agree(plan, estate.full_plan())


def test_a_changed_san_is_pinned_on_its_entry_by_the_content_digest(estate: Estate) -> None:
    doc = spec_doc()
    doc["keystores"][1]["entries"][0]["generate"]["san"] = ["dns:web.example.org", "dns:www.example.org"]
    write_spec(estate.folder, doc)
    code, plan = estate.no_secrets_json()
    assert code == ExitCode.CHANGES
    assert actions(plan)["services/web"] == "update"
    agree(plan, estate.full_plan())


def test_a_store_modified_since_the_lock_is_reported(estate: Estate) -> None:
    path = estate.folder / "out/trust.jks"
    path.write_bytes(path.read_bytes() + b"\0")  # not what kstool.lock recorded any more
    code, plan = estate.no_secrets_json()
    assert code == ExitCode.UNVERIFIED
    assert plan["changes"] is False and plan["unknown_changes"] is True
    trust = next(k for k in plan["keystores"] if k["name"] == "trust")
    assert trust["action"] == "unknown" and "not the file kstool.lock recorded" in trust["unverified"][0]
    assert {u["keystore"] for u in plan["no_secrets"]["unverified"]} == {"trust"}
    assert any("3 match" not in c and "2 match, 1 differ (trust)" in c for c in plan["no_secrets"]["checked"])
    human = estate.no_secrets()
    assert "? keystore trust" in human.out and "1 keystore(s) and 2 entry(ies) are unknown" in human.out
    # without --detailed-exitcode a plan is a success
    assert estate.no_secrets().code == ExitCode.OK


def test_without_a_lock_everything_is_created_or_unknown(estate: Estate) -> None:
    (estate.folder / "kstool.lock").unlink()
    code, plan = estate.no_secrets_json()
    assert code == ExitCode.UNVERIFIED  # the files exist: what they hold needs the passwords
    assert {k["action"] for k in plan["keystores"]} == {"unknown"}
    assert any("none found" in c for c in plan["no_secrets"]["checked"])
    shutil.rmtree(estate.folder / "out")
    code, plan = estate.no_secrets_json()
    assert code == ExitCode.CHANGES
    assert set(actions(plan).values()) == {"create"}
    assert plan["no_secrets"]["unverified"] == []
    assert next(k for k in plan["keystores"] if k["name"] == "ca")["password_files_generated"] == [
        GENERATED_PASSWORD_FILE]


def test_an_import_from_a_keystore_is_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PASSWORDS:
        monkeypatch.delenv(name, raising=False)
    estate = Estate(tmp_path, capsys, monkeypatch, spec_doc(legacy=True))
    code, plan = estate.no_secrets_json()
    assert code == ExitCode.UNVERIFIED
    assert actions(plan)["services/legacy"] == "unknown"
    # its content is unknown, so the keystore's content digest proves nothing: the generated entry beside it,
    # whose SANs kstool.lock does not record, is unknown too; the import from files is compared by certificate
    assert sorted(u.get("alias") for u in plan["no_secrets"]["unverified"]) == ["legacy", "web"]
    assert actions(plan)["services/api"] == "no-op"
    assert any("imported from other keystores" in u for u in plan["no_secrets"]["unproven"])
    # a known change elsewhere is still exit 2
    doc = spec_doc(legacy=True)
    doc["keystores"][2]["entries"].pop()
    write_spec(tmp_path, doc)
    code, plan = estate.no_secrets_json()
    assert code == ExitCode.CHANGES and actions(plan)["trust/partner"] == "delete"
    agree(plan, estate.full_plan())


def test_a_hostile_alias_and_subject_cannot_break_the_markdown_table(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.test_plan_markdown import parse_tables

    hostile = "a|b`c<script>x</script>[l](http://e.example)"
    doc = spec_doc()
    doc["keystores"][0]["entries"][0]["alias"] = hostile
    doc["keystores"][0]["entries"][0]["generate"]["dname"] = "CN=\"x | y <img src=x onerror=alert(1)>\", O=Example"
    doc["keystores"][1]["entries"][0]["generate"]["issuer"] = f"ca/{hostile}"
    doc["keystores"][2]["entries"][0]["trusted"]["entry"] = f"ca/{hostile}"
    for name in PASSWORDS:
        monkeypatch.delenv(name, raising=False)
    estate = Estate(tmp_path, capsys, monkeypatch, doc)
    doc["keystores"][0]["entries"][0]["generate"]["validity_days"] = 3000  # a change: the table is shown
    write_spec(tmp_path, doc)
    markdown = estate.no_secrets("--format", "markdown", "-v").out
    tables, tokens = parse_tables(markdown)
    ca_table = tables[0]
    assert len(ca_table) == 2 and all(len(row) == 5 for row in ca_table)
    assert ca_table[1][0] == hostile.lower() and ca_table[1][1] == "update"
    assert not [t for t in tokens if t in ("link_open", "image")]


def test_prevent_destroy_refuses_the_no_secrets_plan_too(estate: Estate) -> None:
    doc = spec_doc()
    doc["keystores"][0]["prevent_destroy"] = True
    write_spec(estate.folder, doc)
    assert estate.no_secrets("--detailed-exitcode").code == ExitCode.OK
    doc["keystores"][0]["entries"][0]["generate"]["key"] = {"algorithm": "EC", "size": 384}
    write_spec(estate.folder, doc)
    result = estate.no_secrets()
    assert result.code == ExitCode.ERROR and "prevent_destroy: true" in result.err and "ca/root" in result.err


def test_a_rename_and_a_password_rotation(estate: Estate) -> None:
    doc = spec_doc()
    doc["keystores"][2] |= {"name": "truststore", "previous_name": "trust"}
    write_spec(estate.folder, doc)
    code, plan = estate.no_secrets_json()
    assert code == ExitCode.CHANGES and plan["lock_file"] == "update"  # the same file: only the record moves
    agree(plan, estate.full_plan())
    doc["keystores"][2]["path"] = "out/truststore.jks"
    write_spec(estate.folder, doc)
    code, plan = estate.no_secrets_json()
    trust = next(k for k in plan["keystores"] if k["name"] == "truststore")
    assert trust["reasons"][:2] == ["renamed: trust → truststore (previous_name); its keys are kept",
                                    "path changed: out/trust.jks → out/truststore.jks"]
    agree(plan, estate.full_plan())
    doc = spec_doc()
    doc["keystores"][1]["previous_password"] = {"env": "NS_OLD_PASS"}
    write_spec(estate.folder, doc)
    code, plan = estate.no_secrets_json()
    assert code == ExitCode.UNVERIFIED
    services = next(k for k in plan["keystores"] if k["name"] == "services")
    assert services["action"] == "unknown" and "previous_password set" in services["unverified"][0]


def _without_days_left(value: Any) -> Any:
    """Two runs a moment apart may straddle a day boundary of a certificate made seconds ago."""
    if isinstance(value, dict):
        return {k: _without_days_left(v) for k, v in value.items() if k != "days_left"}
    if isinstance(value, list):
        return [_without_days_left(v) for v in value]
    return value


def test_format_json_is_json_and_conflicts_are_refused(estate: Estate) -> None:
    assert _without_days_left(estate.no_secrets("--format", "json").json()) == \
        _without_days_left(estate.no_secrets("--json").json())
    clash = estate.no_secrets("--json", "--format", "markdown")
    assert clash.code == ExitCode.ERROR and "--json and --format markdown disagree" in clash.err
    human = estate.no_secrets("--format", "human")
    assert re.sub(r"\d+ days", "N days", human.out) == re.sub(r"\d+ days", "N days", estate.no_secrets().out)


def test_the_full_plan_as_markdown_holds_no_secret(estate: Estate) -> None:
    from tests.unit.test_plan_markdown import parse_tables

    doc = spec_doc()
    doc["keystores"][0]["entries"][0]["generate"]["key"] = {"algorithm": "EC", "size": 384}
    write_spec(estate.folder, doc)
    result: Result = estate.with_secrets(lambda: run(estate.capsys, "plan", estate.spec, "--format", "markdown",
                                                      "--detailed-exitcode"))
    assert result.code == ExitCode.CHANGES
    _no_secret_in(result.out)
    assert "No-secrets" not in result.out and "**Plan:** 0 to create, 2 to update, 1 to replace" in result.out
    tables, _ = parse_tables(result.out)
    assert [row[:2] for row in tables[0][1:]] == [["root", "replace (destroys a private key)"]]
    assert all(len(row) == 5 for table in tables for row in table)
