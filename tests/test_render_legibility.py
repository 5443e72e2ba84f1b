"""Legibility: rapidocr (recognition only) reads >= 95% of clean renders correctly."""

from __future__ import annotations

import pytest

from renderers.batch import RenderJob, render_images
from renderers.jersey import JerseyConfig
from renderers.legibility import OcrReader, read_rate


@pytest.mark.slow
def test_ocr_reads_at_least_95_percent_of_clean_renders() -> None:
    labels = [str((k * 7) % 100) for k in range(160)]
    job = RenderJob(labels, JerseyConfig(size=96, preset="clean"), seed=2024)
    images = render_images(job, workers=1)
    report = read_rate(images, labels, groups=None, reader=OcrReader())
    assert report.total == 160
    assert report.rate >= 0.95, report.misreads


def test_ocr_rejects_a_wrong_label() -> None:
    job = RenderJob(["38"], JerseyConfig(size=96, fonts=("anton",), occlusion_p=0.0), seed=3)
    img = render_images(job)[0]
    reader = OcrReader()
    report = read_rate([img, img], ["38", "83"], groups=["a", "b"], reader=reader)
    assert report.read == 1 and report.misreads == [("83", "38")]
    assert report.group_rates() == {"a": 1.0, "b": 0.0}
