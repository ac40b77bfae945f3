#!/usr/bin/env python3
"""Benchmark kstool against the keytool/openssl shell loops it replaces (method: benchmarks/README.md).

Every workload is built in a fresh temporary folder from local material only. kstool and the baseline run
alternately, ``--repeat`` times each, and the table reports medians. Passwords reach every tool through the
environment variable BENCH_PASS, never argv.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
WORKLOADS = ("gen-rsa", "gen-ec", "import", "noop-plan", "startup", "memory")
BASE_N = {"gen-rsa": 40, "gen-ec": 200, "import": 100, "memory": 1000}
NOOP_NS = (100, 500, 1000)
PASS_VAR = "BENCH_PASS"
# a throwaway value for throwaway keystores; it only ever travels in the environment
BENCH_PASSWORD = "bench-pass-0123456789"
ALIAS = "host"
MIB = 1024 * 1024

FLOOR_CODE = """
import sys, time
from cryptography.hazmat.primitives.asymmetric import rsa
n = int(sys.argv[1])
t = time.perf_counter()
for _ in range(n):
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
print(time.perf_counter() - t)
"""

# Runs one command; prints {"wall_s", "cpu_s", "maxrss_kib"} of it as JSON, timed inside (the wrapper's own start-up
# is not counted). A fresh parent, so RUSAGE_CHILDREN holds that command alone (in this process it would be polluted
# by every JVM the baselines started); its ru_maxrss is the largest single process's peak.
RSS_TIMED_CODE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
if p.returncode != 0:
    sys.stderr.write(p.stderr.decode(errors="replace")[-2000:])
    sys.exit(p.returncode)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall_s": wall, "cpu_s": u.ru_utime + u.ru_stime, "maxrss_kib": u.ru_maxrss}))
"""


class BenchError(Exception):
    """A command failed or produced a wrong state: the numbers of that workload are void."""


@dataclass(frozen=True, slots=True)
class Sample:
    wall_s: float
    cpu_s: float  # user + system of the whole process tree


@dataclass(slots=True)
class Row:
    workload: str
    n: int
    kstool: float | None
    baseline: float | None
    baseline_name: str
    target: str
    met: bool | None
    unit: str = "s"
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """baseline / kstool: how many times faster kstool is (< 1: slower)."""
        if self.unit != "s" or self.kstool is None or self.baseline is None or self.kstool <= 0:
            return None
        return self.baseline / self.kstool

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ratio"] = self.ratio
        return d


@dataclass(frozen=True, slots=True)
class Tools:
    keytool: str | None
    openssl: str | None
    apply_jobs: bool  # does this kstool's apply accept --jobs?
    plan_jobs: bool
    verify_jobs: bool = False


@dataclass(frozen=True, slots=True)
class Settings:
    scale: float
    repeat: int
    jobs: int | None
    baseline_cap: int
    root: Path
    env: dict[str, str]
    tools: Tools


# ---------------------------------------------------------------- running and timing


def timed(cmd: Sequence[str | Path], env: dict[str, str], *, cwd: Path | None = None,
          ok: Sequence[int] = (0,)) -> Sample:
    """Run ``cmd`` to completion; wall clock and CPU time of its process tree. Fails loudly on a bad exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in ok:
        tail = (proc.stderr or proc.stdout).decode(errors="replace")[-1500:]
        raise BenchError(f"{' '.join(str(c) for c in cmd[:6])} ... exited {proc.returncode}:\n{tail}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Sample(wall, cpu)


def output_of(cmd: Sequence[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)


def alternate(repeat: int, runners: dict[str, Callable[[], Sample]]) -> dict[str, list[Sample]]:
    """Interleave the runners, reversing the order every repetition so drift (thermal, caches) hits both."""
    names = list(runners)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for rep in range(repeat):
        for name in names if rep % 2 == 0 else names[::-1]:
            samples[name].append(runners[name]())
    return samples


def median_wall(samples: list[Sample]) -> float:
    return statistics.median(s.wall_s for s in samples)


def sample_detail(samples: dict[str, list[Sample]]) -> dict[str, Any]:
    return {name: {"wall_s": [round(s.wall_s, 4) for s in ss], "cpu_s": [round(s.cpu_s, 4) for s in ss]}
            for name, ss in samples.items()}


# The interpreter that runs kstool (--python): a clean venv with `pip install .` measures what users run;
# an editable install in a crowded site-packages adds import time that users never see.
PYTHON = sys.executable


def kstool_cmd(*args: str | Path) -> list[str]:
    return [PYTHON, "-m", "kstool", *(str(a) for a in args)]


def jobs_flags(settings: Settings, *, supported: bool) -> list[str]:
    return ["--jobs", str(settings.jobs)] if supported and settings.jobs else []


def apply_cmd(settings: Settings, spec: Path, out: Path) -> list[str]:
    return kstool_cmd("apply", spec, "-o", out, *jobs_flags(settings, supported=settings.tools.apply_jobs))


def plan_cmd(settings: Settings, spec: Path, out: Path) -> list[str]:
    return kstool_cmd("plan", spec, "-o", out, "--detailed-exitcode",
                      *jobs_flags(settings, supported=settings.tools.plan_jobs))


def scaled(base: int, scale: float) -> int:
    return max(1, round(base * scale))


def sample_indices(n: int, cap: int) -> list[int]:
    """Which of the n items the baseline loop runs: all, or ``cap`` spread evenly (each item is its own JVM)."""
    k = n if cap <= 0 else min(n, cap)
    return [i * n // k for i in range(k)]


def fresh_dir(settings: Settings, prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=settings.root))


def in_fresh_dir(settings: Settings, prefix: str, run: Callable[[Path], Sample]) -> Callable[[], Sample]:
    """A runner that gets an empty folder (made and removed outside the timed region)."""
    def runner() -> Sample:
        out = fresh_dir(settings, prefix)
        try:
            return run(out)
        finally:
            shutil.rmtree(out, ignore_errors=True)
    return runner


def write_script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/bash\nset -eu\ncd \"$1\"\n" + body)
    return path


class _NoAliasDumper(yaml.SafeDumper):
    """kstool refuses YAML anchors/aliases, which PyYAML emits for shared sub-dicts."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def write_spec(path: Path, keystores: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.dump({"version": 1, "keystores": keystores}, Dumper=_NoAliasDumper, sort_keys=False))
    return path


def count_files(folder: Path, suffix: str) -> int:
    return sum(1 for p in folder.iterdir() if p.name.endswith(suffix))


# ---------------------------------------------------------------- workloads: key generation


def gen_spec(folder: Path, n: int, key: dict[str, Any]) -> Path:
    keystores = [{"name": f"ks{i}", "path": f"ks{i}.p12", "password": {"env": PASS_VAR},
                  "entries": [{"alias": ALIAS, "generate": {"dname": f"CN=host-{i}", "key": key}}]}
                 for i in range(n)]
    return write_spec(folder / "kstool.yaml", keystores)


def keytool_gen_script(folder: Path, indices: list[int], keyopts: str) -> Path:
    # what a provisioning script does today: one JVM per keystore
    return write_script(folder / "baseline.sh", (
        f"for i in {' '.join(map(str, indices))}; do\n"
        f"  keytool -genkeypair {keyopts} -alias {ALIAS} -dname \"CN=host-$i\" -validity 90 \\\n"
        f"    -storetype PKCS12 -keystore \"ks$i.p12\" -storepass:env {PASS_VAR}\n"
        "done\n"))


def kstool_create_runner(settings: Settings, spec: Path, n: int, suffix: str) -> Callable[[], Sample]:
    def run(out: Path) -> Sample:
        sample = timed(apply_cmd(settings, spec, out), settings.env)
        if count_files(out, suffix) != n:
            raise BenchError(f"kstool apply wrote {count_files(out, suffix)} {suffix} files, expected {n}")
        return sample
    return in_fresh_dir(settings, "kstool-", run)


