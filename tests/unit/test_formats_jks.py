"""JKS / JCEKS encoder and decoder: round trips, determinism, hostile input, and Java as the judge."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jks as pyjks
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from kstool.errors import FormatError, WrongPasswordError
from kstool.formats import der, protection
from kstool.formats import jks as kjks
from kstool.formats.codec import MAX_ITERATIONS
from kstool.formats.entries import Entry, KeyEntry, TrustedEntry
from kstool.formats.jks import decode_jceks, decode_jks, encode_jceks, encode_jks
from tests.support.javatools import Java, keytool_list, sha256_hex

REPO = Path(__file__).resolve().parents[2]
STORE_PW = "store-secret-1"
KEY_PW = "key-secret-2"
T0 = 1_700_000_000_000
NOT_BEFORE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
FAST = 1000  # JCEKS iterations where Java is not the judge: keeps the suite fast


# -- material ---------------------------------------------------------------------------------------------

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class Material:
    key_der: bytes
    chain: tuple[bytes, ...]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, public: CertificatePublicKeyTypes, issuer: str, signer: PrivateKey) -> bytes:
    serial = int.from_bytes(hashlib.sha256(subject.encode()).digest()[:8], "big") | 1
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(public).serial_number(serial)
               .not_valid_before(NOT_BEFORE).not_valid_after(NOT_BEFORE + dt.timedelta(days=365)))
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    if isinstance(signer, ec.EllipticCurvePrivateKey):
        cert = builder.sign(signer, algorithm, ecdsa_deterministic=True)
    else:
        cert = builder.sign(signer, algorithm)
    return cert.public_bytes(serialization.Encoding.DER)


def _pkcs8(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="session")
def material() -> dict[str, Material]:
    """RSA-2048 (chain of two, under the EC CA), EC P-256 and Ed25519 self-signed; fixed per session."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test ca", ca_key.public_key(), "test ca", ca_key)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    return {
        "rsa": Material(_pkcs8(rsa_key), (_cert("rsa leaf", rsa_key.public_key(), "test ca", ca_key), ca)),
        "ec": Material(_pkcs8(ec_key), (_cert("ec", ec_key.public_key(), "ec", ec_key),)),
        "ed25519": Material(_pkcs8(ed_key), (_cert("ed", ed_key.public_key(), "ed", ed_key),)),
        "ca": Material(_pkcs8(ca_key), (ca,)),
    }


def _key(m: Material, alias: str, ts: int = T0) -> KeyEntry:
    return KeyEntry(alias, m.key_der, m.chain, ts)


def _trusted(m: Material, alias: str, ts: int = T0) -> TrustedEntry:
    return TrustedEntry(alias, m.chain[0], ts)


@pytest.fixture(scope="session")
def multi(material: dict[str, Material]) -> tuple[Entry, ...]:
    return (_key(material["rsa"], "rsa-key", T0), _key(material["ec"], "ec-key", T0 + 1),
            _key(material["ed25519"], "ed-key", T0 + 2), _trusted(material["ca"], "root-ca", T0 + 3))


@dataclass(frozen=True)
class Fmt:
    name: str  # keytool / KeyStore type
    encode: Callable[[Sequence[Entry], str, str], bytes]
    decode: Callable[..., tuple[Entry, ...]]


JKS = Fmt("JKS", encode_jks, decode_jks)
JCEKS_FAST = Fmt("JCEKS", lambda e, s, k: encode_jceks(e, s, k, iterations=FAST), decode_jceks)
JCEKS = Fmt("JCEKS", encode_jceks, decode_jceks)  # keytool's 200000 iterations, for Java
FORMATS = [pytest.param(JKS, id="jks"), pytest.param(JCEKS_FAST, id="jceks")]
JAVA_FORMATS = [pytest.param(JKS, id="jks"), pytest.param(JCEKS, id="jceks")]


