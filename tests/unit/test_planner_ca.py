"""The planner's CA rows as tables (issue 14): reissues followed through issuers, keys kept; no file, no new key."""

from __future__ import annotations

from functools import cache

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from kstool.crypto.certs import build_issued
from kstool.crypto.dn import parse_rdns, to_name
from kstool.engine.plan import Keep, Reissue
from kstool.spec.model import EntrySpec, Generate
from tests.unit.test_planner import (  # noqa: F401  (the autouse guards: no writes, no key generation)
    KEYS,
    LOC,
    NOT_BEFORE,
    REISSUED,
    Case,
    _no_keygen,
    _no_writes,
    key_entry,
    ks,
    on_disk,
    ref,
    rows,
    trusted_entry,
)


def gen(alias: str, dname: str, *, days: int = 90, ca: bool = False, issuer: tuple[str, str] | None = None,
        usage: tuple[str, ...] = ()) -> EntrySpec:
    source = Generate(dname, parse_rdns(dname), "Ed25519", None, days, (), (), ca=ca, path_length=0 if ca else None,
                      issuer=issuer, usage=usage)
    return EntrySpec(alias, source, LOC)


@cache
def root_cert(key: str = "ed-b", days: int = 365) -> bytes:
    return build_issued(KEYS[key], to_name(parse_rdns("CN=Root")), not_before=NOT_BEFORE, validity_days=days,
                        ca=True, path_length=0).public_bytes(Encoding.DER)


@cache
def leaf_cert(root: bytes, usage: tuple[str, ...] = ()) -> bytes:
    return build_issued(KEYS["ed-a"], to_name(parse_rdns("CN=web")), not_before=NOT_BEFORE, validity_days=90,
                        usage=usage, issuer_key=KEYS["ed-b"],
                        issuer_cert=x509.load_der_x509_certificate(root)).public_bytes(Encoding.DER)


def case(*, root_days: int = 365, usage: tuple[str, ...] = (), stored_root: bytes | None = None,
         leaf_root: bytes | None = None, root_dname: str = "CN=Root") -> Case:
    ca = ks("ca", gen("root", root_dname, days=root_days, ca=True))
    app = ks("app", gen("web", "CN=web", issuer=("ca", "root"), usage=usage))
    trust = ks("trust", ref("root", "ca", "root"))
    root = stored_root or root_cert()
    signed_by = leaf_root or root
    stores = {
        "ca": on_disk(ca, key_entry("root", "ed-b", chain=[root])),
        "app": on_disk(app, key_entry("web", "ed-a", chain=[leaf_cert(signed_by), signed_by])),
        "trust": on_disk(trust, trusted_entry("root", root)),
    }
    return Case((ca, app, trust), stores=stores)


FOLLOW = ("follows ca/root, which is reissued",)

TABLE = [
    ("unchanged", case(), [
        ("ca", "no-op", ()), ("ca/root", "no-op", ()), ("app", "no-op", ()), ("app/web", "no-op", ()),
        ("trust", "no-op", ()), ("trust/root", "no-op", ())]),
    ("the CA's certificate alone changes: what it signed is reissued, the truststore follows", case(root_days=300), [
        ("ca", "update", ()), ("ca/root", "update", ("validity changed: 365 → 300 days", *REISSUED)),
        ("app", "update", ()), ("app/web", "update", ("issuer ca/root reissued", *REISSUED)),
        ("trust", "update", ()), ("trust/root", "update", FOLLOW)]),
    ("a CA's new dname keeps its key and reissues what it signed", case(root_dname="CN=Root 2"), [
        ("ca", "update", ()), ("ca/root", "update", ("dname changed: CN=Root → CN=Root 2", *REISSUED)),
        ("app", "update", ()), ("app/web", "update", ("issuer ca/root reissued", *REISSUED)),
        ("trust", "update", ()), ("trust/root", "update", FOLLOW)]),
    ("the stored chain is not the issuer's current one", case(leaf_root=root_cert(days=200)), [
        ("ca", "no-op", ()), ("ca/root", "no-op", ()),
        ("app", "update", ()), ("app/web", "update", ("not signed by the current certificate of issuer ca/root",
                                                       *REISSUED)),
        ("trust", "no-op", ()), ("trust/root", "no-op", ())]),
    ("usage changed", case(usage=("server",)), [
        ("ca", "no-op", ()), ("ca/root", "no-op", ()),
        ("app", "update", ()), ("app/web", "update", ("usage changed → server", *REISSUED)),
        ("trust", "no-op", ()), ("trust/root", "no-op", ())]),
]


@pytest.mark.parametrize(("title", "row", "expected"), TABLE, ids=[t[0] for t in TABLE])
def test_ca_table(title: str, row: Case, expected: list[tuple[str, str, tuple[str, ...]]]) -> None:
    assert rows(row.plan()) == expected, title


def test_reissue_keeps_the_key_and_noop_keeps_the_entry() -> None:
    plan = case(root_days=300).plan()
    app = next(k for k in plan.keystores if k.name == "app")
    (web,) = app.entries
    assert isinstance(web.build, Reissue) and web.build.key_der == key_entry("web", "ed-a").key_der
    assert web.after is not None and web.after["issuer_entry"] == "ca/root"
    quiet = next(k for k in case().plan().keystores if k.name == "app")
    assert isinstance(quiet.entries[0].build, Keep)
    assert quiet.entries[0].after is not None and len(quiet.entries[0].after["chain_sha256"].split()) == 2
