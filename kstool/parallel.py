"""Process-pool fan-out for the few CPU-bound steps (RSA key generation, PBKDF2-heavy encoding and decoding).

Results come back in task order, so nothing derived from the inputs depends on scheduling. Small batches
run in-process: a pool costs ~50 ms to start, more than it saves on a handful of stores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def pmap(fn: Callable[[T], R], tasks: Sequence[T], *, jobs: int, min_tasks: int) -> list[R]:
    """``[fn(t) for t in tasks]``, over ``jobs`` processes when there are at least ``min_tasks`` tasks.

    ``fn`` must be a module-level function; tasks and results travel by pickle between kstool's own
    processes (never through files or command lines).
    """
    if jobs <= 1 or len(tasks) < min_tasks:
        return [fn(t) for t in tasks]
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

    import kstool.formats.jks  # noqa: PLC0415  (imported once here, not once per forked worker)
    import kstool.formats.pkcs12  # noqa: F401, PLC0415

    workers = min(jobs, len(tasks))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, tasks, chunksize=max(1, len(tasks) // (workers * 4))))
