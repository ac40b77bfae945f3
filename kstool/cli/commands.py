"""Each command calls ``kstool.api``, hands the result to a view and returns an exit code; ``app`` wires flags to these.

Imports stay inside the functions: ``kstool validate`` (the fast path in ``kstool.cli``) must not load the
cryptography stack, and ``--help`` loads nothing here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from kstool.cli.views.console import warn
from kstool.engine import Options
from kstool.errors import ExitCode

if TYPE_CHECKING:
    from kstool.engine import Context


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


def cmd_plan(spec_path: Path, options: Options, *, as_json: bool, detailed_exitcode: bool, verbose: bool,
             markdown: bool = False, no_secrets: bool = False, out: Path | None = None) -> int:
    """With ``no_secrets`` no password is read (engine/nosecrets.py); ``--detailed-exitcode`` then exits 2 for a
    known change, else 6 (UNVERIFIED) when a change could not be ruled out, else 0. ``out`` saves the plan."""
    from kstool.cli.views.plan import show_plan  # noqa: PLC0415
    from kstool.engine.savedplan import is_plan_file  # noqa: PLC0415

    if is_plan_file(spec_path):
        from kstool.errors import KstoolError  # noqa: PLC0415

        raise KstoolError(f"{spec_path} is a saved plan file, not a spec: apply it with kstool apply {spec_path}, or "
                          "plan from the spec it was made from")
    if no_secrets:
        from kstool.engine.nosecrets import prepare_public  # noqa: PLC0415

        plan = prepare_public(spec_path, options.output_dir)
        for message in plan.warnings:
            warn(message)
    else:
        from kstool.engine import prepare  # noqa: PLC0415

        ctx = prepare(spec_path, options, warn=warn)
        plan = ctx.plan
    show_plan(plan, as_json=as_json, verbose=verbose, markdown=markdown)
    if out is not None and not no_secrets:
        _save_plan(spec_path, options, ctx, out, as_json=as_json)
    if not detailed_exitcode:
        return ExitCode.OK
    if plan.has_changes:
        return ExitCode.CHANGES
    return ExitCode.UNVERIFIED if plan.has_unverified else ExitCode.OK


def _save_plan(spec_path: Path, options: Options, ctx: Context, out: Path, *, as_json: bool) -> None:
    import os  # noqa: PLC0415

    from kstool.cli.views.plan import plan_to_dict, show_saved  # noqa: PLC0415
    from kstool.engine import savedplan  # noqa: PLC0415

    document = savedplan.saved_plan(plan_to_dict(ctx.plan), savedplan.settings(spec_path, options, os.environ),
                                    savedplan.dependencies(ctx.spec, ctx), ctx.plan.now)
    savedplan.write(out, document, spec_path)
    show_saved(out, to_stderr=as_json)


def cmd_apply_saved(plan_path: Path, given: Options, *, as_json: bool, verbose: bool) -> int:
    """Apply a saved plan: its settings, then its spec, inputs, artifacts and plan must be what it recorded."""
    import dataclasses  # noqa: PLC0415
    import os  # noqa: PLC0415

    from kstool import __version__  # noqa: PLC0415
    from kstool.cli.views.plan import plan_to_dict, show_saved_matches  # noqa: PLC0415
    from kstool.engine import output_root, savedplan  # noqa: PLC0415

    saved = savedplan.read(plan_path)
    recorded = saved.settings
    differences: list[str] = []
    # the plan carries its settings; one given again on the command line must be the same
    if given.output_dir is not None and str(output_root(saved.spec_path, given.output_dir).resolve()) \
            != recorded["output_root"]:
        differences.append(f"--output-dir: the plan was made for {recorded['output_root']}, this apply names "
                           f"{given.output_dir.resolve()}")
    for flag, key, value in (("--replace-unreadable", "replace_unreadable", given.replace_unreadable),
                             ("--strict-permissions", "strict_permissions", given.strict_permissions)):
        if value and not recorded[key]:
            differences.append(f"{flag}: given to this apply, but the plan was made without it")
    if given.targets and savedplan.normalised_targets(given.targets) != recorded["targets"]:
        differences.append(f"--target: the plan was made for {' '.join(recorded['targets']) or 'every keystore'}, "
                           f"this apply names {' '.join(savedplan.normalised_targets(given.targets))}")
    options = dataclasses.replace(given, output_dir=saved.output_dir, replace_unreadable=recorded["replace_unreadable"],
                                  strict_permissions=recorded["strict_permissions"],
                                  targets=tuple(recorded["targets"]))
    differences += savedplan.setting_differences(saved, savedplan.settings(saved.spec_path, options, os.environ))
    made_with = saved.kstool_version
    if made_with is not None and made_with != __version__:
        differences.append(f"kstool version: the plan was made with {made_with}, this is {__version__}")
    spec_now = savedplan.file_digest(saved.spec_path)
    if spec_now.get("sha256") != saved.depends_on["spec_sha256"]:
        differences.append(f"the spec file {saved.spec_path} changed since the plan was made "
                           f"({savedplan.state_text(spec_now) if spec_now.get('state') != 'present' else 'new bytes'})")
    else:  # the files it recorded, before planning again (which a damaged store or input would stop)
        differences += savedplan.dependency_differences(saved.depends_on, savedplan.files_now(saved))
    if differences:
        raise savedplan.refuse(plan_path, differences)

    def check(ctx: Context) -> None:
        found = savedplan.differences(saved, savedplan.dependencies(ctx.spec, ctx), plan_to_dict(ctx.plan))
        if found:
            raise savedplan.refuse(plan_path, found)
        if not as_json:
            show_saved_matches(plan_path, saved.now)

    return cmd_apply(saved.spec_path, options, as_json=as_json, verbose=verbose, check=check)


def cmd_apply(spec_path: Path, options: Options, *, as_json: bool, verbose: bool,
              check: Callable[[Context], None] | None = None) -> int:
    from kstool.api import run_apply  # noqa: PLC0415
    from kstool.cli.views.apply import progress, show_applied, show_applied_json  # noqa: PLC0415
    from kstool.cli.views.plan import show_plan  # noqa: PLC0415

    done = run_apply(spec_path, options, warn=warn, progress=lambda: progress(enabled=not as_json), check=check,
                     on_plan=None if as_json else lambda ctx: show_plan(ctx.plan, as_json=False, verbose=verbose))
    if as_json:
        show_applied_json(done.plan, done.applied)
    else:
        show_applied(done.plan, done.applied, done.stray_temp_files)
    return ExitCode.OK


def cmd_verify(spec_path: Path, output_dir: Path | None, *, as_json: bool, jobs: int = 0) -> int:
    """Rebuild every artifact in memory; check the files on disk and kstool.lock hold exactly that."""
    from kstool.api import verify  # noqa: PLC0415
    from kstool.cli.views.verify import show_verify  # noqa: PLC0415

    report = verify(spec_path, output_dir=output_dir, jobs=jobs).report
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
