"""benchmarks/bench.py runs end to end at a tiny scale and writes well-formed JSON. It never asserts a speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = ("gen-rsa", "gen-ec", "import", "noop-plan", "startup", "memory")
ROW_KEYS = {"workload", "n", "kstool", "baseline", "baseline_name", "target", "met", "unit", "detail", "ratio"}


@pytest.mark.slow
@pytest.mark.java
def test_benchmark_runs_every_workload_at_tiny_scale(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    # tiny N, one repetition and at most two JVMs per baseline loop: a smoke run, not a measurement
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--scale", "0.01", "--repeat", "1",
         "--baseline-cap", "2", "--json-out", str(out), "--workdir", str(tmp_path)],
        capture_output=True, text=True, check=False, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    assert doc["format_version"] == 1
    assert {"cpu_count", "python"} <= set(doc["machine"])
    assert doc["settings"]["scale"] == 0.01
    assert set(doc["workloads"]) == set(WORKLOADS)
    for name in WORKLOADS:
        result = doc["workloads"][name]
        assert "error" not in result, result
        assert result["rows"], name
        for row in result["rows"]:
            assert set(row) == ROW_KEYS
            assert row["n"] >= 1
            assert isinstance(row["kstool"], float) and row["kstool"] > 0
    assert len(doc["table"]) == sum(len(doc["workloads"][w]["rows"]) for w in WORKLOADS)
    assert "workload" in proc.stdout  # the table was printed
