"""A sub-quadratic Hamming-radius search over 64-bit hashes (multi-index hashing).

Each hash is cut into ``chunks`` keys (4 of 16 bits by default). Two hashes within distance ``r``
agree to within ``r // chunks`` bits on at least one key (pigeonhole), so candidates come from
looking up, for every key, the table bucket of each key value within ``probe`` bits of the
query's, and are then checked on the full 64 bits. With ``probe = r // chunks`` the search is
exact; a smaller ``probe`` still finds every pair within ``chunks * (probe + 1) - 1`` bits and
most pairs beyond, for fewer probes. The finder uses 3 tables of 21–22-bit keys and probe 2:
exact to 8 bits, 232–254 probes per table, buckets small even with a million window hashes.

Tables are dense arrays of bucket starts and queries are sorted by key, so a probe is a cheap
array lookup; queries run in blocks so memory stays bounded, and ``max_per_item`` /
:func:`nearest_pairs` keep only the closest partners of each item, so what follows the search
grows linearly with the number of items even where hashes crowd together.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from typing import Literal, NamedTuple, overload

import numpy as np

CHUNKS = 4
"""Default number of tables (16-bit keys)."""
MAX_RADIUS = 15
"""Largest radius searched (exhaustive search at 15 with 4 tables costs 697 probes per table)."""


@lru_cache(maxsize=16)
def _masks(weight: int, width: int = 16) -> np.ndarray:
    out = [0]
    for w in range(1, weight + 1):
        for bits in combinations(range(width), w):
            m = 0
            for b in bits:
                m |= 1 << b
            out.append(m)
    return np.asarray(out, dtype=np.int64)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise Hamming distance between uint64 arrays (element by element, broadcasting).

    Examples:
        >>> hamming(np.array([0b1011], np.uint64), np.array([0b0001], np.uint64)).tolist()
        [2]

    """
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int64)


def _unique_min(pairs: np.ndarray, dist: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct pairs, each with its least distance."""
    if len(pairs) == 0:
        return pairs, dist
    key = pairs[:, 0].astype(np.int64) * n + pairs[:, 1]
    order = np.lexsort((dist, key))
    key, dist = key[order], dist[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    key, dist = key[first], dist[first]
    return np.stack([key // n, key % n], axis=1).astype(pairs.dtype), dist


def _widths(chunks: int) -> list[int]:
    base, extra = divmod(64, chunks)
    return [base + (1 if k < extra else 0) for k in range(chunks)]


@overload
def radius_pairs(
    codes: np.ndarray,
    radius: int,
    *,
    views: np.ndarray | None = ...,
    chunks: int = ...,
    probe: int | None = ...,
    block: int = ...,
    max_per_item: int | None = ...,
    return_distance: Literal[False] = ...,
    partition: tuple[int, int] | None = ...,
) -> np.ndarray: ...


@overload
def radius_pairs(
    codes: np.ndarray,
    radius: int,
    *,
    views: np.ndarray | None = ...,
    chunks: int = ...,
    probe: int | None = ...,
    block: int = ...,
    max_per_item: int | None = ...,
    return_distance: Literal[True],
    partition: tuple[int, int] | None = ...,
) -> tuple[np.ndarray, np.ndarray]: ...


def radius_pairs(
    codes: np.ndarray,
    radius: int,
    *,
    views: np.ndarray | None = None,
    chunks: int = CHUNKS,
    probe: int | None = None,
    block: int = 1 << 18,
    max_per_item: int | None = None,
    return_distance: bool = False,
    partition: tuple[int, int] | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Every pair ``(i, j)``, ``i < j``, of 64-bit hashes within Hamming ``radius``.

    Args:
        codes: ``(N,)`` uint64 hashes.
        radius: Largest distance reported, ``0..MAX_RADIUS``.
        views: Optional ``(N, V)`` uint64 extra hashes per item; then ``(i, j)`` is reported
            when ``codes[i]`` is within ``radius`` of any of ``views[j]`` or the reverse.
        chunks: Tables, each keyed on ``64 / chunks`` bits (2–8; longer keys suit more items).
        probe: Bits flipped per chunk when probing (default ``radius // chunks``: exact).
            Smaller is faster and still exact up to ``chunks * (probe + 1) - 1`` bits.
        block: Candidate pairs checked at once (bounds memory).
        max_per_item: Keep only the pairs among the ``max_per_item`` closest of either item
            (:func:`nearest_pairs`; ties by index), applied as the search goes so memory stays
            linear in ``N`` even where hashes crowd together.
        return_distance: Also return each pair's least distance.
        partition: ``(p, P)``, ``P`` a power of two: build only the table buckets partition ``p``
            owns (:func:`bucket_owner`) and probe only them. The union of the ``P`` partitions'
            pairs, merged, is the unpartitioned result
            (:func:`datakit.dedup.partitioned.partitioned_pairs`), so no partition holds the whole
            index or does all the probing.

    Returns:
        ``(K, 2)`` int64 array of index pairs, sorted, without repeats (and ``(K,)`` distances
        with ``return_distance``).

    Raises:
        ValueError: ``radius``, ``chunks`` or ``probe`` out of range, or ``views`` of the
            wrong shape.

    Examples:
        >>> codes = np.array([0, 0b111, 1 << 63, 0b1], dtype=np.uint64)
        >>> radius_pairs(codes, 1).tolist()
        [[0, 2], [0, 3]]
        >>> radius_pairs(codes, 3).tolist()
        [[0, 1], [0, 2], [0, 3], [1, 3], [2, 3]]
        >>> pairs, dist = radius_pairs(codes, 3, chunks=3, return_distance=True)
        >>> dist.tolist()
        [3, 1, 1, 2, 2]

    """
    probe = _check(radius, chunks, probe, partition)
    codes = np.ascontiguousarray(codes, dtype=np.uint64)
    n = len(codes)
    if n < 2:
        empty = (np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64))
        return empty if return_distance else empty[0]
    db, owner = index_entries(codes, views)
    tables = [TablePart(db, owner)] * chunks if partition is None else table_part(db, owner, chunks, *partition)
    pairs, dist = search_part(tables, codes, np.arange(n, dtype=np.int32), n, radius, chunks=chunks, probe=probe,
                              block=block, max_per_item=max_per_item, partition=partition)  # fmt: skip
    return (pairs, dist) if return_distance else pairs


