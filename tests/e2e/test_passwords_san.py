"""Issue 12 items 7 (keystore/spec-level allow flags), 8 (SAN comparison), 9 (password rotation) and
10 (password files: symlinks, FIFOs, size caps, byte-order marks, non-UTF-8 environment values)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kstool.crypto.san import SanItem, check_san, same_san, san_key
from kstool.formats.codec import decode
from kstool.formats.entries import detect_type
from tests.support.clirun import Result, run, snapshot
from tests.support.javatools import Java, keytool_list

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


# -- item 10: password files and environment values ---------------------------------------------------------

def _one_store(folder: Path, password: str, path: str = "a.jks") -> Path:
    return write_spec(folder, f"""keystores:
  - name: a
    path: {path}
    password: {password}
    entries:
      - alias: one
        generate: {{dname: "CN=one", key: {{algorithm: EC, size: 256}}}}
""")


def _kubernetes_secret_volume(folder: Path, files: dict[str, str]) -> Path:
    """The layout kubelet writes: ``..2026_12_02_…/KEY``, ``..data -> ..2026_12_02_…``, ``KEY -> ..data/KEY``."""
    volume = folder / "secret-volume"
    stamped = volume / "..2026_12_02_17_00_00.123456789"
    stamped.mkdir(parents=True)
    for name, content in files.items():
        (stamped / name).write_text(content)
        (stamped / name).chmod(0o600)
    (volume / "..data").symlink_to(stamped.name)
    for name in files:
        (volume / name).symlink_to(f"..data/{name}")
    return volume


@pytest.mark.parametrize("path", ["a.jks", "a.p12"])
def test_password_file_in_a_kubernetes_secret_volume(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                     path: str) -> None:
    volume = _kubernetes_secret_volume(workdir, {"store-password": PW + "\n"})
    spec = _one_store(workdir, "{file: secret-volume/store-password}", path)
    applied = run(capsys, "apply", spec)
    assert applied.code == 0, applied.err
    assert entries_of(workdir / path, PW)
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    assert run(capsys, "verify", spec).code == 0
    shown = run(capsys, "inspect", workdir / path, "--password-file", volume / "store-password")
    assert shown.code == 0, shown.err
    assert "Alias name: one" in shown.out


def test_generated_password_file_that_is_a_symlink_is_read_never_created_through(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "real.pass").write_text(PW + "\n")
    (workdir / "real.pass").chmod(0o600)
    (workdir / "a.pass").symlink_to("real.pass")
    spec = _one_store(workdir, "{file: a.pass, generate: true}")
    assert run(capsys, "apply", spec).code == 0
    assert entries_of(workdir / "a.jks", PW)  # the linked file's password, not a generated one
    assert (workdir / "a.pass").is_symlink() and (workdir / "real.pass").read_text() == PW + "\n"
    # a link to nothing: an error, and nothing is created at either end
    (workdir / "b.pass").symlink_to("missing.pass")
    spec = _one_store(workdir, "{file: b.pass, generate: true}", "b.jks")
    failed = run(capsys, "apply", spec)
    assert failed.code == 1
    assert "password file b.pass is a symbolic link to a file that does not exist" in failed.err
    assert not (workdir / "missing.pass").exists() and (workdir / "b.pass").is_symlink()
    assert not (workdir / "b.jks").exists()


def test_password_file_that_is_a_fifo_is_an_error_not_a_hang(workdir: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import os
    import signal

    os.mkfifo(workdir / "pw.fifo")
    spec = _one_store(workdir, "{file: pw.fifo}")

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("reading the password FIFO hung")

    def bounded(*args: str | Path) -> Result:  # a blocking open would wait for a writer forever
        old = signal.signal(signal.SIGALRM, hung)
        signal.alarm(10)
        try:
            return run(capsys, *args)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)

    failed = bounded("plan", spec)
    inspect = bounded("inspect", workdir / "x.jks", "--password-file", workdir / "pw.fifo")
    assert failed.code == 1 and "password file pw.fifo is not a regular file" in failed.err
    assert inspect.code == 1 and "is not a regular file" in inspect.err


def test_password_file_size_is_checked_before_reading(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "zero.pass").symlink_to("/dev/zero")
    spec = _one_store(workdir, "{file: zero.pass}")
    failed = run(capsys, "plan", spec)
    assert failed.code == 1 and "password file zero.pass is not a regular file" in failed.err
    assert "MemoryError" not in failed.err
    (workdir / "big.pass").write_bytes(b"x" * 5000)
    failed = run(capsys, "plan", _one_store(workdir, "{file: big.pass}"))
    assert failed.code == 1 and "password file big.pass is larger than 4096 bytes" in failed.err
    inspect = run(capsys, "inspect", workdir / "x.jks", "--password-file", workdir / "big.pass")
    assert inspect.code == 1 and "larger than 4096 bytes" in inspect.err


@pytest.mark.parametrize("path", ["a.jks", "a.p12"])
def test_byte_order_mark_in_a_password_file_is_refused(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                       path: str) -> None:
    (workdir / "pw.txt").write_bytes(b"\xef\xbb\xbf" + PW.encode() + b"\r\n")
    (workdir / "pw.txt").chmod(0o600)
    spec = _one_store(workdir, "{file: pw.txt}", path)
    failed = run(capsys, "apply", spec)
    assert failed.code == 1
    assert "password file pw.txt starts with a UTF-8 byte-order mark" in failed.err
    assert "use ASCII" not in failed.err
    assert not (workdir / path).exists()
    inspect = run(capsys, "inspect", workdir / path, "--password-file", workdir / "pw.txt")
    assert inspect.code == 1 and "byte-order mark" in inspect.err


def test_environment_password_that_is_not_utf8_fails_at_plan(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # what os.environ holds for the bytes b"Store-\xff-Pass": a lone surrogate (surrogateescape)
    monkeypatch.setenv("KS_PASS", b"Store-\xff-Pass".decode("utf-8", "surrogateescape"))
    spec = _one_store(workdir, "{env: KS_PASS}")
    failed = run(capsys, "plan", spec)
    assert failed.code == 1, failed.out
    assert "environment variable KS_PASS is not valid UTF-8 text" in failed.err
    assert "Traceback" not in failed.err
    inspect = run(capsys, "inspect", workdir / "a.jks", "--password-env", "KS_PASS")
    assert inspect.code == 1 and "KS_PASS is not valid UTF-8 text" in inspect.err


def test_inspect_password_file_follows_the_spec_rules(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_PASS", PW)
    spec = _one_store(workdir, "{env: KS_PASS}")
    assert run(capsys, "apply", spec).code == 0
    (workdir / "empty.pass").write_text("\n")
    empty = run(capsys, "inspect", workdir / "a.jks", "--password-file", workdir / "empty.pass")
    assert empty.code == 1 and "is empty" in empty.err
    (workdir / "latin1.pass").write_bytes(b"Store-\xe9-Pass\n")
    latin = run(capsys, "inspect", workdir / "a.jks", "--password-file", workdir / "latin1.pass")
    assert latin.code == 1 and "is not UTF-8 text" in latin.err
    (workdir / "real.pass").write_text(PW + "\r\n")
    (workdir / "link.pass").symlink_to("real.pass")
    ok = run(capsys, "inspect", workdir / "a.jks", "--password-file", workdir / "link.pass")
    assert ok.code == 0, ok.err


# -- item 9: password rotation -------------------------------------------------------------------------------

KEY1 = "Key-Pass-One"
KEY2 = "Key-Pass-Two"


def _jks(folder: Path, extra: str = "", path: str = "a.jks") -> Path:
    return write_spec(folder, f"""keystores:
  - name: a
    path: {path}
    password: {{env: KS_PASS}}
{extra}    entries:
      - alias: one
        generate: {{dname: "CN=one", key: {{algorithm: EC, size: 256}}}}
      - alias: two
        generate: {{dname: "CN=two", key: {{algorithm: EC, size: 256}}}}
