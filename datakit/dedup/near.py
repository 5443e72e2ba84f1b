"""Near-duplicate checks: a colour-layout check, then align two grey thumbnails and correlate them.

The perceptual-hash index proposes candidate pairs; these checks decide. First the 8×8 RGB
layouts of the two images must correlate (:func:`colour_scores`, one vectorised pass, blind to
brightness and contrast, but not to a red shirt against a blue one). Then the middle 75% of one
32×32 grey thumbnail is slid over the other at scales 0.9–1.0 per axis (crops of up to 10%),
both ways, and the best normalised cross-correlation (insensitive to brightness and contrast)
is the pair's score in [-1, 1] (:func:`aligned_score`).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import ExitStack

import numpy as np

from datakit.dedup._pool import worker_pool
from datakit.parallel import ordered_map

DEFAULT_RADIUS = 10
"""Default Hamming radius of the perceptual-hash candidate search (of 64 bits)."""

DEFAULT_MIN_SCORE = 0.85
"""Default least aligned correlation for two images to be near duplicates."""

DEFAULT_MIN_COLOUR = 0.7
"""Default least correlation of the 8×8 RGB layouts for two images to be near duplicates."""

REJECT_BELOW = 0.6
"""A pair whose unscaled alignment scores below this (both ways) is not searched further."""

_SCALES = ((1.0, 1.0), (1.0, 0.95), (0.95, 1.0), (0.95, 0.95), (1.0, 0.9), (0.9, 1.0), (0.95, 0.9), (0.9, 0.95),
           (0.9, 0.9))  # fmt: skip


class _Prepared:
    """One thumbnail as float32, its centre template, and the scaled templates made on demand."""

    __slots__ = ("flat", "img", "scaled", "tpl")

    def __init__(self, thumb: np.ndarray) -> None:
        self.img = np.ascontiguousarray(thumb, dtype=np.float32)
        n = self.img.shape[0]
        m = n // 8
        self.tpl = self.img[m : n - m, m : n - m]
        self.flat = float(self.img.max() - self.img.min()) < 1e-3
        self.scaled: list[np.ndarray | None] = [self.tpl] + [None] * (len(_SCALES) - 1)

    def template(self, s: int) -> np.ndarray:
        t = self.scaled[s]
        if t is None:
            import cv2

            sx, sy = _SCALES[s]
            th, tw = self.tpl.shape
            t = cv2.resize(self.tpl, (round(tw * sx), round(th * sy)), interpolation=cv2.INTER_AREA)
            self.scaled[s] = t
        return t


class _Templates:
    """Prepared thumbnails by index, each made once (the cache is bounded)."""

    def __init__(self, thumbs: np.ndarray) -> None:
        self.thumbs = thumbs
        self.cache: dict[int, _Prepared] = {}

    def get(self, k: int) -> _Prepared:
        hit = self.cache.get(k)
        if hit is None:
            if len(self.cache) > 4096:
                self.cache.clear()
            hit = self.cache[k] = _Prepared(self.thumbs[k])
        return hit


def _aligned(pa: _Prepared, pb: _Prepared, stop_at: float, reject_below: float) -> float:
    import cv2

    best = -1.0
    for s in range(len(_SCALES)):
        for big, small in ((pa, pb), (pb, pa)):
            if small.flat:  # a flat template correlates with nothing but a flat image
                score = 1.0 if big.flat else -1.0
            else:
                score = cv2.minMaxLoc(cv2.matchTemplate(big.img, small.template(s), cv2.TM_CCOEFF_NORMED))[1]
            best = max(best, float(score))
            if best >= stop_at:  # good enough: skip the other alignments
                return min(best, 1.0)
        if s == 0 and best < reject_below:
            return best
    return min(best, 1.0)


def aligned_score(a: np.ndarray, b: np.ndarray, stop_at: float = 2.0, reject_below: float = -1.0) -> float:
    """Best normalised correlation of two 32×32 thumbnails over small shifts and scales.

    The search stops early once the score reaches ``stop_at``, or when the unscaled alignment
    scores below ``reject_below``.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> a = (rng.random((32, 32)) * 255).astype(np.uint8)
        >>> round(aligned_score(a, a), 3)
        1.0
        >>> aligned_score(a, (rng.random((32, 32)) * 255).astype(np.uint8)) < 0.6
        True

    """
    return _aligned(_Prepared(a), _Prepared(b), stop_at, reject_below)


def colour_scores(colours: np.ndarray, pairs: np.ndarray, *, block: int = 8192) -> np.ndarray:
    """Correlation of the RGB layouts of each pair (all channels as one vector, one mean).

    Brightness and contrast changes are affine in every channel alike, so they leave the score
    unchanged; another colour scheme lowers it. Flat images score 1 against each other.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> c = (rng.random((3, 8, 8, 3)) * 200).astype(np.uint8)
        >>> c[1] = (c[0] * 0.8 + 20).astype(np.uint8)  # darker, less contrast
        >>> s = colour_scores(c, np.array([[0, 1], [0, 2]]))
        >>> bool(s[0] > 0.99), bool(abs(s[1]) < 0.2)
        (True, True)

    """
    out = np.empty(len(pairs), dtype=np.float32)
    flat = colours.reshape(len(colours), int(np.prod(colours.shape[1:])))
    for s in range(0, len(pairs), block):
        p = pairs[s : s + block]
        a = flat[p[:, 0]].astype(np.float32)
        b = flat[p[:, 1]].astype(np.float32)
        a -= a.mean(axis=1, keepdims=True)
        b -= b.mean(axis=1, keepdims=True)
        na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
        num = np.einsum("ij,ij->i", a, b)
        both_flat = (na < 1e-3) & (nb < 1e-3)
        out[s : s + block] = np.where(both_flat, 1.0, num / np.maximum(na * nb, 1e-6))
    return out


def _score_block(args: tuple[np.ndarray, np.ndarray, float, float]) -> np.ndarray:
    thumbs, pairs, min_score, reject_below = args
    tm = _Templates(thumbs)
    return np.array(
        [_aligned(tm.get(i), tm.get(j), min_score, reject_below) for i, j in pairs.tolist()], dtype=np.float32
    )


def verify_pairs(
    thumbs: np.ndarray,
    pairs: np.ndarray,
    min_score: float,
    *,
    workers: int = 1,
    reject_below: float = REJECT_BELOW,
    pool: Executor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the candidate pairs whose aligned score is at least ``min_score``.

    Many pairs are scored in a process pool of ``workers``; each image's templates are built once.

    Args:
        thumbs: ``(N, 32, 32)`` uint8 thumbnails.
        pairs: ``(K, 2)`` indices into ``thumbs``.
        min_score: Least aligned score kept.
        workers: Processes for large batches (unless ``pool`` is given).
        pool: A process pool to use instead of starting one.
        reject_below: See :func:`aligned_score`.

    Returns:
        ``(kept_pairs, their_scores)``.

    Examples:
        >>> t = np.tile(np.arange(32, dtype=np.uint8) * 7, (32, 1))
        >>> kept, scores = verify_pairs(np.stack([t, t.T, t]), np.array([[0, 1], [0, 2]]), 0.9)
        >>> kept.tolist()
        [[0, 2]]

    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) == 0:
        return pairs, np.zeros(0, dtype=np.float32)
    if (pool is not None or workers > 1) and len(pairs) >= 4000:
        order = np.argsort(pairs[:, 0], kind="stable")  # blocks share images: templates reused
        step = max(1000, min(8000, len(pairs) // 8))

        def jobs() -> Iterator[tuple[np.ndarray, np.ndarray, float, float]]:
            for s in range(0, len(pairs), step):  # each job carries the thumbnails it needs
                used, local = np.unique(pairs[order[s : s + step]], return_inverse=True)
                yield thumbs[used], local.reshape(-1, 2), min_score, reject_below

        with ExitStack() as stack:
            if pool is None:
                pool = stack.enter_context(worker_pool(workers))
            scores = np.empty(len(pairs), dtype=np.float32)
            scores[order] = np.concatenate(list(ordered_map(pool, _score_block, jobs(), window=4)))
    else:
        scores = _score_block((thumbs, pairs, min_score, reject_below))
    ok = scores >= min_score
    return pairs[ok], scores[ok]
