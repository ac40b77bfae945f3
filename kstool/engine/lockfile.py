"""kstool.lock: public facts about every artifact apply wrote, meant to be committed.

Per keystore: path, type, sha256 of the file, two digests of what shaped it (``digests``) and, per entry,
alias, kind and certificate facts (fingerprints, subject, issuer, serial, validity, public-key fingerprint).
Never a secret. Stable key order, so
a pull request shows exactly which certificates change.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import posixpath
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kstool.engine.facts import entry_facts
from kstool.engine.outpaths import LOCK_NAME, path_problem
from kstool.errors import KstoolError
from kstool.formats.entries import Entry

__all__ = ["LOCK_NAME", "Lock", "LockedExport", "LockedFile", "LockedStore", "lock_entry", "locked_store", "read_lock",
           "render_lock", "spec_owner"]

FORMAT_VERSION = 1
MAX_LOCK_BYTES = 64 * 1024 * 1024
STORE_TYPES = ("jks", "jceks", "pkcs12")


@dataclass(frozen=True, slots=True)
class LockedStore:
    path: str
    type: str
    sha256: str
    entries: tuple[Mapping[str, Any], ...]
    settings: str = ""  # digest of the spec settings that shape the bytes (digests.encoding_settings)
    inputs: str = ""  # digest of the entries' content per the spec and its input files (digests.content_digest)
    # the spec that made it (its file, relative to the output root); "" in a 0.1 lock: whichever spec applies
    # first takes it over
    owner: str = ""
    prevent_destroy: bool = False  # the spec said prevent_destroy: true (kept here so removing it is refused too)


@dataclass(frozen=True, slots=True)
class LockedFile:
    """One file of an export: its path, its role in the export (key, certificate, ..., secret) and sha256."""

    path: str
    role: str
    sha256: str


@dataclass(frozen=True, slots=True)
class LockedExport:
    """An export (PEM files, a Kubernetes Secret) as the last apply wrote it."""

    kind: str  # "pem" | "kubernetes_secret"
    files: tuple[LockedFile, ...]
    owner: str = ""


@dataclass(frozen=True, slots=True)
class Lock:
    keystores: Mapping[str, LockedStore]
    exports: Mapping[str, LockedExport] = field(default_factory=dict)  # absent from locks without exports


def read_lock(root: Path) -> Lock | None:
    """kstool.lock, checked: a file that is not what apply writes is an error naming it, never a traceback."""
    path = root / LOCK_NAME
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise KstoolError(f"{path}: cannot read the lock file: {e.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise _not_a_lock(path, "not a regular file")
    if info.st_size > MAX_LOCK_BYTES:
        raise _not_a_lock(path, f"larger than {MAX_LOCK_BYTES // (1024 * 1024)} MiB")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_LOCK_BYTES + 1)
    except OSError as e:
        raise KstoolError(f"{path}: cannot read the lock file: {e.strerror}") from None
    if len(data) > MAX_LOCK_BYTES:
        raise _not_a_lock(path, f"larger than {MAX_LOCK_BYTES // (1024 * 1024)} MiB")
    try:
        raw = _parse_raw(data)
        return Lock(_parse(raw), _parse_exports(raw))
    except RecursionError:
        raise _not_a_lock(path, "nested too deeply") from None
    except UnicodeDecodeError:
        raise _not_a_lock(path, "not UTF-8 text") from None
    except ValueError as e:  # json.JSONDecodeError is a ValueError
        raise _not_a_lock(path, str(e)) from None


def _not_a_lock(path: Path, why: str) -> KstoolError:
    return KstoolError(f"{path} is not a kstool lock file: {why}; fix it (e.g. the merge) or delete it and run "
                       "apply to rebuild it")


def _parse_raw(data: bytes) -> dict[str, Any]:
    raw = json.loads(data.decode("utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"a JSON {type(raw).__name__}, not an object")
    return raw


EXPORT_KINDS = ("pem", "kubernetes_secret")


def _parse_exports(raw: dict[str, Any]) -> dict[str, LockedExport]:
    """The optional ``exports`` object (kstool.lock files without exports, 0.1's included, have none)."""
    exports = raw.get("exports", {})
    if not isinstance(exports, dict):
        raise ValueError("'exports' is not an object")
    out: dict[str, LockedExport] = {}
    for name, x in exports.items():
        where = f"exports.{_short(name)}"
        if not isinstance(x, dict) or x.get("kind") not in EXPORT_KINDS or not isinstance(x.get("owner", ""), str):
            raise ValueError(f"{where} is not an object with kind {' or '.join(EXPORT_KINDS)} (and a string owner)")
        files = x.get("files")
        if not isinstance(files, list):
            raise ValueError(f"{where}.files is not a list")
        locked: list[LockedFile] = []
        for i, f in enumerate(files):
            if not isinstance(f, dict) or not all(isinstance(f.get(k), str) for k in ("path", "role", "sha256")):
                raise ValueError(f"{where}.files[{i}] is not an object with string path, role and sha256")
            problem = path_problem(f["path"])
            if problem:
                raise ValueError(f"{where}.files[{i}].path {_short(f['path'])} {problem}; kstool never touches files "
                                 "outside the output root or its own files")
            locked.append(LockedFile(posixpath.normpath(f["path"]), f["role"], f["sha256"]))
        out[name] = LockedExport(x["kind"], tuple(locked), x.get("owner", ""))
    return out


def _parse(raw: dict[str, Any]) -> dict[str, LockedStore]:
    if raw.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"format_version {_short(raw.get('format_version'))}, expected {FORMAT_VERSION}")
    stores = raw.get("keystores")
    if not isinstance(stores, dict):
        raise ValueError("'keystores' is not an object")
    return {name: _store(name, s) for name, s in stores.items()}


