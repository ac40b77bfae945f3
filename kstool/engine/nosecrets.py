"""A plan without passwords (``kstool plan --no-secrets``): for a pull request from a fork, or a reviewer who has
none of the secrets.

It reads the spec, the committed ``kstool.lock``, the public input files (certificates, CA replies; never a
private key file, never a source keystore) and, of each artifact on disk, only its bytes' SHA-256, its mode and
its owner. No environment variable or password file is read. ``observe_public`` is the IO; ``plan_public`` is pure
(spec, public inputs, disk facts, lock, clock → ``Plan``) and models what it cannot know explicitly: an entry or
keystore whose change it cannot rule out carries ``unverified`` reasons instead of a guessed action, and the
plan's ``NoSecrets`` lists what was checked and what no password-free plan can prove. Such a plan is shown,
never applied.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Literal

from kstool.engine.clock import Clock
from kstool.engine.digests import encoding_settings, entries_digest
from kstool.engine.facts import cert_facts, key_text
from kstool.engine.fsutil import Ownership
from kstool.engine.lockfile import Lock, LockedStore
from kstool.engine.plan import Action, EntryChange, KeystoreChange, NoSecrets, Plan
from kstool.errors import Collector, KstoolError
from kstool.formats.entries import Entry, KeyEntry, StoreType, detect_type, leaf_der
from kstool.spec.model import (
    EntrySpec,
    FileRef,
    Generate,
    ImportFiles,
    ImportKeystore,
    KeystoreSpec,
    Spec,
    TrustedCertificate,
    TrustedReference,
)

Address = tuple[str, str]


@dataclass(frozen=True, slots=True)
class OnDisk:
    """What a no-secrets plan knows of an artifact: where it was found, its digest, type, mode and owner."""

    path: str  # relative to the output root
    sha256: str
    type: StoreType | None  # from the file's magic bytes; None: not a keystore
    mode: int
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class ImportedCerts:
    """An ``import: {certificate:, private_key:}`` entry without its key: the certificates of its files, the
    leaf not yet chosen (that takes the key; ``plan_public`` picks it by the public key kstool.lock records)."""

    certificates: tuple[bytes, ...]
    chain: tuple[bytes, ...]  # from the chain: files
    key_file: str  # as the spec spells it (never read)


@dataclass(frozen=True, slots=True)
class PublicInputs:
    """Per keystore name: alias → public content (a trusted certificate, a CA reply without its key, an import's
    certificates) and the spec's ownership; password files to be generated (they do not exist yet)."""

    material: Mapping[str, Mapping[str, Entry | ImportedCerts]]
    ownership: Mapping[str, Ownership]
    password_files: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# -- IO: public inputs and the artifacts' digests ------------------------------------------------------------

def observe_public(spec: Spec, root: Path, lock: Lock | None, owner: str,
                   now: datetime) -> tuple[PublicInputs, dict[str, OnDisk], dict[str, OnDisk | None], Lock | None]:
    """The public inputs, the spec's artifacts on disk (at the spec's path, else where kstool.lock saw them) and
    the files of lock records this spec owns but no longer lists; the lock less other specs' records."""
    from kstool.engine.fsutil import check_confined, resolve_ownership  # noqa: PLC0415
    from kstool.engine.observe import _foreign  # noqa: PLC0415

    foreign = _foreign(spec, lock, owner)
    if lock is not None:
        lock = Lock({n: s for n, s in lock.keystores.items() if n not in foreign})
    errors = Collector()
    material: dict[str, dict[str, Entry | ImportedCerts]] = {}
    ownership: dict[str, Ownership] = {}
    password_files: dict[str, tuple[str, ...]] = {}
    clock = Clock(now, now)
    for ks in spec.keystores:
        material[ks.name] = {}
        for entry in ks.entries:
            content = errors.attempt(partial(_public_material, entry, clock))
            if content is not None:
                material[ks.name][entry.alias] = content
        found = errors.attempt(partial(resolve_ownership, ks.attrs.mode, ks.attrs.owner, ks.attrs.group,
                                       f"keystore {ks.name!r} at {ks.location}"))
        if found is not None:
            ownership[ks.name] = found
        password_files[ks.name] = tuple(dict.fromkeys(
            ref.shown for ref in (ks.password, ks.key_password)
            if isinstance(ref, FileRef) and ref.generate and not os.path.lexists(ref.path)))
    errors.raise_all()
    disk: dict[str, OnDisk] = {}
    for ks in spec.keystores:
        check_confined(root, ks.path)
        hit = _find(ks, root, lock)
        if hit is not None:
            disk[ks.name] = hit
    orphans: dict[str, OnDisk | None] = {}
    if lock is not None:
        names = {k.name for k in spec.keystores} | {k.previous_name for k in spec.keystores if k.previous_name}
        paths = {k.path for k in spec.keystores}
        for name, locked in lock.keystores.items():
            if name not in names and locked.path not in paths:
                check_confined(root, locked.path)
                orphans[name] = _read(root, locked.path)
    return PublicInputs(material, ownership, password_files), disk, orphans, lock


