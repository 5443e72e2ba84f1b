"""Several annotation rows for one image, resolved by rule.

- **empty beside labeled** (the seed's case): the reader skipped the empty-label row
  (``dataset.skipped``, reason ``empty label``); the labeled row is kept and the pair reported;
- **unlabeled beside labeled**: a row without a label next to a labeled row is dropped;
- **identical**: rows that agree on every field collapse to the first;
- **conflict**: two different valid labels for one image are reported, both kept and tagged
  ``label_conflict``, never merged silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from datakit.dataset import Dataset


@dataclass
class RowGroup:
    """The rows that name one image, and what the rules decided.

    Attributes:
        image: Image path relative to the dataset root.
        ids: Ids of the loaded samples for this image, in file order.
        skipped: ``"file:line"`` of rows the reader skipped for an empty label.
        labels: Label of each loaded sample (``None`` when unlabeled).
        rule: ``empty_beside_labeled``, ``unlabeled_beside_labeled``, ``identical``,
            ``conflict``, or several joined by ``+``.
        drop: Ids to remove.
        reasons: Why each dropped id goes.

    """

    image: str
    ids: list[str]
    skipped: list[str]
    labels: list[str | None]
    rule: str = ""
    drop: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the report's details."""
        return {"image": self.image, "rule": self.rule, "ids": self.ids, "labels": self.labels,
                "skipped_rows": self.skipped, "drop": self.drop}  # fmt: skip


def _row_key(ds: Dataset, i: int) -> bytes:
    from datakit.formats.jsonl import native_row

    row = native_row(ds, i, "")
    for k in ("id", "width", "height"):  # sizes are cached lazily: not part of a row's content
        row.pop(k, None)
    row["split"] = ds.columns.splits[i]
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def resolve_rows(ds: Dataset) -> list[RowGroup]:
    """Find images named by more than one row (loaded or skipped-empty) and resolve each.

    Examples:
        >>> from datakit import Dataset, Sample
        >>> ds = Dataset.from_samples([Sample("a.jpg", label="7"), Sample("a.jpg", label="7"),
        ...                            Sample("b.jpg", label="1"), Sample("b.jpg", label="4")], ".")
        >>> [(g.image, g.rule, g.drop) for g in resolve_rows(ds)]
        [('a.jpg', 'identical', ['a.jpg#2']), ('b.jpg', 'conflict', [])]

    """
    ds_cols = ds.columns
    by_image: dict[str, list[int]] = {}
    for i, img in enumerate(ds_cols.images):
        by_image.setdefault(img, []).append(i)
    empties: dict[str, list[str]] = {}
    for s in ds.skipped:
        if s.image is not None and s.reason == "empty label":
            empties.setdefault(s.image, []).append(f"{s.file}:{s.line}")
    out: list[RowGroup] = []
    for image in sorted(set(empties) | {k for k, v in by_image.items() if len(v) > 1}):
        rows = by_image.get(image, [])
        if not rows:
            continue  # only empty rows: reported as empty labels, not as a row group
        g = RowGroup(image, [ds_cols.ids[i] for i in rows], empties.get(image, []),
                     [ds_cols.labels[i] for i in rows])  # fmt: skip
        rules = []
        if g.skipped:
            has_label = any(lab is not None for lab in g.labels)
            rules.append("empty_beside_labeled" if has_label else "empty_beside_unlabeled")
        labeled = [i for i in rows if ds_cols.labels[i] is not None]
        if labeled and len(labeled) < len(rows):
            rules.append("unlabeled_beside_labeled")
            for i in rows:
                if ds_cols.labels[i] is None:
                    g.drop.append(ds_cols.ids[i])
                    g.reasons[ds_cols.ids[i]] = "unlabeled row beside a labeled row for the same image"
        remaining = [i for i in rows if ds_cols.ids[i] not in g.drop]
        seen: dict[bytes, str] = {}
        for i in remaining:
            k = _row_key(ds, i)
            if k in seen:
                if "identical" not in rules:
                    rules.append("identical")
                g.drop.append(ds_cols.ids[i])
                g.reasons[ds_cols.ids[i]] = f"identical to row {seen[k]}"
            else:
                seen[k] = ds_cols.ids[i]
        if len({ds_cols.labels[i] for i in labeled}) > 1:
            rules.append("conflict")
        g.rule = "+".join(rules) or "distinct_rows"
        out.append(g)
    return out


def empty_label_rows(ds: Dataset) -> list[dict[str, Any]]:
    """Rows the reader skipped for an empty label (each with its file, line and image)."""
    return [s.to_dict() for s in ds.skipped if s.reason == "empty label"]
