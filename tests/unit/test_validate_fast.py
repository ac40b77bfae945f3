"""The spec's validator reports exactly what plain jsonschema (Draft 2020-12) reports, error for error, while
it skips re-validating values it already found valid and reuses each subschema's validator."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from kstool.spec import validate as v

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(ROOT.glob("examples/**/kstool.yaml"))
ODD_VALUES: list[Any] = [None, True, 0, 1, -5, 2.5, "", "x", "RSA", "pkcs12", [], ["a"], {}, {"env": "X"},
                         {"file": "p"}, {"generate": True}, {"algorithm": "EC", "size": 256}, 10**6]


def errors(validator: Any, data: Any) -> list[tuple[Any, ...]]:
    def flat(e: jsonschema.ValidationError) -> tuple[Any, ...]:
        return (tuple(e.absolute_path), tuple(e.absolute_schema_path), e.validator, e.message,
                tuple(flat(c) for c in e.context or ()))
    return [flat(e) for e in validator.iter_errors(data)]


def mutations(data: Any, rng: random.Random, count: int) -> list[Any]:
    """Copies of data, each with one value somewhere replaced, removed or joined by an unknown key."""
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        paths.append(path)
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, child in items:
            walk(child, (*path, k))

    walk(data, ())
    out = []
    for _ in range(count):
        doc = copy.deepcopy(data)
        path = rng.choice(paths[1:])
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = rng.randrange(3)
        if action == 0:
            parent[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif action == 1:
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[rng.choice(["pasword", "entires", "generate", "import", "trusted", "extra"])] = "x"
        out.append(doc)
    return out


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_errors_are_plain_jsonschemas(example: Path) -> None:
    plain = jsonschema.Draft202012Validator(v._inline(v.schema(), v.schema()["$defs"]))
    data = yaml.safe_load(example.read_text())
    rng = random.Random(example.name)
    for doc in [data, *mutations(data, rng, 150)]:
        try:
            assert errors(v._validator(), doc) == errors(plain, doc)
            assert errors(v._validator(), doc) == errors(plain, doc)  # again, with what the first run remembered
        finally:
            v._VALID.clear()


def test_known_valid_values_are_not_validated_again() -> None:
    data = {"version": 1, "keystores": [
        {"name": f"ks{i}", "path": f"ks{i}.p12", "password": {"env": "PASS"},
         # a float key size: valid to jsonschema (256.0 == 256) but left to it by the compiled check
         "entries": [{"alias": "a", "generate": {"dname": "CN=a", "key": {"algorithm": "EC", "size": 256.0}}}]}
        for i in range(50)]}
    try:
        assert list(v._validator().iter_errors(data)) == []
        remembered = len(v._VALID)
        assert remembered > 0
        assert list(v._validator().iter_errors(data)) == []
        assert len(v._VALID) == remembered  # nothing new learnt: every value was known
    finally:
        v._VALID.clear()
