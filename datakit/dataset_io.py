"""Reading and writing a Dataset through the format registry.

:class:`FormatIO` is the part of :class:`~datakit.dataset.Dataset` that goes to files:
:meth:`~FormatIO.read` and :meth:`~FormatIO.write` for every registered format
(:mod:`datakit.formats.registry`), typed ``from_<format>``/``to_<format>`` methods for the first
five and the rest found in the registry at run time (:class:`DatasetType` on the class,
``__getattr__`` on instances), :meth:`~FormatIO.save` (native JSONL) and
:meth:`~FormatIO.split`. It uses only the Dataset's public API.

Examples:
    >>> from datakit import Dataset, Sample
    >>> ds = Dataset.from_samples([Sample("a.jpg", label="7", split="train")], ".")
    >>> callable(ds.to_voc), callable(Dataset.from_voc)
    (True, True)

"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from datakit.dataset import Dataset


def _format(name: str) -> Any:
    """The registered format ``name`` (or ``None``), for ``from_<name>``/``to_<name>``."""
    from datakit.formats import registry

    try:
        return registry.get(name)
    except ValueError:
        return None


class DatasetType(type):
    """The Dataset's metaclass: ``Dataset.from_<format>`` for every registered format."""

    if not TYPE_CHECKING:  # mypy keeps checking attribute names; these exist at run time

        def __getattr__(cls, name: str) -> Any:
            fmt = _format(name[len("from_") :]) if name.startswith("from_") else None
            if fmt is None:
                raise AttributeError(f"type object {cls.__name__!r} has no attribute {name!r}")

            def reader(path: str | Path, **options: Any) -> Dataset:
                return cls.read(path, fmt.name, **options)

            reader.__name__ = reader.__qualname__ = name
            reader.__doc__ = f"Read {fmt.summary}; see :func:`{fmt.module}.read`."
            return reader


