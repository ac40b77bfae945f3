"""What ``validate`` and ``schema`` print: plain text, no rich (validate is the command people run most)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kstool.spec.model import Spec


def show_valid(spec_path: Path, spec: Spec) -> None:
    n_entries = sum(len(k.entries) for k in spec.keystores)
    exports = f", {len(spec.exports)} export(s)" if spec.exports else ""
    sys.stdout.write(f"{spec_path}: valid ({len(spec.keystores)} keystore(s), {n_entries} entries{exports})\n")


def show_schema() -> None:
    from kstool.spec.validate import schema_text  # noqa: PLC0415

    sys.stdout.write(schema_text())


def show_csr(request_pem: bytes) -> None:
    sys.stdout.write(request_pem.decode("ascii"))
