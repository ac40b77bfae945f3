"""Resolve everything the spec points at: passwords, certificate and key files, source keystores.

This is IO at the edge: it reads files and the environment, checks every input, and hands the planner
plain values. Every error names the file and the spec location.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache, partial
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from kstool.engine.clock import Clock, read_clock
from kstool.engine.fsutil import NotRegularFileError, Ownership, read_regular_file, resolve_ownership
from kstool.engine.passwords import Resolved, check_store_password, resolve
from kstool.errors import Collector, KstoolError, MultiError, WrongPasswordError
from kstool.formats.entries import Entry, KeyEntry, TrustedEntry, detect_type
from kstool.formats.protection import KdfCache
from kstool.spec.model import (
    EmptyRef,
    EntrySpec,
    EnvRef,
    ExportSpec,
    FileRef,
    Generate,
    ImportFiles,
    ImportKeystore,
    KeystoreSpec,
    PasswordRef,
    Reply,
    SourcePasswordRef,
    Spec,
    TrustedCertificate,
    TrustedExpanded,
)
from kstool.spec.yamlload import Location, SpecError

MAX_INPUT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class KeystoreInputs:
    password: Resolved
    previous_password: Resolved | None
    key_password: Resolved | None  # only when the spec sets one (JKS/JCEKS)
    material: Mapping[str, Entry]  # alias → entry content for import and trusted-certificate entries
    # the artifact's spec'd mode, owner and group (ids on this machine)
    ownership: Ownership = field(default_factory=Ownership)
    # generated password files (generate: true) → their spec'd mode, owner and group
    password_files: Mapping[Path, Ownership] = field(default_factory=dict)
    previous_key_password: Resolved | None = None
    # previous_password / previous_key_password set in the spec but unreadable (an unset variable, a removed
    # file): not an error unless the current passwords fail to open the existing file (observe says so then)
    unreadable_previous: Mapping[str, str] = field(default_factory=dict)  # spec key → why it cannot be read

    @property
    def effective_key_password(self) -> str:
        return (self.key_password or self.password).secret.reveal()


@dataclass(frozen=True, slots=True)
class ExportInputs:
    """An export's resolved key password (None: the keystore's store password) and its files' mode and owner."""

    key_password: Resolved | None = None
    ownership: Ownership = field(default_factory=Ownership)


@dataclass(frozen=True, slots=True)
class Inputs:
    keystores: Mapping[str, KeystoreInputs]
    warnings: tuple[str, ...] = field(default=())
    # the keys derived from these passwords in this run: observe's decode, the planner's encode and apply's
    # read-back derive each once (one object per run, dropped with it; never a module global)
    kdf: KdfCache = field(default_factory=KdfCache, compare=False, repr=False)
    # what expanding bundles, folders and source stores noted (duplicates folded, certificates skipped): shown as
    # warnings, but never turned into errors by --strict-permissions (that flag is about password files)
    notes: tuple[str, ...] = field(default=())
    exports: Mapping[str, ExportInputs] = field(default_factory=dict)  # by export name


def load_inputs(spec: Spec, env: Mapping[str, str], *, jobs: int = 1) -> tuple[Spec, Inputs]:
    """The spec with its bundles, folders and source stores expanded into ordinary trusted entries
    (``kstool.engine.expand``), and its inputs (``resolve_inputs``); every error of both in one run."""
    from kstool.engine.expand import expand_spec  # noqa: PLC0415

    clock = read_clock(env)
    expanded = expand_spec(spec, env, clock)
    errors = Collector()
    errors.errors += expanded.errors
    inputs = errors.attempt(partial(resolve_inputs, expanded.spec, env, clock=clock, jobs=jobs))
    errors.raise_all()
    assert inputs is not None
    if expanded.warnings:
        inputs = dataclasses.replace(inputs, notes=tuple(dict.fromkeys(expanded.warnings)))
    return expanded.spec, inputs


