"""Data value: the jersey recipe trained on raw vs datakit-curated data, scored on a held-out clean test set.

The raw dataset has the seed's defects: duplicated rows with empty suffixes, near copies of train
crops in valid and test (re-encoded), and rare classes with 4–12 samples. The held-out test set
is rendered with fonts and kit colours that no training set uses (neither the raw crops nor the
curated run's synthetic fill) and a different degradation mix. Both arms train the same recipe
with the same budget (epochs, seed, options):

(a) raw: the raw train/valid splits as they are;
(b) curated: ``datakit dedup --apply --fix-leaks``, ``datakit split --group metadata.dup_cluster``
    (train/valid), ``datakit render jersey --min-count 50 --target 200`` (train fonts and the team
    palette only).

Reported: held-out test top-1, rare-class test top-1, and how far each arm's best val top-1
overstates its test top-1. ``--device cuda`` runs the full recipe size (224 px, more epochs).

    flock /tmp/datakit-bench.lock .venv/bin/python benchmarks/bench_data_value.py
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks._report import machine, table, versions, write_section  # noqa: E402

PROMPT = "What number is on this basketball jersey? Reply with just the number, nothing else."
COMMON = {"4": 56, "7": 56, "23": 56, "30": 56}  # train samples per common class
RARE = {"1": 5, "11": 10}  # the seed's rare classes: 4-12 samples
TRAIN_FONTS = ("anton", "oswald", "bebas-neue", "russo-one", "teko")
HELD_OUT_FONTS = ("graduate", "black-ops-one", "fjalla-one")
HELD_OUT_PAIRS = {("green", "yellow"): 1, ("orange", "black"): 1, ("teal", "black"): 1, ("maroon", "white"): 1,
                  ("pink", "navy"): 1, ("grey", "red"): 1}  # fmt: skip
SIZE = (40, 48)


def render(labels: list[str], fonts: tuple[str, ...], preset: str, seed: int, pairs: dict | None = None) -> list:
    from renderers.batch import RenderJob, render_images
    from renderers.jersey import JerseyConfig
    from renderers.palettes import ColorSampler

    job = RenderJob(labels, JerseyConfig(size=SIZE, fonts=fonts, preset=preset),
                    colors=ColorSampler(pairs=pairs) if pairs else None, seed=seed)  # fmt: skip
    return render_images(job, workers=2)


def save_split(root: Path, split: str, items: list[tuple[str, np.ndarray]], extra_rows: list[dict]) -> None:
    from PIL import Image

    folder = root / split
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (label, img) in enumerate(items):
        name = f"{split}_{i:04d}.jpg"
        Image.fromarray(img).save(folder / name, quality=90)
        rows.append({"image": name, "prefix": PROMPT, "suffix": label})
    rows += extra_rows
    (folder / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def build_raw(root: Path, seed: int) -> dict[str, int]:
    """The raw dataset in the seed's layout, with the seed's defects."""
    from PIL import Image

    rng = random.Random(seed)
    counts = {"train": {**COMMON, **RARE}, "valid": {k: 10 for k in COMMON} | {k: 2 for k in RARE}}
    counts["test"] = dict(counts["valid"])
    defects = {"empty_suffix_rows": 0, "near_copies": 0}
    train_items: list[tuple[str, np.ndarray]] = []
    for k, (split, per) in enumerate(counts.items()):
        labels = [lab for lab, n in per.items() for _ in range(n)]
        rng.shuffle(labels)
        imgs = render(labels, TRAIN_FONTS, "jpeg_noise_focus", seed * 100 + k)
        items = list(zip(labels, imgs, strict=True))
        extra: list[dict] = []
        if split == "train":
            train_items = items
            for i in range(0, len(items), 12):  # the seed's duplicate row with an empty suffix
                extra.append({"image": f"train_{i:04d}.jpg", "prefix": PROMPT, "suffix": ""})
            defects["empty_suffix_rows"] += len(extra)
        else:  # near copies of train crops leaked into valid/test (re-encoded, slightly resized)
            for j in range(12):
                label, img = train_items[(j * 7 + k) % len(train_items)]
                buf = io.BytesIO()
                Image.fromarray(img).resize((SIZE[0] - 2, SIZE[1] - 2)).save(buf, "JPEG", quality=70)
                items.append((label, np.asarray(Image.open(buf).convert("RGB").resize(SIZE))))
            defects["near_copies"] += 12
        save_split(root, split, items, extra)
    return defects


def build_held_out(root: Path, seed: int, per_class: int) -> None:
    labels = [lab for lab in [*COMMON, *RARE] for _ in range(per_class)]
    imgs = render(labels, HELD_OUT_FONTS, "low_p_strong_int", seed + 7777, HELD_OUT_PAIRS)
    save_split(root, "test", list(zip(labels, imgs, strict=True)), [])


def datakit(*args: str) -> None:
    exe = Path(sys.executable).with_name("datakit")
    subprocess.run([str(exe), *args], check=True, stdout=subprocess.DEVNULL)


def arm(folder: Path, train_valid: Path, held_out: Path) -> Path:
    folder.mkdir(parents=True)
    for split in ("train", "valid"):
        shutil.copytree(train_valid / split, folder / split)
    shutil.copytree(held_out / "test", folder / "test")
    return folder


def train_arm(data: Path, out: Path, opts: list[str]) -> dict:
    cmd = [sys.executable, "-m", "recipes.jersey_classifier", "--data", str(data), "--out", str(out), "--json", *opts]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["seconds"] = time.perf_counter() - t0
    return result


def score(result: dict) -> dict:
    best = result["best"]
    per_class = best["test"]["per_class"]
    rare = [per_class[c]["accuracy"] for c in RARE if per_class.get(c, {}).get("accuracy") is not None]
    return {
        "train": result["samples"]["train"],
        "valid": result["samples"]["valid"],
        "val_top1": best["valid"]["top1"],
        "test_top1": best["test"]["top1"],
        "rare_top1": float(np.mean(rare)) if rare else float("nan"),
        "gap": best["valid"]["top1"] - best["test"]["top1"],
        "best_epoch": result["best_epoch"],
        "seconds": result["seconds"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--epochs", type=int, help="default: 15 on CPU, 60 on CUDA")
    ap.add_argument("--image-size", type=int, help="default: 64 on CPU, 224 on CUDA")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", help="keep the work folder here")
    args = ap.parse_args()
    cuda = args.device == "cuda"
    epochs = args.epochs or (60 if cuda else 15)
    size = args.image_size or (224 if cuda else 64)
    load0 = os.getloadavg()
    t_all = time.perf_counter()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dk_value_"))
    if work.exists() and args.keep:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    raw, held = work / "raw", work / "held_out"
    defects = build_raw(raw, args.seed)
    build_held_out(held, args.seed, per_class=25)
    t_data = time.perf_counter()
    clean, resplit = work / "clean", work / "curated"
    datakit("dedup", str(raw), "--apply", "--fix-leaks", "--out", str(clean), "--report", str(work / "dedup.json"))
    datakit("split", str(clean), "--ratios", "0.85,0.15", "--names", "train,valid", "--seed", str(args.seed),
            "--group", "metadata.dup_cluster", "--out", str(resplit))  # fmt: skip
    datakit("render", "jersey", "--reference", str(resplit), "--min-count", "50", "--target", "200",
            "--fonts", ",".join(TRAIN_FONTS), "--colors", "palette", "--preset", "jpeg_noise_focus",
            "--size", f"{SIZE[0]}x{SIZE[1]}", "--seed", str(args.seed + 1), "--workers", "2", "--out", str(resplit))  # fmt: skip
    t_curate = time.perf_counter()
    opts = ["--epochs", str(epochs), "--image-size", str(size), "--batch-size", str(args.batch_size), "--workers", "2",
            "--device", args.device, "--seed", str(args.seed), "--warmup-epochs", "1", "--patience", str(epochs),
            "--plot-interval", str(epochs)]  # fmt: skip
    if cuda:
        opts[opts.index("--workers") + 1] = str(min(16, os.cpu_count() or 1))
    a = score(train_arm(arm(work / "arm_raw", raw, held), work / "run_raw", opts))
    b = score(train_arm(arm(work / "arm_curated", resplit, held), work / "run_curated", opts))
    total = time.perf_counter() - t_all
    load1 = os.getloadavg()

    def pts(x: float) -> str:
        return f"{100 * x:.1f}"

    rows = [
        ["(a) raw", a["train"], a["valid"], pts(a["val_top1"]), pts(a["test_top1"]), pts(a["rare_top1"]),
         pts(a["gap"]), a["best_epoch"], round(a["seconds"])],
        ["(b) datakit-curated", b["train"], b["valid"], pts(b["val_top1"]), pts(b["test_top1"]), pts(b["rare_top1"]),
         pts(b["gap"]), b["best_epoch"], round(b["seconds"])],
    ]  # fmt: skip
    beats = b["test_top1"] > a["test_top1"]
    rare_most = (b["rare_top1"] - a["rare_top1"]) > (b["test_top1"] - a["test_top1"])
    gap_ok = b["gap"] < 0.01  # val overstates test by under a point
    gap_abs = abs(b["gap"]) < 0.01
    body = f"""## Data value: raw vs datakit-curated jersey data (`benchmarks/bench_data_value.py --device {args.device}`)

