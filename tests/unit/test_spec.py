"""The spec layer: YAML traps, schema messages with locations, model cross-checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kstool.errors import KstoolError
from kstool.spec.model import Generate, ImportFiles, TrustedReference, load_spec
from kstool.spec.validate import schema, schema_text
from kstool.spec.yamlload import SpecError, load_yaml

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
version: 1
keystores:
  - name: web
    path: out/web.p12
    password: {env: WEB_PASS}
    entries:
      - alias: Web
        generate:
          dname: "CN=web.example, O=Example, C=LK"
          key: {algorithm: EC, size: 256}
          san: ["dns:web.example"]
  - name: trust
    path: trust.jks
    password: {file: secrets/trust.pass, generate: true}
    entries:
      - alias: web
        trusted: {entry: web/WEB}
"""


def write(tmp_path: Path, text: str) -> Path:
    spec = tmp_path / "kstool.yaml"
    spec.write_text(text, encoding="utf-8")
    return spec


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(KstoolError) as info:
        load_spec(write(tmp_path, text))
    return str(info.value)


def test_good_spec_loads_into_types(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD))
    web, trust = spec.keystores
    assert web.type == "pkcs12" and trust.type == "jks"  # from the extensions
    assert web.entries[0].alias == "web"  # lowercased like Java
    gen = web.entries[0].source
    assert isinstance(gen, Generate) and (gen.algorithm, gen.size, gen.validity_days) == ("EC", 256, 90)
    assert trust.entries[0].source == TrustedReference("web", "web")
    assert web.path == "out/web.p12"


def test_default_key_is_rsa_2048(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD.replace("          key: {algorithm: EC, size: 256}\n", "")))
    gen = spec.keystores[0].entries[0].source
    assert isinstance(gen, Generate) and (gen.algorithm, gen.size) == ("RSA", 2048)


@pytest.mark.parametrize(("text", "where", "fragment"), [
    ("", "kstool.yaml", "the spec is empty"),
    ("- a\n", "kstool.yaml:1:1", "must be a mapping"),
    ("version: 1\nkeystores: []\nextra: 1\n", ":3:1: extra", "unknown key 'extra'"),
    ("version: 2\nkeystores: []\n", ":1:1: version", "must be 1"),
    ("version: 1\n", "kstool.yaml:1:1", "missing required key 'keystores'"),
    ("version: 1\nkeystores: []\nversion: 1\n", ":3:1", "duplicate key 'version' (first at line 1, again at line 3)"),
    ("version: 1\nkeystores: &a []\n", ":2:12", "anchors"),
    ("version: 1\nkeystores: []\n---\nversion: 1\n", "kstool.yaml", "several YAML documents"),
    ("version: 1\nkeystores: [\n", "kstool.yaml:", "not valid YAML"),
])
def test_document_errors(tmp_path: Path, text: str, where: str, fragment: str) -> None:
    message = error_of(tmp_path, text)
    assert where in message and fragment in message


def ks(body: str, entries: str = "      - alias: a\n        generate: {dname: \"CN=a\"}\n") -> str:
    return f"version: 1\nkeystores:\n  - name: k\n{body}    entries:\n{entries}"


PASS = "    password: {env: P}\n"


@pytest.mark.parametrize(("text", "fragment"), [
    (ks("    path: k.jks\n    password: hunter22\n"), "keystores[0].password: a password is a reference"),
    (ks("    path: k.jks\n    password: {env: P, file: x}\n"), "a password is a reference"),
    (ks("    path: k.jks\n    password: {env: P, generate: true}\n"), "unknown key 'generate'"),
    (ks("    path: k.bin\n" + PASS), "cannot tell the keystore type"),
    (ks("    path: ../k.jks\n" + PASS), "'..' may not leave it"),
    (ks("    path: /etc/k.jks\n" + PASS), "not absolute"),
    (ks("    path: k.jks\n    type: jwk\n" + PASS), "must be one of jks, jceks, pkcs12"),
    (ks("    path: k.p12\n" + PASS + "    key_password: {env: K}\n"), "PKCS12 keystores have one password"),
    (ks("    path: k.jks\n" + PASS, "      - alias: a\n"), "exactly one of generate, import or trusted"),
    (ks("    path: k.jks\n" + PASS, "      - alias: a\n        generate: {dname: \"CN=a\"}\n"
                                   "        trusted: {certificate: c.pem}\n"), "exactly one of generate"),
    (ks("    path: k.jks\n" + PASS, "      - alias: a\n        generate: {dname: \"CN=a\"}\n"
                                   "      - alias: A\n        generate: {dname: \"CN=b\"}\n"),
     "'A' differs only by case from 'a'"),
    (ks("    path: k.jks\n" + PASS,
        "      - alias: a\n        generate: {dname: \"CN=a\", key: {algorithm: RSA, size: 1024}}\n"),
     "generate.key.size: must be one of 2048, 3072, 4096"),
    (ks("    path: k.jks\n" + PASS,
        "      - alias: a\n        generate: {dname: \"CN=a\", key: {algorithm: Ed25519, size: 256}}\n"),
     "Ed25519 takes no size"),
    (ks("    path: k.jks\n" + PASS, "      - alias: \"x\U0001F600\"\n        generate: {dname: \"CN=a\"}\n"),
     "Basic Multilingual Plane"),
    (ks("    path: k.jks\n" + PASS, "      - alias: a\n        trusted: {entry: nope/a}\n"), "keystore 'nope'"),
    (ks("    path: k.jks\n" + PASS, "      - alias: a\n        trusted: {entry: k/zz}\n"), "alias 'zz'"),
    (ks("    path: k.jks\n" + PASS, "      - alias: a\n        trusted: {entry: k/a}\n"), "form a cycle: k/a → k/a"),
    (ks("    path: k.jks\n" + PASS, "      - alias: a\n        generate: {dname: \"CN=a\", san: [\"foo:bar\"]}\n"),
     "a SAN is dns:NAME"),
    (ks("    path: k.jks\n" + PASS, "      - alias: a\n        generate: {dname: \"CN=a\", validity_days: 0}\n"),
     "from 1 to 36500"),
    (ks("    path: k.jks\n" + PASS, "      - alias: a\n        generate: {dname: CN=a, C=NO}\n"), "dname"),
    (ks("    path: k.jks\n    iterations: 99999999\n" + PASS), "Java refuses more"),
])
def test_spec_errors(tmp_path: Path, text: str, fragment: str) -> None:
    assert fragment in error_of(tmp_path, text)


