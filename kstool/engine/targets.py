"""``--target KEYSTORE[/ALIAS]``: limit a plan or an apply to some keystores and what they need (pure).

A keystore is one file, encoded as a whole, so the unit a run can be limited to is the keystore. The run
includes, transitively, every keystore a selected one needs to be built correctly: the keystore holding the
certificate a ``trusted: {entry: ...}`` reference copies, and the keystore holding the CA key that signs a
``generate.issuer`` certificate. Each extra keystore carries the reason it is included.

``KEYSTORE/ALIAS`` selects that keystore the same way, and adds one promise: no other entry of that keystore
changes. If the plan would change another entry of it (create, update, replace, delete), the run is refused
naming those entries (target the keystore to apply them all). Lock records of keystores outside the run are
kept verbatim; their files are neither opened nor written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

from kstool.engine.lockfile import Lock, LockedStore
from kstool.engine.plan import Action, Plan
from kstool.errors import KstoolError
from kstool.spec.model import EntrySpec, Generate, KeystoreSpec, Spec, TrustedReference


@dataclass(frozen=True, slots=True)
class Selection:
    """The keystores of a targeted run, in spec order, each with why it is in the run."""

    targets: tuple[str, ...]  # as given on the command line, normalised (alias lowercased), sorted, unique
    keystores: tuple[tuple[str, str], ...]  # (name, why)
    aliases: Mapping[str, frozenset[str]]  # keystore -> the aliases targeted when only aliases of it were
    # keystores left out that depend on one in the run (they may be stale after it): (name, why)
    dependents: tuple[tuple[str, str], ...] = ()

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.keystores)


def select(spec: Spec, targets: Iterable[str]) -> Selection:
    """Parse ``--target`` values against the spec and close them over references and issuers.

    Every unknown keystore or alias is reported in one error that lists the known names."""
    whole: set[str] = set()
    aliases: dict[str, set[str]] = {}
    problems: list[str] = []
    normalised: set[str] = set()
    for raw in targets:
        name, slash, alias = raw.strip().partition("/")
        ks = spec.keystore(name)
        if ks is None:
            known = ", ".join(k.name for k in spec.keystores) or "none"
            problems.append(f"--target {raw!r}: no keystore {name!r} in the spec (keystores: {known})")
            continue
        if not slash:
            whole.add(name)
            normalised.add(name)
            continue
        alias = alias.lower()
        if ks.entry(alias) is None:
            known = ", ".join(e.alias for e in ks.entries) or "none"
            problems.append(f"--target {raw!r}: keystore {name!r} has no alias {alias!r} (aliases: {known})")
            continue
        aliases.setdefault(name, set()).add(alias)
        normalised.add(f"{name}/{alias}")
    if problems:
        raise KstoolError("; ".join(problems))
    why: dict[str, str] = {}
    for name in [*whole, *aliases]:
        why[name] = "targeted" if name in whole else \
            "targeted (" + ", ".join(f"{name}/{a}" for a in sorted(aliases[name])) + ")"
    queue = list(why)
    while queue:
        ks = spec.keystore(queue.pop(0))
        assert ks is not None
        for entry, need in needs(ks):
            if need not in why:
                why[need] = f"needed because {_needed_because(ks.name, entry)}"
                queue.append(need)
    return Selection(
        tuple(sorted(normalised)),
        tuple((k.name, why[k.name]) for k in spec.keystores if k.name in why),
        {name: frozenset(a) for name, a in aliases.items() if name not in whole},
        _dependents(spec, frozenset(why)),
    )


def needs(ks: KeystoreSpec) -> Iterator[tuple[EntrySpec, str]]:
    """(entry, keystore) for each entry of ``ks`` that needs another keystore to be built: the source of a
    ``trusted: {entry: ...}`` reference, the keystore holding a ``generate.issuer`` CA key."""
    for entry in ks.entries:
        source = entry.source
        if isinstance(source, TrustedReference):
            yield entry, source.keystore
        elif isinstance(source, Generate) and source.issuer is not None:
            yield entry, source.issuer[0]


def _needed_because(keystore: str, entry: EntrySpec) -> str:
    source = entry.source
    if isinstance(source, TrustedReference):
        return f"{keystore}/{entry.alias} trusts its entry {source.keystore}/{source.alias} (trusted: {{entry: ...}})"
    assert isinstance(source, Generate) and source.issuer is not None  # what ``needs`` yields
    return f"the CA {'/'.join(source.issuer)} issues the certificate of {keystore}/{entry.alias}"


def _dependents(spec: Spec, chosen: frozenset[str]) -> tuple[tuple[str, str], ...]:
    """Keystores outside the run with a reference or an issuer inside it: a change in the run may leave them stale."""
    out: list[tuple[str, str]] = []
    for ks in spec.keystores:
        if ks.name in chosen:
            continue
        uses: list[str] = []
        for e, need in needs(ks):
            source = e.source
            if need not in chosen:
                continue
            if isinstance(source, TrustedReference):
                uses.append(f"{ks.name}/{e.alias} trusts {source.keystore}/{source.alias}")
            elif isinstance(source, Generate):
                uses.append(f"{ks.name}/{e.alias} is issued by {'/'.join(source.issuer or ())}")
        if uses:
            out.append((ks.name, ", ".join(uses)))
    return tuple(out)


def restrict(spec: Spec, selection: Selection) -> Spec:
    """The spec with only the selected keystores (the rest of the run never sees the others)."""
    names = selection.names
    return replace(spec, keystores=tuple(k for k in spec.keystores if k.name in names))


def split_lock(lock: Lock | None, spec: Spec, owner: str) -> tuple[Lock | None, dict[str, LockedStore]]:
    """The lock records this run may look at (its keystores, under their names or previous names, and other
    specs' records, which observe keeps as they are), and the ones it keeps verbatim: this spec's other
    keystores and records the spec no longer has (a targeted run deletes nothing outside its targets)."""
    if lock is None:
        return None, {}
    mine = {k.name for k in spec.keystores} | {k.previous_name for k in spec.keystores if k.previous_name}
    paths = {k.path for k in spec.keystores}
    seen: dict[str, LockedStore] = {}
    kept: dict[str, LockedStore] = {}
    for name, record in lock.keystores.items():
        other_spec = bool(owner and record.owner and record.owner != owner)
        if name in mine or other_spec or record.path in paths:  # observe reads these (or knows to forget them)
            seen[name] = record
        else:
            kept[name] = record
    return Lock(seen), kept


def check_alias_targets(plan: Plan, selection: Selection) -> None:
    """``KEYSTORE/ALIAS`` promises that no other entry of KEYSTORE changes: refuse a plan that would."""
    problems: list[str] = []
    for change in plan.keystores:
        wanted = selection.aliases.get(change.name)
        if not wanted:
            continue
        others = [f"{change.name}/{e.alias} ({e.action.value})" for e in change.entries
                  if e.alias not in wanted and e.action is not Action.NOOP]
        if others:
            problems.append(f"--target {', '.join(f'{change.name}/{a}' for a in sorted(wanted))}: the keystore is "
                            f"written as one file and this apply would also change {', '.join(others)}; target "
                            f"--target {change.name} to apply every change of it, or change the spec so only the "
                            "targeted entries differ")
    if problems:
        raise KstoolError("; ".join(problems))
