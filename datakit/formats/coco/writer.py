"""Writing a Dataset as COCO detection JSON, in the Roboflow or the COCO layout (see :mod:`datakit.formats.coco`).

Examples:
    >>> import json, pathlib, tempfile
    >>> from datakit import Dataset, Detection, Sample
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "coco"
    >>> ds = Dataset.from_samples([Sample("a.jpg", split="train", width=64, height=48,
    ...                                   detections=[Detection("ball", (4, 4, 14, 24))])], ".")
    >>> _ = write(ds, out, images="none")
    >>> json.loads((out / "train" / COCO_FILE).read_text())["annotations"][0]["bbox"]
    [4.0, 4.0, 10.0, 20.0]

"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from datakit.atomic import atomic_dir
from datakit.boxes import from_xyxy
from datakit.errors import FormatError
from datakit.formats._checks import (
    export_boxes,
    merge_keys,
    segmentation_problem,
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
from datakit.formats.coco.layout import (
    COCO_FILE,
    OWNED_ANN_W,
    OWNED_IMAGE_W,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from datakit.dataset import Dataset

ANN_CHUNK = 65536
"""Annotations serialised per step."""


def _category_ids(ds: Dataset, names: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The categories table and name → id: original ids kept, new names numbered after them."""
    table: list[dict[str, Any]] = []
    by_name: dict[str, Any] = {}
    known = (ds.info.get("coco") or {}).get("categories") if isinstance(ds.info.get("coco"), dict) else None
    for c in known or []:
        if isinstance(c, dict) and isinstance(c.get("name"), str) and c["name"] not in by_name:
            table.append(dict(c))
            by_name[c["name"]] = c["id"]
    used = [v for v in by_name.values() if isinstance(v, int)]
    next_id = (max(used) + 1) if used else 1
    for name in names:
        if name not in by_name:
            table.append({"id": next_id, "name": name, "supercategory": "none"})
            by_name[name] = next_id
            next_id += 1
    return table, by_name


def _unique_ints(values: list[Any]) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values) and len(set(values)) == len(values)


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, tuple):
        return list(v)
    raise TypeError(f"cannot write {type(v).__name__} to COCO JSON")


