"""Exports end to end: PEM files and Kubernetes Secrets cut from the keystores' entries, judged by openssl (key
matches certificate, encrypted keys open with the password, chains verify, a real TLS handshake with s_server and
s_client on loopback), by the Kubernetes schema (kubernetes-validate) and by pyjks (the same key and chain as the
keystore entry); a second apply writes nothing; imported keys give the same bytes in any folder."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jks
import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_der_private_key,
    load_pem_private_key,
)

import kstool.engine.commit
import kstool.formats.pem
from kstool.cli import main
from tests.support.clirun import run, snapshot

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

SPEC = """\
version: 1
keystores:
  - name: ca
    path: ca.p12
    password: {file: secrets/ca.pass, generate: true}
    entries:
      - alias: root
        generate: {dname: "CN=Export Test Root CA", key: {algorithm: EC}, validity_days: 3650, ca: {}}
      - alias: issuing
        generate: {dname: "CN=Export Test Issuing CA", key: {algorithm: EC}, validity_days: 1825,
                   ca: {path_length: 0}, issuer: ca/root}
  - name: gateway
    path: gateway.jks
    password: {file: secrets/gateway.pass, generate: true}
    entries:
      - alias: gateway
        generate: {dname: "CN=localhost", key: {algorithm: RSA, size: 2048}, issuer: ca/issuing, usage: [server],
                   san: ["dns:localhost", "ip:127.0.0.1"]}
  - name: trust
    path: trust.p12
    password: {file: secrets/trust.pass, generate: true}
    entries:
      - alias: root
        trusted: {entry: ca/root}
exports:
  - name: gateway-pem
    pem: {entry: gateway/gateway, key: pem/gateway.key, certificate: pem/gateway.crt, chain: pem/chain.crt,
          fullchain: pem/fullchain.pem}
  - name: ca-bundle
    pem: {keystore: trust, bundle: pem/ca-bundle.pem}
  - name: gateway-tls
    kubernetes_secret:
      path: k8s/gateway-tls.yaml
      name: gateway-tls
      namespace: edge
      labels: {app.kubernetes.io/name: gateway}
      tls: {entry: gateway/gateway}
  - name: gateway-keystore
    kubernetes_secret:
      path: k8s/gateway-keystore.yaml
      name: gateway-keystore
      data: {keystore.jks: {keystore: gateway}, truststore.p12: {keystore: trust}}
