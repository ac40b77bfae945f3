"""JSON Schema validation with messages that point at the value and never echo it.

jsonschema's own messages embed the offending instance; in a spec that could be a password someone typed
where a reference belongs, so every message here is built from the schema, the keys and the location only.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kstool.errors import Collector
from kstool.spec.fastcheck import Check, compile_check
from kstool.spec.yamlload import Document, JsonPath, SpecError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

T = TypeVar("T")

_TYPE_WORDS = {
    "object": "a mapping (key: value)",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "boolean": "true or false",
}


def schema_text() -> str:
    # beside the package's modules (importlib.resources would cost every start ~7 ms for the same answer)
    return (Path(__file__).resolve().parent.parent / "kstool.schema.json").read_text(encoding="utf-8")


@cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_text())
    return loaded


@cache
def _validator() -> Any:
    """Draft 2020-12 over the schema with its $refs inlined once (resolving them through `referencing` on every
    item cost more than the checks), its applicators descending through ``_descend``."""
    import jsonschema  # noqa: PLC0415  (imported when a spec is not proven valid: most runs never need it)
    from jsonschema.validators import extend  # noqa: PLC0415

    applicators = {"properties": _properties, "items": _items, "additionalProperties": _additional_properties,
                   "oneOf": _one_of, "not": _not, "type": _type}
    extended = extend(jsonschema.Draft202012Validator, validators=applicators)  # type: ignore[no-untyped-call]
    return extended(_inlined())


@cache
def _inlined() -> dict[str, Any]:
    inlined: dict[str, Any] = _inline(schema(), schema()["$defs"])
    return inlined


# jsonschema's descend makes a new validator (and a `referencing` resolver) for every value it descends into;
# on a 10,000-keystore spec that was most of the time. The schema is inlined (no $ref, no $id below the root, no
# format checks, no unevaluated*), so a subschema's validator is the same wherever it is met: made once, kept here.
# And a (subschema, value) pair known valid is valid again: such pairs are remembered for one validation (only
# valid ones: every error still comes from jsonschema's own keywords, exactly as they report it).
_EVOLVED: dict[int, tuple[Any, Any]] = {}
_VALID: set[tuple[int, Any]] = set()
_SCALARS = (str, int, float, bool, type(None))


def _memo_key(instance: Any) -> Any:
    """A hashable, type-exact stand-in for a scalar or a flat mapping of scalars (None for anything else)."""
    if isinstance(instance, _SCALARS):
        return (type(instance), instance)
    if isinstance(instance, dict) and all(isinstance(v, _SCALARS) for v in instance.values()):
        return tuple((k, type(v), v) for k, v in instance.items())
    return None


_FAST: dict[int, tuple[Any, Check]] = {}


def _fast(subschema: Any) -> Check:
    """The compiled check of a subschema of the inlined schema (made once, like its validator)."""
    return _per_subschema(_FAST, subschema, compile_check)


def _evolved(validator: Any, subschema: Any) -> Any:
    return _per_subschema(_EVOLVED, subschema, lambda s: validator.evolve(schema=s))


def _per_subschema(table: dict[int, tuple[Any, T]], subschema: Any, make: Callable[[Any], T]) -> T:
    """``make(subschema)``, once per subschema object (keyed by identity, the object kept so its id stays its own)."""
    hit = table.get(id(subschema))
    if hit is None or hit[0] is not subschema:
        hit = (subschema, make(subschema))
        table[id(subschema)] = hit
    return hit[1]


def _descend(validator: Any, instance: Any, subschema: Any, path: str | int | None = None,
             schema_path: str | int | None = None) -> Iterator[ValidationError]:
    """``validator.descend``, with the subschema's validator made once and known-valid pairs skipped."""
    if subschema is True or subschema is False:
        yield from validator.descend(instance, subschema, path=path, schema_path=schema_path)
        return
    if _fast(subschema)(instance) is True:  # certainly valid: nothing for jsonschema to report
        return
    key = _memo_key(instance)
    memo = None if key is None else (id(subschema), key)
    if memo is not None and memo in _VALID:
        return
    valid = True
    for error in _evolved(validator, subschema).iter_errors(instance):  # sets what descend sets, then the path
        valid = False
        if path is not None:
            error.path.appendleft(path)
        if schema_path is not None:
            error.schema_path.appendleft(schema_path)
        yield error
    if valid and memo is not None:
        _VALID.add(memo)


