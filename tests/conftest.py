from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.javatools import Java, compile_java, have_jdk


@pytest.fixture(scope="session")
def java(tmp_path_factory: pytest.TempPathFactory) -> Java:
    """A compiled KsCheck; in CI a missing JDK is a failure, never a skip (.ci/run installs one)."""
    if not have_jdk():
        if os.environ.get("CI"):
            pytest.fail("keytool/java/javac missing in CI: .ci/run should have installed a JDK")
        pytest.skip("no JDK on this machine")
    return compile_java(tmp_path_factory.mktemp("kscheck"))


@pytest.fixture(scope="session")
def jdk() -> None:
    """Requires keytool on PATH (fails in CI, skips elsewhere)."""
    if not have_jdk():
        if os.environ.get("CI"):
            pytest.fail("keytool missing in CI: .ci/run should have installed a JDK")
        pytest.skip("no JDK on this machine")


@pytest.fixture(autouse=True)
def _no_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


CountCalls = Callable[[object, str], list[int]]


@pytest.fixture()
def count_calls(monkeypatch: pytest.MonkeyPatch) -> CountCalls:
    """``count_calls(owner, "name")`` wraps ``owner.name`` for this test; the list grows by one per call."""
    def install(owner: object, name: str) -> list[int]:
        calls: list[int] = []
        real = getattr(owner, name)

        def counting(*args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, counting)
        return calls
    return install


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """The canary password must never show up in anything a test captured (stdout, stderr, logs)."""
    from tests.support.clirun import CANARY

    outcome = yield
    report = outcome.get_result()
    captured = "".join(content for _, content in report.sections)
    if CANARY in captured and report.passed:
        report.outcome = "failed"
        report.longrepr = f"the canary password {CANARY!r} appeared in the output captured during {report.when}"
