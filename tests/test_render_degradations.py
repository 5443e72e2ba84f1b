"""Degradation transforms and the seed's presets at exactly the seed's parameters."""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import pytest

from renderers import degradations as D
from renderers.presets import HEADLINE, PRESETS, build_preset, get_preset, preset_names


def _flat(transform: A.Compose) -> list[A.BasicTransform]:
    out = []
    for t in transform.transforms:
        out.append(t)
        if isinstance(t, A.BaseCompose):
            out.extend(_flat(t))
    return out


def test_zc_strong_all_has_the_seeds_parameters() -> None:
    t = build_preset("zc_strong_all")
    blur, group, erase = t.transforms
    assert isinstance(blur, A.GaussianBlur) and blur.p == 1.0
    assert tuple(blur.blur_limit) == (7, 7) and tuple(blur.sigma_limit) == (0.5, 3.5)
    assert isinstance(group, A.Sequential) and group.p == 0.85
    jpeg, pix, bil, noise, zoom = group.transforms
    assert isinstance(jpeg, A.ImageCompression) and jpeg.p == 0.7 and tuple(jpeg.quality_range) == (5, 55)
    assert isinstance(pix, A.Downscale) and pix.p == 0.4 and tuple(pix.scale_range) == (0.1, 0.5)
    assert pix.interpolation_pair == {"downscale": cv2.INTER_NEAREST, "upscale": cv2.INTER_NEAREST}
    assert isinstance(bil, A.Downscale) and bil.p == 0.4 and tuple(bil.scale_range) == (0.15, 0.55)
    assert bil.interpolation_pair == {"downscale": cv2.INTER_LINEAR, "upscale": cv2.INTER_LINEAR}
    assert isinstance(noise, A.GaussNoise) and noise.p == 0.6
    assert np.allclose(np.asarray(noise.std_range) * 255, (10, 40))
    assert isinstance(zoom, A.OneOf) and zoom.p == 1.0
    zin, zout = zoom.transforms
    assert isinstance(zin, D.ZoomIn) and zin.scale == (0.5, 1.0)
    assert isinstance(zout, D.ZoomOut) and zout.scale == (1.1, 2.0) and zout.fill == (124, 116, 104)
    assert isinstance(erase, A.Erasing) and erase.p == 0.3 and tuple(erase.scale) == (0.02, 0.15)


def test_jpeg_noise_focus_and_all_moderate_have_the_seeds_parameters() -> None:
    jnf = get_preset("jpeg_noise_focus")
    assert jnf is not None
    assert (jnf.random_apply, jnf.jpeg, jnf.noise, jnf.pixelate, jnf.bilinear) == (
        None,
        (0.6, 15, 70),
        (0.5, 5.0, 30.0),
        None,
        None,
    )
    assert (jnf.blur, jnf.erasing) == ((5, 0.1, 2.0), (0.2, 0.02, 0.15))
    am = get_preset("all_moderate")
    assert am is not None
    assert am.random_apply == 0.7
    assert (am.jpeg, am.pixelate, am.bilinear, am.noise) == (
        (0.55, 15, 75),
        (0.25, 0.2, 0.7),
        (0.25, 0.25, 0.7),
        (0.45, 5.0, 28.0),
    )
    assert am.zoom_out == (0.35, 1.1, 1.6) and am.zoom_choice is None
    kinds = [type(t).__name__ for t in _flat(build_preset("all_moderate"))]
    assert kinds == [
        "GaussianBlur",
        "Sequential",
        "ImageCompression",
        "Downscale",
        "Downscale",
        "GaussNoise",
        "ZoomOut",
        "Erasing",
    ]
    kinds = [type(t).__name__ for t in _flat(build_preset("jpeg_noise_focus"))]
    assert kinds == ["GaussianBlur", "ImageCompression", "GaussNoise", "Erasing"]


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_runs_as_training_augmentation(name: str) -> None:
    img = np.random.default_rng(0).integers(0, 255, (224, 224, 3), dtype=np.uint8)
    a = build_preset(name, seed=5)(image=img)["image"]
    b = build_preset(name, seed=5)(image=img)["image"]
    assert a.shape == img.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)  # seeded Compose: reproducible
    if name != "clean":
        assert not np.array_equal(a, img)  # the always-on blur changes a noisy image


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown preset 'strong'.*zc_strong_all"):
        build_preset("strong")
    assert set(HEADLINE) <= set(PRESETS)


def test_random_apply_passes_about_one_minus_p_through_clean() -> None:
    img = np.full((32, 32, 3), 200, np.uint8)
    t = A.Compose([D.random_apply([D.ZoomOut(scale=(1.5, 1.5), p=1.0)], 0.7)], seed=0)
    changed = sum(not np.array_equal(t(image=img)["image"], img) for _ in range(600))
    assert 0.64 <= changed / 600 <= 0.76


