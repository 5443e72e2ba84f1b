"""datakit.images: every mode decoded against a reference, EXIF orientation, limits, root guard."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from datakit.formats._imagesize import fast_image_size
from datakit.images import BACKGROUND, ImageReadError, image_size, load_image, read_image_bytes, verify_image

RNG = np.random.default_rng(7)


def _ref_composite(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The documented rule: round((c·a + bg·(255 - a)) / 255)."""
    a = alpha.astype(np.uint32)[..., None]
    bg = np.array(BACKGROUND, dtype=np.uint32)
    return ((rgb.astype(np.uint32) * a + bg * (255 - a) + 127) // 255).astype(np.uint8)


def test_16bit_grey_png_scaled_like_the_raw_array(tmp_path: Path) -> None:
    raw = (RNG.random((9, 11)) * 65535).astype(np.uint16)
    p = tmp_path / "g16.png"
    cv2.imwrite(str(p), raw)
    assert Image.open(p).mode == "I;16"
    ref = (cv2.imread(str(p), cv2.IMREAD_UNCHANGED) >> 8).astype(np.uint8)
    got = np.asarray(load_image(p))
    assert got.shape == (9, 11, 3)
    assert (got == ref[..., None]).all()
    assert np.asarray(load_image(p, mode="L")).tolist() == ref.tolist()
    # OpenCV's own 8-bit decode (rounds instead of truncating) agrees within one level
    assert np.abs(got[..., 0].astype(int) - cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).astype(int)).max() <= 1


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
def test_16_and_32_bit_grey_modes(tmp_path: Path, mode: str) -> None:
    raw = (RNG.random((5, 7)) * 65535).astype(np.uint16)
    im = Image.fromarray(raw.astype(np.int32), "I") if mode == "I" else Image.fromarray(raw).convert(mode)
    if mode == "I;16B":
        im = Image.frombytes("I;16B", (7, 5), raw.astype(">u2").tobytes())
    assert im.mode == mode
    p = tmp_path / "x.tif"
    im.save(p)
    got = np.asarray(load_image(p))[..., 0]
    assert got.tolist() == (raw >> 8).astype(np.uint8).tolist()


def test_16bit_rgb_and_rgba_png(tmp_path: Path) -> None:
    rgb = (RNG.random((6, 8, 3)) * 65535).astype(np.uint16)
    p = tmp_path / "rgb16.png"
    cv2.imwrite(str(p), rgb[..., ::-1])
    ref = (cv2.imread(str(p), cv2.IMREAD_UNCHANGED)[..., ::-1] >> 8).astype(np.uint8)
    assert np.array_equal(np.asarray(load_image(p)), ref)
    rgba = (RNG.random((6, 8, 4)) * 65535).astype(np.uint16)
    q = tmp_path / "rgba16.png"
    cv2.imwrite(str(q), rgba[..., [2, 1, 0, 3]])
    ref4 = (cv2.imread(str(q), cv2.IMREAD_UNCHANGED)[..., [2, 1, 0, 3]] >> 8).astype(np.uint8)
    assert np.array_equal(np.asarray(load_image(q)), _ref_composite(ref4[..., :3], ref4[..., 3]))


def test_four_distinct_16bit_pngs_are_not_white_nor_duplicates(tmp_path: Path) -> None:
    from datakit import Dataset, Sample
    from datakit.dedup import find_duplicates

    for k, level in enumerate((1000, 9000, 20000, 40000)):
        raw = (level + np.random.default_rng(k).random((32, 32)) * 20000).astype(np.uint16)
        cv2.imwrite(str(tmp_path / f"{k}.png"), raw)
        assert load_image(tmp_path / f"{k}.png").getpixel((0, 0)) == (int(raw[0, 0]) >> 8,) * 3
    ds = Dataset.from_samples([Sample(f"{k}.png", label="7") for k in range(4)], tmp_path)
    report = find_duplicates(ds, workers=1)
    assert report.exact_groups == [] and report.near_groups == [] and report.label_conflicts == []


def test_alpha_modes_composited_on_the_stated_background(tmp_path: Path) -> None:
    rgb = (RNG.random((4, 5, 3)) * 255).astype(np.uint8)
    alpha = (RNG.random((4, 5)) * 255).astype(np.uint8)
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "a.png")
    assert np.array_equal(np.asarray(load_image(tmp_path / "a.png")), _ref_composite(rgb, alpha))
    grey = rgb[..., 0]
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(tmp_path / "la.png")
    assert np.array_equal(np.asarray(load_image(tmp_path / "la.png")), _ref_composite(np.dstack([grey] * 3), alpha))
    # RGBA keeps its alpha when asked
    assert np.asarray(load_image(tmp_path / "a.png", mode="RGBA"))[..., 3].tolist() == alpha.tolist()


