"""Existing certificates and keys: every encoding loads, chains sort and check, every bad input says why.

Material comes from two independent makers: the ``openssl`` CLI (as users make it) and cryptography's
builders (for what the CLI cannot easily forge: same-name issuers with other keys, PSS and Ed25519 links).
Passwords reach openssl through the environment, never argv.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa, x25519
from cryptography.x509.oid import NameOID

from kstool.crypto.certs import PrivateKey
from kstool.crypto.imports import (
    describe_certificate,
    key_matches_certificate,
    load_certificates,
    load_private_key,
    order_chain,
    private_key_to_pkcs8,
    select_leaf,
)
from kstool.errors import MaterialError

PASSWORD = "correct horse 42"
PW_ENV = "KSTOOL_TEST_KEYPASS"

OPENSSL_CNF = """\
[req]
distinguished_name = dn
[dn]
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
"""


def openssl(*args: str | Path, cwd: Path) -> bytes:
    env = dict(os.environ, **{PW_ENV: PASSWORD})
    out = subprocess.run(["openssl", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                         check=False, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout


# -- material made by the openssl CLI ---------------------------------------------------------------------

@dataclass(frozen=True)
class Pki:
    dir: Path

    def path(self, name: str) -> Path:
        return self.dir / name

    def read(self, name: str) -> bytes:
        return (self.dir / name).read_bytes()

    def cert(self, name: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.read(name))

    def key(self, name: str) -> PrivateKey:
        key = serialization.load_pem_private_key(self.read(name), None)
        assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
        return key


def _issue(d: Path, name: str, subject: str, issuer: str | None, ext: str, serial: int) -> None:
    """``name.crt`` for ``name.key``: self-signed when ``issuer`` is None, else signed by ``issuer``."""
    if issuer is None:
        openssl("req", "-x509", "-new", "-config", "cnf", "-extensions", ext, "-key", f"{name}.key",
                "-subj", subject, "-set_serial", str(serial), "-days", "3650", "-out", f"{name}.crt", cwd=d)
        return
    openssl("req", "-new", "-config", "cnf", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr",
            cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.crt", "-CAkey", f"{issuer}.key",
            "-set_serial", str(serial), "-days", "365", "-extfile", "cnf", "-extensions", ext,
            "-out", f"{name}.crt", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Root (RSA) → intermediate (EC P-384) → leaf (RSA) and ec-leaf (EC P-256); every key encoding."""
    d = tmp_path_factory.mktemp("pki")
    (d / "cnf").write_text(OPENSSL_CNF)
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "root.key", cwd=d)
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "inter.key", cwd=d)
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "leaf.key", cwd=d)
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ecleaf.key", cwd=d)
    openssl("genpkey", "-algorithm", "ed25519", "-out", "ed.key", cwd=d)
    _issue(d, "root", "/CN=Test Root CA/O=kstool", None, "v3_ca", 1)
    _issue(d, "inter", "/CN=Test Intermediate CA/O=kstool", "root", "v3_ca", 2)
    _issue(d, "leaf", "/CN=leaf.example", "inter", "v3_leaf", 3)
    _issue(d, "ecleaf", "/CN=ec.example", "inter", "v3_leaf", 4)
    _issue(d, "ed", "/CN=ed.example", "inter", "v3_leaf", 5)
    for name in ("leaf", "ecleaf", "ed"):  # PKCS#8, plain and encrypted, PEM and DER
        # not `openssl pkey -outform DER`: OpenSSL 3.0 writes PKCS#1/SEC1 there, not PKCS#8
        openssl("pkcs8", "-topk8", "-nocrypt", "-in", f"{name}.key", "-outform", "DER", "-out", f"{name}.p8.der",
                cwd=d)
        for form, ext in (("PEM", "pem"), ("DER", "der")):
            openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", f"{name}.key", "-passout", f"env:{PW_ENV}",
                    "-outform", form, "-out", f"{name}.p8enc.{ext}", cwd=d)
    # PKCS#1 (RSA) and SEC1 (EC), plain PEM/DER and the legacy "Proc-Type: 4,ENCRYPTED" PEM
    for tool, name in (("rsa", "leaf"), ("ec", "ecleaf")):
        trad = ["-traditional"] if tool == "rsa" else []
        openssl(tool, "-in", f"{name}.key", *trad, "-out", f"{name}.trad.pem", cwd=d)
        openssl(tool, "-in", f"{name}.key", *trad, "-outform", "DER", "-out", f"{name}.trad.der", cwd=d)
        openssl(tool, "-in", f"{name}.key", *trad, "-aes256", "-passout", f"env:{PW_ENV}",
                "-out", f"{name}.legacy.pem", cwd=d)
    # "EC PARAMETERS" before the key, as `openssl ecparam -genkey` writes it
    params = openssl("ecparam", "-name", "prime256v1", cwd=d)
    (d / "ecleaf.params.pem").write_bytes(params + (d / "ecleaf.trad.pem").read_bytes())
    for name in ("root", "inter", "leaf"):
        openssl("x509", "-in", f"{name}.crt", "-outform", "DER", "-out", f"{name}.der", cwd=d)
    return Pki(d)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- material made by cryptography ------------------------------------------------------------------------

