"""Broadcast degradations as albumentations transforms, for rendering and for training.

Each of the seed's degradations maps to an albumentations transform (2.x API), so a preset is an
ordinary ``albumentations.Compose`` you can drop into a training pipeline:

=====================  ====================================================================
seed transform         here
=====================  ====================================================================
RandomJPEGCompression  :func:`jpeg` → ``A.ImageCompression``
RandomPixelate         :func:`pixelate` → ``A.Downscale`` (nearest down, nearest up)
RandomBilinearDown…    :func:`bilinear_downscale` → ``A.Downscale`` (bilinear down and up)
RandomGaussianNoise    :func:`gaussian_noise` → ``A.GaussNoise`` (sigma on the 0–255 scale)
GaussianBlur           :func:`gaussian_blur` → ``A.GaussianBlur`` (fixed odd kernel)
RandomErasing          :func:`erasing` → ``A.Erasing`` (fill: ImageNet mean pixel)
RandomZoomIn           :class:`ZoomIn` (albumentations has no crop-by-side-fraction-and-resize)
RandomZoomOut          :class:`ZoomOut` (pad onto a mean-colour canvas, resize back)
RandomApply(p)         :func:`random_apply` → ``A.Sequential(p=p)`` (clean pass-through)
RandomChoice           :func:`random_choice` → ``A.OneOf(p=1)``
=====================  ====================================================================

Examples:
    >>> import numpy as np
    >>> img = np.full((32, 32, 3), 200, np.uint8)
    >>> ZoomOut(scale=(2.0, 2.0), p=1.0)(image=img)["image"].shape
    (32, 32, 3)

"""

from __future__ import annotations

import random
from typing import Any

import cv2
import numpy as np

from renderers.albu import load

load()  # first: albumentations offline and without its torch bridge (see renderers.albu)
import albumentations as A  # noqa: E402

IMAGENET_MEAN_RGB: tuple[int, int, int] = (124, 116, 104)
"""The seed's zoom-out canvas and erasing fill (ImageNet mean, 0–255)."""


def _check_range(name: str, lo: float, hi: float, low: float, high: float) -> tuple[float, float]:
    lo, hi = float(lo), float(hi)
    if not (low <= lo <= hi <= high):
        raise ValueError(f"expected {name} range with {low} <= min <= max <= {high}, got ({lo}, {hi})")
    return lo, hi


def _check_p(p: float) -> float:
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"expected p in [0, 1], got {p}")
    return float(p)


_CANVASES: dict[tuple[tuple[int, ...], str, Any], np.ndarray] = {}


def _canvas(shape: tuple[int, ...], dtype: np.dtype, fill: Any) -> np.ndarray:
    """A new array of ``shape`` filled with ``fill``.

    Copied from a cached template: numpy's broadcast fill of a 3-vector costs more than a resize.
    """
    key = (shape, np.dtype(dtype).str, fill)
    tpl = _CANVASES.get(key)
    if tpl is None:
        if len(_CANVASES) > 64:
            _CANVASES.clear()
        tpl = _CANVASES[key] = np.empty(shape, dtype)
        tpl[...] = fill
    return tpl.copy()


class ZoomIn(A.DualTransform):
    """Crop a random window of ``s`` × the side (``s`` in ``scale``) and resize it back up.

    Simulates a tight detector box (the seed's ``RandomZoomIn``). Targets: image, mask.

    Args:
        scale: ``(min, max)`` side fraction kept, in (0, 1].
        p: Probability of applying.

    Examples:
        >>> import numpy as np
        >>> img = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)
        >>> ZoomIn(scale=(0.5, 0.5), p=1.0)(image=img)["image"].shape
        (16, 16, 3)

    """

    def __init__(self, scale: tuple[float, float] = (0.7, 1.0), p: float = 0.5) -> None:
        super().__init__(p=_check_p(p))
        self.scale = _check_range("ZoomIn scale", *scale, 1e-3, 1.0)

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Draw the crop window."""
        h, w = params["shape"][:2]
        s = self.py_random.uniform(*self.scale)
        cw, ch = max(1, round(w * s)), max(1, round(h * s))
        x = self.py_random.randint(0, w - cw)
        y = self.py_random.randint(0, h - ch)
        return {"window": (x, y, cw, ch), "zoom": s}

    def _apply(self, img: np.ndarray, window: tuple[int, int, int, int], interp: int) -> np.ndarray:
        x, y, cw, ch = window
        h, w = img.shape[:2]
        out = cv2.resize(img[y : y + ch, x : x + cw], (w, h), interpolation=interp)
        return out.reshape(img.shape)

    def apply(self, img: np.ndarray, window: tuple[int, int, int, int] = (0, 0, 0, 0), **params: Any) -> np.ndarray:
        """Crop and resize the image (bilinear)."""
        return self._apply(img, window, cv2.INTER_LINEAR)

    def apply_to_mask(
        self, mask: np.ndarray, window: tuple[int, int, int, int] = (0, 0, 0, 0), **params: Any
    ) -> np.ndarray:
        """Crop and resize a mask (nearest)."""
        return self._apply(mask, window, cv2.INTER_NEAREST)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Arguments shown in ``repr`` and serialisation."""
        return ("scale",)


