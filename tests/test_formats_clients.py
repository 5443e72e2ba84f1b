"""Real clients read our exports: FiftyOne's COCODetectionDataset and YOLOv5Dataset importers."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_formats_helpers import make_coco

import datakit
from datakit.formats import coco, yolo


def _ours(ds, i: int, crowd: bool = True) -> list[tuple[str, tuple[float, ...]]]:  # type: ignore[no-untyped-def]
    s = ds[i]
    w, h = s.width, s.height
    return sorted(
        (d.label, (d.box[0] / w, d.box[1] / h, (d.box[2] - d.box[0]) / w, (d.box[3] - d.box[1]) / h))
        for d in s.detections
        if crowd or not d.attributes.get("iscrowd")
    )


def _theirs(sample) -> list[tuple[str, tuple[float, ...]]]:  # type: ignore[no-untyped-def]
    dets = sample["ground_truth"]
    return sorted((d.label, tuple(d.bounding_box)) for d in (dets.detections if dets else []))


def _same(a: list, b: list) -> bool:  # type: ignore[type-arg]
    return [x[0] for x in a] == [x[0] for x in b] and all(
        x[1] == pytest.approx(y[1], abs=1e-5) for x, y in zip(a, b, strict=True)
    )


@pytest.mark.slow
def test_fiftyone_imports_our_coco_and_yolo(tmp_path: Path) -> None:
    fo = pytest.importorskip("fiftyone")
    ds = coco.read(make_coco(tmp_path / "src")).with_column("split", ["train", "train", "valid", "train"])
    coco.write(ds, tmp_path / "coco")
    yolo.write(ds, tmp_path / "yolo")
    by_name = {Path(s.image).name: i for i, s in enumerate(ds)}

    fc = fo.Dataset.from_dir(
        dataset_type=fo.types.COCODetectionDataset,
        data_path=str(tmp_path / "coco" / "train"),
        labels_path=str(tmp_path / "coco" / "train" / coco.COCO_FILE),
        label_types="detections",
        label_field="ground_truth",
    )
    fy = fo.Dataset.from_dir(
        dataset_type=fo.types.YOLOv5Dataset,
        dataset_dir=str(tmp_path / "yolo"),
        yaml_path="data.yaml",
        split="train",
        label_field="ground_truth",
    )
    try:
        for fds, root, crowd in (
            (fc, tmp_path / "coco" / "train", True),
            (fy, tmp_path / "yolo" / "images" / "train", False),  # YOLO leaves crowd regions out
        ):
            names = sorted(Path(s.filepath).name for s in fds)
            assert names == ["a.jpg", "b.png", "d.jpg"]  # same images (d.jpg and b.png included)
            for s in fds:
                assert Path(s.filepath).is_relative_to(root)
                assert _same(_theirs(s), _ours(ds, by_name[Path(s.filepath).name], crowd)), s.filepath
        assert fy.default_classes == ["ball", "player", "referee", "unused"] or fy.info.get("classes") == [
            "ball",
            "player",
            "referee",
            "unused",
        ]
    finally:
        fc.delete()
        fy.delete()


def _hostile_detections(root: Path) -> datakit.Dataset:
    """Boxes overhanging the image, a crowd region, attributes named like COCO's own keys."""
    from conftest import make_image

    from datakit import Dataset, Detection, Sample

    make_image(root / "train" / "a.jpg", size=(64, 48))
    make_image(root / "train" / "sub" / "a.jpg", size=(40, 40))
    dets_a = [
        Detection("ball", (-5, 2, 20, 30), attributes={"id": 7}),
        Detection("player", (30, 10, 1e30, 47), attributes={"bbox": [1, 2, 3, 4], "image_id": 5}),
        Detection("player", (5, 5, 15, 15), attributes={"iscrowd": 1}),
    ]
    dets_b = [Detection("ball", (1, 1, 39, 39), attributes={"id": 7})]
    return Dataset.from_samples(
        [
            Sample("train/a.jpg", split="train", detections=dets_a),
            Sample("train/sub/a.jpg", split="train", detections=dets_b),
        ],
        root,
    )


def test_ultralytics_rules_accept_our_yolo_export(tmp_path: Path) -> None:
    # Ultralytics' own checks (``img2label_paths`` and ``verify_image_label`` in data/utils.py):
    # the label file is the image path with the last /images/ → /labels/, 5 columns, normalised
    # coordinates within [0, 1], class ids below nc, no duplicate rows; ``path`` in data.yaml.
    import os

    import numpy as np
    import yaml

    ds = _hostile_detections(tmp_path / "src")
    r = yolo.write(ds, tmp_path / "y")
    spec = yaml.safe_load((tmp_path / "y" / "data.yaml").read_text())
    root = Path(spec["path"])
    assert root.is_absolute() and root == (tmp_path / "y").resolve()
    images = sorted((root / spec["train"]).iterdir())
    assert [p.name for p in images] == ["a.jpg", "sub__a.jpg"] and all(p.is_file() for p in images)
    total = 0
    for img in images:
        sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
        label = Path(sb.join(str(img).rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt")
        rows = np.loadtxt(label, ndmin=2)
        assert rows.shape[1] == 5 and (rows[:, 1:] >= 0).all() and (rows[:, 1:] <= 1).all()
        assert (rows[:, 0] < spec["nc"]).all() and len(np.unique(rows, axis=0)) == len(rows)
        total += len(rows)
    assert total == 3  # the crowd region is left out (counted), the overhanging boxes clipped (counted)
    assert r.dropped["crowd regions (iscrowd=1)"] == 1
    assert any("2 boxes overhanging their image clipped to it" in n for n in r.notes)


def test_pycocotools_evaluates_our_hostile_coco_export_at_ap_1(tmp_path: Path) -> None:
    import contextlib
    import io
    import json

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ds = _hostile_detections(tmp_path / "src")
    coco.write(ds, tmp_path / "c")
    path = tmp_path / "c" / "train" / coco.COCO_FILE
    data = json.loads(path.read_text())
    assert len({a["id"] for a in data["annotations"]}) == 4  # attribute "id": 7 did not become the id
    gt = COCO(str(path))
    dets = [dict(a, score=1.0) for a in gt.dataset["annotations"]]
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == 1.0
    for ann in gt.dataset["annotations"]:  # every box inside its image
        img = gt.imgs[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        assert x >= 0 and y >= 0 and x + w <= img["width"] and y + h <= img["height"]
    back = coco.read(tmp_path / "c", strict=True)  # and datakit reads its own export
    assert len(back.detections) == 4 and back[0].detections[0].attributes["id"] == 7
