"""One process pool for a whole dedup run (tasks go through :func:`datakit.parallel.ordered_map`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager

PRELOAD = ("cv2", "PIL.Image", "datakit.dedup.hashing", "datakit.dedup.finder")
"""What fingerprinting imports: loaded before a ``local:N`` cluster forks its workers."""


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
        with executor(scheduler=scheduler, preload=PRELOAD) as ex:
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
