"""Synthetic jersey-number crops: sample every parameter from a seed, then render from them.

A render is a detector-style crop of a player's torso: a tank-top jersey in team colours on a
body and background, a one- to three-digit number in a sports font (optionally with a trim
outline), with kerning and tracking, rotation and perspective, fabric folds and shading, a mesh
texture, partial occlusion (an arm, the ball, another player), a crop tightness from tight to
loose, then a degradation preset (:mod:`renderers.presets`).

Every random choice comes from ``random.Random(seed)`` / ``np.random.default_rng(seed)`` of the
sample's own seed (:func:`sample_seed` of the base seed and the sample index), so one sample
renders byte-identically whether alone, in a batch, or in another process.

Examples:
    >>> r = JerseyRenderer(JerseyConfig(size=(64, 64), fonts=("anton",)))
    >>> img, params = r.render("23", seed=7)
    >>> img.shape, params["font"], params["label"]
    ((64, 64, 3), 'anton', '23')
    >>> (r.render("23", seed=7)[0] == img).all()
    np.True_

"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from renderers.fonts import DEFAULT_FONTS, FontSpec, load_fonts
from renderers.palettes import RGB, ColorSampler, Kit

RENDERER_VERSION = "jersey/1"
"""Recorded in metadata; bumped when the same seed would draw a different image."""

SKIN: tuple[RGB, ...] = (
    (255, 219, 172), (241, 194, 125), (224, 172, 105), (198, 134, 66),
    (141, 85, 36), (110, 66, 40), (80, 50, 35), (60, 40, 30),
)  # fmt: skip
"""Arm and shoulder tones."""

BACKGROUNDS: tuple[RGB, ...] = (
    (196, 150, 100), (170, 120, 75), (215, 175, 120),  # hardwood court
    (40, 40, 48), (70, 60, 70), (25, 30, 45),  # crowd, shadow
    (120, 120, 125), (200, 200, 205), (30, 70, 140), (150, 40, 40),  # walls, boards
)  # fmt: skip
"""Court, crowd and board colours behind the player."""

OCCLUDERS = ("arm", "ball", "player")


def sample_seed(base_seed: int, index: int) -> int:
    """The seed of sample ``index`` in a run with ``base_seed`` (independent of worker count).

    Examples:
        >>> sample_seed(0, 1) == sample_seed(0, 1), sample_seed(0, 1) != sample_seed(0, 2)
        (True, True)

    """
    if base_seed < 0 or index < 0:
        raise ValueError(f"expected non-negative base seed and index, got {base_seed}, {index}")
    return int(np.random.SeedSequence([base_seed, index]).generate_state(1, np.uint32)[0])


def check_label(label: str, max_digits: int = 3) -> str:
    """Validate a jersey number label: 1 to ``max_digits`` ASCII digits.

    Raises:
        ValueError: Not a number the renderer can draw.

    Examples:
        >>> check_label("07")
        '07'
        >>> check_label("A1")
        Traceback (most recent call last):
        ...
        ValueError: expected a jersey number of 1-3 digits, got 'A1'

    """
    if not (isinstance(label, str) and 1 <= len(label) <= max_digits and label.isascii() and label.isdigit()):
        raise ValueError(f"expected a jersey number of 1-{max_digits} digits, got {label!r}")
    return label


def _parse_size(size: int | tuple[int, int] | tuple[int, int, str]) -> tuple[int, int, bool]:
    """``(a, b, is_range)``: fixed ``W×H`` or a square side range ``a..b``."""
    if isinstance(size, int):
        return size, size, False
    if len(size) == 3 and size[2] == "range":
        a, b = int(size[0]), int(size[1])
        return a, b, True
    a, b = int(size[0]), int(size[1])
    return a, b, False


@dataclass(frozen=True)
class JerseyConfig:
    """What the renderer may draw (the ranges its per-sample parameters come from).

    Attributes:
        fonts: Font names or files (each checked for digits 0–9).
        size: Output size: ``96`` (square), ``(W, H)``, or ``(min, max, "range")`` for a square
            side drawn per sample.
        preset: Degradation preset name (``clean`` for none).
        number_height: Range of the number's height as a fraction of the crop height: high is a
            tight detector crop, low a loose one.
        rotation: Maximum in-plane rotation, degrees.
        perspective: Maximum corner shift of the number box, as a fraction of its size.
        occlusion_p: Chance of a partial occluder over the number.
        occlusion_max: Largest fraction of the number box an occluder may cover.
        folds_max: Most fabric folds per sample.
        mesh_p: Chance of a visible mesh-fabric texture.

    Examples:
        >>> JerseyConfig(size=(80, 96)).size
        (80, 96)

    """

    fonts: tuple[str, ...] = DEFAULT_FONTS
    size: int | tuple[int, int] | tuple[int, int, str] = 96
    preset: str = "clean"
    number_height: tuple[float, float] = (0.42, 0.72)
    rotation: float = 12.0
    perspective: float = 0.12
    occlusion_p: float = 0.2
    occlusion_max: float = 0.15
    folds_max: int = 2
    mesh_p: float = 0.5

    def __post_init__(self) -> None:
        a, b, is_range = _parse_size(self.size)
        if a < 16 or b < 16 or a > 2048 or b > 2048 or (is_range and a > b):
            raise ValueError(f"expected sizes in 16..2048 (and min <= max for a range), got {self.size!r}")
        lo, hi = self.number_height
        if not 0.1 <= lo <= hi <= 0.95:
            raise ValueError(f"expected number_height with 0.1 <= min <= max <= 0.95, got {self.number_height}")
        if not 0 <= self.rotation <= 45:
            raise ValueError(f"expected rotation in 0..45 degrees, got {self.rotation}")
        if not 0 <= self.perspective <= 0.4:
            raise ValueError(f"expected perspective in 0..0.4, got {self.perspective}")
        for name in ("occlusion_p", "occlusion_max", "mesh_p"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"expected {name} in [0, 1], got {v}")
        if not 0 <= self.folds_max <= 6:
            raise ValueError(f"expected folds_max in 0..6, got {self.folds_max}")
        if not self.fonts:
            raise ValueError("expected at least one font")


class _FontCache:
    """PIL fonts by (font, pixel size), and each font's digit height per pixel of size."""

    def __init__(self, specs: list[FontSpec]) -> None:
        self.specs = {s.name: s for s in specs}
        self._fonts: dict[tuple[str, int], ImageFont.FreeTypeFont] = {}
        self._ratio: dict[str, float] = {}
        self.layout = ImageFont.Layout.RAQM if _has_raqm() else ImageFont.Layout.BASIC

    def get(self, name: str, px: int) -> ImageFont.FreeTypeFont:
        key = (name, px)
        f = self._fonts.get(key)
        if f is None:
            if len(self._fonts) > 512:
                self._fonts.clear()
            spec = self.specs[name]
            f = self._fonts[key] = ImageFont.truetype(str(spec.path), px, layout_engine=self.layout)
            if spec.weight is not None:
                f.set_variation_by_axes([spec.weight])
        return f

    def digit_ratio(self, name: str) -> float:
        """Height of the digits' ink per pixel of font size."""
        r = self._ratio.get(name)
        if r is None:
            f = self.get(name, 200)
            _x0, y0, _x1, y1 = f.getbbox("0123456789", anchor="ls")
            r = self._ratio[name] = max(0.2, (y1 - y0) / 200.0)
        return r


