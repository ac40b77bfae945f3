"""Processes, signals and races (issue 11: items 1, 3, 8, 9, 12's ``-j``, 14).

A killed apply never blocks the next one, workers never hold the writer lock and die with their parent,
Ctrl-C and SIGTERM roll back like any failure, every write (keystores, password files, kstool.lock) is in the
one transaction, and a file or folder that changes under a running apply is never overwritten.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kstool.parallel
from kstool.applylock import apply_lock
from kstool.errors import KstoolError
from kstool.interrupts import Interrupted
from kstool.parallel import Pool, pmap
from tests.clirun import CANARY, run, snapshot

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


def kstool_cmd(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "kstool", *map(str, args)]


def start_apply_with_live_pool(spec: Path, logs: Path, *extra: str) -> tuple[subprocess.Popen[bytes], set[int]]:
    """An apply whose two pool workers are running (stdout and stderr go to files: a worker that outlived its
    parent would hold a pipe open)."""
    with (logs / "out").open("wb") as out, (logs / "err").open("wb") as err:
        proc = subprocess.Popen(kstool_cmd("apply", spec, "-j", "2", *extra), stdout=out, stderr=err)
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
        again = subprocess.run(kstool_cmd("apply", spec, "-j", "2"), capture_output=True, text=True, timeout=300,
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
    plan = subprocess.run(kstool_cmd("plan", spec, "--detailed-exitcode"), capture_output=True, text=True, timeout=120,
                          check=False)
    assert plan.returncode == 0, plan.stdout + plan.stderr


# -- item 1: workers never hold the lock, under every start method; errors cross the process boundary --------

def _lock_fds_in_worker(identity: tuple[int, int]) -> tuple[int, list[int]]:
    """Run in a worker: its pid and its descriptors that refer to the folder ``identity`` (st_dev, st_ino)."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            info = os.fstat(int(name))
        except OSError:
            continue
        if (info.st_dev, info.st_ino) == identity:
            found.append(int(name))
    return os.getpid(), found


def _raise_in_worker(error: BaseException) -> None:
    raise error


def _all_subclasses(cls: type) -> list[type]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _all_subclasses(sub))]


def _kstool_errors() -> list[KstoolError]:
    import inspect

    import kstool.app
    import kstool.commands
    import kstool.executor
    import kstool.verify  # noqa: F401  (every module that defines an error class)

    errors = []
    for cls in _all_subclasses(KstoolError):
        try:
            params = inspect.signature(cls).parameters.values()
            names = [p.name for p in params if p.default is inspect.Parameter.empty]
        except ValueError:  # Exception's own __init__: one message
            names = ["message"]
        errors.append(cls(*(f"{cls.__name__} {name}: x.p12 is broken" for name in names)))
    return errors


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_pool_workers_hold_no_lock_and_errors_cross(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    method: str) -> None:
    monkeypatch.setattr(kstool.parallel, "START_METHOD", method)
    monkeypatch.setattr(kstool.parallel, "cpu_count", lambda: 2)
    with apply_lock(tmp_path) as identity, Pool(2) as pool:
        seen = pmap(_lock_fds_in_worker, [identity] * 4, jobs=2, min_tasks=1, pool=pool)
        assert {pid for pid, _ in seen} - {os.getpid()}  # really in other processes
        assert all(fds == [] for _, fds in seen)  # none of them kept the locked folder open
        for error in _kstool_errors():
            with pytest.raises(type(error)) as caught:
                pmap(_raise_in_worker, [error], jobs=2, min_tasks=1, pool=pool)
            assert type(caught.value) is type(error) and str(caught.value) == str(error)
            assert caught.value.exit_code == error.exit_code


def test_errors_pickle() -> None:
    errors = [*_kstool_errors(), Interrupted(signal.SIGTERM, "nothing was changed")]
    assert len(errors) > 8
    for error in errors:
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and str(back) == str(error)


def test_worker_processes_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Pool.terminate`` kills workers through ProcessPoolExecutor's private ``_processes``: fail loudly if it
    goes away."""
    monkeypatch.setattr(kstool.parallel, "cpu_count", lambda: 2)
    pool = Pool(2)
    try:
        pids = {pid for pid, _ in pmap(_lock_fds_in_worker, [(0, 0)] * 4, jobs=2, min_tasks=1, pool=pool)}
        workers = kstool.parallel._worker_processes(pool.executor(4))
        assert {p.pid for p in workers} >= pids and all(p.is_alive() for p in workers)
    finally:
        pool.terminate()
    assert not any(p.is_alive() for p in workers)


# -- item 12: -j N is bounded by the CPUs and the tasks --------------------------------------------------------

def test_j_48_for_two_keys_starts_at_most_two_workers(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing.process

    monkeypatch.setattr(kstool.parallel, "cpu_count", lambda: 64)
    started: list[int] = []
    real = multiprocessing.process.BaseProcess.start

    def counting(self: multiprocessing.process.BaseProcess) -> None:
        started.append(1)
        real(self)

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", counting)
    spec = rsa_spec(tmp_path, 2)
    assert run(capsys, "apply", spec, "-j", "48").code == 0
    assert 1 <= len(started) <= 2
    assert kstool.parallel.workers_for(48, 2) == 2 and kstool.parallel.workers_for(48, 100) == 48
    monkeypatch.setattr(kstool.parallel, "cpu_count", lambda: 2)
    assert kstool.parallel.workers_for(48, 100) == 2 and kstool.parallel.workers_for(0, 5) == 1
