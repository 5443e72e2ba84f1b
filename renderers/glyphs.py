"""Digit glyphs of the sports fonts, cached per process: PIL fonts, ink masks and kerned advances.

:func:`glyph` gives one digit's ink mask (with its outline channel when stroked), :func:`advance`
the advance width of a digit or a digit pair (the pair's includes the font's kerning) and
:func:`digit_ratio` the digits' ink height per pixel of font size. Everything is cached for the
process (bounded: :data:`CACHE_LIMIT` advances, :data:`GLYPH_BUDGET` bytes of masks) and
inherited by forked render workers; the caches depend only on the font file and the pixel size.

Examples:
    >>> from renderers.fonts import load_fonts
    >>> spec = load_fonts(("anton",))[0]
    >>> mask, x, y = glyph(spec, 40, "7", 0)
    >>> mask.ndim, bool(mask.max() > 0), advance(spec, 40, "77") <= 2 * advance(spec, 40, "7") + 1
    (2, True, True)

"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from renderers.fonts import FontSpec

_LAYOUT: list[ImageFont.Layout] = []
_FONTS: dict[tuple[FontSpec, int], ImageFont.FreeTypeFont] = {}
_RATIOS: dict[FontSpec, float] = {}
_GLYPHS: dict[tuple[FontSpec, int, str, int], tuple[np.ndarray, int, int]] = {}
_PAIRS: dict[tuple[FontSpec, int, str], float] = {}
CACHE_LIMIT = 20000
GLYPH_BUDGET = 256 << 20  # bytes of cached glyph masks per process
_GLYPH_BYTES = [0]


def _layout() -> ImageFont.Layout:
    if not _LAYOUT:
        from PIL import features

        _LAYOUT.append(ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC)
    return _LAYOUT[0]


def font(spec: FontSpec, px: int) -> ImageFont.FreeTypeFont:
    """The PIL font of ``spec`` at ``px`` pixels (variable fonts at their jersey weight)."""
    key = (spec, px)
    f = _FONTS.get(key)
    if f is None:
        if len(_FONTS) > 512:
            _FONTS.clear()
        f = _FONTS[key] = ImageFont.truetype(str(spec.path), px, layout_engine=_layout())
        if spec.weight is not None:
            f.set_variation_by_axes([spec.weight])
    return f


def digit_ratio(spec: FontSpec) -> float:
    """Height of the digits' ink per pixel of font size."""
    r = _RATIOS.get(spec)
    if r is None:
        _x0, y0, _x1, y1 = font(spec, 200).getbbox("0123456789", anchor="ls")
        r = _RATIOS[spec] = max(0.2, (y1 - y0) / 200.0)
    return r


def advance(spec: FontSpec, px: int, text: str) -> float:
    """Advance width of one digit or a digit pair (the pair's includes the font's kerning)."""
    key = (spec, px, text)
    v = _PAIRS.get(key)
    if v is None:
        if len(_PAIRS) > CACHE_LIMIT:
            _PAIRS.clear()
        v = _PAIRS[key] = float(font(spec, px).getlength(text))
    return v


@functools.lru_cache(maxsize=1024)
def _draw(spec: FontSpec, px: int, ch: str, stroke: int) -> np.ndarray:
    """One digit drawn at ``(stroke + 2, stroke + 2)`` on its advance box (8-bit mask).

    Cached: the outline-free drawing is shared by every outline width.
    """
    face = font(spec, px)
    ascent, descent = face.getmetrics()
    pad = stroke + 2
    adv = advance(spec, px, ch)
    im = Image.new("L", (math.ceil(adv) + 2 * pad + 2, ascent + descent + 2 * pad), 0)
    ImageDraw.Draw(im).text((pad, pad), ch, font=face, fill=255, stroke_width=stroke, stroke_fill=255)
    return np.asarray(im)


def glyph(spec: FontSpec, px: int, ch: str, stroke: int) -> tuple[np.ndarray, int, int]:
    """``(mask, x, y)``: one digit cropped to its ink, and the crop's place on the advance box.

    The advance box is the one of :func:`_draw` with ``stroke`` px of outline. With an outline,
    ``mask`` is H×W×4: the fill, the fill and outline together, then two empty channels (OpenCV
    warps 4 channels as fast as 1, 2 at a third of the speed); without, H×W.
    """
    key = (spec, px, ch, stroke)
    g = _GLYPHS.get(key)
    if g is None:
        outer = _draw(spec, px, ch, stroke)
        cols = np.flatnonzero(outer.max(axis=0))
        rows = np.flatnonzero(outer.max(axis=1))
        if len(cols) == 0:  # pragma: no cover - fonts are checked for digit glyphs
            raise ValueError(f"font {spec.name!r} drew nothing for {ch!r}")
        x0, x1, y0, y1 = int(cols[0]), int(cols[-1]) + 1, int(rows[0]), int(rows[-1]) + 1
        mask: np.ndarray = outer
        if stroke:
            plain = _draw(spec, px, ch, 0)  # the same box less `stroke` px on each side
            mask = np.zeros((*outer.shape, 4), np.uint8)
            mask[stroke : stroke + plain.shape[0], stroke : stroke + plain.shape[1], 0] = plain
            mask[..., 1] = outer
        mask = np.ascontiguousarray(mask[y0:y1, x0:x1])
        if _GLYPH_BYTES[0] + mask.nbytes > GLYPH_BUDGET:
            _GLYPHS.clear()
            _GLYPH_BYTES[0] = 0
        _GLYPH_BYTES[0] += mask.nbytes
        g = _GLYPHS[key] = (mask, x0, y0)
    return g
