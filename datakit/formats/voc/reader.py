"""Reading Pascal VOC folders (see :mod:`datakit.formats.voc` for the layout and conventions).

Examples:
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "Annotations").mkdir()
    >>> _ = (d / "Annotations" / "a.xml").write_text(
    ...     "<annotation><filename>a.jpg</filename><size><width>8</width><height>8</height></size>"
    ...     "<object><name>ball</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>4</xmax><ymax>4</ymax>"
    ...     "</bndbox></object></annotation>")
    >>> read(d)[0].detections[0].box
    (0.0, 0.0, 4.0, 4.0)

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

from datakit.builder import DatasetBuilder
from datakit.errors import FormatError, PathEscapeError, SkipLog
from datakit.formats._checks import FIXES, box_rule_error, clip_boxes, note_fix
from datakit.formats.voc.layout import EXTRA, IMAGE_SETS, LABELS_FILE, SPLIT_FROM_FILE, find_layout
from datakit.images import IMAGE_EXTENSIONS
from datakit.paths import safe_relpath
from datakit.sample import SOURCES

if TYPE_CHECKING:
    from datakit.dataset import Dataset

_IGNORED = frozenset({"filename", "size", "object", "folder", "path", "segmented", EXTRA})
COORDS = ("xmin", "ymin", "xmax", "ymax")
"""The ``<bndbox>`` elements, in xyxy order."""
_INT = re.compile(r"^[+-]?\d+$")


def _scalar(text: str | None) -> Any:
    t = (text or "").strip()
    if _INT.match(t):
        return int(t)
    try:
        f = float(t)
    except ValueError:
        return t
    return f if math.isfinite(f) else t


def _value(el: ET.Element) -> Any:
    """An element as Python: its text as a number or string, or a dict of its children."""
    if len(el) == 0:
        return _scalar(el.text)
    out: dict[str, Any] = {}
    for child in el:
        v = _value(child)
        if child.tag in out:
            prev = out[child.tag]
            out[child.tag] = [*prev, v] if isinstance(prev, list) else [prev, v]
        else:
            out[child.tag] = v
    return out


def _text(el: ET.Element, tag: str) -> str | None:
    child = el.find(tag)
    return None if child is None or child.text is None else child.text.strip()


def _parse_xml(path: Path, rel: str, log: SkipLog) -> ET.Element | None:
    import defusedxml.ElementTree as SafeET
    from defusedxml import DefusedXmlException

    try:
        root = SafeET.parse(path).getroot()
    except ET.ParseError as e:
        line = e.position[0] if getattr(e, "position", None) else None
        reason = re.sub(r": line \d+, column \d+$", "", str(e))
        log.add(rel, line, f"malformed XML ({reason})")
        return None
    except DefusedXmlException as e:
        log.add(rel, None, f"refused XML ({e})")
        return None
    if root.tag != "annotation":
        log.add(rel, None, f"expected an <annotation> root element, got <{root.tag}>")
        return None
    return root


def _size(root: ET.Element) -> tuple[int, int] | str:
    size = root.find("size")
    if size is None:
        return "missing <size> (the image width and height)"
    w, h = _text(size, "width"), _text(size, "height")
    try:
        wf, hf = float(w or ""), float(h or "")
    except ValueError:
        return f"expected positive integer <width> and <height> in <size>, got {w!r} x {h!r}"
    if not (wf.is_integer() and hf.is_integer() and wf > 0 and hf > 0):
        return f"expected positive integer <width> and <height> in <size>, got {w!r} x {h!r}"
    return int(wf), int(hf)


def _extra(root: ET.Element) -> dict[str, Any] | str:
    """The ``<datakit>`` JSON object (empty when absent), or why it is bad."""
    el = root.find(EXTRA)
    if el is None or not (el.text or "").strip():
        return {}
    try:
        data = orjson.loads(el.text or "")
    except orjson.JSONDecodeError as e:
        return f"<{EXTRA}> is not JSON ({e})"
    return data if isinstance(data, dict) else f"expected <{EXTRA}> to hold a JSON object, got {type(data).__name__}"


def _sample_fields(extra: dict[str, Any]) -> str | None:
    """Why the sample fields of a ``<datakit>`` element are bad, or ``None``."""
    for key in ("label", "prompt"):
        if extra.get(key) is not None and not isinstance(extra[key], str):
            return f"expected <{EXTRA}> {key} to be a string, got {extra[key]!r}"
    if extra.get("source", "real") not in SOURCES:
        return f"expected <{EXTRA}> source in {SOURCES}, got {extra['source']!r}"
    tags = extra.get("tags", [])
    if not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        return f"expected <{EXTRA}> tags to be a list of strings, got {tags!r}"
    if not isinstance(extra.get("metadata", {}), dict):
        return f"expected <{EXTRA}> metadata to be an object, got {extra['metadata']!r}"
    return None


def _objects(
    root: ET.Element, rel: str, declared: set[str] | None, log: SkipLog
) -> list[tuple[str, list[float], float | None, dict[str, Any] | None, str]]:
    """``(label, raw xyxy, score, attributes, where)`` per valid object (bad ones logged)."""
    out = []
    for k, obj in enumerate(root.findall("object"), 1):
        where = f"object {k}"
        name = _text(obj, "name")
        if not name:
            log.add(rel, where, "missing <name>")
            continue
        if declared is not None and name not in declared:
            log.add(rel, where, f"unknown class {name!r} (not in the declared classes)")
            continue
        bnd = obj.find("bndbox")
        if bnd is None:
            log.add(rel, where, "missing <bndbox>")
            continue
        coords: list[float] = []
        for tag in COORDS:
            t = _text(bnd, tag)
            try:
                v = float(t or "")
            except ValueError:
                v = math.nan
            if not math.isfinite(v):
                log.add(rel, where, f"expected a number in <bndbox><{tag}>, got {t!r}")
                break
            coords.append(v)
        if len(coords) < 4:
            continue
        xmin, ymin, xmax, ymax = coords
        if xmax < xmin or ymax < ymin:
            log.add(rel, where, f"expected xmin <= xmax and ymin <= ymax, got {xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}")
            continue
        attrs: dict[str, Any] = {}
        score: float | None = None
        for child in obj:
            if child.tag in ("name", "bndbox"):
                continue
            if child.tag == EXTRA:
                try:
                    data = orjson.loads(child.text or "{}")
                except orjson.JSONDecodeError as e:
                    data = f"<{EXTRA}> is not JSON ({e})"
                if not isinstance(data, dict):
                    log.add(rel, where, data if isinstance(data, str) else f"expected <{EXTRA}> to hold a JSON object")
                    attrs = {}
                    break
                s = data.pop("score", None)
                if isinstance(s, int | float) and not isinstance(s, bool) and 0 <= s <= 1:
                    score = float(s)
                attrs.update(data)
            elif child.tag in attrs:
                prev = attrs[child.tag]
                attrs[child.tag] = [*prev, _value(child)] if isinstance(prev, list) else [prev, _value(child)]
            else:
                attrs[child.tag] = _value(child)
        else:
            out.append((name, [xmin - 1, ymin - 1, xmax, ymax], score, attrs or None, where))
    return out


def _split_lists(root: Path, ids: set[str], log: SkipLog) -> dict[str, str]:
    """Image id → datakit split, from ``ImageSets/Main/*.txt``."""
    folder = root / IMAGE_SETS
    if not folder.is_dir():
        return {}
    lists: dict[str, list[str]] = {}
    for f in sorted(folder.glob("*.txt")):
        lines = f.read_text(encoding="utf-8-sig", errors="replace").splitlines()
        first = next((ln.split() for ln in lines if ln.strip()), [])
        if len(first) == 1:  # a split list (per-class files have two columns)
            lists[f.stem] = lines
    if "trainval" in lists and ("train" in lists or "val" in lists):
        del lists["trainval"]
    order = sorted(lists, key=lambda s: ({"train": 0, "trainval": 0, "val": 1, "test": 2}.get(s, 3), s))
    split_of: dict[str, str] = {}
    listed_in: dict[str, str] = {}
    for name in order:
        split = "train" if name == "trainval" else SPLIT_FROM_FILE.get(name, name)
        rel = f"{IMAGE_SETS}/{name}.txt"
        for lineno, line in enumerate(lists[name], 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 1:
                log.add(rel, lineno, f"expected one image id per line, got {line.strip()!r}")
                continue
            iid = parts[0]
            if iid not in ids:
                log.add(rel, lineno, f"no annotation file for image id {iid!r}")
            elif iid in split_of:
                log.add(rel, lineno, f"image id {iid!r} is already listed in {listed_in[iid]}")
            else:
                split_of[iid] = split
                listed_in[iid] = f"{name}.txt"
    return split_of


def _images_by_stem(folder: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if folder.is_dir():
        for name in sorted(os.listdir(folder)):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                out.setdefault(os.path.splitext(name)[0], name)
    return out


def read(
    path: str | Path,
    *,
    classes: list[str] | None = None,
    strict: bool = False,
    exact: bool = False,
) -> Dataset:
    """Read a Pascal VOC folder (see the module docstring for the layout and conventions).

    Args:
        path: The VOC folder (the one holding ``Annotations/``).
        classes: Declared classes (default: the root's ``labels.txt``, if any); objects and
            samples with another label are skipped (reported).
        strict: Raise :class:`~datakit.errors.FormatError` on the first bad record instead.
        exact: Raise on a box overhanging its image instead of clipping it.

    Returns:
        The dataset, rooted at ``path`` (image paths ``JPEGImages/<file>``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FormatError: No annotation folder, or (``strict``) any bad record.

    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"dataset not found: {root}")
    if not root.is_dir():
        raise FormatError(root, None, "expected a VOC folder (Annotations/*.xml, JPEGImages/), got a file")
    found = find_layout(root)
    if found is None:
        raise FormatError(root, None, "no Annotations/*.xml found: not a Pascal VOC folder")
    ann_dir, img_dir = found
    log = SkipLog(strict=strict)
    labels_file = root / LABELS_FILE
    if classes is None and labels_file.is_file():
        classes = [ln.strip() for ln in labels_file.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
    declared = set(classes) if classes is not None else None
    xmls = sorted(p for p in (root / ann_dir).iterdir() if p.suffix.lower() == ".xml" and not p.name.startswith("."))
    split_of = _split_lists(root, {p.stem for p in xmls}, log)
    by_stem: dict[str, str] | None = None
    fixes: dict[str, int] = {}
    b = DatasetBuilder()
    for xml_path in xmls:
        rel = f"{ann_dir}/{xml_path.name}"
        ann = _parse_xml(xml_path, rel, log)
        if ann is None:
            continue
        size = _size(ann)
        if isinstance(size, str):
            log.add(rel, None, size)
            continue
        w, h = size
        fname = _text(ann, "filename")
        if not fname:
            if by_stem is None:
                by_stem = _images_by_stem(root / img_dir)
            fname = by_stem.get(xml_path.stem)
            if fname is None:
                log.add(rel, None, f"no <filename> and no image named {xml_path.stem}.* in {img_dir}/")
                continue
        try:
            image = safe_relpath(fname, img_dir)
        except PathEscapeError as e:
            log.add(rel, None, str(e), fname)
            continue
        extra = _extra(ann)
        if isinstance(extra, str):
            log.add(rel, None, extra, image)
            continue
        problem = _sample_fields(extra)
        if problem is not None:
            log.add(rel, None, problem, image)
            continue
        label = extra.get("label")
        if label is not None and declared is not None and label not in declared:
            log.add(rel, None, f"label {label!r} is not a declared class", image)
            continue
        metadata = dict(extra.get("metadata") or {})
        foreign = {el.tag: _value(el) for el in ann if el.tag not in _IGNORED}
        if foreign:
            metadata["voc"] = foreign
        objects = _objects(ann, rel, declared, log)
        dets: list[tuple[str | None, Any, float | None, dict[str, Any] | None]] = []
        if objects:
            raw = np.asarray([o[1] for o in objects], dtype=np.float64)
            boxes, outside, empty = clip_boxes(raw, w, h)
            for j, (name, box, score, attrs, where) in enumerate(objects):
                if empty[j]:
                    log.add(rel, where, f"box {box} lies entirely outside the {w}x{h} image", image)
                    continue
                if outside[j] and exact:
                    raise box_rule_error(rel, where, box, w, h)
                dets.append((name, tuple(boxes[j].tolist()), score, attrs))
            note_fix(fixes, "boxes overhanging their image clipped to it", int((outside & ~empty).sum()))
        b.add(
            image,
            label=label,
            split=split_of.get(xml_path.stem),
            source=extra.get("source") or "real",
            tags=tuple(extra.get("tags") or ()),
            metadata=metadata or None,
            prompt=extra.get("prompt"),
            width=w,
            height=h,
            detections=dets,
        )
    return b.build(root, classes=classes, skipped=log.items, info={FIXES: fixes} if fixes else None)
