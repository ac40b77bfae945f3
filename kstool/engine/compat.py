"""``plan``'s compatibility checks: the facts only the inputs tell (imported keys, the passwords' values),
judged by the one matrix in ``kstool.spec.compat``. Messages name the reference, never the secret."""

from __future__ import annotations

from kstool.engine.inputs import Inputs
from kstool.errors import Collector
from kstool.formats.entries import KeyEntry
from kstool.spec.compat import Fact, problems
from kstool.spec.model import Generate, Spec


def input_facts(spec: Spec, inputs: Inputs, name: str) -> list[Fact]:
    """The plan-time facts of keystore ``name``."""
    from kstool.crypto.certs import display_key_params  # noqa: PLC0415
    from kstool.engine.facts import load_cert  # noqa: PLC0415

    ks = spec.keystore(name)
    got = inputs.keystores.get(name)
    if ks is None or got is None:
        return []
    facts: list[Fact] = []
    for what, resolved in (("store password", got.password), ("key password", got.key_password)):
        if resolved is None:
            continue
        value = resolved.secret.reveal()
        shown = f"the {what} from {resolved.ref.describe()}"
        if ks.type in ("pkcs12", "jceks"):
            facts.append(Fact("password_chars", value, shown, resolved.ref.location))
        facts.append(Fact("password_length", len(value), shown, resolved.ref.location))
    for entry in ks.entries:
        content = got.material.get(entry.alias)
        if isinstance(entry.source, Generate) or not isinstance(content, KeyEntry) or not content.chain_der:
            continue
        algorithm, size = display_key_params(load_cert(content.chain_der[0]).public_key())
        shown = f"{entry.alias}: {algorithm} {size}" if size else f"{entry.alias}: {algorithm}"
        facts.append(Fact("imported_key", (algorithm, size), shown, entry.location))
    return facts


def check_inputs(spec: Spec, inputs: Inputs) -> None:
    """Raise every plan-time compatibility problem of every keystore at once."""
    errors = Collector()
    for ks in spec.keystores:
        if ks.compatible_with:
            errors.errors += problems(ks.compatible_with, input_facts(spec, inputs, ks.name), "plan")
    errors.raise_all()
