"""The one place datakit's per-sample work goes out to workers: local processes or a Dask cluster.

Every heavy step (hashing for dedup, rendering, annotating, ...) asks :func:`executor` for a
:class:`concurrent.futures.Executor` and sends batches through :func:`ordered_map`:

- ``workers=N`` (default: the machine's cores): a local process pool; ``1`` runs in this process;
- ``scheduler="local:N"``: a Dask ``LocalCluster`` of ``N`` single-threaded worker processes on
  127.0.0.1 (no dashboard), started for the run and closed after it;
- ``scheduler="tcp://HOST:PORT"`` (or ``tls://``): a running Dask scheduler (``dask scheduler`` and
  ``dask worker`` processes; see ``docs/scale.md``); the ``DATAKIT_SCHEDULER`` environment
  variable sets it when the option is absent.

Results come back in submission order whatever finishes first, so a run's output is byte-identical
on one core, on a pool or on a cluster. Tasks must be idempotent (Dask reruns a task whose worker
died) and picklable (module-level functions); :func:`task_size` sizes batches so each task runs at
least :data:`MIN_TASK_SECONDS`, keeping scheduling overhead small. ``dask`` is imported only when a
scheduler is asked for.
"""

from __future__ import annotations

import functools
import importlib
import math
import os
import re
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from datakit.errors import DatakitError

T = TypeVar("T")
R = TypeVar("R")

SCHEDULER_ENV = "DATAKIT_SCHEDULER"
"""Environment variable naming the scheduler when no ``--scheduler`` is given."""
MIN_TASK_SECONDS = 0.1
"""Each task should run at least this long (scheduling a Dask task costs about a millisecond)."""
LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    "distributed.scheduler.work-stealing": False,
    "distributed.worker.profile.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.tick.interval": "1s",
}
"""Dask settings of a ``local:N`` cluster: its scheduler, nannies and workers share this machine's
cores with the tasks, so their periodic work (the statistical profiler's 10 ms samples, work
stealing's 100 ms balancing, 100 ms memory polls, 20 ms ticks) is turned off or slowed. Measured on
2 cores, fingerprinting 10,000 images: tasks ran 6% longer on the cluster than in the local
pool with Dask's defaults, and as long with these. ``docs/scale.md`` shows them for long-running
clusters (a YAML file or ``DASK_*`` variables where the workers start)."""
_SCHEDULER_RE = re.compile(r"^(local:(?P<n>\d+)|(tcp|tls|inproc)://.+)$")


class SchedulerError(DatakitError):
    """A scheduler that cannot be used: a malformed address, or one that does not answer."""


@dataclass(frozen=True)
class Plan:
    """Where work runs: ``serial`` (this process), ``processes`` (a local pool) or ``dask``.

    Examples:
        >>> plan(workers=1), plan(workers=2).kind, plan(scheduler="local:2").workers
        (Plan(kind='serial', workers=1, address=None), 'processes', 2)

    """

    kind: str
    workers: int
    address: str | None = None


