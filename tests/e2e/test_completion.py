"""Shell completion (typer's): ``--show-completion SHELL`` prints a script for bash, zsh and fish, and the script's
protocol (``_KSTOOL_COMPLETE=complete_bash`` and friends) completes commands and options; in bash for real."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.clirun import run

BIN = Path(sys.executable).parent  # the kstool of this environment


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("_KSTOOL", "_TYPER", "COMP_"))}
    return {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", **extra}


def kstool(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "kstool"), *args], capture_output=True, text=True, check=False, timeout=60,
                          env=_env(**env))


@pytest.mark.parametrize(("shell", "marker"), [
    ("bash", "_KSTOOL_COMPLETE=complete_bash"),
    ("zsh", "_KSTOOL_COMPLETE=complete_zsh"),
    ("fish", "_KSTOOL_COMPLETE=complete_fish"),
])
def test_show_completion_prints_the_script(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                           shell: str, marker: str) -> None:
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")  # the shell as a value, not detected
    result = run(capsys, "--show-completion", shell)
    assert result.code == 0, result.err
    assert marker in result.out and "kstool" in result.out and result.err == ""


def test_completion_protocol_in_process(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_KSTOOL_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "kstool ver")
    monkeypatch.setenv("COMP_CWORD", "1")
    result = run(capsys)
    assert (result.code, result.out.split()) == (0, ["verify"])
    monkeypatch.setenv("COMP_WORDS", "kstool check --hor")
    monkeypatch.setenv("COMP_CWORD", "2")
    assert run(capsys).out.split() == ["--horizon"]


@pytest.mark.slow
def test_completion_protocol_bash_zsh_fish() -> None:
    assert kstool(_KSTOOL_COMPLETE="complete_bash", COMP_WORDS="kstool pl", COMP_CWORD="1").stdout.split() == [
        "plan"]
    options = kstool(_KSTOOL_COMPLETE="complete_bash", COMP_WORDS="kstool plan --det", COMP_CWORD="2")
    assert options.stdout.split() == ["--detailed-exitcode"]
    zsh = kstool(_KSTOOL_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS="kstool ch")
    assert zsh.returncode == 0 and '"check"' in zsh.stdout
    fish = kstool(_KSTOOL_COMPLETE="complete_fish", _TYPER_COMPLETE_ARGS="kstool ins",
                  _TYPER_COMPLETE_FISH_ACTION="get-args")
    assert fish.returncode == 0 and fish.stdout.startswith("inspect\t")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_with_the_script() -> None:
    """The script --show-completion prints, loaded into a real bash, completes a subcommand and an option."""
    script = kstool("--show-completion", "bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1").stdout
    program = script + """
COMP_WORDS=(kstool app); COMP_CWORD=1; _kstool_completion kstool; echo "1:${COMPREPLY[*]}"
COMP_WORDS=(kstool apply --no-b); COMP_CWORD=2; _kstool_completion kstool; echo "2:${COMPREPLY[*]}"
"""
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True,
                            check=False, timeout=60, env=_env())
    assert result.stdout.splitlines() == ["1:apply", "2:--no-backup"], result.stderr
