"""Truststores from PEM bundles, certificate folders and existing stores (the JDK's cacerts): apply, an empty plan
afterwards, keytool's entry count and Java's PKIX validation of a chain are the judges."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.clirun import copy_example, run
from tests.support.javatools import compile_trust_check, keytool_list, trust_check
from tests.support.trustcerts import Issued, issue

PASSWORD = "trust-store-pw"
pytestmark = pytest.mark.usefixtures("_trust_env")


@pytest.fixture()
def _trust_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TS_PASSWORD", PASSWORD)


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not shutil.which("javac"):
        pytest.skip("no JDK")
    return compile_trust_check(tmp_path_factory.mktemp("trustcheck"))


@pytest.fixture(scope="module")
def pki() -> dict[str, Issued]:
    roots = {n: issue(f"Test Root {n}") for n in ("Alpha", "Beta", "Gamma")}
    inter = issue("Test Issuing CA", roots["Alpha"])
    leaf = issue("server.example.test", inter, ca=False, days=(-1, 90))
    expired = issue("Test Old Root", days=(-400, -10))
    other = issue("Stranger Root")
    return {**roots, "inter": inter, "leaf": leaf, "expired": expired, "other": other}


def _bundle(*parts: Issued, junk: bool = True) -> bytes:
    out = b""
    for i, p in enumerate(parts):
        out += (f"# {i}: some comment between blocks\n".encode() if junk else b"") + p.pem
    return out


def _spec(folder: Path, entries: str, path: str = "trust.jks") -> Path:
    spec = folder / "kstool.yaml"
    spec.write_text(f"version: 1\nkeystores:\n  - name: trust\n    path: {path}\n"
                    f"    password: {{env: TS_PASSWORD}}\n    entries:\n{entries}", encoding="utf-8")
    return spec


def _aliases(listing: str) -> list[str]:
    return re.findall(r"^Alias name: (.*)$", listing, re.M)


@pytest.mark.java
def test_bundle_truststore_applies_plans_empty_and_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             pki: dict[str, Issued], checker: Path) -> None:
    (tmp_path / "ca-bundle.pem").write_bytes(
        _bundle(pki["Alpha"], pki["Beta"], pki["Gamma"], pki["Alpha"], pki["expired"]) + b"trailing text\n")
    spec = _spec(tmp_path, "      - trusted: {bundle: ca-bundle.pem, alias_prefix: \"corp-\"}\n")
    applied = run(capsys, "apply", spec)
    assert applied.code == 0, applied.err
    assert "folded 1 duplicate" in applied.err and "skipped 1 certificate" in applied.err
    assert "allow_expired: true" in applied.err
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    listing = keytool_list(tmp_path / "trust.jks", PASSWORD)
    assert "Your keystore contains 3 entries" in listing
    assert sorted(_aliases(listing)) == ["corp-test-root-alpha", "corp-test-root-beta", "corp-test-root-gamma"]
    chain = tmp_path / "chain.pem"
    chain.write_bytes(pki["leaf"].pem + pki["inter"].pem)
    valid, said = trust_check(checker, tmp_path / "trust.jks", "JKS", PASSWORD, chain)
    assert valid and "Test Root Alpha" in said, said
    before = (tmp_path / "trust.jks").read_bytes()
    # the same certificates in another order: same aliases, same bytes, nothing to do
    (tmp_path / "ca-bundle.pem").write_bytes(_bundle(pki["Gamma"], pki["Alpha"], pki["Beta"]))
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    # a bundle update is a reviewable diff: one line per certificate added or removed
    (tmp_path / "ca-bundle.pem").write_bytes(_bundle(pki["Beta"], pki["Gamma"], pki["other"]))
    plan = run(capsys, "plan", spec, "--json").json()
    changes = {(e["alias"], e["action"]) for e in plan["keystores"][0]["entries"] if e["action"] != "no-op"}
    assert changes == {("corp-stranger-root", "create"), ("corp-test-root-alpha", "delete")}
    created = next(e for e in plan["keystores"][0]["entries"] if e["action"] == "create")
    assert created["reasons"] == ["new entry", "from ca-bundle.pem, certificate #3"]
    assert run(capsys, "apply", spec).code == 0
    assert (tmp_path / "trust.jks").read_bytes() != before
    valid, said = trust_check(checker, tmp_path / "trust.jks", "JKS", PASSWORD, chain)
    assert not valid, said
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    assert run(capsys, "verify", spec).code == 0


@pytest.mark.java
def test_directory_source_folds_links_and_bundles(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  pki: dict[str, Issued], checker: Path) -> None:
    certs = tmp_path / "cas"
    certs.mkdir()
    (certs / "alpha.pem").write_bytes(pki["Alpha"].pem)
    (certs / "beta.DER").write_bytes(pki["Beta"].der)
    (certs / "all.crt").write_bytes(_bundle(pki["Alpha"], pki["Gamma"]))
    os.symlink("alpha.pem", certs / "1a2b3c4d.0")  # an OpenSSL hash link: not a certificate file name
    os.symlink("alpha.pem", certs / "alpha-link.pem")  # a link to a certificate file: read, folded
    (certs / "notes.txt").write_text("not a certificate")
    (certs / "sub").mkdir()
    (certs / "sub" / "gamma.pem").write_bytes(pki["other"].pem)  # not recursive
    spec = _spec(tmp_path, "      - trusted: {directory: cas/}\n", path="trust.p12")
    applied = run(capsys, "apply", spec)
    assert applied.code == 0, applied.err
    assert "folded 2 duplicate" in applied.err
    listing = keytool_list(tmp_path / "trust.p12", PASSWORD)
    assert sorted(_aliases(listing)) == ["test-root-alpha", "test-root-beta", "test-root-gamma"]
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    chain = tmp_path / "chain.pem"
    chain.write_bytes(pki["leaf"].pem + pki["inter"].pem)
    assert trust_check(checker, tmp_path / "trust.p12", "PKCS12", PASSWORD, chain)[0]


def _keytool_store(path: Path, store_type: str, certs: dict[str, Issued]) -> None:
    env = dict(os.environ, SRC_PW="changeit")
    for alias, item in certs.items():
        pem = path.parent / f"{alias}.pem"
        pem.write_bytes(item.pem)
        subprocess.run(["keytool", "-importcert", "-noprompt", "-alias", alias, "-file", str(pem), "-keystore",
                        str(path), "-storetype", store_type, "-storepass:env", "SRC_PW"], env=env, check=True,
                       capture_output=True, timeout=120)


@pytest.mark.java
@pytest.mark.slow
@pytest.mark.parametrize("store_type", ["JKS", "PKCS12"])
def test_store_source_extended_with_corporate_root(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   pki: dict[str, Issued], checker: Path, store_type: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "cacerts"
    _keytool_store(source, store_type, {"alpharoot [jdk]": pki["Alpha"], "betaroot": pki["Beta"],
                                        "gammaroot": pki["Gamma"]})
    (tmp_path / "corp-root.pem").write_bytes(pki["other"].pem)
    monkeypatch.setenv("SRC_PW", "changeit")
    password = "" if store_type == "JKS" else ", password: {env: SRC_PW}"
    spec = _spec(tmp_path, f"      - trusted: {{keystore: cacerts{password}, exclude: [\"gamma*\"]}}\n"
                           "      - alias: corp-root\n        trusted: {certificate: corp-root.pem}\n")
    applied = run(capsys, "apply", spec)
    assert applied.code == 0, applied.err
    listing = keytool_list(tmp_path / "trust.jks", PASSWORD)
    assert sorted(_aliases(listing)) == ["alpharoot [jdk]", "betaroot", "corp-root"]
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    chain = tmp_path / "chain.pem"
    chain.write_bytes(pki["leaf"].pem + pki["inter"].pem)
    assert trust_check(checker, tmp_path / "trust.jks", "JKS", PASSWORD, chain)[0]
    if store_type == "PKCS12":  # a PKCS12 with a MAC cannot be read without its password
        _spec(tmp_path, "      - trusted: {keystore: cacerts}\n")
        failed = run(capsys, "plan", spec)
        assert failed.code == 1 and "cannot be read without its password" in failed.err
        assert "add trusted.password" in failed.err


def _jdk_cacerts() -> Path | None:
    java = shutil.which("java")
    if java is None:
        return None
    found = Path(java).resolve().parent.parent / "lib" / "security" / "cacerts"
    return found if found.is_file() else None


@pytest.mark.java
@pytest.mark.slow
def test_real_jdk_cacerts_plus_corporate_root(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              pki: dict[str, Issued], checker: Path) -> None:
    real = _jdk_cacerts()
    if real is None:
        pytest.skip("this JDK has no cacerts file")
    shutil.copyfile(real, tmp_path / "cacerts")
    listed = subprocess.run(["keytool", "-list", "-keystore", str(tmp_path / "cacerts")], capture_output=True,
                            text=True, check=False, timeout=120, input="\n")
    count = int(re.search(r"contains (\d+) entr", listed.stdout).group(1))  # type: ignore[union-attr]
    (tmp_path / "corp-root.pem").write_bytes(pki["Alpha"].pem)
    password = "" if (tmp_path / "cacerts").read_bytes()[:4] == b"\xfe\xed\xfe\xed" else \
        ", password: {empty: true}"
    spec = _spec(tmp_path, f"      - trusted: {{keystore: cacerts{password}}}\n"
                           "      - alias: corp-root\n        trusted: {certificate: corp-root.pem}\n"
                           "    allow_expired: true\n    allow_weak: true\n", path="trust.p12")
    applied = run(capsys, "apply", spec)
    assert applied.code == 0, applied.err
    listing = keytool_list(tmp_path / "trust.p12", PASSWORD)
    assert f"Your keystore contains {count + 1} entries" in listing
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    chain = tmp_path / "chain.pem"
    chain.write_bytes(pki["leaf"].pem + pki["inter"].pem)
    assert trust_check(checker, tmp_path / "trust.p12", "PKCS12", PASSWORD, chain)[0]


def test_alias_collision_with_an_entry_names_both(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  pki: dict[str, Issued]) -> None:
    (tmp_path / "b.pem").write_bytes(_bundle(pki["Alpha"], pki["Beta"]))
    (tmp_path / "x.pem").write_bytes(pki["other"].pem)
    spec = _spec(tmp_path, "      - trusted: {bundle: b.pem}\n"
                           "      - alias: test-root-beta\n        trusted: {certificate: x.pem}\n")
    failed = run(capsys, "plan", spec)
    assert failed.code == 1
    assert "gets alias 'test-root-beta'" in failed.err and "entries[1] (alias 'test-root-beta')" in failed.err
    assert "alias_prefix" in failed.err


@pytest.mark.parametrize(("content", "expected"), [
    (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "holds a private key"),
    (b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", "unexpected PEM block 'X509 CRL'"),
    (b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "not valid base64"),
    (b"-----BEGIN CERTIFICATE-----\nMIIB\n", "no matching '-----END'"),
])
def test_hostile_bundle_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         pki: dict[str, Issued], content: bytes, expected: str) -> None:
    (tmp_path / "b.pem").write_bytes(pki["Alpha"].pem + content)
    failed = run(capsys, "plan", _spec(tmp_path, "      - trusted: {bundle: b.pem}\n"))
    assert failed.code == 1 and expected in failed.err, failed.err
    assert "Traceback" not in failed.err


def test_alias_with_a_bundle_is_a_spec_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failed = run(capsys, "validate", _spec(tmp_path, "      - alias: x\n        trusted: {bundle: b.pem}\n"))
    assert failed.code == 1 and "remove alias" in failed.err and "kstool.yaml:7" in failed.err
    missing = run(capsys, "validate", _spec(tmp_path, "      - trusted: {certificate: b.pem}\n"))
    assert missing.code == 1 and "missing required key 'alias'" in missing.err


@pytest.mark.java
def test_truststores_example_applies_and_java_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        checker: Path) -> None:
    spec = copy_example("truststores", tmp_path)
    folder = spec.parent
    applied = run(capsys, "apply", spec)
    assert applied.code == 0, applied.err
    assert "folded 2 duplicate" in applied.err
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    password = (folder / "secrets" / "truststore.pass").read_text(encoding="utf-8").removesuffix("\n")
    system = keytool_list(folder / "system-truststore.jks", password)
    assert sorted(_aliases(system)) == ["example-test-root-a", "example-test-root-b", "example-test-root-c",
                                        "extra-example-corp-root"]
    java = keytool_list(folder / "java-truststore.p12", password)
    assert sorted(_aliases(java)) == ["corp-root", "examplejdkroot1 [jdk]", "exampletestroota [jdk]"]
    for store, store_type in (("system-truststore.jks", "JKS"), ("java-truststore.p12", "PKCS12")):
        for chain in ("server-chain.pem", "corp-app-chain.pem"):
            valid, said = trust_check(checker, folder / store, store_type, password, folder / "certs" / chain)
            assert valid, f"{store} {chain}: {said}"


@pytest.mark.java
def test_passwordless_pkcs12_like_jdk18_cacerts_is_read_without_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: dict[str, Issued]) -> None:
    source = tmp_path / "cacerts"
    env = dict(os.environ, SRC_PW="changeit")
    for alias in ("Alpha", "Beta"):
        pem = tmp_path / f"{alias}.pem"
        pem.write_bytes(pki[alias].pem)
        subprocess.run(["keytool", "-J-Dkeystore.pkcs12.certProtectionAlgorithm=NONE",
                        "-J-Dkeystore.pkcs12.macAlgorithm=NONE", "-importcert", "-noprompt", "-alias",
                        f"{alias.lower()}root [jdk]", "-file", str(pem), "-keystore", str(source), "-storetype",
                        "PKCS12", "-storepass:env", "SRC_PW"], env=env, check=True, capture_output=True, timeout=120)
    spec = _spec(tmp_path, "      - trusted: {keystore: cacerts, include: [\"alpharoot [[]jdk]\", \"beta*\"]}\n")
    applied = run(capsys, "apply", spec)
    assert applied.code == 0, applied.err
    assert sorted(_aliases(keytool_list(tmp_path / "trust.jks", PASSWORD))) == ["alpharoot [jdk]", "betaroot [jdk]"]
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


@pytest.mark.java
def test_a_changed_certificate_under_the_same_source_alias_is_planned(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], pki: dict[str, Issued]) -> None:
    """kstool.lock's content digest covers the expanded certificates: the no-op fast path notices the change."""
    _keytool_store(tmp_path / "src.jks", "JKS", {"root": pki["Alpha"]})
    spec = _spec(tmp_path, "      - trusted: {keystore: src.jks, alias_prefix: \"src-\"}\n")
    assert run(capsys, "apply", spec).code == 0
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    (tmp_path / "src.jks").unlink()
    _keytool_store(tmp_path / "src.jks", "JKS", {"root": pki["Beta"]})
    plan = run(capsys, "plan", spec, "--json").json()
    [entry] = plan["keystores"][0]["entries"]
    assert (entry["alias"], entry["action"]) == ("src-root", "update")
    assert entry["after"]["subject"].endswith("CN=Test Root Beta") or "Test Root Beta" in entry["after"]["subject"]
    missing = _spec(tmp_path, "      - trusted: {keystore: src.jks, include: [nosuch]}\n")
    failed = run(capsys, "plan", missing)
    assert failed.code == 1 and "has no trusted entry 'nosuch'" in failed.err


