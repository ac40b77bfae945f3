"""One writer per output root: an exclusive flock on the output folder itself.

The kernel drops the lock when its holder dies (even on kill -9), so a stale lock never blocks anyone.
While it holds the lock, apply names itself (pid and start time) in ``ROOT/.kstool-apply.lock`` so a
second apply can say who has it; the file is removed again when the lock is released, so a finished
apply leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from kstool.errors import KstoolError
from kstool.fsutil import make_private_dirs

HOLDER_FILE = ".kstool-apply.lock"


class LockHeldError(KstoolError):
    exit_code = 5


@contextlib.contextmanager
def apply_lock(root: Path, *, timeout: float = 0.0) -> Iterator[None]:
    make_private_dirs(root)  # the output root and its missing parents: 0700 whatever the umask
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    holder = root / HOLDER_FILE
    try:
        _acquire(fd, holder, timeout)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with contextlib.suppress(OSError):  # the note is a courtesy; the flock is the lock
            holder.unlink(missing_ok=True)
            note = os.open(holder, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(note, "w") as f:
                f.write(f"pid {os.getpid()}, started {stamp}\n")
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                holder.unlink(missing_ok=True)
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
    try:
        who = holder.read_text(encoding="utf-8", errors="replace").strip()[:200] or "another process"
    except OSError:
        who = "another process"
    waited = f" after waiting {timeout:g} s" if timeout else ""
    return (f"another kstool apply holds the lock on {holder.parent} ({who}){waited}; wait for it to finish, "
            "or pass --lock-timeout SECONDS to wait")
