"""The planner as tables: (desired, observed) -> [(address, action, reasons)].

Every action and reason the README's "The plan" section lists, over hand-built Spec / Inputs / Observed objects:
no spec file is read, no file is written (``_no_writes`` makes any write an error) and no key is generated (the
keys are derived from fixed numbers at import; ``_no_keygen`` makes key generation an error). Certificates are
built once with kstool's own ``build_self_signed`` from those keys (Ed25519 and RFC 6979 ECDSA: deterministic).
"""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

import kstool.crypto.dn
import kstool.formats.jks
import kstool.formats.pkcs12  # noqa: F401  (the planner imports these lazily: imported here, before any patch)
from kstool.crypto.certs import PrivateKey, build_self_signed
from kstool.crypto.dn import parse_rdns, to_name
from kstool.crypto.san import check_san, to_general_names
from kstool.engine import _check_destroy
from kstool.engine.digests import encoding_settings
from kstool.engine.facts import cert_facts
from kstool.engine.fsutil import Ownership
from kstool.engine.inputs import Inputs, KeystoreInputs, timestamp_ms
from kstool.engine.lockfile import CERT_FACTS, LockedStore
from kstool.engine.observe import LeftAlone, Observed, ObservedStore, Orphan, Trust, Unreadable
from kstool.engine.passwords import Resolved, Secret
from kstool.engine.plan import Action, Follow, Keep, NewKey, Plan, Reissue
from kstool.engine.planner import compute_plan
from kstool.errors import KstoolError
from kstool.formats.codec import encode
from kstool.formats.entries import Entry, KeyEntry, StoreType, TrustedEntry
from kstool.spec.model import (
    EntrySpec,
    EnvRef,
    FileRef,
    Generate,
    ImportFiles,
    KeystoreSpec,
    Spec,
    TrustedCertificate,
    TrustedReference,
)
from kstool.spec.yamlload import Location

NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)
LOC = Location("kstool.yaml", 1, 1, ())
PASSWORD = "table-test-pw"
OLD_PASSWORD = "table-test-old"


# -- fixed keys: derived, never generated ---------------------------------------------------------------

def _ed(seed: int) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


KEYS: dict[str, PrivateKey] = {
    "ed-a": _ed(1),
    "ed-b": _ed(2),
    "ec-a": ec.derive_private_key(0x5EED_0001, ec.SECP256R1()),
}


@cache
def cert(key: str = "ed-a", dname: str = "CN=web", days: int = 90, san: tuple[str, ...] = (),
         issuer_key: str | None = None, issuer: str | None = None) -> bytes:
    """A certificate: self-signed like kstool's, or (``issuer``) signed by another fixed key."""
    private = KEYS[key]
    names = to_general_names(check_san(san))
    if issuer is None:
        return build_self_signed(private, to_name(parse_rdns(dname)), not_before=NOT_BEFORE, validity_days=days,
                                 san=names).public_bytes(Encoding.DER)
    signer = KEYS[issuer_key or "ed-b"]
    built = (x509.CertificateBuilder().subject_name(to_name(parse_rdns(dname)))
             .issuer_name(to_name(parse_rdns(issuer))).public_key(private.public_key()).serial_number(7)
             .not_valid_before(NOT_BEFORE).not_valid_after(NOT_BEFORE + timedelta(days=days))
             .sign(signer, None))  # Ed25519 signs without a hash
    return built.public_bytes(Encoding.DER)


def key_entry(alias: str, key: str = "ed-a", *, chain: Sequence[bytes] | None = None, **cert_args: Any) -> KeyEntry:
    """The key entry kstool writes: PKCS#8 key, chain leaf first, entry date = the leaf's notBefore."""
    chain_der = tuple(chain) if chain is not None else (cert(key, **cert_args),)
    key_der = KEYS[key].private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    return KeyEntry(alias, key_der, chain_der, timestamp_ms(x509.load_der_x509_certificate(chain_der[0])))


def trusted_entry(alias: str, der: bytes) -> TrustedEntry:
    return TrustedEntry(alias, der, timestamp_ms(x509.load_der_x509_certificate(der)))


# -- spec builders ----------------------------------------------------------------------------------------

def gen(alias: str, dname: str = "CN=web", *, algorithm: str = "Ed25519", size: int | None = None,
        days: int = 90, san: Sequence[str] = ()) -> EntrySpec:
    source = Generate(dname, parse_rdns(dname), algorithm, size, days, tuple(san),  # type: ignore[arg-type]
                      check_san(san))
    return EntrySpec(alias, source, LOC)


def imported(alias: str) -> EntrySpec:
    return EntrySpec(alias, ImportFiles(Path(f"{alias}.crt"), Path(f"{alias}.key"), None, ()), LOC)


def trusted_file(alias: str) -> EntrySpec:
    return EntrySpec(alias, TrustedCertificate(Path(f"{alias}.crt")), LOC)


def ref(alias: str, keystore: str, target: str) -> EntrySpec:
    return EntrySpec(alias, TrustedReference(keystore, target), LOC)


