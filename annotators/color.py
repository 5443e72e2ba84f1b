"""Classical, offline colour annotator: jersey cloth vs number strokes, named in the 13-colour vocabulary.

Each crop is shrunk to a small square, converted to CIE L*a*b* and every pixel is given the
nearest vocabulary colour (:data:`datakit.vocab.COLOR_RGB`). The **jersey** is the colour that
dominates the outer ring of the crop (the cloth around the number). The **number** is the most
frequent other colour in the centre. A second, distinct centre colour that sits against the cloth
is an **outline** (``border=true``); colours that are only a blend of cloth and number (the
anti-aliased edge of a white number on red reads pink) are ignored. Whole batches are processed
with numpy in one go, so thousands of crops a second run on one core.

Examples:
    >>> from PIL import Image, ImageDraw
    >>> im = Image.new("RGB", (48, 64), (200, 30, 40))
    >>> ImageDraw.Draw(im).rectangle((18, 16, 30, 48), fill=(245, 245, 245))
    >>> r = ColorAnnotator().predict(None, [Item("a", 0, im)])[0]
    >>> r.status, r.values["jersey_color"], r.values["number_color"], r.values["border"]
    ('ok', 'red', 'white', False)

"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from annotators.base import Annotator, Item, Result
from datakit.images import to_rgb
from datakit.vocab import COLOR_RGB, COLORS

SIZE = 40
"""Side of the square every crop is resized to."""

_L_WEIGHT = 0.6  # lightness varies most with shading: weigh it less than hue/chroma


def _lab(rgb: np.ndarray) -> np.ndarray:
    """Convert sRGB uint8 (..., 3) to L*a*b* float32 (L in 0..100) via OpenCV."""
    import cv2

    flat = rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(flat, cv2.COLOR_RGB2Lab).reshape(*rgb.shape[:-1], 3)


_W = np.array([_L_WEIGHT, 1.0, 1.0], dtype=np.float32)


def _masks(size: int, ring: float, centre: float) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size]
    edge = np.minimum(np.minimum(yy, xx), np.minimum(size - 1 - yy, size - 1 - xx))
    ring_mask = edge < max(1, round(size * ring))
    lo, hi = round(size * (1 - centre) / 2), round(size * (1 + centre) / 2)
    centre_mask = np.zeros((size, size), dtype=bool)
    centre_mask[lo:hi, lo:hi] = True
    return ring_mask, centre_mask


def _nearest(lab: np.ndarray) -> np.ndarray:
    centers = _lab(np.array([COLOR_RGB[c] for c in COLORS], dtype=np.uint8))
    d = ((lab[..., None, :] * _W - (centers * _W)) ** 2).sum(-1)
    return d.argmin(-1).astype(np.uint8)


@functools.cache
def _lut(bits: int = 6) -> np.ndarray:
    """Nearest vocabulary colour for every RGB cell of a ``2**bits``-per-channel grid (built once)."""
    n = 1 << bits
    step = 256 // n
    v = (np.arange(n) * step + step // 2).astype(np.uint8)
    grid = np.stack(np.meshgrid(v, v, v, indexing="ij"), axis=-1)
    return _nearest(_lab(grid)).reshape(n, n, n)


_LUT_SHIFT = 2


def classify_pixels(crops: np.ndarray) -> np.ndarray:
    """Nearest vocabulary colour index for every pixel of ``(B, H, W, 3)`` uint8 crops.

    Distances are weighted CIE L*a*b* (lightness counts less, as shading changes it most),
    looked up in a precomputed 64×64×64 RGB table.

    Examples:
        >>> px = np.array([[[[250, 250, 250], [20, 30, 80]]]], dtype=np.uint8)
        >>> [COLORS[k] for k in classify_pixels(px).ravel()]
        ['white', 'navy']

    """
    q = crops >> _LUT_SHIFT
    return _lut(8 - _LUT_SHIFT)[q[..., 0], q[..., 1], q[..., 2]]


@functools.cache
def _blend_table() -> np.ndarray:
    """``t[i, j, k]``: a pixel mixing colours ``i`` and ``j`` (anti-aliasing, blur, JPEG) can read as ``k``.

    Mixing happens in sRGB, so the table samples sRGB blends of the two colours, at a few
    shading levels, and names them with the same classifier as the pixels.
    """
    rgb = np.array([COLOR_RGB[c] for c in COLORS], dtype=np.float32)
    k = len(COLORS)
    t = np.zeros((k, k, k), dtype=bool)
    mix = np.linspace(0.1, 0.9, 17, dtype=np.float32)[:, None]
    for i in range(k):
        for j in range(k):
            if i == j:
                continue
            samples = [np.clip(((1 - mix) * rgb[i] + mix * rgb[j]) * shade, 0, 255) for shade in (0.8, 0.9, 1.0, 1.1)]
            names = classify_pixels(np.concatenate(samples).astype(np.uint8)[None])
            t[i, j, np.unique(names)] = True
            t[i, j, [i, j]] = False
    return t


def _row_counts(codes: np.ndarray, k: int) -> np.ndarray:
    """``(B, k)`` counts of each value ``0..k-1`` per row of ``(B, N)`` int ``codes`` (``k`` is not counted)."""
    b = len(codes)
    flat = (codes + (np.arange(b) * (k + 1))[:, None]).ravel()
    return np.bincount(flat, minlength=b * (k + 1)).reshape(b, k + 1)[:, :k]


class ColorAnnotator(Annotator):
    """Name the jersey colour, the number colour and whether the number has an outline.

    Args:
        batch_size: Crops per batch.
        ring: Width of the outer band read as jersey cloth, as a fraction of the side.
        centre: Side of the central box searched for number strokes, as a fraction.
        min_number_share: Least share of centre pixels that must differ from the cloth for a
            number colour to be named; below it the result is ``invalid_value``.
        min_outline_share: Least share of the number pixels a second colour needs to count as
            an outline.

    Examples:
        >>> ColorAnnotator().fields
        ('jersey_color', 'number_color', 'border')

    """

    name = "color"
    fields = ("jersey_color", "number_color", "border")

    def __init__(
        self,
        *,
        batch_size: int = 256,
        ring: float = 0.15,
        centre: float = 0.6,
        min_number_share: float = 0.04,
        min_outline_share: float = 0.2,
    ) -> None:
        if not 0 < ring < 0.5 or not 0 < centre <= 1:
            raise ValueError(f"expected 0 < ring < 0.5 and 0 < centre <= 1, got ring={ring}, centre={centre}")
        self.batch_size = int(batch_size)
        self.ring, self.centre = float(ring), float(centre)
        self.min_number_share = float(min_number_share)
        self.min_outline_share = float(min_outline_share)
        self._ring, self._centre = _masks(SIZE, self.ring, self.centre)

    def config(self) -> dict[str, Any]:
        """Annotator identity for checkpoints (parameters included)."""
        return {
            **super().config(), "ring": self.ring, "centre": self.centre,
            "min_number_share": self.min_number_share, "min_outline_share": self.min_outline_share,
        }  # fmt: skip

    def prepare(self, items: list[Item]) -> np.ndarray:
        """Resize every crop to ``SIZE``×``SIZE`` RGB uint8 → ``(B, SIZE, SIZE, 3)``."""
        import cv2

        out = np.empty((len(items), SIZE, SIZE, 3), dtype=np.uint8)
        for k, it in enumerate(items):
            a = np.asarray(to_rgb(it.image) if hasattr(it.image, "convert") else it.image)  # every mode
            if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
                raise ValueError(f"sample {it.id!r}: expected an RGB image, got shape {a.shape}")
            out[k] = cv2.resize(a, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        return out

    def predict(self, prepared: np.ndarray | None, items: list[Item]) -> list[Result]:
        """Colour names for a batch (``prepared`` from :meth:`prepare`, or ``None`` to prepare here)."""
        crops = self.prepare(items) if prepared is None else prepared
        b, k = len(items), len(COLORS)
        if b == 0:
            return []
        labels = classify_pixels(crops).reshape(b, -1).astype(np.int64)
        ring, centre = self._ring.ravel(), self._centre.ravel()
        ring_counts = _row_counts(labels[:, ring], k)
        jersey = ring_counts.argmax(1)
        jersey_share = ring_counts.max(1) / ring.sum()
        cloth = labels == jersey[:, None]
        # Pixels next to the cloth (4-neighbourhood), to tell an outline from a fill.
        grid = cloth.reshape(b, SIZE, SIZE)
        near = grid.copy()
        near[:, 1:] |= grid[:, :-1]
        near[:, :-1] |= grid[:, 1:]
        near[:, :, 1:] |= grid[:, :, :-1]
        near[:, :, :-1] |= grid[:, :, 1:]
        near = near.reshape(b, -1)
        ink = ~cloth & centre[None, :]
        ink_counts = _row_counts(np.where(ink, labels, k), k)  # k: "not ink"
        touch_counts = _row_counts(np.where(ink & near, labels, k), k)
        n_centre = int(centre.sum())
        blend = _blend_table()
        out = []
        for n, it in enumerate(items):
            j = int(jersey[n])
            values: dict[str, Any] = {"jersey_color": COLORS[j]}
            problems: dict[str, str] = {}
            counts = ink_counts[n]
            total = int(counts.sum())
            raw = f"jersey={COLORS[j]} ({jersey_share[n]:.2f} of ring)"
            if total < self.min_number_share * n_centre:
                problems["number_color"] = "no number strokes distinct from the jersey"
                problems["border"] = "no number strokes to outline"
            else:
                order = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0]
                first = order[0]
                # Drop colours that are only a blend of cloth and the main ink colour.
                rest = [c for c in order[1:] if not blend[j, first, c]]
                second = rest[0] if rest else None
                outline = second is not None and counts[second] >= self.min_outline_share * total
                number = first
                if outline and second is not None:
                    t1 = touch_counts[n, first] / max(counts[first], 1)
                    t2 = touch_counts[n, second] / max(counts[second], 1)
                    number = second if t1 > t2 else first  # the outline is the one against the cloth
                values["number_color"] = COLORS[number]
                values["border"] = bool(outline)
                raw += (
                    f" number={COLORS[number]} ({total / n_centre:.2f} of centre) border={str(bool(outline)).lower()}"
                )
            out.append(
                Result(
                    it.id,
                    "invalid_value" if problems else "ok",
                    values,
                    raw=raw,
                    problems=problems,
                    confidence=round(float(jersey_share[n]), 4),
                )
            )
        return out
