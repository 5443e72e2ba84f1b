"""COCO detection JSON: one file, or the Roboflow / RF-DETR layout of one file per split.

Reading takes the JSON file (images resolved against ``images`` or else the JSON's folder), or a
folder holding ``_annotations.coco.json`` (split ``None``) and/or ``<split>/_annotations.coco.json``
with images beside each file. Writing produces that folder layout: one
``<split>/_annotations.coco.json`` per split (``_annotations.coco.json`` at the top for samples
without a split) with the images copied beside it.

Nothing is lost on a COCO → datakit → COCO round trip:

- ``info``, ``licenses``, the full ``categories`` table (non-contiguous ids, ``supercategory``)
  and unknown top-level keys live in ``dataset.info["coco"]``; category names are the classes.
- Each image's id is kept as ``metadata["coco_id"]``; its other keys (``license``,
  ``coco_url``, ...) are kept in ``metadata``. Images without annotations are samples without
  detections.
- Each annotation's id is kept as ``attributes["coco_id"]``; ``iscrowd``, ``area``,
  ``segmentation`` (polygons or RLE) and any other key stay in the detection ``attributes``;
  ``score`` becomes the detection score.
- Sample labels (classification) are written as the image key ``label`` and declared in
  ``categories``; COCO tools ignore that key, datakit reads it back (the summary says so).

The rules of :mod:`datakit.formats._checks` hold on both sides: a box overhanging its image is
clipped and counted (``exact=True``, ``convert --strict``: an error), one entirely outside is a
bad record; a segmentation ``pycocotools`` could not decode (a polygon of fewer than 3 points,
RLE whose counts do not cover the image) is a bad record on reading (``strict``: an error, else
the segmentation is removed and counted, the box kept) and on writing; a duplicate annotation id
is an error (``strict``) or renumbered on export (counted). Attributes named like the keys the
writer owns (``id``, ``image_id``, ``category_id``, ``bbox``; ``score`` when the box has one) are
written as ``attr_<key>`` (counted) and read back under their own name.

Examples:
    >>> import json, pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "ann.json").write_text(json.dumps({
    ...     "images": [{"id": 7, "file_name": "a.jpg", "width": 64, "height": 48}],
    ...     "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [4, 4, 10, 20]}],
    ...     "categories": [{"id": 3, "name": "ball"}]}))
    >>> ds = read(d / "ann.json")
    >>> ds[0].detections[0].label, ds[0].detections[0].box, ds[0].metadata["coco_id"]
    ('ball', (4.0, 4.0, 14.0, 24.0), 7)

"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from datakit.atomic import atomic_dir
from datakit.boxes import from_xyxy, to_xyxy
from datakit.builder import paused_gc
from datakit.columns import Categorical, DetectionColumns
from datakit.errors import FormatError, PathEscapeError, SkipLog
from datakit.formats._checks import (
    BOX_TOLERANCE,
    FIXES,
    box_rule_error,
    clip_boxes,
    export_boxes,
    merge_keys,
    note_fix,
    restore_keys,
    segmentation_problem,
)
from datakit.formats._common import (
    LOCATOR,
    WriteResult,
    begin_write,
    class_names,
    common_losses,
    covering_classes,
    lost,
    place_image,
    rel_to,
    split_relpath,
    with_sizes,
)
from datakit.paths import safe_relpath
from datakit.sample import SOURCES

if TYPE_CHECKING:
    from collections.abc import Iterator

    from datakit.dataset import Dataset

COCO_FILE = "_annotations.coco.json"
"""The per-split file name of the Roboflow / RF-DETR layout."""

_ANN_CHUNK = 65536

_IMAGE_KEYS = ("id", "file_name", "width", "height")
_DK_KEYS = ("label", "tags", "source", "prefix")  # sample fields datakit writes as image keys
_OWNED_IMAGE = (*_IMAGE_KEYS, *_DK_KEYS, "coco_id")
"""Image keys the writer sets: metadata of these names is written as ``attr_<key>``."""
_OWNED_ANN = ("id", "image_id", "category_id", "bbox", "coco_id")
"""Annotation keys the writer sets: attributes of these names are written as ``attr_<key>``."""
_LOCATOR = {"key": "coco_id", "name": "image id"}
_OWNED_IMAGE_W = (*_IMAGE_KEYS, *_DK_KEYS, "category_id")
_OWNED_ANN_W = ("id", "image_id", "category_id", "bbox")


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


def _load_json(path: Path) -> dict[str, Any]:
    # The standard library's parser, not orjson: on a 100 MB COCO file orjson's objects take
    # ~290 MiB more memory (measured), and parsing is a small part of a conversion.
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise FormatError(path, e.lineno, f"not valid JSON ({e.msg} at column {e.colno})") from None
    except UnicodeDecodeError as e:
        raise FormatError(path, None, f"not UTF-8 text ({e})") from None
    if not isinstance(data, dict):
        raise FormatError(path, None, f"expected a COCO JSON object, got {type(data).__name__}")
    for key in ("images",):
        if key not in data:
            raise FormatError(path, None, f"missing key {key!r}")
    for key in ("images", "annotations", "categories"):
        if key in data and not isinstance(data[key], list):
            raise FormatError(path, key, f"expected a list, got {type(data[key]).__name__}")
    if data.get("annotations") and "categories" not in data:
        raise FormatError(path, None, "missing key 'categories'")
    return data


def _categories(path: Path, cats: list[Any]) -> dict[Any, str]:
    out: dict[Any, str] = {}
    names: set[str] = set()
    for k, c in enumerate(cats):
        if not isinstance(c, dict) or "id" not in c or "name" not in c:
            raise FormatError(path, f"category #{k}", "expected an object with 'id' and 'name'")
        cid, name = c["id"], c["name"]
        if isinstance(cid, bool) or not isinstance(cid, int | str):
            raise FormatError(path, f"category #{k}", f"expected an integer id, got {cid!r}")
        if not isinstance(name, str) or not name:
            raise FormatError(path, f"category id {cid}", f"expected a non-empty name, got {name!r}")
        if cid in out:
            raise FormatError(path, f"category id {cid}", "duplicate category id")
        if name in names:
            raise FormatError(path, f"category id {cid}", f"duplicate category name {name!r}")
        out[cid] = name
        names.add(name)
    return out


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _read_file(
    path: Path, root: Path, base: str, split: str | None, log: SkipLog, origin: str, exact: bool, fixes: dict[str, int]
) -> tuple[Dataset, dict[str, Any]]:
    from datakit.dataset import Dataset

    data = _load_json(path)
    cat_name = _categories(path, data.get("categories") or [])
    cat_list = list(cat_name.values())
    cat_code = {cid: k for k, cid in enumerate(cat_name)}

    images: list[str] = []
    metadata: list[dict[str, Any] | None] = []
    widths: list[int] = []
    heights: list[int] = []
    labels: list[str | None] = []
    tags: list[tuple[str, ...]] = []
    sources: list[str | None] = []
    prompts: list[str | None] = []
    index: dict[Any, int] = {}
    rejected_ids: set[Any] = set()
    for k, img in enumerate(data["images"]):
        if not isinstance(img, dict):
            log.add(origin, f"image #{k}", f"expected an object, got {type(img).__name__}")
            continue
        missing = [key for key in _IMAGE_KEYS if key not in img]
        iid = img.get("id")
        where = f"image id {iid}" if "id" in img else f"image #{k}"
        if iid not in index and isinstance(iid, int | str) and not isinstance(iid, bool):
            rejected_ids.add(iid)  # until accepted below
        if missing:
            log.add(origin, where, f"missing key(s) {missing}")
            continue
        fname, w, h = img["file_name"], img["width"], img["height"]
        if isinstance(iid, bool) or not isinstance(iid, int | str):
            log.add(origin, where, f"expected an integer id, got {iid!r}")
            continue
        if not _positive_int(w) or not _positive_int(h):
            log.add(origin, where, f"expected positive integer width and height, got {w!r} x {h!r}")
            continue
        if iid in index:
            log.add(origin, where, "duplicate image id")
            continue
        if not isinstance(fname, str) or not fname:
            log.add(origin, where, f"expected file_name to be a path string, got {fname!r}")
            continue
        try:
            rel = safe_relpath(fname, base)
        except PathEscapeError as e:
            log.add(origin, where, str(e), fname)
            continue
        del img["id"], img["file_name"], img["width"], img["height"]
        label = img.pop("label", None)
        if label is not None and not isinstance(label, str):
            img["label"], label = label, None
        tg = img.pop("tags", None)
        if tg is not None and not (isinstance(tg, list) and all(isinstance(t, str) for t in tg)):
            img["tags"], tg = tg, None
        src = img.pop("source", None)
        if src is not None and src not in SOURCES:
            img["source"], src = src, None
        prompt = img.pop("prefix", None)
        if prompt is not None and not isinstance(prompt, str):
            img["prefix"], prompt = prompt, None
        if "category_id" in img:  # a sample label as a category (what datakit writes beside ``label``)
            cat = img["category_id"]
            named = cat_name.get(cat) if isinstance(cat, int | str) and not isinstance(cat, bool) else None
            if named is not None and label in (None, named):
                label = named
                del img["category_id"]
        restore_keys(img, _OWNED_IMAGE)
        img["coco_id"] = iid
        rejected_ids.discard(iid)
        index[iid] = len(images)
        images.append(rel)
        metadata.append(img)
        widths.append(w)
        heights.append(h)
        labels.append(label)
        tags.append(tuple(tg) if tg else ())
        sources.append(src)
        prompts.append(prompt)

    n = len(images)
    img_idx: list[int] = []
    codes: list[int] = []
    bbs: list[Any] = []
    attrs: list[dict[str, Any] | None] = []
    wheres: list[Any] = []
    ann_ids: list[Any] = []  # checked for repeats once, after the loop
    for k, a in enumerate(data.get("annotations") or ()):
        if type(a) is not dict:
            log.add(origin, f"annotation #{k}", f"expected an object, got {type(a).__name__}")
            continue
        try:
            iid = a.pop("image_id")
            cid = a.pop("category_id")
            bb = a.pop("bbox")
        except KeyError as e:
            aid = a.get("id")
            log.add(
                origin, f"annotation id {aid}" if aid is not None else f"annotation #{k}", f"missing key {e.args[0]!r}"
            )
            continue
        i = index.get(iid)
        c = cat_code.get(cid)
        if i is None or c is None or type(bb) is not list or len(bb) != 4:
            aid = a.get("id")
            where = f"annotation id {aid}" if aid is not None else f"annotation #{k}"
            if i is None and iid in rejected_ids:
                log.add(origin, where, f"its image (id {iid!r}) was skipped")
            elif i is None:
                log.add(origin, where, f"image id {iid!r} is not in 'images'")
            elif c is None:
                log.add(origin, where, f"unknown category id {cid!r}")
            else:
                log.add(origin, where, f"expected bbox [x, y, width, height], got {bb!r}")
            continue
        if "id" in a:
            aid = a["coco_id"] = a.pop("id")
            ann_ids.append(aid)
        if "segmentation" in a:
            why = segmentation_problem(a["segmentation"], widths[i], heights[i])
            if why is not None:
                where = f"annotation id {a.get('coco_id')}" if "coco_id" in a else f"annotation #{k}"
                if log.strict:
                    raise FormatError(origin, where, f"invalid segmentation: {why}")
                del a["segmentation"]
                note_fix(fixes, "invalid segmentations removed (their boxes kept)")
        if a and not (len(a) == 3 and "area" in a and "iscrowd" in a):  # the usual shape has no attr_ keys
            restore_keys(a, _OWNED_ANN)
        img_idx.append(i)
        codes.append(c)
        bbs.append(bb)
        attrs.append(a)
        wheres.append(k)

    try:
        distinct = len(set(ann_ids)) == len(ann_ids)
    except TypeError:  # an unhashable id (a list)
        distinct = False
    if not distinct:
        _drop_repeated_ids(attrs, origin, log, fixes)
    del ann_ids
    m = len(bbs)
    try:
        raw = np.asarray(bbs, dtype=np.float64).reshape(m, 4)
        bad_type: list[int] = []
    except (TypeError, ValueError):
        raw = np.zeros((m, 4))
        bad_type = []
        for j, bb in enumerate(bbs):
            try:
                raw[j] = [float(v) for v in bb]
            except (TypeError, ValueError):
                bad_type.append(j)
    ii = np.asarray(img_idx, dtype=np.int64)
    w_arr = np.asarray(widths, dtype=np.float64)[ii] if m else np.zeros(0)
    h_arr = np.asarray(heights, dtype=np.float64)[ii] if m else np.zeros(0)
    bad = np.asarray(~np.isfinite(raw).all(axis=1), dtype=bool)
    bad[bad_type] = True
    neg = ~bad & ((raw[:, 2] < 0) | (raw[:, 3] < 0))
    xyxy = to_xyxy(np.where(np.isfinite(raw), raw, 0), "xywh")
    xyxy, overhang, outside = clip_boxes(xyxy, w_arr, h_arr, BOX_TOLERANCE)
    overhang &= ~bad & ~neg
    outside &= ~bad & ~neg
    if overhang.any():
        if exact:
            j = int(np.flatnonzero(overhang)[0])
            aid = (attrs[j] or {}).get("coco_id")
            where = f"annotation id {aid}" if aid is not None else f"annotation #{wheres[j]}"
            raise box_rule_error(origin, where, bbs[j], int(w_arr[j]), int(h_arr[j]))
        note_fix(fixes, "boxes overhanging their image clipped to it", int((overhang & ~outside).sum()))
    rejected = bad | neg | outside
    if rejected.any():
        for j in np.flatnonzero(rejected).tolist():
            aid = attrs[j].get("coco_id") if attrs[j] else None  # type: ignore[union-attr]
            where = f"annotation id {aid}" if aid is not None else f"annotation #{wheres[j]}"
            if bad[j]:
                reason = f"expected bbox of 4 finite numbers, got {bbs[j]!r}"
            elif neg[j]:
                reason = f"negative box width or height in bbox {bbs[j]!r}"
            else:
                reason = (
                    f"bbox {bbs[j]!r} lies entirely outside the {int(w_arr[j])}x{int(h_arr[j])} image "
                    f"{images[img_idx[j]]}"
                )
            log.add(origin, where, reason, images[img_idx[j]])
        keep = np.flatnonzero(~rejected)
        xyxy, ii = xyxy[keep], ii[keep]
        kl = keep.tolist()
        codes = [codes[j] for j in kl]
        attrs = [attrs[j] for j in kl]
    del bbs, wheres, img_idx, w_arr, h_arr, raw  # the boxes are in ``xyxy`` now: free the lists early
    m = len(xyxy)
    # Optional per-annotation score, then sort objects by image (stable: file order is kept).
    scores = np.full(m, np.nan)
    for j, a in enumerate(attrs):
        if a and "score" in a:
            s = a["score"]
            if isinstance(s, int | float) and not isinstance(s, bool) and 0 <= s <= 1:
                scores[j] = float(a.pop("score"))
    order = np.argsort(ii, kind="stable")
    counts = np.bincount(ii, minlength=n) if m else np.zeros(n, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    ol = order.tolist()
    dets = DetectionColumns(
        offsets,
        xyxy[order],
        Categorical(np.asarray(codes, dtype=np.int32)[order], cat_list),
        scores[order],
        [attrs[j] or None for j in ol],
    )
    ds = Dataset.from_columns(
        root=root,
        images=images,
        ids=[None] * n,
        labels=Categorical.from_values(labels),
        splits=Categorical.constant(split, n),
        sources=Categorical.from_values(sources),
        prompts=Categorical.from_values(prompts),
        origins=Categorical.constant(None, n),  # not a JSONL file: the native writer must not reuse it
        tags=tags,
        metadata=metadata,
        widths=np.asarray(widths, dtype=np.int32),
        heights=np.asarray(heights, dtype=np.int32),
        detections=dets,
        classes=None,
        skipped=[],
    )
    extra = {k: v for k, v in data.items() if k not in ("images", "annotations")}
    return ds, extra


@paused_gc()
def read(
    path: str | Path,
    *,
    images: str | Path | None = None,
    classes: list[str] | None = None,
    strict: bool = False,
    exact: bool = False,
) -> Dataset:
    """Read COCO detection JSON (one file, or a folder in the Roboflow layout).

    Bad records are skipped and listed in ``dataset.skipped`` (file, image or annotation id,
    reason): an image missing ``id``/``file_name``/``width``/``height``, a non-positive size, a
    duplicate image id, a ``file_name`` that is absolute or escapes the root; an annotation for
    an image that is not listed, with an unknown category id, a malformed bbox, a negative box
    width or height, a box entirely outside its image. A box overhanging its image is clipped
    to it and counted in ``dataset.info["fixes"]`` (``exact``: an error); so are invalid
    segmentations (removed, box kept) and duplicate annotation ids (renumbered on export), both
    errors when ``strict``. A file that is not JSON, lacks ``images``, or has a broken
    ``categories`` table is an error. ``dataset.classes`` holds the category names, then any
    sample label (the image key ``label``) outside them.

    Args:
        path: A COCO JSON file, or a folder holding ``_annotations.coco.json`` files.
        images: Folder the ``file_name`` paths are relative to (default: the JSON's folder).
        classes: Declared class list, replacing the category names as ``dataset.classes``
            (annotations and samples whose label is outside it are skipped).
        strict: Raise :class:`~datakit.errors.FormatError` on the first bad record instead.
        exact: Raise on a box overhanging its image instead of clipping it.

    Returns:
        The dataset, rooted at the image folder.

    Raises:
        FileNotFoundError: ``path`` or ``images`` does not exist.
        FormatError: Broken file, or (``strict``) any bad record.

    Examples:
        >>> import json, pathlib, tempfile
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "a.json").write_text(json.dumps({"images": [
        ...     {"id": 1, "file_name": "x.jpg", "width": 8, "height": 8}], "categories": []}))
        >>> len(read(d / "a.json")), read(d / "a.json").info["coco"]["categories"]
        (1, [])

    """
    from datakit.dataset import Dataset

    root, files = discover(path, images)
    log = SkipLog(strict=strict)
    fixes: dict[str, int] = {}
    parts = []
    merged: dict[str, Any] = {}
    categories: dict[Any, dict[str, Any]] = {}
    for f, base, split in files:
        ds, extra = _read_file(f, root, base, split, log, rel_to(f, root), exact, fixes)
        parts.append(ds)
        for c in extra.pop("categories", None) or []:
            categories.setdefault(c["id"], c)
        for k, v in extra.items():
            merged.setdefault(k, v)
    out = Dataset.concat(parts) if len(parts) > 1 else parts[0]
    names = [c["name"] for c in categories.values()]
    if classes is not None:
        out = _keep_declared(out, list(classes), log, str(path))
        names = list(classes)
    info: dict[str, Any] = {"coco": {**merged, "categories": list(categories.values())}, LOCATOR: dict(_LOCATOR)}
    if fixes:
        info[FIXES] = fixes
    c = out.columns
    return out.replace(
        classes=covering_classes(names, [v for v in c.labels.counts() if v is not None]) or [],
        skipped=log.items,
        info=info,
    )


def _drop_repeated_ids(attrs: list[dict[str, Any] | None], origin: str, log: SkipLog, fixes: dict[str, int]) -> None:
    """Annotation ids seen before (or unhashable): an error when ``log`` is strict, else dropped (counted).

    The annotation stays; without its original id the writer numbers every annotation afresh.
    """
    seen: set[Any] = set()
    for a in attrs:
        if not a or "coco_id" not in a:
            continue
        aid = a["coco_id"]
        try:
            dup = aid in seen
            seen.add(aid)
        except TypeError:
            dup = True
        if dup:
            if log.strict:
                raise FormatError(origin, f"annotation id {aid!r}", "duplicate annotation id")
            del a["coco_id"]
            note_fix(fixes, "duplicate annotation ids (renumbered on export)")


def _keep_declared(ds: Dataset, classes: list[str], log: SkipLog, path: str) -> Dataset:
    """``ds`` without annotations and samples whose label is outside ``classes`` (each one logged)."""
    from datakit.columns import DetectionColumns

    allowed = set(classes)
    c = ds.columns
    d = c.detections
    bad = [k for k, v in enumerate(d.labels.values) if v not in allowed]
    if bad:
        rows = np.flatnonzero(np.isin(d.labels.codes, bad))
        owner = d.sample_index()
        for r in rows.tolist():
            i = int(owner[r])
            a = d.attributes[r] or {}
            log.add(
                c.origins[i] or path,
                f"annotation id {a.get('coco_id')}",
                f"category {d.labels[r]!r} is not a declared class",
                c.images[i],
            )
        keep = np.ones(len(d), dtype=bool)
        keep[rows] = False
        counts = np.bincount(owner[keep], minlength=len(ds))
        offsets = np.zeros(len(ds) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        kept = np.flatnonzero(keep)
        dets = DetectionColumns(
            offsets, d.boxes[kept], d.labels.take(kept), d.scores[kept], [d.attributes[r] for r in kept.tolist()]
        )
        ds = ds.replace(detections=dets)
        c = ds.columns
    labels = c.labels.tolist()
    drop = [i for i, v in enumerate(labels) if v is not None and v not in allowed]
    if drop:
        from datakit.formats._common import sample_where

        located = ds.replace(info={LOCATOR: dict(_LOCATOR)})
        for i in drop:
            reason = f"label {labels[i]!r} is not a declared class"
            log.add(c.origins[i] or path, sample_where(located, i), reason, c.images[i])
        keep_s = np.ones(len(ds), dtype=bool)
        keep_s[drop] = False
        ds = ds.take(np.flatnonzero(keep_s))
    return ds


# ----------------------------------------------------------------------------- writing
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
            merge_keys(img, {k: v for k, v in md.items() if k != "coco_id"}, _OWNED_IMAGE_W, counts, "metadata")
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
        for lo in range(0, total, _ANN_CHUNK):
            rows_k = det_rows[lo : lo + _ANN_CHUNK]
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
                        _OWNED_ANN_W if math.isnan(sc) else (*_OWNED_ANN_W, "score"),
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


# ----------------------------------------------------------------- registration (datakit.formats.registry)
def _detect_layout(path: Path) -> bool:
    """A Roboflow ``_annotations.coco.json`` (top or split folders) or ``annotations/instances_*.json``."""
    if (path / COCO_FILE).is_file() or any((c / COCO_FILE).is_file() for c in path.iterdir() if c.is_dir()):
        return True
    return any((path / "annotations").glob("instances_*.json"))


def _detect_one_json(path: Path) -> bool:
    """Exactly one ``*.json`` file at the top of the folder."""
    return len(list(path.glob("*.json"))) == 1


from datakit.formats.registry import Detect, Format, Option  # noqa: E402

FORMAT = Format(
    name="coco",
    summary="COCO JSON: Roboflow <split>/_annotations.coco.json, or annotations/instances_<split>.json",
    read=read,
    write=write,
    detect=(
        Detect(80, _detect_layout, "_annotations.coco.json or annotations/instances_*.json"),
        Detect(40, _detect_one_json, "single *.json"),
    ),
    suffixes=(".json",),
    aliases=("roboflow-coco",),
    read_options=(
        Option("images", "folder the file_name paths are relative to"),
        Option(
            "exact",
            "refuse a box outside its image or a declared size its image header contradicts, instead of fixing it",
            type=bool,
            default=False,
            flag="--strict",
        ),
    ),
    write_options=(
        Option(
            "exact",
            "refuse a box outside its image or a declared size its image header contradicts, instead of fixing it",
            type=bool,
            default=False,
            flag="--strict",
        ),
        Option(
            "layout",
            "<split>/_annotations.coco.json (roboflow, default) or "
            "annotations/instances_<split>.json + <split>/ (coco)",
            choices=("roboflow", "coco"),
            default="roboflow",
            flag="--coco-layout",
        ),
    ),
    cannot_hold=(),
)
