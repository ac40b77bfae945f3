"""``kstool.engine.adopt``'s mapping, as tables: which spec form each kind of entry becomes, the names, the password
options, and the YAML the view writes (hostile subjects stay inside their quotes and comments)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kstool.cli.views.adopt import render_spec
from kstool.engine.adopt import (
    AdoptedStore,
    Adoption,
    PasswordGiven,
    PasswordOptions,
    _choose,
    _key_entry,
    _trusted_entry,
    keystore_names,
    write_adoption,
)
from kstool.engine.plan import Action, EntryChange, KeystoreChange, Plan
from kstool.errors import KstoolError
from kstool.formats.entries import KeyEntry

NOW = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
_KEYS: dict[str, Any] = {}


def key(kind: str) -> Any:
    if kind not in _KEYS:
        _KEYS[kind] = (ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else
                       ed448.Ed448PrivateKey.generate() if kind == "ed448" else
                       rsa.generate_private_key(65537, 1024 if kind == "rsa1024" else 2048))
    return _KEYS[kind]


def cert(cn: str, *, kind: str = "ec", issuer: tuple[str, Any] | None = None, days: int = 365,
         start: dt.datetime = NOW - dt.timedelta(days=1), ca: bool = False, san: list[x509.GeneralName] | None = None,
         eku: bool = False, ski: bool = True, path_length: int | None = None) -> bytes:
    subject_key = key(kind)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_name, signer = (name, subject_key) if issuer is None else (
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]), issuer[1])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name)
               .public_key(subject_key.public_key()).serial_number(7)
               .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days)))
    if ski:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), False)
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_length), True)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    return builder.sign(signer, None if kind == "ed448" else hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def mapped(*chain: bytes, tmp: Path = Path("/spec")) -> Any:
    return _key_entry(KeyEntry("k", b"", chain, 0), "ks", tmp / "certs", tmp, NOW)


SAN = [x509.DNSName("a.example"), x509.IPAddress(__import__("ipaddress").ip_address("10.0.0.1"))]


@pytest.mark.parametrize(("chain", "form", "fields"), [
    pytest.param(lambda: (cert("plain"),), "generate",
                 {"dname": "CN=plain", "algorithm": "EC", "size": 256, "validity_days": 365, "san": ()},
                 id="self-signed-plain"),
    pytest.param(lambda: (cert("web", kind="rsa", san=SAN, days=90),), "generate",
                 {"algorithm": "RSA", "size": 2048, "validity_days": 90, "san": ("dns:a.example", "ip:10.0.0.1")},
                 id="self-signed-with-san"),
    pytest.param(lambda: (cert("noski", ski=False),), "generate", {"dname": "CN=noski"}, id="no-key-identifier"),
    pytest.param(lambda: (cert("ca", ca=True),), "generate", {"ca": True, "path_length": None}, id="self-signed-ca"),
    pytest.param(lambda: (cert("ca1", ca=True, path_length=1),), "generate", {"ca": True, "path_length": 1},
                 id="self-signed-ca-path-length"),
    pytest.param(lambda: (cert("caeku", ca=True, eku=True),), "reply", {"ca": False}, id="self-signed-ca-with-eku"),
    pytest.param(lambda: (cert("eku", eku=True),), "reply", {"chain": ()}, id="self-signed-with-eku"),
    pytest.param(lambda: (cert("odd", san=[x509.DirectoryName(x509.Name([]))]),), "reply", {},
                 id="san-the-spec-cannot-say"),
    pytest.param(lambda: (cert("leaf", issuer=("root", key("rsa"))), cert("root", kind="rsa", ca=True)), "reply",
                 {"dname": "CN=leaf"}, id="ca-signed-with-chain"),
    pytest.param(lambda: (cert("leaf", issuer=("other", key("rsa"))),), "reply", {}, id="ca-signed-leaf-only"),
    pytest.param(lambda: (cert("forged", issuer=("forged", key("rsa"))),), "reply", {},
                 id="subject-is-issuer-but-another-key-signed"),
])
def test_key_entries(chain: Any, form: str, fields: dict[str, Any]) -> None:
    entry = mapped(*chain())
    assert entry.form == form
    for name, value in fields.items():
        assert getattr(entry, name) == value, name
    if form == "reply":
        assert entry.certificate is not None and entry.certificate.shown == "certs/ks-k.pem"
        assert len(entry.chain) == len(chain()) - 1
        assert entry.certificate.pem.startswith(b"-----BEGIN CERTIFICATE-----\n")
    else:
        assert entry.certificate is None and entry.chain == ()


def test_a_reply_chain_is_written_one_file_per_certificate() -> None:
    entry = mapped(cert("leaf", issuer=("root", key("rsa"))), cert("root", kind="rsa", ca=True))
    assert [c.shown for c in entry.chain] == ["certs/ks-k-chain1.pem"]


def test_keys_kstool_does_not_generate_are_imports_from_the_store_itself() -> None:
    entry = mapped(cert("small", kind="rsa1024"))
    assert entry.form == "import" and entry.allow_weak and entry.certificate is None
    assert "kstool generates no RSA 1024 key" in entry.notes[0]


def test_keys_kstool_does_not_manage_are_refused() -> None:
    with pytest.raises(KstoolError, match="Ed448 key is not one kstool manages"):
        mapped(cert("ed448", kind="ed448"))


def test_an_expired_generated_entry_is_kept_and_renewed_for_its_key() -> None:
    entry = mapped(cert("old", start=NOW - dt.timedelta(days=400)))
    assert entry.form == "generate" and not entry.allow_expired
    assert any("the next plan renews it for the same key" in n for n in entry.notes)


def test_policy_flags_of_kept_certificates() -> None:
    expired = _trusted_entry("t", cert("old", start=NOW - dt.timedelta(days=400)), "ks", certs=Path("/s/certs"),
                             spec_dir=Path("/s"), now=NOW)
    assert expired.form == "trusted" and expired.allow_expired and not expired.allow_weak
    assert expired.certificate is not None and expired.certificate.shown == "certs/ks-t.pem"
    weak = mapped(cert("leaf", issuer=("root", key("rsa1024"))), cert("root", kind="rsa1024", ca=True))
    assert weak.form == "import" and weak.allow_weak and not weak.allow_expired  # a reply takes no allow_ flags
    old = mapped(cert("leaf", issuer=("root", key("rsa")), start=NOW - dt.timedelta(days=400)),
                 cert("root", kind="rsa", ca=True))
    assert old.form == "import" and old.allow_expired and not old.allow_weak


@pytest.mark.parametrize(("files", "names"), [
    (["a.jks"], ["a"]),
    (["a.jks", "a.p12", "x/a.jks"], ["a", "a-2", "a-3"]),
    (["we ird!.jks", "..p12", "ünï.jks"], ["we-ird", "keystore", "n"]),
])
def test_keystore_names(files: list[str], names: list[str]) -> None:
    assert keystore_names([Path(f) for f in files]) == names


def choose(options: PasswordOptions, file: str = "a.jks", name: str = "a", *, key: bool = False) -> Any:
    keys = {"a.jks", "a", "b.jks", "b"}
    return _choose(Path(file), name, keys, options, Path("/spec"), key=key)


@pytest.mark.parametrize(("options", "file", "name", "expected"), [
    (PasswordOptions(env=("PW",)), "a.jks", "a", PasswordGiven("env", "PW")),
    (PasswordOptions(env=("PW", "b.jks=B_PW")), "b.jks", "b", PasswordGiven("env", "B_PW")),
    (PasswordOptions(env=("PW", "b=B_PW")), "a.jks", "a", PasswordGiven("env", "PW")),
    (PasswordOptions(env=("PW",), file=("a=/spec/secrets/a.pass",)), "a.jks", "a",
     PasswordGiven("file", "secrets/a.pass", Path("/spec/secrets/a.pass"))),
    (PasswordOptions(file=("/elsewhere/x=y.pass",)), "a.jks", "a",
     PasswordGiven("file", "/elsewhere/x=y.pass", Path("/elsewhere/x=y.pass"))),
])
def test_password_options(options: PasswordOptions, file: str, name: str, expected: PasswordGiven) -> None:
    assert choose(options, file, name) == expected


@pytest.mark.parametrize(("options", "message"), [
    (PasswordOptions(), "no store password given"),
    (PasswordOptions(env=("A", "B")), "given twice without STORE="),
    (PasswordOptions(env=("a=A", "a.jks=B")), "names a.jks twice"),
    (PasswordOptions(env=("A",), file=("f",)), "give one"),
    (PasswordOptions(env=("not-a-name",)), "not an environment variable name"),
])
def test_password_option_errors(options: PasswordOptions, message: str) -> None:
    with pytest.raises(KstoolError, match=message):
        choose(options)


def test_no_key_password_option_means_the_store_password() -> None:
    assert choose(PasswordOptions(env=("PW",)), key=True) is None
    assert choose(PasswordOptions(env=("PW",), key_env=("a=KP",)), key=True) == PasswordGiven("env", "KP")


def test_hostile_text_stays_inside_quotes_and_comments() -> None:
    hostile = 'CN=x\n    evil: true\u202e", O=\U0001F600'
    entry = mapped(cert("plain"))
    entry = type(entry)(**{**{f: getattr(entry, f) for f in entry.__slots__}, "dname": hostile,
                           "notes": (f"subject {hostile}",)})
    store = AdoptedStore("a", Path("a.jks"), "a b\n.jks", "jks", PasswordGiven("env", "PW"), None, None, None,
                         (entry,), ("note\nkeystores: []",))
    text = render_spec(Adoption(Path("kstool.yaml"), (store,)))
    assert text.isascii()
    doc = yaml.safe_load(text)
    assert doc["keystores"][0]["path"] == "a b\n.jks"
    assert doc["keystores"][0]["entries"][0]["generate"]["dname"] == hostile
    assert set(doc["keystores"][0]["entries"][0]) == {"alias", "generate"}
    lines = [line.lstrip() for line in text.splitlines() if "evil" in line or "note" in line]
    assert all(line.startswith(("#", 'dname: "CN=x\\n')) for line in lines), lines


def adoption_with_a_certificate(tmp_path: Path) -> Adoption:
    entry = mapped(cert("ca", ca=True, eku=True), tmp=tmp_path)  # a reply: one certificate file
    store = AdoptedStore("a", tmp_path / "a.jks", "a.jks", "jks", PasswordGiven("env", "PW"), None, None, None,
                         (entry,), ())
    return Adoption(tmp_path / "kstool.yaml", (store,))


def destroying_plan(spec: Path) -> Plan:
    change = EntryChange("k", Action.REPLACE, ("key changed",), "key", "generate")
    return Plan(str(spec), ".", (KeystoreChange("a", "a.jks", "jks", Action.UPDATE, (), (change,)),))


def test_a_spec_whose_plan_changes_a_key_is_not_left_written(tmp_path: Path) -> None:
    adoption = adoption_with_a_certificate(tmp_path)
    with pytest.raises(KstoolError, match=r"the adopted spec would change keys: a/k \(replace: key changed\)"):
        write_adoption(adoption, render_spec(adoption), force=False, plan_spec=destroying_plan)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []  # no spec, no certificate, no temp


def test_the_spec_is_loaded_before_it_is_planned(tmp_path: Path) -> None:
    adoption = adoption_with_a_certificate(tmp_path)
    planned: list[Path] = []

    def plan(spec: Path) -> Plan:
        planned.append(spec)
        return destroying_plan(spec)

    with pytest.raises(KstoolError, match="keystores"):
        write_adoption(adoption, "version: 1\n", force=False, plan_spec=plan)
    assert planned == [] and not (tmp_path / "kstool.yaml").exists()


def test_a_forced_spec_is_restored_when_its_plan_fails(tmp_path: Path) -> None:
    adoption = adoption_with_a_certificate(tmp_path)
    (tmp_path / "kstool.yaml").write_text("# mine\n")
    with pytest.raises(KstoolError):
        write_adoption(adoption, render_spec(adoption), force=True, plan_spec=destroying_plan)
    assert (tmp_path / "kstool.yaml").read_text() == "# mine\n"


def test_a_plan_without_key_changes_puts_the_spec_in_place(tmp_path: Path) -> None:
    adoption = adoption_with_a_certificate(tmp_path)
    keep = EntryChange("k", Action.NOOP, (), "key", "generate")
    written = write_adoption(adoption, render_spec(adoption), force=False, plan_spec=lambda spec: Plan(
        str(spec), ".", (KeystoreChange("a", "a.jks", "jks", Action.UPDATE, ("re-encoded",), (keep,)),)))
    assert written.certificates == ("certs/ks-k.pem",)
    assert (tmp_path / "kstool.yaml").read_text() == render_spec(adoption)
    assert (tmp_path / "certs" / "ks-k.pem").stat().st_mode & 0o777 == 0o644


def test_certificate_files_a_forced_run_replaced_are_restored_when_its_plan_fails(tmp_path: Path) -> None:
    adoption = adoption_with_a_certificate(tmp_path)
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ks-k.pem").write_bytes(b"theirs\n")
    with pytest.raises(KstoolError, match="exist with other content"):
        write_adoption(adoption, render_spec(adoption), force=False, plan_spec=destroying_plan)
    with pytest.raises(KstoolError, match="would change keys"):
        write_adoption(adoption, render_spec(adoption), force=True, plan_spec=destroying_plan)
    assert (tmp_path / "certs" / "ks-k.pem").read_bytes() == b"theirs\n"


def test_a_folder_that_cannot_be_written_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    adoption = adoption_with_a_certificate(tmp_path / "file")
    with pytest.raises(KstoolError, match="cannot write"):
        write_adoption(adoption, render_spec(adoption), force=False, plan_spec=destroying_plan)


def test_certificate_file_names_that_collide_are_made_unique(tmp_path: Path) -> None:
    from kstool.engine.adopt import _unique_files

    der = cert("one")
    one = _trusted_entry("a b", der, "ks", certs=tmp_path / "certs", spec_dir=tmp_path, now=NOW)
    two = _trusted_entry("a_b", cert("two"), "ks", certs=tmp_path / "certs", spec_dir=tmp_path, now=NOW)
    same = _trusted_entry("a?b", der, "ks", certs=tmp_path / "certs", spec_dir=tmp_path, now=NOW)
    store = AdoptedStore("ks", Path("ks.jks"), "ks.jks", "jks", PasswordGiven("env", "PW"), None, None, None,
                         (one, two, same), ())
    (adopted,) = _unique_files([store])
    shown = [e.certificate.shown for e in adopted.entries if e.certificate is not None]
    assert shown == ["certs/ks-a_b.pem", "certs/ks-a_b-2.pem", "certs/ks-a_b.pem"]  # the same bytes share a file
    assert len(Adoption(tmp_path / "kstool.yaml", (adopted,)).files) == 2


@pytest.mark.parametrize("profile", ["modern", "legacy"])
@pytest.mark.parametrize("iterations", [2048, 10_000])
@pytest.mark.parametrize("empty", [True, False])
def test_pkcs12_settings_as_found(profile: Any, iterations: int, empty: bool) -> None:
    from kstool.formats.codec import encode
    from kstool.formats.entries import TrustedEntry
    from kstool.formats.pkcs12 import protection_settings_pkcs12

    entries = [] if empty else [TrustedEntry("t", cert("t"), 0)]
    data = encode(entries, "pkcs12", "password1", profile=profile, iterations=iterations)
    assert protection_settings_pkcs12(data) == (profile, iterations)
