"""One process pool for a whole dedup run, and a map that keeps few tasks in flight."""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


@contextmanager
def worker_pool(workers: int, scheduler: str | None = None) -> Iterator[Executor | None]:
    """A process pool of ``workers`` (``None`` for one worker), shut down on exit.

    The parent's objects are frozen for the garbage collector meanwhile, so forked workers
    never touch (and so never copy) them. With a Dask ``scheduler`` (or ``DATAKIT_SCHEDULER``;
    see :mod:`datakit.parallel`) the executor is the cluster's; its workers must see the images
    at the same paths.

    Examples:
        >>> with worker_pool(1) as pool:
        ...     pool is None
        True

    """
    from datakit.parallel import executor, plan

    if plan(max(workers, 1), scheduler).kind == "dask":
        with executor(scheduler=scheduler) as ex:
            yield ex
        return
    if workers <= 1:
        yield None
        return
    gc.freeze()
    pool = ProcessPoolExecutor(max_workers=workers)
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)
        gc.unfreeze()


def bounded_map(pool: Executor | None, fn: Callable[[T], R], items: Iterable[T], window: int = 8) -> Iterator[R]:
    """``map(fn, items)`` in order on ``pool``, holding at most ``window`` tasks at once.

    Runs in this process when ``pool`` is ``None``; the bound keeps the arguments of only a few
    tasks in memory.

    Examples:
        >>> list(bounded_map(None, abs, [-1, 2, -3]))
        [1, 2, 3]

    """
    if pool is None:
        yield from map(fn, items)
        return
    pending: deque[Future[R]] = deque()
    for x in items:
        pending.append(pool.submit(fn, x))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
