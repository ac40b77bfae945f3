"""The only code that writes files: build every entry, encode, self-check, then write atomically."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import NamedTuple

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, load_der_private_key

from kstool.engine.commit import ChangedDuringApplyError, Commit, prune_backups
from kstool.engine.digests import content_digest, encoding_settings
from kstool.engine.facts import load_cert
from kstool.engine.fsutil import Ownership, stage, stage_all
from kstool.engine.inputs import Inputs, timestamp_ms
from kstool.engine.interrupts import INTERRUPTS, as_interrupted
from kstool.engine.lockfile import (
    LOCK_NAME,
    LockedExport,
    LockedStore,
    lock_entry,
    lock_renders_as,
    locked_store,
    render_lock,
)
from kstool.engine.observe import Observed, read_artifact
from kstool.engine.parallel import Pool, imap, pmap
from kstool.engine.plan import Action, Address, Follow, Keep, NewKey, Plan, Reissue
from kstool.errors import KstoolError
from kstool.formats.codec import Profile, decode, encode
from kstool.formats.entries import Entry, KeyEntry, StoreType, TrustedEntry, leaf_der
from kstool.formats.protection import KdfCache
from kstool.spec.model import FileRef, Generate, Spec


@dataclass(frozen=True, slots=True)
class ApplyResult:
    written: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    password_files: tuple[str, ...] = ()
    lock_written: bool = False
    backups: tuple[str, ...] = field(default=())
    pruned_backups: tuple[str, ...] = ()  # older backups deleted to keep the spec's backups.keep


def execute(plan: Plan, spec: Spec, inputs: Inputs, observed: Observed, root: Path, *, now: datetime,
            backups: bool = True, stamp: str = "", jobs: int = 1, reporter: Reporter | None = None,
            root_fd: int | None = None) -> ApplyResult:
    """Build and verify every artifact in memory, then commit them all (or, on failure, none).

    One transaction holds every write: the keystores, the generated password files and kstool.lock are all
    staged (written and fsynced next to their targets) before the first one is put in place, and a failure or
    an interrupt at any step puts back what was already replaced. ``root_fd`` is the output folder apply
    locked (``writer_lock.apply_lock``): if it is moved, removed or swapped for a link meanwhile, nothing is written.
    """
    _check_ownership_settable(plan, spec, inputs)
    try:
        with Pool(jobs) as pool:  # started only if some step is worth it; shared by key generation and encoding
            built = _build_entries(plan, now, jobs=jobs, reporter=reporter, pool=pool)
            outputs = _encode_all(plan, spec, inputs, built, jobs=jobs, pool=pool)
    except INTERRUPTS as e:  # the pool's workers are killed already (Pool.__exit__)
        raise as_interrupted(e).after("nothing was changed") from None
    exported = _render_exports(plan, spec, inputs, observed, built=built, outputs=outputs)
    # everything is built and verified: only now does anything get written
    commit = Commit(root, backups, stamp or now.strftime("%Y%m%dT%H%M%SZ"), root_fd=root_fd)
    lock = lock_content(spec, inputs, plan, built, outputs=outputs, observed=observed, exported=exported)
    old_lock = _read_lock_bytes(root)
    passwords = _new_password_files(spec, inputs)
    paths = {change.name: change.path for change in plan.keystores if change.name in outputs}
    stores = {root / paths[name]: data for name, data in outputs.items()}
    stores.update({root / rel: data for rel, data in exported.items()})  # export files: artifacts like stores
    _refuse_shared_targets(stores, passwords)
    ownership = {root / paths[name]: inputs.keystores[name].ownership for name in outputs}
    ownership.update({root / x.path: inputs.exports[x.export].ownership for x in plan.exports
                      if x.path in exported and x.export in inputs.exports})
    for ki in inputs.keystores.values():
        ownership.update(ki.password_files)
    staged = _stage(commit, stores, passwords, lock if lock != old_lock else None, ownership)
    written: list[str] = []
    deleted: list[str] = []
    try:
        _put_in_place(commit, plan, observed, staged=staged, rewritten=outputs.keys(), passwords=passwords,
                      old_lock=old_lock, written=written, deleted=deleted, exported=exported.keys())
        commit.finish()
    except ChangedDuringApplyError as e:
        commit.discard(staged.values())
        commit.rollback("changed during apply", headline=str(e))
    except (OSError, KstoolError) as e:
        commit.discard(staged.values())  # new files never put in place
        commit.rollback(f"{type(e).__name__}: {getattr(e, 'strerror', None) or e}")
    except INTERRUPTS as e:
        commit.discard(staged.values())
        commit.rollback_interrupted(as_interrupted(e))
    _fix_password_files(inputs, observed)
    artifacts = {p for change in plan.keystores for p in (change.path, change.moved_from) if p is not None}
    artifacts |= {x.path for x in plan.exports}
    pruned = prune_backups(root, artifacts, spec.backups_keep)
    return ApplyResult(tuple(written), tuple(deleted), tuple(passwords), lock != old_lock,
                       tuple(commit.backup_paths), tuple(pruned))


def _put_in_place(commit: Commit, plan: Plan, observed: Observed, *, staged: dict[Path, Path],
                  rewritten: Collection[str], passwords: Mapping[str, tuple[Path, bytes]], old_lock: bytes | None,
                  written: list[str], deleted: list[str], exported: Collection[str] = ()) -> None:
    """The commit's steps in order: new password files, new and changed stores, deletions, then kstool.lock.
    Each step checks its target is still what apply observed; ``staged`` loses each file put in place."""
    root = commit.root
    for shown, (path, _) in passwords.items():
        commit.create(path, staged[path], shown)
        del staged[path]
    for change in plan.keystores:
        if change.name in rewritten:
            old = observed.stores.get(change.name) or observed.unreadable.get(change.name)
            # a moved store's old file is deleted below; at the new path there was nothing
            before = old.data if old is not None and old.path == change.path else None
            commit.replace(change.path, staged[root / change.path], before)
            del staged[root / change.path]  # in place now: no longer a temp file to discard
            written.append(change.path)
    orphans = {o.name: o for o in observed.orphans}
    for change in plan.keystores:
        gone = change.path if change.action is Action.DELETE else change.moved_from
        if gone is not None:
            found = read_artifact(root / gone, gone)
            if found is not None:
                seen = (orphans.get(change.name) if change.action is Action.DELETE
                        else observed.stores.get(change.name) or observed.unreadable.get(change.name))
                # only the file plan judged kstool's, still as apply observed it (Commit.delete checks)
                expected = seen.data if seen is not None and seen.path == gone else found[0]
                commit.delete(gone, expected)
                deleted.append(gone)
    _put_exports_in_place(commit, plan, observed, staged=staged, exported=exported, written=written,
                          deleted=deleted)
    if root / LOCK_NAME in staged:  # the lock is in git: no backup, but restored on rollback
        commit.replace(LOCK_NAME, staged[root / LOCK_NAME], old_lock, backup=False)
        del staged[root / LOCK_NAME]


def _put_exports_in_place(commit: Commit, plan: Plan, observed: Observed, *, staged: dict[Path, Path],
                          exported: Collection[str], written: list[str], deleted: list[str]) -> None:
    """Export files after the stores (the same checks, backups and rollback), then files of removed exports."""
    found = observed.exports.files if observed.exports is not None else {}
    for change in plan.exports:
        if change.path in exported:
            old = found.get(change.path)
            commit.replace(change.path, staged[commit.root / change.path], old.data if old is not None else None)
            del staged[commit.root / change.path]
            written.append(change.path)
    orphans = {o[3]: o[4] for o in observed.exports.orphans} if observed.exports is not None else {}
    for change in plan.exports:
        if change.action is Action.DELETE and change.path in orphans:
            commit.delete(change.path, orphans[change.path])
            deleted.append(change.path)


def _render_exports(plan: Plan, spec: Spec, inputs: Inputs, observed: Observed, *, built: Mapping[Address, Entry],
                    outputs: Mapping[str, bytes]) -> dict[str, bytes]:
    """The export files apply writes, cut from the entries and store bytes built in this run."""
    if not plan.exports:
        return {}
    from kstool.engine.exports import Material, render_exports, store_aliases  # noqa: PLC0415

    stores = {name: s.data for name, s in observed.stores.items()}
    stores.update(outputs)
    return render_exports(spec, inputs, plan.exports, Material(built, stores, aliases=store_aliases(plan.keystores)))


def _refuse_shared_targets(stores: Mapping[Path, bytes], passwords: Mapping[str, tuple[Path, bytes]]) -> None:
    """One commit writes each path once: a generated password file at a keystore's path is refused."""
    targets = {os.path.abspath(path) for path in stores}
    for shown, (path, _) in passwords.items():
        if os.path.abspath(path) in targets:
            raise KstoolError(f"{shown}: a generated password file at the path of a keystore apply writes; nothing "
                              "was changed: give the password file or the keystore another path")