def ks(name: str, *entries: EntrySpec, path: str | None = None, type: StoreType = "jks",
       key_password: bool = False, previous_password: bool = False, prevent_destroy: bool = False,
       previous_name: str | None = None) -> KeystoreSpec:
    return KeystoreSpec(
        name, path or f"{name}.{'p12' if type == 'pkcs12' else type}", type, EnvRef("PW", LOC),
        EnvRef("OLD_PW", LOC) if previous_password else None, EnvRef("KEY_PW", LOC) if key_password else None,
        "modern", 1000 if type != "jks" else None, tuple(entries), LOC, previous_name=previous_name,
        prevent_destroy=prevent_destroy)


@dataclass
class Case:
    """One row of a table: the desired state, the material the inputs give, what is on disk."""

    keystores: tuple[KeystoreSpec, ...]
    material: Mapping[str, Mapping[str, Entry]] = field(default_factory=dict)  # keystore → alias → content
    stores: Mapping[str, ObservedStore] = field(default_factory=dict)
    observed: Callable[[Mapping[str, ObservedStore]], Observed] | None = None  # when more than stores
    generated_password: bool = False
    mode: int = 0o600

    def spec(self) -> Spec:
        return Spec(Path("kstool.yaml"), Path("."), self.keystores)

    def inputs(self) -> Inputs:
        def one(k: KeystoreSpec) -> KeystoreInputs:
            ref: FileRef | EnvRef = (FileRef(Path("secrets/pw"), "secrets/pw", True, LOC) if self.generated_password
                                     else EnvRef("PW", LOC))
            password = Resolved(Secret(PASSWORD), ref, generated=self.generated_password)
            key_password = Resolved(Secret("table-test-key"), EnvRef("KEY_PW", LOC)) if k.key_password else None
            previous = Resolved(Secret(OLD_PASSWORD), EnvRef("OLD_PW", LOC)) if k.previous_password else None
            return KeystoreInputs(password, previous, key_password, dict(self.material.get(k.name, {})),
                                  Ownership(self.mode),
                                  {Path("secrets/pw"): Ownership(0o600)} if self.generated_password else {})
        return Inputs({k.name: one(k) for k in self.keystores})

    def plan(self) -> Plan:
        observed = self.observed(self.stores) if self.observed else Observed(self.stores)
        return compute_plan(self.spec(), self.inputs(), observed)


def on_disk(spec_ks: KeystoreSpec, *entries: Entry, path: str | None = None, type: StoreType | None = None,
            mode: int = 0o600, data: bytes | None = None, **kw: Any) -> ObservedStore:
    """An observed store; its bytes are what kstool would write for ``entries`` under ``spec_ks``, unless given."""
    if data is None:
        data = encode(list(entries), spec_ks.type, PASSWORD,
                      key_password="table-test-key" if spec_ks.key_password else None, iterations=spec_ks.iterations)
    return ObservedStore(path or spec_ks.path, data, type or spec_ks.type, tuple(entries),
                         kw.pop("opened_with", "password"), kw.pop("key_password_changed", False), mode, **kw)


Row = tuple[str, str, tuple[str, ...]]


def rows(plan: Plan) -> list[Row]:
    """The plan as a table: keystore rows ("ks") then their entries ("ks/alias"), in plan order."""
    out: list[Row] = []
    for k in plan.keystores:
        out.append((k.name, k.action.value, k.reasons))
        out += [(f"{k.name}/{e.alias}", e.action.value, e.reasons) for e in (*k.entries, *k.deleted_entries)]
    return out


def changed(old: bytes, new: bytes) -> str:
    a, b = cert_facts(old), cert_facts(new)
    return (f"certificate changed: {a['sha256'][:16]}… (until {a['not_after']}) → {b['sha256'][:16]}… "
            f"(until {b['not_after']})")