def _read(root: Path, rel: str) -> OnDisk | None:
    from kstool.engine.observe import read_artifact_stat  # noqa: PLC0415

    found = read_artifact_stat(root / rel, rel)
    if found is None:
        return None
    data, info = found
    return OnDisk(rel, hashlib.sha256(data).hexdigest(), detect_type(data), stat.S_IMODE(info.st_mode),
                  info.st_uid, info.st_gid)


def _find(ks: KeystoreSpec, root: Path, lock: Lock | None) -> OnDisk | None:
    from kstool.engine.fsutil import check_confined  # noqa: PLC0415

    here = _read(root, ks.path)
    if here is not None:
        return here
    locked = _locked(ks, lock)
    if locked is not None and locked.path != ks.path:
        check_confined(root, locked.path)
        return _read(root, locked.path)
    return None


def _public_material(entry: EntrySpec, clock: Clock) -> Entry | ImportedCerts | None:
    """An entry's public content, checked by the same policy as a full plan's (expired, weak...)."""
    from kstool.engine import inputs  # noqa: PLC0415

    source = entry.source
    content: Entry | ImportedCerts | None = None
    if isinstance(source, TrustedCertificate):
        content = inputs._trusted_certificate(entry, source)
    elif isinstance(source, Generate) and source.reply is not None:
        content = inputs._reply(entry, source.reply)
    elif isinstance(source, ImportFiles):
        content = _imported_certs(entry, source)
    if isinstance(content, Entry):
        inputs._check_policy(entry, content, clock)
    return content


def _imported_certs(entry: EntrySpec, source: ImportFiles) -> ImportedCerts:
    from cryptography.hazmat.primitives.serialization import Encoding  # noqa: PLC0415

    from kstool.crypto.imports import load_certificates  # noqa: PLC0415
    from kstool.engine.inputs import _readable, _typed, read_input, shown  # noqa: PLC0415
    from kstool.spec.yamlload import SpecError  # noqa: PLC0415

    where = entry.location
    try:
        certs = _readable(source.certificate, where, load_certificates(
            _typed(source.certificate, where), read_input(source.certificate, where, "certificate file")))
        extra = [c for path in source.chain for c in _readable(path, where, load_certificates(
            _typed(path, where), read_input(path, where, "chain file")))]
    except SpecError:
        raise
    except KstoolError as e:
        raise SpecError(where, str(e)) from None
    return ImportedCerts(tuple(c.public_bytes(Encoding.DER) for c in certs),
                         tuple(c.public_bytes(Encoding.DER) for c in extra), shown(source.private_key, where))


# -- the pure part -------------------------------------------------------------------------------------------

PASSWORDS_UNPROVEN = ("no password was read: a changed store or key password (apply would re-encrypt the same "
                      "keys: a re-encode) cannot be seen, and no keystore's integrity check (MAC or store hash) "
                      "was run")


def _locked(ks: KeystoreSpec, lock: Lock | None) -> LockedStore | None:
    if lock is None:
        return None
    found = lock.keystores.get(ks.name)
    if found is None and ks.previous_name is not None:
        found = lock.keystores.get(ks.previous_name)
    return found