def resolve_inputs(spec: Spec, env: Mapping[str, str], *, now: datetime | None = None,
                   clock: Clock | None = None, jobs: int = 1) -> Inputs:
    """Every password and input file, checked; ``now`` (default: the clock, ``kstool.engine.clock``) judges
    certificate validity. ``jobs``: processes for a keystore with many input files (``_materials``)."""
    keystores: dict[str, KeystoreInputs] = {}
    warnings: list[str] = []
    when = clock if clock is not None else Clock(now, now) if now is not None else read_clock(env)
    # a password file generated for several references (keystores sharing it) is generated once, for all of them
    shared = _Generated({ref.path for ks in spec.keystores
                         for ref in (ks.password, ks.previous_password, ks.key_password)
                         if isinstance(ref, FileRef) and ref.generate})
    errors = Collector()  # every unset variable, missing file and refused certificate in one run
    for ks in spec.keystores:
        resolved = errors.attempt(partial(_keystore_inputs, ks, env, warnings, when, shared, jobs=jobs))
        if resolved is not None:
            keystores[ks.name] = resolved
    exports: dict[str, ExportInputs] = {}
    for x in spec.exports:
        resolved_x = errors.attempt(partial(_export_inputs, x, env, warnings))
        if resolved_x is not None:
            exports[x.name] = resolved_x
    errors.raise_all()
    return Inputs(keystores, tuple(dict.fromkeys(warnings)), exports=exports)


def _export_inputs(x: ExportSpec, env: Mapping[str, str], warnings: list[str]) -> ExportInputs:
    errors = Collector()
    key_password = None
    ref = x.pem.key_password if x.pem is not None else None
    if ref is not None:
        key_password = errors.attempt(partial(_password, ref, env, warnings))
        if key_password is not None:
            errors.attempt(partial(check_store_password, key_password, "jks", what="export key password"))
    ownership = errors.attempt(partial(resolve_ownership, x.attrs.mode, x.attrs.owner, x.attrs.group,
                                       f"export {x.name!r} at {x.location}"))
    errors.raise_all()
    assert ownership is not None
    return ExportInputs(key_password, ownership)


@dataclass(slots=True)
class _Generated:
    """Password files some reference generates, and their one value for this run."""

    paths: set[Path]
    values: dict[Path, Resolved] = field(default_factory=dict)


def _password(ref: PasswordRef, env: Mapping[str, str], warnings: list[str],
              shared: _Generated | None = None) -> Resolved:
    if shared is not None and isinstance(ref, FileRef) and ref.path in shared.paths:
        if ref.path not in shared.values:
            shared.values[ref.path] = resolve(dataclasses.replace(ref, generate=True), env)
            warnings.extend(shared.values[ref.path].warnings)
        return dataclasses.replace(shared.values[ref.path], ref=ref)
    resolved = resolve(ref, env)
    if isinstance(ref, FileRef) and ref.generate and ref.attrs.mode & 0o077:
        # the spec lets group or others read this generated file on purpose: no warning about that
        warnings.extend(w for w in resolved.warnings if "readable by group or others" not in w)
    else:
        warnings.extend(resolved.warnings)
    return resolved


def _source_password(ref: SourcePasswordRef, env: Mapping[str, str], warnings: list[str]) -> Resolved:
    """A source keystore's password; an empty value points at ``{empty: true}``, never at ``generate``."""
    if isinstance(ref, FileRef) and not os.path.lexists(ref.path):
        raise SpecError(ref.location, f"password file {ref.shown} does not exist; create it (mode 0600) with the "
                                      "source keystore's password")
    try:
        resolved = resolve(ref, env)
    except SpecError as e:
        if not isinstance(ref, EmptyRef) and _is_empty_value(ref, env):
            raise SpecError(ref.location, f"the source keystore password from {ref.describe()} is empty; if the "
                                          "keystore really has an empty password, write password: {empty: true}"
                            ) from e
        raise
    warnings.extend(resolved.warnings)
    return resolved


def _is_empty_value(ref: PasswordRef, env: Mapping[str, str]) -> bool:
    if isinstance(ref, EnvRef):
        return env.get(ref.name) == ""
    try:
        with ref.path.open("rb") as f:
            return f.read(3) in (b"", b"\n", b"\r\n")
    except OSError:
        return False