"""

EXPORT_FILES = ("pem/gateway.key", "pem/gateway.crt", "pem/chain.crt", "pem/fullchain.pem", "pem/ca-bundle.pem",
                "k8s/gateway-tls.yaml", "k8s/gateway-keystore.yaml")


def openssl(*args: str | Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], input=stdin, capture_output=True, timeout=60, check=False)


def pem_blocks(data: bytes) -> list[bytes]:
    """The DER of each certificate of a PEM file, in order."""
    return [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(data)]


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("exports")
    (folder / "kstool.yaml").write_text(SPEC, encoding="utf-8")
    assert main(["apply", str(folder / "kstool.yaml")]) == 0
    return folder


def test_every_export_file_is_written_private_and_in_the_lock(applied: Path) -> None:
    lock = yaml.safe_load((applied / "kstool.lock").read_text(encoding="utf-8"))  # JSON is YAML
    recorded = {f["path"]: f for x in lock["exports"].values() for f in x["files"]}
    assert sorted(recorded) == sorted(EXPORT_FILES)
    assert lock["exports"]["gateway-pem"]["kind"] == "pem"
    assert lock["exports"]["gateway-tls"]["kind"] == "kubernetes_secret"
    for rel in EXPORT_FILES:
        assert (applied / rel).stat().st_mode & 0o777 == 0o600, rel
        assert recorded[rel]["sha256"] == hashlib.sha256((applied / rel).read_bytes()).hexdigest()


def test_openssl_opens_the_encrypted_key_with_the_store_password_and_it_matches(applied: Path) -> None:
    key = applied / "pem/gateway.key"
    assert key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    pw_file = applied / "secrets/gateway.pass"
    opened = openssl("pkey", "-in", key, "-passin", f"file:{pw_file}", "-pubout")
    assert opened.returncode == 0, opened.stderr
    cert_pub = openssl("x509", "-in", applied / "pem/gateway.crt", "-noout", "-pubkey")
    assert cert_pub.returncode == 0 and opened.stdout == cert_pub.stdout
    wrong = applied / "wrong.pass"
    wrong.write_text("not-the-password\n", encoding="utf-8")
    assert openssl("pkey", "-in", key, "-passin", f"file:{wrong}", "-noout").returncode != 0
    # the structure is PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC
    parsed = openssl("asn1parse", "-in", key).stdout.decode()
    assert "PBES2" in parsed and "hmacWithSHA256" in parsed and "aes-256-cbc" in parsed


def test_openssl_verifies_the_chain_and_the_files_agree(applied: Path) -> None:
    leaf = (applied / "pem/gateway.crt").read_bytes()
    chain = (applied / "pem/chain.crt").read_bytes()
    full = (applied / "pem/fullchain.pem").read_bytes()
    assert full == leaf + chain and len(pem_blocks(chain)) == 2 and len(pem_blocks(leaf)) == 1
    bundle = applied / "pem/ca-bundle.pem"
    assert len(pem_blocks(bundle.read_bytes())) == 1
    out = openssl("verify", "-CAfile", bundle, "-untrusted", applied / "pem/chain.crt", applied / "pem/gateway.crt")
    assert out.returncode == 0, out.stdout + out.stderr
    # without the chain the leaf does not verify: the chain file is what carries the issuing CA
    assert openssl("verify", "-CAfile", bundle, applied / "pem/gateway.crt").returncode != 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def s_server(folder: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``openssl s_server`` on loopback from the PEM exports (the key's password from the environment); always
    killed on the way out."""
    env = {**os.environ, "KEY_PASS": (folder / "secrets/gateway.pass").read_text(encoding="utf-8").strip()}
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(folder / "pem/gateway.crt"),
         "-key", str(folder / "pem/gateway.key"), "-pass", "env:KEY_PASS", "-cert_chain",
         str(folder / "pem/chain.crt"), "-www"],  # -www: stdin is not read (its EOF would stop the server)
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def test_tls_handshake_with_s_server_and_s_client_from_the_pem_files(applied: Path) -> None:
    port = _free_port()
    with s_server(applied, port) as server:
        deadline = time.monotonic() + 30  # bounded wait for the server to listen
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else b""
            client = openssl("s_client", "-connect", f"127.0.0.1:{port}", "-verify_return_error", "-CAfile",
                             applied / "pem/ca-bundle.pem", "-verify_hostname", "localhost", "-brief")
            text = (client.stdout + client.stderr).decode(errors="replace")
            if client.returncode == 0 or ("onnection refused" not in text and "errno=111" not in text):
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.1)
        assert client.returncode == 0, text
        assert "Verification: OK" in text and "localhost" in text, text


