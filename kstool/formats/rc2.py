"""RC2 decryption (RFC 2268), only to read old PKCS12 files: pbeWithSHAAnd40BitRC2-CBC protected the certificates of
every ``openssl pkcs12 -export`` before OpenSSL 3.0 (and of ``-legacy`` since), and cryptography's RC2 takes only
128-bit keys. kstool never encrypts with RC2.

Checked against the RFC's test vectors, against cryptography's RC2 for 128-bit keys and against files OpenSSL wrote.
"""

from __future__ import annotations

PITABLE = bytes.fromhex(
    "d978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2"
    "179a59f587b34f1361456d8d09817d32bd8f40eb86b77b0bf09521225c6b4e82"
    "54d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb626"
    "6fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed7"
    "08e8eade8052eef784aa72ac354d6a2a961ad2715a1549744b9fd05e0418a4ec"
    "c2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731"
    "2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a9"
    "0d38341bab33ffb0bb480c5fb9b1cd2ec5f3db47e5a59c770aa62068fe7fc1ad"
)
BLOCK = 8


def expand_key(key: bytes, effective_bits: int) -> tuple[int, ...]:
    """The 64 16-bit subkeys (RFC 2268 section 2)."""
    if not 1 <= len(key) <= 128 or not 1 <= effective_bits <= 1024:
        raise ValueError("RC2 keys are 1 to 128 bytes, with 1 to 1024 effective bits")
    t = len(key)
    table = bytearray(128)
    table[:t] = key
    for i in range(t, 128):
        table[i] = PITABLE[(table[i - 1] + table[i - t]) & 0xFF]
    t8 = (effective_bits + 7) // 8
    tm = 0xFF % (1 << (8 + effective_bits - 8 * t8))
    table[128 - t8] = PITABLE[table[128 - t8] & tm]
    for i in range(127 - t8, -1, -1):
        table[i] = PITABLE[table[i + 1] ^ table[i + t8]]
    return tuple(table[2 * i] | table[2 * i + 1] << 8 for i in range(64))


def decrypt_block(k: tuple[int, ...], block: bytes) -> bytes:
    """One 8-byte block: five mixing rounds, a mashing round, six mixing, a mashing, five mixing (reversed)."""
    r = [block[0] | block[1] << 8, block[2] | block[3] << 8, block[4] | block[5] << 8, block[6] | block[7] << 8]
    j = 63
    for rnd in range(16):
        if rnd in (5, 11):  # R-MASH, reversed
            for i in (3, 2, 1, 0):
                r[i] = (r[i] - k[r[i - 1] & 63]) & 0xFFFF
        for i, s in ((3, 5), (2, 3), (1, 2), (0, 1)):  # R-MIX, reversed: rotate right, then subtract
            x = r[i]
            x = ((x >> s) | (x << (16 - s))) & 0xFFFF
            r[i] = (x - k[j] - (r[i - 1] & r[i - 2]) - (~r[i - 1] & r[i - 3])) & 0xFFFF
            j -= 1
    return bytes((r[0] & 0xFF, r[0] >> 8, r[1] & 0xFF, r[1] >> 8, r[2] & 0xFF, r[2] >> 8, r[3] & 0xFF, r[3] >> 8))


def decrypt_cbc(key: bytes, effective_bits: int, iv: bytes, ciphertext: bytes) -> bytes:
    """CBC decryption; the padding is left for the caller to check."""
    if len(iv) != BLOCK or len(ciphertext) % BLOCK:
        raise ValueError("RC2-CBC needs an 8-byte IV and whole 8-byte blocks")
    k = expand_key(key, effective_bits)
    out = bytearray()
    previous = iv
    for offset in range(0, len(ciphertext), BLOCK):
        block = ciphertext[offset:offset + BLOCK]
        plain = decrypt_block(k, block)
        out += bytes(a ^ b for a, b in zip(plain, previous, strict=True))
        previous = block
    return bytes(out)
