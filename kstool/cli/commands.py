"""Each command calls the engine, hands the result to a view and returns an exit code; ``app`` wires flags to these.

Imports stay inside the functions: ``kstool validate`` (the fast path in ``kstool.cli``) must not load the
cryptography stack, and ``--help`` loads nothing here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from kstool.cli.views.console import warn
from kstool.engine import Options
from kstool.errors import ExitCode


def cmd_validate(spec_path: Path) -> int:
    from kstool.cli.views.spec import show_valid  # noqa: PLC0415
    from kstool.spec.model import load_spec  # noqa: PLC0415

    show_valid(spec_path, load_spec(spec_path))
    return ExitCode.OK


def cmd_schema() -> int:
    from kstool.cli.views.spec import show_schema  # noqa: PLC0415

    show_schema()
    return ExitCode.OK


def cmd_plan(spec_path: Path, options: Options, *, as_json: bool, detailed_exitcode: bool, verbose: bool) -> int:
    from kstool.cli.views.plan import show_plan  # noqa: PLC0415
    from kstool.engine import prepare  # noqa: PLC0415

    ctx = prepare(spec_path, options, warn=warn)
    show_plan(ctx.plan, as_json=as_json, verbose=verbose)
    return ExitCode.CHANGES if detailed_exitcode and ctx.plan.has_changes else ExitCode.OK


def cmd_apply(spec_path: Path, options: Options, *, as_json: bool, verbose: bool) -> int:
    from kstool.cli.views.apply import progress, show_applied, show_applied_json  # noqa: PLC0415
    from kstool.cli.views.plan import show_plan  # noqa: PLC0415
    from kstool.engine import output_root, prepare, writable_root  # noqa: PLC0415
    from kstool.engine.commit import clean_stray_temp_files  # noqa: PLC0415
    from kstool.engine.execute import execute, source_date_epoch_or  # noqa: PLC0415
    from kstool.engine.writer_lock import apply_lock  # noqa: PLC0415

    wall = datetime.now(UTC).replace(microsecond=0)
    root = output_root(spec_path, options.output_dir)
    writable_root(root)
    with apply_lock(root, timeout=options.lock_timeout) as root_fd:
        ctx = prepare(spec_path, options, warn=warn, root=root)
        folders = {root, *((root / k.path).parent for k in ctx.plan.keystores)}
        stray = clean_stray_temp_files(folders)
        if not as_json:
            show_plan(ctx.plan, as_json=False, verbose=verbose)
        # with no changes this writes nothing, except a missing or stale lock file
        with progress(enabled=not as_json) as reporter:
            result = execute(ctx.plan, ctx.spec, ctx.inputs, ctx.observed, ctx.root,
                             now=source_date_epoch_or(wall), backups=options.backups,
                             stamp=wall.strftime("%Y%m%dT%H%M%SZ"), jobs=options.effective_jobs,
                             reporter=reporter, root_fd=root_fd)
    if as_json:
        show_applied_json(ctx.plan, result)
    else:
        show_applied(ctx.plan, result, stray)
    return ExitCode.OK


def cmd_verify(spec_path: Path, output_dir: Path | None, *, as_json: bool) -> int:
    """Rebuild every artifact in memory; check the files on disk and kstool.lock hold exactly that."""
    from kstool.cli.views.verify import show_verify  # noqa: PLC0415
    from kstool.engine.verify import verify  # noqa: PLC0415

    report = verify(spec_path, output_dir)
    for message in report.warnings:
        warn(message)
    show_verify(report, as_json=as_json)
    return ExitCode.OK if report.ok else ExitCode.ERROR


def cmd_check(spec_path: Path, output_dir: Path | None, *, horizon_days: int, as_json: bool,
              prometheus: bool) -> int:
    """The estate's health, read only: 0 healthy, 2 attention needed (errors exit 1 at the boundary)."""
    from kstool.cli.views.check import show_check  # noqa: PLC0415
    from kstool.engine.check import check  # noqa: PLC0415

    health = check(spec_path, output_dir, horizon_days=horizon_days)
    for message in health.warnings:
        warn(message)
    show_check(health, as_json=as_json, prometheus=prometheus)
    return ExitCode.ATTENTION if health.attention else ExitCode.OK


def cmd_inspect(file: Path, *, password_env: str | None, password_file: Path | None, as_json: bool) -> int:
    from kstool.cli.views.inspect import show_inspect  # noqa: PLC0415
    from kstool.engine.inspection import inspect_store  # noqa: PLC0415

    found = inspect_store(file, password_env=password_env, password_file=password_file)
    show_inspect(file, found.type, found.entries, as_json=as_json)
    return ExitCode.OK


def cmd_csr(spec_path: Path, entry: str, *, out: Path | None, output_dir: Path | None) -> int:
    from kstool.cli.views.spec import show_csr  # noqa: PLC0415
    from kstool.engine.csr import make_csr  # noqa: PLC0415
    from kstool.engine.fsutil import atomic_write  # noqa: PLC0415
    from kstool.errors import KstoolError  # noqa: PLC0415

    request = make_csr(spec_path, entry, output_dir)
    if out is None:
        show_csr(request)
        return ExitCode.OK
    try:
        atomic_write(out, request, mode=0o644)  # a request is public
    except OSError as e:
        raise KstoolError(f"--out {out}: cannot write: {e.strerror}") from None
    return ExitCode.OK


def cmd_adopt(stores: list[Path], *, out: Path | None, certs_dir: Path | None, options: object, force: bool) -> int:
    """Existing keystores -> a spec that keeps every key (``kstool.engine.adopt``), planned before it is written."""
    from kstool.cli.views.adopt import render_spec, show_written  # noqa: PLC0415
    from kstool.engine import prepare  # noqa: PLC0415
    from kstool.engine.adopt import PasswordOptions, survey, write_adoption  # noqa: PLC0415

    assert isinstance(options, PasswordOptions)
    spec_path = out if out is not None else (stores[0].parent if stores else Path()) / "kstool.yaml"
    adoption = survey(stores, out=spec_path, certs_dir=certs_dir, options=options)
    written = write_adoption(adoption, render_spec(adoption), force=force,
                             plan_spec=lambda path: prepare(path, Options(None), warn=warn).plan)
    show_written(written)
    return ExitCode.OK
