"""Batches of :func:`annotators.base.annotate` on a Dask cluster (``--scheduler``).

Each worker process builds the annotator once from its :class:`~annotators.base.Recipe`
(:func:`datakit.parallel.with_state`), decodes and annotates whole batches of the rows it was
sent, and returns the results, never pixels; the client writes the checkpoint in order, so a
worker dying mid-batch (Dask reruns the task) loses and duplicates nothing.

Examples:
    >>> from datakit import Dataset, Sample
    >>> from annotators.base import Annotator, Result
    >>> class Const(Annotator):
    ...     name, fields, needs_image = "const", ("x",), False
    ...     def predict(self, prepared, items):
    ...         return [Result(it.id, "ok", {"x": "1"}) for it in items]
    >>> list(dask_batches(Dataset.from_samples([Sample("a.jpg")], "."), Const(), None, [], None, None))
    []

"""

from __future__ import annotations

import hashlib
import math
import pickle
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from annotators.base import Annotator, Done, Recipe, make_items, one_line, run_batch
from datakit.errors import DatakitError

if TYPE_CHECKING:
    from datakit.dataset import Dataset

_WORKER: dict[str, Any] = {}
"""The annotator a worker process built from its recipe (one at a time)."""


def _same(obj: Any) -> Any:
    return obj


def _init_worker(recipe: Recipe) -> None:
    old = _WORKER.pop("annotator", None)
    if old is not None:
        old.close()
    _WORKER["annotator"] = recipe.build()


def _portable(e: BaseException | None) -> BaseException | None:
    """``e`` if it survives pickling (to travel back to the client), else a RuntimeError saying it."""
    if e is None:
        return None
    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:
        return RuntimeError(one_line(e))


def _worker_batches(
    part: Dataset, loader: Callable[[Dataset, int], Any], group: list[list[Any]], rows: dict[int, int]
) -> tuple[list[Done], float]:
    """On a worker: annotate a group of batches (the rows of ``part``); the results and the seconds taken."""
    t0 = time.perf_counter()
    annotator = _WORKER["annotator"]
    labels = part.column("label")
    done: list[Done] = []
    for batch in group:
        out, keys, stamps, error = run_batch(annotator, *make_items(part, annotator, loader, batch, labels, rows))
        done.append((out, keys, stamps, _portable(error)))
    return done, time.perf_counter() - t0


def _run_task(arg: tuple[Callable[..., Any], Dataset, Callable[..., Any], list[list[Any]], dict[int, int]]) -> Any:
    task, *rest = arg
    return task(*rest)


def dask_batches(
    ds: Dataset,
    annotator: Annotator,
    loader: Callable[[Dataset, int], Any],
    batches: list[list[Any]],
    scheduler: str | None,
    resources: dict[str, float] | None,
) -> Iterator[Done]:
    """The batches annotated on Dask workers, in order: tasks of whole batches, each ≥ 100 ms.

    The first batch goes alone and times the annotator on a worker (building it there first, not
    counted); the rest go in tasks of as many batches as :func:`datakit.parallel.task_size` asks.
    Each task carries only its rows (``ds.take``), the loader and the recipe; workers send back
    the results, never pixels. A task whose worker dies is rerun by Dask: it writes nothing.
    """
    from contextlib import nullcontext

    from datakit.parallel import executor, ordered_map, plan, task_size, with_state, worker_count

    if not batches:
        return
    if resources and plan(1, scheduler).address == "local":
        raise DatakitError("resources need a tcp:// cluster whose workers declare them; local:N workers declare none")
    recipe = annotator.recipe or Recipe(_same, (annotator,))
    try:
        blob = pickle.dumps((recipe, loader))
    except Exception as e:
        raise DatakitError(
            f"annotator {annotator.name}: cannot be sent to Dask workers ({one_line(e)}); give it a Recipe "
            "(annotator.recipe) and a module-level load function"
        ) from None
    key = f"annotate:{annotator.name}:{hashlib.sha256(blob).hexdigest()}"
    task = with_state(key, _init_worker, (recipe,), _worker_batches)

    def arg(group: list[list[Any]]) -> tuple[Any, ...]:
        idx = sorted({i for b in group for _, i, _ in b})
        return task, ds.take(idx), loader, group, {i: j for j, i in enumerate(idx)}

    if resources:
        import dask

        placed: Any = dask.annotate(resources=dict(resources))
    else:
        placed = nullcontext()
    size = max(1, annotator.batch_size)
    with executor(scheduler=scheduler) as ex, placed:
        first, seconds = ex.submit(_run_task, arg(batches[:1])).result()  # type: ignore[union-attr]
        yield from first
        rest = batches[1:]
        if not rest:
            return
        per_item = seconds / max(1, len(batches[0]))
        n = sum(len(b) for b in rest)
        per_task = max(1, math.ceil(task_size(n, per_item, worker_count(ex)) / size))
        groups = (rest[a : a + per_task] for a in range(0, len(rest), per_task))
        for done, _ in ordered_map(ex, _run_task, (arg(g) for g in groups)):
            yield from done
