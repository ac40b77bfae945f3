"""Certificate authorities end to end: examples/mtls applied, judged by openssl, keytool and a real mutual-TLS
handshake between a Java server and Java clients on loopback; reissues followed through issuers."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from kstool.cli import main
from kstool.formats.codec import decode
from kstool.formats.entries import KeyEntry, TrustedEntry, detect_type
from tests.support.clirun import copy_example, run, snapshot
from tests.support.javatools import HERE, have_jdk, keytool_list

STORES = {"ca": "ca/internal-ca.p12", "server": "server/server.p12", "server-trust": "server/truststore.p12",
          "billing": "clients/billing.p12", "orders": "clients/orders.jks", "client-trust": "clients/truststore.p12"}

ROGUE = """\
version: 1
keystores:
  - name: rogue
    path: rogue.p12
    password: {file: secrets/rogue.pass, generate: true}
    entries:
      - alias: root
        generate: {dname: "CN=Example Root CA, O=Example", key: {algorithm: EC}, validity_days: 3650, ca: {}}
      - alias: intruder
        generate: {dname: "CN=billing, O=Example", key: {algorithm: EC}, validity_days: 30, issuer: rogue/root,
                   usage: [client]}
"""


def apply(spec: Path) -> None:
    assert main(["apply", str(spec)]) == 0


def password(folder: Path, name: str) -> str:
    return (folder / "secrets" / f"{name}.pass").read_text(encoding="utf-8").strip()


def entries(folder: Path, name: str, path: str | None = None) -> tuple[KeyEntry | TrustedEntry, ...]:
    data = (folder / (path or STORES[name])).read_bytes()
    store_type = detect_type(data)
    assert store_type is not None
    return decode(data, store_type, password(folder, name))


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = copy_example("mtls", tmp_path_factory.mktemp("ca"))
    apply(spec)
    return spec.parent


def pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode("ascii")


def openssl_verify(tmp: Path, root: bytes, chain: tuple[bytes, ...], purpose: str) -> str:
    (tmp / "root.pem").write_text(pem(root), encoding="ascii")
    (tmp / "untrusted.pem").write_text("".join(pem(c) for c in chain[1:]) or pem(root), encoding="ascii")
    (tmp / "leaf.pem").write_text(pem(chain[0]), encoding="ascii")
    out = subprocess.run(["openssl", "verify", "-x509_strict", "-purpose", purpose, "-CAfile", str(tmp / "root.pem"),
                          "-untrusted", str(tmp / "untrusted.pem"), str(tmp / "leaf.pem")],
                         capture_output=True, text=True, check=False, timeout=60)
    return out.stdout + out.stderr


def test_example_applies_and_second_apply_writes_nothing(mtls: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(mtls)
    result = run(capsys, "apply", mtls / "kstool.yaml")
    assert result.code == 0 and "No changes" in result.out
    assert snapshot(mtls) == before
    assert run(capsys, "verify", mtls / "kstool.yaml").code == 0


def test_chains_are_leaf_then_issuers_in_every_store_type(mtls: Path) -> None:
    root, services = entries(mtls, "ca")
    assert isinstance(root, KeyEntry) and isinstance(services, KeyEntry)
    assert services.chain_der[1:] == root.chain_der and len(root.chain_der) == 1
    for name in ("server", "billing", "orders"):  # pkcs12 and jks
        (leaf,) = entries(mtls, name)
        assert isinstance(leaf, KeyEntry) and leaf.chain_der[1:] == services.chain_der
    for name in ("server-trust", "client-trust"):
        (anchor,) = entries(mtls, name)
        assert isinstance(anchor, TrustedEntry) and anchor.cert_der == root.chain_der[0]


def test_openssl_verifies_every_chain_against_the_root(mtls: Path, tmp_path: Path) -> None:
    root, services = entries(mtls, "ca")
    assert isinstance(root, KeyEntry) and isinstance(services, KeyEntry)
    assert ": OK" in openssl_verify(tmp_path, root.chain_der[0], services.chain_der, "any")
    for name, purpose in (("server", "sslserver"), ("billing", "sslclient"), ("orders", "sslclient")):
        (leaf,) = entries(mtls, name)
        assert isinstance(leaf, KeyEntry)
        assert ": OK" in openssl_verify(tmp_path, root.chain_der[0], leaf.chain_der, purpose), name
    (server,) = entries(mtls, "server")
    assert isinstance(server, KeyEntry)
    # usage: [server] only: openssl refuses it as a client certificate
    assert ": OK" not in openssl_verify(tmp_path, root.chain_der[0], server.chain_der, "sslclient")


@pytest.mark.java
@pytest.mark.skipif(not have_jdk(), reason="needs the JDK")
def test_keytool_shows_the_chain_lengths(mtls: Path) -> None:
    lengths = {"ca": [1, 2], "server": [3], "billing": [3], "orders": [3]}
    for name, want in lengths.items():
        listing = keytool_list(mtls / STORES[name], password(mtls, name))
        got = [int(line.rsplit(":", 1)[1]) for line in listing.splitlines()
               if line.startswith("Certificate chain length")]
        assert got == want, (name, listing)


@pytest.fixture(scope="module")
def mtls_java(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not have_jdk():
        pytest.skip("needs the JDK")
    classes = tmp_path_factory.mktemp("mtls-classes")
    subprocess.run(["javac", "-d", str(classes), str(HERE / "java" / "Mtls.java")], check=True, timeout=120)
    return classes


def handshake(classes: Path, server: tuple[Path, str], server_trust: tuple[Path, str], client: tuple[Path, str],
              client_trust: tuple[Path, str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MTLS_SERVER_KS=server[1], MTLS_SERVER_TS=server_trust[1], MTLS_CLIENT_KS=client[1],
               MTLS_CLIENT_TS=client_trust[1])
    return subprocess.run(["java", "-cp", str(classes), "Mtls", str(server[0]), str(server_trust[0]), str(client[0]),
                           str(client_trust[0])], env=env, capture_output=True, text=True, check=False, timeout=120)


def side(folder: Path, name: str) -> tuple[Path, str]:
    return folder / STORES[name], password(folder, name)


@pytest.mark.java
@pytest.mark.slow
@pytest.mark.parametrize("client", ["billing", "orders"])  # EC in PKCS12, Ed25519 in JKS
def test_java_mutual_tls_handshake(mtls: Path, mtls_java: Path, client: str) -> None:
    out = handshake(mtls_java, side(mtls, "server"), side(mtls, "server-trust"), side(mtls, client),
                    side(mtls, "client-trust"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"OK server saw: CN={client},O=Example; client saw: CN=localhost,O=Example" in out.stdout


@pytest.mark.java
@pytest.mark.slow
def test_client_not_from_the_ca_is_refused(mtls: Path, mtls_java: Path, tmp_path: Path) -> None:
    spec = tmp_path / "kstool.yaml"
    spec.write_text(ROGUE, encoding="utf-8")
    apply(spec)
    out = handshake(mtls_java, side(mtls, "server"), side(mtls, "server-trust"),
                    (tmp_path / "rogue.p12", password(tmp_path, "rogue")), side(mtls, "client-trust"))
    assert out.returncode == 1 and "REFUSED" in out.stdout, out.stdout + out.stderr


def test_new_root_key_reissues_what_it_signed_keeping_their_keys(mtls: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mtls"
    shutil.copytree(mtls, folder)
    spec = folder / "kstool.yaml"
    old = {name: entries(folder, name) for name in STORES}
    spec.write_text(spec.read_text(encoding="utf-8").replace("size: 384}", "size: 521}"), encoding="utf-8")
    plan = run(capsys, "plan", "--json", spec).json()
    changes = {(k["name"], e["alias"]): e for k in plan["keystores"] for e in k["entries"]}
    assert changes[("ca", "root")]["action"] == "replace"
    assert changes[("ca", "services")]["reasons"] == ["issuer ca/root replaced",
                                                      "certificate reissued for the same key"]
    for name in ("server", "billing", "orders"):
        assert changes[(name, name)]["reasons"][0] == "issuer ca/services reissued"
        assert changes[(name, name)]["after"]["issuer_entry"] == "ca/services"
    assert changes[("server-trust", "example-root")]["reasons"] == ["follows ca/root, which is replaced"]
    apply(spec)
    root, services = entries(folder, "ca")
    assert isinstance(root, KeyEntry) and isinstance(services, KeyEntry)
    old_services = old["ca"][1]
    assert isinstance(old_services, KeyEntry) and services.key_der == old_services.key_der
    for name in ("server", "billing", "orders"):
        (leaf,) = entries(folder, name)
        (was,) = old[name]
        assert isinstance(leaf, KeyEntry) and isinstance(was, KeyEntry)
        assert leaf.key_der == was.key_der and leaf.chain_der != was.chain_der
        assert leaf.chain_der[1:] == services.chain_der
        assert ": OK" in openssl_verify(tmp_path, root.chain_der[0], leaf.chain_der, "any")
    assert entries(folder, "client-trust")[0].cert_der == root.chain_der[0]  # type: ignore[union-attr]
    before = snapshot(folder)
    again = run(capsys, "apply", spec)
    assert again.code == 0 and "No changes" in again.out and snapshot(folder) == before


def test_json_plan_carries_issuer_and_chain_fingerprints(mtls: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = run(capsys, "plan", "--json", mtls / "kstool.yaml").json()
    server = next(e for k in plan["keystores"] if k["name"] == "server" for e in k["entries"])
    assert server["after"]["issuer_entry"] == "ca/services"
    (leaf,) = entries(mtls, "server")
    assert isinstance(leaf, KeyEntry)
    assert server["after"]["chain_sha256"].split() == [hashlib.sha256(c).hexdigest() for c in leaf.chain_der]


def test_usage_change_is_seen_through_the_lock(mtls: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mtls"
    shutil.copytree(mtls, folder)
    spec = folder / "kstool.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("usage: [server]", "usage: [server, client]"),
                    encoding="utf-8")
    plan = run(capsys, "plan", "--json", spec).json()
    server = next(e for k in plan["keystores"] if k["name"] == "server" for e in k["entries"])
    assert server["action"] == "update" and server["reasons"][0] == "usage changed → server, client"


def test_csr_is_signed_by_the_stored_key_with_the_certificate_subject(mtls: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "csr", mtls / "kstool.yaml", "server/server")
    assert result.code == 0 and result.out.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    request = x509.load_pem_x509_csr(result.out.encode("ascii"))
    (leaf,) = entries(mtls, "server")
    assert isinstance(leaf, KeyEntry)
    cert = x509.load_der_x509_certificate(leaf.chain_der[0])
    assert request.is_signature_valid and request.public_key() == cert.public_key()
    assert request.subject.public_bytes() == cert.subject.public_bytes()
    assert request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value == \
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    (tmp_path / "server.csr").write_text(result.out, encoding="ascii")
    verified = subprocess.run(["openssl", "req", "-verify", "-noout", "-in", str(tmp_path / "server.csr")],
                              capture_output=True, text=True, check=False, timeout=60)
    assert verified.returncode == 0 and "verify OK" in verified.stdout + verified.stderr
    before = snapshot(mtls)
    assert run(capsys, "csr", mtls / "kstool.yaml", "server/server", "--out", tmp_path / "out.csr").code == 0
    assert (tmp_path / "out.csr").read_text(encoding="ascii") == result.out  # deterministic
    assert snapshot(mtls) == before  # writes nothing else


def test_csr_refuses_entries_that_are_not_generated(mtls: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "csr", mtls / "kstool.yaml", "server-trust/example-root")
    assert result.code == 1 and "a CSR is made for a generated key" in result.err
    result = run(capsys, "csr", mtls / "kstool.yaml", "nope/x")
    assert result.code == 1 and "generated entries: ca/root, ca/services, server/server" in result.err


def test_leaf_change_alone_opens_the_ca_store_to_sign(mtls: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mtls"
    shutil.copytree(mtls, folder)
    spec = folder / "kstool.yaml"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(text.replace('validity_days: 397\n          san: ["dns:localhost"',
                                 'validity_days: 390\n          san: ["dns:localhost"'), encoding="utf-8")
    (was,) = entries(folder, "server")
    ca_before = (folder / STORES["ca"]).read_bytes()
    result = run(capsys, "apply", spec)
    assert result.code == 0 and "wrote   server/server.p12" in result.out
    (leaf,) = entries(folder, "server")
    _, services = entries(folder, "ca")
    assert isinstance(leaf, KeyEntry) and isinstance(was, KeyEntry) and isinstance(services, KeyEntry)
    assert leaf.key_der == was.key_der and leaf.chain_der[1:] == services.chain_der
    assert (folder / STORES["ca"]).read_bytes() == ca_before
    assert run(capsys, "verify", spec).code == 0


IMPORTED = """\
version: 1
keystores:
  - name: corp
    path: corp.p12
    password: {file: secrets/corp.pass, generate: true}
    entries:
      - alias: intermediate
        import: {certificate: ca.pem, private_key: ca.key}
  - name: app
    path: app.jks
    password: {file: secrets/app.pass, generate: true}
    entries:
      - alias: app
        generate: {dname: "CN=app", key: {algorithm: EC}, validity_days: 30, issuer: corp/intermediate,
                   usage: [server]}