def _salts(fmt: Fmt, data: bytes) -> list[bytes]:
    return [e.salt for e in kjks.protected_keys(data, jceks=fmt.name == "JCEKS")]


def _resign(data: bytes, password: str) -> bytes:
    """Recompute the store hash after a patch, so only the patched field can be what is refused."""
    body = data[:-20]
    return body + hashlib.sha1(password.encode("utf-16-be") + b"Mighty Aphrodite" + body).digest()


# -- round trips ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_keeps_order_aliases_chains_and_timestamps(fmt: Fmt, multi: tuple[Entry, ...]) -> None:
    data = fmt.encode(multi, STORE_PW, KEY_PW)
    assert data[:4] == (b"\xfe\xed\xfe\xed" if fmt.name == "JKS" else b"\xce\xce\xce\xce")
    assert data[4:12] == struct.pack(">ii", 2, len(multi))
    assert fmt.decode(data, STORE_PW, KEY_PW) == multi


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("entries", ["trusted-only", "empty"])
def test_stores_without_keys_round_trip(fmt: Fmt, entries: str, material: dict[str, Material]) -> None:
    store = [_trusted(material[n], n) for n in ("ca", "ec")] if entries == "trusted-only" else []
    assert fmt.decode(fmt.encode(store, STORE_PW, KEY_PW), STORE_PW) == tuple(store)


@pytest.mark.parametrize("fmt", FORMATS)
def test_key_password_defaults_to_store_password(fmt: Fmt, material: dict[str, Material]) -> None:
    store = [_key(material["ec"], "k")]
    assert fmt.decode(fmt.encode(store, STORE_PW, STORE_PW), STORE_PW) == tuple(store)


@pytest.mark.parametrize("alias", ["clé-ünïcode-日本", "a\x00b", "x" * 300])
def test_bmp_aliases_use_modified_utf8(alias: str, material: dict[str, Material]) -> None:
    data = encode_jks([_trusted(material["ca"], alias)], STORE_PW, KEY_PW)
    expected = alias.encode("utf-8").replace(b"\x00", b"\xc0\x80")  # NUL is C0 80 in writeUTF
    assert data[16:18 + len(expected)] == struct.pack(">H", len(expected)) + expected
    assert decode_jks(data, STORE_PW)[0].alias == alias


def test_jks_passwords_may_be_any_bmp_text(material: dict[str, Material]) -> None:
    store = [_key(material["ec"], "k")]
    data = encode_jks(store, "pässwörd-ключ", "ключ-日本")
    assert decode_jks(data, "pässwörd-ключ", "ключ-日本") == tuple(store)


# -- determinism and salts --------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_same_inputs_give_identical_bytes(fmt: Fmt, multi: tuple[Entry, ...]) -> None:
    assert fmt.encode(multi, STORE_PW, KEY_PW) == fmt.encode(list(multi), STORE_PW, KEY_PW)


_CHILD = """
import json, sys
from kstool.formats.jks import encode_jceks, encode_jks
from kstool.formats.entries import KeyEntry, TrustedEntry
spec = json.load(open(sys.argv[1]))
entries = [KeyEntry(e["alias"], bytes.fromhex(e["key"]), tuple(bytes.fromhex(c) for c in e["chain"]), e["ts"])
           if "key" in e else TrustedEntry(e["alias"], bytes.fromhex(e["cert"]), e["ts"]) for e in spec["entries"]]
out = encode_jks(entries, spec["sp"], spec["kp"]) + encode_jceks(entries, spec["sp"], spec["kp"], iterations=1000)
open(sys.argv[2], "wb").write(out)
"""


