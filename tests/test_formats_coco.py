"""COCO reader and writer: lossless round trip, pycocotools/COCOeval acceptance, bad input."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from test_formats_helpers import coco_dict, make_coco

import datakit
from datakit import Dataset, Detection, Sample
from datakit.errors import FormatError
from datakit.formats import coco


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_coco_read_fields(tmp_path: Path) -> None:
    ds = coco.read(make_coco(tmp_path))
    assert len(ds) == 4
    assert ds.classes == ["ball", "player", "referee", "unused"]
    assert ds.info["coco"]["info"]["description"] == "fixture"
    assert ds.info["coco"]["extra_top_level"] == {"kept": True}
    a = ds["imgs/a.jpg"]
    assert a.metadata == {"coco_id": 101, "license": 1, "coco_url": "http://x/a"}
    assert (a.width, a.height) == (64, 48)
    assert [d.label for d in a.detections] == ["ball", "player"]
    assert a.detections[1].box == (30.5, 10.25, 50.5, 40.25)
    assert a.detections[0].attributes["occluded"] is True
    assert a.detections[0].attributes["coco_id"] == 11
    b = ds["imgs/b.png"]
    assert b.detections[0].attributes["iscrowd"] == 1
    assert isinstance(b.detections[0].attributes["segmentation"]["counts"], str)
    assert ds["imgs/c.jpg"].detections == []  # image without annotations is kept
    assert ds.skipped == []


def test_coco_round_trip(tmp_path: Path) -> None:
    src = make_coco(tmp_path / "src")
    ds = coco.read(src)
    r = coco.write(ds, tmp_path / "out")
    assert r.dropped == {} and r.samples == 4
    out = _load(tmp_path / "out" / coco.COCO_FILE)
    orig = coco_dict()
    assert out["info"] == orig["info"] and out["licenses"] == orig["licenses"]
    assert out["categories"] == orig["categories"]  # non-contiguous ids, unused one kept
    assert out["extra_top_level"] == {"kept": True}
    assert sorted(out["images"], key=lambda x: x["id"]) == sorted(orig["images"], key=lambda x: x["id"])
    key = lambda a: a["id"]  # noqa: E731
    got = sorted(out["annotations"], key=key)
    want = sorted(orig["annotations"], key=key)
    assert got == want
    assert (tmp_path / "out" / "imgs" / "c.jpg").is_file()
    # And read back: the same dataset.
    again = coco.read(tmp_path / "out")
    assert again.images == ds.images
    assert [s.detections for s in again] == [s.detections for s in ds]


def test_coco_pycocotools_and_cocoeval_ap_is_one(tmp_path: Path) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    src = make_coco(tmp_path / "src")
    # Through another format and back: jsonl keeps boxes; the COCO we write must score AP 1.0.
    ds = coco.read(src)
    ds.save(tmp_path / "native")
    coco.write(datakit.load(tmp_path / "native"), tmp_path / "out")
    ours = tmp_path / "out" / coco.COCO_FILE
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(src))
        exported = COCO(str(ours))
        assert len(exported.getImgIds()) == 4 and len(exported.getAnnIds()) == 6
        results = [
            {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
            for a in exported.dataset["annotations"]
        ]
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)
    assert exported.loadCats(exported.getCatIds()) == coco_dict()["categories"]


def test_coco_roboflow_layout(tmp_path: Path) -> None:
    ds = Dataset.from_samples(
        [
            Sample("train/a.jpg", split="train", detections=[Detection("ball", (1, 1, 5, 5))]),
            Sample("valid/b.jpg", split="valid", detections=[Detection("player", (2, 2, 8, 9))]),
            Sample("valid/sub/c.jpg", split="valid"),
        ],
        tmp_path / "src",
    )
    from conftest import make_image

    for rel in ds.images:
        make_image(tmp_path / "src" / rel, size=(20, 20))
    coco.write(ds, tmp_path / "rf")
    assert (tmp_path / "rf" / "train" / coco.COCO_FILE).is_file()
    valid = _load(tmp_path / "rf" / "valid" / coco.COCO_FILE)
    assert [i["file_name"] for i in valid["images"]] == ["b.jpg", "sub/c.jpg"]
    assert (tmp_path / "rf" / "valid" / "sub" / "c.jpg").is_file()
    # Both splits share one category table.
    assert valid["categories"] == _load(tmp_path / "rf" / "train" / coco.COCO_FILE)["categories"]
    back = datakit.load(tmp_path / "rf")
    assert back.count_by("split") == {"valid": 2, "train": 1}
    assert back["valid/b.jpg"].detections[0].box == (2.0, 2.0, 8.0, 9.0)
    assert back["train/a.jpg"].width == 20  # sizes were read from the headers when writing


def test_coco_images_option_and_detect(tmp_path: Path) -> None:
    data = coco_dict()
    make_coco(tmp_path / "pics", data)
    ann = tmp_path / "annotations" / "instances.json"
    ann.parent.mkdir()
    ann.write_text(json.dumps(data))
    ds = datakit.load(ann, images=tmp_path / "pics")
    assert ds.root == tmp_path / "pics" and len(ds) == 4
    assert datakit.formats.detect(ann) == "coco"


def test_coco_keeps_sample_fields(tmp_path: Path) -> None:
    from conftest import make_image

    make_image(tmp_path / "s" / "a.jpg", size=(10, 10))
    ds = Dataset.from_samples(
        [
            Sample(
                "a.jpg",
                label="23",
                tags=["review"],
                source="synthetic",
                prompt="Number?",
                metadata={"jersey_color": "red"},
                detections=[Detection("ball", (1, 1, 4, 4), score=0.5)],
            )
        ],
        tmp_path / "s",
    )
    coco.write(ds, tmp_path / "o")
    s = coco.read(tmp_path / "o")[0]
    assert (s.label, s.tags, s.source, s.prompt) == ("23", ["review"], "synthetic", "Number?")
    assert s.metadata["jersey_color"] == "red"
    assert s.detections[0].score == 0.5


# ----------------------------------------------------------------------------- bad input
def _bad(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    data = coco_dict()
    mutate(data)
    return make_coco(tmp_path, data)


BAD_CASES = {
    "image missing key": (lambda d: d["images"][1].pop("width"), "image id 205", "missing key"),
    "negative image size": (lambda d: d["images"][1].update(height=-40), "image id 205", "positive integer"),
    "negative box size": (lambda d: d["annotations"][0].update(bbox=[2, 3, -1, 4]), "annotation id 11", "negative"),
    "box entirely outside image": (
        lambda d: d["annotations"][1].update(bbox=[70, 10, 30, 5]),
        "annotation id 12",
        "entirely outside",
    ),
    "duplicate annotation id": (
        lambda d: d["annotations"][1].update(id=11),
        "annotation id 11",
        "duplicate annotation id",
    ),
    "3-number polygon": (
        lambda d: d["annotations"][0].update(segmentation=[[2, 3, 12]]),
        "annotation id 11",
        "invalid segmentation: polygon 0 has 3 numbers",
    ),
    "RLE not covering the image": (
        lambda d: d["annotations"][2].update(segmentation={"size": [40, 40], "counts": [10, 20]}),
        "annotation id 13",
        "RLE counts sum to 30",
    ),
    "unknown category": (
        lambda d: d["annotations"][2].update(category_id=999),
        "annotation id 13",
        "unknown category id 999",
    ),
    "duplicate image id": (
        lambda d: d["images"].append(dict(d["images"][0], file_name="imgs/c.jpg")),
        "image id 101",
        "duplicate image id",
    ),
    "annotation for missing image": (
        lambda d: d["annotations"][3].update(image_id=7),
        "annotation id 14",
        "image id 7 is not in",
    ),
    "annotation missing bbox": (lambda d: d["annotations"][4].pop("bbox"), "annotation id 15", "missing key 'bbox'"),
    "escaping file name": (lambda d: d["images"][2].update(file_name="../../etc/passwd"), "image id 333", "escapes"),
    "absolute file name": (lambda d: d["images"][2].update(file_name="/etc/passwd"), "image id 333", "absolute"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_coco_bad_record_strict_and_lenient(tmp_path: Path, case: str) -> None:
    mutate, where, reason = BAD_CASES[case]
    path = _bad(tmp_path, mutate)
    with pytest.raises(FormatError) as e:
        coco.read(path, strict=True)
    msg = str(e.value)
    assert "ann.json" in msg and where in msg and reason in msg and "\n" not in msg
    ds = coco.read(path)  # lenient by default: a counted skip (or a counted fix)
    if reason in ("duplicate annotation id",) or reason.startswith("invalid segmentation") or "RLE" in reason:
        assert not ds.skipped and len(ds.info["fixes"]) == 1 and ds.count_by("detections.label")
        return
    assert ds.skipped[0].line == where and reason in ds.skipped[0].reason
    # A skipped image takes its annotations with it, each listed as such.
    assert all("was skipped" in s.reason for s in ds.skipped[1:])
    assert len(ds) + (1 if where.startswith("image") and "duplicate" not in reason else 0) == 4


def test_coco_missing_top_level_key(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"annotations": [], "categories": []}))
    with pytest.raises(FormatError, match=r"x.json: missing key 'images'"):
        coco.read(p)
    p.write_text("{not json")
    with pytest.raises(FormatError, match="not valid JSON"):
        coco.read(p)


def test_coco_missing_image_file_on_write(tmp_path: Path) -> None:
    path = make_coco(tmp_path / "src")
    (tmp_path / "src" / "imgs" / "b.png").unlink()
    ds = coco.read(path)
    with pytest.raises(FormatError) as e:
        coco.write(ds, tmp_path / "out")
    assert "imgs/b.png" in str(e.value) and "image id 205" in str(e.value) and "image not found" in str(e.value)
    assert not (tmp_path / "out").exists()  # atomic: nothing half-written
    r = coco.write(ds, tmp_path / "out", strict=False)
    assert r.samples == 3 and len(r.skipped) == 1 and r.skipped[0].image == "imgs/b.png"


def test_coco_declared_classes(tmp_path: Path) -> None:
    path = make_coco(tmp_path)
    ds = coco.read(path, classes=["ball", "player"])
    assert ds.classes == ["ball", "player"]
    assert ds.count_by("detections.label") == {"ball": 2, "player": 2}
    assert sorted(s.line for s in ds.skipped) == ["annotation id 14", "annotation id 15"]
    assert all("'referee' is not a declared class" in s.reason for s in ds.skipped)
    assert [len(s.detections) for s in ds] == [2, 1, 0, 1]
    with pytest.raises(FormatError, match="annotation id 14: category 'referee' is not a declared class"):
        coco.read(path, classes=["ball", "player"], strict=True)


def test_coco_own_layout(seed_dataset: Path, tmp_path: Path) -> None:
    ds = datakit.load(seed_dataset)
    coco.write(ds, tmp_path / "c", layout="coco")
    assert sorted(p.name for p in (tmp_path / "c" / "annotations").iterdir()) == [
        "instances_test.json",
        "instances_train.json",
        "instances_valid.json",
    ]
    valid = _load(tmp_path / "c" / "annotations" / "instances_valid.json")
    assert [i["file_name"] for i in valid["images"]] == ["v1.jpg", "v2.jpg"]
    assert (tmp_path / "c" / "valid" / "v1.jpg").is_file()
    back = datakit.load(tmp_path / "c")
    assert back.count_by("split") == {"train": 6, "valid": 2, "test": 1}
    assert sorted(back.images) == sorted(ds.images) and back.count_by("label") == ds.count_by("label")
    # One file of the layout, read on its own with --images.
    one = coco.read(tmp_path / "c" / "annotations" / "instances_test.json", images=tmp_path / "c" / "test")
    assert one.images == ["e1.jpg"] and one[0].label == "10"
    with pytest.raises(ValueError, match="layout"):
        coco.write(ds, tmp_path / "x", layout="voc")
