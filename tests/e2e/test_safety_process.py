"""Processes, signals and races (issue 11: items 1, 3, 8, 9, 12's ``-j``, 14).

A killed apply never blocks the next one, workers never hold the writer lock and die with their parent,
Ctrl-C and SIGTERM roll back like any failure, every write (keystores, password files, kstool.lock) is in the
one transaction, and a file or folder that changes under a running apply is never overwritten.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pickle
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import kstool.engine.commit
import kstool.engine.execute
import kstool.engine.fsutil
import kstool.engine.parallel
from kstool.engine.interrupts import Interrupted
from kstool.engine.parallel import Pool, pmap
from kstool.engine.writer_lock import apply_lock
from kstool.errors import KstoolError
from tests.e2e.test_safety import THREE, project
from tests.support.clirun import CANARY, run, snapshot

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


def _all_subclasses(cls: type[KstoolError]) -> list[type[KstoolError]]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _all_subclasses(sub))]


def _kstool_errors() -> list[KstoolError]:
    import inspect

    import kstool.cli.app
    import kstool.cli.commands
    import kstool.engine.execute
    import kstool.engine.verify  # noqa: F401  (every module that defines an error class)
    from kstool.errors import MultiError

    errors: list[KstoolError] = [MultiError([KstoolError("b.p12 is broken"), KstoolError("a.p12 is broken")])]
    for cls in _all_subclasses(KstoolError):
        if cls is MultiError:
            continue  # built from other errors, above
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
    monkeypatch.setattr(kstool.engine.parallel, "START_METHOD", method)
    monkeypatch.setattr(kstool.engine.parallel, "cpu_count", lambda: 2)
    with apply_lock(tmp_path) as fd, Pool(2) as pool:
        locked = os.fstat(fd)
        identity = (locked.st_dev, locked.st_ino)  # the folder the lock is held on (not the descriptor's number)
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
    monkeypatch.setattr(kstool.engine.parallel, "cpu_count", lambda: 2)
    pool = Pool(2)
    try:
        pids = {pid for pid, _ in pmap(_lock_fds_in_worker, [(0, 0)] * 4, jobs=2, min_tasks=1, pool=pool)}
        workers = kstool.engine.parallel._worker_processes(pool.executor(4))
        assert {p.pid for p in workers} >= pids and all(p.is_alive() for p in workers)
    finally:
        pool.terminate()
    deadline = time.monotonic() + 30  # SIGKILLed at once; reaping them may lag on a loaded machine
    while any(p.is_alive() for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(p.is_alive() for p in workers)


# -- item 12: -j N is bounded by the CPUs and the tasks --------------------------------------------------------

def process_starts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Grows by one per process started (pool workers included) for the rest of the test."""
    import multiprocessing.process

    started: list[int] = []
    real = multiprocessing.process.BaseProcess.start

    def counting(self: multiprocessing.process.BaseProcess) -> None:
        started.append(1)
        real(self)

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", counting)
    return started


def test_j_48_for_two_keys_starts_at_most_two_workers(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kstool.engine.parallel, "cpu_count", lambda: 64)
    started = process_starts(monkeypatch)
    spec = rsa_spec(tmp_path, 2)
    assert run(capsys, "apply", spec, "-j", "48").code == 0
    assert 1 <= len(started) <= 2
    assert kstool.engine.parallel.workers_for(48, 2) == 2 and kstool.engine.parallel.workers_for(48, 100) == 48
    monkeypatch.setattr(kstool.engine.parallel, "cpu_count", lambda: 2)
    assert kstool.engine.parallel.workers_for(48, 100) == 2 and kstool.engine.parallel.workers_for(0, 5) == 1


# -- item 3: a file or folder changed under a running apply is never overwritten --------------------------------

@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_PASS", PW)


