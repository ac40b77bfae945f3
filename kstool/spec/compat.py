"""Compatibility targets: the consumers a keystore must work for, and what each cannot read.

``compatible_with: [java8, openssl3, ...]`` on a keystore (or in ``defaults:``) makes ``validate`` refuse the
spec's own facts a listed target cannot read (store type, PKCS12 profile, iterations, generated key algorithms,
a separate key password, several key entries) and ``plan`` the facts only the inputs tell (imported key
algorithms and sizes, the passwords' actual length and characters).

``RULES`` is the one matrix: ``docs/compatibility.md`` prints the same rows (``tests/unit/test_compat.py``
checks that every rule id, target and fix appears there). Each rule refuses one *fact* of one keystore with a
predicate over its value; ``problems`` applies them. Pure: no files, no secrets in messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from kstool.spec.yamlload import Location, SpecError

if TYPE_CHECKING:
    from kstool.spec.model import KeystoreSpec

# name -> what it stands for (docs/compatibility.md says the same)
TARGETS: Mapping[str, str] = {
    "java8": "every Java 8 update (Oracle, OpenJDK; also before 8u301)",
    "java11": "every Java 11 update (also before 11.0.12)",
    "java17": "Java 17 (kstool's reference runtime)",
    "java21": "Java 21",
    "openssl1": "OpenSSL 1.1.1 (nginx, HAProxy, curl... built on it)",
    "openssl3": "OpenSSL 3.x without -legacy (the default provider only)",
    "fips": "a FIPS 140 JVM provider: Red Hat's OpenJDK in FIPS mode (SunPKCS11-NSS-FIPS) or BC-FIPS",
    "wso2": "WSO2 products on Carbon (Identity Server, API Manager)",
}

JAVA = ("java8", "java11", "java17", "java21")
OPENSSL = ("openssl1", "openssl3")

Stage = Literal["validate", "plan"]

FIPS_MIN_PASSWORD = 14  # BC-FIPS approved mode: PBKDF2 passwords of at least 112 bits
FIPS_MIN_ITERATIONS = 1000  # NIST SP 800-132 5.2; OpenSSL's FIPS provider's PBKDF2 lower bound
FIPS_MIN_RSA = 2048  # NIST SP 800-131A Rev. 2: RSA below 2048 bits is disallowed


@dataclass(frozen=True, slots=True)
class Fact:
    """One fact of one keystore a rule may refuse: ``name`` (the rule's ``fact``), its value as the rule reads
    it, the words that show it in a message, and where the spec says it."""

    name: str
    value: object
    shown: str
    location: Location


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    targets: tuple[str, ...]
    fact: str  # Fact.name this rule reads
    stage: Stage  # validate: the spec alone tells; plan: the inputs (files, passwords) tell
    refuses: Callable[[object], bool]
    reason: str  # "{target}" and "{shown}" are filled in
    fix: str
    source: str  # a key of SOURCES
    tested: str  # "measured here: ..." or "documentation"

    def message(self, target: str, fact: Fact) -> str:
        return f"{self.reason.format(target=target, shown=fact.shown)}: {self.fix} (compatible_with: {target})"


def _is(*values: object) -> Callable[[object], bool]:
    return lambda value: value in values


def _below(limit: int) -> Callable[[object], bool]:
    return lambda value: isinstance(value, int) and value < limit


def _rsa_below(limit: int) -> Callable[[object], bool]:
    return lambda value: isinstance(value, tuple) and value[0] == "RSA" and isinstance(value[1], int) \
        and value[1] < limit


def _algorithm(*names: str) -> Callable[[object], bool]:
    return lambda value: isinstance(value, tuple) and value[0] in names


def _not_printable_ascii(value: object) -> bool:
    return isinstance(value, str) and any(not 0x20 <= ord(c) <= 0x7E for c in value)


# The matrix. One row per (fact, set of targets) that cannot read it; docs/compatibility.md has the same rows.
RULES: tuple[Rule, ...] = (
    Rule("openssl-no-java-types", OPENSSL, "type", "validate", _is("jks", "jceks"),
         "{target} cannot read {shown}: OpenSSL reads PKCS12 only (JKS and JCEKS are Java formats)",
         "use type: pkcs12", "openssl-pkcs12", "measured here: openssl pkcs12 fails on a JKS"),
    Rule("openssl-one-key", OPENSSL, "second_key_entry", "validate", _is(True),
         "{target} reads only the first private key of a PKCS12 ({shown}): PKCS12_parse, which nginx, "
         "HAProxy and curl use, returns one key",
         "put each key entry in a keystore of its own", "openssl-pkcs12-parse", "documentation"),
    Rule("java-pre-8u301-aes", ("java8",), "pkcs12_profile", "validate", _is("modern"),
         "{target} before 8u301 cannot read AES-256 PKCS12 ({shown}: PBES2/AES-256 bags, HmacPBESHA256 MAC)",
         "use pkcs12_profile: legacy or type: jks", "jdk-8153005", "documentation; measured for 11.0.10 "
         "(shared/docs/interop.md)"),
    Rule("java-pre-11.0.12-aes", ("java11",), "pkcs12_profile", "validate", _is("modern"),
         "{target} before 11.0.12 cannot read AES-256 PKCS12 ({shown}: PBES2/AES-256 bags, HmacPBESHA256 MAC)",
         "use pkcs12_profile: legacy or type: jks", "jdk-8153005", "measured with 11.0.10 and 11.0.13 "
         "(shared/docs/interop.md)"),
    Rule("java-pre-15-ed25519", ("java8", "java11"), "key", "validate", _algorithm("Ed25519"),
         "{target} cannot use the Ed25519 key ({shown}): EdDSA came in Java 15 (JEP 339)",
         "use key: {algorithm: EC, size: 256} or RSA", "jep-339", "documentation"),
    Rule("java-pre-15-ed25519-import", ("java8", "java11"), "imported_key", "plan", _algorithm("Ed25519"),
         "{target} cannot use the imported Ed25519 key ({shown}): EdDSA came in Java 15 (JEP 339)",
         "import an RSA or EC key instead", "jep-339", "documentation"),
    Rule("java-printable-password", JAVA, "password_chars", "plan", _not_printable_ascii,
         "{target} refuses {shown} with characters outside printable ASCII (space to '~') "
         "('Password is not ASCII')",
         "use a password of printable ASCII characters, or type: jks", "interop-passwords",
         "measured with JDK 17 (TAB refused; shared/docs/interop.md)"),
    Rule("fips-no-java-types", ("fips",), "type", "validate", _is("jks", "jceks"),
         "{target} cannot read {shown}: JKS and JCEKS protect keys with non-approved algorithms (Sun's SHA-1 "
         "XOR KeyProtector, PBEWithMD5AndTripleDES) and BC-FIPS has neither type",
         "use type: pkcs12 with pkcs12_profile: modern", "fips", "documentation"),
    Rule("fips-no-3des", ("fips",), "pkcs12_profile", "validate", _is("legacy"),
         "{target} cannot read {shown}: 3DES (TDEA) and the PKCS#12 SHA-1 PBE are not approved for FIPS 140 "
         "(NIST SP 800-131A Rev. 2)",
         "use pkcs12_profile: modern (PBKDF2-HMAC-SHA256, AES-256)", "sp800-131a", "documentation"),
    Rule("fips-iterations", ("fips",), "iterations", "validate", _below(FIPS_MIN_ITERATIONS),
         "{target} refuses PBKDF2 with {shown} (at least " + str(FIPS_MIN_ITERATIONS) + ", NIST SP 800-132)",
         "use iterations: 10000 or more", "sp800-132", "documentation"),
    Rule("fips-ed25519", ("fips",), "key", "validate", _algorithm("Ed25519"),
         "{target} cannot use the Ed25519 key ({shown}): Red Hat's OpenJDK in FIPS mode signs through "
         "SunPKCS11-NSS-FIPS, which offers no EdDSA",
         "use key: {algorithm: EC, size: 256} or RSA", "rh-fips", "documentation"),
    Rule("fips-ed25519-import", ("fips",), "imported_key", "plan", _algorithm("Ed25519"),
         "{target} cannot use the imported Ed25519 key ({shown}): Red Hat's OpenJDK in FIPS mode signs through "
         "SunPKCS11-NSS-FIPS, which offers no EdDSA",
         "import an RSA (2048+) or EC key instead", "rh-fips", "documentation"),
    Rule("fips-rsa-2048", ("fips",), "imported_key", "plan", _rsa_below(FIPS_MIN_RSA),
         "{target} refuses the imported {shown} key: RSA keys under " + str(FIPS_MIN_RSA) + " bits are "
         "disallowed (NIST SP 800-131A Rev. 2)",
         "import an RSA key of 2048 bits or more", "sp800-131a", "documentation"),
    Rule("fips-password-length", ("fips",), "password_length", "plan", _below(FIPS_MIN_PASSWORD),
         "{target} refuses {shown}: BC-FIPS in approved mode needs PBKDF2 passwords of at least 112 bits "
         "(" + str(FIPS_MIN_PASSWORD) + " characters)",
         "use a password of " + str(FIPS_MIN_PASSWORD) + " characters or more (generate: true makes 32)",
         "bc-fips-password", "documentation"),
    Rule("wso2-no-jceks", ("wso2",), "type", "validate", _is("jceks"),
         "{target} cannot read {shown}: WSO2 keystores are JKS or PKCS12",
         "use type: jks (or pkcs12)", "wso2-keystores", "documentation"),
    Rule("wso2-key-password", ("wso2",), "key_password", "validate", _is(True),
         "{target} needs the key password to equal the store password ({shown})",
         "remove key_password (the key is then protected by the store password)", "wso2-keystores",
         "documentation"),
)

RULE_IDS = frozenset(r.id for r in RULES)
assert len(RULE_IDS) == len(RULES), "rule ids must be unique"
assert all(t in TARGETS for r in RULES for t in r.targets)

# where each rule's fact comes from (docs/compatibility.md lists them with their addresses)
SOURCES: Mapping[str, str] = {
    "openssl-pkcs12": "openssl-pkcs12(1): the command reads and writes PKCS#12 files only",
    "openssl-pkcs12-parse": "PKCS12_parse(3): only the first private key and its certificate are returned",
    "jdk-8153005": "JDK-8153005 (JDK 12; backported to 11.0.12 and 8u301): PKCS12 defaults "
                   "PBEWithHmacSHA256AndAES_256 and HmacPBESHA256; older releases cannot read such files",
    "jep-339": "JEP 339: Edwards-Curve Digital Signature Algorithm (JDK 15)",
    "interop-passwords": "shared/docs/interop.md: Java's PKCS12/JCEKS password rule is printable ASCII",
    "fips": "Red Hat build of OpenJDK 17 on RHEL with FIPS; BC-FIPS user guide (BCFKS, PKCS12 not in approved "
            "mode)",
    "sp800-131a": "NIST SP 800-131A Rev. 2, Transitioning the Use of Cryptographic Algorithms and Key Lengths",
    "sp800-132": "NIST SP 800-132, Recommendation for Password-Based Key Derivation, 5.2",
    "rh-fips": "Red Hat build of OpenJDK 17/21 FIPS configuration: providers and their services",
    "bc-fips-password": "Red Hat build of Keycloak, FIPS strict mode: BCFIPS approved mode needs PBKDF2 "
                        "passwords of 112 bits (14 characters)",
    "wso2-keystores": "WSO2 docs, Keystores: the key password must be the keystore password; JKS or PKCS12",
}
assert all(r.source in SOURCES for r in RULES)


def problems(targets: Iterable[str], facts: Iterable[Fact], stage: Stage) -> list[SpecError]:
    """Every (target, fact) that a rule of ``stage`` refuses, in fact order, then target order."""
    chosen = tuple(targets)
    found: list[SpecError] = []
    for fact in facts:
        for target in chosen:
            for rule in RULES:
                if rule.stage == stage and rule.fact == fact.name and target in rule.targets \
                        and rule.refuses(fact.value):
                    found.append(SpecError(fact.location, rule.message(target, fact)))
    return found


def rules_for(target: str) -> tuple[Rule, ...]:
    return tuple(r for r in RULES if target in r.targets)


# -- the facts of a keystore ------------------------------------------------------------------------------

_DEFAULT_ITERATIONS = {"pkcs12": 10_000, "jceks": 200_000}  # formats.codec's defaults (kept apart: no import)


def spec_facts(ks: KeystoreSpec, raw: Mapping[str, object],
               locate: Callable[[tuple[str | int, ...]], Location]) -> list[Fact]:
    """What ``validate`` knows of keystore ``ks`` (built from ``raw``); ``locate`` maps a path inside the
    keystore's mapping to its location."""
    from kstool.spec.model import Generate  # noqa: PLC0415 - model imports this module

    type_at: tuple[str | int, ...] = ("type",) if "type" in raw else ("path",)
    type_shown = f"type: {ks.type}" if "type" in raw else f"a {ks.type.upper()} keystore (from path {ks.path})"
    facts = [Fact("type", ks.type, type_shown, locate(type_at))]
    if ks.type == "pkcs12":
        if "pkcs12_profile" in raw:
            facts.append(Fact("pkcs12_profile", ks.pkcs12_profile, f"pkcs12_profile: {ks.pkcs12_profile}",
                              locate(("pkcs12_profile",))))
        else:
            facts.append(Fact("pkcs12_profile", ks.pkcs12_profile,
                              f"pkcs12_profile: {ks.pkcs12_profile} (the default)", locate(type_at)))
    if ks.type in _DEFAULT_ITERATIONS and ks.type == "pkcs12":
        count = ks.iterations or _DEFAULT_ITERATIONS[ks.type]
        facts.append(Fact("iterations", count, f"iterations: {count}",
                          locate(("iterations",) if "iterations" in raw else type_at)))
    if ks.key_password is not None and ks.key_password.describe() != ks.password.describe():
        facts.append(Fact("key_password", True,
                          f"key_password from {ks.key_password.describe()}, password from "
                          f"{ks.password.describe()}", locate(("key_password",))))
    keys = 0
    for j, entry in enumerate(ks.entries):
        if not entry.is_key:
            continue
        keys += 1
        if keys == 2 and ks.type == "pkcs12":
            facts.append(Fact("second_key_entry", True, f"key entry {entry.alias!r} is its second",
                              locate(("entries", j))))
        if isinstance(entry.source, Generate):
            gen = entry.source
            shown = f"{gen.algorithm} {gen.size}" if gen.size else gen.algorithm
            facts.append(Fact("key", (gen.algorithm, gen.size), f"{entry.alias}: {shown}",
                              locate(("entries", j, "generate", "key"))))
    return facts


def check_spec(ks: KeystoreSpec, raw: Mapping[str, object],
               locate: Callable[[tuple[str | int, ...]], Location]) -> list[SpecError]:
    """``validate``'s compatibility problems of one keystore (none when it lists no target)."""
    if not ks.compatible_with:
        return []
    return problems(ks.compatible_with, spec_facts(ks, raw, locate), "validate")
