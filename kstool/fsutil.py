"""Atomic, private file writes: temp file in the same folder (0600 from creation), fsync, rename."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from kstool.errors import KstoolError

TEMP_SUFFIX = ".kstool-tmp"


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, exclusive: bool = False) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the new one, never a mix.

    The temp file is created 0600 by mkstemp; ``mode`` is applied before the rename (only ever to widen
    public files such as the lock file). ``exclusive`` refuses to replace an existing file.
    """
    # folders kstool creates hold secrets (keystores, password files): private too
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if mode != 0o600:
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)  # fails with FileExistsError instead of clobbering
            tmp.unlink()
        else:
            os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_confined(root: Path, rel: str) -> None:
    """Refuse an output path whose folders (below the output root) are symbolic links or not folders."""
    current = root
    for part in Path(rel).parts[:-1]:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return  # created later, by us, as a real folder
        if stat.S_ISLNK(mode):
            raise KstoolError(f"{rel}: folder {current.relative_to(root)} is a symbolic link; kstool never writes "
                              "through links: replace it with a real folder or change the keystore's path")
        if not stat.S_ISDIR(mode):
            raise KstoolError(f"{rel}: {current.relative_to(root)} is not a folder")
