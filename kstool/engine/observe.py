"""Read the artifacts on disk into plain data the planner can compare with the spec.

An artifact that its configured password cannot open is an error that says so, never a silent rebuild;
with ``previous_password`` / ``previous_key_password`` set, the old password opens it and the plan re-encrypts
(password rotation). The current passwords are always tried first; a JKS/JCEKS store password is proven by the
store hash before any key is decrypted, so an error names the secret that failed (store or key password).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import stat
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from kstool.engine.digests import content_digest, encoding_settings
from kstool.engine.facts import cert_facts, load_cert
from kstool.engine.fsutil import check_confined
from kstool.engine.inputs import Inputs, KeystoreInputs
from kstool.engine.lockfile import CERT_FACTS, Lock, LockedStore
from kstool.engine.passwords import Resolved
from kstool.errors import KstoolError, WrongPasswordError
from kstool.formats.codec import decode, has_integrity_check, prove_password
from kstool.formats.entries import Entry, KeyEntry, StoreType, detect_type, leaf_der
from kstool.formats.protection import KdfCache
from kstool.spec.model import KeystoreSpec, Spec, TrustedReference

if TYPE_CHECKING:
    from kstool.engine.exports import ObservedExports

MAX_STORE_BYTES = 64 * 1024 * 1024


class Trust(IntEnum):
    """How far the no-op fast path trusts an artifact because kstool.lock vouches for it; each level includes the
    ones below. Only ``observe`` decides the level; the planner and the executor read it from ``ObservedStore``.

    Nothing is trusted that the store's own integrity check (or the lock's SHA-256 of the whole file) does not
    back: a file kstool did not write, or that changed since, is ``NONE``.
    """

    NONE = 0  # opened and checked in full: integrity check, every key decrypted, every certificate parsed
    # the bytes are exactly what kstool.lock recorded (``locked_settings`` holds the lock's settings digest): the
    # integrity check is known to pass, so decoding skips it
    INTACT = 1
    # and its keys are under the store password: they are left encrypted (``key_der`` empty); the planner needs
    # them for no no-op, and ``prepare`` opens the store in full when anything about it changes
    PARTIAL = 2
    # and the lock alone describes every entry (``locked`` is its record; ``entries`` is empty): nothing about it
    # can have changed, so only the password is proven, through the integrity check, and nothing is decrypted
    DESCRIBED = 3


@dataclass(frozen=True, slots=True)
class ObservedStore:
    path: str  # relative to the output root
    data: bytes = field(repr=False)
    type: StoreType
    entries: tuple[Entry, ...] = field(repr=False)
    opened_with: Literal["password", "previous_password"]
    key_password_changed: bool
    mode: int
    locked_settings: str | None = None  # the lock's settings digest: set from Trust.INTACT up
    trust: Trust = Trust.NONE
    locked: LockedStore | None = field(default=None, repr=False)  # the lock's record: set at Trust.DESCRIBED only
    renamed_from: str | None = None  # found through kstool.lock under the spec's previous_name
    uid: int = -1  # the file's owner and group
    gid: int = -1
    unrecorded: bool = False  # kstool.lock has no record of this keystore (e.g. a store kstool adopt described)


@dataclass(frozen=True, slots=True)
class Orphan:
    """A keystore the lock file records but the spec no longer has: apply deletes it.

    Only when its bytes are what the lock recorded, or a password of the spec opens it: a file someone else
    put there since is left alone (``LeftAlone``).
    """

    name: str
    path: str
    type: StoreType  # from the file's bytes (the lock's word is not trusted)
    data: bytes = field(default=b"", repr=False)  # the bytes observed: apply deletes the file only if it still has them
    entries: tuple[Mapping[str, str], ...] = ()  # public facts of its entries (alias, kind, subject, key...)
    prevent_destroy: bool = False  # the lock recorded prevent_destroy: true


@dataclass(frozen=True, slots=True)
class LeftAlone:
    """A keystore the lock file records, not in the spec, whose file apply does not delete (and why)."""

    name: str
    path: str
    reason: str


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
    left_alone: tuple[LeftAlone, ...] = ()  # recorded in kstool.lock, not in the spec, not deleted: apply forgets them
    owner: str = ""  # the spec that applies (spec_owner), recorded in kstool.lock as the owner of its artifacts
    foreign: Mapping[str, LockedStore] = field(default_factory=dict)  # lock records owned by other specs, kept as-is
    # generated password files that exist → (mode, uid, gid): the planner compares them with the spec's
    password_files: Mapping[Path, tuple[int, int, int]] = field(default_factory=dict)
    # lock records of this spec's keystores outside a --target run: kept in kstool.lock verbatim, never observed
    kept: Mapping[str, LockedStore] = field(default_factory=dict)
    exports: ObservedExports | None = None  # the export files on disk (engine/exports.py); None: the spec has none


def read_artifact(path: Path, shown: str) -> tuple[bytes, int] | None:
    """The bytes and mode of an artifact, or None when it does not exist. Symlinks are refused."""
    found = read_artifact_stat(path, shown)
    return None if found is None else (found[0], stat.S_IMODE(found[1].st_mode))


def read_artifact_stat(path: Path, shown: str) -> tuple[bytes, os.stat_result] | None:
    """The bytes and the fstat of an artifact, or None when it does not exist. Symlinks are refused."""
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
    # non-blocking: a FIFO swapped in since the lstat must not hang the open; fstat says what was opened
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or opened.st_size > MAX_STORE_BYTES:
            raise KstoolError(f"{shown} changed while being read (now not a regular file, or too large); "
                              "run the command again")
        return f.read(MAX_STORE_BYTES + 1), opened


def observe(spec: Spec, inputs: Inputs, root: Path, lock: Lock | None, *,
            tolerate_unreadable: bool = False, trust_lock: bool = True, jobs: int = 1,
            full: frozenset[str] = frozenset(), owner: str = "") -> Observed:
    """The artifacts on disk. With ``tolerate_unreadable``, a store that is corrupt or that its passwords cannot
    open is recorded in ``unreadable`` instead of raising (apply --replace-unreadable, verify).

    Lock records that ``owner`` (this spec) does not own belong to other specs sharing the output folder:
    they are never observed, deleted or rewritten, only kept in ``foreign``."""
    foreign = _foreign(spec, lock, owner)
    exports = None
    if spec.exports or (lock is not None and lock.exports):
        from kstool.engine.exports import observe_exports  # noqa: PLC0415

        exports = observe_exports(spec, root, lock, owner)
    if lock is not None:
        lock = Lock({n: s for n, s in lock.keystores.items() if n not in foreign})
    found: list[_Found] = []
    referenced = {e.source.keystore for k in spec.keystores for e in k.entries
                  if isinstance(e.source, TrustedReference)}
    renamed: dict[str, str] = {}
    for ks in spec.keystores:
        check_confined(root, ks.path)
        hit = _find(ks, root, lock)
        if hit is None:
            continue
        rel, data, info, from_name = hit
        mode = stat.S_IMODE(info.st_mode)
        if from_name is not None:
            renamed[ks.name] = from_name
        locked = _locked(ks, lock) if trust_lock else None
        intact = locked is not None and locked.path == rel and locked.sha256 == hashlib.sha256(data).hexdigest()
        settings = locked.settings if intact and locked else None
        # keys under the store password need no decryption to prove anything (Trust.PARTIAL)
        partial = settings is not None and ks.name not in full and (ks.type == "pkcs12" or ks.key_password is None)
        # the lock alone describes it when nothing about it can have changed (a store other stores' trusted
        # references point into is opened: they need its certificates)
        wanted = inputs.keystores[ks.name].ownership
        described = (partial and locked is not None and rel == ks.path
                     and not wanted.differences(mode, info.st_uid, info.st_gid)
                     and ks.name not in referenced and _describes(locked, ks) and settings == encoding_settings(ks)
                     and locked.inputs == content_digest(ks, inputs.keystores[ks.name]))
        trust = (Trust.NONE if settings is None else Trust.DESCRIBED if described
                 else Trust.PARTIAL if partial else Trust.INTACT)
        found.append(_Found(ks, inputs.keystores[ks.name], rel, data, mode, settings, trust,
                            locked if described else None, info.st_uid, info.st_gid))
    stores: dict[str, ObservedStore] = {}
    unreadable: dict[str, Unreadable] = {}
    for f, result in zip(found, _open_stores(found, jobs=jobs, cache=inputs.kdf), strict=True):
        if isinstance(result, ObservedStore):
            stores[f.ks.name] = dataclasses.replace(result, renamed_from=renamed.get(f.ks.name),
                                                    unrecorded=_locked(f.ks, lock) is None)
        elif tolerate_unreadable:
            unreadable[f.ks.name] = Unreadable(f.rel, f.data, str(result))
        else:
            raise result
    orphans: list[Orphan] = []
    left_alone: list[LeftAlone] = []
    if lock is not None:
        names = {k.name for k in spec.keystores} | set(renamed.values())
        paths = {k.path for k in spec.keystores} | {rel for x in spec.exports for _, rel in x.files}
        for name, locked in lock.keystores.items():
            if name in names or locked.path in paths:
                continue
            orphan = _orphan(name, locked, root, inputs)
            if isinstance(orphan, Orphan):
                orphans.append(orphan)
            elif orphan is not None:
                left_alone.append(LeftAlone(name, locked.path, orphan))
    return Observed(stores, tuple(orphans), unreadable, tuple(left_alone), owner, foreign, _password_files(inputs),
                    exports=exports)


def _foreign(spec: Spec, lock: Lock | None, owner: str) -> dict[str, LockedStore]:
    """Lock records another spec owns; an error when this spec wants one of their names or paths."""
    if lock is None or not owner:
        return {}
    foreign = {n: s for n, s in lock.keystores.items() if s.owner and s.owner != owner}
    by_path = {s.path.casefold(): (n, s) for n, s in foreign.items()}
    for ks in spec.keystores:
        theirs = foreign.get(ks.name)
        if theirs is not None:
            raise KstoolError(f"keystore {ks.name!r} ({ks.location}): kstool.lock records a keystore of that name "
                              f"for spec {theirs.owner} (path {theirs.path}); specs sharing an output folder need "
                              f"distinct keystore names: rename it in {owner} or in {theirs.owner} (if "
                              f"{theirs.owner} was renamed to {owner}, change its \"owner\" in kstool.lock)")
        hit = by_path.get(ks.path.casefold())
        if hit is not None:
            raise KstoolError(f"{ks.path} (keystore {ks.name!r} at {ks.location}) is owned by spec {hit[1].owner} "
                              f"(its keystore {hit[0]!r}, per kstool.lock); {owner} may not write it: change the "
                              f"path in {owner} or in {hit[1].owner}")
    return foreign


def _locked(ks: KeystoreSpec, lock: Lock | None) -> LockedStore | None:
    """The lock's record of this keystore, under its name or, after a rename, under its previous_name."""
    if lock is None:
        return None
    locked = lock.keystores.get(ks.name)
    if locked is None and ks.previous_name is not None:
        locked = lock.keystores.get(ks.previous_name)
    return locked