def test_identical_bytes_across_processes_and_hash_seeds(multi: tuple[Entry, ...], tmp_path: Path) -> None:
    spec = {"sp": STORE_PW, "kp": KEY_PW, "entries": [
        {"alias": e.alias, "key": e.key_der.hex(), "chain": [c.hex() for c in e.chain_der], "ts": e.timestamp_ms}
        if isinstance(e, KeyEntry) else {"alias": e.alias, "cert": e.cert_der.hex(), "ts": e.timestamp_ms}
        for e in multi]}
    (tmp_path / "in.json").write_text(json.dumps(spec))
    for seed in ("1", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(REPO))
        subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "in.json"), str(tmp_path / seed)],
                       env=env, check=True, timeout=60)
    here = encode_jks(multi, STORE_PW, KEY_PW) + encode_jceks(multi, STORE_PW, KEY_PW, iterations=1000)
    assert (tmp_path / "1").read_bytes() == here
    assert (tmp_path / "4242").read_bytes() == here


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_two_keys_share_a_salt(fmt: Fmt, material: dict[str, Material]) -> None:
    # the same key under two aliases too: JKS is an XOR stream, a shared (password, salt) would leak
    store = [_key(material[n], n) for n in ("rsa", "ec", "ed25519", "ca")] + [_key(material["ec"], "ec-again")]
    salts = _salts(fmt, fmt.encode(store, STORE_PW, KEY_PW))
    assert len(salts) == len(set(salts)) == 5


@pytest.mark.parametrize("fmt", FORMATS)
def test_salt_changes_with_the_key_password(fmt: Fmt, material: dict[str, Material]) -> None:
    store = [_key(material["ec"], "k")]
    assert _salts(fmt, fmt.encode(store, STORE_PW, KEY_PW)) != _salts(fmt, fmt.encode(store, STORE_PW, "other"))


def test_jceks_iterations_are_written_as_given(material: dict[str, Material]) -> None:
    data = encode_jceks([_key(material["ec"], "k")], STORE_PW, KEY_PW, iterations=1234)
    entries = kjks.protected_keys(data, jceks=True)
    assert isinstance(entries[0], kjks.ProtectedKey)
    assert entries[0].iterations == 1234


# -- encoder refusals -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("case", "message"), [
    ("non-bmp alias", "alias 'key-\U0001f511' has a character outside the Basic Multilingual Plane (U+1F511); "
                      "use only characters up to U+FFFF"),
    ("duplicate alias", "duplicate alias 'K' (aliases are case-insensitive in Java)"),
    ("empty chain", "key entry 'k' has no certificate chain; Java needs the leaf"),
    ("not pkcs8", "key entry 'k': the key is not a PKCS#8 PrivateKeyInfo"),
    ("huge timestamp", "entry 'k': timestamp 9223372036854775808 does not fit a Java long"),
])
def test_encoder_refuses_bad_entries(fmt: Fmt, case: str, message: str, material: dict[str, Material]) -> None:
    m = material["ec"]
    by_case: dict[str, list[Entry]] = {
        "non-bmp alias": [_key(m, "key-\U0001f511")],
        "duplicate alias": [_key(m, "k"), _trusted(m, "K")],
        "empty chain": [KeyEntry("k", m.key_der, (), T0)],
        "not pkcs8": [KeyEntry("k", b"\x30\x00", m.chain, T0)],
        "huge timestamp": [_trusted(m, "k", 2**63)],
    }
    entries = by_case[case]
    with pytest.raises(FormatError) as err:
        fmt.encode(entries, STORE_PW, KEY_PW)
    assert str(err.value) == message


@pytest.mark.parametrize(("store_pw", "key_pw", "message"), [
    ("pässword", "ascii-ok", "the JCEKS store password must be printable ASCII (Java refuses other characters)"),
    ("ascii-ok", "pässword", "the JCEKS key password must be printable ASCII (Java refuses other characters)"),
    ("ascii-ok", "tab\there", "the JCEKS key password must be printable ASCII (Java refuses other characters)"),
])
def test_jceks_passwords_must_be_ascii(store_pw: str, key_pw: str, message: str,
                                       material: dict[str, Material]) -> None:
    with pytest.raises(FormatError) as err:
        encode_jceks([_key(material["ec"], "k")], store_pw, key_pw, iterations=FAST)
    assert str(err.value) == message


