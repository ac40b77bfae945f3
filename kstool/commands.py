"""Each command is a function that returns an exit code; cli.py only wires flags to these."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kstool.errors import KstoolError
from kstool.output import Line, Out, json_text

if TYPE_CHECKING:
    from kstool.executor import ApplyResult, Reporter
    from kstool.inputs import Inputs
    from kstool.observe import Observed
    from kstool.plan import Plan
    from kstool.spec.model import Spec

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


def warn(message: str) -> None:
    Out(stderr=True).line(("kstool: warning:", "yellow"), f" {message}")


@dataclass(frozen=True, slots=True)
class Context:
    spec: Spec
    inputs: Inputs
    observed: Observed
    plan: Plan
    root: Path


@dataclass(frozen=True, slots=True)
class Options:
    """What plan and apply share; defaults are the safe choices."""

    output_dir: Path | None = None
    strict_permissions: bool = False  # a password file readable by group/others is an error, not a warning
    replace_unreadable: bool = False  # rebuild artifacts that cannot be opened (the old file is backed up)
    backups: bool = True
    lock_timeout: float = 0.0
    jobs: int = 0  # processes for RSA key generation and for encoding/decoding many stores; 0 = one per core

    @property
    def effective_jobs(self) -> int:
        return self.jobs or os.cpu_count() or 1


def output_root(spec_path: Path, output_dir: Path | None) -> Path:
    if output_dir is None:
        return spec_path.parent
    # the output folder, or the first of its parents that exists, must be a folder
    for folder in (output_dir, *output_dir.parents):
        try:
            is_dir = folder.is_dir()
            exists = is_dir or folder.exists()
        except OSError as e:
            raise KstoolError(f"--output-dir {output_dir}: cannot look at {folder}: {e.strerror}") from None
        if not exists:
            continue
        if not is_dir:
            below = "is not a directory" if folder == output_dir else f"is below {folder}, which is not a directory"
            raise KstoolError(f"--output-dir {output_dir} {below}: choose a folder")
        break
    return output_dir


def writable_root(root: Path) -> None:
    """Create the output folder (0700) if needed and make sure apply can write in it, before taking the lock."""
    from kstool.fsutil import make_private_dirs  # noqa: PLC0415

    try:
        make_private_dirs(root)  # parents too: 0700 whatever the umask
    except OSError as e:
        raise KstoolError(f"cannot create the output folder {root}: {e.strerror}; choose a folder you can write "
                          "(--output-dir)") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise KstoolError(f"the output folder {root} is not writable; fix its permissions or choose another "
                          "folder (--output-dir)")


def _check_destroy(plan: Plan) -> None:
    """prevent_destroy: true turns a plan that destroys one of the keystore's private keys into an error."""
    protected = {k.name for k in plan.keystores if k.prevent_destroy}
    hits = [d for d in plan.destroyed_keys() if d.keystore in protected]
    if hits:
        from kstool.plan import Action  # noqa: PLC0415

        what = "; ".join(f"{d.keystore}/{d.alias} ({d.action.value}: {d.reason})" for d in hits)
        gone = [d.keystore for d in hits if d.action is Action.DELETE and d.reason == "keystore not in spec"]
        fix = ("put the keystore back in the spec, or apply once with it and prevent_destroy: false" if gone
               else "change the spec so its keys are kept, or set prevent_destroy: false to allow it")
        raise KstoolError(f"this plan destroys private keys of keystore(s) with prevent_destroy: true: {what}; "
                          f"{fix}")


