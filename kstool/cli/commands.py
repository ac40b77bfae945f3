"""Each command calls ``kstool.api``, hands the result to a view and returns an exit code; ``app`` wires flags to these.

Imports stay inside the functions: ``kstool validate`` (the fast path in ``kstool.cli``) must not load the
cryptography stack, and ``--help`` loads nothing here.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

from kstool.cli.views.console import warn
from kstool.engine import Options
from kstool.errors import ExitCode


def cmd_validate(spec_paths: Sequence[Path]) -> int:
    """One or more specs (pre-commit passes several): each valid one is shown, then every error of every file."""
    from kstool.api import load_spec  # noqa: PLC0415
    from kstool.cli.views.spec import show_valid  # noqa: PLC0415
    from kstool.errors import Collector  # noqa: PLC0415

    errors = Collector()
    for path in spec_paths:
        valid = errors.attempt(partial(load_spec, path))
        if valid is not None:
            show_valid(path, valid.model)
    errors.raise_all()
    return ExitCode.OK


def cmd_schema() -> int:
    from kstool.cli.views.spec import show_schema  # noqa: PLC0415

    show_schema()
    return ExitCode.OK


def cmd_plan(spec_path: Path, options: Options, *, as_json: bool, detailed_exitcode: bool, verbose: bool) -> int:
    from kstool.api import run_plan  # noqa: PLC0415
    from kstool.cli.views.plan import show_plan  # noqa: PLC0415

    ctx = run_plan(spec_path, options, warn=warn)
    show_plan(ctx.plan, as_json=as_json, verbose=verbose)
    return ExitCode.CHANGES if detailed_exitcode and ctx.plan.has_changes else ExitCode.OK


def cmd_apply(spec_path: Path, options: Options, *, as_json: bool, verbose: bool) -> int:
    from kstool.api import run_apply  # noqa: PLC0415
    from kstool.cli.views.apply import progress, show_applied, show_applied_json  # noqa: PLC0415
    from kstool.cli.views.plan import show_plan  # noqa: PLC0415

    done = run_apply(spec_path, options, warn=warn, progress=lambda: progress(enabled=not as_json),
                     on_plan=None if as_json else lambda ctx: show_plan(ctx.plan, as_json=False, verbose=verbose))
    if as_json:
        show_applied_json(done.plan, done.applied)
    else:
        show_applied(done.plan, done.applied, done.stray_temp_files)
    return ExitCode.OK


def cmd_verify(spec_path: Path, output_dir: Path | None, *, as_json: bool) -> int:
    """Rebuild every artifact in memory; check the files on disk and kstool.lock hold exactly that."""
    from kstool.api import verify  # noqa: PLC0415
    from kstool.cli.views.verify import show_verify  # noqa: PLC0415

    report = verify(spec_path, output_dir=output_dir).report
    for message in report.warnings:
        warn(message)
    show_verify(report, as_json=as_json)
    return ExitCode.OK if report.ok else ExitCode.ERROR


def cmd_check(spec_path: Path, output_dir: Path | None, *, horizon_days: int, as_json: bool,
              prometheus: bool) -> int:
    """The estate's health, read only: 0 healthy, 2 attention needed (errors exit 1 at the boundary)."""
    from kstool.api import check  # noqa: PLC0415
    from kstool.cli.views.check import show_check  # noqa: PLC0415

    health = check(spec_path, output_dir=output_dir, horizon_days=horizon_days).health
    for message in health.warnings:
        warn(message)
    show_check(health, as_json=as_json, prometheus=prometheus)
    return ExitCode.ATTENTION if health.attention else ExitCode.OK


def cmd_inspect(file: Path, *, password_env: str | None, password_file: Path | None, as_json: bool) -> int:
    from kstool.api import inspect  # noqa: PLC0415
    from kstool.cli.views.inspect import show_inspect  # noqa: PLC0415

    found = inspect(file, password_env=password_env, password_file=password_file)
    show_inspect(file, found.type, list(found.entries), as_json=as_json)
    return ExitCode.OK


def cmd_csr(spec_path: Path, entry: str, *, out: Path | None, output_dir: Path | None) -> int:
    from kstool.api import csr  # noqa: PLC0415
    from kstool.cli.views.spec import show_csr  # noqa: PLC0415
    from kstool.engine.fsutil import atomic_write  # noqa: PLC0415
    from kstool.errors import KstoolError  # noqa: PLC0415

    request = csr(spec_path, entry, output_dir=output_dir)
    if out is None:
        show_csr(request)
        return ExitCode.OK
    try:
        atomic_write(out, request, mode=0o644)  # a request is public
    except OSError as e:
        raise KstoolError(f"--out {out}: cannot write: {e.strerror}") from None
    return ExitCode.OK