def _orphan(name: str, locked: LockedStore, root: Path, inputs: Inputs) -> Orphan | str | None:
    """The orphan to delete; else why its file is left alone (None: no file, nothing to say)."""
    try:
        check_confined(root, locked.path)
        artifact = read_artifact(root / locked.path, locked.path)
    except KstoolError as e:
        return str(e)
    if artifact is None:
        return None
    data = artifact[0]
    store_type = detect_type(data)
    if store_type is None:
        return "not a JKS, JCEKS or PKCS12 keystore"
    if hashlib.sha256(data).hexdigest() == locked.sha256:
        facts = tuple({k: str(v) for k, v in e.items() if isinstance(v, str)} for e in locked.entries)
        return Orphan(name, locked.path, store_type, data, facts, locked.prevent_destroy)
    passwords = dict.fromkeys(r.secret.reveal() for ki in inputs.keystores.values()
                              for r in (ki.password, ki.previous_password) if r is not None)
    for password in passwords:
        try:  # proven by the integrity check (a store without one proves nothing: it is not opened)
            if not prove_password(data, store_type, password, cache=inputs.kdf):
                continue
            entries = decode(data, store_type, password, known_intact=True, keys=False, cache=inputs.kdf)
            facts = tuple({"alias": e.alias, "kind": "key" if isinstance(e, KeyEntry) else "trusted",
                           **cert_facts(leaf_der(e))}
                          for e in entries)
        except WrongPasswordError:
            continue
        except KstoolError:
            break
        return Orphan(name, locked.path, store_type, data, facts, locked.prevent_destroy)
    return ("its bytes are not what kstool.lock recorded and no password of this spec opens it: someone else's "
            "file now; move or delete it yourself if it should go")


