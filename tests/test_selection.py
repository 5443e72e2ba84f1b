"""Active-learning selection: scores, k-center diversity, caps, determinism and the select command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from datakit import Dataset, Detection, Sample
from datakit.cli import main
from datakit.selection import covering_radius, project, select
from tests.conftest import make_image, write_jsonl


def _frames(n: int = 30, hard: tuple[int, ...] = (3, 17), seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        dets = [Detection("player", (1, 1, 10, 20), float(rng.uniform(0.6, 0.99)))]
        if i in hard:
            dets.append(Detection("ball", (20, 20, 24, 24), 0.25))
        samples.append(Sample(f"f{i}.jpg", detections=dets, source="pseudo", metadata={"video": f"v{i % 3}"}))
    return Dataset.from_samples(samples, ".")


def test_band_and_priority_pick_hard_ball_frames_first() -> None:
    ds = _frames()
    sel = select(ds, 2, band=(0.1, 0.4), priority=["ball"], features=None)
    assert sorted(sel.order) == [3, 17]
    assert sel.reasons == ["rare_class", "rare_class"]
    # the uncertainty of a detection at the band's middle is 1, of frames with none 0
    assert sel.uncertainty[3] == pytest.approx(1.0) and sel.uncertainty[0] == 0.0
    # without a priority, a band detection at the edge scores 0.5, the middle 1
    s2 = Sample("edge.jpg", detections=[Detection("player", (0, 0, 2, 2), 0.1)])
    ds2 = Dataset.from_samples([s2, Sample("mid.jpg", detections=[Detection("x", (0, 0, 2, 2), 0.25)])], ".")
    s = select(ds2, 2, band=(0.1, 0.4), features=None)
    assert s.order == [1, 0] and s.uncertainty.tolist() == pytest.approx([0.5, 1.0])


def test_auto_priority_is_inverse_frequency() -> None:
    labels = ["7"] * 10 + ["23"] * 5 + ["6"]
    ds = Dataset.from_samples([Sample(f"{i}.jpg", label=x) for i, x in enumerate(labels)], ".")
    sel = select(ds, 2, priority="auto", features=None)
    assert sel.params["class_weights"] == {"7": 0.1, "23": 0.2, "6": 1.0}
    assert ds[sel.order[0]].label == "6" and ds[sel.order[1]].label == "23"


def test_k_center_covers_every_cluster_before_repeating() -> None:
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((4, 16)) * 10
    assign = np.repeat(np.arange(4), [40, 5, 5, 5])  # one big cluster, three small ones
    feats = centers[assign] + rng.standard_normal((55, 16)) * 0.1
    ds = Dataset.from_samples([Sample(f"{i}.jpg") for i in range(55)], ".")
    sel = select(ds, 4, features=feats)
    assert sorted(assign[sel.order].tolist()) == [0, 1, 2, 3]
    assert set(sel.reasons) == {"diversity"}
    # covering radius: k-center beats a random pick of the same size
    x = project(feats, 0)
    rand = rng.choice(55, 4, replace=False)
    assert covering_radius(x, x[sel.order]) < covering_radius(x, x[rand])
    assert sel.covering_radius == pytest.approx(covering_radius(x, x[sel.order]), rel=1e-3)


def test_reviewed_never_selected_and_seed_the_distances() -> None:
    feats = np.array([[0.0], [0.01], [5.0], [5.01], [10.0]])
    tags = [["reviewed"], [], [], [], ["reviewed"]]
    ds = Dataset.from_samples([Sample(f"{i}.jpg", tags=t) for i, t in enumerate(tags)], ".")
    sel = select(ds, 5, features=feats)
    assert 0 not in sel.order and 4 not in sel.order and len(sel.order) == 3
    assert sel.order[0] in (2, 3)  # farthest from the reviewed samples, not the copy of sample 0
    assert sel.excluded["reviewed"] == 2


def test_per_video_cap_and_determinism() -> None:
    ds = _frames(30, hard=tuple(range(30)))  # every frame equally hard: ties everywhere
    a = select(ds, 6, band=(0.1, 0.4), per_video=2, features=None, seed=1)
    videos = [ds[i].metadata["video"] for i in a.order]
    assert sorted(videos) == ["v0", "v0", "v1", "v1", "v2", "v2"]
    assert select(ds, 6, band=(0.1, 0.4), per_video=2, features=None, seed=1).order == a.order
    assert len({tuple(select(ds, 6, band=(0.1, 0.4), features=None, seed=s).order) for s in range(4)}) > 1
    with pytest.raises(ValueError, match="budget"):
        select(ds, 0)
    with pytest.raises(ValueError, match="features of shape"):
        select(ds, 1, features=np.zeros((3, 2)))


def test_queue_and_in_place_tags_leave_the_input_alone() -> None:
    ds = _frames(10, hard=(4,))
    before = [s.metadata for s in ds]
    sel = select(ds, 3, band=(0.1, 0.4), priority=["ball"], features=None)
    q = sel.queue(ds)
    assert [s.metadata["selection_rank"] for s in q] == [1, 2, 3]
    assert q[0].id == "f4.jpg" and q[0].metadata["selection_reason"] == "rare_class"
    assert all("review" in s.tags for s in q)
    tagged, cleared = sel.tag(ds)
    assert cleared == 0 and sum("review" in s.tags for s in tagged) == 3
    # a second selection in place clears the samples of the first that it does not pick again
    again, cleared = select(tagged, 1, band=(0.1, 0.4), priority=["ball"], features=None).tag(tagged)
    assert cleared == 2 and sum("review" in s.tags for s in again) == 1
    assert [s.metadata for s in ds] == before


def _frame_dataset(root: Path, n: int = 12) -> Path:
    rows: list[Any] = []
    for i in range(n):
        make_image(root / "train" / f"f{i}.png", size=(64, 48), color=((40 * i) % 255, 200 - 10 * i, 90))
        dets = [{"label": "player", "bbox": [1, 1, 10, 20], "score": 0.9}]
        if i % 4 == 0:
            dets.append({"label": "ball", "bbox": [20, 20, 24, 24], "score": 0.2})
        rows.append({"image": f"f{i}.png", "detections": dets, "source": "pseudo", "metadata": {"video": f"v{i % 2}"}})
    rows[1]["tags"] = ["reviewed"]
    write_jsonl(root / "train" / "annotations.jsonl", rows)
    return root


def test_select_command_writes_queue_report_and_histogram(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds_path = _frame_dataset(tmp_path / "frames")
    out = tmp_path / "queue"
    args = [str(ds_path), "--budget", "5", "--band", "0.1,0.4", "--priority", "ball", "--features", "phash"]
    assert main(["select", *args, "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["selected"] == 5 and summary["excluded"]["reviewed"] == 1
    report = json.loads((out / "selection.json").read_text())
    assert report["by_reason"]["rare_class"] == 3 and sum(report["by_reason"].values()) == 5
    assert report["by_detection_label"]["ball"] == 3 and report["params"]["features"] == "phash"
    assert [q["rank"] for q in report["queue"]] == [1, 2, 3, 4, 5]
    assert (out / "selection.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import datakit

    q = datakit.load(out)
    assert len(q) == 5 and all("review" in s.tags for s in q) and "f1.png" not in q.images
    assert sorted(s.metadata["selection_rank"] for s in q) == [1, 2, 3, 4, 5]
    assert (out / "train" / q.images[0].split("/")[-1]).is_file()  # images copied with the queue
    # the same seed gives the same queue
    out2 = tmp_path / "queue2"
    assert main(["select", *args, "--out", str(out2)]) == 0
    assert json.loads((out2 / "selection.json").read_text())["queue"] == report["queue"]


def test_select_in_place_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds_path = _frame_dataset(tmp_path / "frames")
    feats = tmp_path / "f.npy"
    np.save(feats, np.random.default_rng(0).standard_normal((12, 8)).astype(np.float32))
    assert main(["select", str(ds_path), "--budget", "2", "--features", str(feats), "--in-place"]) == 0
    import datakit

    ds = datakit.load(ds_path)
    assert sum("review" in s.tags for s in ds) == 2 and (ds_path / "selection.json").is_file()
    capsys.readouterr()
    np.save(feats, np.zeros((3, 8), dtype=np.float32))
    assert main(["select", str(ds_path), "--budget", "2", "--features", str(feats), "--out", str(tmp_path / "q")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("datakit select: error:") and "f.npy" in err and "(12, D)" in err and "\n" not in err
    assert main(["select", str(ds_path), "--budget", "2", "--band", "0.4,0.1", "--out", str(tmp_path / "q")]) == 1
    assert "band" in capsys.readouterr().err
    assert main(["select", str(ds_path), "--budget", "2"]) == 1
    assert "--out" in capsys.readouterr().err
