"""The annotator interface: batches of images in, fields out, every result with a status.

An :class:`Annotator` turns a batch of :class:`Item` (id, decoded image, label, the sample's
boxes) into one :class:`Result` per item. With ``annotate(..., boxes=True)`` (CLI ``--on-boxes``)
every detection box is an item of its own (its crop as the image), and the answers go to that
box's attributes: any image annotator works on player crops, and a box-level model (pose,
jersey number) sees the boxes it needs. A result always says what happened:

* ``ok`` — every field has a value from the vocabulary;
* ``unparseable`` — the model answered, but nothing could be read from the answer;
* ``invalid_value`` — the answer was read, but at least one field is missing or outside the
  vocabulary (the good fields are kept, the bad ones are listed in ``problems``);
* ``error`` — the sample could not be annotated (unreadable image, a model failure).

The raw answer is kept on every result; nothing is silently left empty.

:func:`annotate` runs an annotator over a dataset with a checkpoint: results are appended (and
fsynced) batch by batch, a rerun skips ids already done, and ``kill -9`` loses at most the batch
in flight. Decoding and preprocessing of the next batch overlap the current batch's inference.
With ``scheduler=`` (CLI ``--scheduler local:N|tcp://HOST:PORT``, or ``DATAKIT_SCHEDULER``) the
batches go to Dask workers through :mod:`datakit.parallel`: each worker process builds the
annotator once from its :class:`Recipe`, decodes and annotates whole batches, and the results
come back in order; this process still writes the checkpoint batch by batch, so the checkpoint
and the annotated dataset are byte-identical to a local run, and a worker dying mid-batch (Dask
reruns the task) loses and duplicates nothing.

Examples:
    >>> from datakit import Dataset, Sample
    >>> class Const(Annotator):
    ...     name, fields = "const", ("jersey_color",)
    ...     def predict(self, prepared, items):
    ...         return [Result(it.id, "ok", {"jersey_color": "red"}, raw="red") for it in items]
    >>> ds = Dataset.from_samples([Sample("a.jpg")], ".")
    >>> run = annotate(ds, Const(), load=lambda ds, i: None, progress=False)
    >>> run.counts(), run.apply(ds).column("metadata.jersey_color")
    ({'ok': 1}, ['red'])

"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from annotators.annotations import Annotations
from annotators.checkpoint import Checkpoint
from annotators.records import STATUSES, Item, Result
from datakit.errors import DatakitError
from datakit.sample import Detection

if TYPE_CHECKING:
    from datakit.dataset import Dataset

__all__ = ["STATUSES", "Annotations", "Annotator", "Done", "Item", "Recipe", "Result", "annotate", "make_items",
           "one_line", "run_batch", "sample_detections"]  # fmt: skip

@dataclass(frozen=True)
class Recipe:
    """How a worker process builds an annotator (or detector) of its own: ``factory(*args, **kwargs)``.

    Models cannot travel between processes, so :func:`annotate` on a Dask cluster sends this small,
    picklable recipe instead, and each worker builds the object once (keyed by the recipe).
    Arguments that are recipes themselves are built first (a pseudo-labeler's detector).

    Attributes:
        factory: ``"module:attr"`` or a module-level callable (importable on the workers).
        args: Positional arguments.
        kwargs: Keyword arguments (the options given on the command line).
        batch_size: Set on the built object when given (``--batch-size``).

    Examples:
        >>> Recipe("annotators.color:ColorAnnotator", batch_size=8).build().batch_size
        8

    """

    factory: str | Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    batch_size: int | None = None

    def build(self) -> Any:
        """Import the factory and call it (recipes among the arguments are built first)."""
        fn = self.factory
        if isinstance(fn, str):
            module, _, attr = fn.partition(":")
            fn = getattr(importlib.import_module(module), attr)
        args = [a.build() if isinstance(a, Recipe) else a for a in self.args]
        kwargs = {k: v.build() if isinstance(v, Recipe) else v for k, v in self.kwargs.items()}
        obj = fn(*args, **kwargs)
        if self.batch_size:
            obj.batch_size = int(self.batch_size)
        return obj


class Annotator:
    """Base class: subclasses set :attr:`name`, :attr:`fields` and implement :meth:`predict`.

    :meth:`prepare` runs in a background thread one batch ahead of :meth:`predict` (put CPU work
    such as resizing or a processor call there). Annotators are context managers; :meth:`close`
    releases models.

    Attributes:
        name: Short name (``vlm``, ``color``, ``ocr``); the status column is ``<name>_status``.
        fields: The metadata keys the annotator writes.
        batch_size: Items per batch.
        needs_image: Whether items carry a decoded image.
        recipe: How a Dask worker builds the same annotator (set by the CLI from the registry
            entry); ``None``: the annotator object itself is pickled and sent to the workers.

    """

    name: str = "annotator"
    fields: tuple[str, ...] = ()
    batch_size: int = 32
    needs_image: bool = True
    recipe: Recipe | None = None

    def config(self) -> dict[str, Any]:
        """What identifies this annotator's answers; stored in (and checked against) checkpoints."""
        return {"annotator": self.name, "fields": list(self.fields)}

    def prepare(self, items: list[Item]) -> Any:
        """CPU-side preparation of a batch (runs ahead, in a worker thread). Default: nothing."""
        return None

    def predict(self, prepared: Any, items: list[Item]) -> list[Result]:
        """One result per item, in order."""
        raise NotImplementedError

    def close(self) -> None:
        """Release resources (models, sessions)."""

    def __enter__(self) -> Annotator:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _load(ds: Dataset, i: int) -> Any:
    return ds.load_image(i, mode="RGB")


def _stamp(ds: Dataset, i: int) -> str | None:
    """``"<size>:<mtime_ns>"`` of sample ``i``'s image file, or ``None`` when it cannot be read."""
    try:
        st = os.stat(ds.image_path(i))
    except (OSError, ValueError):
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def _batches(seq: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for k in range(0, len(seq), size):
        yield list(seq[k : k + size])


def sample_detections(ds: Dataset, i: int) -> list[Detection]:
    """The boxes of sample ``i`` as :class:`~datakit.sample.Detection` records (public columns only)."""
    d = ds.columns.detections
    lo, hi = int(d.offsets[i]), int(d.offsets[i + 1])
    out = []
    for k in range(lo, hi):
        s = float(d.scores[k])
        score = None if s != s else s  # NaN: unknown
        out.append(Detection(d.labels[k], tuple(d.boxes[k].tolist()), score, dict(d.attributes[k] or {})))
    return out


def _units(ds: Dataset, boxes: bool | Sequence[str] | None) -> list[tuple[str, int, int | None]]:
    """The work units: ``(id, sample index, box index or None)``."""
    ids = ds.ids
    if not boxes:
        return [(sid, i, None) for i, sid in enumerate(ids)]
    d = ds.columns.detections
    wanted = None if boxes is True else set(boxes)
    labels = d.labels.tolist()
    owner = d.sample_index().tolist()
    offsets = d.offsets.tolist()
    return [
        (f"{ids[i]}#box{row - offsets[i]}", i, row - offsets[i])
        for row, i in enumerate(owner)
        if wanted is None or labels[row] in wanted
    ]


def _crop(image: Any, box: tuple[float, float, float, float]) -> Any:
    """The pixels of ``box`` (rounded outwards, clipped to the image)."""
    import math

    w, h = image.size
    x1, y1 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x2, y2 = min(w, math.ceil(box[2])), min(h, math.ceil(box[3]))
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"box {tuple(round(v, 1) for v in box)} holds no pixels of the {w}x{h} image")
    return image.crop((x1, y1, x2, y2))


def make_items(
    ds: Dataset,
    annotator: Annotator,
    loader: Callable[[Dataset, int], Any],
    batch: list[tuple[str, int, int | None]],
    labels: list[str | None],
    rows: dict[int, int] | None = None,
) -> tuple[list[Item], list[Result], Any, BaseException | None, dict[str, str | None]]:
    """Decode (and prepare) one batch: its items, the results of units that failed already, stamps.

    ``labels`` is ``ds.column("label")``; ``rows`` maps a unit's sample index to its row in ``ds``
    (a worker gets only the batch's rows), ``None``: the same. Items keep the index in the whole
    dataset.
    """
    items: list[Item] = []
    failed: list[Result] = []
    stamps: dict[str, str | None] = {}
    has_boxes = len(ds.columns.detections) > 0
    last: tuple[int, Any, BaseException | None] | None = None
    for uid, i, k in batch:
        j = i if rows is None else rows[i]
        if last is None or last[0] != j:  # consecutive boxes of one sample share its decode
            try:
                last = (j, loader(ds, j) if annotator.needs_image or k is not None else None, None)
            except (OSError, ValueError) as e:  # missing / corrupt image: this sample only
                last = (j, None, e)
        if last[2] is not None:
            failed.append(Result(uid, "error", raw=None, problems={"image": one_line(last[2])}, box=k))
            continue
        dets = sample_detections(ds, j) if has_boxes else []
        image = last[1]
        if k is not None:
            dets = [dets[k]]
            try:
                image = _crop(image, dets[0].box)
            except ValueError as e:
                failed.append(Result(uid, "error", problems={"image": one_line(e)}, box=k))
                continue
        items.append(Item(uid, i, image, labels[j], dets, k))
        if annotator.needs_image or k is not None:
            stamps[uid] = _stamp(ds, j)
    try:
        prepared = annotator.prepare(items) if items else None
    except Exception as e:
        return items, failed, None, e, stamps
    return items, failed, prepared, None, stamps


def _predict_items(annotator: Annotator, items: list[Item], prepared: Any) -> list[Result]:
    """``annotator.predict`` on one batch, checked: one result per item."""
    out = annotator.predict(prepared, items)
    if len(out) != len(items):
        raise RuntimeError(f"{annotator.name} returned {len(out)} results for {len(items)} items")
    return out


def run_batch(
    annotator: Annotator,
    items: list[Item],
    failed: list[Result],
    prepared: Any,
    error: BaseException | None,
    stamps: dict[str, str | None],
) -> Done:
    """Annotate one prepared batch (:func:`make_items`'s output): its results, keys, stamps and error."""
    out = list(failed)
    if items and error is None:
        try:
            out += _predict_items(annotator, items, prepared)
        except Exception as e:
            error = e
    return out, [(it.id, it.box) for it in items], stamps, error


Done = tuple[list[Result], list[tuple[str, int | None]], dict[str, str | None], BaseException | None]
"""One batch's outcome: results so far, the (id, box) of its items, image stamps, the batch's error."""


def annotate(
    ds: Dataset,
    annotator: Annotator,
    *,
    checkpoint: str | Path | None = None,
    restart: bool = False,
    retry_errors: bool = False,
    progress: bool | None = None,
    load: Callable[[Dataset, int], Any] | None = None,
    max_failed_batches: int = 3,
    boxes: bool | Sequence[str] | None = None,
    scheduler: str | None = None,
    resources: dict[str, float] | None = None,
) -> Annotations:
    """Run ``annotator`` over every sample of ``ds``, resumably.

    Args:
        ds: The dataset.
        annotator: The annotator (not closed here).
        checkpoint: A JSONL file results are appended to, batch by batch (fsynced). A rerun with
            the same file and annotator configuration skips the ids already recorded.
        restart: Ignore (and replace) an existing checkpoint.
        retry_errors: On resume, annotate again the samples whose recorded status is ``error``.
        progress: Show a progress bar (``None``: only on a terminal).
        load: ``load(ds, i)`` → image; defaults to decoding the sample's image in RGB.
        max_failed_batches: Stop (re-raising) when this many batches in a row fail as a whole:
            a broken model should fail fast rather than mark every sample ``error``.
        boxes: Annotate detection boxes instead of samples: ``True`` for every box, or the box
            labels to take. Each box is an :class:`Item` whose image is its crop (each image is
            decoded once for all its boxes); results carry :attr:`Result.box`.
        scheduler: Run the batches on Dask (``local:N`` or ``tcp://HOST:PORT``; default
            ``DATAKIT_SCHEDULER``, else here): workers build the annotator from
            :attr:`Annotator.recipe` (else a pickled copy) and must read the images; ``load``
            must then be a module-level function. Results and checkpoint equal a local run's.
        resources: Dask worker resources each task needs (``{"GPU": 1}`` for VLM/detector tasks
            on GPU workers started with ``--resources GPU=1``); only with a ``tcp://`` scheduler.

    Returns:
        The annotations: every sample (or selected box) of ``ds`` has a result.

    Raises:
        FormatError: The checkpoint belongs to another annotator configuration.
        DatakitError: A Dask run whose annotator or loader cannot be sent to the workers, or
            ``resources`` with a ``local:N`` cluster.

    Examples:
        >>> from datakit import Dataset, Sample
        >>> class Upper(Annotator):
        ...     name, fields, needs_image = "upper", ("shout",), False
        ...     def predict(self, prepared, items):
        ...         return [Result(it.id, "ok", {"shout": (it.label or "").upper()}) for it in items]
        >>> ds = Dataset.from_samples([Sample("a.jpg", label="x")], ".")
        >>> annotate(ds, Upper(), progress=False).results["a.jpg"].values
        {'shout': 'X'}

    """
    from annotators.cluster_run import dask_batches
    from datakit.parallel import plan

    loader = load or _load
    on_dask = plan(1, scheduler).kind == "dask"
    if resources and not on_dask:
        raise DatakitError("resources apply to tasks on a Dask cluster: give a tcp:// scheduler")
    config = annotator.config()
    if boxes:
        config = {**config, "boxes": True if boxes is True else sorted(boxes)}
    ck = Checkpoint.open(checkpoint, config, restart=restart) if checkpoint else None
    results: dict[str, Result] = {}
    units = _units(ds, boxes)
    stale = 0
    try:
        if ck is not None:
            position = {uid: i for uid, i, _ in units}
            for uid, row in ck.done.items():
                i = position.get(uid)
                if i is None or (retry_errors and row.get("status") == "error"):
                    continue
                stamp = row.get("stamp")
                if stamp is not None and annotator.needs_image and stamp != _stamp(ds, i):
                    stale += 1  # the image changed since: annotate it again
                    continue
                results[uid] = Result.from_row(row)
        resumed = len(results)
        todo = [u for u in units if u[0] not in results]
        batches = list(_batches(todo, max(1, annotator.batch_size)))
        bar = _progress(len(todo), annotator.name, progress)
        failures = 0
        done: Iterator[Done] = (
            dask_batches(ds, annotator, loader, batches, scheduler, resources)
            if on_dask
            else _local_batches(ds, annotator, loader, batches)
        )
        try:
            for batch_results, keys, stamps, error in done:
                if error is not None:
                    failures += 1
                    if failures >= max_failed_batches:
                        raise error
                    why = {"model": one_line(error)}
                    batch_results += [Result(uid, "error", problems=dict(why), box=k) for uid, k in keys]
                else:
                    failures = 0
                box_of = dict(keys)
                for r in batch_results:
                    stamp = stamps.pop(r.id, None)
                    r.stamp = stamp if r.status != "error" else None
                    if r.box is None and box_of.get(r.id) is not None:
                        r.box = box_of[r.id]
                if ck is not None:
                    ck.append(r.to_row() for r in batch_results)
                for r in batch_results:
                    results[r.id] = r
                bar.update(len(batch_results))
        finally:
            close = getattr(done, "close", None)
            if close is not None:
                close()  # stops the prefetch thread or the cluster
        bar.close()
    finally:
        if ck is not None:
            ck.close()
    ordered = {uid: results[uid] for uid, _, _ in units if uid in results}
    ck_path = Path(checkpoint) if checkpoint else None
    return Annotations(annotator.name, tuple(annotator.fields), ordered, resumed, ck_path, stale)


def _local_batches(
    ds: Dataset, annotator: Annotator, loader: Callable[[Dataset, int], Any], batches: list[list[Any]]
) -> Iterator[Done]:
    """Batches annotated in this process, the next one decoded and prepared in a thread meanwhile."""
    labels = ds.column("label")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="annotate-prepare") as pool:

        def ahead(k: int) -> Future[Any] | None:
            return pool.submit(make_items, ds, annotator, loader, batches[k], labels) if k < len(batches) else None

        pending = ahead(0)
        for k in range(len(batches)):
            if pending is None:  # pragma: no cover - guarded by the loop bound
                break
            items, failed, prepared, error, stamps = pending.result()
            pending = ahead(k + 1)
            yield run_batch(annotator, items, failed, prepared, error, stamps)


def one_line(e: BaseException) -> str:
    """``Type: first line of the message`` of an exception, for a result's problems or an error."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, name: str, progress: bool | None) -> Any:
    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=f"annotate {name}", unit="img", file=sys.stderr)
