r"""YOLO detection in the Ultralytics layout: ``images/<split>``, ``labels/<split>``, ``data.yaml``.

Every label file holds one ``class cx cy w h`` line per object, normalised to [0, 1]; the class
ids index the one ``names`` list of ``data.yaml``, shared by every split. Reading takes image
sizes from file headers (never decoding pixels). Writing gives every image a label file (empty
when it has no objects), and can write a classification dataset as classification-as-detection:
one full-image box ``<class> 0.5 0.5 1.0 1.0`` per image (the Pokémon / K210 case).

Examples:
    >>> import pathlib, tempfile
    >>> from datakit import Dataset, Sample
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> ds = Dataset.from_samples([Sample("a.jpg", label="0001", split="train", width=8, height=8)], d)
    >>> r = write(ds, d / "yolo", images="none")
    >>> (r.out / "labels" / "train" / "a.txt").read_text()
    '0 0.500000 0.500000 1.000000 1.000000\n'

"""

from __future__ import annotations

import contextlib
import os
import posixpath
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from datakit.atomic import atomic_dir
from datakit.boxes import from_xyxy, to_xyxy
from datakit.builder import paused_gc
from datakit.columns import Categorical, DetectionColumns
from datakit.errors import FormatError, SkipLog
from datakit.formats._checks import (
    BOX_TOLERANCE,
    FIXES,
    box_rule_error,
    clip_boxes,
    export_boxes,
    note_fix,
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
from datakit.images import IMAGE_EXTENSIONS

if TYPE_CHECKING:
    from datakit.dataset import Dataset

YAML_NAMES = ("data.yaml", "data.yml", "dataset.yaml", "dataset.yml")
"""File names looked for in a YOLO folder, in order."""

IO_THREADS = 2
"""Threads reading image headers and label files."""

COORD_TOLERANCE = 1e-6
"""Normalised coordinates may exceed [0, 1] by this much (float printing)."""

_SPLIT_KEYS = {"train": "train", "valid": "val", "val": "val", "validation": "val", "test": "test"}


def find_yaml(path: str | Path) -> Path | None:
    """The dataset YAML of a YOLO folder (or ``path`` itself when it is a YAML file)."""
    path = Path(path)
    if path.is_file():
        return path if path.suffix in (".yaml", ".yml") else None
    for name in YAML_NAMES:
        if (path / name).is_file():
            return path / name
    return None


def _names(yaml_path: Path, raw: Any) -> list[str]:
    if isinstance(raw, list) and raw:
        return [str(x) for x in raw]
    if isinstance(raw, dict) and raw:
        try:
            ids = sorted(int(k) for k in raw)
        except (TypeError, ValueError):
            raise FormatError(yaml_path, "names", "expected integer class ids as keys") from None
        if ids != list(range(len(ids))):
            raise FormatError(yaml_path, "names", f"expected class ids 0..{len(ids) - 1}, got {ids}")
        by_id = {int(k): str(v) for k, v in raw.items()}
        return [by_id[i] for i in range(len(ids))]
    raise FormatError(yaml_path, "names", f"expected a list or a dict of class names, got {raw!r}")


def _label_path(image: str) -> str:
    """Ultralytics' rule: the last ``/images/`` becomes ``/labels/``, the suffix ``.txt``."""
    head, sep, tail = ("/" + image).rpartition("/images/")
    stem = f"{head}/labels/{tail}"[1:] if sep else image
    return os.path.splitext(stem)[0] + ".txt"


def _read_text(path: str) -> str:
    """A small UTF-8 file through a raw descriptor (no buffered-reader object per file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = [os.read(fd, 65536)]
        while len(chunks[-1]) == 65536:
            chunks.append(os.read(fd, 65536))
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8")


def _list_images(folder: Path) -> list[str]:
    """Absolute image paths under ``folder`` (strings: no Path object per file)."""
    out = []
    join = os.path.join
    for dirpath, dirnames, filenames in os.walk(os.path.abspath(folder)):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith("."):
                out.append(join(dirpath, name))
    return out


def _split_name(folder: Path, key: str) -> str:
    if folder.name not in ("images", ""):
        return folder.name
    if folder.name == "images" and folder.parent.name:
        return folder.parent.name
    return key


@paused_gc()
def read(
    path: str | Path,
    *,
    classes: list[str] | None = None,
    strict: bool = False,
    exact: bool = False,
) -> Dataset:
    r"""Read an Ultralytics YOLO dataset (its folder or its ``data.yaml``).

    Splits are the ``train``/``val``/``test`` entries of the YAML (folders, or ``.txt`` lists of
    images); a split is named after its folder (``images/valid`` → ``valid``). Images without a
    label file have no objects. Bad lines are skipped and listed in ``dataset.skipped`` (label
    file, line, reason): a wrong field count, a class id that is not an integer in range, a
    negative size, a box entirely outside its image; so are unreadable images (with their
    label file), label files no image of the dataset matches, and an ``nc`` that disagrees with
    ``names`` (the names win). A box overhanging its image is clipped to it and counted in
    ``dataset.info["fixes"]`` (``exact``: an error).

    Args:
        path: The dataset folder or its YAML file.
        classes: Class names replacing the YAML's ``names`` (same order as the ids).
        strict: Raise :class:`~datakit.errors.FormatError` on the first bad line or image.
        exact: Raise on a box overhanging its image instead of clipping it.

    Returns:
        The dataset, rooted at the YAML's folder.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FormatError: No or broken YAML, or (``strict``) any bad line or image.

    Examples:
        >>> import pathlib, tempfile
        >>> from PIL import Image
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> (d / "images" / "train").mkdir(parents=True); (d / "labels" / "train").mkdir(parents=True)
        >>> Image.new("RGB", (100, 50)).save(d / "images" / "train" / "a.png")
        >>> _ = (d / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.4\n")
        >>> _ = (d / "data.yaml").write_text("train: images/train\nnames: [ball]\n")
        >>> ds = read(d)
        >>> ds[0].split, ds[0].detections[0].label, ds[0].detections[0].box
        ('train', 'ball', (40.0, 15.0, 60.0, 35.0))

    """
    import yaml

    from datakit.dataset import Dataset
    from datakit.formats._imagesize import fast_image_size

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset not found: {path}")
    yaml_path = find_yaml(path)
    if yaml_path is None:
        raise FormatError(path, None, f"no YOLO dataset YAML ({', '.join(YAML_NAMES)}) found")
    try:
        spec = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise FormatError(yaml_path, None, f"not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(spec, dict):
        raise FormatError(yaml_path, None, "expected a YAML mapping")
    if "names" not in spec:
        raise FormatError(yaml_path, None, "missing key 'names'")
    names = _names(yaml_path, spec["names"]) if classes is None else list(classes)
    nc = len(names)
    root = yaml_path.parent
    log = SkipLog(strict=strict)
    yaml_rel = yaml_path.name
    declared_nc = spec.get("nc")
    if declared_nc is not None and classes is None and declared_nc != nc:
        log.add(yaml_rel, "nc", f"{declared_nc!r} disagrees with the {nc} names (the names are used)")
    base = root
    if isinstance(spec.get("path"), str) and spec["path"]:
        p = Path(spec["path"])
        p = p if p.is_absolute() else root / p
        if p.is_dir():
            base = p

    # 1. Images of every split, as paths relative to the root.
    entries: list[tuple[str, str]] = []  # (image relative to root, split)
    label_dirs: list[str] = []  # image folders whose label folders are checked for strays
    seen: set[str] = set()
    root_res = root.resolve()
    root_prefix = os.path.abspath(root) + os.sep
    root_str = str(root) + os.sep
    custom = [
        k
        for k, v in spec.items()
        if k not in ("train", "val", "test") and isinstance(v, str) and v.startswith("images/")
    ]  # other splits datakit wrote (Ultralytics ignores them)
    for key in ("train", "val", "test", *custom):
        value = spec.get(key)
        if not value:
            continue
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str):
                raise FormatError(yaml_path, key, f"expected a folder or .txt path, got {item!r}")
            loc = Path(item) if Path(item).is_absolute() else base / item
            if item.endswith(".txt"):
                if not loc.is_file():
                    raise FormatError(yaml_path, key, f"image list not found: {loc}")
                files = [
                    x if os.path.isabs(x) else os.path.normpath(os.path.join(loc.parent, x))
                    for x in loc.read_text(encoding="utf-8").split()
                ]
                split = key if key != "val" else "valid"
            else:
                if not loc.is_dir():
                    raise FormatError(yaml_path, key, f"image folder not found: {loc}")
                files = _list_images(loc)
                split = _split_name(Path(os.path.abspath(loc)), key)
                label_dirs.append(os.path.abspath(loc))
            for f in files:
                f = os.path.abspath(f)
                if f.startswith(root_prefix):
                    rel = f[len(root_prefix) :]
                else:
                    try:
                        rel = Path(f).resolve().relative_to(root_res).as_posix()
                    except ValueError:
                        log.add(yaml_rel, key, f"image {f} is outside the dataset root {root}", f)
                        continue
                if rel not in seen:
                    seen.add(rel)
                    entries.append((rel, split))

    # 2. Sizes from headers and label texts, read in threads (file opens are I/O bound).
    def load(chunk: list[tuple[str, str]]) -> list[tuple[Any, Any]]:
        out: list[tuple[Any, Any]] = []
        for rel, _ in chunk:
            try:
                size: Any = fast_image_size(root_str + rel)
            except (FileNotFoundError, ValueError) as e:
                out.append((e, None))
                continue
            text: Any
            try:
                text = _read_text(root_str + _label_path(rel))
            except FileNotFoundError:
                text = None
            except (OSError, UnicodeDecodeError) as e:
                text = e
            out.append((size, text))
        return out

    chunks = [entries[k : k + 512] for k in range(0, len(entries), 512)]
    if len(chunks) > 1:
        with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
            loaded = [r for part in pool.map(load, chunks) for r in part]
    else:
        loaded = [r for part in map(load, chunks) for r in part]

    # 3. Label lines: bucket by field count, parse the 5-field ones in one vectorised call.
    images: list[str] = []
    splits: list[str | None] = []
    widths: list[int] = []
    heights: list[int] = []
    five: list[str] = []
    owner: list[int] = []
    where: list[tuple[int, int]] = []
    for (rel, split), (size, text) in zip(entries, loaded, strict=True):
        if isinstance(size, Exception):
            log.add(_label_path(rel), None, f"image {rel}: {size}", rel)
            continue
        i = len(images)
        images.append(rel)
        splits.append(split)
        widths.append(size[0])
        heights.append(size[1])
        if text is None:
            continue
        if isinstance(text, Exception):
            log.add(_label_path(rel), None, f"unreadable label file ({text})", rel)
            continue
        for ln, line in enumerate(text.splitlines(), 1):
            k = len(line.split())
            if k == 5:
                five.append(line)
                owner.append(i)
                where.append((i, ln))
            elif k:
                log.add(_label_path(rel), ln, f"expected 5 fields (class cx cy w h), got {k}", rel)
    n = len(images)
    m = len(five)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            vals = np.fromstring(" ".join(five), sep=" ") if m else np.zeros(0)
        except ValueError:
            vals = np.zeros(0)
    if vals.size != 5 * m:  # a token that is not a number: parse line by line to find it
        rows = np.full((m, 5), np.nan)
        for j, line in enumerate(five):
            with contextlib.suppress(ValueError):
                rows[j] = [float(t) for t in line.split()]
        vals = rows
    vals = vals.reshape(m, 5)
    cls = vals[:, 0]
    xywh = vals[:, 1:]
    not_num = np.asarray(~np.isfinite(vals).all(axis=1), dtype=bool)
    bad_cls = ~not_num & ((cls != np.floor(cls)) | (cls < 0) | (cls >= nc))
    neg = ~not_num & ~bad_cls & ((xywh[:, 2] < 0) | (xywh[:, 3] < 0))
    ok = ~not_num & ~bad_cls & ~neg
    own = np.asarray(owner, dtype=np.int64)
    w_obj = np.asarray(widths, dtype=np.float64)[own]
    h_obj = np.asarray(heights, dtype=np.float64)[own]
    boxes = to_xyxy(np.where(ok[:, None], xywh, 0.0), "cxcywh", normalized=True, image_size=(w_obj, h_obj))
    boxes, over, outside = clip_boxes(boxes, w_obj, h_obj, BOX_TOLERANCE)
    over &= ok
    outside &= ok
    fixes: dict[str, int] = {}
    if over.any():
        if exact:
            j = int(np.flatnonzero(over)[0])
            i, ln = where[j]
            raise box_rule_error(_label_path(images[i]), ln, five[j].strip(), int(w_obj[j]), int(h_obj[j]))
        note_fix(fixes, "boxes overhanging their image clipped to it", int((over & ~outside).sum()))
    rejected = ~ok | outside
    if rejected.any():
        for j in np.flatnonzero(rejected).tolist():
            i, ln = where[j]
            if not_num[j]:
                reason = f"expected numbers, got {five[j].strip()!r}"
            elif bad_cls[j]:
                reason = f"class id {five[j].split()[0]} out of range 0..{nc - 1}"
            elif neg[j]:
                reason = f"negative box width or height: {five[j].strip()!r}"
            else:
                reason = f"box lies entirely outside the {int(w_obj[j])}x{int(h_obj[j])} image: {five[j].strip()!r}"
            log.add(_label_path(images[i]), ln, reason, images[i])
        keep = ~rejected
        cls, boxes, own = cls[keep], boxes[keep], own[keep]
    counts = np.bincount(own, minlength=n) if len(own) else np.zeros(n, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    # ``owner`` is already in image order: label files were read image by image.
    dets = DetectionColumns(
        offsets, boxes, Categorical(cls.astype(np.int32), names),
        np.full(len(own), np.nan), [None] * len(own),
    )  # fmt: skip
    n_labels = sum(1 for _, text in loaded if text is not None)
    _stray_labels(root, label_dirs, n_labels, lambda: {_label_path(rel) for rel, _ in entries}, log)
    extra = {k: v for k, v in spec.items() if k not in ("train", "val", "test", "names", "nc", "path", *custom)}
    info: dict[str, Any] = {"yolo": extra} if extra else {}
    if fixes:
        info[FIXES] = fixes
    return Dataset.from_columns(
        root=root, images=images, ids=[None] * n,
        labels=Categorical.constant(None, n), splits=Categorical.from_values(splits),
        sources=Categorical.constant(None, n), prompts=Categorical.constant(None, n),
        origins=Categorical.constant(None, n), tags=[()] * n, metadata=[None] * n,
        widths=np.asarray(widths, dtype=np.int32), heights=np.asarray(heights, dtype=np.int32),
        detections=dets, classes=names, skipped=log.items, info=info,
    )  # fmt: skip


def _stray_labels(
    root: Path, image_dirs: list[str], n_found: int, matched: Callable[[], set[str]], log: SkipLog
) -> None:
    """Log every label file under the label folders of ``image_dirs`` that no image matched.

    ``n_found`` label files were read for the dataset's images; when the label folders hold no
    more than that, nothing is stray and ``matched()`` (the label path of every image) is not built.
    """
    root_prefix = os.path.abspath(root) + os.sep
    folders: list[str] = []
    for folder in dict.fromkeys(image_dirs):
        if not folder.startswith(root_prefix):
            continue
        rel_dir = folder[len(root_prefix) :].replace(os.sep, "/")
        label_dir = posixpath.dirname(_label_path(rel_dir + "/x"))
        if label_dir != rel_dir:  # labels lie apart from the images (images/ → labels/)
            folders.append(os.path.join(root_prefix, label_dir))
    found: list[tuple[str, list[str]]] = []  # (folder, label file names)
    todo = list(dict.fromkeys(folders))
    while todo:  # os.listdir, not os.walk: a label folder holds ~100k files and few folders
        folder = todo.pop()
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        found.append((folder, [f for f in names if f.endswith(".txt") and f[0] != "." and f != "classes.txt"]))
        todo += [
            os.path.join(folder, f)
            for f in names
            if not f.endswith(".txt") and f[0] != "." and os.path.isdir(os.path.join(folder, f))
        ]
    if sum(len(files) for _, files in found) <= n_found:
        return
    known = matched()
    for folder, files in sorted(found):
        for name in sorted(files):
            rel = os.path.join(folder, name)[len(root_prefix) :].replace(os.sep, "/")
            if rel not in known:
                log.add(rel, None, "label file with no matching image (its objects are not loaded)")


# ----------------------------------------------------------------------------- writing
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
        crowd = np.fromiter(
            (bool(a.get("iscrowd")) if a else False for a in d.attributes), dtype=bool, count=len(d)
        )
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
        label_text.setdefault(_label_path(placed[(split_list[i] or unsplit, c.images[i])]), []).append(i)
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
        key = _SPLIT_KEYS.get(sp, sp)
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


# ----------------------------------------------------------------- registration (datakit.formats.registry)
def _detect_yaml(path: Path) -> bool:
    """A ``data.yaml`` (or ``dataset.yaml``) at the top of the folder."""
    return find_yaml(path) is not None


from datakit.formats.registry import Detect, Format, Option  # noqa: E402

FORMAT = Format(
    name="yolo",
    summary="Ultralytics YOLO: images/<split>/, labels/<split>/*.txt, data.yaml with names",
    read=read,
    write=write,
    detect=(Detect(90, _detect_yaml, "data.yaml"),),
    suffixes=(".yaml", ".yml"),
    aliases=("ultralytics",),
    read_options=(
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
            "full_image_boxes",
            "write each sample's label as a full-image box (classification as detection); "
            "--no-full-image-boxes never does, even for a label-only dataset",
            type=bool,
            default=None,
        ),
    ),
    cannot_hold=(
        "metadata",
        "tags",
        "source",
        "prompt",
        "detection scores",
        "detection attributes",
        "sample labels (unless written as full-image boxes)",
    ),
)
