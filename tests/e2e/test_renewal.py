"""Renewal and the one clock, end to end: SOURCE_DATE_EPOCH moves the clock across a certificate's lifetime;
``kstool check`` reports the estate's health (text, JSON, Prometheus parsed by prometheus_client's parser)."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from prometheus_client.parser import text_string_to_metric_families

from kstool.formats.codec import decode
from kstool.formats.entries import KeyEntry, TrustedEntry, detect_type
from tests.support.clirun import Result, run
from tests.support.javatools import keytool_list

PW = "Renew-Pass-1"
DAY = 86400
T0 = int(time.time()) // DAY * DAY  # today, midnight UTC: an older clock would issue expired certificates


def _spec(folder: Path, *, entry_extra: str = "", keystore_extra: str = "", more: str = "") -> Path:
    spec = folder / "kstool.yaml"
    spec.write_text(
        "version: 1\nkeystores:\n"
        f"  - name: server\n    path: server.p12\n    password: {{env: RENEW_PASS}}\n{keystore_extra}    entries:\n"
        "      - alias: web\n        generate: {dname: CN=web, key: {algorithm: EC, size: 256}, validity_days: 90}\n"
        f"{entry_extra}"
        "  - name: trust\n    path: trust.jks\n    password: {env: RENEW_PASS}\n    entries:\n"
        "      - alias: web\n        trusted: {entry: server/web}\n" + more, encoding="utf-8")
    return spec


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("RENEW_PASS", PW)

    def at(day: int) -> None:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", str(T0 + day * DAY))
    return at


def _store(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    kind = detect_type(data)
    assert kind is not None
    return {e.alias: e for e in decode(data, kind, PW)}


def _leaf(path: Path, alias: str = "web") -> x509.Certificate:
    entry = _store(path)[alias]
    der = entry.chain_der[0] if isinstance(entry, KeyEntry) else entry.cert_der
    return x509.load_der_x509_certificate(der)


def _key_id(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _day(n: int) -> str:
    return f"{datetime.fromtimestamp(T0 + n * DAY, UTC):%Y-%m-%d}"


def test_a_whole_lifetime_reissues_for_the_same_key_inside_the_window(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: Any) -> None:
    spec = _spec(tmp_path, entry_extra="        renew_before: {days: 30}\n")
    clock(0)
    assert run(capsys, "apply", spec).code == 0
    first = _leaf(tmp_path / "server.p12")
    clock(59)  # 31 days left: before the window
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    clock(65)  # 25 days left
    plan = run(capsys, "plan", spec, "--json").json()
    web = plan["keystores"][0]["entries"][0]
    assert (web["action"], web["reasons"]) == ("update", [
        f"renewal due: expires {_day(90)} (in 25 days; renew 30 days before)", "certificate reissued for the same key"])
    assert web["renewal_due"] is False and web["days_left"] == 90  # after apply: the new certificate's
    assert plan["keystores"][1]["entries"][0]["reasons"] == ["follows server/web, which is reissued"]
    assert plan["destroyed_keys"] == []
    human = run(capsys, "plan", spec).out
    assert f"renewal due: expires {_day(90)} (in 25 days; renew 30 days before)" in human
    assert f"valid until {datetime.fromtimestamp(T0 + 155 * DAY, UTC):%Y-%m-%dT%H:%M:%SZ} (90 days left)" in human
    assert run(capsys, "apply", spec).code == 0
    renewed = _leaf(tmp_path / "server.p12")
    assert _key_id(renewed) == _key_id(first) and renewed.serial_number != first.serial_number
    assert int(renewed.not_valid_before_utc.timestamp()) == T0 + 65 * DAY
    assert _leaf(tmp_path / "trust.jks") == renewed  # the trusted reference followed
    clock(66)
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0  # no-op again
    clock(130)  # 25 days left of the new certificate: due again
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 2


def test_renew_rotates_key_replaces_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: Any) -> None:
    spec = _spec(tmp_path, entry_extra="        renew_rotates_key: true\n")
    clock(0)
    assert run(capsys, "apply", spec).code == 0
    first = _leaf(tmp_path / "server.p12")
    clock(62)  # 28 days left: inside the default window, a third of 90 days
    plan = run(capsys, "plan", spec, "--json").json()
    assert plan["keystores"][0]["entries"][0]["action"] == "replace"
    assert [d["alias"] for d in plan["destroyed_keys"]] == ["web"]
    assert run(capsys, "apply", spec).code == 0
    assert _key_id(_leaf(tmp_path / "server.p12")) != _key_id(first)
    assert _leaf(tmp_path / "trust.jks") == _leaf(tmp_path / "server.p12")


def test_an_old_source_date_epoch_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch, clock: Any) -> None:
    spec = _spec(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1600000000")  # 2020-09-13: 90 days later is long past
    result = run(capsys, "apply", spec)
    assert result.code == 1 and not (tmp_path / "server.p12").exists()
    assert result.err.startswith("kstool: error: server/web: the certificate apply would issue at "
                                 "SOURCE_DATE_EPOCH=1600000000 (2020-09-13 12:26:40 UTC) is valid until 2020-12-12, "
                                 "already expired")
    clock(-75)  # 15 days left at the real time: inside its own renewal window (a third of 90 days)
    assert "inside its own renewal window" in run(capsys, "plan", spec).err


def test_renew_before_must_be_shorter_than_the_validity(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        clock: Any) -> None:
    spec = _spec(tmp_path, entry_extra="        renew_before: {days: 90}\n")
    result = run(capsys, "validate", spec)
    assert result.code == 1 and "renew_before: {days: 90} is not less than validity_days 90" in result.err


def _write_import(folder: Path, days: int = 90) -> None:
    key = ec.derive_private_key(0x5EED_1515, ec.SECP256R1())
    name = x509.Name.from_rfc4514_string("CN=imported")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(15).not_valid_before(datetime.fromtimestamp(T0, UTC))
            .not_valid_after(datetime.fromtimestamp(T0, UTC) + timedelta(days=days)).sign(key, hashes.SHA256()))
    (folder / "imp.crt").write_bytes(cert.public_bytes(Encoding.PEM))
    (folder / "imp.key").write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))


IMPORT = "      - alias: imp\n        import: {certificate: imp.crt, private_key: imp.key}\n"


def test_imported_certificates_warn_in_their_window_then_fail_after_expiry(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: Any) -> None:
    _write_import(tmp_path)
    spec = _spec(tmp_path, more="  - name: imports\n    path: imports.p12\n    password: {env: RENEW_PASS}\n"
                                "    entries:\n" + IMPORT)
    clock(0)
    assert run(capsys, "apply", spec).code == 0
    clock(59)
    quiet = run(capsys, "plan", spec)
    assert quiet.code == 0 and quiet.err == ""
    clock(70)  # 20 days left: warned, never renewed (but web, generated, is renewed)
    result = run(capsys, "plan", spec, "--json")
    assert result.code == 0
    assert result.err == (f"kstool: warning: imports/imp: the certificate from imp.crt is due for renewal: expires "
                          f"{_day(90)} (in 20 days; renew 30 days before); kstool cannot renew it: replace imp.crt "
                          "with a renewed certificate\n")
    imp = result.json()["keystores"][2]["entries"][0]
    assert (imp["action"], imp["days_left"], imp["renewal_due"]) == ("no-op", 20, True)
    human = run(capsys, "plan", spec).out  # a due entry is listed though its keystore does not change
    assert "imp (key, EC 256, CN=imported): no-op" in human and "(20 days left)" in human
    clock(91)
    expired = run(capsys, "plan", spec)
    assert expired.code == 1 and (f"imp.crt: the certificate 'CN=imported' expired on {_day(90)} (1 day ago); kstool "
                                  "cannot renew it: replace imp.crt with a renewed certificate, or set allow_expired: "
                                  "true") in expired.err


def test_same_clock_same_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: Any) -> None:
    """Generated keys differ between folders; renewal for the same key and clock gives the same bytes."""
    a = _spec(tmp_path)
    clock(0)
    assert run(capsys, "apply", a).code == 0
    b_dir = tmp_path / "b"
    b_dir.mkdir()
    b = _spec(b_dir)
    for name in ("server.p12", "trust.jks", "kstool.lock"):
        (b_dir / name).write_bytes((tmp_path / name).read_bytes())
    clock(70)
    assert run(capsys, "apply", a).code == 0 and run(capsys, "apply", b).code == 0
    for name in ("server.p12", "trust.jks", "kstool.lock"):
        assert hashlib.sha256((tmp_path / name).read_bytes()).digest() == \
            hashlib.sha256((b_dir / name).read_bytes()).digest(), name


# -- kstool check ---------------------------------------------------------------------------------------------

def _check(capsys: pytest.CaptureFixture[str], spec: Path, *args: str) -> Result:
    return run(capsys, "check", spec, *args)


def test_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: Any,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(tmp_path)
    clock(0)
    missing = _check(capsys, spec)
    assert missing.code == 2 and "server (server.p12, pkcs12): missing" in missing.out
    assert run(capsys, "apply", spec).code == 0
    snap = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    healthy = _check(capsys, spec)
    assert healthy.code == 0 and healthy.out.splitlines()[-1].startswith("Healthy: 2 keystore(s) checked at ")
    clock(45)  # 45 days left: outside the window (30), inside a 50-day horizon
    assert _check(capsys, spec).code == 0
    assert _check(capsys, spec, "--horizon", "50").code == 2
    clock(65)
    due = _check(capsys, spec)
    assert due.code == 2 and "renewal due" in due.out and due.out.splitlines()[-1].startswith("Attention needed:")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == snap  # read only
    monkeypatch.delenv("RENEW_PASS")
    error = _check(capsys, spec)
    assert error.code == 1 and "RENEW_PASS" in error.err


def test_check_flags_drift_and_weak_protection(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                clock: Any) -> None:
    spec = _spec(tmp_path)
    clock(0)
    assert run(capsys, "apply", spec).code == 0
    spec.write_text(spec.read_text().replace("path: server.p12\n", "path: server.p12\n    pkcs12_profile: legacy\n"))
    data = _check(capsys, spec, "--json").json()
    server = data["keystores"][0]
    assert data["healthy"] is False and server["attention"] is True
    assert server["weak"] == ["legacy PKCS12 profile (3DES key encryption, SHA-1 MAC): set pkcs12_profile: modern"]
    assert server["drift"] and "re-encoded" in server["drift"][0]


def test_check_json_and_prometheus(tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: Any) -> None:
    spec = _spec(tmp_path)
    clock(0)
    assert run(capsys, "apply", spec).code == 0
    clock(10)
    data = _check(capsys, spec, "--json").json()
    web = data["keystores"][0]["entries"][0]
    assert data["healthy"] is True and data["horizon_days"] == 30
    assert data["now"] == f"{datetime.fromtimestamp(T0 + 10 * DAY, UTC):%Y-%m-%dT%H:%M:%SZ}"
    assert {k: web[k] for k in ("alias", "kind", "source", "subject", "days_left", "renewal_due", "expired",
                                "weak", "drift")} == {
        "alias": "web", "kind": "key", "source": "generate", "subject": "CN=web", "days_left": 80,
        "renewal_due": False, "expired": False, "weak": [], "drift": None}
    text = _check(capsys, spec, "--prometheus").out
    families = {f.name: f for f in text_string_to_metric_families(text)}
    not_after = {(s.labels["keystore"], s.labels["alias"]): s.value
                 for s in families["kstool_certificate_not_after_seconds"].samples}
    assert not_after == {("server", "web"): T0 + 90 * DAY, ("trust", "web"): T0 + 90 * DAY}
    assert families["kstool_certificate_not_after_seconds"].type == "gauge"
    days = families["kstool_certificate_days_left"].samples[0]
    assert days.value == 80 and days.labels["path"] == "server.p12" and days.labels["subject"] == "CN=web"
    assert [s.value for s in families["kstool_check_attention"].samples] == [0]
    assert [s.value for s in families["kstool_keystore_missing"].samples] == [0, 0]
    clock(70)
    due = {f.name: f for f in text_string_to_metric_families(_check(capsys, spec, "--prometheus").out)}
    assert [s.value for s in due["kstool_certificate_renewal_due"].samples] == [1, 1]
    assert [s.value for s in due["kstool_check_attention"].samples] == [1]


def test_check_escapes_label_values(tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: Any) -> None:
    spec = _spec(tmp_path)
    spec.write_text(spec.read_text().replace("dname: CN=web", 'dname: "CN=we\\\\\\"b"'))
    clock(0)
    assert run(capsys, "apply", spec).code == 0, run(capsys, "apply", spec).err
    families = {f.name: f for f in text_string_to_metric_families(_check(capsys, spec, "--prometheus").out)}
    subject = families["kstool_certificate_days_left"].samples[0].labels["subject"]
    assert subject == _check(capsys, spec, "--json").json()["keystores"][0]["entries"][0]["subject"]


@pytest.mark.java
def test_a_reissued_store_opens_in_keytool(tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: Any) -> None:
    spec = _spec(tmp_path)
    clock(0)
    assert run(capsys, "apply", spec).code == 0
    clock(70)
    assert run(capsys, "apply", spec).code == 0
    listing = keytool_list(tmp_path / "server.p12", PW)
    assert "Alias name: web" in listing and "PrivateKeyEntry" in listing
    assert "trustedCertEntry" in keytool_list(tmp_path / "trust.jks", PW)
    assert isinstance(_store(tmp_path / "trust.jks")["web"], TrustedEntry)


def test_renewal_through_the_fast_path(tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: Any) -> None:
    """A store kstool.lock describes alone (no reference into it) is opened in full when its entry falls due."""
    spec = tmp_path / "kstool.yaml"
    spec.write_text("version: 1\nrenew_before: {days: 20}\nkeystores:\n  - name: a\n    path: a.jks\n"
                    "    password: {env: RENEW_PASS}\n    entries:\n      - alias: one\n"
                    "        generate: {dname: CN=one, key: {algorithm: EC, size: 256}, validity_days: 90}\n")
    clock(0)
    assert run(capsys, "apply", spec).code == 0
    first = _leaf(tmp_path / "a.jks", "one")
    clock(69)
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    clock(75)
    assert run(capsys, "apply", spec).code == 0
    renewed = _leaf(tmp_path / "a.jks", "one")
    assert _key_id(renewed) == _key_id(first) and int(renewed.not_valid_before_utc.timestamp()) == T0 + 75 * DAY
    clock(76)
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0 and run(capsys, "verify", spec).code == 0


@pytest.mark.parametrize(("extra", "message"), [
    ("        renew_before: {days: 0}\n", "must be a whole number of days from 1 to 36500"),
    ("        renew_before: {percent: 100}\n", "must be a whole number from 1 to 99"),
    ("        renew_before: {days: 3, percent: 4}\n", "write {days: N} or {percent: P}"),
])
def test_renew_before_shapes(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, message: str) -> None:
    result = run(capsys, "validate", _spec(tmp_path, entry_extra=extra))
    assert result.code == 1 and message in result.err, result.err


def test_renew_rotates_key_is_for_generated_entries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path, more="        renew_rotates_key: true\n")
    result = run(capsys, "validate", spec)
    assert result.code == 1 and "renew_rotates_key applies to generate entries only" in result.err


def test_check_flags_weak_and_expired_certificates_the_spec_accepts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name.from_rfc4514_string("CN=old")
    start = datetime.fromtimestamp(T0, UTC) - timedelta(days=400)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(3).not_valid_before(start).not_valid_after(start + timedelta(days=365))
            .sign(key, hashes.SHA256()))
    (tmp_path / "old.crt").write_bytes(cert.public_bytes(Encoding.PEM))
    spec = _spec(tmp_path, more="  - name: roots\n    path: roots.p12\n    password: {env: RENEW_PASS}\n"
                                "    allow_expired: true\n    allow_weak: true\n    entries:\n"
                                "      - alias: old\n        trusted: {certificate: old.crt}\n")
    clock(0)
    assert run(capsys, "apply", spec).code == 0
    result = _check(capsys, spec, "--json")
    assert result.code == 2
    old = result.json()["keystores"][2]["entries"][0]
    assert (old["expired"], old["days_left"], old["source"]) == (True, -35, "trusted")
    assert old["weak"] == ["the certificate 'CN=old' has a 1024-bit RSA key (under 2048)"]
    assert result.json()["keystores"][0]["attention"] is False


def test_check_reports_a_stale_lock_and_a_keystore_removed_from_the_spec(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: Any) -> None:
    spec = _spec(tmp_path)
    clock(0)
    assert run(capsys, "apply", spec).code == 0
    lock = (tmp_path / "kstool.lock").read_bytes()
    (tmp_path / "kstool.lock").unlink()
    stale = _check(capsys, spec, "--json")
    assert stale.code == 2 and stale.json()["drift"] == ["kstool.lock is missing or out of date: apply writes it"]
    (tmp_path / "kstool.lock").write_bytes(lock)
    spec.write_text(spec.read_text().split("  - name: trust\n")[0])
    removed = _check(capsys, spec)
    assert removed.code == 2 and "keystore trust (trust.jks) is not in the spec: apply deletes it" in removed.out