def prepare(spec_path: Path, options: Options) -> Context:
    """Load, resolve and observe, then plan: everything but writing."""
    from kstool.inputs import resolve_inputs  # noqa: PLC0415
    from kstool.lockfile import read_lock, spec_owner  # noqa: PLC0415
    from kstool.observe import observe  # noqa: PLC0415
    from kstool.plan import Action  # noqa: PLC0415
    from kstool.planner import compute_plan  # noqa: PLC0415
    from kstool.spec.model import check_outputs, load_spec  # noqa: PLC0415

    spec = load_spec(spec_path)
    root = output_root(spec_path, options.output_dir)
    if root.resolve() != spec.base_dir:
        check_outputs(spec, root.resolve())  # load_spec checked them against the spec's folder
    inputs = resolve_inputs(spec, os.environ)
    for message in inputs.warnings:
        if options.strict_permissions:
            raise KstoolError(message.replace("is readable", "must not be readable", 1) + " (--strict-permissions)")
        warn(message)
    lock = read_lock(root)
    owner = spec_owner(spec_path, root)
    observed = observe(spec, inputs, root, lock, tolerate_unreadable=options.replace_unreadable,
                       jobs=options.effective_jobs, owner=owner)
    plan = compute_plan(spec, inputs, observed, output_root=str(root))
    # the fast path leaves keys encrypted; a store that will be rewritten is opened in full, then re-planned
    changed = frozenset(c.name for c in plan.keystores if c.action is not Action.NOOP
                        and c.name in observed.stores and observed.stores[c.name].partial)
    if changed:
        observed = observe(spec, inputs, root, lock, tolerate_unreadable=options.replace_unreadable,
                           jobs=options.effective_jobs, full=changed, owner=owner)
        plan = compute_plan(spec, inputs, observed, output_root=str(root))
    _check_destroy(plan)
    if not plan.has_changes:
        from kstool.executor import lock_is_current  # noqa: PLC0415

        plan = replace(plan, lock_update=not lock_is_current(root, spec, inputs, plan, observed))
    return Context(spec, inputs, observed, plan, root)


def cmd_validate(spec_path: Path) -> int:
    from kstool.spec.model import load_spec  # noqa: PLC0415

    spec = load_spec(spec_path)
    n_entries = sum(len(k.entries) for k in spec.keystores)
    # plain output: validate is the command people run most, and rich costs start-up time
    sys.stdout.write(f"{spec_path}: valid ({len(spec.keystores)} keystore(s), {n_entries} entries)\n")
    return EXIT_OK


def cmd_plan(spec_path: Path, options: Options, *, as_json: bool, detailed_exitcode: bool, verbose: bool) -> int:
    ctx = prepare(spec_path, options)
    _show_plan(ctx.plan, as_json=as_json, verbose=verbose)
    return EXIT_CHANGES if detailed_exitcode and ctx.plan.has_changes else EXIT_OK


def _show_plan(plan: Plan, *, as_json: bool, verbose: bool) -> dict[str, Any]:
    from kstool.render.human import render_plan  # noqa: PLC0415
    from kstool.render.json import plan_to_dict  # noqa: PLC0415

    data = plan_to_dict(plan)
    if as_json:
        print(json_text(data))
    else:
        render_plan(data, Out(), verbose=verbose)
    return data


def cmd_apply(spec_path: Path, options: Options, *, as_json: bool, verbose: bool) -> int:
    from kstool.applylock import apply_lock  # noqa: PLC0415
    from kstool.executor import execute, source_date_epoch_or  # noqa: PLC0415
    from kstool.transaction import clean_stray_temp_files  # noqa: PLC0415

    wall = datetime.now(UTC).replace(microsecond=0)
    root = output_root(spec_path, options.output_dir)
    writable_root(root)
    with apply_lock(root, timeout=options.lock_timeout) as root_fd:
        ctx = prepare(spec_path, options)
        folders = {root, *((root / k.path).parent for k in ctx.plan.keystores)}
        stray = clean_stray_temp_files(folders)
        if not as_json:
            _show_plan(ctx.plan, as_json=False, verbose=verbose)
        # with no changes this writes nothing, except a missing or stale lock file
        with _progress(enabled=not as_json) as reporter:
            result = execute(ctx.plan, ctx.spec, ctx.inputs, ctx.observed, ctx.root,
                             now=source_date_epoch_or(wall), backups=options.backups,
                             stamp=wall.strftime("%Y%m%dT%H%M%SZ"), jobs=options.effective_jobs,
                             reporter=reporter, root_fd=root_fd)
    if as_json:
        _print_json_result(ctx.plan, result)
        return EXIT_OK
    lines: list[Line] = []
    lines += [[("removed", "yellow"), f" stray temp file {temp} (left by an interrupted apply)"] for temp in stray]
    lines += [[("created", "green"), f" password file {path} (0600)"] for path in result.password_files]
    lines += [[("backup", "cyan"), f"  {path}"] for path in result.backups]
    lines += [[("pruned", "yellow"), f"  old backup {path}"] for path in result.pruned_backups]
    lines += [[("wrote", "green"), f"   {path}"] for path in result.written]
    lines += [[("deleted", "red"), f" {path}"] for path in result.deleted]
    if result.lock_written:
        lines.append([("wrote", "green"), "   kstool.lock"])
    if ctx.plan.has_changes:
        lines.append([("Apply complete:", "bold green"), f" {len(result.written)} written, {len(result.deleted)} "
                      f"deleted, {len(result.backups)} backed up."])
    Out().lines(lines)
    return EXIT_OK


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Reporter]:
    """A progress bar for key generation, on a terminal only, and only when there is enough to wait for."""
    from kstool.executor import Reporter  # noqa: PLC0415

    if not enabled or not sys.stderr.isatty():  # rich only where a bar can be drawn (NO_COLOR keeps the bar)
        yield Reporter()
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import Progress  # noqa: PLC0415

    out = Console(stderr=True)

    # redrawn on each step rather than by a refresh thread: the key-generation pool forks only a single-threaded
    # process (kstool.parallel)
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