@pytest.mark.parametrize("iterations", [0, -1, MAX_ITERATIONS + 1, True])
def test_jceks_iteration_count_is_bounded(iterations: int, material: dict[str, Material]) -> None:
    with pytest.raises(TypeError):
        encode_jceks([_key(material["ec"], "k")], STORE_PW, KEY_PW, iterations=iterations)


# -- decoder: passwords -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_wrong_store_password_is_refused_before_any_key_work(fmt: Fmt, multi: tuple[Entry, ...]) -> None:
    data = fmt.encode(multi, STORE_PW, KEY_PW)
    with pytest.raises(WrongPasswordError) as err:
        fmt.decode(data, "not-the-password", KEY_PW)
    assert str(err.value) == f"{fmt.name} keystore password incorrect or file corrupted (integrity check failed)"


@pytest.mark.parametrize("fmt", FORMATS)
def test_wrong_key_password_names_the_alias(fmt: Fmt, multi: tuple[Entry, ...]) -> None:
    data = fmt.encode(multi, STORE_PW, KEY_PW)
    with pytest.raises(WrongPasswordError) as err:
        fmt.decode(data, STORE_PW, "wrong-key-pw")
    assert str(err.value) == f"{fmt.name} keystore: the key password for alias 'rsa-key' is wrong"
    with pytest.raises(WrongPasswordError) as err:
        fmt.decode(data, STORE_PW)  # the default (the store password) is not the key password here
    assert str(err.value) == (f"{fmt.name} keystore: the key password for alias 'rsa-key' is wrong "
                              "(it differs from the store password: pass the key password)")
    assert STORE_PW not in str(err.value) and KEY_PW not in str(err.value)


def test_jceks_wrong_key_password_over_many_salts(material: dict[str, Material]) -> None:
    # 3DES padding alone passes ~1/256 wrong passwords: the PKCS#8 shape check must catch the rest
    m = material["ec"]
    store = [_key(m, f"k{i}") for i in range(300)]
    data = encode_jceks(store, STORE_PW, KEY_PW, iterations=1)
    entries = kjks.protected_keys(data, jceks=True)
    assert len(entries) == 300
    assert all(protection.jceks_recover(e.encrypted, b"wrong", e.salt, e.iterations) is None for e in entries)


# -- decoder: hostile and corrupt input -------------------------------------------------------------------

@pytest.fixture(scope="session")
def small(material: dict[str, Material]) -> dict[str, bytes]:
    store: list[Entry] = [_key(material["ec"], "k"), _trusted(material["ec"], "t")]
    return {"JKS": encode_jks(store, STORE_PW, KEY_PW),
            "JCEKS": encode_jceks(store, STORE_PW, KEY_PW, iterations=FAST)}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_truncation_is_a_format_error(fmt: Fmt, small: dict[str, bytes]) -> None:
    data = small[fmt.name]
    for end in range(len(data)):
        with pytest.raises(FormatError):
            fmt.decode(data[:end], STORE_PW, KEY_PW)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_flipped_byte_is_a_format_error(fmt: Fmt, small: dict[str, bytes]) -> None:
    data = small[fmt.name]
    for i in range(len(data)):
        for mask in (0x01, 0x80):
            corrupt = bytearray(data)
            corrupt[i] ^= mask
            with pytest.raises(FormatError):
                fmt.decode(bytes(corrupt), STORE_PW, KEY_PW)


