"""Hugging Face folders: embedded image bytes, ClassLabel features, a card, load_dataset offline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_formats_helpers import make_coco

import datakit
from datakit.formats import coco, hf
from tests.conftest import make_image


@pytest.mark.slow
def test_hf_round_trip_and_load_dataset_after_deleting_sources(seed_dataset: Path, tmp_path: Path) -> None:
    import datasets

    work = tmp_path / "copy"
    shutil.copytree(seed_dataset, work)
    ds = datakit.load(work)
    ds = ds.with_column("metadata.jersey_color", ["red"] * len(ds))
    r = hf.write(ds, tmp_path / "hf")
    assert r.dropped == {} and r.samples == 9
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "configs:" in card and "data/valid-*.parquet" in card and "`23`" in card
    want = {(Path(s.image).name, s.label, s.split) for s in ds}
    sizes = {Path(s.image).name: datakit.load(work).image_size(i) for i, s in enumerate(ds)}
    shutil.rmtree(work)  # the source images are gone: the parquet holds the bytes
    loaded = datasets.load_dataset(str(tmp_path / "hf"), cache_dir=str(tmp_path / "cache"))
    assert set(loaded) == {"train", "valid", "test"}
    feat = loaded["train"].features["label"]
    assert isinstance(feat, datasets.ClassLabel) and feat.names == ["6", "7", "10", "23"]
    got = set()
    for split, part in loaded.items():
        for row in part:
            name = Path(row["image_path"]).name
            assert row["image"].size == sizes[name]  # decoded from the embedded bytes
            got.add((name, feat.names[row["label"]], split))
    assert got == want
    # Our reader gives the same dataset back, images extracted from the bytes.
    back = hf.read(tmp_path / "hf", images_dir=tmp_path / "extracted")
    assert {(Path(s.image).name, s.label, s.split) for s in back} == want
    assert back.count_by("source") == {"real": 7, "synthetic": 2}
    assert back.column("metadata.jersey_color") == ["red"] * 9
    assert back.image_size(0) == sizes[Path(back[0].image).name]


def test_hf_round_trip_detections(tmp_path: Path) -> None:
    ds = coco.read(make_coco(tmp_path / "src"))
    hf.write(ds, tmp_path / "hf")
    assert datakit.formats.detect(tmp_path / "hf") == "hf"
    back = datakit.load(tmp_path / "hf", images_dir=tmp_path / "x")
    assert back.classes == ["ball", "player", "referee", "unused"]
    for a, b in zip(back, ds, strict=True):
        assert a.image == b.image and a.metadata == b.metadata
        assert [(d.label, d.attributes) for d in a.detections] == [(d.label, d.attributes) for d in b.detections]
        for da, db in zip(a.detections, b.detections, strict=True):
            assert da.box == pytest.approx(db.box)
    assert (tmp_path / "x" / "imgs" / "a.jpg").read_bytes() == (tmp_path / "src" / "imgs" / "a.jpg").read_bytes()


def test_hf_bad_input(tmp_path: Path) -> None:
    from datakit.errors import FormatError

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.md").write_text("---\nconfigs: []\n---\n")
    with pytest.raises(FormatError, match="no parquet shards"):
        hf.read(tmp_path / "empty")
    (tmp_path / "empty" / "data").mkdir()
    (tmp_path / "empty" / "data" / "train-0.parquet").write_bytes(b"garbage")
    with pytest.raises(FormatError, match="not a readable parquet file"):
        hf.read(tmp_path / "empty")
    with pytest.raises(ValueError, match="embeds image bytes"):
        hf.write(coco.read(make_coco(tmp_path / "src")), tmp_path / "o", images="none")


def test_shards_stream_in_row_groups_and_respect_the_shard_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet as pq

    from datakit import Dataset, Sample

    for i in range(30):
        make_image(tmp_path / "src" / f"{i}.png", size=(8 + i, 8), color=(i * 8, 0, 0))
    ds = Dataset.from_samples([Sample(f"{i}.png", label=str(i % 3), split="train") for i in range(30)], tmp_path / "src")
    sizes = [(tmp_path / "src" / f"{i}.png").stat().st_size for i in range(30)]
    monkeypatch.setattr(hf, "ROW_GROUP_BYTES", 3 * max(sizes))  # a row group holds ~3 images: memory holds one
    cap = 10 * max(sizes)
    hf.write(ds, tmp_path / "out", max_shard_bytes=cap)
    shards = sorted((tmp_path / "out" / "data").glob("train-*.parquet"))
    assert len(shards) >= 3 and shards[0].name == f"train-00000-of-{len(shards):05d}.parquet"
    for shard in shards:
        f = pq.ParquetFile(shard)
        assert f.metadata.num_row_groups >= 2
        image_bytes = sum(len(b) for b in f.read(columns=["image"]).column("image").combine_chunks().field("bytes").to_pylist())
        assert image_bytes <= cap + max(sizes)
    back = datakit.load(tmp_path / "out")
    assert sorted(back.column("label")) == sorted(ds.column("label")) and len(back) == 30
