"""YOLO (Ultralytics layout): round trip, one class order, empty label files, full-image boxes, bad lines."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import make_image
from test_formats_helpers import make_coco

import datakit
from datakit import Dataset, Detection, Sample
from datakit.errors import FormatError
from datakit.formats import coco, yolo
from datakit.formats._imagesize import fast_image_size


def _yolo_dir(root: Path, labels: dict[str, str], names: list[str] | None = None) -> Path:
    """images/train/<name> (64x32) with labels/train/<stem>.txt holding the given text."""
    for name, text in labels.items():
        make_image(root / "images" / "train" / name, size=(64, 32))
        lbl = root / "labels" / "train" / (Path(name).stem + ".txt")
        lbl.parent.mkdir(parents=True, exist_ok=True)
        lbl.write_text(text)
    (root / "data.yaml").write_text(
        yaml.safe_dump({"train": "images/train", "val": "images/train", "names": names or ["ball", "player"]})
    )
    return root


def test_yolo_round_trip(tmp_path: Path) -> None:
    ds = coco.read(make_coco(tmp_path / "src"))
    split = ds.with_column("split", ["train", "train", "valid", "test"])
    r = yolo.write(split, tmp_path / "y")
    spec = yaml.safe_load((tmp_path / "y" / "data.yaml").read_text())
    assert spec["names"] == {0: "ball", 1: "player", 2: "referee", 3: "unused"}
    assert spec["train"] == "images/train" and spec["val"] == "images/valid" and spec["test"] == "images/test"
    assert spec["path"] == str((tmp_path / "y").resolve())  # Ultralytics resolves a missing path elsewhere
    # The image without objects has an empty label file; each split folder is flat.
    assert (tmp_path / "y" / "labels" / "valid" / "c.txt").read_text() == ""
    assert sorted(p.name for p in (tmp_path / "y" / "images" / "train").iterdir()) == ["a.jpg", "b.png"]
    # What YOLO cannot hold is reported, not silently dropped.
    assert r.dropped["detections.attributes.segmentation"] == 6
    assert r.dropped["metadata"] == 4
    # The crowd region (iscrowd=1, annotation 13) is left out and counted, as Ultralytics does.
    assert r.dropped["crowd regions (iscrowd=1)"] == 1 and any("crowd" in n for n in r.notes)
    back = yolo.read(tmp_path / "y")
    assert back.classes == ["ball", "player", "referee", "unused"]
    assert back.count_by("split") == {"train": 2, "test": 1, "valid": 1}
    by_name = {Path(s.image).name: s for s in back}
    for s in ds:
        got = by_name[Path(s.image).name]
        want = [d for d in s.detections if not d.attributes.get("iscrowd")]
        assert [d.label for d in got.detections] == [d.label for d in want]
        for a, b in zip(got.detections, want, strict=True):
            assert a.box == pytest.approx(b.box, abs=1e-3)
        assert (got.width, got.height) == (s.width, s.height)


def test_yolo_one_class_order_across_splits_numeric(tmp_path: Path) -> None:
    # The Pokémon case: ids 0001.. map to 0.. in numeric order, the same in every split.
    samples = [
        Sample(f"{c}/{k}.jpg", label=c, split=sp, width=8, height=8)
        for c, sp in [("0010", "train"), ("0002", "valid"), ("0001", "test"), ("0002", "train")]
        for k in range(2)
    ]
    ds = Dataset.from_samples(samples, tmp_path)
    r = yolo.write(ds, tmp_path / "y", images="none")
    spec = yaml.safe_load((tmp_path / "y" / "data.yaml").read_text())
    assert spec["names"] == {0: "0001", 1: "0002", 2: "0010"}
    assert r.notes[0].startswith("classification as detection")
    assert (tmp_path / "y" / "labels" / "valid" / "0.txt").read_text() == "1 0.500000 0.500000 1.000000 1.000000\n"
    assert (tmp_path / "y" / "labels" / "train" / "1.txt").read_text().startswith("2 0.5")
    # Flat split folders: the clashing names of train get their source folder in front, recorded.
    assert (tmp_path / "y" / "labels" / "train" / "0002__0.txt").read_text().startswith("1 0.5")
    assert r.renamed == {"images/train/0002__0.jpg": "0002/0.jpg", "images/train/0002__1.jpg": "0002/1.jpg"}
    # Opting out writes empty label files and reports the labels as dropped.
    r2 = yolo.write(ds, tmp_path / "y2", images="none", full_image_boxes=False)
    assert r2.dropped["label"] == 8
    assert (tmp_path / "y2" / "labels" / "test" / "0.txt").read_text() == ""


def test_yolo_read_never_decodes_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _yolo_dir(tmp_path, {"a.jpg": "0 0.5 0.5 0.5 0.5\n", "b.png": "1 0.25 0.25 0.5 0.5\n"})
    from PIL import Image

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("pixels decoded")

    monkeypatch.setattr(Image.Image, "load", boom)
    monkeypatch.setattr(Image, "open", boom)
    ds = yolo.read(root)
    assert ds["images/train/b.png"].detections[0].box == (0.0, 0.0, 32.0, 16.0)


def test_fast_image_size_matches_pillow(tmp_path: Path) -> None:
    from PIL import Image

    for ext, size in [("jpg", (123, 45)), ("png", (7, 300)), ("gif", (20, 10)), ("bmp", (9, 11)), ("webp", (33, 22))]:
        p = tmp_path / f"x.{ext}"
        Image.new("RGB", size, (1, 2, 3)).save(p)
        assert fast_image_size(p) == size
    # A progressive JPEG with EXIF in front of the frame header.
    p = tmp_path / "exif.jpg"
    im = Image.new("RGB", (77, 55))
    exif = Image.Exif()
    exif[0x010E] = "x" * 5000
    im.save(p, progressive=True, exif=exif.tobytes())
    assert fast_image_size(p) == (77, 55)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    with pytest.raises(ValueError, match="bad.jpg"):
        fast_image_size(tmp_path / "bad.jpg")
    with pytest.raises(FileNotFoundError, match="nope.png"):
        fast_image_size(tmp_path / "nope.png")


def test_yolo_detect_and_roboflow_style_paths(tmp_path: Path) -> None:
    # Roboflow YOLO export: <split>/images, <split>/labels, data.yaml with ../ paths.
    for sp in ("train", "valid"):
        make_image(tmp_path / sp / "images" / f"{sp}.jpg", size=(10, 10))
        (tmp_path / sp / "labels").mkdir(parents=True)
        (tmp_path / sp / "labels" / f"{sp}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (tmp_path / "data.yaml").write_text("train: train/images\nval: valid/images\nnc: 1\nnames: ['ball']\n")
    assert datakit.formats.detect(tmp_path) == "yolo"
    ds = datakit.load(tmp_path)
    assert ds.count_by("split") == {"train": 1, "valid": 1}
    assert ds["valid/images/valid.jpg"].detections[0].box == pytest.approx((4.0, 4.0, 6.0, 6.0))


BAD_LINES = {
    "wrong field count": ("0 0.5 0.5 0.2\n", 1, "expected 5 fields"),
    "class out of range": ("0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2 0.2\n", 2, "class id 7 out of range 0..1"),
    "negative class": ("-1 0.5 0.5 0.2 0.2\n", 1, "out of range"),
    "box entirely outside": ("1 0.5 1.5 0.2 0.2\n", 1, "entirely outside the 64x32 image"),
    "negative size": ("1 0.5 0.5 -0.2 0.2\n", 1, "negative box width or height"),
    "not a number": ("0 0.5 abc 0.2 0.2\n", 1, "expected numbers"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_yolo_bad_lines_strict_and_lenient(tmp_path: Path, case: str) -> None:
    text, line, reason = BAD_LINES[case]
    root = _yolo_dir(tmp_path, {"ok.jpg": "1 0.5 0.5 1 1\n", "bad.jpg": text})
    with pytest.raises(FormatError) as e:
        yolo.read(root, strict=True)
    assert str(e.value).startswith(f"labels/train/bad.txt:{line}: ") and reason in str(e.value)
    ds = yolo.read(root)
    assert [(s.file, s.line) for s in ds.skipped] == [("labels/train/bad.txt", line)]
    assert reason in ds.skipped[0].reason
    assert len(ds["images/train/ok.jpg"].detections) == 1
    good_lines = sum(1 for ln in text.splitlines() if ln.startswith("0 0.5 0.5 0.2 0.2"))
    assert len(ds["images/train/bad.jpg"].detections) == good_lines


def test_yolo_unreadable_and_missing_image(tmp_path: Path) -> None:
    root = _yolo_dir(tmp_path, {"ok.jpg": "1 0.5 0.5 1 1\n"})
    (root / "images" / "train" / "broken.jpg").write_bytes(b"not an image at all")
    with pytest.raises(
        FormatError, match=r"labels/train/broken.txt: image images/train/broken.jpg: .*not a readable image"
    ):
        yolo.read(root, strict=True)
    ds = yolo.read(root)
    assert len(ds) == 1 and ds.skipped[0].image == "images/train/broken.jpg"
    # A listed image that does not exist (a .txt image list).
    (root / "list.txt").write_text("images/train/ok.jpg\nimages/train/gone.jpg\n")
    (root / "data.yaml").write_text("train: list.txt\nnames: [ball, player]\n")
    with pytest.raises(FormatError, match="gone.jpg: image not found"):
        yolo.read(root, strict=True)


def test_yolo_image_outside_root(tmp_path: Path) -> None:
    root = _yolo_dir(tmp_path / "ds", {"ok.jpg": ""})
    make_image(tmp_path / "outside.jpg")
    (root / "list.txt").write_text("images/train/ok.jpg\n../outside.jpg\n")
    (root / "data.yaml").write_text("train: list.txt\nnames: [ball]\n")
    with pytest.raises(FormatError, match="outside the dataset root"):
        yolo.read(root, strict=True)
    assert len(yolo.read(root)) == 1


def test_yolo_missing_yaml_or_names(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    with pytest.raises(FormatError, match="no YOLO dataset YAML"):
        yolo.read(tmp_path)
    (tmp_path / "data.yaml").write_text("train: images\n")
    with pytest.raises(FormatError, match="data.yaml: missing key 'names'"):
        yolo.read(tmp_path)


def test_yolo_write_clips_and_reports_scores(tmp_path: Path) -> None:
    make_image(tmp_path / "a.jpg", size=(100, 50))
    ds = Dataset.from_samples(
        [Sample("a.jpg", split="train", detections=[Detection("ball", (-0.5, 10, 100.4, 20), score=0.9)])], tmp_path
    )
    r = yolo.write(ds, tmp_path / "y")
    assert r.dropped["detections.score"] == 1
    line = (tmp_path / "y" / "labels" / "train" / "a.txt").read_text().split()
    assert [float(v) for v in line[1:]] == pytest.approx([0.5, 0.3, 1.0, 0.2])
    assert len(yolo.read(tmp_path / "y").skipped) == 0


def test_yolo_write_name_collisions_and_shared_images(tmp_path: Path) -> None:
    for rel in ("x/a.jpg", "y/a.jpg", "z/a.png"):
        make_image(tmp_path / rel, size=(10, 10))
    box = Detection("ball", (0, 0, 5, 5))
    ds = Dataset.from_samples(
        [
            Sample("x/a.jpg", split="train", detections=[box]),
            Sample("x/a.jpg", split="train", detections=[box, box]),  # same image: objects merged
            Sample("z/a.png", split="train", detections=[box]),
        ],
        tmp_path,
    )
    flat = ds.with_column("split", ["train"] * 3)
    r = yolo.write(flat, tmp_path / "y")
    assert any("merged" in n for n in r.notes)
    back = yolo.read(tmp_path / "y")
    assert sorted((Path(s.image).name, len(s.detections)) for s in back) == [("a.jpg", 3), ("z__a.png", 1)]
    assert r.renamed == {"images/train/z__a.png": "z/a.png"}
    # a.jpg and a.png would share labels/t/a.txt unless renamed; a custom split name round-trips.
    make_image(tmp_path / "a.jpg", size=(10, 10))
    make_image(tmp_path / "a.png", size=(10, 10))
    ds2 = Dataset.from_samples(
        [Sample("a.jpg", split="t", detections=[box]), Sample("a.png", split="t", detections=[box, box])], tmp_path
    )
    yolo.write(ds2, tmp_path / "y2")
    back2 = yolo.read(tmp_path / "y2")
    assert sorted((Path(s.image).name, len(s.detections), s.split) for s in back2) == [
        ("a.jpg", 1, "t"),
        ("a_2.png", 2, "t"),
    ]
