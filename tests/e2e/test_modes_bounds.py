"""Issue 11, items 7, 10, 11 and 12: untrusted artifacts, spec'd modes and owners, bounded backups, and bounded
work on hostile inputs (linear scans, regular files only, no hang on a FIFO)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from kstool.crypto.imports import load_certificates
from kstool.engine.fsutil import NotRegularFileError, read_regular_file
from kstool.errors import KstoolError, MaterialError
from kstool.formats.entries import KeyEntry
from kstool.spec.model import EntrySpec, Generate, KeystoreSpec, Spec, TrustedReference, check_references
from kstool.spec.yamlload import Location, SpecError
from tests.support.clirun import CANARY, ROOT, run

PW = f"{CANARY}-store"
CERTS = ROOT / "examples" / "wso2" / "certs"


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_PASS", PW)


def project(folder: Path, body: str, head: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "certs").exists():
        shutil.copytree(CERTS, folder / "certs")
    spec = folder / "kstool.yaml"
    spec.write_text(f"version: 1\n{head}keystores:\n{body}", encoding="utf-8")
    return spec


def store(name: str, path: str, extra: str = "") -> str:
    return (f"  - name: {name}\n    path: {path}\n    password: {{env: KS_PASS}}\n{extra}    entries:\n"
            "      - alias: root\n        trusted: {certificate: certs/root.crt}\n")


# -- 12. bounded work on hostile inputs ---------------------------------------------------------------------

def test_pem_with_many_begin_lines_and_no_end_is_linear() -> None:
    """16 MiB of BEGIN lines (the input cap): quadratic scanning took ~94 s for 512 KiB."""
    data = b"-----BEGIN CERTIFICATE-----\n" * (16 * 1024 * 1024 // 28)
    started = time.perf_counter()
    with pytest.raises(MaterialError, match="has no matching '-----END' line"):
        load_certificates(Path("hostile.pem"), data)
    assert time.perf_counter() - started < 5


@pytest.mark.slow
def test_pem_with_many_small_blocks_is_linear() -> None:
    """Many well-formed blocks: line numbers are counted once, not from the file's start per block."""
    data = b"junk\n" + b"-----BEGIN X-----\n\n-----END X-----\n" * 100_000
    started = time.perf_counter()
    with pytest.raises(MaterialError, match="holds PEM block"):
        load_certificates(Path("many.pem"), data)
    assert time.perf_counter() - started < 10


def test_pem_block_errors_keep_their_line_numbers() -> None:
    data = b"text\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END PRIVATE KEY-----\n"
    with pytest.raises(MaterialError, match=r"'BEGIN CERTIFICATE' \(line 2\) ends with 'END PRIVATE KEY'"):
        load_certificates(Path("x.pem"), data)
    real = (CERTS / "root.crt").read_bytes()
    assert len(load_certificates(Path("two.pem"), b"intro\n" + real + b"between\n" + real)) == 2


def _chain_spec(n: int) -> Spec:
    """k0/a is generated; k{i}/a trusts k{i-1}/a: one chain of n-1 references."""
    where = Location("s.yaml", 1, 1, ())
    gen = Generate("CN=x", (), "EC", 256, 90, (), ())
    stores = [KeystoreSpec("k0", "k0.p12", "pkcs12", None, None, None, "modern", None,  # type: ignore[arg-type]  # no passwords: not needed here
                           (EntrySpec("a", gen, where),), where)]
    stores += [KeystoreSpec(f"k{i}", f"k{i}.p12", "pkcs12", None, None, None, "modern", None,  # type: ignore[arg-type]  # no passwords: not needed here
                            (EntrySpec("a", TrustedReference(f"k{i - 1}", "a"), where),), where) for i in range(1, n)]
    return Spec(Path("s.yaml"), Path(), tuple(stores))


def test_long_chains_of_trusted_references_resolve_in_linear_time() -> None:
    spec = _chain_spec(3000)  # cubic: 3000³ steps; linear: milliseconds
    started = time.perf_counter()
    check_references(spec)
    assert all(spec.reference_target(f"k{i}", "a") == ("k0", "a") for i in range(3000))
    assert time.perf_counter() - started < 5


