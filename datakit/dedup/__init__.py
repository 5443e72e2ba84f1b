"""Dedup and hygiene: exact and near duplicates, duplicate rows, label conflicts and leaks.

Find with :func:`find_duplicates` (a :class:`DedupReport`; nothing changes), then
:func:`apply` the report (keep policy, ``fix_leaks``) and :func:`write_clean` the result.

Default thresholds (``phash``): candidates whose centre hash is within 10 of 64 bits of one of
the other image's 9 shifted-window hashes (:data:`DEFAULT_RADIUS`; the index is exact to 8 bits
and finds most pairs at 9–10), whose 8×8 RGB layouts correlate at 0.7 or more
(:data:`DEFAULT_MIN_COLOUR`), are confirmed when their aligned 32×32 thumbnail correlation is at
least 0.85 (:data:`DEFAULT_MIN_SCORE`); each image verifies its 2 closest candidates
(:data:`MAX_PARTNERS`). The ``embedding`` method takes candidates at embedding cosine 0.8 or
more (:data:`DEFAULT_MIN_COSINE`) and verifies them the same way. Every confirmed pair must
then agree window by window at 64×64 RGB (:mod:`datakit.dedup.detail`: least local correlation
0.88, :data:`DEFAULT_MIN_LOCAL`; worst colour residual 40 grey levels, :data:`DEFAULT_MAX_RESIDUAL`):
jersey crops of one kit with other numbers, or numbers of another colour, are not near copies,
and so not label conflicts either.

Examples:
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from datakit import Dataset, Sample
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> im = Image.effect_mandelbrot((64, 64), (-2, -1.5, 1, 1.5), 30).convert("RGB")
    >>> im.save(root / "a.png"); im.save(root / "b.bmp")
    >>> ds = Dataset.from_samples([Sample("a.png", label="7"), Sample("b.bmp", label="7")], root)
    >>> report = find_duplicates(ds)
    >>> clean, removed = apply(ds, report)
    >>> len(clean), removed[0].reason
    (1, 'exact duplicate of a.png')

"""

from __future__ import annotations

from datakit.dedup.apply import Removal, apply, plan, write_clean
from datakit.dedup.detail import DEFAULT_MAX_RESIDUAL, DEFAULT_MIN_LOCAL
from datakit.dedup.embedding import DEFAULT_MIN_COSINE
from datakit.dedup.finder import MAX_PARTNERS, METHODS, find_duplicates
from datakit.dedup.near import DEFAULT_MIN_COLOUR, DEFAULT_MIN_SCORE, DEFAULT_RADIUS
from datakit.dedup.policy import CRITERIA, DEFAULT_KEEP, parse_keep
from datakit.dedup.report import GROUP_KEYS, DedupReport

__all__ = [
    "CRITERIA",
    "DEFAULT_KEEP",
    "DEFAULT_MAX_RESIDUAL",
    "DEFAULT_MIN_COLOUR",
    "DEFAULT_MIN_COSINE",
    "DEFAULT_MIN_LOCAL",
    "DEFAULT_MIN_SCORE",
    "DEFAULT_RADIUS",
    "GROUP_KEYS",
    "MAX_PARTNERS",
    "METHODS",
    "DedupReport",
    "Removal",
    "apply",
    "find_duplicates",
    "parse_keep",
    "plan",
    "write_clean",
]
