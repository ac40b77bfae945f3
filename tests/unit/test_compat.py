"""Every rule of the compatibility matrix (kstool.spec.compat.RULES), refusing and accepting, with its message;
the spec-level facts with their locations; and docs/compatibility.md naming every rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from kstool.errors import KstoolError, MultiError
from kstool.spec.compat import RULES, TARGETS, Fact, Stage, problems
from kstool.spec.model import load_spec
from kstool.spec.yamlload import Location

HERE = Location("s.yaml", 3, 5, ("keystores", 0, "type"))
DOC = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"

# rule id -> (fact name, a value it refuses, a value it accepts)
CASES: dict[str, tuple[str, object, object]] = {
    "openssl-no-java-types": ("type", "jceks", "pkcs12"),
    "openssl-one-key": ("second_key_entry", True, False),
    "java-pre-8u301-aes": ("pkcs12_profile", "modern", "legacy"),
    "java-pre-11.0.12-aes": ("pkcs12_profile", "modern", "legacy"),
    "java-pre-15-ed25519": ("key", ("Ed25519", None), ("EC", 256)),
    "java-pre-15-ed25519-import": ("imported_key", ("Ed25519", None), ("RSA", 2048)),
    "java-printable-password": ("password_chars", "tab\there", "plain ASCII ~!"),
    "fips-no-java-types": ("type", "jks", "pkcs12"),
    "fips-no-3des": ("pkcs12_profile", "legacy", "modern"),
    "fips-iterations": ("iterations", 999, 1000),
    "fips-ed25519": ("key", ("Ed25519", None), ("RSA", 3072)),
    "fips-ed25519-import": ("imported_key", ("Ed25519", None), ("EC", 384)),
    "fips-rsa-2048": ("imported_key", ("RSA", 1024), ("RSA", 2048)),
    "fips-password-length": ("password_length", 13, 14),
    "wso2-no-jceks": ("type", "jceks", "jks"),
    "wso2-key-password": ("key_password", True, False),
}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == {r.id for r in RULES}


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_refuses_and_accepts(rule: object) -> None:
    from kstool.spec.compat import Rule

    assert isinstance(rule, Rule)
    fact_name, bad, good = CASES[rule.id]
    assert rule.fact == fact_name
    for target in rule.targets:
        found = [str(e) for e in problems([target], [Fact(fact_name, bad, "SHOWN", HERE)], rule.stage)
                 if f"(compatible_with: {target})" in str(e)]
        expected = f"s.yaml:3:5: keystores[0].type: {rule.message(target, Fact(fact_name, bad, 'SHOWN', HERE))}"
        assert expected in found
        assert expected.endswith(f": {rule.fix} (compatible_with: {target})")
        assert not [e for e in problems([target], [Fact(fact_name, good, "SHOWN", HERE)], rule.stage)
                    if rule.reason.format(target=target, shown="SHOWN") in str(e)]
    others = [t for t in TARGETS if t not in rule.targets]
    assert not [e for e in problems(others, [Fact(fact_name, bad, "SHOWN", HERE)], rule.stage)
                if rule.reason.split(" ", 1)[1].format(target="", shown="SHOWN") in str(e)]
    # the other stage never applies it
    other: Stage = "plan" if rule.stage == "validate" else "validate"
    assert not [e for e in problems(rule.targets, [Fact(fact_name, bad, "SHOWN", HERE)], other)
                if rule.fix in str(e)]


def test_java17_and_java21_accept_everything_kstool_writes() -> None:
    facts = [Fact(name, value, "x", HERE) for name, value, _ in CASES.values() if name != "password_chars"]
    assert problems(["java17", "java21"], facts, "validate") == []
    assert problems(["java17", "java21"], facts, "plan") == []


def test_the_issue_example_message() -> None:
    [error] = problems(["java8"], [Fact("pkcs12_profile", "modern", "pkcs12_profile: modern", HERE)], "validate")
    assert "java8 before 8u301 cannot read AES-256 PKCS12" in str(error)
    assert "use pkcs12_profile: legacy or type: jks (compatible_with: java8)" in str(error)


def _write(tmp_path: Path, text: str) -> Path:
    spec = tmp_path / "kstool.yaml"
    spec.write_text(text, encoding="utf-8")
    return spec


SPEC = """\
version: 1
defaults:
  compatible_with: [java8, openssl3]
