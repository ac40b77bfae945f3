"""Key protection apart from the containers: its public API, and derivation caches that live for one run only."""

from __future__ import annotations

import importlib
import pickle
import pkgutil

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

import kstool.formats
from kstool.errors import WrongPasswordError
from kstool.formats import der, protection
from kstool.formats.codec import decode, encode
from kstool.formats.entries import KeyEntry, StoreType
from kstool.formats.protection import KdfCache
from tests.e2e.test_reproducible import CERTS  # the shipped example material

PASSWORD = "Password-1"


@pytest.fixture(scope="module")
def key_entry() -> KeyEntry:
    cert = x509.load_pem_x509_certificate((CERTS / "gateway.crt").read_bytes())
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key((CERTS / "gateway.key").read_bytes(), None)
    pkcs8 = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    return KeyEntry("gateway", pkcs8, (cert.public_bytes(Encoding.DER),), 1_700_000_000_000)


STORES: list[tuple[StoreType, str, int]] = [("pkcs12", "modern", 2000), ("pkcs12", "legacy", 2000),
                                             ("jceks", "modern", 2000)]


@pytest.mark.parametrize(("store_type", "profile", "iterations"), STORES)
def test_read_back_with_the_encoders_cache_derives_nothing(store_type: StoreType, profile: str, iterations: int,
                                                           key_entry: KeyEntry,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cache = KdfCache()
    data = encode([key_entry], store_type, PASSWORD, profile=profile, iterations=iterations,  # type: ignore[arg-type]
                  cache=cache)
    assert len(cache) > 0

    def forbidden(*_args: object, **_kwargs: object) -> bytes:
        raise AssertionError("a derivation ran again")

    monkeypatch.setattr(protection, "python_pkcs12_kdf", forbidden)
    monkeypatch.setattr(protection, "PBKDF2HMAC", forbidden)
    monkeypatch.setattr("kstool.formats.protection.hashlib.md5", forbidden)  # JCEKS
    monkeypatch.setenv("KSTOOL_NO_NATIVE", "1")  # a miss would reach the forbidden Python KDF
    assert decode(data, store_type, PASSWORD, cache=cache) == (key_entry,)


@pytest.mark.parametrize(("store_type", "profile", "iterations"), STORES)
def test_without_a_shared_cache_decode_derives_again(store_type: StoreType, profile: str, iterations: int,
                                                     key_entry: KeyEntry) -> None:
    data = encode([key_entry], store_type, PASSWORD, profile=profile, iterations=iterations)  # type: ignore[arg-type]
    fresh = KdfCache()
    assert decode(data, store_type, PASSWORD, cache=fresh) == (key_entry,)
    assert len(fresh) > 0  # the encoder kept nothing anywhere: this cache had to derive


def test_cached_derivations_do_not_change_results(key_entry: KeyEntry) -> None:
    cache = KdfCache()
    first = encode([key_entry], "pkcs12", PASSWORD, cache=cache)
    assert encode([key_entry], "pkcs12", PASSWORD, cache=cache) == first == encode([key_entry], "pkcs12", PASSWORD)
    with pytest.raises(WrongPasswordError):
        decode(first, "pkcs12", "Password-2", cache=cache)  # the password is part of every cache key


def test_a_cache_never_leaves_its_process() -> None:
    cache = KdfCache()
    protection.pbkdf2("sha256", PASSWORD, b"salt" * 4, 1000, 32, cache=cache)
    assert len(cache) == 1
    assert len(pickle.loads(pickle.dumps(cache))) == 0  # a worker gets an empty cache of its own
    assert "Password" not in repr(cache)


def _module_caches() -> list[str]:
    found = []
    for info in pkgutil.iter_modules(kstool.formats.__path__):
        module = importlib.import_module(f"kstool.formats.{info.name}")
        for name, value in vars(module).items():
            if callable(value) and hasattr(value, "cache_info"):
                found.append(f"{info.name}.{name}")
    return sorted(found)


def test_no_module_global_cache_is_keyed_by_passwords() -> None:
    # der's OID memo holds public object identifiers; native's holds the loaded library (no argument at all);
    # the certificate parser pkcs12 imports remembers certificates, which are public too
    assert _module_caches() == ["der.decode_oid", "der.oid", "native._load", "pkcs12.parse_certificate"]


# -- the public API, on vectors measured elsewhere ----------------------------------------------------------

def test_jks_key_protector_round_trip() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    password = "pw".encode("utf-16-be")
    epki = protection.jks_protect(key, password, bytes(20))
    encrypted = epki[-(len(key) + 20):]  # XORed key || SHA-1 check, after the 20-byte salt
    assert protection.jks_recover(encrypted, password, bytes(20)) == key
    assert protection.jks_recover(encrypted, "other".encode("utf-16-be"), bytes(20)) is None


def test_jceks_protection_round_trip() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    epki = protection.jceks_protect(key, b"password", b"saltsalt", 10)
    ciphertext = epki[-((len(key) // 8 + 1) * 8):]
    assert protection.jceks_recover(ciphertext, b"password", b"saltsalt", 10) == key
    assert protection.jceks_recover(ciphertext, b"wrong", b"saltsalt", 10) is None


def test_pkcs12_ciphers_round_trip() -> None:
    salt, iv = b"s" * 16, b"i" * 16
    algorithm, ciphertext = protection.encrypt_pbes2_aes256(b"secret data", PASSWORD, salt, iv, 1000)
    assert der.decode(algorithm).children()[0].as_oid() == protection.PBES2
    pbes2 = protection.Pbes2("sha256", salt, 1000, protection.AES256_CBC, iv)
    assert protection.decrypt(pbes2, PASSWORD, ciphertext) == b"secret data"
    _, ciphertext = protection.encrypt_pbe_sha1_3des(b"secret data", PASSWORD, salt, 1000)
    pbe = protection.Pkcs12Pbe(protection.PBE_SHA1_3DES, salt, 1000)
    assert protection.decrypt(pbe, PASSWORD, ciphertext) == b"secret data"
    with pytest.raises(WrongPasswordError):
        protection.decrypt(pbe, "Password-2", ciphertext)
