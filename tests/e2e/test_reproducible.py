"""Same inputs, same bytes: across processes, hash seeds, wall-clock time and SOURCE_DATE_EPOCH."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kstool.engine.inputs import resolve_inputs
from kstool.formats.codec import encode
from kstool.formats.entries import Entry
from kstool.spec.model import load_spec
from tests.support.clirun import ROOT, run
from tests.support.javatools import Java, keytool_list, openssl_pkcs12_info

CERTS = ROOT / "examples" / "wso2" / "certs"
PASSWORD = "Repro-Pass-1"

ENTRIES = """\
    entries:
      - alias: gateway
        import:
          certificate: certs/gateway.crt
          private_key: certs/gateway.key
          chain: [certs/intermediate.crt, certs/root.crt]
      - alias: root
        trusted: {certificate: certs/root.crt}
"""

SPEC = "version: 1\nkeystores:\n" + "".join(
    f"  - name: {name}\n    path: {path}\n    password: {{env: REPRO_PASS}}\n{extra}" + ENTRIES
    for name, path, extra in [
        ("jks", "out/store.jks", ""),
        ("jceks", "out/store.jceks", "    iterations: 20000\n"),
        ("p12-modern", "out/modern.p12", ""),
        ("p12-legacy", "out/legacy.p12", "    pkcs12_profile: legacy\n"),
    ]
) + """\
  - name: truststore
    path: out/trust.p12
    password: {env: REPRO_PASS}
    entries:
      - alias: root
        trusted: {certificate: certs/root.crt}
      - alias: gateway
        trusted: {entry: jks/gateway}