def plan_public(spec: Spec, public: PublicInputs, disk: Mapping[str, OnDisk], orphans: Mapping[str, OnDisk | None],
                lock: Lock | None, *, output_root: str = ".", now: datetime | None = None) -> Plan:
    """The plan as far as the spec, kstool.lock, the public inputs and the files' digests prove it. Pure."""
    proven = {ks.name: _content_proven(ks, public, _locked(ks, lock)) for ks in spec.keystores}
    deduced: set[Address] = set()
    decided = _decide_all(spec, public, disk, lock, proven=proven, deduced=deduced, now=now)
    # a second pass when the content digest pins a change on one entry (its dependents are then reissued too)
    deduced = {a for ks in spec.keystores for a in _deduce(ks, _locked(ks, lock), decided, proven[ks.name])}
    if deduced:
        decided = _decide_all(spec, public, disk, lock, proven=proven, deduced=deduced, now=now)
    changes = [_keystore_change(ks, public, disk.get(ks.name), lock, decided) for ks in spec.keystores]
    # a keystore kstool.lock knows by its previous_name: apply records it under its new one
    lock_update = lock is not None and any(_locked(ks, lock) is not None and ks.name not in lock.keystores
                                           for ks in spec.keystores)
    for name, found in sorted(orphans.items()):
        assert lock is not None
        orphan = _orphan_change(name, lock.keystores[name], found)
        if orphan is None:
            lock_update = True  # gone from the spec and the disk: apply drops its record
        else:
            changes.append(orphan)
    plan = Plan(str(spec.file), output_root, tuple(changes), lock_update=lock_update,
                now=now.strftime("%Y-%m-%dT%H:%M:%SZ") if now is not None else None)
    return dataclasses.replace(plan, no_secrets=_caveats(spec, plan, public, disk, lock))


def _decide_all(spec: Spec, public: PublicInputs, disk: Mapping[str, OnDisk], lock: Lock | None, *,
                proven: Mapping[str, bool], deduced: set[Address],
                now: datetime | None) -> dict[Address, EntryChange]:
    """Every entry's change, issuers before what they sign, references after their targets."""
    decided: dict[Address, EntryChange] = {}
    pending = [(ks, e) for ks in spec.keystores for e in ks.entries]
    while pending:
        waiting = []
        for ks, entry in pending:
            dep = _depends_on(spec, ks, entry)
            if dep is not None and dep not in decided:
                waiting.append((ks, entry))
                continue
            facts = _locked_entry(_locked(ks, lock), entry.alias) if ks.name in disk else None
            content = "same" if proven[ks.name] else "changed" if (ks.name, entry.alias) in deduced else "unknown"
            decided[(ks.name, entry.alias)] = _entry_change(spec, ks, entry, facts, public=public, content=content,
                                                            decided=decided, now=now)
        if len(waiting) == len(pending):
            raise AssertionError("issuers or references form a cycle")  # the spec refused cycles
        pending = waiting
    return decided


def _deduce(ks: KeystoreSpec, locked: LockedStore | None, decided: Mapping[Address, EntryChange],
            proven: bool) -> list[Address]:
    """The one generated entry whose content must have changed: kstool.lock's content digest differs, the spec
    lists exactly the lock's entries, and every other one is an import, trusted certificate or CA reply shown
    unchanged by its certificates (their part of the digest is their certificates')."""
    if proven or locked is None or not locked.inputs:
        return []
    aliases = [str(f.get("alias")) for f in locked.entries]
    if sorted(aliases) != sorted(e.alias for e in ks.entries):
        return []
    open_ = [e for e in ks.entries if decided[(ks.name, e.alias)].unverified]
    if len(open_) != 1 or not isinstance(open_[0].source, Generate) or open_[0].source.reply is not None:
        return []
    for entry in ks.entries:
        if entry is open_[0]:
            continue
        source, change = entry.source, decided[(ks.name, entry.alias)]
        plain = isinstance(source, ImportFiles | TrustedCertificate) or (
            isinstance(source, Generate) and source.reply is not None)
        if not plain or change.action is not Action.NOOP:
            return []
    return [(ks.name, open_[0].alias)]


def _depends_on(spec: Spec, ks: KeystoreSpec, entry: EntrySpec) -> Address | None:
    source = entry.source
    if isinstance(source, Generate) and source.issuer is not None:
        return source.issuer
    if isinstance(source, TrustedReference):
        return spec.reference_target(ks.name, entry.alias)
    return None


def _locked_entry(locked: LockedStore | None, alias: str) -> Mapping[str, object] | None:
    if locked is None:
        return None
    for facts in locked.entries:
        if facts.get("alias") == alias:
            return facts
    return None


def _content_proven(ks: KeystoreSpec, public: PublicInputs, locked: LockedStore | None) -> bool:
    """Does the content digest kstool.lock recorded equal the spec's entries that the lock lists, in its order?
    Then those entries are what the last apply wrote (SANs, CA and usage settings included, which the lock's
    per-entry facts do not show)."""
    if locked is None or not locked.inputs:
        return False
    entries: list[EntrySpec] = []
    material: dict[str, Entry] = {}
    for facts in locked.entries:
        entry = ks.entry(str(facts.get("alias")))
        if entry is None:
            return False  # an entry left the spec: its old content is unknown, the digest cannot be recomputed
        content = _as_entry(entry, public.material.get(ks.name, {}).get(entry.alias), facts)
        if isinstance(entry.source, ImportKeystore | TrustedReference) or (
                not isinstance(entry.source, Generate) and content is None):
            return False
        if isinstance(entry.source, Generate) and entry.source.reply is not None and content is None:
            return False
        if content is not None:
            material[entry.alias] = content
        entries.append(entry)
    return entries_digest(entries, material) == locked.inputs


