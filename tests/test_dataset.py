"""Dataset: lookup, filters, map, concat, counts, with_column, lazy images and sizes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import datakit
from datakit import Dataset, Detection, PathEscapeError, Sample
from tests.conftest import make_image


@pytest.fixture
def ds(tmp_path: Path) -> Dataset:
    samples = [
        Sample("train/a.jpg", label="23", split="train", tags=["review"], metadata={"jersey_color": "white"}),
        Sample("train/b.jpg", label="7", split="train", source="synthetic", metadata={"jersey_color": "navy"}),
        Sample("valid/c.jpg", label="23", split="valid", metadata={"jersey_color": "white"}),
        Sample(
            "test/d.jpg",
            split="test",
            source="pseudo",
            detections=[Detection("ball", (1, 2, 3, 4), 0.5), Detection("player", (0, 0, 9, 9))],
        ),
    ]
    return Dataset.from_samples(samples, root=tmp_path)


def test_length_iteration_and_lookup(ds: Dataset) -> None:
    assert len(ds) == 4
    assert [s.image for s in ds] == ["train/a.jpg", "train/b.jpg", "valid/c.jpg", "test/d.jpg"]
    assert ds["valid/c.jpg"].label == "23"
    assert ds[-1].detections[0] == Detection("ball", (1.0, 2.0, 3.0, 4.0), 0.5, {})
    assert ds.get("nope") is None
    with pytest.raises(KeyError, match="nope"):
        ds["nope"]
    with pytest.raises(IndexError):
        ds[4]
    assert [s.image for s in ds[1:3]] == ["train/b.jpg", "valid/c.jpg"]


def test_filters_by_field_and_predicate(ds: Dataset) -> None:
    assert ds.filter(split="train").images == ["train/a.jpg", "train/b.jpg"]
    assert ds.filter(split=["valid", "test"]).images == ["valid/c.jpg", "test/d.jpg"]
    assert ds.filter(source="synthetic").images == ["train/b.jpg"]
    assert ds.filter(label="23", split="valid").images == ["valid/c.jpg"]
    assert ds.filter(label=None).images == ["test/d.jpg"]
    assert ds.filter(tag="review").images == ["train/a.jpg"]
    assert ds.filter(metadata={"jersey_color": "white"}).images == ["train/a.jpg", "valid/c.jpg"]
    assert ds.filter(lambda s: len(s.detections) == 2).images == ["test/d.jpg"]
    assert len(ds.filter(label="never")) == 0
    with pytest.raises(TypeError, match="unknown filter field"):
        ds.filter(colour="red")


def test_take_keeps_detections_aligned(ds: Dataset) -> None:
    sub = ds.take([3, 0, 3])
    assert [len(s.detections) for s in sub] == [2, 0, 2]
    assert sub[2].detections[1].label == "player"
    assert sub.ids == ["test/d.jpg", "train/a.jpg", "test/d.jpg#2"]
    assert len(ds.take([])) == 0


def test_counts_grouped_by_any_field(ds: Dataset) -> None:
    assert ds.count_by("split") == {"train": 2, "test": 1, "valid": 1}
    assert ds.count_by("label") == {"23": 2, "7": 1, None: 1}
    assert ds.count_by("source") == {"pseudo": 1, "real": 2, "synthetic": 1}
    assert ds.count_by("metadata.jersey_color") == {"white": 2, None: 1, "navy": 1}
    assert ds.count_by("tag") == {"review": 1}
    assert ds.count_by("detections.label") == {"ball": 1, "player": 1}
    with pytest.raises(KeyError, match="unknown field"):
        ds.count_by("colour")


def test_count_order_is_most_frequent_first(ds: Dataset) -> None:
    assert list(ds.count_by("split")) == ["train", "test", "valid"]
    assert list(ds.count_by("source")) == ["real", "pseudo", "synthetic"]


def test_map_and_concat(ds: Dataset, tmp_path: Path) -> None:
    def relabel(s: Sample) -> Sample | None:
        if s.label is None:
            return None
        s.label = "n" + s.label
        return s

    mapped = ds.map(relabel)
    assert mapped.column("label") == ["n23", "n7", "n23"]
    assert ds.column("label") == ["23", "7", "23", None]  # source unchanged
    both = Dataset.concat([ds, mapped])
    assert len(both) == 7 and both.ids[4] == "train/a.jpg#2"
    assert both.count_by("detections.label") == {"ball": 1, "player": 1}
    other = Dataset.from_samples([Sample("x.jpg")], root=tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="different roots"):
        ds + other
    with pytest.raises(TypeError, match="must return a Sample"):
        ds.map(lambda s: 1)  # type: ignore[arg-type,return-value]


def test_with_column(ds: Dataset) -> None:
    d2 = ds.with_column("split", ["test", "test", "train", "train"])
    assert d2.column("split") == ["test", "test", "train", "train"]
    assert ds.column("split") == ["train", "train", "valid", "test"]
    d3 = ds.with_column("metadata.border", [True, None, False, None])
    assert d3.column("metadata.border") == [True, None, False, None]
    assert d3[0].metadata == {"jersey_color": "white", "border": True}
    assert ds.with_column("metadata.jersey_color", [None] * 4)[0].metadata == {}
    assert ds.with_column("tags", [["a"], [], ["b", "c"], []]).count_by("tag") == {"a": 1, "b": 1, "c": 1}
    with pytest.raises(ValueError, match="expected source"):
        ds.with_column("source", ["real", "bogus", "real", "real"])
    with pytest.raises(ValueError, match="expected 4 values"):
        ds.with_column("label", ["1"])


def test_sample_validation_messages() -> None:
    with pytest.raises(ValueError, match="expected source"):
        Sample("a.jpg", source="scraped")
    with pytest.raises(ValueError, match="x1 <= x2"):
        Detection("b", (5, 5, 1, 1))
    with pytest.raises(ValueError, match="score in"):
        Detection("b", (0, 0, 1, 1), score=1.5)
    with pytest.raises(PathEscapeError):
        Dataset.from_samples([Sample("../x.jpg")], root=".")
    with pytest.raises(PathEscapeError):
        Dataset.from_samples([Sample("/abs/x.jpg")], root=".")


def test_lazy_images_and_header_sizes(tmp_path: Path) -> None:
    make_image(tmp_path / "a.png", size=(30, 20))
    make_image(tmp_path / "b.jpg", size=(7, 9))
    ds = Dataset.from_samples([Sample("a.png"), Sample("b.jpg"), Sample("gone.jpg")], root=tmp_path)
    assert ds.image_size(0) == (30, 20)
    assert isinstance(ds.load_image("b.jpg"), Image.Image)
    with pytest.raises(FileNotFoundError, match="gone.jpg"):
        ds.load_image(2)
    with pytest.raises(FileNotFoundError, match="gone.jpg"):
        ds.image_sizes()
    sizes = ds.image_sizes(errors="ignore")
    assert sizes.tolist() == [[30, 20], [7, 9], [-1, -1]]


def test_sizes_come_from_headers_not_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_image(tmp_path / "a.jpg", size=(64, 32))
    ds = Dataset.from_samples([Sample("a.jpg")], root=tmp_path)

    def boom(self: Image.Image) -> None:
        raise AssertionError("pixels decoded")

    monkeypatch.setattr(Image.Image, "load", boom)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", boom)
    assert ds.image_sizes().tolist() == [[64, 32]]
    # cached: a second call does not touch the file
    (tmp_path / "a.jpg").unlink()
    assert ds.image_size(0) == (64, 32)


def test_columnar_storage_scales(tmp_path: Path) -> None:
    """100k samples: one small array per field, shared vocabularies, no per-box objects."""
    from datakit.builder import DatasetBuilder

    b = DatasetBuilder()
    for i in range(100_000):
        b.add(
            f"img_{i}.jpg",
            label=str(i % 50),
            split="train",
            detections=[("ball", (0.0, 0.0, 1.0, 1.0), 0.5, None)] if i % 2 else None,
        )
    ds = b.build(tmp_path)
    assert ds.columns.labels.codes.dtype == np.int32 and len(ds.columns.labels.values) == 50
    assert ds.detections.boxes.shape == (50_000, 4)
    assert ds.filter(label="7").count_by("label") == {"7": 2000}
    assert ds.count_by("detections.label") == {"ball": 50_000}


def test_summary_and_labels_sorted_numerically(ds: Dataset) -> None:
    d = Dataset.from_samples([Sample(f"{n}.jpg", label=n) for n in ["10", "2", "33", "2"]], root=".")
    assert d.labels == ["2", "10", "33"]
    s = ds.summary()
    assert s["samples"] == 4 and s["labels"] == {"23": 2, "7": 1} and s["skipped"] == []
    assert s["unlabeled"] == 1  # no label is not the label "null" (issue 14)


def test_top_level_api() -> None:
    assert {"Dataset", "Sample", "Detection", "FormatError", "load"} <= set(datakit.__all__)


def test_format_methods_round_trip_through_coco_yolo_and_vlm_jsonl(tmp_path: Path) -> None:
    samples = []
    for i, (label, split) in enumerate([("ball", "train"), ("player", "train"), ("ball", "valid")]):
        make_image(tmp_path / "src" / f"{i}.jpg", size=(64, 48))
        samples.append(Sample(f"{i}.jpg", split=split, detections=[Detection(label, (4.0, 6.0, 20.0 + i, 30.0))]))
    ds = Dataset.from_samples(samples, tmp_path / "src")

    ds.to_coco(tmp_path / "coco")
    back = Dataset.from_coco(tmp_path / "coco")
    assert sorted(back.count_by("detections.label").items()) == [("ball", 2), ("player", 1)]
    assert back.count_by("split") == {"train": 2, "valid": 1}
    boxes = sorted(tuple(d.box) for s in back for d in s.detections)
    assert boxes == sorted(tuple(d.box) for s in ds for d in s.detections)

    r = back.to_yolo(tmp_path / "yolo")
    assert r.samples == 3
    yolo = Dataset.read(tmp_path / "yolo")  # format detected
    assert sorted(yolo.count_by("detections.label").items()) == [("ball", 2), ("player", 1)]

    labeled = Dataset.from_samples([Sample("0.jpg", label="23", split="train")], tmp_path / "src")
    labeled.to_vlm_jsonl(tmp_path / "vlm", prompt="Which number?")
    line = (tmp_path / "vlm" / "train" / "annotations.jsonl").read_text().strip()
    assert json.loads(line) == {"image": "0.jpg", "prefix": "Which number?", "suffix": "23"}


def test_split_method_is_deterministic_and_stratified() -> None:
    ds = Dataset.from_samples([Sample(f"{i}.jpg", label=str(i % 2)) for i in range(20)], ".")
    a = ds.split(ratios=(0.5, 0.5), names=("train", "test"), seed=3)
    b = ds.split(ratios=(0.5, 0.5), names=("train", "test"), seed=3)
    assert a.dataset.column("split") == b.dataset.column("split")
    assert a.per_split == {"train": {"0": 5, "1": 5}, "test": {"0": 5, "1": 5}}


def test_builder_blocks_keep_first_appearance_order_and_drop_unused_values() -> None:
    """Blocks of codes, defaults patched over by native rows: the columns read as if row by row."""
    from datakit.builder import DatasetBuilder
    from datakit.columns import Categorical

    b = DatasetBuilder()
    b.add("r/0.jpg", label="z", source="pseudo")
    # Block vocabularies in another order than the rows use them; a value no row uses ("w").
    labels = Categorical(np.array([2, 0, -1, 2], dtype=np.int32), ["x", "w", "y"])
    natives = [(k, "valid", "synthetic", ("t",), {"k": k}, None, None, None, None) for k in range(4)]
    b.extend_rows(["a", "b", "c", "d"], labels, [None] * 4, natives, split="train", source="real", origin="f")
    b.extend_rows(["e"], ["x"], ["P"], [], split="train", source="real", origin="f")
    ds = b.build(".")
    assert ds.columns.labels.tolist() == ["z", "y", "x", None, "y", "x"]
    assert ds.columns.labels.values == ["z", "y", "x"]  # first appearance; "w" dropped
    # Every row of the first block overrides the default split and source: they are not values.
    assert ds.columns.sources.values == ["pseudo", "synthetic", "real"]
    assert ds.columns.splits.tolist() == [None, "valid", "valid", "valid", "valid", "train"]
    assert ds.count_by("source") == {"synthetic": 4, "pseudo": 1, "real": 1}
    assert [s.tags for s in ds][1:3] == [["t"], ["t"]] and ds[4].metadata == {"k": 3}


def test_builder_finds_repeated_paths_across_blocks_and_single_rows() -> None:
    """The builder tracks paths block by block (so its final check can be skipped): repeats still show."""
    from datakit.builder import DatasetBuilder

    def block(b: DatasetBuilder, images: list[str]) -> None:
        b.extend_rows(images, ["1"] * len(images), [None] * len(images), [], split=None, source="real", origin=None)

    b = DatasetBuilder()
    block(b, ["a.jpg", "b.jpg"])
    block(b, ["c.jpg", "a.jpg"])
    assert b.build(".").columns.ids == ["a.jpg", "b.jpg", "c.jpg", "a.jpg#2"]
    b = DatasetBuilder()
    block(b, ["a.jpg", "b.jpg"])
    b.add("b.jpg")
    assert b.build(".").columns.ids == ["a.jpg", "b.jpg", "b.jpg#2"]
    b = DatasetBuilder()
    block(b, ["a.jpg", "b.jpg"])
    block(b, ["c.jpg"])
    assert b.build(".").columns.ids == ["a.jpg", "b.jpg", "c.jpg"]