NOT_BEFORE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2034, 1, 1, tzinfo=dt.UTC)


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(subject: str, key: PrivateKey, issuer: str, issuer_key: PrivateKey, *, serial: int,
              ca: bool = True, pss: bool = False) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if isinstance(issuer_key, ed25519.Ed25519PrivateKey):
        return builder.sign(issuer_key, None)
    if pss:
        pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return builder.sign(issuer_key, hashes.SHA256(), rsa_padding=pad)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class Chain:
    root: x509.Certificate
    inter: x509.Certificate
    leaf: x509.Certificate
    leaf_key: PrivateKey
    inter_key: PrivateKey


@pytest.fixture(scope="module")
def py_chain() -> Chain:
    """Ed25519 root → RSA intermediate (Ed25519 link) → EC P-521 leaf (RSA-PSS link)."""
    root_key = ed25519.Ed25519PrivateKey.generate()
    inter_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf_key = ec.generate_private_key(ec.SECP521R1())
    root = make_cert("Py Root", root_key, "Py Root", root_key, serial=10)
    inter = make_cert("Py Inter", inter_key, "Py Root", root_key, serial=11)
    leaf = make_cert("py.example", leaf_key, "Py Inter", inter_key, serial=12, ca=False, pss=True)
    return Chain(root, inter, leaf, leaf_key, inter_key)


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def fail(exc: pytest.ExceptionInfo[MaterialError], *fragments: str) -> None:
    for fragment in fragments:
        assert fragment in str(exc.value), str(exc.value)


# -- private keys: every encoding gives the same key -------------------------------------------------------

KEY_FILES = [
    ("leaf.key", None),  # PKCS#8 PEM
    ("leaf.p8.der", None),
    ("leaf.p8enc.pem", PASSWORD),
    ("leaf.p8enc.der", PASSWORD),
    ("leaf.trad.pem", None),  # PKCS#1
    ("leaf.trad.der", None),
    ("leaf.legacy.pem", PASSWORD),  # Proc-Type: 4,ENCRYPTED
    ("ecleaf.key", None),
    ("ecleaf.p8.der", None),
    ("ecleaf.p8enc.pem", PASSWORD),
    ("ecleaf.p8enc.der", PASSWORD),
    ("ecleaf.trad.pem", None),  # SEC1
    ("ecleaf.trad.der", None),
    ("ecleaf.legacy.pem", PASSWORD),
    ("ecleaf.params.pem", None),  # EC PARAMETERS + EC PRIVATE KEY
    ("ed.key", None),
    ("ed.p8.der", None),
    ("ed.p8enc.pem", PASSWORD),
    ("ed.p8enc.der", PASSWORD),
]


@pytest.mark.parametrize(("file", "password"), KEY_FILES)
def test_every_key_encoding_loads_the_same_key(pki: Pki, file: str, password: str | None) -> None:
    pw = password.encode() if password is not None else None
    key = load_private_key(pki.path(file), pki.read(file), pw)
    reference = pki.key(file.split(".", maxsplit=1)[0] + ".key")
    assert private_key_to_pkcs8(key) == private_key_to_pkcs8(reference)


def test_pkcs8_matches_openssl(pki: Pki) -> None:
    key = load_private_key(pki.path("leaf.trad.pem"), pki.read("leaf.trad.pem"), None)
    assert private_key_to_pkcs8(key) == pki.read("leaf.p8.der")


