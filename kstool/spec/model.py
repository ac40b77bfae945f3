"""The spec as frozen, typed data: after this module nothing sees a dict.

``load_spec`` = read → YAML with locations → JSON Schema → model + cross-checks (unique names and paths,
aliases as Java sees them, confined paths, parsed DNs and SANs, trusted-entry references without cycles).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from kstool.crypto import KeyAlgorithm
from kstool.crypto.dn import Rdns, parse_rdns
from kstool.crypto.san import SanItem, check_san
from kstool.engine.outpaths import reserved_problem, suffix_problem
from kstool.errors import Collector, KstoolError
from kstool.formats.codec import Profile
from kstool.formats.entries import StoreType
from kstool.spec.validate import validate
from kstool.spec.yamlload import Document, JsonPath, Location, SpecError, load_yaml, paused_gc, read_spec_text

if TYPE_CHECKING:
    from cryptography import x509

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_MODE = 0o600  # keystores and generated password files, unless the spec says otherwise
DEFAULT_BACKUPS_KEEP = 3
DEFAULT_KEY: dict[KeyAlgorithm, int | None] = {"RSA": 2048, "EC": 256, "Ed25519": None}
EXTENSION_TYPES: dict[str, StoreType] = {".jks": "jks", ".jceks": "jceks", ".p12": "pkcs12", ".pfx": "pkcs12"}


@dataclass(frozen=True, slots=True)
class EnvRef:
    name: str
    location: Location

    def describe(self) -> str:
        return f"environment variable {self.name}"


@dataclass(frozen=True, slots=True)
class FileAttrs:
    """Mode and ownership of a file kstool writes; ``owner``/``group`` are names or numeric ids as written (resolved
    on the machine that applies the spec), None to leave them to the user running kstool."""

    mode: int = DEFAULT_MODE
    owner: str | int | None = None
    group: str | int | None = None


@dataclass(frozen=True, slots=True)
class FileRef:
    path: Path  # resolved against the spec's folder
    shown: str  # as written in the spec
    generate: bool
    location: Location
    attrs: FileAttrs = FileAttrs()  # for a generated file: how apply creates it

    def describe(self) -> str:
        return f"password file {self.shown}"


PasswordRef = EnvRef | FileRef


@dataclass(frozen=True, slots=True)
class EmptyRef:
    """``{empty: true}``: a source keystore whose password is the empty string (an explicit reference)."""

    location: Location

    def describe(self) -> str:
        return "the empty password ({empty: true})"


SourcePasswordRef = PasswordRef | EmptyRef  # the password of a source keystore (import.keystore)


@dataclass(frozen=True, slots=True)
class Reply:
    """A CA's answer to ``kstool csr``: its certificate for the entry's existing key, and the CA's chain."""

    certificate: Path
    chain: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class Generate:
    dname: str
    rdns: Rdns  # the parsed dname (DER order), checked at load time
    algorithm: KeyAlgorithm
    size: int | None
    validity_days: int
    san: tuple[str, ...]
    san_items: tuple[SanItem, ...]
    ca: bool = False  # ca: a CA certificate (basicConstraints CA:true, keyCertSign + cRLSign)
    path_length: int | None = None  # ca.path_length; None: no limit
    issuer: tuple[str, str] | None = None  # (keystore, alias) of the CA key entry that signs; None: self-signed
    usage: tuple[str, ...] = ()  # extended key usages: "server", "client"
    reply: Reply | None = None  # a CA-signed certificate for the key apply generated (after kstool csr)

    # cryptography objects are built on first use: `kstool validate` never needs them (nor their import time)
    @property
    def subject(self) -> x509.Name:
        from kstool.crypto.dn import to_name  # noqa: PLC0415

        return to_name(self.rdns)

    @property
    def san_names(self) -> list[x509.GeneralName]:
        from kstool.crypto.san import to_general_names  # noqa: PLC0415

        return to_general_names(self.san_items)


@dataclass(frozen=True, slots=True)
class ImportFiles:
    certificate: Path
    private_key: Path
    private_key_password: PasswordRef | None
    chain: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class ImportKeystore:
    keystore: Path
    password: SourcePasswordRef
    alias: str | None
    key_password: SourcePasswordRef | None


@dataclass(frozen=True, slots=True)
class TrustedCertificate:
    certificate: Path


@dataclass(frozen=True, slots=True)
class TrustedReference:
    keystore: str
    alias: str  # lowercased, as Java stores it


@dataclass(frozen=True, slots=True)
class TrustedBundle:
    """``trusted: {bundle: F}`` or ``{directory: D}``: one trusted entry per certificate, aliases derived from the
    subjects (``kstool.crypto.aliases``); expanded when the inputs are read (``kstool.engine.expand``)."""

    path: Path
    shown: str  # as the spec spells it
    directory: bool
    alias_prefix: str = ""


@dataclass(frozen=True, slots=True)
class TrustedStore:
    """``trusted: {keystore: F, password: ..., include: [...], exclude: [...]}``: the trusted-certificate entries
    of an existing JKS/JCEKS/PKCS12 (the JDK's cacerts) under their own aliases; expanded like a bundle."""

    keystore: Path
    shown: str
    password: SourcePasswordRef | None  # None: read without one (JKS/JCEKS; a PKCS12 without MAC or encryption)
    include: tuple[str, ...] = ()  # glob patterns over the source's lowercased aliases; empty: all
    exclude: tuple[str, ...] = ()
    alias_prefix: str = ""


@dataclass(frozen=True, slots=True)
class TrustedExpanded:
    """One certificate of a bundle, a folder or a source store: an ordinary trusted entry whose content was read
    when the spec was expanded (``certificate``: the file it came from; ``origin``: where in it, in words)."""

    certificate: Path
    cert_der: bytes = field(repr=False)
    origin: str
    timestamp_ms: int  # the entry's creation date (kstool.engine.inputs.timestamp_ms), read with the certificate


