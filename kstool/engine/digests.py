"""The two digests kstool.lock records per keystore so that a no-op plan can trust an artifact without opening it.

``encoding_settings``: what shapes the bytes besides the entries' content and the passwords. ``content_digest``:
the entries' content as the spec and its input files describe it (public parts only: certificate digests, never
a key or a password). A file whose SHA-256, settings and content digests all match the lock holds exactly what
apply would write; its password is still proven by the store's integrity check.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from kstool.crypto.san import san_key
from kstool.engine.inputs import KeystoreInputs
from kstool.formats.entries import Entry, KeyEntry
from kstool.spec.model import EntrySpec, Generate, KeystoreSpec, TrustedReference

ENCODER_VERSION = 2  # bump when an encoder's output changes for the same inputs


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()


def encoding_settings(ks: KeystoreSpec) -> str:
    """A digest of what shapes an artifact's bytes besides its entries' content and its passwords.

    When a file's SHA-256 is the one the lock recorded and this digest is unchanged, re-encoding the same
    entries would give the same bytes, so a no-op plan skips it.
    """
    settings = [ENCODER_VERSION, ks.type, ks.pkcs12_profile if ks.type == "pkcs12" else None, ks.iterations,
                ks.key_password is not None, [e.alias for e in ks.entries]]
    return _digest(settings)


def content_digest(ks: KeystoreSpec, ki: KeystoreInputs) -> str:
    """A digest of every entry's content as the spec and the input files give it; "" when the store holds a
    trusted reference (its content lives in another keystore's file).

    It covers exactly what the planner compares: a generated entry's key algorithm and size, subject, SANs
    (normalised as the planner compares them: ``kstool.crypto.san.san_key``) and validity; an imported or trusted
    entry's certificates and entry date.
    """
    return entries_digest(ks.entries, ki.material)


def entries_digest(entries: Sequence[EntrySpec], material: Mapping[str, Entry]) -> str:
    """``content_digest`` of these entries with this content (a key entry's ``key_der`` plays no part: a
    no-secrets plan passes public certificates only)."""
    items: list[Any] = []
    for entry in entries:
        source = entry.source
        if isinstance(source, TrustedReference):
            return ""
        if isinstance(source, Generate):
            items.append(["generate", entry.alias, source.algorithm, source.size, source.rdns,
                          [san_key(s) for s in source.san_items], source.validity_days])
            if source.ca or source.issuer or source.usage:  # only then: a 0.1 lock's digests stay valid
                items[-1].append(["ca", source.ca, source.path_length, source.issuer, list(source.usage)])
            if source.reply is not None:
                reply = material[entry.alias]
                assert isinstance(reply, KeyEntry)
                items[-1].append(["reply", [hashlib.sha256(c).hexdigest() for c in reply.chain_der]])
            continue
        content = material[entry.alias]
        certs = content.chain_der if isinstance(content, KeyEntry) else (content.cert_der,)
        items.append(["key" if isinstance(content, KeyEntry) else "trusted", entry.alias,
                      [hashlib.sha256(c).hexdigest() for c in certs], content.timestamp_ms])
    return _digest([ENCODER_VERSION, items])
