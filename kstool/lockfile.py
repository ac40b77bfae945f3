"""kstool.lock: public facts about every artifact apply wrote, meant to be committed.

Per keystore: path, type, sha256 of the file, two digests of what shaped it (``digests``) and, per entry,
alias, kind and certificate facts (fingerprints, subject, issuer, serial, validity, public-key fingerprint).
Never a secret. Stable key order, so
a pull request shows exactly which certificates change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kstool.errors import KstoolError
from kstool.facts import entry_facts
from kstool.formats.model import Entry

LOCK_NAME = "kstool.lock"
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class LockedStore:
    path: str
    type: str
    sha256: str
    entries: tuple[Mapping[str, Any], ...]
    settings: str = ""  # digest of the spec settings that shape the bytes (digests.encoding_settings)
    inputs: str = ""  # digest of the entries' content per the spec and its input files (digests.content_digest)


@dataclass(frozen=True, slots=True)
class Lock:
    keystores: Mapping[str, LockedStore]


def read_lock(root: Path) -> Lock | None:
    path = root / LOCK_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise KstoolError(f"{path}: cannot read the lock file ({e}); delete it and run apply to rebuild it") from None
    try:
        raw = json.loads(text)
        if raw.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version {raw.get('format_version')!r}")
        stores = {
            name: LockedStore(str(s["path"]), str(s["type"]), str(s["sha256"]), tuple(s["entries"]),
                              str(s.get("settings", "")), str(s.get("inputs", "")))
            for name, s in raw["keystores"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise KstoolError(f"{path}: not a kstool lock file ({e}); fix the merge or delete it and run apply "
                          "to rebuild it") from None
    return Lock(stores)


def render_lock(stores: Mapping[str, LockedStore]) -> bytes:
    doc = {
        "format_version": FORMAT_VERSION,
        "keystores": {
            name: {"path": s.path, "type": s.type, "sha256": s.sha256, "settings": s.settings,
                   "inputs": s.inputs, "entries": list(s.entries)}
            for name, s in sorted(stores.items())
        },
    }
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def locked_store(path: str, store_type: str, data: bytes, entries: Sequence[Mapping[str, Any]], *,
                 settings: str, inputs: str) -> LockedStore:
    return LockedStore(path, store_type, hashlib.sha256(data).hexdigest(), tuple(entries), settings, inputs)


def lock_entry(entry: Entry) -> dict[str, Any]:
    """The public facts the lock file records for one entry."""
    facts = entry_facts(entry)
    return {k: facts[k] for k in LOCKED_FACTS if k in facts}


# every certificate fact a plan shows, so a no-op plan can show an untouched artifact's entries from the lock alone
CERT_FACTS = ("subject", "issuer", "serial", "not_before", "not_after", "sha256", "public_key_sha256", "key")
LOCKED_FACTS = ("alias", "kind", *CERT_FACTS, "chain_sha256")
