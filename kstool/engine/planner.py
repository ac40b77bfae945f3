"""compute_plan: the pure heart of kstool. (spec, inputs, observed) → Plan.

No files, no clock, no randomness: everything arrives as arguments, so plans are testable as tables.
Encoding is deterministic, so the planner can say "the file already holds exactly these bytes".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509

from kstool.crypto.certs import display_key_params
from kstool.crypto.san import SanItem, from_general_names, same_san
from kstool.engine.digests import encoding_settings
from kstool.engine.facts import cert_facts, key_text, load_cert
from kstool.engine.fsutil import Ownership
from kstool.engine.inputs import Inputs, KeystoreInputs, timestamp_ms
from kstool.engine.lockfile import CERT_FACTS
from kstool.engine.observe import Observed, ObservedStore, Orphan
from kstool.engine.plan import Action, Address, Build, EntryChange, Follow, Keep, KeystoreChange, NewKey, Plan, Reissue
from kstool.errors import KstoolError
from kstool.formats.codec import encode
from kstool.formats.entries import Entry, KeyEntry, TrustedEntry
from kstool.spec.model import (
    EntrySpec,
    FileRef,
    Generate,
    ImportFiles,
    ImportKeystore,
    KeystoreSpec,
    Spec,
    TrustedReference,
)


@dataclass(frozen=True, slots=True)
class _Decided:
    change: EntryChange
    matched: str | None  # alias of the observed entry this one takes over


def compute_plan(spec: Spec, inputs: Inputs, observed: Observed, *, output_root: str = ".",
                 now: datetime | None = None) -> Plan:
    """``now`` is the clock (``kstool.engine.clock``): with it, certificates kstool issues are renewed in their
    window, and every entry shows its notAfter and days left; without it, time plays no part."""
    inputs = _as_read_back(spec, inputs)
    decided: dict[Address, _Decided] = {}
    for ks in spec.keystores:
        decided.update(_plan_own_entries(ks, inputs, observed.stores.get(ks.name), now))
    for ks in spec.keystores:
        for entry in ks.entries:
            if isinstance(entry.source, TrustedReference):
                decided[(ks.name, entry.alias)] = _plan_reference(spec, ks, entry, decided,
                                                                  observed.stores.get(ks.name))
    if now is not None:
        decided = {address: dataclasses.replace(d, change=_timed(spec, address, d.change, now, decided))
                   for address, d in decided.items()}
    changes = [_keystore_change(ks, inputs, observed, decided) for ks in spec.keystores]
    changes += [_orphan_change(o) for o in observed.orphans]
    left_alone = tuple((a.name, a.path, a.reason) for a in observed.left_alone)
    foreign = tuple((name, s.path, s.owner) for name, s in sorted(observed.foreign.items()))
    return Plan(str(spec.file), output_root, tuple(changes), left_alone=left_alone, foreign=foreign,
                now=now.strftime("%Y-%m-%dT%H:%M:%SZ") if now is not None else None)


def _orphan_change(orphan: Orphan) -> KeystoreChange:
    entries = tuple(
        EntryChange(str(facts.get("alias", "?")), Action.DELETE, ("keystore not in spec",),
                    "key" if facts.get("kind") == "key" else "trusted", "existing",
                    before={k: v for k, v in facts.items() if k not in ("alias", "kind")})
        for facts in orphan.entries)
    return KeystoreChange(orphan.name, orphan.path, orphan.type, Action.DELETE, ("keystore not in spec",), (),
                          prevent_destroy=orphan.prevent_destroy, deleted_entries=entries)


def _as_read_back(spec: Spec, inputs: Inputs) -> Inputs:
    """Imported material of PKCS12 stores as the store will read back (chains completed from the store)."""
    from kstool.formats.pkcs12 import as_read_back  # noqa: PLC0415

    keystores = dict(inputs.keystores)
    for ks in spec.keystores:
        material = keystores[ks.name].material
        if ks.type == "pkcs12" and material:
            try:
                completed = as_read_back(list(material.values()))
            except KstoolError as e:
                raise KstoolError(f"keystore {ks.name!r} ({ks.path}): {e}") from None
            keystores[ks.name] = dataclasses.replace(keystores[ks.name], material=dict(zip(material, completed,
                                                                                           strict=True)))
    return dataclasses.replace(inputs, keystores=keystores)


# -- entries with their own content: generate, import, trusted certificate -------------------------------

def _plan_own_entries(ks: KeystoreSpec, inputs: Inputs, store: ObservedStore | None,
                      now: datetime | None = None) -> dict[Address, _Decided]:
    if store is not None and store.locked is not None:
        return _as_locked(ks, store, now)
    material = inputs.keystores[ks.name].material
    existing = {e.alias: e for e in store.entries} if store else {}
    out: dict[Address, _Decided] = {}
    claimed = {e.alias for e in ks.entries}  # aliases the spec lists are never taken over by a rename
    own = [e for e in ks.entries if not isinstance(e.source, TrustedReference)]
    # first pass: same alias; second: an unclaimed observed entry that fits (an alias rename keeps the key)
    for entry in own:
        if entry.alias in existing:
            out[(ks.name, entry.alias)] = _Decided(_compare(entry, existing[entry.alias], material, now),
                                                   entry.alias)
    for entry in own:
        if (ks.name, entry.alias) in out:
            continue
        renamed = _find_renamed(entry, existing, claimed, material)
        if renamed is not None:
            claimed.add(renamed.alias)
            keep = dataclasses.replace(renamed, alias=entry.alias)
            change = _change(entry, Action.UPDATE, (f"alias changed: {renamed.alias} → {entry.alias}",),
                             Keep(keep), before=renamed, after=keep)
            out[(ks.name, entry.alias)] = _Decided(change, renamed.alias)
        else:
            out[(ks.name, entry.alias)] = _Decided(_create(entry, material), None)
    return out


def _as_locked(ks: KeystoreSpec, store: ObservedStore, now: datetime | None = None) -> dict[Address, _Decided]:
    """Every entry unchanged, its facts from kstool.lock (observe checked the lock describes this very file);
    a generated certificate due for renewal is an update without a build: ``prepare`` opens the store in full
    and plans it again."""
    assert store.locked is not None
    out: dict[Address, _Decided] = {}
    for entry, locked in zip(ks.entries, store.locked.entries, strict=True):
        facts = {k: str(locked[k]) for k in CERT_FACTS}
        due = _renewal_due(entry, facts, now)
        action = Action.NOOP if due is None else (Action.REPLACE if entry.renew_rotates_key else Action.UPDATE)
        change = EntryChange(entry.alias, action, due or (), "key" if entry.is_key else "trusted", _source(entry),
                             before=facts, after=dict(facts))
        out[(ks.name, entry.alias)] = _Decided(change, entry.alias)
    return out


def _create(entry: EntrySpec, material: Mapping[str, Entry]) -> EntryChange:
    source = entry.source
    if isinstance(source, Generate):
        return _change(entry, Action.CREATE, ("new entry",), NewKey(source), after_generate=source)
    content = _with_alias(material[entry.alias], entry.alias)
    return _change(entry, Action.CREATE, ("new entry",), Keep(content), after=content)


def _compare(entry: EntrySpec, old: Entry, material: Mapping[str, Entry], now: datetime | None = None) -> EntryChange:
    source = entry.source
    if isinstance(source, Generate):
        return _compare_generated(entry, source, old, now)
    new = _with_alias(material[entry.alias], entry.alias)
    if type(new) is not type(old):
        return _change(entry, Action.REPLACE, (f"entry kind changed: {_kind(old)} → {_kind(new)}",), Keep(new),
                       before=old, after=new)
    if isinstance(new, KeyEntry) and isinstance(old, KeyEntry):
        if not _same_public_key(new.chain_der[0], old.chain_der[0]):
            return _change(entry, Action.REPLACE, ("private key changed",), Keep(new), before=old, after=new)
        if new.chain_der != old.chain_der:
            return _change(entry, Action.UPDATE, _chain_reasons(old.chain_der, new.chain_der), Keep(new),
                           before=old, after=new)
    elif isinstance(new, TrustedEntry) and isinstance(old, TrustedEntry) and new.cert_der != old.cert_der:
        return _change(entry, Action.UPDATE, _chain_reasons((old.cert_der,), (new.cert_der,)), Keep(new),
                       before=old, after=new)
    return _change(entry, Action.NOOP, (), Keep(new), before=old, after=new)


def _compare_generated(entry: EntrySpec, gen: Generate, old: Entry, now: datetime | None = None) -> EntryChange:
    from kstool.crypto.dn import format_dname  # noqa: PLC0415

    if not isinstance(old, KeyEntry):
        return _change(entry, Action.REPLACE, ("entry kind changed: trusted → key",), NewKey(gen), before=old,
                       after_generate=gen)
    leaf = load_cert(old.chain_der[0])
    replace_reasons: list[str] = []
    algorithm, size = display_key_params(leaf.public_key())
    if (algorithm, size) != (gen.algorithm, gen.size):
        replace_reasons.append(f"key changed: {key_text(algorithm, size)} → {key_text(gen.algorithm, gen.size)}")
    if leaf.subject != gen.subject:
        replace_reasons.append(f"dname changed: {format_dname(leaf.subject)} → {format_dname(gen.subject)}")
    if replace_reasons:
        return _change(entry, Action.REPLACE, tuple(replace_reasons), NewKey(gen), before=old, after_generate=gen)
    reissue_reasons: list[str] = []
    old_san = _san_items(leaf)
    if not same_san(old_san, gen.san_items):  # normalised: IPv6 forms, case where the name type ignores it
        reissue_reasons.append(f"san changed: {_list_text(old_san)} → {_list_text(gen.san_items)}")
    old_days = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days
    if old_days != gen.validity_days:
        reissue_reasons.append(f"validity changed: {old_days} → {gen.validity_days} days")
    if len(old.chain_der) != 1 or leaf.issuer != leaf.subject:
        reissue_reasons.append("certificate is not self-signed")
    if reissue_reasons:
        reasons = (*reissue_reasons, "certificate reissued for the same key")
        return _change(entry, Action.UPDATE, reasons, Reissue(old.key_der, gen), before=old, after_generate=gen)
    due = _renewal_due(entry, _facts(old), now)
    if due is not None and entry.renew_rotates_key:
        return _change(entry, Action.REPLACE, due, NewKey(gen), before=old, after_generate=gen)
    if due is not None:
        return _change(entry, Action.UPDATE, due, Reissue(old.key_der, gen), before=old, after_generate=gen)
    kept = _normalised(old)
    return _change(entry, Action.NOOP, (), Keep(kept), before=old, after=kept)


def _find_renamed(entry: EntrySpec, existing: Mapping[str, Entry], taken: set[str],
                  material: Mapping[str, Entry]) -> Entry | None:
    """The one existing entry under an alias the spec no longer lists that this entry evidently is."""
    fits = [e for alias, e in existing.items() if alias not in taken and _fits(entry, e, material)]
    return fits[0] if len(fits) == 1 else None


def _fits(entry: EntrySpec, old: Entry, material: Mapping[str, Entry]) -> bool:
    source = entry.source
    if isinstance(source, Generate):
        return _compare_generated(entry, source, old).action is Action.NOOP
    new = material.get(entry.alias)
    if isinstance(new, KeyEntry) and isinstance(old, KeyEntry):
        return new.chain_der == old.chain_der
    if isinstance(new, TrustedEntry) and isinstance(old, TrustedEntry):
        return new.cert_der == old.cert_der
    return False


# -- renewal and time ---------------------------------------------------------------------------------------

def _renewal_due(entry: EntrySpec, facts: Mapping[str, str], now: datetime | None) -> tuple[str, ...] | None:
    """The reasons to renew a certificate kstool issues, when it is inside its renewal window (else None)."""
    from kstool.engine.renewal import facts_timing  # noqa: PLC0415

    if now is None or not isinstance(entry.source, Generate):
        return None
    timing = facts_timing(facts, entry.renew_before, now)
    if timing is None or not timing.due:
        return None
    how = "a new key (renew_rotates_key)" if entry.renew_rotates_key else "certificate reissued for the same key"
    return (f"renewal due: {timing.text}", how)


def _timed(spec: Spec, address: Address, change: EntryChange, now: datetime,
           decided: Mapping[Address, _Decided]) -> EntryChange:
    """The change with the leaf's notAfter and days left after apply, and a warning for a certificate kstool
    cannot renew (imported, trusted) inside its window."""
    from kstool.engine.renewal import facts_timing, policy_for  # noqa: PLC0415

    ks = spec.keystore(address[0])
    entry = ks.entry(address[1]) if ks is not None else None
    if entry is None:
        return change
    if isinstance(change.build, Follow):  # the target's new certificate: its timing, once that is known
        target = _timed(spec, spec.reference_target(*address), decided[spec.reference_target(*address)].change,
                        now, decided)
        return dataclasses.replace(change, not_after=target.not_after, days_left=target.days_left)
    facts = change.after if change.after is not None and "not_after" in change.after else change.before
    if change.action in (Action.CREATE, Action.REPLACE, Action.UPDATE) and change.source == "generate":
        facts = None  # a new certificate: its notAfter is the clock's plus validity_days
    if isinstance(entry.source, Generate) and facts is None:
        after = now + timedelta(days=entry.source.validity_days)
        return dataclasses.replace(change, not_after=f"{after:%Y-%m-%dT%H:%M:%SZ}",
                                   days_left=entry.source.validity_days)
    timing = facts_timing(facts, policy_for(entry), now)
    if timing is None:
        return change
    warnings: tuple[str, ...] = ()
    accepted = timing.expired and entry.allow_expired  # allow_expired: true accepts it, silently
    if timing.due and not accepted and not isinstance(entry.source, Generate | TrustedReference):
        what = _input_file(entry)
        verb = "expired" if timing.expired else "is due for renewal"
        warnings = (f"{address[0]}/{address[1]}: the certificate from {what} {verb}: {timing.text}; kstool cannot "
                    f"renew it: replace {what} with a renewed certificate",)
    return dataclasses.replace(change, not_after=f"{timing.not_after:%Y-%m-%dT%H:%M:%SZ}",
                               days_left=timing.days_left, due=timing.due, warnings=warnings)


def _input_file(entry: EntrySpec) -> str:
    source = entry.source
    path = getattr(source, "certificate", None) or getattr(source, "keystore", None)
    if path is None:
        return "its input"
    from kstool.engine.inputs import shown  # noqa: PLC0415

    return shown(path, entry.location)


# -- trusted references ---------------------------------------------------------------------------------

def _plan_reference(spec: Spec, ks: KeystoreSpec, entry: EntrySpec, decided: Mapping[Address, _Decided],
                    store: ObservedStore | None) -> _Decided:
    ref = entry.source
    assert isinstance(ref, TrustedReference)
    target_address, target_change = _resolve_target(spec, (ref.keystore, ref.alias), decided)
    existing = {e.alias: e for e in store.entries} if store else {}
    old = existing.get(entry.alias)
    build = Follow(*target_address)
    known = _known_leaf(target_change)
    target_text = "/".join(target_address)
    if known is None:  # the target gets a new certificate in this apply
        why = f"follows {target_text}, which is {_past(target_change.action)}"
        action = Action.CREATE if old is None else Action.UPDATE
        return _Decided(_change(entry, action, ("new entry", why) if old is None else (why,), build,
                                before=old), entry.alias if old else None)
    new = TrustedEntry(entry.alias, known, timestamp_ms(load_cert(known)))
    if old is None:
        return _Decided(_change(entry, Action.CREATE, ("new entry",), Keep(new), after=new), None)
    if not isinstance(old, TrustedEntry):
        return _Decided(_change(entry, Action.REPLACE, ("entry kind changed: key → trusted",), Keep(new),
                                before=old, after=new), entry.alias)
    if old.cert_der != known:
        reasons = (*_chain_reasons((old.cert_der,), (known,)), f"follows {target_text}")
        return _Decided(_change(entry, Action.UPDATE, reasons, Keep(new), before=old, after=new), entry.alias)
    return _Decided(_change(entry, Action.NOOP, (), Keep(new), before=old, after=new), entry.alias)


def _resolve_target(spec: Spec, address: Address, decided: Mapping[Address, _Decided]) -> tuple[Address, EntryChange]:
    """Follow references to the entry that owns the certificate (the spec checked there is no cycle)."""
    target = spec.reference_target(*address)
    return target, decided[target].change


def _known_leaf(change: EntryChange) -> bytes | None:
    build = change.build
    if isinstance(build, Keep):
        entry = build.entry
        return entry.chain_der[0] if isinstance(entry, KeyEntry) else entry.cert_der
    return None


# -- keystores ------------------------------------------------------------------------------------------

def _keystore_change(ks: KeystoreSpec, inputs: Inputs, observed: Observed,
                     decided: Mapping[Address, _Decided]) -> KeystoreChange:
    ki = inputs.keystores[ks.name]
    store = observed.stores.get(ks.name)
    entries = [decided[(ks.name, e.alias)] for e in ks.entries]
    password_files = tuple(dict.fromkeys(
        r.ref.shown for r in (ki.password, ki.previous_password, ki.key_password)
        if r is not None and r.generated and hasattr(r.ref, "shown")
    ))
    changes = [d.change for d in entries]
    fixes = _password_file_fixes(ki, observed)
    if store is None:
        expected = _expected_bytes(ks, inputs, changes)
        broken = observed.unreadable.get(ks.name)
        if broken is not None:  # apply --replace-unreadable: rebuilt from the spec, the old file kept as a backup
            why = f"the existing file cannot be opened and is rebuilt from the spec: {broken.reason}"
            moved = broken.path if broken.path != ks.path else None
            return KeystoreChange(ks.name, ks.path, ks.type, Action.REPLACE, (why,), tuple(changes), moved,
                                  password_files, expected, prevent_destroy=ks.prevent_destroy,
                                  destroys_unknown=True, password_file_fixes=fixes)
        return KeystoreChange(ks.name, ks.path, ks.type, Action.CREATE, ("new keystore",), tuple(changes), None,
                              password_files, expected, prevent_destroy=ks.prevent_destroy,
                              password_file_fixes=fixes)
    taken = {d.matched for d in entries if d.matched}
    deletes = [
        EntryChange(e.alias, Action.DELETE, ("entry not in spec",), _kind(e), "existing", before=_facts(e))
        for e in store.entries if e.alias not in taken
    ]
    all_changes = tuple(changes + deletes)
    reasons = _store_reasons(ks, store, ki.ownership)
    entry_changed = any(c.action is not Action.NOOP for c in all_changes)
    fast = not reasons and not entry_changed and store.locked_settings == encoding_settings(ks)
    expected = store.data if fast else _expected_bytes(ks, inputs, changes)
    if not reasons and not entry_changed and expected != store.data:
        reasons.append("re-encoded: the file's bytes differ from what kstool writes for these entries "
                       "(encoding, iteration count, timestamps or entry order)")
    action = Action.UPDATE if reasons or entry_changed else Action.NOOP
    moved = store.path if store.path != ks.path else None
    return KeystoreChange(ks.name, ks.path, ks.type, action, tuple(reasons), all_changes, moved, password_files,
                          expected, prevent_destroy=ks.prevent_destroy, password_file_fixes=fixes)


def _password_file_fixes(ki: KeystoreInputs, observed: Observed) -> tuple[str, ...]:
    """How the generated password files that exist differ from the spec's mode, owner and group."""
    fixes: list[str] = []
    for resolved in (ki.password, ki.previous_password, ki.key_password):
        ref = resolved.ref if resolved is not None else None
        if isinstance(ref, FileRef) and ref.path in observed.password_files and ref.path in ki.password_files:
            differences = ki.password_files[ref.path].differences(*observed.password_files[ref.path])
            if differences:
                fixes.append(f"{ref.shown}: {', '.join(differences)}")
    return tuple(dict.fromkeys(fixes))


