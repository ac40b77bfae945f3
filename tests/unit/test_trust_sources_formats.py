"""Reading the trusted entries of a source store (codec.trusted_entries): key entries left out, the password
optional where the format allows it, the integrity check run when one is given."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from kstool.errors import WrongPasswordError
from kstool.formats.codec import encode, trusted_entries
from kstool.formats.entries import KeyEntry, StoreType, TrustedEntry
from kstool.formats.pkcs12 import PasswordNeededError
from tests.support.trustcerts import issue

PASSWORD = "source-pw"


def _entries() -> list[KeyEntry | TrustedEntry]:
    root, other, mine = issue("Root One"), issue("Root Two"), issue("My Key", ca=False)
    key = mine.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    return [KeyEntry("mykey", key, (mine.der,), 1000), TrustedEntry("root one", root.der, 2000),
            TrustedEntry("root two", other.der, 3000)]


@pytest.mark.parametrize("store_type", ["jks", "jceks", "pkcs12"])
def test_only_trusted_entries_with_the_password(store_type: StoreType) -> None:
    entries = _entries()
    data = encode(entries, store_type, PASSWORD)
    got = trusted_entries(data, store_type, PASSWORD)
    assert [(e.alias, e.cert_der) for e in got] == [(e.alias, e.cert_der) for e in entries[1:]
                                                    if isinstance(e, TrustedEntry)]
    with pytest.raises(WrongPasswordError):
        trusted_entries(data, store_type, "not-the-password")


@pytest.mark.parametrize("store_type", ["jks", "jceks"])
def test_jks_and_jceks_need_no_password(store_type: StoreType) -> None:
    entries = _entries()
    got = trusted_entries(encode(entries, store_type, PASSWORD), store_type, None)
    assert [e.alias for e in got] == ["root one", "root two"]


def test_a_pkcs12_with_a_mac_needs_its_password() -> None:
    with pytest.raises(PasswordNeededError, match="MAC"):
        trusted_entries(encode(_entries(), "pkcs12", PASSWORD), "pkcs12", None)