def _print_json_result(plan: Plan, result: ApplyResult) -> None:
    from kstool.render.json import plan_to_dict  # noqa: PLC0415

    doc = plan_to_dict(plan)
    doc["applied"] = {"written": list(result.written), "deleted": list(result.deleted),
                      "backups": list(result.backups), "password_files_created": list(result.password_files),
                      "lock_written": result.lock_written, "pruned_backups": list(result.pruned_backups)}
    print(json_text(doc))


def cmd_schema() -> int:
    from kstool.spec.validate import schema_text  # noqa: PLC0415

    sys.stdout.write(schema_text())
    return EXIT_OK


def cmd_inspect(file: Path, *, password_env: str | None, password_file: Path | None, as_json: bool) -> int:
    from kstool.facts import inspect_entry  # noqa: PLC0415
    from kstool.formats.codec import decode  # noqa: PLC0415
    from kstool.formats.entries import detect_type  # noqa: PLC0415
    from kstool.observe import read_artifact  # noqa: PLC0415

    password = _inspect_password(password_env, password_file)
    found = read_artifact(file, str(file))
    if found is None:
        raise KstoolError(f"{file}: no such file")
    data = found[0]
    store_type = detect_type(data)
    if store_type is None:
        raise KstoolError(f"{file} is not a JKS, JCEKS or PKCS12 keystore")
    try:
        entries = decode(data, store_type, password)
        now = datetime.now(UTC)
        facts = [inspect_entry(e, now) for e in entries]
    except KstoolError as e:
        raise KstoolError(f"{file}: {e}") from None
    if as_json:
        doc = {"format_version": 1, "path": str(file), "type": store_type, "entries": facts}
        print(json_text(doc))
        return EXIT_OK
    _render_inspect(file, store_type, facts)
    return EXIT_OK


def _render_inspect(file: Path, store_type: str, facts: list[dict[str, Any]]) -> None:
    """Like ``keytool -list -v``: every certificate of every chain, with its extensions."""
    lines = [f"Keystore type: {store_type.upper()}",
             f"Your keystore contains {len(facts)} entr{'y' if len(facts) == 1 else 'ies'}"]
    for f in facts:
        kind = "PrivateKeyEntry" if f["kind"] == "key" else "trustedCertEntry"
        lines += ["", f"Alias name: {f['alias']}", f"Entry type: {kind}"]
        if f["kind"] == "key":
            lines.append(f"Certificate chain length: {len(f['chain'])}")
        for i, cert in enumerate(f["chain"], 1):
            if f["kind"] == "key":
                lines.append(f"Certificate[{i}]:")
            lines += _certificate_lines(cert)
    Out().lines([text] for text in lines[:-1])  # no blank line after the last certificate


