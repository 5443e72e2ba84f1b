"""Hostile native JSONL: null and padded labels, byte order marks, empty files, unsplit pseudo rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import datakit
from datakit.formats import jsonl

from ._table import Case, Outcome, run_case


def _ds(d: Path, rows: list[Any], rel: str = "train/annotations.jsonl", *, bom: bool = False) -> Path:
    root = d / "ds"
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    p.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return root


def _info(root: Path) -> list[str]:
    return ["info", str(root), "--json"]


def _summary(o: Outcome) -> dict[str, Any]:
    return json.loads(o.stdout)


def _check_null(d: Path, o: Outcome) -> None:
    s = _summary(o)
    assert s["labels"] == {"null": 1} and s["unlabeled"] == 1, s  # the string "null" is a label; null is none


def _check_padded(d: Path, o: Outcome) -> None:
    s = _summary(o)
    assert s["labels"] == {"23": 3} and s["samples"] == 3, s
    assert [(k["line"], k["reason"]) for k in s["skipped"]] == [
        (1, "label ' 23 ' has surrounding whitespace: kept as '23'"),
        (3, "label '23\\t' has surrounding whitespace: kept as '23'"),
    ]


def _check_bom(d: Path, o: Outcome) -> None:
    s = _summary(o)
    assert s["samples"] == 2 and s["skipped"] == [], s


def _check_empty(d: Path, o: Outcome) -> None:
    s = _summary(o)
    assert s["samples"] == 1 and s["skipped"] == [
        {"file": "valid/annotations.jsonl", "line": None, "reason": "the annotation file has no rows"}
    ], s


def _empty_beside_images(d: Path) -> Path:
    root = _ds(d, [{"image": "a.jpg", "suffix": "1"}])
    (root / "valid").mkdir()
    (root / "valid" / "annotations.jsonl").write_bytes(b"")
    (root / "valid" / "x.jpg").write_bytes(b"\xff\xd8\xff")
    return root


def _bom_arrow(d: Path) -> Any:
    """A BOM on a file large enough for the pyarrow path: the first row is kept."""
    rows = [{"image": f"{i}.jpg", "prefix": "P", "suffix": str(i % 3)} for i in range(2000)]
    root = _ds(d, rows, bom=True)

    def call() -> str:
        old = jsonl.reader.ARROW_MIN_BYTES
        jsonl.reader.ARROW_MIN_BYTES = 1024
        try:
            ds = jsonl.read(root)
        finally:
            jsonl.reader.ARROW_MIN_BYTES = old
        assert len(ds) == 2000 and ds.images[0] == "train/0.jpg" and ds.skipped == []
        return f"{len(ds)} samples"

    return call


def _unsplit_pseudo(d: Path) -> Any:
    def call() -> str:
        ds = datakit.Dataset.from_samples(
            [datakit.Sample("a.jpg", label="1", source="pseudo"), datakit.Sample("b.jpg", label="2", source="synthetic")],
            root=d / "src",
        )
        back = datakit.load(ds.save(d / "out", images="none"))
        assert [(s.image, s.split, s.source) for s in back] == [("a.jpg", None, "pseudo"), ("b.jpg", None, "synthetic")]
        return "same samples"

    return call


def _strict_padded(d: Path) -> Any:
    root = _ds(d, [{"image": "a.jpg", "suffix": " 7"}])
    return lambda: jsonl.read(root, strict=True)


CASES = [
    Case(
        'suffix null beside a real label "null"',
        build=lambda d: _info(_ds(d, [{"image": "a.jpg", "suffix": None}, {"image": "b.jpg", "suffix": "null"}])),
        expect="ok", check=_check_null,
    ),
    Case(
        "labels with surrounding whitespace",
        build=lambda d: _info(_ds(d, [{"image": "a.jpg", "suffix": " 23 "}, {"image": "b.jpg", "suffix": "23"},
                                      {"image": "c.jpg", "label": "23\t"}])),
        expect="skip", match="surrounding whitespace", check=_check_padded,
    ),
    Case(
        "a padded label with --strict",
        build=lambda d: ["info", str(_ds(d, [{"image": "a.jpg", "suffix": "7 "}])), "--strict"],
        expect="error", match=r"annotations\.jsonl:1: label '7 ' has surrounding whitespace",
    ),
    Case("a padded label, strict API", build=_strict_padded, expect="error", match="surrounding whitespace"),
    Case(
        "a padded detection label",
        build=lambda d: _info(_ds(d, [{"image": "a.jpg", "detections": [{"label": "ball ", "bbox": [0, 0, 2, 2]}]}])),
        expect="skip", match="detection label 'ball ' has surrounding whitespace: kept as 'ball'",
    ),
    Case(
        "a UTF-8 byte order mark",
        build=lambda d: _info(_ds(d, [{"image": "a.jpg", "suffix": "1"}, {"image": "b.jpg", "suffix": "2"}], bom=True)),
        expect="ok", check=_check_bom,
    ),
    Case("a byte order mark on the pyarrow path", build=_bom_arrow, expect="ok", match="2000 samples"),
    Case(
        "a 0-byte annotations.jsonl beside images",
        build=lambda d: _info(_empty_beside_images(d)),
        expect="skip", match="has no rows", check=_check_empty,
    ),
    Case(
        "a single empty .jsonl file",
        build=lambda d: ["info", str(_ds(d, [], rel="a.jsonl") / "a.jsonl"), "--json"],
        expect="skip", match="has no rows",
    ),
    Case("an unsplit pseudo and synthetic sample saved and loaded", build=_unsplit_pseudo, expect="ok",
         match="same samples"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_jsonl(case: Case, tmp_path: Path) -> None:
    run_case(case, tmp_path)
