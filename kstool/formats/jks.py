"""JKS and JCEKS keystores: a deterministic encoder and a strict decoder.

Layout (``sun.security.provider.JavaKeyStore`` / ``com.sun.crypto.provider.JceKeyStore``), big-endian:
``magic(4) version(4) count(4)`` then per entry ``tag(4) alias(writeUTF) date(8 ms)`` followed by, for a
key (tag 1), ``len(4) EncryptedPrivateKeyInfo, n(4), n x [certType(writeUTF, v2 only) len(4) DER]``; for a
trusted certificate (tag 2), ``[certType] len(4) DER``. The store ends with
``SHA1(UTF-16BE(store password) || "Mighty Aphrodite" || everything before)``.

Keys are protected with Sun's KeyProtector (JKS, an SHA-1 XOR stream) or PBEWithMD5AndTripleDES (JCEKS).
Salts come from :func:`kstool.formats.derive.derive`, keyed by the private key, so equal inputs give equal
bytes and two keys never share a keystream. The decoder parses the structure, then checks the store hash,
and only then decrypts keys: a corrupt or hostile file never reaches the key crypto, and an absurd JCEKS
iteration count is refused before any PBE work, as Java does.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kstool.errors import FormatError, IterationLimitError, WrongPasswordError
from kstool.formats import der, protection
from kstool.formats.codec import DEFAULT_JCEKS_ITERATIONS, MAX_ITERATIONS
from kstool.formats.derive import derive
from kstool.formats.entries import Entry, KeyEntry, TrustedEntry, check_entries, detect_type, is_pkcs8
from kstool.formats.javaser import skip_sealed_object
from kstool.formats.protection import (
    DES_BLOCK,
    JCEKS_SALT_LEN,
    JKS_KEY_PROTECTOR,
    JKS_SALT_LEN,
    PBE_MD5_3DES,
    SHA1_LEN,
    KdfCache,
)

_TAG_KEY = 1
_TAG_TRUSTED = 2
_TAG_SECRET = 3  # JCEKS only: a serialized javax.crypto.SealedObject
_CERT_TYPE = "X.509"
_MAX_UTF_LEN = 0xFFFF


@dataclass(frozen=True, slots=True)
class _Format:
    name: str
    magic: bytes
    key_oid: str


_JKS = _Format("JKS", b"\xfe\xed\xfe\xed", JKS_KEY_PROTECTOR)
_JCEKS = _Format("JCEKS", b"\xce\xce\xce\xce", PBE_MD5_3DES)


# -- passwords and strings --------------------------------------------------------------------------------

def _utf16_password(password: str, what: str) -> bytes:
    """Java's ``char[]`` as bytes: UTF-16BE code units (JKS keys, and the store hash of both formats)."""
    try:
        return password.encode("utf-16-be")
    except UnicodeEncodeError:
        raise FormatError(f"the {what} password contains an unpaired surrogate; Java cannot use it") from None


def _ascii_password(password: str, what: str) -> bytes:
    """PBEWithMD5AndTripleDES takes printable ASCII only (``com.sun.crypto.provider.PBEKey``)."""
    if not all(" " <= ch <= "~" for ch in password):
        raise FormatError(f"the JCEKS {what} password must be printable ASCII (Java refuses other characters)")
    return password.encode("ascii")


def _modified_utf8(text: str, what: str) -> bytes:
    """``DataOutputStream.writeUTF`` bytes, without the length prefix."""
    out = bytearray()
    for ch in text:
        code = ord(ch)
        if code > 0xFFFF:
            raise FormatError(f"{what} {text!r} has a character outside the Basic Multilingual Plane "
                              f"(U+{code:04X}); use only characters up to U+FFFF")
        if 0xD800 <= code <= 0xDFFF:
            raise FormatError(f"{what} {text!r} contains an unpaired surrogate (U+{code:04X})")
        if 0x01 <= code <= 0x7F:
            out.append(code)
        elif code <= 0x7FF:  # includes NUL, which modified UTF-8 writes as C0 80
            out += bytes([0xC0 | code >> 6, 0x80 | code & 0x3F])
        else:
            out += bytes([0xE0 | code >> 12, 0x80 | (code >> 6) & 0x3F, 0x80 | code & 0x3F])
    if len(out) > _MAX_UTF_LEN:
        raise FormatError(f"{what} is {len(out)} bytes in modified UTF-8; Java allows at most {_MAX_UTF_LEN}")
    return bytes(out)


