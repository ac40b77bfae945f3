"""Atomic, private file writes: temp file in the same folder (0600 from creation), fsync, rename."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kstool.errors import KstoolError

TEMP_SUFFIX = ".kstool-tmp"


@dataclass(frozen=True, slots=True)
class Ownership:
    """The mode and owner a file kstool writes must have; ``uid``/``gid`` -1: not spec'd (whoever runs kstool)."""

    mode: int = 0o600
    uid: int = -1
    gid: int = -1

    def differences(self, mode: int, uid: int, gid: int) -> list[str]:
        """What differs in a file with ``mode``, ``uid`` and ``gid`` (only what the spec sets), in words."""
        out = [] if mode == self.mode else [f"mode {mode:04o} → {self.mode:04o}"]
        if self.uid not in (-1, uid):
            out.append(f"owner {uid} → {self.uid}")
        if self.gid not in (-1, gid):
            out.append(f"group {gid} → {self.gid}")
        return out

    def check_settable(self, what: str) -> None:
        """Only root may give a file away; anyone may chgrp to a group of their own."""
        if os.geteuid() == 0:
            return
        if self.uid not in (-1, os.geteuid()):
            raise KstoolError(f"{what}: the spec sets owner {self.uid}, but kstool runs as uid {os.geteuid()} and "
                              "only root can give files away: run apply as root, or remove owner from the spec")
        if self.gid not in (-1, os.getegid(), *os.getgroups()):
            raise KstoolError(f"{what}: the spec sets group {self.gid}, which uid {os.geteuid()} is not a member "
                              "of: run apply as root, or change group in the spec")


def resolve_ownership(mode: int, owner: str | int | None, group: str | int | None, what: str) -> Ownership:
    """Names of users and groups as ids on this machine (numeric ids are taken as they are)."""
    import grp  # noqa: PLC0415
    import pwd  # noqa: PLC0415

    def lookup(value: str | int | None, kind: str) -> int:
        if value is None:
            return -1
        if isinstance(value, int) or value.isdigit():
            return int(value)
        try:
            return pwd.getpwnam(value).pw_uid if kind == "user" else grp.getgrnam(value).gr_gid
        except KeyError:
            raise KstoolError(f"{what}: there is no {kind} {value!r} on this machine; create it or give a numeric "
                              "id") from None

    return Ownership(mode, lookup(owner, "user"), lookup(group, "group"))


def make_private_dirs(folder: Path) -> None:
    """``folder`` and every missing folder above it, each created 0700 whatever the umask (they may hold
    keystores and password files); folders that exist are left as they are."""
    missing: list[Path] = []
    current = folder
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for new in reversed(missing):
        try:
            os.mkdir(new, 0o700)
        except FileExistsError:
            if not new.is_dir():
                raise
            continue  # made by someone else meanwhile: not ours to change
        os.chmod(new, 0o700)  # mkdir's mode is masked by the umask (0700 under umask 0777 would be 0000)


def stage(path: Path, data: bytes, *, mode: int = 0o600, ownership: Ownership | None = None) -> Path:
    """``data`` in a new temp file next to ``path``, created 0600 and fsynced; the caller renames or removes it.

    ``mode`` (or ``ownership``: mode, owner and group) is applied to the temp file before returning, so the file
    is never seen with other attributes under its real name.
    """
    make_private_dirs(path.parent)
    want = ownership or Ownership(mode)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if want.uid != -1 or want.gid != -1:
                os.fchown(f.fileno(), want.uid, want.gid)
            if want.mode != 0o600:
                os.fchmod(f.fileno(), want.mode)
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return tmp


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, exclusive: bool = False,
                 ownership: Ownership | None = None) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the new one, never a mix.

    ``exclusive`` refuses to replace an existing file.
    """
    tmp = stage(path, data, mode=mode, ownership=ownership)
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


def stage_all(files: dict[Path, bytes], *, threads: int = 8,
              ownership: Mapping[Path, Ownership] | None = None) -> dict[Path, Path]:
    """``stage`` many files at once: their fsyncs overlap. All staged, or none (temp files removed)."""
    from concurrent.futures import Future, ThreadPoolExecutor  # noqa: PLC0415

    staged: dict[Path, Path] = {}
    errors: list[BaseException] = []
    futures: dict[Path, Future[Path]] = {}
    want = ownership or {}
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(threads, len(files)))) as pool:
            futures = {path: pool.submit(stage, path, data, ownership=want.get(path))
                       for path, data in files.items()}
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


class NotRegularFileError(KstoolError):
    """An input that is not a regular file (a FIFO, a device, a socket), or one larger than allowed."""


def read_regular_file(path: Path, limit: int, what: str) -> bytes:
    """The bytes of the regular file at ``path`` (symbolic links followed), refusing anything that could hang
    or never end: FIFOs, devices and sockets are refused before any byte is read (opened non-blocking, checked
    with fstat), and a file over ``limit`` bytes is refused before it is read.

    Raises FileNotFoundError, IsADirectoryError and other OSErrors for the caller to word; ``NotRegularFileError``
    for a special or oversized file: a KstoolError whose message starts with ``what``, the file as the user
    should read it (e.g. "certificate file certs/web.crt").
    """
    info = os.stat(path)  # refuse special files without even opening them (opening some has side effects)
    _check_regular(path, info, limit, what)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        opened = os.fstat(fd)  # what was opened, which may have been swapped since the stat
        _check_regular(path, opened, limit, what)
        chunks: list[bytes] = []
        size = 0
        while size <= limit and (chunk := os.read(fd, min(1024 * 1024, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:  # it grew while being read
        raise NotRegularFileError(f"{what} is larger than {_size_text(limit)}")
    return b"".join(chunks)


def _check_regular(path: Path, info: os.stat_result, limit: int, what: str) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not stat.S_ISREG(info.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else
                "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else
                "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
        raise NotRegularFileError(f"{what} is {kind}, not a regular file; name a regular file")
    if info.st_size > limit:
        raise NotRegularFileError(f"{what} is larger than {_size_text(limit)}")


def _size_text(limit: int) -> str:
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if limit >= size and limit % size == 0:
            return f"{limit // size} {unit}"
    return f"{limit} bytes"