def _store_reasons(ks: KeystoreSpec, store: ObservedStore, wanted: Ownership) -> list[str]:
    reasons: list[str] = []
    if store.renamed_from is not None:
        reasons.append(f"renamed: {store.renamed_from} → {ks.name} (previous_name); its keys are kept")
    if store.path != ks.path:
        reasons.append(f"path changed: {store.path} → {ks.path}")
    if store.type != ks.type:
        reasons.append(f"type changed: {store.type} → {ks.type}")
    if store.opened_with == "previous_password":
        reasons.append("password changed")
    if store.key_password_changed:
        reasons.append("key password changed")
    if store.mode & 0o077 & ~wanted.mode:
        reasons.append(f"file mode {store.mode:04o} lets group or others read it; apply rewrites it as "
                       f"{wanted.mode:04o}")
    elif store.mode != wanted.mode:
        reasons.append(f"file mode {store.mode:04o} differs from the spec's {wanted.mode:04o}; apply sets it")
    reasons += [f"file {what}: apply sets it as the spec says"
                for what in wanted.differences(store.mode, store.uid, store.gid) if not what.startswith("mode ")]
    return reasons


def _expected_bytes(ks: KeystoreSpec, inputs: Inputs, changes: list[EntryChange]) -> bytes | None:
    """The artifact's bytes when every entry's content is known at plan time (no new keys or certificates)."""
    entries: list[Entry] = []
    for change in changes:
        if not isinstance(change.build, Keep):
            return None
        if isinstance(change.build.entry, KeyEntry) and not change.build.entry.key_der:
            return None  # opened without its keys (fast path): differs, so prepare() opens it in full
        entries.append(change.build.entry)
    return encode_store(ks, inputs, entries)


