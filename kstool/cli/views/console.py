"""Console output as lines of ``(text, style)`` segments, and the lines every command shares (errors, warnings).

On a terminal rich colours them; anywhere else (CI logs, pipes, ``NO_COLOR``) they are written as plain text
without importing rich at all: its import alone costs ~85 ms, a tenth of a no-op plan over 500 keystores.
Segments are text, never markup; untrusted text (subjects, aliases, file names, error messages) is passed through
``escape`` on its way out, so a control character or an ANSI escape in a certificate can never start a new line
or recolour the terminal. Each line is written on its own, every style reset before its newline.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console

Segment = tuple[str, str]  # (text, rich style; "" for none)
Line = Sequence[Segment | str]  # a bare string is a segment without style


_settings = {"no_color": False}  # set by --no-color for this invocation

# bidirectional overrides and isolates reorder what a reviewer sees ("Trojan Source"): shown escaped, too
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def disable_colour(disabled: bool = True) -> None:
    """``--no-color``: plain text for the rest of this invocation, as with ``NO_COLOR`` set (False: undo)."""
    _settings["no_color"] = disabled


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (a stream without ``isatty``, as some test doubles are, is not)."""
    isatty = getattr(stream, "isatty", None)
    return isatty is not None and bool(isatty())


def escape(text: str) -> str:
    """``text`` with control characters (newline, ESC, DEL, C1...) and bidi controls shown as ``\\xNN``/``\\uNNNN``.

    The one function every view uses for text that comes from outside (certificates, files, the spec).
    """
    if text.isprintable():
        return text
    return "".join(_escape_char(c) for c in text)


def _escape_char(c: str) -> str:
    code = ord(c)
    if c in _BIDI or code < 0x20 or 0x7F <= code < 0xA0:
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return c


def json_text(doc: object) -> str:
    """``doc`` as indented JSON for a terminal or a pipe: JSON escapes C0 controls itself; DEL, C1 controls and bidi
    controls are written as ``\\uXXXX`` too (the same value for a JSON reader, inert on a terminal)."""
    import json  # noqa: PLC0415

    text = json.dumps(doc, indent=2, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_JSON_UNSAFE = re.compile("[\x7f-\x9f" + "".join(sorted(_BIDI)) + "]")


class Out:
    def __init__(self, *, stderr: bool = False) -> None:
        self._stream: TextIO = sys.stderr if stderr else sys.stdout
        self.console: Console | None = None  # set only where colours (and progress bars) make sense
        if os.environ.get("NO_COLOR") or _settings["no_color"]:
            return
        if is_terminal(self._stream) or os.environ.get("FORCE_COLOR"):
            from rich.console import Console  # noqa: PLC0415

            console = Console(stderr=stderr, highlight=False, soft_wrap=True)
            if console.is_terminal:
                self.console = console

    def line(self, *segments: Segment | str) -> None:
        self.lines([segments])

    def lines(self, lines: Iterable[Line]) -> None:
        if self.console is None:
            self._stream.write("".join(_plain(line) + "\n" for line in lines))
            return
        from rich.text import Text  # noqa: PLC0415

        for line in lines:
            self.console.print(Text.assemble(*((escape(s), "") if isinstance(s, str) else (escape(s[0]), s[1])
                                               for s in line)))


def _plain(line: Line) -> str:
    return escape("".join(s if isinstance(s, str) else s[0] for s in line))


def warn(message: str) -> None:
    Out(stderr=True).line(("kstool: warning:", "yellow"), f" {message}")


def errors(messages: Sequence[str]) -> None:
    """``kstool: error:`` lines on stderr, one per error (plain: they are read in CI logs as often as anywhere)."""
    sys.stderr.write("".join(f"kstool: error: {escape(message)}\n" for message in messages))


def usage_error(message: str) -> None:
    sys.stderr.write(f"kstool: error: {escape(message)} (see kstool --help)\n")


def interrupted(signal_name: str, what: str) -> None:
    """``signal_name`` is empty for Ctrl-C (SIGINT); ``what`` says what apply did about it, if anything."""
    name = f" ({signal_name})" if signal_name else ""
    sys.stderr.write(f"kstool: interrupted{name}{'; ' + what if what else ''}\n")


def unexpected(exception_name: str) -> None:
    sys.stderr.write(f"kstool: unexpected error ({exception_name}); this is a bug in kstool: please report it with "
                     "the output of --debug\n")


class WarningPrinter:
    """``warnings.showwarning`` for one run: each library warning once, as one ``kstool: warning:`` line with its
    text only (never a source path or line of code)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, message: Warning | str, category: type[Warning], filename: str,  # noqa: PLR0917
                 lineno: int, file: TextIO | None = None, line: str | None = None) -> None:
        text = f"kstool: warning: {escape(' '.join(str(message).split()))} ({category.__name__})\n"
        if text not in self.seen:
            self.seen.add(text)
            (file or sys.stderr).write(text)
