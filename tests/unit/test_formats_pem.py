"""formats/pem.py and formats/k8s.py: deterministic PEM (encrypted PKCS#8 included) and Secret manifests, read
back by cryptography, PyYAML and the Kubernetes schema."""

from __future__ import annotations

import base64
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_der_private_key,
    load_pem_private_key,
)

from kstool.formats import der, k8s, pem


def _pkcs8(key: Any) -> bytes:
    return bytes(key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()))


@pytest.fixture(scope="module")
def keys() -> dict[str, bytes]:
    return {
        "rsa": _pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "ec": _pkcs8(ec.generate_private_key(ec.SECP256R1())),
        "ed25519": _pkcs8(ed25519.Ed25519PrivateKey.generate()),
    }


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
def test_encrypted_key_opens_with_its_password_only_and_is_deterministic(keys: dict[str, bytes], kind: str) -> None:
    key_der = keys[kind]
    data = pem.encrypted_private_key_pem(key_der, "s3cret-pass", iterations=1000)
    assert data == pem.encrypted_private_key_pem(key_der, "s3cret-pass", iterations=1000)  # same bytes, always
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert data.endswith(b"-----END ENCRYPTED PRIVATE KEY-----\n")
    assert _pkcs8(load_pem_private_key(data, b"s3cret-pass")) == key_der
    with pytest.raises(ValueError, match=r"(?i)password|decrypt|bad"):
        load_pem_private_key(data, b"other-pass")


def test_salt_and_iv_depend_on_key_and_password(keys: dict[str, bytes]) -> None:
    def salt_iv(key_der: bytes, password: str) -> tuple[bytes, bytes]:
        info = der.decode(pem.encrypted_private_key_der(key_der, password, iterations=1000))
        kdf, cipher = info.children()[0].children()[1].children()
        return kdf.children()[1].children()[0].value, cipher.children()[1].value

    base = salt_iv(keys["ec"], "password-1")
    assert len(base[0]) == pem.SALT_LEN and len(base[1]) == 16
    assert salt_iv(keys["ec"], "password-2")[0] != base[0]
    assert salt_iv(keys["rsa"], "password-1")[0] != base[0]
    assert base[0] != base[1]


def test_iterations_are_written_and_bounded(keys: dict[str, bytes]) -> None:
    info = der.decode(pem.encrypted_private_key_der(keys["ec"], "password-1", iterations=20000))
    kdf = info.children()[0].children()[1].children()[0]
    assert kdf.children()[1].children()[1].as_int() == 20000
    for bad in (0, 999, 5_000_001):
        with pytest.raises(ValueError, match="iterations"):
            pem.encrypted_private_key_der(keys["ec"], "password-1", iterations=bad)
    with pytest.raises(ValueError, match="password"):
        pem.encrypted_private_key_der(keys["ec"], "")


def test_plain_key_and_certificates_armor(keys: dict[str, bytes]) -> None:
    data = pem.private_key_pem(keys["rsa"])
    assert data.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert all(len(line) <= 64 for line in data.splitlines())
    assert _pkcs8(load_pem_private_key(data, None)) == keys["rsa"]
    assert _pkcs8(load_der_private_key(keys["rsa"], None)) == keys["rsa"]
    two = pem.certificates_pem([b"\x30\x03\x02\x01\x01", b"\x30\x03\x02\x01\x02"])
    assert two.count(b"-----BEGIN CERTIFICATE-----\n") == 2 and two.endswith(b"-----END CERTIFICATE-----\n")
    assert pem.certificates_pem([]) == b""


def _manifest(**kwargs: Any) -> dict[str, Any]:
    data = k8s.secret_manifest(**kwargs)
    assert data == k8s.secret_manifest(**kwargs)  # deterministic
    doc = yaml.safe_load(data)
    assert isinstance(doc, dict)
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    return doc


def test_tls_secret_round_trips_through_yaml_and_the_kubernetes_schema() -> None:
    doc = _manifest(name="web-tls", secret_type=k8s.TLS_TYPE, data=[("tls.crt", b"CERT"), ("tls.key", b"KEY")],
                    namespace="prod", labels={"app.kubernetes.io/name": "web", "tier": ""})
    assert doc == {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                   "metadata": {"name": "web-tls", "namespace": "prod",
                                "labels": {"app.kubernetes.io/name": "web", "tier": ""}},
                   "data": {"tls.crt": base64.b64encode(b"CERT").decode(),
                            "tls.key": base64.b64encode(b"KEY").decode()}}


def test_yaml_traps_stay_strings() -> None:
    # keys and values YAML 1.1 would read as booleans, numbers or null are quoted
    doc = _manifest(name="x", secret_type=k8s.OPAQUE_TYPE, data=[("true", b"1"), ("0600", b"2"), ("null", b"")],
                    labels={"on": "NO", "v": "1.0"})
    assert list(doc["data"]) == ["true", "0600", "null"] and doc["data"]["null"] == ""
    assert doc["metadata"]["labels"] == {"on": "NO", "v": "1.0"}


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"name": "Web"}, "name 'Web'"),
    ({"name": "web_tls"}, "name"),
    ({"name": "a" * 254}, "name"),
    ({"namespace": "a.b"}, "namespace"),
    ({"data": [("bad key", b"")]}, "data key"),
    ({"data": [("..", b"")]}, "data key"),
    ({"data": [("a", b""), ("a", b"")]}, "unique"),
    ({"labels": {"-x": "y"}}, "label"),
    ({"labels": {"x": "y z"}}, "label"),
    ({"labels": {"Example.COM/x": "y"}}, "label"),
])
def test_invalid_names_are_refused(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"name": "ok", "secret_type": k8s.OPAQUE_TYPE, "data": [("a", b"")], **kwargs}
    with pytest.raises(ValueError, match=match):
        k8s.secret_manifest(**args)


def test_problem_functions_accept_kubernetes_names() -> None:
    assert k8s.name_problem("gateway-tls.v1") is None
    assert k8s.namespace_problem("kube-system") is None
    assert k8s.data_key_problem("keystore.p12") is None and k8s.data_key_problem(".dotfile") is None
    assert k8s.label_key_problem("example.com/role") is None and k8s.label_value_problem("") is None
