"""The COCO layout: file names, the keys datakit owns in images and annotations, and discovery.

Examples:
    >>> import json, pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "train").mkdir()
    >>> _ = (d / "train" / COCO_FILE).write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    >>> [(p.name, split) for p, split, _ in discover(d)[1]]
    [('_annotations.coco.json', 'train')]

"""

from __future__ import annotations

from pathlib import Path

from datakit.errors import FormatError

COCO_FILE = "_annotations.coco.json"
"""The per-split file name of the Roboflow / RF-DETR layout."""

IMAGE_KEYS = ("id", "file_name", "width", "height")
"""The image keys COCO defines."""
DK_KEYS = ("label", "tags", "source", "prefix")
"""Sample fields datakit writes as image keys."""
OWNED_IMAGE = (*IMAGE_KEYS, *DK_KEYS, "coco_id")
"""Image keys the writer sets: metadata of these names is written as ``attr_<key>``."""
OWNED_ANN = ("id", "image_id", "category_id", "bbox", "coco_id")
"""Annotation keys the writer sets: attributes of these names are written as ``attr_<key>``."""
COCO_LOCATOR = {"key": "coco_id", "name": "image id"}
"""How a skip names a COCO image: by its ``coco_id``."""
OWNED_IMAGE_W = (*IMAGE_KEYS, *DK_KEYS, "category_id")
"""Image keys the writer itself writes."""
OWNED_ANN_W = ("id", "image_id", "category_id", "bbox")
"""Annotation keys the writer itself writes."""


def discover(path: str | Path, images: str | Path | None = None) -> tuple[Path, list[tuple[Path, str, str | None]]]:
    """Return ``(root, [(json_file, image_folder_relative_to_root, split), ...])``.

    Args:
        path: A COCO JSON file, or a folder in the Roboflow layout.
        images: Folder the ``file_name`` paths are relative to (a single file only).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FormatError: A folder without any COCO JSON file.

    Examples:
        >>> import pathlib, tempfile
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> (d / "train").mkdir()
        >>> _ = (d / "train" / COCO_FILE).write_text("{}")
        >>> root, files = discover(d)
        >>> [(f.name, base, split) for f, base, split in files]
        [('_annotations.coco.json', 'train', 'train')]

    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset not found: {path}")
    if path.is_file():
        root = Path(images) if images is not None else path.parent
        if not root.is_dir():
            raise FileNotFoundError(f"image folder not found: {root}")
        return root, [(path, "", None)]
    found: list[tuple[Path, str, str | None]] = []
    if (path / COCO_FILE).is_file():
        found.append((path / COCO_FILE, "", None))
    for sub in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if (sub / COCO_FILE).is_file():
            found.append((sub / COCO_FILE, sub.name, sub.name))
    annotations = path / "annotations"
    if not found and images is None and annotations.is_dir():
        # COCO's own layout: annotations/instances_<name>.json beside the image folder <name>/.
        for f in sorted(annotations.glob("instances_*.json")):
            name = f.stem[len("instances_") :]
            found.append((f, name if (path / name).is_dir() else "", name or None))
        if found:
            return path, found
    if not found:
        candidates = sorted(p for p in path.glob("*.json") if p.name != "datakit.json")
        candidates += sorted((path / "annotations").glob("*.json")) if (path / "annotations").is_dir() else []
        if len(candidates) == 1:
            return discover(candidates[0], images if images is not None else path)
        raise FormatError(path, None, f"no COCO file ({COCO_FILE} or one *.json) found under this folder")
    root = Path(images) if images is not None else path
    return root, found
