"""A CA of the spec and what it signed, across their lifetimes: SOURCE_DATE_EPOCH moves the one clock into the
CA's renewal window (the CA keeps its key, its leaves are reissued with the new chain) and the leaves' own
windows; a leaf renewed near its issuer's end; ``kstool check`` on examples/mtls; bytes reproducible."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from prometheus_client.parser import text_string_to_metric_families

from kstool.formats.codec import decode
from kstool.formats.entries import KeyEntry, TrustedEntry, detect_type
from tests.support.clirun import copy_example, run

PW = "CaRenew-Pass-1"
DAY = 86400
T0 = int(time.time()) // DAY * DAY  # today, midnight UTC: an older clock would issue expired certificates


def _spec(folder: Path, *, ca_renew: int = 30, leaf_renew: int = 10) -> Path:
    spec = folder / "kstool.yaml"
    spec.write_text(f"""\
version: 1
keystores:
  - name: ca
    path: ca.p12
    password: {{env: CA_RENEW_PASS}}
    entries:
      - alias: root
        generate: {{dname: "CN=Renew Root CA", key: {{algorithm: EC, size: 256}}, validity_days: 100, ca: {{}}}}
        renew_before: {{days: {ca_renew}}}
  - name: server
    path: server.jks
    password: {{env: CA_RENEW_PASS}}
    entries:
      - alias: web
        generate: {{dname: "CN=web", key: {{algorithm: RSA, size: 2048}}, validity_days: 40, issuer: ca/root,
                   usage: [server], san: ["dns:web"]}}
        renew_before: {{days: {leaf_renew}}}
  - name: trust
    path: trust.p12
    password: {{env: CA_RENEW_PASS}}
    entries:
      - alias: root
        trusted: {{entry: ca/root}}