def test_misplaced_password_is_never_echoed(tmp_path: Path) -> None:
    canary = "Canary-Secret-4711"
    for text in (ks(f"    path: k.jks\n    password: {canary}\n"),
                 ks(f"    path: k.jks\n    password: {{env: P, x: {canary}}}\n"),
                 ks("    path: k.jks\n    password: 0123\n")):
        message = error_of(tmp_path, text)
        assert canary not in message and "0123" not in message


def test_error_points_at_line_and_column(tmp_path: Path) -> None:
    text = ks("    path: k.jks\n" + PASS, "      - alias: a\n        generate: {dname: \"CN=a\", bogus: 1}\n")
    message = error_of(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'kstool.yaml'}:8:")
    assert "keystores[0].entries[0].generate.bogus: unknown key 'bogus'" in message


def test_duplicate_names_and_paths(tmp_path: Path) -> None:
    two = ("version: 1\nkeystores:\n"
           "  - {name: a, path: x.jks, password: {env: P}, entries: []}\n"
           "  - {name: a, path: y.jks, password: {env: P}, entries: []}\n")
    assert "name 'a' is already used by keystores[0]" in error_of(tmp_path, two)
    two = two.replace("name: a, path: y.jks", "name: b, path: ./X.jks")
    assert "path 'X.jks' is already written by keystores[0]" in error_of(tmp_path, two)


def test_import_paths_resolve_against_spec_folder(tmp_path: Path) -> None:
    text = ks("    path: k.jks\n" + PASS, "      - alias: a\n        import:\n          certificate: c.pem\n"
                                           "          private_key: k.pem\n          chain: [ca.pem]\n")
    spec = load_spec(write(tmp_path, text))
    source = spec.keystores[0].entries[0].source
    assert isinstance(source, ImportFiles)
    assert source.certificate == tmp_path / "c.pem" and source.chain == (tmp_path / "ca.pem",)


@pytest.mark.parametrize("value", ["NO", "yes", "off", "0600", "1:20", "2024-01-01", "1.5", "0x1F"])
def test_yaml11_traps_are_errors(value: str) -> None:
    with pytest.raises(SpecError, match=r"quote it|true or false"):
        load_yaml(f"a: {value}\n", "s.yaml")


@pytest.mark.parametrize(("value", "parsed"), [
    ('"NO"', "NO"), ("'0600'", "0600"), ("true", True), ("false", False), ("12", 12), ("~", None),
    ("plain text", "plain text"),
])
def test_yaml_safe_values(value: str, parsed: object) -> None:
    data = load_yaml(f"a: {value}\n", "s.yaml").data
    assert data == {"a": parsed}
    assert type(data["a"]) is type(parsed)  # True is not 1, "0600" is not 384


def test_schema_ships_in_package_and_matches_top_level_copy() -> None:
    assert json.loads(schema_text()) == schema()
    assert (ROOT / "schemas" / "kstool.schema.json").read_text(encoding="utf-8") == schema_text()


def test_examples_validate() -> None:
    specs = sorted(ROOT.glob("examples/**/kstool.yaml"))
    assert ROOT / "examples" / "wso2" / "kstool.yaml" in specs  # the glob finds the shipped examples
    for spec in specs:
        assert load_spec(spec).keystores, spec
