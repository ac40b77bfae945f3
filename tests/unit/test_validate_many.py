"""``kstool validate A B C`` (what pre-commit runs with several changed specs): each valid spec is shown, every
error of every file is reported in one run (file, line, column order), the exit code is 1 if any failed; the fast
route and the typer route print the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.clirun import ROOT, run

GOOD = ROOT / "examples" / "wso2" / "kstool.yaml"
SCHEMA_ERRORS = ("version: 1\nkeystores:\n  - name: a\n    path: a.p12\n    pasword: {env: X}\n    entries: []\n"
                 "  - name: b\n    path: b.p12\n    password: {env: Y}\n    entries: 3\n")
YAML_ERROR = "version: 1\nkeystores: [\n"


@pytest.fixture()
def specs(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    schema = tmp_path / "a" / "kstool.yaml"
    schema.write_text(SCHEMA_ERRORS)
    yaml = tmp_path / "b" / "kstool.yml"
    yaml.write_text(YAML_ERROR)
    return schema, yaml


def test_every_error_of_every_file(specs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    schema, yaml = specs
    alone = {spec: run(capsys, "validate", spec).err.splitlines() for spec in (schema, yaml)}
    assert len(alone[schema]) == 2 and len(alone[yaml]) == 1
    result = run(capsys, "validate", yaml, GOOD, schema)
    assert result.code == 1
    assert result.out.startswith(f"{GOOD}: valid (") and len(result.out.splitlines()) == 1
    # all three errors, sorted by file then line: a/ before b/
    assert result.err.splitlines() == alone[schema] + alone[yaml]


def test_all_valid_exits_0_and_shows_each(capsys: pytest.CaptureFixture[str]) -> None:
    mtls = ROOT / "examples" / "mtls" / "kstool.yaml"
    result = run(capsys, "validate", GOOD, mtls)
    assert result.code == 0 and result.err == ""
    assert [line.split(": valid")[0] for line in result.out.splitlines()] == [str(GOOD), str(mtls)]


def test_fast_route_matches_the_typer_route(specs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    fast = run(capsys, "validate", GOOD, *specs)
    typer_route = run(capsys, "--no-color", "validate", GOOD, *specs)
    assert (fast.code, fast.out, fast.err) == (typer_route.code, typer_route.out, typer_route.err)
