"""Kubernetes Secret manifests (``v1/Secret``) as deterministic YAML, for ``kubectl apply`` and GitOps.

Bytes in, bytes out, no knowledge of specs. Every key and string is written as a JSON string, which YAML 1.1 and
1.2 read as the same double-quoted scalar (no ``true``/``0600``/``1.0`` surprises); data values are base64 on
one line, in the order given; the same arguments always give the same bytes.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence

TLS_TYPE = "kubernetes.io/tls"
OPAQUE_TYPE = "Opaque"

# Kubernetes' own rules (apimachinery validation): object names, namespaces, data keys, labels
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DATA_KEY = re.compile(r"[-._a-zA-Z0-9]+")
LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid Secret name (a DNS-1123 subdomain), or None."""
    if len(name) > 253 or not DNS1123_SUBDOMAIN.fullmatch(name):
        return ("is not a valid Kubernetes object name: lowercase letters, digits, '-' and '.', starting and ending "
                "with a letter or digit, at most 253 characters")
    return None


def namespace_problem(name: str) -> str | None:
    if len(name) > 63 or not DNS1123_LABEL.fullmatch(name):
        return ("is not a valid namespace: lowercase letters, digits and '-', starting and ending with a letter or "
                "digit, at most 63 characters")
    return None


def data_key_problem(key: str) -> str | None:
    if len(key) > 253 or not DATA_KEY.fullmatch(key) or key in (".", ".."):
        return ("is not a valid Secret data key: letters, digits, '-', '_' and '.', at most 253 characters, not '.' "
                "or '..'")
    return None


def label_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not DNS1123_SUBDOMAIN.fullmatch(prefix)):
        return "has an invalid prefix: a DNS subdomain (lowercase) before the '/'"
    if len(name) > 63 or not LABEL_NAME.fullmatch(name):
        return ("is not a valid label key: letters, digits, '-', '_' and '.', starting and ending with a letter or "
                "digit, at most 63 characters (after an optional DNS-subdomain prefix and '/')")
    return None


def label_value_problem(value: str) -> str | None:
    if value and (len(value) > 63 or not LABEL_NAME.fullmatch(value)):
        return ("is not a valid label value: empty, or letters, digits, '-', '_' and '.', starting and ending with "
                "a letter or digit, at most 63 characters")
    return None


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)


def secret_manifest(name: str, secret_type: str, data: Sequence[tuple[str, bytes]], *, namespace: str | None = None,
                    labels: Mapping[str, str] | None = None) -> bytes:
    """A ``v1/Secret`` manifest: ``data`` is (key, bytes) in the order to write; labels are written sorted."""
    for problem, what in ((name_problem(name), f"name {name!r}"),
                          (namespace_problem(namespace) if namespace is not None else None, f"namespace {namespace!r}"),
                          *((data_key_problem(k), f"data key {k!r}") for k, _ in data),
                          *((label_key_problem(k) or label_value_problem(v), f"label {k!r}")
                            for k, v in (labels or {}).items())):
        if problem:
            raise ValueError(f"{what} {problem}")
    keys = [k for k, _ in data]
    if len(set(keys)) != len(keys):
        raise ValueError("data keys must be unique")
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", f"  name: {_q(name)}"]
    if namespace is not None:
        lines.append(f"  namespace: {_q(namespace)}")
    if labels:
        lines.append("  labels:")
        lines += [f"    {_q(k)}: {_q(v)}" for k, v in sorted(labels.items())]
    lines.append(f"type: {_q(secret_type)}")
    if data:
        lines.append("data:")
        lines += [f"  {_q(k)}: {_q(base64.b64encode(v).decode('ascii'))}" for k, v in data]
    else:
        lines.append("data: {}")
    return ("\n".join(lines) + "\n").encode("ascii")
