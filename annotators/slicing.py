"""Sliced inference (SAHI's, batched over many frames): slice plan, one forward pass, SAHI's merge.

A :class:`SlicePlan` cuts each frame into overlapping windows with SAHI's own geometry
(:func:`sahi.slicing.get_slice_bboxes`), optionally adds the full frame (SAHI's
``perform_standard_pred``), and :func:`detect_frames` sends the windows of *all* frames of a batch
to the detector together (slices are views of their frame: no copies, no per-slice conversion).
Boxes are mapped back the way SAHI maps them (clipped at the slice's top-left and at the frame
size in slice coordinates, then shifted) and merged per frame with SAHI's postprocess classes
(:class:`sahi.postprocess.combine.GreedyNMMPostprocess`, ``NMMPostprocess``, ``NMSPostprocess``;
IoU or IoS match; per class unless ``class_agnostic``). So the merged boxes equal those of
``sahi.predict.get_sliced_prediction`` with the same model and settings (a test checks it); they
are finally clipped to the frame.

When ``merge`` is left unset, the choice is SAHI's: ``GREEDYNMM`` with IoS 0.5, switched to ``NMS``
with IoU below a detector threshold of 0.1 (merging many low-confidence boxes inflates them).

Examples:
    >>> plan = SlicePlan(size=640, overlap=0.2, full_frame=True)
    >>> plan.windows(1080, 1920)[:2], plan.count(1080, 1920)
    ([(0, 0, 640, 640), (512, 0, 1152, 640)], 9)
    >>> plan.merge_settings(0.05), plan.merge_settings(0.3)
    (('NMS', 'IOU'), ('GREEDYNMM', 'IOS'))
    >>> SlicePlan().count(1080, 1920)  # no slicing: the full frame only
    1

"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotators.detectors.base import Boxes, Detector

MERGES: tuple[str, ...] = ("GREEDYNMM", "NMM", "NMS")
"""SAHI's postprocess types."""
METRICS: tuple[str, ...] = ("IOS", "IOU")
"""Box match metrics: intersection over the smaller box, or over the union."""
LOW_CONFIDENCE = 0.1
"""SAHI's ``LOW_MODEL_CONFIDENCE``: below it the default merge becomes NMS/IoU."""