""", encoding="utf-8")
    return spec


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CA_RENEW_PASS", PW)

    def at(day: int) -> None:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", str(T0 + day * DAY))
    return at


def _entry(path: Path, alias: str) -> KeyEntry | TrustedEntry:
    data = path.read_bytes()
    kind = detect_type(data)
    assert kind is not None
    return {e.alias: e for e in decode(data, kind, PW)}[alias]


def _key(path: Path, alias: str) -> KeyEntry:
    entry = _entry(path, alias)
    assert isinstance(entry, KeyEntry)
    return entry


def _cert(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def _pem(der: bytes) -> str:
    return _cert(der).public_bytes(Encoding.PEM).decode("ascii")


def _openssl_verify(tmp: Path, root: bytes, chain: tuple[bytes, ...], epoch: int) -> subprocess.CompletedProcess[str]:
    (tmp / "root.pem").write_text(_pem(root), encoding="ascii")
    (tmp / "leaf.pem").write_text(_pem(chain[0]), encoding="ascii")
    return subprocess.run(["openssl", "verify", "-x509_strict", "-attime", str(epoch), "-purpose", "sslserver",
                           "-CAfile", str(tmp / "root.pem"), str(tmp / "leaf.pem")],
                          capture_output=True, text=True, timeout=30, check=False)


def _plan(capsys: pytest.CaptureFixture[str], spec: Path) -> dict[tuple[str, str], dict[str, Any]]:
    plan = run(capsys, "plan", spec, "--json").json()
    return {(ks["name"], e["alias"]): e for ks in plan["keystores"] for e in ks["entries"]}


def _epoch(day: int) -> int:
    return T0 + day * DAY


def test_ca_renewal_carries_its_leaves_chains_along(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    clock: Any) -> None:
    spec = _spec(tmp_path, ca_renew=40)  # the CA falls due at day 60
    clock(0)
    assert run(capsys, "apply", spec).code == 0
    clock(35)
    assert run(capsys, "apply", spec).code == 0  # the leaf renewed in its window: valid until day 75
    ca_before, web_before = _key(tmp_path / "ca.p12", "root"), _key(tmp_path / "server.jks", "web")
    clock(62)  # the CA has 38 days left: inside its 40-day window; the leaf (13 days left) is not due
    entries = _plan(capsys, spec)
    root, web, trust = entries[("ca", "root")], entries[("server", "web")], entries[("trust", "root")]
    assert root["action"] == "update" and root["reasons"][0].startswith("renewal due: expires")
    assert root["reasons"][1] == "certificate reissued for the same key"
    assert web["action"] == "update" and web["reasons"][0] == "issuer ca/root reissued"
    assert web["reasons"][1] == "certificate reissued for the same key"
    assert trust["action"] != "no-op" and "ca/root" in trust["reasons"][0]
    assert run(capsys, "apply", spec).code == 0
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0  # no-op after apply
    stored = {name: (tmp_path / name).read_bytes() for name in ("ca.p12", "server.jks", "trust.p12")}
    assert run(capsys, "apply", spec).code == 0
    assert {name: (tmp_path / name).read_bytes() for name in stored} == stored  # the second apply writes nothing
    ca_after, web_after = _key(tmp_path / "ca.p12", "root"), _key(tmp_path / "server.jks", "web")
    assert ca_after.key_der == ca_before.key_der and web_after.key_der == web_before.key_der  # keys kept
    assert ca_after.chain_der[0] != ca_before.chain_der[0]
    assert int(_cert(ca_after.chain_der[0]).not_valid_before_utc.timestamp()) == _epoch(62)
    assert web_after.chain_der[-1] == ca_after.chain_der[0]  # the leaf's chain ends with the new CA certificate
    trusted = _entry(tmp_path / "trust.p12", "root")
    assert isinstance(trusted, TrustedEntry) and trusted.cert_der == ca_after.chain_der[0]
    verdict = _openssl_verify(tmp_path, ca_after.chain_der[0], web_after.chain_der, _epoch(63))
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_a_leaf_in_its_own_window_is_reissued_by_the_same_ca(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             clock: Any) -> None:
    spec = _spec(tmp_path)
    clock(0)
    assert run(capsys, "apply", spec).code == 0
    ca_before, web_before = _key(tmp_path / "ca.p12", "root"), _key(tmp_path / "server.jks", "web")
    clock(25)  # the leaf has 15 days left: before its window
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    clock(35)  # 5 days left: due
    entries = _plan(capsys, spec)
    assert entries[("ca", "root")]["action"] == "no-op"
    web = entries[("server", "web")]
    assert web["action"] == "update" and web["reasons"][0].startswith("renewal due: expires")
    assert run(capsys, "apply", spec).code == 0
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    web_after = _key(tmp_path / "server.jks", "web")
    assert _key(tmp_path / "ca.p12", "root").chain_der == ca_before.chain_der  # the CA untouched
    assert web_after.key_der == web_before.key_der and web_after.chain_der[1:] == ca_before.chain_der
    assert int(_cert(web_after.chain_der[0]).not_valid_before_utc.timestamp()) == _epoch(35)
    verdict = _openssl_verify(tmp_path, ca_before.chain_der[0], web_after.chain_der, _epoch(36))
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_a_leaf_renewed_past_its_issuers_end_is_a_plan_error_until_the_ca_falls_due(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: Any) -> None:
    spec = _spec(tmp_path, ca_renew=10)  # the CA falls due at day 90 only
    clock(0)
    assert run(capsys, "apply", spec).code == 0
    clock(35)
    assert run(capsys, "apply", spec).code == 0  # the leaf renewed: valid until day 75
    ca_before, web_before = _key(tmp_path / "ca.p12", "root"), _key(tmp_path / "server.jks", "web")
    stored = (tmp_path / "server.jks").read_bytes()
    clock(70)  # the leaf is due; a new leaf would end on day 110, after the CA (day 100)
    for command in ("plan", "apply"):
        result = run(capsys, command, spec)
        assert result.code == 1, command
        assert "generate.validity_days 40: the certificate issued at " in result.err
        assert "after its issuer ca/root (valid until " in result.err
        assert "renew the CA first (a renew_before on ca/root" in result.err
    assert (tmp_path / "server.jks").read_bytes() == stored  # nothing written
    _spec(tmp_path, ca_renew=40)  # the documented fix: the CA falls due first (30 days left < 40)
    entries = _plan(capsys, spec)
    assert entries[("ca", "root")]["action"] == "update" and entries[("server", "web")]["action"] == "update"
    assert run(capsys, "apply", spec).code == 0
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    ca_after, web_after = _key(tmp_path / "ca.p12", "root"), _key(tmp_path / "server.jks", "web")
    assert ca_after.key_der == ca_before.key_der and web_after.key_der == web_before.key_der
    assert web_after.chain_der[-1] == ca_after.chain_der[0]
    assert _cert(web_after.chain_der[0]).not_valid_after_utc <= _cert(ca_after.chain_der[0]).not_valid_after_utc
    verdict = _openssl_verify(tmp_path, ca_after.chain_der[0], web_after.chain_der, _epoch(71))
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_ca_signed_bytes_are_reproducible_for_a_clock(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      clock: Any) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    spec_one = _spec(one)
    clock(0)
    assert run(capsys, "apply", spec_one).code == 0
    shutil.copytree(one, two)
    clock(72)  # the CA's renewal and its leaf's reissue, from the same starting files in two folders
    assert run(capsys, "apply", spec_one).code == 0
    assert run(capsys, "apply", two / "kstool.yaml").code == 0
    for name in ("ca.p12", "server.jks", "trust.p12"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


def test_check_on_the_mtls_example(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    spec = copy_example("mtls", tmp_path)
    assert run(capsys, "apply", spec).code == 0
    assert run(capsys, "check", spec).code == 0
    past = run(capsys, "check", spec, "--horizon", "400", "--json")  # beyond the leaves' 397 days
    assert past.code == 2
    data = past.json()
    soon = {(ks["name"], e["alias"]) for ks in data["keystores"] for e in ks["entries"] if e["days_left"] < 400}
    assert soon == {("server", "server"), ("billing", "billing"), ("orders", "orders")}
    families = {f.name: f for f in text_string_to_metric_families(run(capsys, "check", spec, "--prometheus").out)}
    samples = families["kstool_certificate_not_after_seconds"].samples
    series = {(s.labels["keystore"], s.labels["alias"]) for s in samples}
    assert series == {("ca", "root"), ("ca", "services"), ("server", "server"), ("server-trust", "example-root"),
                      ("billing", "billing"), ("orders", "orders"), ("client-trust", "example-root")}