def _file_dict(
    ds: Dataset,
    rows: list[int],
    split: str | None,
    cat_id: dict[str, Any],
    boxes: np.ndarray,
    keep_det: np.ndarray,
    strict: bool,
    counts: dict[str, int],
) -> tuple[dict[str, Any], Iterator[bytes]]:
    """The head of one COCO file (info, images, categories) and its annotations as JSON blocks.

    ``boxes`` are the dataset's boxes clipped to their images and ``keep_det`` the boxes to
    write; ``counts`` collects what was renamed or removed (reported by :func:`write`).
    """
    col = ds.columns
    coco = ds.info.get("coco") if isinstance(ds.info.get("coco"), dict) else {}
    out: dict[str, Any] = {k: v for k, v in (coco or {}).items() if k not in ("images", "annotations", "categories")}
    out.setdefault("info", {"description": "written by datakit"})
    out.setdefault("licenses", [])
    metas = [col.metadata[i] for i in rows]
    orig_ids = [m.get("coco_id") if m else None for m in metas]
    image_ids = orig_ids if _unique_ints(orig_ids) else list(range(1, len(rows) + 1))
    images = []
    for i, iid, md in zip(rows, image_ids, metas, strict=True):
        img: dict[str, Any] = {
            "id": iid,
            "file_name": split_relpath(col.images[i], split),
            "width": int(col.widths[i]),
            "height": int(col.heights[i]),
        }
        label = col.labels[i]
        if label is not None:
            img["label"] = label
            img["category_id"] = cat_id[label]
        if col.tags[i]:
            img["tags"] = list(col.tags[i])
        src = col.sources[i]
        if src not in (None, "real"):
            img["source"] = src
        prompt = col.prompts[i]
        if prompt is not None:
            img["prefix"] = prompt
        if md:
            merge_keys(img, {k: v for k, v in md.items() if k != "coco_id"}, OWNED_IMAGE_W, counts, "metadata")
        images.append(img)
    d = col.detections
    r = np.asarray(rows, dtype=np.int64)
    starts, ends = d.offsets[r], d.offsets[r + 1]
    lengths = ends - starts
    total = int(lengths.sum())
    det_rows = (
        (np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(total))
        if total
        else np.zeros(0, dtype=np.int64)
    )
    owner_ids = np.repeat(np.asarray(image_ids, dtype=object), lengths).tolist() if total else []
    widths, heights = col.widths, col.heights
    orig = [a.get("coco_id") if a else None for a in (d.attributes[k] for k in det_rows.tolist())]
    ann_ids = orig if _unique_ints(orig) else list(range(1, total + 1))
    del orig
    code_to_id = [cat_id.get(v) for v in d.labels.values]

    def chunks() -> Iterator[bytes]:
        """The annotations as JSON, a block at a time (no list of every annotation dict)."""
        for lo in range(0, total, ANN_CHUNK):
            rows_k = det_rows[lo : lo + ANN_CHUNK]
            xywh = from_xyxy(boxes[rows_k], "xywh")
            xywh_l = np.round(xywh, 4).tolist()
            area = (xywh[:, 2] * xywh[:, 3]).tolist()
            codes = d.labels.codes[rows_k].tolist()
            scores = d.scores[rows_k].tolist()
            keep_k = None if all_kept else keep_det[rows_k].tolist()
            anns = []
            for j, det in enumerate(rows_k.tolist()):
                code = codes[j]
                if code < 0 or (keep_k is not None and not keep_k[j]):
                    continue
                ann: dict[str, Any] = {
                    "id": ann_ids[lo + j],
                    "image_id": owner_ids[lo + j],
                    "category_id": code_to_id[code],
                    "bbox": xywh_l[j],
                    "area": area[j],
                    "iscrowd": 0,
                }
                sc = scores[j]
                a = d.attributes[det]
                if a:
                    if "segmentation" in a:
                        i_own = int(np.searchsorted(d.offsets, det, side="right") - 1)
                        why = segmentation_problem(a["segmentation"], int(widths[i_own]), int(heights[i_own]))
                        if why is not None:
                            aid = a.get("coco_id", ann_ids[lo + j])
                            if strict:
                                raise FormatError(
                                    col.origins[i_own] or col.images[i_own],
                                    f"annotation id {aid}",
                                    f"invalid segmentation: {why} (pass --lenient to drop it and keep the box)",
                                )
                            a = {k: v for k, v in a.items() if k != "segmentation"}
                            counts["invalid segmentations removed (boxes kept)"] = (
                                counts.get("invalid segmentations removed (boxes kept)", 0) + 1
                            )
                    merge_keys(
                        ann,
                        {k: v for k, v in a.items() if k != "coco_id"},
                        OWNED_ANN_W if math.isnan(sc) else (*OWNED_ANN_W, "score"),
                        counts,
                        "attributes",
                    )
                if not math.isnan(sc):
                    ann["score"] = sc
                anns.append(ann)
            if anns:
                yield orjson.dumps(anns, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1]

    all_kept = bool(keep_det.all())
    out["images"] = images
    return out, chunks()


def _write_json(path: Path, head: dict[str, Any], annotations: Iterator[bytes]) -> None:
    """Write ``head`` with an ``annotations`` list streamed from JSON blocks."""
    text = orjson.dumps(head, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY)
    with open(path, "wb") as f:
        f.write(text[:-1] + (b',"annotations":[' if len(text) > 2 else b'"annotations":['))
        first = True
        for block in annotations:
            if not first:
                f.write(b",")
            f.write(block)
            first = False
        f.write(b"]}")


