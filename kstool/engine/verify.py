"""kstool verify: the release engineer's "rebuild and compare" and the deploy gate.

Every artifact is rebuilt in memory from the spec, its inputs and (for generated keys) the key material
already on disk, and compared byte for byte with the file; the file and its entries must also be what
kstool.lock records. Nothing is written.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from kstool.engine import output_root
from kstool.engine.inputs import load_inputs
from kstool.engine.lockfile import Lock, lock_entry, read_lock, spec_owner
from kstool.engine.observe import observe
from kstool.engine.plan import Action, ExportChange, Keep, KeystoreChange
from kstool.engine.planner import compute_plan
from kstool.spec.model import load_spec


@dataclass(frozen=True, slots=True)
class ArtifactReport:
    name: str
    path: str
    problems: tuple[str, ...]
    kind: str = "keystore"  # or "export" (a PEM file or a Kubernetes Secret manifest)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    artifacts: tuple[ArtifactReport, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not any(a.problems for a in self.artifacts)


def verify(spec_path: Path, output_dir: Path | None, *, jobs: int = 1) -> VerifyReport:
    """``jobs``: processes that decode the stores (each store is decrypted in full: PBKDF2 work, on every core)."""
    root = output_root(spec_path, output_dir)
    spec, inputs = load_inputs(load_spec(spec_path), os.environ)
    lock = read_lock(root)
    # verify trusts nothing: every artifact is decrypted in full and re-encoded byte for byte
    observed = observe(spec, inputs, root, lock, tolerate_unreadable=True, trust_lock=False, jobs=jobs,
                       owner=spec_owner(spec_path, root))
    errors = {name: u.reason for name, u in observed.unreadable.items()}
    plan = compute_plan(spec, inputs, observed, output_root=str(root))
    changes = {c.name: c for c in plan.keystores}
    reports = []
    for ks in spec.keystores:
        store = observed.stores.get(ks.name)
        data = store.data if store is not None and store.path == ks.path else None  # the bytes observe read
        reports.append(ArtifactReport(ks.name, ks.path, tuple(_problems(ks.name, changes[ks.name], errors, lock,
                                                                         data))))
    reports += [
        ArtifactReport(o.name, o.path, ("recorded in kstool.lock but not in the spec",)) for o in observed.orphans
    ]
    reports += [
        ArtifactReport(a.name, a.path, (f"recorded in kstool.lock but not in the spec; apply leaves it alone: "
                                        f"{a.reason}",)) for a in observed.left_alone
    ]
    reports += _export_reports(plan.exports, lock)
    return VerifyReport(tuple(reports), (*inputs.notes, *inputs.warnings))


def _export_reports(exports: tuple[ExportChange, ...], lock: Lock | None) -> list[ArtifactReport]:
    """Each export file rebuilt from the entries and compared with the file and with kstool.lock."""
    recorded = {(name, f.path): f.sha256 for name, x in (lock.exports if lock else {}).items() for f in x.files}
    reports = []
    for x in exports:
        problems: list[str] = []
        if x.action is Action.CREATE:
            problems.append("missing")
        elif x.action is Action.DELETE:
            problems.append("recorded in kstool.lock but no longer in the spec")
        elif x.action is not Action.NOOP:
            problems += [f"differs from the spec: {r}" for r in x.reasons]
        locked = recorded.get((x.export, x.path))
        if x.action is not Action.DELETE:
            if locked is None:
                problems.append("not in kstool.lock (run apply and commit the lock file)")
            elif x.expected is not None and hashlib.sha256(x.expected).hexdigest() != locked:
                problems.append("bytes differ from kstool.lock")
        reports.append(ArtifactReport(x.export, x.path, tuple(problems), kind="export"))
    return reports


def _problems(name: str, change: KeystoreChange, errors: dict[str, str], lock: Lock | None,
              data: bytes | None) -> list[str]:
    if name in errors:
        return [errors[name]]
    problems: list[str] = []
    problems += [f"password file {p} is missing" for p in change.password_files]
    problems += [f"password file {fix} (the spec's mode, owner or group)" for fix in change.password_file_fixes]
    if change.action is Action.CREATE:
        problems.append("missing")
    elif change.action is not Action.NOOP:
        problems += [f"differs from the spec: {r}" for r in change.reasons]
        problems += [f"entry {e.alias}: {e.action.value}: {'; '.join(e.reasons)}"
                     for e in change.entries if e.action is not Action.NOOP]
    problems += _lock_problems(name, change, lock, data)
    return problems


def _lock_problems(name: str, change: KeystoreChange, lock: Lock | None, data: bytes | None) -> list[str]:
    locked = lock.keystores.get(name) if lock else None
    if locked is None:
        return ["not in kstool.lock (run apply and commit the lock file)"]
    problems: list[str] = []
    if locked.path != change.path:
        problems.append(f"kstool.lock records path {locked.path}")
    if data is not None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != locked.sha256:
            problems.append(f"bytes differ from kstool.lock (sha256 {digest[:16]}…, lock {locked.sha256[:16]}…)")
    if change.action is Action.NOOP:  # every entry is known: its public facts must be what the lock says
        facts = [lock_entry(e.build.entry) for e in change.entries if isinstance(e.build, Keep)]
        if facts != [dict(e) for e in locked.entries]:
            problems.append("entries differ from kstool.lock (certificates, subjects or fingerprints)")
    return problems
