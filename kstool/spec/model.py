"""The spec as frozen, typed data: after this module nothing sees a dict.

``load_spec`` = read → YAML with locations → JSON Schema → model + cross-checks (unique names and paths,
aliases as Java sees them, confined paths, parsed DNs and SANs, trusted-entry references without cycles).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from kstool.crypto.dn import Rdns, parse_rdns
from kstool.crypto.san import SanItem, check_san
from kstool.errors import KstoolError
from kstool.formats.model import StoreType
from kstool.spec.validate import validate
from kstool.spec.yamlload import Document, JsonPath, Location, SpecError, load_yaml, read_spec_text

if TYPE_CHECKING:
    from cryptography import x509

KeyAlgorithm = Literal["RSA", "EC", "Ed25519"]
Profile = Literal["modern", "legacy"]

DEFAULT_KEY: dict[KeyAlgorithm, int | None] = {"RSA": 2048, "EC": 256, "Ed25519": None}
EXTENSION_TYPES: dict[str, StoreType] = {".jks": "jks", ".jceks": "jceks", ".p12": "pkcs12", ".pfx": "pkcs12"}


@dataclass(frozen=True, slots=True)
class EnvRef:
    name: str
    location: Location

    def describe(self) -> str:
        return f"environment variable {self.name}"


@dataclass(frozen=True, slots=True)
class FileRef:
    path: Path  # resolved against the spec's folder
    shown: str  # as written in the spec
    generate: bool
    location: Location

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
class Generate:
    dname: str
    rdns: Rdns  # the parsed dname (DER order), checked at load time
    algorithm: KeyAlgorithm
    size: int | None
    validity_days: int
    san: tuple[str, ...]
    san_items: tuple[SanItem, ...]

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


Source = Generate | ImportFiles | ImportKeystore | TrustedCertificate | TrustedReference


@dataclass(frozen=True, slots=True)
class EntrySpec:
    alias: str  # lowercased: Java treats JKS/PKCS12 aliases case-insensitively
    source: Source
    location: Location
    allow_expired: bool = False
    allow_weak: bool = False

    @property
    def is_key(self) -> bool:
        return isinstance(self.source, Generate | ImportFiles | ImportKeystore)


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

    def entry(self, alias: str) -> EntrySpec | None:
        return next((e for e in self.entries if e.alias == alias), None)


@dataclass(frozen=True, slots=True)
class Spec:
    file: Path
    base_dir: Path  # the spec file's folder: relative inputs resolve here
    keystores: tuple[KeystoreSpec, ...]

    def keystore(self, name: str) -> KeystoreSpec | None:
        return next((k for k in self.keystores if k.name == name), None)


def load_spec(path: Path) -> Spec:
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

    def loc(self, *path: str | int) -> Location:
        return self.doc.at(tuple(path))

    def build(self) -> Spec:
        raw: list[dict[str, Any]] = self.doc.data["keystores"]
        keystores = tuple(self.keystore(i, k) for i, k in enumerate(raw))
        self.check_unique(keystores)
        spec = Spec(self.file, self.base, keystores)
        check_references(spec)
        return spec

    def keystore(self, i: int, raw: dict[str, Any]) -> KeystoreSpec:
        at: JsonPath = ("keystores", i)
        path = self.confined_path(raw["path"], (*at, "path"))
        store_type = raw.get("type") or self.type_from_extension(path, at)
        if "key_password" in raw and store_type == "pkcs12":
            raise SpecError(self.loc(*at, "key_password"),
                            "PKCS12 keystores have one password (keytool ignores a separate key password); "
                            "remove key_password or use type: jks")
        if "pkcs12_profile" in raw and store_type != "pkcs12":
            raise SpecError(self.loc(*at, "pkcs12_profile"), f"pkcs12_profile applies to pkcs12 only, not {store_type}")
        entries = tuple(self.entry((*at, "entries", j), e) for j, e in enumerate(raw["entries"]))
        self.check_aliases(entries, at)
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
        )

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
        return norm

    def input_path(self, text: str, at: JsonPath) -> Path:
        """An input file, relative to the spec's folder (inputs may live outside it, e.g. ../certs)."""
        if "\0" in text:
            raise SpecError(self.loc(*at), "paths may not contain NUL characters")
        return self.base / text

    def password(self, raw: dict[str, Any], at: JsonPath) -> PasswordRef:
        if "env" in raw:
            return EnvRef(raw["env"], self.loc(*at))
        return FileRef(self.input_path(raw["file"], (*at, "file")), raw["file"], bool(raw.get("generate", False)),
                       self.loc(*at))

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

    def entry(self, at: JsonPath, raw: dict[str, Any]) -> EntrySpec:
        alias = self.alias(raw["alias"], (*at, "alias"))
        if "generate" in raw:
            source: Source = self.generate(raw["generate"], (*at, "generate"))
        elif "import" in raw:
            source = self.import_(raw["import"], (*at, "import"))
        else:
            source = self.trusted(raw["trusted"], (*at, "trusted"))
        if isinstance(source, Generate):
            for flag in ("allow_expired", "allow_weak"):
                if flag in raw:
                    raise SpecError(self.loc(*at, flag), f"{flag} applies to import and trusted entries only")
        return EntrySpec(alias, source, self.loc(*at), bool(raw.get("allow_expired", False)),
                         bool(raw.get("allow_weak", False)))

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
        try:
            rdns = parse_rdns(raw["dname"])
        except KstoolError as e:
            raise SpecError(self.loc(*at, "dname"), str(e)) from None
        try:
            san_items = check_san(san)
        except KstoolError as e:
            raise SpecError(self.loc(*at, "san"), str(e)) from None
        return Generate(
            dname=raw["dname"],
            rdns=rdns,
            algorithm=algorithm,
            size=key.get("size", DEFAULT_KEY[algorithm]),
            validity_days=raw.get("validity_days", 90),
            san=san,
            san_items=san_items,
        )

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

    def trusted(self, raw: dict[str, Any], at: JsonPath) -> TrustedCertificate | TrustedReference:
        if "certificate" in raw:
            return TrustedCertificate(self.input_path(raw["certificate"], (*at, "certificate")))
        keystore, _, alias = str(raw["entry"]).partition("/")
        return TrustedReference(keystore, alias.lower())

    def check_aliases(self, entries: tuple[EntrySpec, ...], at: JsonPath) -> None:
        seen: dict[str, int] = {}
        raw_entries = self.doc.data
        for step in at:
            raw_entries = raw_entries[step]
        for j, entry in enumerate(entries):
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
        for i, ks in enumerate(keystores):
            if ks.name in names:
                raise SpecError(self.loc("keystores", i, "name"),
                                f"keystore name {ks.name!r} is already used by keystores[{names[ks.name]}]")
            # case-folded: two names that differ by case are one file on macOS/Windows
            key = ks.path.casefold()
            if key in paths:
                raise SpecError(self.loc("keystores", i, "path"),
                                f"path {ks.path!r} is already written by keystores[{paths[key]}]")
            names[ks.name] = i
            paths[key] = i


