"""kstool's Python API: what the commands do, without a subprocess, without printing and without exiting.

Public and covered by semantic versioning (README, "Python API"): the functions and types this module lists in
``__all__``, and the exception types of ``kstool.errors``. Everything else in the ``kstool`` package is internal
and may change in any release, including the ``plan``/``applied``/``report``/``health``/``model`` attributes of the
results below, which hand out internal engine objects for callers that accept that.

Each result is a frozen dataclass with the few facts a caller branches on (``changes``, ``ok``, ``healthy``...)
and ``to_dict()``: exactly the document the command's ``--json`` output prints (``format_version`` inside), typed
as a ``TypedDict`` at its top level. Failures raise ``kstool.errors.KstoolError`` (or a subclass); when a run
finds several independent problems they come together as one ``kstool.errors.MultiError`` whose ``errors`` holds
each one. Secrets never appear in results, warnings or exceptions.

Example::

    from kstool import api
    from kstool.errors import KstoolError

    try:
        plan = api.plan("kstool.yaml")
        if plan.changes:
            api.apply("kstool.yaml")
        assert api.verify("kstool.yaml").ok
    except KstoolError as e:
        print(f"kstool: {e}")

Passwords come from where the spec says (``{env: VAR}`` references read ``os.environ``, ``{file: PATH}``
references read files), as for the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict, cast

from kstool.errors import Collector, KstoolError

if TYPE_CHECKING:
    from kstool.engine import Context, Options
    from kstool.engine.check import Health
    from kstool.engine.execute import ApplyResult as _Applied
    from kstool.engine.plan import Plan
    from kstool.engine.verify import VerifyReport
    from kstool.spec.model import Spec

__all__ = [
    "AppliedDocument", "ApplyDocument", "ApplyResult", "ArtifactStatus", "CheckDocument", "CheckResult",
    "InspectDocument", "InspectResult", "PlanDocument", "PlanResult", "ProgressReporter", "ValidSpec",
    "VerifyDocument", "VerifyResult", "apply", "check", "csr", "inspect", "load_spec", "plan", "schema",
    "validate", "verify",
]

StrPath = str | os.PathLike[str]
Warn = Callable[[str], None]


# ---- the JSON documents (the --json outputs), typed at their top level ----------------------------------------

class PlanDocument(TypedDict):
    """``kstool plan --json``; nested objects are documented in README ("Machine-readable plan")."""

    format_version: int
    spec: str
    output_root: str
    changes: bool
    lock_file: Literal["update", "current"]
    summary: dict[str, int]
    entry_summary: dict[str, int]
    keystores: list[dict[str, Any]]
    destroyed_keys: list[dict[str, Any]]
    left_alone: list[dict[str, str]]
    other_specs: list[dict[str, str]]


class AppliedDocument(TypedDict):
    written: list[str]
    deleted: list[str]
    backups: list[str]
    password_files_created: list[str]
    lock_written: bool
    pruned_backups: list[str]


class ApplyDocument(PlanDocument):
    """``kstool apply --json``: the plan that was applied, and what apply wrote."""

    applied: AppliedDocument


class VerifyDocument(TypedDict):
    """``kstool verify --json``."""

    format_version: int
    ok: bool
    artifacts: list[dict[str, Any]]  # {"name", "path", "ok", "problems": [str]}


class CheckDocument(TypedDict):
    """``kstool check --json``."""

    format_version: int
    spec: str
    now: str
    horizon_days: int
    healthy: bool
    keystores: list[dict[str, Any]]
    warnings: list[str]
    drift: list[str]


class InspectDocument(TypedDict):
    """``kstool inspect --json``."""

    format_version: int
    path: str
    type: str
    entries: list[dict[str, Any]]


# ---- results ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ValidSpec:
    """A spec that passed ``validate``: its path (as given), keystore names and number of entries."""

    path: Path
    keystores: tuple[str, ...]
    entries: int
    model: Spec = field(repr=False, compare=False)  # internal: kstool.spec.model.Spec


@dataclass(frozen=True, slots=True)
class PlanResult:
    """What ``apply`` would do. ``changes`` is what ``plan --detailed-exitcode`` exits 2 for."""

    changes: bool
    warnings: tuple[str, ...]
    plan: Plan = field(repr=False, compare=False)  # internal: kstool.engine.plan.Plan

    def to_dict(self) -> PlanDocument:
        from kstool.cli.views.plan import plan_to_dict  # noqa: PLC0415

        return cast(PlanDocument, plan_to_dict(self.plan))


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What ``apply`` did: the plan it carried out and the files it wrote, deleted and backed up (paths as shown
    by the CLI), and the temp files of an interrupted apply it removed first."""

    changes: bool
    written: tuple[str, ...]
    deleted: tuple[str, ...]
    backups: tuple[str, ...]
    password_files_created: tuple[str, ...]
    lock_written: bool
    pruned_backups: tuple[str, ...]
    stray_temp_files: tuple[Path, ...]
    warnings: tuple[str, ...]
    plan: Plan = field(repr=False, compare=False)  # internal: kstool.engine.plan.Plan
    applied: _Applied = field(repr=False, compare=False)  # internal: kstool.engine.execute.ApplyResult

    def to_dict(self) -> ApplyDocument:
        from kstool.cli.views.apply import applied_to_dict  # noqa: PLC0415

        return cast(ApplyDocument, applied_to_dict(self.plan, self.applied))