def _as_entry(entry: EntrySpec, content: Entry | ImportedCerts | None,
              facts: Mapping[str, object] | None) -> Entry | None:
    """Public content as an entry (without a key); an import's leaf is the certificate whose public key the lock
    records (None: no certificate of the files has it)."""
    if isinstance(content, ImportedCerts):
        chain = _import_chain(content, facts)
        return None if chain is None else KeyEntry(entry.alias, b"", chain, _timestamp(chain[0]))
    return content


def _timestamp(der: bytes) -> int:
    from kstool.engine.facts import load_cert  # noqa: PLC0415
    from kstool.engine.inputs import timestamp_ms  # noqa: PLC0415

    return timestamp_ms(load_cert(der))


def _import_chain(content: ImportedCerts, facts: Mapping[str, object] | None) -> tuple[bytes, ...] | None:
    """The chain apply would build: the leaf is the certificate matching the private key; without the key, the one
    with the public key kstool.lock records, else the only certificate of the file."""
    from kstool.crypto.imports import order_chain  # noqa: PLC0415
    from kstool.engine.facts import load_cert  # noqa: PLC0415

    want = str(facts.get("public_key_sha256")) if facts is not None else None
    leaves = [c for c in content.certificates if want is not None and cert_facts(c)["public_key_sha256"] == want]
    if not leaves and len(content.certificates) == 1:
        leaves = list(content.certificates)
    if not leaves:
        return None
    leaf = leaves[0]
    others = [load_cert(c) for c in content.certificates if c != leaf] + [load_cert(c) for c in content.chain]
    try:
        chain = order_chain(load_cert(leaf), others, source="")
    except KstoolError:
        return None
    from cryptography.hazmat.primitives.serialization import Encoding  # noqa: PLC0415

    return tuple(c.public_bytes(Encoding.DER) for c in chain)


def _facts_of(facts: Mapping[str, object]) -> dict[str, str]:
    from kstool.engine.lockfile import CERT_FACTS  # noqa: PLC0415

    return {k: str(facts[k]) for k in CERT_FACTS if isinstance(facts.get(k), str)}


def _source(entry: EntrySpec) -> Literal["generate", "import", "trusted"]:
    source = entry.source
    if isinstance(source, Generate):
        return "generate"
    return "import" if isinstance(source, ImportFiles | ImportKeystore) else "trusted"


def _generate_facts(gen: Generate) -> dict[str, str]:
    from kstool.engine.planner import _generate_facts  # noqa: PLC0415

    return _generate_facts(gen)


_PAST = {Action.CREATE: "created", Action.REPLACE: "replaced", Action.UPDATE: "reissued"}


def _entry_change(spec: Spec, ks: KeystoreSpec, entry: EntrySpec, locked: Mapping[str, object] | None, *,
                  public: PublicInputs, content: str, decided: Mapping[Address, EntryChange],
                  now: datetime | None) -> EntryChange:
    kind: Literal["key", "trusted"] = "key" if entry.is_key else "trusted"
    base = EntryChange(entry.alias, Action.NOOP, (), kind, _source(entry))
    material = public.material.get(ks.name, {}).get(entry.alias)
    before = _facts_of(locked) if locked is not None else None
    change = _decide(spec, ks, entry, locked, before=before, content=material, proven=content, decided=decided,
                     now=now, base=base)
    return _timed(entry, change, now)


