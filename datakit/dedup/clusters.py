"""Union-find over integer ids: turns duplicate pairs into clusters."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class UnionFind:
    """Disjoint sets over ``0..n-1`` with path halving and union by size.

    Examples:
        >>> uf = UnionFind(5)
        >>> uf.union_pairs([(0, 1), (1, 2), (3, 4)])
        >>> uf.groups()
        [[0, 1, 2], [3, 4]]

    """

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, x: int) -> int:
        """The representative of ``x``'s set."""
        p = self.parent
        while p[x] != x:
            p[x] = p[p[x]]
            x = p[x]
        return x

    def union(self, a: int, b: int) -> None:
        """Join the sets of ``a`` and ``b``."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]

    def union_pairs(self, pairs: Iterable[tuple[int, int]] | np.ndarray) -> None:
        """Join every pair."""
        for a, b in pairs.tolist() if isinstance(pairs, np.ndarray) else pairs:
            self.union(int(a), int(b))

    def groups(self, min_size: int = 2) -> list[list[int]]:
        """Sets with at least ``min_size`` members, each sorted, ordered by first member."""
        out: dict[int, list[int]] = {}
        for x in range(len(self.parent)):
            out.setdefault(self.find(x), []).append(x)
        return sorted((g for g in out.values() if len(g) >= min_size), key=lambda g: g[0])