def _stage(commit: Commit, stores: dict[Path, bytes], passwords: Mapping[str, tuple[Path, bytes]],
           lock: bytes | None, ownership: Mapping[Path, Ownership]) -> dict[Path, Path]:
    """Every new file written and fsynced (in parallel) next to its target, before the first one replaces
    anything: all of them, or none (no temp file left, even on Ctrl-C)."""
    staged: dict[Path, Path] = {}
    try:
        commit.check_root()  # staging creates folders: never recreate a removed output folder, nor follow a link
        staged = stage_all({**stores, **dict(passwords.values())}, ownership=ownership)
        if lock is not None:
            staged[commit.root / LOCK_NAME] = stage(commit.root / LOCK_NAME, lock, mode=0o644)
    except OSError as e:
        commit.discard(staged.values())
        raise KstoolError(f"apply failed while writing the new files ({e.strerror or e}); nothing was changed") \
            from None
    except KstoolError:
        commit.discard(staged.values())
        raise
    except INTERRUPTS as e:
        commit.discard(staged.values())
        raise as_interrupted(e).after("nothing was changed") from None
    return staged


def _encode_all(plan: Plan, spec: Spec, inputs: Inputs, built: Mapping[Address, Entry], *, jobs: int,
                pool: Pool) -> dict[str, bytes]:
    """The new bytes of every keystore the plan writes, each read back and checked (``encode_checked``)."""
    tasks: dict[str, _EncodeTask] = {}
    for change in plan.keystores:
        if change.action in (Action.NOOP, Action.DELETE):
            continue
        ks = spec.keystore(change.name)
        assert ks is not None
        ki = inputs.keystores[change.name]
        entries = tuple(built[(change.name, e.alias)] for e in change.entries if e.action is not Action.DELETE)
        tasks[change.name] = _EncodeTask(change.path, ks.type, entries, ki.password.secret.reveal(),
                                         ki.key_password.secret.reveal() if ki.key_password else None,
                                         ks.pkcs12_profile, ks.iterations, change.expected)
    check = partial(encode_checked, cache=inputs.kdf)  # a worker process gets an empty cache of its own
    encoded = pmap(check, list(tasks.values()), jobs=jobs, min_tasks=MIN_PARALLEL_ENCODES, pool=pool)
    return dict(zip(tasks, encoded, strict=True))