Expanding = TrustedBundle | TrustedStore  # sources that become several trusted entries
Source = (Generate | ImportFiles | ImportKeystore | TrustedCertificate | TrustedReference | TrustedBundle
          | TrustedStore | TrustedExpanded)


@dataclass(frozen=True, slots=True)
class RenewBefore:
    """``renew_before``: renew when less than ``days`` remain, or less than ``percent`` of the lifetime; neither
    set: a third of the lifetime (cert-manager's default)."""

    days: int | None = None
    percent: int | None = None

    @property
    def is_default(self) -> bool:
        return self.days is None and self.percent is None

    def window(self, lifetime: timedelta) -> timedelta:
        if self.days is not None:
            return timedelta(days=self.days)
        if self.percent is not None:
            return lifetime * self.percent / 100
        return lifetime / 3

    @property
    def shown(self) -> str:
        if self.days is not None:
            return f"renew {self.days} days before"
        return f"renew when {self.percent}% of the lifetime remains" if self.percent is not None else \
            "renew when a third of the lifetime remains"


@dataclass(frozen=True, slots=True)
class EntrySpec:
    alias: str  # lowercased: Java treats JKS/PKCS12 aliases case-insensitively
    source: Source
    location: Location
    allow_expired: bool = False
    allow_weak: bool = False
    renew_before: RenewBefore = RenewBefore()  # entry <- keystore <- spec <- a third of the lifetime
    renew_rotates_key: bool = False  # generate: a renewal makes a new key (a replace) instead of reissuing

    @property
    def is_key(self) -> bool:
        return isinstance(self.source, Generate | ImportFiles | ImportKeystore)

    @property
    def expands(self) -> bool:
        """A bundle, folder or source store: no alias of its own, one entry per certificate once expanded."""
        return isinstance(self.source, TrustedBundle | TrustedStore)


