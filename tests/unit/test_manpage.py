"""docs/kstool.1 is generated from the CLI's own help (``python -m kstool.cli.manpage``): regenerating it gives
the shipped file byte for byte, it names every command and option, and groff renders it without a warning."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import typer

from kstool.cli.app import app
from kstool.cli.manpage import manpage
from tests.support.clirun import ROOT

SHIPPED = ROOT / "docs" / "kstool.1"


@pytest.fixture(autouse=True)
def _shell_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", raising=False)


def test_the_shipped_page_is_the_generated_page() -> None:
    assert SHIPPED.read_text() == manpage(), (
        "docs/kstool.1 is out of date: regenerate it with  python -m kstool.cli.manpage > docs/kstool.1")


def test_every_command_and_option_is_in_the_page() -> None:
    page = manpage()
    root = typer.main.get_command(app)
    commands = getattr(root, "commands", {})
    assert commands
    for name, command in commands.items():
        assert f".SS {name}\n" in page, name
        for param in command.params:
            for option in getattr(param, "opts", []):
                if option.startswith("-") and not getattr(param, "hidden", False):
                    assert rf"\fB{option.replace('-', chr(92) + '-')}\fR" in page, (name, option)
    for option in ("--version", "--debug", "--install-completion", "--show-completion"):
        assert option.replace("-", "\\-") in page
    assert ".SH EXIT STATUS" in page and "143 terminated" in page


def test_structure_and_escaping() -> None:
    from kstool.cli.manpage import _escape

    assert _escape(".hidden\\n-x") == r"\&.hidden\en\-x"  # a leading dot would be a roff request
    page = manpage()
    lines = page.splitlines()
    assert lines[1].startswith('.TH KSTOOL 1 "" "kstool ')
    sections = [line for line in lines if line.startswith(".SH ")]
    assert sections[:5] == [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH OPTIONS", ".SH COMMANDS"]
    # no unescaped hyphen may reach roff (it would print a hyphen, not the minus of an option)
    body = [line for line in lines if not line.startswith(".")]
    assert not [line for line in body if "-" in line.replace(r"\-", "")]


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
def test_groff_renders_it_without_warnings() -> None:
    result = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-rLL=80n", str(SHIPPED)], capture_output=True,
                            text=True, check=False, timeout=60, env={**os.environ, "LC_ALL": "C.UTF-8"})
    assert result.returncode == 0 and result.stderr == "", result.stderr
    text = result.stdout
    assert "KSTOOL(1)" in text and "--detailed-exitcode" in text.replace("\u2010", "-")


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
def test_man_reads_it(tmp_path: Path) -> None:
    env = {**os.environ, "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat", "LC_ALL": "C.UTF-8"}
    result = subprocess.run(["man", "-l", str(SHIPPED)], capture_output=True, text=True, check=False, timeout=60,
                            env=env, cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "kstool validate" in result.stdout