def encode_store(ks: KeystoreSpec, inputs: Inputs, entries: list[Entry]) -> bytes:
    ki = inputs.keystores[ks.name]
    return encode(entries, ks.type, ki.password.secret.reveal(),
                  key_password=ki.key_password.secret.reveal() if ki.key_password else None,
                  profile=ks.pkcs12_profile, iterations=ks.iterations, cache=inputs.kdf)


# -- small helpers --------------------------------------------------------------------------------------

def _change(entry: EntrySpec, action: Action, reasons: tuple[str, ...], build: Build, *,
            before: Entry | None = None, after: Entry | None = None,
            after_generate: Generate | None = None) -> EntryChange:
    after_facts = _facts(after) if after is not None else (_generate_facts(after_generate) if after_generate else None)
    return EntryChange(entry.alias, action, reasons, "key" if entry.is_key else "trusted", _source(entry),
                       before=_facts(before) if before is not None else None, after=after_facts, build=build)


def _source(entry: EntrySpec) -> Literal["generate", "import", "trusted"]:
    source = entry.source
    if isinstance(source, Generate):
        return "generate"
    if isinstance(source, ImportFiles | ImportKeystore):
        return "import"
    return "trusted"


def _facts(entry: Entry) -> dict[str, str]:
    return cert_facts(entry.chain_der[0] if isinstance(entry, KeyEntry) else entry.cert_der)