def _has_raqm() -> bool:
    from PIL import features

    return bool(features.check("raqm"))


_GRIDS: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}


def _grid(w: int, h: int) -> tuple[np.ndarray, ...]:
    """Per-size constant fields: pixel x, y; centred x/w, y/h; the background's vertical shade."""
    g = _GRIDS.get((w, h))
    if g is None:
        if len(_GRIDS) > 256:
            _GRIDS.clear()
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        g = _GRIDS[(w, h)] = (xs, ys, xs / w - 0.5, ys / h - 0.5, 0.85 + ys * np.float32(0.3 / h))
    return g


def _mesh_tile(period: int) -> np.ndarray:
    """A seamless mesh-fabric pattern (holes on a staggered grid), values around 0."""
    ys, xs = np.mgrid[0 : period * 2, 0 : period * 2].astype(np.float32)
    a = np.cos(2 * np.pi * xs / period) * np.cos(2 * np.pi * ys / period)
    b = np.cos(2 * np.pi * (xs + period / 2) / period) * np.cos(2 * np.pi * (ys + period / 2) / period)
    return np.minimum(a, b).astype(np.float32)


_MESH = {p: _mesh_tile(p) for p in (3, 4, 5)}
_PX_BUCKETS = (48, 96, 192, 384)
_BODY = ((-1.9, 6), (-1.9, -0.2), (-1.5, -1.2), (-0.8, -1.65), (-0.3, -1.8), (0.3, -1.8),
         (0.8, -1.65), (1.5, -1.2), (1.9, -0.2), (1.9, 6))  # fmt: skip
