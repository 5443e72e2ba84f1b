"""Where a Pascal VOC folder keeps its files, and how datakit maps VOC split names.

Examples:
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "Annotations").mkdir()
    >>> looks_like(d)
    False
    >>> _ = (d / "Annotations" / "a.xml").write_text("<annotation/>")
    >>> looks_like(d), SPLIT_FROM_FILE["val"], SPLIT_TO_FILE["valid"]
    (True, 'valid', 'val')

"""

from __future__ import annotations

from pathlib import Path

LAYOUTS = (("Annotations", "JPEGImages"), ("labels", "data"))
"""``(annotation folder, image folder)`` pairs read: the VOC devkit's, then FiftyOne's."""
IMAGE_SETS = "ImageSets/Main"
"""Folder of the split lists."""
LABELS_FILE = "labels.txt"
"""Declared classes, one per line (datakit's; VOC itself has no class file)."""
SPLIT_FROM_FILE = {"train": "train", "val": "valid", "test": "test"}
"""Split list name → datakit split (other names are kept as they are)."""
SPLIT_TO_FILE = {"valid": "val", "val": "val", "validation": "val"}
"""datakit split → split list name (other names are kept as they are)."""
STANDARD_ATTRIBUTES = ("pose", "truncated", "difficult", "occluded")
"""Object elements of the VOC devkit besides ``name`` and ``bndbox``."""
EXTRA = "datakit"
"""Element holding, as JSON, what VOC has no element for."""


def find_layout(root: Path) -> tuple[str, str] | None:
    """``(annotation folder, image folder)`` of a VOC folder, or ``None``."""
    for ann, img in LAYOUTS:
        folder = root / ann
        if folder.is_dir() and any(p.suffix.lower() == ".xml" for p in folder.iterdir()):
            return ann, img
    return None


def looks_like(path: Path) -> bool:
    """Whether ``path`` is a VOC folder (``Annotations/*.xml``, or ``labels/*.xml`` beside ``data/``)."""
    found = find_layout(path)
    return found is not None and (found[0] == "Annotations" or (path / found[1]).is_dir())
