"""The one exception family that reaches users.

``str(error)`` is exactly what the user reads after ``kstool: error: ``. Messages never contain secrets:
they name files, spec locations and fixes, never password values or key bytes.
"""

from __future__ import annotations


class KstoolError(Exception):
    """An expected failure caused by user input or the environment; exit code 1 unless overridden."""

    exit_code = 1

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled as it is, whatever a subclass's ``__init__`` takes: errors raised in a pool worker reach the
        parent process (``kstool.parallel``) with their type, message and attributes."""
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class FormatError(KstoolError):
    """Bytes that are not a valid keystore / certificate / key of the expected kind."""


class WrongPasswordError(FormatError):
    """A store or key that its password cannot open (or whose integrity check fails)."""


class MaterialError(KstoolError):
    """A certificate, key or chain input that is unusable (missing, wrong kind, mismatched...)."""


def _rebuild(cls: type[KstoolError], args: tuple[object, ...], state: dict[str, object]) -> KstoolError:
    error = cls.__new__(cls, *args)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error