def _keystore_inputs(ks: KeystoreSpec, env: Mapping[str, str], warnings: list[str],
                     now: Clock, shared: _Generated, *, jobs: int = 1) -> KeystoreInputs:
    errors = Collector()
    password = errors.attempt(partial(_store_password, ks.password, ks.type, "store password", env,
                                      warnings=warnings, shared=shared))
    key_password = errors.attempt(partial(_store_password, ks.key_password, ks.type, "key password", env,
                                          warnings=warnings, shared=shared)) if ks.key_password else None
    unreadable: dict[str, str] = {}
    previous = _previous(ks.previous_password, "previous_password", env, warnings, unreadable)
    previous_key = _previous(ks.previous_key_password, "previous_key_password", env, warnings, unreadable)
    material: dict[str, Entry] = {}
    for entry, (content, failed, said) in zip(ks.entries, _materials(ks.entries, env, now, jobs), strict=True):
        errors.errors += failed
        warnings += said
        if content is not None:
            material[entry.alias] = content
    where = f"keystore {ks.name!r} at {ks.location}"
    ownership = errors.attempt(partial(resolve_ownership, ks.attrs.mode, ks.attrs.owner, ks.attrs.group, where))
    password_files: dict[Path, Ownership] = {}
    for ref in (ks.password, ks.previous_password, ks.key_password):
        if isinstance(ref, FileRef) and ref.generate:
            wanted = errors.attempt(partial(resolve_ownership, ref.attrs.mode, ref.attrs.owner, ref.attrs.group,
                                            f"password file {ref.shown} at {ref.location}"))
            if wanted is not None:
                password_files[ref.path] = wanted
    errors.raise_all()
    assert password is not None and ownership is not None
    return KeystoreInputs(password, previous, key_password, material, ownership, password_files, previous_key,
                          unreadable)


# An entry's content, or None, with the errors and warnings it gave
_Material = tuple[Entry | None, list[KstoolError], list[str]]

# Entries that read input files (one JVM-free parse and check each) are spread over the cores from this many on:
# a truststore of thousands of certificate files. Below it a pool costs more than it saves.
PARALLEL_ENTRIES = 256


def _entry_material(entry: EntrySpec, env: Mapping[str, str], now: Clock) -> _Material:
    """One entry's content read and checked: its input files, then the policy (expiry, weak crypto)."""
    errors = Collector()
    warnings: list[str] = []
    content = errors.attempt(partial(_material, entry, env, warnings))
    # a bundle's, folder's or store's certificate: kstool.engine.expand applied the policy (skipping with a warning)
    if content is not None and not isinstance(entry.source, TrustedExpanded) and errors.attempt(
            partial(_check_policy, entry, content, now)) is None:
        content = None
    return content, errors.errors, warnings


def _reads_files(entry: EntrySpec) -> bool:
    return isinstance(entry.source, TrustedCertificate | ImportFiles | ImportKeystore) or (
        isinstance(entry.source, Generate) and entry.source.reply is not None)


def _materials(entries: tuple[EntrySpec, ...], env: Mapping[str, str], now: Clock, jobs: int) -> list[_Material]:
    """``_entry_material`` of every entry, in order; on ``jobs`` forked processes when PARALLEL_ENTRIES or more
    of them read files. The workers get the entries and the environment by fork (only an index is sent); the
    contents come back by pickle, between kstool's own processes, as the encoder's do."""
    from kstool.engine.parallel import cpu_count, pmap_forked, workers_fork  # noqa: PLC0415

    if (jobs <= 1 or cpu_count() <= 1 or not workers_fork()
            or sum(map(_reads_files, entries)) < PARALLEL_ENTRIES):
        return [_entry_material(entry, env, now) for entry in entries]
    return pmap_forked(lambda i: _entry_material(entries[i], env, now), len(entries), jobs=jobs,
                       min_tasks=PARALLEL_ENTRIES)


def _previous(ref: PasswordRef | None, key: str, env: Mapping[str, str], warnings: list[str],
              unreadable: dict[str, str]) -> Resolved | None:
    """A previous password, or None (noted in ``unreadable``) when it cannot be read: after a rotation the old
    secret may be gone before the spec drops its reference, and the current password needs no help."""
    if ref is None:
        return None
    try:
        resolved = resolve(ref, env)
    except SpecError as e:
        unreadable[key] = str(e)
        return None
    if resolved.generated:  # generate: true only ever creates current passwords
        unreadable[key] = f"{ref.location}: {ref.describe()} does not exist"
        return None
    warnings.extend(resolved.warnings)
    return resolved


