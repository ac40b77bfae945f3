"""Real Java and OpenSSL, used as the judges of every artifact kstool writes.

Passwords reach the JVM and keytool through the environment, never through argv.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def have_jdk() -> bool:
    return all(shutil.which(t) for t in ("keytool", "java", "javac"))


@dataclass
class Java:
    classes: Path

    def load(self, path: Path, store_password: str, key_password: str | None = None,
             store_type: str | None = None) -> list[dict[str, Any]]:
        """Load ``path`` through java.security.KeyStore and recover every key; one dict per entry.

        The first dict is ``{"type", "size"}``; each following one describes an entry (see KsCheck.java).
        """
        env = dict(os.environ, KSCHECK_STOREPASS=store_password)
        if key_password is not None:
            env["KSCHECK_KEYPASS"] = key_password
        args = ["java", "-cp", str(self.classes), "KsCheck", str(path)]
        if store_type:
            args.append(store_type)
        out = subprocess.run(args, env=env, capture_output=True, text=True, check=False, timeout=120)
        if out.returncode != 0:
            raise AssertionError(f"Java could not load {path}:\n{out.stderr}")
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def compile_java(dest: Path) -> Java:
    subprocess.run(["javac", "-d", str(dest), str(HERE / "java" / "KsCheck.java")], check=True, timeout=120)
    return Java(dest)


def keytool_list(path: Path, store_password: str, store_type: str | None = None) -> str:
    """``keytool -list -v`` output; raises AssertionError when keytool cannot open the store."""
    env = dict(os.environ, KSTOOL_TEST_STOREPASS=store_password)
    args = ["keytool", "-list", "-v", "-keystore", str(path), "-storepass:env", "KSTOOL_TEST_STOREPASS"]
    if store_type:
        args += ["-storetype", store_type]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=False, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f"keytool -list -v failed on {path}:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def openssl_pkcs12_info(path: Path, password: str) -> str:
    """``openssl pkcs12 -info`` (no key output); raises AssertionError on failure."""
    env = dict(os.environ, KSTOOL_TEST_P12PASS=password)
    args = ["openssl", "pkcs12", "-info", "-in", str(path), "-noout", "-passin", "env:KSTOOL_TEST_P12PASS"]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=False, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f"openssl pkcs12 -info failed on {path}:\n{out.stdout}\n{out.stderr}")
    return out.stdout + out.stderr


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compile_trust_check(dest: Path) -> Path:
    """TrustCheck.java compiled into ``dest`` (the classpath to give ``trust_check``)."""
    subprocess.run(["javac", "-d", str(dest), str(HERE / "java" / "TrustCheck.java")], check=True, timeout=120)
    return dest


def trust_check(classes: Path, store: Path, store_type: str, password: str, chain_pem: Path) -> tuple[bool, str]:
    """Does Java's PKIX CertPathValidator accept the chain (PEM, leaf first) against the truststore?"""
    env = dict(os.environ, TRUSTCHECK_STOREPASS=password)
    out = subprocess.run(["java", "-cp", str(classes), "TrustCheck", str(store), store_type, str(chain_pem)],
                         env=env, capture_output=True, text=True, check=False, timeout=120)
    if out.returncode not in (0, 2):
        raise AssertionError(f"TrustCheck failed on {store}:\n{out.stdout}\n{out.stderr}")
    return out.returncode == 0, out.stdout.strip()
