"""Review in FiftyOne and pull the edits back by datakit id; one test in a real headless Chromium."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import datakit
from datakit.cli import main
from datakit.review.diff import Box, Edit
from datakit.review.labels import mint_detection_ids, to_relative
from datakit.review.pull import merge
from tests.conftest import make_image, write_jsonl

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 200, 40), (200, 40, 200), (40, 200, 200)]


def _dataset(root: Path) -> Path:
    """Six 80×60 frames: a label, two boxes each, pseudo and real, metadata of mixed types."""
    rows: list[Any] = []
    for i, colour in enumerate(COLOURS):
        make_image(root / "train" / f"f{i}.png", size=(80, 60), color=colour)
        rows.append({
            "image": f"f{i}.png",
            "label": str(7 + i),
            "source": "pseudo" if i % 2 == 0 else "real",
            "metadata": {"video": "match1", "frame": i * 30, "fps": 25 if i else 25.5, "info": {"cam": i}},
            "detections": [
                {"label": "player", "bbox": [4, 4, 20, 40], "score": 0.9, "attributes": {"track": i}},
                {"label": "ball", "bbox": [40, 30, 44, 34], "score": 0.3},
            ],
        })  # fmt: skip
    rows[5]["detections"][0]["attributes"]["datakit_id"] = "kept-id"
    write_jsonl(root / "train" / "annotations.jsonl", rows)
    return root


def _rows(path: Path) -> list[bytes]:
    return (path / "train" / "annotations.jsonl").read_bytes().splitlines()


def test_merge_leaves_untouched_rows_byte_for_byte(tmp_path: Path) -> None:
    ds = datakit.load(_dataset(tmp_path / "ds"))
    sid = ds.ids[1]
    w, h = 80, 60
    ids = mint_detection_ids(sid, [None, None])
    edit = Edit(
        tags=["hard"], label="8", label_tags=[],
        boxes=[Box(ids[1], "ball", to_relative((42, 30, 46, 34), w, h)), Box(None, "referee", [0.5, 0.0, 0.25, 0.5])],
    )  # fmt: skip
    out, report = merge(ds, {sid: edit}, {sid: (w, h)}, reviewed_at="2026-12-01T00:00:00+00:00")
    assert report["samples_reviewed"] == 1 and report["boxes_moved"] == 1 and report["boxes_deleted"] == 1
    assert report["boxes_added"] == 1 and report["tags_added"] == 1 and report["labels_changed"] == 0
    s = out[1]
    assert s.tags == ["hard", "reviewed"] and s.source == "real"
    assert [d.box for d in s.detections] == [(42.0, 30.0, 46.0, 34.0), (40.0, 0.0, 60.0, 30.0)]
    assert [d.attributes["datakit_id"] for d in s.detections] == [ids[1], f"{sid}#r0"]
    assert s.detections[0].score is None and s.detections[0].attributes["pseudo_score"] == 0.3
    assert s.metadata["review_changes"]["boxes_deleted"] == [ids[0]]
    ds.save(tmp_path / "a", images="none")
    out.save(tmp_path / "b", images="none")
    a, b = _rows(tmp_path / "a"), _rows(tmp_path / "b")
    assert [k for k in range(len(a)) if a[k] != b[k]] == [1]
    assert ds[1].tags == [] and len(ds[1].detections) == 2  # the source is not changed


def test_review_command_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds_path = _dataset(tmp_path / "ds")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:  # the port is checked before anything is built
        assert main(["review", str(ds_path), "--port", str(s.getsockname()[1])]) == 1
    finally:
        s.close()
    err = capsys.readouterr().err.strip()
    assert "is in use" in err and "--port" in err and "\n" not in err
    assert main(["review", "--pull", "x"]) == 1 and "--out" in capsys.readouterr().err
    assert main(["review"]) == 1 and "expected a dataset PATH" in capsys.readouterr().err
    assert main(["review", str(ds_path), "--pull", "x", "--out", "y"]) == 1


def _wait_line(proc: subprocess.Popen, marker: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            seen.append(line)
            if marker in line:
                return line
        elif proc.poll() is not None:
            break
    raise AssertionError(f"no {marker!r} from the App process (rc {proc.poll()}): {''.join(seen)[-2000:]}")


@pytest.mark.slow
def test_round_trip_through_fiftyone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fo = pytest.importorskip("fiftyone")
    ds_path = _dataset(tmp_path / "ds")
    queue = tmp_path / "queue"
    assert main(["select", str(ds_path), "--budget", "4", "--band", "0.1,0.4", "--features", "phash",
                 "--out", str(queue), "--images", "none"]) == 0  # fmt: skip
    q_ids = [r["id"] for r in json.loads((queue / "selection.json").read_text())["queue"]]
    name = f"test-review-{uuid.uuid4().hex[:8]}"
    try:
        capsys.readouterr()
        assert main(["review", str(ds_path), "--queue", str(queue), "--name", name, "--no-launch", "--json"]) == 0
        built = json.loads(capsys.readouterr().out)
        assert built["samples"] == 6 and built["detections"] == 12 and built["queue"] == 4
        assert main(["review", str(ds_path), "--name", name, "--no-launch"]) == 1  # never clobbers edits
        assert "already exists" in capsys.readouterr().err

        fds = fo.load_dataset(name)
        assert fds.persistent
        assert fds.load_saved_view("review_queue").values("datakit_id") == q_ids
        s0 = fds.match({"datakit_id": "train/f0.png"}).first()
        assert Path(s0.filepath).is_absolute() and Path(s0.filepath).is_file()
        assert isinstance(s0.label, fo.Classification) and s0.label.label == "7"
        assert isinstance(s0.detections, fo.Detections) and s0.source == "pseudo"
        d0 = s0.detections.detections[0]
        assert d0.bounding_box == pytest.approx([0.05, 4 / 60, 0.2, 36 / 60]) and d0.confidence == 0.9
        assert d0["datakit_id"] == "train/f0.png#d0" and d0["track"] == 0
        assert s0.video == "match1" and s0.frame == 0 and s0.fps == 25.5 and json.loads(s0.info) == {"cam": 0}
        assert fds.match({"datakit_id": "train/f5.png"}).first().detections.detections[0]["datakit_id"] == "kept-id"

        def sample(i: int):
            return fds.match({"datakit_id": f"train/f{i}.png"}).first()

        # edit as the App does: tags, label changes, box edits / adds / deletes
        s = sample(0)
        s.tags.append("hard")
        s.label.label = "1"
        s.label.tags.append("mistake")
        s.save()
        s = sample(1)
        s.detections.detections[0].bounding_box = [0.1, 0.1, 0.2, 0.5]
        s.detections.detections[1].label = "player"
        s.save()
        s = sample(2)
        s.detections.detections.pop(0)
        s.detections.detections.append(fo.Detection(label="ball", bounding_box=[0.5, 0.5, 0.1, 0.1]))
        s.save()
        s = sample(3)
        s.tags.append("reviewed")
        s.save()
        s = sample(4)
        s.detections.detections[1].tags.append("occluded")
        s.save()
        s = sample(5)  # new FiftyOne label ids and another order, the same boxes and datakit ids: no change
        old = list(s.detections.detections)
        s.detections = fo.Detections(detections=[
            fo.Detection(label=d.label, bounding_box=list(d.bounding_box), confidence=d.confidence,
                         datakit_id=d["datakit_id"], track=d["track"] if d.has_field("track") else None)
            for d in reversed(old)
        ])  # fmt: skip
        s.save()
        fds.add_sample(fo.Sample(filepath=s.filepath))  # a sample the bridge never made: reported, ignored

        out = tmp_path / "reviewed"
        capsys.readouterr()
        assert main(["review", "--pull", name, "--out", str(out), "--json"]) == 0
        rep = json.loads(capsys.readouterr().out)
        expected = {"samples_reviewed": 5, "accepted_unchanged": 1, "tags_added": 2, "labels_changed": 1,
                    "label_tags_changed": 1, "boxes_moved": 1, "boxes_relabelled": 1, "boxes_deleted": 1,
                    "boxes_added": 1, "boxes_retagged": 1, "pseudo_to_real": 3, "unknown_in_fiftyone": 1}  # fmt: skip
        assert {k: rep[k] for k in expected} == expected

        ds2 = datakit.load(out)
        r0, r1, r2, r3, r4 = (ds2[f"train/f{i}.png"] for i in range(5))
        assert r0.label == "1" and r0.tags == ["hard", "reviewed"] and r0.metadata["label_tags"] == ["mistake"]
        assert r0.source == "real" and r0.metadata["review_changes"]["label"] == {"from": "7", "to": "1"}
        assert r1.detections[0].box == pytest.approx((8.0, 6.0, 24.0, 36.0)) and r1.detections[0].score is None
        assert r1.detections[1].label == "player" and r1.detections[1].attributes["pseudo_score"] == 0.3
        assert [d.attributes["datakit_id"] for d in r1.detections] == ["train/f1.png#d0", "train/f1.png#d1"]
        assert [d.attributes["datakit_id"] for d in r2.detections] == ["train/f2.png#d1", "train/f2.png#r0"]
        assert r2.detections[1].box == pytest.approx((40.0, 30.0, 48.0, 36.0))
        assert r3.tags == ["reviewed"] and r3.source == "real" and r3.detections[0].score == 0.9
        assert r4.detections[1].attributes["tags"] == ["occluded"]
        assert all("reviewed_at" in r.metadata for r in (r0, r1, r2, r3, r4))
        # samples the reviewer did not change are the same bytes when saved
        src = datakit.load(ds_path)
        src.save(tmp_path / "a", images="none")
        ds2.save(tmp_path / "b", images="none")
        a, b = _rows(tmp_path / "a"), _rows(tmp_path / "b")
        assert a[5] == b[5] and all(a[k] != b[k] for k in range(5))
        # reviewed samples are never selected again
        sel = datakit.selection.select(ds2, 6, features=None)
        assert sorted(ds2.ids[i] for i in sel.order) == ["train/f5.png"]
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,900",
    "--virtual-time-budget=15000", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]  # fmt: skip


@pytest.mark.slow
def test_app_grid_shows_the_samples_in_headless_chromium(tmp_path: Path) -> None:
    fo = pytest.importorskip("fiftyone")
    chromium = "/usr/bin/chromium"
    assert os.path.exists(chromium), "headless Chromium is needed (apt-get install chromium); never skipped"
    root = tmp_path / "ds"
    rows: list[Any] = []
    for i in range(4):
        make_image(root / "train" / f"m{i}.png", size=(64, 48), color=(255, 0, 255))
        rows.append({"image": f"m{i}.png", "label": "7", "detections": [{"label": "ball", "bbox": [8, 8, 24, 24]}]})
    write_jsonl(root / "train" / "annotations.jsonl", rows)
    name = f"test-app-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "datakit.cli", "review", str(root), "--name", name, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        url = _wait_line(proc, "App: ", 180).split("App: ", 1)[1].split()[0]
        assert url == f"http://127.0.0.1:{port}/datasets/{name}?view=review-queue"
        profile = tmp_path / "chromium"
        import re

        text = ""
        for _ in range(2):  # a busy machine may need a second load before the grid has its count
            dom = subprocess.run(
                [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert dom.returncode == 0, f"chromium failed to start: {dom.stderr[-2000:]}"
            (tmp_path / "app.html").write_text(dom.stdout)
            text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom.stdout))
            if re.search(r"\b4 samples\b", text):
                break
        assert "GraphQL API Error" not in text, text[:2000]
        assert name in text and "review_queue" in text and re.search(r"\b4 samples\b", text), text[:2000]
        shot = tmp_path / "app.png"
        r = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}", url],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == 0 and shot.is_file(), f"chromium failed: {r.stderr[-2000:]}"
        import numpy as np
        from PIL import Image

        px = np.asarray(Image.open(shot).convert("RGB")).astype(int)
        magenta = (np.abs(px - [255, 0, 255]).sum(axis=2) < 60).sum()
        assert magenta > 4 * 150 * 100, f"the grid does not show the 4 magenta samples ({magenta} px); see {shot}"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if fo.dataset_exists(name):
            fo.delete_dataset(name)