"""


@pytest.mark.parametrize("is_ca", [True, False])
def test_imported_issuer_signs_only_when_it_is_a_ca(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    is_ca: bool) -> None:
    ext = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", "ca.key", "-out", "ca.pem", "-days", "365", "-subj", "/CN=Corp Intermediate",
                    *(ext if is_ca else ["-addext", "basicConstraints=critical,CA:FALSE"])],
                   cwd=tmp_path, check=True, capture_output=True, timeout=60)
    spec = tmp_path / "kstool.yaml"
    spec.write_text(IMPORTED, encoding="utf-8")
    result = run(capsys, "apply", spec)
    if not is_ca:
        assert result.code == 1 and "generate.issuer: corp/intermediate is not a CA certificate" in result.err
        assert not (tmp_path / "app.jks").exists()
        return
    assert result.code == 0, result.err
    (leaf,) = entries(tmp_path, "app", "app.jks")
    corp = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    assert isinstance(leaf, KeyEntry) and leaf.chain_der[1:] == (corp.public_bytes(Encoding.DER),)
    assert ": OK" in openssl_verify(tmp_path, leaf.chain_der[1], leaf.chain_der, "sslserver")


def test_leaf_outliving_an_imported_issuer_is_a_plan_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", "ca.key", "-out", "ca.pem", "-days", "10", "-subj", "/CN=Corp Intermediate",
                    "-addext", "basicConstraints=critical,CA:TRUE"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=60)
    spec = tmp_path / "kstool.yaml"
    spec.write_text(IMPORTED, encoding="utf-8")
    result = run(capsys, "plan", spec)
    assert result.code == 1
    assert "generate.validity_days 30 outlives its issuer corp/intermediate" in result.err
    assert "a certificate may not outlive its issuer" in result.err
