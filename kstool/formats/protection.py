"""Key protection, apart from the store containers: KDFs, key protectors, ciphers and integrity checks.

The split follows pyjks (``sun_crypto.py``, ``rfc7292.py``) and the JDK (``KeyProtector.java``,
``MacData.java``): ``jks.py`` and ``pkcs12.py`` lay out bytes, this module turns passwords into keys and keys
into ciphertext.

- PKCS12 (RFC 7292 Appendix B) key derivation, with the system libcrypto's when it has one
  (``kstool.formats.native``), and PBKDF2 for PBES2;
- the PKCS12 ciphers: PBES2 with AES (or 3DES), pbeWithSHAAnd3-KeyTripleDES-CBC, pbeWithSHAAnd128/40BitRC2-CBC
  (``rc2`` decrypts the 40-bit one cryptography lacks), and the PKCS12 MAC;
- Sun's JKS KeyProtector (OID 1.3.6.1.4.1.42.2.17.1.1) and JCEKS's PBEWithMD5AndTripleDES, and the JKS/JCEKS
  store hash.

Derivations are slow on purpose, and a store decoded right after it was encoded (apply's read-back check), or
encoded again after it was decoded (plan), derives the same keys from the same salts. ``KdfCache`` remembers
them for as long as its owner keeps it: one object per encode/decode call by default, or one shared by the
caller for a run. Nothing here keeps a password or a derived key in a module global.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TypeVar

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from kstool.crypto.adapter import decrepit_rc2, decrepit_triple_des
from kstool.errors import FormatError, WrongPasswordError
from kstool.formats import der, rc2
from kstool.formats.entries import is_pkcs8

# -- object identifiers -----------------------------------------------------------------------------------

PBES2 = "1.2.840.113549.1.5.13"
PBKDF2 = "1.2.840.113549.1.5.12"
PBE_SHA1_3DES = "1.2.840.113549.1.12.1.3"
PBE_SHA1_RC2_128 = "1.2.840.113549.1.12.1.5"
PBE_SHA1_RC2_40 = "1.2.840.113549.1.12.1.6"
DES_EDE3_CBC = "1.2.840.113549.3.7"
AES256_CBC = "2.16.840.1.101.3.4.1.42"
HMAC_SHA256 = "1.2.840.113549.2.9"
JKS_KEY_PROTECTOR = "1.3.6.1.4.1.42.2.17.1.1"  # Sun KeyProtector
PBE_MD5_3DES = "1.3.6.1.4.1.42.2.19.1"  # PBEWithMD5AndTripleDES (JCEKS)

PBES2_CIPHERS: dict[str, int] = {  # PBES2 encryption scheme OID -> key length in bytes
    "2.16.840.1.101.3.4.1.2": 16,  # aes128-CBC
    "2.16.840.1.101.3.4.1.22": 24,  # aes192-CBC
    AES256_CBC: 32,  # aes256-CBC
    DES_EDE3_CBC: 24,  # old OpenSSL PBES2 default
}
PKCS12_PBE_KEY_LENGTHS = {PBE_SHA1_3DES: 24, PBE_SHA1_RC2_128: 16, PBE_SHA1_RC2_40: 5}

KDF_KEY, KDF_IV, KDF_MAC = 1, 2, 3  # RFC 7292 Appendix B.3 purpose IDs
JKS_SALT_LEN = 20
JCEKS_SALT_LEN = 8
SHA1_LEN = 20
DES_BLOCK = 8

_HASH_CLASSES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
    "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}
_BLOCK_SIZES = {"sha1": 64, "sha224": 64, "sha256": 64, "sha384": 128, "sha512": 128}  # the KDF's v
_INTEGRITY_WHITENER = b"Mighty Aphrodite"

INTEGRITY_FAILED = "wrong password, or the PKCS12 store is corrupt (integrity check failed)"

# OpenSSL's NULL password (PKCS12_create(NULL, ...)): no bytes at all, not even the terminator. Java asks for it
# with a lone NUL character, which its PKCS12 KDF turns into no bytes, after an empty password failed.
NULL_PASSWORD = "\x00"  # noqa: S105 (a password encoding, not a secret)

_T = TypeVar("_T")


class KdfCache:
    """Derived keys of one run (or one call), keyed by everything that went into them, passwords included.

    Pass the same object to an encode and to the decode that checks it, and the decode derives nothing.
    Drop it, and the passwords and keys go with it: no module keeps one.
    """

    __slots__ = ("_memo",)

    def __init__(self) -> None:
        self._memo: dict[Hashable, object] = {}

    def __repr__(self) -> str:  # never show keys or passwords
        return f"KdfCache({len(self._memo)} derivations)"

    def __reduce__(self) -> tuple[type[KdfCache], tuple[()]]:  # a cache never leaves its process: it arrives empty
        return KdfCache, ()

    def __len__(self) -> int:
        return len(self._memo)

    def derivations(self) -> dict[Hashable, object]:
        """What this cache holds, for ``absorb`` in the kstool process that sent a worker its task (derived keys
        travel by pickle between kstool's own processes, as the tasks' passwords do; never elsewhere)."""
        return dict(self._memo)

    def absorb(self, derivations: dict[Hashable, object]) -> None:
        """Remember what a worker derived (``derivations``): the store it opened is re-encoded without a KDF."""
        self._memo.update(derivations)

    def get(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """The value remembered for ``key``, computed by ``compute()`` the first time."""
        if key in self._memo:
            return self._memo[key]  # type: ignore[return-value]  # each key kind stores one value type
        value = compute()
        self._memo[key] = value
        return value


def _cached(cache: KdfCache | None, key: Hashable, compute: Callable[[], _T]) -> _T:
    return compute() if cache is None else cache.get(key, compute)


# -- passwords --------------------------------------------------------------------------------------------


def bmp_password(password: str) -> bytes:
    """RFC 7292 B.1: BMPString with a two-byte NUL terminator (what Java and OpenSSL feed the KDF)."""
    if password == NULL_PASSWORD:
        return b""
    return password.encode("utf-16-be") + b"\x00\x00"


# -- PKCS12 KDF and PBKDF2 --------------------------------------------------------------------------------


def _fill(data: bytes, v: int) -> bytes:
    """``data`` repeated to the next multiple of ``v`` bytes (empty stays empty)."""
    if not data:
        return b""
    n = v * -(-len(data) // v)
    return (data * (n // len(data) + 1))[:n]


def pkcs12_kdf(hash_name: str, password_bmp: bytes, salt: bytes, *, purpose: int, iterations: int,
               length: int, cache: KdfCache | None = None) -> bytes:
    """RFC 7292 Appendix B.2 key derivation: the system's libcrypto when it has it (kstool.formats.native),
    else the pure-Python implementation."""
    def compute() -> bytes:
        from kstool.formats.native import pkcs12_kdf as native  # noqa: PLC0415

        fast = native()
        if fast is not None and hash_name in _BLOCK_SIZES:
            return fast(hash_name, password_bmp, salt, purpose, iterations, length)
        return python_pkcs12_kdf(hash_name, password_bmp, salt, purpose=purpose, iterations=iterations,
                                 length=length)

    return _cached(cache, ("pkcs12-kdf", hash_name, password_bmp, salt, purpose, iterations, length), compute)


def python_pkcs12_kdf(hash_name: str, password_bmp: bytes, salt: bytes, *, purpose: int, iterations: int,
                      length: int) -> bytes:
    """RFC 7292 Appendix B.2 key derivation (``openssl kdf PKCS12KDF`` computes the same)."""
    new = getattr(hashlib, hash_name)
    v = _BLOCK_SIZES[hash_name]
    d = bytes([purpose]) * v
    i = bytearray(_fill(salt, v) + _fill(password_bmp, v))
    out = b""
    while True:
        a: bytes = new(d + bytes(i)).digest()
        for _ in range(iterations - 1):
            a = new(a).digest()
        out += a
        if len(out) >= length:
            return out[:length]
        b = int.from_bytes(_fill(a, v), "big") + 1
        for j in range(0, len(i), v):
            block = (int.from_bytes(i[j:j + v], "big") + b) % (1 << (8 * v))
            i[j:j + v] = block.to_bytes(v, "big")


def pbkdf2(hash_name: str, password: str, salt: bytes, iterations: int, length: int, *,
           cache: KdfCache | None = None) -> bytes:
    """PBKDF2-HMAC as Java's PBES2 runs it: over the UTF-8 bytes of the password (not the BMPString form)."""
    def compute() -> bytes:
        kdf = PBKDF2HMAC(algorithm=_HASH_CLASSES[hash_name](), length=length, salt=salt, iterations=iterations)
        return kdf.derive(password.encode("utf-8"))

    return _cached(cache, ("pbkdf2", hash_name, password, salt, iterations, length), compute)


