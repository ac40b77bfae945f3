"""verify on every core: the stores are decrypted in worker processes, whose key derivations come back, so
re-encoding them in kstool's own process derives nothing again. Same report with one process or several."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kstool.engine.inputs import resolve_inputs
from kstool.engine.lockfile import read_lock
from kstool.engine.observe import observe
from kstool.spec.model import load_spec
from tests.e2e.test_fastpath import MANY, PW
from tests.support.clirun import ROOT, run


def project(folder: Path) -> Path:
    shutil.copytree(ROOT / "examples" / "wso2" / "certs", folder / "certs")
    (folder / "kstool.yaml").write_text(MANY)
    return folder / "kstool.yaml"


@pytest.mark.slow
def test_verify_reports_the_same_with_one_process_or_two(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_PASS", PW)
    spec = project(tmp_path)
    assert run(capsys, "apply", spec, "--jobs", "2").code == 0
    clean = {jobs: run(capsys, "verify", spec, "--jobs", jobs) for jobs in ("1", "2")}
    assert clean["1"].code == clean["2"].code == 0
    assert clean["1"].out == clean["2"].out and "40 artifact(s)" in clean["1"].out
    broken = tmp_path / "s7.jks"
    broken.write_bytes(broken.read_bytes()[:-1] + b"\0")
    failed = {jobs: run(capsys, "verify", spec, "--jobs", jobs) for jobs in ("1", "2")}
    assert failed["1"].code == failed["2"].code == 1
    assert failed["1"].out == failed["2"].out and "s7.jks" in failed["1"].out


@pytest.mark.slow
def test_worker_derivations_reach_the_parents_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_PASS", PW)
    spec_file = project(tmp_path)
    assert run(capsys, "apply", spec_file, "--jobs", "2").code == 0
    spec = load_spec(spec_file)
    known = {}
    for jobs in (1, 2):
        inputs = resolve_inputs(spec, os.environ)
        assert len(inputs.kdf) == 0
        observed = observe(spec, inputs, tmp_path, read_lock(tmp_path), trust_lock=False, jobs=jobs)
        assert len(observed.stores) == 40
        known[jobs] = len(inputs.kdf)
    # with 2 jobs every store was opened in a worker (40 >= MIN_PARALLEL_STORES), yet this process knows as many
    # derived keys as when it opened them itself
    assert known[2] == known[1] > 0


SHARDED = """\
version: 1
keystores:
  - name: ca
    path: ca.p12
    password: {env: KS_PASS}
    entries:
      - alias: root
        generate: {dname: "CN=Shard Root", key: {algorithm: EC}, ca: {}}
  - name: trust
    path: trust.p12
    password: {env: KS_PASS}
    entries:
      - alias: root
        trusted: {entry: ca/root}
""" + "".join(
    f"  - name: leaf{i}\n    path: leaf{i}.{('p12', 'jks')[i % 2]}\n    password: {{env: KS_PASS}}\n    entries:\n"
    f"      - alias: leaf\n        generate: {{dname: \"CN=leaf{i}\", key: {{algorithm: EC}}"
    + (", issuer: ca/root" if i % 3 == 0 else "") + "}\n"
    for i in range(10))


@pytest.mark.slow
def test_sharded_verify_reports_what_one_piece_does(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Above MIN_SHARDED_STORES the whole verify runs in parts (a keystore with the CA and references it needs):
    the same report, in the same order, for good stores, broken and missing ones, a rename and an orphan."""
    from kstool.engine import verify as verify_module

    monkeypatch.setenv("KS_PASS", PW)
    monkeypatch.setattr(verify_module, "MIN_SHARDED_STORES", 4)
    sharded: list[int] = []
    real = verify_module._verify_sharded

    def spy(whole: object, shards: list[frozenset[str]], jobs: int) -> object:
        sharded.append(len(shards))
        for shard in shards:  # a part is closed over issuers and references: the CA is with its leaves
            assert "ca" in shard or not ({"trust", "leaf0", "leaf3", "leaf6", "leaf9"} & shard)
        return real(whole, shards, jobs)  # type: ignore[arg-type]

    monkeypatch.setattr(verify_module, "_verify_sharded", spy)
    spec = tmp_path / "kstool.yaml"
    spec.write_text(SHARDED + "  - name: gone\n    path: gone.p12\n    password: {env: KS_PASS}\n    entries:\n"
                    "      - alias: a\n        generate: {dname: CN=gone, key: {algorithm: EC}}\n")
    assert run(capsys, "apply", spec).code == 0
    # "gone" leaves the spec (an orphan in the lock), leaf1 is renamed, leaf2 is broken, leaf4 is missing
    text = SHARDED.replace("name: leaf1\n    path: leaf1.jks", "name: leaf1b\n    previous_name: leaf1\n"
                                                                  "    path: leaf1b.jks")
    spec.write_text(text)
    (tmp_path / "leaf2.p12").write_bytes((tmp_path / "leaf2.p12").read_bytes()[:-1] + b"\0")
    (tmp_path / "leaf4.p12").unlink()
    got = {jobs: run(capsys, "verify", spec, "--jobs", jobs) for jobs in ("1", "2")}
    assert got["1"].code == got["2"].code == 1
    assert got["1"].out == got["2"].out and got["1"].err == got["2"].err
    for name in ("gone.p12", "leaf1b.jks", "leaf2.p12", "leaf4.p12"):
        assert name in got["1"].out
    assert sharded and sharded[0] >= 2
    assert run(capsys, "verify", spec, "--jobs", "2", "--json").json() == \
        run(capsys, "verify", spec, "--jobs", "1", "--json").json()
