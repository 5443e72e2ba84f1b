"""Writing a Dataset in the Ultralytics YOLO layout (see :mod:`datakit.formats.yolo`).

Examples:
    >>> import pathlib, tempfile
    >>> from datakit import Dataset, Detection, Sample
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "yolo"
    >>> ds = Dataset.from_samples([Sample("a.jpg", split="train", width=100, height=50,
    ...                                   detections=[Detection("ball", (10, 10, 30, 20))])], ".")
    >>> _ = write(ds, out, images="none")
    >>> (out / "labels" / "train" / "a.txt").read_text().split()
    ['0', '0.200000', '0.300000', '0.200000', '0.200000']

"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from datakit.atomic import atomic_dir
from datakit.boxes import from_xyxy
from datakit.formats._checks import (
    export_boxes,
)
from datakit.formats._common import (
    WriteResult,
    begin_write,
    class_names,
    common_losses,
    lost,
    place_image,
    split_relpath,
    with_sizes,
)
from datakit.formats.yolo.layout import (
    SPLIT_KEYS,
    label_path,
)

if TYPE_CHECKING:
    from datakit.dataset import Dataset


def _flat_names(images: list[str], splits: list[str]) -> tuple[list[str], dict[str, str]]:
    """Flat output paths ``images/<split>/<name>``, one per (split, source image), in order.

    Each split folder is flat (supervision and other readers do not recurse). Two sources with
    one file name, or one label-file stem (``a.jpg`` and ``a.png``), are told apart
    deterministically: the later one gets its source folders in its name
    (``synthetic__a.png``), then ``_2``, ``_3``... Returns the output paths and the renamed ones
    (output → source).

    Examples:
        >>> paths, renamed = _flat_names(["train/a.jpg", "train/synthetic/a.jpg", "train/b.jpg"], ["train"] * 3)
        >>> paths
        ['images/train/a.jpg', 'images/train/synthetic__a.jpg', 'images/train/b.jpg']
        >>> renamed
        {'images/train/synthetic__a.jpg': 'train/synthetic/a.jpg'}

    """
    used: set[str] = set()  # label-file stems taken: "images/<split>/<stem>"
    out: list[str] = []
    renamed: dict[str, str] = {}
    for src, split in zip(images, splits, strict=True):
        name = posixpath.basename(src)
        stem, ext = os.path.splitext(name)
        candidates = [stem]
        inner = [p for p in split_relpath(src, split).split("/")[:-1] if p not in ("images", "labels")]
        if inner:
            candidates.append("__".join([*inner, stem]))
        chosen = next((c for c in candidates if f"images/{split}/{c}" not in used), None)
        k = 2
        while chosen is None:
            c = f"{candidates[-1]}_{k}"
            chosen = c if f"images/{split}/{c}" not in used else None
            k += 1
        used.add(f"images/{split}/{chosen}")
        dst = f"images/{split}/{chosen}{ext}"
        out.append(dst)
        if chosen != stem:
            renamed[dst] = src
    return out, renamed


def write(
    ds: Dataset,
    out: str | Path,
    *,
    images: str = "copy",
    full_image_boxes: bool | None = None,
    strict: bool = True,
    exact: bool = False,
) -> WriteResult:
    """Write ``ds`` as an Ultralytics YOLO dataset, atomically.

    ``images/<split>/<name>`` and ``labels/<split>/<stem>.txt`` per split, each split folder
    flat (nested source folders are not kept; a name that clashes gets its source folders
    prefixed, ``synthetic__a.png``, listed in the result's ``renamed``). ``valid`` is the YAML's
    ``val``. ``data.yaml`` holds ``path`` (the output folder, absolute: Ultralytics and YOLOv5
    resolve a relative or missing one against their own settings) and the one class list
    (:func:`class_names`: numeric labels in numeric order) shared by every split. Every image gets
    a label file, empty when it has no objects. Boxes overhanging their image are clipped and
    counted; crowd regions (``iscrowd`` set, as COCO marks them) are left out and counted, as
    Ultralytics' own COCO converter does. Samples without a split go to ``train`` (with ``val``
    pointing to it too) when no sample has a split, else to ``unsplit``.

    Args:
        ds: The dataset.
        out: Output folder (replaced once complete).
        images: ``"copy"``, ``"link"`` (hard links), ``"symlink"`` or ``"none"``.
        full_image_boxes: Write each sample's label as one full-image box ``0.5 0.5 1.0 1.0``
            (classification as detection). ``None``: do so when the dataset has labels and no
            detections.
        strict: Raise on a missing or unreadable image; otherwise skip that sample and report it.
        exact: Raise on a box overhanging its image, or a declared size its image header
            contradicts, instead of clipping the box (or using the header) and counting it.

    Returns:
        What was written and what YOLO could not hold (metadata, tags, sample labels, scores,
        detection attributes).

    Raises:
        FormatError: A missing or unreadable image (``strict``), a box outside its image or a
            wrong declared size (``exact``), or an image whose size cannot be read.

    """
    import yaml

    ds, log, result = begin_write(ds, out, images, strict, exact=exact)
    out = result.out
    c = ds.columns
    d = c.detections
    has_labels = bool((c.labels.codes >= 0).any())
    full = full_image_boxes if full_image_boxes is not None else (len(d) == 0 and has_labels)
    result.dropped = common_losses(
        ds,
        labels=full,
        detections=not full,
        metadata=False,
        tags=False,
        source=False,
        prompt=False,
        attributes=False,
        scores=False,
    )
    if full:
        lost(result.dropped, "detections", len(d))
        names = class_names(ds, detections=False)
        result.notes.append("classification as detection: one full-image box per labeled sample")
    else:
        names = class_names(ds, detections=True)
    index = {name: k for k, name in enumerate(names)}
    n = len(ds)

    # Class ids and normalised boxes as arrays; the text of each label file is made only when
    # the file is written (no list of every line: that would hold ~60 MB at 700k boxes).
    offsets = np.zeros(n + 1, dtype=np.int64)
    obj_cls = np.zeros(0, dtype=np.int64)
    obj_box = np.zeros((0, 4))
    if full:
        lab = c.labels
        code_map = np.asarray([index.get(v, -1) for v in lab.values] + [-1], dtype=np.int64)
        cls = code_map[lab.codes]
        has = cls >= 0
        np.cumsum(has, out=offsets[1:])
        obj_cls = cls[has]
        obj_box = np.tile(np.asarray([[0.5, 0.5, 1.0, 1.0]]), (len(obj_cls), 1))
        lost(result.dropped, "unlabeled samples (empty label file)", int((~has).sum()))
    elif len(d):
        ds = with_sizes(ds)
        c = ds.columns
        code_map = np.asarray([index.get(v, -1) for v in d.labels.values] + [-1], dtype=np.int64)
        cls = code_map[d.labels.codes]
        owner = d.sample_index()
        boxes, keep_box, fixes = export_boxes(ds, exact=exact)
        result.notes += [f"{k} {reason}" for reason, k in fixes.items()]
        w = c.widths.astype(np.float64)[owner]
        h = c.heights.astype(np.float64)[owner]
        rel = from_xyxy(boxes, "cxcywh", normalized=True, image_size=(w, h))
        del boxes, w, h
        crowd = np.fromiter((bool(a.get("iscrowd")) if a else False for a in d.attributes), dtype=bool, count=len(d))
        labeled = cls >= 0
        lost(result.dropped, "detections without a label", int((~labeled).sum()))
        n_crowd = int((crowd & labeled & keep_box).sum())
        if n_crowd:
            result.notes.append(f"{n_crowd} crowd regions (iscrowd=1) left out, as Ultralytics' COCO converter does")
            lost(result.dropped, "crowd regions (iscrowd=1)", n_crowd)
        has = labeled & keep_box & ~crowd
        counts = np.bincount(owner[has], minlength=n)
        np.cumsum(counts, out=offsets[1:])
        obj_cls, obj_box = cls[has], rel[has]
        del rel, owner

    def text_of(i: int) -> str:
        lo, hi = offs[i], offs[i + 1]
        if lo == hi:
            return ""
        return "".join(
            f"{k} {x:.6f} {y:.6f} {bw:.6f} {bh:.6f}\n"
            for k, (x, y, bw, bh) in zip(obj_cls[lo:hi].tolist(), obj_box[lo:hi].tolist(), strict=True)
        )

    offs = offsets.tolist()

    split_list = c.splits.tolist()
    any_split = any(sp is not None for sp in split_list)
    unsplit = "unsplit" if any_split else "train"
    if None in split_list:
        result.notes.append(
            f"samples without a split written to {unsplit}"
            + ("" if any_split else " (val points to it too; run `datakit split` first)")
        )
    # One output image per (split, source image); samples sharing one image share its label file.
    pairs = list(dict.fromkeys(zip((sp or unsplit for sp in split_list), c.images, strict=True)))
    flat, renamed = _flat_names([src for _, src in pairs], [sp for sp, _ in pairs])
    placed = dict(zip(pairs, flat, strict=True))
    label_text: dict[str, list[int]] = {}  # label file → the samples whose objects it holds
    for i in range(n):
        label_text.setdefault(label_path(placed[(split_list[i] or unsplit, c.images[i])]), []).append(i)
    merged = n - len(label_text)
    if merged:
        result.notes.append(f"{merged} samples share an image with another sample: their objects were merged")
    nested = sum(1 for (sp, src), dst in placed.items() if dst not in renamed and split_relpath(src, sp).count("/"))
    if nested or renamed:
        result.notes.append(
            "split folders written flat"
            + (f": {nested} images from nested folders moved up" if nested else "")
            + (f"; {len(renamed)} renamed for a name clash (see renamed)" if renamed else "")
        )
    result.renamed = renamed

    splits_present = sorted({sp or unsplit for sp in split_list})
    spec: dict[str, Any] = {"path": str(Path(out).resolve())}
    for sp in splits_present:
        key = SPLIT_KEYS.get(sp, sp)
        if key in spec:  # e.g. both "val" and "valid": keep both folders under one key
            prev = spec[key]
            spec[key] = [*prev, f"images/{sp}"] if isinstance(prev, list) else [prev, f"images/{sp}"]
        else:
            spec[key] = f"images/{sp}"
    if "val" not in spec and "train" in spec:
        spec["val"] = spec["train"]
    spec["nc"] = len(names)
    spec["names"] = dict(enumerate(names))
    with atomic_dir(out) as tmp:
        made: set[str] = set()
        base = str(tmp) + os.sep
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        for lbl_rel, rows in label_text.items():
            parent = posixpath.dirname(lbl_rel)
            if parent not in made:
                (tmp / parent).mkdir(parents=True, exist_ok=True)
                made.add(parent)
            text = text_of(rows[0]) if len(rows) == 1 else "".join(text_of(i) for i in rows)
            fd = os.open(base + lbl_rel, flags, 0o644)  # raw descriptors: 100k small files
            try:
                if text:
                    os.write(fd, text.encode("utf-8"))
            finally:
                os.close(fd)
        if images != "none":
            for (_, src), img_rel in placed.items():
                parent = posixpath.dirname(img_rel)
                if parent not in made:
                    (tmp / parent).mkdir(parents=True, exist_ok=True)
                    made.add(parent)
                place_image(ds.root / src, tmp / img_rel, images)
        else:
            for sp in splits_present:
                (tmp / "images" / sp).mkdir(parents=True, exist_ok=True)
        with open(tmp / "data.yaml", "w", encoding="utf-8") as f:
            yaml.safe_dump(spec, f, sort_keys=False, allow_unicode=True)
    result.samples = n
    result.skipped = log.items
    return result