"""

ARTIFACTS = ["out/store.jks", "out/store.jceks", "out/modern.p12", "out/legacy.p12", "out/trust.p12", "kstool.lock"]


def make_project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(CERTS, folder / "certs")
    spec = folder / "kstool.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    return spec


def apply_in_subprocess(spec: Path, *, hash_seed: str, sde: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env.update(REPRO_PASS=PASSWORD, PYTHONHASHSEED=hash_seed)
    if sde is not None:
        env["SOURCE_DATE_EPOCH"] = sde
    done = subprocess.run([sys.executable, "-m", "kstool", "apply", str(spec)], env=env, capture_output=True,
                          text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr


def digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in ARTIFACTS}


@pytest.mark.slow
def test_two_processes_two_folders_same_bytes(tmp_path: Path) -> None:
    runs = [("1", None), ("4242", "1700000000"), ("random", "1")]
    results = []
    for i, (seed, sde) in enumerate(runs):
        spec = make_project(tmp_path / f"p{i}")
        apply_in_subprocess(spec, hash_seed=seed, sde=sde)
        results.append(digests(spec.parent))
    assert results[0] == results[1] == results[2]


def test_deleting_an_artifact_rebuilds_the_same_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPRO_PASS", PASSWORD)
    spec = make_project(tmp_path)
    assert run(capsys, "apply", spec).code == 0
    before = digests(tmp_path)
    for name in ARTIFACTS[:-1]:
        (tmp_path / name).unlink()
    assert run(capsys, "apply", spec).code == 0
    assert digests(tmp_path) == before  # lock file included


def test_verify_passes_then_names_the_artifact_with_one_changed_byte(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPRO_PASS", PASSWORD)
    spec = make_project(tmp_path)
    assert run(capsys, "apply", spec).code == 0
    assert run(capsys, "verify", spec).code == 0
    for name in ARTIFACTS[:-1]:
        path = tmp_path / name
        original = path.read_bytes()
        for offset in (0, 7, len(original) // 2, len(original) - 1):
            changed = bytearray(original)
            changed[offset] ^= 0x40
            path.write_bytes(bytes(changed))
            result = run(capsys, "verify", spec)
            assert result.code == 1, (name, offset)
            drifted = [line for line in result.out.splitlines() if line.startswith("DRIFT")]
            assert drifted == [f"DRIFT {name} (keystore {_name_of(name)})"], result.out
        path.write_bytes(original)
    assert run(capsys, "verify", spec).code == 0
    (tmp_path / "out/trust.p12").unlink()
    missing = run(capsys, "verify", spec)
    assert missing.code == 1 and "missing" in missing.out


def test_verify_flags_a_stale_lock(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPRO_PASS", PASSWORD)
    spec = make_project(tmp_path)
    assert run(capsys, "apply", spec).code == 0
    lock = tmp_path / "kstool.lock"
    original = lock.read_text()
    lock.write_text(original.replace('"sha256": "', '"sha256": "0', 1))  # an entry's fingerprint
    result = run(capsys, "verify", spec)
    assert result.code == 1 and "entries differ from kstool.lock" in result.out
    doc = json.loads(original)
    doc["keystores"]["jks"]["sha256"] = "f" * 64  # the file's digest
    lock.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    result = run(capsys, "verify", spec)
    assert result.code == 1 and "bytes differ from kstool.lock" in result.out
    lock.unlink()
    assert "not in kstool.lock" in run(capsys, "verify", spec).out


def _name_of(path: str) -> str:
    return {"out/store.jks": "jks", "out/store.jceks": "jceks", "out/modern.p12": "p12-modern",
            "out/legacy.p12": "p12-legacy", "out/trust.p12": "truststore"}[path]


# -- golden hashes: fixed material + fixed passwords → pinned bytes, no Java needed --------------------------

GOLDEN = {
    "jks": "74b81ae682f994fcd15048df22cd5064acd9a62fe31e6bf204989ac5e2e3e732",
    "jceks": "c82a1bfb0460ce907d7d3c638bbd11c5a0ea4a50f8cc4ff50fd6d24c72c1ffd4",
    "pkcs12-modern": "904f002e333cf4560975ebe8a67388dacf27c1185dea8a47c0cf631ac0e80a22",
    "pkcs12-legacy": "211cbac607bf04ea1095f5aa10b574eb3525c169aa536a9bb24c7ecdc34a5228",
    "truststore-pkcs12": "9c2ced35c75a0dba59a6f2db586fd1d1d912ca8b8f93c74cb83a02f116a57c4e",
}


def golden_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Entry]:
    monkeypatch.setenv("REPRO_PASS", PASSWORD)
    spec = load_spec(make_project(tmp_path))
    material = resolve_inputs(spec, os.environ).keystores["jks"].material
    return [material["gateway"], material["root"]]


def golden_bytes(entries: list[Entry]) -> dict[str, bytes]:
    return {
        "jks": encode(entries, "jks", PASSWORD),
        "jceks": encode(entries, "jceks", PASSWORD, iterations=20000),
        "pkcs12-modern": encode(entries, "pkcs12", PASSWORD),
        "pkcs12-legacy": encode(entries, "pkcs12", PASSWORD, profile="legacy"),
        "truststore-pkcs12": encode(entries[1:], "pkcs12", PASSWORD),
    }


def test_golden_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = golden_bytes(golden_entries(tmp_path, monkeypatch))
    produced = {k: hashlib.sha256(v).hexdigest() for k, v in built.items()}
    assert produced == GOLDEN


@pytest.mark.java
def test_golden_artifacts_open_in_java_keytool_and_openssl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           java: Java) -> None:
    for name, data in golden_bytes(golden_entries(tmp_path / "src", monkeypatch)).items():
        path = tmp_path / f"{name}.bin"
        path.write_bytes(data)
        store_type = {"jks": "JKS", "jceks": "JCEKS"}.get(name, "PKCS12")
        listing = keytool_list(path, PASSWORD, store_type)
        count = 1 if name.startswith("truststore") else 2
        assert f"Your keystore contains {count} entr" in listing
        info, *entries = java.load(path, PASSWORD, store_type=store_type)
        assert info["size"] == count and all(e["alias"] in ("gateway", "root") for e in entries)
        if store_type == "PKCS12":
            openssl_pkcs12_info(path, PASSWORD)