@dataclass(frozen=True, slots=True)
class ArtifactStatus:
    name: str  # the keystore's name in the spec
    path: str
    problems: tuple[str, ...]  # empty when the file is exactly what the spec and kstool.lock say

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """``ok`` is False when any artifact drifted (``kstool verify`` exits 1)."""

    ok: bool
    artifacts: tuple[ArtifactStatus, ...]
    warnings: tuple[str, ...]
    report: VerifyReport = field(repr=False, compare=False)  # internal: kstool.engine.verify.VerifyReport

    def to_dict(self) -> VerifyDocument:
        from kstool.cli.views.verify import verify_to_dict  # noqa: PLC0415

        return cast(VerifyDocument, verify_to_dict(self.report))


@dataclass(frozen=True, slots=True)
class CheckResult:
    """``healthy`` is False when anything needs attention (``kstool check`` exits 2)."""

    healthy: bool
    warnings: tuple[str, ...]
    health: Health = field(repr=False, compare=False)  # internal: kstool.engine.check.Health

    def to_dict(self) -> CheckDocument:
        from kstool.cli.views.check import health_to_dict  # noqa: PLC0415

        return cast(CheckDocument, health_to_dict(self.health))

    def prometheus(self) -> str:
        """The Prometheus text format ``kstool check --prometheus`` prints."""
        from kstool.cli.views.check import prometheus_text  # noqa: PLC0415

        return prometheus_text(self.health)


@dataclass(frozen=True, slots=True)
class InspectResult:
    path: Path
    type: str  # jks | jceks | pkcs12
    entries: tuple[dict[str, Any], ...]  # public facts per entry, in store order (as in inspect --json)

    def to_dict(self) -> InspectDocument:
        return {"format_version": 1, "path": str(self.path), "type": self.type, "entries": list(self.entries)}


class ProgressReporter(Protocol):
    """Progress of a long apply: ``start(total)`` once, then ``advance()`` per key or artifact."""

    def start(self, total: int) -> None: ...

    def advance(self) -> None: ...


# ---- functions --------------------------------------------------------------------------------------------

def load_spec(spec: StrPath) -> ValidSpec:
    """Load and validate one spec (schema and cross-references; no secrets or input files needed).

    Raises ``KstoolError`` (a ``MultiError`` when the spec has several mistakes), each naming file:line:column.
    """
    from kstool.spec.model import load_spec as _load  # noqa: PLC0415

    path = Path(spec)
    model = _load(path)
    return ValidSpec(path, tuple(k.name for k in model.keystores), sum(len(k.entries) for k in model.keystores),
                     model)


def validate(*specs: StrPath) -> tuple[ValidSpec, ...]:
    """Validate several specs at once; every mistake of every file is raised together (``MultiError``, in file,
    line, column order), else one ``ValidSpec`` per file, in the order given."""
    if not specs:
        raise KstoolError("validate needs at least one spec file")
    errors = Collector()
    found = [errors.attempt(partial(load_spec, s)) for s in specs]
    errors.raise_all()
    return tuple(v for v in found if v is not None)


def plan(spec: StrPath, *, output_dir: StrPath | None = None, strict_permissions: bool = False,
         replace_unreadable: bool = False, jobs: int = 0, warn: Warn | None = None) -> PlanResult:
    """What ``apply`` would do (``kstool plan``). Reads the passwords and every input; writes nothing.

    ``warn`` receives each warning as it arises (all of them are also in the result's ``warnings``).
    """
    from kstool.engine import Options  # noqa: PLC0415

    return run_plan(Path(spec), Options(_path(output_dir), strict_permissions, replace_unreadable, jobs=jobs),
                    warn=warn)


def apply(spec: StrPath, *, output_dir: StrPath | None = None, backups: bool = True, lock_timeout: float = 0.0,
          strict_permissions: bool = False, replace_unreadable: bool = False, jobs: int = 0,
          warn: Warn | None = None, on_plan: Callable[[PlanResult], object] | None = None,
          progress: Callable[[], AbstractContextManager[ProgressReporter]] | None = None) -> ApplyResult:
    """Make the artifacts match the spec, all or nothing (``kstool apply``); a second apply writes nothing.

    ``on_plan`` is called with the plan before anything is written; ``progress`` makes a context manager
    entered around the writing, whose reporter hears of each key generated. Raises ``KstoolError``: exit code
    5 (``errors.ExitCode.LOCKED``) when another apply holds the lock, 4 when restoring the old files failed.
    """
    from kstool.engine import Options  # noqa: PLC0415

    options = Options(_path(output_dir), strict_permissions, replace_unreadable, backups, lock_timeout, jobs)
    return run_apply(Path(spec), options, warn=warn, on_plan=on_plan, progress=progress)


