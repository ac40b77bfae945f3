"""kstool.api on a real spec (examples/mtls: a CA, servers, clients, truststores): each function's result, its
``to_dict()`` equal to the command's ``--json`` document, no printing, and kstool's exception types."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from kstool import api
from kstool.errors import ExitCode, KstoolError, MultiError
from tests.support.clirun import copy_example, run, without_days_left

BAD = """\
version: 1
keystores:
  - name: app
    path: app.p12
    password: {env: APP_PASS}
    entries:
      - alias: app
        generate:
          dname: "CN=app, O=Example"
          key: {algorithm: EC, size: 999}
          validity_days: 365
      - alias: other
        trusted: {file: missing.pem}
"""


def _no_output(capsys: pytest.CaptureFixture[str]) -> None:
    out, err = capsys.readouterr()
    assert (out, err) == ("", ""), "kstool.api printed"


@pytest.mark.slow
def test_apply_then_plan_is_empty_verify_ok_check_healthy(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    spec = copy_example("mtls", tmp_path)
    capsys.readouterr()

    valid = api.load_spec(spec)
    assert valid.path == spec and "server" in valid.keystores and valid.entries >= 5

    first = api.plan(spec)
    assert first.changes and first.to_dict()["changes"] is True
    assert {k["action"] for k in first.to_dict()["keystores"]} == {"create"}

    seen: list[api.PlanResult] = []
    done = api.apply(str(spec), on_plan=seen.append)  # a str path works as well as a Path
    assert done.changes and done.lock_written and seen and seen[0].changes
    assert sorted(done.written) == sorted(k["path"] for k in first.to_dict()["keystores"])
    assert done.to_dict()["applied"]["written"] == list(done.written)
    assert all((spec.parent / path).is_file() for path in done.written)

    again = api.plan(spec)
    assert not again.changes and again.to_dict()["summary"]["no-op"] == len(valid.keystores)
    second = api.apply(spec)
    assert not second.changes and second.written == () and not second.lock_written

    verified = api.verify(spec)
    assert verified.ok and all(a.ok for a in verified.artifacts)
    assert {a.path for a in verified.artifacts} == set(done.written)

    health = api.check(spec, horizon_days=30)
    assert health.healthy and health.to_dict()["healthy"] is True
    assert "kstool_" in health.prometheus()

    password = (spec.parent / "secrets" / "server.pass").read_text().strip()
    found = api.inspect(spec.parent / "server/server.p12", password_file=spec.parent / "secrets" / "server.pass")
    assert found.type == "pkcs12" and [e["alias"] for e in found.entries] == ["server"]
    assert password not in json.dumps(found.to_dict())

    assert api.csr(spec, "server/server").startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
    assert api.schema()["$schema"].startswith("https://json-schema.org/")
    _no_output(capsys)

    # the same documents as the CLI's --json
    assert without_days_left(run(capsys, "plan", spec, "--json").json()) == \
        without_days_left(api.plan(spec).to_dict())
    assert run(capsys, "verify", spec, "--json").json() == api.verify(spec).to_dict()
    cli, doc = run(capsys, "check", spec, "--json").json(), dict(api.check(spec).to_dict())
    assert cli.pop("now") and doc.pop("now")  # the clock moves between the two runs
    assert without_days_left(cli) == without_days_left(doc)


def test_verify_reports_drift_as_a_result(tmp_path: Path) -> None:
    spec = copy_example("mtls", tmp_path)
    api.apply(spec)
    server = spec.parent / "server/server.p12"
    server.write_bytes(server.read_bytes() + b"\0")
    result = api.verify(spec)
    assert not result.ok and result.to_dict()["ok"] is False
    drifted = [a for a in result.artifacts if not a.ok]
    assert [a.path for a in drifted] == ["server/server.p12"] and drifted[0].problems


def test_errors_raise_kstool_types_with_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad" / "kstool.yaml"
    bad.parent.mkdir()
    bad.write_text(BAD)
    with pytest.raises(MultiError) as raised:
        api.load_spec(bad)
    assert [str(e).split(": ")[0].rsplit(":", 2)[1] for e in raised.value.errors] == ["10", "13"]

    other = tmp_path / "other.yaml"
    other.write_text("version: 1\nkeystores: 7\n")
    good = copy_example("mtls", tmp_path)
    with pytest.raises(MultiError) as both:
        api.validate(good, bad, other)  # every error of every file, in file order
    files = [str(e).split(":")[0] for e in both.value.errors]
    assert files == [str(bad)] * 2 + [str(other)]
    assert both.value.exit_code == ExitCode.ERROR
    assert [v.path for v in api.validate(good, good)] == [good, good]

    with pytest.raises(KstoolError, match="APP_PASS"):  # a spec that is valid but whose password is missing
        api.plan(_valid_needing_env(tmp_path))
    with pytest.raises(KstoolError, match="no such file"):
        api.inspect(tmp_path / "none.p12", password_env="HOME")
    _no_output(capsys)


def _valid_needing_env(tmp_path: Path) -> Path:
    spec = tmp_path / "env" / "kstool.yaml"
    spec.parent.mkdir()
    spec.write_text(BAD.replace("size: 999", "size: 256").split("      - alias: other")[0])
    return spec


def test_warnings_are_collected_and_handed_to_warn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = copy_example("mtls", tmp_path)
    api.apply(spec)
    (spec.parent / "secrets" / "server.pass").chmod(0o644)  # readable by others: a warning, not an error
    heard: list[str] = []
    result = api.plan(spec, warn=heard.append)
    assert heard and tuple(heard) == result.warnings and "server.pass" in heard[0]
    with pytest.raises(KstoolError, match="strict-permissions"):
        api.plan(spec, strict_permissions=True)
    _no_output(capsys)


def test_results_are_frozen_and_public_names_exist() -> None:
    for name in api.__all__:
        assert hasattr(api, name), name
    result = api.InspectResult(Path("x"), "jks", ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.type = "pkcs12"  # type: ignore[misc]


@pytest.mark.slow
def test_the_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    import re

    from tests.support.clirun import ROOT

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Python API\n"):readme.index("\n## pre-commit\n")]
    example = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(example) == 1
    spec = copy_example("mtls", tmp_path)
    monkeypatch.chdir(spec.parent)
    exec(compile(example[0], "README.md", "exec"), {})  # the README's own example
    out = capsys.readouterr().out
    assert "wrote" in out and "healthy" in out and "kstool:" not in out
    assert api.plan(spec).changes is False
