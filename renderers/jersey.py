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

from renderers.fonts import DEFAULT_FONTS, FontSpec, load_fonts
from renderers.glyphs import advance, digit_ratio, glyph
from renderers.palettes import RGB, ColorSampler, Kit

RENDERER_VERSION = "jersey/2"
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


# ----------------------------------------------------------------------------- per-process caches
# Per-size constant fields (here) and fonts, glyph masks and kerning advances
# (:mod:`renderers.glyphs`) are shared by every renderer of the process (and inherited by forked
# workers): they depend only on the font file, the pixel size and the crop size, never on a
# sample's seed.

class _Fields:
    """Per-crop-size constants: pixel coordinates, normalised rows/columns, blotch upsampling."""

    def __init__(self, w: int, h: int) -> None:
        f32 = np.float32
        self.x = np.arange(w, dtype=f32)  # pixel columns
        self.y = np.arange(h, dtype=f32)[:, None]  # pixel rows (a column vector)
        self.xn = self.x / f32(w) - f32(0.5)
        self.yn = self.y / f32(h) - f32(0.5)
        self.bg = f32(0.85) + self.y * f32(0.3 / h)  # the background's vertical shade
        # cv2.resize(INTER_CUBIC) of a 4×4 field is linear and separable: Ry @ field @ Rx
        eye = np.eye(4, dtype=f32)
        self.ry = np.stack(
            [cv2.resize(eye[:, i : i + 1], (1, h), interpolation=cv2.INTER_CUBIC)[:, 0] for i in range(4)], 1
        )
        self.rx = np.stack(
            [cv2.resize(eye[i : i + 1, :], (w, 1), interpolation=cv2.INTER_CUBIC)[0] for i in range(4)], 0
        )
        self.mesh: dict[int, np.ndarray] = {}

    def mesh_field(self, period: int, h: int, w: int) -> np.ndarray:
        """The mesh pattern tiled over the crop plus one tile of margin (offsets slice it)."""
        m = self.mesh.get(period)
        if m is None:
            tile = _MESH[period]
            reps = (h // tile.shape[0] + 2, w // tile.shape[1] + 2)
            m = self.mesh[period] = np.tile(tile, reps)
        return m


_FIELDS: dict[tuple[int, int], _Fields] = {}


def _fields(w: int, h: int) -> _Fields:
    f = _FIELDS.get((w, h))
    if f is None:
        if len(_FIELDS) > 256:
            _FIELDS.clear()
        f = _FIELDS[(w, h)] = _Fields(w, h)
    return f


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
_SHADE_SALT = 0x5AD3
"""Offset of the shading stream's seed (blotches, mesh phase) from the sample's seed."""


def _poly(
    pts: tuple[tuple[float, float], ...], sx: float, sy: float, cx: float, cy: float, ca: float, sa: float
) -> np.ndarray:
    """Polygon ``pts`` scaled by ``(sx, sy)``, rotated and moved to ``(cx, cy)``; 1/16 px int32."""
    out = []
    for u, v in pts:
        a, b = u * sx, v * sy
        out.append((round((cx + a * ca - b * sa) * 16), round((cy + a * sa + b * ca) * 16)))
    return np.asarray(out, np.int32)


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
        from renderers.degradations import apply_seeded  # albumentations: imported on first use
        from renderers.presets import build_preset

        self._apply_seeded = apply_seeded

        self.config = config or JerseyConfig()
        self.colors = colors or ColorSampler()
        self.fonts = load_fonts(self.config.fonts)
        self._specs = {f.name: f for f in self.fonts}
        self._font_names = [f.name for f in self.fonts]
        self._degrade = build_preset(self.config.preset)
        self._has_degrade = bool(self._degrade.transforms)

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
    def _advances(self, spec: FontSpec, px: int, label: str) -> list[float]:
        """X of each digit's origin: pair advances, so the font's kerning is kept."""
        xs = [0.0]
        for i in range(1, len(label)):
            xs.append(xs[-1] + advance(spec, px, label[i - 1 : i + 1]) - advance(spec, px, label[i]))
        return xs

    def _number_mask(self, p: dict[str, Any]) -> np.ndarray:
        """The number in text space, cropped to its ink (8-bit).

        H×W×4 (the fill, fill and outline together, two empty channels) when outlined, else H×W.
        Digits are drawn at a reference size (the smallest of 48/96/192/384 px not below the
        target height, so the warp only ever shrinks them by less than 2×) and cached.
        """
        label: str = p["label"]
        spec = self._specs[p["font"]]
        target = p["number_height"] * p["height"] / digit_ratio(spec)
        px = next((b for b in _PX_BUCKETS if b >= target), _PX_BUCKETS[-1])
        stroke = max(1, round(p["outline_width"] * px)) if p["outline"] else 0
        track = p["tracking"] * px
        pad = stroke + 2  # where _draw puts the digit's origin on its box
        xs = self._advances(spec, px, label)
        parts = []
        for i, ch in enumerate(label):
            g, gx, gy = glyph(spec, px, ch, stroke)
            parts.append((round(xs[i] + i * track) - pad + gx, gy, g))
        if len(parts) == 1:
            return parts[0][2]
        x0 = min(x for x, _, _ in parts)
        y0 = min(y for _, y, _ in parts)
        x1 = max(x + g.shape[1] for x, _, g in parts)
        y1 = max(y + g.shape[0] for _, y, g in parts)
        out = np.zeros((y1 - y0, x1 - x0, *parts[0][2].shape[2:]), np.uint8)
        for x, y, g in parts:
            sl = out[y - y0 : y - y0 + g.shape[0], x - x0 : x - x0 + g.shape[1]]
            np.maximum(sl, g, out=sl)
        return out

    def render_params(self, p: dict[str, Any]) -> np.ndarray:
        """Render the undegraded crop from sampled parameters (RGB uint8, H×W×3)."""
        w, h = p["width"], p["height"]
        f32 = np.float32
        fl = _fields(w, h)
        num = self._number_mask(p)
        bh, bw = num.shape[:2]
        # Number box corners (text space) -> output space: squeeze, rotate, place, then a
        # perspective jitter of each corner. Wide numbers shrink to fit the crop.
        src = np.asarray([[0, 0], [bw, 0], [bw, bh], [0, bh]], np.float32)
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
            dst.append((cx + lx * ca - ly * sa, cy + lx * sa + ly * ca))
        hom = cv2.getPerspectiveTransform(src, np.asarray(dst, np.float32))

        # Shading: directional light, low-frequency blotches, fold creases, mesh texture.
        rng = random.Random(p["seed"] + _SHADE_SALT)
        theta, strength = p["light"]
        shade = (fl.yn * f32(strength * math.sin(theta)) + f32(1.0)) + fl.xn * f32(strength * math.cos(theta))
        if p["shading_noise"] > 0:
            blot = np.asarray([rng.gauss(0.0, 1.0) for _ in range(16)], f32).reshape(4, 4)
            shade += fl.ry @ ((blot * f32(p["shading_noise"])) @ fl.rx)
        waves = []  # (sin of the fold phase, x and y displacement per unit)
        for ang_f, freq, amp, phase in p["folds"]:
            nx, ny = math.cos(ang_f), math.sin(ang_f)
            k = 2 * math.pi * freq / nh
            ax, ay = fl.x * f32(nx * k), fl.y * f32(ny * k) + f32(phase)
            sn = np.cos(ay) * np.sin(ax)  # sin(ax + ay), from 1-D sines and cosines
            sn += np.sin(ay) * np.cos(ax)
            crease = sn * sn
            crease -= f32(1.0)
            crease *= f32(0.09 * amp)
            np.add(shade, crease, out=shade, where=sn > 0)  # shade -= 0.09 amp (1 - sin²) where sin > 0
            waves.append((sn, amp * nh * 0.02 * nx, amp * nh * 0.02 * ny))

        # Scene in the number's frame (units: torso half-width, number height).
        tw = p["torso_width"] * nh * 0.5
        body_m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(body_m, [_poly(_BODY, tw, nh, cx, cy, ca, sa)], 255, cv2.LINE_AA, shift=4)
        torso_m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(torso_m, [_poly(_TORSO, tw, nh, cx, cy, ca, sa)], 255, cv2.LINE_AA, shift=4)
        t = torso_m * f32(1 / 255)
        b = body_m * f32(1 / 255)
        np.maximum(b, t, out=b)
        if p["mesh"]:
            period = p["mesh"]
            oy, ox = rng.randrange(2 * period), rng.randrange(2 * period)
            mesh = fl.mesh_field(period, h, w)[oy : oy + h, ox : ox + w] * t
            mesh *= f32(p["mesh_strength"])
            shade += mesh

        occ = p["occlusion"]
        occ_m = self._occluder(occ, w, h, cx, cy, nw, nh, ca, sa) if occ else None
        if occ_m is not None:
            shade *= 1 - occ_m  # what the occluder hides
        # Layer weights (alpha compositing as a weighted sum of flat colours), then one matmul:
        # background, skin, jersey, occluder, then the number's outline and fill (zero outside
        # the number's box, the only part that is warped).
        c, bright = p["contrast"], p["brightness"]
        cb = c * bright
        jersey = p["jersey_rgb"]
        colors: list[Any] = [p["background_rgb"], p["skin_rgb"], jersey]
        printed = self._warp_number(num, hom, dst, waves, h, w, fl)
        n_layers = 3 + (occ_m is not None) + (0 if printed is None else printed[0].ndim - 1)
        wts = np.empty((n_layers, h, w), f32)
        np.subtract(f32(1.0), b, out=wts[0])
        wts[0] *= fl.bg
        wts[0] *= shade
        np.subtract(b, t, out=wts[1])
        wts[1] *= shade
        t_keep = wts[2]
        np.multiply(t, shade, out=t_keep)
        k = 3
        if occ_m is not None:
            np.multiply(occ_m, f32(0.8) + f32(0.35) * (1 - np.abs(fl.x - f32(cx)) * f32(1 / w)), out=wts[3])
            colors.append(occ["rgb"])
            k = 4
        if printed is not None:
            # jersey + outer (trim - jersey) + fill (number - trim), 8-bit masks (colours / 255)
            warped, (x0, y0, x1, y1) = printed
            tk = t_keep[y0:y1, x0:x1]
            fill_rgb = np.asarray(p["number_rgb"], np.float64)
            if warped.ndim == 3:
                trim = np.asarray(p["outline_rgb"] or p["number_rgb"], np.float64)
                for layer, ch, rgb in ((wts[k], 1, trim - jersey), (wts[k + 1], 0, fill_rgb - trim)):
                    layer.fill(0.0)
                    np.multiply(warped[..., ch], tk, out=layer[y0:y1, x0:x1])
                    colors.append(rgb / 255.0)
            else:
                wts[k].fill(0.0)
                np.multiply(warped, tk, out=wts[k][y0:y1, x0:x1])
                colors.append((fill_rgb - jersey) / 255.0)
        cmat = np.asarray(colors, f32).T * f32(cb)
        img = cmat @ wts.reshape(n_layers, h * w)
        # + the contrast offset, rounded and saturated to 8 bits in one OpenCV call
        planes = cv2.add(img.reshape(3 * h, w), 128.0 * (1 - c) * bright, dtype=cv2.CV_8U).reshape(3, h, w)
        return cv2.merge((planes[0], planes[1], planes[2]))

    @staticmethod
    def _warp_number(
        num: np.ndarray,
        hom: np.ndarray,
        dst: list[tuple[float, float]],
        waves: list[tuple[np.ndarray, float, float]],
        h: int,
        w: int,
        fl: _Fields,
    ) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """The number's masks warped onto its box of the crop, and the box ``(x0, y0, x1, y1)``.

        Only the box is warped; the fabric's folds displace the print (the number is sampled at
        the displaced points). ``None`` when the box is outside the crop.
        """
        f32 = np.float32
        reach = sum(abs(dx) + abs(dy) for _, dx, dy in waves)
        margin = 2 + math.ceil(reach + h / max(1, num.shape[0]))
        xs_, ys_ = [q[0] for q in dst], [q[1] for q in dst]
        x0, x1 = max(0, math.floor(min(xs_)) - margin), min(w, math.ceil(max(xs_)) + margin)
        y0, y1 = max(0, math.floor(min(ys_)) - margin), min(h, math.ceil(max(ys_)) + margin)
        if x1 <= x0 or y1 <= y0:
            return None
        # Where each output pixel samples the number: the inverse homography of the pixel (a row
        # and a column vector without folds, a field with them); then one remap of the box.
        mx: np.ndarray = fl.x[x0:x1]
        my: np.ndarray = fl.y[y0:y1]
        if waves:
            dx = sum(sn[y0:y1, x0:x1] * f32(kx) for sn, kx, _ in waves)
            dy = sum(sn[y0:y1, x0:x1] * f32(ky) for sn, _, ky in waves)
            mx, my = mx + dx, my + dy
        inv = [[f32(v) for v in row] for row in cv2.invert(hom)[1].tolist()]
        den = (inv[2][0] * mx + inv[2][2]) + inv[2][1] * my
        u = (inv[0][0] * mx + inv[0][2]) + inv[0][1] * my
        u /= den
        v = (inv[1][0] * mx + inv[1][2]) + inv[1][1] * my
        v /= den
        warped = cv2.remap(num, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return warped, (x0, y0, x1, y1)

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
        """Apply the configured preset with the sample's own random stream (seed + 1)."""
        if not self._has_degrade:
            return img
        return self._apply_seeded(self._degrade, img, seed + 1)

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
