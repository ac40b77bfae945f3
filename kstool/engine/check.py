"""``kstool check``: the estate's health, read only. For every entry of every artifact: its expiry, whether its
renewal is due, whether it is expired or not yet valid, weak protection; per artifact: missing, or drifted from
the spec (what ``plan`` would do). Nothing is written and no secret is kept in the result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kstool.engine import Options, prepare
from kstool.engine.clock import read_clock
from kstool.engine.facts import cert_facts, load_cert
from kstool.engine.observe import ObservedStore
from kstool.engine.plan import Action, EntryChange, KeystoreChange
from kstool.engine.renewal import CANNOT_RENEW_DEFAULT, facts_timing, policy_for
from kstool.formats.entries import Entry, KeyEntry
from kstool.spec.model import KeystoreSpec, Spec

LEGACY_PKCS12 = "legacy PKCS12 profile (3DES key encryption, SHA-1 MAC): set pkcs12_profile: modern"


@dataclass(frozen=True, slots=True)
class EntryHealth:
    alias: str
    kind: str  # key | trusted
    source: str  # generate | import | trusted
    subject: str
    not_before: str
    not_after: str
    days_left: int
    renewal_due: bool
    expired: bool
    not_yet_valid: bool
    within_horizon: bool
    weak: tuple[str, ...]
    drift: str | None  # the plan's action for this entry when it is not a no-op

    @property
    def attention(self) -> bool:
        return self.renewal_due or self.expired or self.not_yet_valid or self.within_horizon or bool(self.weak) \
            or self.drift is not None


@dataclass(frozen=True, slots=True)
class StoreHealth:
    name: str
    path: str
    type: str
    missing: bool
    drift: tuple[str, ...]  # the plan's reasons for the keystore (and its entries), when it would change
    weak: tuple[str, ...]
    entries: tuple[EntryHealth, ...]

    @property
    def attention(self) -> bool:
        return self.missing or bool(self.drift) or bool(self.weak) or any(e.attention for e in self.entries)


@dataclass(frozen=True, slots=True)
class Health:
    spec: str
    now: str
    horizon_days: int
    stores: tuple[StoreHealth, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...] = ()  # drift outside the spec's keystores: kstool.lock, keystores removed from the spec

    @property
    def attention(self) -> bool:
        return bool(self.warnings) or bool(self.notes) or any(s.attention for s in self.stores)


def check(spec_path: Path, output_dir: Path | None, *, horizon_days: int) -> Health:
    """The health of every artifact the spec describes, at the clock (``SOURCE_DATE_EPOCH`` when set)."""
    from kstool.spec.model import load_spec  # noqa: PLC0415

    warnings: list[str] = []
    names = frozenset(k.name for k in load_spec(spec_path).keystores)
    # what expanding a CA bundle noted (a skipped expired root, a folded duplicate) is no attention: the store
    # holds what the spec asks for (plan and apply show the notes)
    ctx = prepare(spec_path, Options(output_dir, open_all=names), warn=warnings.append, note=lambda _: None)
    clock = read_clock()
    stores = tuple(_store(ctx.spec, change, ctx.observed.stores.get(change.name), clock.now, horizon_days)
                   for change in ctx.plan.keystores if ctx.spec.keystore(change.name) is not None)
    notes = [f"keystore {c.name} ({c.path}) is not in the spec: apply deletes it"
             for c in ctx.plan.keystores if ctx.spec.keystore(c.name) is None]
    notes += [f"keystore {name} ({path}) is in kstool.lock but not in the spec: {why}"
              for name, path, why in ctx.plan.left_alone]
    if ctx.plan.lock_update:
        notes.append("kstool.lock is missing or out of date: apply writes it")
    return Health(str(spec_path), f"{clock.now:%Y-%m-%dT%H:%M:%SZ}", horizon_days, stores, tuple(warnings),
                  tuple(notes))


def _store(spec: Spec, change: KeystoreChange, observed: ObservedStore | None, now: datetime,
           horizon: int) -> StoreHealth:
    ks = spec.keystore(change.name)
    assert ks is not None
    on_disk = {e.alias: e for e in observed.entries} if observed is not None else {}
    missing = observed is None
    drift: tuple[str, ...] = ()
    if not missing and change.action is not Action.NOOP:
        drift = (*change.reasons, *(f"{e.alias}: {e.action.value}: {'; '.join(e.reasons)}"
                                    for e in change.entries if e.action is not Action.NOOP))
    weak = (LEGACY_PKCS12,) if ks.type == "pkcs12" and ks.pkcs12_profile == "legacy" else ()
    entries = tuple(_entry(ks, e, on_disk[e.alias], now, horizon) for e in change.entries if e.alias in on_disk)
    return StoreHealth(change.name, change.path, change.type, missing, drift, weak, entries)


def _entry(ks: KeystoreSpec, change: EntryChange, found: Entry, now: datetime, horizon: int) -> EntryHealth:
    from kstool.crypto.policy import weaknesses  # noqa: PLC0415

    chain = found.chain_der if isinstance(found, KeyEntry) else (found.cert_der,)
    facts = cert_facts(chain[0])
    spec_entry = ks.entry(change.alias)
    policy = policy_for(spec_entry) if spec_entry is not None else CANNOT_RENEW_DEFAULT
    timing = facts_timing(facts, policy, now)
    assert timing is not None
    weak = tuple(w for der in chain for w in weaknesses(load_cert(der)))
    source = change.source if change.source != "existing" else "unknown"
    return EntryHealth(change.alias, change.kind, source, facts["subject"], facts["not_before"], facts["not_after"],
                       timing.days_left, timing.due, timing.expired, timing.not_yet_valid,
                       timing.days_left <= horizon, weak,
                       change.action.value if change.action is not Action.NOOP else None)
