"""One writer per output root: an exclusive flock on the output folder itself.

The kernel drops the lock when its holder dies (even on kill -9), so a stale lock never blocks anyone: no
other process keeps a copy of the descriptor (pool workers close theirs first thing, ``kstool.engine.parallel``),
and the descriptor is close-on-exec.

While it holds the lock, apply names itself (pid and start time) in ``ROOT/.kstool-apply.lock`` so a
second apply can say who has it; the file is removed again when the lock is released, so a finished
apply leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from kstool.engine.fsutil import make_private_dirs
from kstool.engine.parallel import withheld_from_workers
from kstool.errors import ExitCode, KstoolError

HOLDER_FILE = ".kstool-apply.lock"
_MAX_NOTE = 200  # characters of the holder note shown; the note is read through no link and only when regular

class LockHeldError(KstoolError):
    exit_code = ExitCode.LOCKED


@contextlib.contextmanager
def apply_lock(root: Path, *, timeout: float = 0.0) -> Iterator[int]:
    """Hold the writer lock on ``root``; yields the descriptor of the folder locked, for ``Commit`` to check
    that the output folder is still this one (not moved, removed or replaced by a link) when it writes."""
    make_private_dirs(root)  # the output root and its missing parents: 0700 whatever the umask
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with withheld_from_workers(fd):
            _acquire(fd, root / HOLDER_FILE, timeout)
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            with contextlib.suppress(OSError):  # the note is a courtesy; the flock is the lock
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(HOLDER_FILE, dir_fd=fd)
                note = os.open(HOLDER_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                               0o600, dir_fd=fd)
                with os.fdopen(note, "w") as f:
                    f.write(f"pid {os.getpid()}, started {stamp}\n")
            try:
                yield fd
            finally:
                with contextlib.suppress(OSError):  # in the folder locked, wherever it is now
                    os.unlink(HOLDER_FILE, dir_fd=fd)
    finally:
        os.close(fd)  # releases the flock


def _acquire(fd: int, holder: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockHeldError(_held_message(holder, timeout)) from None
            time.sleep(0.1)


def _held_message(holder: Path, timeout: float) -> str:
    who = _read_note(holder) or "another process"
    waited = f" after waiting {timeout:g} s" if timeout else ""
    return (f"another kstool apply holds the lock on {holder.parent} ({who}){waited}; wait for it to finish, "
            "or pass --lock-timeout SECONDS to wait")


def _read_note(holder: Path) -> str:
    """The holder note, when it is a small regular file: never through a link, never blocking on a FIFO."""
    try:
        fd = os.open(holder, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        raw = os.read(fd, _MAX_NOTE * 4)
    except OSError:
        return ""
    finally:
        os.close(fd)
    text = raw.decode("utf-8", errors="replace").strip()
    return "".join(c if c.isprintable() else "?" for c in text)[:_MAX_NOTE]
