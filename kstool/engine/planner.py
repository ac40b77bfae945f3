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
from kstool.engine.plan import (
    Action,
    Address,
    Build,
    EntryChange,
    ExportChange,
    Follow,
    Keep,
    KeystoreChange,
    NewKey,
    Plan,
    Reissue,
)
from kstool.errors import KstoolError
from kstool.formats.codec import encode
from kstool.formats.entries import Entry, KeyEntry, TrustedEntry, leaf_der
from kstool.spec.model import (
    EntrySpec,
    FileRef,
    Generate,
    ImportFiles,
    ImportKeystore,
    KeystoreSpec,
    Spec,
    TrustedExpanded,
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
    _plan_issued(spec, decided, now)
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
                now=now.strftime("%Y-%m-%dT%H:%M:%SZ") if now is not None else None,
                exports=_plan_exports(spec, inputs, observed, changes))


def _plan_exports(spec: Spec, inputs: Inputs, observed: Observed, changes: list[KeystoreChange]) -> tuple[
        ExportChange, ...]:
    """The export files (engine/exports.py), cut from the entries this plan keeps or apply builds."""
    if observed.exports is None:
        return ()
    from kstool.engine.exports import plan_exports, plan_material  # noqa: PLC0415

    stores = {name: s.data for name, s in observed.stores.items()}
    return plan_exports(spec, inputs, observed.exports, plan_material(changes, stores))


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
        after = dict(facts)
        if isinstance(entry.source, Generate) and entry.source.issuer is not None and "chain_sha256" in locked:
            after["chain_sha256"] = " ".join(map(str, locked["chain_sha256"]))
        change = EntryChange(entry.alias, action, due or (), "key" if entry.is_key else "trusted", _source(entry),
                             before=facts, after=after)
        out[(ks.name, entry.alias)] = _Decided(change, entry.alias)
    return out


def _create(entry: EntrySpec, material: Mapping[str, Entry]) -> EntryChange:
    source = entry.source
    if isinstance(source, Generate) and source.reply is not None:
        raise KstoolError(f"{entry.location}: reply: the keystore holds no key for this entry yet, so no CA can "
                          "have signed it: remove reply:, apply (it generates the key), run kstool csr, and set "
                          "reply: to the CA's answer")
    if isinstance(source, Generate):
        return _change(entry, Action.CREATE, ("new entry",), NewKey(source), after_generate=source)
    content = _with_alias(material[entry.alias], entry.alias)
    # a certificate of a bundle, folder or source store: the plan says where it comes from
    reasons = ("new entry", f"from {source.origin}") if isinstance(source, TrustedExpanded) else ("new entry",)
    return _change(entry, Action.CREATE, reasons, Keep(content), after=content)


def _compare(entry: EntrySpec, old: Entry, material: Mapping[str, Entry], now: datetime | None = None) -> EntryChange:
    source = entry.source
    if isinstance(source, Generate) and source.reply is not None:
        reply = material[entry.alias]
        assert isinstance(reply, KeyEntry)
        return _compare_reply(entry, source, old, reply)
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
    reissue_reasons: list[str] = []
    if leaf.subject != gen.subject:
        dname = f"dname changed: {format_dname(leaf.subject)} → {format_dname(gen.subject)}"
        # a CA keeps its key under a new name: what it signed is reissued, not every key below it replaced
        (reissue_reasons if gen.ca and not replace_reasons else replace_reasons).append(dname)
    if replace_reasons:
        return _change(entry, Action.REPLACE, tuple(replace_reasons), NewKey(gen), before=old, after_generate=gen)
    old_san = _san_items(leaf)
    if not same_san(old_san, gen.san_items):  # normalised: IPv6 forms, case where the name type ignores it
        reissue_reasons.append(f"san changed: {_list_text(old_san)} → {_list_text(gen.san_items)}")
    old_days = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days
    if old_days != gen.validity_days:
        reissue_reasons.append(f"validity changed: {old_days} → {gen.validity_days} days")
    if gen.issuer is None and (len(old.chain_der) != 1 or leaf.issuer != leaf.subject):
        reissue_reasons.append("certificate is not self-signed")
    reissue_reasons += _ca_reasons(gen, leaf)
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


