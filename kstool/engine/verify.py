"""kstool verify: the release engineer's "rebuild and compare" and the deploy gate.

Every artifact is rebuilt in memory from the spec, its inputs and (for generated keys) the key material
already on disk, and compared byte for byte with the file; the file and its entries must also be what
kstool.lock records. Nothing is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from kstool.engine import output_root
from kstool.engine.inputs import Inputs, load_inputs
from kstool.engine.lockfile import Lock, lock_entry, read_lock, spec_owner
from kstool.engine.observe import observe
from kstool.engine.plan import Action, ExportChange, Keep, KeystoreChange
from kstool.engine.planner import compute_plan
from kstool.formats.protection import KdfCache
from kstool.spec.model import Spec, load_spec


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


class _Part(NamedTuple):
    """What one verify looks at: the whole spec, or one worker's part (keystores closed over references and
    issuers, their inputs and the lock records they may look at)."""

    spec: Spec
    inputs: Inputs
    root: Path
    lock: Lock | None
    owner: str


def verify(spec_path: Path, output_dir: Path | None, *, jobs: int = 1) -> VerifyReport:
    """``jobs``: processes that verify the stores (each store is decrypted in full: PBKDF2 work, on every core)."""
    root = output_root(spec_path, output_dir)
    spec, inputs = load_inputs(load_spec(spec_path), os.environ)
    lock = read_lock(root)
    owner = spec_owner(spec_path, root)
    whole = _Part(spec, inputs, root, lock, owner)
    shards = _shards(spec, lock, jobs)
    reports = _verify(whole, jobs) if shards is None else _verify_sharded(whole, shards, jobs)
    return VerifyReport(tuple(reports), (*inputs.notes, *inputs.warnings))


def _verify(part: _Part, jobs: int = 1) -> list[ArtifactReport]:
    spec, inputs, root, lock, owner = part
    # verify trusts nothing: every artifact is decrypted in full and re-encoded byte for byte
    observed = observe(spec, inputs, root, lock, tolerate_unreadable=True, trust_lock=False, jobs=jobs, owner=owner)
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
    return reports


# Below this many keystores one process verifies them all (a worker costs more than it saves).
MIN_SHARDED_STORES = 64


def _shards(spec: Spec, lock: Lock | None, jobs: int) -> list[frozenset[str]] | None:
    """The keystores split into groups that verify on their own (a keystore with the ones its trusted references
    and issuers need, transitively), balanced by entry count over the workers; None: verify in one piece
    (few stores, one job, exports, which are cut from several keystores at once, or workers that do not fork)."""
    from kstool.engine.parallel import workers_for, workers_fork  # noqa: PLC0415
    from kstool.engine.targets import needs  # noqa: PLC0415

    workers = workers_for(jobs, len(spec.keystores))
    if workers < 2 or len(spec.keystores) < MIN_SHARDED_STORES or spec.exports or (lock is not None and lock.exports):
        return None
    if not workers_fork():  # the parts hold passwords, which are never pickled: only forked workers can see them
        return None
    parent = {k.name: k.name for k in spec.keystores}

    def root_of(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for ks in spec.keystores:
        for _, need in needs(ks):
            if need in parent:
                parent[root_of(need)] = root_of(ks.name)
    groups: dict[str, list[str]] = {}
    weight: dict[str, int] = {}
    for ks in spec.keystores:
        group = root_of(ks.name)
        groups.setdefault(group, []).append(ks.name)
        weight[group] = weight.get(group, 0) + 1 + len(ks.entries)
    count = workers * 2  # a few more shards than workers: an uneven shard does not leave a core idle
    loads = [0] * count
    shards: list[set[str]] = [set() for _ in range(count)]
    for group in sorted(groups, key=lambda g: -weight[g]):  # largest first onto the lightest shard
        lightest = loads.index(min(loads))
        shards[lightest].update(groups[group])
        loads[lightest] += weight[group]
    return [frozenset(s) for s in shards if s]


def _verify_sharded(whole: _Part, shards: list[frozenset[str]], jobs: int) -> list[ArtifactReport]:
    """Every shard verified as a spec of its own in a worker process (the whole pipeline, not only the decoding,
    so it scales with the cores); then the lock records no keystore of the spec has (orphans, stores left alone)
    by the same verify over no keystores. The reports come back in spec order, as one piece would give them."""
    from kstool.engine.parallel import pmap_forked  # noqa: PLC0415
    from kstool.engine.targets import split_lock  # noqa: PLC0415

    spec, inputs, root, lock, owner = whole
    parts = []
    for names in shards:
        part = dataclasses.replace(spec, keystores=tuple(k for k in spec.keystores if k.name in names))
        seen, _ = split_lock(lock, part, owner)
        parts.append(_Part(part, dataclasses.replace(inputs, keystores={n: inputs.keystores[n] for n in names},
                                                      kdf=KdfCache()), root, seen, owner))
    # the workers see the parts (passwords included) by fork; only their index is sent
    found = {r.name: r for reports in pmap_forked(lambda i: _verify(parts[i]), len(parts), jobs=jobs, min_tasks=2)
             for r in reports}
    reports = [found[ks.name] for ks in spec.keystores]
    if lock is not None:  # the records no keystore of the spec claims (other specs' records are never reported)
        _, unclaimed = split_lock(lock, spec, owner)
        nothing = dataclasses.replace(spec, keystores=())
        reports += _verify(_Part(nothing, dataclasses.replace(inputs, keystores={}), root, Lock(unclaimed), owner))
    return reports


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
