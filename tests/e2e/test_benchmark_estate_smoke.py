"""benchmarks/bench.py --quick runs the estate-scale workloads (issue 18) end to end and records every target
with the machine. It never asserts a speed: the rows' figures are whatever this machine gave."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ESTATE = ("spec-load", "noop-scale", "verify", "truststore")


@pytest.mark.slow
@pytest.mark.java
def test_quick_run_of_the_estate_workloads(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick", "--only", ",".join(ESTATE),
         "--json-out", str(out), "--workdir", str(tmp_path)],
        capture_output=True, text=True, check=False, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    assert doc["settings"]["scale"] == 0.01 and doc["settings"]["repeat"] == 1
    assert {"cpu_count", "cpu_model", "python", "java", "openssl", "kstool_git"} <= set(doc["machine"])
    assert set(doc["workloads"]) == set(ESTATE)
    assert all("error" not in doc["workloads"][w] for w in ESTATE)
    workloads = {row["workload"] for row in doc["table"]}
    assert {"spec-load", "noop-scale/pkcs12", "noop-scale/jks", "noop-scale/pkcs12/floor", "verify/floor",
            "verify/cores", "verify/machine-cores", "truststore/apply", "truststore/noop-plan",
            "memory/noop-plan/pkcs12", "linear/plan/pkcs12", "linear/verify/pkcs12", "linear/truststore-apply",
            "truststore-bundle/apply", "truststore-bundle/noop-plan", "linear/truststore-bundle-apply"} <= workloads
    for target in doc["targets"]:
        assert target["met"] in ("yes", "no") and target["target"] != "-"
        assert isinstance(target["kstool"], float) and target["kstool"] > 0
    for row in doc["table"]:  # the keytool loop: timed into a fresh store and into grown ones, integrated
        if row["workload"] in ("truststore/apply", "truststore-bundle/apply"):
            loop = row["detail"]["baseline_loop"]
            assert len(loop["sizes"]) >= 2 and loop["sizes"][0] == 0
            assert all(len(points) == len(loop["sizes"]) for points in loop["per_import_wall_s"])
            assert loop["lower_bound_wall_s"][0] > 0 and row["baseline"] > 0
    floors = [row["detail"]["floor"] for row in doc["table"] if row["workload"] == "verify/floor"]
    assert floors and all(f["kdf_calls_per_store"] >= 1 and f["per_store_s"] > 0 for f in floors)
    assert "keytool -list loop timed on 2 stores" in proc.stdout  # the sampling is said
    table = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--markdown", str(out)],
                           capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert "| workload | N | kstool | baseline | measured | target | met |" in table
    assert table.count("\n| ") >= len(doc["targets"]) + 1
