"""Columnar building blocks: categorical, packed string and metadata columns, flat detection arrays.

A million samples must fit comfortably in memory, so a :class:`~datakit.dataset.Dataset` keeps
repeated strings (labels, splits, sources, prompts) as ``int32`` codes into a small vocabulary,
image paths and ids packed in one UTF-8 buffer (:class:`StringColumn`), metadata packed as JSON
text (:class:`MetadataColumn`, both from :mod:`datakit.packed`), and every box of every sample in
one ``(M, 4)`` array sliced by per-sample offsets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from datakit.packed import MetadataColumn, StringColumn

__all__ = ["Categorical", "Columns", "DetectionColumns", "MetadataColumn", "StringColumn"]


class Categorical:
    """A column of optional strings stored as ``int32`` codes (``-1`` is ``None``).

    Examples:
        >>> c = Categorical.from_values(["a", "b", None, "a"])
        >>> c.codes.tolist(), c.values
        ([0, 1, -1, 0], ['a', 'b'])
        >>> c[3], c.counts()
        ('a', {'a': 2, 'b': 1, None: 1})

    """

    __slots__ = ("codes", "values")

    def __init__(self, codes: np.ndarray, values: list[str]) -> None:
        self.codes = np.asarray(codes, dtype=np.int32)
        self.values = values

    @classmethod
    def from_values(cls, items: Iterable[str | None]) -> Categorical:
        """Encode an iterable of optional strings."""
        index: dict[str, int] = {}
        codes = []
        for v in items:
            if v is None:
                codes.append(-1)
                continue
            code = index.get(v)
            if code is None:
                code = index[v] = len(index)
            codes.append(code)
        return cls(np.asarray(codes, dtype=np.int32), list(index))

    @classmethod
    def constant(cls, value: str | None, n: int) -> Categorical:
        """A column of ``n`` copies of ``value``."""
        if value is None:
            return cls(np.full(n, -1, dtype=np.int32), [])
        return cls(np.zeros(n, dtype=np.int32), [value])

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, i: int) -> str | None:
        code = self.codes[i]
        return None if code < 0 else self.values[code]

    def tolist(self) -> list[str | None]:
        """Decode to a list of optional strings."""
        table: list[str | None] = [*self.values, None]  # code -1 indexes the trailing None
        return [table[c] for c in self.codes.tolist()]

    def take(self, idx: np.ndarray) -> Categorical:
        """Rows ``idx`` (the vocabulary is shared, not copied)."""
        return Categorical(self.codes[idx], self.values)

    def code_of(self, value: str | None) -> int | None:
        """The code of ``value``, or ``None`` when it never occurs in the vocabulary."""
        if value is None:
            return -1
        try:
            return self.values.index(value)
        except ValueError:
            return None

    def mask(self, wanted: str | Iterable[str | None] | None) -> np.ndarray:
        """Boolean mask of rows whose value is ``wanted`` (or one of several values)."""
        if wanted is None or isinstance(wanted, str):
            wanted = [wanted]
        codes = [c for c in (self.code_of(w) for w in wanted) if c is not None]
        return np.isin(self.codes, np.asarray(codes, dtype=np.int32))

    def counts(self) -> dict[str | None, int]:
        """Value → count, most frequent first (ties by value); ``None`` counts unset rows."""
        bins = np.bincount(self.codes + 1, minlength=len(self.values) + 1)
        out: dict[str | None, int] = {}
        order = sorted(range(len(self.values)), key=lambda k: (-int(bins[k + 1]), self.values[k]))
        for k in order:
            if bins[k + 1]:
                out[self.values[k]] = int(bins[k + 1])
        if bins[0]:
            out[None] = int(bins[0])
        return out

    def set(self, i: int, value: str | None) -> None:
        """Overwrite row ``i`` in place."""
        if value is None:
            self.codes[i] = -1
            return
        code = self.code_of(value)
        if code is None:
            self.values = [*self.values, value]
            code = len(self.values) - 1
        self.codes[i] = code

    @staticmethod
    def concat(parts: Sequence[Categorical]) -> Categorical:
        """Concatenate columns, merging their vocabularies."""
        index: dict[str, int] = {}
        out = []
        for p in parts:
            remap = np.empty(len(p.values) + 1, dtype=np.int32)
            remap[-1] = -1
            for k, v in enumerate(p.values):
                code = index.get(v)
                if code is None:
                    code = index[v] = len(index)
                remap[k] = code
            out.append(remap[p.codes])  # code -1 hits remap[-1] == -1
        codes = np.concatenate(out) if out else np.zeros(0, dtype=np.int32)
        return Categorical(codes, list(index))


class DetectionColumns:
    """All detections of all samples as flat arrays, sliced per sample by ``offsets``.

    Attributes:
        offsets: ``(n_samples + 1,)`` int64; sample ``i`` owns rows ``offsets[i]:offsets[i+1]``.
        boxes: ``(M, 4)`` float64 absolute-pixel xyxy.
        labels: Categorical of length ``M``.
        scores: ``(M,)`` float64, ``NaN`` where the score is unknown.
        attributes: ``M`` optional dicts of per-object data.

    Examples:
        >>> d = DetectionColumns.empty(2)
        >>> d.count(0), len(d)
        (0, 0)

    """

    __slots__ = ("attributes", "boxes", "labels", "offsets", "scores")

    def __init__(
        self,
        offsets: np.ndarray,
        boxes: np.ndarray,
        labels: Categorical,
        scores: np.ndarray,
        attributes: list[dict[str, Any] | None],
    ) -> None:
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self.labels = labels
        self.scores = np.asarray(scores, dtype=np.float64)
        self.attributes = attributes
        m = len(self.boxes)
        if not (len(labels) == len(self.scores) == len(attributes) == m == self.offsets[-1]):
            raise ValueError(
                f"expected {m} boxes, labels, scores and attributes, got "
                f"{len(labels)}, {len(self.scores)}, {len(attributes)} (offsets end at "
                f"{int(self.offsets[-1])})"
            )

    @classmethod
    def empty(cls, n_samples: int) -> DetectionColumns:
        """No detections for ``n_samples`` samples."""
        return cls(
            np.zeros(n_samples + 1, dtype=np.int64),
            np.zeros((0, 4)),
            Categorical(np.zeros(0, dtype=np.int32), []),
            np.zeros(0),
            [],
        )

    def __len__(self) -> int:
        return len(self.boxes)

    def count(self, i: int) -> int:
        """Number of detections of sample ``i``."""
        return int(self.offsets[i + 1] - self.offsets[i])

    def counts(self) -> np.ndarray:
        """Detections per sample."""
        return np.diff(self.offsets)

    def sample_index(self) -> np.ndarray:
        """For every detection, the index of the sample that owns it."""
        return np.repeat(np.arange(len(self.offsets) - 1), self.counts())

    def take(self, idx: np.ndarray) -> DetectionColumns:
        """The detections of samples ``idx``, in that order."""
        idx = np.asarray(idx, dtype=np.int64)
        starts = self.offsets[idx]
        lengths = self.offsets[idx + 1] - starts
        offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if offsets[-1] == 0:
            return DetectionColumns.empty(len(idx))
        # Row indices of every kept detection, built without a Python loop over samples.
        rows = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        attrs = self.attributes
        return DetectionColumns(
            offsets,
            self.boxes[rows],
            self.labels.take(rows),
            self.scores[rows],
            [attrs[r] for r in rows.tolist()],
        )

    @staticmethod
    def concat(parts: Sequence[DetectionColumns]) -> DetectionColumns:
        """Concatenate the detections of consecutive sample blocks."""
        if not parts:
            return DetectionColumns.empty(0)
        offsets = [np.zeros(1, dtype=np.int64)]
        base = 0
        for p in parts:
            offsets.append(p.offsets[1:] + base)
            base += int(p.offsets[-1])
        return DetectionColumns(
            np.concatenate(offsets),
            np.concatenate([p.boxes for p in parts]),
            Categorical.concat([p.labels for p in parts]),
            np.concatenate([p.scores for p in parts]),
            [a for p in parts for a in p.attributes],
        )


@dataclass(frozen=True)
class Columns:
    """A read-only view of every column of a :class:`~datakit.dataset.Dataset` (``ds.columns``).

    Attributes:
        images: Image path per sample, relative to the dataset root (a read-only
            ``Sequence[str]``, :class:`StringColumn`: ``images[i]``, iteration, ``tolist()``,
            ``take(idx)``, ``==`` a list).
        ids: Sample id per sample (unique; a :class:`StringColumn`, the images' own when every
            id is its image path).
        labels: Sample labels. splits, sources, prompts: likewise; ``None`` where unset
            (an unset source reads as ``real``).
        origins: The annotation file each row was read from (``None`` when not from JSONL).
        tags: A tuple of tags per sample.
        metadata: A dict or ``None`` per sample (a read-only :class:`MetadataColumn`; each row is
            decoded afresh, so changing the dict changes nothing).
        widths: ``(N,)`` int32 image widths, ``-1`` unknown (non-writeable). heights: likewise.
        detections: Every box of every sample (:class:`DetectionColumns`).

    """

    images: StringColumn
    ids: StringColumn
    labels: Categorical
    splits: Categorical
    sources: Categorical
    prompts: Categorical
    origins: Categorical
    tags: list[tuple[str, ...]]
    metadata: MetadataColumn
    widths: np.ndarray
    heights: np.ndarray
    detections: DetectionColumns


def unique_ids(
    given: Sequence[str | None] | None, images: StringColumn, images_distinct: bool = False
) -> StringColumn:
    """Ids from ``given``, defaulting to the image path; repeats get ``#2``, ``#3``, ...

    ``images_distinct``: the caller has checked that no image path repeats. Ids equal to the
    image paths share the images' column.

    Examples:
        >>> images = StringColumn.from_values(["a.jpg", "a.jpg", "b.jpg"])
        >>> unique_ids(None, images).tolist(), unique_ids(["x", None, "x"], images).tolist()
        (['a.jpg', 'a.jpg#2', 'b.jpg'], ['x', 'a.jpg', 'x#2'])

    """
    if given is None or given is images:
        ids = images
    elif isinstance(given, StringColumn):
        ids = given
    else:
        values = list(given)
        if values.count(None) == len(values):
            ids = images
        else:
            paths = images.tolist() if None in values else []
            ids = StringColumn.from_values([paths[i] if g is None else str(g) for i, g in enumerate(values)])
    if (ids is images and images_distinct) or ids.is_unique():
        return ids
    seen: dict[str, int] = {}
    out = []
    for x in ids:
        n = seen.get(x, 0) + 1
        seen[x] = n
        out.append(x if n == 1 else f"{x}#{n}")
    return StringColumn.from_values(out)
