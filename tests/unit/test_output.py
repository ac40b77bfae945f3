"""Console output: plain text off a terminal (rich not even imported), colours on one; text is never markup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kstool.cli.views.console import Out

TRICKY = "certs/[red]odd[/] :lock: name.p12"


def test_plain_off_a_terminal(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    out = Out()
    assert out.console is None
    out.line(("wrote", "green"), f"   {TRICKY}")
    out.lines([["a"], [("b", "bold"), "c"]])
    assert capsys.readouterr().out == f"wrote   {TRICKY}\na\nbc\n"


def test_colours_when_forced_and_text_stays_literal(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = Out()
    assert out.console is not None
    out.line(("wrote", "green"), f"   {TRICKY}")
    text = capsys.readouterr().out
    assert "\x1b[" in text and TRICKY in text


def test_no_color_wins(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    Out().line(("x", "red"))
    assert capsys.readouterr().out == "x\n"


def test_plan_and_apply_off_a_terminal_never_import_rich(tmp_path: Path) -> None:
    spec = tmp_path / "kstool.yaml"
    spec.write_text("version: 1\nkeystores:\n  - name: a\n    path: a.p12\n    password: {env: OUT_PASS}\n"
                    "    entries:\n      - alias: k\n"
                    "        generate: {dname: CN=a, key: {algorithm: EC, size: 256}}\n")
    code = ("import sys\nimport kstool.cli as c\nsys.argv = ['kstool', *sys.argv[1:]]\n"
            "try:\n    c.main()\nexcept SystemExit:\n    pass\n"
            "print('RICH' if any(m.split('.')[0] == 'rich' for m in sys.modules) else 'NORICH', file=sys.stderr)")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OUT_PASS": "x" * 12}
    for command in ("plan", "apply", "plan"):
        result = subprocess.run([sys.executable, "-c", code, command, str(spec)], capture_output=True, text=True,
                                check=False, env=env)
        assert result.stderr.strip().endswith("NORICH"), result.stderr
        assert "a.p12" in result.stdout or "No changes" in result.stdout


def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    import pty

    spec = tmp_path / "kstool.yaml"
    spec.write_text("version: 1\nkeystores:\n" + "".join(
        f"  - name: s{i}\n    path: s{i}.p12\n    password: {{env: OUT_PASS}}\n    entries:\n      - alias: k\n"
        "        generate: {dname: CN=a, key: {algorithm: EC, size: 256}}\n" for i in range(6)))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OUT_PASS": "x" * 12, "NO_COLOR": "1",
           "COLUMNS": "100"}
    main_fd, worker_fd = pty.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "kstool", "apply", str(spec)], stderr=worker_fd,
                                stdout=subprocess.PIPE, text=True, check=False, env=env)
        os.close(worker_fd)
        drawn = b""
        while True:
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:  # the other end is closed: all read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(main_fd)
    assert result.returncode == 0 and "wrote" in result.stdout
    assert b"generating keys" in drawn  # on the terminal (stderr), despite NO_COLOR
    assert "generating keys" not in result.stdout  # never in the piped output