def test_reference_errors_still_name_the_cycle_and_the_missing_target() -> None:
    spec = _chain_spec(4)
    looped = Spec(spec.file, spec.base_dir, (*spec.keystores[1:],
                                              KeystoreSpec("k0", "k0.p12", "pkcs12", None, None, None,  # type: ignore[arg-type]  # no passwords
                                                           "modern", None, (EntrySpec("a", TrustedReference("k3", "a"),
                                                                                      spec.keystores[0].location),),
                                                           spec.keystores[0].location)))
    with pytest.raises(SpecError, match="form a cycle: k1/a → k0/a → k3/a → k2/a → k1/a"):
        check_references(looped)
    missing = Spec(spec.file, spec.base_dir, spec.keystores[1:])
    with pytest.raises(SpecError, match="names keystore 'k0', which is not in the spec"):
        check_references(missing)


def test_validate_of_a_long_reference_chain_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ["version: 1", "keystores:",
             "  - {name: k0, path: k0.p12, password: {env: P}, entries: [{alias: a, generate: {dname: 'CN=x'}}]}"]
    lines += [f"  - {{name: k{i}, path: k{i}.p12, password: {{env: P}}, entries: [{{alias: a, trusted: "
              f"{{entry: k{i - 1}/a}}}}]}}" for i in range(1, 1000)]
    spec = tmp_path / "chain.yaml"
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")  # ~100 KB: took 46 s before
    started = time.perf_counter()
    assert run(capsys, "validate", spec).code == 0
    assert time.perf_counter() - started < 30  # ~2 s of YAML and schema work on a loaded machine


def _kstool(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kstool", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_validate_dev_zero_is_refused_without_reading_it() -> None:
    result = _kstool("validate", "/dev/zero", timeout=30)
    assert result.returncode == 1
    assert "kstool: error: /dev/zero: the spec is a device, not a regular file" in result.stderr


def test_fifo_as_spec_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "kstool.yaml"
    os.mkfifo(fifo)
    result = _kstool("validate", fifo, timeout=30)  # subprocess.TimeoutExpired if it hangs
    assert result.returncode == 1 and "the spec is a FIFO (named pipe), not a regular file" in result.stderr


@pytest.mark.slow
def test_fifo_as_certificate_or_key_file_is_refused_without_hanging(tmp_path: Path, env: None) -> None:
    spec = project(tmp_path, store("k", "k.p12"))
    (tmp_path / "certs" / "root.crt").unlink()
    os.mkfifo(tmp_path / "certs" / "root.crt")
    result = _kstool("plan", spec, timeout=30)
    assert result.returncode == 1
    assert "certificate file" in result.stderr and "is a FIFO (named pipe), not a regular file" in result.stderr
    assert "Traceback" not in result.stderr


def test_read_regular_file(tmp_path: Path) -> None:
    target = tmp_path / "real.txt"
    target.write_bytes(b"x" * 100)
    (tmp_path / "link.txt").symlink_to(target)
    assert read_regular_file(tmp_path / "link.txt", 100, "input") == b"x" * 100  # links are followed
    with pytest.raises(NotRegularFileError, match=r"^input is larger than 99 bytes$"):
        read_regular_file(target, 99, "input")
    with pytest.raises(NotRegularFileError, match=r"^input is a device, not a regular file"):
        read_regular_file(Path("/dev/zero"), 100, "input")
    with pytest.raises(IsADirectoryError):
        read_regular_file(tmp_path, 100, "input")
    with pytest.raises(FileNotFoundError):
        read_regular_file(tmp_path / "nope", 100, "input")
    assert issubclass(NotRegularFileError, KstoolError)


# -- 7. an artifact the password does not protect is not trusted ----------------------------------------------

GEN_P12 = ("  - name: x\n    path: x.p12\n    password: {env: KS_PASS}\n    entries:\n"
           "      - alias: a\n        generate: {dname: 'CN=planted', key: {algorithm: EC, size: 256}}\n")


def _macless_p12(folder: Path, *, encrypted_key: bool = False) -> bytes:
    """What anyone can write without the password: `openssl pkcs12 -export -nomac`, no encryption (or the key
    encrypted under the store's password, which a MAC-less file cannot prove either)."""
    key, cert = folder / "planted.key", folder / "planted.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=planted", "-days", "90", "-keyout", key, "-out", cert], check=True,
                   capture_output=True)
    protection = ["-keypbe", "AES-256-CBC", "-passout", "env:KS_PASS"] if encrypted_key else \
        ["-keypbe", "NONE", "-passout", "pass:"]
    out = subprocess.run(["openssl", "pkcs12", "-export", "-nomac", "-certpbe", "NONE", *protection, "-name", "a",
                          "-inkey", key, "-in", cert], check=True, capture_output=True).stdout
    key.unlink()
    cert.unlink()
    return out


