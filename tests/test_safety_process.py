"""Processes, signals and races (issue 11: items 1, 3, 8, 9, 12's ``-j``, 14).

A killed apply never blocks the next one, workers never hold the writer lock and die with their parent,
Ctrl-C and SIGTERM roll back like any failure, every write (keystores, password files, kstool.lock) is in the
one transaction, and a file or folder that changes under a running apply is never overwritten.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.clirun import CANARY, snapshot

PW = f"{CANARY}-store"


def rsa_spec(folder: Path, n: int, size: int = 2048, name: str = "kstool.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    key = f"{{algorithm: RSA, size: {size}}}"
    gen = "".join(f"      - alias: k{i}\n        generate: {{dname: \"CN=k{i}\", key: {key}}}\n" for i in range(n))
    spec = folder / name
    spec.write_text("version: 1\nkeystores:\n  - name: keys\n    path: keys.p12\n"
                    f"    password: {{file: secrets/keys.pass, generate: true}}\n    entries:\n{gen}", encoding="utf-8")
    return spec


def children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (from /proc)."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kstool(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "kstool", *map(str, args)]


def start_apply_with_live_pool(spec: Path, logs: Path, *extra: str) -> tuple[subprocess.Popen[bytes], set[int]]:
    """An apply whose two pool workers are running (stdout and stderr go to files: a worker that outlived its
    parent would hold a pipe open)."""
    with (logs / "out").open("wb") as out, (logs / "err").open("wb") as err:
        proc = subprocess.Popen(kstool("apply", spec, "-j", "2", *extra), stdout=out, stderr=err)
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while time.monotonic() < deadline and proc.poll() is None:
        workers = children(proc.pid)
        if len(workers) >= 2:
            return proc, workers
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    raise AssertionError(f"no live pool seen: {proc.returncode} {(logs / 'err').read_text()}")


def artifacts(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    return {k: v for k, v in snapshot(folder).items() if not k.endswith(".yaml")}


# -- item 1: a killed apply never blocks the next one ------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_killed_apply_with_a_live_pool_never_blocks_the_next(tmp_path: Path, sig: signal.Signals) -> None:
    spec = rsa_spec(tmp_path / "p", 8, 4096)
    proc, workers = start_apply_with_live_pool(spec, tmp_path)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    err = (tmp_path / "err").read_text()
    if sig == signal.SIGTERM:
        assert proc.returncode == 143, err
        assert "kstool: interrupted (SIGTERM); nothing was changed" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    assert not list((tmp_path / "p").rglob("*.kstool-tmp")) or sig == signal.SIGKILL
    try:
        again = subprocess.run(kstool("apply", spec, "-j", "2"), capture_output=True, text=True, timeout=300,
                               check=False)
        assert again.returncode == 0, again.stderr
        deadline = time.monotonic() + 10
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(w) for w in workers)  # the orphaned workers died with their parent
    finally:
        for w in workers:  # only the workers of the apply this test started
            if alive(w):
                os.kill(w, signal.SIGKILL)
    plan = subprocess.run(kstool("plan", spec, "--detailed-exitcode"), capture_output=True, text=True, timeout=120,
                          check=False)
    assert plan.returncode == 0, plan.stdout + plan.stderr