def baseline_create_runner(settings: Settings, script: Path, n: int, k: int, suffix: str) -> Callable[[], Sample]:
    def run(out: Path) -> Sample:
        sample = timed(["bash", script, out], settings.env)
        if count_files(out, suffix) != k:
            raise BenchError(f"baseline wrote {count_files(out, suffix)} {suffix} files, expected {k}")
        # a loop of independent JVMs costs the same per item: scale the measured sample up to n
        return Sample(sample.wall_s * n / k, sample.cpu_s * n / k)
    return in_fresh_dir(settings, "baseline-", run)


def floor_runner(settings: Settings, n: int, cores: int) -> Callable[[], Sample]:
    def run() -> Sample:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = output_of([PYTHON, "-c", FLOOR_CODE, str(n)])
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise BenchError(f"floor measurement failed: {proc.stderr[-1000:]}")
        serial = float(proc.stdout.strip())
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return Sample(serial / cores, cpu)
    return run


def parallel_floor_runner(settings: Settings, n: int, cores: int) -> Callable[[], Sample]:
    """The same n key generations split over ``cores`` processes running at once: the floor this machine can
    actually reach (cores rarely scale perfectly: shared caches, memory bandwidth, clock boost)."""
    shares = [n // cores + (1 if i < n % cores else 0) for i in range(cores)]

    def run() -> Sample:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        procs = [subprocess.Popen([PYTHON, "-c", FLOOR_CODE, str(share)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for share in shares if share]
        outputs = [p.communicate() for p in procs]
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if any(p.returncode != 0 for p in procs):
            raise BenchError(f"parallel floor measurement failed: {outputs[0][1][-1000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        # each process times its own loop (as the serial floor does, without interpreter start-up)
        return Sample(max(float(out.strip()) for out, _ in outputs), cpu)
    return run


def bench_gen(settings: Settings, name: str) -> tuple[list[Row], list[str]]:
    rsa = name == "gen-rsa"
    n = scaled(BASE_N[name], settings.scale)
    folder = fresh_dir(settings, f"{name}-")
    key: dict[str, Any] = {"algorithm": "RSA", "size": 2048} if rsa else {"algorithm": "EC", "size": 256}
    spec = gen_spec(folder, n, key)
    runners: dict[str, Callable[[], Sample]] = {"kstool": kstool_create_runner(settings, spec, n, ".p12")}
    notes: list[str] = []
    indices = sample_indices(n, settings.baseline_cap)
    if settings.tools.keytool:
        keyopts = "-keyalg RSA -keysize 2048" if rsa else "-keyalg EC -groupname secp256r1"
        script = keytool_gen_script(folder, indices, keyopts)
        runners["keytool"] = baseline_create_runner(settings, script, n, len(indices), ".p12")
    cores = os.cpu_count() or 1
    if rsa:
        runners["floor"] = floor_runner(settings, n, cores)
        runners["parallel floor"] = parallel_floor_runner(settings, n, cores)
    samples = alternate(settings.repeat, runners)
    k = median_wall(samples["kstool"])
    detail = {"samples": sample_detail(samples), "baseline_items_measured": len(indices)}
    keytool_s = median_wall(samples["keytool"]) if "keytool" in samples else None
    target = 15.0 if rsa else 100.0
    rows = [Row(name, n, k, keytool_s, "keytool loop", f">= {target:g}x",
                None if keytool_s is None else keytool_s / k >= target, detail=detail)]
    if rsa:
        floor = median_wall(samples["floor"])
        rows.append(Row("gen-rsa/floor", n, k, floor, f"keygen floor /{cores} cores",
                        "kstool <= 1.3x floor", k <= 1.3 * floor,
                        detail={"floor_serial_s": [round(s.wall_s * cores, 4) for s in samples["floor"]],
                                "cores": cores, "kstool_over_floor": k / floor}))
        attainable = median_wall(samples["parallel floor"])
        rows.append(Row("gen-rsa/parallel-floor", n, k, attainable, f"keygen in {cores} processes at once", "-",
                        None, detail={"kstool_over_parallel_floor": k / attainable,
                                      "parallel_floor_over_floor": attainable / floor}))
        notes.append(f"gen-rsa: {n} RSA keys generated in {cores} concurrent processes take {attainable / floor:.2f}x "
                     f"the floor (serial time / {cores}) on this machine; kstool takes {k / attainable:.2f}x that")
    if len(indices) < n:
        notes.append(f"{name}: keytool loop timed on {len(indices)} of {n} stores and scaled by {n}/{len(indices)}")
    return rows, notes


# ---------------------------------------------------------------- workload: import


def make_import_material(folder: Path, n: int) -> None:
    """A root CA, an intermediate and n RSA-2048 leaves (key + cert) as PEM files, like a CA would hand over."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    now = datetime.now(UTC).replace(microsecond=0)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bench"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def issue(subject: str, key: rsa.RSAPrivateKey, issuer: x509.Name, signer: rsa.RSAPrivateKey,
              ca: bool, serial: int) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(serial)
                   .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        return builder.sign(signer, hashes.SHA256())

    def pem(cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.PEM)

    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = issue("Bench Root CA", root_key, name("Bench Root CA"), root_key, True, 1)
    inter_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    inter = issue("Bench Intermediate CA", inter_key, root.subject, root_key, True, 2)
    (folder / "chain.pem").write_bytes(pem(inter) + pem(root))
    for i in range(n):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = issue(f"host-{i}.bench.test", key, inter.subject, inter_key, False, 100 + i)
        (folder / f"leaf{i}.crt").write_bytes(pem(cert))
        (folder / f"leaf{i}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def bench_import(settings: Settings) -> tuple[list[Row], list[str]]:
    n = scaled(BASE_N["import"], settings.scale)
    folder = fresh_dir(settings, "import-")
    start = time.perf_counter()
    make_import_material(folder, n)
    setup_s = time.perf_counter() - start
    keystores = [{"name": f"ks{i}", "path": f"ks{i}.jks", "password": {"env": PASS_VAR},
                  "entries": [{"alias": ALIAS, "import": {"certificate": f"leaf{i}.crt",
                                                          "private_key": f"leaf{i}.key",
                                                          "chain": ["chain.pem"]}}]}
                 for i in range(n)]
    spec = write_spec(folder / "kstool.yaml", keystores)
    runners: dict[str, Callable[[], Sample]] = {"kstool": kstool_create_runner(settings, spec, n, ".jks")}
    notes: list[str] = []
    indices = sample_indices(n, settings.baseline_cap)
    if settings.tools.keytool and settings.tools.openssl:
        # the WSO2 docs' recipe, per keystore: openssl builds a PKCS12, keytool converts it to JKS
        script = write_script(folder / "baseline.sh", (
            f"M={folder}\n"
            f"for i in {' '.join(map(str, indices))}; do\n"
            f"  openssl pkcs12 -export -in \"$M/leaf$i.crt\" -inkey \"$M/leaf$i.key\" -certfile \"$M/chain.pem\" \\\n"
            f"    -name {ALIAS} -passout env:{PASS_VAR} -out \"ks$i.p12\"\n"
            f"  keytool -importkeystore -srckeystore \"ks$i.p12\" -srcstoretype PKCS12 -destkeystore \"ks$i.jks\" \\\n"
            f"    -deststoretype JKS -srcstorepass:env {PASS_VAR} -deststorepass:env {PASS_VAR}\n"
            "done\n"))
        runners["openssl+keytool"] = baseline_create_runner(settings, script, n, len(indices), ".jks")
    else:
        notes.append("import: baseline skipped (needs keytool and openssl)")
    samples = alternate(settings.repeat, runners)
    k = median_wall(samples["kstool"])
    base = median_wall(samples["openssl+keytool"]) if "openssl+keytool" in samples else None
    detail = {"samples": sample_detail(samples), "baseline_items_measured": len(indices),
              "setup_s": round(setup_s, 3)}
    if len(indices) < n:
        notes.append(f"import: baseline loop timed on {len(indices)} of {n} stores and scaled by {n}/{len(indices)}")
    return [Row("import", n, k, base, "openssl+keytool loop", ">= 30x",
                None if base is None else base / k >= 30, detail=detail)], notes


# ---------------------------------------------------------------- workloads: up-to-date sets


class NoopSets:
    """Up-to-date keystore sets (EC P-256, PKCS12), built once per N with kstool apply and shared."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.built: dict[int, tuple[Path, Path, float]] = {}

    def get(self, n: int) -> tuple[Path, Path]:
        if n not in self.built:
            folder = fresh_dir(self.settings, f"noop-{n}-")
            spec = gen_spec(folder, n, {"algorithm": "EC", "size": 256})
            out = folder / "out"
            out.mkdir()
            sample = timed(apply_cmd(self.settings, spec, out), self.settings.env)
            if count_files(out, ".p12") != n:
                raise BenchError(f"setup: kstool apply wrote {count_files(out, '.p12')} stores, expected {n}")
            self.built[n] = (spec, out, sample.wall_s)
        spec, out, _ = self.built[n]
        return spec, out

    def setup_s(self, n: int) -> float:
        return self.built[n][2]


def dir_state(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}


def keytool_list_script(folder: Path, out: Path, indices: list[int], n: int) -> Path:
    return write_script(folder / f"list-{n}.sh", (
        f"for i in {' '.join(map(str, indices))}; do\n"
        f"  keytool -list -keystore \"ks$i.p12\" -storepass:env {PASS_VAR}\n"
        "done\n"))


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float] | None:
    """Least squares y = a + b*x: (a = fixed cost, b = cost per store)."""
    if len(set(xs)) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def bench_noop(settings: Settings, sets: NoopSets) -> tuple[list[Row], list[str]]:
    ns = sorted({scaled(n, settings.scale) for n in NOOP_NS})
    target_n = scaled(500, settings.scale)
    rows: list[Row] = []
    notes: list[str] = []
    plan_medians: list[float] = []
    for n in ns:
        spec, out = sets.get(n)
        indices = sample_indices(n, settings.baseline_cap)
        changed: list[str] = []

        def noop_apply(spec: Path = spec, out: Path = out, changed: list[str] = changed) -> Sample:
            before = dir_state(out)
            sample = timed(apply_cmd(settings, spec, out), settings.env)
            if dir_state(out) != before:
                changed.append("apply on an up-to-date set changed files")
            return sample

        def noop_plan(spec: Path = spec, out: Path = out) -> Sample:
            # --detailed-exitcode: exit 2 would mean the set is not up to date, i.e. a broken measurement
            return timed(plan_cmd(settings, spec, out), settings.env)

        runners: dict[str, Callable[[], Sample]] = {"kstool plan": noop_plan, "kstool apply": noop_apply}
        if settings.tools.keytool:
            script = keytool_list_script(spec.parent, out, indices, n)
            scale_up = n / len(indices)

            def listing(script: Path = script, out: Path = out, scale_up: float = scale_up) -> Sample:
                s = timed(["bash", script, out], settings.env)
                return Sample(s.wall_s * scale_up, s.cpu_s * scale_up)
            runners["keytool -list loop"] = listing
        samples = alternate(settings.repeat, runners)
        plan_s = median_wall(samples["kstool plan"])
        apply_s = median_wall(samples["kstool apply"])
        plan_medians.append(plan_s)
        base = median_wall(samples["keytool -list loop"]) if "keytool -list loop" in samples else None
        detail: dict[str, Any] = {
            "samples": sample_detail(samples), "baseline_items_measured": len(indices),
            "setup_apply_s": round(sets.setup_s(n), 3),
            "kstool_plan_ms_per_store": 1000 * plan_s / n,
            "keytool_list_ms_per_store": None if base is None else 1000 * base / n,
        }
        is_target = n == target_n
        rows.append(Row("noop-plan", n, plan_s, base, "keytool -list loop", ">= 200x" if is_target else "-",
                        (None if base is None else base / plan_s >= 200) if is_target else None, detail=detail))
        rows.append(Row("noop-apply", n, apply_s, None, "-", "-", None,
                        detail={"kstool_apply_ms_per_store": 1000 * apply_s / n,
                                "wrote_files": bool(changed)}))
        if changed:
            notes.append(f"noop-apply N={n}: WARNING: {changed[0]}")
        if len(indices) < n:
            notes.append(f"noop-plan N={n}: keytool -list loop timed on {len(indices)} of {n} stores, scaled up")
    per_store = ", ".join(f"N={n}: {1000 * t / n:.2f} ms" for n, t in zip(ns, plan_medians, strict=True))
    notes.append(f"noop-plan scaling, kstool plan per store: {per_store}")
    fit = linear_fit([float(n) for n in ns], plan_medians)
    if fit is not None:
        notes.append(f"noop-plan fit: kstool plan ~ {fit[0]:.3f} s + {1000 * fit[1]:.3f} ms x N")
    return rows, notes


# ---------------------------------------------------------------- workloads: startup and memory


def importtime_top(settings: Settings, spec: Path, top: int = 10) -> list[str]:
    proc = output_of([PYTHON, "-X", "importtime", "-m", "kstool", "validate", str(spec)], settings.env)
    parsed: list[tuple[int, str]] = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(.*)$", line)
        if m:
            parsed.append((int(m.group(2)), f"{int(m.group(2)) / 1000:8.1f} ms cumulative  {m.group(3).rstrip()}"))
    parsed.sort(key=lambda item: -item[0])
    return [text for _, text in parsed[:top]]


def small_store(settings: Settings) -> Path | None:
    if not settings.tools.keytool:
        return None
    folder = fresh_dir(settings, "small-")
    timed(["keytool", "-genkeypair", "-keyalg", "EC", "-groupname", "secp256r1", "-alias", ALIAS, "-dname",
           "CN=small", "-storetype", "PKCS12", "-keystore", folder / "small.p12", "-storepass:env", PASS_VAR],
          settings.env)
    return folder / "small.p12"


def bench_startup(settings: Settings) -> tuple[list[Row], list[str]]:
    spec = REPO / "examples" / "wso2" / "kstool.yaml"
    plan_out = fresh_dir(settings, "startup-plan-")  # empty: the plan lists what apply would create
    runners: dict[str, Callable[[], Sample]] = {
        "kstool validate": lambda: timed(kstool_cmd("validate", spec), settings.env),
        "kstool plan": lambda: timed(kstool_cmd("plan", spec, "-o", plan_out), settings.env),
    }
    store = small_store(settings)
    if store is not None:
        runners["keytool -list"] = lambda: timed(["keytool", "-list", "-keystore", store, "-storepass:env",
                                                  PASS_VAR], settings.env)
    # one process each: cheap, so take 5x --repeat samples to tame the noise (a JVM start varies by +-25%)
    samples = alternate(5 * settings.repeat, runners)
    k = median_wall(samples["kstool validate"])
    base = median_wall(samples["keytool -list"]) if "keytool -list" in samples else None
    top = importtime_top(settings, spec)
    detail = {"samples": sample_detail(samples), "importtime_top": top}
    notes = ["startup: python -X importtime -m kstool validate, top cumulative imports:", *(f"    {t}" for t in top)]
    plan_s = median_wall(samples["kstool plan"])
    return [Row("startup", 1, k, base, "one keytool -list", ">= 2x (kstool < 0.5x)",
                None if base is None else k < 0.5 * base, detail=detail),
            Row("startup/plan", 1, plan_s, base, "one keytool -list", ">= 1x (kstool plan < keytool -list)",
                None if base is None else plan_s < base)], notes


def timed_rss(cmd: Sequence[str | Path], env: dict[str, str]) -> tuple[Sample, float]:
    """``cmd`` timed, and its peak RSS in MiB (see RSS_TIMED_CODE)."""
    proc = output_of([sys.executable, "-c", RSS_TIMED_CODE, *(str(c) for c in cmd)], env)
    if proc.returncode != 0:
        raise BenchError(f"peak RSS measurement of {' '.join(str(c) for c in cmd[:5])} failed: {proc.stderr[-1000:]}")
    got = json.loads(proc.stdout)
    return Sample(got["wall_s"], got["cpu_s"]), got["maxrss_kib"] * 1024 / MIB  # ru_maxrss is in KiB on Linux


def peak_rss_mib(cmd: Sequence[str | Path], env: dict[str, str]) -> float:
    return timed_rss(cmd, env)[1]


def bench_memory(settings: Settings, sets: NoopSets) -> tuple[list[Row], list[str]]:
    n = scaled(BASE_N["memory"], settings.scale)
    spec, out = sets.get(n)
    rss = [peak_rss_mib(plan_cmd(settings, spec, out), settings.env) for _ in range(settings.repeat)]
    apply_rss = peak_rss_mib(apply_cmd(settings, spec, out), settings.env)
    jvm = None
    if settings.tools.keytool:
        jvm = peak_rss_mib(["keytool", "-list", "-keystore", out / "ks0.p12", "-storepass:env", PASS_VAR],
                           settings.env)
    k = statistics.median(rss)
    detail = {"plan_peak_rss_mib": rss, "noop_apply_peak_rss_mib": apply_rss, "keytool_list_peak_rss_mib": jvm}
    return [Row("memory", n, k, jvm, "one keytool -list (RSS)", "< 150 MiB", k < 150, unit="MiB",
                detail=detail)], [f"memory: no-op apply N={n} peak RSS {apply_rss:.1f} MiB"]


# ---------------------------------------------------------------- estate scale (issue 18; --all or --only)

# Workloads at 10,000 stores and certificates. Not in the default set (a default run stays ~15 min and the
# smoke test's list); `--all` runs them after the classic ones.
ESTATE = ("spec-load", "noop-scale", "verify", "truststore")
ESTATE_NS = (1000, 10000)  # no-op plan, no-op apply, apply: linear means per-store cost within 1.2x between them
VERIFY_NS = (1000, 10000)  # --jobs 1 against --jobs <cores> at the first; the default jobs at both (linearity)
TRUST_NS = (1000, 10000)  # certificates in one truststore, one spec entry each
FLOOR_SAMPLE = 50  # stores whose KDF work is recorded and replayed for a floor
ESTATE_BASELINE_CAP = 20  # keytool invocations per estate loop (one JVM each: the per-item cost is flat)

# The floor of a workload: the key derivations kstool cannot skip. A helper process opens FLOOR_SAMPLE stores
# with kstool's own decoder (``prove``: what a no-op plan does, proving the password; ``decode``: what verify
# does, decrypting everything), records every KDF call it makes, then replays exactly those calls without cache
# and times the replay alone: no parsing, no Python around it. JKS/JCEKS stores are proven by one SHA-1 of the
# file (the "Mighty Aphrodite" store hash), timed directly. Per-store seconds on stdout as JSON.
FLOOR_KDF_CODE = """
import hashlib, json, os, sys, time
from kstool.formats import protection
from kstool.formats.codec import decode, prove_password
from kstool.formats.entries import detect_type
mode, files = sys.argv[1], sys.argv[2:]
password = os.environ["BENCH_PASS"]
calls = []
real = {"pkcs12_kdf": protection.pkcs12_kdf, "pbkdf2": protection.pbkdf2}
def recorder(name):
    def record(*args, **kwargs):
        kwargs.pop("cache", None)
        calls.append((name, args, kwargs))
        return real[name](*args, **kwargs)
    return record
for name in real:
    setattr(protection, name, recorder(name))
datas = [open(f, "rb").read() for f in files]
hashes = 0
for data in datas:
    kind = detect_type(data)
    if kind != "pkcs12" and mode == "prove":
        hashes += 1
        continue
    if mode == "prove":
        prove_password(data, kind, password)
    else:
        decode(data, kind, password, key_password=password)
for name in real:
    setattr(protection, name, real[name])
best = None
for _ in range(3):
    start = time.perf_counter()
    for name, args, kwargs in calls:
        real[name](*args, **kwargs)
    for data in datas[:hashes]:
        digest = hashlib.sha1(password.encode("utf-16-be") + b"Mighty Aphrodite" + data[:-20]).digest()
        assert digest == data[-20:], "not the JKS store hash"
    took = time.perf_counter() - start
    best = took if best is None else min(best, took)
print(json.dumps({"per_store_s": best / len(datas), "kdf_calls_per_store": len(calls) / len(datas),
                  "store_hashes_per_store": hashes / len(datas)}))
"""

# Load and validate a spec in one process (no interpreter start-up): CPU seconds of reading + YAML + JSON Schema
# (the target), and of load_spec as a whole (with the model and its cross-checks), for context.
SPEC_LOAD_CODE = """
import json, sys, time
from pathlib import Path
from kstool.spec.model import load_spec
from kstool.spec.validate import validate
from kstool.spec.yamlload import load_yaml, read_spec_text
spec = Path(sys.argv[1])
load_spec(spec)  # imports and the schema's validator, once
try:
    from kstool.spec.yamlload import paused_gc  # as load_spec runs it (kstool >= 0.2)
except ImportError:
    from contextlib import nullcontext as paused_gc
runs, whole = [], []
for _ in range(int(sys.argv[2])):
    cpu = time.process_time()
    with paused_gc():
        validate(load_yaml(read_spec_text(spec), str(spec)))
    runs.append(time.process_time() - cpu)
    cpu = time.process_time()
    n = len(load_spec(spec).keystores)
    whole.append(time.process_time() - cpu)
print(json.dumps({"keystores": n, "cpu_s": runs, "load_spec_cpu_s": whole}))
"""


def floor_per_store(settings: Settings, out: Path, names: list[str], mode: str) -> dict[str, float]:
    """The floor of ``mode`` (prove | decode) per store, from a sample of the stores (see FLOOR_KDF_CODE)."""
    picked = [out / names[i] for i in sample_indices(len(names), FLOOR_SAMPLE)]
    proc = output_of([PYTHON, "-c", FLOOR_KDF_CODE, mode, *map(str, picked)], settings.env)
    if proc.returncode != 0:
        raise BenchError(f"floor measurement ({mode}) failed: {proc.stderr[-1500:]}")
    result: dict[str, float] = json.loads(proc.stdout)
    return result


class EstateSets:
    """Up-to-date sets of N EC P-256 stores (PKCS12 or JKS), built once by a timed kstool apply and shared."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.built: dict[tuple[str, int], tuple[Path, Path, Sample]] = {}
        self.rss: dict[tuple[str, int], float] = {}  # peak RSS (MiB) of the apply that created each set

    def get(self, kind: str, n: int) -> tuple[Path, Path, Sample]:
        if (kind, n) not in self.built:
            folder = fresh_dir(self.settings, f"estate-{kind}-{n}-")
            ext = ".p12" if kind == "pkcs12" else ".jks"
            keystores = [{"name": f"ks{i}", "path": f"ks{i}{ext}", "password": {"env": PASS_VAR},
                          "entries": [{"alias": ALIAS, "generate": {"dname": f"CN=host-{i}",
                                                                    "key": {"algorithm": "EC", "size": 256}}}]}
                         for i in range(n)]
            spec = write_spec(folder / "kstool.yaml", keystores)
            out = folder / "out"
            out.mkdir()
            # a fresh apply: timed, and its peak RSS (the largest of its processes) recorded
            sample, self.rss[(kind, n)] = timed_rss(apply_cmd(self.settings, spec, out), self.settings.env)
            if count_files(out, ext) != n:
                raise BenchError(f"setup: kstool apply wrote {count_files(out, ext)} {ext} stores, expected {n}")
            self.built[(kind, n)] = (spec, out, sample)
        return self.built[(kind, n)]


def store_names(n: int, kind: str) -> list[str]:
    return [f"ks{i}{'.p12' if kind == 'pkcs12' else '.jks'}" for i in range(n)]


def keytool_list_loop(settings: Settings, out: Path, names: list[str], cap: int) -> tuple[Sample, int]:
    """A `keytool -list` per sampled store; the sample's time and its size (scale by n/size yourself)."""
    picked = [names[i] for i in sample_indices(len(names), cap)]
    script = write_script(out.parent / f"list-{len(names)}.sh", (
        f"for f in {' '.join(picked)}; do\n  keytool -list -keystore \"$f\" -storepass:env {PASS_VAR} >/dev/null\n"
        "done\n"))
    return timed(["bash", script, out], settings.env), len(picked)


def estate_cap(settings: Settings) -> int:
    return min(settings.baseline_cap, ESTATE_BASELINE_CAP) if settings.baseline_cap > 0 else ESTATE_BASELINE_CAP


def bench_spec_load(settings: Settings, sets: EstateSets) -> tuple[list[Row], list[str]]:
    """Spec load + JSON Schema validation + model, in one warm process (target: <= 0.1 ms per keystore)."""
    rows: list[Row] = []
    per_ks: dict[int, float] = {}
    whole: dict[int, float] = {}
    for n in sorted({scaled(n, settings.scale) for n in ESTATE_NS}):
        folder = fresh_dir(settings, f"spec-{n}-")
        keystores = [{"name": f"ks{i}", "path": f"ks{i}.p12", "password": {"env": PASS_VAR},
                      "entries": [{"alias": ALIAS, "generate": {"dname": f"CN=host-{i}",
                                                                "key": {"algorithm": "EC", "size": 256}}}]}
                     for i in range(n)]
        spec = write_spec(folder / "kstool.yaml", keystores)
        proc = output_of([PYTHON, "-c", SPEC_LOAD_CODE, str(spec), str(settings.repeat)], settings.env)
        if proc.returncode != 0:
            raise BenchError(f"spec-load N={n} failed: {proc.stderr[-1500:]}")
        got = json.loads(proc.stdout)
        cpu = statistics.median(got["cpu_s"])
        per_ks[n] = 1000 * cpu / n
        is_target = n == max(scaled(x, settings.scale) for x in ESTATE_NS)
        rows.append(Row("spec-load", n, cpu, None, "-", "<= 0.1 ms/keystore" if is_target else "-",
                        per_ks[n] <= 0.1 if is_target else None,
                        detail={"ms_per_keystore_cpu": per_ks[n], "spec_bytes": spec.stat().st_size,
                                "cpu_s": got["cpu_s"], "load_spec_cpu_s": got["load_spec_cpu_s"]}))
        whole[n] = 1000 * statistics.median(got["load_spec_cpu_s"]) / n
    notes = ["spec-load (read + YAML + JSON Schema, CPU, warm process): "
             + ", ".join(f"N={n}: {ms:.3f} ms/keystore" for n, ms in per_ks.items())
             + "; with the model and cross-checks (load_spec): "
             + ", ".join(f"N={n}: {ms:.3f} ms/keystore" for n, ms in whole.items())]
    return rows, notes


def bench_noop_scale(settings: Settings, sets: EstateSets) -> tuple[list[Row], list[str]]:
    """No-op plan and apply of PKCS12 and JKS sets at N=1,000 and 10,000, against keytool -list and the floor."""
    rows: list[Row] = []
    notes: list[str] = []
    ns = sorted({scaled(n, settings.scale) for n in ESTATE_NS})
    cap = estate_cap(settings)
    for kind in ("pkcs12", "jks"):
        per_store: dict[str, dict[int, float]] = {"plan": {}, "apply": {}, "create": {}}
        for n in ns:
            spec, out, created = sets.get(kind, n)
            names = store_names(n, kind)
            per_store["create"][n] = created.wall_s / n
            def noop(command: Callable[[Settings, Path, Path], list[str]], spec: Path = spec,
                     out: Path = out) -> Callable[[], Sample]:
                return lambda: timed(command(settings, spec, out), settings.env)

            runners: dict[str, Callable[[], Sample]] = {"kstool plan": noop(plan_cmd), "kstool apply": noop(apply_cmd)}
            measured: list[int] = []
            if settings.tools.keytool:
                def listing(out: Path = out, names: list[str] = names, measured: list[int] = measured) -> Sample:
                    sample, k = keytool_list_loop(settings, out, names, cap)
                    measured.append(k)
                    return Sample(sample.wall_s * len(names) / k, sample.cpu_s * len(names) / k)
                runners["keytool -list loop"] = listing
            before = dir_state(out)
            samples = alternate(settings.repeat, runners)
            if dir_state(out) != before:
                notes.append(f"noop-scale {kind} N={n}: WARNING: a no-op apply changed files")
            plan_s, apply_s = median_wall(samples["kstool plan"]), median_wall(samples["kstool apply"])
            per_store["plan"][n], per_store["apply"][n] = plan_s / n, apply_s / n
            base = median_wall(samples["keytool -list loop"]) if "keytool -list loop" in samples else None
            floor = floor_per_store(settings, out, names, "prove")
            big = n == ns[-1]
            detail = {"samples": sample_detail(samples), "baseline_items_measured": measured[:1],
                      "create_apply_s": round(created.wall_s, 3), "floor": floor,
                      "kstool_plan_ms_per_store": 1000 * plan_s / n,
                      "plan_over_floor_per_store": plan_s / n / floor["per_store_s"]}
            rows.append(Row(f"noop-scale/{kind}", n, plan_s, base, "keytool -list loop",
                            ">= 200x" if big else "-", (None if base is None else base / plan_s >= 200) if big
                            else None, detail=detail))
            rows.append(Row(f"noop-scale/{kind}/floor", n, plan_s / n, floor["per_store_s"],
                            "floor per store (proving the password)", "kstool <= 2x floor" if big else "-",
                            plan_s / n <= 2 * floor["per_store_s"] if big else None,
                            detail={"kstool_over_floor": plan_s / n / floor["per_store_s"]}))
            rows.append(Row(f"noop-apply/{kind}", n, apply_s, None, "-", "-", None))
            if base is not None:
                notes.append(f"noop-scale {kind} N={n}: keytool -list loop timed on {measured[0]} stores, "
                             f"scaled by {n}/{measured[0]}")
            notes.append(f"noop-scale {kind} N={n}: plan {1000 * plan_s / n:.3f} ms/store = "
                         f"{plan_s / n / floor['per_store_s']:.2f}x the floor ({1e3 * floor['per_store_s']:.3f} ms)")
        if len(ns) > 1:
            for what, values in per_store.items():
                growth = values[ns[-1]] / values[ns[0]]
                rows.append(Row(f"linear/{what}/{kind}", ns[-1], 1000 * values[ns[-1]], 1000 * values[ns[0]],
                                f"ms/store at N={ns[0]}", "<= 1.2x", growth <= 1.2, unit="ms/store",
                                detail={"growth": growth}))
        spec, out, _ = sets.get(kind, ns[-1])
        rss = peak_rss_mib(plan_cmd(settings, spec, out), settings.env)
        rows.append(Row(f"memory/noop-plan/{kind}", ns[-1], rss, None, "-", "<= 200 MiB", rss <= 200, unit="MiB"))
        created_rss = sets.rss[(kind, ns[-1])]
        rows.append(Row(f"memory/apply/{kind}", ns[-1], created_rss, None, "-", "<= 200 MiB", created_rss <= 200,
                        unit="MiB"))
    return rows, notes


CPU_PROBE_ITERATIONS = 1_500_000  # PBKDF2-HMAC-SHA256 rounds per process: ~1 s here, the scale of verify -j1


def cpu_probe(settings: Settings, cores: int, *, parallel: bool) -> Sample:
    """The machine's own parallel capacity: ``cores`` units of PBKDF2 (the work verify does most) in one process, or
    one unit in each of ``cores`` processes at once. Their ratio is the speedup the cores give any program now."""
    code = ("import hashlib, sys\nfor _ in range(int(sys.argv[1])):\n"
            "    hashlib.pbkdf2_hmac('sha256', b'probe', b'salt' * 4, int(sys.argv[2]))")
    one = f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"
    rounds = CPU_PROBE_ITERATIONS if settings.scale >= 1 else CPU_PROBE_ITERATIONS // 10  # --quick: a smoke test
    script = f"for i in $(seq {cores}); do {one} 1 {rounds} & done; wait" if parallel else f"{one} {cores} {rounds}"
    return timed(["bash", "-c", script], settings.env)


def bench_verify(settings: Settings, sets: EstateSets) -> tuple[list[Row], list[str]]:
    """verify with one process and with every core, and its floor (decrypting each store in full)."""
    cores = os.cpu_count() or 1
    has_jobs = settings.tools.verify_jobs
    rows: list[Row] = []
    notes: list[str] = []
    ns = sorted({scaled(n, settings.scale) for n in VERIFY_NS})
    per_store: dict[int, float] = {}
    for n in ns:
        spec, out, _ = sets.get("pkcs12", n)

        def verify(jobs: int | None, spec: Path = spec, out: Path = out) -> Sample:
            flags = ["--jobs", str(jobs)] if jobs and has_jobs else []
            return timed(kstool_cmd("verify", spec, "-o", out, *flags), settings.env)

        runners: dict[str, Callable[[], Sample]] = {f"verify -j{cores}": lambda: verify(cores)}
        if n == ns[0] and cores > 1:
            runners["verify -j1"] = lambda: verify(1)
            runners["cpu probe -j1"] = lambda: cpu_probe(settings, cores, parallel=False)
            runners[f"cpu probe -j{cores}"] = lambda: cpu_probe(settings, cores, parallel=True)
        samples = alternate(settings.repeat, runners)
        many = median_wall(samples[f"verify -j{cores}"])
        per_store[n] = many / n
        floor = floor_per_store(settings, out, store_names(n, "pkcs12"), "decode")
        floor_total = floor["per_store_s"] * n / cores  # the KDF work, perfectly spread over the cores
        rows.append(Row("verify/floor", n, many, floor_total, f"KDF floor /{cores} cores", "kstool <= 2x floor",
                        many <= 2 * floor_total, detail={"samples": sample_detail(samples), "floor": floor,
                                                         "kstool_over_floor": many / floor_total}))
        if "verify -j1" in samples:
            one = median_wall(samples["verify -j1"])
            rows.append(Row("verify/cores", n, many, one, "verify --jobs 1", f">= 1.8x with {cores} cores",
                            one / many >= 1.8, detail={"speedup": one / many}))
            notes.append(f"verify N={n}: --jobs 1 {one:.2f} s, --jobs {cores} {many:.2f} s: {one / many:.2f}x")
            machine = median_wall(samples["cpu probe -j1"]) / median_wall(samples[f"cpu probe -j{cores}"])
            rows.append(Row("verify/machine-cores", n, machine, None, f"{cores} processes of pure KDF work", "-", None,
                            unit="x", detail={"verify_speedup_over_machine": one / many / machine}))
            notes.append(f"verify N={n}: the machine itself, measured alternately with verify, ran the same pure KDF "
                         f"work {machine:.2f}x faster in {cores} processes than in 1 (the most verify can reach); "
                         f"verify's {one / many:.2f}x is {one / many / machine:.0%} of that")
        if not has_jobs:
            notes.append("verify: this kstool's verify has no --jobs")
    spec, out, _ = sets.get("pkcs12", ns[-1])
    flags = ["--jobs", str(cores)] if has_jobs else []
    rss = peak_rss_mib(kstool_cmd("verify", spec, "-o", out, *flags), settings.env)
    rows.append(Row("memory/verify/pkcs12", ns[-1], rss, None, "-", "<= 200 MiB", rss <= 200, unit="MiB"))
    if len(ns) > 1:
        growth = per_store[ns[-1]] / per_store[ns[0]]
        rows.append(Row("linear/verify/pkcs12", ns[-1], 1000 * per_store[ns[-1]], 1000 * per_store[ns[0]],
                        f"ms/store at N={ns[0]}", "<= 1.2x", growth <= 1.2, unit="ms/store",
                        detail={"growth": growth}))
    return rows, notes


def make_trust_material(folder: Path, n: int) -> None:
    """n self-signed CA certificates (distinct subjects and serials, one EC key: signing stays cheap)."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC).replace(microsecond=0)
    for i in range(n):
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bench Trust"),
                          x509.NameAttribute(NameOID.COMMON_NAME, f"Bench CA {i}")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(1000 + i).not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        (folder / f"ca{i}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def trust_spec_one_per_cert(folder: Path, n: int) -> Path:
    entries = [{"alias": f"ca{i}", "trusted": {"certificate": f"ca{i}.crt"}} for i in range(n)]
    return write_spec(folder / "kstool.yaml", [{"name": "truststore", "path": "truststore.p12",
                                                "password": {"env": PASS_VAR}, "entries": entries}])


def trust_spec_bundle(folder: Path, n: int) -> Path:
    """The same n certificates as ONE spec entry: a PEM bundle (``trusted: {bundle: FILE}``, kstool >= 0.2)."""
    with (folder / "bundle.pem").open("wb") as bundle:
        for i in range(n):
            bundle.write((folder / f"ca{i}.crt").read_bytes())
    return write_spec(folder / "kstool-bundle.yaml", [{"name": "truststore", "path": "truststore.p12",
                                                       "password": {"env": PASS_VAR},
                                                       "entries": [{"trusted": {"bundle": "bundle.pem"}}]}])


TRUST_IMPORTS_PER_SIZE = 4  # keytool imports timed into each grown store (each one a JVM)


def imports_per_size(cap: int) -> int:
    return max(1, min(TRUST_IMPORTS_PER_SIZE, cap))


def grown_stores(settings: Settings, folder: Path, n: int, cap: int) -> dict[int, Path]:
    """PKCS12 stores of the loop's first k certificates for k = n/2 and n - imports_per_size(cap): where a keytool
    loop stands halfway and at its end. Built by kstool (untimed: keytool takes hours to grow them); the first
    timed import has keytool read and rewrite it in its own encoding, as every import of the loop does."""
    stores: dict[int, Path] = {}
    for k in sorted({n // 2, n - imports_per_size(cap)}):
        if k <= cap:
            continue
        work = fresh_dir(settings, f"trust-grown-{k}-")
        for i in range(k):
            os.link(folder / f"ca{i}.crt", work / f"ca{i}.crt")
        out = work / "out"
        out.mkdir()
        timed(apply_cmd(settings, trust_spec_one_per_cert(work, k), out), settings.env)
        stores[k] = out / "truststore.p12"
    return stores


def keytool_import_loop(settings: Settings, folder: Path, work: Path, n: int, cap: int, grown: dict[int, Path],
                        measured: list[int], loop: dict[str, Any]) -> Callable[[], Sample]:
    """A runner estimating a loop of n ``keytool -importcert`` calls into one store: ``cap`` imports timed into a
    fresh store, ``imports_per_size(cap)`` more into each grown store, the cost per import at each size integrated
    over the loop by trapezoids. ``loop`` collects the per-size costs and the first imports' lower bound."""
    picked = sample_indices(n, cap)
    per_size = imports_per_size(cap)
    first = write_script(work / "import.sh", (
        "rm -f trust.p12\n"
        f"for i in {' '.join(map(str, picked))}; do\n"
        f"  keytool -importcert -noprompt -alias ca$i -file \"{folder}/ca$i.crt\" -keystore trust.p12 "
        f"-storetype PKCS12 -storepass:env {PASS_VAR} >/dev/null 2>&1\n"
        "done\n"))
    later = write_script(work / "import-grown.sh", (
        "cp \"$2\" trust.p12\n"
        f"for i in {' '.join(str(n - 1 - j) for j in range(per_size))}; do\n"
        f"  keytool -importcert -noprompt -alias extra$i -file \"{folder}/ca$i.crt\" -keystore trust.p12 "
        f"-storetype PKCS12 -storepass:env {PASS_VAR} >/dev/null 2>&1\n"
        "done\n"))
    base_dir = fresh_dir(settings, "trust-keytool-")
    loop["sizes"] = [0, *grown]

    def importing() -> Sample:
        start = timed(["bash", first, base_dir], settings.env)
        points = [(len(picked) / 2, start.wall_s / len(picked), start.cpu_s / len(picked))]
        for size, store in grown.items():
            sample = timed(["bash", later, base_dir, store], settings.env)
            points.append((size + per_size / 2, sample.wall_s / per_size, sample.cpu_s / per_size))
        measured.append(len(picked) + per_size * len(grown))
        loop["lower_bound_wall_s"].append(round(start.wall_s * n / len(picked), 2))
        loop["per_import_wall_s"].append([[round(x, 1), round(w, 3)] for x, w, _ in points])
        return Sample(_integrated(points, n, 1), _integrated(points, n, 2))
    return importing


def _integrated(points: list[tuple[float, float, float]], n: int, column: int) -> float:
    """The loop's total from per-import costs at a few store sizes: linear between the points, flat beyond them."""
    xs = [p[0] for p in points]
    ys = [p[column] for p in points]
    total = ys[0] * xs[0] + ys[-1] * (n - xs[-1])
    for i in range(1, len(points)):
        total += (xs[i] - xs[i - 1]) * (ys[i] + ys[i - 1]) / 2
    return total


def bench_truststore(settings: Settings) -> tuple[list[Row], list[str]]:
    """One truststore of N certificates: apply (fresh) and no-op plan, against a keytool -importcert loop."""
    rows: list[Row] = []
    notes: list[str] = []
    ns = sorted({scaled(n, settings.scale) for n in TRUST_NS})
    folder = fresh_dir(settings, "trust-material-")
    start = time.perf_counter()
    make_trust_material(folder, ns[-1])
    notes.append(f"truststore: {ns[-1]} certificates made in {time.perf_counter() - start:.1f} s (setup)")
    per_cert: dict[str, dict[int, float]] = {"apply": {}, "plan": {}}
    cap = estate_cap(settings)
    grown = {n: grown_stores(settings, folder, n, cap) for n in ns} if settings.tools.keytool else {}
    for variant, make_spec in (("one entry per certificate", trust_spec_one_per_cert), ("bundle", trust_spec_bundle)):
        for n in ns:
            work = fresh_dir(settings, f"trust-{n}-")
            for i in range(n):
                os.link(folder / f"ca{i}.crt", work / f"ca{i}.crt")
            spec = make_spec(work, n)
            out = work / "out"
            out.mkdir()

            def fresh_apply(spec: Path = spec, out: Path = out) -> Sample:
                shutil.rmtree(out)  # outside the timed region: every apply creates the truststore anew
                out.mkdir()
                return timed(apply_cmd(settings, spec, out), settings.env)

            runners: dict[str, Callable[[], Sample]] = {"kstool apply": fresh_apply}
            measured: list[int] = []
            loop: dict[str, list[Any]] = {"lower_bound_wall_s": [], "per_import_wall_s": []}
            if settings.tools.keytool:
                runners["keytool -importcert loop"] = keytool_import_loop(settings, folder, work, n, cap, grown[n],
                                                                          measured, loop)
            samples = alternate(settings.repeat, runners)
            apply_s = median_wall(samples["kstool apply"])
            if not (out / "truststore.p12").exists():
                raise BenchError("truststore: kstool apply wrote no truststore.p12")
            plan_samples = [timed(plan_cmd(settings, spec, out), settings.env) for _ in range(settings.repeat)]
            plan_s = median_wall(plan_samples)
            per_cert["apply"][n], per_cert["plan"][n] = apply_s / n, plan_s / n
            base = median_wall(samples["keytool -importcert loop"]) if measured else None
            big = n == ns[-1]
            tag = "truststore" if variant.startswith("one") else "truststore-bundle"
            detail = {"samples": sample_detail(samples), "plan_wall_s": [round(s.wall_s, 4) for s in plan_samples],
                      "baseline_items_measured": measured[:1], "baseline_loop": loop}
            for what, value in (("apply", apply_s), ("noop-plan", plan_s)):
                rows.append(Row(f"{tag}/{what}", n, value, base, "keytool -importcert loop",
                                ">= 1000x" if big else "-",
                                (None if base is None else base / value >= 1000) if big else None, detail=detail))
            if measured:
                lower = statistics.median(loop["lower_bound_wall_s"])
                notes.append(f"{tag} N={n}: keytool -importcert loop estimated from {measured[0]} imports timed at "
                             f"store sizes {', '.join(str(k) for k in loop['sizes'])} (keytool reads and rewrites "
                             "the whole store at every import: the cost per import grows with the store), "
                             "integrated over the loop (trapezoids); the first imports alone, scaled to N, give "
                             f"{lower:.0f} s, a lower bound: kstool is {lower / apply_s:.0f}x (apply) and "
                             f"{lower / plan_s:.0f}x (no-op plan) that")
        if len(ns) > 1:
            for what, values in per_cert.items():
                growth = values[ns[-1]] / values[ns[0]]
                rows.append(Row(f"linear/{tag}-{what}", ns[-1], 1000 * values[ns[-1]],
                                1000 * values[ns[0]], f"ms/cert at N={ns[0]}", "<= 1.2x", growth <= 1.2,
                                unit="ms/cert", detail={"growth": growth, "variant": variant}))
    return rows, notes


# ---------------------------------------------------------------- machine, table, main


def machine_info(root: Path) -> dict[str, Any]:
    info: dict[str, Any] = {"cpu_count": os.cpu_count(), "python": sys.version.split()[0], "kstool_python": PYTHON,
                            "platform": platform.platform(), "loadavg_at_start": os.getloadavg()}
    if shutil.which("nproc"):
        info["nproc"] = output_of(["nproc"]).stdout.strip()
    if shutil.which("lscpu"):
        model = [ln.split(":", 1)[1].strip() for ln in output_of(["lscpu"]).stdout.splitlines()
                 if ln.startswith("Model name")]
        info["cpu_model"] = model[0] if model else None
    if shutil.which("java"):
        lines = output_of(["java", "-version"]).stderr.splitlines()
        info["java"] = lines[0] if lines else None
    if shutil.which("openssl"):
        info["openssl"] = output_of(["openssl", "version"]).stdout.strip()
    if shutil.which("git") and (REPO / ".git").exists():
        # which kstool was measured; "dirty" = uncommitted changes under kstool/
        head = output_of(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = bool(output_of(["git", "-C", str(REPO), "status", "--porcelain", "--", "kstool"]).stdout.strip())
        info["kstool_git"] = f"{head}{'-dirty' if dirty else ''}"
    if shutil.which("stat"):
        info["workdir_fs"] = output_of(["stat", "-f", "-c", "%T", str(root)]).stdout.strip()
    return info


def detect_tools() -> Tools:
    def has_jobs(command: str) -> bool:
        return "--jobs" in output_of(kstool_cmd(command, "--help"), dict(os.environ, NO_COLOR="1",
                                                                         COLUMNS="200")).stdout
    return Tools(shutil.which("keytool"), shutil.which("openssl"), has_jobs("apply"), has_jobs("plan"),
                 has_jobs("verify"))


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} MiB" if unit == "MiB" else f"{value:.3f}" if unit == "s" else f"{value:.4f} {unit}"


def table(rows: list[Row]) -> str:
    header = ("workload", "N", "kstool s", "baseline s", "ratio", "baseline", "target", "met?")
    lines = [header]
    for r in rows:
        ratio = "-" if r.ratio is None else f"{r.ratio:.1f}x" if r.ratio >= 10 else f"{r.ratio:.2f}x"
        met = "-" if r.met is None else "yes" if r.met else "NO"
        lines.append((r.workload, str(r.n), fmt(r.kstool, r.unit), fmt(r.baseline, r.unit), ratio,
                      r.baseline_name, r.target, met))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=1.0, help="multiply every N (e.g. 0.05 for CI)")
    p.add_argument("--repeat", type=int, default=3, help="repetitions per tool; medians are reported")
    p.add_argument("--only", default="", help=f"comma-separated subset of: {','.join(WORKLOADS + ESTATE)}")
    p.add_argument("--all", action="store_true",
                   help=f"also the estate-scale workloads ({','.join(ESTATE)}; 10,000 stores and certificates)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: --scale 0.01 --repeat 1 --baseline-cap 2 (numbers are not meaningful)")
    p.add_argument("--markdown", type=Path, default=None, metavar="RESULTS_JSON",
                   help="print the README's table of targets from a results.json and exit")
    p.add_argument("--jobs", type=int, default=None,
                   help="passed to kstool apply/plan as --jobs when they accept it (default: os.cpu_count(); "
                        "0: do not pass --jobs)")
    p.add_argument("--baseline-cap", type=int, default=50,
                   help="time at most this many items of each keytool loop and scale to N (0: run all N)")
    p.add_argument("--json-out", type=Path, default=Path(__file__).resolve().parent / "results.json")
    p.add_argument("--workdir", type=Path, default=None, help="parent of the temporary folder (default: $TMPDIR)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--python", default=sys.executable,
                   help="interpreter with kstool installed (default: this one); use a clean venv for the figures")
    args = p.parse_args(argv)
    if args.quick:
        args.scale, args.repeat, args.baseline_cap = 0.01, 1, 2
    if args.repeat < 1 or args.scale <= 0:
        p.error("--repeat must be >= 1 and --scale > 0")
    everything = WORKLOADS + ESTATE
    chosen = [w.strip() for w in args.only.split(",") if w.strip()] or list(everything if args.all else WORKLOADS)
    unknown = sorted(set(chosen) - set(everything))
    if unknown:
        p.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(everything)}")
    args.only = [w for w in everything if w in chosen]
    return args


def run_workload(name: str, settings: Settings, sets: NoopSets, estate: EstateSets) -> tuple[list[Row], list[str]]:
    if name == "spec-load":
        return bench_spec_load(settings, estate)
    if name == "noop-scale":
        return bench_noop_scale(settings, estate)
    if name == "verify":
        return bench_verify(settings, estate)
    if name == "truststore":
        return bench_truststore(settings)
    if name in ("gen-rsa", "gen-ec"):
        return bench_gen(settings, name)
    if name == "import":
        return bench_import(settings)
    if name == "noop-plan":
        return bench_noop(settings, sets)
    if name == "startup":
        return bench_startup(settings)
    return bench_memory(settings, sets)


def targets(rows: list[Row]) -> list[dict[str, Any]]:
    """Every row that carries a target: what was measured, the target, met or not."""
    out = []
    for r in rows:
        if r.met is None:
            continue
        measured: Any = r.kstool if r.ratio is None else round(r.ratio, 2)
        if r.workload.endswith("/floor") or r.workload.startswith("linear/"):
            measured = None if r.kstool is None or not r.baseline else round(r.kstool / r.baseline, 3)
        out.append({"workload": r.workload, "n": r.n, "measured": measured, "kstool": r.kstool,
                    "baseline": r.baseline, "baseline_name": r.baseline_name, "target": r.target,
                    "met": "yes" if r.met else "no"})
    return out


def markdown(results: Path) -> str:
    """The README's "Latest figures" table, from a results.json (measured = ratio, or kstool/baseline)."""
    doc = json.loads(results.read_text())
    m = doc["machine"]
    lines = [f"{doc['date']}, kstool {m.get('kstool_git')}, {m.get('cpu_count')} cores {m.get('cpu_model')}, "
             f"Python {m.get('python')}, {m.get('java')}, {m.get('openssl')}; scale {doc['settings']['scale']}, "
             f"repeat {doc['settings']['repeat']}, load average {m.get('loadavg_at_start')}", "",
             "| workload | N | kstool | baseline | measured | target | met |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for t in doc.get("targets", []):
        def num(v: Any) -> str:
            return "-" if v is None else f"{v:.4g}"
        lines.append(f"| {t['workload']} | {t['n']} | {num(t['kstool'])} | {num(t['baseline'])} "
                     f"({t['baseline_name']}) | {num(t['measured'])} | {t['target']} | {t['met']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.markdown is not None:
        print(markdown(args.markdown))
        return 0
    started = time.perf_counter()
    global PYTHON  # noqa: PLW0603  (set once, before any workload runs)
    PYTHON = args.python
    tools = detect_tools()
    jobs = args.jobs if args.jobs is not None else os.cpu_count()
    root = Path(tempfile.mkdtemp(prefix="kstool-bench-", dir=args.workdir))
    env = dict(os.environ, **{PASS_VAR: BENCH_PASSWORD, "NO_COLOR": "1"})
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measured as installed: an interpreter that keeps its bytecode
    settings = Settings(args.scale, args.repeat, jobs or None, args.baseline_cap, root, env, tools)
    machine = machine_info(root)
    print(f"kstool benchmark  {datetime.now(UTC).isoformat(timespec='seconds')}  scale={args.scale} "
          f"repeat={args.repeat} workdir={root} ({machine.get('workdir_fs')})")
    print(f"kstool {machine.get('kstool_git')}; machine: {machine.get('cpu_count')} cpus, "
          f"{machine.get('cpu_model')}, {machine.get('java')}, python {machine['python']}")
    jobs_note = (f"--jobs {settings.jobs} passed to apply" if tools.apply_jobs and settings.jobs
                 else "apply has --jobs, not passed" if tools.apply_jobs else "this kstool has no --jobs")
    print(f"kstool: {jobs_note}; plan --jobs: {'yes' if tools.plan_jobs else 'no'}")
    if not tools.keytool:
        print("keytool not found on PATH: baselines are skipped, only kstool is timed")
    sets = NoopSets(settings)
    estate = EstateSets(settings)
    rows: list[Row] = []
    notes: list[str] = []
    results: dict[str, Any] = {}
    failed = False
    try:
        for name in args.only:
            start = time.perf_counter()
            print(f"... {name}", flush=True)
            try:
                w_rows, w_notes = run_workload(name, settings, sets, estate)
            except BenchError as e:
                failed = True
                print(f"{name}: FAILED: {e}", file=sys.stderr, flush=True)
                results[name] = {"error": str(e), "rows": [], "notes": []}
                continue
            elapsed = time.perf_counter() - start
            rows += w_rows
            notes += w_notes
            results[name] = {"rows": [r.to_json() for r in w_rows], "notes": w_notes,
                             "elapsed_s": round(elapsed, 2)}
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(table(rows))
    print()
    for note in notes:
        print(note)
    doc = {
        "format_version": 1,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_at_end": os.getloadavg(),
        "machine": machine,
        "settings": {"scale": args.scale, "repeat": args.repeat, "jobs": settings.jobs,
                     "baseline_cap": args.baseline_cap, "apply_has_jobs": tools.apply_jobs,
                     "plan_has_jobs": tools.plan_jobs, "verify_has_jobs": tools.verify_jobs,
                     "keytool": tools.keytool, "openssl": tools.openssl, "workloads": args.only,
                     "keytool_loops": "sampled: at most --baseline-cap items per classic loop and "
                                      f"{ESTATE_BASELINE_CAP} per estate loop, scaled to N (see the notes)"},
        "elapsed_s": round(time.perf_counter() - started, 1),
        "workloads": results,
        "table": [r.to_json() for r in rows],
        "targets": targets(rows),
    }
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {args.json_out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
