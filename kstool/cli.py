"""The console entry point: runs the typer application (``kstool.app``) and turns errors into exit codes, once.

``kstool validate SPEC``, the command editors and pre-commit hooks run on every save or commit, is answered
without building the CLI: typer alone is a fifth of its start-up. Any other form (options, ``--help``, more
arguments) goes through typer, and both routes print the same and exit the same.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

EXIT_UNEXPECTED = 3
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: expected errors exit 1, bugs exit 3, Ctrl-C exits 130."""
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
    from kstool.errors import KstoolError  # noqa: PLC0415

    try:
        return command()
    except KeyboardInterrupt:
        sys.stderr.write("kstool: interrupted\n")
        return EXIT_INTERRUPTED
    except KstoolError as e:
        sys.stderr.write(f"kstool: error: {e}\n")
        return e.exit_code
    except Exception as e:
        if debug():
            import traceback  # noqa: PLC0415

            traceback.print_exc()
        sys.stderr.write(f"kstool: unexpected error ({type(e).__name__}); this is a bug in kstool: please report "
                         "it with the output of --debug\n")
        return EXIT_UNEXPECTED


class WarningPrinter:
    """``warnings.showwarning`` for one run: each library warning once, as one ``kstool: warning:`` line with its
    text only (never a source path or line of code)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, message: Warning | str, category: type[Warning], filename: str,  # noqa: PLR0917
                 lineno: int, file: TextIO | None = None, line: str | None = None) -> None:
        text = f"kstool: warning: {' '.join(str(message).split())} ({category.__name__})\n"
        if text not in self.seen:
            self.seen.add(text)
            (file or sys.stderr).write(text)


if __name__ == "__main__":
    sys.exit(main())
