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