class Reporter:
    """Progress of a long apply: ``start(total)`` once, then ``advance()`` per key or artifact. Silent by default."""

    def start(self, total: int) -> None:
        """Called once with the number of steps."""

    def advance(self) -> None:
        """Called after each step."""


def _build_entries(plan: Plan, now: datetime, *, jobs: int = 1, reporter: Reporter | None = None,
                   pool: Pool | None = None) -> dict[Address, Entry]:
    report = reporter or Reporter()
    built: dict[Address, Entry] = {}
    new_keys: list[tuple[Address, Generate]] = []
    follows: dict[Address, Follow] = {}
    signed: dict[Address, Reissue] = {}  # certificates a CA of the spec signs, once that CA is built
    for change in plan.keystores:
        for e in change.entries:
            build = e.build
            address = (change.name, e.alias)
            if isinstance(build, Keep):
                built[address] = build.entry
            elif isinstance(build, NewKey):
                new_keys.append((address, build.generate))
            elif isinstance(build, Reissue) and build.generate.issuer is not None:
                signed[address] = build
            elif isinstance(build, Reissue):
                built[address] = _issue(e.alias, _own_key(build.key_der), build.generate, now)
            elif isinstance(build, Follow):
                follows[address] = build
    new = _new_entries([_NewKeyTask(address[1], gen, now) for address, gen in new_keys], jobs, report, pool)
    for (address, gen), entry in zip(new_keys, new, strict=True):
        if gen.issuer is None:
            built[address] = entry
        else:  # its new key, signed below by its issuer
            signed[address] = Reissue(entry.key_der, gen)
    _sign_in_order(signed, built, now)
    while follows:  # references to references resolve in rounds; the spec has no cycles
        ready = {a: f for a, f in follows.items() if (f.keystore, f.alias) in built}
        if not ready:
            raise AssertionError(f"unresolvable trusted references: {sorted(follows)}")
        for address, follow in ready.items():
            target = built[(follow.keystore, follow.alias)]
            leaf = leaf_der(target)
            built[address] = TrustedEntry(address[1], leaf, timestamp_ms(load_cert(leaf)))
            del follows[address]
    return built


