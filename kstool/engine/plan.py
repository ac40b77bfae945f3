"""A plan is plain data: what apply would do, per keystore and per entry, with reasons in words.

The actions form a closed set; reasons explain, only the action (and the build instruction) drives apply.
Build instructions tell the executor where each entry's content comes from; they never hold secrets
other than key material already inside the artifacts, and renderers never look at them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from kstool.formats.entries import Entry, StoreType
from kstool.spec.model import Generate

Address = tuple[str, str]  # (keystore name, alias): an entry of the spec


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "no-op"


@dataclass(frozen=True, slots=True)
class Keep:
    """Write this entry as it is (taken from the existing artifact or from the inputs)."""

    entry: Entry


@dataclass(frozen=True, slots=True)
class NewKey:
    """Generate a new private key and a self-signed certificate."""

    generate: Generate


@dataclass(frozen=True, slots=True)
class Reissue:
    """Keep the existing private key; issue a new self-signed certificate for it."""

    key_der: bytes
    generate: Generate

    def __repr__(self) -> str:
        return f"Reissue(generate={self.generate!r})"


@dataclass(frozen=True, slots=True)
class Follow:
    """A trusted entry holding the leaf certificate of another entry, once that entry is built."""

    keystore: str
    alias: str


Build = Keep | NewKey | Reissue | Follow

Facts = Mapping[str, str]


def _was_key(change: EntryChange) -> bool:
    """Did the existing entry hold a private key? (a replace may turn a key entry into a trusted one or back)"""
    if change.action is Action.DELETE:
        return change.kind == "key"
    return "entry kind changed: trusted → key" not in change.reasons and (
        change.kind == "key" or "entry kind changed: key → trusted" in change.reasons)


@dataclass(frozen=True, slots=True)
class EntryChange:
    alias: str
    action: Action
    reasons: tuple[str, ...]
    kind: Literal["key", "trusted"]
    source: Literal["generate", "import", "trusted", "existing"]
    before: Facts | None = None  # public facts of the existing leaf certificate
    after: Facts | None = None  # public facts of the new leaf, when known at plan time
    build: Build | None = field(default=None, compare=False)
    # the clock's view (compute_plan with now=...): the leaf's notAfter after apply, when known, and days left
    not_after: str | None = None
    days_left: int | None = None
    due: bool = False  # inside its renewal window (or expired): renewed if kstool issues it, else a warning
    warnings: tuple[str, ...] = ()  # e.g. an imported certificate kstool cannot renew is due: replace its file
    # a no-secrets plan (engine/nosecrets.py): what it could not prove about this entry; with a no-op action, a
    # change cannot be ruled out (the views show "unknown")
    unverified: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KeystoreChange:
    name: str
    path: str  # relative to the output root, '/'-separated
    type: StoreType
    action: Action
    reasons: tuple[str, ...]
    entries: tuple[EntryChange, ...]
    moved_from: str | None = None  # an old path to remove once the new file is written
    password_files: tuple[str, ...] = ()  # password files apply creates (generate: true)
    expected: bytes | None = field(default=None, compare=False, repr=False)  # the bytes, when known at plan time
    prevent_destroy: bool = False  # the spec (or, for a keystore it no longer has, kstool.lock) says so
    destroys_unknown: bool = False  # replaces a file no password opens: whatever keys it held are lost
    deleted_entries: tuple[EntryChange, ...] = ()  # a deleted keystore's entries, as far as known (for destroyed_keys)
    # existing generated password files whose mode, owner or group differ from the spec's: "PATH: mode 0600 → 0640"
    password_file_fixes: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()  # a no-secrets plan: what it could not prove about the file itself


@dataclass(frozen=True, slots=True)
class DestroyedKey:
    """A private key that exists now and that no artifact holds after apply (a backup may keep the old file)."""

    keystore: str
    path: str
    alias: str  # "*" when unknown: a file that cannot be opened is rebuilt
    action: Action  # the entry's (replace, delete) or the keystore's
    reason: str
    facts: Facts = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NoSecrets:
    """A plan made without any password (``kstool plan --no-secrets``): what it checked, and what it could not
    prove for the whole estate (per entry and per keystore: their ``unverified``)."""

    checked: tuple[str, ...]
    unproven: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExportChange:
    """One file of an export (a PEM file, a Kubernetes Secret manifest): planned like a keystore."""

    export: str  # the export's name
    kind: str  # "pem" | "kubernetes_secret"
    role: str  # key, certificate, chain, fullchain, bundle, secret
    path: str  # relative to the output root, '/'-separated
    action: Action  # create, update, delete or no-op
    reasons: tuple[str, ...] = ()
    expected: bytes | None = field(default=None, compare=False, repr=False)  # the bytes, when known at plan time


@dataclass(frozen=True, slots=True)
class Plan:
    spec_file: str
    output_root: str
    keystores: tuple[KeystoreChange, ...]
    lock_update: bool = False  # kstool.lock is missing or out of date (and nothing else changes)
    # (name, path, why) of keystores kstool.lock records, not in the spec, whose files apply leaves alone
    left_alone: tuple[tuple[str, str, str], ...] = ()
    foreign: tuple[tuple[str, str, str], ...] = ()  # (name, path, owning spec) of other specs' artifacts here
    now: str | None = None  # the clock the plan was made at (renewal, days left), when compute_plan had one
    no_secrets: NoSecrets | None = None  # made without passwords: never applied, and says what it could not prove
    # a --target run: the targets as given, and every keystore in the run with why it is included
    targets: tuple[str, ...] = ()
    included: tuple[tuple[str, str], ...] = ()
    dependents: tuple[tuple[str, str], ...] = ()  # keystores left out that depend on the run: (name, how)
    exports: tuple[ExportChange, ...] = ()  # every export file of the spec, and those of removed exports

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(w for k in self.keystores for e in k.entries for w in e.warnings)

    @property
    def has_changes(self) -> bool:
        return self.lock_update or bool(self.left_alone) or any(
            k.action is not Action.NOOP or k.password_files or k.password_file_fixes for k in self.keystores) or any(
            x.action is not Action.NOOP for x in self.exports)

    @property
    def has_unverified(self) -> bool:
        """A no-secrets plan with a keystore or entry whose change it could not rule out."""
        return any(k.unverified or any(e.unverified for e in k.entries) for k in self.keystores)

    def destroyed_keys(self) -> tuple[DestroyedKey, ...]:
        """Every private key apply would destroy: replaced or deleted key entries, deleted keystores' keys."""
        out: list[DestroyedKey] = []
        for k in self.keystores:
            if k.destroys_unknown:
                out.append(DestroyedKey(k.name, k.path, "*", k.action, k.reasons[0] if k.reasons else ""))
            for e in (*k.entries, *k.deleted_entries):
                if e.action in (Action.REPLACE, Action.DELETE) and e.before is not None and _was_key(e):
                    out.append(DestroyedKey(k.name, k.path, e.alias, e.action, "; ".join(e.reasons),
                                            dict(e.before)))
        return tuple(out)

    def summary(self) -> dict[str, int]:
        """Keystores per action; one that replaces a key counts as a replace (both views show this count)."""
        counts = {a.value: 0 for a in Action}
        for k in self.keystores:
            replaces_key = k.action is Action.UPDATE and any(e.action is Action.REPLACE for e in k.entries)
            counts[Action.REPLACE.value if replaces_key else k.action.value] += 1
        return counts

    def entry_summary(self) -> dict[str, int]:
        counts = {a.value: 0 for a in Action}
        for k in self.keystores:
            for e in k.entries:
                counts[e.action.value] += 1
        return counts
