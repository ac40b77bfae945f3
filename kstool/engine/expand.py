"""Bundles, folders and source stores as sources of trust: each ``trusted: {bundle:}``, ``{directory:}`` or
``{keystore:}`` entry becomes one ordinary trusted entry per certificate (``TrustedExpanded``) when the inputs are
read, before anything else looks at the spec. From there on, the planner, the lock's digests, observe, execute
and verify see ordinary trusted entries: one mechanism, no parallel pipeline.

Rules (README "Truststores from CA bundles and existing stores"):
- aliases: a bundle's or folder's certificates get ``alias_prefix`` + a slug of the subject's CN
  (``kstool.crypto.aliases``), unique and independent of the order of the certificates; a source store's keep
  their own alias (lowercased), after ``alias_prefix``. The expanded entries of one spec entry are sorted by alias,
  so a reordered bundle gives the same bytes;
- duplicates (the same DER, within a source or across the keystore's expanding sources) are folded into the first
  (spec order; within a store, the smallest alias), with one warning per keystore;
- certificates outside their validity period, or weak, are skipped with a warning unless the entry (or its
  keystore, or the spec) sets ``allow_expired`` / ``allow_weak``; one that Java cannot parse is an error, as
  everywhere;
- an expanded alias that another entry of the keystore has is an error naming both.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from cryptography import x509

from kstool.engine.clock import Clock
from kstool.engine.inputs import _source_password, read_input, timestamp_ms
from kstool.errors import Collector, KstoolError
from kstool.spec.model import (
    EntrySpec,
    KeystoreSpec,
    Spec,
    TrustedBundle,
    TrustedExpanded,
    TrustedStore,
)
from kstool.spec.yamlload import SpecError

MAX_SOURCE_CERTIFICATES = 16384  # per bundle, folder or source store (Debian's bundle holds ~150; estates 10,000)
MAX_DIRECTORY_ENTRIES = 16384  # names looked at in a folder
CERTIFICATE_SUFFIXES = (".pem", ".crt", ".cer", ".der")  # the files of a folder that count (case-insensitive)
_PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]{0,32}PRIVATE KEY-----")
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True, slots=True)
class _Found:
    """One certificate of a source, accepted by the policy."""

    der: bytes
    cert: x509.Certificate
    file: Path
    origin: str  # where, in words: "certs/ca.pem, certificate #3"
    alias: str | None  # a source store's alias (prefixed); None: derived from the subject


@dataclass(frozen=True, slots=True)
class Expanded:
    spec: Spec
    warnings: tuple[str, ...]
    errors: tuple[KstoolError, ...]


def expand_spec(spec: Spec, env: Mapping[str, str], clock: Clock) -> Expanded:
    """The spec with every expanding trusted entry replaced by its certificates' entries. A keystore whose
    expansion fails keeps its other entries (so its other inputs are still checked); the errors are returned."""
    if not any(e.expands for ks in spec.keystores for e in ks.entries):
        return Expanded(spec, (), ())
    errors = Collector()
    warnings: list[str] = []
    keystores = []
    for ks in spec.keystores:
        if not any(e.expands for e in ks.entries):
            keystores.append(ks)
            continue
        done = errors.attempt(partial(_expand_keystore, ks, env, clock, warnings))
        keystores.append(done if done is not None else
                         dataclasses.replace(ks, entries=tuple(e for e in ks.entries if not e.expands)))
    return Expanded(dataclasses.replace(spec, keystores=tuple(keystores)), tuple(warnings), tuple(errors.errors))


def _expand_keystore(ks: KeystoreSpec, env: Mapping[str, str], clock: Clock, warnings: list[str]) -> KeystoreSpec:
    from kstool.crypto.aliases import alias_base, derive_aliases, fingerprint  # noqa: PLC0415

    errors = Collector()
    found: dict[int, list[_Found]] = {}
    for j, entry in enumerate(ks.entries):
        if entry.expands:
            certs = errors.attempt(partial(_read_source, entry, env, clock, warnings))
            if certs is not None:
                found[j] = certs
    errors.raise_all()
    # duplicates fold into their first occurrence (spec order; within a store, the smallest alias)
    kept: dict[bytes, tuple[int, _Found]] = {}
    folded: list[str] = []
    for j, certs in found.items():
        for item in certs:
            if item.der in kept:
                first = kept[item.der][1]
                folded.append(f"{item.origin} = {first.origin}")
            else:
                kept[item.der] = (j, item)
    if folded:
        examples = "; ".join(folded[:5]) + (f"; and {len(folded) - 5} more" if len(folded) > 5 else "")
        warnings.append(f"keystore {ks.name!r}: folded {len(folded)} duplicate certificate(s) (the same certificate "
                        f"more than once; each is stored once): {examples}")
    # aliases: derived ones jointly over the keystore's bundles and folders, so collisions are disambiguated
    prefix = {j: _prefix(ks.entries[j]) for j in found}
    wanted = {fingerprint(der): prefix[j] + alias_base(item.cert, der)
              for der, (j, item) in kept.items() if item.alias is None}
    try:
        derived = derive_aliases(wanted)
    except ValueError as e:
        raise KstoolError(f"keystore {ks.name!r}: {e}") from None
    expanded: dict[int, list[EntrySpec]] = {j: [] for j in found}
    for der, (j, item) in kept.items():
        alias = item.alias if item.alias is not None else derived[fingerprint(der)]
        entry = ks.entries[j]
        source = TrustedExpanded(item.file, der, item.origin, timestamp_ms(item.cert))
        expanded[j].append(dataclasses.replace(entry, alias=alias, source=source))
    _check_collisions(ks, expanded)
    entries: list[EntrySpec] = []
    for j, entry in enumerate(ks.entries):
        if entry.expands:
            entries += sorted(expanded[j], key=lambda e: e.alias)
        else:
            entries.append(entry)
    return dataclasses.replace(ks, entries=tuple(entries))


def _prefix(entry: EntrySpec) -> str:
    source = entry.source
    assert isinstance(source, TrustedBundle | TrustedStore)
    return source.alias_prefix


def _what(entry: EntrySpec) -> str:
    source = entry.source
    if isinstance(source, TrustedStore):
        return f"trusted.keystore {source.shown}"
    assert isinstance(source, TrustedBundle)
    return f"trusted.{'directory' if source.directory else 'bundle'} {source.shown}"


def _check_collisions(ks: KeystoreSpec, expanded: Mapping[int, list[EntrySpec]]) -> None:
    """An alias an expanded certificate gets that another entry of the keystore has: an error naming both."""
    owners: dict[str, str] = {e.alias: f"entries[{j}] (alias {e.alias!r})" for j, e in enumerate(ks.entries)
                              if not e.expands}
    errors = Collector()
    for j, entries in expanded.items():
        for e in entries:
            assert isinstance(e.source, TrustedExpanded)
            this = f"{_what(ks.entries[j])} ({e.source.origin})"
            other = owners.get(e.alias)
            if other is not None:
                errors.errors.append(SpecError(ks.entries[j].location, f"{this} gets alias {e.alias!r}, which "
                                               f"{other} of keystore {ks.name!r} also uses; set trusted.alias_prefix "
                                               "on this entry, or rename or leave out the other"))
            else:
                owners[e.alias] = f"entries[{j}] {this}"
    errors.raise_all()


# -- reading one source ---------------------------------------------------------------------------------------

def _read_source(entry: EntrySpec, env: Mapping[str, str], clock: Clock, warnings: list[str]) -> list[_Found]:
    from kstool.crypto.certparse import serial_zero_allowed  # noqa: PLC0415

    with serial_zero_allowed():  # nine Mozilla roots have serial number 0: fine for Java and for kstool
        return _read_source_checked(entry, env, clock, warnings)


def _read_source_checked(entry: EntrySpec, env: Mapping[str, str], clock: Clock,
                         warnings: list[str]) -> list[_Found]:
    source = entry.source
    if isinstance(source, TrustedStore):
        items = _read_store(entry, source, env)
    else:
        assert isinstance(source, TrustedBundle)
        items = _read_folder(entry, source) if source.directory else _read_bundle(entry, source.path, source.shown)
    if len(items) > MAX_SOURCE_CERTIFICATES:
        raise SpecError(entry.location, f"{_what(entry)} holds {len(items)} certificates, more than kstool takes from "
                                        f"one source ({MAX_SOURCE_CERTIFICATES}); split it")
    return _policy(entry, items, clock, warnings)


def _read_bundle(entry: EntrySpec, path: Path, name: str) -> list[_Found]:
    from cryptography.hazmat.primitives.serialization import Encoding  # noqa: PLC0415

    from kstool.crypto.imports import load_certificates  # noqa: PLC0415


    where = entry.location
    data = read_input(path, where, "certificate file")
    if _PRIVATE_KEY.search(data):
        raise SpecError(where, f"{_what(entry)}: {name} holds a private key; a source of trusted certificates must "
                               "not: remove the key from the file")
    try:
        certs = load_certificates(Path(name), data)
    except KstoolError as e:
        raise SpecError(where, f"{_what(entry)}: {e}") from None
    many = len(certs) > 1
    return [_Found(c.public_bytes(Encoding.DER), c, path, f"{name}, certificate #{i}" if many else name, None)
            for i, c in enumerate(certs, 1)]


def _read_folder(entry: EntrySpec, source: TrustedBundle) -> list[_Found]:
    where = entry.location
    folder = source.path
    try:
        info = os.stat(folder)
    except FileNotFoundError:
        raise SpecError(where, f"folder {source.shown} does not exist; check the path (relative to the spec's "
                               "folder)") from None
    except OSError as e:
        raise SpecError(where, f"cannot read folder {source.shown}: {e.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise SpecError(where, f"{source.shown} is not a folder; for one file write trusted.bundle")
    names: list[str] = []
    try:
        with os.scandir(folder) as listing:
            for n, item in enumerate(listing):
                if n >= MAX_DIRECTORY_ENTRIES:
                    raise SpecError(where, f"folder {source.shown} holds more than {MAX_DIRECTORY_ENTRIES} names; "
                                           "point trusted.directory at a folder of certificates")
                if item.name.startswith(".") or not item.name.lower().endswith(CERTIFICATE_SUFFIXES):
                    continue
                if item.is_file(follow_symlinks=True):  # a link to a regular file counts; subfolders do not
                    names.append(item.name)
    except OSError as e:
        raise SpecError(where, f"cannot list folder {source.shown}: {e.strerror}") from None
    if not names:
        raise SpecError(where, f"folder {source.shown} holds no certificate file (*.pem, *.crt, *.cer, *.der)")
    errors = Collector()
    found: list[_Found] = []
    base = source.shown.rstrip("/")
    for name in sorted(names):
        items = errors.attempt(partial(_read_bundle, entry, folder / name, f"{base}/{name}"))
        found += items or []
    errors.raise_all()
    return found


def _read_store(entry: EntrySpec, source: TrustedStore, env: Mapping[str, str]) -> list[_Found]:
    from kstool.crypto.certparse import parse_der  # noqa: PLC0415
    from kstool.crypto.imports import check_java_parsable  # noqa: PLC0415
    from kstool.formats.codec import trusted_entries  # noqa: PLC0415
    from kstool.formats.entries import detect_type  # noqa: PLC0415
    from kstool.formats.pkcs12 import PasswordNeededError  # noqa: PLC0415

    where = entry.location
    what = f"source keystore {source.shown}"
    data = read_input(source.keystore, where, "source keystore")
    store_type = detect_type(data)
    if store_type is None:
        raise SpecError(where, f"{what} is not a JKS, JCEKS or PKCS12 keystore")
    password = _source_password(source.password, env, []) if source.password is not None else None
    try:
        stored = trusted_entries(data, store_type, password.secret.reveal() if password else None)
    except PasswordNeededError as e:
        raise SpecError(where, f"{what} is a PKCS12 store that cannot be read without its password: {e}; add "
                               "trusted.password") from None
    except KstoolError as e:
        if password is not None and "password" in str(e).lower():
            raise SpecError(where, f"{what}: {e} (password from {password.ref.describe()})") from None
        raise SpecError(where, f"{what} is not a valid {store_type.upper()} keystore ({e})") from None
    aliases = {e.alias.lower() for e in stored}
    missing = [p for p in source.include if not _GLOB.search(p) and p not in aliases]
    if missing:
        raise SpecError(where, f"{what} has no trusted entry {', '.join(repr(m) for m in missing)}; fix "
                               "trusted.include (aliases are compared lowercased; globs like 'digicert*' work too)")
    chosen = sorted((e for e in stored if _selected(e.alias.lower(), source)), key=lambda e: e.alias.lower())
    if not chosen:
        why = "matches trusted.include/exclude" if source.include or source.exclude else "is in it"
        raise SpecError(where, f"{what}: no trusted-certificate entry {why}")
    found: list[_Found] = []
    for item in chosen:
        name = item.alias.lower()
        origin = f"{source.shown}, alias {name!r}"
        try:
            cert = parse_der(item.cert_der)
            check_java_parsable(cert, origin)
        except KstoolError as e:
            raise SpecError(where, str(e)) from None
        except (ValueError, x509.InvalidVersion):
            raise SpecError(where, f"{origin}: the certificate cannot be parsed as X.509") from None
        alias = source.alias_prefix + name
        if any(ord(c) < 0x20 for c in alias) or alias != alias.strip():
            raise SpecError(where, f"{origin}: the alias has control characters or blanks at its ends; leave it "
                                   "out with trusted.exclude")
        found.append(_Found(item.cert_der, cert, source.keystore, origin, alias))
    return found


def _selected(alias: str, source: TrustedStore) -> bool:
    included = not source.include or any(fnmatch.fnmatchcase(alias, p) for p in source.include)
    return included and not any(fnmatch.fnmatchcase(alias, p) for p in source.exclude)


def _policy(entry: EntrySpec, items: list[_Found], clock: Clock, warnings: list[str]) -> list[_Found]:
    """The certificates the entry's allow_expired / allow_weak accept; the others are skipped with a warning."""
    from kstool.crypto.policy import weaknesses  # noqa: PLC0415

    accepted: list[_Found] = []
    skipped: list[str] = []
    flags: set[str] = set()
    for item in items:
        cert = item.cert
        why: list[str] = []
        if not entry.allow_expired:
            if clock.now > cert.not_valid_after_utc:
                why.append(f"expired {cert.not_valid_after_utc:%Y-%m-%d}")
                flags.add("allow_expired")
            elif clock.wall < cert.not_valid_before_utc:
                why.append(f"not valid before {cert.not_valid_before_utc:%Y-%m-%d}")
                flags.add("allow_expired")
        if not entry.allow_weak:
            weak = [w.removeprefix(f"the certificate {cert.subject.rfc4514_string()!r} ") for w in weaknesses(cert)]
            if weak:
                why += weak
                flags.add("allow_weak")
        if why:
            skipped.append(f"{item.alias or item.origin} ({cert.subject.rfc4514_string()}: {', '.join(why)})")
        else:
            accepted.append(item)
    if skipped:
        examples = "; ".join(skipped[:10]) + (f"; and {len(skipped) - 10} more" if len(skipped) > 10 else "")
        fix = " / ".join(f"{f}: true" for f in sorted(flags))
        warnings.append(f"{entry.location}: {_what(entry)}: skipped {len(skipped)} certificate(s) the certificate "
                        f"policy refuses: {examples}; set {fix} on the entry to include them")
    return accepted

