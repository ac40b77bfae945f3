"""The one exception family that reaches users, and ``ExitCode``: the only place exit codes are defined.

``str(error)`` is exactly what the user reads after ``kstool: error: ``. Messages never contain secrets:
they name files, spec locations and fixes, never password values or key bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import TypeVar

T = TypeVar("T")


class ExitCode(IntEnum):
    """Every exit status kstool returns (``kstool --help`` lists them for users)."""

    OK = 0  # success, no changes
    ERROR = 1  # an expected error (KstoolError), a usage error, or verify found drift
    CHANGES = 2  # plan --detailed-exitcode: changes pending
    ATTENTION = 2  # check: something is due, expiring within the horizon, expired, weak, drifted or missing
    UNEXPECTED = 3  # a bug in kstool
    RESTORE_FAILED = 4  # apply failed and putting the old files back failed too
    LOCKED = 5  # another apply holds the writer lock
    UNVERIFIED = 6  # plan --no-secrets --detailed-exitcode: no known change, but one it could not rule out
    INTERRUPTED = 130  # SIGINT (Ctrl-C); a signal exits 128 + its number, as a shell reports it: SIGTERM 143
    TERMINATED = 143  # SIGTERM
    BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a command whose reader went away (`| head`)

    @classmethod
    def signalled(cls, signum: int) -> int:
        """128 + the signal's number, as a shell reports a process a signal ended."""
        return 128 + signum


class KstoolError(Exception):
    """An expected failure caused by user input or the environment; exit code 1 unless overridden."""

    exit_code: int = ExitCode.ERROR

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled as it is, whatever a subclass's ``__init__`` takes: errors raised in a pool worker reach the
        parent process (``kstool.engine.parallel``) with their type, message and attributes."""
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class FormatError(KstoolError):
    """Bytes that are not a valid keystore / certificate / key of the expected kind."""


class IterationLimitError(FormatError):
    """An iteration count beyond Java's limit: refused before any key derivation (no integrity check first)."""


class WrongPasswordError(FormatError):
    """A store or key that its password cannot open (or whose integrity check fails)."""


class MaterialError(KstoolError):
    """A certificate, key or chain input that is unusable (missing, wrong kind, mismatched...)."""


def _rebuild(cls: type[KstoolError], args: tuple[object, ...], state: dict[str, object]) -> KstoolError:
    error = cls.__new__(cls, *args)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error
class MultiError(KstoolError):
    """Several independent errors found in one run: the CLI prints each on its own line, in location order."""

    def __init__(self, errors: Sequence[KstoolError]) -> None:
        flat: list[KstoolError] = []
        for error in errors:
            flat.extend(error.errors if isinstance(error, MultiError) else (error,))
        self.errors: tuple[KstoolError, ...] = tuple(sorted(flat, key=_location_key))
        super().__init__("\n".join(str(e) for e in self.errors))
        self.exit_code = max((e.exit_code for e in self.errors), default=ExitCode.ERROR)


def _location_key(error: KstoolError) -> tuple[str, int, int]:
    """(file, line, column) of an error located in the spec (SpecError); unlocated errors sort last, stably."""
    location = getattr(error, "location", None)
    line = getattr(location, "line", None)
    if isinstance(line, int):
        return (str(getattr(location, "file", "")), line, int(getattr(location, "column", 0)))
    return ("\uffff", 0, 0)


class Collector:
    """Gathers the errors of independent checks so that one run reports them all (``raise_all`` at the end)."""

    def __init__(self) -> None:
        self.errors: list[KstoolError] = []

    def attempt(self, check: Callable[[], T]) -> T | None:
        """``check()``'s result, or None after recording the KstoolError it raised."""
        try:
            return check()
        except KstoolError as error:
            self.errors.append(error)
            return None

    def raise_all(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise MultiError(self.errors)
