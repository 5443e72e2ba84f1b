"""``datakit dedup``: report keys, --apply/--out, --fix-leaks, --json, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from datakit.cli import main
from datakit.formats import jsonl
from tests.conftest import SEED_PROMPT, write_jsonl
from tests.test_dedup import jpeg_copy, save, texture


@pytest.fixture
def seedlike(tmp_path: Path) -> Path:
    """The seed's layout with its hygiene problems: an empty row, an exact copy, a leak."""
    root = tmp_path / "jerseys"
    crops = {f"{k}.png": texture(500 + k, (64, 96)) for k in range(4)}
    for name, im in crops.items():
        save(root, f"train/{name}", im)
    save(root, "train/0_resaved.bmp", crops["0.png"])
    save(root, "valid/v.jpg", jpeg_copy(crops["1.png"], 50, 0.8), quality=95)
    save(root, "test/t.png", texture(600, (64, 96)))
    row = lambda img, label: {"image": img, "prefix": SEED_PROMPT, "suffix": label}  # noqa: E731
    write_jsonl(root / "train/annotations.jsonl", [
        row("0.png", "23"), row("0_resaved.bmp", "23"), row("1.png", "7"),
        row("2.png", ""), row("2.png", "10"), row("3.png", "4"), row("3.png", "4"),
    ])  # fmt: skip
    write_jsonl(root / "valid/annotations.jsonl", [row("v.jpg", "7")])
    write_jsonl(root / "test/annotations.jsonl", [row("t.png", "9")])
    return root


def test_report_has_the_issue_keys(seedlike: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rep = tmp_path / "report.json"
    assert main(["dedup", str(seedlike), "--report", str(rep), "--workers", "1"]) == 0
    human = capsys.readouterr().out
    assert "exact duplicates: 1 groups" in human and "leaks:" in human
    data = json.loads(rep.read_text())
    for key in ("exact_groups", "near_groups", "annotation_rows", "label_conflicts", "leaks", "summary"):
        assert key in data
    assert data["exact_groups"] == [["train/0.png", "train/0_resaved.bmp"]]
    assert data["leaks"] == [["train/1.png", "valid/v.jpg"]]
    assert data["annotation_rows"] == [["train/2.png"] * 2, ["train/3.png"] * 2]
    assert data["summary"]["empty_label_rows"] == 1
    assert data["label_conflicts"] == []


def test_apply_fix_leaks_json(seedlike: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "clean"
    code = main(["dedup", str(seedlike), "--apply", "--out", str(out), "--fix-leaks", "--json", "--workers", "1"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["applied"]["samples"] == 5
    assert payload["summary"]["leaks"] == 1
    clean = jsonl.read(out)
    assert sorted(clean.images) == ["test/t.png", "train/0.png", "train/1.png", "train/2.png", "train/3.png"]
    assert clean.count_by("split") == {"train": 4, "test": 1}
    log = [json.loads(x) for x in (out / "_dedup_log.jsonl").read_text().splitlines()]
    reasons = sorted(x["reason"].split(" of ")[0].split(":")[0] for x in log)
    assert reasons == ["empty label beside a labeled row", "exact duplicate", "identical to row train/3.png", "leak"]
    assert (out / "_dedup_report.json").is_file()
    assert clean.get("train/1.png").metadata["dup_cluster"].startswith("dup-")
    assert not (out / "valid").exists() or not any((out / "valid").glob("*.jpg"))


def test_apply_without_fix_leaks_keeps_eval_copies(seedlike: Path, tmp_path: Path) -> None:
    out = tmp_path / "clean"
    assert main(["dedup", str(seedlike), "--apply", "--out", str(out), "--workers", "1"]) == 0
    assert jsonl.read(out).count_by("split") == {"train": 4, "valid": 1, "test": 1}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--apply"], "--apply needs --out"),
        (["--fix-leaks"], "--fix-leaks needs --apply"),
        (["--keep", "newest"], "unknown keep criterion"),
        (["--radius", "40"], "radius"),
        (["--out", "x"], "--out is only used with --apply"),
    ],
)
def test_bad_options_fail_with_one_line(
    seedlike: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dedup", str(seedlike), *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_unknown_method_and_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["dedup", str(tmp_path), "--method", "sift"])
    assert e.value.code == 2
    assert main(["dedup", str(tmp_path / "nope")]) == 1
    assert "nope" in capsys.readouterr().err


def test_out_inside_the_dataset_is_refused(seedlike: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dedup", str(seedlike), "--apply", "--out", str(seedlike / "clean")]) == 1
    assert "outside the dataset" in capsys.readouterr().err


def test_dedup_cli_on_a_single_image_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    write_jsonl(tmp_path / "annotations.jsonl", [{"image": "a.png", "suffix": "1"}])
    assert main(["dedup", str(tmp_path), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)["summary"]
    assert (s["images"], s["exact_groups"], s["near_groups"]) == (1, 0, 0)


def test_missing_image_and_escaping_path_are_counted_skips(
    seedlike: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (seedlike.parent / "outside.png").write_bytes((seedlike / "train" / "0.png").read_bytes())
    with open(seedlike / "test" / "annotations.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"image": "../../outside.png", "suffix": "5"}) + "\n")
        f.write(json.dumps({"image": "gone.png", "suffix": "6"}) + "\n")
    rep = tmp_path / "r.json"
    assert main(["dedup", str(seedlike), "--report", str(rep), "--json", "--workers", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert (summary["skipped_rows"], summary["unreadable_images"]) == (1, 1)
    data = json.loads(rep.read_text())
    assert "escapes the dataset root" in data["skipped_rows"][0]["reason"]
    assert data["unreadable"] == [{"image": "test/gone.png", "reason": "image not found"}]
    assert all("outside" not in p for g in data["exact_groups"] for p in g)  # never read
