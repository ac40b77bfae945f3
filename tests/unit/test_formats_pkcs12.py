"""PKCS12: our deterministic encoder, judged by keytool, Java, OpenSSL and cryptography; our decoder, fed by them."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from kstool.errors import FormatError, WrongPasswordError
from kstool.formats import der, rc2
from kstool.formats.codec import MAX_ITERATIONS, Profile
from kstool.formats.derive import PUBLIC_KEY, derive
from kstool.formats.entries import Entry, KeyEntry, TrustedEntry
from kstool.formats.pkcs12 import (
    decode_pkcs12,
    encode_pkcs12,
)
from kstool.formats.protection import pkcs12_kdf
from tests.conftest import CountCalls
from tests.support.javatools import Java, keytool_list, openssl_pkcs12_info, sha256_hex

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "changeit"
T0 = 1_700_000_000_000
NOT_BEFORE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
PROFILES: tuple[Profile, ...] = ("modern", "legacy")

# -- fixtures ---------------------------------------------------------------------------------------------

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: PrivateKey, issuer: str, issuer_key: PrivateKey, *, ca: bool, serial: int) -> bytes:
    builder = (x509.CertificateBuilder()
               .subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(serial)
               .not_valid_before(NOT_BEFORE).not_valid_after(NOT_BEFORE + dt.timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    algorithm = None if isinstance(issuer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(issuer_key, algorithm).public_bytes(serialization.Encoding.DER)


def _pkcs8(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_key(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_certs(*ders: bytes) -> bytes:
    return b"".join(x509.load_der_x509_certificate(d).public_bytes(serialization.Encoding.PEM) for d in ders)


@dataclass(frozen=True)
class Pki:
    """CA (RSA) -> intermediate (EC P-256) -> leaves with RSA-2048, EC P-256 and Ed25519 keys."""

    keys: dict[str, PrivateKey]
    ca: bytes
    intermediate: bytes
    leaves: dict[str, bytes]

    def key_entry(self, alias: str, timestamp_ms: int = T0, kind: str | None = None) -> KeyEntry:
        kind = kind or alias
        return KeyEntry(alias, _pkcs8(self.keys[kind]), (self.leaves[kind], self.intermediate, self.ca),
                        timestamp_ms)


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    int_key = ec.generate_private_key(ec.SECP256R1())
    keys: dict[str, PrivateKey] = {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "ed": ed25519.Ed25519PrivateKey.generate(),
    }
    ca = _cert("Test Root CA", ca_key, "Test Root CA", ca_key, ca=True, serial=1)
    intermediate = _cert("Test Intermediate", int_key, "Test Root CA", ca_key, ca=True, serial=2)
    leaves = {kind: _cert(f"leaf-{kind}", key, "Test Intermediate", int_key, ca=False, serial=10 + i)
              for i, (kind, key) in enumerate(keys.items())}
    return Pki({**keys, "ca": ca_key, "intermediate": int_key}, ca, intermediate, leaves)


@pytest.fixture(scope="module")
def entries(pki: Pki) -> tuple[Entry, ...]:
    """Three keys (two with the same timestamp), sharing one CA chain, and a trusted root."""
    return (pki.key_entry("rsa"), TrustedEntry("root-é", pki.ca, 0), pki.key_entry("ec"),
            pki.key_entry("ed", T0 + 5))


def _expected_roundtrip(entries: tuple[Entry, ...]) -> tuple[Entry, ...]:
    """What decoding gives back: the clashing timestamp moved on by 1 ms; trusted entries carry no date."""
    rsa_e, root, ec_e, ed_e = entries
    assert isinstance(rsa_e, KeyEntry) and isinstance(ec_e, KeyEntry) and isinstance(root, TrustedEntry)
    return (rsa_e, root, KeyEntry(ec_e.alias, ec_e.key_der, ec_e.chain_der, T0 + 1), ed_e)


@pytest.fixture(scope="module", params=PROFILES)
def store(request: pytest.FixtureRequest, entries: tuple[Entry, ...],
          tmp_path_factory: pytest.TempPathFactory) -> tuple[Profile, Path]:
    profile: Profile = request.param
    path = tmp_path_factory.mktemp("p12") / f"{profile}.p12"
    path.write_bytes(encode_pkcs12(entries, PASSWORD, profile=profile))
    return profile, path


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True, check=False, timeout=120)
    assert out.returncode == 0, f"{args[0]} failed:\n{out.stdout}\n{out.stderr}"
    return out


# -- structure helpers (our own DER reader; only for looking inside our output) ---------------------------

def _pfx_parts(data: bytes) -> tuple[bytes, list[der.Node], list[der.Node]]:
    """(authenticated safe bytes, its ContentInfos, the MacData fields)."""
    _version, auth, mac = der.decode(data).children()
    auth_safe = der.decode(auth.children()[1].value).value
    return auth_safe, der.decode(auth_safe).children(), mac.children()


def _pbes2_salts(alg: der.Node) -> tuple[bytes, int, bytes]:
    """(PBKDF2 salt, iterations, IV) from a PBES2 AlgorithmIdentifier."""
    kdf, scheme = alg.children()[1].children()
    salt, count, *_ = kdf.children()[1].children()
    return salt.value, count.as_int(), scheme.children()[1].value


def _key_bag_algs(data: bytes) -> list[der.Node]:
    infos = _pfx_parts(data)[1]
    keys_safe = der.decode(der.decode(infos[0].children()[1].value).value)
    return [der.decode(bag.children()[1].value).children()[0] for bag in keys_safe.children()]


def _certs_alg(data: bytes) -> der.Node:
    encrypted = der.decode(_pfx_parts(data)[1][-1].children()[1].value)
    return encrypted.children()[1].children()[1]


# -- round trips and determinism --------------------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
def test_round_trip(profile: Profile, entries: tuple[Entry, ...]) -> None:
    data = encode_pkcs12(entries, PASSWORD, profile=profile, iterations=2048)
    assert decode_pkcs12(data, PASSWORD) == _expected_roundtrip(entries)


@pytest.mark.parametrize("profile", PROFILES)
def test_same_inputs_give_identical_bytes(profile: Profile, entries: tuple[Entry, ...]) -> None:
    assert encode_pkcs12(entries, PASSWORD, profile=profile) == encode_pkcs12(entries, PASSWORD, profile=profile)


_SUBPROCESS_ENCODE = """
import json, sys
from kstool.formats.entries import KeyEntry, TrustedEntry
from kstool.formats.pkcs12 import encode_pkcs12
spec = json.load(sys.stdin)
entries = [KeyEntry(e["alias"], bytes.fromhex(e["key"]), tuple(bytes.fromhex(c) for c in e["chain"]), e["ts"])
           if "key" in e else TrustedEntry(e["alias"], bytes.fromhex(e["cert"]), e["ts"]) for e in spec["entries"]]