Machine: {machine()}; no GPU in this session (CPU run: small crops, few epochs — the full recipe is `--device cuda`)
Versions: {versions("datakit", "torch", "torchvision", "albumentations", "onnxruntime")}
Data: {len(COMMON)} common classes ({next(iter(COMMON.values()))} train crops each) and {len(RARE)} rare ones
({", ".join(f"{k}: {v}" for k, v in RARE.items())} train crops), rendered {SIZE[0]}×{SIZE[1]} with fonts
{", ".join(TRAIN_FONTS)}, the team palette and `jpeg_noise_focus`; defects: {defects["empty_suffix_rows"]} duplicated
rows with an empty suffix, {defects["near_copies"]} re-encoded near copies of train crops in valid/test. Held-out test:
25 crops per class in fonts {", ".join(HELD_OUT_FONTS)}, kit colour pairs {len(HELD_OUT_PAIRS)} not in the palette
({", ".join(f"{j}/{n}" for j, n in HELD_OUT_PAIRS)}), degradations `low_p_strong_int`; the same file for both arms.
Recipe: `python -m recipes.jersey_classifier` defaults (EfficientNet-Lite0 with its packaged ImageNet weights, label
smoothing 0.1, AdamW 5e-4 warmup+cosine, EMA 0.9999, `zc_strong_all`), {epochs} epochs, {size} px, batch {args.batch_size}, seed
{args.seed}, the same options for both arms; "val" is each arm's best-epoch EMA val top-1, "gap" val − test in points.
Data build {t_data - t_all:.0f} s, curation (dedup, split, render) {t_curate - t_data:.0f} s, total {total:.0f} s;
shared 2-core VM, load average {load0[0]:.1f} at start, {load1[0]:.1f} at end.

{table(["arm", "train", "valid", "val top-1 %", "held-out test top-1 %", "rare-class test top-1 %", "val − test (points)", "best epoch", "train s"], rows)}

Targets:
- (b) beats (a) on the held-out test: **{"met" if beats else "NOT met"}** ({pts(b["test_top1"])} vs {pts(a["test_top1"])})
- the gain is largest on rare classes: **{"met" if rare_most else "NOT met"}** (rare {pts(b["rare_top1"] - a["rare_top1"])} points, all {pts(b["test_top1"] - a["test_top1"])})
- (b)'s val overstates its test top-1 by under 1 point: **{"met" if gap_ok else "NOT met"}** (val − test {pts(b["gap"])} points; (a): {pts(a["gap"])}); as an absolute gap (|val − test| < 1): **{"met" if gap_abs else "NOT met"}**
"""
    write_section("data_value", body)
    print(body)
    print(json.dumps({"raw": a, "curated": b}, indent=1))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
