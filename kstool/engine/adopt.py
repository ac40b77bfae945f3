"""``kstool adopt``: existing keystores → a spec that describes them as they are, keeping every key.

Two steps, around the view that renders the YAML (``kstool.cli.views.adopt``):

1. ``survey`` opens each store with the passwords the command line names, and maps every entry to the spec form
   that keeps its key: a self-signed key entry that looks generated (keytool's or kstool's shape) becomes a
   ``generate:`` entry whose dname, key, validity and SANs are the certificate's; any other key entry (CA-signed,
   a self-signed CA, extensions a generated certificate would not carry) a ``generate:`` entry with its own
   certificate and chain as the CA's ``reply:``; a trusted certificate a ``trusted: {certificate:}`` file.
2. ``write_adoption`` writes the public certificate files, then the spec (atomically, never over an existing one
   unless ``force``), but only after kstool's own loader accepted it and its plan changes no key: the spec is
   planned before it is put in place.

The spec holds password references only (``{env:}``/``{file:}`` as given), never a password.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from kstool.errors import FormatError, KstoolError, MultiError, WrongPasswordError

if TYPE_CHECKING:
    from cryptography import x509

    from kstool.engine.plan import Plan
    from kstool.formats.codec import Profile
    from kstool.formats.entries import Entry, KeyEntry, StoreType

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GENERATE_KEYS = {"RSA": (2048, 3072, 4096), "EC": (256, 384, 521), "Ed25519": (None,)}
# extensions keytool -genkeypair (and kstool's generate) write on a plain self-signed certificate
_GENERATED_EXTENSIONS = {"2.5.29.14", "2.5.29.17"}  # SubjectKeyIdentifier, SubjectAlternativeName
MAX_VALIDITY_DAYS = 36500


@dataclass(frozen=True, slots=True)
class PasswordGiven:
    """A password as the command line names it: an environment variable, or a file (``value`` as the spec will
    write it: relative to the spec's folder when it lies below it)."""

    kind: Literal["env", "file"]
    value: str
    path: Path | None = None  # the file, for reading (as given on the command line)

    def describe(self) -> str:
        return f"environment variable {self.value}" if self.kind == "env" else f"password file {self.value}"


@dataclass(frozen=True, slots=True)
class CertFile:
    """A public certificate file the spec names (PEM)."""

    shown: str  # as the spec writes it: relative to the spec's folder, '/'-separated
    path: Path  # where it is written
    pem: bytes


@dataclass(frozen=True, slots=True)
class AdoptedEntry:
    alias: str
    form: Literal["generate", "reply", "trusted", "import"]  # import: from the adopted store itself
    notes: tuple[str, ...]  # what was adopted and how, for the spec's comments
    dname: str = ""
    algorithm: str = ""
    size: int | None = None
    validity_days: int = 0
    san: tuple[str, ...] = ()
    certificate: CertFile | None = None  # the reply's or the trusted certificate
    chain: tuple[CertFile, ...] = ()  # the reply's chain, leaf's issuer first
    allow_expired: bool = False
    allow_weak: bool = False
    ca: bool = False  # a generated CA (ca:)
    path_length: int | None = None


@dataclass(frozen=True, slots=True)
class AdoptedStore:
    name: str
    file: Path  # as given
    path: str  # relative to the spec's folder
    type: StoreType
    password: PasswordGiven
    key_password: PasswordGiven | None
    profile: Profile | None  # PKCS12 only
    iterations: int | None  # only when it differs from kstool's default
    entries: tuple[AdoptedEntry, ...]
    notes: tuple[str, ...]
    mode: int | None = None  # the file's mode as found, when it is not kstool's default 0600 (and a spec may say it)


@dataclass(frozen=True, slots=True)
class Adoption:
    spec_path: Path
    stores: tuple[AdoptedStore, ...]

    @property
    def files(self) -> tuple[CertFile, ...]:
        out: dict[Path, CertFile] = {}
        for store in self.stores:
            for entry in store.entries:
                for cert in (entry.certificate, *entry.chain):
                    if cert is not None:
                        out.setdefault(cert.path, cert)
        return tuple(out.values())


@dataclass(frozen=True, slots=True)
class Written:
    spec_path: Path
    certificates: tuple[str, ...]  # certificate files written (as the spec names them)
    unchanged: tuple[str, ...]  # certificate files that already held these bytes
    plan: Plan
    warnings: tuple[str, ...] = field(default=())


# -- the command line's password options ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PasswordOptions:
    """``--password-env [STORE=]VAR``, ``--password-file [STORE=]FILE`` and the ``--key-password-*`` pair, as
    given: a value without ``STORE=`` applies to every store that has no value of its own."""

    env: tuple[str, ...] = ()
    file: tuple[str, ...] = ()
    key_env: tuple[str, ...] = ()
    key_file: tuple[str, ...] = ()


def _store_keys(file: Path, name: str) -> set[str]:
    return {str(file), file.name, name}


def _pick(option: str, values: Sequence[str], kind: Literal["env", "file"], *, file: Path, name: str,
          all_keys: set[str], spec_dir: Path) -> tuple[PasswordGiven | None, PasswordGiven | None]:
    """(this store's own value, the value for every store) among one option's values."""
    mine: PasswordGiven | None = None
    common: PasswordGiven | None = None
    for value in values:
        key, sep, rest = value.partition("=")
        targeted = bool(sep) and key in all_keys
        if targeted and key not in _store_keys(file, name):
            continue
        text = rest if targeted else value
        given = _given(option, kind, text, spec_dir)
        if targeted:
            if mine is not None:
                raise KstoolError(f"{option} names {file} twice; give one value per store")
            mine = given
        else:
            if common is not None:
                raise KstoolError(f"{option} is given twice without STORE=: give one value for every store, "
                                  f"or one per store as {option} STORE=VALUE")
            common = given
    return mine, common


def _given(option: str, kind: Literal["env", "file"], text: str, spec_dir: Path) -> PasswordGiven:
    if kind == "env":
        if not _ENV_NAME.fullmatch(text):
            raise KstoolError(f"{option} {text!r}: not an environment variable name (letters, digits and '_'; "
                              "give the variable's name, never the password)")
        return PasswordGiven("env", text)
    if not text or "\0" in text:
        raise KstoolError(f"{option}: give a file's path")
    return PasswordGiven("file", _spec_relative(Path(text), spec_dir), Path(text))


def _spec_relative(path: Path, spec_dir: Path) -> str:
    """How the spec names ``path`` (given relative to the current folder): relative to the spec's folder when it
    lies below it, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path(os.path.abspath(spec_dir))).as_posix()
    except ValueError:
        return absolute.as_posix()


def _choose(file: Path, name: str, all_keys: set[str], options: PasswordOptions, spec_dir: Path,
            *, key: bool) -> PasswordGiven | None:
    env_option, file_option = ("--key-password-env", "--key-password-file") if key else \
        ("--password-env", "--password-file")
    pick = partial(_pick, file=file, name=name, all_keys=all_keys, spec_dir=spec_dir)
    env_mine, env_all = pick(env_option, options.key_env if key else options.env, "env")
    file_mine, file_all = pick(file_option, options.key_file if key else options.file, "file")
    if env_mine and file_mine:
        raise KstoolError(f"{file}: both {env_option} and {file_option} name it; give one")
    if env_mine or file_mine:
        return env_mine or file_mine
    if env_all and file_all:
        raise KstoolError(f"both {env_option} and {file_option} are given for every store; give one, or name "
                          f"the store: {env_option} STORE=VAR")
    found = env_all or file_all
    if found is None and not key:
        raise KstoolError(f"{file}: no store password given: add --password-env VAR or --password-file FILE "
                          f"(or {env_option} {file.name}=VAR for this store alone)")
    return found


def _read(given: PasswordGiven, file: Path) -> str:
    """The password a reference names, by the rules of the spec's references (``kstool.engine.passwords``)."""
    from kstool.engine.passwords import check_env_text, read_password_file  # noqa: PLC0415

    if given.kind == "env":
        value = os.environ.get(given.value)
        if value is None:
            raise KstoolError(f"{file}: environment variable {given.value} is not set; export it with the password")
        if value == "":
            raise KstoolError(f"{file}: environment variable {given.value} is set but empty; give it the password")
        check_env_text(given.value, value)
        return value
    assert given.path is not None
    found = read_password_file(given.path, str(given.path))
    if found is None:
        raise KstoolError(f"{file}: password file {given.path} does not exist")
    return found[0]


# -- survey: the stores as they are ---------------------------------------------------------------------------

def keystore_names(files: Sequence[Path]) -> list[str]:
    """One unique keystore name per file, from its name: ``a.jks`` → ``a``; ``a.p12`` beside it → ``a-2``."""
    names: list[str] = []
    for file in files:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", file.stem).strip("-.") or "keystore"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names.append(name)
    return names


def _recorded_names(files: Sequence[Path], spec_dir: Path, names: list[str]) -> list[str]:
    """The names kstool.lock (in the spec's folder) knows stores by, for the files it records: a store kstool made
    keeps its name, so its plan is empty. The others keep the names from their file names, made unique and
    different from every name the lock records (which belong to other files)."""
    from kstool.engine.lockfile import read_lock  # noqa: PLC0415

    lock = read_lock(spec_dir) if spec_dir.is_dir() else None
    if lock is None:
        return names
    by_path = {record.path: name for name, record in lock.keystores.items()}
    recorded: list[str | None] = []
    for file in files:
        try:
            rel = Path(os.path.abspath(file)).relative_to(Path(os.path.abspath(spec_dir))).as_posix()
        except ValueError:
            rel = ""
        recorded.append(by_path.get(rel))
    taken = set(lock.keystores)
    out: list[str] = []
    for name, known in zip(names, recorded, strict=True):
        if known is not None:
            out.append(known)
            continue
        candidate, n = name, 1
        while candidate in taken or candidate in out:
            n += 1
            candidate = f"{name}-{n}"
        out.append(candidate)
    return out


def survey(files: Sequence[Path], *, out: Path, certs_dir: Path | None, options: PasswordOptions,
           now: datetime | None = None) -> Adoption:
    """Open every store and map its entries; every problem of every store is reported at once."""
    from kstool.errors import Collector  # noqa: PLC0415

    if not files:
        raise KstoolError("adopt needs at least one keystore file")
    spec_dir = out.parent
    certs = certs_dir if certs_dir is not None else spec_dir / "certs"
    names = _recorded_names(files, spec_dir, keystore_names(files))
    all_keys = {k for file, name in zip(files, names, strict=True) for k in _store_keys(file, name)}
    moment = now or datetime.now(UTC)
    errors = Collector()
    seen: dict[str, Path] = {}
    stores: list[AdoptedStore] = []
    for file, name in zip(files, names, strict=True):
        real = os.path.realpath(file)
        if real in seen:
            errors.errors.append(KstoolError(f"{file}: given twice (as {seen[real]}); adopt each store once"))
            continue
        seen[real] = file
        store = errors.attempt(partial(_survey_store, file, name, spec_dir=spec_dir, certs=certs,
                                       all_keys=all_keys, options=options, now=moment))
        if store is not None:
            stores.append(store)
    errors.raise_all()
    return Adoption(out, _unique_files(stores))


def _unique_files(stores: list[AdoptedStore]) -> tuple[AdoptedStore, ...]:
    """Certificate files under distinct names: two certificates whose names collide (aliases that differ only in
    characters a file name cannot hold, an alias that looks like a chain file's name) get ``-2``, ``-3``..."""
    taken: dict[Path, bytes] = {}

    def unique(cert: CertFile | None) -> CertFile | None:
        if cert is None:
            return None
        path, n = cert.path, 1
        while taken.get(path, cert.pem) != cert.pem:
            n += 1
            path = cert.path.with_name(f"{cert.path.stem}-{n}{cert.path.suffix}")
        taken[path] = cert.pem
        if path == cert.path:
            return cert
        shown = cert.shown.rsplit("/", 1)
        return dataclasses.replace(cert, path=path, shown="/".join([*shown[:-1], path.name]))

    out: list[AdoptedStore] = []
    for store in stores:
        entries = []
        for entry in store.entries:
            chain = tuple(c for c in (unique(c) for c in entry.chain) if c is not None)
            entries.append(dataclasses.replace(entry, certificate=unique(entry.certificate), chain=chain))
        out.append(dataclasses.replace(store, entries=tuple(entries)))
    return tuple(out)


def _survey_store(file: Path, name: str, *, spec_dir: Path, certs: Path, all_keys: set[str],
                  options: PasswordOptions, now: datetime) -> AdoptedStore:
    from kstool.engine.observe import read_artifact  # noqa: PLC0415
    from kstool.formats.entries import KeyEntry, detect_type  # noqa: PLC0415

    path = _store_path(file, spec_dir)
    password_ref = _choose(file, name, all_keys, options, spec_dir, key=False)
    key_ref = _choose(file, name, all_keys, options, spec_dir, key=True)
    assert password_ref is not None
    found = read_artifact(file, str(file))
    if found is None:
        raise KstoolError(f"{file}: no such file")
    data, mode = found
    store_type = detect_type(data)
    if store_type is None:
        raise KstoolError(f"{file} is not a JKS, JCEKS or PKCS12 keystore (its first bytes are none of theirs)")
    password = _read(password_ref, file)
    if store_type == "pkcs12" and key_ref is not None:
        raise KstoolError(f"{file}: a PKCS12 keystore has one password (keytool ignores a separate key password); "
                          "drop the key password option for it")
    entries, key_ref = _open(file, data, store_type, password=password, password_ref=password_ref, key_ref=key_ref)
    chain_only = _chain_only(data, store_type, password)
    entries = tuple(e for e in entries if e.alias not in chain_only)
    notes = [f"{file.name}: {store_type.upper()}, {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, "
             f"opened with the store password from {password_ref.describe()}"]
    if key_ref is not None:
        notes.append(f"its private keys are protected by a separate key password: {key_ref.describe()}")
    if chain_only:
        notes.append(f"certificate(s) named {', '.join(sorted(chain_only))} are in a key's chain without Java's "
                     "trusted attribute (keytool names a reply's chain so; Java lists no such entry): kept in the "
                     "chain only; the plan drops the name")
    profile, iterations = _settings(data, store_type)
    if store_type == "pkcs12":
        notes.append(f"PKCS12 protection as found: {profile} profile"
                     + (f", {iterations} iterations" if iterations else ""))
    elif iterations:
        notes.append(f"JCEKS key protection as found: {iterations} iterations")
    kept_mode: int | None = None
    if mode != 0o600 and mode & 0o600 == 0o600:
        kept_mode = mode
        notes.append(f"file mode {mode:04o} as found (kstool's default is 0600; remove mode: to make it private)")
    elif mode != 0o600:
        notes.append(f"file mode {mode:04o} found; a spec's mode lets the owner read and write: apply sets 0600")
    mapped: list[AdoptedEntry] = []
    errors: list[KstoolError] = []
    folded: dict[str, str] = {}
    for entry in entries:  # Java folds aliases, and so does the spec: two that differ by case cannot both be kept
        other = folded.setdefault(entry.alias.lower(), entry.alias)
        if other != entry.alias:
            errors.append(KstoolError(f"{file}: entries {other!r} and {entry.alias!r} differ only by case; Java "
                                      "folds aliases, so a store can keep one of them: rename one (keytool "
                                      "-changealias) first"))
    for entry in (dataclasses.replace(e, alias=e.alias.lower()) for e in entries if not errors):
        try:
            if isinstance(entry, KeyEntry):
                mapped.append(_key_entry(entry, name, certs, spec_dir, now))
            else:
                mapped.append(_trusted_entry(entry.alias, entry.cert_der, name, certs=certs, spec_dir=spec_dir,
                                             now=now))
        except KstoolError as e:
            errors.append(KstoolError(f"{file}: entry {entry.alias!r}: {e}"))
    if errors:
        raise MultiError(errors) if len(errors) > 1 else errors[0]
    return AdoptedStore(name, file, path, store_type, password_ref, key_ref, profile if store_type == "pkcs12"
                        else None, iterations, tuple(mapped), tuple(notes), kept_mode)


def _chain_only(data: bytes, store_type: StoreType, password: str) -> set[str]:
    """PKCS12 chain certificates that kstool's decoder lists as trusted entries and Java does not."""
    if store_type != "pkcs12":
        return set()
    from kstool.formats.pkcs12 import chain_only_aliases_pkcs12  # noqa: PLC0415

    return set(chain_only_aliases_pkcs12(data, password))


def _store_path(file: Path, spec_dir: Path) -> str:
    """The store's path as the spec writes it: apply re-encodes it in place, so it must lie below the spec."""
    try:
        return Path(os.path.abspath(file)).relative_to(Path(os.path.abspath(spec_dir))).as_posix()
    except ValueError:
        raise KstoolError(f"{file} is outside the spec's folder {spec_dir}: a spec manages keystores below its "
                          "own folder; write the spec next to the stores (--out DIR/kstool.yaml)") from None


def _settings(data: bytes, store_type: StoreType) -> tuple[Profile, int | None]:
    """The protection settings as found, and the iteration count when it is not kstool's default."""
    from kstool.formats import codec  # noqa: PLC0415

    if store_type == "pkcs12":
        from kstool.formats.pkcs12 import protection_settings_pkcs12  # noqa: PLC0415

        profile, iterations = protection_settings_pkcs12(data)
        default = codec.DEFAULT_PKCS12_ITERATIONS
    elif store_type == "jceks":
        from kstool.formats.jks import protected_keys  # noqa: PLC0415

        profile, keys = "modern", protected_keys(data, jceks=True)
        default = codec.DEFAULT_JCEKS_ITERATIONS
        iterations = keys[0].iterations if keys else default
    else:
        return "modern", None
    if iterations == default or not codec.MIN_ITERATIONS <= iterations <= codec.MAX_ITERATIONS:
        return profile, None  # kstool's default, or a count a spec may not ask for (the default is then used)
    return profile, iterations


def _open(file: Path, data: bytes, store_type: StoreType, *, password: str, password_ref: PasswordGiven,
          key_ref: PasswordGiven | None) -> tuple[tuple[Entry, ...], PasswordGiven | None]:
    """The store's entries, its keys decrypted; the key password reference the spec needs (None: the store's)."""
    from kstool.formats.codec import decode  # noqa: PLC0415
    from kstool.formats.entries import KeyEntry  # noqa: PLC0415

    try:
        entries = decode(data, store_type, password, keys=False, known_intact=True) if store_type != "pkcs12" \
            else decode(data, store_type, password)
    except WrongPasswordError:
        raise KstoolError(f"{file}: the store password from {password_ref.describe()} does not open this keystore, "
                          "or the file is corrupted (its integrity check fails); give the store's password") from None
    except FormatError as e:
        raise KstoolError(f"{file} is not a valid {store_type.upper()} keystore ({e})") from None
    if store_type == "pkcs12":
        return entries, None
    key_password = _read(key_ref, file) if key_ref is not None else None
    candidates = [(key_password, key_ref)] if key_password is not None else []
    if key_password != password:
        candidates.append((password, None))
    opened: list[Entry] = []
    used: dict[str, PasswordGiven | None] = {}
    for entry in entries:
        if not isinstance(entry, KeyEntry):
            opened.append(entry)
            continue
        for secret, ref in candidates:
            try:
                opened.append(decode(data, store_type, password, key_password=secret, alias=entry.alias)[0])
            except WrongPasswordError:
                continue
            except FormatError as e:
                raise KstoolError(f"{file} is not a valid {store_type.upper()} keystore ({e})") from None
            used[entry.alias] = ref
            break
        else:
            hint = (f"neither the key password from {key_ref.describe()} nor the store password opens it"
                    if key_ref is not None else "the store password does not open it")
            raise KstoolError(f"{file}: the private key of entry {entry.alias!r} cannot be decrypted: {hint}; give "
                              f"its key password with --key-password-env {file.name}=VAR (or --key-password-file)")
    refs = set(used.values())
    if len(refs) > 1:
        own = sorted(a for a, r in used.items() if r is not None)
        store = sorted(a for a, r in used.items() if r is None)
        raise KstoolError(f"{file}: the keys of {', '.join(own)} are protected by the key password, those of "
                          f"{', '.join(store)} by the store password; kstool keeps one key password per keystore: "
                          "change one of them with keytool -keypasswd first")
    return tuple(opened), (next(iter(refs)) if refs else None)


# -- one entry ------------------------------------------------------------------------------------------------

def _cert_name(keystore: str, alias: str, suffix: str = "") -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", alias).strip(".") or "entry"
    return f"{keystore}-{safe}{suffix}.pem"


def _cert_file(der: bytes, certs: Path, spec_dir: Path, name: str) -> CertFile:
    import base64  # noqa: PLC0415
    import textwrap  # noqa: PLC0415

    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    pem = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n".encode("ascii")
    path = certs / name
    return CertFile(_spec_relative(path, spec_dir), path, pem)


def _policy_flags(chain: Sequence[x509.Certificate], now: datetime) -> tuple[bool, bool, list[str]]:
    """(allow_expired, allow_weak, notes): what the spec must allow for kstool's certificate policy to accept
    these certificates as they are."""
    from kstool.crypto.policy import check_certificates, weaknesses  # noqa: PLC0415

    notes: list[str] = []
    expired = False
    try:
        check_certificates(chain[:1], now=now, allow_expired=False, allow_weak=True, what="it")
    except KstoolError:
        expired = True
        notes.append(f"its certificate is outside its validity period (until "
                     f"{chain[0].not_valid_after_utc:%Y-%m-%d}): allow_expired keeps it as it is")
    weak = [w for cert in chain for w in weaknesses(cert)]
    if weak:
        notes.append(f"weak: {'; '.join(dict.fromkeys(weak))}: allow_weak keeps it as it is")
    return expired, bool(weak), notes


def _trusted_entry(alias: str, der: bytes, keystore: str, *, certs: Path, spec_dir: Path,
                   now: datetime) -> AdoptedEntry:
    from kstool.crypto.dn import format_dname  # noqa: PLC0415
    from kstool.engine.facts import load_cert  # noqa: PLC0415

    cert = load_cert(der)
    expired, weak, notes = _policy_flags([cert], now)
    file = _cert_file(der, certs, spec_dir, _cert_name(keystore, alias))
    return AdoptedEntry(alias, "trusted", (f"trusted certificate {format_dname(cert.subject)}, written to "
                                           f"{file.shown}", *notes),
                        certificate=file, allow_expired=expired, allow_weak=weak)


def _key_entry(entry: KeyEntry, keystore: str, certs: Path, spec_dir: Path, now: datetime) -> AdoptedEntry:
    from kstool.crypto.certs import display_key_params  # noqa: PLC0415
    from kstool.crypto.dn import DNError, format_dname, parse_rdns, to_name  # noqa: PLC0415
    from kstool.engine.facts import key_text, load_cert  # noqa: PLC0415

    leaf = load_cert(entry.chain_der[0])
    algorithm, size = display_key_params(leaf.public_key())
    kind = key_text(algorithm, size)
    if algorithm not in ("RSA", "EC", "Ed25519"):
        raise KstoolError(f"its {kind} key is not one kstool manages (RSA; EC P-256, P-384 or P-521; Ed25519): "
                          "leave this store out, or move the entry to a store of its own")
    dname = format_dname(leaf.subject)
    try:
        same_name = to_name(parse_rdns(dname)) == leaf.subject
    except (DNError, KstoolError, ValueError):
        same_name = False
    if size not in _GENERATE_KEYS[algorithm] or not same_name:
        why = (f"kstool generates no {kind} key" if size not in _GENERATE_KEYS[algorithm]
               else f"its subject {dname} has no keytool dname that gives the same name back")
        chain = [load_cert(c) for c in entry.chain_der]
        expired, weak, policy_notes = _policy_flags(chain, now)
        kept = (f"{kind} key, kept as an import from this same store ({why}): apply reads the entry before it "
                "rewrites the file; kstool cannot renew its certificate", *policy_notes)
        return AdoptedEntry(entry.alias, "import", kept, algorithm=algorithm, size=size, allow_expired=expired,
                            allow_weak=weak)
    days = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days
    validity = min(max(days, 1), MAX_VALIDITY_DAYS)
    san = _generated_san(leaf)
    ca = _self_signed_ca(leaf) if len(entry.chain_der) == 1 else None
    if ca is not None and san is not None and days == validity:
        notes = [f"self-signed {kind} CA key, adopted as a generated CA (ca:): the key is kept; kstool reissues "
                 "its certificate for this same key when it is due for renewal, and can sign with it (issuer:)"]
        return AdoptedEntry(entry.alias, "generate", tuple(notes), dname=dname, algorithm=algorithm, size=size,
                            validity_days=validity, san=san, ca=True, path_length=ca[1])
    if len(entry.chain_der) == 1 and _looks_generated(leaf) and san is not None and days == validity:
        expired, _, policy_notes = _policy_flags([leaf], now)
        notes = [f"self-signed {kind} key (the shape keytool -genkeypair and kstool write), adopted as a generated "
                 "entry: the key is kept; kstool reissues the certificate for this same key when it is due for "
                 "renewal"]
        if expired:
            notes.append(f"its certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}: the next plan renews "
                         "it for the same key")
        del policy_notes  # a generated entry is never refused for its certificate: kstool renews it
        return AdoptedEntry(entry.alias, "generate", tuple(notes), dname=dname, algorithm=algorithm, size=size,
                            validity_days=validity, san=san)
    chain = [load_cert(c) for c in entry.chain_der]
    expired, weak, policy_notes = _policy_flags(chain, now)
    if expired or weak:  # a reply takes no allow_ flags: the certificate policy would refuse it as it is
        kept = (f"{kind} key whose certificate kstool's policy would refuse as a reply:, kept as an import from "
                "this same store: apply reads the entry before it rewrites the file; kstool cannot renew its "
                "certificate", *policy_notes)
        return AdoptedEntry(entry.alias, "import", kept, algorithm=algorithm, size=size, allow_expired=expired,
                            allow_weak=weak)
    leaf_file = _cert_file(entry.chain_der[0], certs, spec_dir, _cert_name(keystore, entry.alias))
    chain_files = tuple(_cert_file(c, certs, spec_dir, _cert_name(keystore, entry.alias, f"-chain{i}"))
                        for i, c in enumerate(entry.chain_der[1:], start=1))
    files = f"{leaf_file.shown}{' and ' + ', '.join(f.shown for f in chain_files) if chain_files else ''}"
    if len(entry.chain_der) == 1 and leaf.issuer == leaf.subject:
        notes = [f"self-signed {kind} key whose certificate kstool would not generate as it is (its extensions): "
                 f"the key is kept, and its certificate as it is, as a reply: ({files}); kstool does not reissue "
                 "it: to have kstool renew it in its own shape, remove reply: (the key is still kept)", *policy_notes]
    else:
        notes = [f"{kind} key with a CA-signed certificate ({len(entry.chain_der)} in its chain): the key is kept, "
                 f"its certificate and chain as the CA's reply: ({files}); when the CA renews it: kstool csr, "
                 "then point reply: at the new certificate", *policy_notes]
    return AdoptedEntry(entry.alias, "reply", tuple(notes), dname=dname, algorithm=algorithm, size=size,
                        validity_days=validity, certificate=leaf_file, chain=chain_files)


def _self_signed_ca(cert: x509.Certificate) -> tuple[bool, int | None] | None:
    """(True, path length) for a self-signed CA certificate a generated ``ca:`` entry describes: basicConstraints
    CA:true, no extended key usage, no extension but key identifiers, key usage and SANs; else None."""
    from cryptography import x509  # noqa: PLC0415

    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None
    allowed = {*_GENERATED_EXTENSIONS, "2.5.29.19", "2.5.29.15", "2.5.29.35"}  # + basicConstraints, keyUsage, AKI
    if not bc.ca or not _verifies_itself(cert) or any(e.oid.dotted_string not in allowed for e in cert.extensions):
        return None
    return True, bc.path_length


def _verifies_itself(cert: x509.Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415

    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _looks_generated(cert: x509.Certificate) -> bool:
    """Self-signed (subject is issuer, and the signature verifies with its own key), not a CA, and no extension
    but those a generated certificate carries (a subject key identifier, SANs)."""
    from cryptography import x509  # noqa: PLC0415

    if not _verifies_itself(cert):
        return False
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is not None and bc.ca:
        return False
    return all(ext.oid.dotted_string in _GENERATED_EXTENSIONS for ext in cert.extensions)


def _generated_san(cert: x509.Certificate) -> tuple[str, ...] | None:
    """The certificate's SANs in the spec's ``kind:value`` form, or None when the spec cannot say them exactly."""
    from cryptography import x509  # noqa: PLC0415

    from kstool.crypto.san import check_san, from_general_names, same_san  # noqa: PLC0415

    try:
        names = list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return ()
    items = from_general_names(names)
    texts = tuple(f"{kind}:{value}" for kind, value in items)
    try:
        return texts if same_san(check_san(texts), items) else None
    except KstoolError:
        return None


# -- writing --------------------------------------------------------------------------------------------------

def write_adoption(adoption: Adoption, text: str, *, force: bool,
                   plan_spec: Callable[[Path], Plan]) -> Written:
    """Write the certificate files, then the spec: it is loaded and planned (``plan_spec``) under a temporary
    name first, and put in place only when the plan changes no key. An existing spec is replaced only with
    ``force``; certificate files that hold other bytes too."""
    from kstool.engine.fsutil import atomic_write  # noqa: PLC0415
    from kstool.spec.model import load_spec  # noqa: PLC0415

    spec = adoption.spec_path
    stores = {os.path.realpath(s.file) for s in adoption.stores}
    for target in (spec, *(f.path for f in adoption.files)):
        if os.path.realpath(target) in stores:
            raise KstoolError(f"{target} is one of the keystores being adopted; choose another --out or --certs-dir")
    if spec.exists() and not force:
        raise KstoolError(f"{spec} exists; adopt never overwrites a spec: choose another --out, or give --force")
    if spec.is_symlink() or spec.is_dir():
        raise KstoolError(f"{spec} is a link or a folder; choose another --out")
    clashes = [f.shown for f in adoption.files if f.path.exists() and f.path.read_bytes() != f.pem]
    if clashes and not force:
        raise KstoolError(f"certificate file(s) {', '.join(clashes)} exist with other content; adopt never "
                          "overwrites them: choose another --certs-dir, or give --force")
    written: list[tuple[CertFile, bytes | None]] = []  # with the bytes it replaced (--force), to restore
    unchanged: list[str] = []
    temp = spec.with_name(f".{spec.name}.adopt-{os.getpid()}.yaml")
    try:
        for cert in adoption.files:
            old_cert = cert.path.read_bytes() if cert.path.exists() else None
            if old_cert == cert.pem:
                unchanged.append(cert.shown)
                continue
            cert.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(cert.path, cert.pem, mode=0o644)  # public certificates
            written.append((cert, old_cert))
        atomic_write(temp, text.encode("utf-8"), mode=0o644, exclusive=True)
        load_spec(temp)  # kstool's own loader accepts it before it takes the spec's name
        old = spec.read_bytes() if spec.exists() else None
        os.replace(temp, spec)
        try:
            plan = plan_spec(spec)  # under its own name: kstool.lock knows specs by their names
            _check_no_key_change(plan)
        except BaseException:
            if old is None:
                spec.unlink(missing_ok=True)
            else:
                atomic_write(spec, old, mode=0o644)
            raise
    except BaseException as e:
        with contextlib.suppress(OSError):
            temp.unlink()
        for cert, old_cert in written:
            if old_cert is None:
                cert.path.unlink(missing_ok=True)
            else:
                atomic_write(cert.path, old_cert, mode=0o644)
        if isinstance(e, OSError):
            raise KstoolError(f"{e.filename or spec}: cannot write: {e.strerror}; nothing was left written") from None
        raise
    return Written(spec, tuple(c.shown for c, _ in written), tuple(unchanged), plan)


def _check_no_key_change(plan: Plan) -> None:
    from kstool.engine.plan import Action  # noqa: PLC0415

    changed = [f"{ks.name}/{e.alias} ({e.action.value}: {'; '.join(e.reasons)})" for ks in plan.keystores
               for e in ks.entries if e.kind == "key" and e.action in (Action.CREATE, Action.REPLACE, Action.DELETE)]
    changed += [f"{k.keystore}/{k.alias} ({k.action})" for k in plan.destroyed_keys()
                if f"{k.keystore}/{k.alias}" not in " ".join(changed)]
    changed += [f"keystore {ks.name} ({ks.action.value})" for ks in plan.keystores
                if ks.action in (Action.CREATE, Action.DELETE, Action.REPLACE)]
    if changed:
        raise KstoolError(f"the adopted spec would change keys: {', '.join(changed)}; nothing was written (this "
                          "is a bug in kstool adopt: please report it with the plan)")
