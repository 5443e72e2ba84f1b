"""Accumulates samples row by row into the columns of a Dataset, without a Python object per box.

Format readers append here directly (the hot path of loading); :meth:`Dataset.from_samples` uses it
too.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from datakit.columns import Categorical, DetectionColumns

if TYPE_CHECKING:
    from pathlib import Path

    from datakit.dataset import Dataset
    from datakit.errors import Skip

_NO_TAGS: tuple[str, ...] = ()

DetectionTuple = tuple[str | None, Any, float | None, dict[str, Any] | None]
"""``(label, xyxy_box, score_or_None, attributes_or_None)``."""
NativeRow = tuple[
    int, str | None, str, Any, dict[str, Any] | None, str | None, int | None, int | None,
    list[DetectionTuple] | None,
]  # fmt: skip
"""A native row for :meth:`DatasetBuilder.extend_rows`: position, split, source, tags,
metadata, id, width, height, detections."""


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a reader creates millions of objects.

    Loading allocates dicts, tuples and strings that all stay alive; every automatic collection
    would walk all of them again, which makes a 1M-row load about twice as slow. Reference
    counting still frees what dies; the collector is re-enabled (if it was on) afterwards.

    Examples:
        >>> with paused_gc():
        ...     gc.isenabled()
        False
        >>> gc.isenabled()
        True

    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class _CatBuilder:
    __slots__ = ("codes", "index")

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.codes: list[int] = []

    def add(self, v: str | None) -> None:
        if v is None:
            self.codes.append(-1)
            return
        code = self.index.get(v)
        if code is None:
            code = self.index[v] = len(self.index)
        self.codes.append(code)

    def extend(self, values: list[str | None]) -> None:
        index = self.index
        for v in dict.fromkeys(values):  # new values get codes in order of first appearance
            if v is not None and v not in index:
                index[v] = len(index)
        lookup: dict[str | None, int] = {None: -1}
        lookup.update(index)
        self.codes.extend(map(lookup.__getitem__, values))

    def repeat(self, v: str | None, n: int) -> None:
        self.add(v)
        self.codes.extend(self.codes[-1:] * (n - 1))

    def build(self) -> Categorical:
        return Categorical(np.asarray(self.codes, dtype=np.int32), list(self.index))


class DatasetBuilder:
    """Append samples, then :meth:`build` a :class:`~datakit.dataset.Dataset`.

    Examples:
        >>> b = DatasetBuilder()
        >>> b.add("train/a.jpg", label="7", split="train")
        >>> b.add("train/b.jpg", label="9", split="train",
        ...       detections=[("ball", (0.0, 0.0, 4.0, 4.0), None, None)])
        >>> ds = b.build(root=".")
        >>> len(ds), ds[1].detections[0].label
        (2, 'ball')

    """

    def __init__(self) -> None:
        self.images: list[str] = []
        self.ids: list[str | None] = []
        self.labels = _CatBuilder()
        self.splits = _CatBuilder()
        self.sources = _CatBuilder()
        self.prompts = _CatBuilder()
        self.origins = _CatBuilder()
        self.tags: list[tuple[str, ...]] = []
        self.metadata: list[dict[str, Any] | None] = []
        self.widths: list[int] = []
        self.heights: list[int] = []
        self.det_counts: list[int] = []
        self.det_boxes: list[tuple[float, float, float, float]] = []
        self.det_labels = _CatBuilder()
        self.det_scores: list[float] = []
        self.det_attrs: list[dict[str, Any] | None] = []

    def __len__(self) -> int:
        return len(self.images)

    def add(
        self,
        image: str,
        *,
        label: str | None = None,
        split: str | None = None,
        source: str = "real",
        tags: tuple[str, ...] | list[str] = _NO_TAGS,
        metadata: dict[str, Any] | None = None,
        id: str | None = None,
        prompt: str | None = None,
        width: int | None = None,
        height: int | None = None,
        detections: list[tuple[str | None, Any, float | None, dict[str, Any] | None]] | None = None,
        origin: str | None = None,
    ) -> None:
        """Append one sample. Values are trusted: callers validate before adding.

        ``detections`` holds ``(label, xyxy_box, score_or_None, attributes_or_None)`` tuples.
        ``origin`` is the annotation file (relative to the root) the row came from.
        """
        self.images.append(image)
        self.ids.append(id)
        self.labels.add(label)
        self.splits.add(split)
        self.sources.add(source)
        self.prompts.add(prompt)
        self.origins.add(origin)
        self.tags.append(tuple(tags) if tags else _NO_TAGS)
        self.metadata.append(metadata or None)
        self.widths.append(-1 if width is None else int(width))
        self.heights.append(-1 if height is None else int(height))
        if detections:
            self.det_counts.append(len(detections))
            for lab, box, score, attrs in detections:
                self.det_boxes.append(box)
                self.det_labels.add(lab)
                self.det_scores.append(np.nan if score is None else score)
                self.det_attrs.append(attrs or None)
        else:
            self.det_counts.append(0)

    def extend_rows(
        self,
        images: list[str],
        labels: list[str | None],
        prompts: list[str | None],
        natives: list[NativeRow],
        *,
        split: str | None,
        source: str,
        origin: str | None,
    ) -> None:
        """Append a block of rows read from one file, in bulk.

        Every row has an image, label and prompt; the few rows that carry more (native rows) are
        listed in ``natives`` as ``(position_in_block, split, source, tags, metadata, id, width,
        height, detections)`` tuples in ascending position, and patched over the block's
        defaults. This is the hot path of loading: three list appends per plain row.
        """
        n = len(images)
        if not (len(labels) == len(prompts) == n):
            raise ValueError(f"expected {n} labels and prompts, got {len(labels)} and {len(prompts)}")
        if not n:
            return
        self.images.extend(images)
        self.labels.extend(labels)
        self.prompts.extend(prompts)
        self.origins.repeat(origin, n)
        if not natives:
            self.ids.extend([None] * n)
            self.splits.repeat(split, n)
            self.sources.repeat(source, n)
            self.tags.extend([_NO_TAGS] * n)
            self.metadata.extend([None] * n)
            self.widths.extend([-1] * n)
            self.heights.extend([-1] * n)
            self.det_counts.extend([0] * n)
            return
        ids: list[str | None] = [None] * n
        splits: list[str | None] = [split] * n
        sources: list[str | None] = [source] * n
        tags: list[tuple[str, ...]] = [_NO_TAGS] * n
        meta: list[dict[str, Any] | None] = [None] * n
        widths, heights, counts = [-1] * n, [-1] * n, [0] * n
        for pos, sp, so, tg, md, sid, w, h, dets in natives:
            ids[pos], splits[pos], sources[pos] = sid, sp, so
            tags[pos] = tuple(tg) if tg else _NO_TAGS
            meta[pos] = md or None
            if w is not None:
                widths[pos] = w
            if h is not None:
                heights[pos] = h
            if dets:
                counts[pos] = len(dets)
                for lab, box, score, attrs in dets:  # natives are in row order, so boxes are too
                    self.det_boxes.append(box)
                    self.det_labels.add(lab)
                    self.det_scores.append(np.nan if score is None else score)
                    self.det_attrs.append(attrs or None)
        self.ids.extend(ids)
        self.splits.extend(splits)
        self.sources.extend(sources)
        self.tags.extend(tags)
        self.metadata.extend(meta)
        self.widths.extend(widths)
        self.heights.extend(heights)
        self.det_counts.extend(counts)

    def detection_columns(self) -> DetectionColumns:
        """The detections appended so far, as columns."""
        offsets = np.zeros(len(self.det_counts) + 1, dtype=np.int64)
        np.cumsum(np.asarray(self.det_counts, dtype=np.int64), out=offsets[1:])
        boxes = np.asarray(self.det_boxes, dtype=np.float64).reshape(-1, 4)
        return DetectionColumns(
            offsets,
            boxes,
            self.det_labels.build(),
            np.asarray(self.det_scores, dtype=np.float64),
            self.det_attrs,
        )

    def build(
        self,
        root: str | Path,
        *,
        classes: list[str] | None = None,
        skipped: list[Skip] | None = None,
        info: dict[str, Any] | None = None,
    ) -> Dataset:
        """Freeze the appended rows into a Dataset rooted at ``root``."""
        from datakit.dataset import Dataset

        return Dataset._from_columns(
            root=root,
            images=self.images,
            ids=self.ids,
            labels=self.labels.build(),
            splits=self.splits.build(),
            sources=self.sources.build(),
            prompts=self.prompts.build(),
            origins=self.origins.build(),
            tags=self.tags,
            metadata=self.metadata,
            widths=np.asarray(self.widths, dtype=np.int32),
            heights=np.asarray(self.heights, dtype=np.int32),
            detections=self.detection_columns(),
            classes=classes,
            skipped=skipped or [],
            info=info,
        )
