"""The README's claims that a test can hold it to (issue 12, item 14): the annotated spec validates when copied,
every example validates, and what it documents exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.clirun import ROOT, run

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else len(README)]


def test_the_annotated_spec_validates_when_copied(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", _section("The spec"), re.DOTALL)
    assert len(blocks) == 1, "the spec section shows one annotated spec"
    spec = tmp_path / "kstool.yaml"
    spec.write_text(blocks[0], encoding="utf-8")
    result = run(capsys, "validate", spec)
    assert result.code == 0, result.err
    assert "valid (2 keystore(s), 5 entries)" in result.out


def test_every_example_validates(capsys: pytest.CaptureFixture[str]) -> None:
    examples = sorted((ROOT / "examples").glob("**/kstool.yaml"))
    assert examples, "no examples/**/kstool.yaml found"
    for spec in examples:
        result = run(capsys, "validate", spec)
        assert result.code == 0, f"{spec}: {result.err}"


def test_linked_files_exist_and_are_tracked_by_git() -> None:
    links = re.findall(r"\]\(([^)#:]+)\)", README)
    assert links
    tracked = subprocess.run(["git", "ls-files", *links], cwd=ROOT, capture_output=True, text=True, check=False)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    assert sorted(set(tracked.stdout.split())) == sorted(set(links)), "README links a file git does not track"


def test_no_claim_that_dsa_keys_are_accepted_with_allow_weak() -> None:
    assert "DSA keys are refused unless" not in README
    assert "*private* keys are never supported" in README


def test_development_gives_the_fast_inner_loop_and_colour_settings() -> None:
    development = _section("Development")
    assert 'pytest -q -m "not java and not slow"' in development
    assert "NO_COLOR" in README and "FORCE_COLOR" in README and "--no-color" in README


def test_servers_that_need_the_key_password() -> None:
    assert "certificateKeyPassword" in README and "jetty.sslContext.keyManagerPassword" in README
