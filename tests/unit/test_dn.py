"""kstool.crypto.dn against the judge: JDK 17's own -dname parser.

keytool -genkeypair builds its subject with ``new sun.security.x509.X500Name(dname)``; tests/support/java/DnDer.java
runs exactly that for a whole table in one JVM, and a few strings go through real ``keytool -genkeypair``
to show the shortcut writes the same DER as keytool.
"""

from __future__ import annotations

import os
import random
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from kstool.crypto.dn import DNError, format_dname, parse_rdns, to_name
from kstool.errors import KstoolError


def parse_dname(text: str) -> x509.Name:
    return to_name(parse_rdns(text))


HERE = Path(__file__).resolve().parents[1] / "support"  # java/ sources live in tests/support
EXPORTS = ["--add-exports", "java.base/sun.security.x509=ALL-UNNAMED"]

# Strings keytool accepts; parse_dname must give the same DER.
ACCEPTED = [
    "CN=testdomain.org, OU=Home,O=Home,L=SL,S=WS,C=LK",  # the WSO2 one
    "CN=localhost",
    "CN=a, OU=b, O=c, L=d, ST=e, C=f",
    "cn=a,ou=b,o=c,l=d,st=e,c=LK",  # lower-case keywords
    "Cn=a, oU=b, sT=e",
    "CN=a;OU=b;O=c",  # ';' separates RDNs too
    "CN=a ; OU=b , O=c",
    "   CN   =   spaced out   ,   O =  x  ",  # blanks around keywords and values
    "CN=internal  double  blanks",
    "CN=\\ leading and trailing\\ ",  # escaped blanks are kept
    "CN=\\  two escaped\\  ",
    "CN=Acme\\, Inc.",
    "O=\"Acme, Inc.\"",  # quoted value
    "O=\"  quoted blanks trimmed  \"",
    "O=\"a;b+c=d<e>f#g\", CN=x",
    "O=\"with \\\"escaped\\\" quotes\"",
    "CN=a\\+b\\=c\\\"d\\\\e\\<f\\>g\\#h\\;i",  # every escapable character
    "CN=\\#starts with hash",
    "CN=a=b",  # a bare '=' in a value is fine
    "CN=a+O=b",  # multi-valued RDN
    "O=b+CN=a",  # DER sorts the SET: same bytes as the line above
    "CN=a + O=b + OU=c, C=LK",
    "OU=z+OU=y+OU=x",
    "CN=café",  # non-ASCII: UTF8String
    "CN=日本, O=東京",
    "CN=😀 emoji",
    "O=Ünïcödé GmbH, C=DE",
    "CN=under_score",  # '_' is not PrintableString: UTF8String
    "CN=a*b@c&d",
    "CN=all printable '()\\+\\,-./:=? chars",
    "EMAILADDRESS=admin@example.com, CN=x",  # IA5String
    "EMAIL=admin@example.com",
    "emailaddress=upper@EXAMPLE.com",
    "DC=example, DC=com",  # IA5String
    "UID=jdoe, DC=example, DC=org",
    "SERIALNUMBER=12345, CN=x",
    "T=Engineer, CN=x",
    "STREET=1 Main St, L=Springfield",
    "DNQ=q1, DNQUALIFIER=q2",
    "SURNAME=Doe, GIVENNAME=John, INITIALS=JD, GENERATION=III",
    "IP=10.0.0.1",
    "OID.2.5.4.3=by oid",
    "oid.2.5.4.10=lower-case oid prefix",
    "2.5.4.3=bare oid",
    "OID.1.2.3.4.5=private",
    "OID.2.999.1=big second arc",
    "OID.1.2.840.113549.1.9.1=oid of email",  # IA5String by OID as well
    "OID.0.9.2342.19200300.100.1.25=dc by oid",
    "CN=",  # an empty value: an empty PrintableString
    "CN=   ",
    "EMAILADDRESS=",
    "C=LKX",  # keytool does not check the country length
    "C=",
    "CN=\\41\\42C",  # hex pairs: UTF8String
    "CN=\\C3\\A9t\\C3\\A9",
    "CN=\\41 \\42",  # keytool drops blanks before trailing hex pairs: "AB"
    "CN=#0c03616263",  # #hex: the DER of a UTF8String
    "CN=#1303616263",
    "CN=#0403616263",
    "CN=#1e0400e900e9",  # BMPString
    "CN=tab\tinside",
    "CN=\"tab\ttrimmed\t\"",
    "CN=newline\\\nescaped",
    "CN=x,O=y,OU=z,L=w,ST=v,C=LK,DC=d,UID=u",
]

