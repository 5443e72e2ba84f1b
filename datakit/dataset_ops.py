"""Row operations of a Dataset: selecting, filtering, mapping, setting a column, joining.

:class:`RowOps` is the part of :class:`~datakit.dataset.Dataset` that builds new datasets from the
rows of existing ones: :meth:`~RowOps.take`, :meth:`~RowOps.mask`, :meth:`~RowOps.filter`,
:meth:`~RowOps.map`, :meth:`~RowOps.with_column` and :meth:`~RowOps.concat` (``+``). Like
:class:`~datakit.dataset_io.FormatIO` it uses only the Dataset's public API (``columns``,
``from_columns``, ``replace``, rows by index), so the source dataset is never changed.

Examples:
    >>> from datakit import Dataset, Sample
    >>> ds = Dataset.from_samples([Sample("a.jpg", label="1"), Sample("b.jpg", label="2")], ".")
    >>> ds.take([1, 0]).images, (ds + ds).ids
    (['b.jpg', 'a.jpg'], ['a.jpg', 'b.jpg', 'a.jpg#2', 'b.jpg#2'])

"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from datakit.columns import Categorical, DetectionColumns, MetadataColumn, StringColumn
from datakit.sample import SOURCES, Sample

if TYPE_CHECKING:
    from datakit.dataset import Dataset

_MISSING = object()
_CATEGORICAL = {"label": "labels", "split": "splits", "prompt": "prompts", "source": "sources"}


class RowOps:
    """Row operations of :class:`~datakit.dataset.Dataset` (a mixin; see the module)."""

    def take(self, indices: Sequence[int] | np.ndarray) -> Dataset:
        """A new dataset of the rows at ``indices`` (in that order; negative indices count from the end).

        Raises:
            IndexError: An index out of range.

        """
        ds = cast("Dataset", self)
        n = len(ds)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(idx) and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"indices out of range for {n} samples")
        idx = idx % max(n, 1)
        c = ds.columns
        images = c.images.take(idx)
        return type(ds).from_columns(
            root=ds.root,
            images=images,
            ids=images if c.ids is c.images else c.ids.take(idx),
            labels=c.labels.take(idx),
            splits=c.splits.take(idx),
            sources=c.sources.take(idx),
            prompts=c.prompts.take(idx),
            origins=c.origins.take(idx),
            tags=[c.tags[i] for i in idx.tolist()],
            metadata=c.metadata.take(idx),
            widths=c.widths[idx],
            heights=c.heights[idx],
            detections=c.detections.take(idx),
            classes=ds.classes,
            skipped=ds.skipped,
            info=ds.info,
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
        ds = cast("Dataset", self)
        c = ds.columns
        n = len(ds)
        m = np.ones(n, dtype=bool)
        if split is not _MISSING:
            m &= c.splits.mask(split)
        if source is not _MISSING:
            m &= c.sources.mask(source)
        if label is not _MISSING:
            m &= c.labels.mask(label)
        if tag is not _MISSING:
            m &= np.fromiter((tag in t for t in c.tags), dtype=bool, count=n)
        if metadata:
            for key, value in metadata.items():
                m &= np.fromiter(
                    (md is not None and md.get(key, _MISSING) == value for md in c.metadata), dtype=bool, count=n
                )
        return m

    def filter(self, predicate: Callable[[Sample], bool] | None = None, **fields: Any) -> Dataset:
        """Samples matching ``predicate`` and/or fields.

        Field filters (vectorised): ``split``, ``source``, ``label`` (a value or a list of
        values), ``tag`` (samples carrying it) and ``metadata`` (a dict of key → value).

        Examples:
            >>> from datakit import Dataset, Sample
            >>> ds = Dataset.from_samples([Sample("a.jpg", label="1", tags=["review"]),
            ...                            Sample("b.jpg", label="2")], ".")
            >>> ds.filter(label=["2", "3"]).images, ds.filter(tag="review").images
            (['b.jpg'], ['a.jpg'])
            >>> ds.filter(lambda s: s.label == "1").images
            ['a.jpg']

        """
        ds = cast("Dataset", self)
        unknown = set(fields) - {"split", "source", "label", "tag", "metadata"}
        if unknown:
            raise TypeError(f"unknown filter field(s) {sorted(unknown)}; expected split, source, label, tag, metadata")
        m = ds.mask(**fields)
        if predicate is not None:
            keep = [i for i in np.flatnonzero(m).tolist() if predicate(ds[i])]
            return ds.take(np.asarray(keep, dtype=np.int64))
        return ds.take(np.flatnonzero(m))

    def map(self, fn: Callable[[Sample], Sample | None]) -> Dataset:
        """Apply ``fn`` to every sample; returning ``None`` drops the sample.

        Examples:
            >>> from datakit import Dataset, Sample
            >>> ds = Dataset.from_samples([Sample("a.jpg", label="7")], ".")
            >>> def tag_seven(s):
            ...     s.tags.append("seven")
            ...     return s
            >>> ds.map(tag_seven)[0].tags
            ['seven']

        """
        ds = cast("Dataset", self)
        out = []
        for s in ds:
            r = fn(s)
            if r is not None:
                if not isinstance(r, Sample):
                    raise TypeError(f"map function must return a Sample or None, got {type(r).__name__}")
                out.append(r)
        ds = type(ds).from_samples(out, ds.root, classes=ds.classes)
        ds.skipped = list(ds.skipped)
        ds.info = dict(ds.info)
        return ds

    def with_column(self, name: str, values: Sequence[Any]) -> Dataset:
        """A new dataset with one field set for every sample (the source is unchanged).

        ``name`` is ``label``, ``split``, ``source``, ``prompt``, ``tags`` (a list of tag lists)
        or ``metadata.<key>`` (``None`` removes the key). Use it to write split assignments,
        annotator answers or review tags back as a column.

        Raises:
            ValueError: Not one value per sample, or a value the field does not take.
            KeyError: A field that cannot be set.

        Examples:
            >>> from datakit import Dataset, Sample
            >>> ds = Dataset.from_samples([Sample("a.jpg"), Sample("b.jpg")], ".")
            >>> ds2 = ds.with_column("metadata.jersey_color", ["red", None])
            >>> ds2[0].metadata, ds2[1].metadata, ds[0].metadata
            ({'jersey_color': 'red'}, {}, {})
            >>> ds.with_column("split", ["train", "test"]).count_by("split")
            {'test': 1, 'train': 1}

        """
        ds = cast("Dataset", self)
        n = len(ds)
        if len(values) != n:
            raise ValueError(f"expected {n} values for column {name!r}, got {len(values)}")
        if name in _CATEGORICAL:
            vals = list(values)
            if name == "source":
                bad = next((v for v in vals if v not in SOURCES), _MISSING)
                if bad is not _MISSING:
                    raise ValueError(f"expected source in {SOURCES}, got {bad!r}")
            if name == "label":
                bad = next((v for v in vals if v is not None and not isinstance(v, str)), _MISSING)
                if bad is not _MISSING:
                    raise ValueError(f"expected labels to be strings or None, got {bad!r}")
            changes: dict[str, Any] = {_CATEGORICAL[name]: Categorical.from_values(vals)}
            if name == "split":  # rows no longer belong to the file they came from
                changes["origins"] = Categorical.constant(None, n)
            return ds.replace(**changes)
        if name == "tags":
            return ds.replace(tags=[tuple(t) if t else () for t in values])
        if name.startswith("metadata."):
            key = name[len("metadata.") :]
            meta: list[dict[str, Any] | None] = []
            for md, v in zip(ds.columns.metadata, values, strict=True):
                if v is None:
                    if md and key in md:
                        md = {k: x for k, x in md.items() if k != key} or None
                    meta.append(md)
                else:
                    meta.append({**(md or {}), key: v})
            return ds.replace(metadata=MetadataColumn.from_values(meta))
        raise KeyError(f"cannot set field {name!r}; expected label, split, source, prompt, tags or metadata.<key>")

    @staticmethod
    def concat(datasets: Sequence[Dataset]) -> Dataset:
        """Join datasets that share one root (ids that repeat get a ``#n`` suffix).

        Raises:
            ValueError: No datasets, or datasets with different roots.

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
                for name in d.classes or []:
                    if name not in classes:
                        classes.append(name)
        cols = [d.columns for d in datasets]
        return type(datasets[0]).from_columns(
            root=root,
            images=StringColumn.concat([c.images for c in cols]),
            ids=StringColumn.concat([c.ids for c in cols]),
            labels=Categorical.concat([c.labels for c in cols]),
            splits=Categorical.concat([c.splits for c in cols]),
            sources=Categorical.concat([c.sources for c in cols]),
            prompts=Categorical.concat([c.prompts for c in cols]),
            origins=Categorical.concat([c.origins for c in cols]),
            tags=[x for c in cols for x in c.tags],
            metadata=MetadataColumn.concat([c.metadata for c in cols]),
            widths=np.concatenate([c.widths for c in cols]),
            heights=np.concatenate([c.heights for c in cols]),
            detections=DetectionColumns.concat([c.detections for c in cols]),
            classes=classes,
            skipped=[s for d in datasets for s in d.skipped],
            info={k: v for d in reversed(datasets) for k, v in d.info.items()},
        )

    def __add__(self, other: Dataset) -> Dataset:
        ds = cast("Dataset", self)
        return ds.concat([ds, other])
