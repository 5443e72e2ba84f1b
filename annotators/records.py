"""What an annotator is handed and what it answers: :class:`Item` in, :class:`Result` out.

Every result carries one of :data:`STATUSES` and its raw answer; :meth:`Result.to_row` /
:meth:`Result.from_row` are its checkpoint form. :mod:`annotators.base` runs annotators on these.

Examples:
    >>> r = Result("a.jpg", "ok", {"jersey_color": "red"}, raw="red")
    >>> Result.from_row(r.to_row()) == r, Item("a.jpg", 0, None).box
    (True, None)

"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datakit.sample import Detection

STATUSES: tuple[str, ...] = ("ok", "unparseable", "invalid_value", "error")
"""Every result carries one of these."""


@dataclass
class Item:
    """One sample handed to an annotator.

    Attributes:
        id: The sample id.
        index: Its row in the dataset.
        image: The decoded image (``PIL.Image`` in RGB), or ``None`` for annotators that need none.
        label: The sample's label (OCR compares against it), or ``None``.
        detections: The sample's boxes (for a box item: only its own box).
        box: For a box item, the box's position among the sample's detections (the image is
            then the box's crop and the id ``<sample id>#box<k>``); ``None`` for a whole sample.

    """

    id: str
    index: int
    image: Any
    label: str | None = None
    detections: list[Detection] = field(default_factory=list)
    box: int | None = None


@dataclass
class Result:
    """What an annotator said about one sample.

    Attributes:
        id: The sample id.
        status: One of :data:`STATUSES`.
        values: Field → accepted value (only fields that passed validation).
        raw: The raw answer (model text, or a compact description for classical annotators).
        problems: Field (or ``"answer"``) → why it was not accepted.
        confidence: A score in [0, 1] when the annotator has one, else ``None`` (never a made-up 1.0).
        tags: Tags to add to the sample (e.g. ``possible_label_error``).
        stamp: ``"<size>:<mtime_ns>"`` of the image file the result was computed from; a resumed
            run re-annotates samples whose image has changed since.
        box: Set for a box item's result (see :attr:`Item.box`): the values go to that box.

    """

    id: str
    status: str
    values: dict[str, Any] = field(default_factory=dict)
    raw: str | None = None
    problems: dict[str, str] = field(default_factory=dict)
    confidence: float | None = None
    tags: list[str] = field(default_factory=list)
    stamp: str | None = None
    box: int | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"expected status in {STATUSES}, got {self.status!r}")

    def to_row(self) -> dict[str, Any]:
        """The checkpoint row (JSON-serialisable)."""
        row: dict[str, Any] = {"id": self.id, "status": self.status, "values": self.values, "raw": self.raw}
        if self.problems:
            row["problems"] = self.problems
        if self.confidence is not None:
            row["confidence"] = self.confidence
        if self.tags:
            row["tags"] = self.tags
        if self.stamp is not None:
            row["stamp"] = self.stamp
        if self.box is not None:
            row["box"] = self.box
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Result:
        """Rebuild a result from its checkpoint row."""
        return cls(
            id=row["id"],
            status=row["status"],
            values=dict(row.get("values") or {}),
            raw=row.get("raw"),
            problems=dict(row.get("problems") or {}),
            confidence=row.get("confidence"),
            tags=list(row.get("tags") or []),
            stamp=row.get("stamp"),
            box=row.get("box"),
        )
