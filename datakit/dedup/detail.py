"""The detail check: a near copy must agree in what makes an image distinct, window by window.

The hash, colour-layout and 32×32 checks (:mod:`datakit.dedup.near`) look at an image as a whole.
Two jersey crops of one kit whose numbers differ ("20" and "28"), or a red "1" and a yellow "1" on
one blue shirt, pass them: most of their pixels agree. This check decides the pairs that passed:

1. Both images are decoded again (:func:`datakit.images.load_image`) and resized to
   :data:`SIDE`×:data:`SIDE` RGB, a resolution that shows digit strokes.
2. The centre of one (:data:`SIDE` minus 1/8 on each side) is matched on the other over small
   shifts and scales 0.9–1.0 per axis, then refined by an affine ECC fit (``cv2.findTransformECC``:
   sub-pixel shifts, scale and the small rotations near copies have).
3. Both aligned views are blurred a little (σ = 1 px: JPEG blocks and resampling noise, not
   strokes). Two measures follow:

   * **local structure**: the grey-level correlation of the two views in every
     :data:`LOCAL`×:data:`LOCAL` window where either view has structure (standard deviation above
     :data:`STRUCTURE`); the *least* of them must be at least ``min_local``
     (:data:`DEFAULT_MIN_LOCAL`). A "0" where the other has an "8" is a window where one view is
     flat and the other holds a stroke, or strokes that do not match: correlation near or below 0.
     A re-encoded, resized, shifted or slightly rotated copy keeps every window's structure.
   * **colour**: one view is fitted to the other by one gain and one offset for all three
     channels (brightness and contrast edits) and the mean absolute RGB difference over every
     :data:`WINDOW`×:data:`WINDOW` window must be at most ``max_residual`` grey levels
     (:data:`DEFAULT_MAX_RESIDUAL`): a number of another colour differs by far more.

Measured on the benchmark (``benchmarks/bench_dedup.py``: 569 true near-copy pairs that passed the
whole-image checks; 133 pairs of distinct crops of ``datakit render jersey --preset zc_strong_all``
that passed them; 240 same-kit pairs "20"/"23"/"25"/"28"; 40 shifted, re-encoded copies): the
least local correlation of 99% of true copies is 0.95 or more (re-encoded jersey copies 0.90 and
up), of distinct crops at most 0.83; colour residuals of 99% of true copies stay under 14.
Only pairs that
passed the earlier checks are decoded again, so the cost grows with the number of near pairs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Executor

import numpy as np

from datakit.parallel import ordered_map

SIDE = 64
"""Side of the RGB views compared (digit strokes of a 96-pixel crop stay visible)."""

WINDOW = 8
"""Side of the windows the colour residual is averaged over (pixels of the :data:`SIDE` view)."""

LOCAL = 6
"""Side of the windows the local structure (grey) is correlated over."""

STRUCTURE = 12.0
"""Grey-level standard deviation from which a window has structure."""

DEFAULT_MAX_RESIDUAL = 40.0
"""Default worst-window mean absolute RGB difference (grey levels, 0–255) of a near copy."""

DEFAULT_MIN_LOCAL = 0.88
"""Default least local correlation (over windows with structure) of a near copy."""

_SCALES = ((1.0, 1.0), (1.0, 0.95), (0.95, 1.0), (0.95, 0.95), (1.0, 0.9), (0.9, 1.0), (0.9, 0.9), (0.95, 0.9),
           (0.9, 0.95))  # fmt: skip
_GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def view(path: str) -> np.ndarray:
    """The :data:`SIDE`×:data:`SIDE` float32 RGB view of an image (as datakit decodes it)."""
    import cv2

    from datakit.images import load_image

    a = np.asarray(load_image(path), dtype=np.float32)
    return cv2.resize(a, (SIDE, SIDE), interpolation=cv2.INTER_AREA)


def _measures(pv0: np.ndarray, tv0: np.ndarray) -> tuple[float, float]:
    """``(worst colour residual, least local correlation)`` of two aligned views of one size."""
    import cv2

    h, w = tv0.shape[:2]
    pv = cv2.GaussianBlur(pv0, (0, 0), 1.0)
    tv = cv2.GaussianBlur(tv0, (0, 0), 1.0)
    p, t = pv.reshape(-1), tv.reshape(-1)
    pc, tc = p - p.mean(), t - t.mean()
    var = float(pc @ pc)
    gain = float(pc @ tc) / var if var > 1e-6 else 0.0
    r = np.abs(tc - gain * pc).reshape(h, w, 3).mean(axis=2).astype(np.float32)
    k = WINDOW // 2
    colour = float(cv2.blur(r, (WINDOW, WINDOW))[k : h - k, k : w - k].max())
    g1, g2 = pv @ _GREY, tv @ _GREY
    box = (LOCAL, LOCAL)
    m1, m2 = cv2.blur(g1, box), cv2.blur(g2, box)
    s1 = np.sqrt(np.maximum(cv2.blur(g1 * g1, box) - m1 * m1, 0))
    s2 = np.sqrt(np.maximum(cv2.blur(g2 * g2, box) - m2 * m2, 0))
    cov = cv2.blur(g1 * g2, box) - m1 * m2
    c = LOCAL // 2
    inner = (slice(c, h - c), slice(c, w - c))
    ncc = (cov / np.maximum(s1 * s2, 1e-3))[inner]
    strong = np.maximum(s1, s2)[inner] > STRUCTURE
    local = float(max(-1.0, ncc[strong].min())) if strong.any() else 1.0
    return colour, local


def _align(a: np.ndarray, b: np.ndarray, both: bool) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(big, template, x, y)``: the best template match of a centre over scales (× directions)."""
    import cv2

    m = SIDE // 8
    best_score, best = -2.0, (a, a[m:-m, m:-m], m, m)
    for big, small in ((a, b), (b, a)) if both else ((a, b),):
        grey_big = big @ _GREY
        centre = small[m:-m, m:-m]
        for sx, sy in _SCALES:
            th, tw = centre.shape[:2]
            tpl = cv2.resize(centre, (round(tw * sx), round(th * sy)), interpolation=cv2.INTER_AREA)
            res = cv2.matchTemplate(grey_big, tpl @ _GREY, cv2.TM_CCOEFF_NORMED)
            _, score, _, (x, y) = cv2.minMaxLoc(res)
            if score > best_score:
                best_score, best = float(score), (big, tpl, x, y)
    return best


