"""Exports: PEM files and Kubernetes Secret manifests cut from the keystores' own material.

An export file is an artifact like a keystore: observed (``observe_exports``), planned per file with reasons
(``plan_exports``, called by the planner), rendered from the entries the executor builds in the same run
(``render_exports``), staged and committed with the keystores, recorded in kstool.lock (``locked_exports``) and
checked by ``kstool verify``. The bytes come from ``kstool.formats.pem`` and ``kstool.formats.k8s``: the same
material and passwords always give the same bytes, so a second apply writes nothing.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kstool.engine.fsutil import Ownership, check_confined
from kstool.engine.inputs import Inputs
from kstool.engine.lockfile import Lock, LockedExport, LockedFile
from kstool.engine.plan import Action, Address, ExportChange, Keep, KeystoreChange
from kstool.errors import KstoolError
from kstool.formats import k8s, pem
from kstool.formats.codec import DEFAULT_PKCS12_ITERATIONS
from kstool.formats.entries import Entry, KeyEntry, TrustedEntry
from kstool.formats.protection import KdfCache
from kstool.spec.model import ExportSpec, Spec


@dataclass(frozen=True, slots=True)
class ObservedFile:
    data: bytes
    mode: int
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class ObservedExports:
    files: Mapping[str, ObservedFile] = field(default_factory=dict)  # by path: export files that exist
    # (export, kind, role, path, data) of files kstool.lock records for this spec that no export writes any more,
    # still holding what kstool wrote: apply deletes them
    orphans: tuple[tuple[str, str, str, str, bytes], ...] = ()
    foreign: Mapping[str, LockedExport] = field(default_factory=dict)  # other specs' records, kept as they are


def observe_exports(spec: Spec, root: Path, lock: Lock | None, owner: str) -> ObservedExports:
    """Every export file of the spec that exists, and the files of exports kstool.lock records but the spec
    dropped (or moved): those are deleted only if they still hold the bytes kstool.lock records."""
    from kstool.engine.observe import read_artifact_stat  # noqa: PLC0415

    files: dict[str, ObservedFile] = {}
    for spec_x in spec.exports:
        for _, rel in spec_x.files:
            try:
                check_confined(root, rel)
                found = read_artifact_stat(root / rel, rel)
            except KstoolError as e:  # a link, a folder, a FIFO...: named as the export's file
                why = str(e).replace("the keystore's path", "the export's path")
                raise KstoolError(f"export {spec_x.name!r} ({spec_x.location}): {why}") from None
            if found is not None:
                data, info = found
                files[rel] = ObservedFile(data, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
    locked = lock.exports if lock is not None else {}
    foreign = {n: x for n, x in locked.items() if owner and x.owner and x.owner != owner}
    theirs = {f.path.casefold(): (n, x.owner) for n, x in foreign.items() for f in x.files}
    if lock is not None and owner:
        theirs.update({s.path.casefold(): (n, s.owner) for n, s in lock.keystores.items()
                       if s.owner and s.owner != owner})
    for spec_x in spec.exports:
        if spec_x.name in foreign:
            raise KstoolError(f"export {spec_x.name!r} ({spec_x.location}): kstool.lock records an export of that name "
                              f"for spec {foreign[spec_x.name].owner}; specs sharing an output folder need distinct "
                              f"export names: rename it in {owner} or in {foreign[spec_x.name].owner}")
        for _, rel in spec_x.files:
            hit = theirs.get(rel.casefold())
            if hit is not None:
                raise KstoolError(f"{rel} (export {spec_x.name!r} at {spec_x.location}) is written by spec {hit[1]} "
                                  f"({hit[0]!r}, per kstool.lock); {owner} may not write it: change the path in "
                                  f"{owner} or in {hit[1]}")
    wanted = {rel for x in spec.exports for _, rel in x.files} | {ks.path for ks in spec.keystores}
    orphans: list[tuple[str, str, str, str, bytes]] = []
    for name, record in sorted(locked.items()):
        if name in foreign:
            continue
        for f in record.files:
            if f.path in wanted:
                continue
            try:
                check_confined(root, f.path)
                found = read_artifact_stat(root / f.path, f.path)
            except KstoolError:
                continue  # not a file kstool can safely delete: left alone
            if found is not None and hashlib.sha256(found[0]).hexdigest() == f.sha256:
                orphans.append((name, record.kind, f.role, f.path, found[0]))
    return ObservedExports(files, tuple(orphans), foreign)


@dataclass(frozen=True, slots=True)
class Material:
    """What the exports are cut from: entries and keystore bytes that are known, and why the others are not
    (yet): they are built by this apply."""

    entries: Mapping[Address, Entry]
    stores: Mapping[str, bytes]
    pending: Mapping[str, str] = field(default_factory=dict)  # "ks/alias" or "ks" → why it is not known yet
    # each keystore's aliases after apply, in store order (a spec entry may expand into several store entries)
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def store_aliases(changes: Sequence[KeystoreChange]) -> dict[str, tuple[str, ...]]:
    """The aliases each keystore holds once the plan is applied, in order."""
    return {c.name: tuple(e.alias for e in c.entries if e.action is not Action.DELETE)
            for c in changes if c.action is not Action.DELETE}


def plan_material(changes: Sequence[KeystoreChange], stores: Mapping[str, bytes]) -> Material:
    """The material a plan already knows: entries it keeps as they are; ``stores``: the bytes of unchanged stores."""
    entries: dict[Address, Entry] = {}
    pending: dict[str, str] = {}
    known: dict[str, bytes] = {}
    for change in changes:
        if change.action is Action.DELETE:
            continue
        for e in change.entries:
            key = f"{change.name}/{e.alias}"
            build = e.build
            if isinstance(build, Keep) and not (isinstance(build.entry, KeyEntry) and not build.entry.key_der):
                entries[(change.name, e.alias)] = build.entry
                if e.action is not Action.NOOP:
                    pending[key] = f"source entry {key}: {e.action.value} ({'; '.join(e.reasons)})"
            else:
                why = "; ".join(e.reasons) or "built by apply"
                pending[key] = f"source entry {key}: {e.action.value} ({why})"
        data = stores.get(change.name) if change.action is Action.NOOP else change.expected
        if data is not None:
            known[change.name] = data
        if change.action is not Action.NOOP:
            pending[change.name] = f"source keystore {change.name}: {change.action.value}"
    return Material(entries, known, pending, store_aliases(changes))


class _Unknown(Exception):  # noqa: N818 - control flow: the material is built by apply, not known at plan time
    pass


def _entry(material: Material, address: Address) -> Entry:
    found = material.entries.get(address)
    if found is None:
        raise _Unknown(material.pending.get(f"{address[0]}/{address[1]}", "built by apply"))
    return found


def _key_entry(material: Material, address: Address) -> KeyEntry:
    found = _entry(material, address)
    if not isinstance(found, KeyEntry):
        raise KstoolError(f"{address[0]}/{address[1]} is not a key entry; an export needs its key")
    return found


def _ca_certs(entry: KeyEntry) -> tuple[bytes, ...]:
    """The CA certificates of a chain; a self-signed certificate is its own CA."""
    return entry.chain_der[1:] or entry.chain_der[:1]


def render_file(spec: Spec, x: ExportSpec, role: str, inputs: Inputs, material: Material, *,
                cache: KdfCache | None = None) -> bytes:
    """The bytes of one export file. Raises ``_Unknown`` when its material is built by this apply."""
    if x.secret is not None:
        s = x.secret
        data: list[tuple[str, bytes]]
        if s.tls is not None:
            entry = _key_entry(material, s.tls)
            data = [("tls.crt", pem.certificates_pem(entry.chain_der)), ("tls.key", pem.private_key_pem(entry.key_der))]
            if s.tls_ca:
                data.append(("ca.crt", pem.certificates_pem(_ca_certs(entry))))
            kind = k8s.TLS_TYPE
        else:
            data = []
            for key, name in s.data:
                if name not in material.stores:
                    raise _Unknown(material.pending.get(name, f"source keystore {name}: written by apply"))
                data.append((key, material.stores[name]))
            kind = k8s.OPAQUE_TYPE
        return k8s.secret_manifest(s.name, kind, data, namespace=s.namespace, labels=dict(s.labels))
    p = x.pem
    assert p is not None
    if role == "bundle":
        assert p.keystore is not None
        ks = spec.keystore(p.keystore)
        assert ks is not None
        aliases = material.aliases.get(ks.name)
        if aliases is None:
            raise _Unknown(material.pending.get(ks.name, f"source keystore {ks.name}: built by apply"))
        certs = [found.cert_der for alias in aliases
                 if isinstance(found := _entry(material, (ks.name, alias)), TrustedEntry)]
        return pem.certificates_pem(dict.fromkeys(certs))  # a certificate trusted twice is written once
    assert p.entry is not None
    entry = _key_entry(material, p.entry)
    if role == "certificate":
        return pem.certificates_pem(entry.chain_der[:1])
    if role == "chain":
        return pem.certificates_pem(_ca_certs(entry))
    if role == "fullchain":
        return pem.certificates_pem(entry.chain_der)
    password = _key_password(x, inputs)
    if password is None:
        return pem.private_key_pem(entry.key_der)
    source = spec.keystore(p.entry[0])
    assert source is not None
    return pem.encrypted_private_key_pem(entry.key_der, password,
                                         iterations=source.iterations or DEFAULT_PKCS12_ITERATIONS, cache=cache)


def plan_exports(spec: Spec, inputs: Inputs, observed: ObservedExports, material: Material) -> tuple[ExportChange,
                                                                                                         ...]:
    """Per export file: create, update (with the reasons) or no-op; files of removed exports: delete."""
    out: list[ExportChange] = []
    for x in spec.exports:
        kind = "pem" if x.pem is not None else "kubernetes_secret"
        wanted = inputs.exports[x.name].ownership if x.name in inputs.exports else Ownership(x.attrs.mode)
        for role, rel in x.files:
            try:
                expected: bytes | None = render_file(spec, x, role, inputs, material, cache=inputs.kdf)
                why = ""
            except _Unknown as e:
                expected, why = None, str(e)
            found = observed.files.get(rel)
            if found is None:
                out.append(ExportChange(x.name, kind, role, rel, Action.CREATE, ("new file",), expected))
                continue
            reasons: list[str] = []
            if expected is None:
                reasons += _changed_sources(x, material) or [why]
            elif expected != found.data:
                reasons += _changed_sources(x, material) or _password_changed(x, role, found.data, inputs) or [
                    f"the file differs from what kstool builds from {_source_text(x)} (edited since apply?)"]
            reasons += wanted.differences(found.mode, found.uid, found.gid)
            action = Action.UPDATE if reasons else Action.NOOP
            out.append(ExportChange(x.name, kind, role, rel, action, tuple(reasons), expected))
    out += [ExportChange(name, kind, role, rel, Action.DELETE, ("export not in spec" if name not in
                                                                 {x.name for x in spec.exports}
                                                                 else "no longer written by this export",), None)
            for name, kind, role, rel, _ in observed.orphans]
    return tuple(out)


def _source_keys(x: ExportSpec) -> list[str]:
    if x.pem is not None and x.pem.entry is not None:
        return [f"{x.pem.entry[0]}/{x.pem.entry[1]}"]
    if x.secret is not None and x.secret.tls is not None:
        return [f"{x.secret.tls[0]}/{x.secret.tls[1]}"]
    return list(x.sources)


def _source_text(x: ExportSpec) -> str:
    return ", ".join(_source_keys(x))


def _key_password(x: ExportSpec, inputs: Inputs) -> str | None:
    """The password an export's key file is encrypted under (None: unencrypted)."""
    assert x.pem is not None and x.pem.entry is not None
    if x.pem.unencrypted_key:
        return None
    given = inputs.exports[x.name].key_password if x.name in inputs.exports else None
    return (given or inputs.keystores[x.pem.entry[0]].password).secret.reveal()