""")


def _reasons(capsys: pytest.CaptureFixture[str], spec: Path) -> list[str]:
    plan = run(capsys, "plan", spec, "--json")
    assert plan.code == 0, plan.err
    return plan.json()["keystores"][0]["reasons"]


@pytest.fixture()
def passwords(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("KS_PASS", PW)
    monkeypatch.setenv("KEY_PASS", KEY1)
    return monkeypatch


def test_key_password_only_rotation(workdir: Path, capsys: pytest.CaptureFixture[str],
                                    passwords: pytest.MonkeyPatch) -> None:
    spec = _jks(workdir, "    key_password: {env: KEY_PASS}\n")
    assert run(capsys, "apply", spec).code == 0
    before = entries_of(workdir / "a.jks", PW, KEY1)
    passwords.setenv("KEY_PASS", KEY2)
    failed = run(capsys, "plan", spec)
    assert failed.code == 1
    # the store password is right: the error names the key password, and the fix
    assert ("a.jks: the store password (from environment variable KS_PASS) opens this keystore, but the key "
            "password from environment variable KEY_PASS does not open its private keys") in failed.err
    assert "set previous_key_password to the old one" in failed.err
    assert "does not open this keystore" not in failed.err
    passwords.setenv("OLD_KEY_PASS", KEY1)
    _jks(workdir, "    key_password: {env: KEY_PASS}\n    previous_key_password: {env: OLD_KEY_PASS}\n")
    assert _reasons(capsys, spec) == ["key password changed"]
    assert run(capsys, "apply", spec).code == 0
    assert entries_of(workdir / "a.jks", PW, KEY2) == before  # same keys, re-encrypted
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


@pytest.mark.parametrize("path", ["a.jks", "a.jceks"])
def test_store_and_key_password_rotate_in_one_apply(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                    passwords: pytest.MonkeyPatch, path: str) -> None:
    spec = _jks(workdir, "    key_password: {env: KEY_PASS}\n", path)
    assert run(capsys, "apply", spec).code == 0
    before = entries_of(workdir / path, PW, KEY1)
    passwords.setenv("KS_PASS", PW2)
    passwords.setenv("KEY_PASS", KEY2)
    passwords.setenv("OLD_PASS", PW)
    passwords.setenv("OLD_KEY_PASS", KEY1)
    _jks(workdir, "    key_password: {env: KEY_PASS}\n    previous_password: {env: OLD_PASS}\n"
                  "    previous_key_password: {env: OLD_KEY_PASS}\n", path)
    assert _reasons(capsys, spec) == ["password changed", "key password changed"]
    applied = run(capsys, "apply", spec)
    assert applied.code == 0, applied.err
    assert entries_of(workdir / path, PW2, KEY2) == before
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    assert run(capsys, "verify", spec).code == 0


def test_previous_secret_unset_after_rotation_is_fine(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                      passwords: pytest.MonkeyPatch) -> None:
    spec = _jks(workdir, "    key_password: {env: KEY_PASS}\n", "a.jks")
    assert run(capsys, "apply", spec).code == 0
    (workdir / "old.pass").write_text(PW + "\n")
    (workdir / "old.pass").chmod(0o600)
    passwords.setenv("KS_PASS", PW2)
    passwords.setenv("KEY_PASS", KEY2)
    passwords.setenv("OLD_KEY_PASS", KEY1)
    _jks(workdir, "    key_password: {env: KEY_PASS}\n    previous_password: {file: old.pass}\n"
                  "    previous_key_password: {env: OLD_KEY_PASS}\n")
    assert run(capsys, "apply", spec).code == 0
    # the rotation is done; the old secrets are removed before the spec stops naming them
    (workdir / "old.pass").unlink()
    passwords.delenv("OLD_KEY_PASS")
    before = snapshot(workdir)
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    assert run(capsys, "verify", spec).code == 0
    again = run(capsys, "apply", spec)
    assert again.code == 0 and again.err == ""
    assert snapshot(workdir) == before
    # needed but gone: the error names the store password and why previous_password cannot help
    passwords.setenv("KS_PASS", "Another-Pass-3")
    failed = run(capsys, "plan", spec)
    assert failed.code == 1
    assert "a.jks: the password from environment variable KS_PASS does not open this keystore" in failed.err
    assert "previous_password would be tried next, but it cannot be read:" in failed.err
    assert "password file old.pass does not exist" in failed.err


def test_rotation_errors_name_the_right_secret(workdir: Path, capsys: pytest.CaptureFixture[str],
                                               passwords: pytest.MonkeyPatch) -> None:
    spec = _jks(workdir, "    key_password: {env: KEY_PASS}\n")
    assert run(capsys, "apply", spec).code == 0
    passwords.setenv("KS_PASS", PW2)
    passwords.setenv("OLD_PASS", "Wrong-Old-Pass")
    _jks(workdir, "    key_password: {env: KEY_PASS}\n    previous_password: {env: OLD_PASS}\n")
    store = run(capsys, "plan", spec)
    assert store.code == 1
    assert "the password from environment variable KS_PASS does not open this keystore" in store.err
    assert "neither does previous_password (from environment variable OLD_PASS)" in store.err
    # the store opens with previous_password; the key password is wrong, and so is previous_key_password
    passwords.setenv("OLD_PASS", PW)
    passwords.setenv("KEY_PASS", KEY2)
    passwords.setenv("OLD_KEY_PASS", "Wrong-Old-Key")
    _jks(workdir, "    key_password: {env: KEY_PASS}\n    previous_password: {env: OLD_PASS}\n"
                  "    previous_key_password: {env: OLD_KEY_PASS}\n")
    key = run(capsys, "plan", spec)
    assert key.code == 1
    assert ("the store password (from environment variable OLD_PASS) opens this keystore, but the key password "
            "from environment variable KEY_PASS does not open its private keys") in key.err
    assert "neither does previous_key_password (from environment variable OLD_KEY_PASS)" in key.err
    # previous_key_password unset while it is needed: named, with why
    passwords.delenv("OLD_KEY_PASS")
    unset = run(capsys, "plan", spec)
    assert unset.code == 1 and "previous_key_password would be tried next, but it cannot be read:" in unset.err
    assert "environment variable OLD_KEY_PASS is not set" in unset.err
    for secret in (PW, PW2, KEY1, KEY2):
        assert secret not in store.err + key.err + unset.err


def test_key_password_back_to_the_store_password(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                 passwords: pytest.MonkeyPatch) -> None:
    spec = _jks(workdir, "    key_password: {env: KEY_PASS}\n")
    assert run(capsys, "apply", spec).code == 0
    _jks(workdir, "    previous_key_password: {env: KEY_PASS}\n")
    assert _reasons(capsys, spec) == ["key password changed"]
    assert run(capsys, "apply", spec).code == 0
    assert entries_of(workdir / "a.jks", PW)


def test_previous_key_password_is_refused_for_pkcs12(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                     passwords: pytest.MonkeyPatch) -> None:
    spec = _jks(workdir, "    previous_key_password: {env: KEY_PASS}\n", "a.p12")
    failed = run(capsys, "validate", spec)
    assert failed.code == 1 and "previous_key_password" in failed.err and "PKCS12 keystores have one password" \
        in failed.err


# -- item 7 (part): allow_expired / allow_weak for a whole keystore or spec -----------------------------------

def _root(folder: Path, name: str, *, expired: bool = True, rsa_bits: int | None = None) -> str:
    """A self-signed CA certificate file; expired in 2020 unless told otherwise."""
    from datetime import UTC, datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(65537, rsa_bits) if rsa_bits else ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    end = datetime(2020, 1, 1, tzinfo=UTC) if expired else datetime(2099, 1, 1, tzinfo=UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(datetime(2010, 1, 1, tzinfo=UTC)).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    return f"{name}.pem"


def _truststore(folder: Path, *, top: str = "", store: str = "", entry: dict[str, str] | None = None,
                roots: tuple[str, ...] = ("old-root-1", "old-root-2")) -> Path:
    entry = entry or {}
    lines = [top, "keystores:", "  - name: trust", "    path: trust.jks", "    password: {env: KS_PASS}"]
    lines += [store, "    entries:"]
    for name in roots:
        lines += [f"      - alias: {name}", f"        trusted: {{certificate: {name}.pem}}", entry.get(name, "")]
    return write_spec(folder, "\n".join(line for line in lines if line) + "\n")


@pytest.fixture()
def roots(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KS_PASS", PW)
    _root(workdir, "old-root-1")
    _root(workdir, "old-root-2")
    return workdir


def test_truststore_with_expired_roots_applies_in_one_run_with_keystore_allow_expired(
        roots: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _truststore(roots)
    refused = run(capsys, "plan", spec)
    assert refused.code == 1 and "expired on 2020-01-01" in refused.err
    assert "or on its keystore" in refused.err
    _truststore(roots, store="    allow_expired: true")
    applied = run(capsys, "apply", spec)
    assert applied.code == 0, applied.err
    assert set(entries_of(roots / "trust.jks", PW)) == {"old-root-1", "old-root-2"}
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


@pytest.mark.parametrize(("top", "store", "entry", "accepted"), [
    ("allow_expired: true", "", "", True),                                   # the spec's default
    ("allow_expired: true", "    allow_expired: false", "", False),          # the keystore wins over the spec
    ("", "    allow_expired: true", "        allow_expired: false", False),  # the entry wins over the keystore
    ("", "    allow_expired: false", "        allow_expired: true", True),
    ("allow_expired: false", "", "        allow_expired: true", True),
    ("allow_weak: true", "", "", False),                                     # the other flag does not help
])
def test_allow_flag_precedence(roots: Path, capsys: pytest.CaptureFixture[str], top: str, store: str, entry: str,
                               accepted: bool) -> None:
    spec = _truststore(roots, top=top, store=store, entry={"old-root-1": entry}, roots=("old-root-1",))
    result = run(capsys, "plan", spec)
    assert (result.code == 0) is accepted, result.err
    if not accepted:
        assert "old-root-1" in result.err and "expired" in result.err


def test_keystore_allow_weak_and_generated_entries(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_PASS", PW)
    _root(workdir, "weak-root", expired=False, rsa_bits=1024)
    spec = write_spec(workdir, """allow_expired: true
