"""Saved plans: ``kstool plan SPEC --out FILE`` and ``kstool apply FILE`` (docs/plan-file.md).

A plan file records the JSON plan and a digest of everything the plan depended on: the spec's bytes, every input
file the run read (certificates, keys, source keystores, CA replies), every artifact it looked at on disk
(keystores, kstool.lock) with its mode, the settings that change a plan and the clock. It records nothing about
password values: password files are listed by path and presence only (see "Passwords" in docs/plan-file.md).

Applying it plans again, under the writer lock, and refuses, naming each difference, unless every digest, every
setting and the plan itself are what the file says. Nothing here prints; the CLI words and shows the result.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kstool.errors import KstoolError

if TYPE_CHECKING:
    from kstool.engine import Context, Options
    from kstool.spec.model import KeystoreSpec, Spec

FORMAT = "kstool-plan"
VERSION = 1
MAX_PLAN_BYTES = 64 * 1024 * 1024  # a plan of ten thousand keystores is a few MiB
MAX_DIFFERENCES = 25
MAX_DEPTH = 32  # a plan nests 6 levels (plan.keystores[].entries[].after{}); more is not a plan kstool wrote
MARKER = re.compile(rb'"format"\s*:\s*"kstool-plan"')  # also after jq -c or another JSON formatter
SNIFF_BYTES = 512
KEY_MATERIAL = ("none: this file holds no password and no private key; keys to generate are generated at apply "
                "time, imported keys are read from their files at apply time (input files, key files included, are "
                "recorded by the SHA-256 of their bytes only)")
MAX_HASHED_BYTES = 64 * 1024 * 1024  # the largest artifact observe reads (observe.MAX_STORE_BYTES)
PASSWORDS = ("not recorded: password files are listed by path and presence only; a changed password shows as a "
             "store its password no longer opens (or a different plan) when apply plans again")
CLOCK_RULE = ("apply plans again at its own time; every decision (action, reason, renewal due) must be the same "
              "as at plan time, only dates shown for certificates apply issues may move")
# plan fields that name the run's location the way the command line gave it, or that move with the clock alone
_IGNORED_PLAN_KEYS = frozenset({"spec", "output_root"})
_CLOCK_ENTRY_KEYS = frozenset({"not_after", "days_left"})


def settings(spec_path: Path, options: Options, env: Mapping[str, str]) -> dict[str, Any]:
    """The settings that change a plan, as they are for this run (resolved paths)."""
    from kstool.engine import output_root  # noqa: PLC0415

    root = output_root(spec_path, options.output_dir)
    return {
        "spec": str(spec_path.resolve()),
        "output_root": str(root.resolve()),
        "replace_unreadable": options.replace_unreadable,
        "strict_permissions": options.strict_permissions,
        "targets": normalised_targets(options.targets),
        "source_date_epoch": env.get("SOURCE_DATE_EPOCH") or None,
    }


def normalised_targets(targets: Iterable[str]) -> list[str]:
    """``--target`` values as a run reads them: sorted, unique, the alias lowercased (Java's aliases are)."""
    out = set()
    for target in targets:
        name, slash, alias = target.strip().partition("/")
        out.add(f"{name}/{alias.lower()}" if slash else name)
    return sorted(out)


_SETTING_NAMES = {
    "spec": "the spec file",
    "output_root": "the output folder (--output-dir)",
    "replace_unreadable": "--replace-unreadable",
    "strict_permissions": "--strict-permissions",
    "targets": "--target",
    "source_date_epoch": "SOURCE_DATE_EPOCH",
}


def file_digest(path: Path) -> dict[str, Any]:
    """What a file is now, links not followed: missing, not a regular file, or its SHA-256 and mode."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return {"state": "missing"}
    except OSError as e:
        return {"state": f"unreadable ({e.strerror})"}
    if not stat.S_ISREG(info.st_mode):
        return {"state": "not a regular file"}
    if info.st_size > MAX_HASHED_BYTES:
        return {"state": f"larger than {MAX_HASHED_BYTES // (1024 * 1024)} MiB"}
    digest = hashlib.sha256()
    size = 0
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                size += len(block)
                if size > MAX_HASHED_BYTES:  # a file that grows, or reports no size (/proc): read no further
                    return {"state": f"larger than {MAX_HASHED_BYTES // (1024 * 1024)} MiB"}
                digest.update(block)
    except OSError as e:
        return {"state": f"unreadable ({e.strerror})"}
    return {"state": "present", "sha256": digest.hexdigest(), "mode": f"{stat.S_IMODE(info.st_mode):04o}"}


def _input_paths(ks: KeystoreSpec) -> Iterator[Path]:
    from kstool.spec.model import Generate, ImportFiles, ImportKeystore, TrustedCertificate  # noqa: PLC0415

    for entry in ks.entries:
        source = entry.source
        if isinstance(source, ImportFiles):
            yield source.certificate
            yield source.private_key
            yield from source.chain
        elif isinstance(source, ImportKeystore):
            yield source.keystore
        elif isinstance(source, TrustedCertificate):
            yield source.certificate
        elif isinstance(source, Generate) and source.reply is not None:
            yield source.reply.certificate
            yield from source.reply.chain


def _password_paths(ks: KeystoreSpec) -> Iterator[Path]:
    from kstool.spec.model import FileRef, ImportFiles, ImportKeystore  # noqa: PLC0415

    refs: list[object] = [ks.password, ks.previous_password, ks.key_password, ks.previous_key_password]
    for entry in ks.entries:
        if isinstance(entry.source, ImportFiles):
            refs.append(entry.source.private_key_password)
        elif isinstance(entry.source, ImportKeystore):
            refs += [entry.source.password, entry.source.key_password]
    for ref in refs:
        if isinstance(ref, FileRef):
            yield ref.path


def _shown(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base).as_posix()
    except ValueError:
        return str(path.resolve())


def dependencies(spec: Spec, ctx: Context) -> dict[str, Any]:
    """Digests of what this run's plan depended on (``spec`` is the spec of the run: a --target run's part)."""
    from kstool.engine.lockfile import LOCK_NAME  # noqa: PLC0415

    base = spec.base_dir
    inputs = {_shown(p, base): p for ks in spec.keystores for p in _input_paths(ks)}
    passwords = {_shown(p, base): p for ks in spec.keystores for p in _password_paths(ks)}
    root = ctx.root
    artifacts = {LOCK_NAME} | {p for k in ctx.plan.keystores for p in (k.path, k.moved_from) if p} \
        | {p for _, p, _ in ctx.plan.left_alone}
    return {
        "spec_sha256": file_digest(spec.file).get("sha256", ""),
        "inputs": {name: file_digest(path) for name, path in sorted(inputs.items())},
        # presence only: a digest of a password file would let anyone holding the plan test guesses offline
        "password_files": {name: {"state": "present" if os.path.lexists(path) else "missing"}
                           for name, path in sorted(passwords.items())},
        "artifacts": {name: file_digest(root / name) for name in sorted(artifacts)},
    }


def saved_plan(plan: dict[str, Any], recorded_settings: dict[str, Any], deps: dict[str, Any],
               now: str | None) -> dict[str, Any]:
    from kstool import __version__  # noqa: PLC0415

    return {
        "format": FORMAT,
        "version": VERSION,
        "kstool_version": __version__,
        "key_material": KEY_MATERIAL,
        "passwords": PASSWORDS,
        "settings": recorded_settings,
        "clock": {"now": now, "rule": CLOCK_RULE},
        "depends_on": deps,
        "plan": plan,
    }


def render(document: dict[str, Any]) -> bytes:
    # "format" first: apply tells a plan file from a spec by its first bytes (MARKER)
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write(path: Path, document: dict[str, Any], spec_path: Path) -> None:
    from kstool.engine.fsutil import atomic_write  # noqa: PLC0415

    try:
        if path.exists() and path.resolve() == spec_path.resolve():
            raise KstoolError(f"--out {path} is the spec file itself; choose another file (e.g. kstool.plan)")
        atomic_write(path, render(document), mode=0o600)
    except OSError as e:
        raise KstoolError(f"--out {path}: cannot write the plan file: {e.strerror}") from None


def is_plan_file(path: Path) -> bool:
    """Does ``path`` start like a plan file? (a spec is YAML; a plan file is JSON with ``format`` first)"""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return False
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and MARKER.search(head) is not None


@dataclass(frozen=True, slots=True)
class SavedPlan:
    path: Path
    settings: dict[str, Any]
    depends_on: dict[str, Any]
    plan: dict[str, Any]
    now: str | None
    kstool_version: str | None = None

    @property
    def spec_path(self) -> Path:
        return Path(self.settings["spec"])

    @property
    def output_dir(self) -> Path:
        return Path(self.settings["output_root"])


def read(path: Path) -> SavedPlan:
    """A plan file, checked: bounded, versioned, every field of the expected type; never a traceback."""
    from kstool.engine.fsutil import read_regular_file  # noqa: PLC0415

    try:
        data = read_regular_file(path, MAX_PLAN_BYTES, f"plan file {path}")
    except FileNotFoundError:
        raise KstoolError(f"plan file {path} does not exist") from None
    except OSError as e:
        raise KstoolError(f"plan file {path}: cannot read it: {e.strerror}") from None
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise _corrupt(path, f"not valid JSON ({type(e).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _corrupt(path, f"it has no \"format\": \"{FORMAT}\"")
    if _depth(doc) > MAX_DEPTH:
        raise _corrupt(path, f"it nests deeper than {MAX_DEPTH} levels")
    version = doc.get("version")
    if version != VERSION or isinstance(version, bool):
        raise KstoolError(f"plan file {path} has version {_short(version, 40)}; this kstool reads version {VERSION} "
                          "only: make the plan again with this kstool (kstool plan SPEC --out FILE)")
    recorded = doc.get("settings")
    if not isinstance(recorded, dict) or set(recorded) != set(_SETTING_NAMES):
        raise _corrupt(path, "\"settings\" is missing or incomplete")
    for key in ("spec", "output_root"):
        if not isinstance(recorded[key], str) or "\0" in recorded[key] or not Path(recorded[key]).is_absolute():
            raise _corrupt(path, f"settings.{key} is not an absolute path")
    if not all(isinstance(recorded[k], bool) for k in ("replace_unreadable", "strict_permissions")) or \
            not isinstance(recorded["targets"], list) or not all(isinstance(t, str) for t in recorded["targets"]) or \
            not isinstance(recorded["source_date_epoch"], str | None):
        raise _corrupt(path, "\"settings\" holds a value of the wrong type")
    deps = doc.get("depends_on")
    if not isinstance(deps, dict) or not isinstance(deps.get("spec_sha256"), str) or not all(
            isinstance(deps.get(k), dict) and all(isinstance(v, dict) for v in deps[k].values())
            for k in ("inputs", "password_files", "artifacts")):
        raise _corrupt(path, "\"depends_on\" is missing or malformed")
    plan = doc.get("plan")
    if not isinstance(plan, dict) or not isinstance(plan.get("keystores"), list):
        raise _corrupt(path, "\"plan\" is missing or malformed")
    clock = doc.get("clock")
    now = clock.get("now") if isinstance(clock, dict) else None
    made_with = doc.get("kstool_version")
    return SavedPlan(path, recorded, deps, plan, now if isinstance(now, str) else None,
                     made_with if isinstance(made_with, str) else None)


def _depth(doc: object) -> int:
    """How deep JSON values nest (iteratively: the comparison that follows recurses, this must not)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _corrupt(path: Path, why: str) -> KstoolError:
    return KstoolError(f"plan file {path} is not a kstool plan file, or it is damaged: {why}; make it again with "
                       "kstool plan SPEC --out FILE")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _short(value: object, limit: int = 120) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def setting_differences(saved: SavedPlan, current: dict[str, Any]) -> list[str]:
    out = []
    for key, name in _SETTING_NAMES.items():
        if saved.settings[key] != current[key]:
            out.append(f"{name}: the plan was made with {_setting(saved.settings[key])}, this apply has "
                       f"{_setting(current[key])}")
    return out


