"""The Dataset: samples stored column by column, with row views, filters, counts and saving."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from datakit.columns import Categorical, Columns, DetectionColumns, MetadataColumn, StringColumn, unique_ids
from datakit.dataset_io import DatasetType, FormatIO
from datakit.dataset_ops import RowOps
from datakit.errors import Skip
from datakit.images import image_size, load_image
from datakit.paths import safe_relpath
from datakit.sample import Detection, Sample

if TYPE_CHECKING:
    from PIL import Image

FIELDS = ("split", "source", "label", "prompt", "tag", "image", "id", "detections.label")
"""Fields :meth:`Dataset.count_by` understands besides ``metadata.<key>``."""
COLUMNS = ("label", "split", "source", "prompt", "image", "id", "tags", "width", "height")
"""Core fields :meth:`Dataset.column` reads besides ``metadata.<key>``."""


def field_name(name: str) -> str:
    """``name`` as :meth:`Dataset.column` takes it: a core column, else a metadata key.

    Commands and reports let users write bare metadata keys (``--by jersey_color``).

    Examples:
        >>> field_name("label"), field_name("jersey_color"), field_name("metadata.border")
        ('label', 'metadata.jersey_color', 'metadata.border')

    """
    return name if name.startswith("metadata.") or name in COLUMNS else f"metadata.{name}"


class Dataset(FormatIO, RowOps, metaclass=DatasetType):
    """A set of samples rooted at a folder, stored as columns.

    Image paths are relative to ``root``. ``classes`` is the declared class list (or ``None``),
    ``info`` a free dataset-level dict (COCO ``info``/``licenses``/categories, provenance), and
    ``skipped`` the records a reader skipped. Build one with a reader (:meth:`read`,
    :func:`datakit.load`, ``Dataset.from_<format>`` for every registered format: typed methods
    for the first five, found in :mod:`datakit.formats.registry` at run time for the others), from
    :class:`~datakit.sample.Sample` records with :meth:`from_samples`, row by row with
    :class:`datakit.builder.DatasetBuilder`, or from whole columns with :meth:`from_columns`.
    Read columns through :attr:`columns` (read-only) and :meth:`detections_table`.
    Operations return new datasets; the columns of the source are never changed (the only
    state filled later is a private cache of image sizes read from headers, see
    :meth:`image_size`).

    Examples:
        >>> from datakit import Dataset, Sample
        >>> ds = Dataset.from_samples(
        ...     [Sample("train/a.jpg", label="23", split="train"),
        ...      Sample("valid/b.jpg", label="7", split="valid", source="synthetic")],
        ...     root="/data/jerseys")
        >>> len(ds), ds.count_by("split")
        (2, {'train': 1, 'valid': 1})
        >>> [s.image for s in ds.filter(source="synthetic")]
        ['valid/b.jpg']

    """

    root: Path
    classes: list[str] | None
    info: dict[str, Any]
    skipped: list[Skip]
    _images: StringColumn
    _ids: StringColumn
    _labels: Categorical
    _splits: Categorical
    _sources: Categorical
    _prompts: Categorical
    _origins: Categorical
    _tags: list[tuple[str, ...]]
    _metadata: MetadataColumn
    _widths: np.ndarray
    _heights: np.ndarray
    _dets: DetectionColumns
    _id_index: dict[str, int] | None
    _size_cache: np.ndarray | None

    def __init__(self) -> None:  # pragma: no cover - use the constructors
        raise TypeError("build a Dataset with Dataset.from_samples(), Dataset.from_jsonl() or datakit.load()")

    @classmethod
    def from_columns(
        cls,
        *,
        root: str | Path,
        images: Sequence[str],
        ids: Sequence[str | None] | None = None,
        labels: Categorical | None = None,
        splits: Categorical | None = None,
        sources: Categorical | None = None,
        prompts: Categorical | None = None,
        origins: Categorical | None = None,
        tags: list[tuple[str, ...]] | None = None,
        metadata: Sequence[dict[str, Any] | None] | None = None,
        widths: np.ndarray | None = None,
        heights: np.ndarray | None = None,
        detections: DetectionColumns | None = None,
        classes: list[str] | None = None,
        skipped: Sequence[Skip] = (),
        info: dict[str, Any] | None = None,
        images_distinct: bool = False,
    ) -> Dataset:
        """Build a dataset from whole columns: the one documented way for readers and plug-ins.

        Row-by-row producers use :class:`datakit.builder.DatasetBuilder` (which ends here);
        code that already holds columns (a format reader, :meth:`replace`) calls this. Image paths
        must already be safe relative paths (:func:`datakit.paths.safe_relpath`). Absent columns
        default to unset values (no label, split or prompt, source ``real``, no tags, metadata,
        detections, sizes ``-1``). Ownership of the passed objects moves to the dataset.

        Args:
            root: Folder the image paths are relative to.
            images: Image path per sample (a :class:`~datakit.columns.StringColumn`, or any
                sequence of strings, which is packed into one).
            ids: Sample ids (``None`` entries default to the image path; repeats get ``#2``...).
            labels: Sample labels (:class:`Categorical`).
            splits: Sample splits.
            sources: Sample sources (``None`` reads as ``real``).
            prompts: Sample prompts (the Roboflow ``prefix``).
            origins: The annotation file each row came from (the native writer writes back to it).
            tags: A tuple of tags per sample.
            metadata: A dict (or ``None``) per sample (a :class:`~datakit.columns.MetadataColumn`,
                or any sequence, packed into one).
            widths: Image widths (``-1`` unknown).
            heights: Image heights (``-1`` unknown).
            detections: Every sample's boxes (:class:`DetectionColumns`).
            classes: The declared class list.
            skipped: Records a reader skipped.
            info: Free dataset-level dict.
            images_distinct: The caller has checked that no image path repeats.

        Raises:
            ValueError: Columns of differing lengths (the message lists them).

        Examples:
            >>> from datakit.columns import Categorical
            >>> ds = Dataset.from_columns(root=".", images=["a.jpg", "b.jpg"],
            ...                           labels=Categorical.from_values(["1", None]))
            >>> [s.label for s in ds], ds.columns.widths.tolist()
            (['1', None], [-1, -1])

        """
        images = StringColumn.from_values(images)
        n = len(images)
        labels = Categorical.constant(None, n) if labels is None else labels
        splits = Categorical.constant(None, n) if splits is None else splits
        sources = Categorical.constant(None, n) if sources is None else sources
        prompts = Categorical.constant(None, n) if prompts is None else prompts
        origins = Categorical.constant(None, n) if origins is None else origins
        tags = [()] * n if tags is None else tags
        metadata = MetadataColumn.empty(n) if metadata is None else MetadataColumn.from_values(metadata)
        widths = np.full(n, -1, dtype=np.int32) if widths is None else widths
        heights = np.full(n, -1, dtype=np.int32) if heights is None else heights
        detections = DetectionColumns.empty(n) if detections is None else detections
        lengths = {
            "ids": n if ids is None else len(ids), "labels": len(labels), "splits": len(splits),
            "sources": len(sources), "prompts": len(prompts), "origins": len(origins),
            "tags": len(tags), "metadata": len(metadata), "widths": len(widths),
            "heights": len(heights), "detections": len(detections.offsets) - 1,
        }  # fmt: skip
        bad = {k: v for k, v in lengths.items() if v != n}
        if bad:
            raise ValueError(f"expected every column to have {n} rows, got {bad}")
        self = object.__new__(cls)
        self.root = Path(root)
        self._images = images
        self._ids = unique_ids(ids, images, images_distinct)
        self._labels = labels
        self._splits = splits
        self._sources = sources
        self._prompts = prompts
        self._origins = origins
        self._tags = tags
        self._metadata = metadata
        self._widths = np.asarray(widths, dtype=np.int32)
        self._heights = np.asarray(heights, dtype=np.int32)
        self._dets = detections
        self.classes = list(classes) if classes is not None else None
        self.skipped = list(skipped)
        self.info = dict(info or {})
        self._id_index = None
        self._size_cache = None
        return self

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_samples(
        cls,
        samples: Iterable[Sample],
        root: str | Path,
        *,
        classes: list[str] | None = None,
    ) -> Dataset:
        """Build a dataset from sample records (image paths relative to ``root``).

        Raises:
            PathEscapeError: A sample's image path is absolute or escapes ``root``.

        """
        from datakit.builder import DatasetBuilder

        b = DatasetBuilder()
        for s in samples:
            b.add(
                safe_relpath(s.image),
                label=s.label,
                split=s.split,
                source=s.source,
                tags=tuple(s.tags),
                metadata=dict(s.metadata) if s.metadata else None,
                id=s.id,
                prompt=s.prompt,
                width=s.width,
                height=s.height,
                detections=[
                    (d.label, d.box, d.score, dict(d.attributes) if d.attributes else None) for d in s.detections
                ],
            )
        return b.build(root, classes=classes)

    # ----------------------------------------------------------------- row access
    def __len__(self) -> int:
        return len(self._images)

    def __repr__(self) -> str:
        return f"Dataset({len(self)} samples, root={str(self.root)!r}, splits={self.count_by('split')})"

    def _sample(self, i: int) -> Sample:
        d = self._dets
        lo, hi = int(d.offsets[i]), int(d.offsets[i + 1])
        dets = [
            Detection(
                d.labels[k],
                tuple(d.boxes[k].tolist()),
                None if math.isnan(d.scores[k]) else float(d.scores[k]),
                dict(d.attributes[k] or {}),
            )
            for k in range(lo, hi)
        ]
        w, h = int(self._widths[i]), int(self._heights[i])
        return Sample(
            image=self._images[i],
            label=self._labels[i],
            detections=dets,
            split=self._splits[i],
            source=self._sources[i] or "real",
            tags=list(self._tags[i]),
            metadata=self._metadata[i] or {},  # decoded afresh: the caller may change it
            id=self._ids[i],
            prompt=self._prompts[i],
            width=w if w >= 0 else None,
            height=h if h >= 0 else None,
        )

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self._sample(i)

    def __getitem__(self, key: int | str | slice) -> Any:
        """``ds[i]`` → Sample, ``ds["id"]`` → Sample, ``ds[a:b]`` → Dataset."""
        if isinstance(key, slice):
            return self.take(np.arange(len(self))[key])
        if isinstance(key, str):
            return self._sample(self.index_of(key))
        n = len(self)
        i = int(key)
        if not -n <= i < n:
            raise IndexError(f"sample index {key} out of range for {n} samples")
        return self._sample(i % n)

    def index_of(self, sample_id: str) -> int:
        """Position of the sample with id ``sample_id``.

        Raises:
            KeyError: No sample has that id (the message names it).

        """
        if self._id_index is None:
            self._id_index = {x: i for i, x in enumerate(self._ids)}
        try:
            return self._id_index[sample_id]
        except KeyError:
            raise KeyError(f"no sample with id {sample_id!r}") from None

    def get(self, sample_id: str, default: Any = None) -> Sample | Any:
        """The sample with id ``sample_id``, or ``default``."""
        try:
            return self._sample(self.index_of(sample_id))
        except KeyError:
            return default

    @property
    def ids(self) -> list[str]:
        """Sample ids, in order."""
        return self._ids.tolist()

    @property
    def images(self) -> list[str]:
        """Image paths relative to :attr:`root`, in order."""
        return self._images.tolist()

    def metadata_keys(self) -> dict[str, int]:
        """Every metadata key and how many samples carry it, in order of first appearance.

        Examples:
            >>> ds = Dataset.from_samples([Sample("a.jpg", metadata={"c": "red"}),
            ...                            Sample("b.jpg", metadata={"c": "blue", "n": 1}),
            ...                            Sample("c.jpg")], ".")
            >>> ds.metadata_keys()
            {'c': 2, 'n': 1}

        """
        counts: dict[str, int] = {}
        for md in self._metadata:
            if md:
                for k in md:
                    counts[k] = counts.get(k, 0) + 1
        return counts

    def column(self, name: str) -> list[Any]:
        """One field for every sample: a core field or ``metadata.<key>`` (``None`` if absent).

        Examples:
            >>> ds = Dataset.from_samples([Sample("a.jpg", label="1", metadata={"c": "red"})], ".")
            >>> ds.column("label"), ds.column("metadata.c"), ds.column("source")
            (['1'], ['red'], ['real'])

        """
        cats = {"label": self._labels, "split": self._splits, "prompt": self._prompts}
        if name in cats:
            return cats[name].tolist()
        if name == "source":
            return [s or "real" for s in self._sources.tolist()]
        if name == "image":
            return self._images.tolist()
        if name == "id":
            return self._ids.tolist()
        if name == "tags":
            return [list(t) for t in self._tags]
        if name in ("width", "height"):
            arr = self._widths if name == "width" else self._heights
            return [None if v < 0 else v for v in arr.tolist()]
        if name.startswith("metadata."):
            key = name[len("metadata.") :]
            return [None if m is None else m.get(key) for m in self._metadata]
        raise KeyError(f"unknown field {name!r}; expected one of {COLUMNS} or metadata.<key>")

    @property
    def detections(self) -> DetectionColumns:
        """All detections as flat columns (read-only view; copy before changing)."""
        return self._dets

    @property
    def columns(self) -> Columns:
        """Every column, read-only: the inner API for formats, commands and plug-ins.

        Numpy arrays come back as non-writeable views; image paths and ids are read-only
        :class:`~datakit.columns.StringColumn` sequences, metadata a read-only
        :class:`~datakit.columns.MetadataColumn` (each row decoded afresh); the tags list and
        :class:`Categorical` objects are the dataset's own and must not be changed (build a new
        dataset with :meth:`replace` or :meth:`from_columns` instead).

        Examples:
            >>> ds = Dataset.from_samples([Sample("a.jpg", label="7", split="train")], ".")
            >>> c = ds.columns
            >>> c.images.tolist(), c.labels.tolist(), c.splits[0], c.widths.flags.writeable
            (['a.jpg'], ['7'], 'train', False)
            >>> c.images == ["a.jpg"], c.ids[0], c.metadata[0]
            (True, 'a.jpg', None)

        """
        return Columns(
            images=self._images,
            ids=self._ids,
            labels=self._labels,
            splits=self._splits,
            sources=self._sources,
            prompts=self._prompts,
            origins=self._origins,
            tags=self._tags,
            metadata=self._metadata,
            widths=_readonly(self._widths),
            heights=_readonly(self._heights),
            detections=self._dets,
        )

    def replace(self, **columns: Any) -> Dataset:
        """A new dataset with some columns (or ``root``, ``classes``, ``info``, ``skipped``) replaced.

        Takes the keyword arguments of :meth:`from_columns`; the others are shared with this
        dataset, which is not changed.

        Examples:
            >>> from datakit.columns import Categorical
            >>> ds = Dataset.from_samples([Sample("a.jpg", label="7")], ".")
            >>> ds.replace(labels=Categorical.from_values(["8"]))[0].label, ds[0].label
            ('8', '7')

        """
        current: dict[str, Any] = {
            "root": self.root, "images": self._images, "ids": self._ids, "labels": self._labels,
            "splits": self._splits, "sources": self._sources, "prompts": self._prompts,
            "origins": self._origins, "tags": self._tags, "metadata": self._metadata,
            "widths": self._widths.copy(), "heights": self._heights.copy(), "detections": self._dets,
            "classes": self.classes, "skipped": self.skipped, "info": self.info,
        }  # fmt: skip
        unknown = set(columns) - set(current) - {"images_distinct"}
        if unknown:
            raise TypeError(f"unknown column(s) {sorted(unknown)}; expected some of {sorted(current)}")
        current.update(columns)
        return Dataset.from_columns(**current)

    def detections_table(self) -> dict[str, Any]:
        """Every detection as one flat table of parallel columns.

        Returns:
            ``{"sample": (M,) int64 sample index, "label": M labels, "xyxy": (M, 4) float64,
            "score": (M,) float64 (NaN unknown), "attributes": M dicts or None}``.

        Examples:
            >>> from datakit.sample import Detection
            >>> ds = Dataset.from_samples([Sample("a.jpg"), Sample("b.jpg", detections=[
            ...     Detection("ball", (1, 2, 3, 4), 0.5)])], ".")
            >>> t = ds.detections_table()
            >>> t["sample"].tolist(), t["label"], t["xyxy"].tolist(), t["score"].tolist()
            ([1], ['ball'], [[1.0, 2.0, 3.0, 4.0]], [0.5])

        """
        d = self._dets
        return {
            "sample": d.sample_index(),
            "label": d.labels.tolist(),
            "xyxy": _readonly(d.boxes),
            "score": _readonly(d.scores),
            "attributes": d.attributes,
        }

    # ----------------------------------------------------------------- statistics
    def count_by(self, field: str) -> dict[Any, int]:
        """Counts grouped by a field, most frequent first; ``None`` counts unset values.

        ``field`` is one of ``split``, ``source``, ``label``, ``prompt``, ``tag`` (each tag
        counted once per sample), ``detections.label`` (objects), or ``metadata.<key>``.

        Examples:
            >>> ds = Dataset.from_samples([Sample("a.jpg", label="7"), Sample("b.jpg", label="7"),
            ...                            Sample("c.jpg")], ".")
            >>> ds.count_by("label")
            {'7': 2, None: 1}

        """
        if field in ("split", "label", "prompt"):
            return {"split": self._splits, "label": self._labels, "prompt": self._prompts}[field].counts()
        if field == "source":
            counts = self._sources.counts()
            if None in counts:  # unset means the default
                counts["real"] = counts.get("real", 0) + counts.pop(None)
            return dict(sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0]))))
        if field == "detections.label":
            return self._dets.labels.counts()
        if field in ("tag", "tags"):
            c: Counter[Any] = Counter(t for ts in self._tags for t in ts)
        else:
            c = Counter(_hashable(v) for v in self.column(field))
        return dict(sorted(c.items(), key=lambda kv: (-kv[1], str(kv[0]))))

    @property
    def labels(self) -> list[str]:
        """Distinct sample labels, sorted (numbers in numeric order)."""
        return sort_labels(v for v in self._labels.values)

    @property
    def splits(self) -> list[str]:
        """Split names present, in ``train, valid, test`` order then alphabetical."""
        order = {"train": 0, "valid": 1, "val": 1, "validation": 1, "test": 2}
        present = [v for v, n in self._splits.counts().items() if v is not None and n]
        return sorted(present, key=lambda s: (order.get(s, 3), s))

    # ----------------------------------------------------------------- images
    def image_path(self, i: int | str) -> Path:
        """Absolute path of sample ``i``'s image (an index or an id)."""
        idx = self.index_of(i) if isinstance(i, str) else int(i)
        return self.root / self._images[idx]

    def load_image(self, i: int | str, mode: str = "RGB") -> Image.Image:
        """Decode sample ``i``'s image.

        Raises:
            FileNotFoundError: The image file is missing (the message names it).

        """
        return load_image(self.image_path(i), mode=mode, root=self.root)  # upright, inside the root

    def _sizes(self) -> np.ndarray:
        """The ``(N, 2)`` size cache: declared sizes, and sizes read from headers so far."""
        if self._size_cache is None:
            self._size_cache = np.stack([self._widths, self._heights], axis=1)
        return self._size_cache

    def image_size(self, i: int | str) -> tuple[int, int]:
        """``(width, height)`` of sample ``i``: the declared size, else read from the file header once.

        A size read from a header is kept in a private cache, not in the dataset's columns
        (``ds.columns.widths`` and ``ds[i].width`` still say what was declared); build a
        dataset with known sizes with ``ds.replace(widths=..., heights=...)``.
        """
        idx = self.index_of(i) if isinstance(i, str) else int(i)
        sizes = self._sizes()
        if sizes[idx, 0] < 0 or sizes[idx, 1] < 0:
            sizes[idx] = image_size(self.root / self._images[idx])
        return int(sizes[idx, 0]), int(sizes[idx, 1])

    def image_sizes(self, *, workers: int = 8, errors: str = "raise") -> np.ndarray:
        """``(N, 2)`` int array of ``(width, height)`` for every sample, read from headers.

        Unknown sizes are read in parallel threads (header reads are I/O bound) and cached
        like :meth:`image_size` (the columns are not changed).

        Args:
            workers: Threads used to read headers.
            errors: ``"raise"`` on a missing/unreadable image, or ``"ignore"`` to leave ``-1``.

        """
        sizes = self._sizes()
        todo = np.flatnonzero((sizes[:, 0] < 0) | (sizes[:, 1] < 0)).tolist()

        def read(i: int) -> tuple[int, int]:
            try:
                return image_size(self.root / self._images[i])
            except (FileNotFoundError, ValueError):
                if errors == "raise":
                    raise
                return (-1, -1)

        if todo:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for i, (w, h) in zip(todo, pool.map(read, todo), strict=True):
                    sizes[i] = w, h
        return sizes.astype(np.int64)

    # ----------------------------------------------------------------- summary
    def summary(self) -> dict[str, Any]:
        """What ``datakit info --json`` prints: counts by split, source and label, and skips."""
        return {
            "root": str(self.root),
            "samples": len(self),
            "splits": _json_keys(self.count_by("split")),
            "sources": _json_keys(self.count_by("source")),
            # an unset label is no label, counted apart (a real label "null" stays a label)
            "labels": _json_keys({k: v for k, v in self.count_by("label").items() if k is not None}),
            "unlabeled": self.count_by("label").get(None, 0),
            "classes": self.classes,
            "detections": len(self._dets),
            "detection_labels": _json_keys(self._dets.labels.counts()),
            "tags": _json_keys(self.count_by("tag")),
            "skipped": [s.to_dict() for s in self.skipped],
        }


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v


def _json_keys(counts: dict[Any, int]) -> dict[str, int]:
    """JSON objects need string keys: ``None`` becomes ``"null"``."""
    return {("null" if k is None else str(k)): v for k, v in counts.items()}


def sort_labels(labels: Iterable[str]) -> list[str]:
    """Sort labels numerically when they are numbers, else alphabetically (numbers first).

    Examples:
        >>> sort_labels(["10", "2", "b", "a", "02"])
        ['02', '2', '10', 'a', 'b']

    """

    def key(s: str) -> tuple[int, float, str]:
        try:
            return (0, float(s), s)
        except ValueError:
            return (1, 0.0, s)

    return sorted(set(labels), key=key)
