"""The jersey OCR project's torchvision training transforms, re-implemented on OpenCV with torchvision's sampling rules.

torchvision's tensor versions of ``ColorJitter`` (hue), ``GaussianBlur`` and ``RandomAffine`` are
the slow part of the jersey OCR log's pipeline on a 224×224 crop; with the OpenCV versions here the whole
training transform runs at ~2.5× the torchvision pipeline's rate per core
(``benchmarks/bench_train.py``). Each one draws its parameters as torchvision's ``get_params``
does (same distributions, same defaults: nearest-neighbour ``RandomAffine``,
bilinear ``RandomPerspective``, black fill, reflect-101 blur padding, ``ColorJitter``'s random
order of the four adjustments, ``RandomErasing``'s ten tries) from one ``numpy`` generator, so a
sample's augmentation is a pure function of its seed.

Examples:
    >>> import numpy as np
    >>> img = np.random.default_rng(0).integers(0, 255, (40, 32, 3), dtype=np.uint8)
    >>> rng = np.random.default_rng(1)
    >>> random_resized_crop(img, 24, rng).shape
    (24, 24, 3)
    >>> (affine(img, 0.0, (0, 0), 1.0) == img).all()
    np.True_
    >>> (color_jitter(img, [0, 1, 2, 3], 1.0, 1.0, 1.0, 0.0) == img).all()
    np.True_

"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np


def random_resized_crop(
    img: np.ndarray,
    size: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> np.ndarray:
    """Like torchvision's ``RandomResizedCrop(size)``: a random area/aspect window resized to ``size``²."""
    h, w = img.shape[:2]
    area = h * w
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        cw = round(math.sqrt(target * aspect))
        ch = round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            y = int(rng.integers(0, h - ch + 1))
            x = int(rng.integers(0, w - cw + 1))
            break
    else:  # torchvision's fallback: a central crop at the clamped aspect ratio
        in_ratio = w / h
        if in_ratio < ratio[0]:
            cw, ch = w, round(w / ratio[0])
        elif in_ratio > ratio[1]:
            ch, cw = h, round(h * ratio[1])
        else:
            cw, ch = w, h
        y, x = (h - ch) // 2, (w - cw) // 2
    crop = img[y : y + ch, x : x + cw]
    interp = cv2.INTER_AREA if cw > size and ch > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


def affine(img: np.ndarray, angle: float, translate: tuple[int, int], scale: float) -> np.ndarray:
    """Rotate ``angle`` degrees counter-clockwise about the centre, scale, translate; nearest, black fill."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) * 0.5, (h - 1) * 0.5), angle, scale)
    m[0, 2] += translate[0]
    m[1, 2] += translate[1]
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def random_affine(
    img: np.ndarray,
    rng: np.random.Generator,
    degrees: float = 15.0,
    translate: tuple[float, float] = (0.1, 0.1),
    scale: tuple[float, float] = (0.85, 1.15),
) -> np.ndarray:
    """Like torchvision's ``RandomAffine(degrees, translate, scale)``."""
    h, w = img.shape[:2]
    angle = float(rng.uniform(-degrees, degrees))
    tx = round(rng.uniform(-translate[0] * w, translate[0] * w))
    ty = round(rng.uniform(-translate[1] * h, translate[1] * h))
    return affine(img, angle, (tx, ty), float(rng.uniform(scale[0], scale[1])))


def random_perspective(
    img: np.ndarray, rng: np.random.Generator, distortion: float = 0.2, p: float = 0.3
) -> np.ndarray:
    """Like torchvision's ``RandomPerspective(distortion_scale, p)``: corners moved inwards, bilinear, black fill."""
    if rng.random() >= p:
        return img
    h, w = img.shape[:2]
    hw, hh = int(distortion * (w // 2)), int(distortion * (h // 2))

    def r(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi + 1))

    end = np.array(
        [[r(0, hw), r(0, hh)], [r(w - hw - 1, w - 1), r(0, hh)], [r(w - hw - 1, w - 1), r(h - hh - 1, h - 1)],
         [r(0, hw), r(h - hh - 1, h - 1)]], dtype=np.float32,
    )  # fmt: skip
    start = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(start, end)
    return cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _gray(img: np.ndarray) -> np.ndarray:
    """As torchvision's ``rgb_to_grayscale`` of a uint8 image (truncated to uint8)."""
    f = img.astype(np.float32)
    return (f[..., 0] * 0.2989 + f[..., 1] * 0.587 + f[..., 2] * 0.114).astype(np.uint8)


def _blend(img: np.ndarray, other: np.ndarray | float, ratio: float) -> np.ndarray:
    """As torchvision's ``_blend`` on uint8: ``ratio * img + (1 - ratio) * other``, clamped, truncated."""
    out = img.astype(np.float32) * ratio + np.asarray(other, dtype=np.float32) * (1.0 - ratio)
    return np.clip(out, 0, 255).astype(np.uint8)


def color_jitter(
    img: np.ndarray, order: Sequence[int], brightness: float, contrast: float, saturation: float, hue: float
) -> np.ndarray:
    """Apply torchvision's four adjustments in ``order`` (0 brightness, 1 contrast, 2 saturation, 3 hue)."""
    out = img
    for k in order:
        if k == 0 and brightness != 1.0:
            out = _blend(out, 0.0, brightness)
        elif k == 1 and contrast != 1.0:
            out = _blend(out, float(_gray(out).mean()), contrast)
        elif k == 2 and saturation != 1.0:
            out = _blend(out, _gray(out)[..., None], saturation)
        elif k == 3 and hue != 0.0:
            hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
            hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + round(hue * 180)) % 180).astype(np.uint8)
            out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return out


def random_color_jitter(
    img: np.ndarray, rng: np.random.Generator, b: float = 0.2, c: float = 0.2, s: float = 0.2, h: float = 0.1
) -> np.ndarray:
    """Like torchvision's ``ColorJitter(b, c, s, h)``: factors in ``[1-x, 1+x]`` (hue in ``[-h, h]``), random order."""
    order = rng.permutation(4).tolist()
    fb, fc, fs = (float(rng.uniform(1 - x, 1 + x)) for x in (b, c, s))
    return color_jitter(img, order, fb, fc, fs, float(rng.uniform(-h, h)))


def random_gaussian_blur(
    img: np.ndarray, rng: np.random.Generator, kernel: int, sigma: tuple[float, float]
) -> np.ndarray:
    """Like torchvision's ``GaussianBlur(kernel, sigma)``: sigma drawn uniformly, reflect-101 padding."""
    sd = float(rng.uniform(sigma[0], sigma[1]))
    return cv2.GaussianBlur(img, (kernel, kernel), sigmaX=sd, sigmaY=sd, borderType=cv2.BORDER_REFLECT_101)


def random_erasing(
    x: np.ndarray,
    rng: np.random.Generator,
    p: float,
    scale: tuple[float, float],
    ratio: tuple[float, float] = (0.3, 3.3),
) -> np.ndarray:
    """Like torchvision's ``RandomErasing(p, scale, ratio, value=0)`` on a CHW float array, in place."""
    if rng.random() >= p:
        return x
    _, h, w = x.shape
    area = h * w
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        eh, ew = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if eh < h and ew < w:
            i, j = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
            x[:, i : i + eh, j : j + ew] = 0.0
            break
    return x
