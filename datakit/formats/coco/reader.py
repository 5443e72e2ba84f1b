"""Reading COCO detection JSON into a Dataset (see :mod:`datakit.formats.coco` for the rules).

Examples:
    >>> import json, pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "ann.json").write_text(json.dumps({
    ...     "images": [{"id": 7, "file_name": "a.jpg", "width": 64, "height": 48}],
    ...     "annotations": [], "categories": [{"id": 3, "name": "ball"}]}))
    >>> read(d / "ann.json").classes
    ['ball']

"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from datakit.boxes import to_xyxy
from datakit.builder import paused_gc
from datakit.columns import Categorical, DetectionColumns
from datakit.errors import FormatError, PathEscapeError, SkipLog
from datakit.formats._checks import (
    BOX_TOLERANCE,
    FIXES,
    box_rule_error,
    clip_boxes,
    note_fix,
    restore_keys,
    segmentation_problem,
)
from datakit.formats._common import (
    LOCATOR,
    covering_classes,
    rel_to,
)
from datakit.formats.coco.layout import (
    COCO_LOCATOR,
    IMAGE_KEYS,
    OWNED_ANN,
    OWNED_IMAGE,
    discover,
)
from datakit.paths import safe_relpath
from datakit.sample import SOURCES

if TYPE_CHECKING:
    from datakit.dataset import Dataset


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
        missing = [key for key in IMAGE_KEYS if key not in img]
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
        restore_keys(img, OWNED_IMAGE)
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
            restore_keys(a, OWNED_ANN)
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
    info: dict[str, Any] = {"coco": {**merged, "categories": list(categories.values())}, LOCATOR: dict(COCO_LOCATOR)}
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

        located = ds.replace(info={LOCATOR: dict(COCO_LOCATOR)})
        for i in drop:
            reason = f"label {labels[i]!r} is not a declared class"
            log.add(c.origins[i] or path, sample_where(located, i), reason, c.images[i])
        keep_s = np.ones(len(ds), dtype=bool)
        keep_s[drop] = False
        ds = ds.take(np.flatnonzero(keep_s))
    return ds
