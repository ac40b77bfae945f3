"""keytool's ``-dname`` syntax, byte for byte.

JDK 17 ``keytool -genkeypair -dname S`` builds the subject with ``new sun.security.x509.X500Name(S)``
(its "DEFAULT" format: RFC 1779 and RFC 2253 mixed, plus extra keywords). This module is a faithful
port of that parser (``X500Name.parseDN``, ``RDN(String)``, ``AVA(Reader)``, ``AVAKeyword``), quirks
included, so ``to_name(parse_rdns(S)).public_bytes()`` is the DER keytool writes. The tests compare both on a
table of strings and on generated ones.

What keytool does, in short:

- RDNs are separated by ``,`` or ``;`` and written to DER in reverse order; ``+`` joins the AVAs of a
  multi-valued RDN (a DER SET OF, so sorted by encoding).
- Keywords are case-insensitive: CN C L S ST O OU T IP STREET DC DNQUALIFIER DNQ SURNAME GIVENNAME
  INITIALS GENERATION EMAIL EMAILADDRESS UID SERIALNUMBER, or an OID (``OID.2.5.4.3`` or ``2.5.4.3``).
- A value is ``#hex`` (a BER value), a quoted string, or a string with ``\\`` escapes (``\\,`` ``\\+``
  ``\\=`` ``\\"`` ``\\\\`` ``\\<`` ``\\>`` ``\\#`` ``\\;`` ``\\ `` and ``\\XX`` UTF-8 hex pairs).
  Unescaped blanks around a value are dropped; an escaped blank is kept.
- String types: EMAILADDRESS and DC are IA5String; otherwise PrintableString when every character is in
  ``A-Za-z0-9 '()+,-./:=?`` (and no hex pair was used), else UTF8String. An empty value is an empty
  PrintableString whatever the attribute.

Where kstool refuses what keytool accepts, on purpose (each raises ``DNError`` saying so):

- an empty ``-dname``: keytool writes a certificate with an empty subject that Java then cannot load;
- non-ASCII text in EMAILADDRESS or DC: keytool silently writes ``?`` for each such character;
- the same attribute twice in one multi-valued RDN (``CN=a+CN=a``) and ``#hex`` values that are not
  strings: the ``cryptography`` Name model cannot hold them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

from kstool.crypto.adapter import string_tag
from kstool.errors import FormatError, KstoolError
from kstool.formats import der

# cryptography is imported only to build the final Name (parse_rdns needs none of it): `kstool validate`
# checks every dname without paying for the import. Tags are the ASN.1 universal tags (cryptography numbers them so).
_OCTET_STRING, _UTF8, _NUMERIC, _PRINTABLE_T, _T61, _IA5, _UTC_TIME, _GENERALIZED_TIME, _VISIBLE = (
    4, 12, 18, 19, 20, 22, 23, 24, 26)
_UNIVERSAL, _BMP = 28, 30


class DNError(KstoolError):
    """A ``-dname`` string that keytool (or kstool) cannot turn into a distinguished name."""


_EMAIL = "1.2.840.113549.1.9.1"
_DC = "0.9.2342.19200300.100.1.25"
_IP = "1.3.6.1.4.1.42.2.11.2.1"  # Sun's "IP" keyword

# sun.security.x509.AVAKeyword, DEFAULT format (all of them are accepted when parsing).
_KEYWORDS: dict[str, str] = {  # keyword -> dotted OID
    "CN": "2.5.4.3",
    "C": "2.5.4.6",
    "L": "2.5.4.7",
    "S": "2.5.4.8",
    "ST": "2.5.4.8",
    "O": "2.5.4.10",
    "OU": "2.5.4.11",
    "T": "2.5.4.12",
    "IP": _IP,
    "STREET": "2.5.4.9",
    "DC": _DC,
    "DNQUALIFIER": "2.5.4.46",
    "DNQ": "2.5.4.46",
    "SURNAME": "2.5.4.4",
    "GIVENNAME": "2.5.4.42",
    "INITIALS": "2.5.4.43",
    "GENERATION": "2.5.4.44",
    "EMAIL": _EMAIL,
    "EMAILADDRESS": _EMAIL,
    "UID": "0.9.2342.19200300.100.1.1",
    "SERIALNUMBER": "2.5.4.5",
}

# The keyword keytool prints for an OID (AVAKeyword registers the preferred one last).
_DISPLAY_KEYWORDS: dict[str, str] = {oid: kw for kw, oid in _KEYWORDS.items()}

_PRINTABLE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_TERMINATORS = frozenset("+,;")  # AVA.isTerminator (DEFAULT format), besides the end of the string
_ESCAPABLE = frozenset(',=\n+<>#;\\" ')  # AVA.specialCharsDefault: what may follow a backslash
_ESCAPABLE_QUOTED = frozenset(',=\n+<>#;\\"')  # AVA.specialChars1779: the same inside quotes
_MUST_ESCAPE = frozenset(',+<>;"')  # AVA.escapedDefault: never allowed bare in an unquoted value
_OID_COMPONENT = re.compile(r"[+-]?\d+")  # Java's Integer.parseInt / BigInteger syntax
_MAX_OID_BYTES = 4096  # ObjectIdentifier.MAXIMUM_OID_SIZE

_HINT_ESCAPE = "escape it with a backslash or put the whole value in double quotes"


@dataclass(frozen=True, slots=True)
class _Value:
    text: str
    asn1_type: int  # ASN.1 universal tag of the string type


Attribute = tuple[str, str, int]  # (dotted OID, value, ASN.1 string tag)
Rdns = tuple[tuple[Attribute, ...], ...]  # in DER order


class _Parser:
    """One ``-dname`` string; positions in errors are 1-based characters of that whole string."""

    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, pos: int, problem: str, fix: str) -> DNError:
        where = f"at character {pos + 1}" if pos < len(self.text) else "at the end"
        return DNError(f"invalid dname {self.text!r} {where}: {problem}; {fix}")

    # -- X500Name.parseDN -------------------------------------------------------------------------------

    def rdn_spans(self) -> list[tuple[int, int]]:
        """Split on ``,`` and ``;`` exactly as X500Name.parseDN does (its quote/escape counting included)."""
        text = self.text
        spans: list[tuple[int, int]] = []
        dn_offset = search = quotes = 0
        for end, ch in enumerate(text):
            if ch not in ",;":
                continue
            quotes += _count_quotes(text, search, end)
            if quotes != 1 and not _escaped(end, search, text):
                spans.append((dn_offset, end))
                dn_offset = end + 1
                quotes = 0
            search = end + 1
        spans.append((dn_offset, len(text)))
        return spans

    # -- RDN(String) ------------------------------------------------------------------------------------

    def rdn(self, start: int, end: int) -> tuple[Attribute, ...]:
        name = self.text[start:end]
        attributes: list[Attribute] = []
        ava_offset = search = quotes = 0
        for plus, ch in enumerate(name):
            if ch != "+":
                continue
            quotes += _count_quotes(name, search, plus)
            if plus > 0 and name[plus - 1] != "\\" and quotes != 1:
                attributes.append(self.ava(start + ava_offset, start + plus))
                ava_offset = plus + 1
                quotes = 0
            search = plus + 1
        attributes.append(self.ava(start + ava_offset, end))
        if len({(oid, value) for oid, value, _ in attributes}) != len(attributes):  # as cryptography's RDN
            raise self.fail(start, "the same attribute and value appear twice in one multi-valued RDN",
                            "remove the duplicate")
        return tuple(attributes)

    # -- AVA(Reader) ------------------------------------------------------------------------------------

    def ava(self, start: int, end: int) -> Attribute:
        if start == end:
            raise self.fail(start, "empty attribute (two separators in a row, or one at the start or end)",
                            "remove the extra ',', ';' or '+', or escape it, e.g. '\\,'")
        equals = self.text.find("=", start, end)
        if equals < 0:
            raise self.fail(start, f"{self.text[start:end].strip()!r} has no '='",
                            "write KEYWORD=value, e.g. CN=example.com")
        oid = self.keyword(start, equals)
        pos = equals + 1
        while pos < end and self.text[pos] in " \n":
            pos += 1
        if pos == end:
            value = _Value("", _PRINTABLE_T)  # keytool: new DerValue("")
        elif self.text[pos] == "#":
            value = self.hex_value(oid, pos, end)
        elif self.text[pos] == '"':
            value = self.quoted_value(oid, pos, end)
        else:
            value = self.plain_value(oid, pos, end)
        return oid, value.text, value.asn1_type

    def keyword(self, start: int, end: int) -> str:
        keyword = _java_trim(self.text[start:end].upper())
        oid = _KEYWORDS.get(keyword)
        if oid is not None:
            return oid
        dotted = keyword[4:] if keyword.startswith("OID.") else keyword
        if not dotted[:1].isascii() or not dotted[:1].isdigit():
            known = ", ".join(sorted(_KEYWORDS))
            raise self.fail(start, f"unknown keyword {_java_trim(self.text[start:end])!r}",
                            f"use one of {known}, or an OID such as OID.2.5.4.3")
        parsed = _parse_oid(dotted)
        if parsed is None:
            raise self.fail(start, f"{dotted!r} is not a valid object identifier",
                            "write it as OID.n.n.n with at least two numeric arcs, the first 0, 1 or 2")
        return parsed

    def plain_value(self, oid: str, pos: int, end: int) -> _Value:
        """AVA.parseString: escapes, hex pairs, and dropping unescaped trailing blanks."""
        text = self.text
        start = pos
        out: list[str] = []
        pending_hex = bytearray()
        printable = True
        spaces = 0
        while True:
            ch = text[pos]
            escaped = ch == "\\"
            if escaped:
                pos += 1
                if pos == end:
                    raise self.fail(pos - 1, "the value ends with a lone backslash",
                                    "write '\\\\' for a literal backslash")
                ch = text[pos]
                if ch in _HEX_DIGITS:
                    pending_hex.append(self.hex_pair(pos, end))
                    printable = False  # keytool always writes UTF8String after a hex pair
                    pos += 2
                    if pos == end or text[pos] in _TERMINATORS:
                        break
                    continue
                if ch not in _ESCAPABLE:
                    raise self.fail(pos, f"{ch!r} cannot be escaped",
                                    "a backslash may only precede , = + < > # ; \\ \" blank or two hex digits")
            elif ch in _MUST_ESCAPE:
                raise self.fail(pos, f"{ch!r} must be escaped in a value", _HINT_ESCAPE)
            if pending_hex:
                out.append(" " * spaces)
                spaces = 0
                out.append(_utf8(pending_hex))
                pending_hex.clear()
            printable = printable and ch in _PRINTABLE
            if ch == " " and not escaped:
                spaces += 1  # kept only if something follows
            else:
                out.append(" " * spaces)
                spaces = 0
                out.append(ch)
            pos += 1
            if pos == end or text[pos] in _TERMINATORS:
                break  # keytool ignores whatever follows a terminator inside one AVA
        if pending_hex:
            out.append(_utf8(pending_hex))  # keytool drops the blanks before trailing hex pairs
        return self.string_value(oid, "".join(out), printable, start)

    def quoted_value(self, oid: str, pos: int, end: int) -> _Value:
        """AVA.parseQuotedString: the value is trimmed (Java's String.trim) after unquoting."""
        text = self.text
        opening = pos
        out: list[str] = []
        pending_hex = bytearray()
        printable = True

        def unterminated() -> DNError:
            return self.fail(opening, "the quoted value has no closing '\"'",
                             "add the closing quote, or write '\\\"' for a literal quote")

        pos += 1
        while True:
            if pos == end:
                raise unterminated()
            ch = text[pos]
            if ch == '"':
                break
            if ch == "\\":
                pos += 1
                if pos == end:
                    raise unterminated()
                ch = text[pos]
                if ch in _HEX_DIGITS:
                    pending_hex.append(self.hex_pair(pos, end))
                    printable = False
                    pos += 2
                    continue
                if ch not in _ESCAPABLE_QUOTED:
                    raise self.fail(pos, f"{ch!r} cannot be escaped inside quotes",
                                    "a backslash may only precede , = + < > # ; \\ \" or two hex digits")
            if pending_hex:
                out.append(_utf8(pending_hex))
                pending_hex.clear()
            printable = printable and ch in _PRINTABLE
            out.append(ch)
            pos += 1
        if pending_hex:
            out.append(_utf8(pending_hex))
        pos += 1
        while pos < end and text[pos] in " \n":
            pos += 1
        if pos != end:
            raise self.fail(pos, "only blanks may follow the closing quote of a value",
                            "put the whole value inside the quotes")
        return self.string_value(oid, _java_trim("".join(out)), printable, opening)

    def hex_pair(self, pos: int, end: int) -> int:
        if pos + 1 >= end or self.text[pos + 1] not in _HEX_DIGITS:
            raise self.fail(pos - 1, "a backslash followed by a hex digit must be followed by a second one",
                            "write \\XX with two hex digits (UTF-8 bytes), or '\\\\' for a backslash")
        return int(self.text[pos : pos + 2], 16)

    def string_value(self, oid: str, value: str, printable: bool, pos: int) -> _Value:
        if oid in (_EMAIL, _DC):
            if not value.isascii():
                raise self.fail(pos, f"{_DISPLAY_KEYWORDS[oid]} is an IA5String and takes ASCII only "
                                     "(keytool would write '?' for each other character)",
                                "use ASCII, e.g. the punycode (xn--) form of a domain")
            return _Value(value, _IA5)
        return _Value(value, _PRINTABLE_T if printable else _UTF8)

    def hex_value(self, oid: str, pos: int, end: int) -> _Value:
        """AVA.parseHexString: ``#`` and the hex of a whole BER value (tag, length, content)."""
        digits_end = pos + 1
        while digits_end < end and self.text[digits_end] not in _TERMINATORS:
            if self.text[digits_end] not in _HEX_DIGITS:
                raise self.fail(digits_end, f"{self.text[digits_end]!r} is not a hex digit in a #hex value",
                                "write '#' and an even number of hex digits, or escape a leading '#' as '\\#'")
            digits_end += 1
        digits = self.text[pos + 1 : digits_end]
        if not digits or len(digits) % 2:
            raise self.fail(pos, "a #hex value needs an even, non-zero number of hex digits",
                            "write the DER of the value, e.g. #0c03616263, or escape a leading '#' as '\\#'")
        value = _string_from_der(bytes.fromhex(digits))
        if value is None:
            raise self.fail(pos, "kstool supports #hex values only when they encode a character string",
                            "write the value as text instead")
        return value


def to_name(rdns: Rdns) -> x509.Name:
    """The cryptography Name of parsed RDNs (built once per distinct dname)."""
    return _to_name(rdns)


@lru_cache(maxsize=1024)
def _to_name(rdns: Rdns) -> x509.Name:
    from cryptography import x509  # noqa: PLC0415

    from kstool.crypto.adapter import name_attribute as attribute  # noqa: PLC0415

    try:
        return x509.Name([x509.RelativeDistinguishedName([attribute(*a) for a in rdn]) for rdn in rdns])
    except ValueError as e:  # an OID Java takes but cryptography does not
        raise DNError(f"the dname cannot be represented: {e}") from None


def _count_quotes(text: str, start: int, end: int) -> int:
    """X500Name.countQuotes: double quotes in ``text[start:end]`` not preceded by a backslash."""
    return sum(1 for i in range(start, end)
               if text[i] == '"' and (i == start or text[i - 1] != "\\"))


def _escaped(end: int, search: int, text: str) -> bool:
    """X500Name.escaped, verbatim: whether the separator at ``end`` is escaped.

    Like Java, an odd number of backslashes anywhere in ``text[search:end]`` counts when the separator
    follows two backslashes.
    """
    if end == 1 and text[0] == "\\":
        return True
    if end > 1 and text[end - 1] == "\\":
        if text[end - 2] != "\\":
            return True
        return text.count("\\", search, end) % 2 == 1
    return False


def _java_trim(text: str) -> str:
    """Java's String.trim(): strip every character up to U+0020, nothing else."""
    start, end = 0, len(text)
    while start < end and text[start] <= " ":
        start += 1
    while end > start and text[end - 1] <= " ":
        end -= 1
    return text[start:end]


def _utf8(data: bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")  # Java's new String(bytes, UTF_8) replaces too


def _parse_oid(dotted: str) -> str | None:
    """sun.security.util.ObjectIdentifier.of(String): None when Java would refuse it."""
    parts = dotted.split(".")
    if len(parts) < 2 or not all(_OID_COMPONENT.fullmatch(p) for p in parts):
        return None
    arcs = [int(p) for p in parts]
    if not 0 <= arcs[0] <= 2 or arcs[1] < 0 or (arcs[0] < 2 and arcs[1] > 39) or min(arcs) < 0:
        return None
    if _oid_body_size([arcs[0] * 40 + arcs[1], *arcs[2:]]) > _MAX_OID_BYTES:
        return None
    return ".".join(str(a) for a in arcs)


def _oid_body_size(subidentifiers: list[int]) -> int:
    """Content octets of an OID's DER: 7 bits of each subidentifier per byte."""
    return sum(max(1, (n.bit_length() + 6) // 7) for n in subidentifiers)


# Character-string tags a #hex value may carry, and how their content octets decode.
_HEX_STRING_TYPES: dict[int, str] = {
    _OCTET_STRING: "utf-8",
    _UTF8: "utf-8",
    _NUMERIC: "ascii",
    _PRINTABLE_T: "ascii",
    _T61: "latin-1",
    _IA5: "ascii",
    _VISIBLE: "ascii",
    _UNIVERSAL: "utf-32-be",
    _BMP: "utf-16-be",
}


def _string_from_der(data: bytes) -> _Value | None:
    """A #hex value as a typed string, when cryptography re-encodes it to exactly these bytes."""
    try:
        node = der.decode(data)
    except FormatError:
        return None
    codec = _HEX_STRING_TYPES.get(node.tag)
    if codec is None:
        return None
    try:
        text = node.value.decode(codec)
    except UnicodeDecodeError:
        return None
    # cryptography writes 8-bit string types as UTF-8: only a T61 value that is ASCII survives that.
    if codec == "latin-1" and not text.isascii():
        return None
    if der.tlv(node.tag, text.encode(codec)) != data:  # non-minimal lengths etc.
        return None
    return _Value(text, node.tag)


def parse_rdns(text: str) -> Rdns:
    """The RDNs of the distinguished name JDK 17 ``keytool -genkeypair -dname text`` writes (``to_name`` gives
    the same DER), without importing cryptography.

    Raises ``DNError`` (with the character position and a fix) where keytool fails, and in the few
    places described in the module docstring where kstool refuses what keytool would accept.
    """
    if not text:
        raise DNError("the dname is empty; keytool would write a certificate with an empty subject that "
                      "Java cannot load; give at least a common name, e.g. 'CN=example.com'")
    parser = _Parser(text)
    rdns = [parser.rdn(start, end) for start, end in parser.rdn_spans()]
    rdns.reverse()  # the first RDN of the string is the last in DER
    return tuple(rdns)


# -- display ------------------------------------------------------------------------------------------

_DISPLAY_ESCAPES = frozenset(',+=;"\\<>#')
_NOT_TEXT = frozenset({_OCTET_STRING, _UTC_TIME, _GENERALIZED_TIME})


def format_dname(name: x509.Name) -> str:
    """``name`` as keytool shows it: ``CN=a, OU=b, O=c, L=d, ST=e, C=f`` (most specific RDN first).

    Keywords are keytool's (ST, EMAILADDRESS, DNQ, ``OID.n.n`` for others); AVAs of a multi-valued RDN
    are joined by ``" + "``. Special characters are backslash-escaped rather than quoted, so
    parsing ``format_dname(name)`` again gives the DER of ``name``, except where a value
    had its string type forced (a ``\\XX`` hex pair or ``#hex``, or control characters trimmed from
    a quoted value): the text is kept, the type then follows the usual rules.
    Values that are not text (e.g. a BIT STRING) are shown as ``#`` and the hex of their DER.
    """
    return ", ".join(" + ".join(_format_attribute(a) for a in rdn) for rdn in reversed(name.rdns))


def _format_attribute(attribute: x509.NameAttribute[str | bytes]) -> str:
    dotted = attribute.oid.dotted_string
    keyword = _DISPLAY_KEYWORDS.get(dotted, f"OID.{dotted}")
    value = attribute.value
    tag = string_tag(attribute)
    if isinstance(value, bytes):  # a BIT STRING (X500 unique identifier), no unused bits
        return f"{keyword}=#{der.tlv(tag, bytes(1) + value).hex()}"
    if tag in _NOT_TEXT:  # keytool shows these as #hex too
        return f"{keyword}=#{der.tlv(tag, value.encode()).hex()}"
    return f"{keyword}={_escape_value(value)}"


def _escape_value(value: str) -> str:
    """Backslash escapes that survive X500Name.parseDN's separator detection.

    parseDN decides whether ``\\,`` is escaped by counting *every* backslash since the previous
    separator, so a literal backslash next to escapes can turn an escaped comma into a separator.
    A value holding a backslash is a UTF8String (or IA5String) whatever we write, so there every special
    character becomes a hex pair (``\\2C``) and no raw separator is left for parseDN to misread. Blanks
    are then escaped too, because keytool drops the blanks in front of trailing hex pairs.
    """
    hex_mode = "\\" in value
    chars = []
    for c in value:
        if c in _DISPLAY_ESCAPES:
            chars.append(f"\\{ord(c):02X}" if hex_mode else f"\\{c}")
        elif c == " " and hex_mode:
            chars.append("\\ ")
        else:
            chars.append(c)
    # Unescaped leading blanks/newlines and trailing blanks are dropped by the parser: escape them.
    for i, c in enumerate(value):
        if c not in " \n":
            break
        chars[i] = f"\\{c}"
    for i in range(len(value) - 1, -1, -1):
        if value[i] != " ":
            break
        chars[i] = "\\ "
    return "".join(chars)
