"""OCR annotator: rapidocr recognition on rendered jersey digits, and possible label errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from annotators.base import annotate
from annotators.ocr import LABEL_ERROR_TAG, OCRAnnotator, normalise_digits
from datakit import Dataset, Sample
from datakit.cli import main


def digits(text: str, jersey=(200, 30, 40), ink=(245, 245, 245)) -> Image.Image:  # type: ignore[no-untyped-def]
    import fontpkg

    im = Image.new("RGB", (72, 64), jersey)
    font = ImageFont.truetype(fontpkg.path("Anton"), 44)
    ImageDraw.Draw(im).text((36, 32), text, font=font, fill=ink, anchor="mm")
    return im


@pytest.mark.parametrize(
    ("raw", "text", "noted"),
    [
        ("23", "23", False),
        (" 2 3 ", "23", False),
        ("O7", "07", False),
        ("l1", "11", False),
        ("#12", "12", True),
        ("abc", "", True),
    ],
)
def test_normalise_digits(raw: str, text: str, noted: bool) -> None:
    got, note = normalise_digits(raw)
    assert got == text and (note is not None) == noted


@pytest.fixture(scope="module")
def ocr() -> OCRAnnotator:
    return OCRAnnotator()


def _dataset(tmp_path: Path, rows: list[tuple[str, str | None, Image.Image]]) -> Dataset:
    for name, _, im in rows:
        im.save(tmp_path / name)
    return Dataset.from_samples([Sample(n, label=lab) for n, lab, _ in rows], tmp_path)


def test_reads_digits_and_flags_confident_disagreement(ocr: OCRAnnotator, tmp_path: Path) -> None:
    ds = _dataset(
        tmp_path,
        [
            ("a.png", "23", digits("23")),
            ("b.png", "77", digits("45", jersey=(20, 30, 80), ink=(250, 210, 30))),  # mislabeled
            ("c.png", None, digits("8", jersey=(245, 245, 245), ink=(20, 20, 20))),
            ("d.png", "5", Image.new("RGB", (72, 64), (200, 30, 40))),  # nothing to read
        ],
    )
    run = annotate(ds, ocr, progress=False)
    a, b, c, d = (run.results[k] for k in ("a.png", "b.png", "c.png", "d.png"))
    assert a.status == "ok" and a.values["ocr_text"] == "23" and a.values["ocr_agrees"] is True
    assert a.tags == [] and 0 < a.confidence <= 1
    assert b.values["ocr_text"] == "45" and b.values["ocr_agrees"] is False
    assert b.tags == [LABEL_ERROR_TAG]
    assert c.values["ocr_text"] == "8" and "ocr_agrees" not in c.values  # unlabeled: nothing to compare
    assert d.status == "unparseable" and d.problems and d.raw is not None
    out = run.apply(ds)
    assert out.filter(tag=LABEL_ERROR_TAG).ids == ["b.png"]
    assert out.column("metadata.ocr_text")[:3] == ["23", "45", "8"]


def test_low_confidence_disagreement_is_not_flagged(tmp_path: Path) -> None:
    strict = OCRAnnotator(min_confidence=1.0)
    ds = _dataset(tmp_path, [("b.png", "77", digits("45"))])
    r = annotate(ds, strict, progress=False).results["b.png"]
    assert r.values["ocr_agrees"] is False
    assert (LABEL_ERROR_TAG in r.tags) == (r.confidence is not None and r.confidence >= 1.0)


def test_cli_tags_label_errors(tmp_path: Path) -> None:
    import json

    root = tmp_path / "ds" / "train"
    root.mkdir(parents=True)
    digits("23").save(root / "a.png")
    digits("45").save(root / "b.png")
    (root / "annotations.jsonl").write_text(
        json.dumps({"image": "a.png", "prefix": "p", "suffix": "23"})
        + "\n"
        + json.dumps({"image": "b.png", "prefix": "p", "suffix": "77"})
        + "\n"
    )
    out = tmp_path / "out"
    assert main(["annotate", str(tmp_path / "ds"), "--with", "ocr", "--out", str(out), "--no-progress"]) == 0
    import datakit

    ds = datakit.load(out)
    assert ds.filter(tag=LABEL_ERROR_TAG).images == ["train/b.png"]
    assert ds.column("metadata.ocr_status") == ["ok", "ok"]


def test_rejects_bad_confidence() -> None:
    with pytest.raises(ValueError, match="min_confidence"):
        OCRAnnotator(min_confidence=2)
