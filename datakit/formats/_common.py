"""Helpers shared by the format modules: class ids, image placement, where a sample came from, losses.

Every writer starts with :func:`begin_write` (image checks, header sizes, what the reader fixed)
and counts what its format cannot hold with :func:`common_losses`. Rules applied to boxes, sizes,
images and keys live in :mod:`datakit.formats._checks`.

Examples:
    >>> from datakit import Dataset, Sample
    >>> ds = Dataset.from_samples([Sample("train/a.jpg", label="7", split="train")], ".")
    >>> sample_where(ds, 0), split_relpath("train/a.jpg", "train")
    ('sample train/a.jpg', 'a.jpg')
    >>> located = ds.replace(metadata=[{"coco_id": 9}], info={LOCATOR: {"key": "coco_id", "name": "image id"}})
    >>> sample_where(located, 0)
    'image id 9'

"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from datakit.errors import FormatError, Skip, SkipLog

if TYPE_CHECKING:
    from datakit.dataset import Dataset

IMAGE_MODES = ("copy", "link", "symlink", "none")


@dataclass
class WriteResult:
    """What a writer produced and what the target format could not hold.

    Attributes:
        out: The output folder (or file).
        samples: Samples written.
        dropped: Field → number of samples (or objects) whose value the format cannot hold.
        skipped: Samples not written at all, and why.
        notes: Other things worth telling the user (full-image boxes written, boxes clipped,
            sizes taken from image headers, ...).
        renamed: Output path → source image, for images written under another name than their
            own (two sources with one name in a flat folder).

    """

    out: Path
    samples: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by ``convert --json``."""
        return {
            "out": str(self.out),
            "samples": self.samples,
            "dropped": dict(self.dropped),
            "skipped": [s.to_dict() for s in self.skipped],
            "notes": list(self.notes),
            "renamed": dict(self.renamed),
        }


def check_image_mode(images: str) -> None:
    """Raise ``ValueError`` unless ``images`` is a known placement mode."""
    if images not in IMAGE_MODES:
        raise ValueError(f"expected images to be one of {IMAGE_MODES}, got {images!r}")


def class_names(ds: Dataset, *, detections: bool | None = None) -> list[str]:
    """The one stable class list of a dataset: declared classes, else sorted labels.

    Labels that look like numbers sort numerically (``"0001"`` → id 0 before ``"0002"``), others
    alphabetically; the position in the list is the class id in every split and every format.

    Args:
        ds: The dataset.
        detections: Use detection labels (``True``), sample labels (``False``), or both (``None``).

    Examples:
        >>> from datakit import Dataset, Sample
        >>> ds = Dataset.from_samples([Sample("b.jpg", label="0002"), Sample("a.jpg", label="0001")], ".")
        >>> class_names(ds)
        ['0001', '0002']

    """
    from datakit.dataset import sort_labels

    c = ds.columns
    present: set[str] = set()
    if detections is not False:
        present |= {v for v, n in c.detections.labels.counts().items() if v is not None and n}
    if detections is not True:
        present |= {v for v, n in c.labels.counts().items() if v is not None and n}
    if ds.classes is not None:
        names = list(ds.classes)
        known = set(names)
        return names + [x for x in sort_labels(present) if x not in known]
    return sort_labels(present)


def covering_classes(declared: list[str] | None, *label_lists: Iterable[str | None]) -> list[str] | None:
    """A reader's class list that covers every label it loaded, of either kind.

    ``declared`` first (``None`` stays ``None`` when no label is present), then the labels
    outside it in :func:`~datakit.dataset.sort_labels` order. A dataset's ``classes`` must cover
    its sample labels and its detection labels: the native reader refuses any label outside it.

    Examples:
        >>> covering_classes(["ball"], ["23", None, "7"])
        ['ball', '7', '23']

    """
    from datakit.dataset import sort_labels

    present = {v for labels in label_lists for v in labels if v is not None}
    if declared is None and not present:
        return None
    names = list(declared or [])
    known = set(names)
    return names + [x for x in sort_labels(present) if x not in known]


