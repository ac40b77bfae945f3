"""Real inputs from software and corpora nobody on this project wrote (issue 12, items 1-6).

What Java accepts must work, what Java refuses must be refused clearly: certificates of the
cryptography-vectors corpus (judged by Java's own X.509 parser), PKCS12 files from ``openssl pkcs12 -export``
(a key without its certificate, an empty password), serial-0 roots, JCEKS stores from ``keytool -genseckey``,
JKS stores whose key chain is not a chain.
"""

from __future__ import annotations

import base64
import os
import struct
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cryptography_vectors
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from kstool.crypto.imports import load_certificates, private_key_to_pkcs8
from kstool.crypto.policy import check_certificates
from kstool.engine.facts import cert_facts
from kstool.errors import FormatError, KstoolError
from kstool.formats.codec import decode
from kstool.formats.entries import KeyEntry, StoreType, TrustedEntry
from kstool.formats.javaser import skip_sealed_object
from kstool.formats.jks import encode_jks
from kstool.formats.pkcs12 import as_read_back
from tests.support.clirun import Result, run
from tests.support.javatools import HERE, Java, keytool_list

PW = "Store-Pass-1"
VECTORS = Path(cryptography_vectors.__file__).parent / "x509"
NOW = datetime.now(UTC)


# -- helpers ----------------------------------------------------------------------------------------------

def _spec(folder: Path, entries: str, *, path: str = "out.p12") -> Path:
    spec = folder / "kstool.yaml"
    spec.write_text(f"version: 1\nkeystores:\n  - name: out\n    path: {path}\n    password: {{env: KS_PASS}}\n"
                    f"    entries:\n{entries}", encoding="utf-8")
    return spec


def _trusted(file: Path | str, *, flags: bool = False) -> str:
    extra = "        allow_expired: true\n        allow_weak: true\n" if flags else ""
    return f"      - alias: t\n        trusted: {{certificate: '{file}'}}\n{extra}"


def _import(keystore: str, password: str = "{env: KS_PASS}", alias: str | None = None) -> str:
    more = f", alias: '{alias}'" if alias else ""
    return f"      - alias: k\n        import: {{keystore: {keystore}, password: {password}{more}}}\n"


def _no_raw_warning(result: Result) -> None:
    for line in result.err.splitlines():
        assert line.startswith("kstool: "), f"raw text on stderr: {line!r}"
    assert "site-packages" not in result.err and "Warning:" not in result.err