def _decode_modified_utf8(raw: bytes) -> str | None:
    """``DataInputStream.readUTF`` semantics; None when Java would throw UTFDataFormatException."""
    units = bytearray()
    i, end = 0, len(raw)
    while i < end:
        lead = raw[i]
        if lead < 0x80:
            code, size = lead, 1
        elif lead >> 5 == 0b110:
            code, size = lead & 0x1F, 2
        elif lead >> 4 == 0b1110:
            code, size = lead & 0x0F, 3
        else:
            return None
        if i + size > end:
            return None
        for cont in raw[i + 1:i + size]:
            if cont >> 6 != 0b10:
                return None
            code = code << 6 | cont & 0x3F
        units += code.to_bytes(2, "big")
        i += size
    try:  # Java strings are UTF-16: pairs of surrogates make one character
        return units.decode("utf-16-be")
    except UnicodeDecodeError:
        return None


# -- encoding ---------------------------------------------------------------------------------------------

def _utf(text: str, what: str) -> bytes:
    raw = _modified_utf8(text, what)
    return struct.pack(">H", len(raw)) + raw


def _blob(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


def _encode_entry(entry: Entry, protect: Callable[[KeyEntry], bytes]) -> bytes:
    cert_type = _utf(_CERT_TYPE, "certificate type")
    head = _utf(entry.alias, "alias") + struct.pack(">q", entry.timestamp_ms)
    if isinstance(entry, TrustedEntry):
        return struct.pack(">i", _TAG_TRUSTED) + head + cert_type + _blob(entry.cert_der)
    chain = b"".join(cert_type + _blob(cert) for cert in entry.chain_der)
    return (struct.pack(">i", _TAG_KEY) + head + _blob(protect(entry))
            + struct.pack(">i", len(entry.chain_der)) + chain)


def _encode_store(fmt: _Format, entries: Sequence[Entry], store_password: bytes,
                  protect: Callable[[KeyEntry], bytes]) -> bytes:
    check_entries(entries, "jceks" if fmt is _JCEKS else "jks")
    body = fmt.magic + struct.pack(">ii", 2, len(entries))
    body += b"".join(_encode_entry(entry, protect) for entry in entries)
    return body + protection.store_digest(store_password, body)


def encode_jks(entries: Sequence[Entry], store_password: str, key_password: str) -> bytes:
    """A version-2 JKS store holding ``entries`` in order; same inputs give the same bytes."""
    store_pw = _utf16_password(store_password, "store")
    key_pw = _utf16_password(key_password, "key")

    def protect(entry: KeyEntry) -> bytes:
        alias = _modified_utf8(entry.alias, "alias")
        salt = derive("kstool/jks/key-salt", entry.key_der, key_pw, alias, length=JKS_SALT_LEN)
        return protection.jks_protect(entry.key_der, key_pw, salt)

    return _encode_store(_JKS, entries, store_pw, protect)


def encode_jceks(entries: Sequence[Entry], store_password: str, key_password: str, *,
                 iterations: int = DEFAULT_JCEKS_ITERATIONS, cache: KdfCache | None = None) -> bytes:
    """A version-2 JCEKS store; keys use PBEWithMD5AndTripleDES with ``iterations`` rounds.

    ``cache``: pass the one the checking ``decode_jceks`` gets, and it derives no key again.
    """
    if isinstance(iterations, bool) or not isinstance(iterations, int) or not 1 <= iterations <= MAX_ITERATIONS:
        raise TypeError(f"iterations must be an int in 1..{MAX_ITERATIONS}")
    _ascii_password(store_password, "store")  # Java would take it, but one rule for JCEKS is clearer
    store_pw = _utf16_password(store_password, "store")
    key_pw = _ascii_password(key_password, "key")

    def protect(entry: KeyEntry) -> bytes:
        alias = _modified_utf8(entry.alias, "alias")
        salt = derive("kstool/jceks/key-salt", entry.key_der, key_pw, alias, length=JCEKS_SALT_LEN)
        return protection.jceks_protect(entry.key_der, key_pw, salt, iterations, cache=cache)

    return _encode_store(_JCEKS, entries, store_pw, protect)


# -- decoding ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ProtectedKey:
    """A key as stored: parsed, not yet decrypted."""

    alias: str
    timestamp_ms: int
    salt: bytes
    iterations: int  # JCEKS only
    encrypted: bytes  # JKS: XORed key || check; JCEKS: 3DES-CBC ciphertext
    chain_der: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class _SecretKey:
    """A JCEKS secret-key entry, skipped unread (see kstool.formats.javaser)."""

    alias: str


class _Reader:
    def __init__(self, fmt: _Format, data: bytes) -> None:
        self.fmt, self.data, self.pos = fmt, data, 0

    def fail(self, problem: str, kind: type[FormatError] = FormatError) -> FormatError:
        return kind(f"not a valid {self.fmt.name} keystore: {problem} (offset {self.pos})")

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"truncated or corrupt: {what} runs past the end of the data")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def int32(self, what: str) -> int:
        value: int = struct.unpack(">i", self.take(4, what))[0]
        return value

    def count(self, what: str) -> int:
        value = self.int32(what)
        if value < 0:
            raise self.fail(f"negative {what} ({value})")
        return value

    def int64(self, what: str) -> int:
        value: int = struct.unpack(">q", self.take(8, what))[0]
        return value

    def utf(self, what: str) -> str:
        (length,) = struct.unpack(">H", self.take(2, what))
        text = _decode_modified_utf8(self.take(length, what))
        if text is None:
            raise self.fail(f"{what} is not valid modified UTF-8")
        return text


