"""Demo stage: HOG people pseudo-labels with slicing on the demo's frames, exported as COCO for RF-DETR.

Standalone: ``.venv/bin/python scripts/demo_pseudo.py --out demo_out`` (extracts the frames first
with ``scripts/demo_frames.py`` when ``demo_out/frames`` is missing). In ``make demo``,
:func:`stage` runs after the frames stage and takes its frames dataset.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys
from collections.abc import Callable
from typing import Any


def stage(out: pathlib.Path, run: Callable[..., Any], frames_ds: pathlib.Path) -> dict[str, pathlib.Path]:
    """Pseudo-label ``frames_ds`` with HOG (640 px slices + full frame), split, export COCO in RF-DETR's layout."""
    pseudo, split, coco = out / "pseudo", out / "pseudo_split", out / "pseudo_coco"
    for p in (pseudo, split, coco):
        shutil.rmtree(p, ignore_errors=True)  # a demo run starts fresh (a rerun of one command resumes)
    summary = out / "pseudo_summary.json"
    print("== Pseudo-labels: OpenCV's HOG people detector, SAHI-style 640 px slices + the full frame")
    run("pseudo-label", str(frames_ds), "--detector", "hog", "--label", "person", "--slice", "640",
        "--overlap", "0.2", "--full-frame", "--threshold", "0.6", "--out", str(pseudo), "--no-progress")  # fmt: skip
    run("pseudo-label", str(frames_ds), "--detector", "hog", "--label", "person", "--slice", "640",
        "--overlap", "0.2", "--full-frame", "--threshold", "0.6", "--out", str(pseudo), "--no-progress",
        "--json", stdout=summary)  # fmt: skip  (the rerun resumes everything from the checkpoint)
    print("== Split 70/15/15 and export COCO in RF-DETR's Roboflow layout (train|valid|test/_annotations.coco.json)")
    run("split", str(pseudo), "--ratios", "0.7,0.15,0.15", "--stratify", "none", "--out", str(split))
    run("convert", str(split), "--to", "coco", "--out", str(coco))
    return {
        "pseudo-labelled frames": pseudo,
        "pseudo-label summary (JSON)": summary,
        "COCO for RF-DETR (train/valid/test)": coco,
        "pseudo-label checkpoint": pseudo / "_pseudo" / "pseudo.jsonl",
    }


def main() -> None:
    from demo import run as _run  # scripts/demo.py's: runs `datakit ARGS` as a user would

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="demo_out", help="folder for everything the demo writes")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frames = out / "frames"
    if not (frames / "unsplit").exists() and not any(frames.glob("*/annotations.jsonl")):
        sys.path.insert(0, str(pathlib.Path(__file__).parent))
        import demo_frames

        frames = demo_frames.stage(out, _run)["frames dataset"]
    for what, path in stage(out, _run, frames).items():
        print(f"{what:40s} {path}")


if __name__ == "__main__":
    main()
