"""The pure parts of saved plans and targets as tables: how two JSON plans are compared (what the clock may move,
what it may not), how differences are named, and how --target closes over references and issuers."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from kstool.engine import savedplan
from kstool.engine.lockfile import Lock, LockedStore
from kstool.engine.targets import select, split_lock
from kstool.errors import KstoolError
from kstool.spec.model import Spec, load_spec

PLAN: dict[str, Any] = {
    "format_version": 1, "spec": "kstool.yaml", "output_root": ".", "changes": True,
    "summary": {"create": 1, "no-op": 1}, "entry_summary": {"create": 1, "no-op": 1},
    "keystores": [
        {"name": "a", "action": "create", "reasons": ["new keystore"], "entries": [
            {"alias": "x", "action": "create", "reasons": [], "not_after": "2027-01-01T00:00:00Z", "days_left": 30,
             "renewal_due": False}]},
        {"name": "b", "action": "no-op", "reasons": [], "entries": [
            {"alias": "y", "action": "no-op", "reasons": ["renewal due: expires 2027-01-04 (in 12 days; renew 30 "
                                                          "days before)"], "days_left": 12, "renewal_due": True}]},
    ],
}


def _changed(path: list[str | int], value: Any) -> dict[str, Any]:
    plan = copy.deepcopy(PLAN)
    target: Any = plan
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return plan


@pytest.mark.parametrize("path, value, expected", [
    # the clock alone: dates and day counts move, decisions do not -> no difference
    (["keystores", 0, "entries", 0, "not_after"], "2027-01-03T00:00:00Z", []),
    (["keystores", 0, "entries", 0, "days_left"], 28, []),
    (["keystores", 1, "entries", 0, "reasons"], ["renewal due: expires 2027-01-04 (in 10 days; renew 30 days before)"],
     []),
    (["spec"], "/abs/kstool.yaml", []),  # the path as typed: the settings compare the resolved one
    # decisions
    (["keystores", 1, "entries", 0, "renewal_due"], False, ["plan.keystores[b].entries[y].renewal_due: true → false"]),
    (["keystores", 1, "action"], "update", ["plan.keystores[b]: no-op in the saved plan, update now"]),
    (["keystores", 0, "entries", 0, "action"], "no-op",
     ["plan.keystores[a].entries[x]: create in the saved plan, no-op now"]),
    (["keystores", 1, "entries", 0, "reasons"], ["renewal due: expires 2027-02-04 (in 12 days; renew 30 days before)"],
     ['plan.keystores[b].entries[y].reasons: ["renewal due: expires 2027-01-04 (N days; renew 30 days before)"] → '
      '["renewal due: expires 2027-02-04 (N days; renew 30 days before)"]']),
    (["lock_file"], "update", ["plan.lock_file: in this run's plan only"]),
])
def test_plan_comparison(path: list[str | int], value: Any, expected: list[str]) -> None:
    now = _changed(path, value)
    assert savedplan.plan_differences(savedplan.comparable(PLAN), savedplan.comparable(now)) == expected


def test_the_summary_counts_are_left_out_when_a_keystore_names_the_cause() -> None:
    now = _changed(["keystores", 0, "action"], "no-op")
    now["summary"] = {"create": 0, "no-op": 2}
    assert savedplan.plan_differences(PLAN, now) == ["plan.keystores[a]: create in the saved plan, no-op now"]


def test_a_keystore_only_in_one_plan_is_named() -> None:
    now = copy.deepcopy(PLAN)
    now["keystores"].append({"name": "c", "action": "create", "reasons": [], "entries": []})
    assert savedplan.plan_differences(PLAN, now) == ["plan.keystores[c]: in this run's plan only"]


@pytest.mark.parametrize("saved, now, expected", [
    ({"state": "missing"}, {"state": "missing"}, []),
    ({"state": "missing"}, {"state": "present", "sha256": "ab" * 32, "mode": "0600"},
     ["artifact out/a.p12 changed: missing → present, mode 0600"]),
    ({"state": "present", "sha256": "ab" * 32, "mode": "0600"}, {"state": "present", "sha256": "ab" * 32,
                                                                 "mode": "0644"},
     ["artifact out/a.p12 changed: present, mode 0600 → present, mode 0644"]),
])
def test_dependency_differences_name_the_file(saved: dict[str, Any], now: dict[str, Any],
                                              expected: list[str]) -> None:
    def deps(state: dict[str, Any]) -> dict[str, Any]:
        return {"spec_sha256": "s", "inputs": {}, "password_files": {}, "artifacts": {"out/a.p12": state}}

    assert savedplan.dependency_differences(deps(saved), deps(now)) == expected


def test_an_input_only_one_side_depends_on_is_named() -> None:
    saved = {"spec_sha256": "s", "inputs": {"a.pem": {"state": "missing"}}, "password_files": {}, "artifacts": {}}
    now = {"spec_sha256": "t", "inputs": {"b.pem": {"state": "missing"}}, "password_files": {}, "artifacts": {}}
    assert savedplan.dependency_differences(saved, now) == [
        "the spec file changed since the plan was made",
        "input file a.pem: the plan depended on it, this run does not",
        "input file b.pem: this run depends on it, the plan did not"]


def test_a_plan_file_is_told_from_a_spec_by_its_first_bytes(tmp_path: Path) -> None:
    plan = tmp_path / "p"
    plan.write_bytes(savedplan.render({"format": "kstool-plan", "version": 1}))
    spec = tmp_path / "s"
    spec.write_text('version: 1\nkeystores: []\n# "format": "kstool-plan"\n')
    assert savedplan.is_plan_file(plan) and not savedplan.is_plan_file(spec)
    assert not savedplan.is_plan_file(tmp_path) and not savedplan.is_plan_file(tmp_path / "missing")
    compact = tmp_path / "c"
    compact.write_bytes(b'{"version":1,"format":"kstool-plan"}')  # reformatted (jq -c): still a plan file
    assert savedplan.is_plan_file(compact)


def test_refusal_is_bounded(tmp_path: Path) -> None:
    error = savedplan.refuse(tmp_path / "p", [f"difference {i}" for i in range(1000)])
    lines = str(error).splitlines()
    assert len(lines) == savedplan.MAX_DIFFERENCES + 2 and lines[-1].endswith("… and 975 more difference(s)")


SPEC = """\
version: 1
keystores:
  - name: ca
    path: ca.p12
    password: {env: P}
    entries:
      - alias: root
        generate: {dname: "CN=root", key: {algorithm: EC, size: 256}, validity_days: 3650, ca: {}}
      - alias: mid
        generate: {dname: "CN=mid", key: {algorithm: EC, size: 256}, validity_days: 1000, ca: {}, issuer: ca/root}
  - name: leaf
    path: leaf.p12
    password: {env: P}
    entries:
      - alias: web
        generate: {dname: "CN=web", key: {algorithm: EC, size: 256}, validity_days: 90, issuer: ca/mid}
  - name: trust
    path: trust.p12
    password: {env: P}
    entries:
      - alias: web
        trusted: {entry: leaf/web}
  - name: trust2
    path: trust2.p12
    password: {env: P}
    entries:
      - alias: web
        trusted: {entry: trust/web}
      - alias: own
        generate: {dname: "CN=own", key: {algorithm: EC, size: 256}, validity_days: 90}
  - name: alone
    path: alone.p12
    password: {env: P}
    entries:
      - alias: k
        generate: {dname: "CN=k", key: {algorithm: EC, size: 256}, validity_days: 90}