def _password_changed(x: ExportSpec, role: str, data: bytes, inputs: Inputs) -> list[str]:
    """An existing key file that its password no longer opens: the password was rotated."""
    if role != "key" or x.pem is None or x.pem.entry is None or x.pem.unencrypted_key:
        return []
    from cryptography.hazmat.primitives.serialization import load_pem_private_key  # noqa: PLC0415

    password = _key_password(x, inputs)
    try:
        load_pem_private_key(data, password.encode("utf-8") if password is not None else None)
    except (ValueError, TypeError):
        whose = "key_password" if x.pem.key_password is not None else f"the store password of {x.pem.entry[0]}"
        return [f"the key file does not open with {whose}: re-encrypted under it (password rotated?)"]
    return []


def _changed_sources(x: ExportSpec, material: Material) -> list[str]:
    """Why the export's source changes in this plan (an entry updated, a keystore rewritten), if it does."""
    keys = _source_keys(x)
    if x.pem is not None and x.pem.keystore is not None:  # a bundle: any trusted entry of the store
        keys = [k for k in material.pending if k.startswith(f"{x.pem.keystore}/")]
    return [material.pending[k] for k in keys if k in material.pending]


def render_exports(spec: Spec, inputs: Inputs, plan_exports_: Sequence[ExportChange], material: Material) -> dict[
        str, bytes]:
    """The bytes of every export file apply writes (create or update), from the material built in this run."""
    by_name = {x.name: x for x in spec.exports}
    out: dict[str, bytes] = {}
    for change in plan_exports_:
        if change.action in (Action.CREATE, Action.UPDATE):
            x = by_name[change.export]
            try:
                out[change.path] = render_file(spec, x, change.role, inputs, material, cache=inputs.kdf)
            except _Unknown as e:
                raise AssertionError(f"export {change.export} ({change.path}): material missing after build: {e}") \
                    from None
            _read_back(x, change, out[change.path], inputs, material)
    return out


