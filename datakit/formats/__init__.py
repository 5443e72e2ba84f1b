"""Dataset formats, one module per format, looked up by name.

Each format module provides ``read(path, **options) -> Dataset`` and
``write(dataset, out, **options)``. Modules are imported only when first used, so
``import datakit`` stays light. :func:`detect` names the format of a path.

Examples:
    >>> sorted(FORMATS)
    ['coco', 'hf', 'imagefolder', 'jsonl', 'yolo']
    >>> get("jsonl").__name__
    'datakit.formats.jsonl'

"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

FORMATS: dict[str, str] = {
    "jsonl": "datakit.formats.jsonl",
    "coco": "datakit.formats.coco",
    "yolo": "datakit.formats.yolo",
    "imagefolder": "datakit.formats.imagefolder",
    "hf": "datakit.formats.hf",
}
"""Format name → module path."""

ALIASES: dict[str, str] = {
    "huggingface": "hf",
    "ultralytics": "yolo",
    "image-folder": "imagefolder",
    "roboflow-coco": "coco",
}
"""Other names accepted by :func:`get`."""


def get(name: str) -> ModuleType:
    """The module implementing format ``name``.

    Raises:
        ValueError: Unknown format (the message lists the known ones).

    """
    try:
        module = FORMATS[ALIASES.get(name, name)]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; expected one of {sorted(FORMATS)}") from None
    return importlib.import_module(module)


def _has_jsonl(path: Path) -> bool:
    """Whether any ``.jsonl`` file lies under ``path`` (the places the native reader looks)."""
    for _, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        if any(f.endswith(".jsonl") and not f.startswith((".", "_")) for f in filenames):
            return True
    return False


def detect(path: str | Path) -> str:
    r"""Name the format of a dataset file or folder.

    Files: ``.json`` → ``coco``, ``.jsonl`` → ``jsonl``, ``.yaml``/``.yml`` → ``yolo``,
    ``.parquet`` → ``hf``. Folders: a ``datakit.json`` manifest or ``.jsonl`` files → ``jsonl``;
    a YOLO ``data.yaml`` → ``yolo``; ``_annotations.coco.json`` (at the top or in split
    folders) or ``annotations/instances_*.json`` → ``coco``; a ``README.md`` card with
    ``configs:`` or parquet shards → ``hf``; class folders of images → ``imagefolder``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FormatError: The format cannot be told (the message says what was looked for).

    Examples:
        >>> import pathlib, tempfile
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "data.yaml").write_text("names: [ball]\n")
        >>> detect(d), detect(d / "data.yaml")
        ('yolo', 'yolo')

    """
    from datakit.errors import FormatError

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"dataset not found: {p}")
    if p.is_file():
        by_suffix = {".json": "coco", ".jsonl": "jsonl", ".yaml": "yolo", ".yml": "yolo", ".parquet": "hf"}
        fmt = by_suffix.get(p.suffix.lower())
        if fmt is None:
            raise FormatError(p, None, f"cannot tell the format from the suffix {p.suffix!r}; pass --from/format=")
        return fmt
    from datakit.formats.coco import COCO_FILE
    from datakit.formats.yolo import find_yaml

    if (p / "datakit.json").is_file():
        return "jsonl"
    if find_yaml(p) is not None:
        return "yolo"
    if (p / COCO_FILE).is_file() or any((c / COCO_FILE).is_file() for c in p.iterdir() if c.is_dir()):
        return "coco"
    if any((p / "annotations").glob("instances_*.json")):
        return "coco"
    card = p / "README.md"
    if (
        (card.is_file() and "configs:" in card.read_text(encoding="utf-8", errors="replace"))
        or any(p.glob("*.parquet"))
        or any(p.glob("data/*.parquet"))
    ):
        return "hf"
    if _has_jsonl(p):
        return "jsonl"
    if len([j for j in p.glob("*.json")]) == 1:
        return "coco"
    from datakit.formats.imagefolder import looks_like

    if looks_like(p):
        return "imagefolder"
    raise FormatError(
        p,
        None,
        "cannot tell the format: no .jsonl, data.yaml, _annotations.coco.json, parquet shards "
        "or class folders found; pass --from/format=",
    )
