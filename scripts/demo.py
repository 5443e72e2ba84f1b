"""`make demo`: the main job end to end, on data this script generates.

Builds a small jersey-crop dataset in the jersey OCR project's layout (train/valid/test, each with an
``annotations.jsonl`` of ``{"image", "prefix", "suffix"}`` rows, plus a few of its bad rows),
then runs the datakit commands a user would run on it, printing each command and where its
outputs are.

    .venv/bin/python scripts/demo.py --out demo_out
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

PROMPT = "What number is on this basketball jersey? Reply with just the number, nothing else."
JERSEYS = {
    "white": (240, 240, 240),
    "navy": (25, 35, 85),
    "red": (190, 30, 40),
    "yellow": (245, 205, 40),
    "green": (20, 120, 60),
    "black": (25, 25, 25),
}
NUMBERS = {"white": "navy", "navy": "white", "red": "white", "yellow": "navy", "green": "white", "black": "yellow"}
# A long-tailed label distribution like the jersey OCR project's (class 8: many; class 6: few).
LABEL_WEIGHTS = {"8": 30, "23": 24, "11": 18, "3": 14, "30": 10, "0": 8, "24": 6, "13": 4, "6": 2, "77": 2}


def crop(number: str, jersey: str, rng: random.Random) -> Image.Image:
    """A jersey crop: shaded cloth, a number in the contrasting colour, court and arms around it."""
    size = rng.randint(64, 112)
    base = JERSEYS[jersey]
    img = Image.new("RGB", (size, size), base)
    draw = ImageDraw.Draw(img)
    for y in range(size):  # fabric shading: a random vertical gradient
        f = 0.8 + 0.35 * ((y / size + rng.random() * 0.02) ** rng.uniform(0.5, 2.0))
        draw.line([(0, y), (size, y)], fill=tuple(min(255, int(c * f)) for c in base))
    for _ in range(rng.randint(2, 5)):  # court, arms and other players at the crop's edges
        w, h = rng.randint(size // 8, size // 3), rng.randint(size // 6, size)
        x = rng.choice([rng.randint(-w // 2, 0), rng.randint(size - w, size - w // 2)])
        y0 = rng.randint(-h // 2, size - h // 2)
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        draw.ellipse([x, y0, x + w, y0 + h], fill=colour)
    font = ImageFont.load_default(size=int(size * rng.uniform(0.45, 0.62)))
    box = draw.textbbox((0, 0), number, font=font)
    x = (size - (box[2] - box[0])) / 2 - box[0] + rng.uniform(-6, 6)
    y = (size - (box[3] - box[1])) / 2 - box[1] + rng.uniform(-6, 6)
    draw.text((x, y), number, font=font, fill=JERSEYS[NUMBERS[jersey]])
    return img.rotate(rng.uniform(-8, 8), fillcolor=base)


def build_dataset(root: Path, seed: int = 0) -> Path:
    """The jersey OCR project's layout with 240 crops, and its bad rows (empty suffix beside a valid one)."""
    rng = random.Random(seed)
    train_rows: list[dict[str, str]] = []
    if root.exists():
        shutil.rmtree(root)
    splits = {"train": 160, "valid": 40, "test": 40}
    labels, weights = list(LABEL_WEIGHTS), list(LABEL_WEIGHTS.values())
    for split, n in splits.items():
        rows = []
        for i in range(n):
            label = rng.choices(labels, weights)[0]
            jersey = rng.choice(list(JERSEYS))
            name = f"{split}_{i:04d}.jpg"
            crop(label, jersey, rng).save(
                root / split / name if (root / split).is_dir() else _mkdir(root / split) / name,
                quality=rng.randint(60, 95),
            )
            rows.append({"image": name, "prefix": PROMPT, "suffix": label})
            if split == "train" and i % 40 == 5:  # the project's duplicate row with an empty suffix
                rows.append({"image": name, "prefix": PROMPT, "suffix": ""})
        if split != "train":  # copies of train crops leaked into eval: re-saved PNG, re-encoded JPEG
            for k in range(3):
                src = root / "train" / f"train_{k * 7 + (0 if split == 'valid' else 3):04d}.jpg"
                name = f"{split}_leak_{k}." + ("png" if k % 2 else "jpg")
                with Image.open(src) as im:
                    im.save(root / split / name, **({} if k % 2 else {"quality": 70}))
                label = next(r["suffix"] for r in train_rows if r["image"] == src.name and r["suffix"])
                rows.append({"image": name, "prefix": PROMPT, "suffix": label})
        else:
            train_rows = rows
        with open(root / split / "annotations.jsonl", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    return root


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def run(*args: str, stdout: Path | None = None) -> None:
    """Run one datakit command as a user would, echoing it (``stdout``: also save its output)."""
    exe = Path(sys.executable).with_name("datakit")
    print(f"\n$ datakit {' '.join(args)}", flush=True)
    if stdout is None:
        subprocess.run([str(exe), *args], check=True)
        return
    with open(stdout, "w") as f:
        subprocess.run([str(exe), *args], check=True, stdout=f)
    print(f"(output in {stdout})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="demo_out", help="folder for everything the demo writes")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data, clean, full = out / "jerseys", out / "clean", out / "annotated"

    print("== 1. A jersey-crop dataset in the jersey OCR project's layout (with its bad rows and leaked copies)")
    build_dataset(data)
    print(f"wrote {data}")
    run("info", str(data))
    run("validate", str(data))
    run("info", str(data), "--json", stdout=out / "info.json")

    print("\n== 2. Dedup: duplicate rows, exact and near copies, leaks between splits")
    run("dedup", str(data), "--report", str(out / "dedup_report.json"), "--apply", "--fix-leaks", "--out", str(clean))

    print("\n== 3. Annotate jersey/number colours offline (the VLM annotator takes --with vlm --model ID_OR_DIR)")
    run("annotate", str(clean), "--with", "color", "--out", str(full), "--no-progress")

    print("\n== 4. Render synthetic crops for the rare classes (the project's rule: <50 real -> 200), colours")
    print("      sampled from the annotated reference, then audit real vs synthetic, split by split")
    run("render", "presets")
    run(
        "render",
        "jersey",
        "--reference",
        str(full),
        "--min-count",
        "50",
        "--target",
        "200",
        "--out",
        str(full),
        "--preset",
        "zc_strong_all",
        "--preview",
        str(out / "render_sheet.png"),
    )
    run("audit", str(full), "--out", str(out / "audit"), "--by", "split,source")

    print("\n== 5. A fresh grouped, stratified split, and the formats other tools read")
    run(
        "split",
        str(full),
        "--ratios",
        "0.7,0.15,0.15",
        "--seed",
        "0",
        "--group",
        "metadata.dup_cluster",
        "--out",
        str(out / "resplit"),
    )
    run("convert", str(full), "--to", "yolo", "--out", str(out / "yolo"))
    run("convert", str(full), "--to", "coco", "--out", str(out / "coco"))
    run("convert", str(full), "--to", "hf", "--out", str(out / "hf"))
    run("convert", str(full), "--to", "jsonl", "--plain", "--out", str(out / "vlm_jsonl"))

    import demo_frames
    import demo_pseudo
    import demo_review
    import demo_train

    print("\n== 6. Video to training data: frames, pseudo-labels, review, publish, train")
    more: dict[str, Path] = {}
    more.update(demo_frames.stage(out, run))
    more.update(demo_pseudo.stage(out, run, more["frames dataset"]))
    more.update(demo_review.stage(out, run, more["pseudo-labelled frames"]))
    print("\n== Publish the curated jersey set to the Hugging Face Hub (--dry-run: staged, listed, not uploaded)")
    staged = out / "publish_staged"
    run("publish", str(full), "--repo", "demo/jerseys", "--license", "cc-by-4.0", "--dry-run", "--out", str(staged))
    more["publish (dry run): shards + card"] = staged
    more.update(demo_train.stage(out, run, out / "resplit"))

    print("\n== Outputs")
    for name, path in [
        ("jersey dataset (project layout)", data),
        ("summary (JSON)", out / "info.json"),
        ("dedup report", out / "dedup_report.json"),
        ("deduplicated", clean),
        ("colour-annotated + synthetic", full),
        ("render contact sheet", out / "render_sheet.png"),
        ("audit report", out / "audit" / "report.html"),
        ("re-split", out / "resplit"),
        ("YOLO / COCO / HF / VLM JSONL", out / "{yolo,coco,hf,vlm_jsonl}"),
        *more.items(),
    ]:
        print(f"{name + ':':36} {path}")


if __name__ == "__main__":
    main()
