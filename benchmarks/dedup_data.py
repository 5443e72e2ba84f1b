"""Labelled data for the dedup benchmarks: photos and jersey crops with exact and near copies.

``bench_dedup.py`` scores quality and speed on these sets and ``bench_scale.py`` times the
parallel seam on the same 10,000-image speed set. Every written file has a ``group`` (its base
image): files of one group are duplicates (exact or near), files of different groups are distinct,
hard negatives included. Built sets are cached under ``benchmarks/_data/dedup`` (:func:`dataset`).
"""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

HERE = Path(__file__).parent
DATA = HERE / "_data" / "dedup"


FONTS = ["Anton", "Oswald", "Bebas Neue", "Russo One", "Black Ops One", "Teko", "Fjalla One"]
PALETTE = [(200, 16, 46), (0, 45, 98), (255, 255, 255), (20, 20, 20), (253, 185, 39),
           (0, 122, 51), (85, 37, 130), (0, 125, 197), (206, 17, 65), (229, 114, 0)]  # fmt: skip


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def real_bases() -> list[np.ndarray]:
    """RGB uint8 arrays of the scikit-image bundled photos (plus OpenCV samples if present)."""
    import skimage.data as d

    names = ["astronaut", "brick", "camera", "cat", "cell", "chelsea", "clock", "coffee", "coins",
             "colorwheel", "grass", "gravel", "hubble_deep_field", "immunohistochemistry", "moon",
             "page", "retina", "rocket", "text", "logo"]  # fmt: skip
    out = []
    for n in names:
        try:
            a = getattr(d, n)()
        except Exception:
            continue
        if a.ndim == 2:
            a = np.stack([a] * 3, -1)
        out.append(np.ascontiguousarray(a[..., :3]).astype(np.uint8))
    for p in Path("/usr/share/doc/opencv-doc/examples/data").glob("*.png"):
        try:
            out.append(np.asarray(Image.open(p).convert("RGB")))
        except OSError:
            continue
    oriented = []  # 4 rotations x mirror: different images with the same content statistics
    for a in out:
        for k in range(4):
            r = np.rot90(a, k)
            oriented += [np.ascontiguousarray(r), np.ascontiguousarray(r[:, ::-1])]
    return oriented


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    import fontpkg

    return ImageFont.truetype(fontpkg.path(name), size)


