"""The annotator interface: batches of images in, fields out, every result with a status.

An :class:`Annotator` turns a batch of :class:`Item` (id, decoded image, label) into one
:class:`Result` per item. A result always says what happened:

* ``ok`` — every field has a value from the vocabulary;
* ``unparseable`` — the model answered, but nothing could be read from the answer;
* ``invalid_value`` — the answer was read, but at least one field is missing or outside the
  vocabulary (the good fields are kept, the bad ones are listed in ``problems``);
* ``error`` — the sample could not be annotated (unreadable image, a model failure).

The raw answer is kept on every result; nothing is silently left empty.

:func:`annotate` runs an annotator over a dataset with a checkpoint: results are appended (and
fsynced) batch by batch, a rerun skips ids already done, and ``kill -9`` loses at most the batch
in flight. Decoding and preprocessing of the next batch overlap the current batch's inference.

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

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from annotators.checkpoint import Checkpoint

if TYPE_CHECKING:
    from datakit.dataset import Dataset

STATUSES: tuple[str, ...] = ("ok", "unparseable", "invalid_value", "error")
"""Every result carries one of these."""


@dataclass
class Item:
    """One sample handed to an annotator.

    Attributes:
        id: The sample id.
        index: Its row in the dataset.
        image: The decoded image (``PIL.Image`` in RGB), or ``None`` for annotators that need none.
        label: The sample's label (OCR compares against it), or ``None``.

    """

    id: str
    index: int
    image: Any
    label: str | None = None


@dataclass
class Result:
    """What an annotator said about one sample.

    Attributes:
        id: The sample id.
        status: One of :data:`STATUSES`.
        values: Field → accepted value (only fields that passed validation).
        raw: The raw answer (model text, or a compact description for classical annotators).
        problems: Field (or ``"answer"``) → why it was not accepted.
        confidence: A score in [0, 1] when the annotator has one, else ``None`` (never a made-up 1.0).
        tags: Tags to add to the sample (e.g. ``possible_label_error``).
        stamp: ``"<size>:<mtime_ns>"`` of the image file the result was computed from; a resumed
            run re-annotates samples whose image has changed since.

    """

    id: str
    status: str
    values: dict[str, Any] = field(default_factory=dict)
    raw: str | None = None
    problems: dict[str, str] = field(default_factory=dict)
    confidence: float | None = None
    tags: list[str] = field(default_factory=list)
    stamp: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"expected status in {STATUSES}, got {self.status!r}")

    def to_row(self) -> dict[str, Any]:
        """The checkpoint row (JSON-serialisable)."""
        row: dict[str, Any] = {"id": self.id, "status": self.status, "values": self.values, "raw": self.raw}
        if self.problems:
            row["problems"] = self.problems
        if self.confidence is not None:
            row["confidence"] = self.confidence
        if self.tags:
            row["tags"] = self.tags
        if self.stamp is not None:
            row["stamp"] = self.stamp
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Result:
        """Rebuild a result from its checkpoint row."""
        return cls(
            id=row["id"],
            status=row["status"],
            values=dict(row.get("values") or {}),
            raw=row.get("raw"),
            problems=dict(row.get("problems") or {}),
            confidence=row.get("confidence"),
            tags=list(row.get("tags") or []),
            stamp=row.get("stamp"),
        )


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

    """

    name: str = "annotator"
    fields: tuple[str, ...] = ()
    batch_size: int = 32
    needs_image: bool = True

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


@dataclass
class Annotations:
    """The results of one annotator over a dataset (from this run and from the checkpoint).

    Attributes:
        annotator: The annotator's name.
        fields: The fields it writes.
        results: Sample id → result.
        resumed: How many results came from the checkpoint rather than this run.
        checkpoint: The checkpoint file, if any.
        stale: Checkpoint results not reused because the sample's image changed since.

    """

    annotator: str
    fields: tuple[str, ...]
    results: dict[str, Result]
    resumed: int = 0
    checkpoint: Path | None = None
    stale: int = 0

    def counts(self) -> dict[str, int]:
        """Results per status (statuses with no result are left out)."""
        out: dict[str, int] = {}
        for r in self.results.values():
            out[r.status] = out.get(r.status, 0) + 1
        return {s: out[s] for s in STATUSES if s in out}

    def apply(self, ds: Dataset, *, prefix: str = "", status_field: str | None = None) -> Dataset:
        """A copy of ``ds`` with the answers written as metadata and result tags added.

        Each field ``f`` goes to ``metadata.<prefix><f>`` (``None``, i.e. absent, where the value
        was not accepted); the status goes to ``metadata.<status_field>`` (default
        ``<prefix or name_>status``). Samples without a result keep no status.

        Examples:
            >>> from datakit import Dataset, Sample
            >>> ds = Dataset.from_samples([Sample("a.jpg"), Sample("b.jpg")], ".")
            >>> a = Annotations("color", ("jersey_color",),
            ...                 {"a.jpg": Result("a.jpg", "ok", {"jersey_color": "red"}),
            ...                  "b.jpg": Result("b.jpg", "unparseable", raw="??")})
            >>> out = a.apply(ds)
            >>> out.column("metadata.jersey_color"), out.column("metadata.color_status")
            (['red', None], ['ok', 'unparseable'])

        """
        status_field = status_field or f"{prefix or self.annotator + '_'}status"
        got = [self.results.get(i) for i in ds.ids]
        out = ds
        for f in self.fields:
            out = out.with_column(f"metadata.{prefix}{f}", [None if r is None else r.values.get(f) for r in got])
        out = out.with_column(f"metadata.{status_field}", [None if r is None else r.status for r in got])
        if any(r is not None and r.tags for r in got):
            tags = out.column("tags")
            for k, r in enumerate(got):
                if r is not None:
                    tags[k] = list(dict.fromkeys([*tags[k], *r.tags]))
            out = out.with_column("tags", tags)
        return out


