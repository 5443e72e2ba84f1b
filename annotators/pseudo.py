"""The pseudo-label run: a detector over every frame, sliced and batched, checkpointed, resumable.

:func:`pseudo_label` is :func:`annotators.base.annotate` with a :class:`PseudoLabeler`: frames are
decoded (OpenCV, straight to RGB arrays) one batch ahead in a worker thread while the detector
runs on the current batch; every batch's boxes are appended to a JSONL checkpoint and fsynced, so
a rerun after ``kill -9`` continues where it stopped without losing or repeating a frame. With
``scheduler=`` the frames go to Dask workers in batches (see :func:`annotators.base.annotate`);
each worker builds the detector once from its recipe (``detector.recipe``, set by the CLI; else a
pickled copy of the detector travels). An
unreadable frame is an ``error`` result (counted, reported, its sample kept unchanged); it never
stops the run. Memory stays flat in the number of frames: only one batch of pixels is alive, and
each frame's boxes are held as a few numbers.

:func:`apply_pseudo_labels` writes the boxes into a new dataset: each processed sample's
detections become the detector's (scores kept), samples with at least one box get ``source:
pseudo``, and every processed sample gets metadata ``detector``, ``detector_version``,
``threshold``, ``slices`` (detector inputs per frame) and ``pseudo_status``.

Examples:
    >>> import numpy as np, tempfile, pathlib
    >>> from PIL import Image
    >>> from datakit import Dataset, Sample
    >>> from annotators.detectors.callable import CallableDetector
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (32, 24)).save(root / "f0.png")
    >>> ds = Dataset.from_samples([Sample("f0.png"), Sample("missing.png")], root)
    >>> det = CallableDetector("annotators.detectors.callable:_example")
    >>> run = pseudo_label(ds, det, progress=False)
    >>> run.counts, run.dataset[0].source, run.dataset[0].detections[0].box
    ({'ok': 1, 'error': 1}, 'pseudo', (0.0, 0.0, 32.0, 24.0))
    >>> run.dataset[0].metadata["detector_version"], run.dataset[1].metadata["pseudo_status"]
    ('', 'error')

"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from annotators.base import Annotations, Annotator, Item, Recipe, Result, annotate
from annotators.detectors.base import Detector
from annotators.slicing import SlicePlan, detect_frames

if TYPE_CHECKING:
    from datakit.dataset import Dataset

DEFAULT_THRESHOLD = 0.05
"""Low enough for small, faint balls (real ball confidences average about 0.14)."""


def load_rgb(ds: Dataset, i: int) -> np.ndarray:
    """Decode sample ``i``'s image to an RGB ``uint8`` array with OpenCV.

    Raises:
        FileNotFoundError: The file is missing.
        OSError: The file cannot be decoded.

    """
    import cv2

    path = ds.image_path(i)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise OSError(f"cannot decode image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class PseudoLabeler(Annotator):
    """An annotator whose answer per frame is the detector's merged boxes.

    Args:
        detector: The detector (not closed here).
        plan: Slicing and merging (default: the full frame only).
        threshold: Keep detections scored above this.
        frames_per_batch: Frames whose crops go through the detector together (and the
            checkpoint granularity).

    """

    name = "pseudo"
    fields = ("detections",)

    def __init__(
        self,
        detector: Detector,
        *,
        plan: SlicePlan | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        frames_per_batch: int = 4,
    ) -> None:
        if not 0 <= threshold < 1:
            raise ValueError(f"expected 0 <= threshold < 1, got {threshold}")
        if frames_per_batch < 1:
            raise ValueError(f"expected frames_per_batch >= 1, got {frames_per_batch}")
        self.detector = detector
        self.plan = plan or SlicePlan()
        self.threshold = float(threshold)
        self.batch_size = int(frames_per_batch)

    def config(self) -> dict[str, Any]:
        """Checkpoint identity: the detector's, the threshold and the slice plan."""
        return {**super().config(), **self.detector.config(), "threshold": self.threshold, "plan": self.plan.describe()}

    def predict(self, prepared: Any, items: list[Item]) -> list[Result]:
        """Boxes for a batch of frames: ``values["detections"]`` is ``[[label, x1, y1, x2, y2, score], ...]``."""
        frames = [np.asarray(it.image) for it in items]
        boxes, crops = detect_frames(self.detector, frames, self.plan, self.threshold)
        out = []
        for it, b, n in zip(items, boxes, crops, strict=True):
            rows = [
                [lab, round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2), round(s, 6)]
                for (x1, y1, x2, y2), s, lab in zip(b.xyxy.tolist(), b.scores.tolist(), b.labels, strict=True)
            ]
            out.append(Result(it.id, "ok", {"detections": rows, "slices": n}, raw=f"{len(rows)} boxes"))
        return out


@dataclass
class PseudoRun:
    """The outcome of :func:`pseudo_label`.

    Attributes:
        dataset: The labelled dataset (a new one; the input is unchanged).
        annotations: The per-frame results (from this run and the checkpoint).
        counts: Frames per status (``ok``, ``error``).
        boxes: Detections written, per class.
        errors: Sample id → why it could not be labelled (unreadable frames).
        ghost: The ghost-ball report, when asked for.

    """

    dataset: Dataset
    annotations: Annotations
    counts: dict[str, int]
    boxes: dict[str, int]
    errors: dict[str, str] = field(default_factory=dict)
    ghost: dict[str, Any] | None = None


