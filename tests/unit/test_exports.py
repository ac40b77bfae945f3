"""exports: in the spec (schema and cross-checks, with line:column), in kstool.lock (read, written, old locks
still read) and in the plan (what a file's action and reasons are)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from kstool.engine.exports import (
    Material,
    ObservedExports,
    ObservedFile,
    locked_exports,
    plan_exports,
    plan_material,
    render_file,
)
from kstool.engine.inputs import resolve_inputs
from kstool.engine.lockfile import LockedExport, LockedFile, LockedStore, read_lock, render_lock
from kstool.engine.plan import Action, EntryChange, ExportChange, Keep, KeystoreChange, NewKey
from kstool.errors import KstoolError
from kstool.formats.entries import KeyEntry, TrustedEntry
from kstool.spec.model import Spec, load_spec
from kstool.spec.validate import schema

BASE = """\
version: 1
keystores:
  - name: gw
    path: gw.p12
    password: {env: EXPORTS_UNIT_PASS}
    entries:
      - alias: gw
        generate: {dname: "CN=gw"}
  - name: trust
    path: trust.p12
    password: {env: EXPORTS_UNIT_PASS}
    entries:
      - alias: gw
        trusted: {entry: gw/gw}
exports:
"""


def load(tmp_path: Path, exports: str) -> Spec:
    spec = tmp_path / "kstool.yaml"
    spec.write_text(BASE + exports, encoding="utf-8")
    return load_spec(spec)


def error_of(tmp_path: Path, exports: str) -> str:
    with pytest.raises(KstoolError) as info:
        load(tmp_path, exports)
    return str(info.value)


def test_a_full_export_section_loads(tmp_path: Path) -> None:
    spec = load(tmp_path, """\
  - name: gw-pem
    mode: "0640"
    pem: {entry: gw/GW, key: pem/gw.key, certificate: pem/gw.crt, chain: pem/chain.crt, fullchain: pem/full.pem}
  - name: bundle
    pem: {keystore: trust, bundle: pem/ca.pem}
  - name: tls
    kubernetes_secret: {path: k8s/tls.yaml, name: gw-tls, namespace: edge, labels: {app: gw}, tls: {entry: gw/gw}}
  - name: stores
    kubernetes_secret: {path: k8s/st.yaml, name: gw-st, data: {z.p12: {keystore: gw}, a.p12: {keystore: trust}}}
