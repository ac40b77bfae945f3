"""``kstool inspect``: any keystore's public facts, opened with a password given on the command line's terms.

Beside the pipeline, not in it: no spec, no lock file. The password is read by the same rules as a spec's
password references (``kstool.engine.passwords``), and the file through no link, with the same size cap as
``observe``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

from kstool.engine.clock import read_clock
from kstool.errors import KstoolError
from kstool.formats.entries import StoreType


class Inspected(NamedTuple):
    type: StoreType
    entries: list[dict[str, Any]]  # ``facts.inspect_entry`` per entry, in store order


def inspect_store(file: Path, *, password_env: str | None, password_file: Path | None) -> Inspected:
    from kstool.engine.facts import inspect_entry  # noqa: PLC0415
    from kstool.engine.observe import read_artifact  # noqa: PLC0415
    from kstool.formats.codec import decode  # noqa: PLC0415
    from kstool.formats.entries import detect_type  # noqa: PLC0415

    password = _inspect_password(password_env, password_file)
    found = read_artifact(file, str(file))
    if found is None:
        raise KstoolError(f"{file}: no such file")
    data = found[0]
    store_type = detect_type(data)
    if store_type is None:
        raise KstoolError(f"{file} is not a JKS, JCEKS or PKCS12 keystore")
    try:
        entries = decode(data, store_type, password)
        now = read_clock().now  # days left by the one clock (SOURCE_DATE_EPOCH when set)
        facts = [inspect_entry(e, now) for e in entries]
    except KstoolError as e:
        raise KstoolError(f"{file}: {e}") from None
    return Inspected(store_type, facts)


def _inspect_password(password_env: str | None, password_file: Path | None) -> str:
    """The store password, read by the same rules as a spec's password references (kstool.engine.passwords)."""
    from kstool.engine.passwords import check_env_text, read_password_file  # noqa: PLC0415

    if (password_env is None) == (password_file is None):
        raise KstoolError("inspect needs the store password: give --password-env VAR or --password-file FILE")
    if password_env is not None:
        value = os.environ.get(password_env)
        if value is None:
            raise KstoolError(f"environment variable {password_env} is not set")
        if value == "":
            raise KstoolError(f"environment variable {password_env} is set but empty")
        check_env_text(password_env, value)
        return value
    assert password_file is not None
    found = read_password_file(password_file, str(password_file))
    if found is None:
        raise KstoolError(f"password file {password_file} does not exist")
    return found[0]