keystores:
  - name: a
    path: a.jks
    password: {env: PW}
    key_password: {env: KP}
    compatible_with: [wso2, java11, fips]
    entries:
      - alias: k
        generate: {dname: "CN=k", key: {algorithm: Ed25519}}
  - name: b
    path: b.p12
    password: {env: PW}
    entries:
      - alias: k
        generate: {dname: "CN=k", key: {algorithm: EC, size: 256}}
      - alias: k2
        generate: {dname: "CN=k2"}
"""


def test_validate_reports_every_problem_with_its_location(tmp_path: Path) -> None:
    with pytest.raises(MultiError) as caught:
        load_spec(_write(tmp_path, SPEC))
    lines = [str(e).split(str(tmp_path) + "/", 1)[1] for e in caught.value.errors]
    heads = [line.split(": ", 2)[0] + ": " + line.split(": ", 2)[1] + " " + line.rsplit("(", 1)[1]
             for line in lines]
    assert heads == [
        "kstool.yaml:6:5: keystores[0].path compatible_with: fips)",
        "kstool.yaml:8:5: keystores[0].key_password compatible_with: wso2)",
        "kstool.yaml:12:35: keystores[0].entries[0].generate.key compatible_with: java11)",
        "kstool.yaml:12:35: keystores[0].entries[0].generate.key compatible_with: fips)",
        "kstool.yaml:14:5: keystores[1].path compatible_with: java8)",
        "kstool.yaml:19:9: keystores[1].entries[1] compatible_with: openssl3)",
    ]
    assert "wso2 needs the key password to equal the store password (key_password from environment variable " \
           "KP, password from environment variable PW): remove key_password" in lines[1]


def test_a_keystore_list_overrides_defaults_and_fixes_pass(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, """\
version: 1
defaults:
  compatible_with: [java8]
keystores:
  - name: a
    path: a.p12
    password: {env: PW}
    pkcs12_profile: legacy
    entries: [{alias: k, generate: {dname: "CN=k"}}]
  - name: b
    path: b.p12
    password: {env: PW}
    compatible_with: [openssl3, java17, fips]
    iterations: 20000
    entries: [{alias: k, generate: {dname: "CN=k", key: {algorithm: EC, size: 384}}}, {alias: t, trusted: {entry: a/k}}]
"""))
    assert [k.compatible_with for k in spec.keystores] == [("java8",), ("openssl3", "java17", "fips")]


def test_unknown_target_is_a_schema_error(tmp_path: Path) -> None:
    with pytest.raises(KstoolError, match=r"keystores\[0\]\.compatible_with\[0\]: must be one of java8, java11"):
        load_spec(_write(tmp_path, """\
version: 1
keystores:
  - {name: a, path: a.p12, password: {env: PW}, compatible_with: [java7], entries: []}
"""))


def test_the_doc_names_every_rule_target_and_fix() -> None:
    text = DOC.read_text(encoding="utf-8")
    for rule in RULES:
        assert f"`{rule.id}`" in text, rule.id
        assert rule.fix in text, rule.id
    for target in TARGETS:
        assert f"`{target}`" in text, target


PLAN_SPEC = """\
version: 1
keystores:
  - name: f
    path: f.p12
    password: {env: COMPAT_SHORT}
    compatible_with: [fips, java17]
    entries: [{alias: k, generate: {dname: "CN=k", key: {algorithm: EC, size: 256}}}]
  - name: t
    path: t.jceks
    password: {env: COMPAT_TAB}
    compatible_with: [java11]
    entries: [{alias: k, generate: {dname: "CN=k", key: {algorithm: RSA}}}]
