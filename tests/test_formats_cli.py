"""``datakit convert``: detection, every target, one-line errors, --lenient skips in the summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_formats_helpers import coco_dict, make_coco

import datakit
from datakit.cli import main
from datakit.formats import detect, registry


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("target", registry.names())
def test_convert_seed_dataset_to_every_format(
    seed_dataset: Path, tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / target
    rc, stdout, _ = _run(capsys, "convert", str(seed_dataset), "--to", target, "--out", str(out), "--json")
    assert rc == 0
    payload = json.loads(stdout)
    assert payload["from"] == "jsonl" and payload["to"] == target and payload["samples"] == 9
    assert detect(out) == target
    back = datakit.load(out, **({"images_dir": tmp_path / "x"} if target == "hf" else {}))
    assert len(back) == 9 and back.count_by("split") == {"train": 6, "valid": 2, "test": 1}
    if target in ("yolo",):
        assert back.count_by("detections.label") == {"23": 3, "10": 2, "6": 2, "7": 2}
        assert "prompt" in payload["dropped"]
    else:
        assert back.count_by("label") == {"23": 3, "10": 2, "6": 2, "7": 2}


def test_convert_human_summary_lists_dropped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_coco(tmp_path / "src")
    rc, out, _ = _run(capsys, "convert", str(src), "--to", "yolo", "--out", str(tmp_path / "y"))
    assert rc == 0
    assert "(coco)" in out and "not held by yolo (dropped):" in out and "detections.attributes.segmentation 6" in out


def test_convert_plain_jsonl_with_prompt(
    seed_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, _ = _run(
        capsys, "convert", str(seed_dataset), "--to", "jsonl", "--plain", "--prompt", "N?", "--out", str(tmp_path / "p")
    )
    assert rc == 0
    row = json.loads((tmp_path / "p" / "test" / "annotations.jsonl").read_text())
    assert row == {"image": "e1.jpg", "prefix": "N?", "suffix": "10"}


def test_convert_coco_with_images_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_coco(tmp_path / "pics")
    ann = tmp_path / "instances.json"
    ann.write_text(json.dumps(coco_dict()))
    rc, out, _ = _run(
        capsys,
        "convert",
        str(ann),
        "--images",
        str(tmp_path / "pics"),
        "--to",
        "coco",
        "--out",
        str(tmp_path / "o"),
        "--json",
    )
    assert rc == 0 and json.loads(out)["samples"] == 4
    assert (tmp_path / "o" / "imgs" / "d.jpg").is_file()


def test_convert_bad_input_one_line_error_then_lenient(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = coco_dict()
    data["annotations"][2]["category_id"] = 999
    src = make_coco(tmp_path / "src", data)
    rc, out, err = _run(capsys, "convert", str(src), "--to", "yolo", "--out", str(tmp_path / "y"))
    assert rc == 1 and out == ""
    assert err.count("\n") == 1 and "ann.json: annotation id 13: unknown category id 999" in err
    assert not (tmp_path / "y").exists()
    rc, out, _ = _run(capsys, "convert", str(src), "--to", "yolo", "--out", str(tmp_path / "y"), "--lenient", "--json")
    assert rc == 0
    payload = json.loads(out)
    assert [(s["line"], s["reason"]) for s in payload["skipped"]] == [("annotation id 13", "unknown category id 999")]
    rc, out, _ = _run(capsys, "convert", str(src), "--to", "yolo", "--out", str(tmp_path / "y"), "--lenient")
    assert "skipped: 1" in out and "annotation id 13: unknown category id 999" in out


def test_convert_missing_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_coco(tmp_path / "src")
    (tmp_path / "src" / "imgs" / "c.jpg").unlink()
    rc, _, err = _run(capsys, "convert", str(src), "--to", "imagefolder", "--out", str(tmp_path / "o"))
    assert rc == 1 and "image id 333: image not found" in err and "c.jpg" in err
    rc, out, _ = _run(capsys, "convert", str(src), "--to", "coco", "--out", str(tmp_path / "o"), "--lenient", "--json")
    assert rc == 0 and json.loads(out)["samples"] == 3


def test_convert_rejects_bad_options(seed_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(capsys, "convert", str(seed_dataset), "--to", "pascal", "--out", str(tmp_path / "o"))
    assert rc == 1 and "unknown target format 'pascal'" in err
    rc, _, err = _run(capsys, "convert", str(seed_dataset), "--to", "coco", "--plain", "--out", str(tmp_path / "o"))
    assert rc == 1 and "--plain" in err
    with pytest.raises(SystemExit):
        main(["convert", str(seed_dataset), "--to", "coco", "--out", str(tmp_path / "o"), "--bogus"])


def test_detect(tmp_path: Path, seed_dataset: Path) -> None:
    from datakit.errors import FormatError

    assert detect(seed_dataset) == "jsonl"
    assert detect(seed_dataset / "train" / "annotations.jsonl") == "jsonl"
    assert detect(make_coco(tmp_path / "c")) == "coco"
    assert detect(tmp_path / "c") == "coco"  # one JSON beside an image folder
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="cannot tell the format"):
        detect(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        detect(tmp_path / "nope")