def test_key_next_to_certificates_is_found(pki: Pki, tmp_path: Path) -> None:
    """A combined cert+key PEM serves as both the certificate file and the key file."""
    path = write(tmp_path, "combined.pem", pki.read("leaf.crt") + pki.read("leaf.key") + pki.read("inter.crt"))
    key = load_private_key(path, path.read_bytes(), None)
    certs = load_certificates(path, path.read_bytes())
    assert [c.subject.rfc4514_string() for c in certs] == ["CN=leaf.example", "O=kstool,CN=Test Intermediate CA"]
    assert key_matches_certificate(key, certs[0])


# -- private keys: errors ---------------------------------------------------------------------------------

KEY_ERRORS: list[tuple[str, Callable[[Pki], bytes], str]] = [
    ("empty.key", lambda p: b"", "no private key found (expected PEM 'BEGIN PRIVATE KEY', "),
    ("garbage.key", lambda p: b"not a key\n", "no private key found"),
    ("cert.pem", lambda p: p.read("leaf.crt"), "no private key found"),
    ("cert.der", lambda p: p.read("leaf.der"), "or DER PKCS#8/PKCS#1/SEC1); it holds a certificate"),
    ("two.pem", lambda p: p.read("leaf.key") + p.read("ecleaf.key"),
     "holds 2 private keys (lines 1, "),
    ("pub.pem", lambda p: openssl("pkey", "-in", "leaf.key", "-pubout", cwd=p.dir),
     "; it holds PEM block(s) 'PUBLIC KEY'"),
    ("csr.pem", lambda p: p.read("leaf.csr"), "; it holds PEM block(s) 'CERTIFICATE REQUEST'"),
    ("key-csr.pem", lambda p: p.read("leaf.key") + p.read("leaf.csr"),
     "unexpected PEM block 'CERTIFICATE REQUEST' at line "),
    ("open.pem", lambda p: b"-----BEGIN PRIVATE KEY-----\nMIIB\n", "has no matching '-----END'"),
    ("bad64.pem", lambda p: b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
     "is not valid base64"),
    ("junk.pem", lambda p: b"-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n",
     "the private key cannot be parsed"),
    ("openssh.pem", lambda p: b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
     "unsupported OpenSSH-format private key at line 1"),
]


@pytest.mark.parametrize(("file", "maker", "fragment"), KEY_ERRORS)
def test_key_errors(pki: Pki, tmp_path: Path, file: str, maker: Callable[[Pki], bytes], fragment: str) -> None:
    data = maker(pki)
    path = write(tmp_path, file, data)
    with pytest.raises(MaterialError) as exc:
        load_private_key(path, data, None)
    fail(exc, f"{path}: ", fragment)


def _key_error(pki: Pki, file: str, password: bytes | None) -> str:
    with pytest.raises(MaterialError) as exc:
        load_private_key(pki.path(file), pki.read(file), password)
    return str(exc.value)


ENCRYPTED = ["leaf.p8enc.pem", "leaf.p8enc.der", "leaf.legacy.pem", "ecleaf.legacy.pem", "ed.p8enc.der"]
PLAIN = ["leaf.key", "leaf.p8.der", "leaf.trad.pem", "leaf.trad.der", "ecleaf.trad.der", "ecleaf.params.pem"]


@pytest.mark.parametrize("file", ENCRYPTED)
def test_encrypted_key_without_password(pki: Pki, file: str) -> None:
    assert _key_error(pki, file, None) == f"{pki.path(file)}: the private key is encrypted: set private_key_password"


@pytest.mark.parametrize("file", ENCRYPTED)
def test_encrypted_key_wrong_password(pki: Pki, file: str) -> None:
    message = _key_error(pki, file, b"not the password")
    assert message.startswith(f"{pki.path(file)}: wrong private_key_password")
    assert "not the password" not in message


@pytest.mark.parametrize("file", PLAIN)
def test_password_for_unencrypted_key(pki: Pki, file: str) -> None:
    message = _key_error(pki, file, PASSWORD.encode())
    assert message == f"{pki.path(file)}: the private key is not encrypted: remove private_key_password"
    assert PASSWORD not in message


def _pkcs8(key: object) -> bytes:
    assert hasattr(key, "private_bytes")
    data: bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    return data


@pytest.fixture(scope="module")
def dsa_key() -> dsa.DSAPrivateKey:
    return dsa.generate_private_key(key_size=1024)