def _check(radius: int, chunks: int, probe: int | None, partition: tuple[int, int] | None) -> int:
    """Validate the search options; returns the probe to use."""
    if not 0 <= radius <= MAX_RADIUS:
        raise ValueError(f"expected radius in 0..{MAX_RADIUS}, got {radius}")
    if not 2 <= chunks <= 8:
        raise ValueError(f"expected chunks in 2..8, got {chunks}")
    probe = radius // chunks if probe is None else probe
    if partition is not None and not (
        partition[1] >= 1 and partition[1] & (partition[1] - 1) == 0 and 0 <= partition[0] < partition[1]
        and partition[1] <= 1 << min(_widths(chunks))
    ):  # fmt: skip
        raise ValueError(f"expected partition (p, P) with P a power of two and 0 <= p < P, got {partition}")
    if not 0 <= probe <= max(radius // chunks, 0) or probe > 3:
        raise ValueError(f"expected probe in 0..{min(radius // chunks, 3)}, got {probe}")
    return probe


class TablePart(NamedTuple):
    """The index entries one partition holds in one table: full hashes and the item each belongs to."""

    values: np.ndarray
    owners: np.ndarray


def index_entries(codes: np.ndarray, views: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every entry of the index: ``(hashes, item ids)``; an item's views, or its code without views.

    Examples:
        >>> index_entries(np.array([5, 6], np.uint64), np.array([[1, 2], [3, 4]], np.uint64))[1].tolist()
        [0, 0, 1, 1]

    """
    n = len(codes)
    if views is None:
        return np.ascontiguousarray(codes, dtype=np.uint64), np.arange(n, dtype=np.int32)
    views = np.ascontiguousarray(views, dtype=np.uint64)
    if views.ndim != 2 or views.shape[0] != n:
        raise ValueError(f"expected views of shape ({n}, V), got {views.shape}")
    return views.reshape(-1), np.repeat(np.arange(n, dtype=np.int32), views.shape[1])


def table_part(db: np.ndarray, owner: np.ndarray, chunks: int, p: int, partitions: int) -> list[TablePart]:
    """The entries partition ``p`` of ``partitions`` owns, table by table (:func:`bucket_owner`).

    A partition's share is about ``1/partitions`` of each table: what a worker searching that
    partition needs of the index, and nothing more.

    Examples:
        >>> db, owner = index_entries(np.arange(8, dtype=np.uint64) << np.uint64(61))
        >>> [t.owners.tolist() for t in table_part(db, owner, 2, 1, 2)]
        [[], [4, 5, 6, 7]]

    """
    out, shift = [], 0
    for width in _widths(chunks):
        key = ((db >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int64)
        mine = np.flatnonzero(bucket_owner(key, width, partitions) == p)
        out.append(TablePart(db[mine], owner[mine]))
        shift += width
    return out


def search_part(
    tables: list[TablePart],
    q_codes: np.ndarray,
    q_ids: np.ndarray,
    n: int,
    radius: int,
    *,
    chunks: int = CHUNKS,
    probe: int | None = None,
    block: int = 1 << 18,
    max_per_item: int | None = None,
    partition: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Probe one partition's tables with some of the queries: the pairs they find, with distances.

    ``tables`` is :func:`table_part`'s (or every entry, per table, without ``partition``);
    ``q_codes``/``q_ids`` are the query hashes and their item ids (of ``n`` items). A query probes
    only the buckets the partition owns, so the partitions' results for every block of queries,
    merged (:func:`merge_pairs`), are :func:`radius_pairs`' result.

    Examples:
        >>> codes = np.array([0, 0b111, 1 << 63, 0b1], dtype=np.uint64)
        >>> db, owner = index_entries(codes)
        >>> whole = radius_pairs(codes, 3, chunks=3, return_distance=True)
        >>> parts = [search_part(table_part(db, owner, 3, p, 2), codes[a:b], np.arange(a, b), 4, 3,
        ...                      chunks=3, partition=(p, 2)) for p in range(2) for a, b in ((0, 2), (2, 4))]
        >>> [x.tolist() for x in merge_pairs(parts, 4)] == [x.tolist() for x in whole]
        True

    """
    probe = _check(radius, chunks, probe, partition)
    q_codes = np.ascontiguousarray(q_codes, dtype=np.uint64)
    q_ids = np.asarray(q_ids)
    found: list[np.ndarray] = []
    found_d: list[np.ndarray] = []
    held = 0
    limit = 4 * block
    shift = 0
    for width, table in zip(_widths(chunks), tables, strict=True):
        mask_all = np.uint64((1 << width) - 1)
        chunk = ((q_codes >> np.uint64(shift)) & mask_all).astype(np.int64)
        db_chunk = ((table.values >> np.uint64(shift)) & mask_all).astype(np.int64)
        shift += width
        top = width - (partition[1].bit_length() - 1) if partition is not None else width
        base = partition[0] << top if partition is not None else 0  # this partition's keys: [base, base + 2**top)
        order = np.argsort(db_chunk, kind="stable")
        db_s, own_s = table.values[order], table.owners[order]  # the table: entries sorted by key
        starts = np.zeros((1 << top) + 1, dtype=np.int64)
        np.cumsum(np.bincount(db_chunk - base, minlength=1 << top), out=starts[1:])
        del db_chunk, order
        qorder = np.argsort(chunk, kind="stable").astype(np.int32)  # sorted queries probe nearby buckets
        q_s, codes_s, ids_s = chunk[qorder], q_codes[qorder], q_ids[qorder]
        for m in _masks(probe, width).tolist():
            a0, a1 = 0, len(q_s)
            if partition is not None:  # only the queries whose probe lands in this partition's buckets
                t = partition[0] ^ (m >> top)
                a0, a1 = (int(x) for x in np.searchsorted(q_s, [t << top, (t + 1) << top]))
            q = (q_s[a0:a1] ^ m) - base
            lo = starts[q]
            cnt = starts[q + 1] - lo
            qi = np.flatnonzero(cnt)
            start = 0
            while start < len(qi):  # blocks of queries whose candidates fit in ``block``
                csum = np.cumsum(cnt[qi[start:]])
                stop = start + max(1, int(np.searchsorted(csum, block, side="right")))
                sel = qi[start:stop]
                k = cnt[sel]
                il = np.repeat(sel, k)
                e = np.arange(int(k.sum())) + np.repeat(lo[sel] - (np.cumsum(k) - k), k)
                il += a0
                d = hamming(codes_s[il], db_s[e])
                ok = d <= radius
                if ok.any():
                    a, b = ids_s[il[ok]], own_s[e[ok]]
                    same = a != b
                    a, b = a[same], b[same]
                    found.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
                    found_d.append(d[ok][same].astype(np.int8))
                    held += len(a)
                    if held > limit:  # merge repeats now so memory stays bounded
                        p, dd = _merge(found, found_d, n, max_per_item)
                        found, found_d, held = [p], [dd], len(p)
                        limit = max(4 * block, 2 * held)
                start = stop
    if not found:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64)
    pairs, dist = _merge(found, found_d, n, max_per_item)
    return pairs.astype(np.int64), dist.astype(np.int64)


def bucket_owner(keys: np.ndarray, width: int, partitions: int) -> np.ndarray:
    """The partition owning each table bucket: the top ``log2(partitions)`` bits of its ``width``-bit key.

    Sorted queries then probe one partition's buckets from contiguous runs, so each partition
    does about ``1/partitions`` of the probing as well as holding that share of the table.

    Examples:
        >>> bucket_owner(np.array([0, 5, 8, 15]), 4, 4).tolist()
        [0, 1, 2, 3]

    """
    return np.asarray(keys, dtype=np.int64) >> (width - (partitions.bit_length() - 1))


def merge_pairs(
    parts: list[tuple[np.ndarray, np.ndarray]], n: int, max_per_item: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Merge several searches' ``(pairs, distances)`` into one result, as :func:`radius_pairs` returns it.

    Examples:
        >>> a = (np.array([[0, 1]]), np.array([2])); b = (np.array([[0, 1], [1, 2]]), np.array([2, 1]))
        >>> [x.tolist() for x in merge_pairs([a, b], 3)]
        [[[0, 1], [1, 2]], [2, 1]]

    """
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64)
    pairs, dist = _merge([p for p, _ in parts], [d for _, d in parts], n, max_per_item)
    return pairs.astype(np.int64), dist.astype(np.int64)


def _merge(
    found: list[np.ndarray], found_d: list[np.ndarray], n: int, max_per_item: int | None
) -> tuple[np.ndarray, np.ndarray]:
    pairs, dist = _unique_min(np.concatenate(found), np.concatenate(found_d), n)
    if max_per_item is not None:  # safe to prune early: later pairs only push ranks down
        keep = nearest_pairs(pairs, dist, n, max_per_item)
        pairs, dist = pairs[keep], dist[keep]
    return pairs, dist


def nearest_pairs(pairs: np.ndarray, score: np.ndarray, n: int, k: int) -> np.ndarray:
    """Keep the pairs that are among the ``k`` best (lowest ``score``) of either of their items.

    Every item keeps at most ``k`` partners of its own, so at most ``n * k`` pairs remain.

    Returns:
        A boolean mask over ``pairs``.

    Examples:
        >>> pairs = np.array([[0, 1], [0, 2], [0, 3], [2, 3]])
        >>> nearest_pairs(pairs, np.array([1, 2, 3, 1]), 4, 1).tolist()
        [True, False, False, True]

    """
    m = len(pairs)
    if m == 0:
        return np.zeros(0, dtype=bool)
    small = np.int32 if max(n, m) < 2**31 else np.int64  # half the memory on big candidate lists
    src = np.concatenate([pairs[:, 0], pairs[:, 1]]).astype(small)
    edge = np.tile(np.arange(m, dtype=small), 2)
    order = np.lexsort((edge, np.concatenate([score, score]), src))
    src = src[order]
    counts = np.bincount(src, minlength=n)
    first = (np.cumsum(counts) - counts).astype(small)
    ranked = np.arange(len(src), dtype=small) - first[src] < k
    keep = np.zeros(m, dtype=bool)
    keep[edge[order[ranked]]] = True
    return keep
