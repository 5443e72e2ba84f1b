"""Bring a reviewer's edits back from FiftyOne into the datakit dataset, by datakit id.

:func:`read_edits` reads the FiftyOne dataset column by column (``values`` over the whole
dataset: a few queries, not one per sample); :func:`merge` applies them to the source dataset:

* a sample whose tags, label, label tags or boxes changed gets the tag ``reviewed``, metadata
  ``reviewed_at`` (UTC) and ``review_changes`` (what changed, box ids included), and its boxes
  keep their ``datakit_id`` attribute; a ``pseudo`` sample becomes ``real`` (the reviewer
  accepted or corrected it). Tagging a sample ``reviewed`` or ``accepted`` in the App is how a
  reviewer accepts it unchanged.
* a moved or relabelled box loses its detector score (kept as attribute ``pseudo_score``); an
  added box has none. Boxes keep the reviewer's order.
* every other sample is left as it was: its saved row is the same byte for byte.

Nothing is dropped silently: FiftyOne samples without a known ``datakit_id`` and dataset samples
missing from FiftyOne are counted in the report (the latter are kept unchanged).

Examples:
    >>> from datakit import Dataset, Sample
    >>> from datakit.review.diff import Edit
    >>> ds = Dataset.from_samples([Sample("a.jpg", label="7", source="pseudo"), Sample("b.jpg", label="1")], ".")
    >>> out, report = merge(ds, {"a.jpg": Edit(["reviewed"], "1", [], [])}, {})
    >>> out[0].label, out[0].source, out[0].tags, out[1] == ds[1]
    ('1', 'real', ['reviewed'], True)
    >>> report["samples_reviewed"], report["labels_changed"], report["pseudo_to_real"]
    (1, 1, 1)

"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from datakit.review import DATAKIT_ID
from datakit.review.build import ReviewError, import_fiftyone
from datakit.review.diff import Box, Changes, Edit, diff_sample
from datakit.review.labels import mint_detection_ids, to_absolute, to_relative
from datakit.selection import REVIEWED_TAG

if TYPE_CHECKING:
    from datakit.dataset import Dataset

ACCEPT_TAGS = (REVIEWED_TAG, "accepted")
"""Sample tags a reviewer adds in the App to accept a sample unchanged."""

COUNT_KEYS = ("tags_added", "tags_removed", "labels_changed", "label_tags_changed", "boxes_added",
              "boxes_deleted", "boxes_moved", "boxes_relabelled", "boxes_retagged")  # fmt: skip


def read_edits(fds: Any) -> tuple[dict[str, Edit], dict[str, tuple[int, int]], int]:
    """Every sample's reviewed state in a FiftyOne dataset, keyed by ``datakit_id``.

    Returns:
        ``(edits, sizes, unknown)``: sizes are the ``(width, height)`` recorded at build time;
        ``unknown`` counts FiftyOne samples without a ``datakit_id`` (added by hand).

    """
    fields = [
        DATAKIT_ID, "tags", "label.label", "label.tags", f"detections.detections.{DATAKIT_ID}",
        "detections.detections.label", "detections.detections.bounding_box", "detections.detections.tags",
        "metadata.width", "metadata.height",
    ]  # fmt: skip
    try:  # raw values: the fields are strings, numbers and lists, so FiftyOne's per-value decoding adds nothing
        values = fds.values(fields, _raw=True)
    except TypeError:  # a FiftyOne without the keyword
        values = fds.values(fields)
    ids, tags, labels, ltags, dids, dlabels, dboxes, dtags, ws, hs = values
    edits: dict[str, Edit] = {}
    sizes: dict[str, tuple[int, int]] = {}
    unknown = 0
    for k, sid in enumerate(ids):
        if sid is None:
            unknown += 1
            continue
        boxes = []
        if dids[k] is not None:
            for j in range(len(dids[k])):
                boxes.append(Box(dids[k][j], dlabels[k][j], list(dboxes[k][j] or []), list(dtags[k][j] or [])))
        edits[sid] = Edit(list(tags[k] or []), labels[k], list(ltags[k] or []), boxes)
        if ws[k] and hs[k]:
            sizes[sid] = (int(ws[k]), int(hs[k]))
    return edits, sizes, unknown


def _original_boxes(ds: Dataset, i: int, size: tuple[int, int] | None) -> tuple[list[Box], list[str]]:
    d = ds.columns.detections
    lo, hi = int(d.offsets[i]), int(d.offsets[i + 1])
    if lo == hi:
        return [], []
    attrs = d.attributes[lo:hi]
    ids = mint_detection_ids(ds.columns.ids[i], attrs)
    if size is None:
        size = _read_size(ds, i)
    w, h = size
    boxes = [
        Box(ids[k - lo], d.labels[k], to_relative(d.boxes[k], w, h), list((attrs[k - lo] or {}).get("tags") or []))
        for k in range(lo, hi)
    ]
    return boxes, ids


def _read_size(ds: Dataset, i: int) -> tuple[int, int]:
    from datakit.images import image_size

    c = ds.columns
    w, h = int(c.widths[i]), int(c.heights[i])
    if w > 0 and h > 0:
        return w, h
    try:
        return image_size(ds.root / c.images[i])
    except (FileNotFoundError, ValueError, OSError) as e:
        raise ReviewError(f"{ds.root / c.images[i]}: cannot read the image size to place its boxes ({e})") from None


def merge(
    ds: Dataset,
    edits: Mapping[str, Edit],
    sizes: Mapping[str, tuple[int, int]],
    *,
    reviewed_at: str | None = None,
    unknown: int = 0,
) -> tuple[Dataset, dict[str, Any]]:
    """Apply reviewed states (by sample id) to ``ds``; returns the new dataset and the counts.

    Args:
        ds: The source dataset (not changed).
        edits: Reviewed state per sample id (:func:`read_edits`).
        sizes: Image ``(width, height)`` per sample id, as the boxes were normalised.
        reviewed_at: Timestamp to record (default: now, UTC).
        unknown: FiftyOne samples without a datakit id (reported).

    """
    from datakit.columns import Categorical, DetectionColumns

    c = ds.columns
    when = reviewed_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
    totals = dict.fromkeys(COUNT_KEYS, 0)
    changed: dict[int, tuple[Changes, tuple[int, int] | None]] = {}
    matched = 0
    index = {sid: i for i, sid in enumerate(c.ids)}
    unmatched = 0
    for sid, edit in edits.items():
        i = index.get(sid)
        if i is None:
            unmatched += 1
            continue
        matched += 1
        size = sizes.get(sid)
        md = c.metadata[i] or {}
        before, _ = _original_boxes(ds, i, size) if c.detections.count(i) else ([], [])
        ch = diff_sample(sid, list(c.tags[i]), c.labels[i], list(md.get("label_tags") or []), before, edit)
        if ch.touched:
            changed[i] = (ch, size)
            for k, v in ch.counts().items():
                totals[k] += v

    tags = list(c.tags)
    meta = list(c.metadata)
    labels = c.labels
    sources = c.sources
    new_labels = None
    new_sources = None
    accepted = pseudo_to_real = 0
    new_boxes: dict[int, list[tuple[str | None, tuple[float, ...], float, dict[str, Any] | None]]] = {}
    d = c.detections
    for i, (ch, size) in sorted(changed.items()):
        t = list(dict.fromkeys(edits[c.ids[i]].tags))
        if REVIEWED_TAG not in t:
            t.append(REVIEWED_TAG)
        tags[i] = tuple(t)
        md = dict(meta[i] or {})
        md["reviewed_at"] = when
        md["review_changes"] = ch.summary()
        if ch.label_tags is not None:
            if ch.label_tags:
                md["label_tags"] = list(ch.label_tags)
            else:
                md.pop("label_tags", None)
        meta[i] = md
        if ch.label is not None:
            if new_labels is None:
                new_labels = labels.tolist()
            new_labels[i] = ch.label[1]
        if not (ch.label or ch.boxes_changed):
            accepted += 1
        if (sources[i] or "real") == "pseudo":
            if new_sources is None:
                new_sources = sources.tolist()
            new_sources[i] = "real"
            pseudo_to_real += 1
        lo, hi = int(d.offsets[i]), int(d.offsets[i + 1])
        if not ch.boxes and lo == hi:
            continue
        orig_ids = mint_detection_ids(c.ids[i], d.attributes[lo:hi]) if hi > lo else []
        pos = {x: lo + k for k, x in enumerate(orig_ids)}
        w, h = size if size is not None else (_read_size(ds, i) if ch.boxes_changed else (0, 0))
        rows: list[tuple[str | None, tuple[float, ...], float, dict[str, Any] | None]] = []
        for b in ch.boxes:
            row = pos.get(b.id) if b.id is not None else None
            if row is None:  # drawn by the reviewer
                attrs: dict[str, Any] = {DATAKIT_ID: b.id}
                if b.tags:
                    attrs["tags"] = list(b.tags)
                rows.append((b.label, to_absolute(b.box, w, h), float("nan"), attrs))
                continue
            attrs = {**(d.attributes[row] or {}), DATAKIT_ID: b.id}
            if b.tags:
                attrs["tags"] = list(b.tags)
            else:
                attrs.pop("tags", None)
            box: tuple[float, ...] = tuple(d.boxes[row].tolist())
            score = float(d.scores[row])
            corrected = b.id in ch.moved or b.id in ch.relabelled
            if b.id in ch.moved:
                box = to_absolute(b.box, w, h)
            if corrected and score == score:
                attrs["pseudo_score"] = score
                score = float("nan")
            rows.append((b.label, box, score, attrs))
        new_boxes[i] = rows

    columns: dict[str, Any] = {"tags": tags, "metadata": meta}
    if new_labels is not None:
        columns["labels"] = Categorical.from_values(new_labels)
    if new_sources is not None:
        columns["sources"] = Categorical.from_values(new_sources)
    if new_boxes:
        columns["detections"] = _splice(d, new_boxes, len(ds), Categorical, DetectionColumns)
    out = ds.replace(**columns)
    report: dict[str, Any] = {
        "samples": len(ds),
        "samples_in_fiftyone": matched,
        "samples_reviewed": len(changed),
        "accepted_unchanged": accepted,
        "pseudo_to_real": pseudo_to_real,
        **totals,
        "not_in_fiftyone": len(ds) - matched,
        "unknown_in_fiftyone": unknown + unmatched,
        "reviewed_at": when,
    }
    return out, report


def _splice(d: Any, new: dict[int, list[Any]], n: int, Categorical: Any, DetectionColumns: Any) -> Any:
    """Detection columns with the boxes of samples in ``new`` replaced (blocks between them copied)."""
    counts = np.diff(d.offsets).astype(np.int64)
    box_parts, score_parts = [], []
    labels: list[str | None] = []
    attrs: list[dict[str, Any] | None] = []
    all_labels = d.labels.tolist()
    prev = 0
    for i in sorted(new):
        lo, hi = int(d.offsets[prev]), int(d.offsets[i])
        box_parts.append(d.boxes[lo:hi])
        score_parts.append(d.scores[lo:hi])
        labels.extend(all_labels[lo:hi])
        attrs.extend(d.attributes[lo:hi])
        rows = new[i]
        counts[i] = len(rows)
        box_parts.append(np.asarray([r[1] for r in rows], dtype=np.float64).reshape(-1, 4))
        score_parts.append(np.asarray([r[2] for r in rows], dtype=np.float64))
        labels.extend(r[0] for r in rows)
        attrs.extend(r[3] for r in rows)
        prev = i + 1
    lo = int(d.offsets[prev]) if prev <= n else int(d.offsets[-1])
    box_parts.append(d.boxes[lo:])
    score_parts.append(d.scores[lo:])
    labels.extend(all_labels[lo:])
    attrs.extend(d.attributes[lo:])
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return DetectionColumns(offsets, np.concatenate(box_parts), Categorical.from_values(labels),
                            np.concatenate(score_parts), attrs)  # fmt: skip


def pull(name: str, *, source: str | Path | None = None) -> tuple[Dataset, dict[str, Any]]:
    """Read the FiftyOne dataset ``name`` and merge its edits into its source dataset.

    Args:
        name: FiftyOne dataset name (built by :func:`datakit.review.build.to_fiftyone`).
        source: The datakit dataset to merge into (default: the one recorded at build time).

    Returns:
        ``(dataset, report)``: the merged dataset (root: the source's) and the counts.

    Raises:
        ReviewError: No such FiftyOne dataset, or it was not built by datakit.

    """
    import datakit

    fo = import_fiftyone()
    if not fo.dataset_exists(name):
        raise ReviewError(f"no FiftyOne dataset named {name!r} (fiftyone datasets list shows them)")
    fds = fo.load_dataset(name)
    info = (fds.info or {}).get("datakit")
    if source is None:
        if not info or not info.get("source"):
            raise ReviewError(f"FiftyOne dataset {name!r} was not built by datakit review; pass --from DS")
        source = info["source"]
    ds = datakit.load(source)
    edits, sizes, unknown = read_edits(fds)
    out, report = merge(ds, edits, sizes, unknown=unknown)
    report["name"] = name
    report["source"] = str(source)
    return out, report