@pytest.mark.parametrize(("maker", "kind"), [
    (_pkcs8, "DSA"),
    (lambda k: k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                               serialization.NoEncryption()), "DSA"),
    (lambda _: _pkcs8(x25519.X25519PrivateKey.generate()), "X25519"),
    (lambda _: _pkcs8(ed448.Ed448PrivateKey.generate()), "Ed448"),
    (lambda _: _pkcs8(ec.generate_private_key(ec.SECP256K1())), "EC on curve secp256k1"),
])
def test_unsupported_key_types(tmp_path: Path, dsa_key: dsa.DSAPrivateKey,
                               maker: Callable[[dsa.DSAPrivateKey], bytes], kind: str) -> None:
    data = maker(dsa_key)
    path = write(tmp_path, "k.pem", data)
    with pytest.raises(MaterialError) as exc:
        load_private_key(path, data, None)
    fail(exc, str(path), kind, "supported key types: RSA, EC P-256/384/521, Ed25519")


def test_unsupported_dh_key_from_openssl(tmp_path: Path) -> None:
    openssl("genpkey", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048", "-out", "dh.pem", cwd=tmp_path)
    with pytest.raises(MaterialError) as exc:
        load_private_key(tmp_path / "dh.pem", (tmp_path / "dh.pem").read_bytes(), None)
    fail(exc, "unsupported key type DH", "supported key types")


# -- certificates -----------------------------------------------------------------------------------------

def test_certificate_encodings(pki: Pki, tmp_path: Path) -> None:
    leaf = pki.cert("leaf.crt")
    text = openssl("x509", "-in", "leaf.crt", "-text", cwd=pki.dir)  # human text before the PEM block
    legacy = pki.read("leaf.crt").replace(b"BEGIN CERTIFICATE", b"BEGIN X509 CERTIFICATE") \
        .replace(b"END CERTIFICATE", b"END X509 CERTIFICATE")
    for file, data in [("leaf.crt", pki.read("leaf.crt")), ("leaf.der", pki.read("leaf.der")),
                       ("text.pem", text), ("legacy.pem", legacy),
                       ("crlf.pem", pki.read("leaf.crt").replace(b"\n", b"\r\n"))]:
        assert load_certificates(tmp_path / file, data) == [leaf], file


def test_bundle_keeps_file_order(pki: Pki) -> None:
    bundle = pki.read("inter.crt") + pki.read("leaf.crt") + pki.read("root.crt")
    certs = load_certificates(Path("bundle.pem"), bundle)
    assert certs == [pki.cert("inter.crt"), pki.cert("leaf.crt"), pki.cert("root.crt")]


CERT_ERRORS = [
    ("empty", b"", "no certificate found (expected PEM 'BEGIN CERTIFICATE' or DER); the file is empty"),
    ("garbage", b"\x00\x01hello", "no certificate found (expected PEM 'BEGIN CERTIFICATE' or DER)"),
    ("bad-der", b"\x30\x03\x02\x01\x00", "no certificate found (expected PEM 'BEGIN CERTIFICATE' or DER)"),
    ("unterminated", b"-----BEGIN CERTIFICATE-----\nMIIB\n", "has no matching '-----END'"),
    ("mismatched", b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END PRIVATE KEY-----\n",
     "'BEGIN CERTIFICATE' (line 1) ends with 'END PRIVATE KEY'"),
    ("bad-base64", b"-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n",
     "the 'CERTIFICATE' block at line 1 is not valid base64"),
    ("not-x509", b"-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n",
     "certificate #1 (line 1) cannot be parsed as X.509"),
]


@pytest.mark.parametrize(("file", "data", "fragment"), CERT_ERRORS)
def test_certificate_errors(tmp_path: Path, file: str, data: bytes, fragment: str) -> None:
    path = tmp_path / file
    with pytest.raises(MaterialError) as exc:
        load_certificates(path, data)
    fail(exc, f"{path}: ", fragment)


@pytest.mark.parametrize(("file", "fragment"), [
    ("leaf.key", "no certificate found (expected PEM 'BEGIN CERTIFICATE' or DER); it holds PEM block(s) "
                 "'PRIVATE KEY'"),
    ("leaf.p8.der", "no certificate found (expected PEM 'BEGIN CERTIFICATE' or DER)"),
    ("leaf.csr", "it holds PEM block(s) 'CERTIFICATE REQUEST'"),
])
def test_key_or_csr_where_a_certificate_is_expected(pki: Pki, file: str, fragment: str) -> None:
    with pytest.raises(MaterialError) as exc:
        load_certificates(pki.path(file), pki.read(file))
    fail(exc, f"{pki.path(file)}: ", fragment)


def test_unexpected_block_among_certificates(pki: Pki) -> None:
    data = pki.read("leaf.crt") + pki.read("leaf.csr")
    with pytest.raises(MaterialError) as exc:
        load_certificates(Path("x.pem"), data)
    fail(exc, "x.pem: unexpected PEM block 'CERTIFICATE REQUEST' at line")


def test_trusted_certificate_is_refused_with_the_fix(pki: Pki) -> None:
    data = openssl("x509", "-in", "root.crt", "-trustout", "-addtrust", "serverAuth", cwd=pki.dir)
    assert b"BEGIN TRUSTED CERTIFICATE" in data
    with pytest.raises(MaterialError) as exc:
        load_certificates(Path("t.pem"), data)
    fail(exc, "t.pem: line 1 holds an OpenSSL 'TRUSTED CERTIFICATE'", "openssl x509 -in t.pem -out plain.pem")


# -- leaf selection ---------------------------------------------------------------------------------------

def test_select_leaf_from_bundle_with_chain_after_leaf(pki: Pki) -> None:
    certs = load_certificates(Path("full.pem"), pki.read("leaf.crt") + pki.read("inter.crt"))
    key = load_private_key(pki.path("leaf.key"), pki.read("leaf.key"), None)
    leaf = select_leaf(certs, key, source="leaf.key / full.pem")
    assert leaf == pki.cert("leaf.crt")
    others = [c for c in certs if c is not leaf]
    assert order_chain(leaf, others, source="full.pem") == (leaf, pki.cert("inter.crt"))


def test_select_leaf_when_leaf_is_not_first(pki: Pki) -> None:
    certs = [pki.cert("root.crt"), pki.cert("inter.crt"), pki.cert("ecleaf.crt")]
    assert select_leaf(certs, pki.key("ecleaf.key"), source="s") == pki.cert("ecleaf.crt")


def test_key_certificate_mismatch(pki: Pki) -> None:
    assert key_matches_certificate(pki.key("leaf.key"), pki.cert("leaf.crt"))
    assert not key_matches_certificate(pki.key("ecleaf.key"), pki.cert("leaf.crt"))
    with pytest.raises(MaterialError) as exc:
        select_leaf([pki.cert("leaf.crt")], pki.key("ecleaf.key"), source="private key ec.key, certificate leaf.crt")
    fail(exc, "private key ec.key, certificate leaf.crt: the private key does not match the certificate")
    with pytest.raises(MaterialError) as exc:
        select_leaf([pki.cert("leaf.crt"), pki.cert("inter.crt")], pki.key("ed.key"), source="s")
    fail(exc, "does not match any of the 2 certificates")


def test_two_different_certificates_for_one_key(py_chain: Chain) -> None:
    again = make_cert("py.example", py_chain.leaf_key, "Py Inter", py_chain.inter_key, serial=99, ca=False)
    with pytest.raises(MaterialError) as exc:
        select_leaf([py_chain.leaf, again], py_chain.leaf_key, source="s")
    fail(exc, "2 different certificates match the private key")
    # identical copies are one leaf here; order_chain reports the copy
    assert select_leaf([py_chain.leaf, py_chain.leaf], py_chain.leaf_key, source="s") == py_chain.leaf


# -- chain ordering ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("order", list(itertools.permutations(["root", "inter"])))
def test_openssl_chain_in_any_order(pki: Pki, order: tuple[str, ...]) -> None:
    leaf = pki.cert("leaf.crt")
    chain = order_chain(leaf, [pki.cert(f"{n}.crt") for n in order], source="s")
    assert chain == (leaf, pki.cert("inter.crt"), pki.cert("root.crt"))


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_misordered_bundle_sorts_leaf_to_root(py_chain: Chain, order: tuple[int, ...]) -> None:
    """Ed25519, RSA PKCS#1 v1.5 ... and RSA-PSS links, fed in every order (the leaf included)."""
    given = [(py_chain.root, py_chain.inter, py_chain.leaf)[i] for i in order]
    certs = load_certificates(Path("b.pem"), pem(*given))
    leaf = select_leaf(certs, py_chain.leaf_key, source="s")
    chain = order_chain(leaf, [c for c in certs if c is not leaf], source="s")
    assert chain == (py_chain.leaf, py_chain.inter, py_chain.root)


def test_chain_may_stop_at_an_intermediate(pki: Pki) -> None:
    leaf, inter = pki.cert("leaf.crt"), pki.cert("inter.crt")
    assert order_chain(leaf, [inter], source="s") == (leaf, inter)
    assert order_chain(leaf, [], source="s") == (leaf,)
    root = pki.cert("root.crt")
    assert order_chain(root, [], source="s") == (root,)


def test_unrelated_certificate(pki: Pki, py_chain: Chain) -> None:
    leaf = pki.cert("leaf.crt")
    cases = [
        [pki.cert("inter.crt"), pki.cert("root.crt"), py_chain.root],  # another PKI's root, chain complete
        [pki.cert("inter.crt"), pki.cert("ecleaf.crt")],  # a sibling leaf under an open-ended chain
        [pki.cert("inter.crt"), py_chain.leaf],  # an end-entity certificate from elsewhere
    ]
    for others in cases:
        with pytest.raises(MaterialError) as exc:
            order_chain(leaf, others, source="leaf.crt, chain.crt")
        fail(exc, "leaf.crt, chain.crt: unrelated certificate '", others[-1].subject.rfc4514_string(),
             "is not part of the chain of 'CN=leaf.example'")


def test_gap_in_chain(pki: Pki, py_chain: Chain) -> None:
    with pytest.raises(MaterialError) as exc:
        order_chain(pki.cert("leaf.crt"), [pki.cert("root.crt")], source="leaf.crt, chain.crt")
    fail(exc, "leaf.crt, chain.crt: the chain has a gap: 'CN=leaf.example' (serial 0x3) was issued by "
              "'O=kstool,CN=Test Intermediate CA', which is not among the certificates",
         "add the missing intermediate certificate")
    with pytest.raises(MaterialError) as exc:
        order_chain(py_chain.leaf, [py_chain.root], source="s")
    fail(exc, "the chain has a gap")


def test_duplicates(pki: Pki) -> None:
    leaf, inter, root = pki.cert("leaf.crt"), pki.cert("inter.crt"), pki.cert("root.crt")
    with pytest.raises(MaterialError) as exc:
        order_chain(leaf, [inter, root, inter], source="s")
    fail(exc, "s: duplicate certificate 'O=kstool,CN=Test Intermediate CA' (serial 0x2); remove one copy")
    with pytest.raises(MaterialError) as exc:
        order_chain(leaf, [inter, leaf], source="s")
    fail(exc, "s: the leaf certificate 'CN=leaf.example' (serial 0x3) appears twice")


def test_forged_link_same_issuer_name_other_key(py_chain: Chain) -> None:
    impostor_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    impostor = make_cert("Py Inter", impostor_key, "Py Root", impostor_key, serial=66)  # right name, wrong key
    with pytest.raises(MaterialError) as exc:
        order_chain(py_chain.leaf, [impostor, py_chain.root], source="s")
    fail(exc, "s: the signature of 'CN=py.example' (serial 0xc) does not verify with the public key of its "
              "named issuer ('CN=Py Inter' (serial 0x42))", "wrong or forged issuer certificate")


def test_forged_root_link(pki: Pki) -> None:
    """A self-signed certificate that copies the root's name but not its key cannot end the chain."""
    fake_key = ec.generate_private_key(ec.SECP256R1())
    fake = (x509.CertificateBuilder().subject_name(pki.cert("root.crt").subject)
            .issuer_name(pki.cert("root.crt").subject).public_key(fake_key.public_key()).serial_number(7)
            .not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER).sign(fake_key, hashes.SHA256()))
    with pytest.raises(MaterialError) as exc:
        order_chain(pki.cert("leaf.crt"), [pki.cert("inter.crt"), fake], source="s")
    fail(exc, "signature of 'O=kstool,CN=Test Intermediate CA' (serial 0x2) does not verify")


