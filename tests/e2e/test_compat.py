"""Compatibility targets judged by the real consumers: stores kstool writes for ``openssl3`` open with OpenSSL 3
without ``-legacy``; stores for ``java17`` open with JDK 17 (keytool and KeyStore); and the premises of the
refusals hold (OpenSSL 3 fails on RC2-40 without -legacy, and on a JKS)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.clirun import run
from tests.support.javatools import Java, keytool_list

PW = "Compat-Store-Pass-1234"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")


def _openssl(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``openssl pkcs12 -in path -passin env:`` (never -legacy), the password in the environment."""
    env = dict(os.environ, KSTOOL_COMPAT_PASS=PW)
    return subprocess.run(["openssl", "pkcs12", "-in", str(path), "-passin", "env:KSTOOL_COMPAT_PASS", *options],
                          env=env, capture_output=True, text=True, check=False, timeout=60)


def _spec(folder: Path, text: str) -> Path:
    spec = folder / "kstool.yaml"
    spec.write_text(text, encoding="utf-8")
    return spec


OPENSSL3_SPEC = """\
version: 1
defaults:
  compatible_with: [openssl3]
keystores:
""" + "".join(f"""\
  - name: {name}
    path: {name}.p12
    password: {{env: COMPAT_PW}}
    pkcs12_profile: {profile}
    entries:
      - alias: key
        generate: {{dname: "CN={name}", key: {key}}}
      - alias: ca
        trusted: {{entry: rsa-modern/key}}
""" for name, profile, key in [
    ("rsa-modern", "modern", "{algorithm: RSA, size: 2048}"),
    ("ec-modern", "modern", "{algorithm: EC, size: 384}"),
    ("ed-modern", "modern", "{algorithm: Ed25519}"),
    ("rsa-legacy", "legacy", "{algorithm: RSA, size: 2048}"),
    ("ec-legacy", "legacy", "{algorithm: EC, size: 256}"),
    ("ed-legacy", "legacy", "{algorithm: Ed25519}"),
])


@pytest.mark.slow
def test_openssl3_stores_open_without_legacy(workdir: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPAT_PW", PW)
    spec = _spec(workdir, OPENSSL3_SPEC)
    assert run(capsys, "validate", spec).code == 0
    result = run(capsys, "apply", spec)
    assert result.code == 0, result.err
    stores = sorted(workdir.glob("*.p12"))
    assert len(stores) == 6
    for store in stores:
        info = _openssl(store, "-info", "-nokeys", "-noout")
        assert info.returncode == 0, f"{store.name}: {info.stderr}"
        legacy = store.name.endswith("-legacy.p12")
        assert ("pbeWithSHA1And3-KeyTripleDES-CBC" in info.stderr) == legacy, info.stderr
        assert ("PBES2, PBKDF2, AES-256-CBC" in info.stderr) == (not legacy), info.stderr
        opened = _openssl(store, "-nodes")
        assert opened.returncode == 0, f"{store.name}: {opened.stderr}"
        assert opened.stdout.count("-----BEGIN CERTIFICATE-----") == 2  # its own and the trusted one
        assert opened.stdout.count("-----BEGIN PRIVATE KEY-----") == 1


@pytest.mark.slow
def test_openssl3_refusals_rest_on_real_failures(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # RC2-40 (what OpenSSL 1.x and old Java wrote): OpenSSL 3 fails without -legacy, reads it with -legacy
    env = dict(os.environ, KSTOOL_COMPAT_PASS=PW)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=old", "-days", "2",
                    "-keyout", "old.key", "-out", "old.crt"], check=True, capture_output=True, timeout=60)
    subprocess.run(["openssl", "pkcs12", "-export", "-legacy", "-in", "old.crt", "-inkey", "old.key",
                    "-passout", "env:KSTOOL_COMPAT_PASS", "-out", "old.p12"], env=env, check=True,
                   capture_output=True, timeout=60)
    plain = _openssl(workdir / "old.p12", "-info", "-nokeys", "-noout")
    assert plain.returncode != 0
    assert "RC2-40-CBC" in plain.stderr and "unsupported" in plain.stderr.lower()
    assert _openssl(workdir / "old.p12", "-info", "-nokeys", "-noout", "-legacy").returncode == 0
    # a JKS: OpenSSL cannot parse it at all, and kstool refuses it for openssl3 before writing anything
    monkeypatch.setenv("COMPAT_PW", PW)
    spec = _spec(workdir, """\
version: 1
keystores:
  - name: j
    path: j.jks
    password: {env: COMPAT_PW}
    entries: [{alias: k, generate: {dname: "CN=j", key: {algorithm: EC, size: 256}}}]
""")
    assert run(capsys, "apply", spec).code == 0
    assert _openssl(workdir / "j.jks", "-info", "-nokeys", "-noout").returncode != 0
    refused = _spec(workdir, spec.read_text(encoding="utf-8").replace("    path: j.jks\n",
                                                                      "    path: j.jks\n    compatible_with: "
                                                                      "[openssl3]\n"))
    result = run(capsys, "validate", refused)
    assert result.code == 1
    assert "kstool.yaml:4:5: keystores[0].path: openssl3 cannot read a JKS keystore (from path j.jks)" in result.err
    assert "use type: pkcs12 (compatible_with: openssl3)" in result.err


