"""Apply a dedup report: drop duplicates by policy, resolve rows, fix leaks, tag conflicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from datakit.atomic import atomic_dir, atomic_write_bytes
from datakit.dedup.clusters import UnionFind
from datakit.dedup.policy import _SPLIT_RANK, DEFAULT_KEEP, Candidate, choose, rank_key
from datakit.dedup.report import DedupReport
from datakit.dedup.rows import resolve_rows
from datakit.images import image_size

if TYPE_CHECKING:
    from datakit.dataset import Dataset

CONFLICT_TAG = "label_conflict"
LOG_NAME = "_dedup_log.jsonl"
"""The removal log written beside the cleaned dataset (the ``_`` keeps readers off it)."""


@dataclass
class Removal:
    """One removed row and why."""

    id: str | None
    image: str
    split: str | None
    label: str | None
    reason: str
    kept: str | None = None
    line: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the log."""
        return {k: v for k, v in self.__dict__.items() if v is not None or k in ("id", "image", "reason")}


def _path_info(ds: Dataset) -> dict[str, Candidate]:
    ds_cols = ds.columns
    info: dict[str, Candidate] = {}
    for i, img in enumerate(ds_cols.images):
        if img in info:
            c = info[img]
            if ds_cols.labels[i] is not None and not c.labeled:
                info[img] = Candidate(img, True, c.source, c.pixels, c.split)
            continue
        w, h = int(ds_cols.widths[i]), int(ds_cols.heights[i])
        if w < 0 or h < 0:
            try:
                w, h = image_size(ds.root / img)
            except (FileNotFoundError, ValueError):
                w, h = 0, 0
        labeled = ds_cols.labels[i] is not None
        info[img] = Candidate(img, labeled, ds_cols.sources[i] or "real", w * h, ds_cols.splits[i])
    return info


def plan(
    ds: Dataset,
    report: DedupReport,
    *,
    keep: Sequence[str] = DEFAULT_KEEP,
    fix_leaks: bool = False,
) -> tuple[np.ndarray, list[Removal]]:
    """Decide which rows stay: returns ``(keep_mask, removals)``; nothing is written.

    Within every duplicate cluster (exact and near groups, never across a label conflict) one
    image per label is kept by ``keep`` order, per split; with ``fix_leaks`` per cluster, keeping
    the train copy (train over valid over test) and dropping the eval copies of every cluster
    that spans splits, label conflicts included.

    Examples:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> from datakit import Dataset, Sample
        >>> from datakit.dedup import find_duplicates
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> im = Image.effect_mandelbrot((64, 64), (-2, -1.5, 1, 1.5), 30).convert("RGB")
        >>> im.save(root / "a.png"); im.save(root / "b.png", compress_level=1)
        >>> ds = Dataset.from_samples([Sample("a.png", label="7", split="test"),
        ...                            Sample("b.png", label="7", split="train")], root)
        >>> mask, removed = plan(ds, find_duplicates(ds), fix_leaks=True)
        >>> mask.tolist(), removed[0].image, removed[0].kept
        ([False, True], 'a.png', 'b.png')

    """
    ds_cols = ds.columns
    info = _path_info(ds)
    exact_of: dict[str, int] = {}
    for gi, g in enumerate(report.exact_groups):
        for p in g:
            exact_of[p] = gi
    paths = sorted({p for g in report.exact_groups + report.near_groups for p in g})
    pos = {p: k for k, p in enumerate(paths)}
    uf = UnionFind(len(paths))
    for g in report.exact_groups + report.near_groups:
        for p in g[1:]:
            uf.union(pos[g[0]], pos[p])
    path_labels: dict[str, tuple[str, ...]] = {}
    for i, img in enumerate(ds_cols.images):
        lab = ds_cols.labels[i]
        if lab is not None and lab not in path_labels.get(img, ()):
            path_labels[img] = (*path_labels.get(img, ()), lab)
    order = tuple(keep)
    if fix_leaks:
        order = ("train", *[c for c in order if c != "train"])

    dropped: dict[str, tuple[str, str]] = {}  # image -> (reason, kept image)

    def why(a: str, b: str) -> str:
        same = a in exact_of and exact_of.get(a) == exact_of.get(b)
        kind = "exact duplicate" if same else "near duplicate"
        if info[a].split != info[b].split:
            return f"leak: {info[a].split} {kind}"
        return kind

    for comp in uf.groups():
        members: list[str] = [paths[k] for k in comp]
        scopes: dict[object, list[str]] = {}
        for p in members:
            scopes.setdefault(None if fix_leaks else info[p].split, []).append(p)
        for scope in scopes.values():
            by_label: dict[tuple[str, ...], list[str]] = {}
            for p in scope:
                by_label.setdefault(tuple(sorted(path_labels.get(p, ()))), []).append(p)
            labeled = {k: v for k, v in by_label.items() if k}
            if labeled:
                bests = [choose([info[p] for p in v], order) for v in labeled.values()]
                keeper_img = min(bests, key=lambda c: rank_key(c, order)).image
                for p in by_label.get((), []):
                    dropped[p] = (f"{why(p, keeper_img)} of {keeper_img} (unlabeled)", keeper_img)
                for v, best in zip(labeled.values(), bests, strict=True):
                    for p in v:
                        if p != best.image:
                            dropped[p] = (f"{why(p, best.image)} of {best.image}", best.image)
            else:
                best = choose([info[p] for p in scope], order)
                for p in scope:
                    if p != best.image:
                        dropped[p] = (f"{why(p, best.image)} of {best.image}", best.image)

    if fix_leaks:  # what still spans splits (label conflicts, rows in two splits): keep the best split
        clusters: dict[str, list[str]] = {}
        for p, cid in report.clusters.items():
            if p not in dropped:
                clusters.setdefault(cid, []).append(p)
        for members in clusters.values():
            ranks = {p: _SPLIT_RANK.get(info[p].split or "", 3) for p in members if p in info}
            if len({info[p].split for p in ranks}) < 2:
                continue
            best_rank = min(ranks.values())
            leak_keeper = min(p for p in ranks if ranks[p] == best_rank)
            for p, r in ranks.items():
                if r > best_rank:
                    where = info[leak_keeper].split
                    dropped[p] = (f"leak: {info[p].split} copy of {where} image {leak_keeper}", leak_keeper)

    rows = {g.image: g for g in resolve_rows(ds)}
    mask = np.ones(len(ds), dtype=bool)
    removals: list[Removal] = []
    rows_of: dict[str, list[int]] = {}
    split_of_image: dict[str, set[str | None]] = {}
    for i, img in enumerate(ds_cols.images):
        rows_of.setdefault(img, []).append(i)
        split_of_image.setdefault(img, set()).add(ds_cols.splits[i])
    for i, img in enumerate(ds_cols.images):
        sid = ds_cols.ids[i]
        if img in dropped:
            reason, kept = dropped[img]
            mask[i] = False
            removals.append(Removal(sid, img, ds_cols.splits[i], ds_cols.labels[i], reason, kept))
        elif img in rows and sid in rows[img].drop:
            mask[i] = False
            removals.append(Removal(sid, img, ds_cols.splits[i], ds_cols.labels[i], rows[img].reasons[sid], img))
        elif fix_leaks and len(split_of_image[img]) > 1 and img not in report.clusters:
            best_split = min(split_of_image[img], key=lambda s: (_SPLIT_RANK.get(s or "", 3), s or ""))
            if ds_cols.splits[i] != best_split:
                mask[i] = False
                why_leak = f"leak: image also in {best_split}"
                removals.append(Removal(sid, img, ds_cols.splits[i], ds_cols.labels[i], why_leak, img))
    for s in ds.skipped:
        if s.reason == "empty label" and s.image is not None:
            kept_rows = [ds_cols.ids[i] for i in rows_of.get(s.image, []) if mask[i]]
            reason = "empty label beside a labeled row" if kept_rows else "empty label"
            kept_id = kept_rows[0] if kept_rows else None
            removals.append(Removal(None, s.image, None, "", reason, kept_id, f"{s.file}:{s.line}"))
    return mask, removals


