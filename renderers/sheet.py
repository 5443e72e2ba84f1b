"""Contact sheets: a grid of renders with their labels, to eyeball a run.

Examples:
    >>> import numpy as np
    >>> sheet = contact_sheet([np.zeros((40, 30, 3), np.uint8)] * 3, ["1", "2", "3"], cols=2, cell=48)
    >>> sheet.shape
    (120, 96, 3)

"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from datakit.atomic import atomic_write_bytes


def contact_sheet(
    images: list[np.ndarray],
    labels: list[str] | None = None,
    *,
    cols: int = 8,
    cell: int = 96,
) -> np.ndarray:
    """Tile RGB images into a grid, each letterboxed into a ``cell``-pixel square.

    Args:
        images: RGB uint8 images of any sizes.
        labels: Text under each tile (``None``: no captions).
        cols: Tiles per row.
        cell: Tile side in pixels.

    Returns:
        The sheet (RGB uint8); a caption strip of 12 px per row is added when labelled.

    """
    if not images:
        raise ValueError("expected at least one image for a contact sheet")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"expected {len(images)} labels, got {len(labels)}")
    if cols < 1 or cell < 8:
        raise ValueError(f"expected cols >= 1 and cell >= 8, got {cols} and {cell}")
    cap = 12 if labels is not None else 0
    rows = -(-len(images) // cols)
    sheet = np.full((rows * (cell + cap), min(cols, len(images)) * cell, 3), 32, np.uint8)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        h, w = img.shape[:2]
        s = cell / max(h, w)
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        tile = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_NEAREST)
        y0, x0 = r * (cell + cap) + (cell - nh) // 2, c * cell + (cell - nw) // 2
        sheet[y0 : y0 + nh, x0 : x0 + nw] = tile[..., :3]
        if labels is not None:
            org = (c * cell + 3, r * (cell + cap) + cell + cap - 2)
            cv2.putText(sheet, str(labels[k])[:14], org, cv2.FONT_HERSHEY_PLAIN, 0.8, (255, 255, 255), 1, cv2.LINE_AA)
    return sheet


def write_sheet(path: str | Path, images: list[np.ndarray], labels: list[str] | None = None, **kw: int) -> Path:
    """Write :func:`contact_sheet` as PNG (or JPEG by suffix), atomically.

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> p = write_sheet(pathlib.Path(tempfile.mkdtemp()) / "s.png", [np.zeros((8, 8, 3), np.uint8)])
        >>> p.stat().st_size > 0
        True

    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".png", ".jpg", ".jpeg"):
        raise ValueError(f"expected a .png or .jpg sheet path, got {path}")
    sheet = contact_sheet(images, labels, **kw)
    ok, buf = cv2.imencode(".png" if ext == ".png" else ".jpg", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover
        raise ValueError(f"could not encode the sheet for {path}")
    atomic_write_bytes(path, buf.tobytes())
    return path
