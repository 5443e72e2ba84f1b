"""JSONL through the converters: native round trip, plain VLM rows with a configurable prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_formats_helpers import make_coco

import datakit
from datakit.formats import _plain, coco
from datakit.formats.jsonl import SEED_PROMPT
from tests.conftest import make_image


def test_jsonl_round_trip(tmp_path: Path) -> None:
    # COCO → native JSONL → COCO keeps every field (ids, crowd RLE, info, categories).
    ds = coco.read(make_coco(tmp_path / "src"))
    ds.save(tmp_path / "native")
    back = datakit.load(tmp_path / "native")
    assert back.info == ds.info and back.classes == ds.classes
    assert [s.detections for s in back] == [s.detections for s in ds]
    assert [s.metadata for s in back] == [s.metadata for s in ds]
    coco.write(back, tmp_path / "coco")
    a = json.loads((tmp_path / "coco" / coco.COCO_FILE).read_text())
    b = json.loads((tmp_path / "src" / "ann.json").read_text())
    assert sorted(a["annotations"], key=lambda x: x["id"]) == sorted(b["annotations"], key=lambda x: x["id"])
    assert a["categories"] == b["categories"]


def test_plain_rows_for_vlm(seed_dataset: Path, tmp_path: Path) -> None:
    ds = datakit.load(seed_dataset)
    ds = ds.with_column("label", [None, *ds.column("label")[1:]])
    r = _plain.write(ds, tmp_path / "vlm")
    assert r.samples == 8 and len(r.skipped) == 1 and "no label" in r.skipped[0].reason
    rows = [json.loads(x) for x in (tmp_path / "vlm" / "train" / "annotations.jsonl").read_text().splitlines()]
    assert all(set(x) == {"image", "prefix", "suffix"} and x["prefix"] == SEED_PROMPT for x in rows)
    assert {"image": "synthetic/s1.png", "prefix": SEED_PROMPT, "suffix": "6"} in rows
    assert (tmp_path / "vlm" / "train" / "synthetic" / "s1.png").is_file()
    r = _plain.write(ds, tmp_path / "vlm2", prompt="Which number?", images="none")
    first = json.loads((tmp_path / "vlm2" / "valid" / "annotations.jsonl").read_text().splitlines()[0])
    assert first == {"image": "v1.jpg", "prefix": "Which number?", "suffix": "23"}
    again = datakit.load(tmp_path / "vlm")
    assert again.count_by("split") == {"train": 5, "valid": 2, "test": 1}


def _samples(ds: datakit.Dataset) -> list[tuple[object, ...]]:
    return [(s.image, s.id, s.label, s.split, s.source, s.prompt, tuple(s.tags), s.metadata) for s in ds]


def test_save_then_load_gives_the_same_samples_for_every_split_and_source(tmp_path: Path) -> None:
    """An unsplit pseudo sample is not written to ``pseudo/`` (read back as a split ``pseudo``)."""
    from datakit import Sample

    samples = [
        Sample(f"{split or 'none'}_{source}_{k}.jpg", label=str(k), split=split, source=source,
               prompt="P" if k else None, tags=["t"] if k else [], metadata={"k": k} if k else {})
        for split in (None, "train", "valid", "test")
        for source in ("real", "synthetic", "pseudo")
        for k in (0, 1)
    ]  # fmt: skip
    ds = datakit.Dataset.from_samples(samples, root=tmp_path / "src")
    out = ds.save(tmp_path / "out", images="none")
    back = datakit.load(out)
    assert sorted(_samples(back), key=str) == sorted(_samples(ds), key=str)
    assert back.skipped == [] and not (out / "pseudo").exists() and not (out / "synthetic").exists()
    # Again, in place, after moving samples between splits and sources (rows go back to their file).
    moved = back.with_column("split", [None if s.split == "test" else s.split for s in back])
    moved = moved.with_column("source", ["real" if s.source == "synthetic" else s.source for s in moved])
    moved.save()
    again = datakit.load(out)
    assert sorted(_samples(again), key=str) == sorted(_samples(moved), key=str)
    assert not (out / "test").exists()  # the emptied split folder went with its file


def test_saved_classes_cover_every_label_so_a_reload_keeps_every_row(tmp_path: Path) -> None:
    from datakit import Dataset, Sample

    for name in ("a.png", "b.png"):
        make_image(tmp_path / "src" / name)
    ds = Dataset.from_samples([Sample("a.png", label="1"), Sample("b.png", label="2")], tmp_path / "src", classes=["1"])
    ds.save(tmp_path / "out")
    back = datakit.load(tmp_path / "out")
    assert len(back) == 2 and back.classes == ["1", "2"] and not back.skipped


def test_split_refuses_to_copy_an_empty_image_unless_lenient(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datakit.cli import main
    from tests.conftest import write_jsonl

    for i in range(6):
        make_image(tmp_path / "src" / "train" / f"{i}.png")
    (tmp_path / "src" / "train" / "5.png").write_bytes(b"")
    write_jsonl(tmp_path / "src" / "train" / "annotations.jsonl", [{"image": f"{i}.png", "suffix": "1"} for i in range(6)])
    assert main(["split", str(tmp_path / "src"), "--out", str(tmp_path / "out")]) == 1
    assert "5.png" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert main(["split", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--lenient", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert len(datakit.load(tmp_path / "out")) == 5 and any("5.png" in str(s) for s in payload["skipped"])
