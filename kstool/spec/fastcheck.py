"""A compiled yes / no / don't-know check of a value against the (inlined) spec schema: the fast path of validation.

jsonschema stays the validator of record: a value this check calls valid (``True``) is not validated again, and
everything else (``False``, ``None``) goes through jsonschema, which finds and words the errors exactly as it
always has. So only ``True`` must never be wrong, and inside ``oneOf``, ``anyOf``, ``not`` and ``if`` a branch's
``False`` must never be wrong either: each keyword below answers ``True`` or ``False`` only where its meaning in
Draft 2020-12 (as jsonschema implements it) is plain, and ``None`` otherwise — a float where an integer is
expected, an ``enum`` of non-strings, a keyword it does not know. ``tests/unit/test_fastcheck.py`` holds it to
jsonschema on the shipped examples and thousands of mutations of them.

On a spec of 10,000 keystores this is what makes validation cost a few microseconds per keystore instead of
jsonschema's ~80 (a validator object and a generator per value).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool | None]

# keywords that never make a value invalid (annotations, and the schema's own bookkeeping)
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default",
                          "deprecated", "readOnly", "writeOnly", "x-message"})
_JSON_TYPES = (dict, list, str, int, float, bool, type(None))


def _valid(_: Any) -> bool:
    return True


def _invalid(_: Any) -> bool:
    return False


def _unknown(_: Any) -> None:
    return None


def compile_check(schema: Any) -> Check:
    """The check of ``schema`` (a boolean schema or a mapping without ``$ref``)."""
    if schema is True:
        return _valid
    if schema is False:
        return _invalid
    if not isinstance(schema, dict):
        return _unknown
    checks: list[Check] = []
    for keyword, value in schema.items():
        if keyword in _ANNOTATIONS or keyword in ("then", "else"):  # then/else: compiled with "if"
            continue
        make = _KEYWORDS.get(keyword)
        if make is None:
            return _unknown  # a keyword this check does not know: jsonschema decides
        checks.append(make(value, schema))
    return _all(checks)


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _valid
    if len(checks) == 1:
        return checks[0]

    def check(x: Any) -> bool | None:
        result: bool | None = True
        for each in checks:
            got = each(x)
            if got is False:
                return False
            if got is None:
                result = None
        return result
    return check


def _type(value: Any, _: dict[str, Any]) -> Check:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return _unknown

    def check(x: Any) -> bool | None:
        kind = type(x)
        if kind not in _JSON_TYPES:
            return None
        for name in names:
            if name == "integer":
                if kind is float:
                    return None  # 1.0 is an integer to jsonschema: not worth being exact about here
                if kind is int:
                    return True
            elif name == "number":
                if kind is int or kind is float:
                    return True
            elif name not in _EXACT:
                return None
            elif kind is _EXACT[name]:
                return True
        return False
    return check


_EXACT: dict[str, type] = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _properties(value: Any, _: dict[str, Any]) -> Check:
    if not isinstance(value, dict):
        return _unknown
    subs = [(name, compile_check(sub)) for name, sub in value.items()]

    def check(x: Any) -> bool | None:
        if type(x) is not dict:
            return True if type(x) in _JSON_TYPES else None
        result: bool | None = True
        for name, sub in subs:
            if name in x:
                got = sub(x[name])
                if got is False:
                    return False
                if got is None:
                    result = None
        return result
    return check


def _required(value: Any, _: dict[str, Any]) -> Check:
    if not isinstance(value, list):
        return _unknown
    names = tuple(value)
    return _on((dict,), lambda x: all(name in x for name in names))


def _additional_properties(value: Any, schema: dict[str, Any]) -> Check:
    if "patternProperties" in schema or not isinstance(schema.get("properties", {}), dict):
        return _unknown
    known = frozenset(schema.get("properties", {}))
    sub = compile_check(value)

    def check(x: Any) -> bool | None:
        if type(x) is not dict:
            return True if type(x) in _JSON_TYPES else None
        result: bool | None = True
        for key in x:
            if key not in known:
                got = sub(x[key])
                if got is False:
                    return False
                if got is None:
                    result = None
        return result
    return check


def _items(value: Any, schema: dict[str, Any]) -> Check:
    if "prefixItems" in schema:
        return _unknown
    sub = compile_check(value)

    def check(x: Any) -> bool | None:
        if type(x) is not list:
            return True if type(x) in _JSON_TYPES else None
        result: bool | None = True
        for item in x:
            got = sub(item)
            if got is False:
                return False
            if got is None:
                result = None
        return result
    return check


def _on(kinds: tuple[type, ...], test: Callable[[Any], bool | None]) -> Check:
    """A keyword that constrains values of these Python types only: any other JSON value passes it (jsonschema's
    keywords ignore values of other types); a value of no JSON type at all is left to jsonschema. (The keywords
    that descend into mappings and lists test the type themselves: one call less per value on the hot path.)"""
    def check(x: Any) -> bool | None:
        if type(x) in kinds:
            return test(x)
        return True if type(x) in _JSON_TYPES else None
    return check


def _min_length(value: Any, _: dict[str, Any]) -> Check:
    return _on((str,), lambda s: len(s) >= value) if type(value) is int else _unknown


def _max_length(value: Any, _: dict[str, Any]) -> Check:
    return _on((str,), lambda s: len(s) <= value) if type(value) is int else _unknown


def _pattern(value: Any, _: dict[str, Any]) -> Check:
    if not isinstance(value, str):
        return _unknown
    search = re.compile(value).search  # jsonschema: re.search(pattern, instance)
    return _on((str,), lambda s: search(s) is not None)


def _minimum(value: Any, _: dict[str, Any]) -> Check:
    return _on((int, float), lambda n: n >= value) if type(value) in (int, float) else _unknown


def _maximum(value: Any, _: dict[str, Any]) -> Check:
    return _on((int, float), lambda n: n <= value) if type(value) in (int, float) else _unknown


def _enum(value: Any, _: dict[str, Any]) -> Check:
    """Exact for an enum of strings and integers (jsonschema's ``equal`` compares a string with ``==``, never
    takes True for 1, and calls 1.0 equal to 1: a float is left to it); other enums are left to jsonschema."""
    if not isinstance(value, list) or not all(type(v) is str or type(v) is int for v in value):
        return _unknown
    members = frozenset((type(v), v) for v in value)

    def check(x: Any) -> bool | None:
        kind = type(x)
        if kind is float or kind not in _JSON_TYPES:
            return None
        if kind is dict or kind is list:
            return False
        return (kind, x) in members  # a bool, None, a list or a mapping equals no string and no integer
    return check


def _const(value: Any, schema: dict[str, Any]) -> Check:
    return _enum([value], schema)


def _unique_items(value: Any, _: dict[str, Any]) -> Check:
    if value is False:
        return _valid
    if value is not True:
        return _unknown

    def check(x: list[Any]) -> bool | None:
        if all(type(item) is str for item in x):
            return len(set(x)) == len(x)
        return None
    return _on((list,), check)


def _min_properties(value: Any, _: dict[str, Any]) -> Check:
    if type(value) is not int:
        return _unknown
    return _on((dict,), lambda x: len(x) >= value)


def _one_of(value: Any, _: dict[str, Any]) -> Check:
    if not isinstance(value, list):
        return _unknown
    subs = [compile_check(sub) for sub in value]

    def check(x: Any) -> bool | None:
        matched = 0
        for sub in subs:
            got = sub(x)
            if got is None:
                return None
            matched += got
        return matched == 1
    return check


def _any_of(value: Any, _: dict[str, Any]) -> Check:
    if not isinstance(value, list):
        return _unknown
    subs = [compile_check(sub) for sub in value]

    def check(x: Any) -> bool | None:
        result: bool | None = False
        for sub in subs:
            got = sub(x)
            if got is True:
                return True
            if got is None:
                result = None
        return result
    return check


def _not(value: Any, _: dict[str, Any]) -> Check:
    sub = compile_check(value)

    def check(x: Any) -> bool | None:
        got = sub(x)
        return None if got is None else not got
    return check


def _if(value: Any, schema: dict[str, Any]) -> Check:
    condition = compile_check(value)
    then = compile_check(schema.get("then", True))
    otherwise = compile_check(schema.get("else", True))

    def check(x: Any) -> bool | None:
        got = condition(x)
        if got is None:
            return None
        return then(x) if got else otherwise(x)
    return check


_KEYWORDS: dict[str, Callable[[Any, dict[str, Any]], Check]] = {
    "type": _type, "properties": _properties, "required": _required, "additionalProperties": _additional_properties,
    "items": _items, "minLength": _min_length, "maxLength": _max_length, "pattern": _pattern, "minimum": _minimum,
    "maximum": _maximum, "enum": _enum, "const": _const, "uniqueItems": _unique_items,
    "minProperties": _min_properties, "oneOf": _one_of, "anyOf": _any_of, "not": _not, "if": _if,
}