@pytest.mark.parametrize("encrypted_key", [False, True], ids=["plain", "key-encrypted"])
def test_planted_macless_pkcs12_is_unreadable(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None,
                                              encrypted_key: bool) -> None:
    spec = project(tmp_path, GEN_P12)
    planted = _macless_p12(tmp_path, encrypted_key=encrypted_key)
    (tmp_path / "x.p12").write_bytes(planted)
    (tmp_path / "x.p12").chmod(0o600)
    plan = run(capsys, "plan", spec)
    assert plan.code == 1
    assert "x.p12 is not a valid PKCS12 keystore (it has no integrity check (MAC)" in plan.err
    assert run(capsys, "apply", spec).code == 1
    assert (tmp_path / "x.p12").read_bytes() == planted
    assert run(capsys, "verify", spec).code == 1
    rebuilt = run(capsys, "apply", spec, "--replace-unreadable")
    assert rebuilt.code == 0, rebuilt.err
    assert (tmp_path / "x.p12").read_bytes() != planted
    backup = next(tmp_path.glob("x.p12.*.kstool-backup"))
    assert backup.read_bytes() == planted
    facts = run(capsys, "inspect", tmp_path / "x.p12", "--password-env", "KS_PASS", "--json").json()
    planted_facts = run(capsys, "inspect", backup, "--password-env", "KS_PASS", "--json")
    assert planted_facts.code == 0  # inspect still lists such a file: it trusts nothing anyway
    assert facts["entries"][0]["public_key_sha256"] != planted_facts.json()["entries"][0]["public_key_sha256"]
    assert run(capsys, "verify", spec).code == 0


def _self_signed(key: ed25519.Ed25519PrivateKey, subject: str, issuer: str | None = None,
                 signer: ed25519.Ed25519PrivateKey | None = None) -> bytes:
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer or subject)]))
            .public_key(key.public_key()).serial_number(1).not_valid_before(when)
            .not_valid_after(when + dt.timedelta(days=9)).sign(signer or key, None)
            .public_bytes(serialization.Encoding.DER))


def _raw_p12(key_ders: list[bytes], cert_ders: list[bytes], *, names: bool = False) -> bytes:
    """A MAC-less, unencrypted PKCS12 store: key bags without localKeyId, certificate bags."""
    from kstool.formats import der
    from kstool.formats import pkcs12 as p12

    key_bags = [p12._safe_bag(p12.KEY_BAG, k, []) for k in key_ders]
    cert_bags = [p12._cert_bag(c, [p12._attribute(p12.FRIENDLY_NAME, der.bmp_string(f"c{i}"))] if names else [])
                 for i, c in enumerate(cert_ders)]
    infos = [p12._data_info(der.seq(*bags)) for bags in (key_bags, cert_bags) if bags]
    return der.seq(der.integer(3), p12._data_info(der.seq(*infos)))


@pytest.mark.parametrize("prove_only", [False, True], ids=["full-open", "lock-fast-path"])
def test_a_macless_store_is_untrusted_on_every_open_path(prove_only: bool) -> None:
    """Even bytes that kstool.lock records (the fast path proves the password by the MAC alone) are refused."""
    from kstool.engine.observe import Trust, _OpenTask, _try_open

    data = _raw_p12([], [_self_signed(ed25519.Ed25519PrivateKey.generate(), "x")], names=True)
    trust = Trust.DESCRIBED if prove_only else Trust.NONE
    result = _try_open(_OpenTask(data, "pkcs12", [("password", PW)], [PW], trust))
    assert isinstance(result, str) and result.startswith("it has no integrity check (MAC)")


@pytest.mark.slow
def test_pkcs12_key_to_certificate_matching_is_linear() -> None:
    """3000 keys and 3000 certificates (0.9 MB), none matching: k times c public-key comparisons took minutes."""
    from kstool.formats.pkcs12 import decode_pkcs12

    pkcs8 = [ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        for _ in range(3000)]
    data = _raw_p12(pkcs8, [_self_signed(ed25519.Ed25519PrivateKey.generate(), "x")] * 3000)
    started = time.perf_counter()
    assert len(decode_pkcs12(data, "password")) == 3000
    assert time.perf_counter() - started < 10