def _secret(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def test_tls_secret_validates_against_the_kubernetes_schema_and_holds_the_keystore_entry(applied: Path) -> None:
    doc = _secret(applied / "k8s/gateway-tls.yaml")
    version = kubernetes_validate.latest_version()
    kubernetes_validate.validate(doc, version, strict=True)  # raises on a schema violation
    assert doc["type"] == "kubernetes.io/tls" and doc["metadata"] == {
        "name": "gateway-tls", "namespace": "edge", "labels": {"app.kubernetes.io/name": "gateway"}}
    assert set(doc["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    data = {k: base64.b64decode(v, validate=True) for k, v in doc["data"].items()}
    password = (applied / "secrets/gateway.pass").read_text(encoding="utf-8").strip()
    store = jks.KeyStore.load(str(applied / "gateway.jks"), password)
    entry = store.private_keys["gateway"]
    chain = [der for _, der in entry.cert_chain]
    assert pem_blocks(data["tls.crt"]) == chain and len(chain) == 3
    assert pem_blocks(data["ca.crt"]) == chain[1:]
    assert data["tls.key"].startswith(b"-----BEGIN PRIVATE KEY-----\n")  # Kubernetes needs it unencrypted

    def pkcs8(key: Any) -> bytes:
        return bytes(key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()))

    assert pkcs8(load_pem_private_key(data["tls.key"], None)) == pkcs8(load_der_private_key(entry.pkey_pkcs8, None))
    # the PEM export holds that same key, under the store password
    pem_key = load_pem_private_key((applied / "pem/gateway.key").read_bytes(), password.encode())
    assert pkcs8(pem_key) == pkcs8(load_der_private_key(entry.pkey_pkcs8, None))


def test_opaque_secret_carries_the_keystores_bytes(applied: Path) -> None:
    doc = _secret(applied / "k8s/gateway-keystore.yaml")
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    assert doc["type"] == "Opaque" and list(doc["data"]) == ["keystore.jks", "truststore.p12"]
    assert base64.b64decode(doc["data"]["keystore.jks"]) == (applied / "gateway.jks").read_bytes()
    assert base64.b64decode(doc["data"]["truststore.p12"]) == (applied / "trust.p12").read_bytes()


def test_the_kubernetes_validator_is_a_real_judge() -> None:
    bad = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x", "nome": "typo"}, "data": {"a": "QQ=="}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, kubernetes_validate.latest_version(), strict=True)


def test_validate_counts_the_exports(applied: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "validate", applied / "kstool.yaml")
    assert result.code == 0 and "valid (3 keystore(s), 4 entries, 4 export(s))" in result.out


def test_second_apply_writes_nothing_and_plan_and_verify_agree(applied: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(applied)
    result = run(capsys, "apply", applied / "kstool.yaml")
    assert result.code == 0 and "wrote" not in result.out and "No changes." in result.out
    assert snapshot(applied) == before
    plan = run(capsys, "plan", "--json", applied / "kstool.yaml").json()
    assert plan["changes"] is False and {x["action"] for x in plan["exports"]} == {"no-op"}
    assert len(plan["exports"]) == len(EXPORT_FILES)
    verify = run(capsys, "verify", applied / "kstool.yaml")
    assert verify.code == 0 and "pem/gateway.key" in verify.out
    report = run(capsys, "verify", "--json", applied / "kstool.yaml").json()
    exported = [a for a in report["artifacts"] if a["kind"] == "export"]
    assert sorted(a["path"] for a in exported) == sorted(EXPORT_FILES) and all(a["ok"] for a in exported)


def test_a_replaced_source_key_updates_its_exports_in_the_same_apply(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "kstool.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    assert run(capsys, "apply", spec).code == 0
    old_key = (tmp_path / "pem/gateway.key").read_bytes()
    spec.write_text(SPEC.replace("key: {algorithm: RSA, size: 2048}", "key: {algorithm: EC, size: 384}"),
                    encoding="utf-8")
    plan = run(capsys, "plan", "--json", spec).json()
    by_path = {x["path"]: x for x in plan["exports"]}
    for rel in ("pem/gateway.key", "pem/gateway.crt", "pem/fullchain.pem", "k8s/gateway-tls.yaml",
                "k8s/gateway-keystore.yaml"):
        assert by_path[rel]["action"] == "update", rel
    assert "source entry gateway/gateway: replace" in by_path["pem/gateway.key"]["reasons"][0]
    assert by_path["pem/ca-bundle.pem"]["action"] == "no-op"  # the root did not change
    human = run(capsys, "plan", spec).out
    assert "~ export gateway-pem (pem/gateway.key, PEM key): update" in human
    assert run(capsys, "apply", spec).code == 0
    assert (tmp_path / "pem/gateway.key").read_bytes() != old_key
    pw = tmp_path / "secrets/gateway.pass"
    out = openssl("pkey", "-in", tmp_path / "pem/gateway.key", "-passin", f"file:{pw}", "-noout", "-text")
    assert out.returncode == 0 and b"384 bit" in out.stdout
    assert run(capsys, "plan", "--detailed-exitcode", spec).code == 0


def test_tampered_export_is_drift_and_a_removed_export_is_deleted(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "kstool.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    assert run(capsys, "apply", spec).code == 0
    with (tmp_path / "pem/gateway.crt").open("ab") as f:
        f.write(b"# edited\n")
    (tmp_path / "pem/ca-bundle.pem").chmod(0o644)
    verify = run(capsys, "verify", spec)
    assert verify.code == 1
    assert "DRIFT pem/gateway.crt (export gateway-pem)" in verify.out
    assert "mode 0644 → 0600" in verify.out
    assert run(capsys, "apply", spec).code == 0
    assert run(capsys, "verify", spec).code == 0
    assert (tmp_path / "pem/ca-bundle.pem").stat().st_mode & 0o777 == 0o600
    # drop the bundle export: its file is deleted (backed up), and kstool.lock forgets it
    spec.write_text(SPEC.replace("  - name: ca-bundle\n    pem: {keystore: trust, bundle: pem/ca-bundle.pem}\n", ""),
                    encoding="utf-8")
    plan = run(capsys, "plan", "--json", spec).json()
    assert [(x["path"], x["action"], x["reasons"]) for x in plan["exports"] if x["action"] != "no-op"] == [
        ("pem/ca-bundle.pem", "delete", ["export not in spec"])]
    assert run(capsys, "apply", spec).code == 0
    assert not (tmp_path / "pem/ca-bundle.pem").exists()
    assert list((tmp_path / "pem").glob("ca-bundle.pem.*.kstool-backup"))
    assert "ca-bundle" not in (tmp_path / "kstool.lock").read_text(encoding="utf-8")
    assert run(capsys, "plan", "--detailed-exitcode", spec).code == 0


IMPORTED = """\
version: 1
keystores:
  - name: web
    path: web.p12
    password: {env: EXPORT_STORE_PASS}
    entries:
      - alias: web
        import: {certificate: SRC/cert.pem, private_key: SRC/key.pem}
  - name: trust
    path: trust.jks
    password: {env: EXPORT_STORE_PASS}
    entries:
      - alias: web
        trusted: {certificate: SRC/cert.pem}
exports:
  - name: web-pem
    mode: "0640"
    pem: {entry: web/web, key: out/web.key, fullchain: out/web.pem}
  - name: web-key-other-password
    pem: {entry: web/web, key: out/web-other.key, key_password: {env: EXPORT_KEY_PASS}}
  - name: web-key-clear
    pem: {entry: web/web, key: out/web-clear.key, unencrypted_key: true}
  - name: trust-bundle
    pem: {keystore: trust, bundle: out/bundle.pem}
  - name: web-tls
    kubernetes_secret: {path: out/web-tls.yaml, name: web-tls, tls: {entry: web/web, ca: false}}
  - name: web-store
    kubernetes_secret: {path: out/web-store.yaml, name: web-store, data: {web.p12: {keystore: web}}}
"""


@pytest.fixture()
def imported_source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    made = openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                   src / "key.pem", "-out", src / "cert.pem", "-subj", "/CN=web.example", "-days", "30")
    assert made.returncode == 0, made.stderr
    return src


def test_imported_keys_give_the_same_export_bytes_in_any_folder(tmp_path: Path, imported_source: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EXPORT_STORE_PASS", "store-pass-1234")
    monkeypatch.setenv("EXPORT_KEY_PASS", "other-key-pass-5678")
    files: dict[str, dict[str, bytes]] = {}
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "kstool.yaml").write_text(IMPORTED.replace("SRC", str(imported_source)), encoding="utf-8")
        assert run(capsys, "apply", folder / "kstool.yaml").code == 0
        files[name] = {str(p.relative_to(folder)): p.read_bytes() for p in sorted((folder / "out").iterdir())}
    assert files["a"] == files["b"] and len(files["a"]) == 7
    a = tmp_path / "a"
    assert (a / "out/web.key").stat().st_mode & 0o777 == 0o640  # the spec's mode
    assert (a / "out/web-tls.yaml").stat().st_mode & 0o777 == 0o600
    assert files["a"]["out/web-clear.key"].startswith(b"-----BEGIN PRIVATE KEY-----\n")
    # each encrypted key opens with its own password only
    for rel, pw in (("out/web.key", "store-pass-1234"), ("out/web-other.key", "other-key-pass-5678")):
        (a / "pw").write_text(pw, encoding="utf-8")
        opened = openssl("pkey", "-in", a / rel, "-passin", f"file:{a / 'pw'}", "-pubout")
        assert opened.returncode == 0, opened.stderr
        assert opened.stdout == openssl("pkey", "-in", imported_source / "key.pem", "-pubout").stdout
    (a / "pw").write_text("store-pass-1234", encoding="utf-8")
    assert openssl("pkey", "-in", a / "out/web-other.key", "-passin", f"file:{a / 'pw'}", "-noout").returncode != 0
    tls = yaml.safe_load(files["a"]["out/web-tls.yaml"])
    kubernetes_validate.validate(tls, kubernetes_validate.latest_version(), strict=True)
    assert set(tls["data"]) == {"tls.crt", "tls.key"}  # ca: false
    # a second apply writes nothing, with the exports' own password too
    before = snapshot(a)
    result = run(capsys, "apply", a / "kstool.yaml")
    assert result.code == 0 and "wrote" not in result.out and snapshot(a) == before


def test_generated_keys_differ_between_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = """\
version: 1
keystores:
  - name: k
    path: k.p12
    password: {env: EXPORT_STORE_PASS}
    entries:
      - alias: k
        generate: {dname: "CN=k", key: {algorithm: EC}}
exports:
  - name: k
    pem: {entry: k/k, key: k.key}
"""
    os.environ["EXPORT_STORE_PASS"] = "store-pass-1234"
    try:
        keys = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            (tmp_path / name / "kstool.yaml").write_text(spec, encoding="utf-8")
            assert run(capsys, "apply", tmp_path / name / "kstool.yaml").code == 0
            keys.append((tmp_path / name / "k.key").read_bytes())
        assert keys[0] != keys[1]
    finally:
        del os.environ["EXPORT_STORE_PASS"]


def test_a_failed_export_write_rolls_back_the_keystores_too(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Exports commit with the keystores: when putting an export file in place fails, the keystores already
    replaced are restored and nothing is left half-applied."""
    spec = tmp_path / "kstool.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    assert run(capsys, "apply", spec).code == 0
    before = {k: v[:2] for k, v in snapshot(tmp_path).items()}
    spec.write_text(SPEC.replace("key: {algorithm: RSA, size: 2048}", "key: {algorithm: EC, size: 384}"),
                    encoding="utf-8")

    class FailingOs:
        def __getattr__(self, name: str) -> object:
            return getattr(os, name)

        @staticmethod
        def replace(src: Path, dst: Path) -> None:
            if str(dst).endswith("k8s/gateway-tls.yaml"):  # after gateway.jks and the PEM files are in place
                raise OSError(28, "No space left on device")
            os.replace(src, dst)

    monkeypatch.setattr(kstool.engine.commit, "os", FailingOs())
    result = run(capsys, "apply", spec)
    assert result.code == 1 and "nothing was changed" in result.err
    assert "restored: gateway.jks" in result.err and "pem/gateway.key" in result.err
    after = {k: v[:2] for k, v in snapshot(tmp_path).items() if not k.endswith(".kstool-backup")}
    assert {k: v for k, v in after.items() if k != "kstool.yaml"} == {k: v for k, v in before.items()
                                                                      if k != "kstool.yaml"}
    assert len(after) == len(before) > 10
    assert not list(tmp_path.rglob("*.kstool-tmp"))


def test_python_ssl_loads_the_full_chain_and_the_encrypted_key(applied: Path) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    password = (applied / "secrets/gateway.pass").read_text(encoding="utf-8").strip()
    context.load_cert_chain(applied / "pem/fullchain.pem", applied / "pem/gateway.key", password=password)
    with pytest.raises(ssl.SSLError):
        context.load_cert_chain(applied / "pem/fullchain.pem", applied / "pem/gateway.key", password="wrong-pass")


def test_an_export_key_that_does_not_read_back_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The exported key is opened again (by cryptography) before the commit: a wrong one stops the apply."""
    real = kstool.formats.pem.encrypted_private_key_pem
    other = _pkcs8_of_new_key()

    def wrong_key(key_der: bytes, password: str, **kwargs: Any) -> bytes:
        return real(other, password, **kwargs)

    monkeypatch.setattr(kstool.formats.pem, "encrypted_private_key_pem", wrong_key)
    spec = tmp_path / "kstool.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    result = run(capsys, "apply", spec)
    assert result.code == 1 and "holds another key than gateway/gateway" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kstool.yaml"]  # no keystore, no export, no lock


def _pkcs8_of_new_key() -> bytes:
    return bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(Encoding.DER, PrivateFormat.PKCS8,
                                                                       NoEncryption()))


def test_a_rotated_store_password_re_encrypts_the_exported_key(tmp_path: Path, imported_source: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EXPORT_STORE_PASS", "store-pass-1234")
    monkeypatch.setenv("EXPORT_KEY_PASS", "other-key-pass-5678")
    spec = tmp_path / "kstool.yaml"
    text = IMPORTED.replace("SRC", str(imported_source))
    spec.write_text(text, encoding="utf-8")
    assert run(capsys, "apply", spec).code == 0
    monkeypatch.setenv("EXPORT_OLD_PASS", "store-pass-1234")
    monkeypatch.setenv("EXPORT_STORE_PASS", "rotated-pass-9876")
    rotated = "    password: {env: EXPORT_STORE_PASS}\n    previous_password: {env: EXPORT_OLD_PASS}\n"
    spec.write_text(text.replace("    password: {env: EXPORT_STORE_PASS}\n", rotated), encoding="utf-8")
    plan = run(capsys, "plan", "--json", spec).json()
    by_path = {x["path"]: x for x in plan["exports"]}
    assert by_path["out/web.key"]["action"] == "update"
    assert by_path["out/web.key"]["reasons"] == [
        "the key file does not open with the store password of web: re-encrypted under it (password rotated?)"]
    assert by_path["out/web-other.key"]["action"] == "no-op"  # its own key_password did not change
    assert by_path["out/web-clear.key"]["action"] == "no-op" and by_path["out/web.pem"]["action"] == "no-op"
    assert by_path["out/web-store.yaml"]["action"] == "update"  # the keystore's bytes change
    assert run(capsys, "apply", spec).code == 0
    (tmp_path / "pw").write_text("rotated-pass-9876", encoding="utf-8")
    assert openssl("pkey", "-in", tmp_path / "out/web.key", "-passin", f"file:{tmp_path / 'pw'}",
                   "-noout").returncode == 0
    assert run(capsys, "plan", "--detailed-exitcode", spec).code == 0


def test_an_export_path_that_is_a_symbolic_link_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    spec = tmp_path / "kstool.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    (tmp_path / "pem").mkdir()
    target = tmp_path / "elsewhere.crt"
    (tmp_path / "pem/gateway.crt").symlink_to(target)
    result = run(capsys, "apply", spec)
    assert result.code == 1
    assert "export 'gateway-pem' (" in result.err and "pem/gateway.crt is a symbolic link" in result.err
    assert "change the export's path" in result.err
    assert not target.exists() and not (tmp_path / "gateway.jks").exists()  # nothing written, through no link
