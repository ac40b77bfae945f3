"""Read the artifacts on disk into plain data the planner can compare with the spec.

An artifact that its configured password cannot open is an error that says so, never a silent rebuild;
with ``previous_password`` set, the old password opens it and the plan re-encrypts (password rotation).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kstool.digests import content_digest, encoding_settings
from kstool.errors import KstoolError, WrongPasswordError
from kstool.facts import load_cert
from kstool.formats.codec import decode, prove_password
from kstool.formats.model import Entry, KeyEntry, StoreType, detect_type
from kstool.fsutil import check_confined
from kstool.inputs import Inputs, KeystoreInputs
from kstool.lockfile import CERT_FACTS, Lock, LockedStore
from kstool.spec.model import KeystoreSpec, Spec, TrustedReference

MAX_STORE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ObservedStore:
    path: str  # relative to the output root
    data: bytes = field(repr=False)
    type: StoreType
    entries: tuple[Entry, ...] = field(repr=False)
    opened_with: Literal["password", "previous_password"]
    key_password_changed: bool
    mode: int
    locked_settings: str | None = None  # the lock's settings digest, when the file is exactly what it recorded
    # keys left encrypted (key_der empty): only for intact files whose keys are under the store password; the
    # planner never needs them for a no-op, and prepare() opens the store in full when anything changes
    partial: bool = False
    # set when the lock file alone describes the entries (``entries`` is then empty): the bytes, the settings and
    # the inputs are all what kstool.lock recorded, and the store's integrity check proved the password
    locked: LockedStore | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Orphan:
    """A keystore the lock file records but the spec no longer has."""

    name: str
    path: str
    type: StoreType  # from the file's bytes (the lock's word is not trusted)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An artifact its passwords cannot open, or that is corrupt (kept only when asked to tolerate it)."""

    path: str
    data: bytes = field(repr=False)
    reason: str


@dataclass(frozen=True, slots=True)
class Observed:
    stores: Mapping[str, ObservedStore]  # by keystore name; absent = no file
    orphans: tuple[Orphan, ...] = ()
    unreadable: Mapping[str, Unreadable] = field(default_factory=dict)


