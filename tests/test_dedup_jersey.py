"""Dedup precision on jersey crops (issue 14, item 17): near copies agree in digits and colours."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import datakit
from datakit.cli import main
from datakit.dedup import find_duplicates
from datakit.dedup.detail import measures, passes, view


def _planted(root: Path, kits: int) -> list[set[str]]:
    """Same-kit "20", "23", "25", "28" per kit and one true conflict (the "23" shifted, JPEG, as "28")."""
    from renderers.jersey import JerseyConfig, JerseyRenderer

    folder = root / "train"
    folder.mkdir(parents=True)
    r = JerseyRenderer(JerseyConfig(size=96, preset="zc_strong_all"))
    rng = random.Random(0)
    rows, truth = [], []
    for k in range(kits):
        p = r.sample_params("20", 1000 + k)
        for lab in ("20", "23", "25", "28"):
            Image.fromarray(r.render_params({**p, "label": lab})).save(folder / f"k{k}_{lab}.png")
            rows.append({"image": f"k{k}_{lab}.png", "label": lab})
        src = Image.open(folder / f"k{k}_23.png").convert("RGB")
        dx, dy = rng.randint(1, 3), rng.randint(1, 3)
        shifted = src.crop((dx, dy, src.width, src.height)).resize(src.size)
        buf = io.BytesIO()
        shifted.save(buf, "JPEG", quality=rng.randint(70, 90))
        (folder / f"k{k}_copy.jpg").write_bytes(buf.getvalue())
        rows.append({"image": f"k{k}_copy.jpg", "label": "28"})
        truth.append({f"train/k{k}_23.png", f"train/k{k}_copy.jpg"})
    (folder / "annotations.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    return truth


@pytest.mark.slow
def test_planted_same_kit_numbers_are_not_conflicts(tmp_path: Path) -> None:
    truth = _planted(tmp_path, kits=12)
    report = find_duplicates(datakit.load(tmp_path), workers=1)
    found = [set(c) for c in report.label_conflicts]
    correct = sum(c in truth for c in found)
    assert found and correct / len(found) >= 0.9  # precision
    assert correct >= 10  # recall: the re-encoded, shifted copies are found
    for c in found:  # never "20", "23", "25", "28" of one kit together
        assert not ({x.rsplit("_", 1)[-1] for x in c} >= {"20.png", "28.png"}), c
    assert report.near_groups == []


@pytest.mark.slow
def test_rendered_distinct_crops_are_never_grouped_across_label_or_colour(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert main(["render", "jersey", "--classes", "0-99", "--per-class", "6", "--preset", "zc_strong_all",
                 "--out", str(out)]) == 0  # fmt: skip
    ds = datakit.load(out)
    report = find_duplicates(ds, workers=1)
    cols = ds.columns
    meta = {img: (lab, md["number_color"]) for img, lab, md in zip(cols.images, cols.labels.tolist(),
                                                                   cols.metadata, strict=True)}  # fmt: skip
    for g in report.exact_groups + report.near_groups + report.label_conflicts:
        assert len({meta[x] for x in g}) == 1, [meta[x] for x in g]


def test_detail_check_separates_digits_and_colours(tmp_path: Path) -> None:
    """A crop with another number, or a number of another colour, fails; a re-encoding passes."""
    from renderers.jersey import JerseyConfig, JerseyRenderer

    r = JerseyRenderer(JerseyConfig(size=96, preset="zc_strong_all"))
    p = r.sample_params("20", 1003)
    for lab in ("20", "28"):
        Image.fromarray(r.render_params({**p, "label": lab})).save(tmp_path / f"{lab}.png")
    recoloured = {**p, "number_rgb": [255 - c for c in p["number_rgb"]]}
    Image.fromarray(r.render_params(recoloured)).save(tmp_path / "other_colour.png")
    Image.open(tmp_path / "20.png").save(tmp_path / "20.jpg", quality=75)
    a = view(str(tmp_path / "20.png"))
    assert passes(*measures(a, view(str(tmp_path / "20.jpg"))))
    assert not passes(*measures(a, view(str(tmp_path / "28.png"))))
    assert not passes(*measures(a, view(str(tmp_path / "other_colour.png"))))


def test_detail_check_keeps_brightness_and_small_crops(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    base = Image.fromarray((rng.random((10, 10, 3)) * 255).astype(np.uint8)).resize((120, 120), Image.Resampling.BICUBIC)
    base.save(tmp_path / "a.png")
    edited = Image.fromarray(np.clip(np.asarray(base, dtype=np.float32) * 1.12 + 6, 0, 255).astype(np.uint8))
    edited.crop((5, 4, 116, 117)).save(tmp_path / "b.jpg", quality=60)
    assert passes(*measures(view(str(tmp_path / "a.png")), view(str(tmp_path / "b.jpg"))))