@pytest.mark.parametrize("fmt", FORMATS)
@given(junk=st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_after_the_magic_are_a_format_error(fmt: Fmt, junk: bytes) -> None:
    magic = b"\xfe\xed\xfe\xed" if fmt.name == "JKS" else b"\xce\xce\xce\xce"
    for data in (magic + junk, magic + b"\x00\x00\x00\x02" + junk):
        with pytest.raises(FormatError):
            fmt.decode(data, STORE_PW)


def _patch(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value):]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("patch", "message"), [
    (lambda d: d + b"\x00", "not a valid {f} keystore: 1 bytes of trailing data after the integrity hash"),
    (lambda d: _patch(d, 4, b"\x00\x00\x00\x03"), "not a valid {f} keystore: unsupported version 3 (offset 8)"),
    (lambda d: _patch(d, 8, b"\x7f\xff\xff\xff"), "not a valid {f} keystore: "),
    (lambda d: _patch(d, 8, b"\xff\xff\xff\xff"), "not a valid {f} keystore: negative entry count (-1) (offset 12)"),
    (lambda d: _patch(d, 12, b"\x00\x00\x00\x07"), "not a valid {f} keystore: unknown entry tag 7 (offset 16)"),
    (lambda d: _patch(d, 16, b"\xff\xff"), "not a valid {f} keystore: truncated or corrupt: alias runs past"),
    (lambda d: _patch(d, 18, b"\xff"), "not a valid {f} keystore: alias is not valid modified UTF-8 (offset 19)"),
    (lambda d: _patch(d, 27, b"\x7f\xff\xff\xff"),
     "not a valid {f} keystore: truncated or corrupt: protected key runs past the end of the data"),
    (lambda d: _patch(d, 27, b"\x80\x00\x00\x00"), "not a valid {f} keystore: negative key length"),
])
def test_malformed_structure_is_a_clear_format_error(fmt: Fmt, small: dict[str, bytes],
                                                      patch: Callable[[bytes], bytes], message: str) -> None:
    # offsets: magic 0, version 4, count 8, tag 12, alias length 16, alias "k" 18, date 19, key length 27
    with pytest.raises(FormatError) as err:
        fmt.decode(_resign(patch(small[fmt.name]), STORE_PW), STORE_PW, KEY_PW)
    assert str(err.value).startswith(message.format(f=fmt.name))
    assert not isinstance(err.value, WrongPasswordError)


@pytest.mark.parametrize(("fmt", "other", "message"), [
    (JKS, "JCEKS", "not a JKS keystore: the data looks like JCEKS"),
    (JCEKS_FAST, "JKS", "not a JCEKS keystore: the data looks like JKS"),
])
def test_the_other_format_is_named(fmt: Fmt, other: str, message: str, small: dict[str, bytes]) -> None:
    with pytest.raises(FormatError) as err:
        fmt.decode(small[other], STORE_PW)
    assert str(err.value) == message


@pytest.mark.parametrize("data", [b"", b"\x30\x82", b"PK\x03\x04"])
def test_other_bytes_have_a_bad_magic(data: bytes) -> None:
    with pytest.raises(FormatError, match=r"bad magic number|looks like PKCS12"):
        decode_jks(data, STORE_PW)


def _fake_jceks_key(iterations: int) -> Callable[[KeyEntry], bytes]:
    params = der.seq(der.octet_string(b"saltsalt"[:8]), der.integer(iterations))
    epki = der.seq(der.seq(der.oid("1.3.6.1.4.1.42.2.19.1"), params), der.octet_string(bytes(32)))
    return lambda _entry: epki


@pytest.mark.parametrize("iterations", [2**31 - 1, MAX_ITERATIONS + 1, 0])
def test_absurd_jceks_iteration_count_is_refused_before_pbe_work(iterations: int,
                                                                 material: dict[str, Material]) -> None:
    data = kjks.encode_with_protector([_key(material["ec"], "k")], STORE_PW, _fake_jceks_key(iterations), jceks=True)
    started = time.monotonic()
    with pytest.raises(FormatError) as err:
        decode_jceks(data, STORE_PW, KEY_PW)
    assert time.monotonic() - started < 0.5
    assert str(err.value).startswith(f"not a valid JCEKS keystore: key 'k': iteration count {iterations} "
                                     f"is outside 1..{MAX_ITERATIONS}")