def _store_password(ref: PasswordRef, store_type: str, what: str, env: Mapping[str, str], *,
                    warnings: list[str], shared: _Generated) -> Resolved:
    resolved = _password(ref, env, warnings, shared)
    check_store_password(resolved, store_type, what=what)
    return resolved


def _material(entry: EntrySpec, env: Mapping[str, str], warnings: list[str]) -> Entry | None:
    source = entry.source
    if isinstance(source, ImportFiles):
        return _import_files(entry, source, env, warnings)
    if isinstance(source, ImportKeystore):
        return _import_keystore(entry, source, env, warnings)
    if isinstance(source, TrustedCertificate):
        return _trusted_certificate(entry, source)
    if isinstance(source, TrustedExpanded):
        return TrustedEntry(entry.alias, source.cert_der, source.timestamp_ms)
    if isinstance(source, Generate) and source.reply is not None:
        return _reply(entry, source.reply)
    return None


def _reply(entry: EntrySpec, reply: Reply) -> KeyEntry:
    """A CA's reply as a key entry without its key (the planner puts the stored key under it): the certificate
    file's first certificate, then the chain ordered and checked as for file imports."""
    from kstool.crypto.imports import load_certificates, order_chain  # noqa: PLC0415

    where = entry.location
    try:
        certs = [c for path in (reply.certificate, *reply.chain) for c in _readable(path, where, load_certificates(
            _typed(path, where), read_input(path, where, "reply certificate file")))]
        files = ", ".join(shown(p, where) for p in (reply.certificate, *reply.chain))
        chain = order_chain(certs[0], certs[1:], source=files)
    except SpecError:
        raise
    except KstoolError as e:
        raise SpecError(where, str(e)) from None
    return KeyEntry(entry.alias, b"", tuple(c.public_bytes(Encoding.DER) for c in chain), timestamp_ms(chain[0]))


def _check_policy(entry: EntrySpec, content: Entry, now: Clock) -> bool:
    from kstool.crypto.policy import check_certificates  # noqa: PLC0415
    from kstool.engine.facts import load_cert  # noqa: PLC0415

    ders = content.chain_der if isinstance(content, KeyEntry) else (content.cert_der,)
    source = entry.source
    path = getattr(source, "certificate", None) or getattr(source, "keystore", None)
    what = shown(path, entry.location) if isinstance(path, Path) else entry.alias
    try:
        check_certificates([load_cert(d) for d in ders], now=now.now, wall=now.wall, allow_expired=entry.allow_expired,
                           allow_weak=entry.allow_weak, what=what)
    except MultiError as e:
        raise MultiError([SpecError(entry.location, str(one)) for one in e.errors]) from None
    except KstoolError as e:
        raise SpecError(entry.location, f"{what}: {e}" if not str(e).startswith(what) else str(e)) from None
    return True


def shown(path: Path, location: Location | None = None) -> str:
    """An input path as the spec at ``location`` spells it (inputs resolve against the spec's folder); without a
    location, relative to the current folder when it is below it."""
    text = str(path)
    folder = _spec_folder(location.file, os.getcwd()) if location else os.getcwd()
    if text == folder:
        return "."
    prefix = folder if folder.endswith("/") else folder + "/"  # "/" itself ends with one
    return text[len(prefix):] if text.startswith(prefix) else text  # Path.relative_to, on the normalised text


@lru_cache(maxsize=16)
def _spec_folder(spec_file: str, cwd: str) -> str:
    """The folder of the spec file (a relative name: from ``cwd``), resolved once: ``shown`` runs for every input
    of every entry."""
    return str(Path(spec_file).resolve().parent)


def _typed(path: Path, location: Location) -> Path:
    """``path`` for messages only: as the spec spells it."""
    return Path(shown(path, location))


