"""``kstool csr``: a PKCS#10 request for a generated key that apply has already stored. Reads, never writes."""

from __future__ import annotations

import os
from pathlib import Path

from kstool.errors import KstoolError


def make_csr(spec_path: Path, address: str, output_dir: Path | None) -> bytes:
    """The PEM request for the entry ``KEYSTORE/ALIAS`` of the spec, signed by the key in its stored keystore.

    The store's password comes from the spec, as for plan; the subject and SANs are the spec's (the subject
    DER is the certificate's, both come from one parsed dname).
    """
    from cryptography.hazmat.primitives.serialization import Encoding, load_der_private_key  # noqa: PLC0415

    from kstool.crypto.certs import PrivateKey, build_csr  # noqa: PLC0415
    from kstool.engine import output_root  # noqa: PLC0415
    from kstool.engine.inputs import resolve_inputs  # noqa: PLC0415
    from kstool.engine.observe import read_artifact  # noqa: PLC0415
    from kstool.formats.codec import decode  # noqa: PLC0415
    from kstool.formats.entries import KeyEntry  # noqa: PLC0415
    from kstool.spec.model import Generate, load_spec  # noqa: PLC0415

    spec = load_spec(spec_path)
    name, _, alias = address.partition("/")
    ks = spec.keystore(name)
    entry = ks.entry(alias.lower()) if ks is not None else None
    if ks is None or entry is None:
        known = ", ".join(f"{k.name}/{e.alias}" for k in spec.keystores for e in k.entries
                          if isinstance(e.source, Generate))
        raise KstoolError(f"{address!r} is not an entry of {spec_path}; name a generated entry as KEYSTORE/ALIAS "
                          f"(generated entries: {known or 'none'})")
    gen = entry.source
    if not isinstance(gen, Generate):
        raise KstoolError(f"{address}: a CSR is made for a generated key; this entry imports or trusts a "
                          "certificate")
    inputs = resolve_inputs(spec, os.environ)
    ki = inputs.keystores[ks.name]
    root = output_root(spec_path, output_dir)
    found = read_artifact(root / ks.path, ks.path)
    if found is None:
        raise KstoolError(f"{ks.path} does not exist: run kstool apply first; the CSR is signed by the key apply "
                          "stores there")
    stored = decode(found[0], ks.type, ki.password.secret.reveal(),
                    key_password=ki.key_password.secret.reveal() if ki.key_password else None, alias=entry.alias)
    key_entry = next((e for e in stored if isinstance(e, KeyEntry)), None)
    if key_entry is None:
        raise KstoolError(f"{ks.path} holds no key under alias {entry.alias!r}: run kstool apply first")
    key = load_der_private_key(key_entry.key_der, None)
    if not isinstance(key, PrivateKey):
        raise KstoolError(f"{address}: cannot sign a request with a {type(key).__name__}")
    return build_csr(key, gen.subject, san=gen.san_names).public_bytes(Encoding.PEM)
