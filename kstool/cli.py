"""The console entry point: runs the typer application (``kstool.app``) and turns errors into exit codes, once.

``kstool validate SPEC``, the command editors and pre-commit hooks run on every save or commit, is answered
without building the CLI: typer alone is a fifth of its start-up. Any other form (options, ``--help``, more
arguments) goes through typer, and both routes print the same and exit the same.
"""

from __future__ import annotations

import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

EXIT_UNEXPECTED = 3
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C); SIGTERM exits 143: 128 + the signal's number, as a shell reports it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a command whose reader went away (`| head`)


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: expected errors exit 1, bugs exit 3, Ctrl-C exits 130 and SIGTERM 143."""
    with warnings.catch_warnings():  # restores showwarning when the command ends
        warnings.showwarning = WarningPrinter()  # every warning, from imports too, as one kstool line
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "validate" and not args[1].startswith("-"):
        from kstool.commands import cmd_validate  # noqa: PLC0415

        return _guarded(lambda: cmd_validate(Path(args[1])), debug=lambda: False)
    from kstool import app  # noqa: PLC0415

    app.state["debug"] = False
    return _guarded(lambda: app.run(args), debug=lambda: app.state["debug"])


def _guarded(command: Callable[[], int], *, debug: Callable[[], bool]) -> int:
    from kstool.errors import KstoolError, MultiError  # noqa: PLC0415
    from kstool.interrupts import INTERRUPTS, as_interrupted, handled  # noqa: PLC0415
    from kstool.output import escape  # noqa: PLC0415

    try:
        with handled():  # SIGTERM (a CI cancel, systemd, Kubernetes) is handled like Ctrl-C
            code = command()
            sys.stdout.flush()  # a reader that went away (`kstool plan --json | head -1`) shows here, not at exit
            return code
    except BrokenPipeError:
        return _reader_went_away()
    except INTERRUPTS as e:
        interrupted = as_interrupted(e)
        name = "" if interrupted.signum == signal.SIGINT else f" ({signal.Signals(interrupted.signum).name})"
        what = f"; {interrupted.what}" if interrupted.what else ""
        sys.stderr.write(f"kstool: interrupted{name}{what}\n")
        return interrupted.exit_code
    except KstoolError as e:
        errors = e.errors if isinstance(e, MultiError) else (e,)
        sys.stderr.write("".join(f"kstool: error: {escape(str(error))}\n" for error in errors))
        return e.exit_code
    except Exception as e:
        if debug():
            import traceback  # noqa: PLC0415

            traceback.print_exc()
        sys.stderr.write(f"kstool: unexpected error ({type(e).__name__}); this is a bug in kstool: please report "
                         "it with the output of --debug\n")
        return EXIT_UNEXPECTED


def _reader_went_away() -> int:
    """stdout's reader closed the pipe: nothing more to say, and nobody to say it to. Exit quietly."""
    import os  # noqa: PLC0415

    try:  # what is still buffered must not fail again, noisily, when Python flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (e.g. captured by a test)
        pass
    return EXIT_BROKEN_PIPE


class WarningPrinter:
    """``warnings.showwarning`` for one run: each library warning once, as one ``kstool: warning:`` line with its
    text only (never a source path or line of code)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, message: Warning | str, category: type[Warning], filename: str,  # noqa: PLR0917
                 lineno: int, file: TextIO | None = None, line: str | None = None) -> None:
        from kstool.output import escape  # noqa: PLC0415

        text = f"kstool: warning: {escape(' '.join(str(message).split()))} ({category.__name__})\n"
        if text not in self.seen:
            self.seen.add(text)
            (file or sys.stderr).write(text)


if __name__ == "__main__":
    sys.exit(main())
