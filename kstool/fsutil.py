"""Atomic, private file writes: temp file in the same folder (0600 from creation), fsync, rename."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from kstool.errors import KstoolError

TEMP_SUFFIX = ".kstool-tmp"


def stage(path: Path, data: bytes, *, mode: int = 0o600) -> Path:
    """``data`` in a new temp file next to ``path``, created 0600 and fsynced; the caller renames or removes it.

    ``mode`` is applied before returning (only ever to widen public files such as the lock file).
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
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return tmp


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, exclusive: bool = False) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the new one, never a mix.

    ``exclusive`` refuses to replace an existing file.
    """
    tmp = stage(path, data, mode=mode)
    try:
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


def stage_all(files: dict[Path, bytes], *, threads: int = 8) -> dict[Path, Path]:
    """``stage`` many files at once: their fsyncs overlap. All staged, or none (temp files removed)."""
    from concurrent.futures import Future, ThreadPoolExecutor  # noqa: PLC0415

    staged: dict[Path, Path] = {}
    errors: list[BaseException] = []
    futures: dict[Path, Future[Path]] = {}
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(threads, len(files)))) as pool:
            futures = {path: pool.submit(stage, path, data) for path, data in files.items()}
            for path, future in futures.items():
                try:
                    staged[path] = future.result()
                except (OSError, KstoolError) as e:
                    errors.append(e)
    except BaseException:  # Ctrl-C while staging: the pool has finished its writes; remove every one of them
        discard(f.result() for f in futures.values() if f.done() and not f.cancelled() and f.exception() is None)
        raise
    if errors:
        discard(staged.values())
        raise errors[0]
    return staged


def discard(temps: Iterable[Path]) -> None:
    for tmp in temps:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


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
