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

from datakit.columns import Categorical, DetectionColumns, MetadataColumn, StringColumn
from datakit.packed import PackedBuilder

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


class _IntBuilder:
    """An integer column appended value by value or block by block (kept as numpy blocks)."""

    __slots__ = ("blocks", "dtype", "pending")

    def __init__(self, dtype: type = np.int32) -> None:
        self.dtype = dtype
        self.blocks: list[np.ndarray] = []
        self.pending: list[int] = []

    def _flush(self) -> None:
        if self.pending:
            self.blocks.append(np.asarray(self.pending, dtype=self.dtype))
            self.pending = []

    def append(self, v: int) -> None:
        self.pending.append(v)

    def extend(self, values: list[int] | np.ndarray) -> None:
        self._flush()
        self.blocks.append(np.asarray(values, dtype=self.dtype))

    def fill(self, v: int, n: int) -> None:
        self._flush()
        self.blocks.append(np.full(n, v, dtype=self.dtype))

    def build(self) -> np.ndarray:
        self._flush()
        return np.concatenate(self.blocks) if self.blocks else np.zeros(0, dtype=self.dtype)


class _CatBuilder:
    __slots__ = ("codes", "index")

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.codes = _IntBuilder(np.int32)

    def code(self, v: str | None) -> int:
        """The code of ``v`` (``-1`` for ``None``), added to the vocabulary when new."""
        if v is None:
            return -1
        code = self.index.get(v)
        if code is None:
            code = self.index[v] = len(self.index)
        return code

    def codes_of(self, values: list[str | None]) -> np.ndarray:
        """The codes of ``values`` (new ones are added to the vocabulary)."""
        lookup = {v: self.code(v) for v in dict.fromkeys(values)}
        return np.fromiter(map(lookup.__getitem__, values), np.int32, len(values))

    def remap(self, block: Categorical) -> np.ndarray:
        """The codes of a categorical block in this vocabulary."""
        remap = np.asarray([*map(self.code, block.values), -1], dtype=np.int32)
        return remap[block.codes]  # code -1 takes the trailing -1

    def add(self, v: str | None) -> None:
        self.codes.append(self.code(v))

    def extend(self, values: list[str | None] | Categorical) -> None:
        """Append values, or a categorical block (its codes are mapped onto this vocabulary)."""
        self.codes.extend(self.remap(values) if isinstance(values, Categorical) else self.codes_of(values))

    def repeat(self, v: str | None, n: int) -> None:
        self.codes.fill(self.code(v), n)

    def patched(self, v: str | None, n: int) -> np.ndarray:
        """A block of ``n`` codes of ``v`` to patch, then append with ``codes.extend``."""
        return np.full(n, self.code(v), dtype=np.int32)

    def build(self) -> Categorical:
        """The column, its values in order of first appearance; values no row uses are dropped.

        Blocks may bring their values in another order (a default coded before the rows that
        override it, an Arrow dictionary); one vectorised pass checks the order, and a remap
        restores it when needed.
        """
        codes, values = self.codes.build(), list(self.index)
        seen = codes[codes >= 0]
        if not len(seen):
            return Categorical(codes, [])
        top = np.maximum.accumulate(seen)
        if seen[0] == 0 and top[-1] == len(values) - 1 and (seen[1:] <= top[:-1] + 1).all():
            return Categorical(codes, values)  # every value used, each new one the next code
        used, first = np.unique(seen, return_index=True)
        order = used[np.argsort(first)]
        remap = np.full(len(values) + 1, -1, dtype=np.int32)  # remap[-1] keeps -1 for None
        remap[order] = np.arange(len(order), dtype=np.int32)
        return Categorical(remap[codes], [values[c] for c in order.tolist()])


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
        self._n = 0
        # Image paths and metadata are packed block by block (:mod:`datakit.packed`); rows added
        # one by one wait in the pending lists until the next block or build().
        self._image_blocks = PackedBuilder()
        self._images: list[str] = []
        self._meta_blocks = PackedBuilder()
        self._built: tuple[StringColumn, MetadataColumn] | None = None
        self._metadata: list[dict[str, Any] | None] = []
        self.ids: list[str | None] = []
        self.labels = _CatBuilder()
        self.splits = _CatBuilder()
        self.sources = _CatBuilder()
        self.prompts = _CatBuilder()
        self.origins = _CatBuilder()
        self.tags: list[tuple[str, ...]] = []
        self.widths = _IntBuilder(np.int32)
        self.heights = _IntBuilder(np.int32)
        self.det_counts = _IntBuilder(np.int64)
        self.det_boxes: list[tuple[float, float, float, float]] = []
        self.det_labels = _CatBuilder()
        self.det_scores: list[float] = []
        self.det_attrs: list[dict[str, Any] | None] = []

    def __len__(self) -> int:
        return self._n

    def _flush(self) -> None:
        """Pack the rows added one by one so far."""
        if self._images:
            self._image_blocks.append(StringColumn.from_values(self._images))
            self._images = []
        if self._metadata:
            self._meta_blocks.append(MetadataColumn.from_values(self._metadata))
            self._metadata = []

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
        self._n += 1
        self._images.append(image)
        self.ids.append(id)
        self.labels.add(label)
        self.splits.add(split)
        self.sources.add(source)
        self.prompts.add(prompt)
        self.origins.add(origin)
        self.tags.append(tuple(tags) if tags else _NO_TAGS)
        self._metadata.append(metadata or None)
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
        images: list[str] | StringColumn,
        labels: list[str | None] | Categorical,
        prompts: list[str | None] | Categorical,
        natives: list[NativeRow],
        *,
        split: str | None,
        source: str,
        origin: str | None,
        sources: Categorical | None = None,
        tags: list[tuple[str, ...]] | None = None,
        metadata: list[dict[str, Any] | None] | None = None,
        json_exact: bool = False,
    ) -> None:
        """Append a block of rows read from one file, in bulk.

        Every row has an image, label and prompt (labels and prompts as a list or as a
        :class:`~datakit.columns.Categorical` block). ``sources`` (``None`` codes take
        ``source``), ``tags`` and ``metadata`` may give those fields for every row of the block
        (the lists are taken over, not copied). The rows that carry more (native rows) are
        listed in ``natives`` as ``(position_in_block, split, source, tags, metadata, id, width,
        height, detections)`` tuples in ascending position, and patched over the rest. This is
        the hot path of loading: a few list and array appends per block. ``json_exact``: the
        metadata dicts were just parsed from JSON (see :meth:`MetadataColumn.from_values`).
        """
        n = len(images)
        given = {"labels": labels, "prompts": prompts, "sources": sources, "tags": tags, "metadata": metadata}
        wrong = {k: len(v) for k, v in given.items() if v is not None and len(v) != n}
        if wrong:
            raise ValueError(f"expected {n} values per column, got {wrong}")
        if not n:
            return
        self._flush()
        self._image_blocks.append(StringColumn.from_values(images))
        base = self._n
        self._n += n
        self.labels.extend(labels)
        self.prompts.extend(prompts)
        self.origins.repeat(origin, n)
        self.tags.extend(tags if tags is not None else [_NO_TAGS] * n)
        meta: list[dict[str, Any] | None] | None = metadata
        if natives and any(nat[4] for nat in natives):
            meta = list(meta) if meta is not None else [None] * n
            for nat in natives:
                meta[nat[0]] = nat[4] or None
        self._meta_blocks.append(
            MetadataColumn.empty(n) if meta is None else MetadataColumn.from_values(meta, json_exact=json_exact)
        )
        if sources is not None:
            source_codes = np.where(sources.codes < 0, self.sources.code(source), self.sources.remap(sources))
        else:
            source_codes = self.sources.patched(source, n)
        if not natives:
            self.sources.codes.extend(source_codes)
            self.splits.repeat(split, n)
            self.ids.extend([None] * n)
            self.widths.fill(-1, n)
            self.heights.fill(-1, n)
            self.det_counts.fill(0, n)
            return
        # Native rows: their fields are patched over the block's.
        pos = np.fromiter((nat[0] for nat in natives), np.int64, len(natives))
        source_codes[pos] = self.sources.codes_of([nat[2] for nat in natives])
        self.sources.codes.extend(source_codes)
        splits = self.splits.patched(split, n)
        splits[pos] = self.splits.codes_of([nat[1] for nat in natives])
        self.splits.codes.extend(splits)
        ids: list[str | None] = [None] * n
        widths, heights = np.full(n, -1, dtype=np.int32), np.full(n, -1, dtype=np.int32)
        counts = np.zeros(n, dtype=np.int64)
        all_tags = self.tags
        for p, _, _, tg, _, sid, w, h, dets in natives:
            ids[p] = sid
            all_tags[base + p] = tuple(tg) if tg else _NO_TAGS
            if w is not None:
                widths[p] = w
            if h is not None:
                heights[p] = h
            if dets:
                counts[p] = len(dets)
                for lab, box, score, attrs in dets:  # natives are in row order, so boxes are too
                    self.det_boxes.append(box)
                    self.det_labels.add(lab)
                    self.det_scores.append(np.nan if score is None else score)
                    self.det_attrs.append(attrs or None)
        self.ids.extend(ids)
        self.widths.extend(widths)
        self.heights.extend(heights)
        self.det_counts.extend(counts)

    def detection_columns(self) -> DetectionColumns:
        """The detections appended so far, as columns."""
        counts = self.det_counts.build()
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
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

        self._flush()
        images = StringColumn(*self._image_blocks.build())
        objects = self._meta_blocks.objects
        self._meta_blocks.objects = {}
        metadata = MetadataColumn(*self._meta_blocks.build(), objects)
        if self._built is not None:  # built before: those rows come first
            images = StringColumn.concat([self._built[0], images])
            metadata = MetadataColumn.concat([self._built[1], metadata])
        self._built = (images, metadata)
        return Dataset.from_columns(
            root=root,
            images=images,
            ids=self.ids,
            labels=self.labels.build(),
            splits=self.splits.build(),
            sources=self.sources.build(),
            prompts=self.prompts.build(),
            origins=self.origins.build(),
            tags=self.tags,
            metadata=metadata,
            widths=self.widths.build(),
            heights=self.heights.build(),
            detections=self.detection_columns(),
            classes=classes,
            skipped=skipped or [],
            info=info,
        )