@functools.lru_cache(maxsize=64)
def _windows(h: int, w: int, size: int, overlap: float) -> tuple[tuple[int, int, int, int], ...]:
    from sahi.slicing import get_slice_bboxes

    boxes = get_slice_bboxes(
        image_height=h,
        image_width=w,
        slice_height=size,
        slice_width=size,
        auto_slice_resolution=False,
        overlap_height_ratio=overlap,
        overlap_width_ratio=overlap,
    )
    return tuple((int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in boxes)


@dataclass(frozen=True)
class SlicePlan:
    """How frames are cut and how the slices' boxes are merged.

    Attributes:
        size: Slice side in pixels; ``None`` runs the detector on the full frame only.
        overlap: Overlap ratio of neighbouring slices (both directions).
        full_frame: Also run the full frame (when a frame has more than one slice).
        merge: ``GREEDYNMM``, ``NMM`` or ``NMS``; ``None`` for SAHI's choice (see module doc).
        match_metric: ``IOS`` or ``IOU`` (``None``: with ``merge``, SAHI's default IOS).
        match_threshold: Overlap from which two boxes match.
        class_agnostic: Merge boxes of different classes too.

    """

    size: int | None = None
    overlap: float = 0.2
    full_frame: bool = False
    merge: str | None = None
    match_metric: str | None = None
    match_threshold: float = 0.5
    class_agnostic: bool = False

    def __post_init__(self) -> None:
        if self.size is not None and self.size < 32:
            raise ValueError(f"expected a slice size >= 32 pixels, got {self.size}")
        if not 0 <= self.overlap < 1:
            raise ValueError(f"expected 0 <= overlap < 1, got {self.overlap}")
        if self.merge is not None and self.merge not in MERGES:
            raise ValueError(f"expected merge in {MERGES}, got {self.merge!r}")
        if self.match_metric is not None and self.match_metric not in METRICS:
            raise ValueError(f"expected match metric in {METRICS}, got {self.match_metric!r}")
        if not 0 < self.match_threshold <= 1:
            raise ValueError(f"expected 0 < match threshold <= 1, got {self.match_threshold}")

    def windows(self, h: int, w: int) -> list[tuple[int, int, int, int]]:
        """The slice boxes ``(x1, y1, x2, y2)`` of an ``h`` × ``w`` frame (the full frame without slicing)."""
        if self.size is None:
            return [(0, 0, w, h)]
        return list(_windows(int(h), int(w), int(self.size), float(self.overlap)))

    def crops(self, h: int, w: int) -> list[tuple[int, int, int, int]]:
        """What the detector sees for one frame: the windows, plus the full frame when asked for."""
        wins = self.windows(h, w)
        if self.size is not None and self.full_frame and len(wins) > 1:
            wins = [*wins, (0, 0, w, h)]
        return wins

    def count(self, h: int, w: int) -> int:
        """Detector inputs per frame."""
        return len(self.crops(h, w))

    def merge_settings(self, threshold: float) -> tuple[str, str]:
        """``(postprocess type, match metric)`` for a detector threshold."""
        if self.merge is None and threshold < LOW_CONFIDENCE:
            return "NMS", "IOU"
        return self.merge or "GREEDYNMM", self.match_metric or "IOS"

    def describe(self) -> dict[str, Any]:
        """JSON-able description (checkpoint header, dataset info)."""
        return {
            "size": self.size, "overlap": self.overlap, "full_frame": self.full_frame, "merge": self.merge,
            "match_metric": self.match_metric, "match_threshold": self.match_threshold,
            "class_agnostic": self.class_agnostic,
        }  # fmt: skip


@functools.lru_cache(maxsize=16)
def _postprocess(kind: str, metric: str, threshold: float, agnostic: bool) -> Any:
    from sahi.postprocess.combine import GreedyNMMPostprocess, NMMPostprocess, NMSPostprocess

    cls = {"GREEDYNMM": GreedyNMMPostprocess, "NMM": NMMPostprocess, "NMS": NMSPostprocess}[kind]
    return cls(match_threshold=threshold, match_metric=metric, class_agnostic=agnostic)


def merge(boxes: Boxes, plan: SlicePlan, threshold: float) -> Boxes:
    """Merge one frame's boxes (from every crop) with SAHI's postprocess for ``plan``.

    Examples:
        >>> b = Boxes(np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]]),
        ...           np.array([0.9, 0.8, 0.7]), ["ball", "ball", "ball"])
        >>> m = merge(b, SlicePlan(size=64, merge="NMS", match_metric="IOU"), 0.3)
        >>> m.xyxy.tolist(), m.scores.tolist()
        ([[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]], [0.9, 0.7])

    """
    if len(boxes) <= 1:
        return boxes
    from sahi.prediction import ObjectPrediction

    kind, metric = plan.merge_settings(threshold)
    ids: dict[str, int] = {}
    preds = [
        ObjectPrediction(
            bbox=box, category_id=ids.setdefault(label, len(ids)), category_name=label, score=score,
            shift_amount=[0, 0], full_shape=None,
        )
        for box, score, label in zip(boxes.xyxy.tolist(), boxes.scores.tolist(), boxes.labels, strict=True)
    ]  # fmt: skip
    kept = _postprocess(kind, metric, float(plan.match_threshold), bool(plan.class_agnostic))(preds)
    if not kept:
        return Boxes.empty()
    return Boxes(
        np.array([p.bbox.to_xyxy() for p in kept], dtype=np.float64),
        np.array([float(p.score.value) for p in kept], dtype=np.float64),
        [str(p.category.name) for p in kept],
    )


def _to_frame(b: Boxes, x0: int, y0: int, h: int, w: int) -> Boxes:
    """Slice boxes in frame pixels, the way SAHI maps them (clip at 0 and at the frame size, then shift)."""
    if not len(b):
        return b
    xy = b.xyxy.copy()
    xy[:, 0:2] = np.maximum(xy[:, 0:2], 0)
    xy[:, 2] = np.minimum(xy[:, 2], w)
    xy[:, 3] = np.minimum(xy[:, 3], h)
    xy += (x0, y0, x0, y0)
    ok = (xy[:, 2] >= xy[:, 0]) & (xy[:, 3] >= xy[:, 1])
    return Boxes(xy, b.scores, b.labels).keep(ok) if not ok.all() else Boxes(xy, b.scores, b.labels)


def detect_frames(
    detector: Detector, frames: Sequence[np.ndarray], plan: SlicePlan, threshold: float
) -> tuple[list[Boxes], list[int]]:
    """Detect on every crop of every frame in batches of ``detector.batch_size``, then map back and merge.

    Args:
        detector: The detector.
        frames: RGB ``uint8`` frames ``(H, W, 3)``.
        plan: Slicing and merging.
        threshold: Detector score threshold (boxes scored above it are kept).

    Returns:
        The merged boxes of each frame (clipped to the frame), and the crop count of each frame.

    Examples:
        >>> from annotators.detectors.callable import CallableDetector
        >>> det = CallableDetector("annotators.detectors.callable:_example")  # one box per whole crop
        >>> boxes, crops = detect_frames(det, [np.zeros((100, 150, 3), np.uint8)], SlicePlan(size=64), 0.3)
        >>> crops, len(boxes[0])  # 2 x 3 slices of 64 px; their whole-slice boxes overlap too little to merge
        ([6], 6)

    """
    inputs: list[np.ndarray] = []
    where: list[tuple[int, int, int]] = []
    counts = []
    for f, frame in enumerate(frames):
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame {f}: expected an (H, W, 3) RGB array, got shape {frame.shape}")
        h, w = frame.shape[:2]
        crops = plan.crops(h, w)
        counts.append(len(crops))
        for x1, y1, x2, y2 in crops:
            inputs.append(frame[y1:y2, x1:x2] if (x2 - x1, y2 - y1) != (w, h) else frame)
            where.append((f, x1, y1))
    outs: list[Boxes] = []
    bs = max(1, int(detector.batch_size))
    for k in range(0, len(inputs), bs):
        chunk = inputs[k : k + bs]
        got = detector.detect(chunk, threshold)
        if len(got) != len(chunk):
            raise RuntimeError(f"detector {detector.name} returned {len(got)} results for {len(chunk)} images")
        outs.extend(got)
    per_frame: list[list[Boxes]] = [[] for _ in frames]
    for (f, x0, y0), b in zip(where, outs, strict=True):
        h, w = frames[f].shape[:2]
        per_frame[f].append(_to_frame(b, x0, y0, h, w))
    merged = []
    for f, parts in enumerate(per_frame):
        h, w = frames[f].shape[:2]
        allb = Boxes(
            np.concatenate([p.xyxy for p in parts]) if parts else np.zeros((0, 4)),
            np.concatenate([p.scores for p in parts]) if parts else np.zeros(0),
            [lab for p in parts for lab in p.labels],
        )
        out = merge(allb, plan, threshold) if plan.size is not None else allb
        if len(out):
            out.xyxy[:, [0, 2]] = out.xyxy[:, [0, 2]].clip(0, w)
            out.xyxy[:, [1, 3]] = out.xyxy[:, [1, 3]].clip(0, h)
        merged.append(out)
    return merged, counts