def write(
    ds: Dataset,
    out: str | Path,
    *,
    images: str = "copy",
    strict: bool = True,
    layout: str = "roboflow",
    exact: bool = False,
) -> WriteResult:
    """Write ``ds`` as COCO, atomically, in the Roboflow / RF-DETR layout or COCO's own.

    ``roboflow`` (default): one ``<split>/_annotations.coco.json`` per split
    (``_annotations.coco.json`` at the top for samples without a split), images placed beside it
    at their path inside the split. ``coco``: ``annotations/instances_<split>.json`` and the
    images under ``<split>/`` (``annotations/instances.json`` and the top folder without a
    split), like ``instances_val2017.json`` and ``val2017/``. Original
    image, annotation and category ids are reused when they are unique; sample labels, tags,
    source, prompt and metadata become extra image keys, so datakit reads every field back.
    Sample labels are declared in ``categories`` and written as the image keys ``label`` and
    ``category_id``; COCO tools ignore those keys, and the result's notes say so. Boxes are
    clipped to their images (counted); a detection attribute or metadata key named like a key
    the writer owns is written as ``attr_<key>`` (counted).

    Args:
        ds: The dataset.
        out: Output folder (replaced once complete).
        images: ``"copy"``, ``"link"`` (hard links), ``"symlink"`` or ``"none"``.
        strict: Raise on a missing or unreadable image and on an invalid segmentation;
            otherwise skip that sample (or drop that segmentation) and report it.
        layout: ``"roboflow"`` or ``"coco"``.
        exact: Raise on a box overhanging its image, or a declared size its image header
            contradicts, instead of clipping the box (or using the header) and counting it.

    Returns:
        What was written and what was dropped.

    Raises:
        FormatError: A missing or unreadable image, an invalid segmentation (``strict``), a box
            outside its image (``exact``), or an image whose size is unknown and unreadable.

    Examples:
        >>> import pathlib, tempfile
        >>> from datakit import Dataset, Detection, Sample
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> ds = Dataset.from_samples([Sample("a.jpg", width=8, height=8, split="train",
        ...     detections=[Detection("ball", (1, 1, 3, 3))])], d)
        >>> r = write(ds, d / "coco", images="none")
        >>> sorted(p.relative_to(r.out).as_posix() for p in r.out.rglob("*.json"))
        ['train/_annotations.coco.json']

    """
    if layout not in ("roboflow", "coco"):
        raise ValueError(f"expected layout 'roboflow' or 'coco', got {layout!r}")
    ds, log, result = begin_write(ds, out, images, strict, exact=exact)
    out = result.out
    ds = with_sizes(ds)
    c = ds.columns
    names = class_names(ds, detections=None)
    cats, cat_id = _category_ids(ds, names)
    groups: dict[str | None, list[int]] = {}
    for i, sp in enumerate(c.splits.tolist()):
        groups.setdefault(sp, []).append(i)
    counts: dict[str, int] = {}
    boxes, keep_det, fixes = export_boxes(ds, exact=exact)
    result.notes += [f"{n} {reason}" for reason, n in fixes.items()]
    result.dropped = common_losses(
        ds, labels=True, detections=True, metadata=True, tags=True, source=True, prompt=True, attributes=True
    )
    lost(result.dropped, "detections without a label", int((c.detections.labels.codes < 0).sum()))
    n_labels = int((c.labels.codes >= 0).sum())
    if n_labels:
        result.notes.append(
            f"{n_labels} sample labels written as the image keys 'label' and 'category_id' (declared in "
            "categories): datakit reads them back, COCO tools such as pycocotools ignore them"
        )
    with atomic_dir(out) as tmp:
        for split, rows in sorted(groups.items(), key=lambda kv: (kv[0] is not None, kv[0] or "")):
            folder = tmp / split if split else tmp
            head, annotations = _file_dict(ds, rows, split, cat_id, boxes, keep_det, strict, counts)
            head["categories"] = cats
            folder.mkdir(parents=True, exist_ok=True)
            if layout == "coco":
                (tmp / "annotations").mkdir(exist_ok=True)
                target = tmp / "annotations" / (f"instances_{split}.json" if split else "instances.json")
            else:
                target = folder / COCO_FILE
            _write_json(target, head, annotations)
            if images != "none":
                for rel in dict.fromkeys(c.images[i] for i in rows):
                    place_image(ds.root / rel, folder / split_relpath(rel, split), images)
    for what, n in counts.items():
        if "→" in what:
            result.notes.append(f"{n} {what.split(' → ')[0]} kept as {what.split(' → ')[1]} (the writer owns that key)")
        else:
            result.notes.append(f"{n} {what}")
    result.samples = len(ds)
    result.skipped = log.items
    return result