def place_image(src: Path, dst: Path, mode: str) -> None:
    """Copy, hard-link or symlink ``src`` to ``dst`` (hard links fall back to a copy).

    Raises:
        ValueError: ``src`` is not a regular file (a pipe or ``/dev/zero`` would never end).

    """
    from datakit.paths import regular_file_problem

    why = regular_file_problem(src)
    if why is not None and why != "image not found":
        raise ValueError(f"{src}: {why}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if mode == "link":
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    elif mode == "symlink":
        os.symlink(os.path.abspath(src), dst)
        return
    shutil.copyfile(src, dst)


def begin_write(
    ds: Dataset, out: str | Path, images: str, strict: bool, *, exact: bool = False
) -> tuple[Dataset, SkipLog, WriteResult]:
    """What every writer does first: check ``images``, then the images it will copy or embed.

    With ``images != "none"`` every distinct image is checked once (:func:`~datakit.formats.
    _checks.check_images`): a missing, empty, truncated or unreadable image, or one whose real
    path leaves the dataset root, leaves its samples out (logged; an error when ``strict``), and
    the header size replaces a declared size it contradicts (counted; an error when ``exact``).
    With ``images="none"`` nothing is opened and declared sizes are trusted. What the reader
    fixed (``info["fixes"]``) becomes notes of the result.

    Returns:
        The dataset to write (without those samples, with header sizes), the skip log holding
        them, and a :class:`WriteResult` for ``out`` (its notes say what was fixed).

    Raises:
        ValueError: An unknown image mode.
        FormatError: A bad image when ``strict``, or a size mismatch when ``exact``.

    """
    from datakit.formats._checks import check_images, pop_fixes

    check_image_mode(images)
    log = SkipLog(strict=strict)
    ds, notes = pop_fixes(ds)
    result = WriteResult(out=Path(out), notes=notes)
    if images != "none" and len(ds):
        keep, widths, heights, fixes = check_images(ds, log, exact=exact)
        result.notes += [f"{n} {reason}" for reason, n in fixes.items()]
        ds = ds.replace(widths=widths, heights=heights)
        if not keep.all():
            ds = ds.take(np.flatnonzero(keep))
    return ds, log, result


def with_sizes(ds: Dataset) -> Dataset:
    """``ds`` with every unknown image size read from its header (a new dataset; ``ds`` unchanged).

    Raises:
        FormatError: An image is missing or unreadable (the message names it).

    """
    from datakit.formats._imagesize import fast_image_size

    c = ds.columns
    todo = np.flatnonzero((c.widths < 0) | (c.heights < 0)).tolist()
    if not todo:
        return ds
    widths, heights = np.array(c.widths), np.array(c.heights)
    for i in todo:
        try:
            widths[i], heights[i] = fast_image_size(ds.root / c.images[i])
        except (FileNotFoundError, ValueError) as e:
            raise FormatError(c.origins[i] or c.images[i], sample_where(ds, i), str(e)) from None
    return ds.replace(widths=widths, heights=heights)


LOCATOR = "locator"
"""Key of ``dataset.info`` where a reader says how to name a sample: ``{"key": <metadata key>, "name": ...}``."""


def sample_where(ds: Dataset, i: int) -> str:
    """How to name sample ``i`` in a message: the reader's own locator when it recorded one, else its id.

    A reader whose records have ids of their own (COCO image ids) keeps them in metadata and
    sets ``info["locator"] = {"key": "coco_id", "name": "image id"}``; messages then say
    ``image id 7``.
    """
    c = ds.columns
    loc = ds.info.get(LOCATOR)
    if isinstance(loc, dict):
        md = c.metadata[i]
        key = loc.get("key")
        if md and key in md:
            return f"{loc.get('name', key)} {md[key]}"
    return f"sample {c.ids[i]}"


def split_relpath(image: str, split: str | None) -> str:
    """An image's path inside its split folder: ``train/a.jpg`` → ``a.jpg`` for split train.

    Examples:
        >>> split_relpath("train/a.jpg", "train"), split_relpath("imgs/a.jpg", "train")
        ('a.jpg', 'imgs/a.jpg')

    """
    if split and image.startswith(split + "/"):
        return image[len(split) + 1 :]
    return image


def lost(counts: dict[str, int], key: str, n: int) -> None:
    """Add ``n`` to ``counts[key]`` when ``n`` is positive."""
    if n:
        counts[key] = counts.get(key, 0) + int(n)


def common_losses(
    ds: Dataset,
    *,
    labels: bool,
    detections: bool,
    metadata: bool,
    tags: bool,
    source: bool,
    prompt: bool,
    attributes: bool,
    scores: bool = True,
) -> dict[str, int]:
    """Count the samples (or objects) holding fields that a target format cannot store.

    Each keyword says whether the format *can* hold that field.
    """
    c = ds.columns
    d = c.detections
    out: dict[str, int] = {}
    if not labels:
        lost(out, "label", int((c.labels.codes >= 0).sum()))
    if not detections:
        lost(out, "detections", len(d))
    if not metadata:
        lost(out, "metadata", sum(1 for m in c.metadata if m))
    if not tags:
        lost(out, "tags", sum(1 for t in c.tags if t))
    if not source:
        src = c.sources.tolist()
        lost(out, "source", sum(1 for s in src if s not in (None, "real")))
    if not prompt:
        lost(out, "prompt", int((c.prompts.codes >= 0).sum()))
    if detections and not attributes:
        keys: dict[str, int] = {}
        for a in d.attributes:
            if a:
                for k in a:
                    keys[k] = keys.get(k, 0) + 1
        for k, n in sorted(keys.items()):
            lost(out, f"detections.attributes.{k}", n)
    if detections and not scores:
        lost(out, "detections.score", int((~np.isnan(d.scores)).sum()))
    return out


def bad_path(path: Path, where: int | str | None, reason: str) -> FormatError:
    """A :class:`FormatError` (kept as a helper so messages read the same in every reader)."""
    return FormatError(path, where, reason)


def rel_to(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, else the path as given."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
