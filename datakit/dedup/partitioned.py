"""Near-duplicate search split into partitions of the hash index, for many workers or a cluster.

:func:`datakit.dedup.index.radius_pairs` builds a few tables keyed on slices of the 64-bit hashes.
Here each of ``P`` partitions (a power of two) owns the buckets whose keys start with its
``log2 P`` bits (:func:`bucket_owner`), builds only those, and probes them with the queries whose
probes land there (contiguous runs of the sorted queries); a pair is found by the partition that
owns the bucket it shares, so the union of the partitions' pairs, merged, equals the single-process
search exactly (``max_per_item`` included: a pair among an item's closest overall is among its
closest in the partition that finds it). A partition holds about ``1/P`` of the index and does
about ``1/P`` of the probing; it still reads every query hash (8 bytes per hash and view), and
partitions run on any executor from :mod:`datakit.parallel`.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

import numpy as np

from datakit.dedup.index import bucket_owner, merge_pairs, radius_pairs
from datakit.parallel import ordered_map

__all__ = ["bucket_owner", "partitioned_pairs"]


def _search(arg: tuple[np.ndarray, np.ndarray | None, int, int, int, dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    codes, views, radius, p, n_parts, options = arg
    pairs, dist = radius_pairs(codes, radius, views=views, partition=(p, n_parts), return_distance=True, **options)
    return pairs, dist


def partitioned_pairs(
    codes: np.ndarray,
    radius: int,
    *,
    partitions: int,
    views: np.ndarray | None = None,
    executor: Executor | None = None,
    **options: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~datakit.dedup.index.radius_pairs` (with distances) computed as ``partitions`` parts.

    Args:
        codes: ``(N,)`` uint64 hashes.
        radius: Largest distance reported.
        partitions: How many parts the index is split into (a power of two).
        views: Optional ``(N, V)`` extra hashes per item (as in ``radius_pairs``).
        executor: Where the parts run (``None``: one after another in this process).
        **options: ``chunks``, ``probe``, ``block``, ``max_per_item`` as in ``radius_pairs``.

    Returns:
        ``(pairs, distances)``, equal to ``radius_pairs(..., return_distance=True)``.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> codes = rng.integers(0, 2**63, 200, dtype=np.uint64)
        >>> codes[100:] = codes[:100] ^ np.uint64(0b101)   # 100 near copies, 2 bits away
        >>> whole = radius_pairs(codes, 4, return_distance=True)
        >>> parts = partitioned_pairs(codes, 4, partitions=4)
        >>> all(np.array_equal(a, b) for a, b in zip(whole, parts)), len(parts[0])
        (True, 100)

    """
    if partitions < 1:
        raise ValueError(f"expected partitions >= 1, got {partitions}")
    max_per_item = options.get("max_per_item")
    tasks = [(codes, views, radius, p, partitions, options) for p in range(partitions)]
    results = list(ordered_map(executor, _search, tasks))
    return merge_pairs(results, len(codes), max_per_item)