def read_input(path: Path, location: Location, what: str) -> bytes:
    """An input file's bytes: a regular file (links followed) of at most MAX_INPUT_BYTES; a FIFO or device is
    refused without waiting on it."""
    path_text = shown(path, location)
    try:
        return read_regular_file(path, MAX_INPUT_BYTES, f"{what} {path_text}")
    except NotRegularFileError as e:
        raise SpecError(location, str(e)) from None
    except FileNotFoundError:
        raise SpecError(location, f"{what} {path_text} does not exist; check the path (relative to the spec's "
                                  "folder)") from None
    except IsADirectoryError:
        raise SpecError(location, f"{what} {path_text} is a directory; name a file") from None
    except OSError as e:
        raise SpecError(location, f"cannot read {what} {path_text}: {e.strerror}") from None


def timestamp_ms(cert: x509.Certificate) -> int:
    """Entry timestamps come from the leaf's notBefore: reproducible, and meaningful to a reader."""
    return int(cert.not_valid_before_utc.astimezone(UTC).timestamp()) * 1000


def _import_files(entry: EntrySpec, source: ImportFiles, env: Mapping[str, str],
                  warnings: list[str]) -> KeyEntry:
    from kstool.crypto.imports import (  # noqa: PLC0415
        load_certificates,
        load_private_key,
        order_chain,
        private_key_to_pkcs8,
        select_leaf,
    )

    where = entry.location
    key_password = None
    if source.private_key_password is not None:
        key_password = _password(source.private_key_password, env, warnings).secret.reveal().encode("utf-8")
    try:
        certs = _readable(source.certificate, where, load_certificates(
            _typed(source.certificate, where), read_input(source.certificate, where, "certificate file")))
        key = load_private_key(_typed(source.private_key, where),
                               read_input(source.private_key, where, "private key file"), key_password)
        extra = [c for path in source.chain for c in _readable(path, where, load_certificates(
            _typed(path, where), read_input(path, where, "chain file")))]
        files = ", ".join(shown(p, where) for p in (source.certificate, *source.chain))
        leaf = select_leaf(certs, key, source=shown(source.certificate, where))
        others = [c for c in certs if c is not leaf] + extra
        chain = order_chain(leaf, others, source=files)
    except SpecError:
        raise
    except KstoolError as e:
        raise SpecError(where, str(e)) from None
    return KeyEntry(entry.alias, private_key_to_pkcs8(key), tuple(c.public_bytes(Encoding.DER) for c in chain),
                    timestamp_ms(chain[0]))


def _readable(path: Path, where: Location, certs: list[x509.Certificate]) -> list[x509.Certificate]:
    """``certs`` once each has proved that its key algorithm is one kstool (and Java) can use: a GOST or SM2
    certificate is named as such, not as a key that "does not match"."""
    from kstool.engine.facts import load_cert  # noqa: PLC0415

    for cert in certs:
        try:
            load_cert(cert.public_bytes(Encoding.DER))
        except KstoolError as e:
            raise SpecError(where, f"{shown(path, where)}: {e}") from None
    return certs


