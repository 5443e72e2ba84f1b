"""ImageFolder: split/class/image layout, one class mapping, what it cannot hold."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_image

import datakit
from datakit import Dataset, Detection, Sample
from datakit.errors import FormatError
from datakit.formats import imagefolder


def test_imagefolder_round_trip(seed_dataset: Path, tmp_path: Path) -> None:
    ds = datakit.load(seed_dataset)
    r = imagefolder.write(ds, tmp_path / "if")
    assert r.samples == len(ds) == 9
    assert r.dropped == {"source": 2, "prompt": 9}  # the folder layout cannot hold them
    assert (tmp_path / "if" / "train" / "23" / "t1.jpg").is_file()
    assert (tmp_path / "if" / "train" / "6" / "s1.png").is_file()
    assert datakit.formats.detect(tmp_path / "if") == "imagefolder"
    back = imagefolder.read(tmp_path / "if")
    assert back.classes == ["6", "7", "10", "23"]  # numeric order: one stable id mapping
    assert back.count_by("split") == ds.count_by("split")
    assert sorted((Path(s.image).name, s.label, s.split) for s in back) == sorted(
        (Path(s.image).name, s.label, s.split) for s in ds
    )


def test_imagefolder_without_splits_and_collisions(tmp_path: Path) -> None:
    for rel in ("a/x.jpg", "b/x.jpg", "c.jpg"):
        make_image(tmp_path / "src" / rel)
    ds = Dataset.from_samples(
        [
            Sample("a/x.jpg", label="cat"),
            Sample("b/x.jpg", label="cat"),
            Sample("c.jpg"),
            Sample("a/x.jpg", label="../up", detections=[Detection("ball", (0, 0, 1, 1))]),
        ],
        tmp_path / "src",
    )
    r = imagefolder.write(ds, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.jpg")) == [
        "cat/b__x.jpg",
        "cat/x.jpg",
    ]
    reasons = sorted(s.reason for s in r.skipped)
    assert reasons == ["label '../up' cannot be a folder name", "no label: ImageFolder cannot hold it"]
    assert r.dropped["detections"] == 1
    back = imagefolder.read(tmp_path / "out")
    assert back.count_by("label") == {"cat": 2} and back.count_by("split") == {None: 2}


def test_imagefolder_bad_input(tmp_path: Path) -> None:
    make_image(tmp_path / "train" / "cat" / "a.jpg")
    make_image(tmp_path / "train" / "stray.jpg")
    with pytest.raises(FormatError, match="train/stray.jpg: image outside any class folder"):
        imagefolder.read(tmp_path, strict=True)
    ds = imagefolder.read(tmp_path)
    assert len(ds) == 1 and len(ds.skipped) == 1
    ds = imagefolder.read(tmp_path, classes=["dog"])
    assert len(ds) == 0 and "not a declared class" in ds.skipped[-1].reason
    with pytest.raises(FormatError, match="expected class folders"):
        imagefolder.read(tmp_path / "train" / "cat")