def check_references(spec: Spec) -> None:
    """Every trusted.entry names an existing entry, and following references never loops."""
    for ks in spec.keystores:
        for entry in ks.entries:
            if isinstance(entry.source, TrustedReference):
                _follow(spec, ks, entry)


def _follow(spec: Spec, ks: KeystoreSpec, entry: EntrySpec) -> None:
    seen = [f"{ks.name}/{entry.alias}"]
    current = entry
    while isinstance(current.source, TrustedReference):
        ref = current.source
        target_ks = spec.keystore(ref.keystore)
        where = entry.location
        if target_ks is None:
            names = ", ".join(k.name for k in spec.keystores)
            raise SpecError(where, f"trusted.entry names keystore {ref.keystore!r}, which is not in the spec "
                                   f"(keystores: {names})")
        target = target_ks.entry(ref.alias)
        if target is None:
            aliases = ", ".join(e.alias for e in target_ks.entries) or "none"
            raise SpecError(where, f"trusted.entry names alias {ref.alias!r}, which keystore {ref.keystore!r} does "
                                   f"not have (aliases: {aliases})")
        address = f"{target_ks.name}/{target.alias}"
        if address in seen:
            raise SpecError(where, "trusted.entry references form a cycle: " + " → ".join([*seen, address]))
        seen.append(address)
        current = target
