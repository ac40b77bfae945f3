"""A CA of the spec and its leaf under the one clock, as tables: the CA's renewal carries its leaf along (keys
kept), a leaf renewed alone is signed by the same CA, and a leaf that a renewal would make outlive its issuer is a
plan-time error. Over the builders of test_planner: no files written, no keys generated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from kstool.crypto.certs import build_issued
from kstool.crypto.dn import parse_rdns, to_name
from kstool.engine.observe import Observed
from kstool.engine.plan import Plan, Reissue
from kstool.engine.planner import compute_plan
from kstool.errors import KstoolError
from kstool.spec.model import EntrySpec, Generate, RenewBefore
from tests.unit.test_planner import (  # noqa: F401  (the autouse guards: no writes, no key generation)
    KEYS,
    LOC,
    NOT_BEFORE,
    REISSUED,
    Case,
    Row,
    _no_keygen,
    _no_writes,
    key_entry,
    ks,
    on_disk,
    ref,
    rows,
    trusted_entry,
)


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def gen(alias: str, dname: str, *, days: int, ca: bool = False, issuer: tuple[str, str] | None = None,
        renew_days: int | None = None) -> EntrySpec:
    source = Generate(dname, parse_rdns(dname), "Ed25519", None, days, (), (), ca=ca, path_length=0 if ca else None,
                      issuer=issuer)
    return EntrySpec(alias, source, LOC, renew_before=RenewBefore(days=renew_days))


@cache
def root_cert() -> bytes:  # 2026-01-01 → 2027-01-01
    return build_issued(KEYS["ed-b"], to_name(parse_rdns("CN=Root")), not_before=NOT_BEFORE, validity_days=365,
                        ca=True, path_length=0).public_bytes(Encoding.DER)


@cache
def leaf_cert(not_before: datetime) -> bytes:  # 90 days
    return build_issued(KEYS["ed-a"], to_name(parse_rdns("CN=web")), not_before=not_before, validity_days=90,
                        issuer_key=KEYS["ed-b"],
                        issuer_cert=x509.load_der_x509_certificate(root_cert())).public_bytes(Encoding.DER)


def case(*, leaf_from: str = "2026-01-01", ca_renew: int | None = None) -> Case:
    ca = ks("ca", gen("root", "CN=Root", days=365, ca=True, renew_days=ca_renew))
    app = ks("app", gen("web", "CN=web", days=90, issuer=("ca", "root"), renew_days=10))
    trust = ks("trust", ref("root", "ca", "root"))
    root = root_cert()
    stores = {
        "ca": on_disk(ca, key_entry("root", "ed-b", chain=[root])),
        "app": on_disk(app, key_entry("web", "ed-a", chain=[leaf_cert(at(leaf_from)), root])),
        "trust": on_disk(trust, trusted_entry("root", root)),
    }
    return Case((ca, app, trust), stores=stores)


def plan_at(row: Case, now: datetime) -> Plan:
    return compute_plan(row.spec(), row.inputs(), Observed(row.stores), now=now)


def due(text: str) -> str:
    return f"renewal due: {text}"


FOLLOW = ("follows ca/root, which is reissued",)
QUIET_CA = [("ca", "no-op", ()), ("ca/root", "no-op", ())]
QUIET_TRUST = [("trust", "no-op", ()), ("trust/root", "no-op", ())]

TABLE: list[tuple[str, Case, str, list[Row]]] = [
    ("before any window: nothing", case(), "2026-02-01",
     [*QUIET_CA, ("app", "no-op", ()), ("app/web", "no-op", ()), *QUIET_TRUST]),
    ("the leaf in its own window: reissued by the same CA, which stays", case(), "2026-03-25",
     [*QUIET_CA, ("app", "update", ()),
      ("app/web", "update", (due("expires 2026-04-01 (in 7 days; renew 10 days before)"), *REISSUED)),
      *QUIET_TRUST]),
    ("the CA in its window: reissued for its key; the leaf and the truststore follow", case(
        leaf_from="2026-10-01", ca_renew=100), "2026-10-20",
     [("ca", "update", ()),
      ("ca/root", "update", (due("expires 2027-01-01 (in 73 days; renew 100 days before)"), *REISSUED)),
      ("app", "update", ()), ("app/web", "update", ("issuer ca/root reissued", *REISSUED)),
      ("trust", "update", ()), ("trust/root", "update", FOLLOW)]),
    ("both due: the CA first, the leaf by its own window and with the new chain", case(
        leaf_from="2026-10-01", ca_renew=100), "2026-12-25",
     [("ca", "update", ()),
      ("ca/root", "update", (due("expires 2027-01-01 (in 7 days; renew 100 days before)"), *REISSUED)),
      ("app", "update", ()),
      ("app/web", "update", (due("expires 2026-12-30 (in 5 days; renew 10 days before)"), *REISSUED)),
      ("trust", "update", ()), ("trust/root", "update", FOLLOW)]),
]


@pytest.mark.parametrize(("title", "row", "now", "expected"), TABLE, ids=[t[0] for t in TABLE])
def test_ca_renewal_table(title: str, row: Case, now: str, expected: list[Row]) -> None:
    assert rows(plan_at(row, at(now))) == expected, title


def test_the_leaf_keeps_its_key_when_its_ca_is_renewed() -> None:
    plan = plan_at(case(leaf_from="2026-10-01", ca_renew=100), at("2026-10-20"))
    (root,) = next(k for k in plan.keystores if k.name == "ca").entries
    (web,) = next(k for k in plan.keystores if k.name == "app").entries
    assert isinstance(root.build, Reissue) and root.build.key_der == key_entry("root", "ed-b").key_der
    assert isinstance(web.build, Reissue) and web.build.key_der == key_entry("web", "ed-a").key_der
    assert web.not_after == f"{at('2026-10-20') + timedelta(days=90):%Y-%m-%dT%H:%M:%SZ}"


def test_a_renewed_leaf_that_would_outlive_its_issuer_is_a_plan_error() -> None:
    row = case(leaf_from="2026-10-01", ca_renew=5)  # the CA (until 2027-01-01) is not due on 2026-12-25
    with pytest.raises(KstoolError) as caught:
        plan_at(row, at("2026-12-25"))
    assert str(caught.value) == (
        f"{LOC}: generate.validity_days 90: the certificate issued at 2026-12-25 would end 2027-03-25, after its "
        "issuer ca/root (valid until 2027-01-01); a certificate may not outlive its issuer: renew the CA first (a "
        "renew_before on ca/root that makes it fall due before what it signs), or shorten validity_days")
    assert rows(plan_at(row, at("2026-12-15"))) == [  # before the leaf's window: fine
        *QUIET_CA, ("app", "no-op", ()), ("app/web", "no-op", ()), *QUIET_TRUST]