class ZoomOut(A.DualTransform):
    """Place the image on an ``s`` × larger canvas at a random spot, then resize back.

    Simulates a loose detector box (the seed's ``RandomZoomOut``: canvas filled with the ImageNet
    mean colour RGB 124,116,104). Targets: image, mask (padded with 0).

    Args:
        scale: ``(min, max)`` canvas side factor, ≥ 1.
        fill: Canvas colour (RGB, 0–255).
        p: Probability of applying.

    Examples:
        >>> import numpy as np
        >>> img = np.zeros((10, 10, 3), np.uint8)
        >>> out = ZoomOut(scale=(2.0, 2.0), p=1.0)(image=img)["image"]
        >>> int((out == np.array(IMAGENET_MEAN_RGB, np.uint8)).all(-1).sum()) >= 50
        True

    """

    def __init__(
        self,
        scale: tuple[float, float] = (1.1, 1.6),
        fill: tuple[int, int, int] = IMAGENET_MEAN_RGB,
        p: float = 0.5,
    ) -> None:
        super().__init__(p=_check_p(p))
        self.scale = _check_range("ZoomOut scale", *scale, 1.0, 100.0)
        if len(fill) != 3 or not all(0 <= int(c) <= 255 for c in fill):
            raise ValueError(f"expected fill as 3 values in 0..255, got {fill!r}")
        self.fill = tuple(int(c) for c in fill)

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Draw the canvas size and the image's place on it."""
        h, w = params["shape"][:2]
        s = self.py_random.uniform(*self.scale)
        cw, ch = max(w, round(w * s)), max(h, round(h * s))
        x = self.py_random.randint(0, cw - w)
        y = self.py_random.randint(0, ch - h)
        return {"canvas": (x, y, cw, ch), "zoom": s}

    def _apply(self, img: np.ndarray, canvas: tuple[int, int, int, int], fill: Any, interp: int) -> np.ndarray:
        # Same result as padding to the canvas and resizing back, but only the image is resized.
        x, y, cw, ch = canvas
        h, w = img.shape[:2]
        sx, sy = w / cw, h / ch
        x0, y0 = round(x * sx), round(y * sy)
        nw, nh = max(1, min(w - x0, round(w * sx))), max(1, min(h - y0, round(h * sy)))
        small = cv2.resize(img, (nw, nh), interpolation=interp).reshape((nh, nw, *img.shape[2:]))
        out = _canvas(img.shape, img.dtype, fill)
        out[y0 : y0 + nh, x0 : x0 + nw] = small
        return out

    def apply(self, img: np.ndarray, canvas: tuple[int, int, int, int] = (0, 0, 0, 0), **params: Any) -> np.ndarray:
        """Pad and resize the image (area interpolation, as a downscale)."""
        fill: Any = self.fill if img.ndim == 3 and img.shape[2] == 3 else self.fill[0]
        if img.dtype != np.uint8:
            fill = tuple(c / 255.0 for c in self.fill) if isinstance(fill, tuple) else fill / 255.0
        return self._apply(img, canvas, fill, cv2.INTER_AREA)

    def apply_to_mask(
        self, mask: np.ndarray, canvas: tuple[int, int, int, int] = (0, 0, 0, 0), **params: Any
    ) -> np.ndarray:
        """Pad a mask with 0 and resize it (nearest)."""
        return self._apply(mask, canvas, 0, cv2.INTER_NEAREST)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Arguments shown in ``repr`` and serialisation."""
        return ("scale", "fill")


def jpeg(quality: tuple[int, int], p: float) -> A.ImageCompression:
    """JPEG round trip at a quality drawn from ``quality`` (the seed's RandomJPEGCompression).

    Examples:
        >>> jpeg((15, 70), 0.6).quality_range
        (15, 70)

    """
    lo, hi = _check_range("JPEG quality", *quality, 1, 100)
    return A.ImageCompression(compression_type="jpeg", quality_range=(int(lo), int(hi)), p=_check_p(p))


def pixelate(scale: tuple[float, float], p: float) -> A.Downscale:
    """Nearest-neighbour downscale by ``scale`` and nearest upscale (the seed's RandomPixelate).

    Examples:
        >>> pixelate((0.25, 0.75), 0.3).scale_range
        (0.25, 0.75)

    """
    return _downscale("pixelate scale", scale, p, cv2.INTER_NEAREST)


def bilinear_downscale(scale: tuple[float, float], p: float) -> A.Downscale:
    """Bilinear downscale by ``scale`` and bilinear upscale (the seed's RandomBilinearDownscale).

    Examples:
        >>> bilinear_downscale((0.3, 0.75), 0.3).interpolation_pair["downscale"] == cv2.INTER_LINEAR
        True

    """
    return _downscale("bilinear scale", scale, p, cv2.INTER_LINEAR)


def _downscale(name: str, scale: tuple[float, float], p: float, interpolation: int) -> A.Downscale:
    """Downscale by ``scale`` and upscale back, both with ``interpolation``."""
    lo, hi = _check_range(name, *scale, 0.01, 1.0)
    return A.Downscale(
        scale_range=(lo, hi), interpolation_pair={"downscale": interpolation, "upscale": interpolation}, p=_check_p(p)
    )


def gaussian_noise(sigma: tuple[float, float], p: float) -> A.GaussNoise:
    """Additive zero-mean Gaussian noise, sigma on the 0–255 scale (the seed's RandomGaussianNoise).

    Examples:
        >>> gaussian_noise((5, 30), 0.5).std_range == (5 / 255, 30 / 255)
        True

    """
    lo, hi = _check_range("noise sigma", *sigma, 0.0, 255.0)
    return A.GaussNoise(std_range=(lo / 255.0, hi / 255.0), mean_range=(0.0, 0.0), per_channel=True, p=_check_p(p))


def gaussian_blur(kernel: int, sigma: tuple[float, float], p: float = 1.0) -> A.GaussianBlur:
    """Gaussian blur with a fixed odd ``kernel`` and sigma drawn from ``sigma``.

    The seed's base pipeline applies ``GaussianBlur(kernel_size, sigma)`` to every sample
    (torchvision has no ``p``), hence the default ``p=1``.

    Examples:
        >>> gaussian_blur(7, (0.5, 3.5)).blur_limit
        (7, 7)

    """
    if kernel < 3 or kernel % 2 == 0:
        raise ValueError(f"expected an odd blur kernel >= 3, got {kernel}")
    lo, hi = _check_range("blur sigma", *sigma, 0.0, 100.0)
    return A.GaussianBlur(blur_limit=(kernel, kernel), sigma_limit=(lo, hi), p=_check_p(p))


def erasing(scale: tuple[float, float], p: float, fill: tuple[int, int, int] = IMAGENET_MEAN_RGB) -> A.Erasing:
    """Random erasing (torchvision ``RandomErasing``: area ``scale``, ratio 0.3–3.3).

    The seed erases after normalisation with value 0, which is the ImageNet mean pixel: the fill.

    Examples:
        >>> erasing((0.02, 0.15), 0.3).p
        0.3

    """
    lo, hi = _check_range("erasing scale", *scale, 0.0, 1.0)
    return A.Erasing(scale=(lo, hi), ratio=(0.3, 3.3), fill=tuple(float(c) for c in fill), p=_check_p(p))


def random_apply(transforms: list[Any], p: float) -> A.Sequential:
    """Apply all ``transforms`` (each with its own p) with probability ``p``, else pass through.

    The seed's ``RandomApply``: with ``p=0.85`` 15% of samples stay clean.

    Examples:
        >>> random_apply([jpeg((5, 55), 0.7)], 0.85).p
        0.85

    """
    return A.Sequential(transforms, p=_check_p(p))


def random_choice(transforms: list[Any]) -> A.OneOf:
    """Apply exactly one of ``transforms``, chosen uniformly (the seed's ``RandomChoice``).

    Examples:
        >>> len(random_choice([ZoomIn(p=1.0), ZoomOut(p=1.0)]).transforms)
        2

    """
    for t in transforms:
        t.p = 1.0
    return A.OneOf(transforms, p=1.0)


def apply_seeded(compose: A.Compose, image: np.ndarray, seed: int) -> np.ndarray:
    """``compose(image=image)["image"]`` with the random state of ``seed``, minus the per-call overhead.

    The same draws in the same order, and the same albumentations ops with the same parameters,
    as calling ``compose`` after ``compose.set_random_state(np.random.default_rng(seed),
    random.Random(seed))`` — byte-identical output — but the Compose, Sequential and OneOf
    wrappers and each transform's ``__call__`` bookkeeping (input checks, per-target dispatch)
    are walked here directly: on a 96×96 crop they cost more than the ops themselves. Anything
    this walker does not know (other compositions, bbox/keypoint processors, replay mode) is
    called the ordinary way.

    Args:
        compose: A Compose (for example :func:`renderers.presets.build_preset`'s).
        image: An image (H×W×C uint8).
        seed: Seed of the sample's random streams.

    Examples:
        >>> from renderers.presets import build_preset
        >>> t = build_preset("zc_strong_all")
        >>> img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
        >>> fast = apply_seeded(t, img, 5)
        >>> t.set_random_state(np.random.default_rng(5), random.Random(5))
        >>> (fast == t(image=img)["image"]).all()
        np.True_

    """
    rg, py = np.random.default_rng(seed), random.Random(seed)
    compose.set_random_state(rg, py)
    return _walk(compose, image, rg, py, False)


_COMPOSE, _SEQUENTIAL, _ONE_OF, _TRANSFORM, _OTHER = range(5)
_KINDS: dict[type, int] = {}


def _kind(node: Any) -> int:
    """How :func:`_walk` handles a node of this type (looked up once per type)."""
    t = type(node)
    k = _KINDS.get(t)
    if k is None:
        if t is A.Compose:
            k = _COMPOSE
        elif t is A.Sequential:
            k = _SEQUENTIAL
        elif t is A.OneOf:
            k = _ONE_OF
        elif issubclass(t, A.ImageOnlyTransform | A.DualTransform):
            k = _TRANSFORM
        else:
            k = _OTHER
        _KINDS[t] = k
    return k


def _walk(node: Any, img: np.ndarray, rg: np.random.Generator, py: random.Random, force: bool) -> np.ndarray:
    """Apply ``node`` to ``img`` exactly as its ``__call__`` would (see :func:`apply_seeded`)."""
    kind = _kind(node)
    if kind == _TRANSFORM and not node.replay_mode and not node.deterministic:
        # BasicTransform.__call__ and apply_with_params for an image-only input
        node.params = {}
        if not node.should_apply(force_apply=force):
            return img
        data = {"image": img}
        params = node.update_transform_params(params=node.get_params(), data=data)
        params.update(node.get_params_dependent_on_data(params=params, data=data))
        node.params = params
        res = node._key2func["image"](np.ascontiguousarray(img), **params)
        return np.ascontiguousarray(res)
    if kind == _OTHER or node.replay_mode or (kind == _COMPOSE and (node.processors or node.save_applied_params)):
        out: np.ndarray = node(image=img, force_apply=force)["image"]
        return out
    if kind == _ONE_OF:
        if node.transforms_ps and (force or py.random() < node.p):
            idx = int(rg.choice(len(node.transforms), p=node.transforms_ps))
            img = _walk(node.transforms[idx], img, rg, py, True)
        return img
    if kind != _TRANSFORM and (force or py.random() < node.p):  # Compose, Sequential
        for t in node.transforms:
            img = _walk(t, img, rg, py, False)
        return img
    if kind == _TRANSFORM:  # replay or deterministic mode: the ordinary call
        out = node(image=img, force_apply=force)["image"]
        return out
    return img