def test_palette_with_and_without_transparency(tmp_path: Path) -> None:
    pal = Image.new("P", (3, 1))
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    pal.putdata([0, 1, 2])
    pal.save(tmp_path / "p.png")
    assert [load_image(tmp_path / "p.png").getpixel((x, 0)) for x in range(3)] == [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    pal.save(tmp_path / "pt.png", transparency=1)
    got = [load_image(tmp_path / "pt.png").getpixel((x, 0)) for x in range(3)]
    assert got == [(255, 0, 0), BACKGROUND, (0, 0, 255)]
    pal.save(tmp_path / "p.gif", transparency=2)
    assert load_image(tmp_path / "p.gif").getpixel((2, 0)) == BACKGROUND


def test_cmyk_l_and_1(tmp_path: Path) -> None:
    cmyk = (RNG.random((4, 4, 4)) * 255).astype(np.uint8)
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "c.tif")
    c = cmyk.astype(np.uint32)
    ref = (((255 - c[..., :3]) * (255 - c[..., 3:4]) + 127) // 255).astype(np.uint8)
    assert np.array_equal(np.asarray(load_image(tmp_path / "c.tif")), ref)
    grey = (RNG.random((4, 6)) * 255).astype(np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "l.png")
    assert np.array_equal(np.asarray(load_image(tmp_path / "l.png")), np.dstack([grey] * 3))
    bits = RNG.random((4, 6)) > 0.5
    Image.fromarray(bits).convert("1").save(tmp_path / "b.png")
    assert np.array_equal(np.asarray(load_image(tmp_path / "b.png"))[..., 0], np.where(bits, 255, 0))


def _oriented_jpeg(path: Path, orientation: int, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    arr = (RNG.random((size[1], size[0], 3)) * 255).astype(np.uint8)
    arr[:8, :8] = 255  # a mark in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(arr).save(path, exif=exif, quality=95)
    return arr


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_everywhere(tmp_path: Path, orientation: int) -> None:
    p = tmp_path / "phone.jpg"
    _oriented_jpeg(p, orientation)
    want = ImageOps.exif_transpose(Image.open(p))
    cv_h, cv_w = cv2.imread(str(p)).shape[:2]
    assert want.size == (cv_w, cv_h)
    assert image_size(p) == fast_image_size(p) == want.size
    got = load_image(p)
    assert got.size == want.size
    assert np.array_equal(np.asarray(got), np.asarray(want.convert("RGB")))


def test_orientation_6_is_48x64_for_sizes_datasets_and_yolo(tmp_path: Path) -> None:
    from datakit import Dataset, Sample

    _oriented_jpeg(tmp_path / "a.jpg", 6)
    ds = Dataset.from_samples([Sample("a.jpg", label="1")], tmp_path)
    assert ds.image_size(0) == (48, 64) and ds.load_image(0).size == (48, 64)
    png = tmp_path / "a.png"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (64, 48)).save(png, exif=exif)
    assert fast_image_size(png) == image_size(png) == (48, 64)


def test_decompression_bomb_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "big.png"
    Image.new("L", (400, 300)).save(p)
    monkeypatch.setenv("DATAKIT_MAX_PIXELS", "100000")
    with pytest.raises(ImageReadError, match=r"400x300 = 120,000 pixels exceeds the limit of 100,000"):
        load_image(p)
    assert "exceeds the limit" in (verify_image(p) or "")
    monkeypatch.setenv("DATAKIT_MAX_PIXELS", "0")
    assert load_image(p).size == (400, 300)


def test_byte_cap_and_special_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "a.png"
    Image.new("RGB", (50, 50)).save(p)
    monkeypatch.setenv("DATAKIT_MAX_IMAGE_BYTES", "10")
    with pytest.raises(ImageReadError, match="exceeds the image size cap of 10"):
        read_image_bytes(p)
    monkeypatch.delenv("DATAKIT_MAX_IMAGE_BYTES")
    os.mkfifo(tmp_path / "pipe.png")
    assert verify_image(tmp_path / "pipe.png") == "not a regular file (a named pipe)"
    with pytest.raises(ValueError, match="named pipe"):
        fast_image_size(tmp_path / "pipe.png")
    (tmp_path / "zero.png").symlink_to("/dev/zero")
    assert verify_image(tmp_path / "zero.png") == "not a regular file (a character device)"


def test_root_guard_refuses_symlinks_out_of_the_root(tmp_path: Path) -> None:
    from datakit.errors import PathEscapeError
    from datakit.paths import set_follow_symlinks

    outside = tmp_path / "outside.png"
    Image.new("RGB", (4, 4), (9, 9, 9)).save(outside)
    root = tmp_path / "ds"
    root.mkdir()
    (root / "in.png").symlink_to(outside)
    (root / "sub").symlink_to(tmp_path)
    Image.new("RGB", (4, 4)).save(root / "real.png")
    (root / "inner.png").symlink_to(root / "real.png")  # a symlink inside the root is fine
    assert load_image("inner.png", root=root).size == (4, 4)
    for rel in ("in.png", "sub/outside.png"):
        with pytest.raises(PathEscapeError, match="resolves outside the dataset root"):
            load_image(rel, root=root)
    set_follow_symlinks(True)
    try:
        assert load_image("in.png", root=root).getpixel((0, 0)) == (9, 9, 9)
    finally:
        set_follow_symlinks(None)