def test_jceks_iteration_count_patched_in_place_is_refused(material: dict[str, Material]) -> None:
    data = encode_jceks([_key(material["ec"], "k")], STORE_PW, KEY_PW)  # 200000 is INTEGER 03 0d 40
    patched = _patch(data, data.index(b"\x02\x03\x03\x0d\x40"), b"\x02\x03\x7f\xff\xff")  # 8388607
    for candidate in (patched, _resign(patched, STORE_PW)):
        started = time.monotonic()
        with pytest.raises(FormatError, match=r"iteration count 8388607 is outside 1\.\.5000000"):
            decode_jceks(candidate, STORE_PW, KEY_PW)
        assert time.monotonic() - started < 0.5


def test_jceks_malformed_secret_key_entry_is_refused(material: dict[str, Material]) -> None:
    # tag 3 is a serialized SealedObject; the decoder walks its grammar and never deserializes Java
    body = b"\xce\xce\xce\xce" + struct.pack(">iii", 2, 1, 3) + struct.pack(">H", 6) + b"secret"
    body += struct.pack(">q", T0) + b"\xac\xed\x00\x05" + bytes(40)
    with pytest.raises(FormatError) as err:
        decode_jceks(_resign(body + bytes(20), STORE_PW), STORE_PW)
    assert str(err.value) == ("not a valid JCEKS keystore: entry 'secret': secret-key entry: a serialized object "
                              "was expected at offset 37")


def test_jks_has_no_secret_key_entries() -> None:
    body = b"\xfe\xed\xfe\xed" + struct.pack(">iii", 2, 1, 3) + bytes(40)
    with pytest.raises(FormatError, match="unknown entry tag 3"):
        decode_jks(_resign(body, STORE_PW), STORE_PW)


def test_duplicate_aliases_in_a_file_are_refused(material: dict[str, Material]) -> None:
    one = encode_jks([_trusted(material["ca"], "dup")], STORE_PW, KEY_PW)
    entry = one[12:-20]
    data = _resign(one[:8] + struct.pack(">i", 2) + entry + entry + bytes(20), STORE_PW)
    with pytest.raises(FormatError, match="duplicate alias 'dup'"):
        decode_jks(data, STORE_PW)


def _to_version_1(entries: Sequence[Entry], key_pw: str) -> bytes:
    """The same JKS store in version 1: no certificate-type strings."""
    v2 = kjks.encode_with_protector(entries, STORE_PW,
                                    lambda e: protection.jks_protect(e.key_der, key_pw.encode("utf-16-be"),
                                                                     hashlib.sha1(e.alias.encode()).digest()))
    v1 = v2[:4] + struct.pack(">i", 1) + v2[8:-20].replace(b"\x00\x05X.509", b"")
    return _resign(v1 + bytes(20), STORE_PW)


def test_jks_version_1_is_read(multi: tuple[Entry, ...]) -> None:
    assert decode_jks(_to_version_1(multi, KEY_PW), STORE_PW, KEY_PW) == multi


def test_jceks_equal_salt_halves_reverse_the_first_half() -> None:
    # measured on JDK 17: Cipher("PBEWithMD5AndTripleDES"), password "pw", salt "abcdabcd", 1 iteration
    key, iv = protection.pbe_md5_3des(b"pw", b"abcdabcd", 1)
    assert key + iv == hashlib.md5(b"dcbapw").digest() + hashlib.md5(b"abcdpw").digest()
    block = protection.des_ede3_cbc(key, iv, b"0123456789abcdef" + bytes([8]) * 8, encrypt=True)
    assert block.hex() == "2800d09ff37f1f0f21edf0228e5d39cf4b5920f7226f4974"