# -- PKCS12 ciphers ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmallRc2:
    """RC2 with a key size cryptography's RC2 does not take (40-bit: old OpenSSL exports); decryption only."""

    key: bytes = field(repr=False)
    block_size = 64


def block_cipher(oid: str, key: bytes) -> BlockCipherAlgorithm | SmallRc2:
    """The block cipher an encryption-scheme OID names, keyed by ``key`` (AES unless 3DES or RC2)."""
    if oid in (DES_EDE3_CBC, PBE_SHA1_3DES):
        return decrepit_triple_des(key)
    if oid in (PBE_SHA1_RC2_128, PBE_SHA1_RC2_40):
        return decrepit_rc2(key) or SmallRc2(key)
    return algorithms.AES(key)


def cbc_encrypt(cipher: BlockCipherAlgorithm, iv: bytes, plaintext: bytes) -> bytes:
    """CBC with PKCS#7 padding."""
    padder = padding.PKCS7(cipher.block_size).padder()
    encryptor = Cipher(cipher, modes.CBC(iv)).encryptor()
    return encryptor.update(padder.update(plaintext) + padder.finalize()) + encryptor.finalize()


def cbc_decrypt(cipher: BlockCipherAlgorithm | SmallRc2, iv: bytes, ciphertext: bytes) -> bytes:
    """CBC with PKCS#7 padding; bad padding is a wrong password (``WrongPasswordError``)."""
    if not ciphertext or len(ciphertext) * 8 % cipher.block_size:
        raise FormatError("malformed PKCS12 store: encrypted content is not a whole number of blocks")
    if isinstance(cipher, SmallRc2):
        padded = rc2.decrypt_cbc(cipher.key, len(cipher.key) * 8, iv, ciphertext)
    else:
        decryptor = Cipher(cipher, modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(cipher.block_size).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:  # bad padding: the password does not open this bag
        raise WrongPasswordError(INTEGRITY_FAILED) from None


@dataclass(frozen=True, slots=True)
class Pbes2:
    """PBES2 parameters (RFC 8018): PBKDF2 then a CBC cipher."""

    prf: str  # hash name
    salt: bytes
    iterations: int
    cipher: str  # OID
    iv: bytes


@dataclass(frozen=True, slots=True)
class Pkcs12Pbe:
    """RFC 7292 Appendix C PBE parameters: the PKCS12 KDF draws key and IV from password and salt."""

    scheme: str  # OID
    salt: bytes
    iterations: int


Protection = Pbes2 | Pkcs12Pbe


def decrypt(protection: Protection, password: str, ciphertext: bytes, *, cache: KdfCache | None = None) -> bytes:
    """Decrypt a PKCS12 bag or safe; bad padding: ``WrongPasswordError``."""
    if isinstance(protection, Pbes2):
        key = pbkdf2(protection.prf, password, protection.salt, protection.iterations,
                     PBES2_CIPHERS[protection.cipher], cache=cache)
        return cbc_decrypt(block_cipher(protection.cipher, key), protection.iv, ciphertext)
    length = PKCS12_PBE_KEY_LENGTHS[protection.scheme]
    bmp = bmp_password(password)
    key = pkcs12_kdf("sha1", bmp, protection.salt, purpose=KDF_KEY, iterations=protection.iterations,
                     length=length, cache=cache)
    iv = pkcs12_kdf("sha1", bmp, protection.salt, purpose=KDF_IV, iterations=protection.iterations, length=8,
                    cache=cache)
    return cbc_decrypt(block_cipher(protection.scheme, key), iv, ciphertext)


def encrypt_pbe_sha1_3des(plaintext: bytes, password: str, salt: bytes, iterations: int, *,
                          cache: KdfCache | None = None) -> tuple[bytes, bytes]:
    """pbeWithSHAAnd3-KeyTripleDES-CBC: (AlgorithmIdentifier DER, ciphertext). The IV comes from the KDF."""
    bmp = bmp_password(password)
    cipher_key = pkcs12_kdf("sha1", bmp, salt, purpose=KDF_KEY, iterations=iterations, length=24, cache=cache)
    iv = pkcs12_kdf("sha1", bmp, salt, purpose=KDF_IV, iterations=iterations, length=8, cache=cache)
    alg = der.seq(der.oid(PBE_SHA1_3DES), der.seq(der.octet_string(salt), der.integer(iterations)))
    return alg, cbc_encrypt(decrepit_triple_des(cipher_key), iv, plaintext)


def encrypt_pbes2_aes256(plaintext: bytes, password: str, salt: bytes, iv: bytes,
                         iterations: int, *, cache: KdfCache | None = None) -> tuple[bytes, bytes]:
    """PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) as JDK 17 writes it: (AlgorithmIdentifier DER, ciphertext)."""
    cipher_key = pbkdf2("sha256", password, salt, iterations, 32, cache=cache)
    # keyLength and an explicit PRF with NULL parameters, as JDK 17 writes them
    kdf_params = der.seq(der.octet_string(salt), der.integer(iterations), der.integer(32),
                         der.seq(der.oid(HMAC_SHA256), der.null()))
    alg = der.seq(der.oid(PBES2), der.seq(der.seq(der.oid(PBKDF2), kdf_params),
                                          der.seq(der.oid(AES256_CBC), der.octet_string(iv))))
    return alg, cbc_encrypt(algorithms.AES(cipher_key), iv, plaintext)


def pkcs12_mac(hash_name: str, password: str, salt: bytes, iterations: int, content: bytes, *,
               cache: KdfCache | None = None) -> bytes:
    """The PKCS12 MAC (RFC 7292 B.4 key, HMAC) over ``content``."""
    size = hashlib.new(hash_name).digest_size
    key = pkcs12_kdf(hash_name, bmp_password(password), salt, purpose=KDF_MAC, iterations=iterations, length=size,
                     cache=cache)
    return hmac.new(key, content, hash_name).digest()


# -- JKS: Sun's KeyProtector, and the store hash ----------------------------------------------------------


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()  # noqa: S324 - fixed by the JKS/JCEKS formats


def _xor(data: bytes, stream: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream[:len(data)], "big")).to_bytes(len(data), "big")


