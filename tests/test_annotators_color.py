"""Colour annotator on crops drawn here with PIL and a sports font (known jersey/number colours)."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from annotators.base import Item, annotate
from annotators.color import ColorAnnotator, classify_pixels
from datakit import Dataset
from datakit.cli import main
from datakit.vocab import COLOR_RGB, COLORS

FONTS = ("Anton", "Oswald", "Bebas Neue", "Russo One", "Teko")


def render(rng: random.Random, jersey: str, number: str, outline: str | None) -> Image.Image:
    """A jersey crop: shaded cloth, a number in another colour, optional outline, blur, noise, JPEG."""
    import fontpkg

    w, h = rng.randint(40, 80), rng.randint(50, 96)

    def jitter(c: tuple[int, int, int]) -> tuple[int, int, int]:
        f = rng.uniform(0.85, 1.1)
        return tuple(int(np.clip(v * f, 0, 255)) for v in c)  # type: ignore[return-value]

    im = Image.new("RGB", (w, h), jitter(COLOR_RGB[jersey]))
    draw = ImageDraw.Draw(im)
    font = ImageFont.truetype(fontpkg.path(rng.choice(FONTS)), int(h * 0.6))
    kw = {"stroke_width": max(2, h // 20), "stroke_fill": COLOR_RGB[outline]} if outline else {}
    draw.text((w / 2, h / 2), str(rng.randint(0, 99)), font=font, fill=jitter(COLOR_RGB[number]), anchor="mm", **kw)
    im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.8)))
    noise = np.random.default_rng(rng.randint(0, 2**30)).normal(0, 6, (h, w, 3))
    im = Image.fromarray(np.clip(np.asarray(im, dtype=np.float32) + noise, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=rng.randint(50, 90))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def crops(n: int, seed: int = 0) -> tuple[list[Item], list[tuple[str, str, str | None]]]:
    rng = random.Random(seed)
    items, truth = [], []
    for k in range(n):
        j = rng.choice(COLORS)
        num = rng.choice([c for c in COLORS if c != j])
        o = rng.choice([None, None, rng.choice([c for c in COLORS if c not in (j, num)])])
        items.append(Item(str(k), k, render(rng, j, num, o)))
        truth.append((j, num, o))
    return items, truth


def test_vocabulary_pixels_are_named_exactly() -> None:
    px = np.array([[list(COLOR_RGB[c]) for c in COLORS]], dtype=np.uint8)[None]
    assert [COLORS[k] for k in classify_pixels(px).ravel()] == list(COLORS)


@pytest.mark.slow
def test_names_jersey_colour_right_for_90_percent_of_rendered_crops() -> None:
    items, truth = crops(300)
    res = ColorAnnotator().predict(None, items)
    jersey = np.mean([r.values.get("jersey_color") == t[0] for r, t in zip(res, truth, strict=True)])
    number = np.mean([r.values.get("number_color") == t[1] for r, t in zip(res, truth, strict=True)])
    assert jersey >= 0.90, jersey
    assert number >= 0.70, number  # thin strokes and outlines make this the harder half
    assert {r.status for r in res} <= {"ok", "invalid_value"}
    assert all(r.raw and r.confidence is not None and 0 < r.confidence <= 1 for r in res)


def test_plain_cloth_has_no_number_and_says_so() -> None:
    r = ColorAnnotator().predict(None, [Item("a", 0, Image.new("RGB", (40, 60), COLOR_RGB["navy"]))])[0]
    assert r.status == "invalid_value"
    assert r.values == {"jersey_color": "navy"}
    assert "number_color" in r.problems and "border" in r.problems


def test_outline_is_detected_and_not_taken_for_the_number() -> None:
    im = Image.new("RGB", (60, 80), COLOR_RGB["green"])
    d = ImageDraw.Draw(im)
    d.rectangle((14, 16, 46, 64), fill=COLOR_RGB["yellow"])  # outline colour, thick
    d.rectangle((20, 22, 40, 58), fill=COLOR_RGB["white"])  # number fill inside it
    r = ColorAnnotator().predict(None, [Item("a", 0, im)])[0]
    assert r.values == {"jersey_color": "green", "number_color": "white", "border": True}


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="ring"):
        ColorAnnotator(ring=0.7)


def test_cli_writes_colour_metadata(tmp_path: Path) -> None:
    items, truth = crops(12, seed=3)
    root = tmp_path / "ds"
    for split, part in (("train", range(0, 8)), ("valid", range(8, 12))):
        (root / split).mkdir(parents=True)
        rows = []
        for k in part:
            items[k].image.save(root / split / f"{k}.png")
            rows.append({"image": f"{k}.png", "prefix": "p", "suffix": str(k)})
        (root / split / "annotations.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out"
    assert main(["annotate", str(root), "--with", "color", "--out", str(out), "--no-progress"]) == 0
    import datakit

    ds = datakit.load(out)
    assert len(ds) == 12 and (out / "_annotate" / "color.jsonl").is_file()
    got = dict(zip(ds.column("label"), ds.column("metadata.jersey_color"), strict=True))
    right = sum(got[str(k)] == truth[k][0] for k in range(12))
    assert right >= 10
    assert set(ds.column("metadata.color_status")) <= {"ok", "invalid_value"}
    # a rerun resumes everything from the checkpoint and writes the same answers
    assert main(["annotate", str(root), "--with", "color", "--out", str(out), "--json", "--no-progress"]) == 0
    assert datakit.load(out).column("metadata.jersey_color") == ds.column("metadata.jersey_color")


def test_annotate_runs_over_a_dataset_of_images(tmp_path: Path) -> None:
    items, truth = crops(6, seed=5)
    for it in items:
        it.image.save(tmp_path / f"{it.id}.png")
    from datakit import Sample

    ds = Dataset.from_samples([Sample(f"{it.id}.png") for it in items], tmp_path)
    run = annotate(ds, ColorAnnotator(batch_size=4), progress=False)
    assert [r.values["jersey_color"] for r in run.results.values()] == [t[0] for t in truth]
