"""``--target KEYSTORE[/ALIAS]`` end to end, on the mTLS example (a CA store, a server, two clients and two
truststores that trust the CA's root): a targeted run plans and writes only its keystores and the ones they need
(issuers, trusted references), says it is partial, and keeps every other file and lock record as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import copy_example, run, snapshot
from tests.support.javatools import keytool_list

ALL = ["ca", "server", "server-trust", "billing", "orders", "client-trust"]
PATHS = {"ca": "ca/internal-ca.p12", "server": "server/server.p12", "server-trust": "server/truststore.p12",
         "billing": "clients/billing.p12", "orders": "clients/orders.jks", "client-trust": "clients/truststore.p12"}


@pytest.fixture()
def mtls(workdir: Path) -> Path:
    return copy_example("mtls", workdir)


def _lock(spec: Path) -> dict[str, Any]:
    return dict(json.loads((spec.parent / "kstool.lock").read_text())["keystores"])


def _plan(capsys: pytest.CaptureFixture[str], spec: Path, *args: str) -> dict[str, Any]:
    r = run(capsys, "plan", spec, "--json", *args)
    assert r.code == 0, r.err
    return dict(r.json())


def test_a_truststore_target_pulls_in_the_store_its_reference_points_into(mtls: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan(capsys, mtls, "--target", "server-trust")
    assert plan["partial"] is True and plan["targets"] == ["server-trust"]
    assert [k["name"] for k in plan["keystores"]] == ["ca", "server-trust"]
    why = {i["name"]: i["why"] for i in plan["included"]}
    assert why["server-trust"] == "targeted"
    assert "server-trust/example-root trusts its entry ca/root" in why["ca"]
    r = run(capsys, "plan", mtls, "--target", "server-trust")
    assert "Note: this is a partial plan (--target server-trust)" in r.out
    assert "ca: needed because server-trust/example-root trusts its entry ca/root" in r.out
    # the CA's other dependents are not in the run, and the plan says so
    assert "left out, though it depends on this run: client-trust (client-trust/example-root trusts ca/root)" \
        in r.out
    assert {d["name"] for d in plan["left_out_dependents"]} == {"server", "billing", "orders", "client-trust"}

    r = run(capsys, "apply", mtls, "--target", "server-trust")
    assert r.code == 0, r.err
    root = mtls.parent
    assert (root / PATHS["ca"]).exists() and (root / PATHS["server-trust"]).exists()
    for name in ("server", "billing", "orders", "client-trust"):
        assert not (root / PATHS[name]).exists(), name
    assert sorted(_lock(mtls)) == ["ca", "server-trust"]
    # a full plan afterwards: the rest is still to create, the targeted stores are done
    full = _plan(capsys, mtls)
    assert full["partial"] is False and "targets" not in full
    assert {k["name"]: k["action"] for k in full["keystores"]} == {
        "ca": "no-op", "server": "create", "server-trust": "no-op", "billing": "create", "orders": "create",
        "client-trust": "create"}


def test_a_leaf_target_pulls_in_its_issuer(mtls: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan(capsys, mtls, "--target", "billing")
    assert [k["name"] for k in plan["keystores"]] == ["ca", "billing"]
    assert "the CA ca/services issues the certificate of billing/billing" in \
        {i["name"]: i["why"] for i in plan["included"]}["ca"]


def test_a_target_run_touches_only_its_keystores(mtls: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "apply", mtls).code == 0
    root = mtls.parent
    # two changes pending: billing and orders get new subjects
    text = mtls.read_text()
    mtls.write_text(text.replace("CN=billing, O=Example", "CN=billing2, O=Example")
                    .replace("CN=orders, O=Example", "CN=orders2, O=Example"))
    before = snapshot(root)
    lock_before = _lock(mtls)
    r = run(capsys, "apply", mtls, "--target", "billing")
    assert r.code == 0, r.err
    assert "Note: this is a partial plan (--target billing)" in r.out
    after = snapshot(root)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert changed[0] == PATHS["billing"] and "kstool.lock" in changed
    assert all(p in (PATHS["billing"], "kstool.lock") or p.endswith(".kstool-backup") for p in changed), changed
    lock_after = _lock(mtls)
    assert lock_after["billing"] != lock_before["billing"]
    assert lock_after["billing"]["entries"][0]["subject"] == "CN=billing2, O=Example"
    for name in ALL:
        if name != "billing":
            assert lock_after[name] == lock_before[name], name
    # orders' change is still pending; the billing change is done
    full = {k["name"]: k["action"] for k in _plan(capsys, mtls)["keystores"]}
    assert full["orders"] == "update" and full["billing"] == "no-op"


def test_a_target_run_keeps_the_lock_records_of_keystores_gone_from_the_spec(
        mtls: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "apply", mtls).code == 0
    spec = mtls.read_text()
    head, tail = spec.split("  - name: orders", 1)
    mtls.write_text(head + "  - name: client-trust" + tail.split("  - name: client-trust", 1)[1])  # orders removed
    lock_before = _lock(mtls)
    orders = mtls.parent / PATHS["orders"]
    data = orders.read_bytes()
    assert _plan(capsys, mtls)["summary"]["delete"] == 1  # a full plan deletes it
    plan = _plan(capsys, mtls, "--target", "billing")
    assert plan["summary"]["delete"] == 0 and plan["left_alone"] == []
    assert run(capsys, "apply", mtls, "--target", "billing").code == 0
    assert orders.read_bytes() == data
    assert _lock(mtls)["orders"] == lock_before["orders"]


def test_unknown_targets_are_errors_listing_the_known_names(mtls: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run(capsys, "plan", mtls, "--target", "nope", "--target", "ca/nobody", "--target", "server")
    assert r.code == 1
    assert "--target 'nope': no keystore 'nope' in the spec (keystores: " + ", ".join(ALL) + ")" in r.err
    assert "--target 'ca/nobody': keystore 'ca' has no alias 'nobody' (aliases: root, services)" in r.err
    r = run(capsys, "apply", mtls, "--target", "nope")
    assert r.code == 1 and "no keystore 'nope'" in r.err
    assert not (mtls.parent / "kstool.lock").exists()


def test_an_alias_target_refuses_to_change_other_entries_of_its_keystore(mtls: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "apply", mtls).code == 0
    mtls.write_text(mtls.read_text().replace("CN=Example Services CA, O=Example", "CN=Services CA 2, O=Example"))
    before = snapshot(mtls.parent)
    r = run(capsys, "apply", mtls, "--target", "ca/root")
    assert r.code == 1
    assert "this apply would also change ca/services (update)" in r.err and "--target ca to apply" in r.err
    assert snapshot(mtls.parent) == before
    # the entry that changes may be targeted: the keystore file is written as a whole, its other entries as they are
    plan = _plan(capsys, mtls, "--target", "ca/services")
    assert plan["targets"] == ["ca/services"] and [k["name"] for k in plan["keystores"]] == ["ca"]
    assert {e["alias"]: e["action"] for e in plan["keystores"][0]["entries"]} == {"root": "no-op",
                                                                                  "services": "update"}


def test_a_saved_plan_records_its_targets(mtls: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "plan", mtls, "--target", "orders", "--out", "orders.plan").code == 0
    doc = json.loads(Path("orders.plan").read_text())
    assert doc["settings"]["targets"] == ["orders"] and doc["plan"]["partial"] is True
    r = run(capsys, "apply", "orders.plan", "--target", "billing")
    assert r.code == 1 and "--target: the plan was made for orders, this apply names billing" in r.err
    r = run(capsys, "apply", "orders.plan")  # the plan's own targets
    assert r.code == 0, r.err
    assert sorted(_lock(mtls)) == ["ca", "orders"]
    assert not (mtls.parent / PATHS["billing"]).exists()


@pytest.mark.java
def test_keytool_reads_a_targeted_truststore_holding_the_ca_root(mtls: Path, capsys: pytest.CaptureFixture[str],
                                                                 jdk: None) -> None:
    assert run(capsys, "apply", mtls, "--target", "server-trust").code == 0
    password = (mtls.parent / "secrets" / "server-trust.pass").read_text().strip()
    listing = keytool_list(mtls.parent / PATHS["server-trust"], password, "PKCS12")
    root_sha256 = _lock(mtls)["ca"]["entries"][0]["sha256"]
    wanted = ":".join(root_sha256[i:i + 2] for i in range(0, 64, 2)).upper()
    assert "trustedCertEntry" in listing and wanted in listing


def test_a_target_run_needs_only_its_keystores_passwords_and_inputs(workdir: Path,
                                                                    capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "kstool.yaml").write_text("""\
version: 1
keystores:
  - name: mine
    path: mine.p12
    password: {env: TARGET_MINE_PW}
    entries:
      - alias: k
        generate: {dname: "CN=mine", key: {algorithm: EC, size: 256}, validity_days: 90}
  - name: theirs
    path: theirs.p12
    password: {env: TARGET_THEIRS_PW}
    entries:
      - alias: t
        trusted: {certificate: missing.pem}
""")
    monkeypatch.setenv("TARGET_MINE_PW", "Target-Mine-Pw-1")
    monkeypatch.delenv("TARGET_THEIRS_PW", raising=False)
    assert run(capsys, "plan", "kstool.yaml").code == 1  # a full run needs both
    r = run(capsys, "apply", "kstool.yaml", "--target", "mine")
    assert r.code == 0, r.err
    assert (workdir / "mine.p12").exists() and not (workdir / "theirs.p12").exists()