def jersey(number: str, style: dict, size: tuple[int, int]) -> Image.Image:
    """A jersey crop: coloured shirt, shading, a number in a sports font with an outline."""
    w, h = size
    im = Image.new("RGB", (w, h), tuple(style["shirt"]))
    d = ImageDraw.Draw(im)
    rng = random.Random(style["seed"])
    for _ in range(6):  # fabric folds
        x = rng.randrange(w)
        shade = tuple(max(0, c - rng.randrange(10, 40)) for c in style["shirt"])
        d.line([(x, 0), (x + rng.randrange(-w // 3, w // 3), h)], fill=shade, width=rng.randrange(2, 8))
    font = _font(style["font"], int(h * style["scale"]))
    box = d.textbbox((0, 0), number, font=font, stroke_width=style["stroke"])
    tx = (w - (box[2] - box[0])) / 2 - box[0] + style["dx"]
    ty = (h - (box[3] - box[1])) / 2 - box[1] + style["dy"]
    d.text(
        (tx, ty),
        number,
        font=font,
        fill=tuple(style["ink"]),
        stroke_width=style["stroke"],
        stroke_fill=tuple(style["edge"]),
    )
    return im


def random_style(rng: random.Random) -> dict:
    shirt, ink, edge = rng.sample(PALETTE, 3)
    return {"shirt": shirt, "ink": ink, "edge": edge, "font": rng.choice(FONTS),
            "scale": rng.uniform(0.45, 0.7), "stroke": rng.randrange(0, 4),
            "dx": rng.randrange(-6, 7), "dy": rng.randrange(-6, 7), "seed": rng.randrange(1 << 30)}  # fmt: skip


def near_copy(im: Image.Image, rng: random.Random) -> tuple[Image.Image, str, dict]:
    """One or two random edits from the issue's list; returns (image, jpeg-or-png, params)."""
    ops = rng.sample(["jpeg", "resize", "crop", "color", "rotate", "noise"], rng.choice([1, 2]))
    params: dict = {"ops": ops}
    quality = None
    for op in ops:
        w, h = im.size
        if op == "jpeg":
            quality = rng.randint(20, 90)
            params["quality"] = quality
        elif op == "resize":
            f = rng.uniform(0.5, 0.9)
            im = im.resize((max(8, round(w * f)), max(8, round(h * f))), Image.Resampling.BILINEAR)
            params["resize"] = round(f, 3)
        elif op == "crop":
            fx, fy = rng.uniform(0, 0.10), rng.uniform(0, 0.10)
            cw, ch = round(w * (1 - fx)), round(h * (1 - fy))
            x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
            im = im.crop((x0, y0, x0 + cw, y0 + ch))
            params["crop"] = [round(fx, 3), round(fy, 3)]
        elif op == "color":
            b, c = rng.uniform(0.85, 1.15), rng.uniform(0.85, 1.15)
            im = ImageEnhance.Contrast(ImageEnhance.Brightness(im).enhance(b)).enhance(c)
            params["brightness_contrast"] = [round(b, 3), round(c, 3)]
        elif op == "rotate":
            a = rng.uniform(-3, 3)
            im = im.rotate(a, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=(0, 0, 0))
            params["rotate"] = round(a, 2)
        elif op == "noise":
            s = rng.uniform(3, 12)
            arr = np.asarray(im, dtype=np.float32)
            arr = arr + np.random.default_rng(rng.randrange(1 << 30)).normal(0, s, arr.shape)
            im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
            params["noise_sigma"] = round(s, 2)
    if quality is not None:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), "jpg", params
    return im, "png", params


def build(
    root: Path, n_groups: int, seed: int = 0, jersey_share: float = 0.5, dups_per_group: float = 1.0
) -> list[dict]:
    """Write a labelled benchmark dataset under ``root`` (seed layout, ``train/annotations.jsonl``).

    Each group has one base image plus on average ``dups_per_group`` copies (a quarter of them
    exact re-encodings, the rest near copies). Returns one record per file:
    ``{"image", "group", "kind": base|exact|near, "label", "pixels": group of identical pixels}``.
    """
    rng = random.Random(seed)
    bases = real_bases()
    folder = root / "train"
    folder.mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    n_real_groups = 0
    jerseys: list[tuple[dict, tuple[int, int], str]] = []
    windows: dict[int, list[tuple[int, int, int, int]]] = {}
    full: set[int] = set()
    for g in range(n_groups):
        if rng.random() < jersey_share:
            if jerseys and rng.random() < 0.3:  # hard negative: same jersey, another number
                style, size, num = rng.choice(jerseys)
                used = {n for st, _, n in jerseys if st is style}
                other = str(rng.randrange(100))
                while other in used:  # an unused number: never re-render an earlier image
                    other = str(rng.randrange(100))
                num = other
            else:
                style, size, num = (
                    random_style(rng),
                    (rng.randrange(64, 129), rng.randrange(96, 161)),
                    str(rng.randrange(100)),
                )
            jerseys.append((style, size, num))
            base = jersey(num, style, size)
            label = num
        else:  # a window of a bundled photo; neighbouring windows are hard negatives
            window = None
            for _ in range(len(bases)):  # next photo (of 8 orientations each) with room left
                b = n_real_groups % len(bases)
                n_real_groups += 1
                if b in full:
                    continue
                src = bases[b]
                H, W = src.shape[:2]
                taken = windows.setdefault(b, [])
                for _ in range(30):  # another window of the photo, overlapping others at most 30%
                    s = rng.uniform(0.25, 0.6)
                    cw, ch = max(48, int(W * s)), max(48, int(H * s))
                    x0, y0 = rng.randint(0, W - cw), rng.randint(0, H - ch)
                    if all(_iou((x0, y0, x0 + cw, y0 + ch), t) <= 0.3 for t in taken):
                        window = (x0, y0, x0 + cw, y0 + ch)
                        break
                if window is not None:
                    taken.append(window)
                    break
                full.add(b)
            if window is None:  # every photo is used up: a jersey instead
                style, size, num = (
                    random_style(rng),
                    (rng.randrange(64, 129), rng.randrange(96, 161)),
                    str(rng.randrange(100)),
                )
                jerseys.append((style, size, num))
                base, label = jersey(num, style, size), num
                return_real = False
            else:
                return_real = True
            x0, y0, x1, y1 = window or (0, 0, 0, 0)
            cw, ch = x1 - x0, y1 - y0
            if return_real:
                base = Image.fromarray(src[y0 : y0 + ch, x0 : x0 + cw]).resize(
                    (rng.randrange(160, 400), rng.randrange(160, 400)), Image.Resampling.BILINEAR
                )
                label = None
        name = f"g{g:06d}_base.png"
        base.save(folder / name)
        records.append({"image": f"train/{name}", "group": g, "kind": "base", "label": label, "pixels": f"{g}"})
        k = int(dups_per_group) + (1 if rng.random() < dups_per_group % 1 else 0)
        for j in range(k):
            if rng.random() < 0.25:  # exact: same pixels, another container or metadata
                how = rng.choice(["bmp", "png_meta", "tiff", "copy"])
                ext = {"bmp": "bmp", "png_meta": "png", "tiff": "tiff", "copy": "png"}[how]
                nm = f"g{g:06d}_exact{j}.{ext}"
                if how == "png_meta":
                    from PIL import PngImagePlugin

                    info = PngImagePlugin.PngInfo()
                    info.add_text("Comment", f"re-saved {j}")
                    base.save(folder / nm, pnginfo=info, compress_level=rng.randrange(1, 10))
                elif how == "copy":
                    (folder / nm).write_bytes((folder / name).read_bytes())
                else:
                    base.save(folder / nm)
                records.append({"image": f"train/{nm}", "group": g, "kind": "exact", "label": label, "pixels": f"{g}"})
            else:
                im, ext, params = near_copy(base, rng)
                nm = f"g{g:06d}_near{j}.{ext}"
                if ext == "jpg":
                    im.save(folder / nm, quality=params["quality"])
                else:
                    im.save(folder / nm)
                records.append(
                    {
                        "image": f"train/{nm}",
                        "group": g,
                        "kind": "near",
                        "label": label,
                        "pixels": f"{g}/{j}" if ext == "png" else f"{g}/{j}/jpg",
                        "params": params,
                    }
                )
    with open(folder / "annotations.jsonl", "w", encoding="utf-8") as f:
        for r in records:
            row = {"image": Path(r["image"]).name}
            if r["label"] is not None:
                row["suffix"] = r["label"]
                row["prefix"] = "What number is on this basketball jersey? Reply with just the number, nothing else."
            else:
                pass  # real photos are unlabeled
            f.write(json.dumps(row) + "\n")
    return records


def _jersey_chunk(args: tuple[str, int, int, int]) -> None:
    root, start, stop, seed = args
    folder = Path(root) / "train"
    rng = random.Random(seed)
    for g in range(start, stop):
        style = random_style(rng)
        size = (rng.randrange(48, 97), rng.randrange(72, 129))
        base = jersey(str(rng.randrange(100)), style, size)
        base.save(folder / f"j{g:07d}.png", compress_level=1)
        im, ext, params = near_copy(base, rng)
        if ext == "jpg":
            im.save(folder / f"j{g:07d}_n.jpg", quality=params["quality"])
        else:
            im.save(folder / f"j{g:07d}_n.png", compress_level=1)


def build_jerseys(root: Path, n_groups: int, seed: int = 0, workers: int = 2) -> int:
    """``n_groups`` jersey crops, each with one near copy (2·n images), written in parallel.

    Unlabeled rows (``{"image"}``) so the scaling run measures image work only. Returns the
    number of images.
    """
    from multiprocessing import Pool

    folder = root / "train"
    folder.mkdir(parents=True, exist_ok=True)
    step = 500
    jobs = [(str(root), s, min(s + step, n_groups), seed * 1_000_003 + s) for s in range(0, n_groups, step)]
    with Pool(workers) as pool:
        pool.map(_jersey_chunk, jobs)
    names = sorted(p.name for p in folder.iterdir() if p.suffix in (".png", ".jpg"))
    with open(folder / "annotations.jsonl", "w", encoding="utf-8") as f:
        for n in names:
            f.write(json.dumps({"image": n}) + "\n")
    return len(names)


# ----------------------------------------------------------------------------- jersey precision
# Crops rendered by ``datakit render jersey`` are distinct by construction; their known parameters
# (label, ``metadata.font``, ``jersey_color``, ``number_color``) are the truth. No near group and no
# label-conflict cluster may join two crops whose label or number colour differ.
RENDER_CMD = ["render", "jersey", "--classes", "0-99", "--preset", "zc_strong_all"]
PLANT_LABELS = ("20", "23", "25", "28")


def build_render(root: Path, per_class: int) -> list[dict]:
    """``datakit render jersey --classes 0-99 --per-class N --preset zc_strong_all`` under ``root``."""
    cmd = [sys.executable, "-m", "datakit.cli", *RENDER_CMD, "--per-class", str(per_class), "--out", str(root)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    recs = []
    for ann in sorted(root.rglob("annotations.jsonl")):
        folder = ann.parent.relative_to(root).as_posix()
        for line in ann.read_text().splitlines():
            row = json.loads(line)
            md = row["metadata"]
            recs.append({"image": f"{folder}/{row['image']}", "label": row["suffix"], "font": md["font"],
                         "jersey_color": md["jersey_color"], "number_color": md["number_color"]})  # fmt: skip
    return recs


def build_planted(root: Path, n_kits: int, seed: int = 0) -> list[dict]:
    """Same-kit crops "20", "23", "25", "28" (distinct) and one true conflict per kit.

    Each kit is one set of rendering parameters drawn by the renderer, rendered with the four
    numbers; the true conflict is the "23" shifted by 1–3 px, re-encoded as JPEG q70–90 and
    labelled "28" (the same crop under two labels).
    """
    from renderers.jersey import JerseyConfig, JerseyRenderer

    folder = root / "train"
    folder.mkdir(parents=True, exist_ok=True)
    r = JerseyRenderer(JerseyConfig(size=96, preset="zc_strong_all"))
    rng = random.Random(seed)
    recs = []
    for k in range(n_kits):
        p = r.sample_params(PLANT_LABELS[0], 1000 + k)
        for lab in PLANT_LABELS:
            Image.fromarray(r.render_params({**p, "label": lab})).save(folder / f"k{k:03d}_{lab}.png")
            recs.append({"image": f"train/k{k:03d}_{lab}.png", "label": lab, "kit": k, "copy_of": None})
        src = Image.open(folder / f"k{k:03d}_23.png").convert("RGB")
        dx, dy = rng.randint(1, 3), rng.randint(1, 3)
        shifted = src.crop((dx, dy, src.width, src.height)).resize(src.size, Image.Resampling.BILINEAR)
        shifted.save(folder / f"k{k:03d}_23_copy.jpg", quality=rng.randint(70, 90))
        recs.append({"image": f"train/k{k:03d}_23_copy.jpg", "label": "28", "kit": k, "copy_of": f"train/k{k:03d}_23.png"})
    with open(folder / "annotations.jsonl", "w", encoding="utf-8") as f:
        for rec in recs:
            f.write(json.dumps({"image": Path(rec["image"]).name, "label": rec["label"]}) + "\n")
    return recs


def dataset(name: str, build) -> Path:  # type: ignore[no-untyped-def]
    root = DATA / name
    done = root / "records.json"
    if done.exists():
        return root
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    t = time.perf_counter()
    recs = build(root)
    done.write_text(json.dumps(recs))
    print(f"built {name} in {time.perf_counter() - t:.0f}s", file=sys.stderr)
    return root
