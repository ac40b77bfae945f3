"""The core promise, for random valid specs: apply builds everything, then plan is empty and apply is a no-op.

Specs hold 1-3 keystores (JKS, JCEKS, PKCS12 in both profiles) of 1-3 entries: generated EC P-256 / Ed25519
keys (fast) with random keytool-style dnames, optional SAN DNS names and validity, and ``trusted: {entry: ...}``
references to earlier key entries. Passwords come from the environment.
"""

from __future__ import annotations

import os
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kstool.formats.codec import decode
from kstool.formats.entries import KeyEntry, TrustedEntry, detect_type
from tests.support.clirun import run, snapshot

KEYWORDS = ("CN", "OU", "O", "L", "ST", "C")
SAFE = string.ascii_letters + string.digits
PRINTABLE_ASCII = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
EXTENSIONS = {"jks": ".jks", "jceks": ".jceks", "pkcs12": ".p12"}


@dataclass(frozen=True)
class Generated:
    spec: dict[str, Any]
    env: dict[str, str]  # variable -> password


def _dn_value(keyword: str) -> st.SearchStrategy[str]:
    if keyword == "C":  # cryptography (and RFC 5280) take a two-letter country code only
        return st.text(string.ascii_uppercase, min_size=2, max_size=2)
    inner = st.text(SAFE + " .-_", max_size=12)
    return st.builds(lambda a, b, c: a + b + c if b.strip() else a + c,
                     st.sampled_from(SAFE), inner, st.text(SAFE, max_size=1))


@st.composite
def dnames(draw: st.DrawFn) -> str:
    keywords = draw(st.lists(st.sampled_from(KEYWORDS), min_size=1, max_size=6, unique=True))
    separator = draw(st.sampled_from([", ", ",", " , "]))
    return separator.join(f"{k}={draw(_dn_value(k))}" for k in keywords)


DNS_NAMES = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,8}[a-z0-9]", fullmatch=True), min_size=1, max_size=3).map(
    ".".join)
ALIASES = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9 ._-]{0,12}[A-Za-z0-9])?", fullmatch=True)
NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9._-]{0,10}", fullmatch=True)
PASSWORDS = st.text(PRINTABLE_ASCII, min_size=6, max_size=20)


@st.composite
def generate_entries(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"dname": draw(dnames())}
    body["key"] = draw(st.sampled_from([{"algorithm": "EC", "size": 256}, {"algorithm": "EC"},
                                        {"algorithm": "Ed25519"}]))
    if draw(st.booleans()):
        body["san"] = [f"dns:{name}" for name in draw(st.lists(DNS_NAMES, min_size=1, max_size=3))]
    if draw(st.booleans()):
        body["validity_days"] = draw(st.integers(1, 36500))
    return body


@st.composite
def specs(draw: st.DrawFn) -> Generated:
    names = draw(st.lists(NAMES, min_size=1, max_size=3, unique_by=str.casefold))
    env: dict[str, str] = {}
    keystores: list[dict[str, Any]] = []
    key_entries: list[str] = []  # "keystore/alias" of every key entry written so far
    for index, name in enumerate(names):
        store_type = draw(st.sampled_from(["jks", "jceks", "pkcs12"]))
        variable = f"KSTOOL_PROP_PW_{index}"
        env[variable] = draw(PASSWORDS)
        keystore: dict[str, Any] = {"name": name, "path": name + EXTENSIONS[store_type]}
        if draw(st.booleans()):
            keystore["type"] = store_type
        keystore["password"] = {"env": variable}
        if store_type != "pkcs12" and draw(st.booleans()):
            env[f"{variable}_KEY"] = draw(PASSWORDS)
            keystore["key_password"] = {"env": f"{variable}_KEY"}
        if store_type == "pkcs12" and draw(st.booleans()):
            keystore["pkcs12_profile"] = draw(st.sampled_from(["modern", "legacy"]))
        if store_type == "jceks" or draw(st.booleans()):  # JCEKS's default 200000 rounds are pure Python: slow
            keystore["iterations"] = draw(st.integers(1000, 3000))
        entries: list[dict[str, Any]] = []
        for alias in draw(st.lists(ALIASES, min_size=1, max_size=3, unique_by=str.lower)):
            if draw(st.booleans()) and key_entries:
                entries.append({"alias": alias, "trusted": {"entry": draw(st.sampled_from(key_entries))}})
            else:
                entries.append({"alias": alias, "generate": draw(generate_entries())})
        key_entries += [f"{name}/{e['alias']}" for e in entries if "generate" in e]
        keystore["entries"] = entries
        keystores.append(keystore)
    return Generated({"version": 1, "keystores": keystores}, env)


def _check_artifacts(folder: Path, generated: Generated) -> None:
    """Every keystore opens with its password and holds the spec's aliases, keys and trusted certificates."""
    for keystore in generated.spec["keystores"]:
        data = (folder / keystore["path"]).read_bytes()
        store_type = detect_type(data)
        assert store_type is not None
        assert store_type == keystore.get("type", store_type)
        key_password = generated.env.get(keystore.get("key_password", {}).get("env", ""))
        found = decode(data, store_type, generated.env[keystore["password"]["env"]], key_password=key_password)
        assert [e.alias for e in found] == [e["alias"].lower() for e in keystore["entries"]]
        for spec_entry, entry in zip(keystore["entries"], found, strict=True):
            assert isinstance(entry, KeyEntry if "generate" in spec_entry else TrustedEntry)


@settings(max_examples=int(os.environ.get("KSTOOL_PROPERTY_EXAMPLES", "15")), deadline=None,
          derandomize=not os.environ.get("KSTOOL_PROPERTY_EXAMPLES"),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(generated=specs())
def test_apply_then_plan_is_empty_and_apply_is_a_no_op(capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       generated: Generated) -> None:
    for variable, password in generated.env.items():
        monkeypatch.setenv(variable, password)
    with tempfile.TemporaryDirectory(prefix="kstool-prop-") as tmp:
        folder = Path(tmp)
        spec = folder / "kstool.yaml"
        spec.write_text(yaml.safe_dump(generated.spec, sort_keys=False, allow_unicode=True), encoding="utf-8")

        first = run(capsys, "apply", spec)
        assert first.code == 0, first.err
        _check_artifacts(folder, generated)

        plan = run(capsys, "plan", spec, "--detailed-exitcode")
        assert plan.code == 0, plan.out + plan.err

        before = snapshot(folder)
        second = run(capsys, "apply", spec)
        assert second.code == 0, second.err
        assert snapshot(folder) == before