def _three(tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[Path, dict[str, bytes]]:
    """THREE applied, then the spec changed so that apply rewrites all three stores; the bytes before."""
    spec = project(tmp_path / "spec", THREE)
    assert run(capsys, "apply", spec, *flags).code == 0
    out = tmp_path / "out" if flags else tmp_path / "spec"
    before = {k: v[0] for k, v in artifacts(out).items() if not k.startswith("certs/")}
    project(tmp_path / "spec", THREE.replace("alias: root", "alias: root2"))
    return spec, before


def _before_commit(monkeypatch: pytest.MonkeyPatch, action: Callable[[], object]) -> None:
    """Run ``action()`` after apply planned and staged everything, right before its commit starts."""
    real = kstool.engine.execute._stage

    def racing(*args: object, **kwargs: object) -> object:
        staged = real(*args, **kwargs)  # type: ignore[arg-type]  # forwards the caller's arguments
        action()
        return staged

    monkeypatch.setattr(kstool.engine.execute, "_stage", racing)


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".kstool-tmp")]


def test_a_store_replaced_during_apply_is_kept_and_everything_rolls_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    spec, before = _three(tmp_path, capsys)
    folder = tmp_path / "spec"
    theirs = before["b.p12"] + b"operator's version"

    def operator() -> None:  # keytool -importcert, or cp + mv, on a store apply is about to rewrite
        (folder / "b.p12.new").write_bytes(theirs)
        os.replace(folder / "b.p12.new", folder / "b.p12")

    _before_commit(monkeypatch, operator)
    result = run(capsys, "apply", spec)
    assert result.code == 1, result.err
    assert "kstool: error: b.p12 changed during apply; run apply again; nothing was changed; restored: a.jks" \
        in result.err
    assert (folder / "b.p12").read_bytes() == theirs  # the operator's version survives
    after = {k: v[0] for k, v in artifacts(folder).items() if not k.startswith("certs/")}
    assert after == {**before, "b.p12": theirs} or {k: v for k, v in after.items()
                                                    if not k.endswith(".kstool-backup")} == {**before, "b.p12": theirs}
    assert _no_temp_files(folder)


