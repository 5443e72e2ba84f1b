"""The jersey renderer: parameters, look, determinism (serial vs processes), dataset output."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import datakit
from datakit.vocab import COLORS
from renderers.batch import RenderJob, render_images, render_iter, write_dataset
from renderers.fill import parse_class_spec, plan_fill, reference_counts, reference_pairs
from renderers.jersey import JerseyConfig, JerseyRenderer, check_label, sample_seed
from renderers.palettes import ColorSampler, Kit

REQUIRED_META = ("font", "jersey_color", "number_color", "outline", "preset", "seed")


def test_same_seed_same_bytes_other_seed_other_image() -> None:
    r = JerseyRenderer(JerseyConfig(size=64, preset="zc_strong_all"))
    a, pa = r.render("23", 11)
    b, pb = JerseyRenderer(JerseyConfig(size=64, preset="zc_strong_all")).render("23", 11)
    c, _ = r.render("23", 12)
    assert a.tobytes() == b.tobytes() and pa == pb
    assert not np.array_equal(a, c)


def test_params_are_complete_and_use_the_colour_vocabulary() -> None:
    r = JerseyRenderer(JerseyConfig(size=(80, 96)))
    for seed in range(30):
        img, p = r.render("7", seed)
        assert img.shape == (96, 80, 3)
        for key in REQUIRED_META:
            assert key in p
        assert p["jersey_color"] in COLORS and p["number_color"] in COLORS
        assert p["outline"] == (p["outline_color"] is not None)
        assert p["seed"] == seed and p["preset"] == "clean"


def test_size_range_gives_a_range_of_sizes() -> None:
    r = JerseyRenderer(JerseyConfig(size=(40, 120, "range"), fonts=("anton",)))
    sizes = {r.render("5", s)[0].shape[:2] for s in range(25)}
    assert all(40 <= h <= 120 and h == w for h, w in sizes)
    assert len(sizes) >= 10


def _near(img: np.ndarray, rgb: tuple[int, ...] | None, tol: float = 45.0) -> float:
    assert rgb is not None
    d = np.linalg.norm(img.astype(np.float32) - np.asarray(rgb, np.float32), axis=-1)
    return float((d < tol).mean())


def test_number_and_outline_are_drawn_in_the_kit_colours() -> None:
    kit = Kit("t", (20, 30, 80), "navy", (250, 210, 30), "yellow", (245, 245, 245), "white")
    cfg = JerseyConfig(size=96, fonts=("anton",), occlusion_p=0.0, folds_max=0, mesh_p=0.0, rotation=0.0)
    r = JerseyRenderer(cfg, ColorSampler(kits=[kit]))
    img, p = r.render("88", 3)
    assert p["outline"] and p["number_color"] == "yellow"
    assert _near(img, kit.number) > 0.04  # the number's fill
    assert _near(img, kit.outline) > 0.01  # the trim around it
    assert _near(img, kit.jersey) > 0.15  # the jersey
    # the number sits in the middle: its colour is rarer near the border
    centre = img[24:72, 16:80]
    assert _near(centre, kit.number) > _near(img, kit.number)


def test_occlusion_hides_part_but_not_all_of_the_number() -> None:
    kit = Kit("t", (245, 245, 245), "white", (20, 20, 20), "black")
    clean = JerseyRenderer(
        JerseyConfig(size=96, fonts=("anton",), folds_max=0, mesh_p=0.0, occlusion_p=0.0), ColorSampler(kits=[kit])
    )
    occl = JerseyRenderer(
        JerseyConfig(size=96, fonts=("anton",), folds_max=0, mesh_p=0.0, occlusion_p=1.0), ColorSampler(kits=[kit])
    )
    hidden = []
    for s in range(12):
        a, _ = clean.render("44", s)
        b, p = occl.render("44", s)
        assert p["occlusion"] is not None and p["occlusion"]["kind"] in ("arm", "ball", "player")
        hidden.append(1 - _near(b, kit.number) / max(_near(a, kit.number), 1e-6))
    assert 0.0 < float(np.mean(hidden)) < 0.5


def test_bad_labels_and_config_are_refused() -> None:
    with pytest.raises(ValueError, match="1-3 digits"):
        check_label("1234")
    with pytest.raises(ValueError, match="1-3 digits"):
        JerseyRenderer(JerseyConfig(size=32, fonts=("anton",))).render("7a", 1)
    with pytest.raises(ValueError, match="number_height"):
        JerseyConfig(number_height=(0.8, 0.2))
    with pytest.raises(ValueError, match="unknown preset"):
        JerseyRenderer(JerseyConfig(preset="nope", fonts=("anton",)))


def test_sample_seed_depends_only_on_base_seed_and_index() -> None:
    seeds = [sample_seed(5, i) for i in range(1000)]
    assert len(set(seeds)) == 1000
    assert sample_seed(5, 7) == seeds[7] and sample_seed(6, 7) != seeds[7]


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.slow
def test_serial_and_multiprocess_renders_are_byte_identical(tmp_path: Path) -> None:
    labels = [str(k % 100) for k in range(0, 140, 7)] * 2
    job = RenderJob(labels, JerseyConfig(size=(48, 96, "range"), preset="zc_strong_all"), seed=42)
    write_dataset(job, tmp_path / "serial", workers=1)
    # small chunks: the 40 samples are split across both processes
    import renderers.batch as batch

    parallel = list(render_iter(job, workers=2, chunk=3))
    assert [i for i, _, _ in parallel] == list(range(len(labels)))
    serial_files = _digest(tmp_path / "serial" / "train" / "synthetic")
    for i, _params, data in parallel:
        name = batch.image_name(i, labels[i], "png")
        assert hashlib.sha256(data or b"").hexdigest() == serial_files[name]
    write_dataset(job, tmp_path / "par", workers=2)
    assert _digest(tmp_path / "par" / "train" / "synthetic") == serial_files


@pytest.mark.slow
def test_processes_start_after_opencv_used_its_thread_pool() -> None:
    """A fork while OpenCV's thread pool has threads used to deadlock the workers."""
    import subprocess
    import sys

    code = (
        "import cv2, numpy as np\n"
        "cv2.GaussianBlur(np.zeros((1500, 1500, 3), np.uint8), (7, 7), 2)\n"
        "from renderers.batch import RenderJob, render_iter\n"
        "from renderers.jersey import JerseyConfig\n"
        "job = RenderJob([str(k) for k in range(12)], JerseyConfig(size=32, fonts=('anton',)), seed=1)\n"
        "print(sum(1 for _ in render_iter(job, workers=2, chunk=3)))\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.strip() == "12"


def test_dataset_layout_joins_the_reference_train_split(seed_dataset: Path) -> None:
    job = RenderJob(["6", "6", "46"], JerseyConfig(size=48, fonts=("graduate",)), seed=1)
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_dataset(job, seed_dataset)  # the fixture already has train/synthetic
    rep = write_dataset(job, seed_dataset, overwrite=True)
    assert rep.annotations == seed_dataset / "train" / "synthetic" / "annotations.jsonl"
    ds = datakit.load(seed_dataset)
    assert not ds.skipped
    syn = ds.filter(lambda s: s.source == "synthetic")
    assert len(syn) == 3
    assert {s.split for s in syn} == {"train"}
    assert sorted(str(s.label) for s in syn) == ["46", "6", "6"]
    for s in syn:
        assert all(k in s.metadata for k in REQUIRED_META)
        assert s.metadata["font"] == "graduate" and s.width == 48
        assert (ds.root / s.image).is_file()
    assert ds.count_by("source")["real"] == 7  # the real rows are untouched


def test_written_png_decodes_to_what_was_rendered(tmp_path: Path) -> None:
    job = RenderJob(["12", "3"], JerseyConfig(size=40, fonts=("teko",), preset="all_moderate"), seed=9)
    imgs = render_images(job)
    r = JerseyRenderer(job.config)
    assert np.array_equal(imgs[0], r.render("12", sample_seed(9, 0))[0])
    rep = write_dataset(job, tmp_path)
    from PIL import Image

    with Image.open(rep.folder / "syn_000001_3.png") as im:
        assert np.array_equal(np.asarray(im.convert("RGB")), imgs[1])  # PNG is lossless


def test_fill_plan_follows_the_seeds_rule() -> None:
    counts = {"8": 257, "6": 4, "46": 5, "26": 8, "20": 11, "11": 49, "5": 50}
    plan = plan_fill(counts, min_count=50, target=200)
    assert plan == {"6": 196, "11": 151, "20": 189, "26": 192, "46": 195}
    assert plan_fill(counts, classes=["6", "99"], min_count=50, target=200) == {"6": 196, "99": 200}
    assert plan_fill({}, classes=parse_class_spec("0-2"), per_class=4) == {"0": 4, "1": 4, "2": 4}
    with pytest.raises(ValueError, match="target >= min_count"):
        plan_fill(counts, min_count=50, target=10)
    with pytest.raises(ValueError, match="listed twice"):
        parse_class_spec("1-3,2")
    with pytest.raises(ValueError, match="range"):
        parse_class_spec("9-3")


def test_reference_counts_use_real_train_samples_only(seed_dataset: Path) -> None:
    ds = datakit.load(seed_dataset)
    assert reference_counts(ds) == {"23": 2, "10": 1, "7": 1}  # train/synthetic "6" rows excluded
    pairs, unusable = reference_pairs(ds)
    assert pairs == {} and unusable == 4
