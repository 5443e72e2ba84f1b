"""Labelled near-duplicate benchmark data for ``bench_dedup.py`` (real bundled images + jersey crops).

Every written file has a ``group`` (its base image): files of one group are duplicates (exact or
near), files of different groups are distinct, including the hard negatives (another crop of the
same scene; the same jersey with another number).
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

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
        except Exception:  # noqa: BLE001 - a data file that needs a download: skip it
            continue
        if a.ndim == 2:
            a = np.stack([a] * 3, -1)
        out.append(np.ascontiguousarray(a[..., :3]).astype(np.uint8))
    for p in Path("/usr/share/doc/opencv-doc/examples/data").glob("*.png"):
        try:
            out.append(np.asarray(Image.open(p).convert("RGB")))
        except OSError:
            continue
    return out


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
    d.text((tx, ty), number, font=font, fill=tuple(style["ink"]), stroke_width=style["stroke"],
           stroke_fill=tuple(style["edge"]))
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


def build(root: Path, n_groups: int, seed: int = 0, jersey_share: float = 0.5,
          dups_per_group: float = 1.0) -> list[dict]:
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
                style, size, num = random_style(rng), (rng.randrange(64, 129), rng.randrange(96, 161)), str(rng.randrange(100))
            jerseys.append((style, size, num))
            base = jersey(num, style, size)
            label = num
        else:  # a window of a bundled photo; neighbouring windows are hard negatives
            src = bases[n_real_groups % len(bases)]
            n_real_groups += 1
            H, W = src.shape[:2]
            taken = windows.setdefault(id(src), [])
            for _ in range(50):  # another window of the same photo, overlapping at most 30%
                s = rng.uniform(0.25, 0.6)
                cw, ch = max(48, int(W * s)), max(48, int(H * s))
                x0, y0 = rng.randint(0, W - cw), rng.randint(0, H - ch)
                if all(_iou((x0, y0, x0 + cw, y0 + ch), t) <= 0.3 for t in taken):
                    break
            taken.append((x0, y0, x0 + cw, y0 + ch))
            base = Image.fromarray(src[y0:y0 + ch, x0:x0 + cw]).resize(
                (rng.randrange(160, 400), rng.randrange(160, 400)), Image.Resampling.BILINEAR)
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
                records.append({"image": f"train/{nm}", "group": g, "kind": "near", "label": label,
                                "pixels": f"{g}/{j}" if ext == "png" else f"{g}/{j}/jpg", "params": params})
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
