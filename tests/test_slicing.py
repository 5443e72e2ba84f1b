"""Sliced inference: SAHI's geometry and merge, batched over frames, equal to ``get_sliced_prediction``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from annotators.detectors.base import Boxes
from annotators.detectors.callable import CallableDetector
from annotators.slicing import SlicePlan, detect_frames, merge

sys.path.insert(0, str(Path(__file__).parent))
from pseudo_fixtures import blobs


def frame(seed: int, h: int = 480, w: int = 720) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    im = np.full((h, w, 3), (40, 110, 40), np.uint8)  # grass
    for _ in range(12):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        cv2.rectangle(im, (x, y), (x + int(rng.integers(12, 60)), y + int(rng.integers(30, 90))), (200, 30, 30), -1)
    for _ in range(6):
        cv2.circle(im, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(3, 9)), (250, 250, 250), -1)
    return im


class FnModel:
    """A sahi DetectionModel around a callable (ENVIRONMENT.md: normalise shift_amount / full_shape)."""

    @staticmethod
    def make(fn, threshold: float):  # type: ignore[no-untyped-def]
        from sahi.models.base import DetectionModel
        from sahi.prediction import ObjectPrediction
        from sahi.utils.compatibility import fix_full_shape_list, fix_shift_amount_list

        class _Model(DetectionModel):
            def load_model(self) -> None:
                self.set_model(fn)

            def set_model(self, model, **kwargs) -> None:  # type: ignore[no-untyped-def]
                self.model = model

            def perform_inference(self, image) -> None:  # type: ignore[no-untyped-def]
                self._original_predictions = self.model([np.asarray(image)])

            def _create_object_prediction_list_from_original_predictions(self, shift_amount_list=None, full_shape_list=None):  # type: ignore[no-untyped-def]
                shifts = fix_shift_amount_list(shift_amount_list or [[0, 0]])
                shapes = fix_full_shape_list(full_shape_list)
                per_image = []
                for k, pred in enumerate(self._original_predictions):
                    preds = []
                    names = {n: i for i, n in enumerate(("ball", "player"))}
                    for box, score, label in zip(pred["boxes"].tolist(), pred["scores"].tolist(), pred["labels"], strict=True):
                        if score > self.confidence_threshold:
                            preds.append(
                                ObjectPrediction(
                                    bbox=box, category_id=names[label], category_name=label, score=score,
                                    shift_amount=shifts[k], full_shape=shapes[k] if shapes else None,
                                )
                            )
                    per_image.append(preds)
                self._object_prediction_list_per_image = per_image

        return _Model(confidence_threshold=threshold, load_at_init=True)


def sahi_boxes(model, im: np.ndarray, plan: SlicePlan, threshold: float, **kw) -> Boxes:  # type: ignore[no-untyped-def]
    from sahi.predict import get_sliced_prediction

    kind, metric = plan.merge_settings(threshold)
    res = get_sliced_prediction(
        im, model, slice_height=plan.size, slice_width=plan.size, overlap_height_ratio=plan.overlap,
        overlap_width_ratio=plan.overlap, perform_standard_pred=plan.full_frame, postprocess_type=kind,
        postprocess_match_metric=metric, postprocess_match_threshold=plan.match_threshold,
        postprocess_class_agnostic=plan.class_agnostic, verbose=0, **kw,
    )  # fmt: skip
    ps = res.object_prediction_list
    h, w = im.shape[:2]
    xy = np.array([p.bbox.to_xyxy() for p in ps], float).reshape(-1, 4)
    xy[:, [0, 2]] = xy[:, [0, 2]].clip(0, w)  # datakit clips the merged boxes to the frame
    xy[:, [1, 3]] = xy[:, [1, 3]].clip(0, h)
    return Boxes(xy, np.array([p.score.value for p in ps]), [str(p.category.name) for p in ps])


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def assert_same(ours: Boxes, theirs: Boxes, score_tol: float) -> None:
    """One-to-one match: same label, IoU >= 0.99, scores within ``score_tol``."""
    assert len(ours) == len(theirs), (len(ours), len(theirs))
    if not len(ours):
        return
    m = iou(ours.xyxy, theirs.xyxy)
    used: set[int] = set()
    for i in np.argsort(-ours.scores):
        ok = [
            j for j in np.argsort(-m[i])
            if j not in used and m[i, j] >= 0.99 and ours.labels[i] == theirs.labels[j]
            and abs(ours.scores[i] - theirs.scores[j]) <= score_tol
        ]  # fmt: skip
        assert ok, f"box {ours.xyxy[i].tolist()} {ours.labels[i]} {ours.scores[i]:.5f} has no SAHI twin"
        used.add(int(ok[0]))


@pytest.mark.parametrize(
    "plan",
    [
        SlicePlan(size=256, overlap=0.2, full_frame=True),  # SAHI's defaults: GREEDYNMM / IOS 0.5
        SlicePlan(size=200, overlap=0.25, full_frame=False, merge="NMM", match_metric="IOU", match_threshold=0.3),
        SlicePlan(size=256, overlap=0.2, full_frame=True, merge="NMS", match_metric="IOS", class_agnostic=True),
    ],
    ids=["greedynmm-ios", "nmm-iou", "nms-ios-agnostic"],
)
def test_merged_boxes_equal_sahi_get_sliced_prediction(plan: SlicePlan) -> None:
    threshold = 0.3
    det = CallableDetector(blobs, batch_size=5)
    frames = [frame(s) for s in range(3)]
    ours, crops = detect_frames(det, frames, plan, threshold)  # all frames' slices through the batches together
    model = FnModel.make(blobs, threshold)
    total = 0
    for im, got in zip(frames, ours, strict=True):
        want = sahi_boxes(model, im, plan, threshold, force_postprocess_type=True)
        assert_same(got, want, 1e-4)
        total += len(got)
    assert total > 20  # the scenes hold many objects, several cut by slice borders
    assert crops[0] == plan.count(480, 720) and crops[0] > 4


def test_low_threshold_switches_to_nms_like_sahi() -> None:
    plan = SlicePlan(size=256, overlap=0.2, full_frame=True)
    threshold = 0.05
    assert plan.merge_settings(threshold) == ("NMS", "IOU")
    ours, _ = detect_frames(CallableDetector(blobs), [frame(7)], plan, threshold)
    want = sahi_boxes(FnModel.make(blobs, threshold), frame(7), SlicePlan(size=256, full_frame=True, merge="GREEDYNMM"), threshold)
    assert_same(ours[0], want, 1e-4)  # sahi's own auto switch (force_postprocess_type=False) agrees


def test_merging_matters_on_slice_borders() -> None:
    """A ball cut by a slice border is one box after the merge, not two halves."""
    import cv2

    im = np.full((300, 500, 3), 40, np.uint8)
    cv2.circle(im, (195, 150), 12, (255, 255, 255), -1)  # 200 px slices, overlap 0.2: slices 0-200, 160-360, ...
    plan = SlicePlan(size=200, overlap=0.2, full_frame=False, merge="GREEDYNMM", match_metric="IOS")
    got, _ = detect_frames(CallableDetector(blobs), [im], plan, 0.1)
    assert len(got[0]) == 1
    np.testing.assert_allclose(got[0].xyxy[0], [183, 138, 208, 163])
    unmerged = SlicePlan(size=200, overlap=0.2, merge="NMS", match_metric="IOU", match_threshold=0.99)
    assert len(detect_frames(CallableDetector(blobs), [im], unmerged, 0.1)[0][0]) > 1


def test_boxes_stay_inside_the_frame_and_threshold_is_strict() -> None:
    def edge(images):  # type: ignore[no-untyped-def]
        return [{"boxes": [[-5, -5, im.shape[1] + 9, 10], [1, 1, 5, 5]], "scores": [0.5, 0.2], "labels": ["a", "a"]} for im in images]

    got, _ = detect_frames(CallableDetector(edge), [np.zeros((100, 120, 3), np.uint8)], SlicePlan(), 0.2)
    assert got[0].xyxy.tolist() == [[0.0, 0.0, 120.0, 10.0]]  # 0.2 is not above 0.2


def test_plan_validation_and_merge_of_one_box() -> None:
    with pytest.raises(ValueError, match="overlap"):
        SlicePlan(size=640, overlap=1.0)
    with pytest.raises(ValueError, match="merge"):
        SlicePlan(size=640, merge="WBF")
    one = Boxes(np.array([[0, 0, 1, 1]]), np.array([0.5]), ["x"])
    assert merge(one, SlicePlan(size=64), 0.3) is one


@pytest.mark.slow
def test_tiny_rfdetr_equals_sahi_roboflow_wrapper() -> None:
    """The same random RF-DETR Nano through datakit's batched path and SAHI's own RF-DETR wrapper."""
    import torch
    from rfdetr import RFDETRNano
    from sahi.models.roboflow import RoboflowDetectionModel

    from annotators.detectors.rfdetr import RFDETRDetector

    torch.manual_seed(0)
    model = RFDETRNano(pretrain_weights=None, num_classes=2, device="cpu")
    threshold = 0.02
    det = RFDETRDetector(model, classes="player,ball", batch_size=8)
    plan = SlicePlan(size=320, overlap=0.2, full_frame=True)
    im = frame(3, h=400, w=560)
    ours, crops = detect_frames(det, [im], plan, threshold)
    peer = RoboflowDetectionModel(model=model, confidence_threshold=threshold, category_mapping={0: "player", 1: "ball"})
    want = sahi_boxes(peer, im, plan, threshold)
    assert crops == [5] and len(want) > 0
    # labels: sahi names by its category mapping; compare boxes and scores, labels mapped the same way
    want.labels = [lab if lab in ("player", "ball") else "?" for lab in want.labels]
    ours[0].labels = [lab if lab in ("player", "ball") else "?" for lab in ours[0].labels]
    assert_same(ours[0], want, 1e-4)
