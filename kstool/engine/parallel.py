"""Process-pool fan-out for the few CPU-bound steps (RSA key generation, PBKDF2-heavy encoding and decoding).

Results come back in task order, so nothing derived from the inputs depends on scheduling. Small batches
run in-process: a pool costs ~50 ms to start, more than it saves on a handful of stores. One apply starts
at most one pool (``Pool``) and shares it between its phases, with no more workers than CPUs or tasks.

Workers never outlive kstool nor keep its writer lock: each one first closes the descriptors it must not hold
(``withheld_from_workers``), ignores SIGINT and SIGTERM (kstool decides, and kills them), and asks the kernel
for SIGKILL when its parent dies. Worker functions are module-level and tasks, results and errors pickle, so
the pool works under fork, forkserver and spawn alike.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, TypeVar, cast

if TYPE_CHECKING:
    import multiprocessing.process
    from concurrent.futures import ProcessPoolExecutor

T = TypeVar("T")
R = TypeVar("R")

# None: "fork" on Linux when kstool runs a single thread (a worker starts in milliseconds, where forkserver and
# spawn cost a new interpreter and kstool's imports: 0.3-1 s on a busy 2-core machine), else "forkserver" (forking
# a multi-threaded process, e.g. with a progress bar drawing, is unsafe); elsewhere multiprocessing's default.
# The pool works the same under all three.
START_METHOD: str | None = None


def _start_method() -> str | None:
    if START_METHOD is not None or sys.platform != "linux":
        return START_METHOD
    import threading  # noqa: PLC0415

    return "fork" if threading.active_count() == 1 else "forkserver"


def workers_fork() -> bool:
    """Whether a pool started now forks its workers: they then see this process's memory as it is at that moment
    (objects that must not be pickled, such as passwords, reach them that way and no other)."""
    return _start_method() == "fork"


# Descriptors a worker must never keep (the writer lock): fd -> (st_dev, st_ino) of what it refers to.
_WITHHELD: dict[int, tuple[int, int]] = {}

_PR_SET_PDEATHSIG = 1
_IMPORTED_IN = os.getpid()  # under forkserver: the server, which forks the workers (this module is preloaded)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def workers_for(jobs: int, n_tasks: int) -> int:
    """``-j N`` is an upper bound: never more workers than CPUs, nor than tasks."""
    return max(1, min(jobs, cpu_count(), n_tasks))


@contextlib.contextmanager
def withheld_from_workers(fd: int) -> Iterator[None]:
    """Workers started while the block runs close ``fd`` first thing (a forked child inherits every descriptor;
    a flock held through a worker's copy would outlive kstool itself)."""
    info = os.fstat(fd)
    _WITHHELD[fd] = (info.st_dev, info.st_ino)
    try:
        yield
    finally:
        _WITHHELD.pop(fd, None)


def _worker_init(parent: int, withheld: dict[int, tuple[int, int]]) -> None:
    """First thing in every worker: drop inherited locks, die with the parent, leave signals to the parent."""
    _route_warnings()
    for fd, identity in withheld.items():
        with contextlib.suppress(OSError):  # under forkserver and spawn the number is free or something else
            info = os.fstat(fd)
            if (info.st_dev, info.st_ino) == identity:
                os.close(fd)
    # Ctrl-C reaches the whole process group: the parent alone decides (it rolls back and kills the workers)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    expected = parent if os.getpid() == _IMPORTED_IN else _IMPORTED_IN  # spawn: kstool; fork(server): it
    if os.getppid() != expected:  # the parent died before the line above: nobody will ever send it work
        os._exit(1)


class Pool:
    """Up to ``jobs`` worker processes, started on first use and shut down by ``close``.

    Leaving the block by an exception (Ctrl-C, SIGTERM, an error) cancels what is queued and kills the
    workers at once instead of waiting for the keys they are generating.
    """

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._executor: ProcessPoolExecutor | None = None
        self._workers = 0

    def executor(self, n_tasks: int) -> ProcessPoolExecutor:
        wanted = workers_for(self.jobs, n_tasks)
        if self._executor is not None and self._workers < wanted:
            self.close()  # idle between phases: a wider one replaces it
        if self._executor is None:
            import multiprocessing  # noqa: PLC0415
            from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

            modules = ["kstool.engine.parallel", "kstool.crypto.certs", "kstool.formats.jks", "kstool.formats.pkcs12"]
            for module in modules:  # imported once here, not once per forked worker
                __import__(module)
            context = multiprocessing.get_context(_start_method())
            if context.get_start_method() == "forkserver":
                context.set_forkserver_preload(modules)
            self._executor = ProcessPoolExecutor(max_workers=wanted, mp_context=context, initializer=_worker_init,
                                                 initargs=(os.getpid(), dict(_WITHHELD)))
            self._workers = wanted
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    def terminate(self) -> None:
        """Cancel what is queued and kill the workers now."""
        if self._executor is not None:
            executor, self._executor = self._executor, None
            processes = _worker_processes(executor)
            for process in processes:
                with contextlib.suppress(OSError, ValueError):
                    process.kill()  # SIGKILL: a worker ignores SIGINT and SIGTERM, and holds nothing to clean
            executor.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                with contextlib.suppress(OSError, ValueError, AssertionError):
                    process.join(timeout=5)  # SIGKILLed: returns as soon as the kernel reaps it

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.terminate()


def _worker_processes(executor: ProcessPoolExecutor) -> list[multiprocessing.process.BaseProcess]:
    """The executor's live worker processes: ``ProcessPoolExecutor._processes`` (private; tested in
    tests/e2e/test_safety_process.py) has no public equivalent for killing workers mid-task."""
    processes = getattr(executor, "_processes", None) or {}
    return list(processes.values())


def _route_warnings() -> None:
    """Workers print library warnings as the CLI does (a forked worker inherits it; spawn would not)."""
    import warnings  # noqa: PLC0415

    from kstool.cli.views.console import WarningPrinter  # noqa: PLC0415

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
        executor = used.executor(len(tasks))
        if chunked:
            workers = workers_for(jobs, len(tasks))
            yield from executor.map(fn, tasks, chunksize=max(1, len(tasks) // (workers * 4)))
        else:
            futures = [executor.submit(fn, t) for t in tasks]
            try:
                for future in futures:  # in order: the output never depends on which worker finished first
                    yield future.result()
            finally:
                for future in futures:
                    future.cancel()


_FORKED: list[Callable[[int], object]] = []  # the function of the pmap_forked under way, for its forked workers


def _call_forked(index: int) -> object:
    return _FORKED[0](index)


def pmap_forked(fn: Callable[[int], R], count: int, *, jobs: int, min_tasks: int) -> list[R]:
    """``[fn(i) for i in range(count)]`` over ``jobs`` processes that see ``fn``, and all it closes over, by fork:
    only each index is sent and each result pickled, so ``fn`` may close over what must not be pickled (passwords,
    the spec). For callers that checked ``workers_fork()``. The inherited objects are frozen for the collector
    meanwhile: the workers' collections leave them alone, and their pages stay shared instead of being copied."""
    _FORKED[:] = [fn]
    gc.freeze()
    try:
        return cast("list[R]", pmap(_call_forked, range(count), jobs=jobs, min_tasks=min_tasks))
    finally:
        gc.unfreeze()
        _FORKED.clear()
