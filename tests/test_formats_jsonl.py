"""JSONL through the converters: native round trip, plain VLM rows with a configurable prompt."""

from __future__ import annotations

import json
from pathlib import Path

from test_formats_helpers import make_coco

import datakit
from datakit.formats import _plain, coco
from datakit.formats.jsonl import SEED_PROMPT


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
