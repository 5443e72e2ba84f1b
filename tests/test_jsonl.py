"""Native JSONL: the seed's layout, Roboflow rows, native rows, bad input, round trips."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

import datakit
from datakit import Detection, FormatError, Sample
from datakit.formats import jsonl
from datakit.formats.jsonl.chunks import parse_bulk, parse_each
from datakit.formats.jsonl.rows import FileContext
from tests.conftest import SEED_PROMPT, make_image, write_jsonl


def test_seed_layout_recursive_discovery(seed_dataset: Path) -> None:
    ds = datakit.load(seed_dataset)
    assert len(ds) == 9
    assert ds.count_by("split") == {"train": 6, "valid": 2, "test": 1}
    # train/synthetic/annotations.jsonl joins train, with source synthetic from its folder
    synth = ds.filter(source="synthetic")
    assert synth.images == ["train/synthetic/s1.png", "train/synthetic/s2.png"]
    assert set(synth.column("split")) == {"train"}
    assert ds.count_by("label") == {"23": 3, "10": 2, "6": 2, "7": 2}
    s = ds["train/t1.jpg"]
    assert (s.label, s.prompt, s.source) == ("23", SEED_PROMPT, "real")
    assert ds.skipped == []


def test_row_source_wins_over_folder(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "train" / "synthetic" / "annotations.jsonl",
        [{"image": "a.png", "label": "1", "source": "real"}, {"image": "b.png", "label": "1"}],
    )
    ds = datakit.load(tmp_path)
    assert ds.column("source") == ["real", "synthetic"]


def test_native_row_fields_round_trip(tmp_path: Path) -> None:
    row = {
        "image": "a.jpg",
        "label": "ball",
        "source": "pseudo",
        "tags": ["review"],
        "id": "frame-7",
        "metadata": {"video": "m.mp4", "frame": 7, "nested": {"k": [1, 2]}},
        "width": 64,
        "height": 48,
        "detections": [
            {"label": "ball", "bbox": [1.5, 2, 10, 12.25], "score": 0.8, "attributes": {"track": 3}},
            {"label": "player", "bbox": [0, 0, 5, 5]},
        ],
        "camera": "main",  # unknown top-level key: kept in metadata, never dropped
    }
    write_jsonl(tmp_path / "train" / "annotations.jsonl", [row])
    ds = datakit.load(tmp_path)
    s = ds["frame-7"]
    assert s.source == "pseudo" and s.tags == ["review"] and (s.width, s.height) == (64, 48)
    assert s.metadata == {"camera": "main", "video": "m.mp4", "frame": 7, "nested": {"k": [1, 2]}}
    assert s.detections == [
        Detection("ball", (1.5, 2.0, 10.0, 12.25), 0.8, {"track": 3}),
        Detection("player", (0.0, 0.0, 5.0, 5.0), None, {}),
    ]
    out = ds.save(tmp_path / "out", images="none")
    again = datakit.load(out)
    assert list(again) == list(ds)


def test_plain_rows_round_trip_keep_roboflow_shape(seed_dataset: Path, tmp_path: Path) -> None:
    ds = datakit.load(seed_dataset)
    out = ds.save(tmp_path / "copy")
    first = json.loads((out / "train" / "annotations.jsonl").read_text().splitlines()[0])
    assert first == {"image": "t1.jpg", "prefix": SEED_PROMPT, "suffix": "23"}
    assert (out / "train" / "synthetic" / "annotations.jsonl").is_file()
    assert (out / "train" / "synthetic" / "s1.png").is_file()  # images copied
    again = datakit.load(out)
    assert list(again) == list(ds)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('["a.jpg", "1"]', "expected a JSON object, got list"),
        ('{"prefix": "p", "suffix": "1"}', "row has no image"),
        ('{"image": "/etc/passwd", "suffix": "1"}', "absolute path"),
        ('{"image": "C:\\\\x.jpg", "suffix": "1"}', "absolute path"),
        ('{"image": "../../outside.jpg", "suffix": "1"}', "escapes the dataset root"),
        ('{"image": "a.jpg", "suffix": ""}', "empty label"),
        ('{"image": "a.jpg", "suffix": "   "}', "empty label"),
        ('{"image": "a.jpg", "suffix": 1.5}', "expected label to be a string"),
        ('{"image": "a.jpg", "label": "1", "suffix": "2"}', "disagree"),
        ('{"image": "a.jpg", "label": "1", "source": "fake"}', "expected source"),
        ('{"image": "a.jpg", "label": "1", "tags": "x"}', "expected tags"),
        ('{"image": "a.jpg", "label": "1", "metadata": [1]}', "expected metadata to be an object"),
        ('{"image": "a.jpg", "detections": [{"label": "b", "bbox": [5, 0, 1, 1]}]}', "detection 0"),
        ('{"image": "a.jpg", "detections": [{"label": "b", "bbox": [0, 0, 1]}]}', "detection 0"),
        ('{"image": "a.jpg", "detections": [{"label": "b", "bbox": [0, 0, 1, 1], "score": 2}]}', "score"),
        ('{"image": "a.jpg", "label": "1", "width": -3}', "positive integer"),
    ],
)
def test_bad_rows_are_skipped_with_file_line_reason(tmp_path: Path, line: str, reason: str) -> None:
    write_jsonl(tmp_path / "train" / "annotations.jsonl", [{"image": "ok.jpg", "suffix": "3"}, line])
    ds = datakit.load(tmp_path)
    assert ds.images == ["train/ok.jpg"]
    assert len(ds.skipped) == 1
    skip = ds.skipped[0]
    assert (skip.file, skip.line) == ("train/annotations.jsonl", 2)
    assert reason in skip.reason
    with pytest.raises(FormatError, match=r"^train/annotations.jsonl:2: "):
        datakit.load(tmp_path, strict=True)


def test_seed_empty_suffix_beside_numeric_is_skipped_and_named(tmp_path: Path) -> None:
    """The seed's `KeyError: ''`: an empty-suffix row beside the valid row for the same image."""
    write_jsonl(
        tmp_path / "train" / "annotations.jsonl",
        [
            {"image": "x.jpg", "prefix": SEED_PROMPT, "suffix": ""},
            {"image": "x.jpg", "prefix": SEED_PROMPT, "suffix": "23"},
        ],
    )
    ds = datakit.load(tmp_path)
    assert [(s.image, s.label) for s in ds] == [("train/x.jpg", "23")]
    assert ds.skipped[0].image == "train/x.jpg" and ds.skipped[0].line == 1


