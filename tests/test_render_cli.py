"""``datakit render jersey|fonts|presets`` end to end (in process)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

import datakit
from datakit.cli import main
from tests.conftest import SEED_PROMPT, make_image, write_jsonl


def _reference(root: Path, counts: dict[str, int], pairs: list[tuple[str, str]] | None) -> Path:
    rows: list[object] = []
    k = 0
    for label, n in counts.items():
        for _ in range(n):
            name = f"r{k}.jpg"
            make_image(root / "train" / name, size=(8, 8))
            row: dict[str, object] = {"image": name, "prefix": SEED_PROMPT, "suffix": label}
            if pairs is not None:
                j, c = pairs[k % len(pairs)]
                row["metadata"] = {"jersey_color": j, "number_color": c, "border": True}
            rows.append(row)
            k += 1
    write_jsonl(root / "train" / "annotations.jsonl", rows)
    make_image(root / "valid" / "v.jpg", size=(8, 8))
    write_jsonl(root / "valid" / "annotations.jsonl", [{"image": "v.jpg", "suffix": "3"}] * 1)
    return root


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_fill_rare_classes_to_target_with_reference_colours(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = _reference(tmp_path / "ref", {"8": 12, "3": 2, "46": 1, "A": 1}, [("navy", "white"), ("white", "red")])
    sheet = tmp_path / "sheet.png"
    rc, out, _ = _run(
        capsys, "render", "jersey", "--reference", str(ref), "--min-count", "5", "--target", "8",
        "--out", str(ref), "--size", "48", "--workers", "2", "--preview", str(sheet), "--json",
    )  # fmt: skip
    assert rc == 0
    payload = json.loads(out)
    assert payload["plan"] == {"3": 6, "46": 7}  # "8" has enough; "A" is no jersey number
    assert payload["classes_not_renderable"] == ["A"]
    assert payload["colors"]["mode"] == "reference"
    ds = datakit.load(ref)
    syn = ds.filter(lambda s: s.source == "synthetic")
    assert Counter(s.label for s in syn) == {"3": 6, "46": 7}
    assert {s.split for s in syn} == {"train"}
    pairs = Counter((s.metadata["jersey_color"], s.metadata["number_color"]) for s in syn)
    assert set(pairs) <= {("navy", "white"), ("white", "red")}
    with Image.open(sheet) as im:
        assert im.size[0] == 8 * 96 and im.size[1] >= 2 * 96


def test_explicit_classes_per_class_and_palette(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "synth"
    rc, out, _ = _run(
        capsys, "render", "jersey", "--classes", "0-2,00", "--per-class", "2", "--out", str(out_dir),
        "--preset", "zc_strong_all", "--fonts", "graduate,anton", "--size", "32-64", "--seed", "7",
        "--workers", "1",
    )  # fmt: skip
    assert rc == 0 and "rendered 8 crops for 4 classes" in out
    rows = [
        json.loads(line) for line in (out_dir / "train" / "synthetic" / "annotations.jsonl").read_text().splitlines()
    ]
    assert [r["suffix"] for r in rows] == ["0", "0", "1", "1", "2", "2", "00", "00"]
    for r in rows:
        md = r["metadata"]
        assert r["source"] == "synthetic" and r["prefix"] == SEED_PROMPT
        assert md["preset"] == "zc_strong_all" and md["font"] in ("graduate", "anton")
        assert md["base_seed"] == 7 and isinstance(md["seed"], int)
        assert 32 <= r["width"] <= 64
        with Image.open(out_dir / "train" / "synthetic" / r["image"]) as im:
            assert im.size == (r["width"], r["height"])


def test_existing_output_needs_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "render",
        "jersey",
        "--classes",
        "5",
        "--per-class",
        "1",
        "--out",
        str(tmp_path),
        "--size",
        "32",
        "--workers",
        "1",
    ]
    assert _run(capsys, *args)[0] == 0
    rc, _, err = _run(capsys, *args)
    assert rc == 1 and "already exists" in err and "--overwrite" in err
    assert _run(capsys, *args, "--overwrite")[0] == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--out", "X"], "expected --reference"),
        (["--classes", "1-3", "--out", "X"], "give --per-class"),
        (["--classes", "1-3", "--per-class", "2", "--target", "5", "--out", "X"], "cannot be combined"),
        (["--classes", "1-x", "--per-class", "2", "--out", "X"], "class range"),
        (["--classes", "1,x", "--per-class", "2", "--out", "X"], "1-3 digits"),
        (["--classes", "1", "--per-class", "2", "--preset", "hard", "--out", "X"], "unknown preset 'hard'"),
        (["--classes", "1", "--per-class", "2", "--fonts", "comic", "--out", "X"], "unknown font 'comic'"),
        (["--classes", "1", "--per-class", "2", "--size", "big", "--out", "X"], "--size"),
        (["--classes", "1", "--per-class", "2", "--colors", "reference", "--out", "X"], "needs --reference"),
    ],
)
def test_bad_options_give_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [a if a != "X" else str(tmp_path / "o") for a in argv]
    rc, _out, err = _run(capsys, "render", "jersey", *argv)
    assert rc == 1
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_reference_without_colours_falls_back_to_the_palette(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = _reference(tmp_path / "ref", {"4": 1}, None)
    argv = ["render", "jersey", "--reference", str(ref), "--out", str(tmp_path / "o"), "--target", "3"]
    rc, _, err = _run(capsys, *argv, "--min-count", "2", "--colors", "reference")
    assert rc == 1 and str(ref) in err and "jersey_color" in err
    assert not (tmp_path / "o").exists()
    rc, out, _ = _run(capsys, *argv, "--min-count", "2", "--size", "32", "--workers", "1", "--json")
    payload = json.loads(out)
    assert rc == 0 and payload["plan"] == {"4": 2}
    assert payload["colors"]["mode"] == "palette" and "no jersey_color" in payload["colors"]["reason"]


def test_unknown_option_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["render", "jersey", "--classes", "1", "--per-class", "1", "--out", "x", "--colour", "red"])
    assert e.value.code == 2


def test_dry_run_and_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "render", "jersey", "--classes", "1-4", "--per-class", "3", "--dry-run", "--json")
    assert rc == 0 and json.loads(out)["samples"] == 12 and json.loads(out)["written"] is False
    rc, out, _ = _run(capsys, "render", "fonts", "--json")
    fonts = json.loads(out)["fonts"]
    assert rc == 0 and len(fonts) >= 6 and any(f["style"] == "varsity" for f in fonts)
    rc, out, _ = _run(capsys, "render", "presets", "--json")
    presets = json.loads(out)["presets"]
    assert presets["zc_strong_all"]["random_apply"] == 0.85
    assert presets["jpeg_noise_focus"]["jpeg"] == [0.6, 15, 70]