def _compare_reply(entry: EntrySpec, gen: Generate, old: Entry, reply: KeyEntry) -> EntryChange:
    """A CA's reply goes onto the stored key: the key is kept, the chain becomes the reply's. When the spec's key
    or dname no longer fit the reply, nothing is regenerated: the plan stops and says a new CSR is needed."""
    from kstool.crypto.dn import format_dname  # noqa: PLC0415

    signed = load_cert(reply.chain_der[0])
    problems: list[str] = []
    if not isinstance(old, KeyEntry):
        problems.append("the entry in the keystore is a trusted certificate, not a key")
    else:
        algorithm, size = display_key_params(load_cert(old.chain_der[0]).public_key())
        if (algorithm, size) != (gen.algorithm, gen.size):
            problems.append(f"key changed: {key_text(algorithm, size)} → {key_text(gen.algorithm, gen.size)}")
    if signed.subject != gen.subject:
        problems.append(f"dname {format_dname(gen.subject)} differs from the reply's subject "
                        f"{format_dname(signed.subject)}")
    if problems:
        raise KstoolError(f"{entry.location}: {'; '.join(problems)}: the CA's reply no longer matches the entry "
                          "and apply never regenerates a key silently: a new CSR is needed (remove reply:, apply "
                          "to make the new key, run kstool csr, and set reply: to the CA's new answer), or undo "
                          "the change")
    assert isinstance(old, KeyEntry)
    mine, theirs = cert_facts(old.chain_der[0]), cert_facts(reply.chain_der[0])
    if mine["public_key_sha256"] != theirs["public_key_sha256"]:
        raise KstoolError(f"{entry.location}: reply: the CA's certificate is for public key "
                          f"{theirs['public_key_sha256']}, the keystore's key is {mine['public_key_sha256']}: "
                          "the reply answers another request; make a new CSR with kstool csr and have the CA "
                          "sign that")
    new = KeyEntry(entry.alias, old.key_der, reply.chain_der, timestamp_ms(signed))
    if old.chain_der == reply.chain_der:
        kept = _normalised(old)
        return _change(entry, Action.NOOP, (), Keep(kept), before=old, after=kept)
    old_leaf = load_cert(old.chain_der[0])
    if len(old.chain_der) == 1 and old_leaf.issuer == old_leaf.subject:
        reasons: tuple[str, ...] = ("CA-signed certificate replaces the self-signed one (key kept)",)
    else:
        reasons = (*_chain_reasons(old.chain_der, reply.chain_der), "CA reply imported (key kept)")
    return _change(entry, Action.UPDATE, reasons, Keep(new), before=old, after=new)


def _find_renamed(entry: EntrySpec, existing: Mapping[str, Entry], taken: set[str],
                  material: Mapping[str, Entry]) -> Entry | None:
    """The one existing entry under an alias the spec no longer lists that this entry evidently is."""
    fits = [e for alias, e in existing.items() if alias not in taken and _fits(entry, e, material)]
    return fits[0] if len(fits) == 1 else None


def _fits(entry: EntrySpec, old: Entry, material: Mapping[str, Entry]) -> bool:
    source = entry.source
    if isinstance(source, Generate) and source.reply is not None:
        return False  # a reply goes onto the key under its own alias
    if isinstance(source, Generate):
        return _compare_generated(entry, source, old).action is Action.NOOP
    new = material.get(entry.alias)
    if isinstance(new, KeyEntry) and isinstance(old, KeyEntry):
        return new.chain_der == old.chain_der
    if isinstance(new, TrustedEntry) and isinstance(old, TrustedEntry):
        return new.cert_der == old.cert_der
    return False


# -- certificates a CA of the spec signs ------------------------------------------------------------------

def _ca_reasons(gen: Generate, leaf: x509.Certificate) -> list[str]:
    """How the certificate's CA fields differ from ``ca:`` and ``usage:`` (only for entries that use them:
    a plain self-signed entry keeps today's certificate)."""
    if not (gen.ca or gen.issuer or gen.usage):
        return []
    from kstool.crypto.certs import EXTENDED_USAGES  # noqa: PLC0415

    try:
        bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        have = (bc.ca, bc.path_length)
    except x509.ExtensionNotFound:
        have = (False, None)
    want = (gen.ca, gen.path_length if gen.ca else None)
    reasons = [] if have == want else [f"ca changed: {_ca_text(*have)} → {_ca_text(*want)}"]
    try:
        ekus = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        ekus = set()
    if ekus != {EXTENDED_USAGES[u] for u in gen.usage}:
        reasons.append(f"usage changed → {', '.join(gen.usage) or 'none'}")
    return reasons


