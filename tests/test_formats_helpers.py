"""Shared fixtures for the format tests, and the coverage test over the format registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import make_image

from datakit import formats

# Non-contiguous category ids, an unused category, an image without annotations, a crowd RLE,
# polygons, extra keys at every level.
COCO_IMAGES = [
    {"id": 101, "file_name": "imgs/a.jpg", "width": 64, "height": 48, "license": 1, "coco_url": "http://x/a"},
    {"id": 205, "file_name": "imgs/b.png", "width": 40, "height": 40},
    {"id": 333, "file_name": "imgs/c.jpg", "width": 50, "height": 30},
    {"id": 400, "file_name": "imgs/d.jpg", "width": 80, "height": 60},
]
COCO_CATEGORIES = [
    {"id": 3, "name": "ball", "supercategory": "thing"},
    {"id": 17, "name": "player", "supercategory": "person"},
    {"id": 90, "name": "referee", "supercategory": "person"},
    {"id": 44, "name": "unused", "supercategory": "none"},
]


def coco_dict() -> dict[str, Any]:
    """A small COCO file exercising what must survive a round trip."""
    import numpy as np
    from pycocotools import mask as mask_utils

    m = np.zeros((40, 40), dtype=np.uint8, order="F")
    m[5:25, 8:30] = 1
    rle = mask_utils.encode(m)
    rle["counts"] = rle["counts"].decode()
    return {
        "info": {"year": 2026, "description": "fixture"},
        "licenses": [{"id": 1, "name": "CC-BY"}],
        "images": [dict(x) for x in COCO_IMAGES],
        "annotations": [
            {
                "id": 11,
                "image_id": 101,
                "category_id": 3,
                "bbox": [2.0, 3.0, 10.0, 12.0],
                "area": 120.0,
                "iscrowd": 0,
                "segmentation": [[2, 3, 12, 3, 12, 15, 2, 15]],
                "occluded": True,
            },
            {
                "id": 12,
                "image_id": 101,
                "category_id": 17,
                "bbox": [30.5, 10.25, 20.0, 30.0],
                "area": 600.0,
                "iscrowd": 0,
                "segmentation": [[30.5, 10.25, 50.5, 10.25, 50.5, 40.25]],
            },
            {
                "id": 13,
                "image_id": 205,
                "category_id": 17,
                "bbox": [8.0, 5.0, 22.0, 20.0],
                "area": 440.0,
                "iscrowd": 1,
                "segmentation": rle,
            },
            {
                "id": 14,
                "image_id": 205,
                "category_id": 90,
                "bbox": [0.0, 0.0, 6.0, 6.0],
                "area": 36.0,
                "iscrowd": 0,
                "segmentation": [[0, 0, 6, 0, 6, 6]],
            },
            {
                "id": 15,
                "image_id": 400,
                "category_id": 90,
                "bbox": [10.0, 10.0, 30.0, 40.0],
                "area": 1200.0,
                "iscrowd": 0,
                "segmentation": [[10, 10, 40, 10, 40, 50]],
            },
            {
                "id": 16,
                "image_id": 400,
                "category_id": 3,
                "bbox": [60.0, 20.0, 19.0, 19.0],
                "area": 361.0,
                "iscrowd": 0,
                "segmentation": [[60, 20, 79, 20, 79, 39]],
            },
        ],
        "categories": [dict(c) for c in COCO_CATEGORIES],
        "extra_top_level": {"kept": True},
    }


def make_coco(root: Path, data: dict[str, Any] | None = None, *, name: str = "ann.json") -> Path:
    """Write the images and the COCO file under ``root``; returns the JSON path."""
    data = coco_dict() if data is None else data
    for img in COCO_IMAGES:
        make_image(root / img["file_name"], size=(img["width"], img["height"]), color=(img["id"] % 255, 90, 30))
    p = root / name
    p.write_text(json.dumps(data))
    return p


def test_every_registered_format_has_a_round_trip_test() -> None:
    here = Path(__file__).parent
    text = "\n".join(p.read_text() for p in here.glob("test_formats_*.py"))
    for name in formats.FORMATS:
        assert f"def test_{name}_round_trip" in text, f"format {name!r} has no round-trip test"


def test_no_writer_changes_the_dataset_it_was_given(tmp_path: Path) -> None:
    # Unknown sizes, a box overhanging its image, attributes named like COCO's keys, a crowd
    # region: every writer fills, clips and renames in its own copies, never in the input.
    import copy

    import numpy as np

    from datakit import Dataset, Detection, Sample
    from datakit.formats import registry

    make_image(tmp_path / "src" / "train" / "a.jpg", size=(40, 30))
    make_image(tmp_path / "src" / "valid" / "b.png", size=(20, 20))
    ds = Dataset.from_samples(
        [
            Sample("train/a.jpg", label="7", split="train", metadata={"id": 3}, detections=[
                Detection("ball", (-4, 2, 60, 20), attributes={"id": 9, "iscrowd": 1}),
            ]),
            Sample("valid/b.png", label="8", split="valid", width=99, height=99, detections=[
                Detection("ball", (1, 1, 5, 5), 0.5, {"bbox": [0, 0, 1, 1]}),
            ]),
        ],
        tmp_path / "src",
    )  # fmt: skip
    c = ds.columns
    before = (
        c.widths.copy(), c.heights.copy(), c.detections.boxes.copy(), copy.deepcopy(c.detections.attributes),
        copy.deepcopy(c.metadata), c.labels.tolist(), list(c.images), ds.classes, copy.deepcopy(ds.info),
    )  # fmt: skip
    for name in registry.names():
        registry.get(name).write(ds, tmp_path / f"out-{name}", strict=False)
        c = ds.columns
        after = (
            c.widths, c.heights, c.detections.boxes, c.detections.attributes, c.metadata,
            c.labels.tolist(), c.images, ds.classes, ds.info,
        )  # fmt: skip
        for k, (x, y) in enumerate(zip(before, after, strict=True)):
            same = np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
            assert same, f"writing {name} changed column {k} of its input: {x!r} -> {y!r}"