def _sign_in_order(signed: dict[Address, Reissue], built: dict[Address, Entry], now: datetime) -> None:
    """Issue each certificate once its issuer is built: issuers first, in rounds (the spec has no cycles)."""
    while signed:
        ready = {a: r for a, r in signed.items() if r.generate.issuer in built}
        if not ready:
            raise AssertionError(f"unresolvable issuers: {sorted(signed)}")
        for address, task in ready.items():
            assert task.generate.issuer is not None
            issuer = built[task.generate.issuer]
            if not isinstance(issuer, KeyEntry) or not issuer.key_der:
                raise AssertionError(f"issuer of {address} was not opened with its key")
            built[address] = _issue(address[1], _own_key(task.key_der), task.generate, now, issuer=issuer)
            del signed[address]


def _own_key(key_der: bytes) -> PrivateKeyTypes:
    """A key kstool generated or read from an integrity-checked store: skip cryptography's ~25 ms RSA check."""
    return load_der_private_key(key_der, None, unsafe_skip_rsa_key_validation=True)


# RSA key generation is the one slow step worth a process pool; EC and Ed25519 keys take microseconds.
_POOL_MIN_RSA_KEYS = 2


class _NewKeyTask(NamedTuple):
    """One key to generate with its self-signed certificate, sent to a worker process."""

    alias: str
    generate: Generate  # what to generate
    now: datetime  # the certificate's notBefore


def _new_entries(tasks: list[_NewKeyTask], jobs: int, report: Reporter, pool: Pool | None) -> list[KeyEntry]:
    """A new key with its self-signed certificate per task, in task order; over ``jobs`` processes when RSA keys
    are among them (each worker issues the certificate of the key it made, so signing runs in parallel too)."""
    report.start(len(tasks))
    n_rsa = sum(1 for task in tasks if task.generate.algorithm == "RSA")
    out: list[KeyEntry] = []
    for entry in imap(new_entry, tasks, jobs=jobs if n_rsa >= _POOL_MIN_RSA_KEYS else 1, min_tasks=1, pool=pool):
        out.append(entry)
        report.advance()
    return out


def new_entry(task: _NewKeyTask) -> KeyEntry:
    """Generate one key and issue its certificate (module-level: it runs in worker processes too)."""
    from kstool.crypto.certs import generate_private_key  # noqa: PLC0415

    alias, gen, now = task
    return _issue(alias, generate_private_key(gen.algorithm, gen.size), gen, now)


