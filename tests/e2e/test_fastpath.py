"""The no-op fast path: an artifact whose bytes are what kstool.lock recorded skips the slow PKCS12 MAC and the
re-encode, yet every change to the spec, a source file, a password or the artifact is still seen."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import kstool.formats.pkcs12 as pkcs12
from kstool.formats import der, protection
from tests.conftest import CountCalls
from tests.support.clirun import CANARY, ROOT, run, without_days_left

PW = f"{CANARY}-fast"
SPEC = """version: 1
keystores:
  - name: p
    path: p.p12
    password: {env: KS_PASS}
    entries:
      - alias: gw
        import: {certificate: certs/gateway.crt, private_key: certs/gateway.key, chain: [certs/intermediate.crt]}
      - alias: root
        trusted: {certificate: certs/root.crt}
  - name: g
    path: g.p12
    password: {env: KS_PASS}
    entries:
      - alias: k
        generate: {dname: "CN=k", key: {algorithm: EC, size: 256}}
"""


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    monkeypatch.setenv("KS_PASS", PW)
    shutil.copytree(ROOT / "examples" / "wso2" / "certs", tmp_path / "certs")
    spec = tmp_path / "kstool.yaml"
    spec.write_text(SPEC)
    assert run(capsys, "apply", spec).code == 0
    return spec


@pytest.fixture()
def mac_checks(count_calls: CountCalls) -> list[int]:
    return count_calls(pkcs12, "_verify_mac")


@pytest.fixture()
def decryptions(count_calls: CountCalls) -> list[int]:
    return count_calls(protection, "decrypt")


def test_no_op_plan_reads_a_store_the_lock_describes_without_decrypting(
        project: Path, capsys: pytest.CaptureFixture[str], mac_checks: list[int], decryptions: list[int]) -> None:
    described = run(capsys, "plan", project, "--detailed-exitcode", "--json")
    assert described.code == 0
    assert len(mac_checks) == 2 and decryptions == []  # one MAC per store proves the password; nothing decrypted
    lock = project.parent / "kstool.lock"
    text = lock.read_text()
    lock.write_text(text.replace('"inputs": "', '"inputs": "0'))  # the lock no longer describes the inputs
    opened = run(capsys, "plan", project, "--json")
    assert decryptions  # so the stores were opened
    # the same plan either way: the lock holds every fact a plan shows
    assert without_days_left(opened.json()["keystores"]) == without_days_left(described.json()["keystores"])
    assert opened.json()["lock_file"] == "update"  # and apply would record the right digest again
    lock.unlink()
    assert run(capsys, "plan", project, "--detailed-exitcode").code == 2  # the lock file is missing: apply writes it
    assert run(capsys, "verify", project).code == 1  # and verify says the lock is missing


def test_group_readable_store_is_seen_with_a_matching_lock(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project.parent / "g.p12").chmod(0o644)
    plan = run(capsys, "plan", project, "--json").json()
    assert plan["changes"] and "file mode 0644" in str(plan["keystores"][1]["reasons"])


def test_jks_password_change_is_seen_with_a_matching_lock(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_PASS", PW)
    spec = tmp_path / "kstool.yaml"
    only_g = "version: 1\nkeystores:\n" + SPEC[SPEC.index("  - name: g"):]
    spec.write_text(only_g.replace("path: g.p12", "path: g.jks\n    type: jks"))
    assert run(capsys, "apply", spec).code == 0
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    monkeypatch.setenv("KS_PASS", f"{CANARY}-other")
    result = run(capsys, "plan", spec)
    assert result.code == 1 and "does not open this keystore" in result.err and "g.jks" in result.err


@pytest.mark.parametrize(("edit", "reason"), [
    (("      - alias: k\n", "      - alias: k\n"), None),  # control: no change
    (("    path: p.p12\n", "    path: p.p12\n    iterations: 20000\n"), "re-encoded"),
    (("    path: p.p12\n", "    path: p.p12\n    pkcs12_profile: legacy\n"), "re-encoded"),
    ((", chain: [certs/intermediate.crt]", ""), "chain changed"),
])
def test_spec_changes_are_seen(project: Path, capsys: pytest.CaptureFixture[str], edit: tuple[str, str],
                               reason: str | None) -> None:
    project.write_text(SPEC.replace(*edit))
    plan = run(capsys, "plan", project, "--json").json()
    text = str(plan["keystores"])
    if reason is None:
        assert not plan["changes"]
    else:
        assert plan["changes"] and reason in text


def test_password_change_is_seen(project: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch, mac_checks: list[int]) -> None:
    monkeypatch.setenv("KS_PASS", f"{CANARY}-other")
    result = run(capsys, "plan", project)
    assert result.code == 1 and "does not open this keystore" in result.err
    assert "p.p12" in result.err  # a store the lock describes (bytes, settings, inputs unchanged)
    assert mac_checks  # the lock vouches for the bytes, not the password: the store's MAC proved it wrong


def test_source_file_change_is_seen(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project.parent / "certs" / "root.crt").write_bytes((project.parent / "certs" / "intermediate.crt").read_bytes())
    plan = run(capsys, "plan", project, "--json").json()
    entry = next(e for e in plan["keystores"][0]["entries"] if e["alias"] == "root")
    assert entry["action"] == "update" and "certificate changed" in entry["reasons"][0]


def test_artifact_change_is_seen(project: Path, capsys: pytest.CaptureFixture[str], mac_checks: list[int]) -> None:
    path = project.parent / "g.p12"
    data = bytearray(path.read_bytes())
    mac_data = der.decode(bytes(data)).children()[2]
    digest = mac_data.children()[0].children()[1].value
    data[bytes(data).rindex(digest) + 5] ^= 0x01  # inside the MAC value: only the MAC can notice
    path.write_bytes(bytes(data))
    result = run(capsys, "plan", project)
    assert result.code == 1 and "g.p12" in result.err
    assert mac_checks  # the bytes no longer match the lock, so the MAC was checked


MANY = "version: 1\nkeystores:\n" + "".join(
    f"  - name: s{i}\n    path: s{i}.{('p12', 'jks', 'jceks')[i % 3]}\n    password: {{env: KS_PASS}}\n"
    + ("    iterations: 1000\n" if i % 3 == 2 else "")
    + "    entries:\n      - alias: gw\n"
      "        import: {certificate: certs/gateway.crt, private_key: certs/gateway.key}\n"
      "      - alias: root\n        trusted: {certificate: certs/root.crt}\n"
    for i in range(40))


@pytest.mark.slow
def test_parallel_encode_and_open_give_the_same_result(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_PASS", PW)
    outputs = {}
    for jobs in ("1", "2"):
        folder = tmp_path / f"j{jobs}"
        shutil.copytree(ROOT / "examples" / "wso2" / "certs", folder / "certs")
        (folder / "kstool.yaml").write_text(MANY)
        assert run(capsys, "apply", folder / "kstool.yaml", "--jobs", jobs).code == 0
        outputs[jobs] = {p.name: p.read_bytes() for p in sorted(folder.glob("s*"))}
        assert run(capsys, "plan", folder / "kstool.yaml", "--jobs", jobs, "--detailed-exitcode").code == 0
    assert outputs["1"] == outputs["2"] and len(outputs["1"]) == 40
    broken = tmp_path / "j2" / "s7.jks"
    broken.write_bytes(broken.read_bytes()[:-1] + b"\0")
    result = run(capsys, "plan", tmp_path / "j2" / "kstool.yaml", "--jobs", "2")
    assert result.code == 1 and "s7.jks" in result.err
