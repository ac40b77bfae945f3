"""Renewal as tables: the planner with a clock (``compute_plan(..., now=...)``), over the builders of
test_planner (hand-built Spec / Inputs / Observed; no files written, no keys generated)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from kstool.engine.observe import Observed
from kstool.engine.plan import Follow, NewKey, Plan, Reissue
from kstool.engine.planner import compute_plan
from kstool.engine.renewal import timing
from kstool.spec.model import EntrySpec, RenewBefore
from tests.unit.test_planner import (  # noqa: F401  (_no_writes, _no_keygen: the autouse guards, here too)
    NOT_BEFORE,
    Case,
    _no_keygen,
    _no_writes,
    cert,
    gen,
    imported,
    key_entry,
    ks,
    on_disk,
    ref,
    rows,
    trusted_entry,
    trusted_file,
)

# the fixed certificates of test_planner: notBefore 2026-01-01, 90 days: notAfter 2026-04-01
REISSUED = "certificate reissued for the same key"


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def plan_at(case: Case, now: datetime | None) -> Plan:
    return compute_plan(case.spec(), case.inputs(), Observed(case.stores), now=now)


def renew(entry: EntrySpec, **policy: Any) -> EntrySpec:
    return dataclasses.replace(entry, renew_before=RenewBefore(**policy))


def web(entry: EntrySpec) -> Case:
    server = ks("server", entry)
    return Case((server,), stores={"server": on_disk(server, key_entry("web"))})


def _cases() -> Any:
    yield pytest.param(web(gen("web")), at("2026-03-01"), [("server", "no-op", ()), ("server/web", "no-op", ())],
                       id="default-before-the-window")  # 31 days left > 90 / 3
    yield pytest.param(web(gen("web")), at("2026-03-10"), [
        ("server", "update", ()),
        ("server/web", "update", ("renewal due: expires 2026-04-01 (in 22 days; renew when a third of the lifetime "
                                  "remains)", REISSUED))], id="default-inside-the-window")
    yield pytest.param(web(renew(gen("web"), days=10)), at("2026-03-10"),
                       [("server", "no-op", ()), ("server/web", "no-op", ())], id="days-before-the-window")
    yield pytest.param(web(renew(gen("web"), days=10)), at("2026-03-25"), [
        ("server", "update", ()),
        ("server/web", "update", ("renewal due: expires 2026-04-01 (in 7 days; renew 10 days before)", REISSUED))],
        id="days-inside-the-window")
    yield pytest.param(web(renew(gen("web"), percent=50)), at("2026-02-20"), [
        ("server", "update", ()),
        ("server/web", "update", ("renewal due: expires 2026-04-01 (in 40 days; renew when 50% of the lifetime "
                                  "remains)", REISSUED))], id="percent-inside-the-window")
    yield pytest.param(web(gen("web")), at("2026-05-01"), [
        ("server", "update", ()),
        ("server/web", "update", ("renewal due: expired on 2026-04-01 (30 days ago)", REISSUED))], id="expired")
    yield pytest.param(web(dataclasses.replace(gen("web"), renew_rotates_key=True)), at("2026-03-10"), [
        ("server", "update", ()),
        ("server/web", "replace", ("renewal due: expires 2026-04-01 (in 22 days; renew when a third of the "
                                   "lifetime remains)", "a new key (renew_rotates_key)"))], id="rotates-key")
    yield pytest.param(web(gen("web")), None, [("server", "no-op", ()), ("server/web", "no-op", ())],
                       id="no-clock-no-renewal")
    trust = ks("trust", ref("web", "server", "web"))
    server = ks("server", gen("web"))
    yield pytest.param(Case((server, trust), stores={
        "server": on_disk(server, key_entry("web")), "trust": on_disk(trust, trusted_entry("web", cert()))}),
        at("2026-03-10"), [
            ("server", "update", ()),
            ("server/web", "update", ("renewal due: expires 2026-04-01 (in 22 days; renew when a third of the "
                                      "lifetime remains)", REISSUED)),
            ("trust", "update", ()), ("trust/web", "update", ("follows server/web, which is reissued",))],
        id="trusted-reference-follows")
    imports = ks("server", imported("web"))
    yield pytest.param(Case((imports,), material={"server": {"web": key_entry("web")}},
                            stores={"server": on_disk(imports, key_entry("web"))}), at("2026-03-10"),
                       [("server", "no-op", ()), ("server/web", "no-op", ())], id="imported-is-never-renewed")


@pytest.mark.parametrize(("case", "now", "expected"), list(_cases()))
def test_renewal(case: Case, now: datetime | None, expected: list[Any]) -> None:
    assert rows(plan_at(case, now)) == expected


def test_a_reissue_keeps_the_key_and_a_rotation_makes_a_new_one() -> None:
    reissue = plan_at(web(gen("web")), at("2026-03-10")).keystores[0].entries[0].build
    assert isinstance(reissue, Reissue) and reissue.key_der == key_entry("web").key_der
    rotate = plan_at(web(dataclasses.replace(gen("web"), renew_rotates_key=True)), at("2026-03-10"))
    assert isinstance(rotate.keystores[0].entries[0].build, NewKey)
    assert [d.alias for d in rotate.destroyed_keys()] == ["web"]


def test_the_plan_shows_not_after_and_days_left() -> None:
    noop = plan_at(web(gen("web")), at("2026-03-01")).keystores[0].entries[0]
    assert (noop.not_after, noop.days_left, noop.due) == ("2026-04-01T00:00:00Z", 31, False)
    renewed = plan_at(web(gen("web")), at("2026-03-10")).keystores[0].entries[0]
    assert (renewed.not_after, renewed.days_left) == ("2026-06-08T00:00:00Z", 90)  # the new certificate's
    assert plan_at(web(gen("web")), None).keystores[0].entries[0].not_after is None


def test_a_follower_shows_its_targets_new_expiry() -> None:
    trust, server = ks("trust", ref("web", "server", "web")), ks("server", gen("web"))
    case = Case((server, trust), stores={"server": on_disk(server, key_entry("web")),
                                         "trust": on_disk(trust, trusted_entry("web", cert()))})
    follower = plan_at(case, at("2026-03-10")).keystores[1].entries[0]
    assert isinstance(follower.build, Follow) and follower.not_after == "2026-06-08T00:00:00Z"


@pytest.mark.parametrize(("entry", "now", "warned"), [
    (imported("web"), "2026-03-01", False),  # 31 days left: outside the 30 days kstool warns by default
    (imported("web"), "2026-03-10", True),
    (renew(imported("web"), days=60), "2026-02-15", True),
    (trusted_file("web"), "2026-03-10", True),
    (dataclasses.replace(trusted_file("web"), allow_expired=True), "2026-05-01", False),  # accepted as expired
])
def test_certificates_kstool_cannot_renew_warn_in_their_window(entry: EntrySpec, now: str, warned: bool) -> None:
    content = key_entry("web") if entry.is_key else trusted_entry("web", cert())
    server = ks("server", entry)
    case = Case((server,), material={"server": {"web": content}}, stores={"server": on_disk(server, content)})
    plan = plan_at(case, at(now))
    assert rows(plan)[1][1] == "no-op"
    if warned:
        policy = "renew 30 days before" if entry.renew_before.is_default else entry.renew_before.shown
        assert plan.warnings == (f"server/web: the certificate from web.crt is due for renewal: expires 2026-04-01 "
                                 f"(in {(at('2026-04-01') - at(now)).days} days; {policy}); kstool cannot renew "
                                 "it: replace web.crt with a renewed certificate",)
    else:
        assert plan.warnings == ()


@pytest.mark.parametrize(("policy", "now", "due", "days"), [
    (RenewBefore(), "2026-03-02T00:00:00", True, 30),  # exactly a third left: due (cert-manager renews at 2/3)
    (RenewBefore(), "2026-03-01T23:59:59", False, 30),
    (RenewBefore(days=1), "2026-03-31T00:00:00", True, 1),
    (RenewBefore(percent=10), "2026-03-23T00:00:00", True, 9),  # 10% of 90 days
    (RenewBefore(percent=10), "2026-03-22T23:00:00", False, 9),
])
def test_window_edges(policy: RenewBefore, now: str, due: bool, days: int) -> None:
    t = timing(NOT_BEFORE, at("2026-04-01"), policy, at(now))
    assert t.due is due and not t.expired and (t.days_left == days or not due)


def test_one_clock() -> None:
    from kstool.engine.clock import read_clock
    from kstool.errors import KstoolError

    wall = at("2026-12-02T10:00:00.5")
    assert read_clock({}, wall=wall).now == at("2026-12-02T10:00:00") and not read_clock({}, wall=wall).from_epoch
    assert read_clock({"SOURCE_DATE_EPOCH": ""}, wall=wall).now == at("2026-12-02T10:00:00")
    epoch = read_clock({"SOURCE_DATE_EPOCH": "86400"}, wall=wall)
    assert (epoch.now, epoch.wall, epoch.from_epoch) == (at("1970-01-02"), at("2026-12-02T10:00:00"), True)
    assert epoch.shown == "SOURCE_DATE_EPOCH=86400 (1970-01-02 00:00:00 UTC)"
    with pytest.raises(KstoolError, match="SOURCE_DATE_EPOCH='x' is not a whole number"):
        read_clock({"SOURCE_DATE_EPOCH": "x"})