keystores:
  - name: mixed
    path: mixed.p12
    password: {env: KS_PASS}
    allow_weak: true
    entries:
      - alias: weak
        trusted: {certificate: weak-root.pem}
      - alias: own
        generate: {dname: "CN=own", key: {algorithm: EC, size: 256}}
""")
    assert run(capsys, "validate", spec).code == 0
    applied = run(capsys, "apply", spec)
    assert applied.code == 0, applied.err
    spec.write_text(spec.read_text().replace("    allow_weak: true\n", ""))
    refused = run(capsys, "plan", spec)
    assert refused.code == 1 and "1024-bit RSA key" in refused.err


@pytest.mark.java
def test_java_opens_the_rotated_store_and_reads_the_ipv6_san(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                             passwords: pytest.MonkeyPatch, java: Java) -> None:
    body = """keystores:
  - name: a
    path: a.jks
    password: {env: KS_PASS}
    key_password: {env: KEY_PASS}
%s    entries:
      - alias: web
        generate: {dname: "CN=web", key: {algorithm: EC, size: 256}, san: ["ip:0:0:0:0:0:0:0:1"]}
"""
    spec = write_spec(workdir, body % "")
    assert run(capsys, "apply", spec).code == 0
    passwords.setenv("KS_PASS", PW2)
    passwords.setenv("KEY_PASS", KEY2)
    passwords.setenv("OLD_PASS", PW)
    passwords.setenv("OLD_KEY_PASS", KEY1)
    write_spec(workdir, body % "    previous_password: {env: OLD_PASS}\n"
                               "    previous_key_password: {env: OLD_KEY_PASS}\n")
    assert run(capsys, "apply", spec).code == 0
    info, entry = java.load(workdir / "a.jks", PW2, KEY2)
    assert info["type"] == "JKS" and entry["kind"] == "key"
    listing = keytool_list(workdir / "a.jks", PW2)
    assert "IPAddress: 0:0:0:0:0:0:0:1" in listing  # Java's own spelling of ::1
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


def test_previous_password_is_never_generated(workdir: Path, capsys: pytest.CaptureFixture[str],
                                              passwords: pytest.MonkeyPatch) -> None:
    spec = _jks(workdir, "    previous_password: {file: old.pass, generate: true}\n")
    applied = run(capsys, "apply", spec)
    assert applied.code == 0, applied.err
    assert not (workdir / "old.pass").exists()  # only current passwords are ever created
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
