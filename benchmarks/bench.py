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

# Runs one command and prints its peak RSS: a fresh parent, so RUSAGE_CHILDREN holds that command alone
# (in this process it would be polluted by every JVM the baselines started).
RSS_CODE = """
import resource, subprocess, sys
p = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
if p.returncode != 0:
    sys.stderr.write(p.stderr.decode(errors="replace")[-2000:])
    sys.exit(p.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
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
    runners: dict[str, Callable[[], Sample]] = {"kstool validate": lambda: timed(kstool_cmd("validate", spec),
                                                                                  settings.env)}
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
    return [Row("startup", 1, k, base, "one keytool -list", ">= 2x (kstool < 0.5x)",
                None if base is None else k < 0.5 * base, detail=detail)], notes


def peak_rss_mib(cmd: Sequence[str | Path], env: dict[str, str]) -> float:
    proc = output_of([sys.executable, "-c", RSS_CODE, *(str(c) for c in cmd)], env)
    if proc.returncode != 0:
        raise BenchError(f"peak RSS measurement of {' '.join(str(c) for c in cmd[:5])} failed: {proc.stderr[-1000:]}")
    return int(proc.stdout.strip()) * 1024 / MIB  # ru_maxrss is in KiB on Linux


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
    return Tools(shutil.which("keytool"), shutil.which("openssl"), has_jobs("apply"), has_jobs("plan"))


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} MiB" if unit == "MiB" else f"{value:.3f}"


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
    p.add_argument("--only", default="", help=f"comma-separated subset of: {','.join(WORKLOADS)}")
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
    if args.repeat < 1 or args.scale <= 0:
        p.error("--repeat must be >= 1 and --scale > 0")
    chosen = [w.strip() for w in args.only.split(",") if w.strip()] or list(WORKLOADS)
    unknown = sorted(set(chosen) - set(WORKLOADS))
    if unknown:
        p.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    args.only = [w for w in WORKLOADS if w in chosen]
    return args


def run_workload(name: str, settings: Settings, sets: NoopSets) -> tuple[list[Row], list[str]]:
    if name in ("gen-rsa", "gen-ec"):
        return bench_gen(settings, name)
    if name == "import":
        return bench_import(settings)
    if name == "noop-plan":
        return bench_noop(settings, sets)
    if name == "startup":
        return bench_startup(settings)
    return bench_memory(settings, sets)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    global PYTHON  # noqa: PLW0603  (set once, before any workload runs)
    PYTHON = args.python
    tools = detect_tools()
    jobs = args.jobs if args.jobs is not None else os.cpu_count()
    root = Path(tempfile.mkdtemp(prefix="kstool-bench-", dir=args.workdir))
    env = dict(os.environ, **{PASS_VAR: BENCH_PASSWORD, "NO_COLOR": "1"})
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
    rows: list[Row] = []
    notes: list[str] = []
    results: dict[str, Any] = {}
    failed = False
    try:
        for name in args.only:
            start = time.perf_counter()
            print(f"... {name}", flush=True)
            try:
                w_rows, w_notes = run_workload(name, settings, sets)
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
                     "plan_has_jobs": tools.plan_jobs, "keytool": tools.keytool, "openssl": tools.openssl},
        "workloads": results,
        "table": [r.to_json() for r in rows],
    }
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {args.json_out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