def _read_cert(reader: _Reader, version: int) -> bytes:
    if version == 2:
        cert_type = reader.utf("certificate type")
        if cert_type != _CERT_TYPE:
            raise reader.fail(f"unsupported certificate type {cert_type!r} (only X.509)")
    cert = reader.take(reader.count("certificate length"), "certificate")
    if not cert:
        raise reader.fail("empty certificate")
    return cert


def _epki(reader: _Reader, alias: str, epki: bytes) -> tuple[str, der.Node | None, bytes]:
    """(algorithm OID, parameters, encryptedData) of an EncryptedPrivateKeyInfo."""
    try:
        fields = der.decode(epki).expect(der.SEQUENCE, "EncryptedPrivateKeyInfo").children()
        if len(fields) != 2:
            raise FormatError(f"{len(fields)} fields instead of 2")
        parts = fields[0].expect(der.SEQUENCE, "AlgorithmIdentifier").children()
        if not 1 <= len(parts) <= 2:
            raise FormatError("malformed AlgorithmIdentifier")
        params = parts[1] if len(parts) == 2 else None
        return parts[0].as_oid(), params, fields[1].expect(der.OCTET_STRING, "encryptedData").value
    except FormatError as exc:
        raise reader.fail(f"key {alias!r}: malformed EncryptedPrivateKeyInfo: {exc}") from None


def _pbe_params(reader: _Reader, alias: str, params: der.Node | None) -> tuple[bytes, int]:
    try:
        if params is None:
            raise FormatError("missing")
        fields = params.expect(der.SEQUENCE, "PBEParameter").children()
        if len(fields) != 2:
            raise FormatError(f"{len(fields)} fields instead of 2")
        salt, iterations = fields[0].expect(der.OCTET_STRING, "salt").value, fields[1].as_int()
    except FormatError as exc:
        raise reader.fail(f"key {alias!r}: malformed PBE parameters: {exc}") from None
    if len(salt) != JCEKS_SALT_LEN:
        raise reader.fail(f"key {alias!r}: PBE salt is {len(salt)} bytes, expected {JCEKS_SALT_LEN}")
    if not 1 <= iterations <= MAX_ITERATIONS:  # refused before any PBE work, as Java does
        raise reader.fail(f"key {alias!r}: iteration count {iterations} is outside 1..{MAX_ITERATIONS}",
                          IterationLimitError)
    return salt, iterations


def _parse_protected(reader: _Reader, alias: str, epki: bytes) -> tuple[bytes, int, bytes]:
    """(salt, iterations, encrypted) of a protected key; structure only, no crypto."""
    oid, params, encrypted = _epki(reader, alias, epki)
    if oid != reader.fmt.key_oid:
        raise reader.fail(f"key {alias!r}: unsupported key protection algorithm {oid}")
    if reader.fmt is _JKS:
        if params is not None and params.tag != der.NULL:
            raise reader.fail(f"key {alias!r}: unexpected KeyProtector parameters")
        if len(encrypted) <= JKS_SALT_LEN + SHA1_LEN:
            raise reader.fail(f"key {alias!r}: protected key too short")
        return encrypted[:JKS_SALT_LEN], 0, encrypted[JKS_SALT_LEN:]
    salt, iterations = _pbe_params(reader, alias, params)
    if not encrypted or len(encrypted) % DES_BLOCK:
        raise reader.fail(f"key {alias!r}: encrypted key is not a whole number of 3DES blocks")
    return salt, iterations, encrypted