def _ca_text(ca: bool, path_length: int | None) -> str:
    if not ca:
        return "not a CA"
    return f"CA (path_length {path_length})" if path_length is not None else "CA (no path length limit)"


def _plan_issued(spec: Spec, decided: dict[Address, _Decided], now: datetime | None = None) -> None:
    """Entries signed by a CA of the spec, issuers first: when the issuer gets a new key or certificate in this
    plan, or the stored chain is not the issuer's, the entry's certificate is reissued for its kept key."""
    waiting: dict[Address, tuple[EntrySpec, Address]] = {
        (ks.name, e.alias): (e, e.source.issuer) for ks in spec.keystores for e in ks.entries
        if isinstance(e.source, Generate) and e.source.issuer is not None}
    while waiting:
        ready = [(a, e, i) for a, (e, i) in waiting.items() if i not in waiting]
        if not ready:
            raise AssertionError(f"issuers form a cycle: {sorted(waiting)}")  # the spec refused cycles
        for address, entry, issuer in ready:
            decided[address] = _plan_one_issued(entry, decided[address], decided[issuer], now)
            del waiting[address]


def _plan_one_issued(entry: EntrySpec, mine: _Decided, issuer: _Decided, now: datetime | None) -> _Decided:
    gen = entry.source
    assert isinstance(gen, Generate) and gen.issuer is not None
    issuer_text = "/".join(gen.issuer)
    issuer_chain = _known_chain(issuer.change)
    if issuer_chain is not None and issuer.change.source == "import":
        from kstool.crypto.certs import is_ca_certificate  # noqa: PLC0415

        issuer_cert = load_cert(issuer_chain[0])
        if not is_ca_certificate(issuer_cert):
            raise KstoolError(f"{entry.location}: generate.issuer: {issuer_text} is not a CA certificate "
                              "(basicConstraints CA:true with keyCertSign): it cannot sign certificates; name a "
                              "CA's entry")
        limit = issuer_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
        if gen.ca and limit is not None and (gen.path_length is None or gen.path_length >= limit):
            raise KstoolError(f"{entry.location}: generate.issuer: {issuer_text} has path length {limit}, which "
                              "forbids a CA below it with path_length "
                              f"{'unlimited' if gen.path_length is None else gen.path_length}")
    change = mine.change
    after = {**(change.after or {}), "issuer_entry": issuer_text}
    if isinstance(change.build, NewKey | Reissue):
        _check_lifetime(entry, gen, issuer_chain, now)
        return _Decided(dataclasses.replace(change, after=after), mine.matched)
    why: str | None = None
    if issuer.change.action is not Action.NOOP:
        why = f"issuer {issuer_text} {_past(issuer.change.action)}"
    elif isinstance(change.build, Keep) and isinstance(change.build.entry, KeyEntry):
        chain = change.build.entry.chain_der
        if not _signed_by(chain, issuer_chain, issuer.change):
            why = f"not signed by the current certificate of issuer {issuer_text}"
    if why is None:
        return _Decided(dataclasses.replace(change, after=_with_chain(after, change)), mine.matched)
    _check_lifetime(entry, gen, issuer_chain, now)
    old = change.build.entry if isinstance(change.build, Keep) else None
    build = Reissue(old.key_der, gen) if isinstance(old, KeyEntry) else None  # None: re-planned once opened
    reasons = (why, "certificate reissued for the same key")
    return _Decided(dataclasses.replace(change, action=Action.UPDATE, reasons=reasons, build=build,
                                        after={**_generate_facts(gen), "issuer_entry": issuer_text}), mine.matched)


