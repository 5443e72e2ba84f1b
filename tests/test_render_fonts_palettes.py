"""Fonts (digit check, licences) and colour palettes / reference-matched sampling."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from datakit.vocab import COLORS
from renderers.fonts import FontError, check_digits, font_names, load_font, load_fonts
from renderers.palettes import TEAM_KITS, ColorSampler, Kit, contrast, pairs_from_metadata


@pytest.mark.parametrize("name", font_names())
def test_every_builtin_font_loads_with_digits_and_licence(name: str) -> None:
    spec = load_font(name)
    assert spec.path.is_file()
    text = spec.license.read_text(encoding="utf-8", errors="replace")
    assert "Open Font License" in text or "OFL" in text
    check_digits(spec.path, name)  # no exception


def test_at_least_six_fonts_with_a_varsity_face() -> None:
    specs = load_fonts()
    assert len(specs) >= 6
    assert any(s.style == "varsity" for s in specs)
    assert Path(load_font("graduate").path).suffix == ".woff2"


def _font_without(tmp_path: Path, digit: str) -> Path:
    from fontTools.ttLib import TTFont

    font = TTFont(str(load_font("anton").path))
    for table in font["cmap"].tables:
        table.cmap.pop(ord(digit), None)
    out = tmp_path / "NoSeven.ttf"
    font.save(str(out))
    return out


def test_font_missing_a_digit_is_refused_naming_font_and_glyph(tmp_path: Path) -> None:
    bad = _font_without(tmp_path, "7")
    with pytest.raises(FontError, match=r"NoSeven.*digit '7'"):
        load_font(str(bad))
    with pytest.raises(FontError, match=r"'anton-broken'.*digit '7'"):
        check_digits(bad, "anton-broken")


def test_unreadable_or_unknown_font_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ttf"
    junk.write_bytes(b"not a font")
    with pytest.raises(FontError, match="cannot be read"):
        load_font(str(junk))
    with pytest.raises(FontError, match="unknown font 'comic-sans'"):
        load_font("comic-sans")


def test_kits_use_the_vocabulary_and_cover_navy_and_white_home_kits() -> None:
    assert len(TEAM_KITS) >= 40
    for kit in TEAM_KITS:
        assert kit.jersey_color in COLORS and kit.number_color in COLORS
        assert kit.outline_color is None or kit.outline_color in COLORS
        readable = contrast(kit.jersey, kit.number) >= 2.0 or (
            kit.outline is not None
            and contrast(kit.outline, kit.jersey) >= 2.0
            and contrast(kit.outline, kit.number) >= 2.0
        )
        assert readable, kit
    jerseys = Counter(k.jersey_color for k in TEAM_KITS)
    assert jerseys["navy"] >= 3  # the seed's synthetic data had no navy at all
    assert 0.3 <= jerseys["white"] / len(TEAM_KITS) <= 0.6  # home whites, as in real games
    numbers = Counter(k.number_color for k in TEAM_KITS)
    assert numbers["yellow"] / len(TEAM_KITS) < 0.15  # the seed's renders had 25% yellow numbers


def test_kit_rejects_names_outside_the_vocabulary() -> None:
    with pytest.raises(ValueError, match="jersey_color"):
        Kit("x", (1, 2, 3), "gold", (0, 0, 0), "black")


def test_reference_pairs_are_sampled_with_reference_frequencies() -> None:
    sampler = ColorSampler(pairs={("white", "black"): 3, ("navy", "white"): 1})
    rng = random.Random(1)
    got = Counter((k.jersey_color, k.number_color) for k in (sampler.sample(rng) for _ in range(4000)))
    assert set(got) == {("white", "black"), ("navy", "white")}
    assert 0.72 <= got[("white", "black")] / 4000 <= 0.78


def test_reference_pair_without_contrast_gets_an_outline() -> None:
    sampler = ColorSampler(pairs={("white", "white"): 1})
    rng = random.Random(0)
    for _ in range(50):
        kit = sampler.sample(rng)
        assert kit.outline is not None and kit.outline_color not in (None, "white")


def test_pairs_from_metadata_counts_unusable_rows() -> None:
    pairs, bad = pairs_from_metadata(
        [{"jersey_color": "white", "number_color": "black"}, {"jersey_color": "white", "number_color": "unknown"},
         {"jersey_color": "gold", "number_color": "black"}, None, {"jersey_color": "white", "number_color": "black"}]
    )  # fmt: skip
    assert pairs == {("white", "black"): 2}
    assert bad == 3
    with pytest.raises(ValueError, match="colour names"):
        ColorSampler(pairs={("white", "unknown"): 2})