def apply(
    ds: Dataset,
    report: DedupReport,
    *,
    keep: Sequence[str] = DEFAULT_KEEP,
    fix_leaks: bool = False,
) -> tuple[Dataset, list[Removal]]:
    """The cleaned dataset and the removal log.

    Kept samples get ``metadata.dup_cluster`` (their cluster id, for ``datakit split --group
    metadata.dup_cluster``) when they have duplicates, and the tag ``label_conflict`` when their
    cluster or their rows hold different labels.
    """
    mask, removals = plan(ds, report, keep=keep, fix_leaks=fix_leaks)
    idx = np.flatnonzero(mask)
    out = ds.take(idx)
    conflict_images = {p for g in report.label_conflicts for p in g}
    out_cols = out.columns
    clusters = [report.clusters.get(img) for img in out_cols.images]
    out = out.with_column("metadata.dup_cluster", clusters)
    if conflict_images:
        tags = [
            [*t, CONFLICT_TAG] if img in conflict_images and CONFLICT_TAG not in t else list(t)
            for img, t in zip(out_cols.images, out_cols.tags, strict=True)
        ]
        out = out.with_column("tags", tags)
    out.skipped = [s for s in ds.skipped if s.reason != "empty label"]
    return out, removals


def write_clean(
    ds: Dataset,
    removals: list[Removal],
    out: str | Path,
    *,
    images: str = "copy",
    report: DedupReport | None = None,
) -> Path:
    """Write the cleaned dataset, the removal log (``_dedup_log.jsonl``) and the report, atomically.

    Raises:
        ValueError: ``out`` is the dataset's own folder or inside it.

    """
    from datakit.formats import jsonl

    out = Path(out)
    root = ds.root.resolve()
    target = out.resolve()
    if target == root or root in target.parents:
        raise ValueError(f"--out {out} must be outside the dataset folder {ds.root}")
    with atomic_dir(out) as tmp:
        jsonl.write(ds, tmp, images=images)
        atomic_write_bytes(tmp / LOG_NAME, b"".join(orjson.dumps(r.to_dict()) + b"\n" for r in removals))
        if report is not None:
            report.save(tmp / "_dedup_report.json")
    return out