""")
    pem_x, bundle, tls, stores = spec.exports
    assert pem_x.pem is not None and pem_x.pem.entry == ("gw", "gw")  # aliases lowercased, as Java does
    assert [r for r, _ in pem_x.files] == ["key", "certificate", "chain", "fullchain"]
    assert pem_x.attrs.mode == 0o640 and bundle.attrs.mode == 0o600
    assert bundle.files == (("bundle", "pem/ca.pem"),) and bundle.sources == ("trust",)
    assert tls.secret is not None and tls.secret.tls == ("gw", "gw") and tls.secret.tls_ca
    assert stores.secret is not None and stores.secret.data == (("a.p12", "trust"), ("z.p12", "gw"))
    assert stores.sources == ("trust", "gw")


@pytest.mark.parametrize(("exports", "where", "message"), [
    ("  - name: x\n    pem: {entry: gw/nope, key: k.pem}\n", ":17:", "keystore 'gw' has no entry 'nope'"),
    ("  - name: x\n    pem: {entry: trust/gw, key: k.pem}\n", ":17:", "trusted entry, without a key"),
    ("  - name: x\n    pem: {entry: nope/gw, key: k.pem}\n", ":17:", "there is no keystore 'nope'"),
    ("  - name: x\n    pem: {keystore: gw, bundle: b.pem}\n", ":17:", "has no trusted entries"),
    ("  - name: x\n    pem: {entry: gw/gw, key: gw.p12}\n", ":17:", "already written by keystores[0]"),
    ("  - name: x\n    pem: {entry: gw/gw, key: ../k.pem}\n", ":17:", "'..' may not leave it"),
    ("  - name: x\n    pem: {entry: gw/gw, key: kstool.lock}\n", ":17:", "kstool's own lock file"),
    ("  - name: x\n    pem: {entry: gw/gw, certificate: c.pem, unencrypted_key: true}\n", ":17:",
     "unencrypted_key applies to the key"),
    ("  - name: x\n    pem: {entry: gw/gw, key: k.pem, unencrypted_key: true, key_password: {env: X}}\n", ":17:",
     "an unencrypted key has no password"),
    ("  - name: x\n    pem: {entry: gw/gw, key: k.pem}\n  - name: x\n    pem: {entry: gw/gw, certificate: c.pem}\n",
     ":18:", "export name 'x' is already used"),
    ("  - name: x\n    pem: {entry: gw/gw, key: k.pem}\n  - name: y\n    pem: {entry: gw/gw, certificate: K.pem}\n",
     ":19:", "already written by exports[0]"),
    ("  - name: x\n    kubernetes_secret: {path: s.yaml, name: Bad_Name, tls: {entry: gw/gw}}\n", ":17:",
     "not a valid Kubernetes object name"),
    ("  - name: x\n    kubernetes_secret: {path: s.yaml, name: ok, data: {'a b': {keystore: gw}}}\n", ":17:",
     "not a valid Secret data key"),
    ("  - name: x\n    kubernetes_secret: {path: s.yaml, name: ok, data: {a: {keystore: nope}}}\n", ":17:",
     "there is no keystore 'nope'"),
    ("  - name: x\n    kubernetes_secret: {path: s.yaml, name: ok, labels: {'-a': b}, tls: {entry: gw/gw}}\n",
     ":17:", "not a valid label key"),
])
def test_spec_errors_name_the_place_and_the_fix(tmp_path: Path, exports: str, where: str, message: str) -> None:
    text = error_of(tmp_path, exports)
    assert message in text and f"kstool.yaml{where}" in text


@pytest.mark.parametrize("exports", [
    "  - name: x\n    pem: {entry: gw/gw}\n",  # no file
    "  - name: x\n    pem: {keystore: trust}\n",  # no bundle
    "  - name: x\n    pem: {entry: gw/gw, bundle: b.pem}\n",  # a bundle is of a keystore
    "  - name: x\n    kubernetes_secret: {path: s.yaml, name: ok}\n",  # neither tls nor data
    "  - name: x\n    kubernetes_secret: {path: s.yaml, name: ok, tls: {entry: gw/gw}, data: {a: {keystore: gw}}}\n",
    "  - name: x\n    pem: {entry: gw/gw, key: k.pem}\n    kubernetes_secret: {path: s.yaml, name: ok, "
    "tls: {entry: gw/gw}}\n",
    "  - name: x\n    pem: {entry: gw/gw, key: k.pem, key_password: hunter2hunter2}\n",  # a password, not a reference
])
def test_schema_refuses_malformed_exports(tmp_path: Path, exports: str) -> None:
    assert "kstool.yaml:1" in error_of(tmp_path, exports)


def test_schema_documents_exports() -> None:
    doc = schema()
    assert "exports" in doc["properties"]
    assert {"export", "pemExport", "kubernetesSecret"} <= set(doc["$defs"])


# -- kstool.lock ------------------------------------------------------------------------------------------

STORE = LockedStore("gw.p12", "pkcs12", "ab" * 32, ({"alias": "gw", "kind": "key"},), "s", "i", "kstool.yaml")


def test_a_lock_without_exports_keeps_its_bytes_and_a_lock_with_them_round_trips(tmp_path: Path) -> None:
    plain = render_lock({"gw": STORE})
    assert b'"exports"' not in plain
    assert render_lock({"gw": STORE}, {}) == plain
    exports = {"gw-pem": LockedExport("pem", (LockedFile("pem/gw.key", "key", "cd" * 32),), "kstool.yaml")}
    data = render_lock({"gw": STORE}, exports)
    assert json.loads(data)["exports"]["gw-pem"] == {
        "kind": "pem", "owner": "kstool.yaml", "files": [{"path": "pem/gw.key", "role": "key", "sha256": "cd" * 32}]}
    (tmp_path / "kstool.lock").write_bytes(data)
    lock = read_lock(tmp_path)
    assert lock is not None and dict(lock.exports) == exports and lock.keystores["gw"] == STORE
    (tmp_path / "kstool.lock").write_bytes(plain)  # a lock as 0.1 and later wrote it, without exports
    lock = read_lock(tmp_path)
    assert lock is not None and not lock.exports


@pytest.mark.parametrize(("exports", "message"), [
    ([], "'exports' is not an object"),
    ({"x": {"kind": "zip", "files": []}}, "kind pem or kubernetes_secret"),
    ({"x": {"kind": "pem", "files": {}}}, "exports.'x'.files is not a list"),
    ({"x": {"kind": "pem", "files": [{"path": "a"}]}}, "string path, role and sha256"),
    ({"x": {"kind": "pem", "files": [{"path": "../a", "role": "key", "sha256": ""}]}}, "leaves the output root"),
    ({"x": {"kind": "pem", "files": [{"path": "/etc/x", "role": "key", "sha256": ""}]}}, "is absolute"),
])
def test_a_bad_exports_record_is_not_a_lock(tmp_path: Path, exports: object, message: str) -> None:
    doc = json.loads(render_lock({"gw": STORE}))
    doc["exports"] = exports
    (tmp_path / "kstool.lock").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(KstoolError, match="is not a kstool lock file") as info:
        read_lock(tmp_path)
    assert message in str(info.value)


# -- the plan ---------------------------------------------------------------------------------------------

def _key_entry() -> KeyEntry:

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "gw")])
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(when).not_valid_after(when + dt.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return KeyEntry("gw", key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()),
                    (cert.public_bytes(Encoding.DER),), 0)


def _change(action: Action, build: Keep | NewKey | None, entry_action: Action = Action.NOOP) -> KeystoreChange:
    entry = EntryChange("gw", entry_action, ("key changed: RSA 2048 → EC 256",) if entry_action is not Action.NOOP
                        else (), "key", "generate", build=build)
    return KeystoreChange("gw", "gw.p12", "pkcs12", action, (), (entry,))


def test_plan_actions_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTS_UNIT_PASS", "unit-pass-1234")
    spec = load(tmp_path, """\
  - name: gw-pem
    pem: {entry: gw/gw, key: gw.key, certificate: gw.crt}
  - name: store
    kubernetes_secret: {path: st.yaml, name: st, data: {gw.p12: {keystore: gw}}}
