"""Near-duplicate search split into partitions of the hash index, for many workers or a cluster.

:func:`datakit.dedup.index.radius_pairs` builds a few tables keyed on slices of the 64-bit hashes.
Here each of ``P`` partitions (a power of two) owns the buckets whose keys start with its
``log2 P`` bits (:func:`bucket_owner`). This process routes every index entry to the partition
owning its bucket (:func:`~datakit.dedup.index.table_part`), and each task gets one partition's
entries and one block of the queries: it builds that share of the tables and probes it with the
queries whose probes land there (contiguous runs of the sorted queries). A pair is found by the
partition owning the bucket it shares, so the union of the tasks' pairs, merged, equals the
single-process search exactly (``max_per_item`` included: a pair among an item's closest overall
is among its closest in the task that finds it). A task holds about ``1/P`` of the index and
``1/B`` of the query hashes (``query_blocks=B``); no worker holds every hash. The cost is
transfer: each partition's entries go out once per query block, and each query block to every
partition (multi-probe: a query's probes reach most partitions). Tasks run on any executor from
:mod:`datakit.parallel`.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor
from typing import Any

import numpy as np

from datakit.dedup.index import (
    CHUNKS,
    TablePart,
    bucket_owner,
    index_entries,
    merge_pairs,
    radius_pairs,
    search_part,
    table_part,
)
from datakit.parallel import ordered_map

__all__ = ["bucket_owner", "partitioned_pairs"]


_Task = tuple[list[TablePart], np.ndarray, np.ndarray, int, int, int, int, dict[str, Any]]
"""One partition's share of the tables, a block of query hashes and their ids, and the options."""


def _search(arg: _Task) -> tuple[np.ndarray, np.ndarray]:
    tables, q_codes, q_ids, n, radius, p, n_parts, options = arg
    return search_part(tables, q_codes, q_ids, n, radius, partition=(p, n_parts), **options)


def partitioned_pairs(
    codes: np.ndarray,
    radius: int,
    *,
    partitions: int,
    views: np.ndarray | None = None,
    executor: Executor | None = None,
    query_blocks: int = 1,
    **options: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~datakit.dedup.index.radius_pairs` (with distances) computed as ``partitions`` parts.

    Args:
        codes: ``(N,)`` uint64 hashes.
        radius: Largest distance reported.
        partitions: How many parts the index is split into (a power of two).
        views: Optional ``(N, V)`` extra hashes per item (as in ``radius_pairs``).
        executor: Where the parts run (``None``: one after another in this process).
        query_blocks: Blocks the queries are cut into per partition (``partitions * query_blocks`` tasks).
        **options: ``chunks``, ``probe``, ``block``, ``max_per_item`` as in ``radius_pairs``.

    Returns:
        ``(pairs, distances)``, equal to ``radius_pairs(..., return_distance=True)``.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> codes = rng.integers(0, 2**63, 200, dtype=np.uint64)
        >>> codes[100:] = codes[:100] ^ np.uint64(0b101)   # 100 near copies, 2 bits away
        >>> whole = radius_pairs(codes, 4, return_distance=True)
        >>> parts = partitioned_pairs(codes, 4, partitions=4, query_blocks=3)
        >>> all(np.array_equal(a, b) for a, b in zip(whole, parts)), len(parts[0])
        (True, 100)

    """
    if partitions < 1:
        raise ValueError(f"expected partitions >= 1, got {partitions}")
    if query_blocks < 1:
        raise ValueError(f"expected query_blocks >= 1, got {query_blocks}")
    codes = np.ascontiguousarray(codes, dtype=np.uint64)
    n = len(codes)
    chunks = int(options.get("chunks", CHUNKS))
    if n < 2:  # nothing to pair; radius_pairs checks the options
        return radius_pairs(codes, radius, views=views, return_distance=True, **options)
    db, owner = index_entries(codes, views)
    bounds = np.linspace(0, n, min(query_blocks, n) + 1).astype(np.int64)

    def tasks() -> Iterator[_Task]:
        for p in range(partitions):  # routed lazily: only the tasks in flight hold their share
            tables = table_part(db, owner, chunks, p, partitions)
            for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
                yield tables, codes[a:b], np.arange(a, b, dtype=np.int32), n, radius, p, partitions, options

    return merge_pairs(list(ordered_map(executor, _search, tasks())), n, options.get("max_per_item"))