def _decide(spec: Spec, ks: KeystoreSpec, entry: EntrySpec, locked: Mapping[str, object] | None, *,
            before: dict[str, str] | None, content: Entry | ImportedCerts | None, proven: str,
            decided: Mapping[Address, EntryChange], now: datetime | None, base: EntryChange) -> EntryChange:
    source = entry.source
    r = dataclasses.replace
    if isinstance(source, TrustedReference):
        return _reference(spec, ks, entry, locked, before=before, decided=decided, base=base)
    if isinstance(source, ImportKeystore):
        where = f"import from keystore {_shown(source.keystore, entry)}"
        if locked is None:
            return r(base, action=Action.CREATE, reasons=("new entry",),
                     unverified=(f"{where}: its certificate needs the source keystore's password",))
        return r(base, before=before, after=before,
                 unverified=(f"{where}: opening it needs its password; whether its key or certificate changed is "
                             "unknown",))
    after_entry = _as_entry(entry, content, locked)
    after = cert_facts(leaf_der(after_entry)) if after_entry is not None else None
    if isinstance(source, Generate) and source.reply is None:
        after = _generate_facts(source)
    if locked is None:
        return r(base, action=Action.CREATE, reasons=("new entry",), after=after)
    assert before is not None
    locked_kind = locked.get("kind")
    if locked_kind != base.kind:
        return r(base, action=Action.REPLACE, reasons=(f"entry kind changed: {locked_kind} → {base.kind}",),
                 before=before, after=after)
    if isinstance(source, Generate) and source.reply is None:
        return _generated(entry, source, locked, before=before, proven=proven, decided=decided, now=now, base=base)
    if isinstance(source, Generate):  # a CA reply onto the stored key
        assert isinstance(after_entry, KeyEntry)
        leaf = cert_facts(after_entry.chain_der[0])
        if leaf["public_key_sha256"] != before.get("public_key_sha256"):
            raise KstoolError(f"{entry.location}: reply: the CA's certificate is for public key "
                              f"{leaf['public_key_sha256']}, the keystore's key (per kstool.lock) is "
                              f"{before.get('public_key_sha256')}: the reply answers another request")
        if _chain(locked) == _chain_of(after_entry):
            return r(base, before=before, after=before)
        return r(base, action=Action.UPDATE, reasons=("CA reply imported (key kept)",), before=before, after=after)
    if after_entry is None:  # an import whose certificates hold no public key the lock records
        return r(base, action=Action.REPLACE, reasons=("private key changed",), before=before,
                 after=cert_facts(content.certificates[0]) if isinstance(content, ImportedCerts) else None)
    new_leaf = cert_facts(leaf_der(after_entry))
    if new_leaf["public_key_sha256"] != before.get("public_key_sha256") and isinstance(after_entry, KeyEntry):
        return r(base, action=Action.REPLACE, reasons=("private key changed",), before=before, after=after)
    if new_leaf["sha256"] != before.get("sha256"):
        return r(base, action=Action.UPDATE, reasons=(_cert_changed(before, new_leaf),), before=before, after=after)
    if isinstance(after_entry, KeyEntry) and "chain_sha256" in locked and _chain(locked) != _chain_of(after_entry):
        return r(base, action=Action.UPDATE, reasons=(f"chain changed: {len(_chain(locked))} → "
                                                       f"{len(after_entry.chain_der)} certificates",),
                 before=before, after=after)
    return r(base, before=before, after=after)


def _shown(path: Path, entry: EntrySpec) -> str:
    from kstool.engine.inputs import shown  # noqa: PLC0415

    return shown(path, entry.location)


def _chain(locked: Mapping[str, object]) -> tuple[str, ...]:
    chain = locked.get("chain_sha256")
    if isinstance(chain, list):
        return tuple(str(c) for c in chain)
    if isinstance(chain, str):
        return tuple(chain.split())
    return (str(locked.get("sha256")),)


def _chain_of(entry: Entry) -> tuple[str, ...]:
    ders = entry.chain_der if isinstance(entry, KeyEntry) else (entry.cert_der,)
    return tuple(hashlib.sha256(d).hexdigest() for d in ders)


