"""Trustworthy under bad input, faults and concurrency: nothing lost, nothing leaked, nothing half-written.

Each test tries to break one invariant of issue 5: validate before writing, all-or-nothing commit, crash
safety under kill -9, backups, one writer per output root, private modes, confined paths, secrets.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

import kstool.engine.commit
import kstool.engine.fsutil
from kstool.engine.passwords import Secret
from kstool.formats.codec import decode
from tests.support.clirun import CANARY, ROOT, run, snapshot

PW = f"{CANARY}-store"
PW2 = f"{CANARY}-rotated"
CERTS = ROOT / "examples" / "wso2" / "certs"


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_PASS", PW)


def import_store(name: str, path: str, extra: str = "") -> str:
    return (f"  - name: {name}\n    path: {path}\n    password: {{env: KS_PASS}}\n{extra}    entries:\n"
            "      - alias: gw\n        import:\n          certificate: certs/gateway.crt\n"
            "          private_key: certs/gateway.key\n          chain: [certs/intermediate.crt, certs/root.crt]\n"
            "      - alias: root\n        trusted: {certificate: certs/root.crt}\n")


def project(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "certs").exists():
        shutil.copytree(CERTS, folder / "certs")
    spec = folder / "kstool.yaml"
    spec.write_text("version: 1\nkeystores:\n" + body, encoding="utf-8")
    return spec


THREE = import_store("a", "a.jks") + import_store("b", "b.p12") + import_store("c", "sub/c.jceks",
                                                                               "    iterations: 1000\n")


def artifacts(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    return {k: v for k, v in snapshot(folder).items() if not k.startswith("certs/") and k != "kstool.yaml"}


# -- 1. validate everything before any write ----------------------------------------------------------------

def test_a_bad_input_anywhere_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              env: None) -> None:
    spec = project(tmp_path, THREE)
    assert run(capsys, "apply", spec).code == 0
    before = snapshot(tmp_path)
    # a valid change to the first keystore, a generated password file, and a broken input in the last one
    body = (THREE.replace("alias: root", "alias: root2", 1)
            + "  - name: d\n    path: d.jks\n    password: {file: s/d.pass, generate: true}\n    entries:\n"
              "      - alias: x\n        trusted: {certificate: certs/missing.crt}\n")
    project(tmp_path, body)
    before = {k: v for k, v in before.items() if k != "kstool.yaml"}
    result = run(capsys, "apply", spec)
    assert result.code == 1 and "certs/missing.crt does not exist" in result.err
    assert result.err.startswith(f"kstool: error: {spec}:")
    after = {k: v for k, v in snapshot(tmp_path).items() if k != "kstool.yaml"}
    assert after == before  # same files, bytes, modes, mtimes: nothing created, changed or deleted


# -- 2. all-or-nothing commit, with rollback ------------------------------------------------------------------

def _fail_on_call(monkeypatch: pytest.MonkeyPatch, n: int, *, forever: bool = False) -> None:
    """Make the n-th step of the commit fail: steps are backup writes and renames, in order
    (backup a, rename a, backup b, rename b, ...); with ``forever``, every later step (restores too)."""
    calls = {"n": 0}

    def failing() -> bool:
        calls["n"] += 1
        return calls["n"] == n or (forever and calls["n"] > n)

    real_write = kstool.engine.commit.atomic_write  # type: ignore[attr-defined]  # patched where commit looks it up

    def flaky_write(path: Path, data: bytes, **kwargs: object) -> None:
        if failing():
            raise OSError(28, "No space left on device")
        real_write(path, data, **kwargs)  # type: ignore[arg-type]  # forwards the caller's keywords

    class FlakyOs:
        def __getattr__(self, name: str) -> object:
            return getattr(os, name)

        @staticmethod
        def replace(src: Path, dst: Path) -> None:
            if failing():
                raise OSError(28, "No space left on device")
            os.replace(src, dst)

    monkeypatch.setattr(kstool.engine.commit, "atomic_write", flaky_write)
    monkeypatch.setattr(kstool.engine.commit, "os", FlakyOs())


@pytest.mark.parametrize(("failing_call", "flags"), [
    *[(n, ()) for n in range(1, 7)],  # backup a, write a, backup b, write b, backup c, write c
    *[(n, ("--no-backup",)) for n in range(1, 4)],  # write a, write b, write c
])
def test_commit_failure_midway_restores_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, env: None,
                                                   failing_call: int, flags: tuple[str, ...]) -> None:
    spec = project(tmp_path, THREE)
    assert run(capsys, "apply", spec).code == 0
    before = {k: v[:2] for k, v in artifacts(tmp_path).items()}
    monkeypatch.setenv("KS_OLD", PW)
    monkeypatch.setenv("KS_PASS", PW2)
    project(tmp_path, THREE.replace("    entries:", "    previous_password: {env: KS_OLD}\n    entries:"))
    _fail_on_call(monkeypatch, failing_call)
    result = run(capsys, "apply", spec, *flags)
    assert result.code == 1, result.err
    assert "apply failed (OSError: No space left on device)" in result.err
    assert "nothing was changed" in result.err
    after = {k: v[:2] for k, v in artifacts(tmp_path).items() if not k.endswith(".kstool-backup")}
    assert after == before
    assert not list(tmp_path.rglob("*.kstool-tmp"))


def test_restore_failure_is_exit_4(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    spec = project(tmp_path, THREE)
    assert run(capsys, "apply", spec).code == 0
    monkeypatch.setenv("KS_OLD", PW)
    monkeypatch.setenv("KS_PASS", PW2)
    project(tmp_path, THREE.replace("    entries:", "    previous_password: {env: KS_OLD}\n    entries:"))
    _fail_on_call(monkeypatch, 4, forever=True)  # a is written, b fails, and restoring a fails too
    result = run(capsys, "apply", spec)
    assert result.code == 4
    assert "restoring the previous files failed too: a.jks" in result.err and "backups: a.jks." in result.err


@pytest.mark.parametrize("target", ["fsync", "replace"])
def test_failure_inside_an_atomic_write_leaves_no_temp_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch, env: None,
                                                            target: str) -> None:
    spec = project(tmp_path, THREE)
    real = getattr(os, target)

    def broken(*args: object) -> None:
        if target == "replace" or any(isinstance(a, int) for a in args):
            raise OSError(5, "Input/output error")
        real(*args)

    monkeypatch.setattr(os, target, broken)
    result = run(capsys, "apply", spec)
    assert result.code == 1 and "Input/output error" in result.err
    assert not list(tmp_path.rglob("*.kstool-tmp"))
    assert not (tmp_path / "a.jks").exists()


# -- 3. crash safety: kill -9 at any moment -------------------------------------------------------------------

MANY = "".join(import_store(f"s{i}", f"out/s{i}.{'jks' if i % 2 else 'p12'}") for i in range(12))

# Runs kstool in a child that SIGKILLs itself at an exact point of the commit: just before its N-th call of
# os.replace (temp file written and fsynced, not yet renamed), or of os.link (a backup about to appear).
KILLER = """
import os, signal, sys
call, target = sys.argv[1], int(sys.argv[2])
real = getattr(os, call)
seen = [0]
def hook(*args, **kwargs):
    seen[0] += 1
    if seen[0] == target:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)
