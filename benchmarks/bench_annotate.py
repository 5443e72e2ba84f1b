"""Benchmark: colour annotator throughput (CPU) and VLM annotation throughput (GPU, when present).

Colour (target ≥ 500 crops/s on the 2-core machine): crops rendered here with PIL and a sports
font (known jersey/number colours, shading jitter, blur, noise, JPEG), stored as JPEG files.
Measured: the annotator on decoded crops, the whole resumable ``annotate()`` run from files
(decode included, checkpoint written), and a peer: per-crop OpenCV k-means (k=3) naming the
dominant cluster with ``nearest_color`` — the usual classical approach — with accuracies.

VLM (target on an H100: ≥ 100 images/s end to end, ≥ 50× the one-image-at-a-time loop): the
SmolVLM2-2.2B-Instruct architecture built locally with random weights (no hub), bfloat16, a
24-token answer forced with ``min_new_tokens``; ``annotate()`` from JPEG files (decode +
preprocessing + generation + parsing) batched vs batch size 1. Without a GPU this part records
"not measured: no GPU"; ``--vlm-smoke`` runs the same code path with a tiny model on the CPU to
show it works (those figures say nothing about the target).

Run: flock /tmp/datakit-bench.lock .venv/bin/python benchmarks/bench_annotate.py [--quick] [--vlm-smoke]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, table, versions, write_section

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

FONTS = ("Anton", "Oswald", "Bebas Neue", "Russo One", "Teko")


def render_crops(n: int, seed: int = 0) -> tuple[list[bytes], list[tuple[str, str, str | None]]]:
    import fontpkg
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    from datakit.vocab import COLOR_RGB, COLORS

    rng = random.Random(seed)
    fonts: dict[tuple[str, int], Any] = {}
    out, truth = [], []
    for _ in range(n):
        j = rng.choice(COLORS)
        num = rng.choice([c for c in COLORS if c != j])
        o = rng.choice([None, None, rng.choice([c for c in COLORS if c not in (j, num)])])
        w, h = rng.randint(40, 96), rng.randint(50, 112)
        f = rng.uniform(0.85, 1.1)
        im = Image.new("RGB", (w, h), tuple(int(min(255, v * f)) for v in COLOR_RGB[j]))
        key = (rng.choice(FONTS), int(h * 0.6))
        if key not in fonts:
            fonts[key] = ImageFont.truetype(fontpkg.path(key[0]), key[1])
        kw = {"stroke_width": max(2, h // 20), "stroke_fill": COLOR_RGB[o]} if o else {}
        ImageDraw.Draw(im).text(
            (w / 2, h / 2), str(rng.randint(0, 99)), font=fonts[key], fill=COLOR_RGB[num], anchor="mm", **kw
        )
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.8)))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=rng.randint(50, 90))
        out.append(buf.getvalue())
        truth.append((j, num, o))
    return out, truth


def write_dataset(root: Path, blobs: list[bytes], truth: list[tuple[str, str, str | None]]) -> None:
    import orjson

    (root / "train").mkdir(parents=True)
    lines = []
    for k, b in enumerate(blobs):
        (root / "train" / f"{k}.jpg").write_bytes(b)
        lines.append(orjson.dumps({"image": f"{k}.jpg", "label": str(k % 100)}))
    (root / "train" / "annotations.jsonl").write_bytes(b"\n".join(lines) + b"\n")


def kmeans_peer(images: list[Any]) -> list[str]:
    """Per-crop k-means (k=3) in RGB; the jersey is the cluster most present on the crop border."""
    import cv2

    from datakit.vocab import nearest_color

    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    names = []
    for im in images:
        a = cv2.resize(np.asarray(im), (40, 40), interpolation=cv2.INTER_AREA)
        px = a.reshape(-1, 3).astype(np.float32)
        _, lab, centers = cv2.kmeans(px, 3, None, crit, 1, cv2.KMEANS_PP_CENTERS)
        lab = lab.reshape(40, 40)
        ring = np.concatenate([lab[:6].ravel(), lab[-6:].ravel(), lab[:, :6].ravel(), lab[:, -6:].ravel()])
        c = centers[np.bincount(ring, minlength=3).argmax()]
        names.append(nearest_color(tuple(int(v) for v in c)))
    return names


def bench_color(n: int, tmp: Path) -> tuple[str, list[str]]:
    from PIL import Image

    from annotators.base import Item, annotate
    from annotators.color import ColorAnnotator
    from datakit import load

    blobs, truth = render_crops(n)
    images = [Image.open(io.BytesIO(b)).convert("RGB") for b in blobs]
    items = [Item(str(k), k, im) for k, im in enumerate(images)]
    ann = ColorAnnotator()
    times, res = [], []
    for _ in range(3):
        t = time.perf_counter()
        res = []
        for s in range(0, n, ann.batch_size):
            batch = items[s : s + ann.batch_size]
            res += ann.predict(ann.prepare(batch), batch)
        times.append(time.perf_counter() - t)
    mem_s = sorted(times)[1]
    acc_j = float(np.mean([r.values.get("jersey_color") == t[0] for r, t in zip(res, truth, strict=True)]))
    acc_n = float(np.mean([r.values.get("number_color") == t[1] for r, t in zip(res, truth, strict=True)]))

    root = tmp / "crops"
    write_dataset(root, blobs, truth)
    ds = load(root)
    e2e = []
    for k in range(3):
        t = time.perf_counter()
        annotate(ds, ColorAnnotator(), checkpoint=tmp / f"ck{k}.jsonl", progress=False)
        e2e.append(time.perf_counter() - t)
    e2e_s = sorted(e2e)[1]

    m = min(n, 1000)
    t = time.perf_counter()
    peer = kmeans_peer(images[:m])
    peer_s = (time.perf_counter() - t) * n / m
    acc_peer = float(np.mean([p == tr[0] for p, tr in zip(peer, truth[:m], strict=True)]))
    rows = [
        ["datakit ColorAnnotator (decoded crops)", n / mem_s, f"{acc_j:.1%}", f"{acc_n:.1%}", 1.0],
        [
            "datakit annotate() from JPEG files (decode + checkpoint)",
            n / e2e_s,
            f"{acc_j:.1%}",
            f"{acc_n:.1%}",
            (n / e2e_s) / (n / mem_s),
        ],
        [
            "peer: per-crop cv2.kmeans k=3 + nearest_color (decoded crops)",
            n / peer_s,
            f"{acc_peer:.1%}",
            "—",
            (n / peer_s) / (n / mem_s),
        ],
    ]
    text = "\n".join(
        [
            f"### Colour annotator ({n:,} rendered crops, 40–96 × 50–112 px JPEG, median of 3)",
            "",
            table(["tool", "crops/s", "jersey correct", "number correct", "speed vs datakit"], rows),
            "",
        ]
    )
    targets = [
        f"- colour annotator ≥ 500 crops/s: **{'met' if n / mem_s >= 500 else 'NOT met'}** "
        f"({n / mem_s:,.0f} crops/s on decoded crops; {n / e2e_s:,.0f} crops/s end to end from JPEG files)",
    ]
    return text, targets


def _jpeg_dataset(tmp: Path, n: int, size: int) -> Any:
    from PIL import Image

    from datakit import Dataset, Sample

    root = tmp / "vlm_imgs"
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for k in range(n):
        a = rng.integers(0, 255, (size, int(size * 0.8), 3), dtype=np.uint8)
        Image.fromarray(a).save(root / f"{k}.jpg", quality=85)
    return Dataset.from_samples([Sample(f"{k}.jpg") for k in range(n)], root)


def bench_vlm(tmp: Path, smoke: bool, quick: bool) -> tuple[str, list[str]]:
    import torch

    from annotators.base import annotate
    from annotators.vlm import VLMAnnotator

    gpu = torch.cuda.is_available()
    if not gpu and not smoke:
        return (
            "### VLM annotation\n\nnot measured: no GPU on this machine "
            "(run this script on a GPU machine; `--vlm-smoke` checks the code path on the CPU).\n",
            ["- VLM ≥ 100 images/s and ≥ 50× one-at-a-time on an H100: **not measured: no GPU**"],
        )
    from annotators.vlm_fixtures import build_smolvlm2_2b, build_tiny_vlm

    model_dir = tmp / "model"
    if gpu:
        build_smolvlm2_2b(model_dir, dtype=torch.bfloat16)
        n_batched, n_single, bs, what = (
            (256 if quick else 512),
            16,
            128,
            "SmolVLM2-2.2B architecture, random weights, bfloat16",
        )
        device = f"{torch.cuda.get_device_name(0)}"
    else:
        build_tiny_vlm(model_dir)
        n_batched, n_single, bs, what = 64, 16, 32, "tiny random Idefics3 (smoke test of the code path, CPU)"
        device = "CPU"
    ds = _jpeg_dataset(tmp, n_batched, 160)
    gen = {"min_new_tokens": 24}
    ann = VLMAnnotator(str(model_dir), batch_size=bs, max_new_tokens=24, generation=gen)
    annotate(ds.take(range(min(bs, len(ds)))), ann, progress=False)  # warm-up (kernels, allocator)
    if gpu:
        torch.cuda.synchronize()
    t = time.perf_counter()
    run = annotate(ds, ann, progress=False)
    batched_s = time.perf_counter() - t
    ann.batch_size = 1
    t = time.perf_counter()
    annotate(ds.take(range(n_single)), ann, progress=False)
    single_s = time.perf_counter() - t
    ann.close()
    b_ips, s_ips = n_batched / batched_s, n_single / single_s
    rows = [
        [f"annotate() batch {bs}", n_batched, batched_s, b_ips, b_ips / s_ips],
        ["annotate() one image at a time", n_single, single_s, s_ips, 1.0],
    ]
    text = "\n".join(
        [
            f"### VLM annotation ({what}; device: {device})",
            "",
            "End to end: JPEG decode + processor + generate (24 new tokens) + parsing + checkpoint-free run.",
            "",
            table(["mode", "images", "seconds", "images/s", "vs one-at-a-time"], rows),
            "",
            f"Statuses (random weights): {run.counts()}",
            "",
        ]
    )
    if gpu:
        targets = [
            f"- VLM ≥ 100 images/s end to end: **{'met' if b_ips >= 100 else 'NOT met'}** ({b_ips:.0f} images/s on {device})",
            f"- batched ≥ 50× one-at-a-time: **{'met' if b_ips / s_ips >= 50 else 'NOT met'}** ({b_ips / s_ips:.0f}×)",
        ]
    else:
        targets = [
            "- VLM ≥ 100 images/s and ≥ 50× one-at-a-time on an H100: **not measured: no GPU** "
            "(CPU smoke run with a tiny model only shows the code path works)"
        ]
    return text, targets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer crops/images")
    ap.add_argument(
        "--vlm-smoke", action="store_true", help="without a GPU, run the VLM part with a tiny model on the CPU"
    )
    ap.add_argument("--crops", type=int)
    args = ap.parse_args()
    n = args.crops or (1000 if args.quick else 4000)
    tmp = Path(tempfile.mkdtemp(prefix="bench_annotate_"))
    try:
        color_text, color_targets = bench_color(n, tmp)
        vlm_text, vlm_targets = bench_vlm(tmp, args.vlm_smoke, args.quick)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    body = "\n".join(
        [
            "## Annotators: colour (CPU) and VLM (GPU) throughput (`benchmarks/bench_annotate.py`)",
            "",
            f"Machine: {machine()} (a shared VM: timings move with other jobs)  ",
            f"Versions: {versions('datakit', 'numpy', 'opencv-python-headless', 'pillow', 'torch', 'transformers')}",
            "",
            color_text,
            vlm_text,
            "Targets:",
            *color_targets,
            *vlm_targets,
        ]
    )
    write_section("annotate", body)
    print(body)


if __name__ == "__main__":
    main()
