"""The detector interface: a list of RGB frames (or slices) in, one :class:`Boxes` per image out.

A detector never sees files or datasets: :mod:`annotators.slicing` hands it image arrays
(``(H, W, 3)`` RGB ``uint8``, slices being views of their frame) in batches of
:attr:`Detector.batch_size`, and maps the boxes back. Boxes are absolute-pixel ``xyxy`` in the
image it was given; every box has a score in ``[0, 1]`` and a class name.

Examples:
    >>> import numpy as np
    >>> class Corner(Detector):
    ...     name, version = "corner", "1"
    ...     def detect(self, images, threshold):
    ...         return [Boxes(np.array([[0, 0, 4, 4]]), np.array([0.5]), ["ball"]) for _ in images]
    >>> out = Corner().detect([np.zeros((8, 8, 3), np.uint8)], 0.05)
    >>> out[0].xyxy.tolist(), out[0].scores.tolist(), out[0].labels
    ([[0.0, 0.0, 4.0, 4.0]], [0.5], ['ball'])
    >>> Boxes(np.zeros((2, 4)), np.zeros(1), ["a", "b"])
    Traceback (most recent call last):
    ...
    ValueError: expected 2 scores and 2 labels for 2 boxes, got 1 scores and 2 labels

"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np


@dataclass
class Boxes:
    """The detections of one image as parallel arrays.

    Attributes:
        xyxy: ``(N, 4)`` float64 absolute-pixel boxes.
        scores: ``(N,)`` float64 confidences in ``[0, 1]``.
        labels: ``N`` class names.

    """

    xyxy: np.ndarray
    scores: np.ndarray
    labels: list[str]

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float64).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        self.labels = [str(v) for v in self.labels]
        n = len(self.xyxy)
        if len(self.scores) != n or len(self.labels) != n:
            raise ValueError(
                f"expected {n} scores and {n} labels for {n} boxes, got {len(self.scores)} scores and "
                f"{len(self.labels)} labels"
            )

    def __len__(self) -> int:
        return len(self.xyxy)

    @classmethod
    def empty(cls) -> Boxes:
        """No detections."""
        return cls(np.zeros((0, 4)), np.zeros(0), [])

    def keep(self, mask: np.ndarray) -> Boxes:
        """The rows where ``mask`` is true."""
        idx = np.flatnonzero(mask)
        return Boxes(self.xyxy[idx], self.scores[idx], [self.labels[i] for i in idx.tolist()])

    @classmethod
    def from_output(cls, out: Any, where: str) -> Boxes:
        """Validate one image's ``{"boxes", "scores", "labels"}`` dict from a detector.

        Raises:
            ValueError: Missing keys, wrong shapes, non-finite boxes, ``x2 < x1`` or scores
                outside ``[0, 1]``; the message starts with ``where``.

        Examples:
            >>> Boxes.from_output({"boxes": [[0, 0, 2, 2]], "scores": [1.5], "labels": ["a"]}, "image 0")
            Traceback (most recent call last):
            ...
            ValueError: image 0: expected scores in [0, 1], got 1.5

        """
        if not isinstance(out, dict):
            raise ValueError(f"{where}: expected a dict with boxes, scores and labels, got {type(out).__name__}")
        missing = [k for k in ("boxes", "scores", "labels") if k not in out]
        if missing:
            raise ValueError(f"{where}: expected keys boxes, scores, labels; missing {', '.join(missing)}")
        boxes = np.asarray(out["boxes"], dtype=np.float64)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"{where}: expected boxes of shape (N, 4), got {boxes.shape}")
        scores = np.asarray(out["scores"], dtype=np.float64).reshape(-1)
        labels = list(out["labels"])
        try:
            b = cls(boxes, scores, labels)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        if not np.isfinite(b.xyxy).all():
            raise ValueError(f"{where}: expected finite box coordinates")
        if (b.xyxy[:, 2] < b.xyxy[:, 0]).any() or (b.xyxy[:, 3] < b.xyxy[:, 1]).any():
            raise ValueError(f"{where}: expected x1 <= x2 and y1 <= y2 in every box")
        bad = b.scores[(b.scores < 0) | (b.scores > 1) | ~np.isfinite(b.scores)]
        if len(bad):
            raise ValueError(f"{where}: expected scores in [0, 1], got {float(bad[0])}")
        return b


class Detector:
    """Base class: set :attr:`name` and :attr:`version`, implement :meth:`detect`.

    Attributes:
        name: Short name, written to each sample's ``metadata.detector``.
        version: Model or library version (``metadata.detector_version``).
        batch_size: Images (slices) per :meth:`detect` call.

    """

    name: str = "detector"
    version: str = ""
    batch_size: int = 8

    def detect(self, images: Sequence[np.ndarray], threshold: float) -> list[Boxes]:
        """One :class:`Boxes` per image, keeping detections scored above ``threshold``."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """What identifies this detector's answers (stored in, and checked against, checkpoints)."""
        return {"detector": self.name, "version": self.version}

    def close(self) -> None:
        """Release the model."""

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
