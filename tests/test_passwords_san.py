"""Issue 12 items 7 (keystore/spec-level allow flags), 8 (SAN comparison), 9 (password rotation) and
10 (password files: symlinks, FIFOs, size caps, byte-order marks, non-UTF-8 environment values)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kstool.crypto.san import SanItem, check_san, same_san, san_key
from kstool.formats.codec import decode
from kstool.formats.model import detect_type
from tests.clirun import run, snapshot

PW = "Store-Pass-1"
PW2 = "Store-Pass-2"


def write_spec(folder: Path, body: str) -> Path:
    spec = folder / "kstool.yaml"
    spec.write_text("version: 1\n" + body, encoding="utf-8")
    return spec


def entries_of(path: Path, password: str, key_password: str | None = None) -> dict[str, object]:
    data = path.read_bytes()
    store_type = detect_type(data)
    assert store_type is not None
    return {e.alias: e for e in decode(data, store_type, password, key_password=key_password)}


# -- item 8: SAN comparison -------------------------------------------------------------------------------

def items(*texts: str) -> tuple[SanItem, ...]:
    return check_san(texts)


@pytest.mark.parametrize(("a", "b", "same"), [
    # IPv6: every spelling of one address is one address
    ("ip:0:0:0:0:0:0:0:1", "ip:::1", True),
    ("ip:0000:0000:0000:0000:0000:0000:0000:0001", "ip:::1", True),
    ("ip:2001:DB8::1", "ip:2001:db8:0:0:0:0:0:1", True),
    ("ip:::ffff:10.0.0.1", "ip:::ffff:a00:1", True),
    ("ip:::ffff:10.0.0.1", "ip:10.0.0.1", False),  # 16 bytes vs 4 bytes in the certificate
    ("ip:::1", "ip:::2", False),
    ("ip:10.0.0.1", "ip:10.0.0.1", True),
    # DNS names are case-insensitive
    ("dns:Example.COM", "dns:example.com", True),
    ("DNS:example.com", "dns:example.com", True),
    ("dns:*.example.com", "dns:*.Example.com", True),
    ("dns:a.example.com", "dns:b.example.com", False),
    # email: the domain is case-insensitive, the local part is not
    ("email:admin@Example.COM", "email:admin@example.com", True),
    ("email:Admin@example.com", "email:admin@example.com", False),
    ("EMAIL:admin@example.com", "email:admin@example.com", True),
    # URIs and OIDs are compared exactly
    ("uri:https://example.com/A", "uri:https://example.com/a", False),
    ("uri:spiffe://example.org/Svc", "uri:spiffe://example.org/svc", False),
    ("uri:https://example.com/a", "URI:https://example.com/a", True),
    ("oid:1.2.3.4", "oid:1.2.3.4", True),
    ("oid:1.2.3.4", "oid:1.2.3.5", False),
    # a different kind is never the same name
    ("dns:10.0.0.1", "ip:10.0.0.1", False),
])
def test_same_san_table(a: str, b: str, same: bool) -> None:
    assert same_san(items(a), items(b)) is same
    assert same_san(items(b), items(a)) is same
    assert (san_key(items(a)[0]) == san_key(items(b)[0])) is same


def test_same_san_lists_keep_order_and_length() -> None:
    assert same_san(items("dns:a", "ip:::1"), items("DNS:A", "ip:0::1"))
    assert not same_san(items("dns:a", "dns:b"), items("dns:b", "dns:a"))  # the certificate's order changes
    assert not same_san(items("dns:a"), items("dns:a", "dns:a"))
    assert same_san((), ())


def test_san_key_forms() -> None:
    assert san_key(("ip", "0:0:0:0:0:0:0:1")) == "ip:::1"
    assert san_key(("email", "Jo@Ex.ORG")) == "email:Jo@ex.org"
    assert san_key(("email", '"a@b"@Ex.org')) == 'email:"a@b"@ex.org'  # the domain is after the last @
    assert san_key(("dns", "Ex.Org")) == "dns:ex.org"
    assert san_key(("uri", "HTTPS://Ex.org/P")) == "uri:HTTPS://Ex.org/P"


def test_san_read_back_from_a_certificate() -> None:
    from datetime import UTC, datetime

    from cryptography import x509

    from kstool.crypto.certs import build_self_signed, generate_private_key
    from kstool.crypto.san import from_general_names, to_general_names

    spec_items = items("dns:Web.Example", "ip:0:0:0:0:0:0:0:1", "email:Ops@Example.org", "uri:urn:X",
                       "oid:1.2.3.4")
    cert = build_self_signed(generate_private_key("EC", 256), x509.Name([]),
                             not_before=datetime(2026, 1, 1, tzinfo=UTC), validity_days=10,
                             san=to_general_names(spec_items))
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    back = from_general_names(list(ext))
    assert back == (("dns", "Web.Example"), ("ip", "::1"), ("email", "Ops@Example.org"), ("uri", "urn:X"),
                    ("oid", "1.2.3.4"))
    assert same_san(back, spec_items)


def _san_spec(folder: Path, san: str) -> Path:
    return write_spec(folder, f"""keystores:
  - name: server
    path: server.p12
    password: {{env: KS_PASS}}
    entries:
      - alias: web
        generate:
          dname: "CN=web"
          key: {{algorithm: EC, size: 256}}
          san: {san}
  - name: trust
    path: trust.jks
    password: {{env: KS_PASS}}
    entries:
      - alias: web
        trusted: {{entry: server/web}}
""")


def test_ipv6_san_converges_apply_plan_verify(workdir: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_PASS", PW)
    spec = _san_spec(workdir, '["ip:0:0:0:0:0:0:0:1", "dns:Localhost", "email:Ops@Example.org"]')
    first = run(capsys, "apply", spec)
    assert first.code == 0, first.err
    before = snapshot(workdir)
    plan = run(capsys, "plan", spec, "--detailed-exitcode")
    assert plan.code == 0, plan.out
    verify = run(capsys, "verify", spec)
    assert verify.code == 0, verify.out
    second = run(capsys, "apply", spec)
    assert second.code == 0, second.err
    assert snapshot(workdir) == before  # no reissue, no backup
    assert not list(workdir.glob("*.kstool-backup"))
    # the same names, written differently: still no change
    _san_spec(workdir, '["ip:::1", "DNS:localhost", "email:Ops@EXAMPLE.ORG"]')
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


@pytest.mark.parametrize("new", ['["ip:::1", "dns:localhost", "email:ops@Example.org"]',
                                 '["ip:::1", "dns:localhost", "email:Ops@Example.org", "uri:https://x/A"]'])
def test_case_only_change_of_email_local_part_or_uri_is_a_change(
        workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, new: str) -> None:
    monkeypatch.setenv("KS_PASS", PW)
    old = '["ip:::1", "dns:localhost", "email:Ops@Example.org"]'
    if "uri" in new:
        old = new.replace("/A", "/a")
    spec = _san_spec(workdir, old)
    assert run(capsys, "apply", spec).code == 0
    _san_spec(workdir, new)
    plan = run(capsys, "plan", spec, "--json")
    assert plan.code == 0, plan.err
    web = plan.json()["keystores"][0]["entries"][0]
    assert web["action"] == "update" and any(r.startswith("san changed") for r in web["reasons"])
    drift = run(capsys, "verify", spec)
    assert drift.code == 1 and "san changed" in drift.out