def _read_back(x: ExportSpec, change: ExportChange, data: bytes, inputs: Inputs, material: Material) -> None:
    """Like every artifact, an export key is opened again before anything is written: with cryptography (not
    kstool's own code), under the password it was written for, and must hold the entry's key."""
    if change.role != "key" or x.pem is None or x.pem.entry is None:
        return
    from cryptography.hazmat.primitives.serialization import (  # noqa: PLC0415
        Encoding,
        PublicFormat,
        load_der_private_key,
        load_pem_private_key,
    )

    secret = _key_password(x, inputs)
    password = secret.encode("utf-8") if secret is not None else None
    entry = _key_entry(material, x.pem.entry)
    try:
        read = load_pem_private_key(data, password).public_key()
        want = load_der_private_key(entry.key_der, None).public_key()
        same = read.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == want.public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, TypeError) as e:
        raise KstoolError(f"export {x.name!r} ({change.path}): the key file does not open again ({type(e).__name__}); "
                          "nothing was changed: this is a bug, please report it") from None
    if not same:
        raise KstoolError(f"export {x.name!r} ({change.path}): the key file holds another key than "
                          f"{x.pem.entry[0]}/{x.pem.entry[1]}; nothing was changed: this is a bug, please report it")


def locked_exports(spec: Spec, changes: Sequence[ExportChange], written: Mapping[str, bytes], owner: str,
                   foreign: Mapping[str, LockedExport]) -> dict[str, LockedExport]:
    """kstool.lock's ``exports`` once this plan is applied: per export its files' paths, roles and sha256."""
    by_path = {c.path: c for c in changes if c.action is not Action.DELETE}
    out: dict[str, LockedExport] = dict(foreign)
    for x in spec.exports:
        files: list[LockedFile] = []
        for role, rel in x.files:
            data = written.get(rel)
            if data is None:
                change = by_path.get(rel)
                data = change.expected if change is not None else None
            if data is None:
                raise AssertionError(f"export {x.name}: {rel} has no known bytes")
            files.append(LockedFile(rel, role, hashlib.sha256(data).hexdigest()))
        out[x.name] = LockedExport("pem" if x.pem is not None else "kubernetes_secret", tuple(files), owner)
    return out