setattr(os, call, hook)
from kstool.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _kill_points() -> list[tuple[str, int]]:
    # 12 artifacts, then the lock file: 13 renames; 12 backups (os.link), 1 per replaced artifact
    return [("replace", n) for n in (1, 2, 7, 12, 13)] + [("link", n) for n in (1, 6)]


@pytest.mark.slow
def test_kill_9_leaves_old_or_new_files_and_the_next_apply_converges(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env.update(KS_PASS=PW)
    old_spec = project(tmp_path / "old", MANY)
    subprocess.run([sys.executable, "-m", "kstool", "apply", str(old_spec)], env=env, check=True,
                   capture_output=True, timeout=300)
    rotated = MANY.replace("    entries:", "    previous_password: {env: KS_OLD}\n    entries:")
    new_env = dict(env, KS_PASS=PW2, KS_OLD=PW)
    reference = tmp_path / "reference"
    shutil.copytree(tmp_path / "old", reference)
    project(reference, rotated)
    subprocess.run([sys.executable, "-m", "kstool", "apply", str(reference / "kstool.yaml")], env=new_env,
                   check=True, capture_output=True, timeout=300)
    old = {k: v[0] for k, v in artifacts(tmp_path / "old").items()}
    new = {k: v[0] for k, v in artifacts(reference).items() if not k.endswith(".kstool-backup")}
    stores = [n for n in old if n != "kstool.lock"]
    mixed = 0
    for i, (call, n) in enumerate(_kill_points()):
        work = tmp_path / f"run{i}"
        shutil.copytree(tmp_path / "old", work)
        spec = project(work, rotated)
        killed = subprocess.run([sys.executable, "-c", KILLER, call, str(n), "apply", str(spec)], env=new_env,
                                capture_output=True, timeout=300, check=False)
        assert killed.returncode == -signal.SIGKILL, (call, n, killed.stderr)
        seen = {k: v[0] for k, v in artifacts(work).items()}
        for name in stores:  # every artifact is complete: the old version or the new one
            assert seen[name] in (old[name], new[name]), f"{name} is neither old nor new after kill at {call} #{n}"
        mixed += any(seen[s] == new[s] for s in stores) and any(seen[s] == old[s] for s in stores)
        done = subprocess.run([sys.executable, "-m", "kstool", "apply", str(spec)], env=new_env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        if call == "replace":  # the child died with a written, fsynced, unrenamed temp file
            assert "removed stray temp file" in done.stdout
        final = {k: v[0] for k, v in artifacts(work).items() if not k.endswith(".kstool-backup")}
        assert final == new  # converged to exactly the reference bytes, lock file included
        assert not list(work.rglob("*.kstool-tmp")) and not (work / ".kstool-apply.lock").exists()
    assert mixed >= 2  # some kills really landed between two renames


# -- 4. backups ---------------------------------------------------------------------------------------------

def test_replaced_and_deleted_artifacts_are_backed_up(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      env: None) -> None:
    spec = project(tmp_path, THREE)
    assert run(capsys, "apply", spec).code == 0
    old_a = (tmp_path / "a.jks").read_bytes()
    old_b = (tmp_path / "b.p12").read_bytes()
    project(tmp_path, THREE.replace("alias: root", "alias: root-ca", 1).replace(import_store("b", "b.p12"), ""))
    result = run(capsys, "apply", spec)
    assert result.code == 0
    backups = sorted(p.name for p in tmp_path.glob("*.kstool-backup"))
    assert len(backups) == 2 and backups[0].startswith("a.jks.") and backups[1].startswith("b.p12.")
    for name, old in (("a.jks", old_a), ("b.p12", old_b)):
        backup = next(tmp_path.glob(f"{name}.*.kstool-backup"))
        assert backup.read_bytes() == old and backup.stat().st_mode & 0o777 == 0o600
        assert f"backup  {backup.name}" in result.out
    assert not (tmp_path / "b.p12").exists()


def test_no_backup_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    spec = project(tmp_path, THREE)
    assert run(capsys, "apply", spec).code == 0
    project(tmp_path, THREE.replace("alias: root", "alias: root-ca", 1))
    assert run(capsys, "apply", spec, "--no-backup").code == 0
    assert not list(tmp_path.glob("*.kstool-backup"))


# -- 5. one writer per output root ------------------------------------------------------------------------

def _hold_lock(root: Path) -> int:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    (root / ".kstool-apply.lock").write_text(f"pid {os.getpid()}, started 2026-11-28T05:00:00Z\n")
    return fd


def test_second_apply_fails_fast_naming_the_holder(tmp_path: Path, env: None,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    spec = project(tmp_path, THREE)
    fd = _hold_lock(tmp_path)
    try:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "kstool", "apply", str(spec)], capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 5
        assert f"pid {os.getpid()}, started 2026-11-28T05:00:00Z" in done.stderr
        assert time.monotonic() - started < 10
        assert run(capsys, "plan", spec).code == 0  # plan takes no lock
    finally:
        os.close(fd)
    assert not (tmp_path / "a.jks").exists()


def test_lock_timeout_waits_for_the_holder(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    spec = project(tmp_path, THREE)
    fd = _hold_lock(tmp_path)
    threading.Timer(0.5, os.close, args=(fd,)).start()
    assert run(capsys, "apply", spec, "--lock-timeout", "20").code == 0
    assert (tmp_path / "a.jks").exists()


@pytest.mark.slow
def test_two_real_applies_at_once(tmp_path: Path) -> None:
    rsa4096 = "{algorithm: RSA, size: 4096}"
    gen = "".join(f"      - alias: k{i}\n        generate: {{dname: \"CN=k{i}\", key: {rsa4096}}}\n" for i in range(4))
    spec = project(tmp_path, f"  - name: slow\n    path: slow.p12\n    password: {{env: KS_PASS}}\n    entries:\n{gen}")
    env = dict(os.environ, KS_PASS=PW)
    first = subprocess.Popen([sys.executable, "-m", "kstool", "apply", str(spec)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (tmp_path / ".kstool-apply.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    second = subprocess.run([sys.executable, "-m", "kstool", "apply", str(spec)], env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    _, first_err = first.communicate(timeout=300)  # also closes its stderr pipe
    assert first.returncode == 0, first_err
    assert second.returncode == 5, second.stderr
    assert f"pid {first.pid}," in second.stderr


# -- 6. private from birth ----------------------------------------------------------------------------------

def test_temp_files_are_private_before_rename(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    modes: list[int] = []
    real = os.replace

    def spy(src: str | Path, dst: str | Path) -> None:
        modes.append(os.stat(src).st_mode & 0o777)
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    spec = project(tmp_path, "  - name: a\n    path: a.jks\n    password: {file: s/a.pass, generate: true}\n"
                             "    entries:\n      - alias: root\n        trusted: {certificate: certs/root.crt}\n")
    assert run(capsys, "apply", spec).code == 0
    assert modes[0] == 0o600  # the keystore (the lock file, public, is widened to 0644 before its rename)
    assert (tmp_path / "s").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "s" / "a.pass").stat().st_mode & 0o777 == 0o600


def test_loose_mode_is_reported_and_tightened(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    spec = project(tmp_path, THREE)
    assert run(capsys, "apply", spec).code == 0
    (tmp_path / "a.jks").chmod(0o644)
    plan = run(capsys, "plan", spec, "--json").json()
    assert plan["keystores"][0]["reasons"] == ["file mode 0644 lets group or others read it; apply rewrites it as 0600"]
    assert run(capsys, "apply", spec, "--no-backup").code == 0
    assert (tmp_path / "a.jks").stat().st_mode & 0o777 == 0o600
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


# -- 7. secrets never leave memory ------------------------------------------------------------------------

def test_debug_traceback_of_a_bug_carries_no_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    spec = project(tmp_path, THREE)

    def bug(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr("kstool.engine.planner.compute_plan", bug)
    result = run(capsys, "--debug", "plan", spec)  # run() asserts no password appears in out/err
    assert result.code == 3 and "unexpected error (RuntimeError)" in result.err and "Traceback" in result.err
    plain = run(capsys, "plan", spec)
    assert plain.code == 3 and "Traceback" not in plain.err


def test_secret_reprs_are_redacted() -> None:
    secret = Secret(PW)
    assert PW not in repr(secret) and PW not in str(secret) and PW not in f"{secret}" and PW not in f"{[secret]}"
    with pytest.raises(TypeError):
        pickle.dumps(secret)


# -- 8. paths are confined ------------------------------------------------------------------------------

def test_output_symlink_is_refused_never_followed(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  env: None) -> None:
    spec = project(tmp_path, THREE)
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious")
    (tmp_path / "a.jks").symlink_to(target)
    result = run(capsys, "apply", spec)
    assert result.code == 1 and "a.jks is a symbolic link" in result.err
    assert target.read_text() == "precious" and (tmp_path / "a.jks").is_symlink()


def test_symlinked_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    spec = project(tmp_path, THREE)
    (tmp_path / "sub").symlink_to(outside, target_is_directory=True)
    result = run(capsys, "apply", spec)
    assert result.code == 1 and "folder sub is a symbolic link" in result.err
    assert list(outside.iterdir()) == []


# -- 9. corrupt artifacts: plan says so, apply refuses unless told, and keeps the backup --------------------

def test_truncated_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    spec = project(tmp_path, THREE)
    assert run(capsys, "apply", spec).code == 0
    data = (tmp_path / "b.p12").read_bytes()
    (tmp_path / "b.p12").write_bytes(data[: len(data) // 2])
    plan = run(capsys, "plan", spec)
    assert plan.code == 1 and "b.p12 is not a valid PKCS12 keystore" in plan.err and "Traceback" not in plan.err
    refused = run(capsys, "apply", spec)
    assert refused.code == 1 and (tmp_path / "b.p12").read_bytes() == data[: len(data) // 2]
    replaced = run(capsys, "apply", spec, "--replace-unreadable")
    assert replaced.code == 0 and "rebuilt from the spec" in replaced.out
    backup = next(tmp_path.glob("b.p12.*.kstool-backup"))
    assert backup.read_bytes() == data[: len(data) // 2]
    assert decode((tmp_path / "b.p12").read_bytes(), "pkcs12", PW)
    assert run(capsys, "plan", spec, "--detailed-exitcode").code == 0


# -- bad inputs, each with its exit code, message, and no file changed ----------------------------------

def _cert(key: CertificateIssuerPrivateKeyTypes, subject: str, *, days: tuple[int, int] = (-1, 365)) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key())
               .serial_number(7).not_valid_before(now + dt.timedelta(days=days[0]))
               .not_valid_after(now + dt.timedelta(days=days[1])))
    cert = builder.sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def weak(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("weak")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    (folder / "expired.crt").write_bytes(_cert(ec_key, "expired", days=(-30, -1)))
    (folder / "future.crt").write_bytes(_cert(ec_key, "future", days=(10, 30)))
    (folder / "ec.key").write_bytes(_key_pem(ec_key))
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (folder / "rsa1024.crt").write_bytes(_cert(small, "small"))
    (folder / "rsa1024.key").write_bytes(_key_pem(small))
    dsa_key = dsa.generate_private_key(key_size=2048)
    (folder / "dsa.crt").write_bytes(_cert(dsa_key, "dsa"))
    # cryptography refuses to sign with SHA-1: the openssl CLI still can
    openssl = ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj"]
    subprocess.run([*openssl, "/CN=sha1-ca", "-x509", "-sha256", "-keyout", "ca.key", "-out", "ca.crt"],
                   cwd=folder, check=True, capture_output=True)
    subprocess.run([*openssl, "/CN=sha1-leaf", "-keyout", "leaf.key", "-out", "leaf.csr"], cwd=folder, check=True,
                   capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                    "-set_serial", "5", "-days", "30", "-sha1", "-out", "sha1.crt"], cwd=folder, check=True,
                   capture_output=True)
    return folder


ENTRY = "  - name: x\n    path: x.p12\n    password: {env: KS_PASS}\n    entries:\n"


@pytest.mark.parametrize(("entry", "fragment"), [
    ("      - alias: e\n        trusted: {certificate: W/expired.crt}\n", "expired on"),
    ("      - alias: e\n        trusted: {certificate: W/future.crt}\n", "is not valid before"),
    ("      - alias: e\n        import: {certificate: W/expired.crt, private_key: W/ec.key}\n", "expired on"),
    ("      - alias: e\n        trusted: {certificate: W/rsa1024.crt}\n", "1024-bit RSA key"),
    ("      - alias: e\n        import: {certificate: W/rsa1024.crt, private_key: W/rsa1024.key}\n", "1024-bit RSA"),
    ("      - alias: e\n        trusted: {certificate: W/dsa.crt}\n", "has a DSA key"),
])
def test_certificate_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None, weak: Path,
                            entry: str, fragment: str) -> None:
    spec = project(tmp_path, ENTRY + entry.replace("W/", f"{weak}/"))
    before = snapshot(tmp_path)
    result = run(capsys, "apply", spec)
    assert result.code == 1 and fragment in result.err and f"{spec}:7:9: keystores[0].entries[0]" in result.err
    assert snapshot(tmp_path) == before
    opt_in = "allow_expired" if "valid" in fragment or "expired" in fragment else "allow_weak"
    assert f"set {opt_in}: true" in result.err
    project(tmp_path, ENTRY + entry.replace("W/", f"{weak}/") + f"        {opt_in}: true\n")
    assert run(capsys, "apply", spec).code == 0


def test_sha1_signed_certificate_is_weak_but_a_self_signed_root_is_not(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None, weak: Path) -> None:
    spec = project(tmp_path, ENTRY + f"      - alias: e\n        trusted: {{certificate: {weak}/sha1.crt}}\n")
    result = run(capsys, "apply", spec)
    assert result.code == 1 and "signed with SHA1" in result.err


SPEC_HEAD = "version: 1\nkeystores:\n  - name: k\n    path: k.p12\n    password: {env: KS_PASS}\n    entries:\n"
ROOT_ENTRY = "      - alias: r\n        trusted: {certificate: certs/root.crt}\n"


@pytest.mark.parametrize(("text", "fragment"), [
    (SPEC_HEAD + "      - alias: NO\n        trusted: {certificate: certs/root.crt}\n", "boolean in YAML 1.1"),
    (SPEC_HEAD + ROOT_ENTRY + "    mode: 0600\n", "read as a number in YAML 1.1"),
    (SPEC_HEAD.replace("{env: KS_PASS}", "0123") + ROOT_ENTRY, "read as a number"),
    (SPEC_HEAD + "      - alias: 2024-01-01\n        trusted: {certificate: certs/root.crt}\n", "read as a date"),
    (SPEC_HEAD + ROOT_ENTRY + ROOT_ENTRY.replace("alias: r", "alias: R"), "differs only by case"),
    (SPEC_HEAD.replace("version: 1\n", "version: 1\nversion: 1\n") + ROOT_ENTRY, "duplicate key 'version'"),
    ("", "the spec is empty"),
    ("- 1\n", "must be a mapping"),
    ("version: 1\nkeystores: []\n---\nversion: 1\n", "several YAML documents"),
    (SPEC_HEAD.replace("k.p12", "k.p12\n    key_password: {env: KS_PASS}") + ROOT_ENTRY,
     "PKCS12 keystores have one password"),
    (SPEC_HEAD + "      - alias: \"\U0001f511\"\n        trusted: {certificate: certs/root.crt}\n",
     "Basic Multilingual Plane"),
    (SPEC_HEAD + ROOT_ENTRY + "  - name: k\n    path: other.p12\n    password: {env: KS_PASS}\n    entries: []\n",
     "keystore name 'k' is already used"),
    (SPEC_HEAD + ROOT_ENTRY + "  - name: k2\n    path: ./K.p12\n    password: {env: KS_PASS}\n    entries: []\n",
     "path 'K.p12' is already written by keystores[0]"),
    (SPEC_HEAD + ROOT_ENTRY + "    ? [a, b]\n    : 1\n", "keys must be strings"),
    (SPEC_HEAD.replace("k.p12", "../k.p12") + ROOT_ENTRY, "'..' may not leave it"),
    (SPEC_HEAD.replace("k.p12", "/tmp/k.p12") + ROOT_ENTRY, "not absolute"),
])
def test_bad_spec_inputs_change_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None,
                                        text: str, fragment: str) -> None:
    project(tmp_path, "")
    spec = tmp_path / "kstool.yaml"
    spec.write_text(text, encoding="utf-8")
    before = snapshot(tmp_path)
    result = run(capsys, "apply", spec)
    assert result.code == 1 and fragment in result.err, result.err
    assert result.err.startswith(f"kstool: error: {spec}")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(("setup", "fragment"), [
    ("unset", "is not set"),
    ("empty", "is set but empty"),
    ("short", "shorter than 6 characters"),
    ("non-ascii", "non-ASCII characters; Java 17 refuses them for PKCS12"),
    ("file-nul-inside", "contains a line break or NUL"),
    ("file-missing", "does not exist"),
    ("file-dir", "is a directory"),
    ("file-empty", "is empty"),
    ("file-crlf-inside", "contains a line break"),
    ("file-group-readable-strict", "must not be readable by group or others"),
])
def test_bad_passwords_change_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch, setup: str, fragment: str) -> None:
    password = "{env: KS_PASS}"
    args: list[str] = []
    values = {"empty": "", "short": "Ab1", "non-ascii": f"{CANARY}-é"}
    if setup == "unset":
        monkeypatch.delenv("KS_PASS", raising=False)
    elif setup in values:
        monkeypatch.setenv("KS_PASS", values[setup])
    else:
        password = "{file: pw/store.pass}"
        (tmp_path / "pw").mkdir(parents=True)
        target = tmp_path / "pw" / "store.pass"
        if setup == "file-dir":
            target.mkdir()
        elif setup == "file-empty":
            target.write_text("")
        elif setup == "file-crlf-inside":
            target.write_text(f"{CANARY}\r\nmore\n")
        elif setup == "file-nul-inside":
            target.write_text(f"{CANARY}\0more\n")
        elif setup == "file-group-readable-strict":
            target.write_text(f"{CANARY}\n")
            target.chmod(0o640)
            args = ["--strict-permissions"]
    spec = project(tmp_path, SPEC_HEAD.split("keystores:\n")[1].replace("{env: KS_PASS}", password) + ROOT_ENTRY)
    before = snapshot(tmp_path)
    result = run(capsys, "apply", spec, *args)
    assert result.code == 1 and fragment in result.err, result.err
    assert snapshot(tmp_path) == before


def test_artifact_its_password_cannot_open_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    spec = project(tmp_path, THREE)
    assert run(capsys, "apply", spec).code == 0
    monkeypatch.setenv("KS_PASS", PW2)
    before = snapshot(tmp_path)
    result = run(capsys, "apply", spec)
    assert result.code == 1 and "a.jks: the password from environment variable KS_PASS does not open" in result.err
    assert "keystore 'a'" in result.err and "previous_password" in result.err
    assert snapshot(tmp_path) == before


def test_jceks_refuses_non_ascii_password(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_PASS", f"{CANARY}-ü")
    spec = project(tmp_path, SPEC_HEAD.split("keystores:\n")[1].replace("k.p12", "k.jceks") + ROOT_ENTRY)
    result = run(capsys, "apply", spec)
    assert result.code == 1 and "refuses them for JCEKS" in result.err


def test_existing_artifact_of_another_type_is_re_encoded_keeping_keys(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], env: None) -> None:
    """keytool 9+ writes PKCS12 even into x.jks: kstool says so and re-encodes as the spec's type."""
    spec = project(tmp_path, import_store("a", "a.p12"))
    assert run(capsys, "apply", spec).code == 0
    (tmp_path / "a.p12").rename(tmp_path / "a.jks")
    project(tmp_path, import_store("a", "a.jks"))
    plan = run(capsys, "plan", spec, "--json").json()
    assert "type changed: pkcs12 → jks" in plan["keystores"][0]["reasons"]
    assert run(capsys, "apply", spec).code == 0
    assert (tmp_path / "a.jks").read_bytes()[:4] == b"\xfe\xed\xfe\xed"


def test_hostile_certificate_inside_a_valid_store_is_a_clean_error(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   env: None) -> None:
    """A store whose integrity check passes may still carry a certificate cryptography cannot parse."""
    from kstool.formats.entries import TrustedEntry
    from kstool.formats.jks import encode_jks

    der = x509.load_pem_x509_certificate((CERTS / "root.crt").read_bytes()).public_bytes(
        serialization.Encoding.DER)
    version = der.index(b"\xa0\x03\x02\x01\x02")  # [0] EXPLICIT INTEGER 2 (v3)
    bad = der[:version] + b"\xa0\x03\x02\x01\x07" + der[version + 5:]  # version 8: not X.509
    spec = project(tmp_path, import_store("a", "a.jks"))
    (tmp_path / "a.jks").write_bytes(encode_jks([TrustedEntry("root", bad, 0)], PW, PW))
    plan = run(capsys, "plan", spec)
    assert plan.code == 1 and "a.jks is not a valid JKS keystore (malformed or unsupported certificate" in plan.err
    shown = run(capsys, "inspect", tmp_path / "a.jks", "--password-env", "KS_PASS")
    assert shown.code == 1 and "malformed or unsupported certificate" in shown.err


def test_self_check_failure_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    """An encoder bug that loses an entry is caught by re-opening the new artifact, before any write."""
    import kstool.engine.execute
    import kstool.engine.planner

    real = kstool.engine.execute.encode  # type: ignore[attr-defined]  # patched where execute looks it up

    def lossy(entries: list[object], *args: object, **kwargs: object) -> bytes:
        return real(entries[:-1], *args, **kwargs)  # type: ignore[arg-type]  # forwards the caller's arguments

    spec = project(tmp_path, THREE)
    before = snapshot(tmp_path)
    monkeypatch.setattr(kstool.engine.execute, "encode", lossy)
    monkeypatch.setattr(kstool.engine.planner, "encode", lossy)  # the planner encodes what it can know in advance
    result = run(capsys, "apply", spec, "--jobs", "1")
    assert result.code == 1 and "internal self-check failed for a.jks" in result.err
    assert snapshot(tmp_path) == before


def test_oversized_spec_is_refused_before_parsing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "kstool.yaml"
    spec.write_text("version: 1\nkeystores: []\n# " + "x" * (1024 * 1024) + "\n")
    result = run(capsys, "validate", spec)
    assert result.code == 1 and "larger than 1024 KiB" in result.err
