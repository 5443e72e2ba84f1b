"""``datakit pseudo-label``: boxes with scores, provenance, resumable after kill -9, COCO export, ghost balls."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

import datakit
from annotators.detectors.callable import CallableDetector
from annotators.pseudo import pseudo_label
from annotators.slicing import SlicePlan
from datakit.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from pseudo_fixtures import GHOST_FRAME, ball_at, blobs, frames_dataset

FIXTURES = str(Path(__file__).parent / "pseudo_fixtures.py")


def _cli(capsys, *args: str) -> dict:  # type: ignore[no-untyped-def]
    rc = main(["pseudo-label", *args, "--json", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return json.loads(captured.out)


def test_cli_labels_frames_with_scores_provenance_and_counts_unreadable(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    root = frames_dataset(tmp_path / "frames", n=8, corrupt=3)
    out = tmp_path / "pseudo"
    payload = _cli(
        capsys, str(root), "--detector", f"{FIXTURES}:blobs", "--slice", "128", "--overlap", "0.2", "--full-frame",
        "--merge", "GREEDYNMM", "--out", str(out),
    )  # fmt: skip
    assert payload["statuses"] == {"ok": 7, "error": 1} and payload["unreadable"] == 1
    assert "f00003.png" in next(iter(payload["errors"])) and "decode" in next(iter(payload["errors"].values()))
    assert payload["slices_per_frame"] == [10]  # 3 x 3 slices of 128 px on 320 x 240, + the full frame
    ds = datakit.load(out)
    assert len(ds) == 8
    s = ds[0]
    assert s.source == "pseudo"
    assert s.metadata["detector"].endswith("pseudo_fixtures.py:blobs")
    assert s.metadata["threshold"] == 0.05 and s.metadata["slices"] == 10 and "detector_version" in s.metadata
    assert s.metadata["video"] == "match.mp4" and s.metadata["frame_index"] == 0  # frame metadata kept
    labels = sorted(d.label for d in s.detections)
    # merged across slices (a sliver SAHI's greedy merge keeps apart on a score tie may remain: same as SAHI)
    assert labels.count("ball") == 1 and 2 <= labels.count("player") <= 3
    assert all(d.score is not None and 0 < d.score <= 1 for d in s.detections)
    ball = next(d for d in s.detections if d.label == "ball")
    cx, cy = ball_at(0)
    assert abs((ball.box[0] + ball.box[2]) / 2 - cx) < 1 and abs((ball.box[1] + ball.box[3]) / 2 - cy) < 1
    bad = ds[3]
    assert bad.source == "real" and bad.detections == [] and bad.metadata["pseudo_status"] == "error"
    assert 14 <= payload["boxes"]["player"] <= 21 and 7 <= payload["boxes"]["ball"] <= 10


def test_export_to_coco_keeps_scores_in_rfdetr_layout(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from pycocotools.coco import COCO

    root = frames_dataset(tmp_path / "frames", n=6, split="train")
    out = tmp_path / "pseudo"
    _cli(capsys, str(root), "--detector", f"{FIXTURES}:blobs", "--out", str(out))
    coco = tmp_path / "coco"
    assert main(["convert", str(out), "--to", "coco", "--out", str(coco)]) == 0
    ann = coco / "train" / "_annotations.coco.json"
    assert ann.is_file()
    c = COCO(str(ann))
    anns = c.loadAnns(c.getAnnIds())
    assert len(anns) == 6 * 3 + 1 and all(0 < a["score"] <= 1 for a in anns)
    assert sorted(x["name"] for x in c.loadCats(c.getCatIds())) == ["ball", "player"]
    # RF-DETR's own dataset reader takes the layout as training input
    from rfdetr.datasets.coco import CocoDetection

    rd = CocoDetection(str(coco / "train"), str(ann), transforms=None)
    img, target = rd[0]
    assert len(target["boxes"]) == 3 and img.size == (320, 240)


def test_ghost_ball_is_tagged_not_deleted(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    root = frames_dataset(tmp_path / "frames", n=12)
    out = tmp_path / "pseudo"
    payload = _cli(capsys, str(root), "--detector", f"{FIXTURES}:blobs", "--ball-track", "ball", "--out", str(out))
    g = payload["ghost"]
    assert g["suspects"] == 1 and g["checked"] == g["tracked"] >= 10
    ds = datakit.load(out)
    ghost = ds[GHOST_FRAME]
    assert "ghost_suspect" in ghost.tags
    balls = [d for d in ghost.detections if d.label == "ball"]
    assert len(balls) == 2  # nothing deleted
    sus = [d for d in balls if d.attributes.get("ghost_suspect")]
    assert len(sus) == 1 and sus[0].box[0] > 280 and sus[0].attributes["ghost_residual"] > 12
    real = next(d for d in balls if not d.attributes.get("ghost_suspect"))
    assert real.attributes["ghost_residual"] < 2
    assert sum("ghost_suspect" in s.tags for s in ds) == 1


def test_rerun_resumes_and_settings_change_is_refused(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    root = frames_dataset(tmp_path / "frames", n=6)
    out = tmp_path / "pseudo"
    args = [str(root), "--detector", f"{FIXTURES}:blobs", "--out", str(out)]
    first = _cli(capsys, *args)
    assert first["labelled_now"] == 6
    again = _cli(capsys, *args)
    assert again["resumed"] == 6 and again["labelled_now"] == 0 and again["boxes"] == first["boxes"]
    rc = main(["pseudo-label", *args, "--threshold", "0.5"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "checkpoint was started with" in err and "\n" not in err


def test_bad_input_is_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    root = frames_dataset(tmp_path / "frames", n=2)
    cases = [
        (["--detector", "yolo"], "unknown detector 'yolo'"),
        (["--detector", "nosuch.module:fn"], "cannot import nosuch.module"),
        (["--detector", f"{FIXTURES}:nothing"], "has no attribute 'nothing'"),
        (["--detector", "hog", "--classes", "a,b"], "--classes applies to detector rfdetr, not 'hog'"),
        (["--detector", "hog", "--threshold", "1.5"], "--threshold must be in [0, 1)"),
        (["--detector", "hog", "--full-frame"], "--full-frame and --merge apply with --slice"),
        (["--detector", "missing.pth"], "RF-DETR checkpoint not found"),
    ]
    for extra, message in cases:
        rc = main(["pseudo-label", str(root), *extra, "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err.strip()
        assert rc == 1 and err.startswith("datakit pseudo-label: error:") and message in err and "\n" not in err, err


def test_broken_detector_output_fails_fast_with_the_reason(tmp_path: Path) -> None:
    root = frames_dataset(tmp_path / "frames", n=4)

    def wrong(images):  # type: ignore[no-untyped-def]
        return [{"boxes": [[0, 0, 1, 1]], "scores": [2.0], "labels": ["x"]} for _ in images]

    with pytest.raises(ValueError, match=r"image 0: expected scores in \[0, 1\], got 2.0"):
        pseudo_label(datakit.load(root), CallableDetector(wrong), frames_per_batch=1, progress=False)


def test_python_api_does_not_change_its_input(tmp_path: Path) -> None:
    ds = datakit.load(frames_dataset(tmp_path / "frames", n=3))
    run = pseudo_label(ds, CallableDetector(blobs), plan=SlicePlan(size=128, full_frame=True), progress=False)
    assert sum(len(s.detections) for s in ds) == 0 and set(ds.column("source")) == {"real"}
    assert sum(len(s.detections) for s in run.dataset) >= 9  # NMS/IoU at 0.05 keeps slice slivers, as SAHI does
    assert run.dataset.info["pseudo_label"]["plan"]["size"] == 128


_RUN = """
import sys
from datakit.cli import main
sys.exit(main(["pseudo-label", sys.argv[1], "--detector", sys.argv[2], "--frames-per-batch", "2",
               "--out", sys.argv[3], "--no-progress", "--json"]))
"""


@pytest.mark.slow
def test_kill_9_mid_run_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    root = frames_dataset(tmp_path / "frames", n=40)
    out = tmp_path / "pseudo"
    script = tmp_path / "run.py"
    script.write_text(_RUN)
    ck = out / "_pseudo" / "pseudo.jsonl"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, str(script), str(root), f"{FIXTURES}:slow_blobs", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if ck.exists() and ck.read_bytes().count(b"\n") >= 1 + 3 * 2:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "unsplit").exists()  # nothing written but the checkpoint
    data = ck.read_bytes()
    done = [orjson.loads(x)["id"] for x in data[: data.rfind(b"\n") + 1].splitlines()[1:]]
    assert 6 <= len(done) < 40 and len(done) == len(set(done))
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    payload = json.loads(res.stdout)
    assert payload["resumed"] == len(done) and payload["labelled_now"] == 40 - len(done)
    rows = [orjson.loads(x) for x in ck.read_bytes().splitlines()[1:]]
    assert sorted(r["id"] for r in rows) == sorted(datakit.load(root).ids)  # every frame exactly once
    ds = datakit.load(out)
    assert len(ds) == 40 and all(len(s.detections) >= 2 for s in ds)
