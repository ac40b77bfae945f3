"""The console entry point (``main``) and kstool's one error boundary: errors become exit codes here, once.

``kstool validate SPEC...``, the command editors and pre-commit hooks run on every save or commit, is answered
without building the CLI: typer alone is a fifth of its start-up. Any other form (options, ``--help``, more
arguments) goes through typer (``kstool.cli.app``), and both routes print the same and exit the same.

The layer: ``app`` (flags, typer) → ``commands`` (call the engine, hand the result to a view, return an exit code)
→ ``views`` (every byte a user reads).
"""

from __future__ import annotations

import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Session:
    """What one invocation's global flags set (``--debug``), read by the error boundary after the command."""

    debug: bool = False


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: expected errors exit 1, bugs exit 3, Ctrl-C exits 130 and SIGTERM 143."""
    from kstool.cli.views.console import WarningPrinter  # noqa: PLC0415

    with warnings.catch_warnings():  # restores showwarning when the command ends
        warnings.showwarning = WarningPrinter()  # every warning, from imports too, as one kstool line
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    session = Session()
    if len(args) >= 2 and args[0] == "validate" and not any(a.startswith("-") for a in args[1:]):
        from kstool.cli.commands import cmd_validate  # noqa: PLC0415

        return _guarded(lambda: cmd_validate([Path(a) for a in args[1:]]), session)
    from kstool.cli import app  # noqa: PLC0415

    return _guarded(lambda: app.run(args, session), session)


def _guarded(command: Callable[[], int], session: Session) -> int:
    """The error boundary: every exception a command raises ends here as one message and an exit code."""
    from kstool.cli.views import console  # noqa: PLC0415
    from kstool.engine.interrupts import INTERRUPTS, as_interrupted, handled  # noqa: PLC0415
    from kstool.errors import ExitCode, KstoolError, MultiError  # noqa: PLC0415

    try:
        with handled():  # SIGTERM (a CI cancel, systemd, Kubernetes) is handled like Ctrl-C
            code = command()
            sys.stdout.flush()  # a reader that went away (`kstool plan --json | head -1`) shows here, not at exit
            return code
    except BrokenPipeError:
        return _reader_went_away()
    except INTERRUPTS as e:
        interrupted = as_interrupted(e)
        name = "" if interrupted.signum == signal.SIGINT else signal.Signals(interrupted.signum).name
        console.interrupted(name, interrupted.what)
        return interrupted.exit_code
    except KstoolError as e:
        console.errors([str(error) for error in (e.errors if isinstance(e, MultiError) else (e,))])
        return e.exit_code
    except Exception as e:
        if session.debug:
            import traceback  # noqa: PLC0415

            traceback.print_exc()
        console.unexpected(type(e).__name__)
        return ExitCode.UNEXPECTED


def _reader_went_away() -> int:
    """stdout's reader closed the pipe: nothing more to say, and nobody to say it to. Exit quietly."""
    import os  # noqa: PLC0415

    from kstool.errors import ExitCode  # noqa: PLC0415

    try:  # what is still buffered must not fail again, noisily, when Python flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (e.g. captured by a test)
        pass
    return ExitCode.BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
