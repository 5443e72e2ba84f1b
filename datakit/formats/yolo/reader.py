"""Reading an Ultralytics YOLO dataset (see :mod:`datakit.formats.yolo` for the rules).

Examples:
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> import yaml
    >>> _ = (d / "data.yaml").write_text(yaml.safe_dump({"names": ["ball"], "train": "train/images"}))
    >>> (d / "train" / "images").mkdir(parents=True)
    >>> len(read(d)), read(d).classes
    (0, ['ball'])

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

from datakit.boxes import to_xyxy
from datakit.builder import paused_gc
from datakit.columns import Categorical, DetectionColumns
from datakit.errors import FormatError, SkipLog
from datakit.formats._checks import (
    BOX_TOLERANCE,
    FIXES,
    box_rule_error,
    clip_boxes,
    note_fix,
)
from datakit.formats.yolo.layout import (
    IO_THREADS,
    YAML_NAMES,
    find_yaml,
    label_path,
    yaml_class_names,
)
from datakit.images import IMAGE_EXTENSIONS

if TYPE_CHECKING:
    from datakit.dataset import Dataset


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
    names = yaml_class_names(yaml_path, spec["names"]) if classes is None else list(classes)
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
                text = _read_text(root_str + label_path(rel))
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
            log.add(label_path(rel), None, f"image {rel}: {size}", rel)
            continue
        i = len(images)
        images.append(rel)
        splits.append(split)
        widths.append(size[0])
        heights.append(size[1])
        if text is None:
            continue
        if isinstance(text, Exception):
            log.add(label_path(rel), None, f"unreadable label file ({text})", rel)
            continue
        for ln, line in enumerate(text.splitlines(), 1):
            k = len(line.split())
            if k == 5:
                five.append(line)
                owner.append(i)
                where.append((i, ln))
            elif k:
                log.add(label_path(rel), ln, f"expected 5 fields (class cx cy w h), got {k}", rel)
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
            raise box_rule_error(label_path(images[i]), ln, five[j].strip(), int(w_obj[j]), int(h_obj[j]))
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
            log.add(label_path(images[i]), ln, reason, images[i])
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
    _stray_labels(root, label_dirs, n_labels, lambda: {label_path(rel) for rel, _ in entries}, log)
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
        label_dir = posixpath.dirname(label_path(rel_dir + "/x"))
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