def _jks_keystream(password: bytes, salt: bytes, length: int) -> bytes:
    stream = bytearray()
    digest = salt
    while len(stream) < length:
        digest = _sha1(password + digest)
        stream += digest
    return bytes(stream[:length])


def jks_protect(key_der: bytes, password_utf16: bytes, salt: bytes) -> bytes:
    """Sun KeyProtector: ``salt || key XOR keystream || SHA1(password || key)`` in an EncryptedPrivateKeyInfo."""
    body = _xor(key_der, _jks_keystream(password_utf16, salt, len(key_der)))
    check = _sha1(password_utf16 + key_der)
    algorithm = der.seq(der.oid(JKS_KEY_PROTECTOR), der.null())
    return der.seq(algorithm, der.octet_string(salt + body + check))


def jks_recover(encrypted: bytes, password_utf16: bytes, salt: bytes) -> bytes | None:
    """The key behind ``encrypted`` (XORed key || check, the salt split off), or None when the check fails."""
    body, check = encrypted[:-SHA1_LEN], encrypted[-SHA1_LEN:]
    key_der = _xor(body, _jks_keystream(password_utf16, salt, len(body)))
    if not hmac.compare_digest(_sha1(password_utf16 + key_der), check):
        return None
    return key_der


def store_digest(store_password_utf16: bytes, body: bytes) -> bytes:
    """The JKS/JCEKS store hash: ``SHA1(UTF-16BE(password) || "Mighty Aphrodite" || body)``."""
    return _sha1(store_password_utf16 + _INTEGRITY_WHITENER + body)