def _issue(alias: str, key: PrivateKeyTypes, gen: Generate, now: datetime, *,
           issuer: KeyEntry | None = None) -> KeyEntry:
    """The entry's certificate: self-signed as keytool's, or (``ca``, ``usage``, ``issuer``) as a CA issues it;
    the chain is the certificate followed by the issuer's chain."""
    from kstool.crypto.certs import build_issued, build_self_signed  # noqa: PLC0415
    from kstool.crypto.imports import private_key_to_pkcs8  # noqa: PLC0415

    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise TypeError(f"cannot issue a certificate for a {type(key).__name__}")
    if not (gen.ca or gen.usage or issuer):
        cert = build_self_signed(key, gen.subject, not_before=now, validity_days=gen.validity_days,
                                 san=gen.san_names)
        return KeyEntry(alias, private_key_to_pkcs8(key), (cert.public_bytes(Encoding.DER),), timestamp_ms(cert))
    issuer_key = _own_key(issuer.key_der) if issuer is not None else None
    if issuer_key is not None and not isinstance(
            issuer_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise KstoolError(f"issuer of {alias!r}: cannot sign with a {type(issuer_key).__name__}")
    cert = build_issued(key, gen.subject, not_before=now, validity_days=gen.validity_days, san=gen.san_names,
                        ca=gen.ca, path_length=gen.path_length, usage=gen.usage, issuer_key=issuer_key,
                        issuer_cert=load_cert(issuer.chain_der[0]) if issuer is not None else None)
    chain = (cert.public_bytes(Encoding.DER), *(issuer.chain_der if issuer is not None else ()))
    return KeyEntry(alias, private_key_to_pkcs8(key), chain, timestamp_ms(cert))


MIN_PARALLEL_ENCODES = 16

class _EncodeTask(NamedTuple):
    """One artifact to encode and read back, sent to a worker process: entries and passwords, no spec objects."""

    path: str  # shown in the self-check's message
    store_type: StoreType
    entries: tuple[Entry, ...]
    password: str
    key_password: str | None
    profile: Profile  # PKCS12 only
    iterations: int | None
    expected: bytes | None  # bytes the planner already encoded (its re-encode check), else None


def encode_checked(task: _EncodeTask, cache: KdfCache | None = None) -> bytes:
    """Encode one artifact and re-open it with its passwords: what we write must read back as intended.

    Module-level and free of spec objects: it runs in worker processes too.
    """
    path, store_type, entries, password, key_password, profile, iterations, expected = task
    if any(isinstance(e, KeyEntry) and not e.key_der for e in entries):
        raise AssertionError(f"{path}: a key that was never decrypted reached the encoder")
    cache = KdfCache() if cache is None else cache  # shared by the encode and its read-back: it derives nothing
    data = expected if expected is not None else encode(list(entries), store_type, password,
                                                         key_password=key_password, profile=profile,
                                                         iterations=iterations, cache=cache)
    back = decode(data, store_type, password, key_password=key_password, cache=cache)
    if [_identity(e) for e in back] != [_identity(e) for e in entries]:
        raise KstoolError(f"internal self-check failed for {path}: the encoded keystore does not read back "
                          "as intended; nothing was written (please report this)")
    return data


def _identity(entry: Entry) -> tuple[object, ...]:
    if isinstance(entry, KeyEntry):
        return ("key", entry.alias, entry.key_der, entry.chain_der)
    return ("trusted", entry.alias, entry.cert_der)


def _new_password_files(spec: Spec, inputs: Inputs) -> dict[str, tuple[Path, bytes]]:
    """The generated password files apply creates, by the name the spec gives them: (path, content)."""
    created: dict[str, tuple[Path, bytes]] = {}
    done: set[Path] = set()  # one generated file may serve several keystores (resolve_inputs generated it once)
    for ks in spec.keystores:
        ki = inputs.keystores[ks.name]
        for resolved in (ki.password, ki.previous_password, ki.key_password):
            if resolved is None or not resolved.generated:
                continue
            ref = resolved.ref
            assert isinstance(ref, FileRef)
            if ref.path in done:
                continue
            done.add(ref.path)
            created[ref.shown] = (ref.path, resolved.secret.reveal().encode("utf-8") + b"\n")
    return created


def _check_ownership_settable(plan: Plan, spec: Spec, inputs: Inputs) -> None:
    """Before anything is built: the owner and group the spec sets can be given by the user running apply."""
    for change in plan.keystores:
        ki = inputs.keystores.get(change.name)
        ks = spec.keystore(change.name)
        if ki is None or ks is None or change.action is Action.DELETE:
            continue
        if change.action is not Action.NOOP:
            ki.ownership.check_settable(f"keystore {ks.name!r} at {ks.location}")
        if change.password_files or change.password_file_fixes:
            for path, wanted in ki.password_files.items():
                wanted.check_settable(f"password file {path}")
    for x in plan.exports:
        xi = inputs.exports.get(x.export)
        if xi is not None and x.action in (Action.CREATE, Action.UPDATE):
            xi.ownership.check_settable(f"export {x.export!r} ({x.path})")


def _fix_password_files(inputs: Inputs, observed: Observed) -> None:
    """Give generated password files that exist the spec's mode, owner and group (in place: their bytes stay)."""
    for ki in inputs.keystores.values():
        for path, wanted in ki.password_files.items():
            actual = observed.password_files.get(path)
            if actual is None or not wanted.differences(*actual):
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                try:
                    if wanted.uid != -1 or wanted.gid != -1:
                        os.fchown(fd, wanted.uid, wanted.gid)
                    os.fchmod(fd, wanted.mode)
                finally:
                    os.close(fd)
            except OSError as e:
                raise KstoolError(f"password file {path}: cannot set its mode, owner or group ({e.strerror}); the "
                                  "keystores are written: fix the cause and run apply again") from None


def lock_content(spec: Spec, inputs: Inputs, plan: Plan, built: Mapping[Address, Entry], *,
                 outputs: Mapping[str, bytes], observed: Observed,
                 exported: Mapping[str, bytes] | None = None) -> bytes:
    """kstool.lock as it stands once this plan is applied."""
    return render_lock(_lock_records(spec, inputs, plan, built, outputs=outputs, observed=observed),
                       _lock_exports(spec, plan, observed, exported))


def _lock_records(spec: Spec, inputs: Inputs, plan: Plan, built: Mapping[Address, Entry], *,
                  outputs: Mapping[str, bytes], observed: Observed) -> dict[str, LockedStore]:
    stores: dict[str, LockedStore] = dict(observed.foreign)  # other specs' records stay as they are
    stores.update(observed.kept)  # and so do the records of keystores a --target run leaves out
    for change in plan.keystores:
        if change.action is Action.DELETE:
            continue
        ks = spec.keystore(change.name)
        assert ks is not None
        store = observed.stores.get(change.name)
        if store is not None and store.locked is not None and change.action is Action.NOOP:
            # observe checked it describes this file and these inputs
            stores[change.name] = dataclasses.replace(store.locked, owner=observed.owner,
                                                      prevent_destroy=ks.prevent_destroy)
            continue
        data = outputs[change.name] if change.name in outputs else observed.stores[change.name].data
        entries = [built[(change.name, e.alias)] for e in change.entries if e.action is not Action.DELETE]
        stores[change.name] = locked_store(change.path, change.type, data, [lock_entry(e) for e in entries],
                                           settings=encoding_settings(ks),
                                           inputs=content_digest(ks, inputs.keystores[change.name]),
                                           owner=observed.owner, prevent_destroy=ks.prevent_destroy)
    return stores


def _lock_exports(spec: Spec, plan: Plan, observed: Observed,
                  exported: Mapping[str, bytes] | None) -> Mapping[str, LockedExport] | None:
    if observed.exports is None:
        return None
    from kstool.engine.exports import locked_exports  # noqa: PLC0415

    return locked_exports(spec, plan.exports, exported or {}, observed.owner, observed.exports.foreign)


def lock_is_current(root: Path, spec: Spec, inputs: Inputs, plan: Plan, observed: Observed) -> bool:
    """For a plan without changes: does kstool.lock already say exactly what apply would write?"""
    built = {(c.name, e.alias): e.build.entry for c in plan.keystores for e in c.entries if isinstance(e.build, Keep)}
    return lock_renders_as(_lock_records(spec, inputs, plan, built, outputs={}, observed=observed),
                           _read_lock_bytes(root), _lock_exports(spec, plan, observed, None))


def _read_lock_bytes(root: Path) -> bytes | None:
    try:
        return (root / LOCK_NAME).read_bytes()
    except FileNotFoundError:
        return None


def source_date_epoch_or(now: datetime) -> datetime:
    """``SOURCE_DATE_EPOCH`` when set, else ``now`` (``kstool.engine.clock`` is the one place that reads it)."""
    from kstool.engine.clock import read_clock  # noqa: PLC0415

    return read_clock(wall=now).now
