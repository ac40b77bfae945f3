"""Import, truststores and password rotation, end to end through the CLI.

OpenSSL makes the material (a root CA, an EC intermediate, an RSA and an EC leaf, every key encoding users
meet), keytool makes the source keystores, and keytool + Java judge what kstool writes. Passwords reach
openssl and keytool through the environment only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, load_der_private_key, load_pem_private_key

from kstool.crypto.imports import private_key_to_pkcs8
from kstool.errors import WrongPasswordError
from kstool.formats.codec import decode
from kstool.formats.entries import Entry, KeyEntry, TrustedEntry, detect_type
from tests.support.clirun import Result, run, snapshot
from tests.support.javatools import Java, keytool_list, sha256_hex

PW = "Store-Pass-1"
PW2 = "Store-Pass-2"
KEY_PW = "Key-Enc-Pass-7"  # encrypts PEM/DER private keys
SRC_PW = "Src-Pass-3"  # source keystores
SRC_KEY_PW = "Src-Key-Pass-4"  # a JKS source entry whose key password differs from the store password
WRONG_PW = "Wrong-Pass-5"
SECRETS = (PW, PW2, KEY_PW, SRC_PW, SRC_KEY_PW, WRONG_PW)
PASSWORD_ENV = {"KS_PASS": PW, "KEY_PASS": KEY_PW, "SRC_PASS": SRC_PW, "SRC_KEY_PASS": SRC_KEY_PW,
                "WRONG_PASS": WRONG_PW}

OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_leaf]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


# -- material ---------------------------------------------------------------------------------------------

def _tool(cwd: Path, *args: str) -> None:
    env = dict(os.environ, **PASSWORD_ENV)
    done = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


@dataclass(frozen=True)
class Pki:
    dir: Path

    def path(self, name: str) -> str:
        return str(self.dir / name)

    def cert_der(self, name: str) -> bytes:
        return x509.load_pem_x509_certificate((self.dir / name).read_bytes()).public_bytes(Encoding.DER)

    def key_pkcs8(self, name: str) -> bytes:
        key = load_pem_private_key((self.dir / name).read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
        return private_key_to_pkcs8(key)

    def chain(self, leaf: str) -> tuple[bytes, ...]:
        return (self.cert_der(leaf), self.cert_der("inter.crt"), self.cert_der("root.crt"))


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """root (RSA) → intermediate (EC P-256) → RSA leaf and EC leaf, plus every input form, made by openssl."""
    d = tmp_path_factory.mktemp("pki")
    (d / "openssl.cnf").write_text(OPENSSL_CNF)

    def ssl(*args: str) -> None:
        _tool(d, "openssl", *args)

    def key(name: str, algorithm: str) -> None:
        opt = "rsa_keygen_bits:2048" if algorithm == "RSA" else "ec_paramgen_curve:P-256"
        ssl("genpkey", "-algorithm", algorithm, "-pkeyopt", opt, "-out", name)

    def sign(csr_key: str, cn: str, out: str, ca: str, serial: int, days: int, ext: str) -> None:
        ssl("req", "-new", "-key", csr_key, "-subj", f"/CN={cn}", "-config", "openssl.cnf", "-out", out + ".csr")
        ssl("x509", "-req", "-in", out + ".csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-set_serial",
            str(serial), "-days", str(days), "-sha256", "-extfile", "openssl.cnf", "-extensions", ext, "-out", out)

    def self_signed(key_name: str, cn: str, out: str) -> None:
        ssl("req", "-x509", "-new", "-key", key_name, "-subj", f"/CN={cn}", "-days", "3650", "-sha256",
            "-set_serial", "1", "-config", "openssl.cnf", "-extensions", "v3_ca", "-out", out)

    for name, algorithm in [("root.key", "RSA"), ("inter.key", "EC"), ("rsa.key", "RSA"), ("ec.key", "EC"),
                            ("rekeyed.key", "RSA"), ("stranger.key", "RSA")]:
        key(name, algorithm)
    self_signed("root.key", "kstool Import Test Root", "root.crt")
    self_signed("stranger.key", "kstool Unrelated Root", "stranger.crt")
    sign("inter.key", "kstool Import Test Intermediate", "inter.crt", "root", 2, 3000, "v3_ca")
    sign("rsa.key", "rsa.import.test", "rsa.crt", "inter", 0x10, 365, "v3_leaf")
    sign("rsa.key", "rsa.import.test", "rsa-renewed.crt", "inter", 0x11, 400, "v3_leaf")  # same key, renewed
    sign("rekeyed.key", "rsa.import.test", "rsa-rekeyed.crt", "inter", 0x12, 365, "v3_leaf")  # new key
    sign("ec.key", "ec.import.test", "ec.crt", "inter", 0x13, 365, "v3_leaf")

    ssl("x509", "-in", "rsa.crt", "-outform", "DER", "-out", "rsa.der")
    ssl("pkey", "-in", "rsa.key", "-outform", "DER", "-out", "rsa.pk8.der")
    ssl("pkcs8", "-topk8", "-in", "rsa.key", "-v2", "aes-256-cbc", "-passout", "env:KEY_PASS", "-out", "rsa.enc.pem")
    ssl("pkcs8", "-topk8", "-in", "rsa.key", "-v2", "aes-256-cbc", "-passout", "env:KEY_PASS", "-outform", "DER",
        "-out", "rsa.enc.der")
    ssl("rsa", "-in", "rsa.key", "-traditional", "-out", "rsa.pkcs1.pem")
    # ciphers OpenSSL offers and cryptography cannot decrypt
    ssl("pkcs8", "-topk8", "-in", "rsa.key", "-v2", "camellia-256-cbc", "-passout", "env:KEY_PASS", "-out",
        "rsa.camellia.pem")
    ssl("rsa", "-in", "rsa.key", "-traditional", "-camellia256", "-passout", "env:KEY_PASS", "-out",
        "rsa.legacy-camellia.pem")
    ssl("rsa", "-in", "rsa.key", "-traditional", "-aes256", "-passout", "env:KEY_PASS", "-out", "rsa.legacy.pem")
    ssl("ec", "-in", "ec.key", "-out", "ec.sec1.pem")
    ssl("ec", "-in", "ec.key", "-outform", "DER", "-out", "ec.sec1.der")
    ssl("rsa", "-in", "rsa.key", "-traditional", "-outform", "DER", "-out", "rsa.pkcs1.der")
    ssl("ecparam", "-name", "prime256v1", "-out", "ec.params.pem")
    text = {n: (d / n).read_text() for n in ("rsa.key", "rsa.crt", "inter.crt", "root.crt", "ec.key")}
    (d / "chain.pem").write_text(text["inter.crt"] + text["root.crt"])
    (d / "rsa-bundle.pem").write_text(text["rsa.crt"] + text["inter.crt"] + text["root.crt"])
    (d / "two-keys.pem").write_text(text["rsa.key"] + text["ec.key"])
    # what `openssl ecparam -genkey` writes: EC PARAMETERS, then the SEC1 key
    (d / "ec-with-params.pem").write_text((d / "ec.params.pem").read_text() + (d / "ec.sec1.pem").read_text())
    (d / "rsa-combined.pem").write_text(text["rsa.key"] + text["rsa.crt"] + text["inter.crt"] + text["root.crt"])
    for name in ("rsa-bundle.pem", "rsa.legacy.pem"):  # files that passed through Windows
        (d / name.replace(".pem", "-crlf.pem")).write_bytes((d / name).read_bytes().replace(b"\n", b"\r\n"))

    export = ["pkcs12", "-export", "-certfile", "chain.pem", "-passout", "env:SRC_PASS"]
    ssl(*export, "-in", "rsa.crt", "-inkey", "rsa.key", "-name", "gw", "-out", "named.pfx")
    ssl(*export, "-in", "ec.crt", "-inkey", "ec.key", "-out", "noname.pfx")  # no -name: no friendlyName
    ssl("pkcs12", "-export", "-nokeys", "-in", "root.crt", "-passout", "env:SRC_PASS", "-out", "nokeys.pfx")
    ssl(*export, "-in", "rsa.crt", "-inkey", "rsa.key", "-name", "gw", "-keypbe", "PBE-SHA1-3DES", "-certpbe",
        "PBE-SHA1-3DES", "-macalg", "sha1", "-out", "named-3des.pfx")
    # what OpenSSL 1.x wrote by default: certificates under 40-bit RC2, the key under 3DES, an HMAC-SHA1 MAC
    ssl(*export, "-in", "rsa.crt", "-inkey", "rsa.key", "-name", "gw", "-legacy", "-out", "named-rc2-40.pfx")

    # the inputs really are the forms their names say
    labels = {"rsa.key": "PRIVATE KEY", "rsa.enc.pem": "ENCRYPTED PRIVATE KEY", "rsa.pkcs1.pem": "RSA PRIVATE KEY",
              "rsa.legacy.pem": "RSA PRIVATE KEY", "ec.sec1.pem": "EC PRIVATE KEY"}
    for name, label in labels.items():
        assert (d / name).read_text().startswith(f"-----BEGIN {label}-----"), name
    assert "Proc-Type: 4,ENCRYPTED" in (d / "rsa.legacy.pem").read_text()
    assert b"friendlyName" not in subprocess.run(
        ["openssl", "pkcs12", "-info", "-nokeys", "-in", "noname.pfx", "-passin", "env:SRC_PASS"], cwd=d,
        env=dict(os.environ, **PASSWORD_ENV), capture_output=True, check=True).stdout
    return Pki(d)


@pytest.fixture(scope="session")
def sources(pki: Pki, jdk: None) -> Pki:
    """JKS and JCEKS source keystores made by keytool from the PFX, plus a JKS holding two key entries."""
    d = pki.dir

    def keytool(*args: str) -> None:
        _tool(d, "keytool", *args)

    common = ["-importkeystore", "-noprompt", "-srckeystore", "named.pfx", "-srcstoretype", "PKCS12",
              "-srcstorepass:env", "SRC_PASS", "-deststorepass:env", "SRC_PASS"]
    keytool(*common, "-destkeystore", "src.jks", "-deststoretype", "JKS")
    keytool(*common, "-destkeystore", "src.jceks", "-deststoretype", "JCEKS")
    keytool(*common, "-destkeystore", "src-keypass.jks", "-deststoretype", "JKS", "-srcalias", "gw",
            "-destalias", "gw", "-destkeypass:env", "SRC_KEY_PASS")
    for alias in ("one", "two"):
        keytool("-genkeypair", "-keyalg", "EC", "-groupname", "secp256r1", "-alias", alias, "-dname", f"CN={alias}",
                "-keystore", "multi.jks", "-storetype", "JKS", "-storepass:env", "SRC_PASS", "-keypass:env",
                "SRC_PASS")
    # a legacy store whose entries have different key passwords (keytool -keypass per entry)
    for alias, key_pass in (("one", "SRC_PASS"), ("two", "SRC_KEY_PASS")):
        keytool("-genkeypair", "-keyalg", "EC", "-groupname", "secp256r1", "-alias", alias, "-dname", f"CN={alias}",
                "-keystore", "mixed.jks", "-storetype", "JKS", "-storepass:env", "SRC_PASS", "-keypass:env", key_pass)
    for name, magic in [("src.jks", b"\xfe\xed\xfe\xed"), ("src-keypass.jks", b"\xfe\xed\xfe\xed"),
                        ("src.jceks", b"\xce\xce\xce\xce"), ("multi.jks", b"\xfe\xed\xfe\xed")]:
        assert (d / name).read_bytes()[:4] == magic, name
    return pki


# -- spec building ----------------------------------------------------------------------------------------

@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PASSWORD_ENV.items():
        monkeypatch.setenv(name, value)


def files(cert: str, key: str, chain: list[str] | None = None, key_pass: str | None = None) -> dict[str, Any]:
    imp: dict[str, Any] = {"certificate": cert, "private_key": key}
    if key_pass:
        imp["private_key_password"] = {"env": key_pass}
    if chain is not None:
        imp["chain"] = chain
    return {"import": imp}


def from_store(keystore: str, alias: str | None = None, password: str = "SRC_PASS",
               key_pass: str | None = None) -> dict[str, Any]:
    imp: dict[str, Any] = {"keystore": keystore, "password": {"env": password}}
    if alias is not None:
        imp["alias"] = alias
    if key_pass:
        imp["key_password"] = {"env": key_pass}
    return {"import": imp}


def store(name: str, path: str, entries: dict[str, dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": name, "path": path, "password": {"env": "KS_PASS"}, **extra,
            "entries": [{"alias": alias, **source} for alias, source in entries.items()]}


def write_spec(folder: Path, *keystores: dict[str, Any]) -> Path:
    spec = folder / "kstool.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "keystores": list(keystores)}, sort_keys=False), encoding="utf-8")
    return spec


def ok(result: Result) -> Result:
    assert result.code == 0, result.err
    assert not any(s in result.out + result.err for s in SECRETS)
    return result


def entries_of(path: Path, password: str = PW, key_password: str | None = None) -> dict[str, Entry]:
    data = path.read_bytes()
    store_type = detect_type(data)
    assert store_type is not None
    return {e.alias: e for e in decode(data, store_type, password, key_password=key_password)}


def plan_entries(capsys: pytest.CaptureFixture[str], spec: Path) -> dict[str, dict[str, Any]]:
    """'keystore/alias' → the entry of ``plan --json``."""
    plan = ok(run(capsys, "plan", spec, "--json")).json()
    return {f"{k['name']}/{e['alias']}": e for k in plan["keystores"] for e in k["entries"]}


def same_key(a: bytes, b: bytes) -> bool:
    return load_der_private_key(a, None).private_numbers() == load_der_private_key(b, None).private_numbers()  # type: ignore[union-attr]  # RSA/EC keys only


def fingerprints(entries: dict[str, Entry]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for alias, e in entries.items():
        if isinstance(e, KeyEntry):
            out[alias] = (sha256_hex(e.key_der), *(sha256_hex(c) for c in e.chain_der))
        else:
            assert isinstance(e, TrustedEntry)
            out[alias] = (sha256_hex(e.cert_der),)
    return out


def java_entries(java: Java, path: Path, store_type: str, password: str = PW,
                 key_password: str | None = None) -> dict[str, dict[str, Any]]:
    info, *loaded = java.load(path, password, key_password, store_type=store_type.upper())
    assert info["size"] == len(loaded)
    return {e["alias"]: e for e in loaded}


# -- 1. every input form, every output type --------------------------------------------------------------

# alias → (import source as a function of the material folder, leaf certificate, leaf key)
FORMS: dict[str, tuple[Callable[[Pki], dict[str, Any]], str, str]] = {
    "pem-pkcs8": (lambda p: files(p.path("rsa.crt"), p.path("rsa.key"), [p.path("inter.crt"), p.path("root.crt")]),
                  "rsa.crt", "rsa.key"),
    "der-der": (lambda p: files(p.path("rsa.der"), p.path("rsa.pk8.der"), [p.path("chain.pem")]),
                "rsa.crt", "rsa.key"),
    "enc-pkcs8": (lambda p: files(p.path("rsa.crt"), p.path("rsa.enc.pem"), [p.path("chain.pem")], "KEY_PASS"),
                  "rsa.crt", "rsa.key"),
    "enc-pkcs8-der": (lambda p: files(p.path("rsa.der"), p.path("rsa.enc.der"), [p.path("chain.pem")], "KEY_PASS"),
                      "rsa.crt", "rsa.key"),
    "pkcs1": (lambda p: files(p.path("rsa.crt"), p.path("rsa.pkcs1.pem"), [p.path("chain.pem")]),
              "rsa.crt", "rsa.key"),
    "legacy-enc": (lambda p: files(p.path("rsa.crt"), p.path("rsa.legacy.pem"), [p.path("chain.pem")], "KEY_PASS"),
                   "rsa.crt", "rsa.key"),
    "ec-sec1": (lambda p: files(p.path("ec.crt"), p.path("ec.sec1.pem"), [p.path("inter.crt"), p.path("root.crt")]),
                "ec.crt", "ec.key"),
    "bundle": (lambda p: files(p.path("rsa-bundle.pem"), p.path("rsa.key")), "rsa.crt", "rsa.key"),
    "combined": (lambda p: files(p.path("rsa-combined.pem"), p.path("rsa-combined.pem")), "rsa.crt", "rsa.key"),
    "crlf": (lambda p: files(p.path("rsa-bundle-crlf.pem"), p.path("rsa.legacy-crlf.pem"), key_pass="KEY_PASS"),
             "rsa.crt", "rsa.key"),
    "pkcs1-der": (lambda p: files(p.path("rsa.crt"), p.path("rsa.pkcs1.der"), [p.path("chain.pem")]),
                  "rsa.crt", "rsa.key"),
    "ec-sec1-der": (lambda p: files(p.path("ec.crt"), p.path("ec.sec1.der"), [p.path("chain.pem")]),
                    "ec.crt", "ec.key"),
    "ec-params": (lambda p: files(p.path("ec.crt"), p.path("ec-with-params.pem"), [p.path("chain.pem")]),
                  "ec.crt", "ec.key"),
    "root-first": (lambda p: files(p.path("rsa.crt"), p.path("rsa.key"), [p.path("root.crt"), p.path("inter.crt")]),
                   "rsa.crt", "rsa.key"),
}


# JCEKS protects each key with 200,000 MD5 rounds (keytool's count), in Python on every encode and decode:
# a few representative forms keep that store fast
JCEKS_FORMS = ("enc-pkcs8", "legacy-enc", "ec-sec1", "root-first")


@pytest.mark.java
@pytest.mark.parametrize(("path", "extra", "store_type", "listed", "forms"), [
    ("forms.jks", {}, "jks", "JKS", tuple(FORMS)),
    ("forms.p12", {}, "pkcs12", "PKCS12", tuple(FORMS)),
    ("forms.store", {"type": "jceks"}, "jceks", "JCEKS", JCEKS_FORMS),
])
def test_every_input_form_opens_in_keytool_and_java(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None,
                                                    pki: Pki, java: Java, path: str, extra: dict[str, str],
                                                    store_type: str, listed: str, forms: tuple[str, ...]) -> None:
    spec = write_spec(tmp_path, store("forms", path, {a: FORMS[a][0](pki) for a in forms}, **extra))
    ok(run(capsys, "apply", spec))
    out = tmp_path / path
    assert detect_type(out.read_bytes()) == store_type
    listing = keytool_list(out, PW, listed)
    assert f"Keystore type: {listed}" in listing and f"Your keystore contains {len(forms)} entries" in listing
    assert listing.count("Certificate chain length: 3") == len(forms)
    loaded = java_entries(java, out, listed)
    assert sorted(loaded) == sorted(forms)
    for alias in forms:
        _, leaf, key = FORMS[alias]
        expected_chain = [sha256_hex(c) for c in pki.chain(leaf)]
        assert loaded[alias]["kind"] == "key", alias
        assert loaded[alias]["chain"] == expected_chain, alias  # leaf → intermediate → root
        assert loaded[alias]["key_sha256"] == sha256_hex(pki.key_pkcs8(key)), alias
    ok(run(capsys, "plan", spec, "--detailed-exitcode"))


# -- 2. import from existing keystores -------------------------------------------------------------------

# alias → (source as a function of the material folder, leaf of the source entry)
STORE_IMPORTS: dict[str, tuple[Callable[[Pki], dict[str, Any]], str]] = {
    "pfx-named": (lambda p: from_store(p.path("named.pfx"), "gw"), "rsa.crt"),
    "pfx-named-case": (lambda p: from_store(p.path("named.pfx"), "GW"), "rsa.crt"),
    "pfx-named-only": (lambda p: from_store(p.path("named.pfx")), "rsa.crt"),
    "pfx-3des": (lambda p: from_store(p.path("named-3des.pfx")), "rsa.crt"),
    "pfx-rc2-40": (lambda p: from_store(p.path("named-rc2-40.pfx")), "rsa.crt"),
    "pfx-noname": (lambda p: from_store(p.path("noname.pfx")), "ec.crt"),
    "pfx-noname-1": (lambda p: from_store(p.path("noname.pfx"), "1"), "ec.crt"),  # Java names it "1"
    "jks": (lambda p: from_store(p.path("src.jks"), "gw"), "rsa.crt"),
    "jks-only": (lambda p: from_store(p.path("src.jks")), "rsa.crt"),
    "jceks": (lambda p: from_store(p.path("src.jceks")), "rsa.crt"),
    "jks-keypass": (lambda p: from_store(p.path("src-keypass.jks"), "gw", key_pass="SRC_KEY_PASS"), "rsa.crt"),
}
LEAF_KEYS = {"rsa.crt": "rsa.key", "ec.crt": "ec.key"}


@pytest.mark.java
@pytest.mark.parametrize(("path", "listed"), [("imported.p12", "PKCS12"), ("imported.jks", "JKS")])
def test_import_from_keystores(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None, sources: Pki,
                               java: Java, path: str, listed: str) -> None:
    pki = sources
    entries = {a: make(pki) for a, (make, _) in STORE_IMPORTS.items()}
    entries["multi-two"] = from_store(pki.path("multi.jks"), "two")
    spec = write_spec(tmp_path, store("imp", path, entries))
    ok(run(capsys, "apply", spec))
    ours = entries_of(tmp_path / path)
    for alias, (_, leaf) in STORE_IMPORTS.items():
        entry = ours[alias]
        assert isinstance(entry, KeyEntry)
        assert entry.chain_der == pki.chain(leaf), alias
        assert same_key(entry.key_der, pki.key_pkcs8(LEAF_KEYS[leaf])), alias
    source = entries_of(pki.dir / "multi.jks", SRC_PW)["two"]
    assert isinstance(source, KeyEntry)
    multi = ours["multi-two"]
    assert isinstance(multi, KeyEntry)
    assert multi.chain_der == source.chain_der and same_key(multi.key_der, source.key_der)
    loaded = java_entries(java, tmp_path / path, listed)
    assert sorted(loaded) == sorted(entries)
    for alias, entry in ours.items():
        assert isinstance(entry, KeyEntry)
        assert loaded[alias]["chain"] == [sha256_hex(c) for c in entry.chain_der], alias
        assert loaded[alias]["key_sha256"] == sha256_hex(entry.key_der), alias
    # import entries compare by content: nothing to do on the next run
    ok(run(capsys, "plan", spec, "--detailed-exitcode"))


@pytest.mark.java
@pytest.mark.parametrize(("alias", "key_pass"), [("two", "SRC_KEY_PASS"), ("one", None)])
def test_import_one_alias_from_a_jks_with_per_entry_key_passwords(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None, sources: Pki, alias: str,
        key_pass: str | None) -> None:
    spec = write_spec(tmp_path, store("s", "s.jks", {"k": from_store(sources.path("mixed.jks"), alias,
                                                                     key_pass=key_pass)}))
    ok(run(capsys, "apply", spec))
    assert isinstance(entries_of(tmp_path / "s.jks")["k"], KeyEntry)


# -- 3. truststores --------------------------------------------------------------------------------------

def trust_spec(folder: Path, pki: Pki, dname: str) -> Path:
    server = store("server", "server.jks", {
        "srv": {"generate": {"dname": dname, "key": {"algorithm": "EC", "size": 256}}},
        "gw": files(pki.path("rsa.crt"), pki.path("rsa.key"), [pki.path("chain.pem")]),
    })
    trust = store("trust", "trust.p12", {
        "corp-root": {"trusted": {"certificate": pki.path("root.crt")}},
        "srv-peer": {"trusted": {"entry": "server/srv"}},
        "gw-peer": {"trusted": {"entry": "server/GW"}},  # aliases are case-insensitive
    })
    return write_spec(folder, server, trust)


@pytest.mark.java
def test_truststore_follows_the_entries_it_trusts(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None,
                                                  pki: Pki, java: Java) -> None:
    spec = trust_spec(tmp_path, pki, "CN=srv.example")
    ok(run(capsys, "apply", spec))
    listing = keytool_list(tmp_path / "trust.p12", PW, "PKCS12")
    assert "Your keystore contains 3 entries" in listing
    assert listing.count("Entry type: trustedCertEntry") == 3
    server = entries_of(tmp_path / "server.jks")
    srv = server["srv"]
    assert isinstance(srv, KeyEntry)
    expected = {"corp-root": pki.cert_der("root.crt"), "srv-peer": srv.chain_der[0], "gw-peer": pki.cert_der("rsa.crt")}
    trusted = entries_of(tmp_path / "trust.p12")
    assert {a: e.cert_der for a, e in trusted.items() if isinstance(e, TrustedEntry)} == expected
    loaded = java_entries(java, tmp_path / "trust.p12", "PKCS12")
    assert {a: (e["kind"], e["cert"]) for a, e in loaded.items()} == {
        a: ("trusted", sha256_hex(c)) for a, c in expected.items()}

    # the server's generated key is replaced: the truststore entry that follows it is updated, the rest kept
    trust_spec(tmp_path, pki, "CN=srv2.example")
    plan = plan_entries(capsys, spec)
    assert plan["server/srv"]["action"] == "replace"
    assert plan["trust/srv-peer"]["action"] == "update"
    assert any("server/srv" in r for r in plan["trust/srv-peer"]["reasons"]), plan["trust/srv-peer"]
    assert plan["trust/corp-root"]["action"] == plan["trust/gw-peer"]["action"] == "no-op"
    assert plan["server/gw"]["action"] == "no-op"
    ok(run(capsys, "apply", spec))
    new_srv = entries_of(tmp_path / "server.jks")["srv"]
    assert isinstance(new_srv, KeyEntry) and new_srv.chain_der[0] != srv.chain_der[0]
    assert "CN=srv2.example" in x509.load_der_x509_certificate(new_srv.chain_der[0]).subject.rfc4514_string()
    after = entries_of(tmp_path / "trust.p12")
    assert after["srv-peer"] == TrustedEntry("srv-peer", new_srv.chain_der[0], after["srv-peer"].timestamp_ms)
    assert after["corp-root"] == trusted["corp-root"] and after["gw-peer"] == trusted["gw-peer"]
    ok(run(capsys, "plan", spec, "--detailed-exitcode"))


@pytest.mark.parametrize(("new_cert", "new_key", "server_action"), [
    ("rsa-renewed.crt", "rsa.key", "update"),  # the CA renewed it: same key
    ("rsa-rekeyed.crt", "rekeyed.key", "replace"),  # a new key pair
])
def test_truststore_follows_a_changed_import(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None,
                                             pki: Pki, new_cert: str, new_key: str, server_action: str) -> None:
    for name in ("rsa.crt", "rsa.key", "root.crt"):
        shutil.copy(pki.dir / name, tmp_path / name)
    spec = write_spec(tmp_path, store("server", "server.p12", {
        "gw": files("rsa.crt", "rsa.key", [pki.path("chain.pem")])}), store("trust", "trust.jks", {
            "gw-peer": {"trusted": {"entry": "server/gw"}}, "root": {"trusted": {"certificate": "root.crt"}}}))
    ok(run(capsys, "apply", spec))
    shutil.copy(pki.dir / new_cert, tmp_path / "rsa.crt")
    shutil.copy(pki.dir / new_key, tmp_path / "rsa.key")
    shutil.copy(pki.dir / "stranger.crt", tmp_path / "root.crt")  # the trusted certificate file changes too
    plan = plan_entries(capsys, spec)
    assert plan["server/gw"]["action"] == server_action
    assert plan["trust/gw-peer"]["action"] == "update"
    assert any("server/gw" in r for r in plan["trust/gw-peer"]["reasons"]), plan["trust/gw-peer"]
    assert plan["trust/root"]["action"] == "update"
    assert any("certificate changed" in r for r in plan["trust/root"]["reasons"]), plan["trust/root"]
    ok(run(capsys, "apply", spec))
    trust = entries_of(tmp_path / "trust.jks")
    assert trust["gw-peer"] == TrustedEntry("gw-peer", pki.cert_der(new_cert), trust["gw-peer"].timestamp_ms)
    assert trust["root"] == TrustedEntry("root", pki.cert_der("stranger.crt"), trust["root"].timestamp_ms)
    ok(run(capsys, "plan", spec, "--detailed-exitcode"))


# -- 4. import entries compare by content ----------------------------------------------------------------

@pytest.mark.parametrize(("cert", "key", "chain", "action", "reason"), [
    ("rsa.crt", "rsa.key", ["chain.pem"], "no-op", None),
    ("rsa.der", "rsa.pkcs1.pem", ["root.crt", "inter.crt"], "no-op", None),  # other encodings, same content
    ("rsa-bundle.pem", "rsa.pk8.der", None, "no-op", None),
    ("rsa-renewed.crt", "rsa.key", ["chain.pem"], "update", "certificate changed"),
    ("rsa.crt", "rsa.key", ["inter.crt"], "update", "chain changed: 3 → 2 certificates"),
    ("rsa-rekeyed.crt", "rekeyed.key", ["chain.pem"], "replace", "private key changed"),
])
def test_import_changes_are_judged_by_content(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None,
                                              pki: Pki, cert: str, key: str, chain: list[str] | None, action: str,
                                              reason: str | None) -> None:
    for name in ("rsa.crt", "rsa.key", "chain.pem"):
        shutil.copy(pki.dir / name, tmp_path / name)
    spec = write_spec(tmp_path, store("s", "s.p12", {"gw": files("rsa.crt", "rsa.key", ["chain.pem"])}))
    ok(run(capsys, "apply", spec))
    before = entries_of(tmp_path / "s.p12")["gw"]
    assert plan_entries(capsys, spec)["s/gw"]["action"] == "no-op"
    renewed = cert == "rsa-renewed.crt"
    if renewed:  # the renewal arrives in place: the spec still names the same file
        shutil.copy(pki.dir / cert, tmp_path / "rsa.crt")
    cert_path = "rsa.crt" if renewed else pki.path(cert)
    write_spec(tmp_path, store("s", "s.p12", {"gw": files(cert_path, pki.path(key),
                                                          [pki.path(c) for c in chain] if chain else None)}))
    entry = plan_entries(capsys, spec)["s/gw"]
    assert entry["action"] == action, entry
    if reason:
        assert any(reason in r for r in entry["reasons"]), entry
    expected_code = 0 if action == "no-op" else 2
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == expected_code
    ok(run(capsys, "apply", spec))
    after = entries_of(tmp_path / "s.p12")["gw"]
    assert isinstance(before, KeyEntry) and isinstance(after, KeyEntry)
    assert same_key(after.key_der, before.key_der) == (action != "replace")
    if renewed:
        assert after.chain_der == pki.chain("rsa-renewed.crt")
    ok(run(capsys, "plan", spec, "--detailed-exitcode"))


# -- 5. password rotation --------------------------------------------------------------------------------

def rotation_spec(folder: Path, pki: Pki, path: str, **extra: Any) -> Path:
    return write_spec(folder, store("rot", path, {
        "gw": files(pki.path("rsa.crt"), pki.path("rsa.enc.pem"), [pki.path("chain.pem")], "KEY_PASS"),
        "from-pfx": from_store(pki.path("noname.pfx")),
        "corp-root": {"trusted": {"certificate": pki.path("root.crt")}},
        "gw-peer": {"trusted": {"entry": "rot/gw"}},
    }, **extra))


@pytest.mark.java
@pytest.mark.parametrize(("path", "listed", "extra"), [
    ("rot.jks", "JKS", {}),
    ("rot.p12", "PKCS12", {}),
    ("rot-legacy.p12", "PKCS12", {"pkcs12_profile": "legacy"}),
    ("rot-keypass.jks", "JKS", {"key_password": {"env": "SRC_KEY_PASS"}}),  # keys keep their own password
])
def test_password_rotation_keeps_every_fingerprint(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, env: None, pki: Pki,
                                                   java: Java, path: str, listed: str, extra: dict[str, Any]) -> None:
    key_password = SRC_KEY_PW if "key_password" in extra else None
    spec = rotation_spec(tmp_path, pki, path, **extra)
    ok(run(capsys, "apply", spec))
    before = fingerprints(entries_of(tmp_path / path, key_password=key_password))
    assert len(before) == 4
    monkeypatch.setenv("KS_PASS", PW2)
    failed = run(capsys, "plan", spec)
    assert failed.code == 1 and "'rot'" in failed.err and path in failed.err and "previous_password" in failed.err
    assert not any(s in failed.out + failed.err for s in SECRETS)
    monkeypatch.setenv("OLD_PASS", PW)
    rotation_spec(tmp_path, pki, path, previous_password={"env": "OLD_PASS"}, **extra)
    plan = ok(run(capsys, "plan", spec, "--json")).json()
    assert plan["keystores"][0]["action"] == "update" and plan["keystores"][0]["reasons"] == ["password changed"]
    assert {e["action"] for e in plan["keystores"][0]["entries"]} == {"no-op"}
    ok(run(capsys, "apply", spec))
    assert fingerprints(entries_of(tmp_path / path, PW2, key_password)) == before
    with pytest.raises(WrongPasswordError):  # the old password opens nothing any more
        entries_of(tmp_path / path, PW, key_password)
    assert ok(run(capsys, "plan", spec, "--detailed-exitcode")).code == 0
    loaded = java_entries(java, tmp_path / path, listed, PW2, key_password)
    assert {a: (e["key_sha256"], *e["chain"]) if e["kind"] == "key" else (e["cert"],)
            for a, e in loaded.items()} == before


# -- 6. bad inputs ---------------------------------------------------------------------------------------

# (id, entry source as a function of the material folder, file the message must name, words it must hold)
BAD: list[Any] = [
    ("cert-missing", lambda p: files(p.path("nope.crt"), p.path("rsa.key")), "nope.crt", "does not exist"),
    ("key-as-cert", lambda p: files(p.path("rsa.key"), p.path("rsa.key")), "rsa.key", "no certificate found"),
    ("two-keys", lambda p: files(p.path("rsa.crt"), p.path("two-keys.pem")), "two-keys.pem", "holds 2 private keys"),
    ("encrypted-no-password", lambda p: files(p.path("rsa.crt"), p.path("rsa.enc.pem")), "rsa.enc.pem",
     "set private_key_password"),
    ("encrypted-der-no-password", lambda p: files(p.path("rsa.crt"), p.path("rsa.enc.der")), "rsa.enc.der",
     "set private_key_password"),
    ("wrong-key-password", lambda p: files(p.path("rsa.crt"), p.path("rsa.enc.pem"), None, "WRONG_PASS"),
     "rsa.enc.pem", "wrong private_key_password"),
    ("wrong-legacy-password", lambda p: files(p.path("rsa.crt"), p.path("rsa.legacy.pem"), None, "WRONG_PASS"),
     "rsa.legacy.pem", "wrong private_key_password"),
    ("unsupported-cipher-pkcs8", lambda p: files(p.path("rsa.crt"), p.path("rsa.camellia.pem"), None, "KEY_PASS"),
     "rsa.camellia.pem", "encrypted with an algorithm kstool cannot decrypt"),
    ("unsupported-cipher-legacy", lambda p: files(p.path("rsa.crt"), p.path("rsa.legacy-camellia.pem"), None,
                                                  "KEY_PASS"),
     "rsa.legacy-camellia.pem", "encrypted with an algorithm kstool cannot decrypt"),
    ("password-for-plain-key", lambda p: files(p.path("rsa.crt"), p.path("rsa.key"), None, "KEY_PASS"),
     "rsa.key", "remove private_key_password"),
    ("key-mismatch", lambda p: files(p.path("rsa.crt"), p.path("ec.key")), "rsa.crt", "does not match"),
    ("unrelated-chain-cert", lambda p: files(p.path("rsa.crt"), p.path("rsa.key"),
                                             [p.path("chain.pem"), p.path("stranger.crt")]),
     "stranger.crt", "unrelated certificate"),
    ("gap", lambda p: files(p.path("rsa.crt"), p.path("rsa.key"), [p.path("root.crt")]), "root.crt", "gap"),
    ("duplicate-chain-cert", lambda p: files(p.path("rsa.crt"), p.path("rsa.key"),
                                             [p.path("inter.crt"), p.path("inter.crt"), p.path("root.crt")]),
     "inter.crt", "duplicate certificate"),
    ("leaf-twice", lambda p: files(p.path("rsa-bundle.pem"), p.path("rsa.key"), [p.path("rsa.crt")]),
     "rsa.crt", "appears twice"),
    ("chain-missing", lambda p: files(p.path("rsa.crt"), p.path("rsa.key"), [p.path("gone.crt")]), "gone.crt",
     "does not exist"),
    ("trusted-bundle", lambda p: {"trusted": {"certificate": p.path("chain.pem")}}, "chain.pem",
     "holds 2 certificates"),
    ("trusted-missing", lambda p: {"trusted": {"certificate": p.path("gone.crt")}}, "gone.crt", "does not exist"),
    ("source-no-key", lambda p: from_store(p.path("nokeys.pfx")), "nokeys.pfx", "holds no private key entry"),
    ("cert-is-key-der", lambda p: files(p.path("rsa.pk8.der"), p.path("rsa.key")), "rsa.pk8.der",
     "no certificate found"),
    ("key-is-cert-der", lambda p: files(p.path("rsa.crt"), p.path("rsa.der")), "rsa.der", "it holds a certificate"),
    ("source-alias-missing", lambda p: from_store(p.path("named.pfx"), "nope"), "named.pfx", "no key entry 'nope'"),
    ("source-wrong-password", lambda p: from_store(p.path("named.pfx"), password="WRONG_PASS"), "named.pfx",
     "WRONG_PASS"),
    ("source-not-a-keystore", lambda p: from_store(p.path("rsa.crt")), "rsa.crt", "not a JKS, JCEKS or PKCS12"),
    ("source-der-not-a-keystore", lambda p: from_store(p.path("rsa.der")), "rsa.der", "not a valid PKCS12"),
    pytest.param("source-ambiguous", lambda p: from_store(p.path("multi.jks")), "multi.jks",
                 "holds 2 key entries (", marks=pytest.mark.java),
    pytest.param("source-jks-wrong-password", lambda p: from_store(p.path("src.jks"), password="WRONG_PASS"),
                 "src.jks", "WRONG_PASS", marks=pytest.mark.java),
    pytest.param("source-jks-key-password-missing", lambda p: from_store(p.path("src-keypass.jks")),
                 "src-keypass.jks", "key_password", marks=pytest.mark.java),
]
BAD_NEEDS_KEYTOOL = {"source-ambiguous", "source-jks-wrong-password", "source-jks-key-password-missing"}


def _case_id(case: Any) -> str:
    return str(case.values[0] if hasattr(case, "values") else case[0])


@pytest.mark.parametrize(("name", "make", "named", "words"), BAD, ids=[_case_id(c) for c in BAD])
def test_bad_input_is_an_error_at_its_spec_location_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None, pki: Pki, request: pytest.FixtureRequest,
        name: str, make: Callable[[Pki], dict[str, Any]], named: str, words: str) -> None:
    if name in BAD_NEEDS_KEYTOOL:
        request.getfixturevalue("sources")
    good = store("good", "good.jks", {"gen": {"generate": {"dname": "CN=good", "key": {"algorithm": "EC"}}}})
    base = store("target", "target.p12", {"gw": files(pki.path("rsa.crt"), pki.path("rsa.key"),
                                                      [pki.path("chain.pem")])})
    spec = write_spec(tmp_path, good, base)
    ok(run(capsys, "apply", spec))
    # the bad entry joins an existing keystore, next to a change elsewhere and a password file to generate
    good["entries"][0]["generate"]["dname"] = "CN=changed"
    base["entries"].append({"alias": "bad", **make(pki)})
    fresh = store("fresh", "fresh.jks", {"gen": {"generate": {"dname": "CN=fresh", "key": {"algorithm": "EC"}}}},
                  password={"file": "secrets/fresh.pass", "generate": True})
    write_spec(tmp_path, good, base, fresh)
    before = snapshot(tmp_path)
    result = run(capsys, "apply", spec)
    assert result.code == 1, (result.out, result.err)
    assert snapshot(tmp_path) == before
    err = result.err
    assert err.startswith("kstool: error: ") and "Traceback" not in err
    line = next(i for i, text in enumerate(spec.read_text().splitlines(), 1) if text.strip() == "- alias: bad")
    assert re.search(rf"kstool\.yaml:{line}:\d+: ", err), err
    assert "keystores[1].entries[1]" in err, err
    assert named in err, err
    assert words in err, err
    assert not any(s in result.out + err for s in SECRETS), err