def _read_entry(reader: _Reader, version: int) -> ProtectedKey | TrustedEntry | _SecretKey:
    tag = reader.int32("entry tag")
    if tag not in ((_TAG_KEY, _TAG_TRUSTED) if reader.fmt is _JKS else (_TAG_KEY, _TAG_TRUSTED, _TAG_SECRET)):
        raise reader.fail(f"unknown entry tag {tag}")
    alias = reader.utf("alias")
    timestamp_ms = reader.int64("entry date")
    if tag == _TAG_TRUSTED:
        return TrustedEntry(alias, _read_cert(reader, version), timestamp_ms)
    if tag == _TAG_SECRET:  # a serialized Java object: measured and skipped, never deserialized
        try:
            reader.pos = skip_sealed_object(reader.data, reader.pos)
        except FormatError as e:
            raise FormatError(f"not a valid JCEKS keystore: entry {alias!r}: {e}") from None
        return _SecretKey(alias)
    salt, iterations, encrypted = _parse_protected(
        reader, alias, reader.take(reader.count("key length"), "protected key"))
    chain = tuple(_read_cert(reader, version) for _ in range(reader.count("certificate count")))
    return ProtectedKey(alias, timestamp_ms, salt, iterations, encrypted, chain)


def _wrong_magic(fmt: _Format, data: bytes) -> FormatError:
    found = detect_type(data)
    if found is not None and found != fmt.name.lower():
        return FormatError(f"not a {fmt.name} keystore: the data looks like {found.upper()}")
    return FormatError(f"not a {fmt.name} keystore: bad magic number")


def _parse(fmt: _Format, data: bytes) -> tuple[list[ProtectedKey | TrustedEntry | _SecretKey], int]:
    """Every entry, and the offset where the store hash starts; structure only."""
    if data[:4] != fmt.magic:
        raise _wrong_magic(fmt, data)
    reader = _Reader(fmt, data)
    reader.take(4, "magic")
    version = reader.int32("version")
    if version not in (1, 2):
        raise reader.fail(f"unsupported version {version}")
    entries = [_read_entry(reader, version) for _ in range(reader.count("entry count"))]
    body_end = reader.pos
    reader.take(SHA1_LEN, "integrity hash")
    if reader.pos != len(data):
        raise reader.fail(f"{len(data) - reader.pos} bytes of trailing data after the integrity hash")
    seen: set[str] = set()
    for entry in entries:
        if entry.alias.lower() in seen:
            raise FormatError(f"not a valid {fmt.name} keystore: duplicate alias {entry.alias!r}")
        seen.add(entry.alias.lower())
    return entries, body_end


def _recover_jks(item: ProtectedKey, password: str) -> bytes | None:
    return protection.jks_recover(item.encrypted, _utf16_password(password, "key"), item.salt)


def _recover_jceks(item: ProtectedKey, password: str, cache: KdfCache | None) -> bytes | None:
    return protection.jceks_recover(item.encrypted, _ascii_password(password, "key"), item.salt, item.iterations,
                                    cache=cache)


def _recover(fmt: _Format, item: ProtectedKey, password: str, defaulted: bool, cache: KdfCache | None) -> KeyEntry:
    key_der = _recover_jks(item, password) if fmt is _JKS else _recover_jceks(item, password, cache)
    if key_der is None:
        hint = " (it differs from the store password: pass the key password)" if defaulted else ""
        raise WrongPasswordError(f"{fmt.name} keystore: the key password for alias {item.alias!r} "
                                 f"is wrong{hint}")
    if not is_pkcs8(key_der):
        raise FormatError(f"{fmt.name} keystore: the key of alias {item.alias!r} is not a PKCS#8 private key")
    return KeyEntry(item.alias, key_der, item.chain_der, item.timestamp_ms)


def _check_store_hash(fmt: _Format, data: bytes, body_end: int, store_password: str) -> None:
    expected = protection.store_digest(_utf16_password(store_password, "store"), data[:body_end])
    if not hmac.compare_digest(expected, data[body_end:]):
        raise WrongPasswordError(f"{fmt.name} keystore password incorrect or file corrupted "
                                 "(integrity check failed)")


def _parse_checked(fmt: _Format, data: bytes,
                   store_password: str) -> tuple[list[ProtectedKey | TrustedEntry | _SecretKey], int]:
    """``_parse``, except that a store whose bytes fail to parse and fail the integrity hash too (a flipped
    byte, a wrong password) is reported as the integrity failure it is, not as the field that broke."""
    try:
        parsed = _parse(fmt, data)
    except IterationLimitError:
        raise
    except FormatError:
        if data[:4] == fmt.magic and len(data) > SHA1_LEN:
            _check_store_hash(fmt, data, len(data) - SHA1_LEN, store_password)
        raise
    _check_store_hash(fmt, data, parsed[1], store_password)
    return parsed


