"""Find exact and near duplicates, row problems, label conflicts and leaks in a dataset."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from datakit.dedup._pool import worker_pool
from datakit.dedup.clusters import UnionFind
from datakit.dedup.detail import DEFAULT_MAX_RESIDUAL, DEFAULT_MIN_LOCAL, verify_details
from datakit.dedup.embedding import DEFAULT_MIN_COSINE
from datakit.dedup.hashing import Fingerprints, fingerprints, pixel_digest
from datakit.dedup.index import MAX_RADIUS, _unique_min, nearest_pairs, radius_pairs
from datakit.dedup.near import DEFAULT_MIN_COLOUR, DEFAULT_MIN_SCORE, DEFAULT_RADIUS, colour_scores, verify_pairs
from datakit.dedup.partitioned import partitioned_pairs
from datakit.dedup.report import DedupReport
from datakit.dedup.rows import empty_label_rows, resolve_rows
from datakit.parallel import ordered_map
from datakit.paths import RootGuard

if TYPE_CHECKING:
    from datakit.dataset import Dataset

METHODS = ("phash", "embedding")
EMBEDDING_RADIUS = 15
"""Hamming radius of the SimHash candidate search for the embedding method."""

EXACT_THUMB_GAP = 4.0
"""Largest mean thumbnail difference of a pair with a JPEG still checked for identical pixels (a
JPEG decoded at reduced scale and a PNG of the same pixels differ by about 1); lossless pairs
need equal thumbnails."""

MAX_CANDIDATES = 16
"""Closest hash neighbours kept per image by the index (memory stays linear in the image count)."""

MAX_PARTNERS = 2
"""Closest candidates (hash distance, then colour) verified per image (keeps the verification
linear in the image count)."""

BLOCK = 256
"""Files fingerprinted per task."""

T = TypeVar("T")
R = TypeVar("R")


def _pmap(fn: Callable[[T], R], items: Sequence[T], pool: Executor | None, desc: str, progress: bool) -> list[R]:
    from tqdm import tqdm

    bar = tqdm(total=len(items), desc=desc, unit="img", disable=not progress, file=sys.stderr, leave=False)
    try:
        step = 64
        out: list[R] = []
        blocks = [items[s : s + step] for s in range(0, len(items), step)]
        for part in ordered_map(pool if len(items) >= 128 else None, partial(_map_list, fn), blocks, window=8):
            out.extend(part)
            bar.update(len(part))
        return out
    finally:
        bar.close()


def _map_list(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    return [fn(x) for x in items]


def _block_size(paths: list[str], pool: Executor | None) -> int:
    """Images per task: :data:`BLOCK`, or more so a task runs ≥ 100 ms (a Dask task costs milliseconds).

    The rate comes from fingerprinting a few images here first (results do not depend on it).
    """
    from datakit.parallel import task_size, worker_count

    if pool is None or len(paths) <= 4 * BLOCK:
        return BLOCK
    t0 = time.perf_counter()
    fingerprints(paths[:16])
    per_item = (time.perf_counter() - t0) / 16
    return max(BLOCK, task_size(len(paths), per_item, worker_count(pool)))


def _fingerprint_all(paths: list[str], pool: Executor | None, progress: bool) -> Fingerprints:
    from tqdm import tqdm

    size = _block_size(paths, pool)
    blocks = [paths[s : s + size] for s in range(0, len(paths), size)]
    bar = tqdm(total=len(paths), desc="fingerprints", unit="img", disable=not progress, file=sys.stderr, leave=False)
    columns = ("digests", "views", "thumbs", "colours", "sizes", "reduced")
    out = fingerprints([])
    for name in columns:  # filled block by block
        empty = getattr(out, name)
        setattr(out, name, np.zeros((len(paths), *empty.shape[1:]), empty.dtype))
    at = 0
    try:
        for part in ordered_map(pool if len(blocks) > 1 else None, fingerprints, blocks, window=16):
            end = at + len(part)
            for name in columns:
                getattr(out, name)[at:end] = getattr(part, name)
            out.errors.extend(part.errors)
            at = end
            bar.update(len(part))
    finally:
        bar.close()
    return out


def _safe_pixel_digest(path: str) -> str | None:
    try:
        return pixel_digest(path)
    except (FileNotFoundError, ValueError):
        return None


def _conflicting(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a) and bool(b) and a != b


def find_duplicates(
    ds: Dataset,
    *,
    method: str = "phash",
    radius: int = DEFAULT_RADIUS,
    min_score: float = DEFAULT_MIN_SCORE,
    min_colour: float = DEFAULT_MIN_COLOUR,
    min_cosine: float = DEFAULT_MIN_COSINE,
    max_residual: float = DEFAULT_MAX_RESIDUAL,
    min_local: float = DEFAULT_MIN_LOCAL,
    workers: int | None = None,
    scheduler: str | None = None,
    partitions: int = 1,
    query_blocks: int = 1,
    progress: bool = False,
    embed: Callable[[list[str]], tuple[np.ndarray, list[str | None]]] | None = None,
) -> DedupReport:
    """Find duplicates and hygiene problems in ``ds``; nothing is changed.

    1. Every distinct image file is read and decoded once (byte digest, 9 window hashes, 32×32
       grey thumbnail, 8×8 colour layout, size), in a process pool, as columns of arrays.
    2. **Exact**: equal byte digests, then equal decoded pixels among the same-size candidate
       pairs the hash index proposes whose thumbnails agree (a PNG re-saved as BMP, new metadata).
    3. **Near**: ``phash`` pairs whose centre hash is within ``radius`` bits of one of the
       other's 9 shifted-window hashes (multi-index search, no all-pairs loop), whose colour
       layouts correlate at ``min_colour`` or more, among the :data:`MAX_PARTNERS` closest of
       either image, and whose aligned thumbnail correlation is at least ``min_score``. The
       ``embedding`` method takes its candidates from EfficientNet-Lite0 embeddings instead
       (SimHash index, then cosine at least ``min_cosine``) and verifies them the same way.
       Last, every pair that passed is decoded again at 64×64 RGB, aligned, and must agree
       window by window (:mod:`datakit.dedup.detail`: least local correlation at least
       ``min_local``, worst colour residual at most ``max_residual``): a crop with another
       number or a number of another colour is not a near copy, however alike the rest.
    4. Pairs whose images carry different labels are **label conflicts**: they join a cluster
       (so splits keep them together) but never a near-duplicate group. A conflict meets the
       near-copy standard first (all of step 3, the detail check included) or is an exact copy.
    5. **Rows**: several annotation rows for one image (see :mod:`datakit.dedup.rows`).
    6. **Leaks**: clusters (or one image) present in more than one split.

    Args:
        ds: The dataset.
        method: ``phash`` (default) or ``embedding``.
        radius: Hamming radius of the perceptual-hash candidate search (0–15 of 64 bits).
        min_score: Least aligned correlation for ``phash`` near duplicates.
        min_colour: Least correlation of the 8×8 RGB layouts for ``phash`` near duplicates.
        min_cosine: Least embedding cosine for ``embedding`` candidates.
        max_residual: Largest worst-window colour residual (grey levels) of the detail check.
        min_local: Least local correlation of the detail check.
        workers: Processes for decoding and embedding (default: CPU count, at most 8).
        scheduler: A Dask scheduler for the decoding and the embeddings (``local:N``, ``tcp://HOST:PORT``; default
            ``DATAKIT_SCHEDULER``, else local processes): results are identical.
        partitions: Split the near-duplicate hash index into this many parts (a power of two),
            searched as separate tasks so no worker builds the whole index
            (:mod:`datakit.dedup.partitioned`); results are identical.
        query_blocks: With ``partitions``, cut the queries into this many blocks too
            (``partitions * query_blocks`` tasks): a task then holds ``1/query_blocks`` of the
            8-byte query hashes as well, at the cost of sending each partition's share once per block.
        progress: Show progress bars on stderr.
        embed: Replaces the EfficientNet embedder (paths → (embeddings, errors)); for tests.

    Raises:
        ValueError: Unknown method or a threshold out of range.

    Examples:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> from datakit import Dataset, Sample
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> im = Image.effect_mandelbrot((64, 64), (-2, -1.5, 1, 1.5), 30).convert("RGB")
        >>> im.save(root / "a.png"); im.save(root / "b.bmp")
        >>> ds = Dataset.from_samples([Sample("a.png", split="train"), Sample("b.bmp", split="test")], root)
        >>> r = find_duplicates(ds)
        >>> r.exact_groups, r.leaks
        ([['a.png', 'b.bmp']], [['a.png', 'b.bmp']])

    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    if not 0 <= radius <= MAX_RADIUS:
        raise ValueError(f"expected radius in 0..{MAX_RADIUS}, got {radius}")
    if not all(-1.0 <= x <= 1.0 for x in (min_score, min_colour, min_cosine)):
        raise ValueError("expected min_score, min_colour and min_cosine in [-1, 1]")
    if partitions < 1 or partitions & (partitions - 1):
        raise ValueError(f"expected partitions a power of two (1, 2, 4, ...), got {partitions}")
    if query_blocks < 1:
        raise ValueError(f"expected query_blocks >= 1, got {query_blocks}")
    if not max_residual >= 0:
        raise ValueError(f"expected max_residual >= 0, got {max_residual}")
    workers = workers if workers is not None else min(os.cpu_count() or 1, 8)

    with worker_pool(workers, scheduler) as pool:
        cols = ds.columns
        images = list(dict.fromkeys(cols.images))
        index = {p: k for k, p in enumerate(images)}
        n = len(images)
        none: frozenset[str] = frozenset()
        labels: list[frozenset[str]] = [none] * n  # shared empty set: compact for 100k+ images
        splits: list[frozenset[str]] = [none] * n
        for i, img in enumerate(cols.images):
            k = index[img]
            lab, sp = cols.labels[i], cols.splits[i]
            if lab is not None and lab not in labels[k]:
                labels[k] = labels[k] | {lab}
            if sp is not None and sp not in splits[k]:
                splits[k] = splits[k] | {sp}

        report = DedupReport(root=str(ds.root), method=method, images=n, samples=len(ds))
        if method == "embedding":
            report.settings = {"radius": radius, "min_cosine": min_cosine, "simhash_radius": EMBEDDING_RADIUS}
        else:
            report.settings = {"radius": radius, "min_score": min_score, "min_colour": min_colour}
        report.settings.update(max_residual=max_residual, min_local=min_local)

        abs_paths = [str(ds.root / p) for p in images]
        guard = RootGuard(ds.root)  # symlinks out of the root are not read (--follow-symlinks)
        blocked = {k: why for k, p in enumerate(images) if (why := guard.problem(p, regular=False)) is not None}
        for k in blocked:
            abs_paths[k] = ""
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            report.timings[stage] = round(now - clock, 3)
            clock = now

        fps = _fingerprint_all(abs_paths, pool, progress)
        for k, why in blocked.items():
            fps.errors[k] = why
        lap("fingerprints")
        for p, err in zip(images, fps.errors, strict=True):
            if err is not None:
                report.unreadable.append({"image": p, "reason": err})
        ok_idx = np.flatnonzero(np.array([e is None for e in fps.errors], dtype=bool))

        # ---- exact: byte digests, then decoded pixels among same-size hash neighbours
        exact = UnionFind(n)
        if len(ok_idx):
            dig = np.ascontiguousarray(fps.digests[ok_idx]).view("V16").reshape(-1)
            _, first, inverse = np.unique(dig, return_index=True, return_inverse=True)
            rep = ok_idx[first[inverse.reshape(-1)]]
            for a, b in zip(rep[rep != ok_idx].tolist(), ok_idx[rep != ok_idx].tolist(), strict=True):
                exact.union(a, b)
        cand = np.zeros((0, 2), np.int64)
        dist = np.zeros(0, np.int64)
        if len(ok_idx) > 1:
            codes, views, probe = fps.codes[ok_idx], fps.views[ok_idx], min(2, radius // 3)
            if partitions > 1:  # tasks of 1/P of the index (and 1/B of the queries); the result is identical
                local, dist = partitioned_pairs(codes, radius, partitions=partitions, executor=pool, views=views,
                                                query_blocks=query_blocks, chunks=3, probe=probe,
                                                max_per_item=MAX_CANDIDATES)  # fmt: skip
            else:
                local, dist = radius_pairs(codes, radius, views=views, chunks=3, probe=probe,
                                           max_per_item=MAX_CANDIDATES, return_distance=True)  # fmt: skip
            cand = ok_idx[local]
        lap("index")
        # same pixels give equal thumbnails, or close ones when a JPEG was decoded at reduced scale
        same = cand[(fps.sizes[cand[:, 0]] == fps.sizes[cand[:, 1]]).all(axis=1)]
        gap = np.zeros(len(same))
        for at in range(0, len(same), 4096):
            ta, tb = fps.thumbs[same[at : at + 4096, 0]], fps.thumbs[same[at : at + 4096, 1]]
            gap[at : at + 4096] = np.abs(ta.astype(np.int16) - tb.astype(np.int16)).mean(axis=(1, 2))
        lossy = fps.reduced[same[:, 0]] | fps.reduced[same[:, 1]]
        same = same[np.where(lossy, gap <= EXACT_THUMB_GAP, gap == 0)]
        todo: set[int] = set()
        exact_cands = []
        for a, b in same.tolist():
            if exact.find(a) != exact.find(b):
                exact_cands.append((a, b))
                todo.update((exact.find(a), exact.find(b)))
        if exact_cands:
            order = sorted(todo)
            pix = _pmap(_safe_pixel_digest, [abs_paths[k] for k in order], pool, "pixels", progress)
            digests = dict(zip(order, pix, strict=True))
            for a, b in exact_cands:
                da, db = digests.get(exact.find(a)), digests.get(exact.find(b))
                if da is not None and da == db:
                    exact.union(a, b)

        lap("exact")

        # ---- near pairs
        roots = np.array([exact.find(k) for k in range(n)], dtype=np.int64)
        if method == "phash":
            rp, rank = roots[cand], dist.astype(np.float64)
        else:  # embedding neighbours (SimHash index, then the full cosine) are the candidates
            from datakit.dedup.embedding import embed_all, simhash

            to_embed = [abs_paths[k] for k in ok_idx.tolist()]
            emb, errors = embed(to_embed) if embed is not None else embed_all(to_embed, pool)
            good = np.array([e is None for e in errors], dtype=bool)
            ecand = radius_pairs(simhash(emb), EMBEDDING_RADIUS, max_per_item=MAX_CANDIDATES)
            ecand = ecand[good[ecand[:, 0]] & good[ecand[:, 1]]]
            cos = np.einsum("ij,ij->i", emb[ecand[:, 0]], emb[ecand[:, 1]])
            ok = cos >= min_cosine
            rp, rank = roots[ok_idx[ecand[ok]]], -cos[ok].astype(np.float64)
            del emb
            lap("embedding")
        differ = rp[:, 0] != rp[:, 1]
        pairs, prank = _unique_min(np.sort(rp[differ], axis=1), rank[differ], n)  # one check per pixel set
        colour = colour_scores(fps.colours, pairs)
        ok = colour >= min_colour
        pairs, prank, colour = pairs[ok], prank[ok], colour[ok]
        pairs = pairs[nearest_pairs(pairs, prank - colour, n, MAX_PARTNERS)]
        lap("colour")
        kept, scores = verify_pairs(fps.thumbs, pairs, min_score, workers=workers, pool=pool)
        lap("near")
        detail_ok = verify_details(abs_paths, kept, max_residual, min_local, pool=pool)
        kept, scores = kept[detail_ok], scores[detail_ok]
        near_pairs = [(a, b, round(float(s), 4)) for (a, b), s in zip(kept.tolist(), scores.tolist(), strict=True)]

        lap("detail")

        # ---- clusters
        every = UnionFind(n)
        compat = UnionFind(n)
        for k in range(n):
            r = exact.find(k)
            if r != k:
                every.union(r, k)
                if not _conflicting(labels[r], labels[k]):
                    compat.union(r, k)
        for a, b, _ in near_pairs:
            every.union(a, b)
            if not _conflicting(labels[a], labels[b]):
                compat.union(a, b)

        def paths(group: Iterable[int]) -> list[str]:
            return sorted(images[k] for k in group)

        def describe(group: list[int]) -> dict[str, Any]:
            return {
                "labels": {images[k]: sorted(labels[k]) for k in sorted(group, key=lambda k: images[k])},
                "splits": {images[k]: sorted(splits[k]) for k in sorted(group, key=lambda k: images[k])},
            }

        for g in exact.groups():
            report.exact_groups.append(paths(g))
            report.details["exact_groups"].append(describe(g))
        pair_scores: dict[int, list[list[Any]]] = {}
        for a, b, s in near_pairs:
            pair_scores.setdefault(compat.find(a), []).append([images[a], images[b], s])
        for g in compat.groups():
            if len({exact.find(k) for k in g}) < 2:
                continue  # all the same pixels: an exact group
            report.near_groups.append(paths(g))
            report.details["near_groups"].append({**describe(g), "pairs": pair_scores.get(compat.find(g[0]), [])})

        for cid, g in enumerate(every.groups(), start=1):
            for k in g:
                report.clusters[images[k]] = f"dup-{cid:06d}"
            all_labels = set().union(*(labels[k] for k in g))
            if len(all_labels) > 1:
                report.label_conflicts.append(paths(g))
                report.details["label_conflicts"].append({**describe(g), "kind": "duplicate images"})
            all_splits = set().union(*(splits[k] for k in g))
            if len(all_splits) > 1:
                report.leaks.append(paths(g))
                report.details["leaks"].append(describe(g))
        for k in range(n):
            if images[k] in report.clusters:
                continue
            if len(splits[k]) > 1:
                report.leaks.append([images[k]])
                report.details["leaks"].append(describe([k]))

        for rg in resolve_rows(ds):
            report.annotation_rows.append([rg.image] * (len(rg.ids) + len(rg.skipped)))
            report.details["annotation_rows"].append(rg.to_dict())
            if "conflict" in rg.rule.split("+") and rg.image not in report.clusters:
                report.label_conflicts.append([rg.image])
                report.details["label_conflicts"].append({**describe([index[rg.image]]), "kind": "annotation rows"})
        report.empty_label_rows = empty_label_rows(ds)
        report.skipped_rows = [s.to_dict() for s in ds.skipped if s.reason != "empty label"]
        lap("report")
        return report