def _patches(big: np.ndarray, tpl: np.ndarray, x: int, y: int) -> Iterator[np.ndarray]:
    """The matched patch of ``big``, then the same refined by an affine ECC fit (rotation included)."""
    import cv2

    h, w = tpl.shape[:2]
    yield big[y : y + h, x : x + w]
    warp = np.array([[1, 0, x], [0, 1, y]], dtype=np.float32)
    try:
        _, warp = cv2.findTransformECC(  # type: ignore[call-overload]
            np.ascontiguousarray(tpl @ _GREY), np.ascontiguousarray(big @ _GREY), warp, cv2.MOTION_AFFINE,
            (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4), None, 3,
        )  # fmt: skip
    except cv2.error:  # did not converge: the integer match stands
        return
    yield cv2.warpAffine(big, warp, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REFLECT)  # fmt: skip


def measures(
    a: np.ndarray, b: np.ndarray, max_residual: float = DEFAULT_MAX_RESIDUAL, min_local: float = DEFAULT_MIN_LOCAL
) -> tuple[float, float]:
    """``(worst colour residual, least local correlation)`` of two :func:`view` arrays, aligned.

    Cheapest first: ``b``'s centre matched on ``a``, as matched and then refined by an affine ECC
    fit; when neither passes, the same with both directions. The first alignment that passes is
    returned, else the one with the highest local correlation.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> a = np.kron(rng.random((8, 8, 3)), np.ones((8, 8, 1))).astype(np.float32) * 200
        >>> res, local = measures(a, a * 0.9 + 10)  # darker, less contrast: the same picture
        >>> res < 1.0 and local > 0.99
        True
        >>> b = a.copy(); b[24:40, 24:40] = b[24:40, 24:40].mean()  # a "digit" gone from the middle
        >>> passes(*measures(a, b))
        False

    """
    tried: list[tuple[float, float]] = []
    for both in (False, True):
        big, tpl, x, y = _align(a, b, both)
        for patch in _patches(big, tpl, x, y):
            got = _measures(patch, tpl)
            if passes(*got, max_residual, min_local):
                return got
            tried.append(got)
    return max(tried, key=lambda m: m[1])


