"""Demo stage: select frames for review, build the FiftyOne review dataset, correct, pull back.

Standalone: ``.venv/bin/python scripts/demo_review.py --out demo_out [--from DATASET]`` (without
``--from``, the jersey set ``scripts/demo.py`` builds is generated under ``OUT/review_input``). In
``make demo``, :func:`stage` runs on the pseudo-labelled frames (or the jersey set): ``datakit
select`` → ``datakit review --no-launch`` → a reviewer's corrections made through FiftyOne's Python
API (what the App does) → ``datakit review --pull``. The FiftyOne dataset stays in FiftyOne's
database; ``datakit review --open datakit-demo-review`` shows it in the App.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from collections.abc import Callable
from typing import Any

NAME = "datakit-demo-review"


def correct(name: str) -> dict[str, int]:
    """Edit the first samples of the review queue as a reviewer in the App would.

    The first is accepted as it is (tag ``reviewed``), the second gets a corrected label (or its
    first box moved), the third a tag ``hard`` and a box drawn, the fourth loses its last box.
    """
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
    from datakit.review.build import import_fiftyone

    fo = import_fiftyone()
    view = fo.load_dataset(name).load_saved_view("review_queue")
    done = {"accepted": 0, "labels_changed": 0, "boxes_moved": 0, "boxes_added": 0, "boxes_deleted": 0}
    for k, sample in enumerate(view.limit(4)):
        dets = sample.detections.detections if sample.detections is not None else []
        if k == 0:
            sample.tags.append("reviewed")
            done["accepted"] += 1
        elif k == 1 and sample.label is not None:
            sample.label.label = "77" if sample.label.label != "77" else "6"
            done["labels_changed"] += 1
        elif k == 1 and dets:
            x, y, w, h = dets[0].bounding_box
            dets[0].bounding_box = [min(x + 0.02, 1 - w), y, w, h]
            done["boxes_moved"] += 1
        elif k == 2:
            sample.tags.append("hard")
            if sample.detections is None:
                sample.detections = fo.Detections()
            sample.detections.detections.append(fo.Detection(label="ball", bounding_box=[0.4, 0.4, 0.1, 0.1]))
            done["boxes_added"] += 1
        elif k == 3 and dets:
            dets.pop()
            done["boxes_deleted"] += 1
        sample.save()
    return done


def stage(out: pathlib.Path, run: Callable[..., Any], ds_path: pathlib.Path) -> dict[str, pathlib.Path]:
    """Select 20 samples of ``ds_path``, review them in FiftyOne (simulated), and pull the edits back."""
    queue, reviewed = out / "review_queue", out / "reviewed"
    pull_report = out / "review_pull.json"
    print("== Select frames for review, correct them in FiftyOne, pull the corrections back")
    run("select", str(ds_path), "--budget", "20", "--band", "0.1,0.4", "--priority", "auto",
        "--features", "phash", "--images", "link", "--out", str(queue))  # fmt: skip
    run("review", str(ds_path), "--queue", str(queue), "--name", NAME, "--no-launch", "--overwrite")
    done = correct(NAME)
    print(f"(simulated reviewer, through FiftyOne's Python API: {json.dumps(done)})")
    run("review", "--pull", NAME, "--out", str(reviewed), "--json", stdout=pull_report)
    run("info", str(reviewed))
    print(f"(the review dataset stays in FiftyOne: datakit review --open {NAME} starts the App on 127.0.0.1:5151)")
    return {
        "review queue": queue,
        "selection report": queue / "selection.json",
        "selection histogram": queue / "selection.png",
        "reviewed dataset": reviewed,
        "pull report": pull_report,
    }


def main() -> None:
    from demo import run as _run  # scripts/demo.py's: runs `datakit ARGS` as a user would

    """Run the stage on its own."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="demo_out", help="folder for what the stage writes")
    ap.add_argument("--from", dest="source", help="dataset to select from (default: a generated jersey set)")
    args = ap.parse_args()
    out = pathlib.Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.source:
        ds_path = pathlib.Path(args.source).resolve()
    else:
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
        from demo import build_dataset

        ds_path = out / "review_input"
        if not ds_path.exists():
            build_dataset(ds_path)
    for what, path in stage(out, _run, ds_path).items():
        print(f"{what}: {path}")


if __name__ == "__main__":
    main()