def _setting(value: object) -> str:
    if isinstance(value, bool):
        return "it" if value else "none"
    if isinstance(value, list):
        return " ".join(value) if value else "none"
    return "none" if value is None else str(value)


def dependency_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    out = []
    if saved.get("spec_sha256") != current["spec_sha256"]:
        out.append("the spec file changed since the plan was made")
    for group, what in (("inputs", "input file"), ("password_files", "password file"), ("artifacts", "artifact")):
        before, after = saved.get(group, {}), current[group]
        for name in sorted(set(before) | set(after)):
            if name not in after:
                out.append(f"{what} {_clip(name, 200)}: the plan depended on it, this run does not")
            elif name not in before:
                out.append(f"{what} {_clip(name, 200)}: this run depends on it, the plan did not")
            elif before[name] != after[name]:
                out.append(f"{what} {_clip(name, 200)} changed: {state_text(before[name])} → "
                           f"{state_text(after[name], before[name])}")
    return out


def state_text(d: Mapping[str, Any], other: Mapping[str, Any] | None = None) -> str:
    """A file's state in words; never any part of its digest (a hostile plan file could name any file)."""
    if d.get("state") != "present" or "sha256" not in d:
        return _clip(str(d.get("state", "?")), 60)
    if other is not None and other.get("state") == "present" and other.get("sha256") != d.get("sha256"):
        return f"other bytes, mode {_clip(str(d.get('mode')), 8)}"
    return f"present, mode {_clip(str(d.get('mode')), 8)}"


