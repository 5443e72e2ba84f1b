"""Near-duplicate checks: align two grey thumbnails and correlate them.

The perceptual-hash index proposes candidate pairs; this check decides. The middle 75% of one
thumbnail is slid over the other at scales 0.9–1.0 per axis (crops of up to 10%), both ways,
and the best normalised cross-correlation (insensitive to brightness and contrast) is the pair's
score in [-1, 1].
"""

from __future__ import annotations

import numpy as np

DEFAULT_RADIUS = 10
"""Default Hamming radius of the perceptual-hash candidate search (of 64 bits)."""

DEFAULT_MIN_SCORE = 0.85
"""Default least aligned correlation for two images to be near duplicates."""

_SCALES = (1.0, 0.95, 0.9)


def aligned_score(a: np.ndarray, b: np.ndarray, stop_at: float = 2.0) -> float:
    """Best normalised correlation of two 32×32 thumbnails over small shifts and scales.

    The search stops early once the score reaches ``stop_at``.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> a = (rng.random((32, 32)) * 255).astype(np.uint8)
        >>> round(aligned_score(a, a), 3)
        1.0
        >>> aligned_score(a, (rng.random((32, 32)) * 255).astype(np.uint8)) < 0.6
        True

    """
    import cv2

    best = -1.0
    fa, fb = a.astype(np.float32), b.astype(np.float32)
    n = fa.shape[0]
    m = n // 8
    for big, small in ((fa, fb), (fb, fa)):
        tpl = small[m:n - m, m:n - m]
        th, tw = tpl.shape
        for sx in _SCALES:
            for sy in _SCALES:
                t = tpl if sx == sy == 1.0 else cv2.resize(
                    tpl, (round(tw * sx), round(th * sy)), interpolation=cv2.INTER_AREA)
                if float(t.std()) < 1e-3:  # a flat template correlates with nothing
                    score = 1.0 if float(np.abs(big - big.mean()).max()) < 1e-3 else -1.0
                else:
                    score = float(cv2.matchTemplate(big, t, cv2.TM_CCOEFF_NORMED).max())
                best = max(best, score)
                if best >= stop_at:  # good enough: skip the other alignments
                    return min(best, 1.0)
    return min(best, 1.0)


def _score_chunk(args: tuple[np.ndarray, np.ndarray, float]) -> np.ndarray:
    a, b, min_score = args
    return np.array([aligned_score(x, y, stop_at=min_score) for x, y in zip(a, b, strict=True)])


def verify_pairs(
    thumbs: list[np.ndarray] | np.ndarray,
    pairs: np.ndarray,
    min_score: float,
    *,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the candidate pairs whose aligned score is at least ``min_score``.

    Many pairs are scored in a process pool of ``workers``.

    Returns:
        ``(kept_pairs, their_scores)``.

    Examples:
        >>> t = np.tile(np.arange(32, dtype=np.uint8) * 7, (32, 1))
        >>> kept, scores = verify_pairs([t, t.T, t], np.array([[0, 1], [0, 2]]), 0.9)
        >>> kept.tolist()
        [[0, 2]]

    """
    if len(pairs) == 0:
        return pairs.reshape(0, 2), np.zeros(0)
    if workers > 1 and len(pairs) >= 4000:
        from concurrent.futures import ProcessPoolExecutor

        step = 2000
        jobs = [
            (np.stack([thumbs[i] for i in pairs[s:s + step, 0]]), np.stack([thumbs[j] for j in pairs[s:s + step, 1]]),
             min_score)
            for s in range(0, len(pairs), step)
        ]  # fmt: skip
        with ProcessPoolExecutor(max_workers=workers) as pool:
            scores = np.concatenate(list(pool.map(_score_chunk, jobs)))
    else:
        scores = np.array([aligned_score(thumbs[i], thumbs[j], stop_at=min_score) for i, j in pairs.tolist()])
    ok = scores >= min_score
    return pairs[ok], scores[ok]
