"""Writing Pascal VOC folders (see :mod:`datakit.formats.voc` for the layout and conventions).

Examples:
    >>> _pixels(np.array([0.0, 0.0, 10.0, 12.0]), 64, 48), _pixels(np.array([4.4, 5.5, 9.6, 60.0]), 64, 48)
    ((1, 1, 10, 12), (5, 7, 10, 48))

"""

from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from datakit.atomic import atomic_dir
from datakit.errors import FormatError
from datakit.formats._checks import box_rule_error, clip_boxes
from datakit.formats._common import WriteResult, begin_write, class_names, lost, place_image, with_sizes
from datakit.formats.voc.layout import EXTRA, IMAGE_SETS, LABELS_FILE, SPLIT_TO_FILE, STANDARD_ATTRIBUTES
from datakit.formats.voc.reader import COORDS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from datakit.dataset import Dataset

_SPLIT_NAME = re.compile(r"^\w[\w.-]*$")


def _unique_names(images: Iterable[str]) -> list[str]:
    """A flat, unique file name per sample: the image's own name, then ``<stem>_2.<ext>``..."""
    used: set[str] = set()
    out = []
    for rel in images:
        name = _basename(rel)
        stem, ext = os.path.splitext(name)
        k = 1
        while name.lower() in used or not stem:
            k += 1
            name = f"{stem or 'image'}_{k}{ext}"
        used.add(name.lower())
        out.append(name)
    return out


def _basename(rel: str) -> str:
    """The last part of a ``/``-separated path."""
    return rel.rsplit("/", 1)[-1]