def _generate_facts(gen: Generate) -> dict[str, str]:
    from kstool.crypto.dn import format_dname  # noqa: PLC0415

    facts = {"subject": format_dname(gen.subject), "key": key_text(gen.algorithm, gen.size),
             "validity_days": str(gen.validity_days)}
    if gen.san:
        facts["san"] = ", ".join(gen.san)
    return facts


def _kind(entry: Entry) -> Literal["key", "trusted"]:
    return "key" if isinstance(entry, KeyEntry) else "trusted"


def _past(action: Action) -> str:
    return {Action.CREATE: "created", Action.REPLACE: "replaced", Action.UPDATE: "reissued"}.get(action, "changed")


def _with_alias(entry: Entry, alias: str) -> Entry:
    return dataclasses.replace(entry, alias=alias)


def _normalised(entry: Entry) -> Entry:
    """The entry as kstool writes it: the timestamp is the leaf's notBefore (reproducible)."""
    leaf = entry.chain_der[0] if isinstance(entry, KeyEntry) else entry.cert_der
    return dataclasses.replace(entry, timestamp_ms=timestamp_ms(load_cert(leaf)))


def _same_public_key(leaf_a: bytes, leaf_b: bytes) -> bool:
    """Same key pair? Each entry's private key matches its leaf (checked on input, and kstool writes no other),
    and a public key has one private key: comparing the leaves' public keys needs no decryption."""
    return leaf_a == leaf_b or cert_facts(leaf_a)["public_key_sha256"] == cert_facts(leaf_b)["public_key_sha256"]


def _san_items(cert: x509.Certificate) -> tuple[SanItem, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return from_general_names(list(ext))


def _list_text(items: tuple[SanItem, ...]) -> str:
    return "[" + ", ".join(f"{kind}:{value}" for kind, value in items) + "]" if items else "none"


def _chain_reasons(old: tuple[bytes, ...], new: tuple[bytes, ...]) -> tuple[str, ...]:
    if old[0] != new[0]:
        a, b = cert_facts(old[0]), cert_facts(new[0])
        return (f"certificate changed: {a['sha256'][:16]}… (until {a['not_after']}) → {b['sha256'][:16]}… "
                f"(until {b['not_after']})",)
    return (f"chain changed: {len(old)} → {len(new)} certificates",)