def test_declared_classes_from_argument_and_manifest(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "train" / "annotations.jsonl",
        [{"image": "a.jpg", "suffix": "23"}, {"image": "b.jpg", "suffix": "99"}],
    )
    ds = datakit.load(tmp_path, classes=["23"])
    assert ds.images == ["train/a.jpg"]
    assert ds.skipped[0].reason == "label '99' is not a declared class"
    (tmp_path / "datakit.json").write_text(json.dumps({"classes": ["99"]}))
    assert datakit.load(tmp_path).images == ["train/b.jpg"]
    (tmp_path / "datakit.json").write_text("{oops")
    with pytest.raises(FormatError, match="datakit.json"):
        datakit.load(tmp_path)


def test_blank_lines_do_not_shift_line_numbers(tmp_path: Path) -> None:
    p = tmp_path / "annotations.jsonl"
    p.write_text('{"image": "a.jpg", "suffix": "1"}\n\n   \n{"image": "b.jpg", "suffix": ""}\n')
    ds = datakit.load(p)
    assert ds.images == ["a.jpg"] and ds.skipped[0].line == 4


def test_single_file_and_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        datakit.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match=r"\.jsonl"):
        datakit.load(tmp_path / "empty")


def test_hidden_and_underscore_files_are_not_annotations(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train" / "annotations.jsonl", [{"image": "a.jpg", "suffix": "1"}])
    write_jsonl(tmp_path / "train" / "_checkpoint.jsonl", [{"junk": 1}])
    write_jsonl(tmp_path / ".cache" / "x.jsonl", [{"junk": 1}])
    ds = datakit.load(tmp_path)
    assert len(ds) == 1 and ds.skipped == []


def test_parallel_parse_matches_serial(tmp_path: Path) -> None:
    rows: list[object] = []
    for i in range(3000):
        if i % 7 == 0:
            rows.append({"image": f"{i}.jpg", "label": str(i % 5), "metadata": {"i": i, "f": i / 3}, "tags": ["t"]})
        elif i % 11 == 0:
            det = {"label": "ball", "bbox": [1.5, 2, 10, 20.25], "score": 0.5, "attributes": {"team": "a"}}
            rows.append({"image": f"sub/{i}.jpg", "detections": [det], "source": "pseudo", "width": 64, "height": 48})
        elif i % 500 == 3:
            rows.append("{broken")
        else:
            rows.append({"image": f"{i}.jpg", "prefix": "p", "suffix": str(i % 11)})
    write_jsonl(tmp_path / "train" / "annotations.jsonl", rows)
    # A fresh interpreter: the parallel path only forks a process without threads, and earlier
    # tests (FiftyOne, thread pools) may have left some in this one.
    script = f"""
import pickle, sys, threading
import datakit
from datakit.formats import jsonl
from datakit.formats.jsonl import reader
reader.PARALLEL_MIN_BYTES = 1024
reader.ARROW_MIN_BYTES = 1024  # pyarrow refuses the broken lines first: forking after it must work
used = []
ranges = reader.byte_ranges
reader.byte_ranges = lambda path, parts: used.append(parts) or ranges(path, parts)
serial = datakit.load({str(tmp_path)!r}, workers=1)
parallel = datakit.load({str(tmp_path)!r}, workers=3)
assert threading.active_count() == 1 and used == [3], (used, threading.active_count())
sys.stdout.buffer.write(pickle.dumps(([s for s in serial], [s for s in parallel], serial.skipped, parallel.skipped)))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, check=True, cwd=Path(__file__).parent.parent
    )
    serial, parallel, serial_skips, parallel_skips = pickle.loads(out.stdout)
    assert len(serial) == 3000 - 6 and parallel == serial
    assert parallel_skips == serial_skips
    assert [s.line for s in parallel_skips] == [i + 1 for i in range(3000) if i % 500 == 3 and i % 7 and i % 11]
    assert any(s.detections and s.detections[0].attributes == {"team": "a"} for s in parallel)


def test_save_in_place_removes_stale_files(seed_dataset: Path) -> None:
    ds = datakit.load(seed_dataset)
    ds.filter(source="real").save()
    again = datakit.load(seed_dataset)
    assert again.count_by("source") == {"real": 7} and again.skipped == ds.skipped
    assert not (seed_dataset / "train" / "synthetic" / "annotations.jsonl").exists()
    assert (seed_dataset / "train" / "synthetic" / "s1.png").is_file()  # images stay, so does their folder
    assert not list(seed_dataset.rglob("*.tmp")) and not list(seed_dataset.glob(".datakit-*"))


def test_failed_save_leaves_previous_output(tmp_path: Path, seed_dataset: Path) -> None:
    ds = datakit.load(seed_dataset)
    out = ds.save(tmp_path / "out")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    broken = datakit.Dataset.from_samples([Sample("missing.jpg", label="1")], root=seed_dataset)
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        broken.save(out)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_plain_rows_for_vlm_finetuning(seed_dataset: Path) -> None:
    ds = datakit.load(seed_dataset)
    rows = list(jsonl.plain_rows(ds, prompt="Which number?"))
    assert rows[0] == {"image": "train/t1.jpg", "prefix": "Which number?", "suffix": "23"}
    assert len(rows) == 9


def test_image_paths_outside_jsonl_folder_stay_inside_root(tmp_path: Path) -> None:
    make_image(tmp_path / "images" / "a.jpg")
    write_jsonl(tmp_path / "train" / "annotations.jsonl", [{"image": "../images/a.jpg", "label": "1"}])
    ds = datakit.load(tmp_path)
    assert ds.images == ["images/a.jpg"]
    assert ds.image_size(0) == (32, 48)
    out = ds.save(tmp_path / "out")
    assert json.loads((out / "train" / "annotations.jsonl").read_text())["image"] == "../images/a.jpg"
    assert (out / "images" / "a.jpg").is_file()


def test_bulk_validation_matches_the_line_by_line_path(tmp_path: Path) -> None:
    """Every row shape and bad value: the column-wise path gives exactly the per-line results."""
    rows: list[object] = [
        {"image": "a.jpg", "prefix": "P", "suffix": "23"},
        {"image": "b.jpg", "prefix": "P", "suffix": "23", "metadata": {"jersey_color": "white", "x": None}},
        {"image": "c.jpg", "prefix": "P", "suffix": ""},  # the seed's empty label
        {"image": "d.jpg", "prefix": "P", "suffix": "  "},
        {"image": "sub/e.jpg", "prefix": "P", "suffix": "7"},  # a folder: normalised
        {"image": "../../f.jpg", "prefix": "P", "suffix": "7"},  # escapes the root
        {"image": "/abs/g.jpg", "suffix": "7"},
        {"image": "", "suffix": "7"},
        {"image": ".", "suffix": "7"},
        {"suffix": "7"},
        {"image": 5, "suffix": "7"},
        {"image": "h.jpg", "suffix": 23},  # an int label becomes "23"
        {"image": "i.jpg", "suffix": True},
        {"image": "j.jpg", "suffix": "99"},  # not a declared class
        {"image": "k.jpg", "prefix": 3, "suffix": "7"},
        {"image": "l.jpg", "suffix": "7", "metadata": "white"},
        {"image": "m.jpg", "suffix": "7", "metadata": None},
        {"image": "n.jpg", "suffix": "7", "source": "synthetic", "tags": ["r"]},
        {"image": "o.jpg", "suffix": "7", "source": "drawn"},
        {"image": "p.jpg", "label": "7", "suffix": "8"},
        {"image": "q.jpg", "suffix": None, "metadata": {}},
        [1, 2],
        "just a string",
        {"image": "r.jpg", "prefix": "P", "suffix": "7", "metadata": {"border": False}},
    ]
    lines = [orjson.dumps(r) for r in rows]
    root = tmp_path / "ds"
    (root / "train").mkdir(parents=True)
    ctx = FileContext.of(root / "train" / "annotations.jsonl", root, frozenset({"7", "8", "23"}))
    bulk = parse_bulk([orjson.loads(x) for x in lines], ctx)
    each = parse_each(lines, ctx)
    assert bulk is not None
    for field in ("images", "labels", "prompts", "natives", "lines"):
        assert getattr(bulk, field) == getattr(each, field), field
    assert [s.to_dict() for s in bulk.skips] == [s.to_dict() for s in each.skips]
    assert len(each.images) == 8 and len(each.skips) == len(rows) - 8
    assert any(s.reason == "path '.' names a folder, not a file" for s in each.skips)
    assert each.images[:3] == ["train/a.jpg", "train/b.jpg", "train/sub/e.jpg"]
    assert each.images[3] == "train/h.jpg" and each.labels[3] == "23"


def test_unhashable_labels_fall_back_to_the_line_by_line_path(tmp_path: Path) -> None:
    root = write_jsonl(
        tmp_path / "ds" / "train" / "annotations.jsonl",
        [{"image": "a.jpg", "suffix": ["7"]}, {"image": "b.jpg", "suffix": "7"}],
    ).parent.parent
    ds = datakit.load(root)
    assert ds.column("label") == ["7"]
    assert [(s.line, s.reason.split(",")[0]) for s in ds.skipped] == [(1, "expected label to be a string")]
