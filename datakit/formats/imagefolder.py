"""ImageFolder: ``<split>/<class>/<image>`` (or ``<class>/<image>`` without splits), for classifiers.

The class of an image is the name of its folder; the class list is the sorted set of folder
names over every split (numbers in numeric order), so one class id mapping serves every split.

Examples:
    >>> import pathlib, tempfile
    >>> from datakit import Dataset, Sample
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> ds = Dataset.from_samples([Sample("x/a.jpg", label="7", split="train")], d)
    >>> r = write(ds, d / "folder", images="none")
    >>> r.samples, r.notes[-1]
    (1, '1 classes')

"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING

from datakit.atomic import atomic_dir
from datakit.builder import DatasetBuilder
from datakit.errors import FormatError, SkipLog
from datakit.formats._common import (
    WriteResult,
    begin_write,
    class_names,
    common_losses,
    place_image,
    sample_where,
)
from datakit.images import IMAGE_EXTENSIONS

if TYPE_CHECKING:
    from datakit.dataset import Dataset

SPLIT_NAMES = frozenset({"train", "valid", "val", "validation", "test"})
"""Top-level folder names that mark the split level."""


def _images_in(folder: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        for name in sorted(filenames):
            if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith("."):
                out.append((Path(dirpath) / name).relative_to(folder).as_posix())
    return out


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def looks_like(path: Path) -> bool:
    """Whether ``path`` is a folder of class folders (optionally under split folders)."""
    if not path.is_dir():
        return False
    tops = _subdirs(path)
    if not tops:
        return False
    level = tops
    if all(t.name in SPLIT_NAMES for t in tops):
        level = [c for t in tops for c in _subdirs(t)]
    return bool(level) and any(
        f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS for c in level[:5] for f in c.iterdir()
    )


def read(path: str | Path, *, classes: list[str] | None = None, strict: bool = False) -> Dataset:
    """Read ``<split>/<class>/<image>`` (when every top folder is a split name) or ``<class>/<image>``.

    Images in nested folders below a class folder belong to that class. Images directly under
    the root or a split folder have no class and are skipped (reported).

    Args:
        path: The root folder.
        classes: Declared classes; an image in a folder outside it is skipped (reported).
        strict: Raise :class:`~datakit.errors.FormatError` on the first skip instead.

    Returns:
        A classification dataset; ``classes`` is the sorted set of class folder names.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FormatError: ``path`` is not a folder of class folders.

    Examples:
        >>> import pathlib, tempfile
        >>> from PIL import Image
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> (d / "train" / "0002").mkdir(parents=True); (d / "train" / "0001").mkdir()
        >>> Image.new("RGB", (4, 4)).save(d / "train" / "0002" / "a.png")
        >>> Image.new("RGB", (4, 4)).save(d / "train" / "0001" / "b.png")
        >>> ds = read(d)
        >>> ds.classes, [(s.image, s.label, s.split) for s in ds]
        (['0001', '0002'], [('train/0001/b.png', '0001', 'train'), ('train/0002/a.png', '0002', 'train')])

    """
    from datakit.dataset import sort_labels

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset not found: {path}")
    if not path.is_dir():
        raise FormatError(path, None, "expected a folder of class folders")
    tops = _subdirs(path)
    if not tops:
        raise FormatError(path, None, "expected class folders (or split/class folders), found none")
    with_splits = all(t.name in SPLIT_NAMES for t in tops)
    log = SkipLog(strict=strict)
    allowed = set(classes) if classes is not None else None
    b = DatasetBuilder()
    found: set[str] = set()
    levels = [(t.name, t) for t in tops] if with_splits else [(None, path)]
    for split, folder in levels:
        prefix = f"{split}/" if split else ""
        for f in sorted(p.name for p in folder.iterdir() if p.is_file()):
            if f.lower().endswith(IMAGE_EXTENSIONS):
                log.add(prefix + f, None, "image outside any class folder", prefix + f)
        for cdir in _subdirs(folder):
            label = cdir.name
            if allowed is not None and label not in allowed:
                for rel in _images_in(cdir):
                    log.add(f"{prefix}{label}/{rel}", None, f"class folder {label!r} is not a declared class")
                continue
            found.add(label)
            for rel in _images_in(cdir):
                b.add(f"{prefix}{label}/{rel}", label=label, split=split)
    names = list(classes) if classes is not None else sort_labels(found)
    return b.build(path, classes=names, skipped=log.items)


def _safe_class(label: str) -> bool:
    return (
        bool(label)
        and "/" not in label
        and "\\" not in label
        and label not in (".", "..")
        and not label.startswith(".")
        and "\x00" not in label
    )


def write(ds: Dataset, out: str | Path, *, images: str = "copy", strict: bool = True) -> WriteResult:
    """Write ``<split>/<class>/<image>`` (``<class>/<image>`` when no sample has a split).

    Unlabeled samples, and labels that cannot be folder names, are skipped and reported; so are
    the fields the layout cannot hold (detections, metadata, tags, source, prompt). File names
    that collide inside one class folder get the source folders prefixed (``synthetic__a.png``).

    Args:
        ds: The dataset.
        out: Output folder (replaced once complete).
        images: ``"copy"``, ``"link"`` (hard links), ``"symlink"`` or ``"none"``.
        strict: Raise on a missing image; otherwise skip that sample and report it.

    Returns:
        What was written, skipped and dropped.

    Raises:
        FormatError: A missing image (``strict``).

    """
    ds, log, result = begin_write(ds, out, images, strict)
    out = result.out
    result.dropped = common_losses(
        ds, labels=True, detections=False, metadata=False, tags=False, source=False, prompt=False, attributes=False
    )
    skips = SkipLog(strict=False)
    c = ds.columns
    any_split = any(s is not None for s in c.splits.values)
    targets: dict[str, str] = {}
    used: set[str] = set()
    written = 0
    labels, images_, splits = c.labels.tolist(), c.images, c.splits.tolist()
    for i in range(len(ds)):
        label = labels[i]
        src = images_[i]
        origin = c.origins[i] or src
        if label is None:
            skips.add(origin, sample_where(ds, i), "no label: ImageFolder cannot hold it", src)
            continue
        if not _safe_class(label):
            skips.add(origin, sample_where(ds, i), f"label {label!r} cannot be a folder name", src)
            continue
        split = splits[i]
        folder = f"{split or 'unsplit'}/{label}" if any_split else label
        name = posixpath.basename(src)
        dst = f"{folder}/{name}"
        if dst in used and targets.get(dst) != src:
            dst = f"{folder}/{src.replace('/', '__')}"
            k = 2
            while dst in used and targets.get(dst) != src:
                stem, ext = os.path.splitext(src.replace("/", "__"))
                dst = f"{folder}/{stem}_{k}{ext}"
                k += 1
        used.add(dst)
        targets[dst] = src
        written += 1
    with atomic_dir(out) as tmp:
        if images != "none":
            for dst, src in targets.items():
                place_image(ds.root / src, tmp / dst, images)
        else:
            for dst in targets:
                (tmp / posixpath.dirname(dst)).mkdir(parents=True, exist_ok=True)
    if images == "none":
        result.notes.append('annotations only (images="none"): the layout needs the image files to mean anything')
    names = class_names(ds, detections=False)
    result.notes.append(f"{len(names)} classes")
    result.samples = written
    result.skipped = log.items + skips.items
    return result


# ----------------------------------------------------------------- registration (datakit.formats.registry)
from datakit.formats.registry import Detect, Format  # noqa: E402

FORMAT = Format(
    name="imagefolder",
    summary="ImageFolder: [<split>/]<class>/<image> folders, for classifiers",
    read=read,
    write=write,
    detect=(Detect(10, looks_like, "class folders of images"),),
    aliases=("image-folder",),
    cannot_hold=("detections", "metadata", "tags", "source", "prompt"),
)
