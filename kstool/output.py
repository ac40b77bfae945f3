"""Console output as lines of ``(text, style)`` segments.

On a terminal rich colours them; anywhere else (CI logs, pipes, ``NO_COLOR``) they are written as plain text
without importing rich at all: its import alone costs ~85 ms, a tenth of a no-op plan over 500 keystores.
Segments are text, never markup, so file names and subjects need no escaping.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console

Segment = tuple[str, str]  # (text, rich style; "" for none)
Line = Sequence[Segment | str]  # a bare string is a segment without style


class Out:
    def __init__(self, *, stderr: bool = False) -> None:
        self._stream: TextIO = sys.stderr if stderr else sys.stdout
        self.console: Console | None = None  # set only where colours (and progress bars) make sense
        if os.environ.get("NO_COLOR"):
            return
        isatty = getattr(self._stream, "isatty", None)
        if (isatty is not None and isatty()) or os.environ.get("FORCE_COLOR"):
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
            self.console.print(Text.assemble(*((s, "") if isinstance(s, str) else s for s in line)))


def _plain(line: Line) -> str:
    return "".join(s if isinstance(s, str) else s[0] for s in line)