def _certificate_lines(c: dict[str, Any]) -> list[str]:
    days = c["days_left"]
    left = f"{days} day{'' if days == 1 else 's'} left" if days >= 0 else f"EXPIRED {-days} day(s) ago"
    key = c["key"]
    key_text = f"{key['algorithm']} {key['size']}" if key["size"] else key["algorithm"]
    if key["curve"]:
        key_text += f" ({key['curve']})"
    lines = [f"Owner: {c['subject']}", f"Issuer: {c['issuer']}", f"Serial number: {c['serial']}",
             f"Valid from: {c['not_before']} until: {c['not_after']} ({left})",
             "Certificate fingerprints:", f"   SHA1: {_colon_hex(c['sha1'])}", f"   SHA256: {_colon_hex(c['sha256'])}",
             f"Signature algorithm name: {c['signature_algorithm']}", f"Subject Public Key Algorithm: {key_text}",
             f"Version: {c['version']}"]
    described = [("Subject alternative names", ", ".join(c["subject_alt_names"]) if c["subject_alt_names"] else None),
                 ("Key usage", _joined(c["key_usage"])), ("Extended key usage", _joined(c["extended_key_usage"])),
                 ("Basic constraints", _constraints(c["basic_constraints"])),
                 ("Subject key identifier", _colon_hex(c["subject_key_identifier"] or "") or None),
                 ("Authority key identifier", _colon_hex(c["authority_key_identifier"] or "") or None)]
    shown = {"subjectAltName", "keyUsage", "extendedKeyUsage", "basicConstraints", "subjectKeyIdentifier",
             "authorityKeyIdentifier"}
    others = [f"{e['name']}{' (critical)' if e['critical'] else ''}" for e in c["extensions"] if e["name"] not in shown]
    described.append(("Other extensions", ", ".join(others) or None))
    if c["extensions"]:
        lines += ["Extensions:", *(f"  {name}: {value}" for name, value in described if value is not None)]
    return [*lines, ""]


def _joined(items: list[str] | None) -> str | None:
    return None if items is None else ", ".join(items) or "none"


def _constraints(value: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    length = "" if value["path_length"] is None else f", path length {value['path_length']}"
    return f"CA:{str(value['ca']).lower()}{length}"


def _colon_hex(hexdigest: str) -> str:
    return ":".join(hexdigest[i:i + 2] for i in range(0, len(hexdigest), 2)).upper()


def _inspect_password(password_env: str | None, password_file: Path | None) -> str:
    """The store password, read by the same rules as a spec's password references (kstool.secrets)."""
    from kstool.secrets import check_env_text, read_password_file  # noqa: PLC0415

    if (password_env is None) == (password_file is None):
        raise KstoolError("inspect needs the store password: give --password-env VAR or --password-file FILE")
    if password_env is not None:
        value = os.environ.get(password_env)
        if value is None:
            raise KstoolError(f"environment variable {password_env} is not set")
        if value == "":
            raise KstoolError(f"environment variable {password_env} is set but empty")
        check_env_text(password_env, value)
        return value
    assert password_file is not None
    found = read_password_file(password_file, str(password_file))
    if found is None:
        raise KstoolError(f"password file {password_file} does not exist")
    return found[0]


def cmd_verify(spec_path: Path, output_dir: Path | None, *, as_json: bool) -> int:
    """Rebuild every artifact in memory; check the files on disk and kstool.lock hold exactly that."""
    from kstool.verify import verify  # noqa: PLC0415

    root = output_root(spec_path, output_dir)
    report = verify(spec_path, root)
    for message in report.warnings:
        warn(message)
    if as_json:
        doc = {"format_version": 1, "ok": report.ok,
               "artifacts": [{"name": a.name, "path": a.path, "ok": not a.problems, "problems": list(a.problems)}
                             for a in report.artifacts]}
        print(json_text(doc))
    else:
        lines: list[Line] = []
        for a in report.artifacts:
            if a.problems:
                lines.append([("DRIFT", "red"), f" {a.path} (keystore {a.name})"])
                lines += [[f"      {problem}"] for problem in a.problems]
            else:
                lines.append([("ok", "green"), f"    {a.path}"])
        drifted = sum(1 for a in report.artifacts if a.problems)
        if drifted:
            lines.append([("Verify failed:", "bold red"),
                          f" {drifted} of {len(report.artifacts)} artifact(s) drifted."])
        else:
            lines.append([("Verified:", "bold green"),
                          f" {len(report.artifacts)} artifact(s) match the spec and kstool.lock."])
        Out().lines(lines)
    return EXIT_OK if report.ok else EXIT_ERROR
