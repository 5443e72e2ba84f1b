r"""Rules every format reader and writer applies the same way: boxes, sizes, images, segmentation, keys.

- **Boxes outside the image** (:func:`clip_boxes`): a box overhanging its image by more than
  :data:`BOX_TOLERANCE` pixels is clipped to the image and counted; one left without area is
  dropped and counted; with ``exact=True`` (``datakit convert --strict``) either is an error.
- **Declared sizes** (:func:`check_images`): an exporter that places image files reads every
  header; a declared ``width``/``height`` the header contradicts is replaced by the header and
  counted (an error with ``exact``); a missing, empty, truncated or unreadable image, or one
  whose path leaves the dataset root, is skipped and counted (an error unless ``--lenient``).
- **Segmentation** (:func:`segmentation_problem`): polygons of at least 3 points, RLE whose
  counts cover the image, so that ``pycocotools.annToMask`` works on every export.
- **Keys a writer owns** (:func:`merge_keys`): when per-object attributes or per-image metadata
  are merged into a record whose keys the writer sets (COCO ``id``, ``bbox``...), the writer's
  keys win and a clashing attribute is kept as ``attr_<key>`` (counted); readers turn
  ``attr_<key>`` back into ``<key>`` (:func:`restore_keys`).
- **What a reader fixed** (:func:`note_fix`): counts kept in ``dataset.info["fixes"]``, which a
  writer reports as notes (:func:`pop_fixes`).

Examples:
    >>> import numpy as np
    >>> boxes, outside, empty = clip_boxes(np.array([[-5.0, 2, 10, 1e30], [1, 1, 3, 3]]), 64, 48)
    >>> boxes.tolist(), outside.tolist(), empty.tolist()
    ([[0.0, 2.0, 10.0, 48.0], [1.0, 1.0, 3.0, 3.0]], [True, False], [False, False])
    >>> target = {"id": 1, "bbox": [0, 0, 2, 2]}
    >>> renamed = {}
    >>> merge_keys(target, {"id": 7, "track": 3}, ("id", "bbox"), renamed, "attributes")
    >>> target, renamed
    ({'id': 1, 'bbox': [0, 0, 2, 2], 'attr_id': 7, 'track': 3}, {'attributes.id → attr_id': 1})
    >>> restore_keys({"attr_id": 7}, ("id",))
    {'id': 7}
    >>> segmentation_problem([[1, 2, 3]], 8, 8)
    'polygon 0 has 3 numbers; expected an even count of at least 6 (3 points)'

"""

from __future__ import annotations

import math
import os
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np

from datakit.errors import FormatError, SkipLog
from datakit.formats.registry import Option

if TYPE_CHECKING:
    from datakit.dataset import Dataset

BOX_TOLERANCE = 1.0
"""Pixels a box may overhang its image before it counts as outside it (rounding in real files)."""

ASIDE_PREFIX = "attr_"
"""Prefix of an attribute or metadata key kept aside because the writer owns its name."""

FIXES = "fixes"
"""Key of ``dataset.info`` where readers count what they fixed (reason → count)."""


EXACT = Option(
    "exact",
    "refuse, instead of fixing and counting, a box outside its image or a declared image size "
    "that the image header contradicts",
    type=bool,
    default=False,
    flag="--strict",
)
"""The ``exact`` option (``--strict``) of the readers and writers that apply the box and size rules."""