def read_artifact(path: Path, shown: str) -> tuple[bytes, int] | None:
    """The bytes and mode of an artifact, or None when it does not exist. Symlinks are refused."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise KstoolError(f"{shown}: cannot read: {e.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise KstoolError(f"{shown} is a symbolic link; kstool never follows links for its outputs: "
                          "replace it with the real file or change the keystore's path")
    if not stat.S_ISREG(info.st_mode):
        raise KstoolError(f"{shown} exists but is not a regular file; move it away or change the keystore's path")
    if info.st_size > MAX_STORE_BYTES:
        raise KstoolError(f"{shown} is larger than {MAX_STORE_BYTES // (1024 * 1024)} MiB; not a keystore kstool "
                          "wrote: move it away or change the keystore's path")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        return f.read(), stat.S_IMODE(info.st_mode)


def observe(spec: Spec, inputs: Inputs, root: Path, lock: Lock | None, *,
            tolerate_unreadable: bool = False, trust_lock: bool = True, jobs: int = 1,
            full: frozenset[str] = frozenset()) -> Observed:
    """The artifacts on disk. With ``tolerate_unreadable``, a store that is corrupt or that its passwords cannot
    open is recorded in ``unreadable`` instead of raising (apply --replace-unreadable, verify)."""
    found: list[_Found] = []
    referenced = {e.source.keystore for k in spec.keystores for e in k.entries
                  if isinstance(e.source, TrustedReference)}
    for ks in spec.keystores:
        check_confined(root, ks.path)
        hit = _find(ks, root, lock)
        if hit is None:
            continue
        rel, data, mode = hit
        locked = lock.keystores.get(ks.name) if lock and trust_lock else None
        intact = locked is not None and locked.path == rel and locked.sha256 == hashlib.sha256(data).hexdigest()
        settings = locked.settings if intact and locked else None
        # keys under the store password need no decryption to prove anything (see ObservedStore.partial)
        partial = settings is not None and ks.name not in full and (ks.type == "pkcs12" or ks.key_password is None)
        # the lock alone describes it when nothing about it can have changed (a store other stores' trusted
        # references point into is opened: they need its certificates)
        described = (partial and locked is not None and rel == ks.path and not mode & 0o077
                     and ks.name not in referenced and _describes(locked, ks) and settings == encoding_settings(ks)
                     and locked.inputs == content_digest(ks, inputs.keystores[ks.name]))
        found.append(_Found(ks, inputs.keystores[ks.name], rel, data, mode, settings, partial,
                            locked if described else None))
    stores: dict[str, ObservedStore] = {}
    unreadable: dict[str, Unreadable] = {}
    for f, result in zip(found, _open_stores(found, jobs=jobs), strict=True):
        if isinstance(result, ObservedStore):
            stores[f.ks.name] = result
        elif tolerate_unreadable:
            unreadable[f.ks.name] = Unreadable(f.rel, f.data, str(result))
        else:
            raise result
    orphans: list[Orphan] = []
    if lock is not None:
        names = {k.name for k in spec.keystores}
        paths = {k.path for k in spec.keystores}
        for name, locked in lock.keystores.items():
            if name in names or locked.path in paths:
                continue
            artifact = read_artifact(root / locked.path, locked.path)
            store_type = detect_type(artifact[0]) if artifact else None
            if store_type is not None:  # only keystores are deleted; anything else there is left alone
                orphans.append(Orphan(name, locked.path, store_type))
    return Observed(stores, tuple(orphans), unreadable)


def _describes(locked: LockedStore, ks: KeystoreSpec) -> bool:
    """Does the lock record every entry the spec lists, in order, with all the facts a plan shows?"""
    return bool(locked.inputs) and len(locked.entries) == len(ks.entries) and all(
        facts.get("alias") == entry.alias and facts.get("kind") == ("key" if entry.is_key else "trusted")
        and all(isinstance(facts.get(k), str) for k in CERT_FACTS)
        for facts, entry in zip(locked.entries, ks.entries, strict=True))


def _find(ks: KeystoreSpec, root: Path, lock: Lock | None) -> tuple[str, bytes, int] | None:
    """The artifact at the spec's path or, when the path changed, at the path the lock file recorded."""
    found = read_artifact(root / ks.path, ks.path)
    if found is not None:
        return (ks.path, *found)
    locked = lock.keystores.get(ks.name) if lock else None
    if locked is not None and locked.path != ks.path:
        old = read_artifact(root / locked.path, locked.path)
        if old is not None:
            return (locked.path, *old)
    return None


MIN_PARALLEL_STORES = 32


@dataclass(frozen=True, slots=True)
class _Found:
    """An artifact on disk, before it is opened."""

    ks: KeystoreSpec
    ki: KeystoreInputs
    rel: str
    data: bytes = field(repr=False)
    mode: int
    locked_settings: str | None  # set when the bytes are exactly what kstool.lock recorded
    partial: bool = False  # leave the keys encrypted (see ObservedStore.partial)
    locked: LockedStore | None = None  # the lock describes it: prove the password, decrypt nothing

# entries, store-password label, key password used, proven by the integrity check alone (entries empty)
_Opened = tuple[tuple[Entry, ...], str, str, bool]


def _open_stores(found: list[_Found], *, jobs: int) -> list[ObservedStore | KstoolError]:
    """``open_store`` for many artifacts, decoding in ``jobs`` processes when there are many."""
    from kstool.parallel import pmap  # noqa: PLC0415

    errors: dict[int, KstoolError] = {}
    tasks: dict[int, _OpenTask] = {}
    for i, f in enumerate(found):
        try:
            tasks[i] = _open_task(f)
        except KstoolError as e:  # not a keystore at all
            errors[i] = e
    opened = dict(zip(tasks, pmap(_try_open, list(tasks.values()), jobs=jobs, min_tasks=MIN_PARALLEL_STORES),
                      strict=True))
    out: list[ObservedStore | KstoolError] = []
    for i, f in enumerate(found):
        try:
            if i in errors:
                raise errors[i]
            out.append(_observed(f, opened[i]))
        except KstoolError as e:
            out.append(e)
    return out


