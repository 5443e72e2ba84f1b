"""The RF-DETR detector recipe: Roboflow COCO export, two phases, pycocotools metrics, best by small mAP, ONNX."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("rfdetr")
pytest.importorskip("pytorch_lightning")
pytest.importorskip("onnxruntime")

from recipes._training import RecipeError
from recipes.detector import DetectorConfig, coco_metrics, selection_score, train


@pytest.fixture(scope="module")
def ball_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A native JSONL dataset: players (medium boxes) and a ball (small) on grass, train/valid/test."""
    from PIL import Image

    from datakit import Dataset, Detection, Sample

    root = tmp_path_factory.mktemp("ball")
    rng = np.random.default_rng(0)
    samples = []
    for split in ("train", "valid", "test"):
        (root / split).mkdir()
        for i in range(4):
            img = np.full((96, 128, 3), (40, 120, 40), np.uint8)
            x, y = int(rng.integers(5, 80)), int(rng.integers(5, 40))
            img[y : y + 40, x : x + 30] = (200, 50, 50)
            dets = [Detection("player", (x, y, x + 30, y + 40))]
            if i % 2 == 0:  # half the images hold a ball
                bx, by = int(rng.integers(5, 115)), int(rng.integers(5, 85))
                img[by : by + 6, bx : bx + 6] = 255
                dets.append(Detection("ball", (bx, by, bx + 6, by + 6)))
            rel = f"{split}/{i}.jpg"
            Image.fromarray(img).save(root / rel)
            samples.append(Sample(rel, split=split, width=128, height=96, detections=dets))
    Dataset.from_samples(samples, root).save(root)
    return root


def test_coco_metrics_of_the_ground_truth_is_one(tmp_path: Path) -> None:
    ann = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 10, 6, 6], "area": 36, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 5, "bbox": [30, 30, 40, 50], "area": 2000, "iscrowd": 0},
        ],
        "categories": [{"id": 3, "name": "ball"}, {"id": 5, "name": "player"}],
    }
    path = tmp_path / "a.json"
    path.write_text(json.dumps(ann))
    dets = [
        {"image_id": 1, "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9} for a in ann["annotations"]
    ]
    m = coco_metrics(path, dets, {3: "ball", 5: "player"})
    assert m["map"] == pytest.approx(1.0) and m["map_small"] == pytest.approx(1.0)
    assert m["map_medium"] == pytest.approx(1.0) and m["map_large"] is None  # no large object
    assert m["per_class_ap"] == {"ball": pytest.approx(1.0), "player": pytest.approx(1.0)}
    missed = coco_metrics(path, dets[1:], {3: "ball", 5: "player"})
    assert missed["map_small"] == 0.0 and missed["per_class_ap"]["ball"] == 0.0
    assert coco_metrics(path, [], {3: "ball", 5: "player"})["map"] == 0.0
    # selection: small-object mAP first, overall mAP when there are no small objects
    assert selection_score({"map": 0.5, "map_small": 0.2}) < selection_score({"map": 0.3, "map_small": 0.3})
    assert selection_score({"map": 0.4, "map_small": None}) == (0.4, 0.4)


def test_bad_datasets_are_refused(ball_data: Path, tmp_path: Path) -> None:
    from datakit import Dataset, Sample

    no_valid = tmp_path / "nv"
    Dataset.from_samples([Sample("a.jpg", split="train")], no_valid).save(no_valid, images="none")
    with pytest.raises(RecipeError, match="no valid split"):
        train(DetectorConfig(data=str(no_valid), out=str(tmp_path / "r1")))
    with pytest.raises(RecipeError, match="--size"):
        train(DetectorConfig(data=str(ball_data), out=str(tmp_path / "r2"), size="huge"))
    with pytest.raises(RecipeError, match="--ball-class"):
        train(DetectorConfig(data=str(ball_data), out=str(tmp_path / "r3"), ball_weight=3.0, ball_class="puck",
                             phase1_epochs=1, phase2_epochs=0, device="cpu"))  # fmt: skip


@pytest.mark.slow
def test_two_phase_training_writes_metrics_best_and_onnx(ball_data: Path, tmp_path: Path) -> None:
    import torch

    run = tmp_path / "run"
    cfg = DetectorConfig(data=str(ball_data), out=str(run), resolution=64, batch_size=1, grad_accum=1,
                         phase1_epochs=1, phase2_epochs=1, ball_weight=3.0, multi_scale=False, workers=0,
                         device="cpu")  # fmt: skip
    result = train(cfg)
    # the export is datakit's Roboflow layout
    for split in ("train", "valid", "test"):
        coco = json.loads((run / "coco" / split / "_annotations.coco.json").read_text())
        assert len(coco["images"]) == 4 and {c["name"] for c in coco["categories"]} == {"ball", "player"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["complete"] and [h["phase"] for h in metrics["history"]] == [1, 2]
    keys = {"map", "map_50", "map_75", "map_small", "map_medium", "map_large", "per_class_ap"}
    assert all(keys <= set(h) for h in metrics["history"])
    assert "ball" in metrics["history"][0]["per_class_ap"]
    best = max(metrics["history"], key=selection_score)
    assert metrics["best_epoch"] == best["epoch"] == result["best_epoch"]
    assert metrics["sampler"] == {"weighted": True, "ball_weight": 3.0, "images_with_ball": 2, "images": 4}
    ckpt = torch.load(run / "best.pth", map_location="cpu", weights_only=False)
    assert ckpt["epoch"] == best["epoch"] and "class_embed.bias" in ckpt["model"]
    assert (run / "phase1" / "last_ema.pth").is_file()  # phase 2 started from phase 1's EMA weights
    assert metrics["onnx"]["outputs"]["dets"][-1] == 4
    assert (run / "model.onnx").stat().st_size > 1_000_000
    with pytest.raises(RecipeError, match="pass --resume"):
        train(cfg)


@pytest.mark.slow
def test_resume_after_kill_finishes_every_epoch_once(ball_data: Path, tmp_path: Path) -> None:
    """``kill -9`` in phase 1, then ``--resume``: both phases finish, each epoch scored exactly once."""
    import os
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    args = ["--data", str(ball_data), "--out", str(run), "--resolution", "64", "--batch-size", "1", "--grad-accum", "1",
            "--phase1-epochs", "2", "--phase2-epochs", "1", "--no-multi-scale", "--workers", "0", "--device", "cpu"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "recipes.detector", *args], env=env, cwd=Path(__file__).parents[1],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            state = run / "state.json"
            if state.is_file() and json.loads(state.read_text() or "{}").get("history"):
                break  # the first epoch is scored: phase 1 is under way
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert not (run / "metrics.json").is_file() or not json.loads((run / "metrics.json").read_text())["complete"]
    with pytest.raises(RecipeError, match="pass --resume"):
        train(DetectorConfig(data=str(ball_data), out=str(run), resolution=64, batch_size=1, grad_accum=1,
                             phase1_epochs=2, phase2_epochs=1, multi_scale=False, workers=0, device="cpu"))  # fmt: skip
    result = train(DetectorConfig(data=str(ball_data), out=str(run), resolution=64, batch_size=1, grad_accum=1,
                                  phase1_epochs=2, phase2_epochs=1, multi_scale=False, workers=0, device="cpu",
                                  resume=True))  # fmt: skip
    assert result["complete"]
    assert [(h["epoch"], h["phase"]) for h in result["history"]] == [(0, 1), (1, 1), (2, 2)]
    assert (run / "best.pth").is_file() and (run / "model.onnx").is_file()