"""


def test_plan_refuses_password_facts_naming_the_reference_only(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from kstool.engine.compat import check_inputs
    from kstool.engine.inputs import resolve_inputs

    spec = load_spec(_write(tmp_path, PLAN_SPEC))
    env = {"COMPAT_SHORT": "Short-pw-13c", "COMPAT_TAB": "with\ttab-1"}
    with pytest.raises(MultiError) as caught:
        check_inputs(spec, resolve_inputs(spec, env))
    lines = [str(e).split(str(tmp_path) + "/", 1)[1] for e in caught.value.errors]
    assert lines == [
        "kstool.yaml:5:5: keystores[0].password: fips refuses the store password from environment variable "
        "COMPAT_SHORT: BC-FIPS in approved mode needs PBKDF2 passwords of at least 112 bits (14 characters): use "
        "a password of 14 characters or more (generate: true makes 32) (compatible_with: fips)",
        "kstool.yaml:10:5: keystores[1].password: java11 refuses the store password from environment variable "
        "COMPAT_TAB with characters outside printable ASCII (space to '~') ('Password is not ASCII'): use a "
        "password of printable ASCII characters, or type: jks (compatible_with: java11)",
    ]
    assert not any(secret in line for line in lines for secret in env.values())
    env["COMPAT_SHORT"] = "Long-enough-password-1"
    env["COMPAT_TAB"] = "no-tab-here"
    check_inputs(spec, resolve_inputs(spec, env))  # the fixed passwords pass


def _key_and_cert(folder: Path, name: str, key: object) -> None:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    from cryptography.x509.oid import NameOID

    assert isinstance(key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(7).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()))
    (folder / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))


def test_plan_refuses_imported_keys_a_target_cannot_use(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    from kstool.engine.compat import check_inputs
    from kstool.engine.inputs import resolve_inputs

    _key_and_cert(tmp_path, "ed", ed25519.Ed25519PrivateKey.generate())
    _key_and_cert(tmp_path, "weak", rsa.generate_private_key(public_exponent=65537, key_size=1024))
    _key_and_cert(tmp_path, "ok", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    text = """\
version: 1
keystores:
  - name: a
    path: a.p12
    password: {env: PW}
    compatible_with: [java8, java17]
    pkcs12_profile: legacy
    entries:
      - {alias: ed, import: {certificate: ed.crt, private_key: ed.key}}
      - {alias: ok, import: {certificate: ok.crt, private_key: ok.key}}
  - name: b
    path: b.p12
    password: {env: PW}
    compatible_with: [fips]
    entries:
      - {alias: ed, import: {certificate: ed.crt, private_key: ed.key}}
      - {alias: weak, allow_weak: true, import: {certificate: weak.crt, private_key: weak.key}}
"""
    spec = load_spec(_write(tmp_path, text))
    with pytest.raises(MultiError) as caught:
        check_inputs(spec, resolve_inputs(spec, {"PW": "Long-enough-password-1"}))
    lines = [str(e).split(str(tmp_path) + "/", 1)[1] for e in caught.value.errors]
    assert [[*line.split(": ", 2)[:2], line.rsplit("(", 1)[1]] for line in lines] == [
        ["kstool.yaml:9:9", "keystores[0].entries[0]", "compatible_with: java8)"],
        ["kstool.yaml:16:9", "keystores[1].entries[0]", "compatible_with: fips)"],
        ["kstool.yaml:17:9", "keystores[1].entries[1]", "compatible_with: fips)"],
    ]
    assert "java8 cannot use the imported Ed25519 key (ed: Ed25519): EdDSA came in Java 15 (JEP 339): import an " \
           "RSA or EC key instead" in lines[0]
    assert "fips refuses the imported weak: RSA 1024 key" in lines[2]