# Strings keytool refuses: parse_dname must raise DNError.
REJECTED = [
    "CN",  # no '='
    "CN=a,",  # empty RDN at the end
    ",CN=a",
    "CN=a,,O=b",
    "CN=a+",  # empty AVA
    "CN=a++O=b",
    "FOO=bar",  # unknown keyword
    "E=a@b.c",  # OpenSSL's E is not Java's
    "OID.CN=x",
    "OID.3.1=x",  # first arc > 2
    "OID.1.40=x",  # second arc > 39
    "OID.1=x",  # one arc
    "OID.1..2=x",
    "OID.1.2.=x",
    "CN=a\\",  # dangling escape
    "CN=a\\q",  # not escapable
    "CN=\\4",  # one hex digit
    "CN=\\4x",
    "CN=\"unterminated",
    "CN=\"a\"b",  # text after the closing quote
    "CN=a\"b",  # bare quote
    "CN=a<b",  # bare '<'
    "CN=a>b",
    "CN=#",  # #hex without digits
    "CN=#abc",  # odd digits
    "CN=#0c0361626",
    "CN=#zz",
    "CN=#0c03616263 ",  # blanks are not hex digits
    "   ",
    "CN=a'()+,-./",  # unescaped '+' and ',' split the value: empty AVA
]

# Strings keytool accepts but kstool refuses on purpose (see kstool/crypto/dn.py).
REFUSED_BY_KSTOOL = [
    ("", "empty"),
    ("CN=a+CN=a", "twice in one multi-valued RDN"),
    ("EMAILADDRESS=é@example.com", "EMAILADDRESS is an IA5String"),
    ("DC=日本", "DC is an IA5String"),
    ("CN=#020101", "only when they encode a character string"),  # an INTEGER
]

# A handful that also go through real keytool -genkeypair (slow: one JVM each).
THROUGH_KEYTOOL = [
    "CN=testdomain.org, OU=Home,O=Home,L=SL,S=WS,C=LK",
    "O=b+CN=a, EMAILADDRESS=x@y.z, DC=example",
    "CN=日本 \\+ é, O=\"Acme, Inc.\";OU=\\ x\\ ",
    "OID.1.2.3.4=v, UID=u, T=t, CN=\\41\\42",
]


@dataclass(frozen=True)
class JavaResult:
    der: bytes | None
    error: str | None


def _run_dnder(classes: Path, work: Path, strings: list[str]) -> list[JavaResult]:
    listing = work / f"dn-{len(list(work.iterdir()))}.txt"
    listing.write_text("".join(s.encode("utf-8").hex() + "\n" for s in strings), encoding="ascii")
    out = subprocess.run(["java", *EXPORTS, "-cp", str(classes), "DnDer", str(listing)],
                         capture_output=True, text=True, check=True, timeout=120)
    lines = out.stdout.splitlines()
    assert len(lines) == len(strings), out.stderr
    return [JavaResult(bytes.fromhex(line[3:]), None) if line.startswith("OK ") else JavaResult(None, line[4:])
            for line in lines]


@pytest.fixture(scope="session")
def java_dn(jdk: None, tmp_path_factory: pytest.TempPathFactory):
    """``java_dn(strings)`` -> what JDK 17's X500Name(String) makes of each (one JVM per call)."""
    work = tmp_path_factory.mktemp("dnder")
    subprocess.run(["javac", *EXPORTS, "-nowarn", "-d", str(work), str(HERE / "java" / "DnDer.java")],
                   check=True, capture_output=True, timeout=120)
    return lambda strings: _run_dnder(work, work, strings)