def _check_lifetime(entry: EntrySpec, gen: Generate, issuer_chain: tuple[bytes, ...] | None,
                    now: datetime | None) -> None:
    """A certificate issued now by an existing issuer starts no earlier than the issuer did (and, with the clock,
    at ``now``): when that would end after the issuer, it is an error at plan time, not at apply (a leaf renewed
    near its CA's end: the CA is not renewed behind the user's back)."""
    if issuer_chain is None:
        return
    issuer = load_cert(issuer_chain[0])
    start = issuer.not_valid_before_utc if now is None else max(issuer.not_valid_before_utc, now)
    end = start + timedelta(days=gen.validity_days)
    if end <= issuer.not_valid_after_utc:
        return
    where = f"{entry.location}: generate.validity_days {gen.validity_days}"
    issuer_text = "/".join(gen.issuer or ())
    if start - issuer.not_valid_before_utc < timedelta(days=1):  # a fresh issuer: renewing it is no fix
        raise KstoolError(f"{where} outlives its issuer {issuer_text}, valid until "
                          f"{issuer.not_valid_after_utc:%Y-%m-%d}: a certificate may not outlive its issuer; "
                          "shorten validity_days or renew the CA")
    raise KstoolError(f"{where}: the certificate issued at {start:%Y-%m-%d} would end {end:%Y-%m-%d}, after its "
                      f"issuer {issuer_text} (valid until {issuer.not_valid_after_utc:%Y-%m-%d}); a certificate may "
                      f"not outlive its issuer: renew the CA first (a renew_before on {issuer_text} that makes it "
                      "fall due before what it signs), or shorten validity_days")


def signing_stores(spec: Spec, plan: Plan) -> set[str]:
    """Keystores holding the CA keys that sign a certificate in this plan (apply needs their keys)."""
    out: set[str] = set()
    for change in plan.keystores:
        ks = spec.keystore(change.name)
        for e in change.entries:
            entry = ks.entry(e.alias) if ks is not None else None
            if entry is not None and isinstance(entry.source, Generate) and entry.source.issuer is not None \
                    and e.action is not Action.NOOP:
                out.add(entry.source.issuer[0])
    return out


def _signed_by(chain: tuple[bytes, ...], issuer_chain: tuple[bytes, ...] | None, issuer: EntryChange) -> bool:
    """Is the stored chain the issuer's current one? (only its certificate's fingerprint when the issuer's store
    was not opened: kstool.lock vouches for the rest)"""
    if issuer_chain is not None:
        return chain[1:] == issuer_chain
    return len(chain) > 1 and (issuer.after or {}).get("sha256") == cert_facts(chain[1])["sha256"]


def _known_chain(change: EntryChange) -> tuple[bytes, ...] | None:
    build = change.build
    if isinstance(build, Keep) and isinstance(build.entry, KeyEntry):
        return build.entry.chain_der
    return None


def _with_chain(after: dict[str, str], change: EntryChange) -> dict[str, str]:
    chain = _known_chain(change)
    if chain is not None:
        after["chain_sha256"] = " ".join(cert_facts(c)["sha256"] for c in chain)
    return after
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
        return leaf_der(entry)
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
    if store.unrecorded and not entry_changed and expected is not None and expected != store.data:
        reasons.append("re-encoded to kstool's canonical bytes, keys kept: kstool.lock has no record of this file "
                       "(a store kstool did not write, e.g. one kstool adopt described)")
    elif not reasons and not entry_changed and expected != store.data:
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
    return cert_facts(leaf_der(entry))


def _generate_facts(gen: Generate) -> dict[str, str]:
    from kstool.crypto.dn import format_dname  # noqa: PLC0415

    facts = {"subject": format_dname(gen.subject), "key": key_text(gen.algorithm, gen.size),
             "validity_days": str(gen.validity_days)}
    if gen.san:
        facts["san"] = ", ".join(gen.san)
    if gen.ca:
        facts["ca"] = _ca_text(True, gen.path_length)
    if gen.usage:
        facts["usage"] = ", ".join(gen.usage)
    return facts


def _kind(entry: Entry) -> Literal["key", "trusted"]:
    return "key" if isinstance(entry, KeyEntry) else "trusted"


def _past(action: Action) -> str:
    return {Action.CREATE: "created", Action.REPLACE: "replaced", Action.UPDATE: "reissued"}.get(action, "changed")


def _with_alias(entry: Entry, alias: str) -> Entry:
    return dataclasses.replace(entry, alias=alias)


def _normalised(entry: Entry) -> Entry:
    """The entry as kstool writes it: the timestamp is the leaf's notBefore (reproducible)."""
    leaf = leaf_der(entry)
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