def passes(
    residual: float, local: float, max_residual: float = DEFAULT_MAX_RESIDUAL, min_local: float = DEFAULT_MIN_LOCAL
) -> bool:
    """Whether measures from :func:`measures` make a near copy."""
    return residual <= max_residual and local >= min_local


def _block(args: tuple[list[str], np.ndarray, float, float]) -> np.ndarray:
    paths, pairs, max_residual, min_local = args
    views: dict[int, np.ndarray | None] = {}

    def get(k: int) -> np.ndarray | None:
        if k not in views:
            try:
                views[k] = view(paths[k])
            except (FileNotFoundError, ValueError):
                views[k] = None
        return views[k]

    out = np.tile(np.array([[np.inf, -1.0]], dtype=np.float32), (len(pairs), 1))
    for n, (i, j) in enumerate(pairs.tolist()):
        a, b = get(i), get(j)
        if a is not None and b is not None:
            out[n] = measures(a, b, max_residual, min_local)
    return out


def detail_measures(
    paths: Sequence[str],
    pairs: np.ndarray,
    max_residual: float = DEFAULT_MAX_RESIDUAL,
    min_local: float = DEFAULT_MIN_LOCAL,
    *,
    pool: Executor | None = None,
) -> np.ndarray:
    """``(K, 2)`` float32: colour residual and least local correlation of every pair.

    An image that cannot be decoded gives ``(inf, -1)``.

    Args:
        paths: Image file of each index.
        pairs: ``(K, 2)`` indices into ``paths`` (pairs that passed the whole-image checks).
        max_residual: See :func:`measures` (rotations are searched only for failing pairs).
        min_local: See :func:`measures`.
        pool: A process pool for many pairs (each job decodes the images of its pairs).

    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) == 0:
        return np.zeros((0, 2), dtype=np.float32)
    order = np.argsort(pairs[:, 0], kind="stable")  # blocks share images: each decoded once per block
    step = 256

    def jobs() -> Iterator[tuple[list[str], np.ndarray, float, float]]:
        for s in range(0, len(pairs), step):
            used, local = np.unique(pairs[order[s : s + step]], return_inverse=True)
            yield [paths[k] for k in used.tolist()], local.reshape(-1, 2), max_residual, min_local

    out = np.empty((len(pairs), 2), dtype=np.float32)
    out[order] = np.concatenate(list(ordered_map(pool if len(pairs) > step else None, _block, jobs(), window=8)))
    return out


def verify_details(
    paths: Sequence[str],
    pairs: np.ndarray,
    max_residual: float = DEFAULT_MAX_RESIDUAL,
    min_local: float = DEFAULT_MIN_LOCAL,
    *,
    pool: Executor | None = None,
) -> np.ndarray:
    """Boolean mask: which pairs are near copies by the detail check.

    Examples:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> rng = np.random.default_rng(1)
        >>> Image.fromarray((rng.random((12, 12, 3)) * 255).astype("uint8")).resize((96, 96)).save(d / "a.png")
        >>> Image.open(d / "a.png").save(d / "b.jpg", quality=80)
        >>> verify_details([str(d / "a.png"), str(d / "b.jpg")], np.array([[0, 1]])).tolist()
        [True]

    """
    m = detail_measures(paths, pairs, max_residual, min_local, pool=pool)
    return (m[:, 0] <= max_residual) & (m[:, 1] >= min_local)