# day counts in words ("expires 2027-01-04 (in 12 days; ...)", "(3 days ago)") move with the clock, decisions do not
_DAY_COUNTS = re.compile(r"\((in -?\d+|\d+) days")


def comparable(plan: Any) -> Any:
    """The plan as apply must reproduce it: without the paths as typed (the settings compare them resolved) and
    the dates that move with the clock (each decision stays: the action, the reasons, renewal due or not)."""
    if isinstance(plan, dict):
        return {k: _timeless(v) for k, v in plan.items() if k not in _IGNORED_PLAN_KEYS}
    return _timeless(plan)


def _timeless(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k not in _CLOCK_ENTRY_KEYS}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    if isinstance(value, str):
        return _DAY_COUNTS.sub("(N days", value)
    return value


def plan_differences(saved: Any, current: Any, where: str = "plan") -> list[str]:
    """Where two JSON plans differ, as paths (keystores and entries named, not numbered): a keystore or entry
    whose action differs is one line, and the summary counts are left out when something else names the cause."""
    found = _differences(saved, current, where)
    causes = [d for d in found if not d.startswith(tuple(f"{where}.{k}" for k in _TOTALS))]
    return causes or found


_TOTALS = ("changes", "summary", "entry_summary")


def _differences(saved: Any, current: Any, where: str) -> list[str]:
    if isinstance(saved, dict) and isinstance(current, dict):
        if "action" in saved and "action" in current and saved["action"] != current["action"]:
            return [f"{where}: {saved['action']} in the saved plan, {current['action']} now"]
        out: list[str] = []
        for key in [*saved, *(k for k in current if k not in saved)]:
            if key not in current:
                out.append(f"{where}{'' if key.startswith('[') else '.'}{key}: in the saved plan only")
            elif key not in saved:
                out.append(f"{where}{'' if key.startswith('[') else '.'}{key}: in this run's plan only")
            else:
                out += _differences(saved[key], current[key], f"{where}{'' if key.startswith('[') else '.'}{key}")
        return out
    if isinstance(saved, list) and isinstance(current, list):
        named = _by_name(saved), _by_name(current)
        if named[0] is not None and named[1] is not None:
            return _differences(named[0], named[1], where)
        if len(saved) != len(current):
            return [f"{where}: {_short(saved)} → {_short(current)}" if len(saved) + len(current) < 4
                    else f"{where}: {len(saved)} items → {len(current)}"]
        if all(isinstance(v, str) for v in [*saved, *current]):  # reasons, paths
            return [] if saved == current else [f"{where}: {_short(saved)} → {_short(current)}"]
        return [d for i, (a, b) in enumerate(zip(saved, current, strict=True))
                for d in _differences(a, b, f"{where}[{i}]")]
    if saved != current:
        return [f"{where}: {_short(saved)} → {_short(current)}"]
    return []


