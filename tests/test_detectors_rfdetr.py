"""RF-DETR: the tiny random Nano (downloads nothing), checkpoints through the same loader, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("rfdetr")


@pytest.fixture(scope="module")
def nano():  # type: ignore[no-untyped-def]
    from rfdetr import RFDETRNano

    torch.manual_seed(0)
    return RFDETRNano(pretrain_weights=None, num_classes=2, device="cpu")


def test_batched_detect_matches_one_by_one_predict(nano) -> None:  # type: ignore[no-untyped-def]
    from annotators.detectors.rfdetr import RFDETRDetector

    det = RFDETRDetector(nano, classes="player,ball", device="cpu")
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    crops = [frame[0:200, 0:200], frame[100:300, 200:400], frame]  # views, as slicing passes them
    got = det.detect(crops, 0.01)
    assert len(got) == 3
    for crop, b in zip(crops, got, strict=True):
        want = nano.predict(np.ascontiguousarray(crop), threshold=0.01)
        assert len(b) == len(want)
        np.testing.assert_allclose(b.xyxy, want.xyxy, atol=1e-3)
        np.testing.assert_allclose(b.scores, want.confidence, atol=1e-4)
        assert set(b.labels) <= {"player", "ball", "__background__"}  # random weights hit the no-object slot too
    cfg = det.config()
    assert cfg["detector"] == "rfdetr" and cfg["classes"] == ["player", "ball"] and cfg["resolution"] == 384
    assert det.version.startswith("rfdetr-")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_exported_backends_match_predict(nano, backend: str) -> None:  # type: ignore[no-untyped-def]
    """rfdetr's ONNX export on ONNX Runtime or OpenVINO (float32), with rfdetr's pre/postprocessing: predict's boxes."""
    from annotators.detectors.rfdetr import RFDETRDetector

    pytest.importorskip("onnxruntime" if backend == "onnx" else "openvino")
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    crops = [frame[0:200, 0:200], frame[100:300, 200:400], frame]
    ref = RFDETRDetector(nano, device="cpu").detect(crops, 0.01)
    with RFDETRDetector(nano, device="cpu", backend=backend) as fast:
        assert fast.config()["backend"] == backend
        got = fast.detect(crops, 0.01)
    # compare the confident part: near the top-k cut of 300 queries float noise may swap boxes
    cut = float(np.sort(np.concatenate([r.scores for r in ref]))[-60])
    for a, b in zip(ref, got, strict=True):
        a, b = a.keep(a.scores > cut + 1e-3), b.keep(b.scores > cut + 1e-3)
        assert len(a) == len(b) > 0
        # equal scores can come out in either order: match rows one to one
        used: set[int] = set()
        for box, score in zip(a.xyxy, a.scores, strict=True):
            close = np.flatnonzero((np.abs(b.scores - score) <= 1e-4) & (np.abs(b.xyxy - box).max(1) <= 0.05))
            free = [j for j in close.tolist() if j not in used]
            assert free, f"no {backend} twin for {box.tolist()} {score:.5f}"
            used.add(free[0])
        assert sorted(a.labels) == sorted(b.labels)


def test_bf16_runs_reduced_precision_and_says_so(nano) -> None:  # type: ignore[no-untyped-def]
    """bf16 (autocast) gives the float32 model's confident boxes with scores close, not equal; the config says bf16."""
    from annotators.detectors.rfdetr import RFDETRDetector

    rng = np.random.default_rng(2)
    frame = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    ref = RFDETRDetector(nano, device="cpu")
    fast = RFDETRDetector(nano, device="cpu", precision="bf16")
    assert "precision" not in ref.config() and fast.config()["precision"] == "bf16"  # checkpoints tell them apart
    a, b = ref.detect([frame], 0.0)[0], fast.detect([frame], 0.0)[0]
    assert len(b) > 0 and np.issubdtype(b.scores.dtype, np.floating)
    top = a.xyxy[np.argmax(a.scores)]
    lt, rb = np.maximum(top[:2], b.xyxy[:, :2]), np.minimum(top[2:], b.xyxy[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    union = np.prod(top[2:] - top[:2]) + np.prod(b.xyxy[:, 2:] - b.xyxy[:, :2], axis=1) - inter
    iou_best = float((inter / union).max())
    assert iou_best > 0.8  # the float32 model's best box is found at bf16 too
    assert abs(float(a.scores.max()) - float(b.scores.max())) < 0.1
    assert not np.array_equal(np.sort(a.scores)[-20:], np.sort(b.scores)[-20:])  # reduced precision really ran


def test_missing_checkpoint_and_bad_settings_are_clear_errors(tmp_path: Path) -> None:
    from annotators.detectors.rfdetr import RFDETRDetector, load_model

    with pytest.raises(ValueError, match="backend"):
        RFDETRDetector("nano", backend="tensorrt")
    with pytest.raises(ValueError, match="precision"):
        RFDETRDetector("nano", precision="fp8")
    with pytest.raises(ValueError, match="bf16 needs backend torch or openvino"):
        RFDETRDetector("nano", backend="onnx", precision="bf16")

    with pytest.raises(FileNotFoundError, match="RF-DETR checkpoint not found"):
        load_model(str(tmp_path / "none.pth"))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="not a loadable RF-DETR checkpoint"):
        load_model(str(bad))


@pytest.mark.slow
def test_cli_with_a_local_checkpoint_and_slices(nano, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import sys

    import datakit
    from datakit.cli import main

    sys.path.insert(0, str(Path(__file__).parent))
    from pseudo_fixtures import frames_dataset

    ck = tmp_path / "nano.pth"
    torch.save(
        {"model": nano.model.model.state_dict(), "model_name": "RFDETRNano", "args": {"num_classes": 2, "class_names": ["player", "ball"]}},
        ck,
    )
    root = frames_dataset(tmp_path / "frames", n=2)
    out = tmp_path / "pseudo"
    args = ["pseudo-label", str(root), "--detector", str(ck), "--device", "cpu", "--threshold", "0.01"]
    rc = main([*args, "--slice", "160", "--full-frame", "--out", str(out), "--json", "--no-progress"])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["detector"] == "rfdetr" and payload["statuses"] == {"ok": 2}
    assert payload["slices_per_frame"] == [7]  # 3 x 2 slices of 160 px on 320 x 240, + the full frame
    ds = datakit.load(out)
    assert set(ds.detections_table()["label"]) <= {"player", "ball", "__background__"}
    assert ds[0].metadata["detector_version"].startswith("rfdetr-")
