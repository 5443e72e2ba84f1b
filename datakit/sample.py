"""One sample and one detection, as plain validated records.

A :class:`~datakit.dataset.Dataset` stores its samples column by column; these records are the
row view you get when you index or iterate it, and what you build new samples from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

SOURCES: tuple[str, ...] = ("real", "synthetic", "pseudo")
"""Allowed provenance values."""


@dataclass
class Detection:
    """One object in an image.

    Attributes:
        label: Class name, or ``None`` when unknown.
        box: Absolute-pixel ``(x1, y1, x2, y2)``.
        score: Detector confidence in [0, 1]; ``None`` for human labels or unknown confidence.
        attributes: Open per-object data (COCO ``iscrowd``/``segmentation``, track id, ...).

    Examples:
        >>> Detection("ball", (10, 10, 20, 20), score=0.9).box
        (10.0, 10.0, 20.0, 20.0)
        >>> Detection("ball", (20, 10, 10, 20))
        Traceback (most recent call last):
        ...
        ValueError: expected x1 <= x2 and y1 <= y2, got (20.0, 10.0, 10.0, 20.0)

    """

    label: str | None
    box: tuple[float, float, float, float]
    score: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            box = tuple(float(v) for v in self.box)
        except (TypeError, ValueError):
            raise ValueError(f"expected box of 4 numbers, got {self.box!r}") from None
        if len(box) != 4:
            raise ValueError(f"expected box of 4 numbers, got {self.box!r}")
        if not all(math.isfinite(v) for v in box):
            raise ValueError(f"expected finite box coordinates, got {box}")
        if box[0] > box[2] or box[1] > box[3]:
            raise ValueError(f"expected x1 <= x2 and y1 <= y2, got {box}")
        self.box = box
        if self.score is not None:
            self.score = float(self.score)
            if not 0.0 <= self.score <= 1.0:
                raise ValueError(f"expected score in [0, 1], got {self.score}")


@dataclass
class Sample:
    """An image with its labels, provenance and metadata.

    Attributes:
        image: Image path relative to the dataset root (POSIX separators).
        label: Class name or OCR text (the JSONL ``suffix``); ``None`` when unlabeled.
        detections: Objects in the image.
        split: ``train`` / ``valid`` / ``test`` / any name, or ``None``.
        source: ``real``, ``synthetic`` or ``pseudo``.
        tags: Free tags (``review``, ``possible_label_error``, ...).
        metadata: Free data (renderer parameters, VLM answers, video and frame index, ...).
        id: Unique id inside its dataset (defaults to the image path).
        prompt: The JSONL ``prefix`` (VLM prompt), when the row had one.
        width: Image width in pixels, when known.
        height: Image height in pixels, when known.

    Examples:
        >>> s = Sample("train/a.jpg", label="23", split="train")
        >>> s.source, s.tags
        ('real', [])
        >>> Sample("a.jpg", source="fake")
        Traceback (most recent call last):
        ...
        ValueError: expected source in ('real', 'synthetic', 'pseudo'), got 'fake'

    """

    image: str
    label: str | None = None
    detections: list[Detection] = field(default_factory=list)
    split: str | None = None
    source: str = "real"
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    prompt: str | None = None
    width: int | None = None
    height: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.image, str) or not self.image:
            raise ValueError(f"expected image to be a non-empty path string, got {self.image!r}")
        if self.source not in SOURCES:
            raise ValueError(f"expected source in {SOURCES}, got {self.source!r}")
        if self.label is not None and not isinstance(self.label, str):
            raise ValueError(f"expected label to be a string or None, got {self.label!r}")
        if not isinstance(self.metadata, dict):
            raise ValueError(f"expected metadata to be a dict, got {type(self.metadata).__name__}")
        self.tags = list(self.tags)
        for d in self.detections:
            if not isinstance(d, Detection):
                raise ValueError(f"expected Detection objects, got {type(d).__name__}")