def test_a_new_file_at_a_path_apply_creates_is_not_overwritten(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    spec = project(tmp_path, THREE)
    _before_commit(monkeypatch, lambda: (tmp_path / "b.p12").write_bytes(b"someone else's"))
    result = run(capsys, "apply", spec)
    assert result.code == 1 and "b.p12 changed during apply; run apply again" in result.err
    assert (tmp_path / "b.p12").read_bytes() == b"someone else's"
    assert not (tmp_path / "a.jks").exists() and not (tmp_path / "kstool.lock").exists()
    assert _no_temp_files(tmp_path)


def test_output_folder_swapped_for_a_link_is_never_written_through(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    spec, _ = _three(tmp_path, capsys, "-o", str(tmp_path / "out"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def swap() -> None:
        os.rename(tmp_path / "out", tmp_path / "out.moved")
        os.symlink(elsewhere, tmp_path / "out")

    _before_commit(monkeypatch, swap)
    result = run(capsys, "apply", spec, "-o", str(tmp_path / "out"))
    assert result.code == 1, result.err
    assert "the output folder changed during apply (moved, removed or replaced by a link)" in result.err
    assert list(elsewhere.iterdir()) == []  # nothing written through the link
    assert _no_temp_files(tmp_path / "out.moved")


def test_a_subfolder_swapped_for_a_link_is_never_written_through(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    spec, before = _three(tmp_path, capsys)
    folder = tmp_path / "spec"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def swap() -> None:
        os.rename(folder / "sub", tmp_path / "sub.moved")
        os.symlink(elsewhere, folder / "sub")

    _before_commit(monkeypatch, swap)
    result = run(capsys, "apply", spec)
    assert result.code == 1, result.err
    assert "sub/c.jceks: folder sub is a symbolic link" in result.err and "nothing was changed" in result.err
    assert list(elsewhere.iterdir()) == []
    assert (folder / "a.jks").read_bytes() == before["a.jks"]  # restored


def test_output_folder_removed_during_apply_is_not_recreated(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    spec, _ = _three(tmp_path, capsys, "-o", str(tmp_path / "out"))
    real = kstool.engine.execute.lock_content

    def remove_then_plan(*args: object, **kwargs: object) -> bytes:  # after planning, before anything is staged
        shutil.rmtree(tmp_path / "out")
        return real(*args, **kwargs)  # type: ignore[arg-type]  # forwards the caller's arguments

    monkeypatch.setattr(kstool.engine.execute, "lock_content", remove_then_plan)
    result = run(capsys, "apply", spec, "-o", str(tmp_path / "out"))
    assert result.code == 1, result.err
    assert "the output folder changed during apply" in result.err and "run apply again" in result.err
    assert not (tmp_path / "out").exists()


# -- item 8: signals are transactions -------------------------------------------------------------------------

@pytest.mark.parametrize(("sig", "code", "said"), [(signal.SIGINT, 130, "interrupted"),
                                                    (signal.SIGTERM, 143, "interrupted (SIGTERM)")])
def test_a_signal_inside_the_commit_rolls_back(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch, env: None, sig: int, code: int,
                                               said: str) -> None:
    spec, before = _three(tmp_path, capsys)
    folder = tmp_path / "spec"
    real = kstool.engine.commit.Commit.replace
    calls: list[str] = []

    def interrupted_after_first(self: kstool.engine.commit.Commit, rel: str, *args: object, **kwargs: object) -> None:
        real(self, rel, *args, **kwargs)  # type: ignore[arg-type]  # forwards the caller's arguments
        calls.append(rel)
        if len(calls) == 1:
            os.kill(os.getpid(), sig)  # a real Ctrl-C (or SIGTERM), between the first and the second rename

    monkeypatch.setattr(kstool.engine.commit.Commit, "replace", interrupted_after_first)
    result = run(capsys, "apply", spec)
    assert result.code == code, result.err
    assert f"kstool: {said}; nothing was changed; restored: a.jks" in result.err
    assert calls == ["a.jks"]
    after = {k: v[0] for k, v in artifacts(folder).items()
             if not k.startswith("certs/") and not k.endswith(".kstool-backup")}
    assert after == before
    assert _no_temp_files(folder) and not (folder / ".kstool-apply.lock").exists()


@pytest.mark.slow
def test_sigint_during_parallel_key_generation_returns_at_once(tmp_path: Path) -> None:
    spec = rsa_spec(tmp_path / "p", 16, 4096)
    proc, workers = start_apply_with_live_pool(spec, tmp_path)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
        took = time.monotonic() - started
        assert proc.returncode == 130
        assert "kstool: interrupted; nothing was changed" in (tmp_path / "err").read_text()
        assert took < 5, took  # not the minutes 16 RSA-4096 keys take
        deadline = time.monotonic() + 5
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(w) for w in workers)
    finally:
        for w in workers:
            if alive(w):
                os.kill(w, signal.SIGKILL)
    assert sorted(p.name for p in (tmp_path / "p").rglob("*")) == ["kstool.yaml"]  # no store, password, temp


# -- item 9: every write is in the transaction ----------------------------------------------------------------

def _enospc_when(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, hit: str) -> None:
    real = getattr(owner, name)

    def full(*args: object, **kwargs: object) -> object:
        if any(hit in str(a) for a in args):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, full)


@pytest.mark.parametrize(("where", "name", "hit"), [
    ("stage", "stage", "kstool.lock"),  # writing kstool.lock's temp file
    ("commit", "replace", "kstool.lock"),  # renaming it into place, after the keystores
    ("stage", "stage", "secrets"),  # writing a generated password file
])
def test_enospc_at_the_lock_or_a_password_file_rolls_everything_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: None,
        where: str, name: str, hit: str) -> None:
    spec, before = _three(tmp_path, capsys)
    folder = tmp_path / "spec"
    project(folder, THREE.replace("alias: root", "alias: root2")
            + "  - name: d\n    path: d.jks\n    password: {file: secrets/d.pass, generate: true}\n    entries:\n"
              "      - alias: x\n        trusted: {certificate: certs/root.crt}\n")
    if where == "stage":
        _enospc_when(monkeypatch, kstool.engine.fsutil, name, hit)
        _enospc_when(monkeypatch, kstool.engine.execute, name, hit)
    else:
        _enospc_when(monkeypatch, os, name, hit)  # the os module transaction uses
    result = run(capsys, "apply", spec)
    assert result.code == 1, result.err
    assert "No space left on device" in result.err and "nothing was changed" in result.err
    after = {k: v[0] for k, v in artifacts(folder).items()
             if not k.startswith("certs/") and not k.endswith(".kstool-backup")}
    assert after == before  # the keystores are the old ones, no password file, the old lock
    assert _no_temp_files(folder)



def test_a_rollback_puts_back_mode_and_owner_too(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    """A restored file is the old one in full: its bytes, and its mode, owner and group (and kstool.lock's 0644)."""
    spec, before = _three(tmp_path, capsys)
    folder = tmp_path / "spec"
    store = next(p for p in sorted(folder.glob("*")) if p.suffix in (".jks", ".p12", ".jceks"))
    os.chmod(store, 0o640)
    if os.geteuid() == 0:
        os.chown(store, 1234, 1235)
    lock_mode = stat.S_IMODE(os.stat(folder / "kstool.lock").st_mode)
    _enospc_when(monkeypatch, os, "replace", "kstool.lock")  # after every keystore is in place
    result = run(capsys, "apply", spec)
    assert result.code == 1 and "nothing was changed" in result.err, result.err
    info = os.stat(store)
    assert stat.S_IMODE(info.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (info.st_uid, info.st_gid) == (1234, 1235)
    assert stat.S_IMODE(os.stat(folder / "kstool.lock").st_mode) == lock_mode == 0o644
    assert store.read_bytes() == before[store.name]

# -- item 14: the lock-held message reads no link ---------------------------------------------------------------

@pytest.mark.parametrize("note", ["symlink", "fifo"])
def test_lock_held_message_never_follows_the_note(tmp_path: Path, env: None, note: str) -> None:
    spec = project(tmp_path, THREE)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT of some other file\n")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    if note == "symlink":
        os.symlink(secret, tmp_path / ".kstool-apply.lock")
    else:
        os.mkfifo(tmp_path / ".kstool-apply.lock")
    try:
        done = subprocess.run(kstool_cmd("apply", spec), capture_output=True, text=True, timeout=60, check=False)
    finally:
        os.close(fd)
    assert done.returncode == 5
    assert "(another process)" in done.stderr and "TOP-SECRET" not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_apply_under_every_start_method(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    """Key generation, encoding and opening all go through the pool (RSA keys, >= 16 stores to encode, >= 32 to
    open), with workers that share no memory with kstool: every task and result pickles."""
    monkeypatch.setattr(kstool.engine.parallel, "START_METHOD", method)
    monkeypatch.setattr(kstool.engine.parallel, "cpu_count", lambda: 2)
    monkeypatch.setenv("KS_PASS", PW)
    rsa = "        generate: {dname: \"CN=r\", key: {algorithm: RSA, size: 2048}}\n"
    ec = "        generate: {dname: \"CN=e\", key: {algorithm: EC, size: 256}}\n"
    body = "".join(f"  - name: s{i}\n    path: s{i}.{'p12' if i % 2 else 'jks'}\n    password: {{env: KS_PASS}}\n"
                   f"    entries:\n      - alias: k\n{rsa if i < 2 else ec}" for i in range(32))
    spec = tmp_path / "kstool.yaml"
    spec.write_text("version: 1\nkeystores:\n" + body, encoding="utf-8")
    started = process_starts(monkeypatch)
    assert run(capsys, "apply", spec, "-j", "2").code == 0
    assert started  # the pool really ran
    spec.write_text("version: 1\nkeystores:\n" + body.replace("alias: k\n", "alias: k2\n"), encoding="utf-8")
    assert run(capsys, "apply", spec, "-j", "2").code == 0  # opens 32 stores, re-encodes them
    assert run(capsys, "plan", spec, "--detailed-exitcode", "-j", "2").code == 0


def test_a_password_file_at_a_keystore_path_is_refused_before_any_write(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One transaction writes each path once (a spec-level check may come first: then its message shows)."""
    spec = tmp_path / "kstool.yaml"
    spec.write_text("version: 1\nkeystores:\n  - name: a\n    path: a.p12\n"
                    "    password: {file: a.p12, generate: true}\n    entries:\n      - alias: k\n"
                    "        generate: {dname: \"CN=a\", key: {algorithm: EC, size: 256}}\n", encoding="utf-8")
    result = run(capsys, "apply", spec)
    assert result.code == 1 and "a.p12" in result.err, result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kstool.yaml"]
