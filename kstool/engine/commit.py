"""All-or-nothing commit of new artifacts, with backups and rollback.

Every artifact is already built and self-checked before a Commit starts. Each replaced or deleted file is
first copied to a backup next to it (``NAME.YYYYMMDDTHHMMSSZ.kstool-backup``, 0600, never overwritten),
then replaced atomically. If a step fails, the files already changed are put back (from the old bytes kept
in memory); only when that also fails is the distinct exit code 4 used.

Right before each step the target is checked to be what apply observed (the same bytes, or still absent) and
the output folder to be the one apply locked: a file or folder changed under a running apply aborts it and
rolls back, and nothing is ever written through a folder swapped for a link. A signal (Ctrl-C, SIGTERM) is
held back until the step in progress is done and recorded, so a rollback always knows what to put back.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kstool.engine.fsutil import TEMP_SUFFIX, Ownership, atomic_write, check_confined, fsync_dir
from kstool.engine.interrupts import Interrupted, deferred, shielded
from kstool.errors import ExitCode, KstoolError

BACKUP_SUFFIX = ".kstool-backup"


class RestoreFailedError(KstoolError):
    """A commit failed midway and putting the old files back failed too."""

    exit_code = ExitCode.RESTORE_FAILED


class ChangedDuringApplyError(KstoolError):
    """A target or the output folder is no longer what apply observed: another writer got there first."""


@dataclass(slots=True)
class Commit:
    root: Path
    backups: bool
    stamp: str  # UTC time of this apply, e.g. 20261128T051600Z
    done: list[tuple[str, bytes | None]] = field(default_factory=list)  # (path, old bytes or None if new)
    backup_paths: list[str] = field(default_factory=list)
    folders: set[Path] = field(default_factory=set)  # folders whose entries changed: fsynced by finish()
    root_fd: int | None = None  # the output folder apply locked (``writer_lock.apply_lock``)
    # mode, owner and group of each file replaced or deleted, as it was: a rollback puts those back too
    was: dict[str, Ownership] = field(default_factory=dict)

    def replace(self, rel: str, staged: Path, old: bytes | None, *, backup: bool = True) -> None:
        """Put the staged (written, fsynced) temp file in place of ``rel``, after backing up ``old``.

        ``old`` is what apply observed there (None: no file); anything else there now aborts the commit.
        """
        target = self.root / rel
        with deferred():
            self.check_unchanged(rel, old)
            if old is not None and self.backups and backup:
                self._backup(rel, old)
            self._remember(rel)
            os.replace(staged, target)
            self.folders.add(target.parent)
            self.done.append((rel, old))

    def create(self, path: Path, staged: Path, shown: str) -> None:
        """Put the staged file at ``path`` (outside the output root, e.g. a generated password file), which must
        still not exist."""
        with deferred():
            try:
                os.link(staged, path)  # never clobbers: a file that appeared meanwhile is someone else's
            except FileExistsError:
                raise ChangedDuringApplyError(f"{shown}: password file appeared while apply was running; run "
                                              "apply again") from None
            self.done.append((str(path), None))
            self.folders.add(path.parent)
            with contextlib.suppress(FileNotFoundError):
                staged.unlink()

    def check_root(self) -> None:
        """The output folder is still the one apply locked: not moved, removed or replaced by a link."""
        if self.root_fd is None:
            return
        locked = os.fstat(self.root_fd)
        try:
            info = os.lstat(self.root)
        except OSError:
            info = None
        if info is None or not stat.S_ISDIR(info.st_mode) or (info.st_dev, info.st_ino) != (locked.st_dev,
                                                                                             locked.st_ino):
            raise ChangedDuringApplyError(f"{self.root}: the output folder changed during apply (moved, removed or "
                                          "replaced by a link); nothing was written into it; run apply again")

    def check_unchanged(self, rel: str, old: bytes | None) -> None:
        """``rel`` still holds ``old`` (None: still no file), in the locked folder, through no link."""
        self.check_root()
        check_confined(self.root, rel)
        if not _holds(self.root / rel, old):
            raise ChangedDuringApplyError(f"{rel} changed during apply; run apply again")

    def discard(self, temps: Iterable[Path]) -> None:
        """Remove staged temp files: those in the output root through the folder apply locked, wherever it is
        now (if it was moved or replaced by a link meanwhile, its temp files are still found, and nothing else)."""
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                if self.root_fd is not None and tmp.is_relative_to(self.root):
                    os.unlink(tmp.relative_to(self.root), dir_fd=self.root_fd)
                else:
                    tmp.unlink()

    def finish(self) -> None:
        """Make the renames durable: one fsync per folder, not one per file."""
        for folder in sorted(self.folders):
            fsync_dir(folder)

    def delete(self, rel: str, old: bytes) -> None:
        with deferred():
            self.check_unchanged(rel, old)
            if self.backups:
                self._backup(rel, old)
            self._remember(rel)
            (self.root / rel).unlink(missing_ok=True)
            self.folders.add((self.root / rel).parent)
            self.done.append((rel, old))

    def _remember(self, rel: str) -> None:
        with contextlib.suppress(OSError):
            info = os.lstat(self.root / rel)
            self.was[rel] = Ownership(stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)

    def _backup(self, rel: str, old: bytes) -> None:
        target = self.root / rel
        for n in range(1000):
            name = f"{target.name}.{self.stamp}{'' if n == 0 else f'.{n}'}{BACKUP_SUFFIX}"
            try:
                atomic_write(target.with_name(name), old, exclusive=True)
            except FileExistsError:
                continue
            self.backup_paths.append(str(Path(rel).with_name(name)))
            return
        raise KstoolError(f"{rel}: too many backups named {target.name}.{self.stamp}.*{BACKUP_SUFFIX}")

    def rollback(self, cause: str, *, headline: str | None = None) -> None:
        """Put back every file changed so far, newest first; then raise what happened (``headline``, or "apply
        failed (CAUSE)", then what was put back)."""
        raise KstoolError(f"{headline or f'apply failed ({cause})'}; {self._restore(cause)}")

    def rollback_interrupted(self, interrupt: Interrupted) -> None:
        """Like ``rollback``, for Ctrl-C or SIGTERM: raises the interrupt, saying what was put back."""
        raise interrupt.after(self._restore("interrupted")) from None

    def _owned_as_before(self, rel: str) -> Ownership | None:
        """The old file's mode, and its owner and group where this process may set them (root, or its own)."""
        was = self.was.get(rel)
        if was is None or os.geteuid() == 0:
            return was
        return Ownership(was.mode)

    def _restore(self, cause: str) -> str:
        failed: list[str] = []
        with shielded():  # a second Ctrl-C does not cut the rollback short
            for rel, old in reversed(self.done):
                try:
                    if old is None:
                        (self.root / rel).unlink(missing_ok=True)
                    else:
                        atomic_write(self.root / rel, old, ownership=self._owned_as_before(rel))
                except OSError as e:
                    failed.append(f"{rel} ({e.strerror or e})")
        restored = [rel for rel, _ in self.done if not any(f.startswith(f"{rel} (") for f in failed)]
        if failed:
            kept = f"; backups: {', '.join(self.backup_paths)}" if self.backup_paths else ""
            raise RestoreFailedError(f"apply failed ({cause}) and restoring the previous files failed too: "
                                     f"{', '.join(failed)} may be the new version{kept}; fix the cause and run "
                                     "apply again")
        return "nothing was changed" + (f"; restored: {', '.join(restored)}" if restored else "")


def _holds(path: Path, old: bytes | None) -> bool:
    """``path`` holds exactly ``old`` (None: there is no file), read through no link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return old is None
    except OSError:  # a link (ELOOP) or unreadable: not what apply observed
        return False
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if old is None or not stat.S_ISREG(info.st_mode) or info.st_size != len(old):
            return False
        return f.read(len(old) + 1) == old


def clean_stray_temp_files(folders: set[Path]) -> list[Path]:
    """Temp files left by an apply that was killed: ``.NAME.*.kstool-tmp`` next to the artifacts."""
    removed: list[Path] = []
    for folder in sorted(folders):
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for entry in os.scandir(folder):
                if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX) and entry.is_file(
                        follow_symlinks=False):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                        removed.append(Path(entry.path))
    return removed


def prune_backups(root: Path, rels: set[str], keep: int) -> list[str]:
    """Delete all but the newest ``keep`` backups of each artifact in ``rels``; the deleted paths, relative to root.

    Only kstool's own names count (``NAME.YYYYMMDDTHHMMSSZ[.N].kstool-backup``, regular files, not links); backups
    are ordered by the apply time in their name, then by N. Each folder is listed once, whatever the number of
    artifacts in it (10,000 stores in one folder: one listing, not 10,000).
    """
    by_folder: dict[Path, dict[str, str]] = {}  # folder -> artifact name -> its path relative to root
    for rel in rels:
        target = root / rel
        by_folder.setdefault(target.parent, {})[target.name] = rel
    found: dict[str, list[tuple[tuple[str, int], str]]] = {}  # rel -> ((time, N), backup name)
    for folder in sorted(by_folder):
        names = by_folder[folder]
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for entry in os.scandir(folder):
                match = _BACKUP_NAME.fullmatch(entry.name)
                if match is None or match.group(1) not in names:
                    continue
                if stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode):
                    found.setdefault(names[match.group(1)], []).append(
                        ((match.group(2), int(match.group(3) or 0)), entry.name))
    pruned: list[str] = []
    for rel in sorted(found):
        parent = (root / rel).parent
        for _, name in sorted(found[rel])[:-keep]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(parent / name)
                pruned.append(str(Path(rel).with_name(name)))
    return pruned


# NAME.YYYYMMDDTHHMMSSZ[.N].kstool-backup: the time and N sit at fixed places before the suffix, so the name
# they follow is the only one this can split off
_BACKUP_NAME = re.compile(r"(.+)\.(\d{8}T\d{6}Z)(?:\.(\d{1,3}))?" + re.escape(BACKUP_SUFFIX))
