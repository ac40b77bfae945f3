"""Who owns what in an output folder, and what apply may destroy (issue 11, items 2, 4, 5, 6 and 13).

Paths read from kstool.lock obey the output-path rules; an orphan is deleted only when it is the file kstool
made; two specs share a folder without touching each other's artifacts; every private key a plan destroys is
listed, previous_name re-encodes instead of create + delete, prevent_destroy refuses; outputs that would
overwrite each other are spec errors; a malformed lock file or output folder is a clear error, never exit 3.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from kstool.formats.codec import decode
from kstool.formats.entries import KeyEntry, StoreType, detect_type
from tests.support.clirun import CANARY, ROOT, Result, run, snapshot

PW = f"{CANARY}-own"
CERTS = ROOT / "examples" / "wso2" / "certs"


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_PASS", PW)


def gen(alias: str, cn: str) -> str:
    return (f"      - alias: {alias}\n        generate:\n          dname: \"CN={cn}\"\n"
            "          key: {algorithm: EC, size: 256}\n")


def store(name: str, path: str, entries: str, extra: str = "", password: str = "{env: KS_PASS}") -> str:
    return f"  - name: {name}\n    path: {path}\n    password: {password}\n{extra}    entries:\n{entries}"


def write(folder: Path, body: str, name: str = "kstool.yaml") -> Path:
    spec = folder / name
    spec.write_text("version: 1\nkeystores:\n" + body, encoding="utf-8")
    return spec


def ok(result: Result) -> Result:
    assert result.code == 0, result.err
    return result


def plan_json(capsys: pytest.CaptureFixture[str], spec: Path, *args: str) -> dict[str, Any]:
    result = ok(run(capsys, "plan", spec, "--json", *args))
    doc: dict[str, Any] = result.json()
    return doc


def lock_of(folder: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((folder / "kstool.lock").read_text(encoding="utf-8"))
    return doc


def set_lock(folder: Path, doc: dict[str, Any]) -> None:
    (folder / "kstool.lock").write_text(json.dumps(doc), encoding="utf-8")


def key_fingerprints(path: Path) -> dict[str, bytes]:
    data = path.read_bytes()
    store_type = detect_type(data)
    assert store_type is not None
    return {e.alias: e.key_der for e in decode(data, store_type, PW) if isinstance(e, KeyEntry)}


DER = bytes.fromhex("3082010a0282010100") + b"\x01" * 64  # first byte 0x30, like any DER file


# -- item 2: paths read from kstool.lock are confined --------------------------------------------------------

@pytest.mark.parametrize("bad", ["../outside.der", "ABSOLUTE"])
def test_a_lock_path_outside_the_root_is_an_error_and_the_file_is_untouched(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    root = tmp_path / "out"
    root.mkdir()
    victim = tmp_path / "outside.der"
    victim.write_bytes(DER)
    spec = write(root, store("a", "a.jks", gen("k", "a")))
    ok(run(capsys, "apply", spec))
    doc = lock_of(root)
    path = str(victim) if bad == "ABSOLUTE" else bad
    # a hand-edited (or maliciously merged) lock: a removed keystore "recorded" at a file outside the root,
    # with that file's own sha256, so the old rule "delete the orphan" would have deleted it
    doc["keystores"]["gone"] = {**doc["keystores"]["a"], "path": path, "sha256": hashlib.sha256(DER).hexdigest()}
    set_lock(root, doc)
    before = snapshot(tmp_path)
    for command in ("plan", "apply", "verify"):
        result = run(capsys, command, spec)
        assert result.code == 1, (command, result.out, result.err)
        assert "kstool.lock is not a kstool lock file: keystores.'gone'.path" in result.err
        assert "kstool never touches files outside the output root" in result.err
    assert snapshot(tmp_path) == before
    assert victim.read_bytes() == DER


def test_a_lock_path_for_a_spec_keystore_outside_the_root_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the rename path: the spec's keystore "a" is recorded at ../outside.der; apply must not move it away
    root = tmp_path / "out"
    root.mkdir()
    victim = tmp_path / "outside.der"
    victim.write_bytes(DER)
    spec = write(root, store("a", "a.jks", gen("k", "a")))
    ok(run(capsys, "apply", spec))
    (root / "a.jks").unlink()
    doc = lock_of(root)
    doc["keystores"]["a"]["path"] = "sub/../../outside.der"
    set_lock(root, doc)
    result = run(capsys, "apply", spec, "--replace-unreadable")
    assert result.code == 1 and "leaves the output root" in result.err
    assert victim.read_bytes() == DER


def test_a_lock_path_through_a_symlinked_folder_is_left_alone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "out"
    (tmp_path / "elsewhere").mkdir()
    root.mkdir()
    spec = write(root, store("a", "a.jks", gen("k", "a")) + store("b", "b.jks", gen("k", "b")))
    ok(run(capsys, "apply", spec))
    target = tmp_path / "elsewhere" / "b.jks"
    os.replace(root / "b.jks", target)
    (root / "link").symlink_to(tmp_path / "elsewhere")
    doc = lock_of(root)
    doc["keystores"]["b"]["path"] = "link/b.jks"
    set_lock(root, doc)
    write(root, store("a", "a.jks", gen("k", "a")))
    plan = plan_json(capsys, spec)
    assert [k["name"] for k in plan["keystores"] if k["action"] == "delete"] == []
    assert [(x["name"], x["path"]) for x in plan["left_alone"]] == [("b", "link/b.jks")]
    assert "symbolic link" in plan["left_alone"][0]["reason"]
    ok(run(capsys, "apply", spec))
    assert target.exists()
    assert "b" not in lock_of(root)["keystores"]  # forgotten: the next plan is clean
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


def test_an_orphan_whose_bytes_changed_and_no_password_opens_is_left_alone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, store("a", "a.jks", gen("k", "a")) + store("b", "b.der", gen("k", "b"), "    type: jks\n"))
    ok(run(capsys, "apply", spec))
    (tmp_path / "b.der").write_bytes(DER)  # someone's certificate now lives where kstool's store was
    write(tmp_path, store("a", "a.jks", gen("k", "a")))
    plan = plan_json(capsys, spec)
    assert [k["name"] for k in plan["keystores"] if k["action"] == "delete"] == []
    assert plan["left_alone"][0]["name"] == "b"
    assert "bytes are not what kstool.lock recorded" in plan["left_alone"][0]["reason"]
    human = ok(run(capsys, "plan", spec)).out
    assert "keystore b (b.der) is in kstool.lock but not in the spec; its file is left alone" in human
    drift = run(capsys, "verify", spec)
    assert drift.code == 1 and "apply leaves it alone" in drift.out
    ok(run(capsys, "apply", spec))
    assert (tmp_path / "b.der").read_bytes() == DER
    assert not list(tmp_path.glob("*.kstool-backup"))


def test_an_orphan_rewritten_by_someone_else_under_another_password_is_left_alone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write(tmp_path, store("a", "a.jks", gen("k", "a")) + store("b", "b.p12", gen("k", "b")))
    ok(run(capsys, "apply", spec))
    # someone re-made b.p12 with their own password: bytes differ from the lock, and KS_PASS does not open it
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("KS_PASS", f"{CANARY}-theirs")
    ok(run(capsys, "apply", write(other, store("b", "b.p12", gen("k", "theirs")))))
    monkeypatch.setenv("KS_PASS", PW)
    theirs = (other / "b.p12").read_bytes()
    (tmp_path / "b.p12").write_bytes(theirs)
    write(tmp_path, store("a", "a.jks", gen("k", "a")))
    plan = plan_json(capsys, spec)
    assert [x["name"] for x in plan["left_alone"]] == ["b"]
    assert "no password of this spec opens it" in plan["left_alone"][0]["reason"]
    ok(run(capsys, "apply", spec))
    assert (tmp_path / "b.p12").read_bytes() == theirs


def test_an_orphan_reencoded_under_the_spec_password_is_still_deleted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, store("a", "a.jks", gen("k", "a")) + store("b", "b.jks", gen("k", "b")))
    ok(run(capsys, "apply", spec))
    # b.jks rewritten by kstool under another spec version (bytes differ from the lock, same password)
    doc = lock_of(tmp_path)
    doc["keystores"]["b"]["sha256"] = "0" * 64
    set_lock(tmp_path, doc)
    write(tmp_path, store("a", "a.jks", gen("k", "a")))
    plan = plan_json(capsys, spec)
    assert [k["name"] for k in plan["keystores"] if k["action"] == "delete"] == ["b"]
    ok(run(capsys, "apply", spec))
    assert not (tmp_path / "b.jks").exists()


# -- item 4: two specs, one folder ---------------------------------------------------------------------------

def test_two_specs_in_one_folder_keep_each_others_stores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app1 = write(tmp_path, store("one", "one.jks", gen("k", "one")), "app1.yaml")
    app2 = write(tmp_path, store("two", "two.p12", gen("k", "two")), "app2.yaml")
    ok(run(capsys, "apply", app1))
    ok(run(capsys, "apply", app2))
    assert (tmp_path / "one.jks").exists() and (tmp_path / "two.p12").exists()
    lock = lock_of(tmp_path)["keystores"]
    assert (lock["one"]["owner"], lock["two"]["owner"]) == ("app1.yaml", "app2.yaml")
    before = snapshot(tmp_path)
    for spec, other in ((app1, "two"), (app2, "one")):
        assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
        plan = plan_json(capsys, spec)
        assert not plan["changes"] and plan["other_specs"][0]["name"] == other
        assert "belong to other specs" in ok(run(capsys, "plan", spec)).out
        assert "wrote" not in ok(run(capsys, "apply", spec)).out
        assert ok(run(capsys, "verify", spec)).code == 0
    assert snapshot(tmp_path) == before
    # a keystore removed from app2 is deleted by app2's apply; app1's store is untouched
    write(tmp_path, store("three", "three.jks", gen("k", "three")), "app2.yaml")
    ok(run(capsys, "apply", app2))
    assert not (tmp_path / "two.p12").exists()
    assert (tmp_path / "one.jks").read_bytes() == before["one.jks"][0]
    assert set(lock_of(tmp_path)["keystores"]) == {"one", "three"}


def test_a_path_or_name_another_spec_owns_is_an_error_naming_both(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app1 = write(tmp_path, store("one", "one.jks", gen("k", "one")), "app1.yaml")
    ok(run(capsys, "apply", app1))
    before = snapshot(tmp_path)
    app2 = write(tmp_path, store("mine", "one.jks", gen("k", "two")), "app2.yaml")
    result = run(capsys, "plan", app2)
    assert result.code == 1
    assert "one.jks (keystore 'mine' at " in result.err and "app2.yaml:3:5: keystores[0])" in result.err
    assert "is owned by spec app1.yaml (its keystore 'one', per kstool.lock); app2.yaml may not write it" in result.err
    write(tmp_path, store("one", "other.jks", gen("k", "two")), "app2.yaml")
    result = run(capsys, "apply", app2)
    assert result.code == 1
    assert "kstool.lock records a keystore of that name for spec app1.yaml" in result.err
    assert "rename it in app2.yaml or in app1.yaml" in result.err
    assert snapshot(tmp_path) == {**before, "app2.yaml": snapshot(tmp_path)["app2.yaml"]}


def test_a_lock_without_owners_belongs_to_the_first_spec_that_applies(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, store("one", "one.jks", gen("k", "one")))
    ok(run(capsys, "apply", spec))
    doc = lock_of(tmp_path)
    del doc["keystores"]["one"]["owner"]  # a kstool 0.1 lock
    (tmp_path / "kstool.lock").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    plan = plan_json(capsys, spec)
    assert plan["lock_file"] == "update" and plan["summary"]["update"] == 0  # only the owner to record
    ok(run(capsys, "apply", spec))
    assert lock_of(tmp_path)["keystores"]["one"]["owner"] == "kstool.yaml"
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


# -- item 5: keys are never lost silently --------------------------------------------------------------------

def test_a_rename_of_name_and_path_without_previous_name_lists_the_destroyed_keys(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, store("old", "old.jks", gen("k", "svc")))
    ok(run(capsys, "apply", spec))
    write(tmp_path, store("new", "new.jks", gen("k", "svc")))
    plan = plan_json(capsys, spec)
    assert {k["name"]: k["action"] for k in plan["keystores"]} == {"new": "create", "old": "delete"}
    assert plan["summary"]["keys_destroyed"] == 1
    [lost] = plan["destroyed_keys"]
    assert (lost["keystore"], lost["alias"], lost["action"], lost["subject"]) == ("old", "k", "delete", "CN=svc")
    human = ok(run(capsys, "plan", spec)).out
    assert "Private keys this apply destroys" in human and "old/k" in human
    assert "1 private key(s) destroyed." in human


def test_previous_name_reencodes_the_keys_of_a_renamed_keystore(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, store("old", "old.jks", gen("k", "svc")))
    ok(run(capsys, "apply", spec))
    keys = key_fingerprints(tmp_path / "old.jks")
    write(tmp_path, store("new", "new.p12", gen("k", "svc"), "    previous_name: old\n"))
    plan = plan_json(capsys, spec)
    assert [(k["name"], k["action"]) for k in plan["keystores"]] == [("new", "update")]
    assert "renamed: old → new (previous_name); its keys are kept" in plan["keystores"][0]["reasons"]
    assert plan["summary"]["keys_destroyed"] == 0 and plan["destroyed_keys"] == []
    ok(run(capsys, "apply", spec))
    assert key_fingerprints(tmp_path / "new.p12") == keys
    assert not (tmp_path / "old.jks").exists()
    assert set(lock_of(tmp_path)["keystores"]) == {"new"}
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


def test_a_replaced_key_is_listed_as_destroyed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, store("a", "a.jks", gen("k", "one") + gen("gone", "two")))
    ok(run(capsys, "apply", spec))
    write(tmp_path, store("a", "a.jks", gen("k", "changed")))
    plan = plan_json(capsys, spec)
    assert sorted((d["alias"], d["action"]) for d in plan["destroyed_keys"]) == [("gone", "delete"),
                                                                                 ("k", "replace")]
    assert plan["summary"]["keys_destroyed"] == 2


def test_a_key_entry_turned_into_a_trusted_entry_destroys_its_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(CERTS, tmp_path / "certs")
    spec = write(tmp_path, store("a", "a.jks", gen("k", "one")))
    ok(run(capsys, "apply", spec))
    write(tmp_path, store("a", "a.jks", "      - alias: k\n        trusted: {certificate: certs/root.crt}\n"))
    plan = plan_json(capsys, spec)
    assert [(d["alias"], d["action"], d["subject"]) for d in plan["destroyed_keys"]] == [("k", "replace", "CN=one")]
    ok(run(capsys, "apply", spec))
    # and back: a trusted entry replaced by a generated key destroys no key
    write(tmp_path, store("a", "a.jks", gen("k", "one")))
    assert plan_json(capsys, spec)["destroyed_keys"] == []


@pytest.mark.parametrize(("extra", "message"), [
    ("    previous_name: a\n", "previous_name 'a' is the name of keystores[0]"),
    ("    previous_name: b\n", "previous_name 'b' is the name of keystores[1]"),
    ("    previous_name: 'x y'\n", "keystores[0].previous_name: use letters, digits"),
])
def test_previous_name_must_name_a_keystore_that_is_gone(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         extra: str, message: str) -> None:
    spec = write(tmp_path, store("a", "a.jks", gen("k", "a"), extra) + store("b", "b.jks", gen("k", "b")))
    result = run(capsys, "validate", spec)
    assert result.code == 1 and message in result.err, result.err


def test_prevent_destroy_refuses_a_key_replace_and_an_entry_delete(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    guarded = "    prevent_destroy: true\n"
    spec = write(tmp_path, store("a", "a.jks", gen("k", "one") + gen("two", "two"), guarded))
    ok(run(capsys, "apply", spec))
    before = snapshot(tmp_path)
    for body in (gen("k", "changed") + gen("two", "two"), gen("k", "one")):
        write(tmp_path, store("a", "a.jks", body, guarded))
        for command in ("plan", "apply"):
            result = run(capsys, command, spec)
            assert result.code == 1, result.out
            assert "this plan destroys private keys of keystore(s) with prevent_destroy: true: a/" in result.err
        assert {k: v for k, v in snapshot(tmp_path).items() if k != "kstool.yaml"} == \
               {k: v for k, v in before.items() if k != "kstool.yaml"}
    # a change that keeps the keys is fine
    write(tmp_path, store("a", "b.jks", gen("k", "one") + gen("two", "two"), guarded))
    ok(run(capsys, "apply", spec))


def test_prevent_destroy_refuses_removing_the_keystore_from_the_spec(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, store("a", "a.jks", gen("k", "a")) + store("b", "b.jks", gen("k", "b"),
                                                                        "    prevent_destroy: true\n"))
    ok(run(capsys, "apply", spec))
    assert lock_of(tmp_path)["keystores"]["b"]["prevent_destroy"] is True
    write(tmp_path, store("a", "a.jks", gen("k", "a")))
    result = run(capsys, "apply", spec)
    assert result.code == 1 and "b/k (delete: keystore not in spec)" in result.err
    assert "put the keystore back in the spec" in result.err
    assert (tmp_path / "b.jks").exists()


# -- item 6: collisions between outputs are spec errors ------------------------------------------------------

@pytest.mark.parametrize(("body", "message"), [
    (store("a", "a.jks", gen("k", "a"), password="{file: a.jks, generate: true}"),
     "keystores[0].password: password file a.jks is the path of keystores[0] ('a')"),
    (store("a", ".a.jks.x1y2.kstool-tmp", gen("k", "a"), "    type: jks\n"),
     "keystores[0].path: path '.a.jks.x1y2.kstool-tmp' ends with .kstool-tmp, kstool's temp-file suffix"),
    (store("a", "a.jks.20261202T000000Z.kstool-backup", gen("k", "a"), "    type: jks\n"),
     "ends with .kstool-backup, kstool's backup suffix"),
    (store("a", "kstool.lock", gen("k", "a"), "    type: jks\n"), "path 'kstool.lock' is kstool's own lock file"),
    (store("a", "./.kstool-apply.lock", gen("k", "a"), "    type: jks\n"),
     "path '.kstool-apply.lock' is kstool's own writer-lock note"),
    (store("a", "a.jks", gen("k", "a"), password="{file: kstool.lock, generate: true}"),
     "generated password file kstool.lock is kstool's own lock file"),
    (store("a", "a.jks", gen("k", "a"), password="{file: s/.p.kstool-tmp, generate: true}"),
     "generated password file s/.p.kstool-tmp ends with .kstool-tmp"),
])
def test_colliding_outputs_are_spec_errors_at_validate_time(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, message: str) -> None:
    spec = write(tmp_path, body)
    for command in ("validate", "plan", "apply"):
        result = run(capsys, command, spec)
        assert result.code == 1, (command, result.out)
        assert message in result.err, result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kstool.yaml"]


def test_a_password_file_at_a_keystore_path_under_output_dir_is_caught_at_plan_time(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    spec = write(tmp_path, store("a", "a.jks", gen("k", "a"), password="{file: out/a.jks, generate: true}"))
    ok(run(capsys, "validate", spec))  # against the spec's folder they do not collide
    result = run(capsys, "apply", spec, "-o", out)
    assert result.code == 1 and "password file out/a.jks is the path of keystores[0] ('a')" in result.err
    assert not (out / "a.jks").exists()


def test_two_keystores_sharing_a_generated_password_file_get_one_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shared = "{file: secrets/shared.pass, generate: true}"
    spec = write(tmp_path, store("a", "a.jks", gen("k", "a"), password=shared)
                 + store("b", "b.p12", gen("k", "b"), password=shared))
    result = ok(run(capsys, "apply", spec))
    assert result.out.count("created password file secrets/shared.pass") == 1
    password = (tmp_path / "secrets" / "shared.pass").read_text(encoding="utf-8").strip()
    stores: tuple[tuple[str, StoreType], ...] = (("a.jks", "jks"), ("b.p12", "pkcs12"))
    for name, store_type in stores:
        assert decode((tmp_path / name).read_bytes(), store_type, password)
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    assert sorted(p.name for p in (tmp_path / "secrets").iterdir()) == ["shared.pass"]


# -- item 13: malformed lock files and output folders are user errors ----------------------------------------

def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(("content", "why"), [
    (_nested(100_000).encode(), "nested too deeply"),
    (b'{"format_version": 1, "keystores": {"a": {"path": "a.jks", "type": "jks", "sha256": "x", "entries": ['
     + _nested(50_000).encode() + b"]}}}", "nested too deeply"),
    (b"[1, 2]", "a JSON list, not an object"),
    (b'"text"', "a JSON str, not an object"),
    (b'{"format_version": 1, "keystores": []}', "'keystores' is not an object"),
    (b'{"format_version": 1, "keystores": {"a": 7}}', "keystores.'a' is not an object"),
    (b'{"format_version": 1, "keystores": {"a": {"path": 1, "type": "jks", "sha256": "x", "entries": []}}}',
     "keystores.'a'.path is missing or not a string"),
    (b'{"format_version": 1, "keystores": {"a": {"path": "a.jks", "type": "zip", "sha256": "x", "entries": []}}}',
     "keystores.'a'.type is 'zip'"),
    (b'{"format_version": 1, "keystores": {"a": {"path": "a.jks", "type": "jks", "sha256": "x", '
     b'"entries": [1]}}}', "keystores.'a'.entries is not a list of objects"),
    (b'{"format_version": 1, "keystores": {"a": {"path": "a.jks", "type": "jks", "sha256": "x", '
     b'"entries": "ab"}}}', "keystores.'a'.entries is not a list of objects"),
    (b'{"format_version": 1, "keystores": {"a": {"path": "a.jks", "type": "jks", "sha256": "x", '
     b'"entries": [], "owner": 3}}}', "keystores.'a'.owner is not a string"),
    (b'{"format_version": 2, "keystores": {}}', "format_version 2, expected 1"),
    (b'{"format_version": 1, "keystores": {"a": {"path": "kstool.lock", "type": "jks", "sha256": "x", '
     b'"entries": []}}}', "is kstool's own lock file"),
    (b"\xff\xfe{not utf-8", "not UTF-8 text"),
    (b"{", "Expecting property name"),
])
def test_a_malformed_lock_file_is_named_not_a_bug(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  content: bytes, why: str) -> None:
    spec = write(tmp_path, store("a", "a.jks", gen("k", "a")))
    (tmp_path / "kstool.lock").write_bytes(content)
    for command in ("plan", "apply", "verify"):
        result = run(capsys, command, spec)
        assert result.code == 1, (command, result.err)
        assert "kstool.lock is not a kstool lock file: " in result.err and why in result.err, result.err
        assert "fix it (e.g. the merge) or delete it" in result.err
    assert not (tmp_path / "a.jks").exists()


def test_a_huge_or_special_lock_file_is_refused_without_reading_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import kstool.engine.lockfile

    spec = write(tmp_path, store("a", "a.jks", gen("k", "a")))
    monkeypatch.setattr(kstool.engine.lockfile, "MAX_LOCK_BYTES", 1024)
    (tmp_path / "kstool.lock").write_bytes(b" " * 2048)
    result = run(capsys, "plan", spec)
    assert result.code == 1 and "kstool.lock is not a kstool lock file: larger than" in result.err
    (tmp_path / "kstool.lock").unlink()
    os.mkfifo(tmp_path / "kstool.lock")  # reading a FIFO would hang
    result = run(capsys, "plan", spec)
    assert result.code == 1 and "kstool.lock is not a kstool lock file: not a regular file" in result.err


def test_output_dir_below_a_regular_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, store("a", "a.jks", gen("k", "a")))
    (tmp_path / "file").write_text("x", encoding="utf-8")
    for command in ("plan", "apply", "verify"):
        result = run(capsys, command, spec, "-o", tmp_path / "file" / "sub" / "out")
        assert result.code == 1, (command, result.err)
        assert f"is below {tmp_path / 'file'}, which is not a directory: choose a folder" in result.err
        assert "lock file" not in result.err
    result = run(capsys, "apply", spec, "-o", tmp_path / "file")
    assert result.code == 1 and "is not a directory" in result.err


def test_an_output_dir_that_cannot_be_created_or_written_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write(tmp_path, store("a", "a.jks", gen("k", "a")))
    real_mkdir = os.mkdir

    def read_only_mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if Path(path).name == "new":
            raise PermissionError(13, "Permission denied", str(path))
        real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", read_only_mkdir)  # tests run as root, which chmod cannot stop
    result = run(capsys, "apply", spec, "-o", tmp_path / "ro" / "new")
    assert result.code == 1
    assert "cannot create the output folder" in result.err and "Permission denied" in result.err
    monkeypatch.undo()
    monkeypatch.setenv("KS_PASS", PW)
    (tmp_path / "ro").mkdir(exist_ok=True)  # the first apply made it, then failed below it
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: not mode & os.W_OK and real_access(path, mode, **kw))
    result = run(capsys, "apply", spec, "-o", tmp_path / "ro")
    assert result.code == 1 and "is not writable" in result.err