sys.stdout.write(encode_pkcs12(entries, spec["password"], profile=spec["profile"]).hex())
"""


@pytest.mark.parametrize("profile", PROFILES)
def test_identical_bytes_in_another_interpreter(profile: Profile, entries: tuple[Entry, ...]) -> None:
    spec = {"password": PASSWORD, "profile": profile, "entries": [
        {"alias": e.alias, "key": e.key_der.hex(), "chain": [c.hex() for c in e.chain_der], "ts": e.timestamp_ms}
        if isinstance(e, KeyEntry) else {"alias": e.alias, "cert": e.cert_der.hex(), "ts": e.timestamp_ms}
        for e in entries]}
    out = subprocess.run([sys.executable, "-c", _SUBPROCESS_ENCODE], input=json.dumps(spec), capture_output=True,
                         text=True, check=True, cwd=ROOT, timeout=60,
                         env={**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)})
    assert bytes.fromhex(out.stdout) == encode_pkcs12(entries, PASSWORD, profile=profile)


@pytest.mark.parametrize(("timestamps", "expected"), [
    ((T0, T0 + 7, T0 + 9), (T0, T0 + 7, T0 + 9)),  # distinct: kept
    ((T0, T0, T0), (T0, T0 + 1, T0 + 2)),  # later clashes move on by 1 ms, in entry order
    ((T0, T0, T0 + 1), (T0, T0 + 1, T0 + 2)),  # ... even onto a slot a later entry wanted
    ((T0 + 1, T0, T0), (T0 + 1, T0, T0 + 2)),
])
def test_local_key_ids_are_unique_time_stamps(pki: Pki, timestamps: tuple[int, ...],
                                              expected: tuple[int, ...]) -> None:
    entries = [pki.key_entry(kind, ts) for kind, ts in zip(("rsa", "ec", "ed"), timestamps, strict=True)]
    decoded = decode_pkcs12(encode_pkcs12(entries, PASSWORD, iterations=1), PASSWORD)
    assert tuple(e.timestamp_ms for e in decoded) == expected


def test_modern_layout_matches_jdk17_defaults(entries: tuple[Entry, ...]) -> None:
    data = encode_pkcs12(entries, PASSWORD, iterations=3000, mac_iterations=4000)
    _auth_safe, infos, (digest_info, mac_salt, mac_count) = _pfx_parts(data)
    assert [i.children()[0].as_oid() for i in infos] == ["1.2.840.113549.1.7.1", "1.2.840.113549.1.7.6"]
    assert digest_info.children()[0].children()[0].as_oid() == "2.16.840.1.101.3.4.2.1"  # HMAC-SHA256
    assert (len(mac_salt.value), mac_count.as_int()) == (20, 4000)
    for alg in [*_key_bag_algs(data), _certs_alg(data)]:
        assert alg.children()[0].as_oid() == "1.2.840.113549.1.5.13"  # PBES2
        salt, count, iv = _pbes2_salts(alg)
        assert (len(salt), count, len(iv)) == (16, 3000, 16)


def test_legacy_layout(entries: tuple[Entry, ...]) -> None:
    data = encode_pkcs12(entries, PASSWORD, profile="legacy", iterations=3000)
    _auth_safe, _infos, (digest_info, mac_salt, mac_count) = _pfx_parts(data)
    assert digest_info.children()[0].children()[0].as_oid() == "1.3.14.3.2.26"  # HMAC-SHA1
    assert (len(mac_salt.value), mac_count.as_int()) == (20, 3000)
    for alg in [*_key_bag_algs(data), _certs_alg(data)]:
        assert alg.children()[0].as_oid() == "1.2.840.113549.1.12.1.3"  # pbeWithSHAAnd3-KeyTripleDES-CBC
        salt, count = alg.children()[1].children()
        assert (len(salt.value), count.as_int()) == (20, 3000)


def test_salts_follow_the_derivation_rules(pki: Pki, entries: tuple[Entry, ...]) -> None:
    data = encode_pkcs12(entries, PASSWORD, iterations=1)
    key_salts = [_pbes2_salts(a) for a in _key_bag_algs(data)]
    certs_salt = _pbes2_salts(_certs_alg(data))
    # one PBKDF2 salt for the whole store (one PBKDF2 run), an IV of its own for every bag
    assert {s for s, _, _ in key_salts} == {certs_salt[0]}
    assert len({iv for _, _, iv in [*key_salts, certs_salt]}) == 4
    # the salt follows the store's content: drop an entry and it changes
    assert _pbes2_salts(_certs_alg(encode_pkcs12(entries[:-1], PASSWORD, iterations=1)))[0] != certs_salt[0]
    other_pw = encode_pkcs12(entries, "another-pw", iterations=1)
    assert _pfx_parts(other_pw)[2][1].value != _pfx_parts(data)[2][1].value  # MAC salt takes the password
    assert _pbes2_salts(_certs_alg(other_pw)) != _pbes2_salts(_certs_alg(data))
    # A truststore derives from public data only: its certificate salt and IV do not depend on the password,
    # and its MAC salt is keyed by the public key over the authenticated content that the file itself shows.
    trust = [TrustedEntry("root", pki.ca, 0)]
    a, b = encode_pkcs12(trust, PASSWORD, iterations=1), encode_pkcs12(trust, "another-pw", iterations=1)
    assert _pbes2_salts(_certs_alg(a)) == _pbes2_salts(_certs_alg(b))
    auth_safe = _pfx_parts(a)[0]
    assert _pfx_parts(a)[2][1].value == derive("kstool/p12/mac-salt", PUBLIC_KEY, auth_safe, length=20)


def test_truststore_and_empty_store_round_trip(pki: Pki) -> None:
    trust = (TrustedEntry("root", pki.ca, 0), TrustedEntry("intermediate", pki.intermediate, 0))
    assert decode_pkcs12(encode_pkcs12(trust, PASSWORD, iterations=1), PASSWORD) == trust
    assert decode_pkcs12(encode_pkcs12((), PASSWORD, iterations=1), PASSWORD) == ()


# -- encoder misuse ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "error"), [
    ({"iterations": 0}, ValueError),
    ({"iterations": MAX_ITERATIONS + 1}, ValueError),
    ({"mac_iterations": 0}, ValueError),
    ({"iterations": True}, TypeError),
    ({"iterations": "10000"}, TypeError),
    ({"profile": "rc2"}, ValueError),
])
def test_encoder_refuses_bad_arguments(pki: Pki, kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        encode_pkcs12([pki.key_entry("ec")], PASSWORD, **kwargs)  # type: ignore[arg-type]  # wrong on purpose


_BAD_ENTRIES: dict[str, Callable[[Pki], list[Entry]]] = {
    "duplicate-alias": lambda pki: [pki.key_entry("ec"), TrustedEntry("ec", pki.ca, 0)],
    "case-duplicate": lambda pki: [pki.key_entry("ec"), TrustedEntry("EC", pki.ca, 0)],
    "empty-chain": lambda pki: [KeyEntry("ec", pki.key_entry("ec").key_der, (), 0)],
}


@pytest.mark.parametrize("case", sorted(_BAD_ENTRIES))
def test_encoder_refuses_bad_entries(pki: Pki, case: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)'ec'"):
        encode_pkcs12(_BAD_ENTRIES[case](pki), PASSWORD)


@pytest.mark.parametrize("password", ["pässwörd", "пароль-secret"])
def test_non_ascii_passwords_are_refused_without_echoing_them(pki: Pki, password: str) -> None:
    data = encode_pkcs12([pki.key_entry("ec")], PASSWORD, iterations=1)
    for call in (lambda: encode_pkcs12([pki.key_entry("ec")], password), lambda: decode_pkcs12(data, password)):
        with pytest.raises(FormatError, match="ASCII") as info:
            call()
        assert password not in str(info.value)


# -- decoder: wrong passwords, corruption, limits ---------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
def test_wrong_password_is_a_generic_error(pki: Pki, profile: Profile) -> None:
    data = encode_pkcs12([pki.key_entry("ec")], PASSWORD, profile=profile, iterations=1)
    with pytest.raises(WrongPasswordError) as info:
        decode_pkcs12(data, "not-the-password")
    assert "not-the-password" not in str(info.value)
    assert str(info.value) == "wrong password, or the PKCS12 store is corrupt (integrity check failed)"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_flipped_byte_and_truncation_is_a_format_error(pki: Pki, profile: Profile) -> None:
    entries: list[Entry] = [pki.key_entry("ec"), TrustedEntry("root", pki.ca, 0)]
    data = encode_pkcs12(entries, PASSWORD, profile=profile, iterations=1)
    for i in range(len(data)):
        for mask in (0x01, 0x80):
            flipped = bytearray(data)
            flipped[i] ^= mask
            with pytest.raises(FormatError):
                decode_pkcs12(bytes(flipped), PASSWORD)
    for n in range(len(data)):
        with pytest.raises(FormatError):
            decode_pkcs12(data[:n], PASSWORD)
    with pytest.raises(FormatError):
        decode_pkcs12(data + b"\x00", PASSWORD)


@pytest.mark.parametrize("garbage", [b"", b"\x30", b"\x30\x80\x00\x00", b"\xfe\xed\xfe\xed", b"\x30\x03\x02\x01\x03",
                                     der.seq(der.integer(3), der.seq(der.oid("1.2.840.113549.1.7.2"),
                                                                     der.explicit(0, der.seq())))])
def test_garbage_is_a_format_error(garbage: bytes) -> None:
    with pytest.raises(FormatError):
        decode_pkcs12(garbage, PASSWORD)


def _data_info(content: bytes) -> bytes:
    return der.seq(der.oid("1.2.840.113549.1.7.1"), der.explicit(0, der.octet_string(content)))


def _mac_data(auth_safe: bytes, count: int, password: str = PASSWORD) -> bytes:
    salt = b"\x01" * 20
    key = pkcs12_kdf("sha1", password.encode("utf-16-be") + b"\0\0", salt, purpose=3,
                     iterations=1, length=20)  # a valid MAC only when count == 1; huge counts never get here
    mac = hmac.new(key, auth_safe, "sha1").digest()
    return der.seq(der.seq(der.seq(der.oid("1.3.14.3.2.26"), der.null()), der.octet_string(mac)),
                   der.octet_string(salt), der.integer(count))


def _pbes2_key_bag(count: int) -> bytes:
    kdf = der.seq(der.oid("1.2.840.113549.1.5.12"), der.seq(der.octet_string(b"s" * 16), der.integer(count)))
    alg = der.seq(der.oid("1.2.840.113549.1.5.13"),
                  der.seq(kdf, der.seq(der.oid("2.16.840.1.101.3.4.1.42"), der.octet_string(b"i" * 16))))
    shrouded = der.seq(alg, der.octet_string(b"\x00" * 32))
    return der.seq(der.oid("1.2.840.113549.1.12.10.1.2"), der.explicit(0, shrouded))


@pytest.mark.parametrize("where", ["mac", "pbkdf2"])
def test_huge_iteration_counts_are_refused_fast(where: str) -> None:
    huge = 50_000_000
    auth_safe = der.seq(_data_info(der.seq(_pbes2_key_bag(huge if where == "pbkdf2" else 1))))
    data = der.seq(der.integer(3), _data_info(auth_safe), _mac_data(auth_safe, huge if where == "mac" else 1))
    start = time.perf_counter()
    with pytest.raises(FormatError, match="iteration count 50000000 exceeds the limit of 5000000"):
        decode_pkcs12(data, PASSWORD)
    assert time.perf_counter() - start < 0.5


def test_unnamed_entries_without_local_key_id_pair_by_public_key(pki: Pki) -> None:
    """OpenSSL-style input: bare keyBag and certBags, no attributes at all, certificates first."""
    def cert_bag(cert: bytes) -> bytes:
        value = der.seq(der.oid("1.2.840.113549.1.9.22.1"), der.explicit(0, der.octet_string(cert)))
        return der.seq(der.oid("1.2.840.113549.1.12.10.1.3"), der.explicit(0, value))

    key_der = _pkcs8(pki.keys["rsa"])
    certs = der.seq(cert_bag(pki.ca), cert_bag(pki.leaves["rsa"]), cert_bag(pki.intermediate))
    keys = der.seq(der.seq(der.oid("1.2.840.113549.1.12.10.1.1"), der.explicit(0, key_der)))
    auth_safe = der.seq(_data_info(certs), _data_info(keys))
    data = der.seq(der.integer(3), _data_info(auth_safe), _mac_data(auth_safe, 1))
    assert decode_pkcs12(data, PASSWORD) == (
        KeyEntry("1", key_der, (pki.leaves["rsa"], pki.intermediate, pki.ca), 0),)


# -- Java, keytool, OpenSSL and cryptography read what we write --------------------------------------------

@pytest.mark.java
def test_keytool_lists_every_entry(store: tuple[Profile, Path], jdk: None) -> None:
    _profile, path = store
    out = keytool_list(path, PASSWORD, "PKCS12")
    assert "Your keystore contains 4 entries" in out
    found = dict(re.findall(r"Alias name: (.+)\n.*\nEntry type: (\w+)", out))
    assert found == {"rsa": "PrivateKeyEntry", "ec": "PrivateKeyEntry", "ed": "PrivateKeyEntry",
                     "root-é": "trustedCertEntry"}
    assert out.count("Certificate chain length: 3") == 3


@pytest.mark.java
@pytest.mark.parametrize("profile", PROFILES)
def test_keytool_lists_a_truststore(pki: Pki, profile: Profile, tmp_path: Path, jdk: None) -> None:
    path = tmp_path / "trust.p12"
    trust = [TrustedEntry("root", pki.ca, 0), TrustedEntry("intermediate", pki.intermediate, 0)]
    path.write_bytes(encode_pkcs12(trust, PASSWORD, profile=profile))
    out = keytool_list(path, PASSWORD, "PKCS12")
    assert "Your keystore contains 2 entries" in out
    assert out.count("Entry type: trustedCertEntry") == 2


@pytest.mark.java
def test_java_recovers_every_key(store: tuple[Profile, Path], java: Java, entries: tuple[Entry, ...]) -> None:
    _profile, path = store
    header, *loaded = java.load(path, PASSWORD, store_type="PKCS12")
    assert header == {"type": "PKCS12", "size": 4}
    by_alias = {e["alias"]: e for e in loaded}
    for entry in _expected_roundtrip(entries):
        got = by_alias[entry.alias]
        if isinstance(entry, TrustedEntry):
            assert (got["kind"], got["cert"]) == ("trusted", sha256_hex(entry.cert_der))
            continue
        # JDK 17 hands back the PKCS#8 bytes it was given for RSA, EC and Ed25519 alike.
        assert got["key_sha256"] == sha256_hex(entry.key_der)
        assert got["chain"] == [sha256_hex(c) for c in entry.chain_der]
        leaf_spki = x509.load_der_x509_certificate(entry.chain_der[0]).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert got["leaf_pub_sha256"] == sha256_hex(leaf_spki)
        assert got["created_ms"] == entry.timestamp_ms  # Java reads the date back from "Time <ms>"


def test_openssl_reads_both_profiles(store: tuple[Profile, Path]) -> None:
    profile, path = store
    out = openssl_pkcs12_info(path, PASSWORD)
    if profile == "modern":
        assert "MAC: sha256, Iteration 10000" in out
        assert "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256" in out
    else:
        assert "MAC: sha1, Iteration 10000" in out
        assert "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 10000" in out
    assert out.count("Certificate bag") == 6  # three leaves, the shared intermediate and root once, the trusted root


@pytest.mark.parametrize(("hash_name", "purpose", "length"), [("SHA256", 3, 32), ("SHA1", 3, 20), ("SHA1", 1, 24)])
def test_pkcs12_kdf_matches_openssl(hash_name: str, purpose: int, length: int) -> None:
    salt = bytes(range(20))
    # openssl's PKCS12KDF takes the password already in its BMPString+NUL form
    bmp = PASSWORD.encode("utf-16-be") + b"\0\0"
    out = _run(["openssl", "kdf", "-keylen", str(length), "-kdfopt", f"digest:{hash_name}",
                "-kdfopt", f"hexpass:{bmp.hex()}", "-kdfopt", f"hexsalt:{salt.hex()}", "-kdfopt", "iter:1000",
                "-kdfopt", f"id:{purpose}", "PKCS12KDF"])
    expected = bytes.fromhex(out.stdout.strip().replace(":", ""))
    assert pkcs12_kdf(hash_name.lower(), bmp, salt, purpose=purpose, iterations=1000, length=length) == expected


def test_cryptography_reads_ours(store: tuple[Profile, Path], entries: tuple[Entry, ...]) -> None:
    _profile, path = store
    loaded = pkcs12.load_pkcs12(path.read_bytes(), PASSWORD.encode())
    first = entries[0]
    assert isinstance(first, KeyEntry) and loaded.key is not None and loaded.cert is not None
    assert _pkcs8(loaded.key) == first.key_der
    assert loaded.cert.friendly_name == b"rsa"
    assert loaded.cert.certificate.public_bytes(serialization.Encoding.DER) == first.chain_der[0]
    assert len(loaded.additional_certs) == 5


# -- we read what others write ----------------------------------------------------------------------------

@pytest.mark.java
@pytest.mark.parametrize("keyalg", [["-keyalg", "EC", "-groupname", "secp256r1"], ["-keyalg", "Ed25519"]])
def test_decode_keytool_store(tmp_path: Path, jdk: None, keyalg: list[str]) -> None:
    path = tmp_path / "k.p12"
    common = ["-keystore", str(path), "-storetype", "PKCS12", "-storepass:env", "SP"]
    before = int(time.time() * 1000) - 1000
    _run(["keytool", "-genkeypair", *common, "-alias", "Server", *keyalg, "-dname", "CN=server"], SP=PASSWORD)
    cert_path = tmp_path / "c.der"
    _run(["keytool", "-exportcert", *common, "-alias", "server", "-file", str(cert_path)], SP=PASSWORD)
    _run(["keytool", "-importcert", "-noprompt", *common, "-alias", "Trusted", "-file", str(cert_path)], SP=PASSWORD)
    decoded = {e.alias: e for e in decode_pkcs12(path.read_bytes(), PASSWORD)}
    # Measured with JDK 17: -genkeypair stores the alias lowercased, -importcert keeps the case given.
    key, trusted = decoded["server"], decoded["Trusted"]
    assert isinstance(key, KeyEntry) and isinstance(trusted, TrustedEntry)
    assert key.chain_der == (cert_path.read_bytes(),) and trusted.cert_der == cert_path.read_bytes()
    assert before <= key.timestamp_ms <= int(time.time() * 1000)
    serialization.load_der_private_key(key.key_der, None)


def _openssl_export(tmp_path: Path, pki: Pki, *extra: str, chain: bool = False) -> bytes:
    (tmp_path / "key.pem").write_bytes(_pem_key(pki.keys["ec"]))
    (tmp_path / "leaf.pem").write_bytes(_pem_certs(pki.leaves["ec"]))
    (tmp_path / "chain.pem").write_bytes(_pem_certs(pki.intermediate, pki.ca))
    out = tmp_path / "o.p12"
    args = ["openssl", "pkcs12", "-export", "-inkey", str(tmp_path / "key.pem"), "-in", str(tmp_path / "leaf.pem"),
            "-out", str(out), "-passout", "env:P12PASS", *extra]
    if chain:
        args += ["-certfile", str(tmp_path / "chain.pem")]
    _run(args, P12PASS=PASSWORD)
    return out.read_bytes()


@pytest.mark.parametrize(("extra", "chain", "alias"), [
    ((), False, "1"),  # no -name: no friendlyName, our fallback alias
    (("-name", "web"), True, "web"),
    (("-name", "web", "-legacy", "-certpbe", "PBE-SHA1-3DES"), True, "web"),
    (("-name", "web", "-legacy", "-certpbe", "PBE-SHA1-RC2-128", "-keypbe", "PBE-SHA1-RC2-128"), True, "web"),
    (("-name", "web", "-legacy"), True, "web"),  # OpenSSL 1.x's default: RC2-40 certificates, 3DES key
    (("-name", "web", "-legacy", "-keypbe", "PBE-SHA1-RC2-40"), True, "web"),  # 40-bit RC2 for the key too
    (("-name", "web", "-macalg", "sha512", "-certpbe", "AES-128-CBC", "-keypbe", "AES-192-CBC"), True, "web"),
    (("-name", "web", "-keypbe", "NONE", "-certpbe", "NONE"), True, "web"),  # keyBag and plain Data
    (("-name", "web", "-nomac"), True, "web"),
])
def test_decode_openssl_export(tmp_path: Path, pki: Pki, extra: tuple[str, ...], chain: bool, alias: str) -> None:
    data = _openssl_export(tmp_path, pki, *extra, chain=chain)
    (entry,) = decode_pkcs12(data, PASSWORD)
    expected_chain = (pki.leaves["ec"], pki.intermediate, pki.ca) if chain else (pki.leaves["ec"],)
    assert isinstance(entry, KeyEntry)
    assert entry == KeyEntry(alias, entry.key_der, expected_chain, 0)
    private = serialization.load_der_private_key(entry.key_der, None)
    assert _pkcs8(private) == _pkcs8(pki.keys["ec"])


def test_wrong_password_without_mac_is_still_a_password_error(tmp_path: Path, pki: Pki) -> None:
    data = _openssl_export(tmp_path, pki, "-name", "web", "-nomac", chain=True)
    for attempt in range(20):  # each attempt has a ~1/256 chance to pass the padding check: still refused
        with pytest.raises(WrongPasswordError):
            decode_pkcs12(data, f"wrong-{attempt}")


def test_decode_openssl_legacy_rc2_40_checks_the_mac_first(tmp_path: Path, pki: Pki,
                                                          count_calls: CountCalls) -> None:
    data = _openssl_export(tmp_path, pki, "-name", "web", "-legacy")  # RC2-40 certificates
    calls = count_calls(rc2, "decrypt_cbc")
    with pytest.raises(WrongPasswordError):  # the MAC is checked first: nothing is decrypted
        decode_pkcs12(data, "wrong-password")
    assert calls == []
    (entry,) = decode_pkcs12(data, PASSWORD)
    assert calls and isinstance(entry, KeyEntry) and entry.chain_der[0] == pki.leaves["ec"]


_CRYPTOGRAPHY_ENCRYPTIONS: dict[str, Callable[[], serialization.KeySerializationEncryption]] = {
    "best-available": lambda: serialization.BestAvailableEncryption(PASSWORD.encode()),
    "pbes2-sha512-mac": lambda: serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(3000)
    .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA512()).build(PASSWORD.encode()),
    "3des-sha1": lambda: serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(3000)
    .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1()).build(PASSWORD.encode()),
    "3des-sha384-mac": lambda: serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(3000)
    .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA384())
    .build(PASSWORD.encode()),
}


@pytest.mark.parametrize("encryption", sorted(_CRYPTOGRAPHY_ENCRYPTIONS))
@pytest.mark.parametrize("kind", ["rsa", "ed"])
def test_decode_cryptography_serializer(pki: Pki, encryption: str, kind: str) -> None:
    cas = [x509.load_der_x509_certificate(d) for d in (pki.intermediate, pki.ca)]
    data = pkcs12.serialize_key_and_certificates(
        b"Mixed-Case", pki.keys[kind], x509.load_der_x509_certificate(pki.leaves[kind]), cas,
        _CRYPTOGRAPHY_ENCRYPTIONS[encryption]())
    (entry,) = decode_pkcs12(data, PASSWORD)
    assert isinstance(entry, KeyEntry)
    assert (entry.alias, entry.chain_der) == ("Mixed-Case", (pki.leaves[kind], pki.intermediate, pki.ca))
    assert _pkcs8(serialization.load_der_private_key(entry.key_der, None)) == _pkcs8(pki.keys[kind])


def test_decode_cryptography_truststore(pki: Pki) -> None:
    certs = [pkcs12.PKCS12Certificate(x509.load_der_x509_certificate(d), name)
             for d, name in ((pki.ca, b"root"), (pki.intermediate, b"intermediate"))]
    data = pkcs12.serialize_java_truststore(certs, serialization.BestAvailableEncryption(PASSWORD.encode()))
    assert decode_pkcs12(data, PASSWORD) == (TrustedEntry("root", pki.ca, 0),
                                             TrustedEntry("intermediate", pki.intermediate, 0))


def test_decode_cryptography_unencrypted(pki: Pki) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"plain", pki.keys["ec"], x509.load_der_x509_certificate(pki.leaves["ec"]), None,
        serialization.NoEncryption())
    (entry,) = decode_pkcs12(data, "")  # no encryption means an empty password, for the MAC too
    assert isinstance(entry, KeyEntry) and entry.alias == "plain" and entry.chain_der == (pki.leaves["ec"],)
    assert hashlib.sha256(entry.key_der).digest() == hashlib.sha256(_pkcs8(pki.keys["ec"])).digest()
