"""Issue 11, items 7, 10, 11 and 12: untrusted artifacts, spec'd modes and owners, bounded backups, and bounded
work on hostile inputs (linear scans, regular files only, no hang on a FIFO)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kstool.crypto.material import load_certificates
from kstool.errors import KstoolError, MaterialError
from kstool.fsutil import NotRegularFileError, read_regular_file
from kstool.spec.model import EntrySpec, Generate, KeystoreSpec, Spec, TrustedReference, check_references
from kstool.spec.yamlload import Location, SpecError
from tests.clirun import CANARY, ROOT, run

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
    stores = [KeystoreSpec("k0", "k0.p12", "pkcs12", None, None, None, "modern", None,  # type: ignore[arg-type]
                           (EntrySpec("a", gen, where),), where)]
    stores += [KeystoreSpec(f"k{i}", f"k{i}.p12", "pkcs12", None, None, None, "modern", None,  # type: ignore[arg-type]
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
                                              KeystoreSpec("k0", "k0.p12", "pkcs12", None, None, None,  # type: ignore[arg-type]
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