JAVA17_SPEC = """\
version: 1
defaults:
  compatible_with: [java17]
keystores:
""" + "".join(f"""\
  - name: {name}
    path: {name}
    password: {{env: COMPAT_PW}}
{extra}    entries:
      - alias: rsa
        generate: {{dname: "CN=rsa", key: {{algorithm: RSA, size: 2048}}}}
      - alias: ed
        generate: {{dname: "CN=ed", key: {{algorithm: Ed25519}}}}
      - alias: ec
        generate: {{dname: "CN=ec", key: {{algorithm: EC, size: 521}}}}
      - alias: trusted
        trusted: {{entry: {name}/rsa}}
""" for name, extra in [("modern.p12", ""), ("legacy.p12", "    pkcs12_profile: legacy\n"), ("s.jks", ""),
                        ("s.jceks", "")])


@pytest.mark.java
@pytest.mark.slow
def test_java17_stores_open_in_jdk17(workdir: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch, java: Java) -> None:
    monkeypatch.setenv("COMPAT_PW", PW)
    spec = _spec(workdir, JAVA17_SPEC)
    result = run(capsys, "apply", spec)
    assert result.code == 0, result.err
    for path in ("modern.p12", "legacy.p12", "s.jks", "s.jceks"):
        store_type = "JCEKS" if path.endswith("jceks") else None
        listing = keytool_list(workdir / path, PW, store_type)
        assert "Your keystore contains 4 entries" in listing, listing
        assert "Ed25519" in listing
        entries = java.load(workdir / path, PW, store_type=store_type)
        assert len(entries) == 5, entries  # the header and four entries, every key recovered


def test_plan_and_apply_refuse_before_writing(workdir: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPAT_PW", "Short-pass1")  # 11 characters: fine for keytool, not for BC-FIPS
    spec = _spec(workdir, """\
version: 1
keystores:
  - name: f
    path: f.p12
    password: {env: COMPAT_PW}
    compatible_with: [fips]
    entries: [{alias: k, generate: {dname: "CN=f", key: {algorithm: EC, size: 256}}}]
""")
    assert run(capsys, "validate", spec).code == 0  # the password's length is a plan-time fact
    for command in ("plan", "apply"):
        result = run(capsys, command, spec)
        assert result.code == 1
        assert "kstool.yaml:5:5: keystores[0].password: fips refuses the store password from environment " \
               "variable COMPAT_PW: BC-FIPS in approved mode" in result.err
    assert not (workdir / "f.p12").exists()
    monkeypatch.setenv("COMPAT_PW", "A-longer-password-for-fips")
    assert run(capsys, "apply", spec).code == 0


@pytest.mark.slow
def test_openssl3_reads_trusted_only_and_empty_stores(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """No rule is needed for truststores or empty stores: kstool writes a MAC and PBES2 for them too."""
    monkeypatch.setenv("COMPAT_PW", PW)
    spec = _spec(workdir, """\
version: 1
defaults: {compatible_with: [openssl3]}
keystores:
  - name: src
    path: src.p12
    password: {env: COMPAT_PW}
    entries: [{alias: k, generate: {dname: "CN=k", key: {algorithm: EC, size: 256}}}]
""" + "".join(f"""\
  - name: {name}-{profile}
    path: {name}-{profile}.p12
    password: {{env: COMPAT_PW}}
    pkcs12_profile: {profile}
    entries: {entries}
""" for name, entries in (("trust", "[{alias: ca, trusted: {entry: src/k}}]"), ("empty", "[]"))
                                  for profile in ("modern", "legacy")))
    assert run(capsys, "apply", spec).code == 0
    for name, certs in (("trust", 1), ("empty", 0)):
        for profile in ("modern", "legacy"):
            store = workdir / f"{name}-{profile}.p12"
            info = _openssl(store, "-info", "-nokeys", "-noout")
            assert info.returncode == 0, f"{store.name}: {info.stderr}"
            assert ("MAC: sha256" if profile == "modern" else "MAC: sha1") in info.stderr
            opened = _openssl(store, "-nodes")
            assert opened.returncode == 0, opened.stderr
            assert opened.stdout.count("-----BEGIN CERTIFICATE-----") == certs