def test_real_issuer_beside_an_impostor_is_chosen(py_chain: Chain) -> None:
    impostor_key = ec.generate_private_key(ec.SECP256R1())
    impostor = make_cert("Py Inter", impostor_key, "Py Inter", impostor_key, serial=67)
    with pytest.raises(MaterialError) as exc:  # the impostor is left over: not part of the chain
        order_chain(py_chain.leaf, [impostor, py_chain.inter, py_chain.root], source="s")
    fail(exc, "unrelated certificate 'CN=Py Inter' (serial 0x43)")


def test_two_issuers_with_the_same_key_are_ambiguous(py_chain: Chain) -> None:
    reissued = make_cert("Py Inter", py_chain.inter_key, "Py Inter", py_chain.inter_key, serial=77)
    with pytest.raises(MaterialError) as exc:
        order_chain(py_chain.leaf, [py_chain.inter, reissued], source="s")
    fail(exc, "2 certificates could have issued 'CN=py.example'", "keep only one of them")


# -- public facts -----------------------------------------------------------------------------------------

def _openssl_facts(pki: Pki, name: str) -> dict[str, str]:
    out = openssl("x509", "-in", f"{name}.crt", "-noout", "-serial", "-fingerprint", "-sha256",
                  "-startdate", "-enddate", cwd=pki.dir).decode()
    fields = dict(line.split("=", 1) for line in out.splitlines())
    spki = openssl("x509", "-in", f"{name}.crt", "-noout", "-pubkey", cwd=pki.dir)
    (pki.dir / f"{name}.pub").write_bytes(spki)
    spki_der = openssl("pkey", "-pubin", "-in", f"{name}.pub", "-outform", "DER", cwd=pki.dir)

    def iso(openssl_date: str) -> str:
        return dt.datetime.strptime(openssl_date, "%b %d %H:%M:%S %Y GMT").strftime("%Y-%m-%dT%H:%M:%SZ")

    return {
        "serial": fields["serial"].lower().lstrip("0") or "0",
        "sha256": fields["sha256 Fingerprint"].replace(":", "").lower(),
        "not_before": iso(re.sub(r"\s+", " ", fields["notBefore"])),
        "not_after": iso(re.sub(r"\s+", " ", fields["notAfter"])),
        "public_key_sha256": hashlib.sha256(spki_der).hexdigest(),
    }