def plan(workers: int | None = None, scheduler: str | None = None) -> Plan:
    """Resolve ``workers`` / ``scheduler`` (else ``DATAKIT_SCHEDULER``) into a :class:`Plan`.

    Raises:
        SchedulerError: A scheduler that is neither ``local:N`` nor a ``tcp://`` / ``tls://`` address.
        ValueError: ``workers`` below 1.

    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    scheduler = scheduler if scheduler is not None else (os.environ.get(SCHEDULER_ENV) or None)
    if scheduler is None:
        n = workers if workers is not None else (os.cpu_count() or 1)
        return Plan("serial" if n == 1 else "processes", n)
    m = _SCHEDULER_RE.match(scheduler.strip())
    if m is None:
        raise SchedulerError(f"scheduler {scheduler!r}: expected local:N or tcp://HOST:PORT")
    if m["n"] is not None:
        n = int(m["n"])
        if n < 1:
            raise SchedulerError(f"scheduler {scheduler!r}: local:N needs N >= 1")
        return Plan("dask", n, "local")
    return Plan("dask", workers or 0, scheduler.strip())


@contextmanager
def executor(
    workers: int | None = None,
    scheduler: str | None = None,
    *,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple[Any, ...] = (),
    preload: Iterable[str] = (),
) -> Iterator[Executor | None]:
    """An executor for one run (``None`` when the plan is serial), shut down on exit.

    ``initializer`` runs once per local worker process; on Dask, wrap tasks with :func:`with_state`
    instead (Dask executors take no initializer). ``preload`` names modules the tasks need: they
    are imported here before any worker starts, so forked workers (a local pool, ``local:N``)
    inherit them instead of each importing them on its first task.

    Examples:
        >>> with executor(workers=1) as ex:
        ...     list(ordered_map(ex, abs, [-1, 2, -3]))
        [1, 2, 3]

    """
    p = plan(workers, scheduler)
    for name in preload:
        importlib.import_module(name)
    if p.kind == "serial":
        if initializer is not None:
            initializer(*initargs)
        yield None
        return
    if p.kind == "processes":
        import multiprocessing

        pool = ProcessPoolExecutor(p.workers, mp_context=multiprocessing.get_context(start_method()),
                                   initializer=initializer, initargs=initargs)  # fmt: skip
        try:
            yield pool
        finally:
            pool.shutdown(cancel_futures=True)
        return
    with dask_client(p) as client:
        yield client.get_executor()


def start_method() -> str:
    """How local workers start: ``fork`` from a process with no other threads, else ``spawn``.

    A forked worker inherits the modules this process already imported (a render worker would
    otherwise import albumentations again: about 0.6 s per worker, measured), so a
    ``local:N`` cluster starts in about 0.3 s with them. Forking a process whose own
    threads may hold locks is unsafe, so a process that runs threads of its own spawns (the same
    rule as the local pool).

    Examples:
        >>> start_method() in ("fork", "spawn")
        True

    """
    import multiprocessing
    import threading

    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return "fork"
    return "spawn"


@contextmanager
def fork_safe(method: str) -> Iterator[None]:
    """OpenCV's thread pool does not survive a fork: fork from a single-threaded OpenCV.

    A child forked while the parent's OpenCV pool has threads deadlocks in its first parallel
    call; the parent's setting is restored once the workers are started (a ``LocalCluster``
    starts them all before it returns; hold it around a lazily started pool's whole life).

    Examples:
        >>> with fork_safe("spawn"):
        ...     pass

    """
    cv2 = sys.modules.get("cv2") if method == "fork" else None
    if cv2 is None:
        yield
        return
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


@contextmanager
def dask_client(p: Plan) -> Iterator[Any]:
    """A ``distributed.Client`` for a dask :class:`Plan`: a new loopback ``LocalCluster``, or a connection."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as e:  # pragma: no cover - the extra is missing
        raise SchedulerError(f"a Dask scheduler needs dask[distributed] (pip install datakit[cluster]): {e}") from None
    if p.address == "local":
        import dask

        method = start_method()
        settings = {**LOCAL_CLUSTER_CONFIG, "distributed.worker.multiprocessing-method": method}
        with dask.config.set(settings), fork_safe(method):
            cluster = LocalCluster(n_workers=p.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None, silence_logs=40)  # fmt: skip
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = Client(p.address, timeout=10)
    except (OSError, TimeoutError) as e:
        raise SchedulerError(f"scheduler {p.address}: cannot connect ({e})") from None
    try:
        yield client
    finally:
        client.close()


def worker_count(ex: Executor | None) -> int:
    """How many workers ``ex`` runs tasks on (1 for ``None``)."""
    if ex is None:
        return 1
    n = getattr(ex, "_max_workers", None)
    if n:
        return int(n)
    client = getattr(ex, "_client", None)
    if client is not None:
        return max(1, sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()))
    return os.cpu_count() or 1


def ordered_map(
    ex: Executor | None, fn: Callable[[T], R], items: Iterable[T], window: int | None = None
) -> Iterator[R]:
    """``map(fn, items)`` on ``ex``, results in submission order, at most ``window`` tasks in flight.

    Runs in this process when ``ex`` is ``None``. The bound (default: 4 per worker) keeps only a
    few tasks' arguments and results in memory, so a long run streams.

    Examples:
        >>> list(ordered_map(None, len, ["a", "bb"]))
        [1, 2]

    """
    if ex is None:
        yield from map(fn, items)
        return
    window = window or 4 * worker_count(ex)
    pending: deque[Future[R]] = deque()
    for x in items:
        pending.append(ex.submit(fn, x))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def task_size(n: int, seconds_per_item: float, workers: int, *, min_seconds: float = MIN_TASK_SECONDS) -> int:
    """Items per task: each task runs ``min_seconds`` or more, yet every worker gets several tasks.

    Examples:
        >>> task_size(100_000, 0.001, 2)  # 1 ms items: 100 make 100 ms; up to 4x that to save overhead
        400
        >>> task_size(1_000, 0.001, 2)    # few items: 4 tasks per worker, still >= 100 ms each
        125
        >>> task_size(10, 0.5, 4)         # slow items: one each
        1

    """
    if n <= 0:
        return 1
    floor = max(1, math.ceil(min_seconds / max(seconds_per_item, 1e-9)))
    spread = max(1, math.ceil(n / (4 * max(workers, 1))))  # about 4 tasks per worker
    return max(1, min(n, max(floor, min(spread, 4 * floor))))


_STATE: dict[str, Any] = {}


def _stateful(key: str, init: Callable[..., Any], initargs: tuple[Any, ...], fn: Callable[..., R], *args: Any) -> R:
    if _STATE.get("key") != key:
        init(*initargs)
        _STATE["key"] = key
    return fn(*args)


def with_state(key: str, init: Callable[..., Any], initargs: tuple[Any, ...], fn: Callable[..., R]) -> Callable[..., R]:
    """``fn`` wrapped so a worker process runs ``init(*initargs)`` once per ``key`` before it.

    The Dask counterpart of a pool ``initializer``: ``init`` and ``fn`` must be module-level
    functions; ``key`` must change whenever ``initargs`` do.

    Examples:
        >>> f = with_state("k1", print, ("init",), abs)
        >>> f(-3)
        init
        3
        >>> f(-4)
        4

    """
    return functools.partial(_stateful, key, init, initargs, fn)
