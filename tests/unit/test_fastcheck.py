"""The compiled check is never wrong where it answers: on every subschema of the spec's schema and a pool of values
(every value of the shipped examples, their mutations and odd values), a True or False from it is jsonschema's
answer. Only None ("ask jsonschema") may differ."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from kstool.spec import validate as v
from kstool.spec.fastcheck import compile_check
from tests.unit.test_validate_fast import EXAMPLES, ODD_VALUES, mutations

MORE_ODD: list[Any] = [256.0, 2048.5, False, "EC", "Ed25519", 256, 3072, 4096, 521, 65537, -1, "a" * 300, "server",
                       ["server", "server"], ["server", "client"], [1, 1], {"size": 256}, {"algorithm": "Ed25519"},
                       {"algorithm": "Ed25519", "size": 256}, {"algorithm": "RSA", "size": 2048.0}, "0640", "0600",
                       {"env": "X", "generate": True}, {"file": "p", "generate": True}, {"bundle": "b.pem"}]


def subschemas(node: Any) -> list[Any]:
    """Every schema inside the inlined schema (including itself), once each."""
    found: dict[int, Any] = {}

    def walk(schema: Any) -> None:
        if not isinstance(schema, dict) or id(schema) in found:
            return
        found[id(schema)] = schema
        for keyword, value in schema.items():
            if keyword == "properties":
                for sub in value.values():
                    walk(sub)
            elif keyword in ("items", "additionalProperties", "not", "if", "then", "else"):
                walk(value)
            elif keyword in ("oneOf", "anyOf", "allOf"):
                for sub in value:
                    walk(sub)
    walk(node)
    return list(found.values())


def values_of(data: Any) -> list[Any]:
    out = [data]
    items = data.values() if isinstance(data, dict) else data if isinstance(data, list) else ()
    for child in items:
        out += values_of(child)
    return out


def pool() -> list[Any]:
    values: list[Any] = [*ODD_VALUES, *MORE_ODD]
    for example in EXAMPLES:
        data = yaml.safe_load(example.read_text())
        values += values_of(data)
        for doc in mutations(data, random.Random(f"fast-{example.name}"), 20):
            values += values_of(doc)[1:]
    unique: dict[str, Any] = {}
    for value in values:  # once each (True and 1, 1 and 1.0 kept apart)
        unique.setdefault(repr(value) + type(value).__name__, value)
    return list(unique.values())


def test_every_answer_is_jsonschemas() -> None:
    inlined = v._inline(v.schema(), v.schema()["$defs"])
    values = pool()
    answered = 0
    for schema in subschemas(inlined):
        check = compile_check(schema)
        plain = jsonschema.Draft202012Validator(schema)
        for value in values:
            got = check(value)
            if got is not None:
                answered += 1
                assert got == plain.is_valid(value), (schema, value)
    assert answered > 0.9 * len(values) * len(subschemas(inlined))  # it does answer: the fast path is taken


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_whole_documents(example: Path) -> None:
    inlined = v._inline(v.schema(), v.schema()["$defs"])
    check, plain = compile_check(inlined), jsonschema.Draft202012Validator(inlined)
    data = yaml.safe_load(example.read_text())
    assert check(data) is True  # a valid spec is known valid without jsonschema
    for doc in mutations(data, random.Random(f"whole-{example.name}"), 200):
        got = check(doc)
        assert got is None or got == plain.is_valid(doc)


def test_unknown_keywords_and_types_are_left_to_jsonschema() -> None:
    assert compile_check({"type": "string", "format": "email"})("x") is None
    assert compile_check({"type": "integer"})(1.0) is None  # an integer to jsonschema; not decided here
    assert compile_check({"enum": [1, 2]})(1.0) is None
    assert compile_check({"enum": [[1]]})([1]) is None
    assert compile_check({"type": "string"})(object()) is None
    assert compile_check({"enum": [1, 2]})(True) is False  # True is not 1 to jsonschema
    assert compile_check({"oneOf": [{"type": "integer"}, {"type": "number"}]})(1) is False  # both match