class FormatIO:
    """Format input and output of :class:`~datakit.dataset.Dataset` (a mixin; see the module)."""

    root: Path

    @classmethod
    def from_jsonl(
        cls,
        path: str | Path,
        *,
        classes: list[str] | None = None,
        strict: bool = False,
    ) -> Dataset:
        """Read the native JSONL layout; see :func:`datakit.formats.jsonl.read`."""
        from datakit.formats import jsonl

        return jsonl.read(path, classes=classes, strict=strict)

    @classmethod
    def from_coco(cls, path: str | Path, **options: Any) -> Dataset:
        """Read a COCO JSON file or a Roboflow/RF-DETR COCO folder; see :func:`datakit.formats.coco.read`.

        Examples:
            >>> import json, pathlib, tempfile
            >>> from datakit import Dataset
            >>> d = pathlib.Path(tempfile.mkdtemp())
            >>> coco = {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}],
            ...         "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [4, 4, 10, 20]}],
            ...         "categories": [{"id": 3, "name": "ball"}]}
            >>> _ = (d / "instances.json").write_text(json.dumps(coco))
            >>> Dataset.from_coco(d / "instances.json").count_by("detections.label")
            {'ball': 1}

        """
        return cls.read(path, "coco", **options)

    @classmethod
    def from_yolo(cls, path: str | Path, **options: Any) -> Dataset:
        """Read an Ultralytics YOLO dataset (folder or ``data.yaml``); see :func:`datakit.formats.yolo.read`."""
        return cls.read(path, "yolo", **options)

    @classmethod
    def from_imagefolder(cls, path: str | Path, **options: Any) -> Dataset:
        """Read ``[<split>/]<class>/image`` folders; see :func:`datakit.formats.imagefolder.read`."""
        return cls.read(path, "imagefolder", **options)

    @classmethod
    def from_hf(cls, path: str | Path, **options: Any) -> Dataset:
        """Read a Hugging Face parquet dataset folder; see :func:`datakit.formats.hf.read`."""
        return cls.read(path, "hf", **options)

    @classmethod
    def read(cls, path: str | Path, format: str | None = None, **options: Any) -> Dataset:
        """Read a dataset in any registered format (detected when ``format`` is ``None``).

        Examples:
            >>> import pathlib, tempfile
            >>> from datakit import Dataset, Sample
            >>> d = pathlib.Path(tempfile.mkdtemp())
            >>> _ = Dataset.from_samples([Sample("a.jpg", label="7")], d).save(d, images="none")
            >>> len(Dataset.read(d))
            1

        """
        from datakit import formats

        return formats.get(format or formats.detect(path)).read(path, **options)

    def write(self, out: str | Path, format: str, **options: Any) -> Any:
        """Write the dataset in a registered format (``to_<format>`` is the same).

        Returns the :class:`~datakit.formats._common.WriteResult` listing what was written,
        skipped and what the format could not hold. (:meth:`save` writes native JSONL and
        returns the folder.)

        Examples:
            >>> import pathlib, tempfile
            >>> from datakit import Dataset, Sample
            >>> out = pathlib.Path(tempfile.mkdtemp()) / "yolo"
            >>> ds = Dataset.from_samples([Sample("a.jpg", label="7", split="train")], ".")
            >>> ds.write(out, "yolo", images="none").samples
            1

        """
        from datakit import formats

        return formats.get(format).write(cast("Dataset", self), out, **options)

    if not TYPE_CHECKING:  # mypy keeps checking attribute names; these exist at run time

        def __getattr__(self, name: str) -> Any:
            fmt = _format(name[len("to_") :]) if name.startswith("to_") else None
            if fmt is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

            def writer(out: str | Path, **options: Any) -> Any:
                return self.write(out, fmt.name, **options)

            writer.__name__ = writer.__qualname__ = name
            writer.__doc__ = f"Write {fmt.summary}; see :func:`{fmt.module}.write`."
            return writer

    def __dir__(self) -> list[str]:
        from datakit.formats import registry

        return sorted({*super().__dir__(), *(f"to_{n}" for n in registry.names())})

    def to_coco(self, out: str | Path, **options: Any) -> Any:
        """Write COCO (Roboflow layout by default); see :func:`datakit.formats.coco.write`."""
        return self.write(out, "coco", **options)

    def to_yolo(self, out: str | Path, **options: Any) -> Any:
        """Write the Ultralytics YOLO layout; see :func:`datakit.formats.yolo.write`."""
        return self.write(out, "yolo", **options)

    def to_imagefolder(self, out: str | Path, **options: Any) -> Any:
        """Write ``<split>/<class>/image`` folders; see :func:`datakit.formats.imagefolder.write`."""
        return self.write(out, "imagefolder", **options)

    def to_hf(self, out: str | Path, **options: Any) -> Any:
        """Write Hugging Face parquet shards with embedded images; see :func:`datakit.formats.hf.write`."""
        return self.write(out, "hf", **options)

    def to_vlm_jsonl(self, out: str | Path, **options: Any) -> Any:
        """Write plain ``{"image", "prefix", "suffix"}`` rows for VLM fine-tuning.

        See :func:`datakit.formats._plain.write` (``prompt=``, ``images=``, ``strict=``).
        """
        from datakit.formats import _plain

        return _plain.write(cast("Dataset", self), out, **options)

    def split(self, **options: Any) -> Any:
        """Re-split stratified and grouped; returns a :class:`~datakit.splits.SplitResult`.

        Examples:
            >>> from datakit import Dataset, Sample
            >>> ds = Dataset.from_samples([Sample(f"{i}.jpg", label=str(i % 2)) for i in range(10)], ".")
            >>> ds.split(ratios=(0.8, 0.2), names=("train", "valid"), seed=0).counts
            {'train': 8, 'valid': 2}

        """
        from datakit.splits import split

        return split(cast("Dataset", self), **options)

    def save(
        self,
        path: str | Path | None = None,
        *,
        images: str = "copy",
        shards: int | None = None,
    ) -> Path:
        """Write the dataset as native JSONL, atomically; see :func:`datakit.formats.jsonl.write`.

        ``shards=N`` cuts every annotation file into ``N`` shard files a cluster can process apart.
        """
        from datakit.formats import jsonl

        return jsonl.write(cast("Dataset", self), self.root if path is None else path, images=images, shards=shards)