def _load(ds: Dataset, i: int) -> Any:
    return ds.load_image(i, mode="RGB")


def _stamp(ds: Dataset, i: int) -> str | None:
    """``"<size>:<mtime_ns>"`` of sample ``i``'s image file, or ``None`` when it cannot be read."""
    try:
        st = os.stat(ds.image_path(i))
    except (OSError, ValueError):
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def _batches(seq: Sequence[int], size: int) -> Iterator[list[int]]:
    for k in range(0, len(seq), size):
        yield list(seq[k : k + size])


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

    Returns:
        The annotations: every sample of ``ds`` has a result.

    Raises:
        FormatError: The checkpoint belongs to another annotator configuration.

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
    loader = load or _load
    ck = Checkpoint.open(checkpoint, annotator.config(), restart=restart) if checkpoint else None
    results: dict[str, Result] = {}
    ids = ds.ids
    labels = ds.column("label")
    stale = 0
    try:
        if ck is not None:
            position = {sid: i for i, sid in enumerate(ids)}
            for sid, row in ck.done.items():
                i = position.get(sid)
                if i is None or (retry_errors and row.get("status") == "error"):
                    continue
                stamp = row.get("stamp")
                if stamp is not None and annotator.needs_image and stamp != _stamp(ds, i):
                    stale += 1  # the image changed since: annotate it again
                    continue
                results[sid] = Result.from_row(row)
        resumed = len(results)
        todo = [i for i, sid in enumerate(ids) if sid not in results]

        stamps: dict[str, str | None] = {}

        def make_items(idx: list[int]) -> tuple[list[Item], list[Result], Any, BaseException | None]:
            items: list[Item] = []
            failed: list[Result] = []
            for i in idx:
                try:
                    img = loader(ds, i) if annotator.needs_image else None
                except (OSError, ValueError) as e:  # missing / corrupt image: this sample only
                    failed.append(Result(ids[i], "error", raw=None, problems={"image": _one_line(e)}))
                    continue
                items.append(Item(ids[i], i, img, labels[i]))
                if annotator.needs_image:
                    stamps[ids[i]] = _stamp(ds, i)
            try:
                prepared = annotator.prepare(items) if items else None
            except Exception as e:
                return items, failed, None, e
            return items, failed, prepared, None

        bar = _progress(len(todo), annotator.name, progress)
        failures = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="annotate-prepare") as pool:
            batches = list(_batches(todo, max(1, annotator.batch_size)))
            pending: Future[Any] | None = pool.submit(make_items, batches[0]) if batches else None
            for k in range(len(batches)):
                if pending is None:  # pragma: no cover - guarded by the loop bound
                    break
                items, failed, prepared, prep_error = pending.result()
                pending = pool.submit(make_items, batches[k + 1]) if k + 1 < len(batches) else None
                batch_results = list(failed)
                error = prep_error
                if items and error is None:
                    try:
                        out = annotator.predict(prepared, items)
                        if len(out) != len(items):
                            raise RuntimeError(f"{annotator.name} returned {len(out)} results for {len(items)} items")
                        batch_results += out
                    except Exception as e:
                        error = e
                if error is not None:
                    failures += 1
                    if failures >= max_failed_batches:
                        raise error
                    batch_results += [Result(it.id, "error", problems={"model": _one_line(error)}) for it in items]
                else:
                    failures = 0
                for r in batch_results:
                    stamp = stamps.pop(r.id, None)
                    r.stamp = stamp if r.status != "error" else None
                if ck is not None:
                    ck.append(r.to_row() for r in batch_results)
                for r in batch_results:
                    results[r.id] = r
                bar.update(len(batch_results))
        bar.close()
    finally:
        if ck is not None:
            ck.close()
    ordered = {sid: results[sid] for sid in ids if sid in results}
    ck_path = Path(checkpoint) if checkpoint else None
    return Annotations(annotator.name, tuple(annotator.fields), ordered, resumed, ck_path, stale)


def _one_line(e: BaseException) -> str:
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
