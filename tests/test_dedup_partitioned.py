"""The partitioned near-duplicate index gives exactly the single-process search's pairs."""

from __future__ import annotations

from concurrent.futures import Executor, Future

import numpy as np
import pytest

from datakit.dedup.index import bucket_owner, index_entries, radius_pairs, table_part
from datakit.dedup.partitioned import partitioned_pairs
from datakit.parallel import executor


def _codes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes with planted near copies (1-9 bits away) and 9 window views each, as the finder has."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2**63, n, dtype=np.uint64) | (rng.integers(0, 2, n, dtype=np.uint64) << np.uint64(63))
    for k in range(0, n // 2, 3):
        flips = rng.choice(64, size=int(rng.integers(1, 10)), replace=False)
        codes[n // 2 + k] = codes[k] ^ np.uint64(sum(1 << int(b) for b in flips))
    views = codes[:, None] ^ (rng.integers(0, 2, (n, 9), dtype=np.uint64) << rng.integers(0, 64, (n, 9), dtype=np.uint64))
    return codes, views


@pytest.mark.parametrize(("partitions", "blocks"), [(1, 1), (2, 1), (4, 3), (8, 8)])
def test_partitions_equal_the_whole_search(partitions: int, blocks: int) -> None:
    codes, views = _codes(3000, seed=partitions)
    kw = {"views": views, "chunks": 3, "probe": 2, "max_per_item": 2}
    whole = radius_pairs(codes, 10, return_distance=True, **kw)
    parts = partitioned_pairs(codes, 10, partitions=partitions, query_blocks=blocks, **kw)
    assert len(whole[0]) > 300  # the planted copies are found ...
    assert np.array_equal(whole[0], parts[0]) and np.array_equal(whole[1], parts[1])  # ... identically


def test_each_partition_holds_a_share_of_the_index() -> None:
    keys = np.random.default_rng(0).integers(0, 1 << 21, 100_000)
    owners = bucket_owner(keys, 21, 4)
    share = np.bincount(owners, minlength=4) / len(keys)
    assert np.all(np.abs(share - 0.25) < 0.02)
    codes, _ = _codes(2000, seed=9)
    one = radius_pairs(codes, 6, partition=(0, 4), return_distance=True)
    whole = radius_pairs(codes, 6, return_distance=True)
    assert 0 < len(one[0]) < len(whole[0])  # a single partition alone misses pairs the others find


class _Recording(Executor):
    """Runs each task at once, noting how many hashes it was given."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        tables, queries = args[0][0], args[0][1]
        self.sizes.append(sum(len(t.values) for t in tables) + len(queries))
        fut: Future = Future()
        fut.set_result(fn(*args, **kwargs))
        return fut


def test_a_task_gets_only_its_share_of_the_hashes() -> None:
    """Routing: each partition's tables hold the entries it owns (about 1/P); no task holds every hash."""
    codes, views = _codes(4000, seed=5)
    db, owner = index_entries(codes, views)
    shares = [table_part(db, owner, 3, p, 4) for p in range(4)]
    for t in range(3):
        assert max(len(share[t].values) for share in shares) < 0.3 * len(db)
        got = np.sort(np.concatenate([share[t].owners for share in shares]))
        assert np.array_equal(got, np.sort(owner))  # every entry in exactly one partition per table
    ex = _Recording()
    parts = partitioned_pairs(codes, 8, partitions=4, views=views, query_blocks=4, chunks=3, probe=2, executor=ex)
    whole = radius_pairs(codes, 8, views=views, chunks=3, probe=2, return_distance=True)
    assert np.array_equal(whole[0], parts[0]) and len(whole[0]) > 300
    assert len(ex.sizes) == 16 and max(ex.sizes) < 0.3 * (3 * len(db) + len(codes))


def test_partitions_run_on_an_executor() -> None:
    codes, views = _codes(2000, seed=3)
    whole = radius_pairs(codes, 8, views=views, return_distance=True)
    with executor(workers=2) as ex:
        parts = partitioned_pairs(codes, 8, partitions=4, views=views, executor=ex)
    assert np.array_equal(whole[0], parts[0]) and np.array_equal(whole[1], parts[1])


def test_bad_partition_is_refused() -> None:
    codes, _ = _codes(10, seed=0)
    for bad in [(4, 4), (0, 3), (-1, 2)]:
        with pytest.raises(ValueError, match="partition"):
            radius_pairs(codes, 4, partition=bad)
    with pytest.raises(ValueError, match="partitions"):
        partitioned_pairs(codes, 4, partitions=0)