@pytest.fixture(scope="session")
def java_table(java_dn) -> dict[str, JavaResult]:
    strings = ACCEPTED + REJECTED + [s for s, _ in REFUSED_BY_KSTOOL] + THROUGH_KEYTOOL
    return dict(zip(strings, java_dn(strings), strict=True))


@pytest.fixture(scope="session")
def keytool_subjects(jdk: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Subject DER of real keytool -genkeypair certificates, one alias per THROUGH_KEYTOOL string."""
    store = tmp_path_factory.mktemp("dn-keytool") / "dn.p12"
    env = dict(os.environ, KSTOOL_TEST_STOREPASS="changeit")
    for i, dname in enumerate(THROUGH_KEYTOOL):
        subprocess.run(["keytool", "-genkeypair", "-keyalg", "EC", "-groupname", "secp256r1",
                        "-storetype", "PKCS12", "-dname", dname, "-alias", f"a{i}", "-keystore", str(store),
                        "-storepass:env", "KSTOOL_TEST_STOREPASS"],
                       env=env, capture_output=True, check=True, timeout=120)
    store_data = pkcs12.load_pkcs12(store.read_bytes(), b"changeit")
    by_alias = {(c.friendly_name or b"").decode(): c.certificate for c in store_data.additional_certs}
    if store_data.cert is not None and store_data.cert.friendly_name is not None:
        by_alias[store_data.cert.friendly_name.decode()] = store_data.cert.certificate
    return {dname: by_alias[f"a{i}"].subject.public_bytes() for i, dname in enumerate(THROUGH_KEYTOOL)}


# -- agreement with Java ----------------------------------------------------------------------------------

def test_table_is_big_enough() -> None:
    assert len(ACCEPTED) >= 40 and len(set(ACCEPTED)) == len(ACCEPTED)


@pytest.mark.java
@pytest.mark.parametrize("dname", ACCEPTED)
def test_same_der_as_keytool(dname: str, java_table: dict[str, JavaResult]) -> None:
    java = java_table[dname]
    assert java.error is None, f"the table says keytool accepts {dname!r}, but Java says: {java.error}"
    assert parse_dname(dname).public_bytes() == java.der


@pytest.mark.java
@pytest.mark.parametrize("dname", REJECTED)
def test_rejected_like_keytool(dname: str, java_table: dict[str, JavaResult]) -> None:
    assert java_table[dname].der is None, f"the table says keytool rejects {dname!r}"
    with pytest.raises(DNError):
        parse_dname(dname)


@pytest.mark.java
@pytest.mark.parametrize(("dname", "message"), REFUSED_BY_KSTOOL)
def test_refused_by_kstool_on_purpose(dname: str, message: str, java_table: dict[str, JavaResult]) -> None:
    with pytest.raises(DNError, match=message):
        parse_dname(dname)


@pytest.mark.java
@pytest.mark.slow
@pytest.mark.parametrize("dname", THROUGH_KEYTOOL)
def test_dnder_shortcut_equals_real_keytool(dname: str, java_table: dict[str, JavaResult],
                                            keytool_subjects: dict[str, bytes]) -> None:
    assert keytool_subjects[dname] == java_table[dname].der
    assert parse_dname(dname).public_bytes() == keytool_subjects[dname]


def _generated_dnames(seed: int, count: int) -> list[str]:
    """Strings built from the characters the parser cares about: most are wrong, all must agree."""
    rng = random.Random(seed)
    atoms = ["CN", "O", "ou", "S", "EMAIL", "DC", "OID.2.5.4.3", "1.2", "=", "=", ",", ";", "+", " ", " ",
             "\\", "\\", '"', "#", "a", "Z", "é", "日", "<", ">", "\n", "\t", "41", "C3", "A9", "0c0161", "'",
             "\\,", "\\\\", "\\ "]
    prefixes = ["", "CN=", "CN=", "O=", "CN=a,O=", "OU=x+CN="]
    return [rng.choice(prefixes) + "".join(rng.choice(atoms) for _ in range(rng.randint(1, 12)))
            for _ in range(count)]


@pytest.mark.java
def test_generated_strings_agree_with_java(java_dn) -> None:
    strings = _generated_dnames(seed=20240101, count=4000)
    refused_on_purpose = 0
    for dname, java in zip(strings, java_dn(strings), strict=True):
        try:
            ours: bytes | None = parse_dname(dname).public_bytes()
        except DNError as e:
            ours = None
            if java.der is not None:  # only the documented refusals may differ
                assert any(m in str(e) for _, m in REFUSED_BY_KSTOOL), (dname, str(e))
                refused_on_purpose += 1
        if ours is not None:
            assert ours == java.der, dname
    assert refused_on_purpose < 40


# -- semantics, without Java -------------------------------------------------------------------------------

def _attrs(name: x509.Name) -> list[list[tuple[str, str | bytes, _ASN1Type]]]:
    return [[(a.oid.dotted_string, a.value, a._type) for a in rdn] for rdn in name.rdns]


P, U, IA5 = _ASN1Type.PrintableString, _ASN1Type.UTF8String, _ASN1Type.IA5String


@pytest.mark.parametrize(("dname", "expected"), [
    ("CN=a, OU=b, O=c, L=d, S=e, C=LK",  # DER order is the string reversed
     [[("2.5.4.6", "LK", P)], [("2.5.4.8", "e", P)], [("2.5.4.7", "d", P)], [("2.5.4.10", "c", P)],
      [("2.5.4.11", "b", P)], [("2.5.4.3", "a", P)]]),
    ("CN=  a b  ", [[("2.5.4.3", "a b", P)]]),
    ("CN=\\ a\\ ", [[("2.5.4.3", " a ", P)]]),
    ("CN=a_b", [[("2.5.4.3", "a_b", U)]]),
    ("CN=\\41", [[("2.5.4.3", "A", U)]]),  # a hex pair always makes a UTF8String
    ("EMAIL=a@b.c", [[("1.2.840.113549.1.9.1", "a@b.c", IA5)]]),
    ("EMAIL=", [[("1.2.840.113549.1.9.1", "", P)]]),  # keytool's empty value is always PrintableString
    ("O=\"Acme, Inc.\"", [[("2.5.4.10", "Acme, Inc.", P)]]),
    ("CN=#1e0400e900e9", [[("2.5.4.3", "éé", _ASN1Type.BMPString)]]),
])
def test_parsed_attributes(dname: str, expected: list[list[tuple[str, str, _ASN1Type]]]) -> None:
    assert _attrs(parse_dname(dname)) == expected


def test_multi_valued_rdn_is_one_rdn() -> None:
    name = parse_dname("CN=a+O=b, C=LK")
    assert [len(rdn) for rdn in name.rdns] == [1, 2]


@pytest.mark.parametrize(("dname", "message"), [
    ("", "the dname is empty; keytool would write a certificate with an empty subject that Java cannot load; "
         "give at least a common name, e.g. 'CN=example.com'"),
    ("CN=a<b", "invalid dname 'CN=a<b' at character 5: '<' must be escaped in a value; escape it with a "
               "backslash or put the whole value in double quotes"),
    ("CN=a\\", "invalid dname 'CN=a\\\\' at character 5: the value ends with a lone backslash; write '\\\\' "
               "for a literal backslash"),
    ("CN=\"abc", "invalid dname 'CN=\"abc' at character 4: the quoted value has no closing '\"'; add the "
                 "closing quote, or write '\\\"' for a literal quote"),
    ("CN=x,,O=y", "invalid dname 'CN=x,,O=y' at character 6: empty attribute (two separators in a row, or one "
                  "at the start or end); remove the extra ',', ';' or '+', or escape it, e.g. '\\,'"),
    ("CN=x, OU", "invalid dname 'CN=x, OU' at character 6: 'OU' has no '='; write KEYWORD=value, "
                 "e.g. CN=example.com"),
    ("CN=x,FOO=bar", "invalid dname 'CN=x,FOO=bar' at character 6: unknown keyword 'FOO'; use one of C, CN, DC, "
                     "DNQ, DNQUALIFIER, EMAIL, EMAILADDRESS, GENERATION, GIVENNAME, INITIALS, IP, L, O, OU, S, "
                     "SERIALNUMBER, ST, STREET, SURNAME, T, UID, or an OID such as OID.2.5.4.3"),
    ("OID.1.40=x", "invalid dname 'OID.1.40=x' at character 1: '1.40' is not a valid object identifier; write "
                   "it as OID.n.n.n with at least two numeric arcs, the first 0, 1 or 2"),
    ("CN=\\q", "invalid dname 'CN=\\\\q' at character 5: 'q' cannot be escaped; a backslash may only precede "
               ", = + < > # ; \\ \" blank or two hex digits"),
])
def test_error_messages(dname: str, message: str) -> None:
    with pytest.raises(DNError) as info:
        parse_dname(dname)
    assert str(info.value) == message
    assert isinstance(info.value, KstoolError)


# -- format_dname -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("dname", "shown"), [
    ("CN=testdomain.org, OU=Home,O=Home,L=SL,S=WS,C=LK", "CN=testdomain.org, OU=Home, O=Home, L=SL, ST=WS, C=LK"),
    ("cn=a;email=x@y.z", "CN=a, EMAILADDRESS=x@y.z"),
    ("O=\"Acme, Inc.\"", "O=Acme\\, Inc."),
    ("CN=a+O=b", "CN=a + O=b"),
    ("CN=\\ x\\ ", "CN=\\ x\\ "),
    ("CN=a#x=1;O=2", "CN=a\\#x\\=1, O=2"),
    ("OID.1.2.3=v, DNQUALIFIER=q, 2.5.4.3=c", "OID.1.2.3=v, DNQ=q, CN=c"),
    ("CN=日本", "CN=日本"),
    ("CN=a\\\\\\,b", "CN=a\\5C\\2Cb"),  # a value with a backslash gets hex pairs (see _escape_value)
    ("CN=#0403616263", "CN=#0403616263"),  # not text: shown as #hex, like keytool
])
def test_format_dname(dname: str, shown: str) -> None:
    assert format_dname(parse_dname(dname)) == shown


# The entries whose string type was forced by a hex pair, #hex or control characters trimmed from quotes:
# format_dname keeps their text, not their type.
_TYPE_FORCED = {"CN=\\41\\42C", "CN=\\41 \\42", "CN=#0c03616263", "CN=#1e0400e900e9", "CN=\"tab\ttrimmed\t\""}


@pytest.mark.parametrize("dname", [s for s in ACCEPTED if s not in _TYPE_FORCED])
def test_format_round_trip(dname: str) -> None:
    name = parse_dname(dname)
    assert parse_dname(format_dname(name)).public_bytes() == name.public_bytes()


@pytest.mark.parametrize("dname", sorted(_TYPE_FORCED))
def test_format_round_trip_of_forced_types_keeps_text(dname: str) -> None:
    name = parse_dname(dname)
    again = parse_dname(format_dname(name))
    assert [[(a.oid, a.value) for a in rdn] for rdn in again.rdns] == \
           [[(a.oid, a.value) for a in rdn] for rdn in name.rdns]


def _random_name(rng: random.Random) -> x509.Name:
    alphabet = ",;+\"\\<>=# \n\tabcé日AF09'"
    oids = [NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.DOMAIN_COMPONENT,
            x509.ObjectIdentifier("1.2.3.4")]
    rdns = []
    for _ in range(rng.randint(1, 3)):
        attributes = []
        for oid in rng.sample(oids, rng.randint(1, 2)):
            value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
            if oid == NameOID.DOMAIN_COMPONENT:
                value = value.encode("ascii", "replace").decode()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                attributes.append(x509.NameAttribute(oid, value, _validate=False))
        rdns.append(x509.RelativeDistinguishedName(attributes))
    return x509.Name(rdns)


def test_format_round_trip_of_arbitrary_values() -> None:
    """Values full of separators, quotes, backslashes and blanks come back as the same text."""
    rng = random.Random(7)
    for _ in range(3000):
        name = _random_name(rng)
        shown = format_dname(name)
        again = parse_dname(shown)
        assert [sorted((a.oid.dotted_string, a.value) for a in rdn) for rdn in again.rdns] == \
               [sorted((a.oid.dotted_string, a.value) for a in rdn) for rdn in name.rdns], shown