# -- pyjks, a second opinion ------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_pyjks_reads_our_stores(fmt: Fmt, multi: tuple[Entry, ...]) -> None:
    store = pyjks.KeyStore.loads(fmt.encode(multi, STORE_PW, KEY_PW), STORE_PW, try_decrypt_keys=False)
    assert store.store_type == fmt.name.lower()
    for entry in multi:
        if isinstance(entry, KeyEntry):
            pk = store.private_keys[entry.alias]
            pk.decrypt(KEY_PW)
            assert pk.pkey_pkcs8 == entry.key_der
            assert tuple(c[1] for c in pk.cert_chain) == entry.chain_der
            assert pk.timestamp == entry.timestamp_ms
        else:
            assert store.certs[entry.alias].cert == entry.cert_der


def test_we_read_pyjks_jks(material: dict[str, Material]) -> None:
    m = material["rsa"]
    pk = pyjks.PrivateKeyEntry.new("k", list(m.chain), m.key_der, "pkcs8")
    pk.encrypt(KEY_PW)
    data = pyjks.KeyStore.new("jks", [pk]).saves(STORE_PW)
    (entry,) = decode_jks(data, STORE_PW, KEY_PW)
    assert isinstance(entry, KeyEntry)
    assert (entry.key_der, entry.chain_der) == (m.key_der, m.chain)


# -- Java, the judge --------------------------------------------------------------------------------------

def _java_check(java: Java, path: Path, fmt: Fmt, entries: Sequence[Entry], key_pw: str | None) -> None:
    listing = keytool_list(path, STORE_PW, fmt.name)
    assert f"Keystore type: {fmt.name}" in listing
    assert f"Your keystore contains {len(entries)} entr" in listing
    head, *rows = java.load(path, STORE_PW, key_pw, fmt.name)
    assert head == {"type": fmt.name, "size": len(entries)}
    by_alias = {row["alias"]: row for row in rows}
    assert set(by_alias) == {e.alias for e in entries}
    for entry in entries:
        row = by_alias[entry.alias]
        assert row["created_ms"] == entry.timestamp_ms
        if isinstance(entry, TrustedEntry):
            assert (row["kind"], row["cert"]) == ("trusted", sha256_hex(entry.cert_der))
            continue
        assert row["kind"] == "key"
        assert row["chain"] == [sha256_hex(c) for c in entry.chain_der]
        # Java's getEncoded() re-encodes PKCS#8 (version, algorithm) but keeps the key octets; for the
        # OpenSSL-written RSA, EC and Ed25519 PKCS#8 here that is byte-identical
        assert row["key_sha256"] == sha256_hex(entry.key_der)


@pytest.mark.java
@pytest.mark.parametrize("fmt", JAVA_FORMATS)
@pytest.mark.parametrize("case", ["multi, separate key password", "trusted only", "same passwords",
                                  "non-ascii alias"])
