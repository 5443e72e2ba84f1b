"""Real clients read our exports: FiftyOne's COCODetectionDataset and YOLOv5Dataset importers."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_formats_helpers import make_coco

from datakit.formats import coco, yolo


def _ours(ds, i: int) -> list[tuple[str, tuple[float, ...]]]:  # type: ignore[no-untyped-def]
    s = ds[i]
    w, h = s.width, s.height
    return sorted(
        (d.label, (d.box[0] / w, d.box[1] / h, (d.box[2] - d.box[0]) / w, (d.box[3] - d.box[1]) / h))
        for d in s.detections
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
        for fds, root in ((fc, tmp_path / "coco" / "train"), (fy, tmp_path / "yolo" / "images" / "train")):
            names = sorted(Path(s.filepath).name for s in fds)
            assert names == ["a.jpg", "b.png", "d.jpg"]  # same images (d.jpg and b.png included)
            for s in fds:
                assert Path(s.filepath).is_relative_to(root)
                assert _same(_theirs(s), _ours(ds, by_name[Path(s.filepath).name])), s.filepath
        assert fy.default_classes == ["ball", "player", "referee", "unused"] or fy.info.get("classes") == [
            "ball",
            "player",
            "referee",
            "unused",
        ]
    finally:
        fc.delete()
        fy.delete()
