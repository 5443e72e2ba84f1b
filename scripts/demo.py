"""`make demo`: the main job end to end, on data this script generates.

Builds a small jersey-crop dataset in the seed's layout (train/valid/test, each with an
``annotations.jsonl`` of ``{"image", "prefix", "suffix"}`` rows, plus a few of the seed's bad rows),
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
# A long-tailed label distribution like the seed's (class 8: many; class 6: few).
LABEL_WEIGHTS = {"8": 30, "23": 24, "11": 18, "3": 14, "30": 10, "0": 8, "24": 6, "13": 4, "6": 2, "77": 2}


def crop(number: str, jersey: str, rng: random.Random) -> Image.Image:
    """A simple jersey crop: cloth colour, a number in the contrasting colour, a little noise."""
    size = rng.randint(64, 112)
    img = Image.new("RGB", (size, size), JERSEYS[jersey])
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=int(size * 0.55))
    box = draw.textbbox((0, 0), number, font=font)
    x = (size - (box[2] - box[0])) / 2 - box[0] + rng.uniform(-4, 4)
    y = (size - (box[3] - box[1])) / 2 - box[1] + rng.uniform(-4, 4)
    draw.text((x, y), number, font=font, fill=JERSEYS[NUMBERS[jersey]])
    return img.rotate(rng.uniform(-8, 8), fillcolor=JERSEYS[jersey])


def build_dataset(root: Path, seed: int = 0) -> Path:
    """The seed layout with 240 crops, and the seed's bad rows (empty suffix beside a valid one)."""
    rng = random.Random(seed)
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
            if split == "train" and i % 40 == 5:  # the seed's duplicate row with an empty suffix
                rows.append({"image": name, "prefix": PROMPT, "suffix": ""})
        with open(root / split / "annotations.jsonl", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    return root


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def run(*args: str) -> None:
    """Run one datakit command as a user would, echoing it."""
    exe = Path(sys.executable).with_name("datakit")
    print(f"\n$ datakit {' '.join(args)}", flush=True)
    subprocess.run([str(exe), *args], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="demo_out", help="folder for everything the demo writes")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    print("== 1. A jersey-crop dataset in the seed's layout")
    data = build_dataset(out / "jerseys")
    print(f"wrote {data}")
    run("info", str(data))
    run("validate", str(data))
    with open(out / "info.json", "w") as f:
        subprocess.run(
            [str(Path(sys.executable).with_name("datakit")), "info", str(data), "--json"], check=True, stdout=f
        )

    print("\n== Outputs")
    print(f"dataset:        {data}")
    print(f"summary (JSON): {out / 'info.json'}")


if __name__ == "__main__":
    main()
