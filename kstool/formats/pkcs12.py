"""PKCS#12 (RFC 7292): a deterministic encoder shaped like JDK 17's output and a general, strict decoder.

cryptography supplies primitives only (PBKDF2, AES, 3DES, 128-bit RC2, HMAC, hashes; ``rc2`` decrypts the 40-bit
RC2 of old OpenSSL exports). Its own serializer draws fresh salts and IVs on every call and cannot put Java's
trusted-certificate attribute on several certificates next to several keys, so the structure is written here,
and every salt and IV comes from ``kstool.formats.derive``.

Layout written (as keytool writes it): a ``Data`` safe holding one PKCS8ShroudedKeyBag per key entry, then an
``EncryptedData`` safe holding the certificate bags (each key's leaf with friendlyName + localKeyId, its
chain's CA certificates bare and written once, trusted certificates with friendlyName + Java's trusted-usage
attribute), then an HMAC over the authenticated safe.

Decoding parses the whole structure and checks every iteration count before any key derivation, verifies
the MAC before decrypting anything, and turns every malformed input into ``FormatError``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from kstool.crypto.certparse import CertificateParseError, cert_spki, parse_certificate, parse_der
from kstool.crypto.certparse import spki as spki_der
from kstool.errors import FormatError, IterationLimitError, WrongPasswordError
from kstool.formats import der, protection
from kstool.formats.codec import DEFAULT_PKCS12_ITERATIONS, MAX_ITERATIONS, Profile
from kstool.formats.derive import derive, secret_seed
from kstool.formats.entries import Entry, KeyEntry, TrustedEntry, check_entries
from kstool.formats.protection import (
    DES_EDE3_CBC,
    INTEGRITY_FAILED,
    NULL_PASSWORD,
    PBES2,
    PBES2_CIPHERS,
    PBKDF2,
    PKCS12_PBE_KEY_LENGTHS,
    KdfCache,
    Pbes2,
    Pkcs12Pbe,
    Protection,
)

# -- object identifiers -----------------------------------------------------------------------------------

DATA = "1.2.840.113549.1.7.1"
ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
KEY_BAG = "1.2.840.113549.1.12.10.1.1"
SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"
CERT_BAG = "1.2.840.113549.1.12.10.1.3"
CRL_BAG = "1.2.840.113549.1.12.10.1.4"
SECRET_BAG = "1.2.840.113549.1.12.10.1.5"  # noqa: S105 - an OID, not a password
SAFE_CONTENTS_BAG = "1.2.840.113549.1.12.10.1.6"
X509_CERTIFICATE = "1.2.840.113549.1.9.22.1"
FRIENDLY_NAME = "1.2.840.113549.1.9.20"
LOCAL_KEY_ID = "1.2.840.113549.1.9.21"
JAVA_TRUSTED_USAGE = "2.16.840.1.113894.746875.1.1"  # Oracle's attribute: without it keytool sees 0 entries
ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0"

_PRF_HASHES: dict[str, str] = {  # PBKDF2 PRF OID -> hash name
    "1.2.840.113549.2.7": "sha1",
    "1.2.840.113549.2.8": "sha224",
    "1.2.840.113549.2.9": "sha256",
    "1.2.840.113549.2.10": "sha384",
    "1.2.840.113549.2.11": "sha512",
}
_DIGESTS: dict[str, str] = {  # MAC digest OID -> hash name
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_SHA1 = "1.3.14.3.2.26"
_SHA256 = "2.16.840.1.101.3.4.2.1"

_PBES2_SALT_LEN = 16
_PKCS12_SALT_LEN = 20  # MAC and legacy PBE salts, as Java writes them
_MAX_NESTING = 8  # safeContentsBag recursion; real files use 0 or 1
_TIME_PREFIX = b"Time "

# -- passwords and key derivation -------------------------------------------------------------------------


def _check_password(password: str) -> None:
    if not isinstance(password, str):
        raise TypeError("password must be str")
    if not password.isascii():  # never echo it: messages must not carry secrets
        raise FormatError("PKCS12 passwords must be ASCII (JDK 17 refuses others: 'Password is not ASCII')")


_T = TypeVar("_T")


def _retry_empty_as_null(password: str, attempt: Callable[[str], _T]) -> _T:
    """``attempt(password)``; an empty password that fails is retried as the NULL password, as Java does
    (PKCS12KeyStore's RetryWithZero): "" and NULL are the two ways tools write a store without a password."""
    try:
        return attempt(password)
    except WrongPasswordError:
        if password != "":
            raise
    return attempt(NULL_PASSWORD)


# -- encoding ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Encryptor:
    """How the bags of one store are encrypted."""

    profile: Profile
    password: str
    iterations: int
    salt: bytes  # modern: the one PBKDF2 salt every bag of the store shares (so one PBKDF2 run per store)
    cache: KdfCache

    def encrypt(self, plaintext: bytes, domain: str, key: bytes,
                parts: tuple[bytes, ...]) -> tuple[bytes, bytes]:
        """The AlgorithmIdentifier (DER) and the ciphertext.

        ``modern``: the store's shared salt, and an IV of its own from ``derive(domain-iv, key, parts)``.
        ``legacy``: a salt of its own from ``derive(domain-salt, key, parts)`` (the PKCS12 KDF draws the IV
        from password and salt, so bags must not share a salt there).
        """
        if self.profile == "legacy":
            salt = derive(f"{domain}-salt", key, *parts, length=_PKCS12_SALT_LEN)
            return protection.encrypt_pbe_sha1_3des(plaintext, self.password, salt, self.iterations,
                                                    cache=self.cache)
        iv = derive(f"{domain}-iv", key, *parts, length=16)
        return protection.encrypt_pbes2_aes256(plaintext, self.password, self.salt, iv, self.iterations,
                                               cache=self.cache)


def _attribute(oid: str, value: bytes) -> bytes:
    return der.seq(der.oid(oid), der.set_of(value))


def _safe_bag(bag_id: str, value: bytes, attributes: Sequence[bytes]) -> bytes:
    attrs = der.set_of(*attributes) if attributes else b""
    return der.seq(der.oid(bag_id), der.explicit(0, value), attrs)


def _cert_bag(cert_der: bytes, attributes: Sequence[bytes]) -> bytes:
    cert_value = der.seq(der.oid(X509_CERTIFICATE), der.explicit(0, der.octet_string(cert_der)))
    return _safe_bag(CERT_BAG, cert_value, attributes)


def _local_key_ids(entries: Sequence[Entry]) -> dict[int, bytes]:
    """``Time <ms>`` per key entry index; a clash moves the later entry on by 1 ms until it is unique."""
    ids: dict[int, bytes] = {}
    used: set[int] = set()
    for index, entry in enumerate(entries):
        if isinstance(entry, KeyEntry):
            ms = entry.timestamp_ms
            while ms in used:
                ms += 1
            used.add(ms)
            ids[index] = _TIME_PREFIX + str(ms).encode("ascii")
    return ids


def _cert_bags(entries: Sequence[Entry], key_ids: dict[int, bytes]) -> list[bytes]:
    bags: list[bytes] = []
    ca_written: set[bytes] = set()
    for index, entry in enumerate(entries):
        name = _attribute(FRIENDLY_NAME, der.bmp_string(entry.alias))
        if isinstance(entry, TrustedEntry):
            usage = _attribute(JAVA_TRUSTED_USAGE, der.oid(ANY_EXTENDED_KEY_USAGE))
            bags.append(_cert_bag(entry.cert_der, [name, usage]))
            continue
        leaf, *cas = entry.chain_der
        bags.append(_cert_bag(leaf, [name, _attribute(LOCAL_KEY_ID, der.octet_string(key_ids[index]))]))
        ca_written.add(leaf)  # a leaf bag also serves Java's issuer lookup for other chains
        for ca in cas:
            if ca not in ca_written:  # a CA shared by several chains is written once
                ca_written.add(ca)
                bags.append(_cert_bag(ca, []))
    return bags


def _key_bag(entry: KeyEntry, key_id: bytes, encryptor: _Encryptor) -> bytes:
    parts = (encryptor.password.encode("ascii"), entry.alias.encode("utf-8"))
    alg, ciphertext = encryptor.encrypt(entry.key_der, "kstool/p12/key", entry.key_der, parts)
    shrouded = der.seq(alg, der.octet_string(ciphertext))
    attributes = [_attribute(FRIENDLY_NAME, der.bmp_string(entry.alias)),
                  _attribute(LOCAL_KEY_ID, der.octet_string(key_id))]
    return _safe_bag(SHROUDED_KEY_BAG, shrouded, attributes)


def _data_info(content: bytes) -> bytes:
    return der.seq(der.oid(DATA), der.explicit(0, der.octet_string(content)))


def _encrypted_data_info(content: bytes, encryptor: _Encryptor, seed: bytes,
                         parts: tuple[bytes, ...]) -> bytes:
    # the protected content is a part too: a different set of certificates never reuses a salt or IV
    alg, ciphertext = encryptor.encrypt(content, "kstool/p12/certs", seed, (*parts, content))
    encrypted_content_info = der.seq(der.oid(DATA), alg, der.tlv(der.context(0, constructed=False), ciphertext))
    return der.seq(der.oid(ENCRYPTED_DATA), der.explicit(0, der.seq(der.integer(0), encrypted_content_info)))


def _mac_data(auth_safe: bytes, password: str, profile: Profile, *, iterations: int, seed: bytes,
              parts: tuple[bytes, ...], cache: KdfCache) -> bytes:
    hash_name, digest_oid = ("sha1", _SHA1) if profile == "legacy" else ("sha256", _SHA256)
    salt = derive("kstool/p12/mac-salt", seed, *parts, auth_safe, length=_PKCS12_SALT_LEN)
    mac = protection.pkcs12_mac(hash_name, password, salt, iterations, auth_safe, cache=cache)
    digest_info = der.seq(der.seq(der.oid(digest_oid), der.null()), der.octet_string(mac))
    return der.seq(digest_info, der.octet_string(salt), der.integer(iterations))


def _check_iterations(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be int")
    if not 1 <= value <= MAX_ITERATIONS:
        raise ValueError(f"{name} must be between 1 and {MAX_ITERATIONS}, not {value}")
    return value


def encode_pkcs12(entries: Sequence[Entry], password: str, *, profile: Profile = "modern",
                  iterations: int = DEFAULT_PKCS12_ITERATIONS, mac_iterations: int | None = None,
                  cache: KdfCache | None = None) -> bytes:
    """A PKCS12 store holding ``entries``; the same arguments always give the same bytes.

    ``modern``: PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) for keys and certificates, HMAC-SHA256 MAC (JDK 17's
    defaults). ``legacy``: pbeWithSHAAnd3-KeyTripleDES-CBC for both, HMAC-SHA1 MAC (older Java).
    ``cache``: pass the one the checking ``decode_pkcs12`` gets, and it derives nothing again.
    """
    _check_password(password)
    if profile not in ("modern", "legacy"):
        raise ValueError(f"unknown PKCS12 profile {profile!r}")
    _check_iterations("iterations", iterations)
    mac_iterations = _check_iterations("mac_iterations", iterations if mac_iterations is None else mac_iterations)
    check_entries(entries, "pkcs12")

    key_ders = [e.key_der for e in entries if isinstance(e, KeyEntry)]
    seed = secret_seed(key_ders)
    # Public data in a store with keys hides behind the password too; a truststore derives from public data.
    parts = (password.encode("ascii"),) if key_ders else ()
    key_ids = _local_key_ids(entries)
    cert_bags = _cert_bags(entries, key_ids)
    certs_plain = der.seq(*cert_bags) if cert_bags else b""
    # One salt for the whole store, keyed like the certificate bags' IV (secret seed, password, their content):
    # unique per store content, unpredictable without its private keys, and one PBKDF2 run instead of one per bag.
    store_salt = derive("kstool/p12/salt", seed, *parts, certs_plain, length=_PBES2_SALT_LEN)
    cache = KdfCache() if cache is None else cache
    encryptor = _Encryptor(profile, password, iterations, store_salt, cache)

    infos: list[bytes] = []
    key_bags = [_key_bag(e, key_ids[i], encryptor) for i, e in enumerate(entries) if isinstance(e, KeyEntry)]
    if key_bags:
        infos.append(_data_info(der.seq(*key_bags)))
    if cert_bags:
        infos.append(_encrypted_data_info(certs_plain, encryptor, seed, parts))
    auth_safe = der.seq(*infos)
    mac = _mac_data(auth_safe, password, profile, iterations=mac_iterations, seed=seed, parts=parts, cache=cache)
    return der.seq(der.integer(3), _data_info(auth_safe), mac)


# -- decoding: structure ----------------------------------------------------------------------------------


def _children(node: der.Node, tag: int, what: str, minimum: int, maximum: int) -> list[der.Node]:
    items = node.expect(tag, what).children()
    if not minimum <= len(items) <= maximum:
        raise FormatError(f"malformed {what}: {len(items)} elements")
    return items


def _octets(node: der.Node, what: str, depth: int = 0) -> bytes:
    """An OCTET STRING's content; BER's constructed form (chunks) is accepted too."""
    if node.tag == der.OCTET_STRING:
        return node.value
    if node.tag == 0x24 and depth < _MAX_NESTING:
        return b"".join(_octets(chunk, what, depth + 1) for chunk in node.children())
    raise FormatError(f"malformed {what}: expected an OCTET STRING")


def _iterations(node: der.Node, what: str) -> int:
    count = node.as_int()
    if count < 1:
        raise IterationLimitError(f"malformed PKCS12 store: {what} iteration count {count}")
    if count > MAX_ITERATIONS:  # refused before any derivation: Java refuses it too
        raise IterationLimitError(f"PKCS12 {what} iteration count {count} exceeds the limit of {MAX_ITERATIONS}")
    return count


def _algorithm(node: der.Node, what: str) -> tuple[str, der.Node | None]:
    items = _children(node, der.SEQUENCE, what, 1, 2)
    params = items[1] if len(items) == 2 else None
    return items[0].as_oid(), params


def _hash_oid(oid: str, table: dict[str, str], what: str) -> str:
    if oid not in table:
        raise FormatError(f"unsupported {what} algorithm {oid} in PKCS12 store")
    return table[oid]


def _parse_pbes2(params: der.Node) -> Pbes2:
    kdf, scheme = _children(params, der.SEQUENCE, "PBES2 parameters", 2, 2)
    kdf_oid, kdf_params = _algorithm(kdf, "PBES2 key derivation")
    if kdf_oid != PBKDF2 or kdf_params is None:
        raise FormatError(f"unsupported PBES2 key derivation {kdf_oid} in PKCS12 store (only PBKDF2)")
    fields = _children(kdf_params, der.SEQUENCE, "PBKDF2 parameters", 2, 4)
    salt = fields[0].expect(der.OCTET_STRING, "PBKDF2 salt").value
    iterations = _iterations(fields[1], "PBKDF2")
    rest = fields[2:]
    key_length = rest.pop(0).as_int() if rest and rest[0].tag == der.INTEGER else None
    prf = "sha1"  # RFC 8018 default
    if rest:
        prf = _hash_oid(_algorithm(rest[0], "PBKDF2 PRF")[0], _PRF_HASHES, "PBKDF2 PRF")
    cipher, iv_node = _algorithm(scheme, "PBES2 encryption scheme")
    if cipher not in PBES2_CIPHERS or iv_node is None:
        raise FormatError(f"unsupported PBES2 encryption scheme {cipher} in PKCS12 store")
    iv = iv_node.expect(der.OCTET_STRING, "PBES2 IV").value
    if key_length is not None and key_length != PBES2_CIPHERS[cipher]:
        raise FormatError("malformed PKCS12 store: PBKDF2 key length does not match the cipher")
    if len(iv) != (8 if cipher == DES_EDE3_CBC else 16):
        raise FormatError("malformed PKCS12 store: bad PBES2 IV length")
    return Pbes2(prf, salt, iterations, cipher, iv)


def _parse_protection(node: der.Node) -> Protection:
    oid, params = _algorithm(node, "encryption algorithm")
    if params is None:
        raise FormatError(f"malformed PKCS12 store: encryption algorithm {oid} without parameters")
    if oid == PBES2:
        return _parse_pbes2(params)
    if oid in PKCS12_PBE_KEY_LENGTHS:
        salt, count = _children(params, der.SEQUENCE, "PKCS12 PBE parameters", 2, 2)
        return Pkcs12Pbe(oid, salt.expect(der.OCTET_STRING, "PBE salt").value, _iterations(count, "PBE"))
    raise FormatError(f"unsupported encryption algorithm {oid} in PKCS12 store")


@dataclass(frozen=True, slots=True)
class _Mac:
    hash_name: str
    digest: bytes
    salt: bytes
    iterations: int


def _parse_mac(node: der.Node) -> _Mac:
    items = _children(node, der.SEQUENCE, "PKCS12 MAC", 2, 3)
    algorithm, digest = _children(items[0], der.SEQUENCE, "PKCS12 MAC digest", 2, 2)
    oid, params = _algorithm(algorithm, "MAC digest")
    if params is not None and params.raw != der.null():  # hash parameters are NULL or absent, nothing else
        raise FormatError("malformed PKCS12 store: MAC digest parameters")
    hash_name = _hash_oid(oid, _DIGESTS, "MAC digest")
    salt = items[1].expect(der.OCTET_STRING, "MAC salt").value
    iterations = _iterations(items[2], "MAC") if len(items) == 3 else 1
    return _Mac(hash_name, digest.expect(der.OCTET_STRING, "MAC digest").value, salt, iterations)


def _explicit0(node: der.Node, what: str) -> der.Node:
    node.expect(der.context(0), what)
    return der.decode(node.value)


@dataclass(frozen=True, slots=True)
class _Safe:
    """One ContentInfo of the authenticated safe: SafeContents, in clear or still encrypted."""

    content: bytes  # SafeContents DER, or ciphertext when ``protection`` is set
    protection: Protection | None


def _parse_content_info(node: der.Node) -> _Safe:
    kind, content = _children(node, der.SEQUENCE, "PKCS12 ContentInfo", 2, 2)
    oid = kind.as_oid()
    if oid == DATA:
        return _Safe(_octets(_explicit0(content, "Data content"), "Data content"), None)
    if oid != ENCRYPTED_DATA:
        raise FormatError(f"unsupported PKCS12 content type {oid} (public-key protected stores are not supported)")
    version, info = _children(_explicit0(content, "EncryptedData"), der.SEQUENCE, "EncryptedData", 2, 3)[:2]
    version.as_int()
    items = _children(info, der.SEQUENCE, "EncryptedContentInfo", 3, 3)
    if items[0].as_oid() != DATA:
        raise FormatError("malformed PKCS12 store: encrypted content is not Data")
    protection = _parse_protection(items[1])
    encrypted = items[2]
    if encrypted.tag == der.context(0, constructed=False):
        return _Safe(encrypted.value, protection)
    encrypted.expect(der.context(0), "encrypted content")  # BER constructed [0] holding OCTET STRING chunks
    return _Safe(b"".join(_octets(chunk, "encrypted content") for chunk in encrypted.children()), protection)


@dataclass(frozen=True, slots=True)
class _Pfx:
    auth_safe: bytes
    safes: tuple[_Safe, ...]
    mac: _Mac | None


def _parse_pfx(data: bytes) -> _Pfx:
    items = _children(der.decode(data), der.SEQUENCE, "PKCS12 store", 2, 3)
    if items[0].as_int() != 3:
        raise FormatError("unsupported PKCS12 version (expected 3)")
    kind, content = _children(items[1], der.SEQUENCE, "PKCS12 authenticated safe", 2, 2)
    if kind.as_oid() != DATA:
        raise FormatError("unsupported PKCS12 integrity mode (public-key signed stores are not supported)")
    auth_safe = _octets(_explicit0(content, "authenticated safe"), "authenticated safe")
    mac = _parse_mac(items[2]) if len(items) == 3 else None
    safes = tuple(_parse_content_info(info) for info in der.decode(auth_safe).expect(der.SEQUENCE,
                                                                                      "authenticated safe").children())
    return _Pfx(auth_safe, safes, mac)


# -- decoding: bags ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Attributes:
    friendly_name: str | None
    local_key_id: bytes | None
    trusted: bool


@dataclass(frozen=True, slots=True)
class _Bag:
    kind: str  # bag OID
    value: der.Node  # the bag value inside [0]
    attributes: _Attributes


def _first_value(node: der.Node, what: str) -> der.Node:
    values = node.expect(der.SET, what).children()
    if not values:
        raise FormatError(f"malformed PKCS12 store: empty {what}")
    return values[0]


def _bmp_text(node: der.Node) -> str:
    node.expect(der.BMP_STRING, "friendlyName")
    try:
        return node.value.decode("utf-16-be")
    except UnicodeDecodeError:
        raise FormatError("malformed PKCS12 store: friendlyName is not a valid BMPString") from None


def _parse_attributes(node: der.Node | None) -> _Attributes:
    name: str | None = None
    key_id: bytes | None = None
    trusted = False
    for attribute in node.expect(der.SET, "bag attributes").children() if node else []:
        oid_node, values = _children(attribute, der.SEQUENCE, "bag attribute", 2, 2)
        oid = oid_node.as_oid()
        if oid == FRIENDLY_NAME:
            name = _bmp_text(_first_value(values, "friendlyName"))
        elif oid == LOCAL_KEY_ID:
            key_id = _first_value(values, "localKeyId").expect(der.OCTET_STRING, "localKeyId").value
        elif oid == JAVA_TRUSTED_USAGE:
            trusted = True
    return _Attributes(name, key_id, trusted)


def _parse_bags(safe_contents: bytes, depth: int = 0) -> list[_Bag]:
    bags: list[_Bag] = []
    for node in der.decode(safe_contents).expect(der.SEQUENCE, "SafeContents").children():
        items = _children(node, der.SEQUENCE, "SafeBag", 2, 3)
        kind = items[0].as_oid()
        value = _explicit0(items[1], "SafeBag value")
        attributes = _parse_attributes(items[2] if len(items) == 3 else None)
        if kind == SAFE_CONTENTS_BAG:
            if depth >= _MAX_NESTING:
                raise FormatError("malformed PKCS12 store: safe contents nested too deeply")
            bags.extend(_parse_bags(value.raw, depth + 1))
        else:
            bags.append(_Bag(kind, value, attributes))
    return bags


@dataclass(frozen=True, slots=True)
class _Key:
    position: int
    key_der: bytes
    attributes: _Attributes


@dataclass(frozen=True, slots=True)
class _Cert:
    position: int
    cert_der: bytes
    cert: x509.Certificate
    attributes: _Attributes


def _key_der(bag: _Bag, password: str, cache: KdfCache) -> bytes:
    if bag.kind == KEY_BAG:
        key_der = bag.value.raw
    else:
        algorithm, encrypted = _children(bag.value, der.SEQUENCE, "EncryptedPrivateKeyInfo", 2, 2)
        key_der = protection.decrypt(_parse_protection(algorithm), password,
                                     encrypted.expect(der.OCTET_STRING, "encrypted key").value, cache=cache)
    try:  # a PrivateKeyInfo is a SEQUENCE; anything else is corruption (or a wrong key password)
        der.decode(key_der).expect(der.SEQUENCE, "PrivateKeyInfo")
    except FormatError:
        raise WrongPasswordError(INTEGRITY_FAILED) from None
    return key_der


def _cert(bag: _Bag) -> tuple[bytes, x509.Certificate] | None:
    cert_id, cert_value = _children(bag.value, der.SEQUENCE, "CertBag", 2, 2)
    if cert_id.as_oid() != X509_CERTIFICATE:
        return None  # SDSI certificates: nothing Java or kstool can use
    cert_der = _octets(_explicit0(cert_value, "CertBag value"), "certificate")
    try:
        cert = parse_certificate(cert_der)  # names too: one with an unknown string tag fails here, not in _chain
    except CertificateParseError:
        raise FormatError("malformed certificate in PKCS12 store") from None
    return cert_der, cert


def _safe_bags(safe: _Safe, password: str, cache: KdfCache) -> list[_Bag]:
    if safe.protection is None:
        return _parse_bags(safe.content)
    plaintext = protection.decrypt(safe.protection, password, safe.content, cache=cache)
    try:
        return _parse_bags(plaintext)
    except FormatError:  # without a MAC, a wrong password can still pass the padding check now and then
        raise WrongPasswordError(INTEGRITY_FAILED) from None


def _collect(pfx: _Pfx, password: str, cache: KdfCache, *, keys: bool = True) -> tuple[list[_Key], list[_Cert]]:
    """Decrypt every safe and sort its bags into keys and certificates, numbered in file order.

    ``keys=False`` leaves shrouded keys encrypted (their ``key_der`` is empty)."""
    found_keys: list[_Key] = []
    certs: list[_Cert] = []
    position = 0
    for safe in pfx.safes:
        for bag in _safe_bags(safe, password, cache):
            position += 1
            if bag.kind in (KEY_BAG, SHROUDED_KEY_BAG):
                skip = not keys and bag.kind == SHROUDED_KEY_BAG
                found_keys.append(_Key(position, b"" if skip else _key_der(bag, password, cache), bag.attributes))
            elif bag.kind == CERT_BAG:
                parsed = _cert(bag)
                if parsed:
                    certs.append(_Cert(position, parsed[0], parsed[1], bag.attributes))
            elif bag.kind == SECRET_BAG:  # refusing beats silently dropping an entry the user has
                raise FormatError("the PKCS12 store holds a secret-key entry, which kstool does not support")
    return found_keys, certs


def _check_protections(pfx: _Pfx) -> None:
    """Parse every algorithm visible before decryption, so bad iteration counts fail before any KDF runs."""
    for safe in pfx.safes:
        if safe.protection is None:
            for bag in _parse_bags(safe.content):
                if bag.kind == SHROUDED_KEY_BAG:
                    algorithm = _children(bag.value, der.SEQUENCE, "EncryptedPrivateKeyInfo", 2, 2)[0]
                    _parse_protection(algorithm)


def _verify_mac(pfx: _Pfx, password: str, cache: KdfCache) -> None:
    if pfx.mac is None:
        return  # Java loads MAC-less stores too; bad passwords then show as bad padding
    mac = pfx.mac
    expected = protection.pkcs12_mac(mac.hash_name, password, mac.salt, mac.iterations, pfx.auth_safe, cache=cache)
    if not hmac.compare_digest(expected, mac.digest):
        raise WrongPasswordError(INTEGRITY_FAILED)


# -- decoding: entries ------------------------------------------------------------------------------------


def _key_spki(key_der: bytes) -> bytes | None:
    try:
        private_key = serialization.load_der_private_key(key_der, password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    try:
        return spki_der(private_key.public_key())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


MAX_CHAIN_LENGTH = 64  # real chains hold a handful of certificates; a longer one is a hostile file


class _Certs:
    """A store's certificates, indexed once: matching k keys to c certificates costs k + c lookups, not k times c."""

    def __init__(self, certs: list[_Cert]) -> None:
        self.certs = certs
        self.by_key_id: dict[bytes, _Cert] = {}
        self.by_subject: dict[x509.Name, list[_Cert]] = {}
        for cert in certs:  # the first of several wins, as a scan in file order would find it
            if cert.attributes.local_key_id is not None:
                self.by_key_id.setdefault(cert.attributes.local_key_id, cert)
            self.by_subject.setdefault(cert.cert.subject, []).append(cert)
        self._by_spki: dict[bytes, _Cert] | None = None

    def by_spki(self, spki: bytes) -> _Cert | None:
        if self._by_spki is None:  # only stores whose keys lack a localKeyId (OpenSSL output) need it
            self._by_spki = {}
            for cert in self.certs:
                cert_key = cert_spki(cert.cert)
                if cert_key is not None:
                    self._by_spki.setdefault(cert_key, cert)
        return self._by_spki.get(spki)


def _find_leaf(key: _Key, certs: _Certs) -> _Cert | None:
    key_id = key.attributes.local_key_id
    if key_id is not None and key_id in certs.by_key_id:
        return certs.by_key_id[key_id]
    # OpenSSL output may lack localKeyId; Java falls back similarly for single-key Windows stores.
    spki = _key_spki(key.key_der)
    return None if spki is None else certs.by_spki(spki)


def _chain(leaf: _Cert, certs: _Certs) -> tuple[bytes, ...]:
    """Leaf first, then issuers found by name among the store's certificates, up to a self-issued one."""
    chain = [leaf]
    seen = {leaf.cert_der}
    current = leaf
    while current.cert.issuer != current.cert.subject:
        # at most len(chain) candidates are skipped: each step costs O(MAX_CHAIN_LENGTH), whatever the store holds
        issuer = next((c for c in certs.by_subject.get(current.cert.issuer, ()) if c.cert_der not in seen), None)
        if issuer is None:
            break
        if len(chain) == MAX_CHAIN_LENGTH:
            raise FormatError(f"a certificate chain in the PKCS12 store is longer than {MAX_CHAIN_LENGTH} "
                              "certificates")
        chain.append(issuer)
        seen.add(issuer.cert_der)
        current = issuer
    return tuple(c.cert_der for c in chain)


def _timestamp(key_id: bytes | None) -> int:
    """Java writes ``Time <ms>`` as localKeyId and reads the creation date back from it."""
    if key_id is None or not key_id.startswith(_TIME_PREFIX):
        return 0
    digits = key_id[len(_TIME_PREFIX):]
    if not digits.isdigit() or len(digits) > 19:  # bytes.isdigit: ASCII digits only
        return 0
    return int(digits)


@dataclass(frozen=True, slots=True)
class _Found:
    order: tuple[int, int]  # (0, leaf or trusted cert bag position) or (1, key bag position) if no cert
    alias: str | None
    entry: Entry  # alias filled in once every entry is known


def _key_entries(keys: list[_Key], certs: _Certs) -> tuple[list[_Found], set[int]]:
    found: list[_Found] = []
    leaves: set[int] = set()
    for key in keys:
        leaf = _find_leaf(key, certs)
        if leaf is None:
            entry = KeyEntry("", key.key_der, (), _timestamp(key.attributes.local_key_id))
            found.append(_Found((1, key.position), key.attributes.friendly_name, entry))
            continue
        leaves.add(leaf.position)
        alias = key.attributes.friendly_name or leaf.attributes.friendly_name
        ms = _timestamp(key.attributes.local_key_id or leaf.attributes.local_key_id)
        found.append(_Found((0, leaf.position), alias, KeyEntry("", key.key_der, _chain(leaf, certs), ms)))
    return found, leaves


def _trusted_entries(certs: list[_Cert], leaves: set[int]) -> list[_Found]:
    found: list[_Found] = []
    for cert in certs:
        attrs = cert.attributes
        if attrs.trusted or (attrs.friendly_name is not None and cert.position not in leaves):
            entry = TrustedEntry("", cert.cert_der, _timestamp(attrs.local_key_id))
            found.append(_Found((0, cert.position), attrs.friendly_name, entry))
    return found


def _entries(keys: list[_Key], certs: list[_Cert]) -> tuple[Entry, ...]:
    key_found, leaves = _key_entries(keys, _Certs(certs))
    found = sorted(key_found + _trusted_entries(certs, leaves), key=lambda f: f.order)
    taken = {f.alias for f in found if f.alias is not None}
    counter = 0
    entries: list[Entry] = []
    for item in found:
        alias = item.alias
        while alias is None or (item.alias is None and alias in taken):  # Java names the unnamed "1", "2", ...
            counter += 1
            alias = str(counter)
        entries.append(replace(item.entry, alias=alias))
    return tuple(entries)


def decode_pkcs12(data: bytes, password: str, *, verify_mac: bool = True, keys: bool = True,
                  cache: KdfCache | None = None) -> tuple[Entry, ...]:
    """The entries of a PKCS12 store, in file order (of the leaf/trusted certificate bags).

    Aliases are the friendlyName as stored (callers lowercase); unnamed entries get "1", "2", ... (skipping
    names taken by named entries). ``timestamp_ms`` comes from a ``Time <ms>`` localKeyId, else 0. A key
    without a certificate has an empty chain. Wrong password or tampering: ``WrongPasswordError``; anything
    malformed or unsupported: ``FormatError``.

    ``verify_mac=False`` is for bytes already known to be intact (their SHA-256 is the one kstool recorded
    when it wrote them): the password is then proven by decrypting the bags alone, which skips the MAC's
    slow key derivation. Any other caller keeps the default. ``keys=False`` (only with ``verify_mac=False``)
    also leaves the keys encrypted, their ``key_der`` empty: the certificate safe alone proves the password,
    and a store without one has its MAC checked after all. ``cache``: derivations to reuse (see ``KdfCache``).
    """
    kdf_cache = KdfCache() if cache is None else cache
    return _retry_empty_as_null(password, lambda pw: _decode_pkcs12(data, pw, kdf_cache, verify_mac=verify_mac,
                                                                    keys=keys))


def _decode_pkcs12(data: bytes, password: str, cache: KdfCache, *, verify_mac: bool, keys: bool) -> tuple[Entry, ...]:
    _check_password(password)
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("data must be bytes")
    with _malformed_is_format_error(bytes(data), password if verify_mac else None, cache):
        pfx = _parse_pfx(bytes(data))
        _check_protections(pfx)
        proves_password = any(safe.protection is not None for safe in pfx.safes)
        if verify_mac or (not keys and not proves_password):
            _verify_mac(pfx, password, cache)
        return _entries(*_collect(pfx, password, cache, keys=keys or verify_mac))


def prove_password_pkcs12(data: bytes, password: str, *, cache: KdfCache | None = None) -> bool:
    """Check the store's MAC (one key derivation; nothing is decrypted). False when the store has no MAC.

    Wrong password or tampering: ``WrongPasswordError``; malformed: ``FormatError``.
    """
    kdf_cache = KdfCache() if cache is None else cache
    return _retry_empty_as_null(password, lambda pw: _prove_password_pkcs12(data, pw, kdf_cache))


def _prove_password_pkcs12(data: bytes, password: str, cache: KdfCache) -> bool:
    _check_password(password)
    with _malformed_is_format_error(bytes(data), password, cache):
        pfx = _parse_pfx(bytes(data))
        if pfx.mac is None:
            return False
        _verify_mac(pfx, password, cache)
        return True


def has_mac_pkcs12(data: bytes) -> bool:
    """Does the store carry a MAC? Without one, nothing in it proves it was made by someone with the password
    (Java and OpenSSL write MAC-less stores: ``-nomac``, ``keystore.pkcs12.macAlgorithm=NONE``).

    Malformed: ``FormatError``.
    """
    with _malformed_is_format_error():
        return _parse_pfx(bytes(data)).mac is not None


@contextmanager
def _malformed_is_format_error(data: bytes = b"", password: str | None = None,
                               cache: KdfCache | None = None) -> Iterator[None]:
    """What parsing or decrypting a malformed store raises, as ``FormatError`` (which is none of these).

    With ``password``, a store that fails to parse is first put to its MAC: a flipped byte (or a wrong password)
    is then the integrity failure it is, not the field it happened to break ("unsupported PBKDF2 PRF").
    """
    try:
        yield
    except (FormatError, ValueError, IndexError, OverflowError, UnsupportedAlgorithm) as error:
        judge = password is not None and not isinstance(error, WrongPasswordError | IterationLimitError)
        if judge and password is not None and _mac_fails(data, password, cache):
            raise WrongPasswordError(INTEGRITY_FAILED) from None
        if isinstance(error, FormatError):
            raise
        raise FormatError(f"malformed PKCS12 store ({type(error).__name__})") from None


def _mac_fails(data: bytes, password: str, cache: KdfCache | None) -> bool:
    """Does the store's MAC (parsed alone, with its bounded iteration count) refuse these bytes?"""
    try:
        items = _children(der.decode(data), der.SEQUENCE, "PKCS12 store", 3, 3)
        content = _children(items[1], der.SEQUENCE, "PKCS12 authenticated safe", 2, 2)[1]
        auth_safe = _octets(_explicit0(content, "authenticated safe"), "authenticated safe")
        mac = _parse_mac(items[2])
    except (FormatError, ValueError, IndexError, OverflowError, UnsupportedAlgorithm):
        return False  # no MAC to judge by: the parse error stands
    expected = protection.pkcs12_mac(mac.hash_name, password, mac.salt, mac.iterations, auth_safe, cache=cache)
    return not hmac.compare_digest(expected, mac.digest)


def as_read_back(entries: Sequence[Entry]) -> tuple[Entry, ...]:
    """``entries`` as ``decode_pkcs12`` (and Java) will read them back from ``encode_pkcs12(entries)``.

    PKCS12 stores certificates, not chains: a reader completes each key's chain with issuers found by name
    among all the store's certificates, so a chain given short of an issuer that another entry carries
    comes back longer. Planning compares against this form, so apply and the next plan agree.
    """
    if not any(isinstance(e, KeyEntry) and e.chain_der for e in entries):
        return tuple(entries)  # no chain to complete (a truststore): nothing to parse
    no_attributes = _Attributes(None, None, trusted=False)
    certs: list[_Cert] = []
    seen: set[bytes] = set()
    for entry in entries:  # the certificate bags in the order _cert_bags writes them
        for cert_der in entry.chain_der if isinstance(entry, KeyEntry) else (entry.cert_der,):
            if cert_der not in seen:
                seen.add(cert_der)
                certs.append(_Cert(len(certs), cert_der, parse_der(cert_der), no_attributes))
    by_der = {c.cert_der: c for c in certs}
    index = _Certs(certs)
    return tuple(replace(e, chain_der=_read_back_chain(e, by_der, index))
                 if isinstance(e, KeyEntry) and e.chain_der else e for e in entries)


def _read_back_chain(entry: KeyEntry, by_der: dict[bytes, _Cert], index: _Certs) -> tuple[bytes, ...]:
    """The chain a reader rebuilds; FormatError when it would lose certificates of ``entry``'s chain."""
    chain = _chain(by_der[entry.chain_der[0]], index)
    if chain[:len(entry.chain_der)] != entry.chain_der:
        raise FormatError(f"key entry {entry.alias!r}: a PKCS12 reader rebuilds a key's chain from issuer names, "
                          f"and would read back a different chain than the {len(entry.chain_der)} certificates "
                          "given (no certificate is dropped silently); give the chain leaf to root, each "
                          "certificate issued by the next, or use type: jks")
    return chain


class PasswordNeededError(FormatError):
    """A PKCS12 store whose certificates cannot be read without its password (a MAC, or encrypted safes)."""


def trusted_entries_pkcs12(data: bytes, password: str | None) -> tuple[TrustedEntry, ...]:
    """The trusted-certificate entries of a PKCS12 store, in file order; key entries are left out and their keys
    never decrypted. With ``password``: after the MAC check (when the store has one). Without: only a store that
    has no MAC and no encrypted safe (the JDK 18+ password-less cacerts, ``keytool -storepass ''`` with
    ``keystore.pkcs12.certProtectionAlgorithm=NONE`` and ``macAlgorithm=NONE``), else ``PasswordNeededError``."""
    cache = KdfCache()
    if password is not None:
        return tuple(e for e in _retry_empty_as_null(password, lambda pw: _trusted_with_password(data, pw, cache))
                     if isinstance(e, TrustedEntry))
    with _malformed_is_format_error():
        pfx = _parse_pfx(bytes(data))
        if pfx.mac is not None:
            raise PasswordNeededError("the store has a MAC (an integrity check under its password)")
        if any(safe.protection is not None for safe in pfx.safes):
            raise PasswordNeededError("its certificates are encrypted under its password")
        _check_protections(pfx)
        return tuple(e for e in _entries(*_collect(pfx, "", cache, keys=False)) if isinstance(e, TrustedEntry))


def _trusted_with_password(data: bytes, password: str, cache: KdfCache) -> tuple[Entry, ...]:
    _check_password(password)
    with _malformed_is_format_error(bytes(data), password, cache):
        pfx = _parse_pfx(bytes(data))
        _check_protections(pfx)
        _verify_mac(pfx, password, cache)
        return _entries(*_collect(pfx, password, cache, keys=False))
def protection_settings_pkcs12(data: bytes) -> tuple[Profile, int]:
    """The profile and iteration count a PKCS12 store was written with, read from its structure (no password):
    ``modern`` when its encrypted parts use PBES2 with AES, else ``legacy``; the MAC's iteration count (else the
    first encryption's). For ``kstool adopt``, which describes a store so that a re-encode changes it least."""
    pfx = _parse_pfx(data)
    protections = [safe.protection for safe in pfx.safes if safe.protection is not None]
    if protections:
        modern = all(isinstance(p, Pbes2) and p.cipher != DES_EDE3_CBC for p in protections)
    else:  # nothing encrypted (an empty store): the MAC's hash tells
        modern = pfx.mac is not None and pfx.mac.hash_name != "sha1"
    if pfx.mac is not None:
        iterations = pfx.mac.iterations
    elif protections:
        iterations = protections[0].iterations
    else:
        iterations = DEFAULT_PKCS12_ITERATIONS
    return ("modern" if modern else "legacy"), iterations


def chain_only_aliases_pkcs12(data: bytes, password: str) -> tuple[str, ...]:
    """The names of certificates that ``decode_pkcs12`` lists as trusted entries although Java does not: bags with a
    friendlyName but without Java's trusted-usage attribute, in a key entry's chain (keytool names the chain
    certificates of an imported CA reply by their subject). For ``kstool adopt``, which describes a store as Java
    sees it. Call it on a store ``decode_pkcs12`` opened (the MAC is not checked again)."""
    cache = KdfCache()
    with _malformed_is_format_error(bytes(data), None, cache):
        pfx = _parse_pfx(bytes(data))
        keys, certs = _collect(pfx, password, cache, keys=False)
        found, leaves = _key_entries(keys, _Certs(certs))
    in_chains = {der for f in found if isinstance(f.entry, KeyEntry) for der in f.entry.chain_der[1:]}
    return tuple(c.attributes.friendly_name for c in certs
                 if c.attributes.friendly_name is not None and not c.attributes.trusted
                 and c.position not in leaves and c.cert_der in in_chains)
