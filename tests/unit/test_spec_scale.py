"""Specs at estate scale: the size cap for plain keystore lists, the hostile-input bounds that stay, and the
one-pass loader's locations checked against PyYAML's own composer (the reference implementation)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kstool.spec import yamlload
from kstool.spec.model import load_spec
from kstool.spec.yamlload import JsonPath, Location, SpecError, load_yaml

ROOT = Path(__file__).resolve().parents[2]


def reference_locations(text: str, file: str) -> dict[JsonPath, Location]:
    """Every path's location as PyYAML's composer marks it: a node at its start, a mapping value at its key."""
    out: dict[JsonPath, Location] = {}

    def walk(node: yaml.Node, path: JsonPath) -> None:
        out[path] = Location(file, node.start_mark.line + 1, node.start_mark.column + 1, path)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(value, (*path, key.value))
                out[(*path, key.value)] = Location(file, key.start_mark.line + 1, key.start_mark.column + 1,
                                                   (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    assert root is not None
    walk(root, ())
    return out


def keystore_list(n: int, entries: int = 1) -> str:
    lines = ["version: 1", "keystores:"]
    for i in range(n):
        lines += [f"  - name: ks{i}", f"    path: ks{i}.p12", "    password: {env: BENCH_PASS}", "    entries:"]
        for j in range(entries):
            lines += [f"      - alias: host{j}", "        generate:", f"          dname: \"CN=host-{i}-{j}\"",
                      "          key: {algorithm: EC, size: 256}"]
    return "\n".join(lines) + "\n"


SAMPLES = [
    *(p.read_text() for p in sorted(ROOT.glob("examples/**/*.yaml"))),
    keystore_list(3, 2),
    "version: 1\nkeystores:\n- [a, [b, {c: d}], {e: [f, g]}]\n- 'x'\n-\n  - y\n",
    "a: {b: [1, 2, {c: \"d\"}], e: ~, f: true}\ng: |\n  text\n",
]


@pytest.mark.parametrize("text", SAMPLES, ids=[f"sample{i}" for i in range(len(SAMPLES))])
def test_locations_are_the_composers(text: str) -> None:
    doc = load_yaml(text, "s.yaml")
    expected = reference_locations(text, "s.yaml")
    assert doc.locations == expected
    for path, location in expected.items():
        assert doc.at(path) == location
        assert doc.at((*path, "no-such-key", 3)) == location  # the nearest located ancestor


def test_data_is_what_safe_load_reads() -> None:
    for text in SAMPLES:
        assert load_yaml(text, "s.yaml").data == yaml.safe_load(text)


@pytest.mark.parametrize(("text", "where", "words"), [
    ("a: 1\nb: yes\n", "s.yaml:2:4: b", "boolean"),
    ("a: [1, 0755]\n", "s.yaml:1:8: a[1]", "number"),
    ("a:\n  b: 1\n  b: 2\n", "s.yaml:3:3: a", "duplicate key 'b' (first at line 2, again at line 3)"),
    ("a:\n  ? [x, yes]\n  : 1\n", "s.yaml:2:5: a", "found 'a collection'"),
    ("a:\n  1: x\n", "s.yaml:2:3: a", "keys must be strings, found '1'"),
    ("a: yes\nb: &x 1\n", "s.yaml:2:4", "anchors"),  # the anchor is refused first, as a separate pass did
    ("a: yes\nb: [\n", "s.yaml:3:1", "not valid YAML"),  # so is a syntax error anywhere
    ("a: yes\n---\nb: 1\n", "s.yaml", "several YAML documents"),
])
def test_problems_are_reported_as_before(text: str, where: str, words: str) -> None:
    with pytest.raises(SpecError) as raised:
        load_yaml(text, "s.yaml")
    assert str(raised.value).startswith(where + ": "), str(raised.value)
    assert words in str(raised.value)


def test_a_10000_keystore_spec_loads_and_validates(tmp_path: Path) -> None:
    text = keystore_list(10_000)
    assert len(text.encode()) > yamlload.PLAIN_SPEC_BYTES  # over the old 1 MiB cap
    spec_file = tmp_path / "kstool.yaml"
    spec_file.write_text(text)
    spec = load_spec(spec_file)
    assert len(spec.keystores) == 10_000
    assert spec.keystores[9_999].location.line == 3 + 8 * 9_999


def test_a_large_spec_that_is_not_a_keystore_list_is_refused() -> None:
    long_line = "version: 1\nkeystores: []\n# " + "x" * yamlload.PLAIN_SPEC_BYTES + "\n"
    with pytest.raises(SpecError, match="larger than 1024 KiB and line 3 is longer than 4096 characters"):
        load_yaml(long_line, "s.yaml")
    comments = "version: 1\nkeystores: []\n" + "# padding\n" * (yamlload.PLAIN_SPEC_BYTES // 10 + 1)
    with pytest.raises(SpecError, match="holds 0 keystores and entries, fewer than one per 4096 bytes"):
        load_yaml(comments, "s.yaml")
    with pytest.raises(SpecError, match="larger than 16384 KiB"):
        load_yaml("#" * (yamlload.MAX_SPEC_BYTES + 1), "s.yaml")


def test_too_many_values_are_refused_as_they_are_met(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlload, "MAX_NODES", 1000)
    flat = "a: [" + ", ".join(["1"] * 2000) + "]\n"
    with pytest.raises(SpecError, match="holds more than 1000 values"):
        load_yaml(flat, "s.yaml")
    load_yaml("a: [" + ", ".join(["1"] * 900) + "]\n", "s.yaml")
