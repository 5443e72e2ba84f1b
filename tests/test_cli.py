"""The `datakit info` / `validate` commands as a user runs them: real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import SEED_PROMPT, make_image, write_jsonl

DATAKIT = [sys.executable, "-m", "datakit.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DATAKIT, *args], capture_output=True, text=True, timeout=120)


def test_info_json_keys_and_counts(seed_dataset: Path) -> None:
    write_jsonl(
        seed_dataset / "valid" / "annotations.jsonl",
        [
            {"image": "v1.jpg", "prefix": SEED_PROMPT, "suffix": "23"},
            {"image": "v2.jpg", "prefix": SEED_PROMPT, "suffix": ""},
        ],
    )
    r = run("info", str(seed_dataset), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)  # one JSON object, nothing else on stdout
    assert out["samples"] == 8
    assert out["splits"] == {"train": 6, "valid": 1, "test": 1}
    assert out["sources"] == {"real": 6, "synthetic": 2}
    assert out["labels"] == {"23": 3, "6": 2, "10": 2, "7": 1}
    assert out["skipped"] == [
        {"file": "valid/annotations.jsonl", "line": 2, "reason": "empty label", "image": "valid/v2.jpg"}
    ]


def test_info_human_summary(seed_dataset: Path) -> None:
    r = run("info", str(seed_dataset))
    assert r.returncode == 0
    assert "9 samples" in r.stdout and "train 6" in r.stdout and "skipped: 0" in r.stdout


def test_strict_turns_a_skip_into_a_one_line_error(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train" / "annotations.jsonl", [{"image": "a.jpg", "suffix": "1"}, "{bad"])
    r = run("info", str(tmp_path), "--strict")
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0
    assert r.stderr.startswith("datakit info: error: train/annotations.jsonl:2: not valid JSON")
    assert "Traceback" not in r.stderr
    assert run("info", str(tmp_path)).returncode == 0


def test_missing_path_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    r = run("info", str(tmp_path / "nope"))
    assert r.returncode == 1 and "nope" in r.stderr and "Traceback" not in r.stderr


def test_validate_decodes_every_image(seed_dataset: Path) -> None:
    ok = run("validate", str(seed_dataset), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    (seed_dataset / "train" / "t2.jpg").write_bytes((seed_dataset / "train" / "t2.jpg").read_bytes()[:200])
    (seed_dataset / "train" / "t3.jpg").unlink()
    (seed_dataset / "valid" / "v1.jpg").write_text("not an image")
    r = run("validate", str(seed_dataset), "--json")
    assert r.returncode == 0
    bad = {b["image"]: b["reason"] for b in json.loads(r.stdout)["bad_images"]}
    assert set(bad) == {"train/t2.jpg", "train/t3.jpg", "valid/v1.jpg"}
    assert bad["train/t3.jpg"] == "image not found"
    strict = run("validate", str(seed_dataset), "--strict")
    assert strict.returncode == 1 and "train/t2.jpg" in strict.stderr
    assert strict.stderr.count("\n") == 1


def test_validate_reports_row_skips(tmp_path: Path) -> None:
    make_image(tmp_path / "train" / "a.jpg")
    write_jsonl(
        tmp_path / "train" / "annotations.jsonl",
        [{"image": "a.jpg", "suffix": "1"}, {"image": "../../../etc/passwd", "suffix": "1"}],
    )
    r = run("validate", str(tmp_path), "--json")
    out = json.loads(r.stdout)
    assert out["ok"] is False and out["skipped"][0]["line"] == 2
    assert run("validate", str(tmp_path), "--strict").returncode == 1


def test_unknown_option_is_rejected(seed_dataset: Path) -> None:
    r = run("info", str(seed_dataset), "--jsn")
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr


def test_a_core_command_registers_alone_and_help_lists_every_command() -> None:
    """``datakit info ...`` builds only its own sub-parser; ``datakit --help`` (or a plug-in command) builds them all."""
    from datakit.cli import build_parser, core_commands

    def commands(argv: list[str]) -> set[str]:
        parser = build_parser(argv)
        sub = next(a for a in parser._actions if a.dest == "command")  # argparse's sub-parser action
        return set(sub.choices)  # type: ignore[arg-type]

    assert commands(["info", "x"]) == {"info"}
    assert commands(["extract-frames", "v.mp4"]) == {"extract-frames"}
    every = commands(["--help"])
    assert {c.replace("_", "-") for c in core_commands()} <= every
    assert "render" in every and commands(["render", "jersey"]) == every  # plug-ins come in by entry points