def apply_pseudo_labels(ds: Dataset, run: Annotations, labeler: PseudoLabeler) -> Dataset:
    """A new dataset with the detector's boxes on every frame that was labelled.

    Only public Dataset API is used (:attr:`Dataset.columns`, :meth:`Dataset.replace`).
    """
    from datakit.columns import Categorical, DetectionColumns

    cols = ds.columns
    d = cols.detections
    det_cfg = labeler.detector
    offsets = [0]
    boxes: list[Any] = []
    labels: list[str | None] = []
    scores: list[float] = []
    attrs: list[dict[str, Any] | None] = []
    sources = cols.sources.tolist()
    metadata: list[dict[str, Any] | None] = []
    old_boxes, old_labels, old_scores = d.boxes, d.labels.tolist(), d.scores
    for i, sid in enumerate(cols.ids):
        r = run.results.get(sid)
        md = dict(cols.metadata[i] or {})
        if r is not None and r.status == "ok":
            rows = r.values.get("detections") or []
            for lab, x1, y1, x2, y2, s in rows:
                boxes.append((x1, y1, x2, y2))
                labels.append(lab)
                scores.append(s)
                attrs.append(None)
            if rows:
                sources[i] = "pseudo"
            md.update(
                detector=det_cfg.name, detector_version=det_cfg.version, threshold=labeler.threshold,
                slices=int(r.values.get("slices") or 1), pseudo_status="ok",
            )  # fmt: skip
        else:  # not labelled (unreadable frame): keep what the sample had
            lo, hi = int(d.offsets[i]), int(d.offsets[i + 1])
            for k in range(lo, hi):
                boxes.append(tuple(old_boxes[k].tolist()))
                labels.append(old_labels[k])
                scores.append(float(old_scores[k]))
                attrs.append(d.attributes[k])
            if r is not None:
                md.update(
                    detector=det_cfg.name, pseudo_status=r.status, pseudo_error=next(iter(r.problems.values()), "")
                )
        offsets.append(len(boxes))
        metadata.append(md or None)
    dets = DetectionColumns(
        np.asarray(offsets, dtype=np.int64),
        np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        Categorical.from_values(labels),
        np.asarray(scores, dtype=np.float64),
        attrs,
    )
    info = {**ds.info, "pseudo_label": {**labeler.config()}}
    return ds.replace(detections=dets, sources=Categorical.from_values(sources), metadata=metadata, info=info)


def pseudo_label(
    ds: Dataset,
    detector: Detector,
    *,
    plan: SlicePlan | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    frames_per_batch: int = 4,
    checkpoint: str | Path | None = None,
    restart: bool = False,
    retry_errors: bool = False,
    progress: bool | None = None,
    ball_track: str | None = None,
    track_options: dict[str, Any] | None = None,
    scheduler: str | None = None,
    resources: dict[str, float] | None = None,
) -> PseudoRun:
    """Pseudo-label every frame of ``ds`` with ``detector``, resumably.

    Args:
        ds: The frames (any dataset; video frames carry ``metadata.video`` / ``frame_index``).
        detector: The detector.
        plan: Slicing and merging (default: full frame only).
        threshold: Keep detections scored above this (default 0.05).
        frames_per_batch: Frames per detector batch and per checkpoint write.
        checkpoint: JSONL checkpoint; a rerun with the same file and settings continues.
        restart: Discard the checkpoint.
        retry_errors: Try again the frames recorded as unreadable.
        progress: Progress bar (``None``: on a terminal).
        ball_track: Run the ghost-ball check for this class (see :mod:`annotators.ghostball`).
        track_options: Keyword arguments of :func:`annotators.ghostball.check_trajectories`.
        scheduler: Label the frames on Dask workers (``local:N``, ``tcp://HOST:PORT``; default
            ``DATAKIT_SCHEDULER``, else here); the result equals a local run's.
        resources: Dask worker resources per task (``{"GPU": 1}``; ``tcp://`` schedulers only).

    Returns:
        The labelled dataset and the counts.

    """
    labeler = PseudoLabeler(detector, plan=plan, threshold=threshold, frames_per_batch=frames_per_batch)
    recipe = getattr(detector, "recipe", None)
    if isinstance(recipe, Recipe):  # workers build the detector themselves, not unpickle this one
        options = {"plan": labeler.plan, "threshold": threshold, "frames_per_batch": frames_per_batch}
        labeler.recipe = Recipe("annotators.pseudo:PseudoLabeler", (recipe,), options)
    run = annotate(
        ds, labeler, checkpoint=checkpoint, restart=restart, retry_errors=retry_errors, progress=progress,
        load=load_rgb, scheduler=scheduler, resources=resources,
    )  # fmt: skip
    out = apply_pseudo_labels(ds, run, labeler)
    ghost = None
    if ball_track:
        from annotators.ghostball import check_trajectories

        out, ghost = check_trajectories(out, ball_track, **(track_options or {}))
    per_class: dict[str, int] = {}
    for r in run.results.values():
        for row in r.values.get("detections") or []:
            per_class[row[0]] = per_class.get(row[0], 0) + 1
    errors = {sid: next(iter(r.problems.values()), "") for sid, r in run.results.items() if r.status == "error"}
    return PseudoRun(out, run, run.counts(), dict(sorted(per_class.items())), errors, ghost)