# -- JCEKS: PBEWithMD5AndTripleDES ------------------------------------------------------------------------


def pbe_md5_3des(password_ascii: bytes, salt: bytes, iterations: int, *,
                 cache: KdfCache | None = None) -> tuple[bytes, bytes]:
    """Key and IV of Sun's PBEWithMD5AndTripleDES (``com.sun.crypto.provider.PBES1Core``)."""
    def compute() -> tuple[bytes, bytes]:
        md5 = hashlib.md5  # MD5 is fixed by the JCEKS format
        halves = [salt[:4], salt[4:]]
        if halves[0] == halves[1]:
            # JDK 17 reverses the first half, [a,b,c,d] -> [d,c,b,a] (measured with Cipher
            # "PBEWithMD5AndTripleDES"); pyjks copies an old JCE typo, [d,a,b,d], that Java no longer has
            halves[0] = halves[0][::-1]
        derived = b""
        for half in halves:
            digest = half
            for _ in range(iterations):
                digest = md5(digest + password_ascii).digest()
            derived += digest
        return derived[:24], derived[24:]

    return _cached(cache, ("pbe-md5-3des", password_ascii, salt, iterations), compute)


def des_ede3_cbc(key: bytes, iv: bytes, data: bytes, *, encrypt: bool) -> bytes:
    """3DES-CBC without padding (the caller pads)."""
    cipher = Cipher(decrepit_triple_des(key), modes.CBC(iv))
    ctx = cipher.encryptor() if encrypt else cipher.decryptor()
    return ctx.update(data) + ctx.finalize()


