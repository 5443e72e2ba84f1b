"""Helpers shared by the format modules: class ids, image placement, and what a writer dropped."""

from __future__ import annotations

import os
import shutil
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
        notes: Other things worth telling the user (full-image boxes written, ...).

    """

    out: Path
    samples: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by ``convert --json``."""
        return {
            "out": str(self.out),
            "samples": self.samples,
            "dropped": dict(self.dropped),
            "skipped": [s.to_dict() for s in self.skipped],
            "notes": list(self.notes),
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

    if ds.classes is not None:
        names = list(ds.classes)
        extra = set()
        if detections is not False:
            extra |= {v for v, n in ds._dets.labels.counts().items() if v is not None and n}
        if detections is not True:
            extra |= {v for v, n in ds._labels.counts().items() if v is not None and n}
        return names + [c for c in sort_labels(extra) if c not in set(names)]
    present: set[str] = set()
    if detections is not False:
        present |= {v for v, n in ds._dets.labels.counts().items() if v is not None and n}
    if detections is not True:
        present |= {v for v, n in ds._labels.counts().items() if v is not None and n}
    return sort_labels(present)


def place_image(src: Path, dst: Path, mode: str) -> None:
    """Copy, hard-link or symlink ``src`` to ``dst`` (hard links fall back to a copy)."""
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


def missing_images(ds: Dataset, log: SkipLog) -> np.ndarray:
    """Boolean keep-mask: ``False`` for samples whose image file is missing (each one logged).

    In strict mode the first missing image raises :class:`~datakit.errors.FormatError` naming
    the annotation file the sample came from and its id.
    """
    keep = np.ones(len(ds), dtype=bool)
    root = ds.root
    isfile = os.path.isfile
    checked: dict[str, bool] = {}
    for i, rel in enumerate(ds._images):
        ok = checked.get(rel)
        if ok is None:
            ok = checked[rel] = isfile(root / rel)
        if not ok:
            keep[i] = False
            log.add(ds._origins[i] or str(root / rel), sample_where(ds, i), "image not found", rel)
    return keep


def begin_write(ds: Dataset, out: str | Path, images: str, strict: bool) -> tuple[Dataset, SkipLog, WriteResult]:
    """What every writer does first: check ``images``, then leave out samples whose image is missing.

    Returns:
        The dataset to write (without those samples), the skip log holding them, and an empty
        :class:`WriteResult` for ``out``.

    Raises:
        ValueError: An unknown image mode.
        FormatError: A missing image when ``strict``.

    """
    check_image_mode(images)
    log = SkipLog(strict=strict)
    if images != "none":
        keep = missing_images(ds, log)
        if not keep.all():
            ds = ds.take(np.flatnonzero(keep))
    return ds, log, WriteResult(out=Path(out))


def sample_where(ds: Dataset, i: int) -> str:
    """How to name sample ``i`` in a message: its COCO image id when it has one, else its id."""
    md = ds._metadata[i]
    if md and "coco_id" in md:
        return f"image id {md['coco_id']}"
    return f"sample {ds._ids[i]}"


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
    out: dict[str, int] = {}
    if not labels:
        lost(out, "label", int((ds._labels.codes >= 0).sum()))
    if not detections:
        lost(out, "detections", len(ds._dets))
    if not metadata:
        lost(out, "metadata", sum(1 for m in ds._metadata if m))
    if not tags:
        lost(out, "tags", sum(1 for t in ds._tags if t))
    if not source:
        src = ds._sources.tolist()
        lost(out, "source", sum(1 for s in src if s not in (None, "real")))
    if not prompt:
        lost(out, "prompt", int((ds._prompts.codes >= 0).sum()))
    if detections and not attributes:
        keys: dict[str, int] = {}
        for a in ds._dets.attributes:
            if a:
                for k in a:
                    keys[k] = keys.get(k, 0) + 1
        for k, n in sorted(keys.items()):
            lost(out, f"detections.attributes.{k}", n)
    if detections and not scores:
        lost(out, "detections.score", int((~np.isnan(ds._dets.scores)).sum()))
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