def _cert_changed(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    return (f"certificate changed: {before.get('sha256', '?')[:16]}… (until {before.get('not_after', '?')}) → "
            f"{after['sha256'][:16]}… (until {after['not_after']})")


def _generated(entry: EntrySpec, gen: Generate, locked: Mapping[str, object], *, before: dict[str, str],
               proven: str, decided: Mapping[Address, EntryChange], now: datetime | None,
               base: EntryChange) -> EntryChange:
    from kstool.crypto.dn import format_dname  # noqa: PLC0415
    from kstool.engine.planner import _renewal_due  # noqa: PLC0415

    r = dataclasses.replace
    after = _generate_facts(gen)
    wanted_key = key_text(gen.algorithm, gen.size)
    replace: list[str] = []
    reissue: list[str] = []
    if before.get("key") != wanted_key:
        replace.append(f"key changed: {before.get('key')} → {wanted_key}")
    subject = format_dname(gen.subject)
    if before.get("subject") != subject:
        (reissue if gen.ca and not replace else replace).append(
            f"dname changed: {before.get('subject')} → {subject}")
    if replace:
        return r(base, action=Action.REPLACE, reasons=tuple(replace), before=before, after=after)
    days = _validity_days(before)
    if days is not None and days != gen.validity_days:
        reissue.append(f"validity changed: {days} → {gen.validity_days} days")
    if gen.issuer is None and before.get("issuer") != before.get("subject"):
        reissue.append("certificate is not self-signed")
    if gen.issuer is not None:
        issuer = decided[gen.issuer]
        issuer_text = "/".join(gen.issuer)
        after["issuer_entry"] = issuer_text
        if issuer.action is not Action.NOOP:
            reissue.append(f"issuer {issuer_text} {_PAST.get(issuer.action, 'changed')}")
        elif issuer.unverified:
            return r(base, before=before, after=after,
                     unverified=(f"its issuer {issuer_text} is unverified: a reissue cannot be ruled out",))
        else:
            chain = _chain(locked)
            issuer_sha = (issuer.before or {}).get("sha256")
            if len(chain) < 2 or chain[1] != issuer_sha:
                reissue.append(f"not signed by the current certificate of issuer {issuer_text}")
    if reissue:
        return r(base, action=Action.UPDATE, reasons=(*reissue, "certificate reissued for the same key"),
                 before=before, after=after)
    due = _renewal_due(entry, before, now)
    if due is not None:
        action = Action.REPLACE if entry.renew_rotates_key else Action.UPDATE
        return r(base, action=action, reasons=due, before=before, after=after)
    if proven == "same":
        return r(base, before=before, after=before)
    if proven == "changed":
        return r(base, action=Action.UPDATE, before=before, after=after,
                 reasons=("SAN, CA or usage settings changed (kstool.lock's content digest differs, and nothing else "
                          "in the keystore does)", "certificate reissued for the same key"))
    return r(base, before=before, after=before,
             unverified=("its SANs, CA and usage settings are not among kstool.lock's facts and the keystore's "
                         "content digest differs (another entry changed): a reissue for them cannot be ruled out",))


def _validity_days(facts: Mapping[str, str]) -> int | None:
    from kstool.engine.renewal import parse_stamp  # noqa: PLC0415

    try:
        return (parse_stamp(facts["not_after"]) - parse_stamp(facts["not_before"])).days
    except (KeyError, ValueError):
        return None


def _reference(spec: Spec, ks: KeystoreSpec, entry: EntrySpec, locked: Mapping[str, object] | None, *,
               before: dict[str, str] | None, decided: Mapping[Address, EntryChange],
               base: EntryChange) -> EntryChange:
    r = dataclasses.replace
    target_address = spec.reference_target(ks.name, entry.alias)
    target = decided[target_address]
    target_text = "/".join(target_address)
    changed = target.action is not Action.NOOP
    known = None if changed else (target.after or target.before)
    if locked is None:
        reasons = ("new entry", f"follows {target_text}, which is {_PAST[target.action]}") if changed \
            else ("new entry",)
        return r(base, action=Action.CREATE, reasons=reasons, after=known,
                 unverified=(f"its target {target_text} is unverified",) if target.unverified else ())
    if changed:
        return r(base, action=Action.UPDATE, before=before,
                 reasons=(f"follows {target_text}, which is {_PAST.get(target.action, 'changed')}",))
    if target.unverified or known is None:
        return r(base, before=before, after=before,
                 unverified=(f"follows {target_text}, which is unverified",))
    if locked.get("kind") != "trusted":
        return r(base, action=Action.REPLACE, reasons=("entry kind changed: key → trusted",), before=before,
                 after=known)
    if before is not None and known.get("sha256") != before.get("sha256"):
        return r(base, action=Action.UPDATE, reasons=(_cert_changed(before, known), f"follows {target_text}"),
                 before=before, after=known)
    return r(base, before=before, after=before)


def _timed(entry: EntrySpec, change: EntryChange, now: datetime | None) -> EntryChange:
    """notAfter and days left of the leaf after apply, where known."""
    from kstool.engine.renewal import facts_timing, policy_for  # noqa: PLC0415

    if now is None:
        return change
    source = entry.source
    new_cert = change.action is not Action.NOOP and isinstance(source, Generate) and source.reply is None
    if new_cert and isinstance(source, Generate):
        after = now + timedelta(days=source.validity_days)
        return dataclasses.replace(change, not_after=f"{after:%Y-%m-%dT%H:%M:%SZ}", days_left=source.validity_days)
    facts = change.after if change.after is not None and "not_after" in change.after else change.before
    if change.action is not Action.NOOP and isinstance(source, TrustedReference):
        return change  # follows a certificate apply issues: its dates are known at apply
    timing = facts_timing(facts, policy_for(entry), now)
    if timing is None:
        return change
    return dataclasses.replace(change, not_after=f"{timing.not_after:%Y-%m-%dT%H:%M:%SZ}",
                               days_left=timing.days_left, due=timing.due)


def _keystore_change(ks: KeystoreSpec, public: PublicInputs, found: OnDisk | None, lock: Lock | None,
                     decided: Mapping[Address, EntryChange]) -> KeystoreChange:
    locked = _locked(ks, lock)
    renamed_from = ks.previous_name if lock is not None and locked is not None and ks.name not in lock.keystores \
        else None
    changes = tuple(decided[(ks.name, e.alias)] for e in ks.entries)
    password_files = public.password_files.get(ks.name, ())
    if found is None:
        why = ("new keystore",) if locked is None else (
            "new keystore", f"kstool.lock records it at {locked.path}, but no file is there: it is built anew")
        return KeystoreChange(ks.name, ks.path, ks.type, Action.CREATE, why, changes,
                              password_files=password_files, prevent_destroy=ks.prevent_destroy)
    # a store that exists has its password files wherever apply runs: a reviewer just does not have them
    password_files = ()
    moved = found.path if found.path != ks.path else None
    if locked is None:
        unknown = (f"{found.path} exists but kstool.lock does not record it: what it holds needs its password",)
        entries = tuple(dataclasses.replace(c, action=Action.NOOP, reasons=(), unverified=("not in kstool.lock",))
                        for c in changes)
        return KeystoreChange(ks.name, ks.path, ks.type, Action.NOOP, (), entries, moved, password_files,
                              prevent_destroy=ks.prevent_destroy, unverified=unknown)
    deletes = tuple(
        EntryChange(str(f.get("alias")), Action.DELETE, ("entry not in spec",),
                    "key" if f.get("kind") == "key" else "trusted", "existing", before=_facts_of(f))
        for f in locked.entries if ks.entry(str(f.get("alias"))) is None)
    reasons = _store_reasons(ks, found, locked, public.ownership.get(ks.name, Ownership()))
    if renamed_from is not None and found.path != ks.path:  # under the same path, only kstool.lock changes
        reasons.insert(0, f"renamed: {renamed_from} → {ks.name} (previous_name); its keys are kept")
    entry_changed = any(c.action is not Action.NOOP for c in (*changes, *deletes))
    if not reasons and not entry_changed and locked.settings != encoding_settings(ks):
        reasons.append("re-encoded: the spec's encoding settings (type, PKCS12 profile, iterations, key password "
                       "or entry order) differ from kstool.lock's")
    unverified: tuple[str, ...] = ()
    previous = [k for k, ref in (("previous_password", ks.previous_password),
                                 ("previous_key_password", ks.previous_key_password)) if ref is not None]
    if previous and not reasons and not entry_changed:
        unverified = (f"{' and '.join(previous)} set: the file may still be under the old password (apply would "
                      "re-encode it); which password opens it needs the passwords",)
    if found.sha256 != locked.sha256:
        unverified += (f"{found.path} is not the file kstool.lock recorded (SHA-256 {found.sha256[:16]}…, the lock "
                      f"has {locked.sha256[:16]}…): it changed since the last apply; its entries are shown as the "
                      "lock recorded them, unproven, and apply would at least re-encode it",)
        changes = tuple(dataclasses.replace(c, unverified=(*c.unverified, "the file changed since kstool.lock"))
                        if c.action is Action.NOOP else c for c in changes)
    action = Action.UPDATE if reasons or entry_changed else Action.NOOP
    return KeystoreChange(ks.name, ks.path, ks.type, action, tuple(reasons), (*changes, *deletes), moved,
                          password_files, prevent_destroy=ks.prevent_destroy, unverified=unverified)


def _store_reasons(ks: KeystoreSpec, found: OnDisk, locked: LockedStore, wanted: Ownership) -> list[str]:
    reasons: list[str] = []
    if found.path != ks.path:
        reasons.append(f"path changed: {found.path} → {ks.path}")
    store_type = found.type or locked.type
    if store_type != ks.type:
        reasons.append(f"type changed: {store_type} → {ks.type}")
    if found.mode & 0o077 & ~wanted.mode:
        reasons.append(f"file mode {found.mode:04o} lets group or others read it; apply rewrites it as "
                       f"{wanted.mode:04o}")
    elif found.mode != wanted.mode:
        reasons.append(f"file mode {found.mode:04o} differs from the spec's {wanted.mode:04o}; apply sets it")
    reasons += [f"file {what}: apply sets it as the spec says"
                for what in wanted.differences(found.mode, found.uid, found.gid) if not what.startswith("mode ")]
    return reasons


def _orphan_change(name: str, locked: LockedStore, found: OnDisk | None) -> KeystoreChange | None:
    if found is None:
        return None
    entries = tuple(
        EntryChange(str(f.get("alias", "?")), Action.DELETE, ("keystore not in spec",),
                    "key" if f.get("kind") == "key" else "trusted", "existing", before=_facts_of(f))
        for f in locked.entries)
    store_type: StoreType = found.type or locked.type  # type: ignore[assignment]
    if found.sha256 == locked.sha256:
        return KeystoreChange(name, locked.path, store_type, Action.DELETE, ("keystore not in spec",), (),
                              prevent_destroy=locked.prevent_destroy, deleted_entries=entries)
    why = (f"{locked.path} is in kstool.lock but not in the spec, and its bytes changed since: apply deletes it if a "
           "password of the spec opens it, else leaves it alone; which needs the passwords")
    return KeystoreChange(name, locked.path, store_type, Action.NOOP, (), (), unverified=(why,),
                          prevent_destroy=locked.prevent_destroy)


def _caveats(spec: Spec, plan: Plan, public: PublicInputs, disk: Mapping[str, OnDisk],
             lock: Lock | None) -> NoSecrets:
    checked: list[str] = []
    unproven: list[str] = [PASSWORDS_UNPROVEN]
    if lock is None:
        checked.append("kstool.lock: none found; keystores without a file are created, a file that exists is "
                       "unknown (what it holds needs its password)")
    else:
        recorded = {ks.name: found for ks in spec.keystores if (found := _locked(ks, lock)) is not None}
        same = sorted(n for n, f in disk.items() if n in recorded and f.sha256 == recorded[n].sha256)
        differ = sorted(n for n, f in disk.items() if n in recorded and f.sha256 != recorded[n].sha256)
        checked.append(f"each keystore file's SHA-256 against kstool.lock: {len(same)} match"
                       + (f", {len(differ)} differ ({', '.join(differ)})" if differ else ""))
        checked.append("entries, their certificates' facts and the content digests against kstool.lock; file "
                       "modes and owners against the spec")
        unproven.append("that kstool.lock itself is honest: it is trusted as committed (a full plan or kstool "
                        "verify checks the stores against it with the passwords)")
    checked.append("certificate, chain and CA-reply input files: read and compared by fingerprint")
    keys = [f"{ks.name}/{e.alias} ({m.key_file})" for ks in spec.keystores for e in ks.entries
            if isinstance(m := public.material.get(ks.name, {}).get(e.alias), ImportedCerts)]
    if keys:
        unproven.append("private key files are not read (they may be encrypted): that each still belongs to its "
                        f"certificate is checked by apply: {', '.join(keys)}")
    stores = [f"{ks.name}/{e.alias}" for ks in spec.keystores for e in ks.entries
              if isinstance(e.source, ImportKeystore)]
    if stores:
        unproven.append(f"entries imported from other keystores need those keystores' passwords: {', '.join(stores)}")
    return NoSecrets(tuple(checked), tuple(unproven))


def prepare_public(spec_path: Path, output_dir: Path | None) -> Plan:
    """``kstool plan --no-secrets``: the spec, kstool.lock, the public inputs and the artifacts' digests → Plan.
    Reads no environment variable and no password file."""
    from kstool.engine import output_root  # noqa: PLC0415
    from kstool.engine.clock import read_clock  # noqa: PLC0415
    from kstool.engine.lockfile import read_lock, spec_owner  # noqa: PLC0415
    from kstool.spec.model import check_outputs, load_spec  # noqa: PLC0415

    spec = load_spec(spec_path)
    root = output_root(spec_path, output_dir)
    if root.resolve() != spec.base_dir:
        check_outputs(spec, root.resolve())
    clock = read_clock()
    lock = read_lock(root)
    public, disk, orphans, lock = observe_public(spec, root, lock, spec_owner(spec_path, root), clock.now)
    plan = plan_public(spec, public, disk, orphans, lock, output_root=str(root), now=clock.now)
    from kstool.engine import _check_destroy  # noqa: PLC0415

    _check_destroy(plan)  # prevent_destroy refuses this plan with the passwords too: say so now
    return plan