def test_java_opens_our_stores(java: Java, fmt: Fmt, case: str, multi: tuple[Entry, ...],
                               material: dict[str, Material], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LC_ALL", "C.UTF-8")  # KsCheck prints aliases: keep its stdout UTF-8
    entries, key_pw = {
        "multi, separate key password": (multi, KEY_PW),
        "trusted only": ((_trusted(material["ca"], "ca"), _trusted(material["ec"], "ec")), STORE_PW),
        "same passwords": ((_key(material["ec"], "only"),), STORE_PW),
        "non-ascii alias": ((_key(material["rsa"], "clé-ключ-日本"), _trusted(material["ca"], "ça")), KEY_PW),
    }[case]
    path = tmp_path / f"store.{fmt.name.lower()}"
    path.write_bytes(fmt.encode(entries, STORE_PW, key_pw))
    _java_check(java, path, fmt, entries, key_pw)


@pytest.mark.java
def test_java_reads_jks_version_1(java: Java, multi: tuple[Entry, ...], tmp_path: Path) -> None:
    path = tmp_path / "v1.jks"
    path.write_bytes(_to_version_1(multi, KEY_PW))
    _java_check(java, path, JKS, multi, KEY_PW)


@pytest.mark.java
def test_java_decrypts_equal_salt_halves(java: Java, material: dict[str, Material], tmp_path: Path) -> None:
    entries = [_key(material["ec"], "quirk")]
    data = kjks.encode_with_protector(
        entries, STORE_PW, lambda e: protection.jceks_protect(e.key_der, KEY_PW.encode(), b"abcdabcd", 1000),
        jceks=True)
    assert decode_jceks(data, STORE_PW, KEY_PW) == tuple(entries)
    path = tmp_path / "quirk.jceks"
    path.write_bytes(data)
    _java_check(java, path, JCEKS, entries, KEY_PW)


def _keytool(*args: str, env: dict[str, str]) -> None:
    out = subprocess.run(["keytool", *args], env=dict(os.environ, **env), capture_output=True, text=True,
                         check=False, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


KEYTOOL_KEYS = {"rsa": ["-keyalg", "RSA", "-keysize", "2048"], "ec": ["-keyalg", "EC", "-groupname", "secp256r1"],
                "ed25519": ["-keyalg", "Ed25519"]}


@pytest.mark.java
@pytest.mark.slow  # three keytool runs and a JVM
@pytest.mark.parametrize("store_type", ["JKS", "JCEKS"])
def test_we_read_stores_written_by_keytool(jdk: None, java: Java, store_type: str, tmp_path: Path) -> None:
    path = tmp_path / f"kt.{store_type.lower()}"
    env = {"KT_SP": STORE_PW, "KT_KP": KEY_PW}
    for name, alg in KEYTOOL_KEYS.items():
        _keytool("-genkeypair", "-storetype", store_type, "-keystore", str(path), "-alias", f"{name}-Key",
                 *alg, "-dname", f"CN={name}", "-storepass:env", "KT_SP", "-keypass:env", "KT_KP", env=env)
    decode = decode_jks if store_type == "JKS" else decode_jceks
    entries = decode(path.read_bytes(), STORE_PW, KEY_PW)
    assert sorted(e.alias for e in entries) == ["ec-key", "ed25519-key", "rsa-key"]  # keytool lowercases
    _, *rows = java.load(path, STORE_PW, KEY_PW, store_type)
    by_alias = {row["alias"]: row for row in rows}
    for entry in entries:
        assert isinstance(entry, KeyEntry)
        assert by_alias[entry.alias]["key_sha256"] == sha256_hex(entry.key_der)  # the bytes Java protected
        assert by_alias[entry.alias]["chain"] == [sha256_hex(c) for c in entry.chain_der]
        key = serialization.load_der_private_key(entry.key_der, None)
        leaf = x509.load_der_x509_certificate(entry.chain_der[0])
        spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        assert key.public_key().public_bytes(*spki) == leaf.public_key().public_bytes(*spki)
    with pytest.raises(WrongPasswordError, match=r"the key password for alias '.*' is wrong"):
        decode(path.read_bytes(), STORE_PW)
    with pytest.raises(WrongPasswordError, match="keystore password incorrect"):
        decode(path.read_bytes(), KEY_PW, KEY_PW)


@pytest.mark.java
def test_keytool_secret_key_entry_is_refused(jdk: None, tmp_path: Path) -> None:
    path = tmp_path / "secret.jceks"
    _keytool("-genseckey", "-storetype", "JCEKS", "-keystore", str(path), "-alias", "aes", "-keyalg", "AES",
             "-keysize", "128", "-storepass:env", "KT_SP", "-keypass:env", "KT_SP", env={"KT_SP": STORE_PW})
    with pytest.raises(FormatError) as err:
        decode_jceks(path.read_bytes(), STORE_PW)
    assert str(err.value) == ("JCEKS entry 'aes' holds a secret key, which kstool does not manage (only key pairs "
                              "and certificates; as an import source, its key pairs can be imported)")
    assert decode_jceks(path.read_bytes(), STORE_PW, skip_secret_keys=True) == ()  # walked past, never deserialized