def jceks_protect(key_der: bytes, password_ascii: bytes, salt: bytes, iterations: int, *,
                  cache: KdfCache | None = None) -> bytes:
    """PBEWithMD5AndTripleDES (PKCS#5 padding) in an EncryptedPrivateKeyInfo, as JceKeyStore writes it."""
    key, iv = pbe_md5_3des(password_ascii, salt, iterations, cache=cache)
    pad = DES_BLOCK - len(key_der) % DES_BLOCK
    encrypted = des_ede3_cbc(key, iv, key_der + bytes([pad]) * pad, encrypt=True)
    params = der.seq(der.octet_string(salt), der.integer(iterations))
    return der.seq(der.seq(der.oid(PBE_MD5_3DES), params), der.octet_string(encrypted))


def jceks_recover(encrypted: bytes, password_ascii: bytes, salt: bytes, iterations: int, *,
                  cache: KdfCache | None = None) -> bytes | None:
    """The PKCS#8 key behind ``encrypted``, or None when padding or shape show a wrong password."""
    key, iv = pbe_md5_3des(password_ascii, salt, iterations, cache=cache)
    plain = des_ede3_cbc(key, iv, encrypted, encrypt=False)
    pad = plain[-1]
    if not 1 <= pad <= DES_BLOCK or plain[-pad:] != bytes([pad]) * pad:
        return None
    key_der = plain[:-pad]
    return key_der if is_pkcs8(key_der) else None