""")
    inputs = resolve_inputs(spec, {"EXPORTS_UNIT_PASS": "unit-pass-1234"})
    entry = _key_entry()
    kept = plan_material([_change(Action.NOOP, Keep(entry))], {"gw": b"STORE"})
    nothing = plan_exports(spec, inputs, ObservedExports(), kept)
    assert [(x.path, x.action) for x in nothing] == [("gw.key", Action.CREATE), ("gw.crt", Action.CREATE),
                                                     ("st.yaml", Action.CREATE)]
    assert all(x.expected for x in nothing)
    files = {x.path: ObservedFile(x.expected or b"", 0o600, 0, 0) for x in nothing}
    same = plan_exports(spec, inputs, ObservedExports(files), kept)
    assert {x.action for x in same} == {Action.NOOP}
    # an edited file and a widened mode: updates with the reason
    files["gw.crt"] = ObservedFile(b"edited", 0o600, 0, 0)
    files["st.yaml"] = ObservedFile(files["st.yaml"].data, 0o644, 0, 0)
    drift = {x.path: x for x in plan_exports(spec, inputs, ObservedExports(files), kept)}
    assert drift["gw.crt"].action is Action.UPDATE and "edited since apply" in drift["gw.crt"].reasons[0]
    assert drift["st.yaml"].reasons == ("mode 0644 → 0600",) and drift["gw.key"].action is Action.NOOP
    # a key replaced in this plan: every file of it is updated, saying why; the bytes come at apply
    files = {x.path: ObservedFile(x.expected or b"", 0o600, 0, 0) for x in nothing}
    replaced = plan_material([_change(Action.UPDATE, NewKey(spec.keystores[0].entries[0].source),  # type: ignore[arg-type]
                                      Action.REPLACE)], {"gw": b"STORE"})
    planned = {x.path: x for x in plan_exports(spec, inputs, ObservedExports(files), replaced)}
    assert planned["gw.key"].action is Action.UPDATE and planned["gw.key"].expected is None
    assert planned["gw.key"].reasons == ("source entry gw/gw: replace (key changed: RSA 2048 → EC 256)",)
    assert planned["st.yaml"].reasons == ("source keystore gw: update",)
    # a removed export's file that still holds what kstool wrote is deleted
    orphan = ObservedExports(files, (("old", "pem", "key", "old.key", b"x"),))
    last = plan_exports(spec, inputs, orphan, kept)[-1]
    assert (last.path, last.action, last.reasons) == ("old.key", Action.DELETE, ("export not in spec",))


def test_material_from_a_fast_path_store_without_keys_is_never_used() -> None:
    shell = KeyEntry("gw", b"", (b"\x30\x00",), 0)  # the fast path leaves keys encrypted
    material = plan_material([_change(Action.NOOP, Keep(shell))], {})
    assert ("gw", "gw") not in material.entries and "gw/gw" in material.pending
    assert isinstance(material, Material)


def test_lock_digests_match_the_expected_bytes(tmp_path: Path) -> None:
    spec = load(tmp_path, "  - name: b\n    pem: {keystore: trust, bundle: ca.pem}\n")
    change = ExportChange("b", "pem", "bundle", "ca.pem", Action.NOOP, (), b"PEM")
    got = locked_exports(spec, [change], {}, "kstool.yaml", {})
    assert got["b"].files == (LockedFile("ca.pem", "bundle", hashlib.sha256(b"PEM").hexdigest()),)
    assert locked_exports(spec, [change], {"ca.pem": b"NEW"}, "o", {})["b"].files[0].sha256 == \
        hashlib.sha256(b"NEW").hexdigest()


def test_a_bundle_holds_the_stores_trusted_certificates_in_store_order_once_each(tmp_path: Path) -> None:
    spec = load(tmp_path, "  - name: b\n    pem: {keystore: trust, bundle: ca.pem}\n")
    inputs = resolve_inputs(spec, {"EXPORTS_UNIT_PASS": "unit-pass-1234"})
    first, second = _key_entry().chain_der[0], _key_entry().chain_der[0]
    material = Material({("trust", "x"): TrustedEntry("x", second, 0), ("trust", "y"): TrustedEntry("y", first, 0),
                         ("trust", "z"): TrustedEntry("z", second, 0), ("trust", "k"): _key_entry()}, {},
                        aliases={"trust": ("x", "k", "y", "z")})  # store order, as the plan gives it
    data = render_file(spec, spec.exports[0], "bundle", inputs, material)
    ders = [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(data)]
    assert ders == [second, first]  # the key entry is no CA; the repeated certificate is written once
    with pytest.raises(Exception, match="built by apply"):  # not known yet: the plan says why, apply renders it
        render_file(spec, spec.exports[0], "bundle", inputs, Material({}, {}))