def _import_keystore(entry: EntrySpec, source: ImportKeystore, env: Mapping[str, str],
                     warnings: list[str]) -> KeyEntry:
    from kstool.formats.codec import decode  # noqa: PLC0415

    where = entry.location
    data = read_input(source.keystore, where, "source keystore")
    keystore = shown(source.keystore, where)
    store_type = detect_type(data)
    if store_type is None:
        raise SpecError(where, f"source keystore {keystore} is not a JKS, JCEKS or PKCS12 keystore")
    password = _source_password(source.password, env, warnings)
    key_password = _source_password(source.key_password, env, warnings) if source.key_password else None

    def read(alias: str | None) -> tuple[Entry, ...]:
        try:
            return decode(data, store_type, password.secret.reveal(), alias=alias,
                          key_password=key_password.secret.reveal() if key_password else None, skip_secret_keys=True)
        except WrongPasswordError as e:
            hint = "" if store_type == "pkcs12" else "; for an entry with a key password of its own set key_password"
            raise SpecError(where, f"source keystore {keystore}: {e} (password from "
                                   f"{password.ref.describe()}{hint})") from None
        except KstoolError as e:
            raise SpecError(where, f"source keystore {keystore} is not a valid {store_type.upper()} "
                                   f"keystore ({e})") from None

    # with an alias, only that entry is decrypted: other entries may have key passwords of their own
    keys = [e for e in read(source.alias) if isinstance(e, KeyEntry)]
    secret = _skipped_secret_keys(data) if store_type == "jceks" else ()
    if source.alias is not None and source.alias.lower() in {a.lower() for a in secret}:
        raise SpecError(where, f"source keystore {shown(source.keystore, where)}: entry {source.alias!r} holds a "
                               "secret key, not a key pair; kstool imports private keys with their certificates "
                               "only: fix import.alias")
    if secret:
        names = ", ".join(repr(a) for a in secret)
        warnings.append(f"{where}: source keystore {shown(source.keystore, where)}: skipped {len(secret)} secret-key "
                        f"entr{'y' if len(secret) == 1 else 'ies'} ({names}); kstool imports key pairs only")
    if source.alias is not None and not keys:
        try:
            others = ", ".join(repr(e.alias) for e in read(None) if isinstance(e, KeyEntry)) or "none"
        except SpecError:
            others = "not listed: the other entries need their own key passwords"
        raise SpecError(where, f"source keystore {keystore} has no key entry {source.alias!r} "
                               f"(key entries: {others}); fix import.alias")
    if len(keys) != 1:
        aliases = ", ".join(repr(e.alias) for e in keys)
        why = f"holds {len(keys)} key entries ({aliases}); add import.alias" if keys else "holds no private key entry"
        raise SpecError(where, f"source keystore {keystore} {why}")
    chosen = keys[0]
    if not chosen.chain_der:
        raise SpecError(where, f"source keystore {keystore}: key entry {chosen.alias!r} holds a private key "
                               "without its certificate; Java needs the certificate: export the store again with "
                               "it (e.g. openssl pkcs12 -export -in cert.pem -inkey key.pem)")
    chain = _keystore_chain(entry, source, chosen)
    return KeyEntry(entry.alias, chosen.key_der, tuple(c.public_bytes(Encoding.DER) for c in chain),
                    timestamp_ms(chain[0]))


def _skipped_secret_keys(data: bytes) -> tuple[str, ...]:
    from kstool.formats.jks import secret_key_aliases  # noqa: PLC0415

    return secret_key_aliases(data)  # the store was opened (and its hash checked) before


def _keystore_chain(entry: EntrySpec, source: ImportKeystore, chosen: KeyEntry) -> tuple[x509.Certificate, ...]:
    """The key's chain checked like a file import's: every certificate Java can parse, ordered leaf → root."""
    from kstool.crypto.certparse import parse_der  # noqa: PLC0415
    from kstool.crypto.imports import check_java_parsable, order_chain  # noqa: PLC0415

    what = f"source keystore {shown(source.keystore, entry.location)}, key entry {chosen.alias!r}"
    try:
        certs = [parse_der(d) for d in chosen.chain_der]
        for i, cert in enumerate(certs, 1):
            check_java_parsable(cert, f"{what}, certificate #{i}")
        return order_chain(certs[0], certs[1:], source=what)
    except (ValueError, x509.InvalidVersion):
        raise SpecError(entry.location, f"{what}: a certificate of the chain cannot be parsed as X.509") from None
    except KstoolError as e:
        raise SpecError(entry.location, str(e)) from None


def _trusted_certificate(entry: EntrySpec, source: TrustedCertificate) -> TrustedEntry:
    from kstool.crypto.imports import load_certificates  # noqa: PLC0415

    where = entry.location
    try:
        certs = load_certificates(_typed(source.certificate, where),
                                  read_input(source.certificate, where, "certificate file"))
    except SpecError:
        raise
    except KstoolError as e:
        raise SpecError(where, str(e)) from None
    if len(certs) != 1:
        raise SpecError(where, f"certificate file {shown(source.certificate, where)} holds {len(certs)} "
                               "certificates; a trusted entry takes exactly one: split the bundle into one entry per "
                               "certificate")
    return TrustedEntry(entry.alias, certs[0].public_bytes(Encoding.DER), timestamp_ms(certs[0]))