def test_pkcs12_chains_are_bounded() -> None:
    """Issuers are found by name through an index; a chain longer than any real one is refused."""
    from kstool.errors import FormatError
    from kstool.formats.pkcs12 import MAX_CHAIN_LENGTH, decode_pkcs12

    keys = [ed25519.Ed25519PrivateKey.generate() for _ in range(MAX_CHAIN_LENGTH + 1)]
    certs = [_self_signed(keys[i], f"c{i}", f"c{i + 1}", keys[i + 1]) for i in range(MAX_CHAIN_LENGTH)]
    leaf_key = keys[0].private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    root = _self_signed(keys[-1], f"c{MAX_CHAIN_LENGTH}")
    full = decode_pkcs12(_raw_p12([leaf_key], [*certs[:MAX_CHAIN_LENGTH - 1], root]), "password")
    assert isinstance(full[0], KeyEntry)
    assert len(full[0].chain_der) == MAX_CHAIN_LENGTH - 1  # c0 … c62: c63 is missing, the chain stops there
    with pytest.raises(FormatError, match=f"longer than {MAX_CHAIN_LENGTH} certificates"):
        decode_pkcs12(_raw_p12([leaf_key], [*certs, root]), "password")


# -- 11. backups are bounded ----------------------------------------------------------------------------------

def _rotate(tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: Path, n: int, head: str = "") -> list[str]:
    """``n`` applies that each replace k.p12 (its one entry's alias changes), each at its own second."""
    for i in range(n):
        project(tmp_path, store("k", "k.p12").replace("alias: root", f"alias: root{i}"), head)
        result = run(capsys, "apply", spec)
        assert result.code == 0, result.err
        for backup in tmp_path.glob("k.p12.20*.kstool-backup"):  # the next apply may run in this second: age them
            stamp = backup.name.split(".")[2]
            if not stamp.startswith("2000"):
                backup.rename(backup.with_name(backup.name.replace(stamp, f"2000{i:04d}T000000Z")))
    return sorted(p.name for p in tmp_path.glob("*.kstool-backup"))


def test_backups_keep_the_newest_three_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   env: None) -> None:
    spec = project(tmp_path, store("k", "k.p12"))
    assert run(capsys, "apply", spec).code == 0
    (tmp_path / "k.p12.19990101T000000Z.kstool-backup").write_bytes(b"older")  # from an older apply
    (tmp_path / "other.p12.19990101T000000Z.kstool-backup").write_bytes(b"not ours")  # another artifact's
    (tmp_path / "k.p12.notes.kstool-backup").write_bytes(b"not kstool's name")
    backups = _rotate(tmp_path, capsys, spec, 5)
    assert backups == ["k.p12.20000002T000000Z.kstool-backup", "k.p12.20000003T000000Z.kstool-backup",
                       "k.p12.20000004T000000Z.kstool-backup", "k.p12.notes.kstool-backup",
                       "other.p12.19990101T000000Z.kstool-backup"]
    assert all((tmp_path / b).stat().st_mode & 0o777 == 0o600 for b in backups[:3])