# -- no files, no keys ------------------------------------------------------------------------------------

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@pytest.fixture(autouse=True)
def _no_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any attempt to create, write, rename or remove a file fails the test."""
    real_os_open, real_open = os.open, builtins.open

    def guarded_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & _WRITE_FLAGS and path != os.devnull:  # (ctypes.util.find_library's ldconfig child)
            raise AssertionError(f"the planner opened {path!r} for writing")
        return real_os_open(path, flags, *args, **kwargs)

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if set(mode) & set("wax+"):
            raise AssertionError(f"the planner opened {file!r} for writing")
        return real_open(file, mode, *args, **kwargs)

    def refuse(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"the planner called os.{name}{args!r}")
        return call

    monkeypatch.setattr(os, "open", guarded_os_open)
    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    for name in ("mkdir", "makedirs", "replace", "rename", "remove", "unlink", "rmdir", "symlink", "link",
                 "chmod", "chown", "truncate"):
        monkeypatch.setattr(os, name, refuse(name))
    yield


@pytest.fixture(autouse=True)
def _no_keygen(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the planner generated a key")

    monkeypatch.setattr(rsa, "generate_private_key", refuse)
    monkeypatch.setattr(ec, "generate_private_key", refuse)
    monkeypatch.setattr(ed25519.Ed25519PrivateKey, "generate", refuse)
    monkeypatch.setattr("kstool.crypto.certs.generate_private_key", refuse)


def test_the_guards_guard() -> None:
    """The two fixtures above really refuse (else every table below would prove nothing about files and keys)."""
    with pytest.raises(AssertionError, match="for writing"):
        open("never-written", "w")  # noqa: SIM115
    with pytest.raises(AssertionError, match="for writing"):
        os.open("never-written", os.O_CREAT | os.O_WRONLY)
    with pytest.raises(AssertionError, match="for writing"):
        Path("never-written").write_bytes(b"x")
    with pytest.raises(AssertionError, match=r"os\.replace"):
        os.replace("a", "b")
    with pytest.raises(AssertionError, match="generated a key"):
        ed25519.Ed25519PrivateKey.generate()
    assert not Path("never-written").exists()


# -- entries: generate ------------------------------------------------------------------------------------

WEB = ks("server", gen("web"))
REISSUED = ("certificate reissued for the same key",)


def _generated_cases() -> Iterator[Any]:
    yield pytest.param(Case((WEB,)), [("server", "create", ("new keystore",)),
                                      ("server/web", "create", ("new entry",))], id="create-keystore")
    yield pytest.param(Case((WEB,), stores={"server": on_disk(WEB, key_entry("web"))}),
                       [("server", "no-op", ()), ("server/web", "no-op", ())], id="no-op")
    yield pytest.param(Case((ks("server", gen("web"), gen("api", "CN=api")),),
                            stores={"server": on_disk(WEB, key_entry("web"))}),
                       [("server", "update", ()), ("server/web", "no-op", ()),
                        ("server/api", "create", ("new entry",))],
                       id="create-entry")
    yield pytest.param(Case((ks("server", gen("web", algorithm="EC", size=256)),),
                            stores={"server": on_disk(WEB, key_entry("web"))}),
                       [("server", "update", ()), ("server/web", "replace", ("key changed: Ed25519 → EC 256",))],
                       id="replace-key-algorithm")
    yield pytest.param(Case((ks("server", gen("web", algorithm="EC", size=384)),),
                            stores={"server": on_disk(WEB, key_entry("web", "ec-a"))}),
                       [("server", "update", ()), ("server/web", "replace", ("key changed: EC 256 → EC 384",))],
                       id="replace-key-size")
    yield pytest.param(Case((ks("server", gen("web", "CN=web2")),), stores={"server": on_disk(WEB, key_entry("web"))}),
                       [("server", "update", ()), ("server/web", "replace", ("dname changed: CN=web → CN=web2",))],
                       id="replace-dname")
    yield pytest.param(Case((ks("server", gen("web", "CN=web2", algorithm="EC", size=256)),),
                            stores={"server": on_disk(WEB, key_entry("web"))}),
                       [("server", "update", ()),
                        ("server/web", "replace",
                         ("key changed: Ed25519 → EC 256", "dname changed: CN=web → CN=web2"))],
                       id="replace-key-and-dname")
    yield pytest.param(Case((ks("server", gen("web", san=["dns:web.example"])),),
                            stores={"server": on_disk(WEB, key_entry("web"))}),
                       [("server", "update", ()),
                        ("server/web", "update", ("san changed: none → [dns:web.example]", *REISSUED))],
                       id="update-san-added")
    yield pytest.param(Case((ks("server", gen("web", days=365)),), stores={"server": on_disk(WEB, key_entry("web"))}),
                       [("server", "update", ()),
                        ("server/web", "update", ("validity changed: 90 → 365 days", *REISSUED))],
                       id="update-validity")
    yield pytest.param(Case((ks("server", gen("web", days=30, san=["ip:10.0.0.1"])),),
                            stores={"server": on_disk(WEB, key_entry("web"))}),
                       [("server", "update", ()),
                        ("server/web", "update", ("san changed: none → [ip:10.0.0.1]",
                                                  "validity changed: 90 → 30 days", *REISSUED))],
                       id="update-san-and-validity")
    signed = key_entry("web", chain=[cert("ed-a", issuer="CN=ca")])
    yield pytest.param(Case((WEB,), stores={"server": on_disk(WEB, signed)}),
                       [("server", "update", ()),
                        ("server/web", "update", ("certificate is not self-signed", *REISSUED))],
                       id="update-not-self-signed")
    yield pytest.param(Case((WEB,), stores={"server": on_disk(WEB, trusted_entry("web", cert("ed-b")))}),
                       [("server", "update", ()), ("server/web", "replace", ("entry kind changed: trusted → key",))],
                       id="replace-trusted-by-generated")


@pytest.mark.parametrize(("case", "expected"), list(_generated_cases()))
def test_generated_entries(case: Case, expected: list[Row]) -> None:
    assert rows(case.plan()) == expected


def test_update_reissues_with_the_same_key_and_replace_makes_a_new_one() -> None:
    old = key_entry("web")
    reissue = Case((ks("server", gen("web", days=365)),), stores={"server": on_disk(WEB, old)}).plan()
    build = reissue.keystores[0].entries[0].build
    assert isinstance(build, Reissue)
    assert build.key_der == old.key_der
    replace = Case((ks("server", gen("web", "CN=other")),), stores={"server": on_disk(WEB, old)}).plan()
    assert isinstance(replace.keystores[0].entries[0].build, NewKey)
    assert [(d.keystore, d.alias, d.action) for d in replace.destroyed_keys()] == [("server", "web", Action.REPLACE)]
    assert reissue.destroyed_keys() == ()


# -- SAN normalisation: names, not text -------------------------------------------------------------------

@pytest.mark.parametrize(("on_cert", "in_spec", "same"), [
    pytest.param(("ip:::1",), ("ip:0:0:0:0:0:0:0:1",), True, id="ipv6-forms"),
    pytest.param(("ip:2001:db8::1",), ("ip:2001:0DB8:0:0:0:0:0:0001",), True, id="ipv6-case-and-zeros"),
    # IPv4-mapped IPv6 is other bytes than IPv4
    pytest.param(("ip:::ffff:1.2.3.4",), ("ip:1.2.3.4",), False, id="ipv4-mapped-is-not-ipv4"),
    pytest.param(("dns:web.example",), ("DNS:Web.EXAMPLE",), True, id="dns-case"),
    pytest.param(("email:ops@x.org",), ("email:ops@X.ORG",), True, id="email-domain-case"),
    pytest.param(("email:Ops@x.org",), ("email:ops@x.org",), False, id="email-local-part-case"),
    pytest.param(("uri:https://x.org/A",), ("uri:https://x.org/a",), False, id="uri-case"),
    pytest.param(("uri:https://x.org/a",), ("URI:https://x.org/a",), True, id="type-prefix-case"),
    pytest.param(("dns:a.example", "dns:b.example"), ("dns:b.example", "dns:a.example"), False, id="order"),
    pytest.param(("dns:a.example",), ("dns:a.example", "dns:b.example"), False, id="added"),
])
def test_san_is_compared_as_names(on_cert: tuple[str, ...], in_spec: tuple[str, ...], same: bool) -> None:
    desired = ks("server", gen("web", san=in_spec))
    plan = Case((desired,), stores={"server": on_disk(desired, key_entry("web", san=on_cert))}).plan()
    entry = plan.keystores[0].entries[0]
    if same:
        assert (entry.action, entry.reasons) == (Action.NOOP, ())
    else:
        def text(items: tuple[str, ...]) -> str:
            return "[" + ", ".join(f"{k.lower()}:{v}" for k, _, v in (i.partition(":") for i in items)) + "]"
        assert entry.action is Action.UPDATE
        assert entry.reasons[1:] == REISSUED
        assert entry.reasons[0].startswith("san changed: [")  # the certificate's side as cryptography reads it
        assert entry.reasons[0].endswith(f"] → {text(in_spec)}")


# -- entries: import and trusted certificate files ----------------------------------------------------------

GW = ks("gw", imported("gw"), trusted_file("root"))
GW_ENTRY = key_entry("gw", "ec-a", dname="CN=gw")
ROOT = trusted_entry("root", cert("ed-b", dname="CN=root"))


def _material(**changes: Entry) -> dict[str, dict[str, Entry]]:
    return {"gw": {"gw": GW_ENTRY, "root": ROOT, **changes}}


def _import_cases() -> Iterator[Any]:
    renewed = key_entry("gw", "ec-a", dname="CN=gw", days=365)
    other_key = key_entry("gw", "ed-a", dname="CN=gw")
    with_chain = key_entry("gw", "ec-a", chain=[cert("ec-a", dname="CN=gw"), cert("ed-b", dname="CN=root")])
    new_root = trusted_entry("root", cert("ed-b", dname="CN=root", days=365))
    disk = {"gw": on_disk(GW, GW_ENTRY, ROOT)}
    yield pytest.param(Case((GW,), _material()), [("gw", "create", ("new keystore",)),
                                                  ("gw/gw", "create", ("new entry",)),
                                                  ("gw/root", "create", ("new entry",))], id="create")
    yield pytest.param(Case((GW,), _material(), disk),
                       [("gw", "no-op", ()), ("gw/gw", "no-op", ()), ("gw/root", "no-op", ())], id="no-op")
    yield pytest.param(Case((GW,), _material(gw=renewed), disk),
                       [("gw", "update", ()), ("gw/gw", "update", (changed(GW_ENTRY.chain_der[0],
                                                                           renewed.chain_der[0]),)),
                        ("gw/root", "no-op", ())], id="update-renewed-certificate")
    yield pytest.param(Case((GW,), _material(gw=with_chain), disk),
                       [("gw", "update", ()), ("gw/gw", "update", ("chain changed: 1 → 2 certificates",)),
                        ("gw/root", "no-op", ())], id="update-chain")
    yield pytest.param(Case((GW,), _material(gw=other_key), disk),
                       [("gw", "update", ()), ("gw/gw", "replace", ("private key changed",)),
                        ("gw/root", "no-op", ())], id="replace-private-key")
    yield pytest.param(Case((GW,), _material(root=new_root), disk),
                       [("gw", "update", ()), ("gw/gw", "no-op", ()),
                        ("gw/root", "update", (changed(ROOT.cert_der, new_root.cert_der),))], id="update-trusted")
    yield pytest.param(Case((GW,), _material(), {"gw": on_disk(GW, trusted_entry("gw", GW_ENTRY.chain_der[0]),
                                                               ROOT)}),
                       [("gw", "update", ()), ("gw/gw", "replace", ("entry kind changed: trusted → key",)),
                        ("gw/root", "no-op", ())], id="replace-trusted-by-key")
    yield pytest.param(Case((GW,), _material(), {"gw": on_disk(GW, GW_ENTRY, key_entry("root", "ed-b",
                                                                                         dname="CN=root"))}),
                       [("gw", "update", ()), ("gw/gw", "no-op", ()),
                        ("gw/root", "replace", ("entry kind changed: key → trusted",))], id="replace-key-by-trusted")


@pytest.mark.parametrize(("case", "expected"), list(_import_cases()))
def test_import_and_trusted_entries(case: Case, expected: list[Row]) -> None:
    assert rows(case.plan()) == expected


# -- deletes, renames of aliases --------------------------------------------------------------------------

def _alias_cases() -> Iterator[Any]:
    yield pytest.param(Case((WEB,), stores={"server": on_disk(WEB, key_entry("web"),
                                                              key_entry("old", "ed-b", dname="CN=old"))}),
                       [("server", "update", ()), ("server/web", "no-op", ()),
                        ("server/old", "delete", ("entry not in spec",))], id="delete-alias-not-in-spec")
    renamed = ks("server", gen("www"))
    yield pytest.param(Case((renamed,), stores={"server": on_disk(WEB, key_entry("web"))}),
                       [("server", "update", ()), ("server/www", "update", ("alias changed: web → www",))],
                       id="rename-generated")
    moved_import = ks("gw", imported("gateway"))
    yield pytest.param(Case((moved_import,), {"gw": {"gateway": GW_ENTRY}},
                            {"gw": on_disk(GW, key_entry("gw", "ec-a", dname="CN=gw"))}),
                       [("gw", "update", ()), ("gw/gateway", "update", ("alias changed: gw → gateway",))],
                       id="rename-import")
    # a rename needs exactly one candidate: two that fit are a create and two deletes
    two = ks("server", gen("www"))
    twins = on_disk(WEB, key_entry("a"), key_entry("b"))
    yield pytest.param(Case((two,), stores={"server": twins}),
                       [("server", "update", ()), ("server/www", "create", ("new entry",)),
                        ("server/a", "delete", ("entry not in spec",)), ("server/b", "delete", ("entry not in spec",))],
                       id="rename-ambiguous")
    # one existing entry is renamed once: a second alias that fits it too is created
    twice = ks("server", gen("www"), gen("www2"))
    yield pytest.param(Case((twice,), stores={"server": on_disk(WEB, key_entry("web"))}),
                       [("server", "update", ()), ("server/www", "update", ("alias changed: web → www",)),
                        ("server/www2", "create", ("new entry",))], id="rename-taken-once")
    # an alias the spec still lists is never taken over by a rename
    both = ks("server", gen("web", "CN=web2"), gen("www"))
    yield pytest.param(Case((both,), stores={"server": on_disk(WEB, key_entry("web"))}),
                       [("server", "update", ()), ("server/web", "replace", ("dname changed: CN=web → CN=web2",)),
                        ("server/www", "create", ("new entry",))], id="claimed-alias-not-renamed")


@pytest.mark.parametrize(("case", "expected"), list(_alias_cases()))
def test_aliases(case: Case, expected: list[Row]) -> None:
    assert rows(case.plan()) == expected


def test_only_key_entries_are_destroyed_keys() -> None:
    """A deleted or replaced trusted certificate destroys no key; a key entry turned into a reference does."""
    store = on_disk(WEB, key_entry("web"), trusted_entry("ca", cert("ed-b", dname="CN=ca")))
    plan = Case((WEB,), stores={"server": store}).plan()
    assert rows(plan)[-1] == ("server/ca", "delete", ("entry not in spec",))
    assert plan.destroyed_keys() == ()
    was_key = Case((WEB, TRUST), stores={"server": on_disk(WEB, key_entry("web")),
                                         "trust": on_disk(TRUST, key_entry("web", "ed-b"))}).plan()
    assert [(d.keystore, d.alias, d.action) for d in was_key.destroyed_keys()] == [("trust", "web", Action.REPLACE)]


def test_alias_rename_keeps_the_key() -> None:
    old = key_entry("web")
    plan = Case((ks("server", gen("www")),), stores={"server": on_disk(WEB, old)}).plan()
    build = plan.keystores[0].entries[0].build
    assert isinstance(build, Keep) and isinstance(build.entry, KeyEntry)
    assert (build.entry.alias, build.entry.key_der) == ("www", old.key_der)
    assert plan.destroyed_keys() == ()


# -- keystores: path, type, passwords, modes, previous_name, re-encoding --------------------------------------

NOOP_WEB = ("server/web", "no-op", ())


def _keystore_cases() -> Iterator[Any]:
    entry = key_entry("web")
    yield pytest.param(Case((ks("server", gen("web"), path="tls/server.jks"),), stores={"server": on_disk(WEB, entry)}),
                       [("server", "update", ("path changed: server.jks → tls/server.jks",)), NOOP_WEB],
                       id="path-move")
    as_p12 = ks("server", gen("web"), type="pkcs12", path="server.jks")
    yield pytest.param(Case((as_p12,), stores={"server": on_disk(WEB, entry)}),
                       [("server", "update", ("type changed: jks → pkcs12",)), NOOP_WEB], id="type-jks-to-pkcs12")
    as_jceks = ks("server", gen("web"), type="jceks", path="server.jks")
    yield pytest.param(Case((as_jceks,), stores={"server": on_disk(WEB, entry)}),
                       [("server", "update", ("type changed: jks → jceks",)), NOOP_WEB], id="type-jks-to-jceks")
    rotating = ks("server", gen("web"), previous_password=True)
    yield pytest.param(Case((rotating,), stores={"server": on_disk(rotating, entry, opened_with="previous_password")}),
                       [("server", "update", ("password changed",)), NOOP_WEB], id="password-rotation")
    key_pw = ks("server", gen("web"), key_password=True)
    yield pytest.param(Case((key_pw,), stores={"server": on_disk(key_pw, entry, key_password_changed=True)}),
                       [("server", "update", ("key password changed",)), NOOP_WEB], id="key-password-rotation")
    yield pytest.param(Case((rotating,), stores={"server": on_disk(rotating, entry, opened_with="previous_password",
                                                                   key_password_changed=True)}),
                       [("server", "update", ("password changed", "key password changed")), NOOP_WEB],
                       id="both-passwords-rotate")
    yield pytest.param(Case((rotating,), stores={"server": on_disk(rotating, entry)}),
                       [("server", "no-op", ()), NOOP_WEB], id="previous-password-not-needed")
    new_name = ks("srv", gen("web"), previous_name="server")
    yield pytest.param(Case((new_name,), stores={"srv": on_disk(new_name, entry, path="server.jks",
                                                                renamed_from="server")}),
                       [("srv", "update", ("renamed: server → srv (previous_name); its keys are kept",
                                           "path changed: server.jks → srv.jks")), ("srv/web", "no-op", ())],
                       id="previous-name")
    yield pytest.param(Case((WEB,), stores={"server": on_disk(WEB, entry, mode=0o644)}),
                       [("server", "update",
                         ("file mode 0644 lets group or others read it; apply rewrites it as 0600",)),
                        NOOP_WEB], id="mode-too-open")
    yield pytest.param(Case((WEB,), stores={"server": on_disk(WEB, entry)}, mode=0o640),
                       [("server", "update", ("file mode 0600 differs from the spec's 0640; apply sets it",)),
                        NOOP_WEB],
                       id="mode-differs")
    yield pytest.param(Case((WEB,), stores={"server": on_disk(WEB, entry, data=b"\xfe\xed\xfe\xedother bytes")}),
                       [("server", "update", ("re-encoded: the file's bytes differ from what kstool writes for these "
                                              "entries (encoding, iteration count, timestamps or entry order)",)),
                        NOOP_WEB], id="re-encoded")


@pytest.mark.parametrize(("case", "expected"), list(_keystore_cases()))
def test_keystores(case: Case, expected: list[Row]) -> None:
    assert rows(case.plan()) == expected


def test_moves_and_reencodings_keep_every_key() -> None:
    """A path move, a type change, a rename or a password rotation re-encodes the same keys: nothing destroyed."""
    entry = key_entry("web")
    for desired, store in [
        (ks("server", gen("web"), path="x/server.jks"), on_disk(WEB, entry)),
        (ks("server", gen("web"), type="pkcs12", path="server.jks"), on_disk(WEB, entry)),
        (ks("server", gen("web"), previous_password=True), on_disk(WEB, entry, opened_with="previous_password")),
    ]:
        plan = Case((desired,), stores={"server": store}).plan()
        change = plan.keystores[0]
        assert change.action is Action.UPDATE
        assert plan.destroyed_keys() == ()
        build = change.entries[0].build
        assert isinstance(build, Keep) and isinstance(build.entry, KeyEntry)
        assert build.entry.key_der == entry.key_der
        assert change.expected is not None  # every byte is known at plan time: nothing to generate
    moved = Case((ks("server", gen("web"), path="x/server.jks"),), stores={"server": on_disk(WEB, entry)}).plan()
    assert moved.keystores[0].moved_from == "server.jks"


def test_no_op_expected_bytes_are_the_file() -> None:
    store = on_disk(WEB, key_entry("web"))
    plan = Case((WEB,), stores={"server": store}).plan()
    assert plan.keystores[0].expected == store.data
    assert not plan.has_changes


def test_generated_password_file_is_a_change() -> None:
    plan = Case((WEB,), stores={"server": on_disk(WEB, key_entry("web"))}, generated_password=True).plan()
    assert rows(plan) == [("server", "no-op", ()), NOOP_WEB]
    assert plan.keystores[0].password_files == ("secrets/pw",)
    assert plan.has_changes


def test_password_file_mode_fix() -> None:
    case = Case((WEB,), stores={"server": on_disk(WEB, key_entry("web"))}, generated_password=True,
                observed=lambda stores: Observed(stores, password_files={Path("secrets/pw"): (0o644, 0, 0)}))
    assert case.plan().keystores[0].password_file_fixes == ("secrets/pw: mode 0644 → 0600",)


# -- trusted {entry:} references -------------------------------------------------------------------------------

TRUST = ks("trust", ref("web", "server", "web"))


def _reference_cases() -> Iterator[Any]:
    entry = key_entry("web")
    leaf = entry.chain_der[0]
    both = {"server": on_disk(WEB, entry), "trust": on_disk(TRUST, trusted_entry("web", leaf))}
    yield pytest.param(Case((WEB, TRUST)),
                       [("server", "create", ("new keystore",)), ("server/web", "create", ("new entry",)),
                        ("trust", "create", ("new keystore",)),
                        ("trust/web", "create", ("new entry", "follows server/web, which is created"))],
                       id="both-new")
    yield pytest.param(Case((WEB, TRUST), stores=both),
                       [("server", "no-op", ()), NOOP_WEB, ("trust", "no-op", ()), ("trust/web", "no-op", ())],
                       id="no-op")
    yield pytest.param(Case((WEB, TRUST), stores={"server": on_disk(WEB, entry)}),
                       [("server", "no-op", ()), NOOP_WEB, ("trust", "create", ("new keystore",)),
                        ("trust/web", "create", ("new entry",))], id="truststore-new-target-known")
    replaced = ks("server", gen("web", "CN=web2"))
    yield pytest.param(Case((replaced, TRUST), stores=both),
                       [("server", "update", ()), ("server/web", "replace", ("dname changed: CN=web → CN=web2",)),
                        ("trust", "update", ()), ("trust/web", "update", ("follows server/web, which is replaced",))],
                       id="follows-replaced-key")
    reissued = ks("server", gen("web", days=30))
    yield pytest.param(Case((reissued, TRUST), stores=both),
                       [("server", "update", ()),
                        ("server/web", "update", ("validity changed: 90 → 30 days", *REISSUED)),
                        ("trust", "update", ()), ("trust/web", "update", ("follows server/web, which is reissued",))],
                       id="follows-reissued")
    chained = ks("edge", ref("web", "trust", "web"))
    yield pytest.param(Case((replaced, TRUST, chained), stores=both),
                       [("server", "update", ()), ("server/web", "replace", ("dname changed: CN=web → CN=web2",)),
                        ("trust", "update", ()), ("trust/web", "update", ("follows server/web, which is replaced",)),
                        ("edge", "create", ("new keystore",)),
                        ("edge/web", "create", ("new entry", "follows server/web, which is replaced"))],
                       id="chain-of-references")
    stale = {"server": on_disk(WEB, entry), "trust": on_disk(TRUST, trusted_entry("web", cert("ed-b")))}
    yield pytest.param(Case((WEB, TRUST), stores=stale),
                       [("server", "no-op", ()), NOOP_WEB, ("trust", "update", ()),
                        ("trust/web", "update", (changed(cert("ed-b"), leaf), "follows server/web"))],
                       id="truststore-out-of-date")
    was_key = {"server": on_disk(WEB, entry), "trust": on_disk(TRUST, key_entry("web", "ed-b"))}
    yield pytest.param(Case((WEB, TRUST), stores=was_key),
                       [("server", "no-op", ()), NOOP_WEB, ("trust", "update", ()),
                        ("trust/web", "replace", ("entry kind changed: key → trusted",))], id="key-becomes-reference")
    renewed = key_entry("gw", "ec-a", dname="CN=gw", days=365)
    to_gw = ks("trust", ref("gw", "gw", "gw"))
    gw_disk = {"gw": on_disk(GW, GW_ENTRY, ROOT), "trust": on_disk(to_gw, trusted_entry("gw", GW_ENTRY.chain_der[0]))}
    yield pytest.param(Case((GW, to_gw), _material(gw=renewed), gw_disk),
                       [("gw", "update", ()),
                        ("gw/gw", "update", (changed(GW_ENTRY.chain_der[0], renewed.chain_der[0]),)),
                        ("gw/root", "no-op", ()), ("trust", "update", ()),
                        ("trust/gw", "update", (changed(GW_ENTRY.chain_der[0], renewed.chain_der[0]),
                                                "follows gw/gw"))], id="follows-renewed-import")


@pytest.mark.parametrize(("case", "expected"), list(_reference_cases()))
def test_trusted_references(case: Case, expected: list[Row]) -> None:
    assert rows(case.plan()) == expected


def test_reference_to_a_new_key_is_built_after_it() -> None:
    plan = Case((ks("server", gen("web", "CN=web2")), TRUST),
                stores={"server": on_disk(WEB, key_entry("web")),
                        "trust": on_disk(TRUST, trusted_entry("web", cert()))}).plan()
    follow = plan.keystores[1].entries[0].build
    assert follow == Follow("server", "web")
    assert plan.keystores[1].expected is None  # its bytes depend on a key apply generates


# -- keystores removed from the spec, unreadable, left alone, other specs -------------------------------------

ORPHAN = Orphan("old", "old.jks", "jks", b"bytes",
                ({"alias": "k", "kind": "key", "subject": "CN=k"},
                 {"alias": "ca", "kind": "trusted", "subject": "CN=ca"}))


def test_keystore_removed_from_spec_is_deleted() -> None:
    plan = Case((WEB,), stores={"server": on_disk(WEB, key_entry("web"))},
                observed=lambda s: Observed(s, orphans=(ORPHAN,))).plan()
    assert rows(plan) == [("server", "no-op", ()), NOOP_WEB, ("old", "delete", ("keystore not in spec",)),
                          ("old/k", "delete", ("keystore not in spec",)),
                          ("old/ca", "delete", ("keystore not in spec",))]
    assert [(d.keystore, d.alias, d.action, d.reason) for d in plan.destroyed_keys()] == [
        ("old", "k", Action.DELETE, "keystore not in spec")]
    assert plan.summary() == {"create": 0, "update": 0, "replace": 0, "delete": 1, "no-op": 1}


def test_left_alone_and_other_specs() -> None:
    other = LockedStore("b.jks", "jks", "0" * 64, (), owner="other.yaml")
    plan = Case((WEB,), stores={"server": on_disk(WEB, key_entry("web"))},
                observed=lambda s: Observed(s, left_alone=(LeftAlone("gone", "gone.jks", "not kstool's file"),),
                                            foreign={"b": other})).plan()
    assert plan.left_alone == (("gone", "gone.jks", "not kstool's file"),)
    assert plan.foreign == (("b", "b.jks", "other.yaml"),)
    assert plan.has_changes  # apply forgets the left-alone record


def test_unreadable_store_is_rebuilt_and_destroys_unknown_keys() -> None:
    plan = Case((WEB,), observed=lambda s: Observed(s, unreadable={"server": Unreadable("server.jks", b"x", "bad MAC")})
                ).plan()
    why = "the existing file cannot be opened and is rebuilt from the spec: bad MAC"
    assert rows(plan) == [("server", "replace", (why,)), ("server/web", "create", ("new entry",))]
    assert [(d.alias, d.action) for d in plan.destroyed_keys()] == [("*", Action.REPLACE)]


# -- prevent_destroy, destroyed keys -----------------------------------------------------------------------------

@pytest.mark.parametrize(("desired", "observed", "destroyed"), [
    pytest.param(ks("server", gen("web", "CN=x"), prevent_destroy=True), None, [("server", "web", "replace")],
                 id="replaced-key"),
    pytest.param(ks("server", prevent_destroy=True), None, [("server", "web", "delete")], id="deleted-entry"),
    pytest.param(ks("other", gen("k"), prevent_destroy=False), Orphan("server", "server.jks", "jks", b"",
                                                                      ({"alias": "web", "kind": "key"},), True),
                 [("server", "web", "delete")], id="keystore-removed"),
])
def test_prevent_destroy_refuses(desired: KeystoreSpec, observed: Orphan | None,
                                 destroyed: list[tuple[str, str, str]]) -> None:
    stores = {} if observed else {desired.name: on_disk(WEB, key_entry("web"))}
    plan = Case((desired,), stores=stores,
                observed=lambda s: Observed(s, orphans=(observed,) if observed else ())).plan()
    assert [(d.keystore, d.alias, d.action.value) for d in plan.destroyed_keys()] == destroyed
    with pytest.raises(KstoolError, match="prevent_destroy: true"):
        _check_destroy(plan)


def test_prevent_destroy_allows_what_keeps_keys() -> None:
    desired = ks("server", gen("www", days=30), gen("web", days=30), prevent_destroy=True, path="a/server.jks")
    plan = Case((desired,), stores={"server": on_disk(WEB, key_entry("web"))}).plan()
    assert plan.destroyed_keys() == ()
    _check_destroy(plan)  # reissues, creates and moves destroy nothing


# -- the no-op fast path: what kstool.lock vouches for ------------------------------------------------------------

def test_locked_store_is_no_op_from_the_lock_alone() -> None:
    facts = {k: f"{k}-value" for k in CERT_FACTS}
    locked = LockedStore("server.jks", "jks", "0" * 64, ({"alias": "web", "kind": "key", **facts},))
    store = ObservedStore("server.jks", b"locked bytes", "jks", (), "password", False, 0o600,
                          locked_settings=encoding_settings(WEB), trust=Trust.DESCRIBED, locked=locked)
    plan = Case((WEB,), stores={"server": store}).plan()
    assert rows(plan) == [("server", "no-op", ()), NOOP_WEB]
    assert plan.keystores[0].entries[0].before == facts
    assert plan.keystores[0].expected == b"locked bytes"


def test_locked_settings_skip_the_re_encoding() -> None:
    """Settings the lock recorded and an unchanged content: the file's bytes are trusted without re-encoding."""
    entry = key_entry("web")
    store = on_disk(WEB, entry, data=b"what the lock recorded", locked_settings=encoding_settings(WEB))
    plan = Case((WEB,), stores={"server": store}).plan()
    assert rows(plan) == [("server", "no-op", ()), NOOP_WEB]
    stale = on_disk(WEB, entry, data=b"what the lock recorded", locked_settings="another digest")
    assert Case((WEB,), stores={"server": stale}).plan().keystores[0].action is Action.UPDATE


def test_partial_store_bytes_are_not_known() -> None:
    """A store opened without its keys (fast path) cannot be re-encoded: expected is None, so prepare() opens it."""
    entry = key_entry("web")
    partial = KeyEntry("web", b"", entry.chain_der, entry.timestamp_ms)
    store = on_disk(WEB, partial, data=b"bytes", trust=Trust.PARTIAL)
    plan = Case((ks("server", gen("web"), path="moved.jks"),), stores={"server": store}).plan()
    assert plan.keystores[0].action is Action.UPDATE
    assert plan.keystores[0].expected is None


# -- the headline counts ------------------------------------------------------------------------------------------

def test_summaries() -> None:
    plan = Case((ks("server", gen("web", "CN=x"), gen("api", "CN=api")), ks("new", gen("n"))),
                stores={"server": on_disk(WEB, key_entry("web"), key_entry("gone", "ed-b"))}).plan()
    # a keystore that replaces a key is counted as a replace, in the JSON summary as in the human headline
    assert plan.summary() == {"create": 1, "update": 0, "replace": 1, "delete": 0, "no-op": 0}
    assert plan.entry_summary() == {"create": 2, "update": 0, "replace": 1, "delete": 1, "no-op": 0}
