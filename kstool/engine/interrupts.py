"""Ctrl-C (SIGINT) and SIGTERM end kstool the same way: as an ``Interrupted`` exception, so that apply rolls back.

``handled()`` (installed by ``kstool.cli`` around every command) turns both signals into ``Interrupted``;
``deferred()`` holds one back until a short step that must not be cut in half (a rename and the record of
it) is done. The process exits 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from kstool.errors import ExitCode


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived. ``what`` says what apply did about it (e.g. "nothing was changed").

    Not a KeyboardInterrupt: click and typer turn those into a silent exit 130, losing the signal and the
    message; this one reaches ``kstool.cli``. Like KeyboardInterrupt, ``except Exception`` does not catch it.
    """

    def __init__(self, signum: int = signal.SIGINT, what: str = "") -> None:
        super().__init__(signum, what)
        self.signum = signum
        self.what = what

    def __str__(self) -> str:
        return self.what

    def after(self, what: str) -> Interrupted:
        """The same interrupt, now saying what was done about it."""
        return Interrupted(self.signum, what)

    @property
    def exit_code(self) -> int:
        return ExitCode.signalled(self.signum)


INTERRUPTS = (KeyboardInterrupt, Interrupted)


def as_interrupted(error: BaseException) -> Interrupted:
    return error if isinstance(error, Interrupted) else Interrupted()


class _State:
    depth = 0
    pending: int | None = None


def _handler(signum: int, _frame: FrameType | None) -> None:
    if _State.depth:
        _State.pending = _State.pending or signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``Interrupted`` inside the block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, signal.SIG_DFL if h is None else h)  # None: a handler set outside Python
        _State.pending = None


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A signal arriving inside the block is raised when it ends (after the step), not in its middle."""
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
        if _State.depth == 0 and _State.pending is not None:
            signum, _State.pending = _State.pending, None
            raise Interrupted(signum)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """A signal arriving inside the block is dropped: for the rollback, which runs because of one already."""
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
        if _State.depth == 0:
            _State.pending = None