@dataclass(frozen=True, slots=True)
class KeystoreSpec:
    name: str
    path: str  # normalised, relative to the output root, '/'-separated
    type: StoreType
    password: PasswordRef
    previous_password: PasswordRef | None
    key_password: PasswordRef | None
    pkcs12_profile: Profile
    iterations: int | None
    entries: tuple[EntrySpec, ...]
    location: Location
    previous_name: str | None = None  # the name kstool.lock knows it by, after a rename
    prevent_destroy: bool = False  # any plan that destroys one of its private keys is an error
    attrs: FileAttrs = FileAttrs()
    _by_alias: dict[str, EntrySpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the first entry wins, as a linear search would (duplicate aliases are a spec error anyway)
        object.__setattr__(self, "_by_alias", {e.alias: e for e in reversed(self.entries)})
    previous_key_password: PasswordRef | None = None  # JKS/JCEKS: opens the keys while key_password rotates
    compatible_with: tuple[str, ...] = ()  # consumers it must work for (kstool.spec.compat), or defaults'

    def entry(self, alias: str) -> EntrySpec | None:
        return self._by_alias.get(alias)


@dataclass(frozen=True, slots=True)
class PemExport:
    """``pem:``: files cut from one key entry (``entry``) or a CA bundle of a keystore's trusted entries."""

    entry: tuple[str, str] | None = None  # (keystore, alias) of a key entry
    keystore: str | None = None  # bundle: the keystore whose trusted certificates it holds
    key: str | None = None  # output paths, normalised, relative to the output root
    certificate: str | None = None
    chain: str | None = None
    fullchain: str | None = None
    bundle: str | None = None
    key_password: PasswordRef | None = None  # None: the keystore's store password
    unencrypted_key: bool = False


@dataclass(frozen=True, slots=True)
class SecretExport:
    """``kubernetes_secret:``: a kubernetes.io/tls Secret from a key entry, or an Opaque one of keystores' bytes."""

    path: str
    name: str
    namespace: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    tls: tuple[str, str] | None = None  # (keystore, alias) of a key entry
    tls_ca: bool = True
    data: tuple[tuple[str, str], ...] = ()  # (data key, keystore name), sorted by key


@dataclass(frozen=True, slots=True)
class ExportSpec:
    name: str
    location: Location
    pem: PemExport | None = None
    secret: SecretExport | None = None
    attrs: FileAttrs = FileAttrs()

    @property
    def files(self) -> tuple[tuple[str, str], ...]:
        """(role, path) of every file this export writes, in a fixed order."""
        if self.secret is not None:
            return (("secret", self.secret.path),)
        assert self.pem is not None
        roles = ("key", "certificate", "chain", "fullchain", "bundle")
        return tuple((role, path) for role in roles if (path := getattr(self.pem, role)) is not None)

    @property
    def sources(self) -> tuple[str, ...]:
        """The keystores whose material this export is cut from."""
        if self.secret is not None:
            return (self.secret.tls[0],) if self.secret.tls else tuple(dict.fromkeys(k for _, k in self.secret.data))
        assert self.pem is not None
        return (self.pem.entry[0],) if self.pem.entry else (self.pem.keystore,) if self.pem.keystore else ()


@dataclass(frozen=True, slots=True)
class Spec:
    file: Path
    base_dir: Path  # the spec file's folder: relative inputs resolve here
    keystores: tuple[KeystoreSpec, ...]
    backups_keep: int = DEFAULT_BACKUPS_KEEP  # backups kept per artifact; older ones are pruned by apply
    exports: tuple[ExportSpec, ...] = ()  # PEM files and Kubernetes Secrets cut from the keystores' material
    _by_name: dict[str, KeystoreSpec] = field(init=False, repr=False, compare=False)
    # (keystore, alias) of a trusted reference -> the entry owning the certificate its chain of references ends at
    _targets: dict[tuple[str, str], tuple[str, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {k.name: k for k in reversed(self.keystores)})
        object.__setattr__(self, "_targets", {})

    def keystore(self, name: str) -> KeystoreSpec | None:
        return self._by_name.get(name)

    def reference_target(self, keystore: str, alias: str) -> tuple[str, str]:
        """Where a chain of ``trusted: {entry:}`` references starting at (keystore, alias) ends: the address of
        the entry that owns the certificate (itself when it is no reference). Needs a spec whose references
        ``check_references`` accepted (no cycle, no missing target)."""
        return _resolve(self, (keystore, alias))


def load_spec(path: Path) -> Spec:
    with paused_gc():  # ~20 new objects per value, none in a cycle: the collector would only rescan them
        text = read_spec_text(path)
        doc = load_yaml(text, str(path))
        if not isinstance(doc.data, dict):
            raise SpecError(doc.at(()), "the spec must be a mapping with 'version: 1' and 'keystores:'")
        validate(doc)
        return _Builder(doc, path).build()


class _Builder:
    def __init__(self, doc: Document, file: Path) -> None:
        self.doc = doc
        self.file = file
        self.base = file.resolve().parent
        self.defaults = self.attrs(doc.data.get("defaults", {}), ("defaults",), FileAttrs())

    def loc(self, *path: str | int) -> Location:
        return self.doc.at(tuple(path))

    def keystore_loc(self, i: int, path: tuple[str | int, ...]) -> Location:
        return self.doc.at(("keystores", i, *path))

    def build(self) -> Spec:
        raw: list[dict[str, Any]] = self.doc.data["keystores"]
        errors = Collector()  # every mistake of the spec in one run, not one per run
        self.allow = _allow_flags(self.doc.data, {})  # spec level: the default for every keystore
        self.renew = _renew_before(self.doc.data, RenewBefore())
        built = [errors.attempt(partial(self.keystore, i, k)) for i, k in enumerate(raw)]
        keystores = tuple(k for k in built if k is not None)
        errors.attempt(lambda: self.check_unique(keystores))
        errors.attempt(lambda: self.check_previous_names(keystores))
        keep = self.doc.data.get("backups", {}).get("keep", DEFAULT_BACKUPS_KEEP)
        exports = tuple(x for i, raw_x in enumerate(self.doc.data.get("exports", []))
                        if (x := errors.attempt(partial(self.export, i, raw_x))) is not None)
        spec = Spec(self.file, self.base, keystores, keep, exports=exports)
        errors.attempt(lambda: check_exports(spec, self.loc))
        # a reference into a keystore that has errors of its own is not reported again
        failed = frozenset(str(k["name"]) for k, built_ks in zip(raw, built, strict=True) if built_ks is None)
        errors.attempt(lambda: check_references(spec, skip=failed))
        errors.attempt(lambda: check_outputs(spec, self.base))
        from kstool.spec.compat import check_spec  # noqa: PLC0415

        for i, (raw_ks, built_ks) in enumerate(zip(raw, built, strict=True)):
            if built_ks is not None:
                errors.errors += check_spec(built_ks, raw_ks, partial(self.keystore_loc, i))
        errors.errors += check_issuers(spec, skip=failed)
        errors.raise_all()
        return spec

    def keystore(self, i: int, raw: dict[str, Any]) -> KeystoreSpec:
        at: JsonPath = ("keystores", i)
        errors = Collector()
        path = errors.attempt(lambda: self.confined_path(raw["path"], (*at, "path")))
        store_type = raw.get("type") or (path and errors.attempt(lambda: self.type_from_extension(path, at)))
        if "key_password" in raw and store_type == "pkcs12":
            errors.errors.append(SpecError(self.loc(*at, "key_password"),
                                           "PKCS12 keystores have one password (keytool ignores a separate key "
                                           "password); remove key_password or use type: jks"))
        if "previous_key_password" in raw and store_type == "pkcs12":
            errors.errors.append(SpecError(self.loc(*at, "previous_key_password"),
                                           "PKCS12 keystores have one password: previous_password opens the old "
                                           "file; remove previous_key_password"))
        if "pkcs12_profile" in raw and store_type not in ("pkcs12", None):
            errors.errors.append(SpecError(self.loc(*at, "pkcs12_profile"),
                                           f"pkcs12_profile applies to pkcs12 only, not {store_type}"))
        allow = _allow_flags(raw, self.allow)  # keystore level: the default for its entries
        renew = _renew_before(raw, self.renew)
        built = [errors.attempt(partial(self.entry, (*at, "entries", j), e, allow, renew))
                 for j, e in enumerate(raw["entries"])]
        entries = tuple(e for e in built if e is not None)
        if len(entries) == len(built):
            errors.attempt(lambda: self.check_aliases(entries, at))
        errors.raise_all()
        assert path is not None and store_type
        return KeystoreSpec(
            name=raw["name"],
            path=path,
            type=store_type,
            password=self.password(raw["password"], (*at, "password")),
            previous_password=self.optional_password(raw, "previous_password", at),
            key_password=self.optional_password(raw, "key_password", at),
            pkcs12_profile=raw.get("pkcs12_profile", "modern"),
            iterations=raw.get("iterations"),
            entries=entries,
            location=self.loc(*at),
            previous_name=raw.get("previous_name"),
            prevent_destroy=bool(raw.get("prevent_destroy", False)),
            attrs=self.attrs(raw, at, self.defaults),
            previous_key_password=self.optional_password(raw, "previous_key_password", at),
            compatible_with=tuple(dict.fromkeys(
                raw.get("compatible_with", self.doc.data.get("defaults", {}).get("compatible_with", ())))),
        )

    def export(self, i: int, raw: dict[str, Any]) -> ExportSpec:
        at: JsonPath = ("exports", i)
        errors = Collector()
        attrs = self.attrs(raw, at, self.defaults)
        if "pem" in raw:
            pem = errors.attempt(lambda: self.pem_export(raw["pem"], (*at, "pem")))
            errors.raise_all()
            return ExportSpec(raw["name"], self.loc(*at), pem=pem, attrs=attrs)
        secret = errors.attempt(lambda: self.secret_export(raw["kubernetes_secret"], (*at, "kubernetes_secret")))
        errors.raise_all()
        return ExportSpec(raw["name"], self.loc(*at), secret=secret, attrs=attrs)

    def entry_ref(self, text: str, at: JsonPath) -> tuple[str, str]:
        keystore, _, alias = text.partition("/")
        return keystore, self.alias(alias, at)

    def pem_export(self, raw: dict[str, Any], at: JsonPath) -> PemExport:
        errors = Collector()
        paths = {role: errors.attempt(partial(self.confined_path, raw[role], (*at, role)))
                 for role in ("key", "certificate", "chain", "fullchain", "bundle") if role in raw}
        if "entry" in raw:
            entry = errors.attempt(lambda: self.entry_ref(raw["entry"], (*at, "entry")))
            if "key" not in raw:
                for flag in ("key_password", "unencrypted_key"):
                    if flag in raw:
                        errors.errors.append(SpecError(self.loc(*at, flag), f"{flag} applies to the key: file; add "
                                                                            "key: PATH or remove it"))
            if raw.get("unencrypted_key") and "key_password" in raw:
                errors.errors.append(SpecError(self.loc(*at, "key_password"), "an unencrypted key has no password: "
                                                                              "remove key_password or unencrypted_key"))
            key_password = errors.attempt(lambda: self.optional_password(raw, "key_password", at))
            if isinstance(key_password, FileRef) and key_password.generate:
                errors.errors.append(SpecError(self.loc(*at, "key_password", "generate"),
                                               "an export's key_password is not generated: give your own file, or "
                                               "leave key_password out to use the keystore's password"))
            errors.raise_all()
            return PemExport(entry=entry, key_password=key_password,
                             unencrypted_key=bool(raw.get("unencrypted_key", False)), key=paths.get("key"),
                             certificate=paths.get("certificate"), chain=paths.get("chain"),
                             fullchain=paths.get("fullchain"))
        errors.raise_all()
        return PemExport(keystore=raw["keystore"], bundle=paths.get("bundle"))

    def secret_export(self, raw: dict[str, Any], at: JsonPath) -> SecretExport:
        from kstool.formats import k8s  # noqa: PLC0415

        errors = Collector()
        path = errors.attempt(lambda: self.confined_path(raw["path"], (*at, "path")))
        for key, check in (("name", k8s.name_problem), ("namespace", k8s.namespace_problem)):
            if key in raw and (problem := check(raw[key])):
                errors.errors.append(SpecError(self.loc(*at, key), f"{raw[key]!r} {problem}"))
        labels = raw.get("labels", {})
        for key, value in labels.items():
            problem = k8s.label_key_problem(key) or k8s.label_value_problem(value)
            if problem:
                errors.errors.append(SpecError(self.loc(*at, "labels", key), f"label {key!r}: {problem}"))
        data: list[tuple[str, str]] = []
        for key, value in raw.get("data", {}).items():
            if (problem := k8s.data_key_problem(key)) is not None:
                errors.errors.append(SpecError(self.loc(*at, "data", key), f"{key!r} {problem}"))
            data.append((key, value["keystore"]))
        tls = None
        if "tls" in raw:
            tls = errors.attempt(lambda: self.entry_ref(raw["tls"]["entry"], (*at, "tls", "entry")))
        errors.raise_all()
        assert path is not None
        return SecretExport(path, raw["name"], raw.get("namespace"), tuple(sorted(labels.items())), tls,
                            bool(raw.get("tls", {}).get("ca", True)), tuple(sorted(data)))

    def attrs(self, raw: dict[str, Any], at: JsonPath, inherited: FileAttrs) -> FileAttrs:
        """``mode``, ``owner`` and ``group`` of ``raw``, each falling back to ``inherited``."""
        mode = inherited.mode
        if "mode" in raw:
            mode = int(raw["mode"], 8)  # the schema admits 3 or 4 octal digits, no setuid/setgid/sticky bit
            if mode & 0o600 != 0o600:
                raise SpecError(self.loc(*at, "mode"), f"mode {mode:04o} does not let the owner read and write "
                                                       "the file; kstool must be able to replace it: use e.g. 0600 "
                                                       "or 0640")
        return FileAttrs(mode, raw.get("owner", inherited.owner), raw.get("group", inherited.group))

    def type_from_extension(self, path: str, at: JsonPath) -> StoreType:
        suffix = PurePosixPath(path).suffix.lower()
        if suffix in EXTENSION_TYPES:
            return EXTENSION_TYPES[suffix]
        raise SpecError(self.loc(*at, "path"),
                        f"cannot tell the keystore type from {suffix or 'a name without extension'!r}; "
                        "add type: jks, jceks or pkcs12 (or name the file .jks, .jceks, .p12 or .pfx)")

    def confined_path(self, text: str, at: JsonPath) -> str:
        """A '/'-separated path that stays inside the output root."""
        if "\\" in text or "\0" in text:
            raise SpecError(self.loc(*at), "write paths with '/' and without NUL or backslash characters")
        if text.startswith("/") or PurePosixPath(text).is_absolute():
            raise SpecError(self.loc(*at), "must be relative to the spec's folder (or --output-dir), not absolute")
        norm = posixpath.normpath(text)
        if norm == ".." or norm.startswith("../") or norm in (".", ""):
            raise SpecError(self.loc(*at), "must name a file inside the spec's folder (or --output-dir); "
                                           "'..' may not leave it")
        problem = reserved_problem(norm)
        if problem:
            raise SpecError(self.loc(*at), f"path {norm!r} {problem}: choose another name")
        return norm

    def input_path(self, text: str, at: JsonPath) -> Path:
        """An input file, relative to the spec's folder (inputs may live outside it, e.g. ../certs)."""
        if "\0" in text:
            raise SpecError(self.loc(*at), "paths may not contain NUL characters")
        return self.base / text

    def password(self, raw: dict[str, Any], at: JsonPath) -> PasswordRef:
        if "env" in raw:
            return EnvRef(raw["env"], self.loc(*at))
        generate = bool(raw.get("generate", False))
        for key in ("mode", "owner", "group"):
            if key in raw and not generate:
                raise SpecError(self.loc(*at, key), f"{key} applies to a password file kstool generates "
                                                    "(generate: true); set it on your own file yourself")
        return FileRef(self.input_path(raw["file"], (*at, "file")), raw["file"], generate, self.loc(*at),
                       self.attrs(raw, at, self.defaults))

    def source_password(self, raw: dict[str, Any], at: JsonPath) -> SourcePasswordRef:
        """A source keystore's password: it opens an existing file, so it is never generated."""
        if "empty" in raw:
            return EmptyRef(self.loc(*at))
        if raw.get("generate"):
            raise SpecError(self.loc(*at, "generate"), "generate: true makes a new random password, which cannot "
                                                       "open an existing keystore: remove it")
        return self.password(raw, at)

    def optional_password(self, raw: dict[str, Any], key: str, at: JsonPath) -> PasswordRef | None:
        return self.password(raw[key], (*at, key)) if key in raw else None

    def entry(self, at: JsonPath, raw: dict[str, Any], allow: dict[str, bool] | None = None,
              renew: RenewBefore = RenewBefore()) -> EntrySpec:
        errors = Collector()
        expands = "trusted" in raw and any(k in raw["trusted"] for k in EXPANDING_KEYS)
        if expands and "alias" in raw:
            kind = next(k for k in EXPANDING_KEYS if k in raw["trusted"])
            errors.errors.append(SpecError(self.loc(*at, "alias"), f"trusted.{kind} makes one entry per certificate, "
                                                                  "each with its own alias: remove alias (use "
                                                                  "trusted.alias_prefix to prefix them)"))
        alias = "" if expands else errors.attempt(lambda: self.alias(raw["alias"], (*at, "alias")))
        source: Source | None
        if "generate" in raw:
            source = errors.attempt(lambda: self.generate(raw["generate"], (*at, "generate")))
            errors.errors += [SpecError(self.loc(*at, flag), f"{flag} applies to import and trusted entries only")
                              for flag in ("allow_expired", "allow_weak") if flag in raw]
        elif "import" in raw:
            source = errors.attempt(lambda: self.import_(raw["import"], (*at, "import")))
        else:
            source = errors.attempt(lambda: self.trusted(raw["trusted"], (*at, "trusted")))
        if "renew_rotates_key" in raw and "generate" not in raw:
            errors.errors.append(SpecError(self.loc(*at, "renew_rotates_key"),
                                           "renew_rotates_key applies to generate entries only: kstool renews "
                                           "only the certificates it issues"))
        renew = _renew_before(raw, renew)
        if isinstance(source, Generate):
            errors.attempt(lambda: self.check_window(source, renew, at, raw))
        errors.raise_all()
        assert alias is not None and source is not None
        flags = _allow_flags(raw, allow or {})
        return EntrySpec(alias, source, self.loc(*at), flags["allow_expired"], flags["allow_weak"], renew,
                         bool(raw.get("renew_rotates_key", False)))

    def check_window(self, gen: Generate, renew: RenewBefore, at: JsonPath, raw: dict[str, Any]) -> None:
        """A certificate issued inside its own renewal window would be renewed by every apply."""
        if renew.days is not None and renew.days >= gen.validity_days:
            where = (*at, "renew_before") if "renew_before" in raw else (*at, "generate", "validity_days")
            raise SpecError(self.loc(*where), f"renew_before: {{days: {renew.days}}} is not less than "
                                              f"validity_days {gen.validity_days}: every certificate would be "
                                              "issued inside its own renewal window; lower renew_before or raise "
                                              "validity_days")

    def alias(self, text: str, at: JsonPath) -> str:
        if any(ord(c) > 0xFFFF for c in text):
            raise SpecError(self.loc(*at), "aliases may not contain characters outside the Basic Multilingual "
                                           "Plane (e.g. emoji): Java's JKS format cannot store them")
        if text != text.strip() or any(ord(c) < 0x20 for c in text):
            raise SpecError(self.loc(*at), "aliases may not start or end with blanks or contain control characters")
        return text.lower()

    def generate(self, raw: dict[str, Any], at: JsonPath) -> Generate:
        key = raw.get("key", {"algorithm": "RSA"})
        algorithm: KeyAlgorithm = key["algorithm"]
        san = tuple(raw.get("san", ()))
        errors = Collector()
        rdns = errors.attempt(lambda: self.located(parse_rdns, raw["dname"], (*at, "dname")))
        san_items = errors.attempt(lambda: self.located(check_san, san, (*at, "san")))
        errors.raise_all()
        assert rdns is not None and san_items is not None
        return Generate(
            dname=raw["dname"],
            rdns=rdns,
            algorithm=algorithm,
            size=key.get("size", DEFAULT_KEY[algorithm]),
            validity_days=raw.get("validity_days", 90),
            san=san,
            san_items=san_items,
            **self.ca_fields(raw, at),
        )

    def ca_fields(self, raw: dict[str, Any], at: JsonPath) -> dict[str, Any]:
        """ca, issuer and usage of a generate entry (the issuer is checked against the spec by check_issuers)."""
        fields: dict[str, Any] = {}
        if "ca" in raw:
            fields.update(ca=True, path_length=raw["ca"].get("path_length"))
        if "issuer" in raw:
            keystore, _, alias = str(raw["issuer"]).partition("/")
            fields["issuer"] = (keystore, alias.lower())
        if "usage" in raw:
            fields["usage"] = tuple(raw["usage"])
        if "reply" in raw:
            if "issuer" in raw:
                raise SpecError(self.loc(*at, "reply"), "reply imports a certificate signed by an outside CA, issuer "
                                                        "has kstool sign it: keep one of them")
            reply = raw["reply"]
            fields["reply"] = Reply(self.input_path(reply["certificate"], (*at, "reply", "certificate")),
                                    tuple(self.input_path(c, (*at, "reply", "chain", i))
                                          for i, c in enumerate(reply.get("chain", ()))))
        return fields

    def located(self, check: Callable[[T], R], value: T, at: JsonPath) -> R:
        """``check(value)``, its KstoolError reported at ``at``."""
        try:
            return check(value)
        except KstoolError as e:
            raise SpecError(self.loc(*at), str(e)) from None

    def import_(self, raw: dict[str, Any], at: JsonPath) -> ImportFiles | ImportKeystore:
        if "keystore" in raw:
            return ImportKeystore(
                keystore=self.input_path(raw["keystore"], (*at, "keystore")),
                password=self.source_password(raw["password"], (*at, "password")),
                alias=raw.get("alias"),
                key_password=self.source_password(raw["key_password"], (*at, "key_password"))
                if "key_password" in raw else None,
            )
        return ImportFiles(
            certificate=self.input_path(raw["certificate"], (*at, "certificate")),
            private_key=self.input_path(raw["private_key"], (*at, "private_key")),
            private_key_password=self.optional_password(raw, "private_key_password", at),
            chain=tuple(self.input_path(c, (*at, "chain", i)) for i, c in enumerate(raw.get("chain", ()))),
        )

    def trusted(self, raw: dict[str, Any], at: JsonPath) -> Source:
        if "certificate" in raw:
            return TrustedCertificate(self.input_path(raw["certificate"], (*at, "certificate")))
        prefix = self.alias(raw["alias_prefix"], (*at, "alias_prefix")) if "alias_prefix" in raw else ""
        for kind in ("bundle", "directory"):
            if kind in raw:
                return TrustedBundle(self.input_path(raw[kind], (*at, kind)), raw[kind], kind == "directory", prefix)
        if "keystore" in raw:
            return TrustedStore(self.input_path(raw["keystore"], (*at, "keystore")), raw["keystore"],
                                self.source_password(raw["password"], (*at, "password")) if "password" in raw
                                else None, tuple(p.lower() for p in raw.get("include", ())),
                                tuple(p.lower() for p in raw.get("exclude", ())), prefix)
        keystore, _, alias = str(raw["entry"]).partition("/")
        return TrustedReference(keystore, alias.lower())

    def check_aliases(self, entries: tuple[EntrySpec, ...], at: JsonPath) -> None:
        seen: dict[str, int] = {}
        raw_entries = self.doc.data
        for step in at:
            raw_entries = raw_entries[step]
        for j, entry in enumerate(entries):
            if entry.expands:
                continue  # its aliases are known once expanded: kstool.engine.expand checks them
            if entry.alias in seen:
                first = raw_entries["entries"][seen[entry.alias]]["alias"]
                this = raw_entries["entries"][j]["alias"]
                how = "is the same as" if first == this else "differs only by case from"
                raise SpecError(self.loc(*at, "entries", j, "alias"),
                                f"alias {this!r} {how} {first!r} (entries[{seen[entry.alias]}]); Java lowercases "
                                "aliases, so they would collide: rename one")
            seen[entry.alias] = j

    def check_unique(self, keystores: tuple[KeystoreSpec, ...]) -> None:
        names: dict[str, int] = {}
        paths: dict[str, int] = {}
        errors = Collector()
        for ks in keystores:
            i = ks.location.path[1] if len(ks.location.path) > 1 else 0
            if ks.name in names:
                errors.errors.append(SpecError(self.loc("keystores", i, "name"), f"keystore name {ks.name!r} is "
                                               f"already used by keystores[{names[ks.name]}]"))
            # case-folded: two names that differ by case are one file on macOS/Windows
            key = ks.path.casefold()
            if key in paths:
                errors.errors.append(SpecError(self.loc("keystores", i, "path"),
                                               f"path {ks.path!r} is already written by keystores[{paths[key]}]"))
            names.setdefault(ks.name, int(i))
            paths.setdefault(key, int(i))
        errors.raise_all()


    def check_previous_names(self, keystores: tuple[KeystoreSpec, ...]) -> None:
        names = {ks.name: i for i, ks in enumerate(keystores)}
        claimed: dict[str, int] = {}
        for i, ks in enumerate(keystores):
            old = ks.previous_name
            if old is None:
                continue
            at = self.loc("keystores", i, "previous_name")
            if old in names:
                raise SpecError(at, f"previous_name {old!r} is the name of keystores[{names[old]}]; previous_name "
                                    "names a keystore that no longer exists under that name")
            if old in claimed:
                raise SpecError(at, f"previous_name {old!r} is also the previous_name of keystores[{claimed[old]}]")
            claimed[old] = i


def check_outputs(spec: Spec, root: Path) -> None:
    """Outputs that would overwrite each other are spec errors: a password file at a keystore's path, or a
    generated password file at one of kstool's own names (``root``: where keystore paths resolve)."""
    root_text = posixpath.normpath(root.as_posix())
    stores = {posixpath.join(root_text, ks.path).casefold(): (i, ks) for i, ks in enumerate(spec.keystores)}
    for ks in spec.keystores:
        for ref in (ks.password, ks.previous_password, ks.key_password):
            if not isinstance(ref, FileRef):
                continue
            target = PurePosixPath(posixpath.normpath(ref.path.as_posix()))
            hit = stores.get(target.as_posix().casefold())
            if hit is not None:
                raise SpecError(ref.location, f"password file {ref.shown} is the path of keystores[{hit[0]}] "
                                              f"({hit[1].name!r}); apply would write the keystore over its "
                                              "password file: put the password file elsewhere")
            if ref.generate:
                rel = posixpath.relpath(target.as_posix(), root_text)
                problem = suffix_problem(target.name) if rel.startswith("../") else reserved_problem(rel)
                if problem:
                    raise SpecError(ref.location, f"generated password file {ref.shown} {problem}: choose another "
                                                  "name")


def check_exports(spec: Spec, loc: Callable[..., Location]) -> None:
    """Exports name existing entries and keystores, have unique names, and write paths no keystore, no other
    export and no password file uses."""
    errors = Collector()
    names: dict[str, int] = {}
    paths = {ks.path.casefold(): f"keystores[{i}] ({ks.name!r})" for i, ks in enumerate(spec.keystores)}
    passwords = {ref.path for ks in spec.keystores for ref in (ks.password, ks.previous_password, ks.key_password)
                 if isinstance(ref, FileRef)}
    passwords |= {x.pem.key_password.path for x in spec.exports
                  if x.pem is not None and isinstance(x.pem.key_password, FileRef)}
    for i, x in enumerate(spec.exports):
        at = x.location.path
        if x.name in names:
            errors.errors.append(SpecError(loc(*at, "name"), f"export name {x.name!r} is already used by "
                                                             f"exports[{names[x.name]}]"))
        names.setdefault(x.name, i)
        kind = "pem" if x.pem is not None else "kubernetes_secret"
        for role, path in x.files:
            where = loc(*at, kind, "path" if role == "secret" else role)
            if path.casefold() in paths:
                errors.errors.append(SpecError(where, f"path {path!r} is already written by {paths[path.casefold()]}; "
                                                      "every output needs its own path"))
            elif (spec.base_dir / path) in passwords:
                errors.errors.append(SpecError(where, f"path {path!r} is a password file of this spec; choose "
                                                      "another path"))
            paths.setdefault(path.casefold(), f"exports[{i}] ({x.name!r})")
        refs: list[tuple[tuple[str, ...], tuple[str, str]]] = []
        if x.pem is not None and x.pem.entry is not None:
            refs.append(((kind, "entry"), x.pem.entry))
        if x.secret is not None and x.secret.tls is not None:
            refs.append(((kind, "tls", "entry"), x.secret.tls))
        for sub, (keystore, alias) in refs:
            ks = spec.keystore(keystore)
            entry = ks.entry(alias) if ks is not None else None
            if entry is None or not entry.is_key:
                why = (f"there is no keystore {keystore!r}" if ks is None else f"keystore {keystore!r} has no entry "
                       f"{alias!r}" if entry is None else f"{keystore}/{alias} is a trusted entry, without a key")
                errors.errors.append(SpecError(loc(*at, *sub), f"{why}: name a key entry as KEYSTORE/ALIAS"))
        stores: list[tuple[tuple[str, ...], str]] = []
        if x.pem is not None and x.pem.keystore is not None:
            stores.append(((kind, "keystore"), x.pem.keystore))
        if x.secret is not None:
            stores += [((kind, "data", key, "keystore"), name) for key, name in x.secret.data]
        for sub, name in stores:
            ks = spec.keystore(name)
            if ks is None:
                errors.errors.append(SpecError(loc(*at, *sub), f"there is no keystore {name!r} in this spec"))
            elif sub[-1] == "keystore" and x.pem is not None and all(
                    e.is_key for e in ks.entries):
                errors.errors.append(SpecError(loc(*at, *sub), f"keystore {name!r} has no trusted entries: a bundle "
                                                               "holds the trusted certificates of a truststore"))
    errors.raise_all()


ALLOW_FLAGS = ("allow_expired", "allow_weak")
EXPANDING_KEYS = ("bundle", "directory", "keystore")  # trusted: forms that make one entry per certificate


def _allow_flags(raw: dict[str, Any], inherited: dict[str, bool]) -> dict[str, bool]:
    """``allow_expired`` / ``allow_weak`` at one level: set here, else inherited (entry ← keystore ← spec ← false).

    The nearest level that sets a flag wins, ``false`` included: an entry can opt out of its keystore's opt-in.
    """
    return {flag: bool(raw[flag]) if flag in raw else inherited.get(flag, False) for flag in ALLOW_FLAGS}


def _renew_before(raw: dict[str, Any], inherited: RenewBefore) -> RenewBefore:
    """``renew_before`` at one level (spec, keystore, entry): set here, else inherited; the nearest wins."""
    value = raw.get("renew_before")
    if value is None:
        return inherited
    return RenewBefore(days=value.get("days"), percent=value.get("percent"))


def check_references(spec: Spec, *, skip: frozenset[str] = frozenset()) -> None:
    """Every trusted.entry names an existing entry, and following references never loops.

    Each address is followed once: its target is kept (``Spec._targets``), so long chains stay linear.
    """
    errors = Collector()
    for ks in spec.keystores:
        for entry in ks.entries:
            if isinstance(entry.source, TrustedReference) and entry.source.keystore not in skip:
                errors.attempt(partial(_resolve, spec, (ks.name, entry.alias), entry.location))
    errors.raise_all()


def _resolve(spec: Spec, start: tuple[str, str], where: Location | None = None) -> tuple[str, str]:
    targets = spec._targets  # the spec's own memo, filled here only
    path: list[tuple[str, str]] = []
    on_path: set[tuple[str, str]] = set()
    address = start
    try:
        while address not in targets:
            ks = spec.keystore(address[0])
            entry = ks.entry(address[1]) if ks is not None else None
            if entry is None or not isinstance(entry.source, TrustedReference):
                if address != start and where is not None:
                    _check_target(spec, path[-1], where)
                targets[address] = address
                break
            path.append(address)
            on_path.add(address)
            ref = entry.source
            following = (ref.keystore, ref.alias)
            if following in on_path:
                if where is None:
                    raise AssertionError(f"trusted references form a cycle at {following}")
                shown = [f"{k}/{a}" for k, a in (*path, following)]
                raise SpecError(where, "trusted.entry references form a cycle: " + " → ".join(shown))
            address = following
    except SpecError:
        for step in path:  # reported once, at the first reference that meets it: the others on it stay quiet
            targets[step] = step
        raise
    end = targets[address]
    for step in path:
        targets[step] = end
    return end


def _check_target(spec: Spec, referrer: tuple[str, str], where: Location) -> None:
    """The reference at ``referrer`` names a keystore and an alias that exist."""
    ks = spec.keystore(referrer[0])
    entry = ks.entry(referrer[1]) if ks is not None else None
    assert entry is not None and isinstance(entry.source, TrustedReference)
    ref = entry.source
    target_ks = spec.keystore(ref.keystore)
    if target_ks is None:
        names = ", ".join(k.name for k in spec.keystores)
        raise SpecError(where, f"trusted.entry names keystore {ref.keystore!r}, which is not in the spec "
                               f"(keystores: {names})")
    target = target_ks.entry(ref.alias)
    if target is None or target.expands:
        aliases = ", ".join(e.alias for e in target_ks.entries if not e.expands) or "none"
        expanded = (" (a certificate of its trusted bundle, folder or source store cannot be the target: name its "
                    "file in a trusted.certificate entry instead)" if any(e.expands for e in target_ks.entries)
                    else "")
        raise SpecError(where, f"trusted.entry names alias {ref.alias!r}, which keystore {ref.keystore!r} does "
                               f"not have (aliases: {aliases}){expanded}")


def check_issuers(spec: Spec, *, skip: frozenset[str] = frozenset()) -> list[SpecError]:
    """Every ``generate.issuer`` names a key entry of the spec that can sign it: a missing issuer, a generated
    issuer without ``ca:``, a path length that forbids it, a leaf that outlives its issuer and a cycle of
    issuers are errors, all of them reported in one run, each at the entry that names the issuer.

    An imported issuer's certificate is only known once its files are read: the planner checks it is a CA.
    """
    problems: list[SpecError] = []
    for ks in spec.keystores:
        for entry in ks.entries:
            gen = entry.source
            if isinstance(gen, Generate) and gen.issuer is not None and gen.issuer[0] not in skip:
                problem = _issuer_problem(spec, (ks.name, entry.alias), gen)
                if problem:
                    problems.append(SpecError(entry.location, f"generate.issuer: {problem}"))
    return problems


def _issuer_problem(spec: Spec, address: tuple[str, str], gen: Generate) -> str | None:
    assert gen.issuer is not None
    name = "/".join(gen.issuer)
    target_ks = spec.keystore(gen.issuer[0])
    if target_ks is None:
        return (f"{name} names keystore {gen.issuer[0]!r}, which is not in the spec "
                f"(keystores: {', '.join(k.name for k in spec.keystores)})")
    target = target_ks.entry(gen.issuer[1])
    if target is None:
        aliases = ", ".join(e.alias for e in target_ks.entries) or "none"
        return f"{name}: keystore {gen.issuer[0]!r} has no alias {gen.issuer[1]!r} (aliases: {aliases})"
    if not target.is_key:
        return f"{name} is a trusted certificate: an issuer needs its private key (a generate or import entry)"
    cycle = _issuer_cycle(spec, address)
    if cycle:
        return "issuers form a cycle: " + " → ".join("/".join(a) for a in cycle)
    issuer = target.source
    if not isinstance(issuer, Generate):
        return None
    if not issuer.ca:
        return f"{name} is not a CA certificate: add ca: {{path_length: N}} to its generate"
    if gen.ca and issuer.path_length is not None and (
            issuer.path_length == 0 or (gen.path_length is None or gen.path_length >= issuer.path_length)):
        return (f"{name} has path_length {issuer.path_length}, which forbids a CA below it with path_length "
                f"{'unlimited' if gen.path_length is None else gen.path_length}: raise the issuer's path_length "
                "or lower this one")
    if gen.validity_days > issuer.validity_days:
        return (f"validity_days {gen.validity_days} outlives the issuer {name} ({issuer.validity_days} days): "
                "a certificate may not outlive its issuer; shorten it")
    return None


def _issuer_cycle(spec: Spec, start: tuple[str, str]) -> list[tuple[str, str]] | None:
    path = [start]
    address = start
    while True:
        ks = spec.keystore(address[0])
        entry = ks.entry(address[1]) if ks is not None else None
        if entry is None or not isinstance(entry.source, Generate) or entry.source.issuer is None:
            return None
        address = entry.source.issuer
        if address in path:
            return [*path[path.index(address):], address] if address == start else None
        path.append(address)
