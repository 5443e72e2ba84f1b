"""datakit: dataset engineering for sports computer vision.

Examples:
    >>> import datakit
    >>> ds = datakit.Dataset.from_samples([datakit.Sample("a.jpg", label="23")], root=".")
    >>> ds.count_by("label")
    {'23': 1}

"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datakit.dataset import Dataset
from datakit.errors import DatakitError, FormatError, PathEscapeError, Skip
from datakit.sample import SOURCES, Detection, Sample

__version__ = "0.1.0.dev0"

__all__ = [
    "SOURCES",
    "DatakitError",
    "Dataset",
    "Detection",
    "FormatError",
    "PathEscapeError",
    "Sample",
    "Skip",
    "__version__",
    "load",
]


def load(path: str | Path, *, format: str | None = None, **options: Any) -> Dataset:
    r"""Load a dataset from ``path`` in ``format`` (detected when ``None``).

    Args:
        path: Dataset folder or file.
        format: A name from :data:`datakit.formats.FORMATS`.
        **options: Passed to the format's reader (``strict``, ``classes``, ...).

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (root / "annotations.jsonl").write_text('{"image": "a.jpg", "suffix": "7"}\n')
        >>> load(root).count_by("label")
        {'7': 1}

    """
    from datakit import formats
    from datakit.atomic import recover

    if Path(path).is_dir():
        recover(path)  # finish (or undo) an in-place save a crash interrupted, before looking
    if format is None:
        format = formats.detect(path) if hasattr(formats, "detect") else "jsonl"
    return formats.get(format).read(path, **options)