def test_backups_keep_is_configurable(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    spec = project(tmp_path, store("k", "k.p12"), "backups: {keep: 1}\n")
    assert run(capsys, "apply", spec).code == 0
    assert _rotate(tmp_path, capsys, spec, 3, "backups: {keep: 1}\n") == ["k.p12.20000002T000000Z.kstool-backup"]
    project(tmp_path, store("k", "k.p12"), "backups: {keep: 1}\n")
    result = run(capsys, "apply", spec, "--json")
    assert result.json()["applied"]["pruned_backups"] == ["k.p12.20000002T000000Z.kstool-backup"]
    project(tmp_path, store("k", "k.p12"), "backups: {keep: 0}\n")
    assert "backups.keep: must be a whole number from 1 to 1000" in run(capsys, "validate", spec).err


def test_prune_orders_same_second_backups_by_their_counter(tmp_path: Path) -> None:
    from kstool.engine.commit import prune_backups

    names = ["a.jks.20261202T100000Z.kstool-backup", "a.jks.20261202T100000Z.1.kstool-backup",
             "a.jks.20261202T100000Z.2.kstool-backup", "a.jks.20261201T100000Z.7.kstool-backup"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a.jks.20251201T100000Z.kstool-backup").symlink_to(tmp_path / names[0])  # never kstool's
    assert prune_backups(tmp_path, {"a.jks"}, 2) == [names[3], names[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([names[1], names[2],
                                                                 "a.jks.20251201T100000Z.kstool-backup"])


# -- 10. modes and owners are spec'd, not forced ---------------------------------------------------------------

def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def test_a_0640_keystore_is_a_no_op_after_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 env: None) -> None:
    spec = project(tmp_path, store("k", "k.p12", '    mode: "0640"\n'))
    assert run(capsys, "apply", spec).code == 0
    assert _mode(tmp_path / "k.p12") == 0o640
    before = (tmp_path / "k.p12").stat().st_mtime_ns
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    assert run(capsys, "apply", spec).code == 0
    assert (tmp_path / "k.p12").stat().st_mtime_ns == before
    (tmp_path / "k.p12").chmod(0o600)  # drift is measured against the spec's mode, in both directions
    plan = run(capsys, "plan", spec, "--json").json()
    assert plan["keystores"][0]["reasons"] == ["file mode 0600 differs from the spec's 0640; apply sets it"]
    assert run(capsys, "apply", spec).code == 0 and _mode(tmp_path / "k.p12") == 0o640
    (tmp_path / "k.p12").chmod(0o644)
    plan = run(capsys, "plan", spec, "--json").json()
    assert plan["keystores"][0]["reasons"] == ["file mode 0644 lets group or others read it; apply rewrites it as "
                                               "0640"]


def test_spec_wide_defaults_and_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    body = (store("a", "a.p12") + store("b", "b.p12", '    mode: "0600"\n')
            + store("c", "c.p12").replace("{env: KS_PASS}", "{file: secrets/c.pass, generate: true}")
            + store("d", "d.p12").replace("{env: KS_PASS}", '{file: secrets/d.pass, generate: true, mode: "0600"}'))
    spec = project(tmp_path, body, 'defaults: {mode: "0640"}\n')
    result = run(capsys, "apply", spec)
    assert result.code == 0, result.err
    assert "readable by group or others" not in result.err  # the spec asked for it
    modes = {p: _mode(tmp_path / p) for p in ("a.p12", "b.p12", "c.p12", "secrets/c.pass", "secrets/d.pass")}
    assert modes == {"a.p12": 0o640, "b.p12": 0o600, "c.p12": 0o640, "secrets/c.pass": 0o640,
                     "secrets/d.pass": 0o600}
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


def test_an_existing_generated_password_file_gets_the_spec_mode(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    ref = "{file: k.pass, generate: true}"
    spec = project(tmp_path, store("k", "k.p12").replace("{env: KS_PASS}", ref))
    assert run(capsys, "apply", spec).code == 0
    password = (tmp_path / "k.pass").read_bytes()
    project(tmp_path, store("k", "k.p12").replace("{env: KS_PASS}", ref.replace("}", ', mode: "0640"}')))
    plan = run(capsys, "plan", spec, "--json", "--detailed-exitcode")
    assert plan.code == 2 and plan.json()["keystores"][0]["password_files_fixed"] == ["k.pass: mode 0600 → 0640"]
    assert plan.json()["keystores"][0]["action"] == "no-op"
    verify = run(capsys, "verify", spec)
    assert verify.code == 1 and "password file k.pass: mode 0600 → 0640" in verify.out + verify.err
    assert run(capsys, "apply", spec).code == 0
    assert _mode(tmp_path / "k.pass") == 0o640 and (tmp_path / "k.pass").read_bytes() == password
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    assert run(capsys, "verify", spec).code == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files away")
def test_owner_and_group_are_applied_as_root(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    pw = '{file: secrets/k.pass, generate: true, mode: "0640", group: 1235}'
    spec = project(tmp_path, store("k", "k.p12", '    owner: 1234\n').replace("{env: KS_PASS}", pw),
                   'defaults: {mode: "0640", group: "1234"}\n')
    assert run(capsys, "apply", spec).code == 0
    info, secret = (tmp_path / "k.p12").stat(), (tmp_path / "secrets" / "k.pass").stat()
    assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (1234, 1234, 0o640)
    assert (secret.st_uid, secret.st_gid, secret.st_mode & 0o777) == (0, 1235, 0o640)
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0
    os.chown(tmp_path / "k.p12", 0, 0)
    os.chown(tmp_path / "secrets" / "k.pass", 0, 0)
    plan = run(capsys, "plan", spec, "--json").json()["keystores"][0]
    assert plan["reasons"] == ["file owner 0 → 1234: apply sets it as the spec says",
                               "file group 0 → 1234: apply sets it as the spec says"]
    assert plan["password_files_fixed"] == ["secrets/k.pass: group 0 → 1235"]
    assert run(capsys, "apply", spec).code == 0
    assert ((tmp_path / "k.p12").stat().st_uid, (tmp_path / "k.p12").stat().st_gid) == (1234, 1234)
    assert (tmp_path / "secrets" / "k.pass").stat().st_gid == 1235
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


def test_owner_without_root_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    spec = project(tmp_path, store("k", "k.p12", "    owner: 1234\n"))
    monkeypatch.setattr(os, "geteuid", lambda: 4321)
    result = run(capsys, "apply", spec)
    assert result.code == 1
    assert "keystore 'k' at" in result.err and "the spec sets owner 1234, but kstool runs as uid 4321" in result.err
    assert not (tmp_path / "k.p12").exists()


def test_unknown_user_names_are_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    spec = project(tmp_path, store("k", "k.p12", "    owner: no-such-user-here\n"))
    assert run(capsys, "validate", spec).code == 0  # names are resolved where the spec is applied
    result = run(capsys, "plan", spec)
    assert result.code == 1 and "there is no user 'no-such-user-here' on this machine" in result.err


@pytest.mark.parametrize(("extra", "message"), [
    ('    mode: "4755"\n', "an octal file mode as a quoted string"),
    ('    mode: "1640"\n', "an octal file mode as a quoted string"),
    ('    mode: "0440"\n', "mode 0440 does not let the owner read and write the file"),
    ('    mode: "0o640"\n', "an octal file mode as a quoted string"),
    ("    mode: 0640\n", "quote it"),
    ("    mode: 640\n", "must be a string"),
    ("    owner: -1\n", "a user or group name, or a numeric id"),
    ('    group: "a b"\n', "a user or group name, or a numeric id"),
])
def test_mode_and_owner_are_validated(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str,
                                      message: str) -> None:
    result = run(capsys, "validate", project(tmp_path, store("k", "k.p12", extra)))
    assert result.code == 1 and message in result.err


def test_mode_applies_only_to_generated_password_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = project(tmp_path, store("k", "k.p12").replace("{env: KS_PASS}", '{file: k.pass, mode: "0640"}'))
    result = run(capsys, "validate", spec)
    assert result.code == 1 and "mode applies to a password file kstool generates (generate: true)" in result.err


def test_folders_kstool_creates_are_private_whatever_the_umask(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               env: None) -> None:
    body = store("k", "out/deep/er/k.p12").replace("{env: KS_PASS}", "{file: secrets/a/b/k.pass, generate: true}")
    spec = project(tmp_path, body)
    (tmp_path / "out").mkdir(mode=0o755)  # an existing folder is left as it is
    (tmp_path / "out").chmod(0o755)
    old = os.umask(0)
    try:
        assert run(capsys, "apply", spec).code == 0
    finally:
        os.umask(old)
    modes = {p: _mode(tmp_path / p) for p in ("out", "out/deep", "out/deep/er", "secrets", "secrets/a",
                                              "secrets/a/b")}
    assert modes == {"out": 0o755, "out/deep": 0o700, "out/deep/er": 0o700, "secrets": 0o700, "secrets/a": 0o700,
                     "secrets/a/b": 0o700}
    assert _mode(tmp_path / "out/deep/er/k.p12") == 0o600 and _mode(tmp_path / "secrets/a/b/k.pass") == 0o600
    old = os.umask(0)
    try:  # an --output-dir that does not exist yet, parents included
        assert run(capsys, "apply", spec, "-o", tmp_path / "new" / "output" / "root").code == 0
    finally:
        os.umask(old)
    assert [_mode(tmp_path / p) for p in ("new", "new/output", "new/output/root", "new/output/root/out")] == \
        [0o700] * 4


@pytest.mark.slow
def test_a_large_planted_macless_store_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          env: None) -> None:
    """The 0.9 MB planted file of the issue kept plan busy for minutes; now it is refused before any matching."""
    pkcs8 = [ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        for _ in range(3000)]
    spec = project(tmp_path, GEN_P12)
    (tmp_path / "x.p12").write_bytes(_raw_p12(pkcs8, [_self_signed(ed25519.Ed25519PrivateKey.generate(), "x")] * 3000))
    (tmp_path / "x.p12").chmod(0o600)
    started = time.perf_counter()
    result = run(capsys, "plan", spec)
    assert result.code == 1 and "it has no integrity check (MAC)" in result.err
    assert time.perf_counter() - started < 5