"""


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Spec:
    path = tmp_path_factory.mktemp("targets") / "kstool.yaml"
    path.write_text(SPEC)
    return load_spec(path)


@pytest.mark.parametrize("targets, keystores, aliases", [
    (["alone"], ["alone"], {}),
    (["ca"], ["ca"], {}),
    (["leaf"], ["ca", "leaf"], {}),
    (["trust"], ["ca", "leaf", "trust"], {}),  # trust -> leaf (reference) -> ca (issuer), transitively
    (["trust2"], ["ca", "leaf", "trust", "trust2"], {}),
    (["trust2/OWN"], ["ca", "leaf", "trust", "trust2"], {"trust2": {"own"}}),  # the whole keystore is built
    (["trust2/own", "trust2"], ["ca", "leaf", "trust", "trust2"], {}),  # the keystore target wins
    (["alone", "ca/root"], ["ca", "alone"], {"ca": {"root"}}),
])
def test_targets_close_over_references_and_issuers(spec: Spec, targets: list[str], keystores: list[str],
                                                   aliases: dict[str, set[str]]) -> None:
    selection = select(spec, targets)
    assert [name for name, _ in selection.keystores] == keystores
    assert {k: set(v) for k, v in selection.aliases.items()} == aliases


def test_why_each_keystore_is_in_the_run(spec: Spec) -> None:
    why = dict(select(spec, ["trust2"]).keystores)
    assert why == {
        "trust2": "targeted",
        "trust": "needed because trust2/web trusts its entry trust/web (trusted: {entry: ...})",
        "leaf": "needed because trust/web trusts its entry leaf/web (trusted: {entry: ...})",
        "ca": "needed because the CA ca/mid issues the certificate of leaf/web",
    }


def test_keystores_left_out_that_depend_on_the_run_are_named(spec: Spec) -> None:
    assert select(spec, ["ca"]).dependents == (("leaf", "leaf/web is issued by ca/mid"),)
    assert select(spec, ["leaf"]).dependents == (("trust", "trust/web trusts leaf/web"),)
    assert select(spec, ["trust2"]).dependents == ()
    assert select(spec, ["alone"]).dependents == ()


def test_unknown_targets_list_the_known_names(spec: Spec) -> None:
    with pytest.raises(KstoolError) as e:
        select(spec, ["nope", "ca/nope", "leaf"])
    assert str(e.value) == ("--target 'nope': no keystore 'nope' in the spec (keystores: ca, leaf, trust, trust2, "
                            "alone); --target 'ca/nope': keystore 'ca' has no alias 'nope' (aliases: root, mid)")


def _record(path: str, owner: str = "kstool.yaml") -> LockedStore:
    return LockedStore(path=path, type="pkcs12", sha256="0" * 64, entries=(), owner=owner)


def test_split_lock_keeps_other_records_verbatim(spec: Spec) -> None:
    from kstool.engine.targets import restrict

    part = restrict(spec, select(spec, ["leaf"]))
    lock = Lock({"ca": _record("ca.p12"), "leaf": _record("leaf.p12"), "alone": _record("alone.p12"),
                 "gone": _record("gone.p12"), "theirs": _record("t.p12", owner="other.yaml"),
                 "renamed": _record("leaf.p12")})
    seen, kept = split_lock(lock, part, "kstool.yaml")
    assert seen is not None
    assert sorted(seen.keystores) == ["ca", "leaf", "renamed", "theirs"]
    assert sorted(kept) == ["alone", "gone"] and kept["alone"] is lock.keystores["alone"]


def test_file_digest_states(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    (tmp_path / "f").chmod(0o640)
    (tmp_path / "link").symlink_to(tmp_path / "f")
    abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # SHA-256 of b"abc"
    assert savedplan.file_digest(tmp_path / "f") == {"state": "present", "sha256": abc, "mode": "0640"}
    assert savedplan.file_digest(tmp_path / "missing") == {"state": "missing"}
    assert savedplan.file_digest(tmp_path / "link") == {"state": "not a regular file"}
    assert savedplan.file_digest(tmp_path) == {"state": "not a regular file"}
    monkeypatch.setattr(savedplan, "MAX_HASHED_BYTES", 2)
    assert savedplan.file_digest(tmp_path / "f") == {"state": "larger than 0 MiB"}


def test_a_changed_file_is_named_without_any_part_of_its_digest() -> None:
    before = {"state": "present", "sha256": "a" * 64, "mode": "0600"}
    after = {"state": "present", "sha256": "b" * 64, "mode": "0600"}
    deps = {"spec_sha256": "s", "password_files": {}, "artifacts": {}}
    found = savedplan.dependency_differences({**deps, "inputs": {"x": before}}, {**deps, "inputs": {"x": after}})
    assert found == ["input file x changed: present, mode 0600 → other bytes, mode 0600"]


@pytest.mark.parametrize("given, recorded", [
    (["b", "a", "b"], ["a", "b"]),
    (["ca/Root", " ca/root"], ["ca/root"]),
    (["CA/x"], ["CA/x"]),  # keystore names are case-sensitive, aliases are not
    ([], []),
])
def test_targets_are_recorded_as_a_run_reads_them(given: list[str], recorded: list[str]) -> None:
    assert savedplan.normalised_targets(given) == recorded