# jsonschema's own applicators (jsonschema/_keywords.py), descending through ``_descend``
def _properties(validator: Any, properties: dict[str, Any], instance: Any, schema: Any) -> Iterator[ValidationError]:
    if type(instance) is not dict and not validator.is_type(instance, "object"):
        return
    for prop, subschema in properties.items():
        if prop in instance:
            yield from _descend(validator, instance[prop], subschema, path=prop, schema_path=prop)


def _items(validator: Any, items: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if "prefixItems" in schema or items is False or type(instance) is not list:
        yield from _keywords().items(validator, items, instance, schema)
        return
    for index in range(len(instance)):
        yield from _descend(validator, instance[index], items, path=index)


def _additional_properties(validator: Any, ap: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if type(ap) is dict and type(instance) is dict and "patternProperties" not in schema:
        properties = schema.get("properties", {})
        for extra in {p for p in instance if p not in properties}:
            yield from _descend(validator, instance[extra], ap, path=extra)
        return
    yield from _keywords().additionalProperties(validator, ap, instance, schema)


def _one_of(validator: Any, one_of: list[Any], instance: Any, schema: Any) -> Iterator[ValidationError]:
    subschemas = enumerate(one_of)
    all_errors: list[ValidationError] = []
    first_valid: Any = None
    for index, subschema in subschemas:
        errs = list(_descend(validator, instance, subschema, schema_path=index))
        if not errs:
            first_valid = subschema
            break
        all_errors.extend(errs)
    else:
        yield _error(f"{instance!r} is not valid under any of the given schemas", context=all_errors)
    more_valid = [each for _, each in subschemas if _is_valid(validator, instance, each)]
    if more_valid:
        more_valid.append(first_valid)
        reprs = ", ".join(repr(schema) for schema in more_valid)
        yield _error(f"{instance!r} is valid under each of {reprs}")


# a value of exactly this Python type is of that JSON type (jsonschema's checks accept these and more: anything
# else goes to jsonschema's own "type")
_EXACT_TYPES: dict[str, type] = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int,
                                 "null": type(None)}


def _type(validator: Any, types: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if type(types) is str and type(instance) is _EXACT_TYPES.get(types):
        return
    yield from _keywords().type(validator, types, instance, schema)


def _not(validator: Any, not_schema: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if _is_valid(validator, instance, not_schema):
        yield _error(f"{instance!r} should not be valid under {not_schema!r}")


def _is_valid(validator: Any, instance: Any, subschema: Any) -> bool:
    return next(_descend(validator, instance, subschema), None) is None


def _error(message: str, **kwargs: Any) -> ValidationError:
    from jsonschema.exceptions import ValidationError  # noqa: PLC0415

    return ValidationError(message, **kwargs)


def _keywords() -> Any:
    from jsonschema import _keywords  # noqa: PLC0415

    return _keywords


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """The schema with every local ``{"$ref": "#/$defs/X"}`` replaced by X (the spec's schema has no cycles)."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {**target, **{k: _inline(v, defs) for k, v in node.items() if k != "$ref"}}
    return {k: (v if k == "$defs" else _inline(v, defs)) for k, v in node.items()}


def validate(doc: Document) -> None:
    """Raise every schema violation at once (MultiError; a lone one as SpecError), in document order.

    An unknown key is reported at its own line, with the allowed key it most resembles; a required key that
    such a typo explains ("missing required key 'password'" next to ``pasword:``) is not reported again.
    """
    if _fast(_inlined())(doc.data) is True:  # proven valid without jsonschema (kstool/spec/fastcheck.py)
        return
    validator = _validator()
    try:
        errors = list(validator.iter_errors(doc.data))
    finally:
        _VALID.clear()
    if not errors:
        return
    explained: list[tuple[JsonPath, str, str]] = []
    for error in errors:
        explained += _explain_all(error, tuple(error.absolute_path))
    typos = {(path[:-1], meant) for path, message, _ in explained for meant in _meant(message)}
    collector = Collector()
    for path, message, kind in dict.fromkeys(explained):
        missing = message.removeprefix("missing required key ")
        if missing != message and (path, missing.strip("'")) in typos:
            continue  # the unknown key next to it says what happened, at the right line
        if kind == "oneOf" and any(parent == path for parent, _ in typos):
            continue  # "needs exactly one of generate, import or trusted" next to `genrate:`: the typo says it
        collector.errors.append(SpecError(doc.at(path), message))
    collector.raise_all()


_DID_YOU_MEAN = "; did you mean "


def _meant(message: str) -> list[str]:
    """The key an unknown-key message suggests, if any."""
    return [message.rsplit(_DID_YOU_MEAN, 1)[1].removesuffix("?").strip("'")] if _DID_YOU_MEAN in message else []


def _explain_all(error: ValidationError, path: JsonPath) -> list[tuple[JsonPath, str, str]]:
    """(path, message, validator) of every unknown key of a mapping on its own; any other violation as one."""
    if error.validator == "oneOf":
        chosen = _intended_branch(error)
        if chosen is not None and chosen.validator != "not":
            return _explain_all(chosen, tuple(chosen.absolute_path))
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema_here: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
        allowed = sorted(schema_here.get("properties", {}))
        return [((*path, key), _unknown_key(key, allowed, error.instance), "additionalProperties")
                for key in sorted(k for k in error.instance if k not in allowed)]
    return [(*_explain(error, path), str(error.validator))]


def _unknown_key(key: str, allowed: list[str], present: dict[str, Any]) -> str:
    missing = [k for k in allowed if k not in present]  # a typo most likely stands for a key not yet given
    close = difflib.get_close_matches(key, missing, n=1, cutoff=0.6) or difflib.get_close_matches(key, allowed, n=1,
                                                                                                 cutoff=0.6)
    hint = f"{_DID_YOU_MEAN}{close[0]!r}?" if close else f"; allowed here: {', '.join(allowed)}"
    return f"unknown key {key!r}{hint}"


def _explain(error: ValidationError, path: JsonPath) -> tuple[JsonPath, str]:
    kind = error.validator
    value: Any = error.validator_value
    schema_here: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance
    if kind == "oneOf":
        chosen = _intended_branch(error)
        if chosen is not None and chosen.validator != "not":
            return _explain(chosen, tuple(chosen.absolute_path))
        return path, str(schema_here.get("x-message", "does not match any allowed form"))
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(schema_here.get("properties", {}))
        extra = sorted(k for k in instance if k not in allowed)
        return (*path, extra[0]), f"unknown key {extra[0]!r}; allowed here: {', '.join(allowed)}"
    if kind == "required" and isinstance(instance, dict):
        missing = [k for k in value if k not in instance]
        return path, f"missing required key {missing[0]!r}"
    if kind == "type":
        words = " or ".join(_TYPE_WORDS.get(w, w) for w in ([value] if isinstance(value, str) else value))
        return path, f"must be {words}"
    if "x-message" in schema_here:
        return path, str(schema_here["x-message"])
    if kind == "const":
        return path, f"must be {json.dumps(value)}"
    if kind == "enum":
        return path, "must be one of " + ", ".join(json.dumps(v) for v in value)
    if kind in ("minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems"):
        return path, f"violates {kind} {value}"
    if kind == "not":
        return path, "is not allowed here"
    return path, f"is not valid here ({kind})"


def _intended_branch(error: ValidationError) -> ValidationError | None:
    """For a failed oneOf, the error inside the branch the user evidently meant, if exactly one fits.

    A branch is "meant" when none of its failures is at the top of the value for `required` or `type`:
    e.g. ``{env: X, generate: true}`` means the env form, and the useful error is the unknown key.
    """
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        by_branch.setdefault(int(sub.schema_path[0]), []).append(sub)
    branches: Any = error.validator_value
    n_branches = len(branches)
    plausible = [
        i for i in range(n_branches)
        if not any(
            (e.validator in ("required", "type", "const") and len(e.relative_path) == 0)
            or (e.validator == "const" and len(e.relative_path) == 1)
            for e in by_branch.get(i, [])
        )
    ]
    if len(plausible) == 1 and by_branch.get(plausible[0]):
        return by_branch[plausible[0]][0]
    return None
