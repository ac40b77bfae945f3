"""All-or-nothing commit of new artifacts, with backups and rollback.

Every artifact is already built and self-checked before a Commit starts. Each replaced or deleted file is
first copied to a backup next to it (``NAME.YYYYMMDDTHHMMSSZ.kstool-backup``, 0600, never overwritten),
then replaced atomically. If a step fails, the files already changed are put back (from the old bytes kept
in memory); only when that also fails is the distinct exit code 4 used.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from kstool.errors import KstoolError
from kstool.fsutil import TEMP_SUFFIX, atomic_write, fsync_dir

BACKUP_SUFFIX = ".kstool-backup"


class RestoreFailedError(KstoolError):
    """A commit failed midway and putting the old files back failed too."""

    exit_code = 4


@dataclass(slots=True)
class Commit:
    root: Path
    backups: bool
    stamp: str  # UTC time of this apply, e.g. 20261128T051600Z
    done: list[tuple[str, bytes | None]] = field(default_factory=list)  # (path, old bytes or None if new)
    backup_paths: list[str] = field(default_factory=list)
    folders: set[Path] = field(default_factory=set)  # folders whose entries changed: fsynced by finish()

    def replace(self, rel: str, staged: Path, old: bytes | None) -> None:
        """Put the staged (written, fsynced) temp file in place of ``rel``, after backing up ``old``."""
        if old is not None and self.backups:
            self._backup(rel, old)
        target = self.root / rel
        os.replace(staged, target)
        self.folders.add(target.parent)
        self.done.append((rel, old))

    def finish(self) -> None:
        """Make the renames durable: one fsync per folder, not one per file."""
        for folder in sorted(self.folders):
            fsync_dir(folder)

    def delete(self, rel: str, old: bytes) -> None:
        if self.backups:
            self._backup(rel, old)
        (self.root / rel).unlink(missing_ok=True)
        self.folders.add((self.root / rel).parent)
        self.done.append((rel, old))

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

    def rollback(self, cause: str) -> None:
        """Put back every file changed so far, newest first; then raise what happened."""
        failed: list[str] = []
        for rel, old in reversed(self.done):
            try:
                if old is None:
                    (self.root / rel).unlink(missing_ok=True)
                else:
                    atomic_write(self.root / rel, old)
            except OSError as e:
                failed.append(f"{rel} ({e.strerror or e})")
        restored = [rel for rel, _ in self.done if not any(f.startswith(f"{rel} (") for f in failed)]
        if failed:
            kept = f"; backups: {', '.join(self.backup_paths)}" if self.backup_paths else ""
            raise RestoreFailedError(f"apply failed ({cause}) and restoring the previous files failed too: "
                                     f"{', '.join(failed)} may be the new version{kept}; fix the cause and run "
                                     "apply again")
        what = f"; restored: {', '.join(restored)}" if restored else ""
        raise KstoolError(f"apply failed ({cause}); nothing was changed{what}")


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
    are ordered by the apply time in their name, then by N.
    """
    pruned: list[str] = []
    for rel in sorted(rels):
        target = root / rel
        pattern = re.compile(re.escape(target.name) + r"\.(\d{8}T\d{6}Z)(?:\.(\d{1,3}))?" + re.escape(BACKUP_SUFFIX))
        found: list[tuple[tuple[str, int], str]] = []
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for entry in os.scandir(target.parent):
                match = pattern.fullmatch(entry.name)
                if match and stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode):
                    found.append(((match.group(1), int(match.group(2) or 0)), entry.name))
        for _, name in sorted(found)[:-keep]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target.parent / name)
                pruned.append(str(Path(rel).with_name(name)))
    return pruned