def verify(spec: StrPath, *, output_dir: StrPath | None = None, jobs: int = 0) -> VerifyResult:
    """Rebuild every artifact in memory and compare it with the file and kstool.lock (``kstool verify``).

    Drift is a result (``ok`` False, each artifact's ``problems``), not an exception.
    """
    from kstool.engine import Options  # noqa: PLC0415
    from kstool.engine.verify import verify as _verify  # noqa: PLC0415

    report = _verify(Path(spec), _path(output_dir), jobs=Options(jobs=jobs).effective_jobs)
    artifacts = tuple(ArtifactStatus(a.name, a.path, a.problems) for a in report.artifacts)
    return VerifyResult(report.ok, artifacts, report.warnings, report)


def check(spec: StrPath, *, output_dir: StrPath | None = None, horizon_days: int = 30) -> CheckResult:
    """The estate's health, read only (``kstool check``): expiry, renewal due, weak protection, drift."""
    from kstool.engine.check import check as _check  # noqa: PLC0415

    health = _check(Path(spec), _path(output_dir), horizon_days=horizon_days)
    return CheckResult(not health.attention, health.warnings, health)


def inspect(file: StrPath, *, password_env: str | None = None, password_file: StrPath | None = None) -> InspectResult:
    """Any keystore's public facts (``kstool inspect``); the password from an environment variable or a file."""
    from kstool.engine.inspection import inspect_store  # noqa: PLC0415

    path = Path(file)
    found = inspect_store(path, password_env=password_env, password_file=_path(password_file))
    return InspectResult(path, found.type, tuple(found.entries))


def csr(spec: StrPath, entry: str, *, output_dir: StrPath | None = None) -> bytes:
    """A PEM PKCS#10 request for the generated entry ``KEYSTORE/ALIAS`` that apply has stored (``kstool csr``)."""
    from kstool.engine.csr import make_csr  # noqa: PLC0415

    return make_csr(Path(spec), entry, _path(output_dir))


def schema() -> dict[str, Any]:
    """The spec's JSON Schema (``kstool schema``)."""
    import json  # noqa: PLC0415

    from kstool.spec.validate import schema_text  # noqa: PLC0415

    return cast(dict[str, Any], json.loads(schema_text()))


# ---- internal: the CLI's entry points (they take the engine's Options as a whole) ----------------------------

def run_plan(spec_path: Path, options: Options, *, warn: Warn | None = None) -> PlanResult:
    """Internal (``kstool.cli.commands``): ``plan`` with the engine's ``Options``."""
    from kstool.engine import prepare  # noqa: PLC0415

    warnings, warn_all = _warnings(warn)
    ctx = prepare(spec_path, options, warn=warn_all)
    return PlanResult(ctx.plan.has_changes, tuple(warnings), ctx.plan)


def run_apply(spec_path: Path, options: Options, *, warn: Warn | None = None,
              on_plan: Callable[[PlanResult], object] | None = None,
              progress: Callable[[], AbstractContextManager[ProgressReporter]] | None = None,
              check: Callable[[Context], None] | None = None) -> ApplyResult:
    """Internal (``kstool.cli.commands``): ``apply`` with the engine's ``Options``; ``check`` (a saved plan) may
    refuse the plan before anything is written."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from kstool.engine import output_root, prepare, writable_root  # noqa: PLC0415
    from kstool.engine.commit import clean_stray_temp_files  # noqa: PLC0415
    from kstool.engine.execute import Reporter, execute, source_date_epoch_or  # noqa: PLC0415
    from kstool.engine.writer_lock import apply_lock  # noqa: PLC0415

    warnings, warn_all = _warnings(warn)
    wall = datetime.now(UTC).replace(microsecond=0)
    root = output_root(spec_path, options.output_dir)
    writable_root(root)
    with apply_lock(root, timeout=options.lock_timeout) as root_fd:
        ctx = prepare(spec_path, options, warn=warn_all, root=root)
        if check is not None:
            check(ctx)
        folders = {root, *((root / k.path).parent for k in ctx.plan.keystores)}
        stray = clean_stray_temp_files(folders)
        if on_plan is not None:
            on_plan(PlanResult(ctx.plan.has_changes, tuple(warnings), ctx.plan))
        # with no changes this writes nothing, except a missing or stale lock file
        reporting: AbstractContextManager[ProgressReporter] = progress() if progress else nullcontext(Reporter())
        with reporting as reporter:
            result = execute(ctx.plan, ctx.spec, ctx.inputs, ctx.observed, ctx.root,
                             now=source_date_epoch_or(wall), backups=options.backups,
                             stamp=wall.strftime("%Y%m%dT%H%M%SZ"), jobs=options.effective_jobs,
                             reporter=cast(Reporter, reporter), root_fd=root_fd)
    return ApplyResult(ctx.plan.has_changes, result.written, result.deleted, result.backups, result.password_files,
                       result.lock_written, result.pruned_backups, tuple(stray), tuple(warnings), ctx.plan, result)


def _warnings(warn: Warn | None) -> tuple[list[str], Warn]:
    collected: list[str] = []

    def both(message: str) -> None:
        collected.append(message)
        if warn is not None:
            warn(message)

    return collected, both


def _path(value: StrPath | None) -> Path | None:
    return None if value is None else Path(value)
