"""The hooks of .pre-commit-hooks.yaml, run by the real ``pre-commit`` on a git repository holding a good and a
bad spec: the hook passes and fails as kstool does, with kstool's messages.

pre-commit installs this repository into a virtualenv of its own with pip (``language: python``), which needs
PyPI and takes ~30 s. The hook repository is a snapshot of this checkout (its working tree, tracked and new files,
committed once). ``pre-commit try-repo`` installs it afresh on every call (a temporary store), so it runs once;
the other tests name the snapshot in a ``.pre-commit-config.yaml`` and share one install in this session's
PRE_COMMIT_HOME.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.clirun import ROOT

pytestmark = pytest.mark.slow

GOOD = """\
version: 1
keystores:
  - name: app
    path: app.p12
    password: {file: secrets/app.pass, generate: true}
    entries:
      - alias: app
        generate:
          dname: "CN=app, O=Example"
          key: {algorithm: EC, size: 256}
          validity_days: 365
"""

BAD = """\
version: 1
keystores:
  - name: app
    path: app.p12
    password: {file: secrets/app.pass, generate: true}
    entries:
      - alias: app
        generate:
          dname: "CN=app, O=Example"
          key: {algorithm: EC, size: 999}
          validity_days: 365
      - alias: app
        trusted: {file: missing.pem}
"""

GIT_IDENTITY = {"GIT_AUTHOR_NAME": "kstool tests", "GIT_AUTHOR_EMAIL": "tests@example.invalid",
                "GIT_COMMITTER_NAME": "kstool tests", "GIT_COMMITTER_EMAIL": "tests@example.invalid"}


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_IDENTITY}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's working tree (tracked and new files, not ignored ones) as a one-commit git repository."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of kstool")
    repo = tmp_path_factory.mktemp("hook-repo")
    listed = _git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
        elif source.is_symlink():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).symlink_to(os.readlink(source))
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "snapshot")
    return repo


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A user's repository: a good spec at the top, a bad one below, a YAML file that is no spec."""
    (tmp_path / "kstool.yaml").write_text(GOOD)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "kstool.yml").write_text(BAD)
    (tmp_path / "other.yaml").write_text("not: a spec\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    return tmp_path


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH" and not k.startswith("PRE_COMMIT")}
    env.update(GIT_IDENTITY, PRE_COMMIT_HOME=str(home), NO_COLOR="1")
    return env


def pre_commit(project: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pre_commit", *args, "--color", "never"], check=False,
                          cwd=project, env=_env(home), capture_output=True, text=True, timeout=900)


def configure(project: Path, hook_repo: Path) -> None:
    """What a user writes: this repository's hooks at a revision, the opt-in verify hook with its spec."""
    rev = _git(hook_repo, "rev-parse", "HEAD").strip()
    (project / ".pre-commit-config.yaml").write_text(f"""\
repos:
  - repo: {hook_repo}
    rev: {rev}
    hooks:
      - id: kstool-validate
      - id: kstool-verify
        args: [kstool.yaml]
""")
    _git(project, "add", "-A")


def test_try_repo_validate_fails_on_the_bad_spec_with_kstools_messages(project: Path, hook_repo: Path,
                                                                        pre_commit_home: Path) -> None:
    result = pre_commit(project, pre_commit_home, "try-repo", str(hook_repo), "kstool-validate", "--all-files")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "kstool validate" in out and "Failed" in out
    # both files went to kstool (the files: pattern), other.yaml did not; each error of the bad spec is named
    assert "kstool.yaml: valid (1 keystore(s), 1 entries)" in out
    assert "kstool: error: broken/kstool.yml:10:" in out  # size 999 at its line:column
    assert "kstool: error: broken/kstool.yml:13:" in out  # the trusted entry, reported in the same run
    assert "other.yaml" not in out
    assert "Traceback" not in out


def test_validate_hook_passes_on_the_good_spec(project: Path, hook_repo: Path, pre_commit_home: Path) -> None:
    configure(project, hook_repo)
    result = pre_commit(project, pre_commit_home, "run", "kstool-validate", "--files", "kstool.yaml", "other.yaml")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "kstool validate" in out and "Passed" in out


def test_verify_hook_is_opt_in_and_finds_drift(project: Path, hook_repo: Path, pre_commit_home: Path) -> None:
    from kstool.cli import main

    (project / "broken" / "kstool.yml").unlink()
    assert main(["apply", str(project / "kstool.yaml")]) == 0
    configure(project, hook_repo)
    # configured, but in the manual stage: a commit-time run validates and does not verify
    commit_time = pre_commit(project, pre_commit_home, "run", "--all-files")
    assert commit_time.returncode == 0, commit_time.stdout + commit_time.stderr
    assert "kstool validate" in commit_time.stdout and "kstool verify" not in commit_time.stdout
    passed = pre_commit(project, pre_commit_home, "run", "kstool-verify", "--all-files", "--hook-stage", "manual")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "kstool verify" in passed.stdout and "Passed" in passed.stdout  # (output shown on failure only)
    (project / "app.p12").write_bytes((project / "app.p12").read_bytes()[:-1] + b"\0")
    drifted = pre_commit(project, pre_commit_home, "run", "kstool-verify", "--all-files", "--hook-stage", "manual")
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    assert "DRIFT app.p12 (keystore app)" in drifted.stdout
