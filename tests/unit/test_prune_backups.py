"""prune_backups lists each folder once and keeps the newest backups of each artifact, by kstool's names only."""

from __future__ import annotations

import os
from pathlib import Path

from kstool.engine.commit import prune_backups


def test_each_artifact_keeps_its_newest_backups(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    names = [
        "a.p12.20260101T000000Z.kstool-backup", "a.p12.20260102T000000Z.kstool-backup",
        "a.p12.20260102T000000Z.1.kstool-backup", "a.p12.20260103T000000Z.kstool-backup",
        # another artifact whose name starts with the first one's
        "a.p12.old.20260101T000000Z.kstool-backup", "a.p12.old.20260105T000000Z.kstool-backup",
        # not kstool's: a backup of an artifact not asked about, odd names
        "b.p12.20260101T000000Z.kstool-backup", "a.p12.2026T.kstool-backup",
        "a.p12.20260101T000000Z.1234.kstool-backup",
        "sub/c.jks.20260101T000000Z.kstool-backup", "sub/c.jks.20260109T000000Z.kstool-backup",
        "sub/c.jks.20260105T000000Z.kstool-backup",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    os.symlink(tmp_path / names[0], tmp_path / "a.p12.20250101T000000Z.kstool-backup")  # a link is never pruned
    pruned = prune_backups(tmp_path, {"a.p12", "a.p12.old", "sub/c.jks"}, 2)
    assert sorted(pruned) == ["a.p12.20260101T000000Z.kstool-backup", "a.p12.20260102T000000Z.kstool-backup",
                              "sub/c.jks.20260101T000000Z.kstool-backup"]
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file() or p.is_symlink())
    assert "a.p12.20260102T000000Z.1.kstool-backup" in left and "a.p12.20260103T000000Z.kstool-backup" in left
    assert "a.p12.old.20260101T000000Z.kstool-backup" in left  # two of its own: nothing pruned
    assert "b.p12.20260101T000000Z.kstool-backup" in left and "a.p12.2026T.kstool-backup" in left
    assert "a.p12.20260101T000000Z.1234.kstool-backup" in left
    assert "a.p12.20250101T000000Z.kstool-backup" in left
