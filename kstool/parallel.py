"""Process-pool fan-out for the few CPU-bound steps (RSA key generation, PBKDF2-heavy encoding and decoding).

Results come back in task order, so nothing derived from the inputs depends on scheduling. Small batches
run in-process: a pool costs ~50 ms to start, more than it saves on a handful of stores. One apply starts
at most one pool (``Pool``) and shares it between its phases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Executor

T = TypeVar("T")
R = TypeVar("R")


class Pool:
    """Up to ``jobs`` worker processes, started on first use and shut down by ``close``."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._executor: Executor | None = None

    def executor(self) -> Executor:
        if self._executor is None:
            from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

            import kstool.crypto.certs  # noqa: PLC0415  (imported once here, not once per forked worker)
            import kstool.formats.jks  # noqa: PLC0415
            import kstool.formats.pkcs12  # noqa: F401, PLC0415

            self._executor = ProcessPoolExecutor(max_workers=self.jobs, initializer=_route_warnings)
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _route_warnings() -> None:
    """Workers print library warnings as the CLI does (a forked worker inherits it; spawn would not)."""
    import warnings  # noqa: PLC0415

    from kstool.cli import WarningPrinter  # noqa: PLC0415

    warnings.showwarning = WarningPrinter()


def pmap(fn: Callable[[T], R], tasks: Sequence[T], *, jobs: int, min_tasks: int, pool: Pool | None = None) -> list[R]:
    """``[fn(t) for t in tasks]``, over ``jobs`` processes when there are at least ``min_tasks`` tasks.

    ``fn`` must be a module-level function; tasks and results travel by pickle between kstool's own
    processes (never through files or command lines). Without ``pool``, one is started for this call.
    """
    return list(imap(fn, tasks, jobs=jobs, min_tasks=min_tasks, pool=pool, chunked=True))


def imap(fn: Callable[[T], R], tasks: Sequence[T], *, jobs: int, min_tasks: int, pool: Pool | None = None,
         chunked: bool = False) -> Iterator[R]:
    """Like ``pmap``, yielding each result (in task order) as soon as it and those before it are done.

    ``chunked`` sends tasks in batches (less overhead for many small tasks); otherwise one by one (even load
    for few slow ones, like RSA key generation).
    """
    if jobs <= 1 or len(tasks) < min_tasks:
        yield from (fn(t) for t in tasks)
        return
    with Pool(jobs) if pool is None else nullcontext(pool) as used:
        executor = used.executor()
        if chunked:
            workers = min(jobs, len(tasks))
            yield from executor.map(fn, tasks, chunksize=max(1, len(tasks) // (workers * 4)))
        else:
            futures = [executor.submit(fn, t) for t in tasks]
            for future in futures:  # in order: the output never depends on which worker finished first
                yield future.result()