def test_zoom_out_pads_with_the_mean_colour_and_shrinks_content() -> None:
    img = np.full((40, 40, 3), 255, np.uint8)
    out = D.ZoomOut(scale=(2.0, 2.0), p=1.0)(image=img)["image"]
    white = (out == 255).all(-1).sum()
    mean = (out == np.array(D.IMAGENET_MEAN_RGB, np.uint8)).all(-1).sum()
    assert 350 <= white <= 450  # a quarter of the area
    assert mean >= 1100
    mask = np.ones((40, 40), np.uint8)
    res = D.ZoomOut(scale=(2.0, 2.0), p=1.0)(image=img, mask=mask)
    assert res["mask"].sum() == white


def test_zoom_in_crops_and_resizes_up() -> None:
    grad = np.tile(np.arange(64, dtype=np.uint8)[None, :, None] * 4, (64, 1, 3))
    same = D.ZoomIn(scale=(1.0, 1.0), p=1.0)(image=grad)["image"]
    assert np.array_equal(same, grad)
    out = D.ZoomIn(scale=(0.5, 0.5), p=1.0)(image=grad)["image"]
    assert out.shape == grad.shape
    assert int(out.max()) - int(out.min()) <= 140  # half the gradient's 252 span, stretched


def test_noise_sigma_is_on_the_0_255_scale() -> None:
    img = np.full((128, 128, 3), 128, np.uint8)
    out = A.Compose([D.gaussian_noise((20, 20), 1.0)], seed=1)(image=img)["image"].astype(np.float32)
    assert 18 <= out.std() <= 22


def test_pixelate_is_blocky_and_bilinear_is_smooth() -> None:
    img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    pix = A.Compose([D.pixelate((0.25, 0.25), 1.0)], seed=0)(image=img)["image"]
    assert (pix[:, 1:] == pix[:, :-1]).all(-1).mean() >= 0.7  # runs of equal pixels
    bil = A.Compose([D.bilinear_downscale((0.25, 0.25), 1.0)], seed=0)(image=img)["image"]
    assert bil.std() < img.std() * 0.6 and (bil[:, 1:] == bil[:, :-1]).all(-1).mean() < 0.5


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="ZoomOut scale"):
        D.ZoomOut(scale=(0.5, 1.2))
    with pytest.raises(ValueError, match="odd blur kernel"):
        D.gaussian_blur(4, (0.1, 1.0))
    with pytest.raises(ValueError, match="JPEG quality"):
        D.jpeg((80, 20), 0.5)
    with pytest.raises(ValueError, match="p in"):
        D.pixelate((0.2, 0.5), 1.5)


@pytest.mark.parametrize("name", [*HEADLINE, "jpeg_noise_zoomout", "all_moderate_zoom_choice"])
def test_apply_seeded_equals_the_compose_call(name: str) -> None:
    """The renderer's fast walk of a preset draws and applies exactly what the Compose would."""
    import random

    t = build_preset(name)
    rng = np.random.default_rng(3)
    for seed in range(60):
        img = rng.integers(0, 256, (48 + seed % 7, 48, 3), dtype=np.uint8)
        t.set_random_state(np.random.default_rng(seed), random.Random(seed))
        expected = t(image=img)["image"]
        assert np.array_equal(D.apply_seeded(t, img, seed), expected), seed


def test_apply_seeded_falls_back_to_the_ordinary_call_for_other_compositions() -> None:
    t = A.Compose([A.SomeOf([A.HorizontalFlip(p=1.0), A.VerticalFlip(p=1.0)], n=1, p=1.0)])
    img = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    out = D.apply_seeded(t, img, 1)
    assert out.shape == img.shape and not np.array_equal(out, img)


def test_zoom_out_canvas_is_not_shared_between_calls() -> None:
    z = D.ZoomOut(scale=(2.0, 2.0), p=1.0)
    a = z.apply(np.zeros((8, 8, 3), np.uint8), canvas=(0, 0, 16, 16))
    a[...] = 0
    b = z.apply(np.full((8, 8, 3), 255, np.uint8), canvas=(0, 0, 16, 16))
    assert (b[-1, -1] == np.asarray(D.IMAGENET_MEAN_RGB, np.uint8)).all()


def test_renderers_import_albumentations_offline_and_without_torch() -> None:
    """No PyPI version check (the variable defaults to 1), no torch import; the PyTorch bridge still imports on request."""
    import os
    import subprocess
    import sys

    code = (
        "import os, sys; import renderers.degradations as D; "
        "print(os.environ.get('NO_ALBUMENTATIONS_UPDATE'), 'torch' in sys.modules, hasattr(D.A, 'Compose')); "
        "import albumentations.pytorch as P; print(P.ToTensorV2.__name__, 'torch' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert r.stdout.split() == ["1", "False", "True", "ToTensorV2", "True"]
