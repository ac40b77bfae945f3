"""`kstool validate SPEC` skips building the CLI; it must print and exit exactly as the typer route does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.clirun import ROOT, run

SPECS = {
    "valid": None,
    "schema error": "version: 1\nkeystores:\n  - name: a\n    path: a.p12\n    pasword: {env: X}\n    entries: []\n",
    "yaml error": "version: 1\nkeystores: [\n",
    "dname error": ("version: 1\nkeystores:\n  - name: a\n    path: a.p12\n    password: {env: X}\n    entries:\n"
                    "      - alias: k\n        generate: {dname: 'CN=a,,'}\n"),
}


@pytest.mark.parametrize("case", [*SPECS, "missing file", "a directory"])
def test_validate_fast_route_matches_the_typer_route(case: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    if case == "valid":
        spec = ROOT / "examples" / "wso2" / "kstool.yaml"
    elif case == "missing file":
        spec = tmp_path / "nope.yaml"
    elif case == "a directory":
        spec = tmp_path
    else:
        spec = tmp_path / "kstool.yaml"
        spec.write_text(SPECS[case] or "")
    fast = run(capsys, "validate", spec)
    typer_route = run(capsys, "--debug", "validate", spec)  # an option: parsed by typer
    assert (fast.code, fast.out, fast.err) == (typer_route.code, typer_route.out, typer_route.err)
    assert (fast.code == 0) == (case == "valid")
    assert "Traceback" not in fast.err


def test_validate_fast_route_does_not_import_typer() -> None:
    code = ("import sys\nfrom kstool.cli import main\ncode = main(sys.argv[1:])\n"
            "print('TYPER' if 'typer' in sys.modules else 'NOTYPER', code, file=sys.stderr)")
    spec = str(ROOT / "examples" / "wso2" / "kstool.yaml")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    fast = subprocess.run([sys.executable, "-c", code, "validate", spec], capture_output=True, text=True,
                          check=False, env=env)
    assert fast.stderr.strip().endswith("NOTYPER 0") and "valid" in fast.stdout
    slow = subprocess.run([sys.executable, "-c", code, "validate", "--help"], capture_output=True, text=True,
                          check=False, env=env)
    assert slow.stderr.strip().endswith("TYPER 0") and "schema" in slow.stdout


def test_bare_kstool_prints_the_help_and_no_empty_error(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys)
    assert result.code == 1 and "Usage" in result.out and "validate" in result.out
    assert "error" not in result.err