def test_notes_stay_warnings_under_strict_permissions(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      pki: dict[str, Issued]) -> None:
    (tmp_path / "b.pem").write_bytes(_bundle(pki["Alpha"], pki["Alpha"], pki["expired"]))
    spec = _spec(tmp_path, "      - trusted: {bundle: b.pem}\n")
    planned = run(capsys, "plan", spec, "--strict-permissions")
    assert planned.code == 0, planned.err
    assert "kstool: warning:" in planned.err and "folded 1 duplicate" in planned.err
    assert "skipped 1 certificate" in planned.err and "Test Old Root" in planned.err
    assert run(capsys, "apply", spec).code == 0
    checked = run(capsys, "check", spec)
    assert checked.code == 0, checked.out + checked.err  # a skipped expired root is no attention
    assert "folded" not in checked.err
    included = _spec(tmp_path, "      - trusted: {bundle: b.pem}\n        allow_expired: true\n")
    plan = run(capsys, "plan", included, "--json").json()
    assert {(e["alias"], e["action"]) for e in plan["keystores"][0]["entries"]} == {
        ("test-root-alpha", "no-op"), ("test-old-root", "create")}


@pytest.mark.slow
def test_a_bundle_over_the_certificate_bound_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        pki: dict[str, Issued]) -> None:
    (tmp_path / "b.pem").write_bytes(pki["Alpha"].pem * 16385)
    failed = run(capsys, "plan", _spec(tmp_path, "      - trusted: {bundle: b.pem}\n"))
    assert failed.code == 1 and "holds 16385 certificates, more than kstool takes from one source (16384)" in failed.err


def test_a_reference_to_an_expanded_alias_is_a_spec_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "kstool.yaml"
    spec.write_text("version: 1\nkeystores:\n  - name: a\n    path: a.jks\n    password: {env: TS_PASSWORD}\n"
                    "    entries:\n      - trusted: {bundle: b.pem}\n  - name: b\n    path: b.jks\n"
                    "    password: {env: TS_PASSWORD}\n    entries:\n      - alias: x\n"
                    "        trusted: {entry: a/test-root-alpha}\n", encoding="utf-8")
    failed = run(capsys, "validate", spec)
    assert failed.code == 1 and "cannot be the target" in failed.err