# ----------------------------------------------------------------------------- boxes
def clip_boxes(
    boxes: np.ndarray, widths: Any, heights: Any, tol: float = BOX_TOLERANCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip xyxy boxes to their images; say which overhung and which have no area left.

    Args:
        boxes: ``(M, 4)`` absolute-pixel xyxy.
        widths: Image width per box (``(M,)``) or one scalar; ``<= 0`` means unknown (not clipped).
        heights: Likewise.
        tol: Overhang in pixels that is clipped without counting as outside.

    Returns:
        ``(clipped, outside, empty)``: the clipped boxes (a new array), a mask of boxes that
        overhung by more than ``tol`` (or are not finite), and a mask of boxes with no area
        left inside the image (or not finite), which callers drop.

    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    m = len(b)
    w = np.broadcast_to(np.asarray(widths, dtype=np.float64), (m,))
    h = np.broadcast_to(np.asarray(heights, dtype=np.float64), (m,))
    known = (w > 0) & (h > 0)
    finite = np.isfinite(b).all(axis=1)
    out = b.copy()
    with np.errstate(invalid="ignore"):
        over = known & ((b[:, 0] < -tol) | (b[:, 1] < -tol) | (b[:, 2] > w + tol) | (b[:, 3] > h + tol))
        wk = np.where(known, w, np.inf)
        hk = np.where(known, h, np.inf)
        for col, lim in ((0, wk), (2, wk), (1, hk), (3, hk)):
            np.clip(out[:, col], 0, lim, out=out[:, col])
        # Only a box that overhung can lose all its area here; a point box inside the image stays.
        empty = ~finite | (over & ((out[:, 2] <= out[:, 0]) | (out[:, 3] <= out[:, 1])))
    return out, over | ~finite, empty


def box_rule_error(path: str, where: int | str, box: Any, w: int, h: int) -> FormatError:
    """The error ``exact`` mode raises for a box outside its image (the same text everywhere)."""
    reason = f"box {box!r} lies outside the {w}x{h} image (without --strict it is clipped and counted)"
    return FormatError(path, where, reason)


# ----------------------------------------------------------------------------- keys
def aside_key(key: str, taken: Collection[str]) -> str:
    """``attr_<key>`` (more prefixes until the name is free in ``taken``).

    Examples:
        >>> aside_key("id", {"attr_id"})
        'attr_attr_id'

    """
    new = ASIDE_PREFIX + key
    while new in taken:
        new = ASIDE_PREFIX + new
    return new


def merge_keys(
    target: dict[str, Any],
    extra: dict[str, Any] | None,
    owned: Collection[str],
    renamed: dict[str, int],
    what: str,
) -> None:
    """Merge ``extra`` into ``target``; keys in ``owned`` stay the writer's, clashes go aside.

    Args:
        target: The record being written (already holding the writer's own keys).
        extra: Attributes or metadata to merge (``None``: nothing).
        owned: Keys the writer sets and that ``extra`` must not replace.
        renamed: Counter updated with ``"<what>.<key> → attr_<key>"`` for every clash.
        what: ``attributes`` or ``metadata`` (for the counter's key).

    """
    if not extra:
        return
    for k, v in extra.items():
        if k in owned:
            new = aside_key(k, target.keys() | extra.keys())
            target[new] = v
            label = f"{what}.{k} → {new}"
            renamed[label] = renamed.get(label, 0) + 1
        else:
            target[k] = v


def restore_keys(record: dict[str, Any], owned: Collection[str]) -> dict[str, Any]:
    """Rename ``attr_<key>`` back to ``<key>`` for owned keys absent from ``record`` (in place).

    Returns:
        ``record``.

    """
    if any(k.startswith(ASIDE_PREFIX) for k in record):
        for k in [k for k in record if k.startswith(ASIDE_PREFIX)]:
            base = k[len(ASIDE_PREFIX) :]
            if base in owned and base not in record:
                record[base] = record.pop(k)
    return record


# ----------------------------------------------------------------------------- fixes
def note_fix(counts: dict[str, int], reason: str, n: int = 1) -> None:
    """Count ``n`` fixes of one kind (``reason`` is the user-facing text)."""
    if n:
        counts[reason] = counts.get(reason, 0) + int(n)


def pop_fixes(ds: Dataset) -> tuple[Dataset, list[str]]:
    """``ds`` without ``info["fixes"]``, and those fixes as notes (``"3 boxes clipped ..."``)."""
    fixes = ds.info.get(FIXES)
    if not isinstance(fixes, dict) or not fixes:
        return ds, []
    info = {k: v for k, v in ds.info.items() if k != FIXES}
    notes = [f"read: {n} {reason}" for reason, n in fixes.items()]
    return ds.replace(info=info), notes


# ----------------------------------------------------------------------------- images
_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND\xaeB`\x82"


def image_problem(path: str) -> tuple[tuple[int, int] | None, str | None]:
    """Header size of an image file, or why it cannot be exported.

    Reads the header (size) and the last bytes: a JPEG must end with its EOI marker and a PNG
    with its ``IEND`` chunk, else the file is decoded in full to tell truncation from trailing
    bytes. An empty file, a truncated or unreadable image is a problem.

    Returns:
        ``((width, height), None)`` or ``(None, reason)``.

    Examples:
        >>> import pathlib, tempfile
        >>> from PIL import Image
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> Image.new("RGB", (5, 3)).save(d / "a.jpg")
        >>> image_problem(str(d / "a.jpg"))
        ((5, 3), None)
        >>> _ = (d / "b.jpg").write_bytes((d / "a.jpg").read_bytes()[:200])
        >>> image_problem(str(d / "b.jpg"))[1]
        'truncated or unreadable image: cannot decode image (Truncated File Read)'
        >>> _ = (d / "c.png").write_bytes(b"")
        >>> image_problem(str(d / "c.png"))
        (None, 'empty image file (0 bytes)')

    """
    from datakit.formats._imagesize import fast_image_size

    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        return None, "image not found"
    except OSError as e:
        return None, f"cannot read image ({e.strerror or e})"
    if size == 0:
        return None, "empty image file (0 bytes)"
    try:
        wh = fast_image_size(path)
    except FileNotFoundError:
        return None, "image not found"
    except (ValueError, OSError) as e:
        return None, f"not a readable image ({str(e).split(': ', 1)[-1]})"
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(max(size - 16, 0))
            tail = f.read()
    except OSError as e:
        return None, f"cannot read image ({e.strerror or e})"
    suspicious = (head[:2] == b"\xff\xd8" and _JPEG_END not in tail) or (
        head[:8] == b"\x89PNG\r\n\x1a\n" and not tail.endswith(_PNG_END)
    )
    if suspicious:
        from datakit.images import verify_image

        why = verify_image(path)
        if why is not None:
            return None, f"truncated or unreadable image: {why}"
    return wh, None


def check_images(
    ds: Dataset, log: SkipLog, *, exact: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """Check every image an exporter will copy or embed: inside the root, readable, its size.

    Each distinct image is checked once (its path stays inside the root once symlinks are
    resolved, it is a regular, non-empty, complete image) and its header size compared with the
    declared size.

    Args:
        ds: The dataset being written.
        log: Where bad images are recorded (strict logs raise on the first).
        exact: Raise when a declared size disagrees with the header, instead of using the header.

    Returns:
        ``(keep, widths, heights, fixes)``: a keep-mask over samples, the sizes to write (header
        sizes; ``-1`` for dropped samples) and counts of what was fixed.

    Raises:
        FormatError: ``log`` is strict and an image is bad, or ``exact`` and a size disagrees.

    """
    from datakit.formats._common import sample_where
    from datakit.paths import RootGuard

    c = ds.columns
    n = len(ds)
    keep = np.ones(n, dtype=bool)
    widths = np.array(c.widths, dtype=np.int32)
    heights = np.array(c.heights, dtype=np.int32)
    guard = RootGuard(ds.root)
    seen: dict[str, tuple[tuple[int, int] | None, str | None]] = {}
    fixes: dict[str, int] = {}
    root = str(ds.root)
    for i, rel in enumerate(c.images):
        got = seen.get(rel)
        if got is None:
            why = guard.problem(rel)
            got = seen[rel] = (None, why) if why is not None else image_problem(os.path.join(root, rel))
        wh, why = got
        if wh is None:
            keep[i] = False
            widths[i] = heights[i] = -1
            log.add(c.origins[i] or os.path.join(root, rel), sample_where(ds, i), why or "unreadable image", rel)
            continue
        w0, h0 = int(widths[i]), int(heights[i])
        if w0 > 0 and h0 > 0 and (w0, h0) != wh:
            if exact:
                raise FormatError(
                    c.origins[i] or rel,
                    sample_where(ds, i),
                    f"declared size {w0}x{h0} disagrees with the image header {wh[0]}x{wh[1]} of {rel}",
                )
            note_fix(fixes, "declared image sizes replaced by the image header")
        widths[i], heights[i] = wh
    return keep, widths, heights, fixes


# ----------------------------------------------------------------------------- segmentation
def _rle_counts(s: str) -> list[int] | None:
    """Decode COCO's compressed RLE string (``pycocotools`` ``rleFrString``); ``None`` if malformed."""
    counts: list[int] = []
    p = 0
    n = len(s)
    while p < n:
        x = 0
        k = 0
        more = True
        while more:
            if p >= n:
                return None
            c = ord(s[p]) - 48
            if c < 0 or c > 63:
                return None
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        if x < 0:
            return None
        counts.append(x)
    return counts


def segmentation_problem(seg: Any, width: int, height: int) -> str | None:
    """Why a COCO ``segmentation`` would break ``pycocotools.annToMask``, or ``None`` when fine.

    Polygons: a list of lists of finite numbers, each of even length and at least 6 (3
    points). RLE: ``{"size": [height, width], "counts": ...}`` matching the image, whose counts
    (a list of non-negative integers, or COCO's compressed string) sum to ``height * width``.

    Examples:
        >>> segmentation_problem([[0, 0, 4, 0, 4, 4]], 8, 8) is None
        True
        >>> segmentation_problem({"size": [8, 8], "counts": [10, 54]}, 8, 8) is None
        True
        >>> segmentation_problem({"size": [8, 8], "counts": [10, 5]}, 8, 8)
        'RLE counts sum to 15, expected 64 (8x8)'

    """
    if isinstance(seg, list):
        if not seg:
            return None
        for k, poly in enumerate(seg):
            if not isinstance(poly, list):
                return f"polygon {k} is {type(poly).__name__}, expected a list of numbers"
            if len(poly) < 6 or len(poly) % 2:
                return f"polygon {k} has {len(poly)} numbers; expected an even count of at least 6 (3 points)"
            if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in poly):
                return f"polygon {k} holds a value that is not a finite number"
        return None
    if isinstance(seg, dict):
        size, counts = seg.get("size"), seg.get("counts")
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
            return f"RLE size {size!r} is not [height, width]"
        if width > 0 and height > 0 and size != [height, width]:
            return f"RLE size {size} does not match the {width}x{height} image"
        if isinstance(counts, str):
            decoded = _rle_counts(counts)
            if decoded is None:
                return "RLE counts string is malformed"
        elif isinstance(counts, list) and all(type(v) is int and v >= 0 for v in counts):
            decoded = counts
        else:
            return "RLE counts must be a string or a list of non-negative integers"
        total = sum(decoded)
        if total != size[0] * size[1]:
            return f"RLE counts sum to {total}, expected {size[0] * size[1]} ({size[0]}x{size[1]})"
        return None
    return f"segmentation is {type(seg).__name__}, expected polygons (a list) or RLE (an object)"


# ----------------------------------------------------------------------------- export boxes
def export_boxes(ds: Dataset, *, exact: bool = False) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Every box of ``ds`` clipped to its image (the writers' side of the box rule).

    Returns:
        ``(boxes, keep, fixes)``: clipped ``(M, 4)`` boxes, a mask of the boxes to write (those
        with area left inside the image), and counts of what was clipped or dropped. Boxes of
        images whose size is unknown are kept as they are.

    Raises:
        FormatError: ``exact`` and a box overhangs its image (the message names sample and box).

    Examples:
        >>> from datakit import Dataset, Detection, Sample
        >>> ds = Dataset.from_samples([Sample("a.jpg", width=10, height=10, detections=[
        ...     Detection("x", (5, 5, 1e30, 8)), Detection("x", (20, 20, 30, 30))])], ".")
        >>> boxes, keep, fixes = export_boxes(ds)
        >>> boxes[0].tolist(), keep.tolist()
        ([5.0, 5.0, 10.0, 8.0], [True, False])
        >>> fixes["boxes overhanging their image clipped to it"], fixes["boxes entirely outside their image dropped"]
        (1, 1)

    """
    from datakit.formats._common import sample_where

    c = ds.columns
    d = c.detections
    if not len(d):
        return np.zeros((0, 4)), np.zeros(0, dtype=bool), {}
    owner = d.sample_index()
    w = c.widths[owner]
    h = c.heights[owner]
    boxes, over, empty = clip_boxes(d.boxes, w, h)
    fixes: dict[str, int] = {}
    if over.any():
        if exact:
            j = int(np.flatnonzero(over)[0])
            i = int(owner[j])
            where = f"{sample_where(ds, i)}, box {j - int(d.offsets[i])}"
            raise box_rule_error(c.origins[i] or c.images[i], where, d.boxes[j].tolist(), int(w[j]), int(h[j]))
        note_fix(fixes, "boxes overhanging their image clipped to it", int((over & ~empty).sum()))
        note_fix(fixes, "boxes entirely outside their image dropped", int(empty.sum()))
    return boxes, ~empty, fixes