def _password_files(inputs: Inputs) -> dict[Path, tuple[int, int, int]]:
    """Mode, owner and group of the generated password files that exist (links are not followed)."""
    out: dict[Path, tuple[int, int, int]] = {}
    for ki in inputs.keystores.values():
        for path in ki.password_files:
            try:
                info = os.lstat(path)
            except OSError:
                continue  # apply creates it (or reading it already failed with a clear message)
            if stat.S_ISREG(info.st_mode):
                out[path] = (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
    return out


def _describes(locked: LockedStore, ks: KeystoreSpec) -> bool:
    """Does the lock record every entry the spec lists, in order, with all the facts a plan shows?"""
    return bool(locked.inputs) and len(locked.entries) == len(ks.entries) and all(
        facts.get("alias") == entry.alias and facts.get("kind") == ("key" if entry.is_key else "trusted")
        and all(isinstance(facts.get(k), str) for k in CERT_FACTS)
        for facts, entry in zip(locked.entries, ks.entries, strict=True))


def _find(ks: KeystoreSpec, root: Path, lock: Lock | None) -> tuple[str, bytes, os.stat_result, str | None] | None:
    """The artifact at the spec's path or, when the path changed, at the path the lock file recorded (under the
    keystore's name or its previous_name, which is returned when it was used)."""
    found = read_artifact_stat(root / ks.path, ks.path)
    if found is not None:
        return (ks.path, *found, None)
    for name in (ks.name, ks.previous_name):
        locked = lock.keystores.get(name) if lock and name else None
        if locked is not None and locked.path != ks.path:
            check_confined(root, locked.path)
            old = read_artifact_stat(root / locked.path, locked.path)
            if old is not None:
                return (locked.path, *old, name if name != ks.name else None)
            return None
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
    locked_settings: str | None  # set from Trust.INTACT up
    trust: Trust = Trust.NONE
    locked: LockedStore | None = None  # set at Trust.DESCRIBED: prove the password, decrypt nothing
    uid: int = -1
    gid: int = -1

class _Opened(NamedTuple):
    """What opened a store (a worker's answer to an ``_OpenTask``)."""

    entries: tuple[Entry, ...]
    store_label: str  # "password" or "previous_password"
    key_password: str  # the key password that opened the keys
    proven_only: bool  # proven by the integrity check alone (Trust.DESCRIBED): entries empty


class _Refused(NamedTuple):
    """No candidate password opens the store (``stage="store"``) or, the store open, its keys ("key")."""

    stage: Literal["store", "key"]
    store_label: str | None = None


def _open_stores(found: list[_Found], *, jobs: int, cache: KdfCache) -> list[ObservedStore | KstoolError]:
    """``open_store`` for many artifacts, decoding in ``jobs`` processes when there are many."""
    from kstool.engine.parallel import pmap  # noqa: PLC0415

    errors: dict[int, KstoolError] = {}
    tasks: dict[int, _OpenTask] = {}
    for i, f in enumerate(found):
        try:
            tasks[i] = _open_task(f)
        except KstoolError as e:  # not a keystore at all
            errors[i] = e
    if jobs > 1 and len(tasks) >= MIN_PARALLEL_STORES:
        # each worker derives with a cache of its own and sends its derivations back: what verify and apply
        # re-encode in this process then costs no KDF again
        results = pmap(_try_open_sharing, list(tasks.values()), jobs=jobs, min_tasks=MIN_PARALLEL_STORES)
        for _, derived in results:
            cache.absorb(derived)
        opened = dict(zip(tasks, (result for result, _ in results), strict=True))
    else:
        try_open = functools.partial(_try_open, cache=cache)
        opened = dict(zip(tasks, map(try_open, tasks.values()), strict=True))
    out: list[ObservedStore | KstoolError] = []
    for i, f in enumerate(found):
        try:
            if i in errors:
                raise errors[i]
            out.append(_observed(f, opened[i]))
        except KstoolError as e:
            out.append(e)
    return out


class _OpenTask(NamedTuple):
    """One store to open, sent to a worker process: bytes and candidate passwords, no spec objects."""

    data: bytes
    store_type: StoreType
    store_passwords: list[tuple[str, str]]  # (label, password), the current one first
    key_passwords: list[str]  # candidates, the effective key password first
    trust: Trust


def _open_task(found: _Found) -> _OpenTask:
    ks, ki, rel, data = found.ks, found.ki, found.rel, found.data
    store_type = detect_type(data)
    if store_type is None:
        raise KstoolError(f"{rel} is not a JKS, JCEKS or PKCS12 keystore (keystore {ks.name!r} at "
                          f"{ks.location}); move it away or fix the keystore's path")
    # the current passwords first; the previous ones only when those fail (rotation)
    store_passwords = [("password", ki.password.secret.reveal())]
    if ki.previous_password is not None:
        store_passwords.append(("previous_password", ki.previous_password.secret.reveal()))
    # a key password that used to follow a store password is among the store passwords
    previous_key = [ki.previous_key_password.secret.reveal()] if ki.previous_key_password else []
    key_passwords = list(dict.fromkeys([ki.effective_key_password, *previous_key]
                                       + [p for _, p in store_passwords]))
    return _OpenTask(data, store_type, store_passwords, key_passwords, found.trust)


_NO_INTEGRITY_CHECK = ("it has no integrity check (MAC), so its password does not protect it and anyone could have "
                       "written it; kstool never writes such a file and does not trust its contents")


def _try_open_sharing(task: _OpenTask) -> tuple[_Opened | str | _Refused, dict[Hashable, object]]:
    """``_try_open`` in a worker process, with the key derivations it made."""
    cache = KdfCache()
    return _try_open(task, cache), cache.derivations()


def _try_open(task: _OpenTask, cache: KdfCache | None = None) -> _Opened | str | _Refused:
    """Entries and which passwords opened them; _Refused if no password does; a message if the bytes are bad.

    Module-level and free of spec objects: it runs in worker processes too.
    """
    data, store_type, store_passwords, key_passwords, trust = task
    known_intact, keys = trust >= Trust.INTACT, trust < Trust.PARTIAL
    # a store the password does not protect (a PKCS12 without a MAC) could have been planted by anyone: never trusted
    if trust is Trust.DESCRIBED:
        try:
            if prove_password(data, store_type, store_passwords[0][1], cache=cache):
                return _Opened((), store_passwords[0][0], key_passwords[0], True)
            return _NO_INTEGRITY_CHECK  # False: there is no integrity check to prove the password with
        except WrongPasswordError:
            pass  # the full open below tries previous_password too, and names the problem
        except KstoolError as e:
            return str(e)
    try:
        if not has_integrity_check(data, store_type):
            return _NO_INTEGRITY_CHECK
    except KstoolError as e:
        return str(e)
    candidates = store_passwords
    if store_type != "pkcs12":  # the store hash names the store password first: a failing key is then named
        proven = _store_password(data, store_type, store_passwords)  # JKS/JCEKS: a store hash, no KDF
        if isinstance(proven, str | _Refused):
            return proven
        candidates = [proven]
    # PKCS12 has one password: the key passwords are the store's
    key_candidates = key_passwords if store_type != "pkcs12" else key_passwords[:1]
    for label, store_password in candidates:
        for key_password in key_candidates:
            try:
                entries = decode(data, store_type, store_password, key_password=key_password,
                                 known_intact=known_intact, keys=keys, cache=cache)
                for entry in entries:  # every certificate must parse: later steps read their names and keys
                    if isinstance(entry, KeyEntry) and not entry.chain_der:
                        return f"key entry {entry.alias!r} holds a private key without its certificate"
                    for der in entry.chain_der if isinstance(entry, KeyEntry) else (entry.cert_der,):
                        load_cert(der)
            except WrongPasswordError:
                continue
            except KstoolError as e:
                return str(e)
            return _Opened(entries, label, key_password, False)
    return _Refused("key", candidates[0][0]) if store_type != "pkcs12" else _Refused("store")


def _store_password(data: bytes, store_type: StoreType,
                    store_passwords: list[tuple[str, str]]) -> tuple[str, str] | str | _Refused:
    """The first (label, password) whose JKS/JCEKS store hash matches; a message if the bytes are bad."""
    for label, password in store_passwords:
        try:
            prove_password(data, store_type, password)
        except WrongPasswordError:
            continue
        except KstoolError as e:
            return str(e)
        return label, password
    return _Refused("store")


def _observed(found: _Found, result: _Opened | str | _Refused) -> ObservedStore:
    ks, ki, rel = found.ks, found.ki, found.rel
    store_type = detect_type(found.data)
    assert store_type is not None
    if isinstance(result, str):
        raise KstoolError(f"{rel} is not a valid {store_type.upper()} keystore ({result}); keystore "
                          f"{ks.name!r} at {ks.location}: restore it from a backup or move it away "
                          "to build it anew")
    if isinstance(result, _Refused):
        raise KstoolError(_refusal(found, result))
    entries, label, key_password, proven_only = result
    opened_with: Literal["password", "previous_password"] = (
        "previous_password" if label == "previous_password" else "password")
    opener = ki.previous_password if opened_with == "previous_password" else ki.password
    assert opener is not None
    # a key password that simply follows the store password is not a change of its own
    follows_store = ki.key_password is None and key_password == opener.secret.reveal()
    changed = store_type != "pkcs12" and key_password != ki.effective_key_password and not follows_store
    # proven only: the lock describes it; else opened (keys left encrypted from Trust.PARTIAL up)
    trust = found.trust if proven_only else min(found.trust, Trust.PARTIAL)
    return ObservedStore(rel, found.data, store_type, entries, opened_with, changed, found.mode,
                         found.locked_settings, trust, found.locked if proven_only else None,
                         uid=found.uid, gid=found.gid)


def _refusal(found: _Found, refused: _Refused) -> str:
    """Which secret failed, and what to do: the store password, or (the store open) the key password."""
    ks, ki, rel = found.ks, found.ki, found.rel
    where = f"keystore {ks.name!r} at {ks.location}"
    if refused.stage == "store":
        hint = _previous_hint(ki, "previous_password", ki.previous_password,
                              "if the password was rotated, set previous_password to the old one")
        return (f"{rel}: the password from {ki.password.ref.describe()} does not open this keystore, or the file "
                f"is corrupted (its integrity check fails) ({where}); {hint}; to build it anew, move the file away")
    opener = ki.previous_password if refused.store_label == "previous_password" else ki.password
    assert opener is not None
    store = f"the store password (from {opener.ref.describe()}) opens this keystore"
    if ki.key_password is not None:
        key = f"the key password from {ki.key_password.ref.describe()}"
    else:
        key = "the store password (no key_password is set)"
    hint = _previous_hint(ki, "previous_key_password", ki.previous_key_password,
                          "if the key password was rotated, set previous_key_password to the old one")
    return f"{rel}: {store}, but {key} does not open its private keys ({where}); {hint}"


def _previous_hint(ki: KeystoreInputs, key: str, previous: Resolved | None, otherwise: str) -> str:
    if previous is not None:
        return f"neither does {key} (from {previous.ref.describe()})"
    if key in ki.unreadable_previous:
        return f"{key} would be tried next, but it cannot be read: {ki.unreadable_previous[key]}"
    return otherwise
