"""The one box convention: absolute-pixel ``xyxy`` floats. Formats convert here, nowhere else.

Every function takes and returns ``(N, 4)`` float64 arrays so that converters stay vectorised.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

BoxFormat = Literal["xyxy", "xywh", "cxcywh"]
"""``xyxy``: corners. ``xywh``: top-left + size (COCO's ``ltwh``). ``cxcywh``: centre + size (YOLO)."""


def _as_boxes(boxes: object) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1 and arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr.reshape(1, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"expected boxes of shape (N, 4), got {arr.shape}")
    return arr


def to_xyxy(
    boxes: object,
    fmt: BoxFormat,
    *,
    normalized: bool = False,
    image_size: tuple[object, object] | None = None,
) -> np.ndarray:
    """Convert boxes in ``fmt`` to absolute-pixel xyxy.

    Args:
        boxes: ``(N, 4)`` array-like.
        fmt: The input layout.
        normalized: The input is relative to the image size (YOLO); needs ``image_size``.
        image_size: ``(width, height)``; scalars, or ``(N,)`` arrays for per-box sizes.

    Examples:
        >>> to_xyxy([[10, 20, 30, 40]], "xywh").tolist()
        [[10.0, 20.0, 40.0, 60.0]]
        >>> to_xyxy([[0.5, 0.5, 1.0, 1.0]], "cxcywh", normalized=True, image_size=(64, 32)).tolist()
        [[0.0, 0.0, 64.0, 32.0]]

    """
    b = _as_boxes(boxes).copy()
    if fmt == "xywh":
        b[:, 2] += b[:, 0]
        b[:, 3] += b[:, 1]
    elif fmt == "cxcywh":
        half_w = b[:, 2] / 2
        half_h = b[:, 3] / 2
        cx, cy = b[:, 0].copy(), b[:, 1].copy()
        b[:, 0], b[:, 2] = cx - half_w, cx + half_w
        b[:, 1], b[:, 3] = cy - half_h, cy + half_h
    elif fmt != "xyxy":
        raise ValueError(f"expected box format xyxy, xywh or cxcywh, got {fmt!r}")
    if normalized:
        if image_size is None:
            raise ValueError("normalized boxes need image_size=(width, height)")
        w = np.asarray(image_size[0], dtype=np.float64)
        h = np.asarray(image_size[1], dtype=np.float64)
        b[:, 0] *= w
        b[:, 2] *= w
        b[:, 1] *= h
        b[:, 3] *= h
    return b


def from_xyxy(
    boxes: object,
    fmt: BoxFormat,
    *,
    normalized: bool = False,
    image_size: tuple[object, object] | None = None,
) -> np.ndarray:
    """Convert absolute-pixel xyxy boxes to ``fmt`` (the inverse of :func:`to_xyxy`).

    Examples:
        >>> from_xyxy([[10, 20, 40, 60]], "xywh").tolist()
        [[10.0, 20.0, 30.0, 40.0]]
        >>> from_xyxy([[0, 0, 64, 32]], "cxcywh", normalized=True, image_size=(64, 32)).tolist()
        [[0.5, 0.5, 1.0, 1.0]]

    """
    b = _as_boxes(boxes).copy()
    if normalized:
        if image_size is None:
            raise ValueError("normalized boxes need image_size=(width, height)")
        w = np.asarray(image_size[0], dtype=np.float64)
        h = np.asarray(image_size[1], dtype=np.float64)
        b[:, 0] /= w
        b[:, 2] /= w
        b[:, 1] /= h
        b[:, 3] /= h
    if fmt == "xywh":
        b[:, 2] -= b[:, 0]
        b[:, 3] -= b[:, 1]
    elif fmt == "cxcywh":
        x1, y1, x2, y2 = b[:, 0].copy(), b[:, 1].copy(), b[:, 2].copy(), b[:, 3].copy()
        b[:, 0] = (x1 + x2) / 2
        b[:, 1] = (y1 + y2) / 2
        b[:, 2] = x2 - x1
        b[:, 3] = y2 - y1
    elif fmt != "xyxy":
        raise ValueError(f"expected box format xyxy, xywh or cxcywh, got {fmt!r}")
    return b


def check_box(box: object) -> str | None:
    """Return why one xyxy box is invalid, or ``None`` when it is fine.

    Examples:
        >>> check_box([0, 0, 10, 10]) is None
        True
        >>> check_box([5, 0, 1, 10])
        'expected x1 <= x2 and y1 <= y2, got [5.0, 0.0, 1.0, 10.0]'

    """
    if not isinstance(box, list | tuple) or len(box) != 4:
        return f"expected a box of 4 numbers [x1, y1, x2, y2], got {box!r}"
    try:
        vals = [float(v) for v in box]
    except (TypeError, ValueError):
        return f"expected a box of 4 numbers [x1, y1, x2, y2], got {box!r}"
    if not all(np.isfinite(vals)):
        return f"expected finite box coordinates, got {vals}"
    if vals[0] > vals[2] or vals[1] > vals[3]:
        return f"expected x1 <= x2 and y1 <= y2, got {vals}"
    return None
