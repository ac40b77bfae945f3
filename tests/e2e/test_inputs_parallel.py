"""A truststore of many certificate files: its entries are read and checked on every core, and the plan's facts of
their certificates computed on every core too. The result is the same as in one process: the same contents, the
same errors in the same order, the same warnings, the same facts."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from kstool.engine import facts, parallel
from kstool.engine.inputs import PARALLEL_ENTRIES, load_inputs
from kstool.errors import MultiError
from kstool.spec.model import load_spec
from tests.support.clirun import ROOT

COUNT = PARALLEL_ENTRIES + 44


def _certificates(folder: Path, count: int) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC).replace(microsecond=0)
    for i in range(count):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Parallel CA {i}")])
        expired = i == 7  # refused by the policy: an error of its own, from a worker
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(100 + i).not_valid_before(now - timedelta(days=30))
                .not_valid_after(now - timedelta(days=1) if expired else now + timedelta(days=365))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        (folder / f"ca{i}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


BAD = ("ca3", "ca5", "ca7")  # unreadable content, a missing file, an expired certificate


def _specs(folder: Path) -> tuple[Path, Path]:
    """The spec, and the same spec without its failing entries."""
    _certificates(folder, COUNT)
    (folder / "ca3.crt").write_text("not a certificate\n")
    (folder / "ca5.crt").unlink()
    certs = ROOT / "examples" / "wso2" / "certs"
    key = serialization.load_pem_private_key((certs / "gateway.key").read_bytes(), None)
    chain = [x509.load_pem_x509_certificate((certs / f"{n}.crt").read_bytes()) for n in ("gateway", "intermediate")]
    source = pkcs12.serialize_key_and_certificates(b"gateway", key, chain[0], chain[1:],  # type: ignore[arg-type]
                                                   serialization.BestAvailableEncryption(b"source-pass-1"))
    (folder / "source.p12").write_bytes(source)
    (folder / "source.pass").write_text("source-pass-1\n")
    (folder / "source.pass").chmod(0o644)  # readable by others: a warning, from a worker
    entries = [{"alias": f"ca{i}", "trusted": {"certificate": f"ca{i}.crt"}} for i in range(COUNT)]
    entries.insert(150, {"alias": "gateway", "import": {"keystore": "source.p12",
                                                         "password": {"file": "source.pass"}}})
    paths = []
    for name, kept in (("kstool.yaml", entries), ("good.yaml", [e for e in entries if e["alias"] not in BAD])):
        spec = {"version": 1, "keystores": [{"name": "trust", "path": "trust.p12", "password": {"env": "KS_PASS"},
                                             "entries": kept}]}
        (folder / name).write_text(yaml.safe_dump(spec, sort_keys=False))
        paths.append(folder / name)
    return paths[0], paths[1]


@pytest.fixture
def forked_pmap(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """pmap spied on, and two CPUs whatever the machine has: the parallel path is taken, and the test knows it."""
    calls: list[int] = []
    real = parallel.pmap

    def spy(fn, tasks, **kwargs):
        calls.append(len(tasks))
        return real(fn, tasks, **kwargs)

    monkeypatch.setattr(parallel, "pmap", spy)
    monkeypatch.setattr(parallel, "cpu_count", lambda: 2)
    return calls


def _outcome(spec: Path, good: Path, jobs: int) -> tuple[dict[str, object], str, tuple[str, ...]]:
    """Every error of the spec (their text), and the inputs and warnings of the spec without its failing entries."""
    with pytest.raises(MultiError) as failed:
        load_inputs(load_spec(spec), os.environ, jobs=jobs)
    _, inputs = load_inputs(load_spec(good), os.environ, jobs=jobs)
    return dict(inputs.keystores["trust"].material), str(failed.value), inputs.warnings


def test_entries_checked_on_every_core_give_what_one_process_gives(tmp_path: Path, forked_pmap: list[int],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_PASS", "parallel-pass-1")
    spec, good = _specs(tmp_path)
    assert parallel.workers_fork()
    one = _outcome(spec, good, jobs=1)
    assert forked_pmap == []
    two = _outcome(spec, good, jobs=2)
    assert forked_pmap == [COUNT + 1, COUNT - 2]  # both runs went through the workers
    assert one == two
    material, errors, warnings = one
    assert len(material) == COUNT - 2 and list(material)[150 - len(BAD)] == "gateway"
    lines = errors.splitlines()
    assert len(lines) == 3 and "ca3.crt" in lines[0] and "ca5.crt" in lines[1] and "expired" in lines[2]
    assert any("source.pass" in w and "readable" in w for w in warnings)


def test_facts_described_on_every_core_equal_those_described_one_by_one(tmp_path: Path,
                                                                        forked_pmap: list[int]) -> None:
    _certificates(tmp_path, PARALLEL_ENTRIES + 10)
    ders = [x509.load_pem_x509_certificate(p.read_bytes()).public_bytes(serialization.Encoding.DER)
            for p in sorted(tmp_path.glob("ca*.crt"))]
    malformed = ders[0][:-5]  # reported when the plan asks for it, not by the prefetch
    one_by_one = [facts.cert_facts(der) for der in ders]
    facts._FACTS.clear()
    facts.describe_all([*ders, malformed, ders[3]], jobs=2)
    assert forked_pmap == [len(ders) + 1]  # duplicates asked for once
    assert malformed not in facts._FACTS and all(der in facts._FACTS for der in ders)
    assert [facts.cert_facts(der) for der in ders] == one_by_one
