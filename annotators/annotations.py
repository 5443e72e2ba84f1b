"""The results of one annotator over a dataset, and writing them back into it.

:class:`Annotations` is what :func:`annotators.base.annotate` returns: every result by sample id
(this run's and the checkpoint's), counts per status, and :meth:`Annotations.apply`, which writes
the answers as metadata (or, for box items, into their boxes' attributes) and adds result tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from annotators.records import STATUSES, Result

if TYPE_CHECKING:
    from datakit.dataset import Dataset


@dataclass
class Annotations:
    """The results of one annotator over a dataset (from this run and from the checkpoint).

    Attributes:
        annotator: The annotator's name.
        fields: The fields it writes.
        results: Sample id → result.
        resumed: How many results came from the checkpoint rather than this run.
        checkpoint: The checkpoint file, if any.
        stale: Checkpoint results not reused because the sample's image changed since.

    """

    annotator: str
    fields: tuple[str, ...]
    results: dict[str, Result]
    resumed: int = 0
    checkpoint: Path | None = None
    stale: int = 0

    def counts(self) -> dict[str, int]:
        """Results per status (statuses with no result are left out)."""
        out: dict[str, int] = {}
        for r in self.results.values():
            out[r.status] = out.get(r.status, 0) + 1
        return {s: out[s] for s in STATUSES if s in out}

    def apply(self, ds: Dataset, *, prefix: str = "", status_field: str | None = None) -> Dataset:
        """A copy of ``ds`` with the answers written as metadata and result tags added.

        Each field ``f`` goes to ``metadata.<prefix><f>`` (``None``, i.e. absent, where the value
        was not accepted); the status goes to ``metadata.<status_field>`` (default
        ``<prefix or name_>status``). Samples without a result keep no status. Results of box
        items (:attr:`Result.box`) go to that box's attributes under the same keys instead.

        Examples:
            >>> from datakit import Dataset, Sample
            >>> ds = Dataset.from_samples([Sample("a.jpg"), Sample("b.jpg")], ".")
            >>> a = Annotations("color", ("jersey_color",),
            ...                 {"a.jpg": Result("a.jpg", "ok", {"jersey_color": "red"}),
            ...                  "b.jpg": Result("b.jpg", "unparseable", raw="??")})
            >>> out = a.apply(ds)
            >>> out.column("metadata.jersey_color"), out.column("metadata.color_status")
            (['red', None], ['ok', 'unparseable'])

        """
        status_field = status_field or f"{prefix or self.annotator + '_'}status"
        out = ds
        box_results = [r for r in self.results.values() if r.box is not None]
        if len(box_results) < len(self.results):
            got = [self.results.get(i) for i in ds.ids]
            got = [None if r is not None and r.box is not None else r for r in got]
            for f in self.fields:
                out = out.with_column(f"metadata.{prefix}{f}", [None if r is None else r.values.get(f) for r in got])
            out = out.with_column(f"metadata.{status_field}", [None if r is None else r.status for r in got])
            if any(r is not None and r.tags for r in got):
                tags = out.column("tags")
                for k, r in enumerate(got):
                    if r is not None:
                        tags[k] = list(dict.fromkeys([*tags[k], *r.tags]))
                out = out.with_column("tags", tags)
        if box_results:
            out = _apply_to_boxes(out, box_results, self.fields, prefix, status_field)
        return out


def _apply_to_boxes(
    ds: Dataset, results: list[Result], fields: tuple[str, ...], prefix: str, status_field: str
) -> Dataset:
    """``ds`` with box results written into their detections' attributes (tags to the sample)."""
    from datakit.columns import DetectionColumns

    d = ds.columns.detections
    attrs = list(d.attributes)
    tags = [list(t) for t in ds.columns.tags]
    tagged = False
    for r in results:
        sid = r.id[: -len(f"#box{r.box}")]
        i = ds.index_of(sid)
        row = int(d.offsets[i]) + int(r.box or 0)
        if row >= int(d.offsets[i + 1]):
            continue  # the sample has fewer boxes than when annotated (a changed dataset): nothing to write
        new = dict(attrs[row] or {})
        for f in fields:
            new.pop(prefix + f, None)
            if f in r.values:
                new[prefix + f] = r.values[f]
        new[status_field] = r.status
        attrs[row] = new
        if r.tags:
            tags[i] = list(dict.fromkeys([*tags[i], *r.tags]))
            tagged = True
    dets = DetectionColumns(d.offsets, d.boxes, d.labels, d.scores, attrs)
    out = ds.replace(detections=dets)
    return out.with_column("tags", tags) if tagged else out