_TORSO = ((-1.0, 6), (-1.0, -0.55), (-0.85, -0.75), (-0.62, -1.05), (-0.55, -1.62), (-0.35, -1.62),
          (-0.25, -1.25), (0.0, -1.05), (0.25, -1.25), (0.35, -1.62), (0.55, -1.62), (0.62, -1.05),
          (0.85, -0.75), (1.0, -0.55), (1.0, 6))  # fmt: skip


def _mix(img: np.ndarray, color: RGB | np.ndarray, alpha: np.ndarray) -> None:
    """In place: ``img = img * (1 - alpha) + color * alpha`` (alpha HxW in [0, 1])."""
    a = alpha[..., None]
    img *= 1.0 - a
    img += a * np.asarray(color, np.float32)


class JerseyRenderer:
    """Render jersey-number crops deterministically from (label, seed).

    Args:
        config: Parameter ranges (:class:`JerseyConfig`).
        colors: Kit sampler (palette or reference-matched; default: the team palette).

    Examples:
        >>> r = JerseyRenderer(JerseyConfig(size=48, fonts=("graduate",), preset="zc_strong_all"))
        >>> img, p = r.render("7", seed=1)
        >>> img.dtype, p["preset"], p["jersey_color"] in __import__("datakit").vocab.COLORS
        (dtype('uint8'), 'zc_strong_all', True)

    """

    def __init__(self, config: JerseyConfig | None = None, colors: ColorSampler | None = None) -> None:
        from renderers.presets import build_preset

        self.config = config or JerseyConfig()
        self.colors = colors or ColorSampler()
        self.fonts = load_fonts(self.config.fonts)
        self._cache = _FontCache(self.fonts)
        self._font_names = [f.name for f in self.fonts]
        self._degrade = build_preset(self.config.preset)
        self._has_degrade = bool(self._degrade.transforms)
        self._glyphs: dict[tuple[str, int, str, int], np.ndarray] = {}
        self._adv: dict[tuple[str, int, str], list[float]] = {}

    # ------------------------------------------------------------------ parameters
    def sample_params(self, label: str, seed: int) -> dict[str, Any]:
        """Draw every rendering parameter of one sample (JSON-friendly; stored as metadata)."""
        check_label(label)
        cfg = self.config
        rng = random.Random(seed)
        a, b, is_range = _parse_size(cfg.size)
        if is_range:
            w = h = rng.randint(a, b)
        else:
            w, h = a, b
        kit: Kit = self.colors.sample(rng)
        font = self._font_names[rng.randrange(len(self._font_names))]
        nh = rng.uniform(*cfg.number_height)
        outline_w = rng.uniform(0.05, 0.1) if kit.outline is not None else 0.0
        p: dict[str, Any] = {
            "label": label,
            "font": font,
            "jersey_color": kit.jersey_color,
            "number_color": kit.number_color,
            "outline": kit.outline is not None,
            "outline_color": kit.outline_color,
            "border": kit.outline is not None,
            "kit": kit.team,
            "jersey_rgb": list(kit.jersey),
            "number_rgb": list(kit.number),
            "outline_rgb": list(kit.outline) if kit.outline else None,
            "outline_width": round(outline_w, 4),
            "width": w,
            "height": h,
            "number_height": round(nh, 4),
            "tracking": round(rng.uniform(-0.04, 0.12), 4),
            "squeeze": round(rng.uniform(0.85, 1.08), 4),
            "rotation": round(max(-cfg.rotation, min(cfg.rotation, rng.gauss(0.0, cfg.rotation / 2))), 3),
            "perspective": [round(rng.uniform(-cfg.perspective, cfg.perspective), 4) for _ in range(8)],
            "offset": [round(rng.uniform(-0.07, 0.07), 4), round(rng.uniform(-0.06, 0.1), 4)],
            "torso_width": round(rng.uniform(2.3, 3.2), 4),
            "skin_rgb": list(SKIN[rng.randrange(len(SKIN))]),
            "background_rgb": list(BACKGROUNDS[rng.randrange(len(BACKGROUNDS))]),
            "light": [round(rng.uniform(0, 2 * math.pi), 4), round(rng.uniform(0.0, 0.3), 4)],
            "shading_noise": round(rng.uniform(0.0, 0.12), 4),
            "folds": [
                [
                    round(rng.uniform(0, math.pi), 4),
                    round(rng.uniform(0.6, 2.2), 4),
                    round(rng.uniform(0.3, 1.6), 4),
                    round(rng.uniform(0, 2 * math.pi), 4),
                ]
                for _ in range(rng.randint(0, cfg.folds_max))
            ],
            "mesh": (3 + rng.randrange(3)) if rng.random() < cfg.mesh_p else 0,
            "mesh_strength": round(rng.uniform(0.03, 0.09), 4),
            "brightness": round(rng.uniform(0.85, 1.12), 4),
            "contrast": round(rng.uniform(0.85, 1.1), 4),
            "occlusion": None,
            "preset": cfg.preset,
            "seed": seed,
            "renderer": RENDERER_VERSION,
        }
        if rng.random() < cfg.occlusion_p:
            kind = OCCLUDERS[rng.randrange(len(OCCLUDERS))]
            side = rng.choice((-1, 1))
            p["occlusion"] = {
                "kind": kind,
                "side": side,
                "cover": round(rng.uniform(0.03, cfg.occlusion_max), 4),
                "digits": len(label),
                "angle": round(rng.uniform(-0.6, 0.6), 4),
                "y": round(rng.uniform(-0.4, 0.4), 4),
                "rgb": list(SKIN[rng.randrange(len(SKIN))]) if kind == "arm"
                else [235, 110, 30] if kind == "ball"
                else list(self.colors.sample(rng).jersey),
            }  # fmt: skip
        return p

    # ------------------------------------------------------------------ drawing
    def _glyph(self, name: str, px: int, ch: str, stroke: int) -> np.ndarray:
        """A cached 8-bit mask of one digit (with ``stroke`` px of outline) on its advance box."""
        key = (name, px, ch, stroke)
        g = self._glyphs.get(key)
        if g is None:
            font = self._cache.get(name, px)
            ascent, descent = font.getmetrics()
            pad = stroke + 2
            adv = font.getlength(ch)
            im = Image.new("L", (math.ceil(adv) + 2 * pad + 2, ascent + descent + 2 * pad), 0)
            ImageDraw.Draw(im).text((pad, pad), ch, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
            g = self._glyphs[key] = np.asarray(im)
        return g

    def _advances(self, name: str, px: int, label: str) -> list[float]:
        """X of each digit's origin: pair advances, so the font's kerning is kept."""
        key = (name, px, label)
        xs = self._adv.get(key)
        if xs is None:
            font = self._cache.get(name, px)
            xs = [0.0]
            for i in range(1, len(label)):
                xs.append(xs[-1] + font.getlength(label[i - 1 : i + 1]) - font.getlength(label[i]))
            self._adv[key] = xs
        return xs

    def _number_masks(self, p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """``(fill, outer)`` 8-bit masks of the number in text space (outer includes the outline).

        Digits are drawn at a reference size (the smallest of 48/96/192/384 px not below the
        target height, so the warp only ever shrinks them by less than 2×) and cached.
        """
        label: str = p["label"]
        name = p["font"]
        ratio = self._cache.digit_ratio(name)
        target = p["number_height"] * p["height"] / ratio
        px = next((b for b in _PX_BUCKETS if b >= target), _PX_BUCKETS[-1])
        stroke = max(1, round(p["outline_width"] * px)) if p["outline"] else 0
        xs = self._advances(name, px, label)
        track = p["tracking"] * px
        pad = stroke + 2  # the stroked glyph's margin; plain glyphs have a margin of 2
        glyphs = [self._glyph(name, px, ch, stroke) for ch in label]
        origins = [round(x + i * track) for i, x in enumerate(xs)]
        shift = pad - min(origins)
        origins = [o + shift for o in origins]
        tw = max(o - pad + g.shape[1] for o, g in zip(origins, glyphs, strict=True))
        th = glyphs[0].shape[0]
        outer = np.zeros((th, tw), np.uint8)
        for o, g in zip(origins, glyphs, strict=True):
            sl = outer[:, o - pad : o - pad + g.shape[1]]
            np.maximum(sl, g, out=sl)
        if not stroke:
            return outer, outer
        fill = np.zeros((th, tw), np.uint8)
        for o, ch in zip(origins, label, strict=True):
            f = self._glyph(name, px, ch, 0)
            sl = fill[pad - 2 : pad - 2 + f.shape[0], o - 2 : o - 2 + f.shape[1]]
            np.maximum(sl, f, out=sl)
        return fill, outer

    def render_params(self, p: dict[str, Any]) -> np.ndarray:
        """Render the undegraded crop from sampled parameters (RGB uint8, H×W×3)."""
        w, h = p["width"], p["height"]
        fill_a, outer_a = self._number_masks(p)
        cols = np.flatnonzero(outer_a.max(axis=0))
        rows = np.flatnonzero(outer_a.max(axis=1))
        if len(cols) == 0:  # pragma: no cover - fonts are checked for digit glyphs
            raise ValueError(f"font {p['font']!r} drew nothing for {p['label']!r}")
        x0, x1, y0, y1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
        bw, bh = float(x1 - x0), float(y1 - y0)
        # Number box corners (text space) -> output space: squeeze, rotate, place, then a
        # perspective jitter of each corner. Wide numbers shrink to fit the crop.
        src = np.asarray([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
        cx, cy = w * (0.5 + p["offset"][0]), h * (0.5 + p["offset"][1] * 0.5)
        nh = p["number_height"] * h
        nw = bw * (nh / bh) * p["squeeze"]
        fit = min(1.0, 0.82 * w / nw)
        nh, nw = nh * fit, nw * fit
        ang = math.radians(p["rotation"])
        ca, sa = math.cos(ang), math.sin(ang)
        jit = p["perspective"]
        dst = []
        for k, (ux, uy) in enumerate(((-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5))):
            lx = ux * nw + jit[2 * k] * nw * 0.5
            ly = uy * nh + jit[2 * k + 1] * nh * 0.5
            dst.append([cx + lx * ca - ly * sa, cy + lx * sa + ly * ca])
        hom = cv2.getPerspectiveTransform(src, np.asarray(dst, np.float32))
        masks = np.dstack([fill_a, outer_a]) if fill_a is not outer_a else outer_a
        warped = cv2.warpPerspective(masks, hom, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
        if warped.ndim == 3:
            fill_m, outer_m = warped[..., 0], warped[..., 1]
        else:
            fill_m = outer_m = warped

        # Scene in the number's frame (units: torso half-width, number height).
        xs, ys, xn, yn, bg_shade = _grid(w, h)
        tw = p["torso_width"] * nh * 0.5

        def frame(pts: tuple[tuple[float, float], ...]) -> np.ndarray:
            a = np.asarray(pts, np.float64) * (tw, nh)
            out = np.empty_like(a)
            out[:, 0] = cx + a[:, 0] * ca - a[:, 1] * sa
            out[:, 1] = cy + a[:, 0] * sa + a[:, 1] * ca
            return np.round(out * 16).astype(np.int32)

        body_m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(body_m, [frame(_BODY)], 255, cv2.LINE_AA, shift=4)
        torso_m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(torso_m, [frame(_TORSO)], 255, cv2.LINE_AA, shift=4)

        # Layer weights (alpha compositing as a weighted sum of flat colours), then one matmul.
        f32 = np.float32
        t = torso_m.astype(f32) * f32(1 / 255)
        b = np.maximum(body_m.astype(f32) * f32(1 / 255), t)
        n_fill = fill_m.astype(f32) * f32(1 / 255) * t
        n_outer = outer_m.astype(f32) * f32(1 / 255) * t if p["outline"] else n_fill
        # Shading: directional light, low-frequency blotches, fold bands, mesh texture.
        theta, strength = p["light"]
        rng = np.random.default_rng(p["seed"])
        shade = xn * f32(strength * math.cos(theta))
        shade += yn * f32(strength * math.sin(theta))
        shade += f32(1.0)
        if p["shading_noise"] > 0:
            blot = rng.standard_normal((4, 4), dtype=f32)
            shade += f32(p["shading_noise"]) * cv2.resize(blot, (w, h), interpolation=cv2.INTER_CUBIC)
        dx = dy = None
        for ang_f, freq, amp, phase in p["folds"]:
            nx, ny = math.cos(ang_f), math.sin(ang_f)
            tt = (xs * f32(nx) + ys * f32(ny)) * f32(2 * math.pi * freq / nh) + f32(phase)
            sn = np.sin(tt)
            shade -= f32(0.09 * amp) * (1 - sn * sn) * (sn > 0)
            disp = sn * f32(amp * nh * 0.02)
            dx = disp * f32(nx) if dx is None else dx + disp * f32(nx)
            dy = disp * f32(ny) if dy is None else dy + disp * f32(ny)
        if p["mesh"]:
            tile = _MESH[p["mesh"]]
            reps = (h // tile.shape[0] + 2, w // tile.shape[1] + 2)
            oy, ox = int(rng.integers(tile.shape[0])), int(rng.integers(tile.shape[1]))
            shade += f32(p["mesh_strength"]) * np.tile(tile, reps)[oy : oy + h, ox : ox + w] * t

        occ = p["occlusion"]
        occ_m = self._occluder(occ, w, h, cx, cy, nw, nh, ca, sa) if occ else None
        keep = shade if occ_m is None else shade * (1 - occ_m)
        bg_w = (1 - b) * bg_shade * keep
        skin_w = (b - t) * keep
        jersey_w = (t - n_outer) * keep
        outline_w = (n_outer - n_fill) * keep
        number_w = n_fill * keep
        layers = [bg_w, skin_w, jersey_w, outline_w, number_w]
        trim = p["outline_rgb"] or p["number_rgb"]
        colors = [p["background_rgb"], p["skin_rgb"], p["jersey_rgb"], trim, p["number_rgb"]]
        if occ_m is not None:
            layers.append(occ_m * (f32(0.8) + f32(0.35) * (1 - np.abs(xs - cx) * f32(1 / w))))
            colors.append(occ["rgb"])
        c, bright = p["contrast"], p["brightness"]
        wmat = np.stack(layers, axis=-1).reshape(h * w, len(layers))
        cmat = np.asarray(colors, f32) * f32(c * bright)
        img = (wmat @ cmat).reshape(h, w, 3)
        img += f32(128.0 * (1 - c) * bright)
        # Folds displace the fabric (and what is printed on it).
        if dx is not None and dy is not None:
            img = cv2.remap(img, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        np.clip(img, 0, 255, out=img)
        return img.astype(np.uint8)

    @staticmethod
    def _occluder(
        occ: dict[str, Any], w: int, h: int, cx: float, cy: float, nw: float, nh: float, ca: float, sa: float
    ) -> np.ndarray:
        """Alpha mask (float32) of an arm, the ball or another player entering the number box."""
        om = np.zeros((h, w), np.uint8)
        side, cover = occ["side"], occ["cover"]
        # how far the occluder reaches into the number box: `cover` of its width, never more
        # than a third of one digit, so the label stays readable
        depth = min(cover * nw, nw / max(1, occ.get("digits", 2)) / 3)
        oy = cy + occ["y"] * nh * 0.5
        if occ["kind"] == "ball":
            r = nh * 0.75
            # overlap depth so that about `cover` of the number box width is hidden
            bx = cx + side * (nw * 0.5 + r - depth)
            cv2.circle(om, (round(bx * 16), round(oy * 16)), round(r * 16), 255, -1, cv2.LINE_AA, 4)
        else:
            thick = nh * (0.45 if occ["kind"] == "arm" else 0.9)
            inner = cx + side * (nw * 0.5 - depth)
            a = occ["angle"]
            pts = []
            for fy, lx in ((-4.0, 0.0), (4.0, 0.0), (4.0, side * thick), (-4.0, side * thick)):
                ly = fy * nh
                pts.append([inner + lx * math.cos(a) - ly * math.sin(a), oy + lx * math.sin(a) + ly * math.cos(a)])
            cv2.fillPoly(om, [np.round(np.asarray(pts) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        return om.astype(np.float32) * np.float32(1 / 255)

    def degrade(self, img: np.ndarray, seed: int) -> np.ndarray:
        """Apply the configured preset with the sample's own random stream."""
        if not self._has_degrade:
            return img
        self._degrade.set_random_state(np.random.default_rng(seed + 1), random.Random(seed + 1))
        out: np.ndarray = self._degrade(image=img)["image"]
        return out

    def render(self, label: str, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
        """Sample, draw and degrade one crop.

        Args:
            label: The jersey number (1–3 digits).
            seed: The sample's seed (see :func:`sample_seed`).

        Returns:
            ``(image, params)``: RGB uint8 H×W×3, and every parameter (JSON-friendly).

        """
        p = self.sample_params(label, seed)
        img = self.render_params(p)
        img = self.degrade(img, seed)
        return np.ascontiguousarray(img), p