def prove_store_password(data: bytes, store_password: str, *, jceks: bool = False) -> None:
    """Check a JKS (or JCEKS) store's integrity hash with ``store_password``; nothing is decrypted."""
    _parse_checked(_JCEKS if jceks else _JKS, data, store_password)


def protected_keys(data: bytes, *, jceks: bool = False) -> tuple[ProtectedKey, ...]:
    """The key entries of a JKS (or JCEKS) store as stored: salt, iterations and ciphertext, decrypting nothing
    and checking no password (structure only; for tools and tests that look at key protection)."""
    return tuple(e for e in _parse(_JCEKS if jceks else _JKS, data)[0] if isinstance(e, ProtectedKey))


def encode_with_protector(entries: Sequence[Entry], store_password: str, protect: Callable[[KeyEntry], bytes], *,
                          jceks: bool = False) -> bytes:
    """A version-2 store whose keys ``protect`` turns into EncryptedPrivateKeyInfo DER (see ``protection``):
    for tests and tools that need a protection the encoders never choose (a given salt, an odd count)."""
    return _encode_store(_JCEKS if jceks else _JKS, entries, _utf16_password(store_password, "store"), protect)


def secret_key_aliases(data: bytes) -> tuple[str, ...]:
    """The aliases of a JCEKS store's secret-key entries, in file order (structure only, no password)."""
    return tuple(e.alias for e in _parse(_JCEKS, data)[0] if isinstance(e, _SecretKey))


def _decode(fmt: _Format, data: bytes, store_password: str, key_password: str | None, *,
            alias: str | None, keys: bool = True, skip_secret_keys: bool = False,
            cache: KdfCache | None = None) -> tuple[Entry, ...]:
    parsed, _ = _parse_checked(fmt, data, store_password)
    secret = [e.alias for e in parsed if isinstance(e, _SecretKey)]
    if secret and not skip_secret_keys:
        raise FormatError(f"JCEKS entry {secret[0]!r} holds a secret key, which kstool does not manage (only key "
                          "pairs and certificates; as an import source, its key pairs can be imported)")
    entries = [e for e in parsed if not isinstance(e, _SecretKey)]
    if alias is not None:  # one entry only: other keys may have passwords of their own (keytool -srcalias)
        entries = [e for e in entries if e.alias.lower() == alias.lower()]
    password = store_password if key_password is None else key_password
    if not keys:  # the store hash proved the store password; the keys stay encrypted (key_der empty)
        return tuple(KeyEntry(e.alias, b"", e.chain_der, e.timestamp_ms) if isinstance(e, ProtectedKey) else e
                     for e in entries)
    return tuple(_recover(fmt, e, password, key_password is None, cache) if isinstance(e, ProtectedKey) else e
                 for e in entries)


def decode_jks(data: bytes, store_password: str, key_password: str | None = None, *,
               alias: str | None = None, keys: bool = True) -> tuple[Entry, ...]:
    """Entries of a JKS store (v1 or v2), in file order; keys need ``key_password`` (default: store's).

    With ``alias``, only that entry (compared case-insensitively) is returned and decrypted. ``keys=False``
    checks the store and leaves every key encrypted (``key_der`` empty).
    """
    return _decode(_JKS, data, store_password, key_password, alias=alias, keys=keys)


def decode_jceks(data: bytes, store_password: str, key_password: str | None = None, *,
                 alias: str | None = None, keys: bool = True, skip_secret_keys: bool = False,
                 cache: KdfCache | None = None) -> tuple[Entry, ...]:
    """Entries of a JCEKS store (v1 or v2), in file order; secret-key entries are refused (FormatError), or
    left out with ``skip_secret_keys`` (``secret_key_aliases`` lists them). ``cache``: derivations to reuse."""
    return _decode(_JCEKS, data, store_password, key_password, alias=alias, keys=keys,
                   skip_secret_keys=skip_secret_keys, cache=KdfCache() if cache is None else cache)


def trusted_entries_unchecked(data: bytes, *, jceks: bool = False) -> tuple[TrustedEntry, ...]:
    """The trusted-certificate entries of a JKS (or JCEKS) store, in file order, without its password: the store
    hash is not checked (as ``keytool -list`` without ``-storepass``), keys stay encrypted and unread. Structure
    only, bounded like every parse here; a source of trust read this way is only as trustworthy as the file."""
    return tuple(e for e in _parse(_JCEKS if jceks else _JKS, data)[0] if isinstance(e, TrustedEntry))
