"""What may be an output path: the rules spec paths and the paths kstool.lock records share."""

from __future__ import annotations

import posixpath

from kstool.engine.commit import BACKUP_SUFFIX
from kstool.engine.fsutil import TEMP_SUFFIX
from kstool.engine.writer_lock import HOLDER_FILE

LOCK_NAME = "kstool.lock"

# names kstool itself writes in an output folder: never an artifact's
RESERVED_NAMES = (LOCK_NAME, HOLDER_FILE)


def path_problem(text: str) -> str | None:
    """Why ``text`` may not be an output path (relative to the output root), or None. Spec and lock paths alike."""
    if "\\" in text or "\0" in text:
        return "contains a backslash or NUL character"
    if text.startswith("/") or posixpath.isabs(text):
        return "is absolute"
    norm = posixpath.normpath(text)
    if norm == ".." or norm.startswith("../") or norm in (".", ""):
        return "leaves the output root ('..')"
    return reserved_problem(norm)


def reserved_problem(norm: str) -> str | None:
    """Why a normalised output path collides with a file kstool itself writes, or None."""
    if norm.casefold() in (n.casefold() for n in RESERVED_NAMES):
        return f"is kstool's own {'lock file' if norm.casefold() == LOCK_NAME else 'writer-lock note'}"
    return suffix_problem(posixpath.basename(norm))


def suffix_problem(name: str) -> str | None:
    """Why a file name looks like one of kstool's temp or backup files, or None."""
    if name.endswith(TEMP_SUFFIX):
        return f"ends with {TEMP_SUFFIX}, kstool's temp-file suffix (apply deletes such files as leftovers)"
    if name.endswith(BACKUP_SUFFIX):
        return f"ends with {BACKUP_SUFFIX}, kstool's backup suffix"
    return None