def _sub(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


def _half_up(v: float) -> int:
    return math.floor(v + 0.5)


def _pixels(box: np.ndarray, w: int, h: int) -> tuple[int, int, int, int]:
    """Continuous xyxy inside a ``w`` x ``h`` image → 1-based inclusive VOC pixel indices."""
    x1, y1 = min(max(_half_up(box[0]), 0), w - 1), min(max(_half_up(box[1]), 0), h - 1)
    x2, y2 = max(min(_half_up(box[2]), w), x1 + 1), max(min(_half_up(box[3]), h), y1 + 1)
    return x1 + 1, y1 + 1, x2, y2


def write(
    ds: Dataset, out: str | Path, *, images: str = "copy", strict: bool = True, exact: bool = False
) -> WriteResult:
    """Write ``ds`` as a Pascal VOC folder, atomically (see the module docstring).

    Every sample becomes ``Annotations/<id>.xml`` and ``JPEGImages/<id>.<ext>`` (``<id>`` is the
    image's file name, made unique with ``_2``, ``_3``...); boxes are clipped to the image
    (counted; an error with ``exact``) and rounded to whole pixels (counted as dropped
    sub-pixel coordinates).

    Args:
        ds: The dataset.
        out: Output folder (replaced once complete).
        images: ``"copy"``, ``"link"`` (hard links), ``"symlink"`` or ``"none"``.
        strict: Raise on a missing or unreadable image; otherwise skip that sample and report it.
        exact: Raise on a box outside its image instead of clipping it.

    Returns:
        What was written and what VOC could not hold.

    Raises:
        FormatError: A bad image (``strict``), a box outside its image (``exact``), or a split
            name that cannot be a file name.

    Examples:
        >>> import pathlib, tempfile
        >>> from datakit import Dataset, Detection, Sample
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> ds = Dataset.from_samples([Sample("a.jpg", width=8, height=8, split="valid",
        ...     detections=[Detection("ball", (1, 1, 3, 3))])], d)
        >>> r = write(ds, d / "voc", images="none")
        >>> sorted(p.relative_to(r.out).as_posix() for p in r.out.rglob("*.*"))
        ['Annotations/a.xml', 'ImageSets/Main/trainval.txt', 'ImageSets/Main/val.txt']
        >>> from datakit.formats.voc import read
        >>> read(r.out)[0].detections[0].box, read(r.out)[0].split
        ((1.0, 1.0, 3.0, 3.0), 'valid')

    """
    ds, log, result = begin_write(ds, out, images, strict, exact=exact)
    ds = with_sizes(ds)
    c = ds.columns
    t = ds.detections_table()
    offsets = c.detections.offsets
    names = _unique_names(c.images)
    splits = c.splits.tolist()
    for s in dict.fromkeys(splits):
        if s is not None and not _SPLIT_NAME.match(SPLIT_TO_FILE.get(s, s)):
            raise FormatError(str(out), None, f"split name {s!r} cannot be a VOC split list file name")
    clipped = rounded = unnamed = 0
    with atomic_dir(out) as tmp:
        (tmp / "Annotations").mkdir()
        (tmp / "JPEGImages").mkdir()
        lists: dict[str, list[str]] = {}
        for i in range(len(ds)):
            name = names[i]
            iid = os.path.splitext(name)[0]
            w, h = int(c.widths[i]), int(c.heights[i])
            ann = ET.Element("annotation")
            _sub(ann, "folder", "JPEGImages")
            _sub(ann, "filename", name)
            size = _sub(ann, "size")
            _sub(size, "width", w)
            _sub(size, "height", h)
            _sub(size, "depth", 3)
            _sub(ann, "segmented", 0)
            lo, hi = int(offsets[i]), int(offsets[i + 1])
            if hi > lo:
                raw = t["xyxy"][lo:hi]
                boxes, outside, empty = clip_boxes(raw, w, h)
                if exact and outside.any():
                    k = int(np.flatnonzero(outside)[0])
                    raise box_rule_error(str(out), f"sample {c.ids[i]}", raw[k].tolist(), w, h)
                clipped += int(outside.sum())
                for k in range(hi - lo):
                    label = t["label"][lo + k]
                    if empty[k] or label is None:
                        unnamed += label is None
                        continue
                    px = _pixels(boxes[k], w, h)
                    cont = (px[0] - 1, px[1] - 1, px[2], px[3])
                    rounded += any(abs(a - b) > 1e-9 for a, b in zip(cont, raw[k].tolist(), strict=True))
                    obj = _sub(ann, "object")
                    _sub(obj, "name", label)
                    attrs = dict(t["attributes"][lo + k] or {})
                    for key in STANDARD_ATTRIBUTES:
                        v = attrs.get(key)
                        if isinstance(v, str | int | float) and not (isinstance(v, str) and v != v.strip()):
                            _sub(obj, key, int(v) if isinstance(v, bool) else attrs.pop(key))
                    bnd = _sub(obj, "bndbox")
                    for tag, v in zip(COORDS, px, strict=True):
                        _sub(bnd, tag, v)
                    score = t["score"][lo + k]
                    if not math.isnan(score):
                        attrs["score"] = float(score)
                    if attrs:
                        _sub(obj, EXTRA, _json(attrs))
            extra: dict[str, Any] = {}
            label = c.labels[i]
            if label is not None:
                extra["label"] = label
            if (c.sources[i] or "real") != "real":
                extra["source"] = c.sources[i]
            if c.tags[i]:
                extra["tags"] = list(c.tags[i])
            if c.prompts[i] is not None:
                extra["prompt"] = c.prompts[i]
            if c.metadata[i]:
                extra["metadata"] = c.metadata[i]
            if extra:
                _sub(ann, EXTRA, _json(extra))
            ET.indent(ann)
            ET.ElementTree(ann).write(tmp / "Annotations" / f"{iid}.xml", encoding="utf-8", xml_declaration=False)
            if images != "none":
                place_image(ds.root / c.images[i], tmp / "JPEGImages" / name, images)
            if splits[i] is not None:
                lists.setdefault(SPLIT_TO_FILE.get(splits[i], splits[i]), []).append(iid)  # type: ignore[arg-type]
        if lists:
            if "train" in lists or "val" in lists:
                lists.setdefault("trainval", []).extend([*lists.get("train", []), *lists.get("val", [])])
            (tmp / IMAGE_SETS).mkdir(parents=True)
            for split, ids in lists.items():
                (tmp / IMAGE_SETS / f"{split}.txt").write_text("".join(f"{x}\n" for x in ids), encoding="utf-8")
        if ds.classes is not None:
            (tmp / LABELS_FILE).write_text(
                "".join(f"{n}\n" for n in class_names(ds, detections=True)), encoding="utf-8"
            )
    lost(result.dropped, "sub-pixel box coordinates (rounded to whole pixels)", rounded)
    lost(result.dropped, "detections without a label", unnamed)
    if clipped:
        result.notes.append(f"{clipped} boxes outside their image clipped to it")
    result.samples = len(ds)
    result.skipped = log.items
    return result