_OpenTask = tuple[bytes, StoreType, list[tuple[str, str]], list[str], bool, bool, bool]


def _open_task(found: _Found) -> _OpenTask:
    ks, ki, rel, data = found.ks, found.ki, found.rel, found.data
    store_type = detect_type(data)
    if store_type is None:
        raise KstoolError(f"{rel} is not a JKS, JCEKS or PKCS12 keystore (keystore {ks.name!r} at "
                          f"{ks.location}); move it away or fix the keystore's path")
    store_passwords = [("password", ki.password.secret.reveal())]
    if ki.previous_password is not None:
        store_passwords.append(("previous_password", ki.previous_password.secret.reveal()))
    key_passwords = list(dict.fromkeys([ki.effective_key_password] + [p for _, p in store_passwords]))
    return (data, store_type, store_passwords, key_passwords, found.locked_settings is not None, not found.partial,
            found.locked is not None)


def _try_open(task: _OpenTask) -> _Opened | str | None:
    """Entries and which passwords opened them; None if no password does; a message if the bytes are bad.

    Module-level and free of spec objects: it runs in worker processes too.
    """
    data, store_type, store_passwords, key_passwords, known_intact, keys, prove_only = task
    if prove_only:
        try:
            if prove_password(data, store_type, store_passwords[0][1]):
                return (), store_passwords[0][0], key_passwords[0], True
        except WrongPasswordError:
            pass  # the full open below tries previous_password too, and names the problem
        except KstoolError as e:
            return str(e)
    for label, store_password in store_passwords:
        for key_password in key_passwords:
            try:
                entries = decode(data, store_type, store_password, key_password=key_password,
                                 known_intact=known_intact, keys=keys)
                for entry in entries:  # every certificate must parse: later steps read their names and keys
                    if isinstance(entry, KeyEntry) and not entry.chain_der:
                        return f"key entry {entry.alias!r} holds a private key without its certificate"
                    for der in entry.chain_der if isinstance(entry, KeyEntry) else (entry.cert_der,):
                        load_cert(der)
            except WrongPasswordError:
                continue
            except KstoolError as e:
                return str(e)
            return entries, label, key_password, False
    return None


def _observed(found: _Found, result: _Opened | str | None) -> ObservedStore:
    ks, ki, rel = found.ks, found.ki, found.rel
    store_type = detect_type(found.data)
    assert store_type is not None
    if isinstance(result, str):
        raise KstoolError(f"{rel} is not a valid {store_type.upper()} keystore ({result}); keystore "
                          f"{ks.name!r} at {ks.location}: restore it from a backup or move it away "
                          "to build it anew")
    if result is None:
        hint = ("neither password nor previous_password opens it" if ki.previous_password is not None
                else "if the password was rotated, set previous_password to the old one")
        raise KstoolError(f"{rel}: the password from {ki.password.ref.describe()} does not open this keystore, or "
                          f"the file is corrupted (its integrity check fails) (keystore {ks.name!r} at "
                          f"{ks.location}); {hint}; to build it anew, move the file away")
    entries, label, key_password, proven_only = result
    opened_with: Literal["password", "previous_password"] = (
        "previous_password" if label == "previous_password" else "password")
    opener = ki.previous_password if opened_with == "previous_password" else ki.password
    assert opener is not None
    # a key password that simply follows the store password is not a change of its own
    follows_store = ki.key_password is None and key_password == opener.secret.reveal()
    changed = store_type != "pkcs12" and key_password != ki.effective_key_password and not follows_store
    return ObservedStore(rel, found.data, store_type, entries, opened_with, changed, found.mode,
                         found.locked_settings, found.partial, found.locked if proven_only else None)