def _store(name: str, s: object) -> LockedStore:
    where = f"keystores.{_short(name)}"
    if not isinstance(s, dict):
        raise ValueError(f"{where} is not an object")
    for key in ("path", "type", "sha256"):
        if not isinstance(s.get(key), str):
            raise ValueError(f"{where}.{key} is missing or not a string")
    for key in ("settings", "inputs", "owner"):
        if not isinstance(s.get(key, ""), str):
            raise ValueError(f"{where}.{key} is not a string")
    if not isinstance(s.get("prevent_destroy", False), bool):
        raise ValueError(f"{where}.prevent_destroy is not true or false")
    if s["type"] not in STORE_TYPES:
        raise ValueError(f"{where}.type is {_short(s['type'])}, not one of {', '.join(STORE_TYPES)}")
    entries = s.get("entries")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError(f"{where}.entries is not a list of objects")
    problem = path_problem(s["path"])
    if problem:
        raise ValueError(f"{where}.path {_short(s['path'])} {problem}; kstool never touches files outside the "
                         "output root or its own files")
    return LockedStore(posixpath.normpath(s["path"]), s["type"], s["sha256"], tuple(entries), s.get("settings", ""),
                       s.get("inputs", ""), s.get("owner", ""), s.get("prevent_destroy", False))


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def spec_owner(spec_file: Path, root: Path) -> str:
    """How kstool.lock names the spec that owns an artifact: its file relative to the output root."""
    return Path(os.path.relpath(spec_file.resolve(), root.resolve())).as_posix()


def render_lock(stores: Mapping[str, LockedStore], exports: Mapping[str, LockedExport] | None = None) -> bytes:
    return (json.dumps(_lock_doc(stores, exports), indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def lock_renders_as(stores: Mapping[str, LockedStore], data: bytes | None,
                    exports: Mapping[str, LockedExport] | None = None) -> bool:
    """``render_lock(stores) == data``, compared as the JSON is produced: the whole text of a 10,000-store lock
    is never held (with indent, json builds it from ~100 small pieces per store)."""
    if data is None:
        return False
    encoder = json.JSONEncoder(indent=2, sort_keys=True, ensure_ascii=False)  # what json.dumps above runs
    view = memoryview(data)
    pos = 0
    for chunk in itertools.chain(encoder.iterencode(_lock_doc(stores, exports)), ("\n",)):
        piece = chunk.encode("utf-8")
        end = pos + len(piece)
        if view[pos:end] != piece:
            return False
        pos = end
    return pos == len(data)


def _lock_doc(stores: Mapping[str, LockedStore],
              exports: Mapping[str, LockedExport] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "keystores": {
            name: _render_store(s) for name, s in sorted(stores.items())
        },
    }
    if exports:  # only then: a lock without exports keeps its bytes
        doc["exports"] = {name: _render_export(x) for name, x in sorted(exports.items())}
    return doc


def _render_export(x: LockedExport) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": x.kind,
                           "files": [{"path": f.path, "role": f.role, "sha256": f.sha256} for f in x.files]}
    if x.owner:
        out["owner"] = x.owner
    return out


def _render_store(s: LockedStore) -> dict[str, Any]:
    out: dict[str, Any] = {"path": s.path, "type": s.type, "sha256": s.sha256, "settings": s.settings,
                           "inputs": s.inputs, "entries": list(s.entries)}
    if s.owner:
        out["owner"] = s.owner
    if s.prevent_destroy:
        out["prevent_destroy"] = True
    return out


def locked_store(path: str, store_type: str, data: bytes, entries: Sequence[Mapping[str, Any]], *,
                 settings: str, inputs: str, owner: str = "", prevent_destroy: bool = False) -> LockedStore:
    return LockedStore(path, store_type, hashlib.sha256(data).hexdigest(), tuple(entries), settings, inputs, owner,
                       prevent_destroy)


def lock_entry(entry: Entry) -> dict[str, Any]:
    """The public facts the lock file records for one entry."""
    facts = entry_facts(entry)
    return {k: facts[k] for k in LOCKED_FACTS if k in facts}


# every certificate fact a plan shows, so a no-op plan can show an untouched artifact's entries from the lock alone
CERT_FACTS = ("subject", "issuer", "serial", "not_before", "not_after", "sha256", "public_key_sha256", "key")
LOCKED_FACTS = ("alias", "kind", *CERT_FACTS, "chain_sha256")