def _openssl(cwd: Path, *args: str) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(cn: str, key: ec.EllipticCurvePrivateKey, *, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None = None,
          ca: bool = False) -> x509.Certificate:
    issuer_name, issuer_key = (cn, key) if issuer is None else issuer
    return (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(issuer_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(issuer_key, hashes.SHA256()))


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> Path:
    monkeypatch.setenv("KS_PASS", PW)
    return workdir


# -- 1. certificates Java's X.509 parser refuses ------------------------------------------------------------

@pytest.mark.parametrize(("corpus_file", "java_says"), [
    ("custom/ec_no_named_curve.pem", "Only named ECParameters supported"),
    ("v1_cert.pem", "Signature algorithm mismatch"),
    ("custom/mismatch_inner_outer_sig_algorithm.der", "Signature algorithm mismatch"),
    ("custom/two_basic_constraints.pem", "Duplicate extensions"),
    ("custom/nc_permitted.pem", "invalid URI name constraint"),
    ("custom/malformed-ian.pem", "Empty issuer DN not allowed"),
    ("custom/ian_uri.pem", "incomplete"),
])
def test_trusted_certificate_java_refuses_is_refused_whatever_the_flags(
        env: Path, capsys: pytest.CaptureFixture[str], corpus_file: str, java_says: str) -> None:
    spec = _spec(env, _trusted(VECTORS / corpus_file, flags=True))
    result = run(capsys, "plan", spec)
    assert result.code == 1, result.err
    assert corpus_file.rsplit("/", 1)[-1] in result.err
    assert "cannot go into a keystore" in result.err and "no allow flag changes this" in result.err
    assert f"Java refuses such a certificate and every keystore holding it ('{java_says}" in result.err
    assert not (env / "out.p12").exists()


def test_chain_certificate_java_refuses_is_refused(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert("leaf", key)
    (env / "leaf.crt").write_bytes(leaf.public_bytes(Encoding.PEM))
    (env / "leaf.key").write_bytes(private_key_to_pkcs8(key))
    bad = VECTORS / "custom" / "ec_no_named_curve.pem"
    spec = _spec(env, "      - alias: k\n        import: {certificate: leaf.crt, private_key: leaf.key, "
                      f"chain: ['{bad}']}}\n")
    result = run(capsys, "plan", spec)
    assert result.code == 1
    assert "ec_no_named_curve.pem" in result.err and "Only named ECParameters supported" in result.err


def test_source_keystore_certificate_java_refuses_is_refused(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = (VECTORS / "v1_cert.pem").read_bytes()
    bad = base64.b64decode(b"".join(pem.split(b"-----")[2].split()))
    entries = [KeyEntry("k", private_key_to_pkcs8(key), (_der(_cert("leaf", key)), bad), 0)]
    (env / "src.jks").write_bytes(encode_jks(entries, PW, PW))
    result = run(capsys, "plan", _spec(env, _import("src.jks")))
    assert result.code == 1
    assert "src.jks" in result.err and "certificate #2" in result.err and "Signature algorithm mismatch" in result.err


def _accepted_as_trusted(path: Path) -> bytes | None:
    """The DER of ``path`` when kstool accepts it as a trusted entry with every allow flag set, else None."""
    try:
        certs = load_certificates(path, path.read_bytes())
        if len(certs) != 1:
            return None
        check_certificates(certs, now=NOW, allow_expired=True, allow_weak=True, what=str(path))
        der = _der(certs[0])
        cert_facts(der)
    except KstoolError:
        return None
    return der


@pytest.mark.java
@pytest.mark.slow
def test_every_corpus_certificate_kstool_accepts_java_parses(tmp_path: Path, jdk: None) -> None:
    """One JVM parses every certificate of cryptography-vectors' x509 folder that kstool accepts."""
    files = sorted(p for p in VECTORS.rglob("*") if p.is_file() and p.suffix in (".pem", ".der", ".crt", ".cer"))
    accepted = tmp_path / "accepted"
    accepted.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns about some malformed-but-read corpus names
        for i, path in enumerate(files):
            der = _accepted_as_trusted(path)
            if der is not None:
                (accepted / f"{i:04d}").write_bytes(der)
    names = {f"{i:04d}": path.relative_to(VECTORS) for i, path in enumerate(files)}
    assert len(files) > 500 and len(list(accepted.iterdir())) > 400  # the corpus is there, most of it usable
    classes = tmp_path / "classes"
    subprocess.run(["javac", "-d", str(classes), str(HERE / "java" / "CertParse.java")], check=True, timeout=120)
    out = subprocess.run(["java", "-cp", str(classes), "CertParse", str(accepted)], capture_output=True, text=True,
                         check=True, timeout=300).stdout
    refused = [f"{names[line.split()[1]]}: {line.split(chr(9), 1)[1]}" for line in out.splitlines()
               if line.startswith("FAIL ")]
    assert out.count("OK ") == len(list(accepted.iterdir())) - len(refused)
    assert refused == [], "kstool accepts certificates Java cannot parse:\n" + "\n".join(refused)


@pytest.mark.java
@pytest.mark.slow
def test_absent_and_null_signature_parameters_are_the_same_for_java_and_kstool(tmp_path: Path, jdk: None) -> None:
    """Java's AlgorithmId reads an explicit NULL as no parameters: such a pair is no mismatch for either."""
    from kstool.crypto.certparse import java_refusal, parse_der
    from kstool.formats import der

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(_name("null")).issuer_name(_name("null"))
            .public_key(key.public_key()).serial_number(1).not_valid_before(NOW)
            .not_valid_after(NOW + timedelta(days=1)).sign(key, hashes.SHA256()))
    top = der.decode(_der(cert)).children()
    tbs = top[0].children()
    absent = der.seq(tbs[2].children()[0].raw)  # sha256WithRSAEncryption without its NULL
    assert top[1].raw == der.seq(tbs[2].children()[0].raw, der.null())
    variants = {
        "inner_absent": der.seq(der.seq(*[absent if i == 2 else c.raw for i, c in enumerate(tbs)]), top[1].raw,
                                top[2].raw),
        "outer_absent": der.seq(top[0].raw, absent, top[2].raw),
    }
    folder = tmp_path / "certs"
    folder.mkdir()
    for name, data in variants.items():
        assert java_refusal(parse_der(data)) is None
        (folder / name).write_bytes(data)
    subprocess.run(["javac", "-d", str(tmp_path), str(HERE / "java" / "CertParse.java")], check=True, timeout=120)
    out = subprocess.run(["java", "-cp", str(tmp_path), "CertParse", str(folder)], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.splitlines() == ["OK inner_absent", "OK outer_absent"]


def test_impossible_x509_version_is_a_clear_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "plan", _spec(env, _trusted(VECTORS / "custom" / "invalid_version.pem", flags=True)))
    assert result.code == 1, result.err
    assert "invalid_version.pem" in result.err and "version 8, which does not exist" in result.err


# -- 2. a PKCS12 holding a key without its certificate -------------------------------------------------------

@pytest.fixture()
def nocert_p12(env: Path) -> Path:
    _openssl(env, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "k.pem")
    _openssl(env, "pkcs12", "-export", "-nocerts", "-inkey", "k.pem", "-out", "nocert.p12", "-passout", f"pass:{PW}")
    return env / "nocert.p12"


@pytest.mark.parametrize("command", ["plan", "apply", "verify"])
def test_pkcs12_key_without_certificate_is_a_clear_error(
        nocert_p12: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    result = run(capsys, command, _spec(nocert_p12.parent, _import("nocert.p12")))
    assert result.code == 1, result.err
    assert "nocert.p12" in result.err and "private key without its certificate" in result.err


def test_inspect_pkcs12_key_without_certificate(nocert_p12: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "inspect", nocert_p12, "--password-env", "KS_PASS")
    assert result.code == 1, result.err
    assert result.err.startswith("kstool: error: ") and "nocert.p12" in result.err
    assert "without its certificate" in result.err


# -- 3. no raw library warnings: serial-0 roots, and the CLI boundary ----------------------------------------

@pytest.fixture()
def serial_zero(env: Path) -> Path:
    _openssl(env, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
             "z.key", "-subj", "/CN=Serial Zero Root", "-days", "30", "-set_serial", "0", "-out", "zero.pem",
             "-addext", "basicConstraints=critical,CA:true")
    return env / "zero.pem"


def test_serial_zero_root_is_trusted_without_warnings(serial_zero: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(serial_zero.parent, _trusted("zero.pem"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a future cryptography that turns the warning into an error
        for command in ("plan", "apply", "verify"):
            result = run(capsys, command, spec)
            assert result.code == 0, result.err
            _no_raw_warning(result)
        result = run(capsys, "inspect", serial_zero.parent / "out.p12", "--password-env", "KS_PASS")
    assert result.code == 0 and "Serial number: 0" in result.out
    _no_raw_warning(result)


@pytest.mark.java
@pytest.mark.slow
def test_serial_zero_root_store_loads_in_java(serial_zero: Path, capsys: pytest.CaptureFixture[str],
                                              java: Java) -> None:
    assert run(capsys, "apply", _spec(serial_zero.parent, _trusted("zero.pem"))).code == 0
    entries = java.load(serial_zero.parent / "out.p12", PW)
    assert entries[0]["size"] == 1 and entries[1]["kind"] == "trusted"


def test_library_warnings_are_formatted_at_the_cli_boundary(
        env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import kstool.cli.commands

    def noisy(spec: Path) -> int:
        warnings.warn("something deprecated\nover two lines", DeprecationWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(kstool.cli.commands, "cmd_validate", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        result = run(capsys, "validate", env / "kstool.yaml")
    assert result.code == 0
    assert result.err == "kstool: warning: something deprecated over two lines (DeprecationWarning)\n"


def test_a_library_warning_reaches_a_real_shell_once_and_formatted(env: Path) -> None:
    """cryptography warns about an over-long country name (Java reads it): one kstool line per warning."""
    spec = _spec(env, _trusted(VECTORS / "custom" / "bad_country.pem", flags=True))
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS",)}
    done = subprocess.run([sys.executable, "-m", "kstool", "plan", str(spec)], env=clean, capture_output=True,
                          text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "kstool: warning: Attribute's length must be >= 2 and <= 2, but it was 8 (UserWarning)",
        "kstool: warning: Attribute's length must be >= 2 and <= 2, but it was 13 (UserWarning)",
    ]


# -- 4. JCEKS with secret keys next to a key pair --------------------------------------------------------------

@pytest.fixture(scope="module")
def mixed_jceks_bytes(tmp_path_factory: pytest.TempPathFactory, jdk: None) -> bytes:
    """A Hadoop-style store made by keytool: a key pair, an AES key and a password entry."""
    folder = tmp_path_factory.mktemp("jceks")
    store = ["-storetype", "JCEKS", "-keystore", "mixed.jceks", "-storepass:env", "KSTOOL_T_PW", "-keypass:env",
             "KSTOOL_T_PW"]
    steps = [["-genkeypair", "-alias", "pair", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=pair"],
             ["-genseckey", "-alias", "aes", "-keyalg", "AES", "-keysize", "128"],
             ["-importpass", "-alias", "hadoop.pw"]]
    for step in steps:
        done = subprocess.run(["keytool", *step, *store], cwd=folder, input="s3cret-value\ns3cret-value\n",
                              env=dict(os.environ, KSTOOL_T_PW=PW), capture_output=True, text=True, check=False,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    return (folder / "mixed.jceks").read_bytes()


@pytest.fixture()
def mixed_jceks(env: Path, mixed_jceks_bytes: bytes) -> Path:
    (env / "mixed.jceks").write_bytes(mixed_jceks_bytes)
    return env / "mixed.jceks"


@pytest.mark.java
@pytest.mark.slow
def test_jceks_secret_keys_are_skipped_and_the_key_pair_imported(
        mixed_jceks: Path, capsys: pytest.CaptureFixture[str], java: Java) -> None:
    for alias in (None, "pair"):
        result = run(capsys, "apply", _spec(mixed_jceks.parent, _import("mixed.jceks", alias=alias)))
        assert result.code == 0, result.err
        assert "skipped 2 secret-key entries ('aes', 'hadoop.pw'); kstool imports key pairs only" in result.err
        _no_raw_warning(result)
    entries = java.load(mixed_jceks.parent / "out.p12", PW)
    assert [e["alias"] for e in entries[1:]] == ["k"] and entries[1]["kind"] == "key"


@pytest.mark.java
@pytest.mark.slow
def test_jceks_secret_key_alias_is_named_as_such(mixed_jceks: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "plan", _spec(mixed_jceks.parent, _import("mixed.jceks", alias="AES")))
    assert result.code == 1
    assert "entry 'AES' holds a secret key, not a key pair" in result.err


@pytest.mark.java
@pytest.mark.slow
def test_sealed_object_walker_is_strict_on_every_truncation(mixed_jceks: Path) -> None:
    data = mixed_jceks.read_bytes()
    start = data.index(b"\xac\xed\x00\x05")
    end = skip_sealed_object(data, start)
    assert data[end:end + 4] in (struct.pack(">i", 1), struct.pack(">i", 3))  # the next entry's tag
    started = time.monotonic()
    for cut in range(start, end):
        with pytest.raises(FormatError):
            skip_sealed_object(data[:cut], start)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("hostile", [
    b"\xac\xed\x00\x05" + b"\x73" + b"\x72\x00\x01A" + bytes(8) + b"\x02\x00\x00\x78" + b"\x71" * 50,
    b"\xac\xed\x00\x05\x73\x72\x00\x01A" + bytes(8) + b"\x02\x00\x01[\x00\x01a" + b"\x73" * 100,
    b"\xac\xed\x00\x05\x73\x72\x00\x01A" + bytes(8) + b"\x02\x00\x01[\x00\x01a\x74\x00\x02[B\x78\x70"
    b"\x75\x72\x00\x02[B" + bytes(8) + b"\x02\x00\x00\x78\x70\x7f\xff\xff\xff",  # a 2 GiB array
    b"\xac\xed\x00\x05\x73\x72\x00\x01A" + bytes(8) + b"\x03\x00\x00\x78\x70",  # a writeObject class
    b"\xac\xed\x00\x05\x73" + (b"\x72\x00\x01A" + bytes(8) + b"\x02\x00\x00\x78") * 20 + b"\x70",
])
def test_sealed_object_walker_refuses_hostile_streams_quickly(hostile: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(FormatError):
        skip_sealed_object(hostile + bytes(64), 0)
    assert time.monotonic() - started < 1


# an AES key sealed by keytool 17 (-genseckey): the seed for hostile variants
_SEALED = bytes.fromhex(
    "aced000573720033636f6d2e73756e2e63727970746f2e70726f76696465722e5365616c65644f626a656374466f724b6579"
    "50726f746563746f72cd57ca59e730bb53020000787200196a617661782e63727970746f2e5365616c65644f626a6563743e"
    "363da6c3b754700200045b000d656e636f646564506172616d737400025b425b0010656e63727970746564436f6e74656e74"
    "71007e00024c0009706172616d73416c677400124c6a6176612f6c616e672f537472696e673b4c00077365616c416c677100"
    "7e00037870757200025b42acf317f8060854e0020000787000000011300f040823943aa8e41a8c7d0203030d407571007e00"
    "050000009007cd99d9f8bbbacceeb684f01a4a8d4e54c43695f46b14eaa665be48ca9d0f676f039a4b319290a2ddebbb2c06"
    "0f05ce08adbdbeffb74e1115de814cfbd9ada5272fc5bc47a1285bb22d7dab88d2a83d26b87d8c3d6f9f23d30a1abcb688a5"
    "d78fef790e65da3d7f9c213daf38d95cbbbc8e396e32a5c5be6323c3c511d3028717370d2b1edd5f0c47654830e09e0fbb74"
    "0016504245576974684d4435416e64547269706c65444553740016504245576974684d4435416e64547269706c65444553")


def test_sealed_object_walker_measures_a_keytool_sealed_key() -> None:
    assert skip_sealed_object(_SEALED + b"tail", 0) == len(_SEALED)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=st.data())
def test_sealed_object_walker_mutations_raise_format_error_only(data: st.DataObject) -> None:
    mutated = bytearray(_SEALED)
    for _ in range(data.draw(st.integers(1, 4))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(mutated)))
    try:
        end = skip_sealed_object(bytes(mutated[:cut]), 0)
    except FormatError:
        return
    assert 0 < end <= cut


# -- 5. one chain rule for every source ---------------------------------------------------------------------

def _jks_source(folder: Path, chain: list[x509.Certificate], key: ec.EllipticCurvePrivateKey) -> None:
    entries = [KeyEntry("k", private_key_to_pkcs8(key), tuple(_der(c) for c in chain), 0)]
    (folder / "src.jks").write_bytes(encode_jks(entries, PW, PW))


def test_keystore_chain_of_unrelated_certificates_is_refused(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    others = [_cert(f"stranger {i}", ec.generate_private_key(ec.SECP256R1()), ca=True) for i in (1, 2)]
    _jks_source(env, [_cert("leaf", key), *others], key)
    for path in ("out.p12", "out.jks"):
        result = run(capsys, "plan", _spec(env, _import("src.jks"), path=path))
        assert result.code == 1, result.err
        assert "src.jks" in result.err and "unrelated certificate 'CN=stranger 1'" in result.err


def test_keystore_chain_out_of_order_is_ordered_and_kept_whole(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root_key, mid_key, key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _cert("root", root_key, ca=True)
    mid = _cert("mid", mid_key, issuer=("root", root_key), ca=True)
    leaf = _cert("leaf", key, issuer=("mid", mid_key))
    _jks_source(env, [leaf, root, mid], key)
    outputs: tuple[tuple[str, StoreType], ...] = (("out.p12", "pkcs12"), ("out.jks", "jks"))
    for path, store_type in outputs:
        result = run(capsys, "apply", _spec(env, _import("src.jks"), path=path))
        assert result.code == 0, result.err
        (entry,) = decode((env / path).read_bytes(), store_type, PW)
        assert isinstance(entry, KeyEntry)
        assert entry.chain_der == (_der(leaf), _der(mid), _der(root))


def test_pkcs12_never_drops_chain_certificates_silently() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    stranger = _cert("stranger", ec.generate_private_key(ec.SECP256R1()), ca=True)
    entry = KeyEntry("k", private_key_to_pkcs8(key), (_der(_cert("leaf", key)), _der(stranger)), 0)
    with pytest.raises(FormatError, match="would read back a different chain than the 2 certificates given"):
        as_read_back([entry])
    trusted = TrustedEntry("t", _der(stranger), 0)
    assert as_read_back([trusted]) == (trusted,)


# -- 6. source keystores with an empty password ------------------------------------------------------------

def test_pkcs12_exported_with_an_empty_password_imports(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _openssl(env, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
             "k.pem", "-subj", "/CN=empty", "-days", "30", "-out", "c.pem")
    _openssl(env, "pkcs12", "-export", "-in", "c.pem", "-inkey", "k.pem", "-out", "empty.p12", "-passout", "pass:")
    result = run(capsys, "apply", _spec(env, _import("empty.p12", "{empty: true}"), path="out.jks"))
    assert result.code == 0, result.err
    (entry,) = decode((env / "out.jks").read_bytes(), "jks", PW)
    assert entry.alias == "k" and isinstance(entry, KeyEntry)


@pytest.mark.parametrize("name", ["no-password.p12", "no-name-no-pwd.p12", "name-1-no-pwd.p12",
                                  "name-unicode-no-pwd.p12"])
def test_cryptography_no_password_pkcs12_imports(env: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    """Written with OpenSSL's NULL password (no bytes at all): Java retries an empty password that way, so does
    kstool."""
    source = VECTORS.parent / "pkcs12" / name
    result = run(capsys, "apply", _spec(env, _import(f"'{source}'", "{empty: true}"), path="out.jks"))
    assert result.code == 0, result.err
    (entry,) = decode((env / "out.jks").read_bytes(), "jks", PW)
    assert isinstance(entry, KeyEntry) and len(entry.chain_der) == 1


def test_jks_with_an_empty_password_imports(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert("leaf", key)
    (env / "empty.jks").write_bytes(encode_jks([KeyEntry("k", private_key_to_pkcs8(key), (_der(leaf),), 0)], "", ""))
    result = run(capsys, "apply", _spec(env, _import("empty.jks", "{empty: true}")))
    assert result.code == 0, result.err
    (entry,) = decode((env / "out.p12").read_bytes(), "pkcs12", PW)
    assert isinstance(entry, KeyEntry) and entry.chain_der == (_der(leaf),)


def test_an_empty_source_password_points_at_empty_not_generate(
        env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    (env / "empty.jks").write_bytes(encode_jks([KeyEntry("k", private_key_to_pkcs8(key), (_der(_cert("l", key)),),
                                                         0)], "", ""))
    monkeypatch.setenv("EMPTY_PASS", "")
    (env / "empty.pass").write_text("\n", encoding="utf-8")
    os.chmod(env / "empty.pass", 0o600)
    for ref in ("{env: EMPTY_PASS}", "{file: empty.pass}", "{file: missing.pass}"):
        result = run(capsys, "plan", _spec(env, _import("empty.jks", ref)))
        assert result.code == 1, result.err
        assert "generate" not in result.err
        if "missing" not in ref:
            assert "password: {empty: true}" in result.err
    result = run(capsys, "plan", _spec(env, _import("empty.jks", "{file: x.pass, generate: true}")))
    assert result.code == 1 and "cannot open an existing keystore" in result.err


def test_empty_reference_is_only_for_source_keystores(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = env / "kstool.yaml"
    spec.write_text("version: 1\nkeystores:\n  - name: out\n    path: out.p12\n    password: {empty: true}\n"
                    "    entries: []\n", encoding="utf-8")
    result = run(capsys, "validate", spec)
    assert result.code == 1 and "keystores[0].password" in result.err
    result = run(capsys, "validate", _spec(env, _import("src.p12", "{empty: false}")))
    assert result.code == 1 and ("import.password: a source keystore password is a reference: {env: VAR}, "
                                 "{file: PATH}, or {empty: true} for a store whose password is empty") in result.err


@pytest.mark.java
@pytest.mark.slow
def test_keytool_lists_the_imported_empty_password_store(env: Path, capsys: pytest.CaptureFixture[str],
                                                         jdk: None) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    (env / "empty.jks").write_bytes(encode_jks([KeyEntry("k", private_key_to_pkcs8(key), (_der(_cert("l", key)),),
                                                         0)], "", ""))
    assert run(capsys, "apply", _spec(env, _import("empty.jks", "{empty: true}"))).code == 0
    assert "PrivateKeyEntry" in keytool_list(env / "out.p12", PW)
