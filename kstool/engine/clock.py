"""The one clock: everything time-dependent reads ``now`` from here (renewal decisions, the notBefore of what apply
issues, "expired" checks). ``now`` is ``SOURCE_DATE_EPOCH`` when it is set (reproducible builds), else the time.

``wall`` is always the real time: it judges what ``now`` cannot, a certificate issued for an old
``SOURCE_DATE_EPOCH`` that is already expired (or due for renewal) in reality, and certificates not yet valid
(an epoch dates a build, not the certificates it holds).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from kstool.errors import KstoolError


@dataclass(frozen=True, slots=True)
class Clock:
    now: datetime
    wall: datetime
    from_epoch: bool = False  # now is SOURCE_DATE_EPOCH

    @property
    def shown(self) -> str:
        stamp = f"{self.now:%Y-%m-%d %H:%M:%S} UTC"
        return f"SOURCE_DATE_EPOCH={int(self.now.timestamp())} ({stamp})" if self.from_epoch else stamp


def read_clock(env: Mapping[str, str] | None = None, *, wall: datetime | None = None) -> Clock:
    """The clock of this run: ``SOURCE_DATE_EPOCH`` from ``env`` (default: the environment) when set."""
    real = (wall or datetime.now(UTC)).replace(microsecond=0)
    raw = (os.environ if env is None else env).get("SOURCE_DATE_EPOCH")
    if raw is None or raw == "":
        return Clock(real, real)
    try:
        return Clock(datetime.fromtimestamp(int(raw), UTC), real, from_epoch=True)
    except (ValueError, OverflowError, OSError):
        raise KstoolError(f"SOURCE_DATE_EPOCH={raw!r} is not a whole number of seconds since 1970") from None