@pytest.mark.parametrize("name", ["root", "inter", "leaf", "ecleaf", "ed"])
def test_describe_certificate_agrees_with_openssl(pki: Pki, name: str) -> None:
    facts = describe_certificate(pki.cert(f"{name}.crt"))
    expected = _openssl_facts(pki, name)
    assert {k: facts[k] for k in expected} == expected
    assert set(facts) == {"subject", "issuer", "serial", "not_before", "not_after", "sha256",
                          "public_key_sha256"}


def test_describe_certificate_names(pki: Pki) -> None:
    facts = describe_certificate(pki.cert("inter.crt"))
    assert facts["subject"] == "O=kstool,CN=Test Intermediate CA"
    assert facts["issuer"] == "O=kstool,CN=Test Root CA"
    assert facts["serial"] == "2"


def test_pkcs7_bundle_gets_the_conversion_command(pki: Pki) -> None:
    data = openssl("crl2pkcs7", "-nocrl", "-certfile", "leaf.crt", "-certfile", "inter.crt", cwd=pki.dir)
    with pytest.raises(MaterialError) as exc:
        load_certificates(Path("b.p7b"), data)
    fail(exc, "b.p7b: no certificate found", "it holds PEM block(s) 'PKCS7'",
         "'openssl pkcs7 -print_certs -in b.p7b -out certs.pem'")