def _by_name(items: list[Any]) -> dict[str, Any] | None:
    """A list of keystores (by name) or entries (by alias) as a mapping, when every item has one, uniquely."""
    for key in ("name", "alias"):
        if items and all(isinstance(i, dict) and isinstance(i.get(key), str) for i in items):
            out = {f"[{i[key]}]": i for i in items}
            if len(out) == len(items):
                return out
    return None


def files_now(saved: SavedPlan) -> dict[str, Any]:
    """The files a saved plan recorded, as they are now (before planning again: a file that changed so much that
    planning would fail, a damaged store, is still named as the difference)."""
    base, root = saved.spec_path.parent, saved.output_dir

    def at(folder: Path, name: str) -> Path:
        return Path(name) if Path(name).is_absolute() else folder / name

    recorded = saved.depends_on
    return {
        "spec_sha256": file_digest(saved.spec_path).get("sha256", ""),
        "inputs": {name: file_digest(at(base, name)) for name in recorded["inputs"]},
        "password_files": {name: {"state": "present" if os.path.lexists(at(base, name)) else "missing"}
                           for name in recorded["password_files"]},
        "artifacts": {name: file_digest(at(root, name)) for name in recorded["artifacts"]},
    }


def differences(saved: SavedPlan, deps: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    """What differs between a saved plan and this run: the files it depended on, then the plan itself (in short
    when files differ: the plan's differences follow from theirs)."""
    found = dependency_differences(saved.depends_on, deps)
    planned = plan_differences(comparable(saved.plan), comparable(plan))
    if found and planned:
        keystores = sorted({d.split("[", 1)[1].split("]", 1)[0] for d in planned if d.startswith("plan.keystores[")})
        planned = [f"so the plan differs too ({len(planned)} difference(s)"
                   + (f"; keystores {', '.join(keystores)}" if keystores else "") + ")"]
    return found + planned


def refuse(path: Path, differences: list[str]) -> KstoolError:
    """One error line per difference (the CLI prints each on its own line), after a headline with the fix."""
    from kstool.errors import MultiError  # noqa: PLC0415

    shown = differences[:MAX_DIFFERENCES]
    more = len(differences) - len(shown)
    return MultiError([
        KstoolError(f"the saved plan {path} no longer matches, so nothing was changed; make a new plan (kstool plan "
                    f"SPEC --out {path}), review it, and apply that. What differs:"),
        *(KstoolError(f"{path}: {_clip(d, 600)}") for d in shown),
        *([KstoolError(f"{path}: … and {more} more difference(s)")] if more else []),
    ])
