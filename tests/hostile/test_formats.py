"""Hostile inputs for the format readers and writers (issue 14: items 4, 5, 7, 8, 9, 12, 13, 16, flat YOLO).

Each row builds a small dataset under ``tmp_path`` with one bad thing in it and runs what a new
user would (``datakit convert``, or the Python API); see :mod:`._table` for the outcome classes.
Where the output must also be read by the real client (pycocotools, supervision, ``datasets``),
the row's ``check`` does it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from datakit import Dataset, Detection, Sample
from datakit.formats import coco, hf, yolo

from ._table import Case, Outcome, run_case


def _img(path: Path, size: tuple[int, int] = (64, 48), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = (np.random.default_rng(seed).random((size[1], size[0], 3)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path


def _jsonl(tmp: Path, rows: list[dict[str, Any]], images: dict[str, tuple[int, int]] | None = None) -> Path:
    """``tmp/ds/train/annotations.jsonl`` holding ``rows``; images (name → size) made beside it."""
    folder = tmp / "ds" / "train"
    for k, (name, size) in enumerate((images or {r["image"]: (64, 48) for r in rows}).items()):
        _img(folder / name, size, seed=k)
    (folder / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp / "ds"


def _coco(tmp: Path, annotations: list[dict[str, Any]], *, size: tuple[int, int] = (64, 48)) -> Path:
    """``tmp/c/train/_annotations.coco.json`` with two images and ``annotations``."""
    folder = tmp / "c" / "train"
    for k in (1, 2):
        _img(folder / f"{k}.jpg", size, seed=k)
    data = {
        "images": [{"id": k, "file_name": f"{k}.jpg", "width": size[0], "height": size[1]} for k in (1, 2)],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "ball"}, {"id": 2, "name": "player"}],
    }
    (folder / coco.COCO_FILE).write_text(json.dumps(data))
    return tmp / "c"


def _ann(aid: int, image_id: int = 1, bbox: list[float] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": aid, "image_id": image_id, "category_id": 1, "bbox": bbox or [2, 3, 10, 12], **extra}


def _yolo(tmp: Path, labels: dict[str, str], names: list[str], nc: int | None = None) -> Path:
    root = tmp / "y"
    for k, (stem, text) in enumerate(labels.items()):
        if not stem.startswith("stray"):
            _img(root / "images" / "train" / f"{stem}.jpg", (64, 32), seed=k)
        (root / "labels" / "train").mkdir(parents=True, exist_ok=True)
        (root / "labels" / "train" / f"{stem}.txt").write_text(text)
    spec: dict[str, Any] = {"train": "images/train", "val": "images/train", "names": names}
    if nc is not None:
        spec["nc"] = nc
    (root / "data.yaml").write_text(yaml.safe_dump(spec))
    return root


def _out(tmp: Path) -> str:
    return str(tmp / "out")


def _coco_json(tmp: Path, split: str = "train") -> dict[str, Any]:
    return json.loads((tmp / "out" / split / coco.COCO_FILE).read_text())


# ----------------------------------------------------------------------------- item 5: owned keys
def _attrs_ds(tmp: Path) -> Dataset:
    _img(tmp / "a.jpg", (64, 48))
    dets = [
        Detection("ball", (1, 1, 5, 5), attributes={"id": 7, "track": 1}),
        Detection("ball", (10, 10, 20, 20), attributes={"id": 8}),
        Detection(
            "ball", (30, 5, 40, 25), attributes={"id": 7, "bbox": [0, 0, 1, 1], "image_id": 99, "category_id": 5}
        ),
    ]
    return Dataset.from_samples([Sample("a.jpg", split="train", detections=dets)], tmp)


def _check_owned(tmp: Path, outcome: Outcome) -> None:
    from pycocotools.coco import COCO

    anns = _coco_json(tmp)["annotations"]
    assert sorted(a["id"] for a in anns) == [1, 2, 3]  # the writer's ids, unique
    assert [a.get("attr_id") for a in anns] == [7, 8, 7]  # the track ids are kept aside
    third = anns[2]
    assert third["bbox"] == [30.0, 5.0, 10.0, 20.0] and third["image_id"] == 1 and third["attr_bbox"] == [0, 0, 1, 1]
    assert third["category_id"] == 1 and third["attr_category_id"] == 5 and third["attr_image_id"] == 99
    assert len(COCO(str(tmp / "out" / "train" / coco.COCO_FILE)).anns) == 3  # pycocotools keeps all three
    back = coco.read(tmp / "out")  # and datakit reads the attributes back under their own names
    assert [d.attributes.get("id") for d in back[0].detections] == [7, 8, 7]
    assert back[0].detections[2].attributes["bbox"] == [0, 0, 1, 1]


# ----------------------------------------------------------------------------- item 7, 8: sizes, boxes
_WRONG_SIZE = [
    {"image": "a.jpg", "width": 128, "height": 96, "detections": [{"label": "ball", "bbox": [8, 8, 40, 40]}]}
]
_HUGE_BOX = [{"image": "a.jpg", "detections": [{"label": "ball", "bbox": [8, 8, 1e30, 40]}]}]
_OVERHANG = [{"image": "a.jpg", "detections": [{"label": "ball", "bbox": [50, 8, 70, 40]}]}]


def _check_header_size(tmp: Path, outcome: Outcome) -> None:
    line = (tmp / "out" / "labels" / "train" / "a.txt").read_text().split()
    # Normalised with the 64x48 header, not the declared 128x96 (cx = 24/64).
    assert [float(v) for v in line[1:]] == pytest.approx([0.375, 0.5, 0.5, 0.6667], abs=1e-4)


def _check_huge_box(tmp: Path, outcome: Outcome) -> None:
    line = (tmp / "out" / "labels" / "train" / "a.txt").read_text().split()
    assert [float(v) for v in line[1:]] == pytest.approx([0.5625, 0.5, 0.875, 0.6667], abs=1e-4)


def _check_coco_clipped(tmp: Path, outcome: Outcome) -> None:
    from pycocotools.coco import COCO

    data = _coco_json(tmp)
    assert data["annotations"][0]["bbox"] == [50.0, 8.0, 14.0, 32.0]  # clipped to the 64-px width
    back = coco.read(tmp / "out", strict=True)  # datakit reads its own export, nothing refused
    assert back.skipped == [] and len(back.detections) == 1
    COCO(str(tmp / "out" / "train" / coco.COCO_FILE))


def _check_coco_read_clip(tmp: Path, outcome: Outcome) -> None:
    ds = outcome.value
    assert ds.info["fixes"] == {"boxes overhanging their image clipped to it": 1}
    assert ds[0].detections[0].box == (50.0, 3.0, 64.0, 15.0)


# ----------------------------------------------------------------------------- item 9: crowd
def _check_crowd(tmp: Path, outcome: Outcome) -> None:
    text = (tmp / "out" / "labels" / "train" / "1.txt").read_text().splitlines()
    assert len(text) == 1  # the crowd region is not an ordinary object
    assert json.loads(outcome.stdout)["dropped"]["crowd regions (iscrowd=1)"] == 1


# ----------------------------------------------------------------------------- item 12: bad images
def _broken_images(tmp: Path) -> Path:
    root = _jsonl(
        tmp,
        [{"image": "ok.jpg", "label": "1"}, {"image": "empty.jpg", "label": "2"}, {"image": "cut.png", "label": "3"}],
        images={"ok.jpg": (20, 20), "cut.png": (40, 40)},
    )
    folder = root / "train"
    (folder / "empty.jpg").write_bytes(b"")
    data = (folder / "cut.png").read_bytes()
    (folder / "cut.png").write_bytes(data[: len(data) // 2])
    return root


def _truncated(tmp: Path) -> Path:
    root = _jsonl(tmp, [{"image": "cut.png", "label": "3"}], images={"cut.png": (40, 40)})
    data = (root / "train" / "cut.png").read_bytes()
    (root / "train" / "cut.png").write_bytes(data[: len(data) // 2])
    return root


def _check_hf_embeds_only_good(tmp: Path, outcome: Outcome) -> None:
    import datasets

    payload = json.loads(outcome.stdout)
    reasons = sorted(s["reason"] for s in payload["skipped"])
    assert len(reasons) == 2 and reasons[0].startswith("empty image file") and "truncated" in reasons[1]
    loaded = datasets.load_dataset(str(tmp / "out"), split="train", cache_dir=str(tmp / "cache"))
    assert len(loaded) == 1 and loaded[0]["image"].size == (20, 20)  # every embedded image decodes


def _check_nothing_copied(tmp: Path, outcome: Outcome) -> None:
    assert not any(p.name == "hostname" or p.name == "secret.jpg" for p in (tmp / "out").rglob("*"))


def _escaping_image(tmp: Path) -> Path:
    root = _jsonl(tmp, [{"image": "ok.jpg", "label": "1"}], images={"ok.jpg": (20, 20)})
    outside = _img(tmp / "elsewhere" / "secret.jpg", (20, 20))
    (root / "train" / "secret.jpg").symlink_to(outside)
    with open(root / "train" / "annotations.jsonl", "a") as f:
        f.write(json.dumps({"image": "secret.jpg", "label": "2"}) + "\n")
    return root


# ----------------------------------------------------------------------------- item 13: YOLO and COCO records
def _bad_rle(tmp: Path) -> Path:
    return _coco(
        tmp, [_ann(1), _ann(2, segmentation={"size": [48, 64], "counts": "!!bad"}), _ann(3, segmentation=[[1, 2, 3]])]
    )


def _check_masks(tmp: Path, outcome: Outcome) -> None:
    from pycocotools.coco import COCO

    c = COCO(str(tmp / "out" / "train" / coco.COCO_FILE))
    for ann in c.anns.values():
        if "segmentation" in ann:
            assert c.annToMask(ann).shape == (48, 64)
    assert "2 invalid segmentations removed" in outcome.stdout


def _segmented_ds(tmp: Path) -> Dataset:
    _img(tmp / "a.jpg", (64, 48))
    dets = [
        Detection("ball", (1, 1, 5, 5), attributes={"segmentation": [[1, 1, 5]]}),
        Detection("ball", (1, 1, 5, 5), attributes={"segmentation": [[1, 1, 5, 1, 5, 5]]}),
    ]
    return Dataset.from_samples([Sample("a.jpg", split="train", detections=dets)], tmp)


# ----------------------------------------------------------------------------- item 16: --plain
_PROMPTED = [
    {"image": "a.jpg", "prefix": "Kit number?", "suffix": "23"},
    {
        "image": "b.jpg",
        "prefix": "What number is on this basketball jersey? Reply with just the number, nothing else.",
        "suffix": "7",
    },
    {"image": "c.jpg", "label": "9", "detections": [{"label": "ball", "bbox": [1, 1, 4, 4]}]},
]


def _check_plain_keeps_prompts(tmp: Path, outcome: Outcome) -> None:
    rows = [json.loads(x) for x in (tmp / "out" / "train" / "annotations.jsonl").read_text().splitlines()]
    assert [r["prefix"] for r in rows][:2] == ["Kit number?", _PROMPTED[1]["prefix"]]
    dropped = json.loads(outcome.stdout)["dropped"]
    assert "prompt" not in dropped and dropped == {"detections": 1}  # the one thing really lost


def _check_plain_replaced(tmp: Path, outcome: Outcome) -> None:
    dropped = json.loads(outcome.stdout)["dropped"]
    assert dropped["prompt (replaced by --prompt)"] == 1 and "prompt" not in dropped  # only "Kit number?"


# ----------------------------------------------------------------------------- nested YOLO folders
def _nested(tmp: Path) -> Path:
    rows = [{"image": f"{k}.jpg", "detections": [{"label": "ball", "bbox": [1, 1, 9, 9]}]} for k in range(3)]
    root = _jsonl(tmp, rows)
    syn = root / "train" / "synthetic"
    for k in range(3):  # same names as the real ones: a clash in one flat folder
        _img(syn / f"{k}.jpg", (64, 48), seed=10 + k)
    (syn / "annotations.jsonl").write_text(
        "".join(
            json.dumps({"image": f"{k}.jpg", "detections": [{"label": "ball", "bbox": [2, 2, 8, 8]}]}) + "\n"
            for k in range(3)
        )
    )
    return root


def _check_supervision(tmp: Path, outcome: Outcome) -> None:
    import supervision as sv

    out = tmp / "out"
    assert not [p for p in (out / "images" / "train").iterdir() if p.is_dir()]  # flat
    sds = sv.DetectionDataset.from_yolo(
        images_directory_path=str(out / "images" / "train"),
        annotations_directory_path=str(out / "labels" / "train"),
        data_yaml_path=str(out / "data.yaml"),
    )
    assert len(sds) == 6 and sum(len(d) for _, _, d in sds) == 6
    payload = json.loads(outcome.stdout)
    assert sorted(payload["renamed"].values()) == [f"train/synthetic/{k}.jpg" for k in range(3)]
    assert yaml.safe_load((out / "data.yaml").read_text())["path"] == str(out.resolve())


CASES = [
    Case(
        "detection attributes named id/bbox/image_id/category_id do not replace COCO's own",
        build=lambda t: lambda: coco.write(_attrs_ds(t), _out(t)),
        expect="ok",
        match=r"attributes\.id kept as attr_id",
        check=_check_owned,
    ),
    Case(
        "declared size disagreeing with the image header: the header is used, counted",
        build=lambda t: ["convert", _jsonl(t, _WRONG_SIZE), "--to", "yolo", "--out", _out(t)],
        expect="ok",
        match=r"1 declared image sizes replaced by the image header",
        check=_check_header_size,
    ),
    Case(
        "declared size disagreeing with the image header, --strict: refused",
        build=lambda t: ["convert", _jsonl(t, _WRONG_SIZE), "--to", "coco", "--out", _out(t), "--strict"],
        expect="error",
        match=r"annotations\.jsonl: sample .*a\.jpg: declared size 128x96 disagrees with the image header 64x48",
    ),
    Case(
        "a 1e30 box is clipped and counted, not silently a full-image box",
        build=lambda t: ["convert", _jsonl(t, _HUGE_BOX), "--to", "yolo", "--out", _out(t)],
        expect="ok",
        match=r"1 boxes overhanging their image clipped to it",
        check=_check_huge_box,
    ),
    Case(
        "a 1e30 box, --strict: refused naming the sample and box",
        build=lambda t: ["convert", _jsonl(t, _HUGE_BOX), "--to", "hf", "--out", _out(t), "--strict"],
        expect="error",
        match=r"sample .*a\.jpg, box 0: box .* lies outside the 64x48 image",
    ),
    Case(
        "COCO export clips a box outside the image; datakit and pycocotools read the export",
        build=lambda t: ["convert", _jsonl(t, _OVERHANG), "--to", "coco", "--out", _out(t)],
        expect="ok",
        match=r"1 boxes overhanging their image clipped to it",
        check=_check_coco_clipped,
    ),
    Case(
        "COCO box overhanging its image on reading: clipped and counted",
        build=lambda t: lambda: coco.read(_coco(t, [_ann(1, bbox=[50, 3, 30, 12])])),
        expect="ok",
        check=_check_coco_read_clip,
    ),
    Case(
        "COCO box overhanging its image on reading, --strict: refused",
        build=lambda t: [
            "convert",
            _coco(t, [_ann(5, bbox=[50, 3, 30, 12])]),
            "--to",
            "jsonl",
            "--out",
            _out(t),
            "--strict",
        ],
        expect="error",
        match=r"_annotations\.coco\.json: annotation id 5: box \[50, 3, 30, 12\] lies outside the 64x48 image",
    ),
    Case(
        "COCO box entirely outside its image: a bad record",
        build=lambda t: ["convert", _coco(t, [_ann(5, bbox=[90, 3, 30, 12])]), "--to", "yolo", "--out", _out(t)],
        expect="error",
        match=r"annotation id 5: bbox \[90, 3, 30, 12\] lies entirely outside the 64x48 image",
    ),
    Case(
        "COCO iscrowd regions are left out of a YOLO export and counted",
        build=lambda t: [
            "convert",
            _coco(t, [_ann(1), _ann(2, iscrowd=1, bbox=[20, 20, 30, 20])]),
            "--to",
            "yolo",
            "--out",
            _out(t),
            "--json",
        ],
        expect="ok",
        match=r"crowd regions \(iscrowd=1\) left out",
        check=_check_crowd,
    ),
    Case(
        "0-byte image: convert --to hf refuses it",
        build=lambda t: ["convert", _broken_images(t), "--to", "hf", "--out", _out(t)],
        expect="error",
        match=r"empty\.jpg: empty image file \(0 bytes\)",
    ),
    Case(
        "0-byte and truncated images, --lenient: skipped and counted; every embedded image decodes",
        build=lambda t: ["convert", _broken_images(t), "--to", "hf", "--out", _out(t), "--lenient", "--json"],
        expect="ok",
        match=r"truncated or unreadable image",
        check=_check_hf_embeds_only_good,
    ),
    Case(
        "truncated image: convert --to coco refuses it",
        build=lambda t: ["convert", _truncated(t), "--to", "coco", "--out", _out(t)],
        expect="error",
        match=r"cut\.png: truncated or unreadable image",
    ),
    Case(
        "0-byte image, --lenient: skipped by convert --to yolo",
        build=lambda t: ["convert", _broken_images(t), "--to", "yolo", "--out", _out(t), "--lenient"],
        expect="ok",
        match=r"empty image file",
    ),
    Case(
        "image symlinked from outside the root is not copied into the export",
        build=lambda t: ["convert", _escaping_image(t), "--to", "coco", "--out", _out(t), "--lenient"],
        expect="skip",
        match=r"resolves outside the dataset root",
        check=_check_nothing_copied,
    ),
    Case(
        "YOLO label file with no matching image is counted",
        build=lambda t: (
            lambda: yolo.read(_yolo(t, {"a": "0 0.5 0.5 0.2 0.2\n", "stray": "0 0.5 0.5 0.1 0.1\n"}, ["ball"])).skipped
        ),
        expect="ok",
        match=r"labels/train/stray\.txt.*label file with no matching image",
    ),
    Case(
        "YOLO label file with no matching image, strict: refused",
        build=lambda t: [
            "convert",
            _yolo(t, {"a": "0 0.5 0.5 0.2 0.2\n", "stray": "0 0.5 0.5 0.1 0.1\n"}, ["ball"]),
            "--to",
            "coco",
            "--out",
            _out(t),
        ],
        expect="error",
        match=r"labels/train/stray\.txt: label file with no matching image",
    ),
    Case(
        "YOLO nc disagreeing with names: refused",
        build=lambda t: [
            "convert",
            _yolo(t, {"a": "0 0.5 0.5 0.2 0.2\n"}, ["ball", "player"], nc=3),
            "--to",
            "coco",
            "--out",
            _out(t),
        ],
        expect="error",
        match=r"data\.yaml: nc: 3 disagrees with the 2 names",
    ),
    Case(
        "YOLO nc disagreeing with names, --lenient: counted",
        build=lambda t: [
            "convert",
            _yolo(t, {"a": "0 0.5 0.5 0.2 0.2\n"}, ["ball", "player"], nc=3),
            "--to",
            "coco",
            "--out",
            _out(t),
            "--lenient",
        ],
        expect="skip",
        match=r"disagrees with the 2 names",
    ),
    Case(
        "duplicate COCO annotation ids: refused",
        build=lambda t: ["convert", _coco(t, [_ann(4), _ann(4, image_id=2)]), "--to", "yolo", "--out", _out(t)],
        expect="error",
        match=r"annotation id 4: duplicate annotation id",
    ),
    Case(
        "duplicate COCO annotation ids, --lenient: both boxes kept, renumbered and counted",
        build=lambda t: [
            "convert",
            _coco(t, [_ann(4), _ann(4, image_id=2)]),
            "--to",
            "coco",
            "--out",
            _out(t),
            "--lenient",
        ],
        expect="ok",
        match=r"read: 1 duplicate annotation ids \(renumbered on export\)",
        check=lambda t, o: (
            None if sorted(a["id"] for a in _coco_json(t)["annotations"]) == [1, 2] else pytest.fail("ids")
        ),
    ),
    Case(
        "invalid RLE in COCO: refused",
        build=lambda t: ["convert", _bad_rle(t), "--to", "coco", "--out", _out(t)],
        expect="error",
        match=r"annotation id 2: invalid segmentation: RLE counts string is malformed",
    ),
    Case(
        "invalid RLE and a 3-number polygon, --lenient: removed, counted, the export works with annToMask",
        build=lambda t: ["convert", _bad_rle(t), "--to", "coco", "--out", _out(t), "--lenient"],
        expect="ok",
        check=_check_masks,
    ),
    Case(
        "a 3-number polygon in a dataset: the COCO writer refuses it",
        build=lambda t: lambda: coco.write(_segmented_ds(t), _out(t)),
        expect="error",
        match=r"annotation id 1: invalid segmentation: polygon 0 has 3 numbers",
    ),
    Case(
        "convert --to jsonl --plain keeps each row's prompt and reports only what is lost",
        build=lambda t: ["convert", _jsonl(t, _PROMPTED), "--to", "jsonl", "--plain", "--out", _out(t), "--json"],
        expect="ok",
        check=_check_plain_keeps_prompts,
    ),
    Case(
        "convert --plain --prompt counts the prompts it replaced, not every prompt",
        build=lambda t: [
            "convert",
            _jsonl(t, _PROMPTED),
            "--to",
            "jsonl",
            "--plain",
            "--prompt",
            _PROMPTED[1]["prefix"],
            "--out",
            _out(t),
            "--json",
        ],
        expect="ok",
        check=_check_plain_replaced,
    ),
    Case(
        "nested source folders: the YOLO export is flat per split and supervision loads every image",
        build=lambda t: ["convert", _nested(t), "--to", "yolo", "--out", _out(t), "--json"],
        expect="ok",
        check=_check_supervision,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_formats(case: Case, tmp_path: Path) -> None:
    run_case(case, tmp_path)


def test_hf_writer_counts_a_truncated_image_through_the_api(tmp_path: Path) -> None:
    root = _broken_images(tmp_path)
    from datakit.formats import jsonl

    r = hf.write(jsonl.read(root), tmp_path / "h", strict=False)
    assert r.samples == 1 and sorted(s.image for s in r.skipped) == ["train/cut.png", "train/empty.jpg"]
