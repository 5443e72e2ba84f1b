"""The Dataset: samples stored column by column, with row views, filters, counts and saving."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from datakit.columns import Categorical, Columns, DetectionColumns, MetadataColumn, StringColumn
from datakit.dataset_io import DatasetType, FormatIO
from datakit.errors import Skip
from datakit.images import image_size, load_image
from datakit.paths import safe_relpath
from datakit.sample import SOURCES, Detection, Sample

if TYPE_CHECKING:
    from PIL import Image

_MISSING = object()
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


def _unique_ids(
    given: Sequence[str | None] | None, images: StringColumn, images_distinct: bool = False
) -> StringColumn:
    """Ids from ``given``, defaulting to the image path; repeats get ``#2``, ``#3``, ...

    ``images_distinct``: the caller has checked that no image path repeats. Ids equal to the
    image paths share the images' column.
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


class Dataset(FormatIO, metaclass=DatasetType):
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
        self._ids = _unique_ids(ids, images, images_distinct)
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

    # ----------------------------------------------------------------- selection
    def take(self, indices: Sequence[int] | np.ndarray) -> Dataset:
        """A new dataset of the rows at ``indices`` (in that order)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(idx) and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"indices out of range for {len(self)} samples")
        idx = idx % max(len(self), 1)
        tags = self._tags
        images = self._images.take(idx)
        return Dataset.from_columns(
            root=self.root,
            images=images,
            ids=images if self._ids is self._images else self._ids.take(idx),
            labels=self._labels.take(idx),
            splits=self._splits.take(idx),
            sources=self._sources.take(idx),
            prompts=self._prompts.take(idx),
            origins=self._origins.take(idx),
            tags=[tags[i] for i in idx.tolist()],
            metadata=self._metadata.take(idx),
            widths=self._widths[idx],
            heights=self._heights[idx],
            detections=self._dets.take(idx),
            classes=self.classes,
            skipped=self.skipped,
            info=self.info,
        )

    def mask(
        self,
        *,
        split: str | Iterable[str | None] | None = _MISSING,  # type: ignore[assignment]
        source: str | Iterable[str] = _MISSING,  # type: ignore[assignment]
        label: str | Iterable[str | None] | None = _MISSING,  # type: ignore[assignment]
        tag: str = _MISSING,  # type: ignore[assignment]
        metadata: dict[str, Any] | None = None,
    ) -> np.ndarray:
        """Boolean mask of samples matching every given field (see :meth:`filter`)."""
        m = np.ones(len(self), dtype=bool)
        if split is not _MISSING:
            m &= self._splits.mask(split)
        if source is not _MISSING:
            m &= self._sources.mask(source)
        if label is not _MISSING:
            m &= self._labels.mask(label)
        if tag is not _MISSING:
            m &= np.fromiter((tag in t for t in self._tags), dtype=bool, count=len(self))
        if metadata:
            for key, value in metadata.items():
                m &= np.fromiter(
                    (md is not None and md.get(key, _MISSING) == value for md in self._metadata),
                    dtype=bool,
                    count=len(self),
                )
        return m

    def filter(
        self,
        predicate: Callable[[Sample], bool] | None = None,
        **fields: Any,
    ) -> Dataset:
        """Samples matching ``predicate`` and/or fields.

        Field filters (vectorised): ``split``, ``source``, ``label`` (a value or a list of
        values), ``tag`` (samples carrying it) and ``metadata`` (a dict of key → value).

        Examples:
            >>> ds = Dataset.from_samples([Sample("a.jpg", label="1", tags=["review"]),
            ...                            Sample("b.jpg", label="2")], ".")
            >>> ds.filter(label=["2", "3"]).images, ds.filter(tag="review").images
            (['b.jpg'], ['a.jpg'])
            >>> ds.filter(lambda s: s.label == "1").images
            ['a.jpg']

        """
        unknown = set(fields) - {"split", "source", "label", "tag", "metadata"}
        if unknown:
            raise TypeError(f"unknown filter field(s) {sorted(unknown)}; expected split, source, label, tag, metadata")
        m = self.mask(**fields)
        if predicate is not None:
            idx = np.flatnonzero(m)
            keep = [i for i in idx.tolist() if predicate(self._sample(i))]
            return self.take(np.asarray(keep, dtype=np.int64))
        return self.take(np.flatnonzero(m))

    def map(self, fn: Callable[[Sample], Sample | None]) -> Dataset:
        """Apply ``fn`` to every sample; returning ``None`` drops the sample.

        Examples:
            >>> ds = Dataset.from_samples([Sample("a.jpg", label="7")], ".")
            >>> def tag_seven(s):
            ...     s.tags.append("seven")
            ...     return s
            >>> ds.map(tag_seven)[0].tags
            ['seven']

        """
        out = []
        for s in self:
            r = fn(s)
            if r is not None:
                if not isinstance(r, Sample):
                    raise TypeError(f"map function must return a Sample or None, got {type(r).__name__}")
                out.append(r)
        ds = Dataset.from_samples(out, self.root, classes=self.classes)
        ds.skipped = list(self.skipped)
        ds.info = dict(self.info)
        return ds

    def with_column(self, name: str, values: Sequence[Any]) -> Dataset:
        """A new dataset with one field set for every sample (the source is unchanged).

        ``name`` is ``label``, ``split``, ``source``, ``prompt``, ``tags`` (a list of tag lists)
        or ``metadata.<key>`` (``None`` removes the key). Use it to write split assignments,
        annotator answers or review tags back as a column.

        Examples:
            >>> ds = Dataset.from_samples([Sample("a.jpg"), Sample("b.jpg")], ".")
            >>> ds2 = ds.with_column("metadata.jersey_color", ["red", None])
            >>> ds2[0].metadata, ds2[1].metadata, ds[0].metadata
            ({'jersey_color': 'red'}, {}, {})
            >>> ds.with_column("split", ["train", "test"]).count_by("split")
            {'test': 1, 'train': 1}

        """
        if len(values) != len(self):
            raise ValueError(f"expected {len(self)} values for column {name!r}, got {len(values)}")
        new = self.take(np.arange(len(self)))
        if name in ("label", "split", "prompt", "source"):
            vals = list(values)
            if name == "source":
                bad = next((v for v in vals if v not in SOURCES), _MISSING)
                if bad is not _MISSING:
                    raise ValueError(f"expected source in {SOURCES}, got {bad!r}")
            if name == "label":
                bad = next((v for v in vals if v is not None and not isinstance(v, str)), _MISSING)
                if bad is not _MISSING:
                    raise ValueError(f"expected labels to be strings or None, got {bad!r}")
            col = Categorical.from_values(vals)
            setattr(
                new, {"label": "_labels", "split": "_splits", "prompt": "_prompts", "source": "_sources"}[name], col
            )
            if name == "split":  # rows no longer belong to the file they came from
                new._origins = Categorical.constant(None, len(new))
        elif name == "tags":
            new._tags = [tuple(t) if t else () for t in values]
        elif name.startswith("metadata."):
            key = name[len("metadata.") :]
            meta: list[dict[str, Any] | None] = []
            for md, v in zip(self._metadata, values, strict=True):
                if v is None:
                    if md and key in md:
                        md = {k: x for k, x in md.items() if k != key} or None
                    meta.append(md)
                else:
                    meta.append({**(md or {}), key: v})
            new._metadata = MetadataColumn.from_values(meta)
        else:
            raise KeyError(f"cannot set field {name!r}; expected label, split, source, prompt, tags or metadata.<key>")
        return new

    @staticmethod
    def concat(datasets: Sequence[Dataset]) -> Dataset:
        """Join datasets that share one root (ids that repeat get a ``#n`` suffix).

        Raises:
            ValueError: The datasets have different roots.

        """
        if not datasets:
            raise ValueError("concat needs at least one dataset")
        root = datasets[0].root
        for d in datasets[1:]:
            if d.root.resolve() != root.resolve():
                raise ValueError(
                    f"cannot concat datasets with different roots ({root} and {d.root}); "
                    "save one under the other's root first"
                )
        classes: list[str] | None = None
        if any(d.classes is not None for d in datasets):
            classes = []
            for d in datasets:
                for c in d.classes or []:
                    if c not in classes:
                        classes.append(c)
        return Dataset.from_columns(
            root=root,
            images=StringColumn.concat([d._images for d in datasets]),
            ids=StringColumn.concat([d._ids for d in datasets]),
            labels=Categorical.concat([d._labels for d in datasets]),
            splits=Categorical.concat([d._splits for d in datasets]),
            sources=Categorical.concat([d._sources for d in datasets]),
            prompts=Categorical.concat([d._prompts for d in datasets]),
            origins=Categorical.concat([d._origins for d in datasets]),
            tags=[x for d in datasets for x in d._tags],
            metadata=MetadataColumn.concat([d._metadata for d in datasets]),
            widths=np.concatenate([d._widths for d in datasets]),
            heights=np.concatenate([d._heights for d in datasets]),
            detections=DetectionColumns.concat([d._dets for d in datasets]),
            classes=classes,
            skipped=[s for d in datasets for s in d.skipped],
            info={k: v for d in reversed(datasets) for k, v in d.info.items()},
        )

    def __add__(self, other: Dataset) -> Dataset:
        return Dataset.concat([self, other])

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
