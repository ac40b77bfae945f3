"""Run the kstool CLI in-process, the way a user's shell would, and capture what it prints."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kstool.cli import main

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


CANARY = "Canary-Pw-7b1f"  # tests put it into passwords; no output of kstool may ever contain it


def secrets_in_environment() -> list[str]:
    """Values of password-like environment variables: none may appear in any output."""
    return [v for k, v in os.environ.items() if "PASS" in k.upper() and len(v) >= 6]


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Result:
    capsys.readouterr()
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    for secret in [CANARY, *secrets_in_environment()]:
        assert secret not in captured.out and secret not in captured.err, "a password leaked into the output"
    return Result(code, captured.out, captured.err)


def copy_example(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(ROOT / "examples" / name, target, ignore=shutil.ignore_patterns(
        "*.jks", "*.p12", "*.jceks", "secrets", "kstool.lock"))
    return target / "kstool.yaml"


def snapshot(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file below ``folder``: bytes, mode and mtime (ns)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mode & 0o777, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def without_days_left(value: Any) -> Any:
    """A plan document without its ``days_left`` counts: two runs a moment apart may straddle a day boundary of a
    certificate made seconds ago (its notAfter is exactly N days after its creation)."""
    if isinstance(value, dict):
        return {k: without_days_left(v) for k, v in value.items() if k != "days_left"}
    if isinstance(value, list):
        return [without_days_left(v) for v in value]
    return value
