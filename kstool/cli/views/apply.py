"""What ``apply`` prints after the plan: the files it wrote, backed up and deleted, and the progress bar."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kstool.cli.views.console import Line, Out, is_terminal, json_text
from kstool.cli.views.plan import plan_to_dict

if TYPE_CHECKING:
    from kstool.engine.execute import ApplyResult, Reporter
    from kstool.engine.plan import Plan


def show_applied(plan: Plan, result: ApplyResult, stray: Sequence[Path | str]) -> None:
    lines: list[Line] = []
    lines += [[("removed", "yellow"), f" stray temp file {temp} (left by an interrupted apply)"] for temp in stray]
    lines += [[("created", "green"), f" password file {path} (0600)"] for path in result.password_files]
    lines += [[("backup", "cyan"), f"  {path}"] for path in result.backups]
    lines += [[("pruned", "yellow"), f"  old backup {path}"] for path in result.pruned_backups]
    lines += [[("wrote", "green"), f"   {path}"] for path in result.written]
    lines += [[("deleted", "red"), f" {path}"] for path in result.deleted]
    if result.lock_written:
        lines.append([("wrote", "green"), "   kstool.lock"])
    if plan.has_changes:
        lines.append([("Apply complete:", "bold green"), f" {len(result.written)} written, {len(result.deleted)} "
                      f"deleted, {len(result.backups)} backed up."])
    Out().lines(lines)


def show_applied_json(plan: Plan, result: ApplyResult) -> None:
    print(json_text(applied_to_dict(plan, result)))


def applied_to_dict(plan: Plan, result: ApplyResult) -> dict[str, Any]:
    """The ``apply --json`` document (also ``kstool.api.ApplyResult.to_dict``)."""
    doc = plan_to_dict(plan)
    doc["applied"] = {"written": list(result.written), "deleted": list(result.deleted),
                      "backups": list(result.backups), "password_files_created": list(result.password_files),
                      "lock_written": result.lock_written, "pruned_backups": list(result.pruned_backups)}
    return doc


@contextmanager
def progress(*, enabled: bool) -> Iterator[Reporter]:
    """A progress bar for key generation, on a terminal only, and only when there is enough to wait for."""
    from kstool.engine.execute import Reporter  # noqa: PLC0415

    if not enabled or not is_terminal(sys.stderr):  # rich only where a bar can be drawn (NO_COLOR keeps the bar)
        yield Reporter()
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import Progress  # noqa: PLC0415

    out = Console(stderr=True)

    # redrawn on each step rather than by a refresh thread: the key-generation pool forks only a single-threaded
    # process (kstool.engine.parallel)
    with Progress(console=out, transient=True, auto_refresh=False) as bar:
        task = bar.add_task("generating keys", total=None, visible=False)

        class _Bar(Reporter):
            def start(self, total: int) -> None:
                bar.update(task, total=total, visible=total >= _PROGRESS_MIN_KEYS, refresh=True)

            def advance(self) -> None:
                bar.advance(task)
                bar.refresh()

        yield _Bar()


_PROGRESS_MIN_KEYS = 4
