"""Pascal VOC: round trips, the 1-based pixel convention against supervision and FiftyOne, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_image

import datakit
from datakit import Dataset, Detection, FormatError, Sample
from datakit.cli import main
from datakit.formats import detect, voc


def _dataset(root: Path) -> Dataset:
    """Two splits, integer boxes, every field VOC has no element for."""
    make_image(root / "train" / "a.jpg", size=(64, 48))
    make_image(root / "train" / "b.png", size=(32, 40))
    make_image(root / "valid" / "a.jpg", size=(50, 50))  # same file name in another split
    make_image(root / "test" / "c.jpg", size=(20, 30))
    return Dataset.from_samples(
        [
            Sample(
                "train/a.jpg",
                split="train",
                label="23",
                tags=["review"],
                metadata={"kit": "red", "n": 3},
                prompt="Which number?",
                detections=[
                    Detection("ball", (0, 0, 10, 12), 0.5, {"difficult": 1, "track": 7}),
                    Detection("player", (5, 6, 64, 48), None, {"truncated": 1, "pose": "Left"}),
                ],
            ),
            Sample("train/b.png", split="train", source="synthetic", detections=[Detection("ball", (1, 2, 3, 4))]),
            Sample("valid/a.jpg", split="valid", detections=[Detection("player", (10, 10, 20, 30))]),
            Sample("test/c.jpg", split="test", label="7"),
        ],
        root,
        classes=["ball", "player", "7", "23"],
    )


def _fields(ds: Dataset) -> list[tuple]:  # type: ignore[type-arg]
    return [
        (
            s.label, s.split, s.source, s.tags, s.metadata, s.prompt, s.width, s.height,
            [(d.label, d.box, d.score, d.attributes) for d in s.detections],
        )
        for s in ds
    ]  # fmt: skip


def test_voc_round_trip(tmp_path: Path) -> None:
    ds = _dataset(tmp_path / "src")
    r = ds.write(tmp_path / "voc", "voc")
    assert r.samples == 4 and r.dropped == {} and r.skipped == []
    out = tmp_path / "voc"
    assert detect(out) == "voc"
    assert sorted(p.name for p in (out / "Annotations").iterdir()) == ["a.xml", "a_2.xml", "b.xml", "c.xml"]
    assert sorted(p.name for p in (out / "JPEGImages").iterdir()) == ["a.jpg", "a_2.jpg", "b.png", "c.jpg"]
    sets = out / "ImageSets" / "Main"
    assert {p.name: p.read_text().split() for p in sets.iterdir()} == {
        "train.txt": ["a", "b"], "val.txt": ["a_2"], "test.txt": ["c"], "trainval.txt": ["a", "b", "a_2"],
    }  # fmt: skip
    back = datakit.load(out)
    assert back.classes == ["ball", "player", "7", "23"]
    assert back.images == ["JPEGImages/a.jpg", "JPEGImages/a_2.jpg", "JPEGImages/b.png", "JPEGImages/c.jpg"]
    assert _fields(back) == _fields(_sized(ds).take([0, 2, 1, 3]))  # files are read in name order
    # the same through the generic registry shims
    again = Dataset.from_voc(out)
    assert _fields(again) == _fields(back)


def _sized(ds: Dataset) -> Dataset:
    sizes = ds.image_sizes().astype(np.int32)
    return ds.replace(widths=sizes[:, 0].copy(), heights=sizes[:, 1].copy())


def test_voc_pixel_convention_and_rounding(tmp_path: Path) -> None:
    """xyxy (0, 0, 10, 12) is VOC (1, 1, 10, 12); sub-pixel boxes are rounded and counted."""
    make_image(tmp_path / "a.jpg", size=(64, 48))
    ds = Dataset.from_samples(
        [Sample("a.jpg", detections=[Detection("b", (0, 0, 10, 12)), Detection("b", (4.4, 5.5, 9.6, 47.9))])], tmp_path
    )
    r = voc.write(ds, tmp_path / "voc")
    text = (tmp_path / "voc" / "Annotations" / "a.xml").read_text()
    assert "<xmin>1</xmin>" in text and "<ymin>1</ymin>" in text and "<xmax>10</xmax>" in text
    assert r.dropped == {"sub-pixel box coordinates (rounded to whole pixels)": 1}
    assert [d.box for d in voc.read(tmp_path / "voc")[0].detections] == [(0, 0, 10, 12), (4, 6, 10, 48)]


def test_voc_boxes_match_supervision(tmp_path: Path) -> None:
    """supervision reads our export to the same pixels, and we read its export to the same pixels."""
    sv = pytest.importorskip("supervision")
    ds = _dataset(tmp_path / "src")
    ds.write(tmp_path / "voc", "voc")
    theirs = sv.DetectionDataset.from_pascal_voc(
        str(tmp_path / "voc" / "JPEGImages"), str(tmp_path / "voc" / "Annotations")
    )
    ours = {Path(s.image).name: s for s in datakit.load(tmp_path / "voc")}
    assert len(theirs) == 4
    for path, _, det in theirs:
        s = ours[Path(path).name]
        assert [theirs.classes[c] for c in det.class_id] == [d.label for d in s.detections]
        assert np.allclose(det.xyxy, [d.box for d in s.detections] or np.zeros((0, 4)))
    # supervision as the writer: its own VOC export read back by datakit gives its boxes
    theirs.as_pascal_voc(images_directory_path=str(tmp_path / "sv" / "JPEGImages"),
                         annotations_directory_path=str(tmp_path / "sv" / "Annotations"))  # fmt: skip
    back = {Path(s.image).name: s for s in voc.read(tmp_path / "sv")}
    for path, _, det in theirs:
        assert np.allclose([d.box for d in back[Path(path).name].detections] or np.zeros((0, 4)), det.xyxy)


@pytest.mark.slow
def test_voc_fiftyone_reads_our_export_and_we_read_its(tmp_path: Path) -> None:
    """FiftyOne reads VOC numbers as they stand: its boxes are ours shifted by +1 on xmin/ymin."""
    fo = pytest.importorskip("fiftyone")
    ds = _dataset(tmp_path / "src")
    ds.write(tmp_path / "voc", "voc")
    ours = {Path(s.image).name: s for s in datakit.load(tmp_path / "voc")}
    fds = fo.Dataset.from_dir(
        dataset_type=fo.types.VOCDetectionDataset,
        data_path=str(tmp_path / "voc" / "JPEGImages"),
        labels_path=str(tmp_path / "voc" / "Annotations"),
        label_field="gt",
    )
    try:
        assert len(fds) == 4
        for s in fds:
            mine = ours[Path(s.filepath).name]
            w, h = mine.width, mine.height
            got = [
                (d.label, (d.bounding_box[0] * w, d.bounding_box[1] * h,
                           (d.bounding_box[0] + d.bounding_box[2]) * w, (d.bounding_box[1] + d.bounding_box[3]) * h))
                for d in (s.gt.detections if s.gt else [])
            ]  # fmt: skip
            want = [(d.label, (d.box[0] + 1, d.box[1] + 1, d.box[2], d.box[3])) for d in mine.detections]
            assert [g[0] for g in got] == [x[0] for x in want]
            assert np.allclose([g[1] for g in got] or np.zeros((0, 4)), [x[1] for x in want] or np.zeros((0, 4)))
            if s.gt and Path(s.filepath).name == "a.jpg":
                assert s.gt.detections[0]["difficult"] == 1  # standard attributes reach FiftyOne
        # FiftyOne as the writer (its data/ + labels/ layout): datakit reads it, 1 px left/up of FiftyOne
        fds.export(export_dir=str(tmp_path / "fo"), dataset_type=fo.types.VOCDetectionDataset, label_field="gt")
        assert detect(tmp_path / "fo") == "voc"
        back = {Path(s.image).name: s for s in voc.read(tmp_path / "fo")}
        for s in fds:
            mine = back[Path(s.filepath).name]
            assert [d.label for d in mine.detections] == [d.label for d in (s.gt.detections if s.gt else [])]
            for d, theirs in zip(mine.detections, s.gt.detections if s.gt else [], strict=True):
                x, y = theirs.bounding_box[0] * mine.width, theirs.bounding_box[1] * mine.height
                assert d.box[0] == pytest.approx(x - 1) and d.box[1] == pytest.approx(y - 1)
    finally:
        fds.delete()


def _xml(
    objects: str = "", size: str = "<size><width>64</width><height>48</height></size>", name: str = "a.jpg"
) -> str:
    return f"<annotation><filename>{name}</filename>{size}{objects}</annotation>"


def _obj(name: str = "ball", box: tuple = (11, 21, 20, 30), extra: str = "") -> str:  # type: ignore[type-arg]
    coords = "".join(f"<{t}>{v}</{t}>" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True))
    return f"<object><name>{name}</name>{extra}<bndbox>{coords}</bndbox></object>"


BAD = {
    "malformed": ("<annotation><filename>a.jpg</filename>\n<size>", (None, 2), "malformed XML"),
    "not_annotation": ("<foo/>", (None, None), "expected an <annotation> root element"),
    "no_size": (_xml(_obj(), size=""), (None, None), "missing <size>"),
    "zero_size": (
        _xml(_obj(), size="<size><width>0</width><height>48</height></size>"),
        (None, None),
        "positive integer",
    ),
    "no_name": (_xml("<object><bndbox><xmin>1</xmin></bndbox></object>"), ("object 1", None), "missing <name>"),
    "no_bndbox": (_xml("<object><name>ball</name></object>"), ("object 1", None), "missing <bndbox>"),
    "not_a_number": (_xml(_obj(box=(1, "x", 3, 4))), ("object 1", None), "expected a number in <bndbox><ymin>"),
    "reversed": (_xml(_obj(box=(20, 21, 11, 30))), ("object 1", None), "expected xmin <= xmax"),
    "outside": (_xml(_obj(box=(100, 100, 120, 130))), ("object 1", None), "lies entirely outside the 64x48 image"),
    "entities": ('<!DOCTYPE a [<!ENTITY x "y">]><annotation>&x;</annotation>', (None, None), "refused XML"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_voc_bad_input_one_line_error_or_counted_skip(tmp_path: Path, case: str) -> None:
    text, (where, line), reason = BAD[case]
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "a.xml").write_text(text)
    (tmp_path / "Annotations" / "b.xml").write_text(_xml(_obj(), name="b.jpg"))  # a good file beside
    with pytest.raises(FormatError) as e:
        voc.read(tmp_path, strict=True)
    msg = str(e.value)
    assert msg.startswith("Annotations/a.xml") and reason in msg and "\n" not in msg
    ds = voc.read(tmp_path)
    assert [(s.file, s.line) for s in ds.skipped] == [("Annotations/a.xml", where or line)]
    assert reason in ds.skipped[0].reason
    assert "JPEGImages/b.jpg" in ds.images  # the good file still loads


def test_voc_unknown_class_and_overhang(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "a.xml").write_text(
        _xml(_obj("ball") + _obj("dog", (1, 1, 5, 5)) + _obj("ball", (0, 1, 66, 48)))
    )
    ds = voc.read(tmp_path, classes=["ball"])
    assert [(s.line, s.reason) for s in ds.skipped] == [
        ("object 2", "unknown class 'dog' (not in the declared classes)")
    ]
    assert [d.box for d in ds[0].detections] == [(10, 20, 20, 30), (0, 0, 64, 48)]  # overhang clipped, counted
    assert ds.info["fixes"] == {"boxes overhanging their image clipped to it": 1}
    with pytest.raises(FormatError, match="object 3: box .* lies outside the 64x48 image"):
        voc.read(tmp_path, classes=["ball"], exact=True)
    rc = main(["info", str(tmp_path), "--classes", "ball", "--strict"])
    _, err = capsys.readouterr()
    assert rc == 1 and err.strip().endswith(
        "Annotations/a.xml: object 2: unknown class 'dog' (not in the declared classes)"
    )


def test_voc_splits_and_attributes(tmp_path: Path) -> None:
    (tmp_path / "Annotations").mkdir()
    for i in range(5):
        (tmp_path / "Annotations" / f"{i:06d}.xml").write_text(
            _xml(_obj(extra="<pose>Left</pose><truncated>1</truncated><difficult>0</difficult>"), name=f"{i:06d}.jpg")
            .replace("</annotation>", "<source><database>VOC2007</database></source></annotation>")
        )  # fmt: skip
    sets = tmp_path / "ImageSets" / "Main"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("000000\n000001\n")
    (sets / "val.txt").write_text("000002\n000001\n000009\n")
    (sets / "trainval.txt").write_text("000000\n000001\n000002\n")  # ignored beside train/val
    (sets / "test.txt").write_text("000003\n")
    (sets / "ball_train.txt").write_text("000000  1\n000001 -1\n")  # a per-class list: not a split
    ds = voc.read(tmp_path)
    assert ds.count_by("split") == {"train": 2, "test": 1, "valid": 1, None: 1}
    assert [(s.file, s.line, s.reason) for s in ds.skipped] == [
        ("ImageSets/Main/val.txt", 2, "image id '000001' is already listed in train.txt"),
        ("ImageSets/Main/val.txt", 3, "no annotation file for image id '000009'"),
    ]
    s = ds[0]
    assert s.detections[0].attributes == {"pose": "Left", "truncated": 1, "difficult": 0}
    assert s.metadata == {"voc": {"source": {"database": "VOC2007"}}}
    (sets / "train.txt").unlink()
    (sets / "val.txt").unlink()
    assert voc.read(tmp_path).count_by("split") == {"train": 3, "test": 1, None: 1}  # trainval alone → train


def test_voc_folder_is_not_an_imagefolder(tmp_path: Path) -> None:
    make_image(tmp_path / "JPEGImages" / "a.jpg")
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "a.xml").write_text(_xml(_obj(box=(1, 1, 5, 5))))
    assert detect(tmp_path) == "voc"
    assert datakit.load(tmp_path).count_by("detections.label") == {"ball": 1}


def test_voc_cli_convert_both_ways(seed_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(seed_dataset), "--to", "voc", "--out", str(tmp_path / "voc"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["to"] == "voc" and payload["samples"] == 9
    back = datakit.load(tmp_path / "voc")
    assert back.count_by("label") == {"23": 3, "10": 2, "6": 2, "7": 2}
    assert back.count_by("split") == {"train": 6, "valid": 2, "test": 1}
    assert main(["convert", str(tmp_path / "voc"), "--to", "jsonl", "--out", str(tmp_path / "j")]) == 0
    assert "(voc)" in capsys.readouterr().out
    assert len(datakit.load(tmp_path / "j")) == 9
    assert (
        main(["convert", str(tmp_path / "voc"), "--to", "voc", "--coco-layout", "coco", "--out", str(tmp_path / "x")])
        == 1
    )
    assert "--coco-layout only applies to --to coco" in capsys.readouterr().err
