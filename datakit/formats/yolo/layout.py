"""The YOLO layout: ``data.yaml`` names, class names, and where an image's label file is.

Examples:
    >>> label_path("train/images/a.jpg"), label_path("a.png")
    ('train/labels/a.txt', 'a.txt')

"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datakit.errors import FormatError

if TYPE_CHECKING:
    pass

YAML_NAMES = ("data.yaml", "data.yml", "dataset.yaml", "dataset.yml")
"""File names looked for in a YOLO folder, in order."""

IO_THREADS = 2
"""Threads reading image headers and label files."""

COORD_TOLERANCE = 1e-6
"""Normalised coordinates may exceed [0, 1] by this much (float printing)."""

SPLIT_KEYS = {"train": "train", "valid": "val", "val": "val", "validation": "val", "test": "test"}
"""datakit split → the data.yaml key it is written under."""


def find_yaml(path: str | Path) -> Path | None:
    """The dataset YAML of a YOLO folder (or ``path`` itself when it is a YAML file)."""
    path = Path(path)
    if path.is_file():
        return path if path.suffix in (".yaml", ".yml") else None
    for name in YAML_NAMES:
        if (path / name).is_file():
            return path / name
    return None


def yaml_class_names(yaml_path: Path, raw: Any) -> list[str]:
    """The class names of a ``data.yaml`` ``names`` entry: a list, or a dict of contiguous ids from 0."""
    if isinstance(raw, list) and raw:
        return [str(x) for x in raw]
    if isinstance(raw, dict) and raw:
        try:
            ids = sorted(int(k) for k in raw)
        except (TypeError, ValueError):
            raise FormatError(yaml_path, "names", "expected integer class ids as keys") from None
        if ids != list(range(len(ids))):
            raise FormatError(yaml_path, "names", f"expected class ids 0..{len(ids) - 1}, got {ids}")
        by_id = {int(k): str(v) for k, v in raw.items()}
        return [by_id[i] for i in range(len(ids))]
    raise FormatError(yaml_path, "names", f"expected a list or a dict of class names, got {raw!r}")


def label_path(image: str) -> str:
    """Ultralytics' rule: the last ``/images/`` becomes ``/labels/``, the suffix ``.txt``."""
    head, sep, tail = ("/" + image).rpartition("/images/")
    stem = f"{head}/labels/{tail}"[1:] if sep else image
    return os.path.splitext(stem)[0] + ".txt"