def test_der_certificate_containing_pem_marker_bytes(py_chain: Chain) -> None:
    """DER may hold any bytes, even '-----BEGIN ' inside a name; it must not be mistaken for PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert("-----BEGIN CERTIFICATE-----", key, "Py Inter", py_chain.inter_key, serial=5, ca=False)
    data = cert.public_bytes(serialization.Encoding.DER)
    assert b"-----BEGIN " in data
    assert load_certificates(Path("odd.der"), data) == [cert]


def test_inconsistent_rsa_key_is_refused(tmp_path: Path) -> None:
    """kstool skips cryptography's slow primality check but still proves the RSA numbers fit together."""
    from cryptography.hazmat.primitives.asymmetric import rsa as _rsa

    good = _rsa.generate_private_key(public_exponent=65537, key_size=2048).private_numbers()
    bad = _rsa.RSAPrivateNumbers(good.p, good.q, good.d, good.dmp1 ^ 2, good.dmq1, good.iqmp, good.public_numbers)
    key = bad.private_key(unsafe_skip_rsa_key_validation=True)
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    with pytest.raises(MaterialError, match="RSA private key is inconsistent"):
        load_private_key(tmp_path / "bad.key", data, None)
    fine = good.private_key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())
    loaded = load_private_key(tmp_path / "good.key", fine, None)
    assert isinstance(loaded, _rsa.RSAPrivateKey) and loaded.private_numbers() == good
