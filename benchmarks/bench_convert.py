"""Converter benchmark: COCO → YOLO and YOLO → COCO at val2017 scale and 20× that.

Generates a detection COCO file shaped like val2017 (5,000 images, ~37,000 boxes, 80 categories
with COCO's non-contiguous ids; placeholder JPEGs hard-linked from one file per image size, so
headers carry the declared sizes) and one 20× larger, plus the YOLO folder of each. Then times,
on the same files in the same run, each tool in its own child process (peak RSS is its own):

- datakit: ``formats.coco.read`` + ``formats.yolo.write`` / ``formats.yolo.read`` + ``formats.coco.write``
- globox: ``AnnotationSet.from_coco`` + ``save_yolo_v5`` / ``from_yolo_v5`` + ``save_coco``
- supervision: ``DetectionDataset.from_coco`` + ``as_yolo`` / ``from_yolo`` + ``as_coco``
- FiftyOne: ``Dataset.from_dir(COCODetectionDataset)`` + ``export(YOLOv5Dataset)`` and back
  (its database is started before the clock starts)

Every tool writes annotations only (no image copies). Each run's output is counted (boxes) so
the tools are seen to do the same work.

    flock /tmp/datakit-bench.lock .venv/bin/python benchmarks/bench_convert.py [--quick] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import HWM_KB_EXPR, machine, run_isolated, table, versions, write_section

DATA = Path(__file__).parent / "_data" / "convert"
ROOT = Path(__file__).resolve().parent.parent
SIZES = [
    (640, 480),
    (480, 640),
    (640, 427),
    (427, 640),
    (500, 375),
    (375, 500),
    (640, 360),
    (612, 612),
    (640, 512),
    (640, 424),
    (333, 500),
    (500, 333),
]
# COCO's 80 category ids (1..90 with gaps).
CAT_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]


def generate(root: Path, n_images: int, seed: int = 0) -> tuple[Path, Path]:
    """Write ``root/instances.json`` + ``root/val2017/*.jpg`` and the YOLO copy; return both paths."""
    from PIL import Image

    ann = root / "instances.json"
    yolo_dir = root / "yolo"
    if ann.is_file() and (yolo_dir / "data.yaml").is_file():
        return ann, yolo_dir
    shutil.rmtree(root, ignore_errors=True)
    (root / "val2017").mkdir(parents=True)
    rng = random.Random(seed)
    proto = root / "_proto"
    proto.mkdir()
    for w, h in SIZES:
        Image.new("RGB", (w, h), (90, 120, 60)).save(proto / f"{w}x{h}.jpg", quality=50)
    images, anns = [], []
    aid = 1
    for i in range(n_images):
        w, h = rng.choice(SIZES)
        iid = 100000 + i * 7  # sparse ids, like COCO's
        name = f"{iid:012d}.jpg"
        os.link(proto / f"{w}x{h}.jpg", root / "val2017" / name)
        images.append({"id": iid, "file_name": name, "width": w, "height": h, "license": 1})
        for _ in range(min(int(rng.expovariate(1 / 7.4)), 60)):
            bw = rng.uniform(4, w / 2)
            bh = rng.uniform(4, h / 2)
            x = rng.uniform(0, w - bw)
            y = rng.uniform(0, h - bh)
            anns.append(
                {
                    "id": aid,
                    "image_id": iid,
                    "category_id": rng.choice(CAT_IDS),
                    "bbox": [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)],
                    "area": round(bw * bh, 2),
                    "iscrowd": 0,
                }
            )
            aid += 1
    cats = [{"id": c, "name": f"class_{c}", "supercategory": "thing"} for c in CAT_IDS]
    data = {
        "info": {"description": "synthetic val2017-scale"},
        "licenses": [{"id": 1, "name": "x"}],
        "images": images,
        "annotations": anns,
        "categories": cats,
    }
    ann.write_text(json.dumps(data))
    # The YOLO input every tool reads: images/val (hard links) + labels/val + data.yaml.
    sys.path.insert(0, str(ROOT))
    from datakit.formats import coco, yolo

    ds = coco.read(ann, images=root / "val2017").with_column("split", ["val"] * n_images)
    yolo.write(ds, yolo_dir, images="link")
    return ann, yolo_dir


def count_yolo(folder: str) -> int:
    """Boxes in every label file under ``folder``."""
    n = 0
    for dirpath, _, files in os.walk(folder):
        for f in files:
            if f.endswith(".txt"):
                with open(os.path.join(dirpath, f)) as fh:
                    n += sum(1 for line in fh if line.strip())
    return n


COUNT = """
import os, json as _json
def _count_yolo(folder):
    n = 0
    for dirpath, _, files in os.walk(folder):
        for f in files:
            if f.endswith(".txt") and f != "classes.txt":
                with open(os.path.join(dirpath, f)) as fh:
                    n += sum(1 for line in fh if line.strip())
    return n
def _count_coco(path):
    with open(path) as f:
        return len(_json.load(f)["annotations"])
def _peak_mib():
    return HWM_KB / 1024
""".replace("HWM_KB", HWM_KB_EXPR)

TOOLS = {
    "datakit": {
        "c2y": """
import time, json
from datakit.formats import coco, yolo
t = time.perf_counter()
ds = coco.read({ann!r}, images={images!r})
yolo.write(ds, {out!r}, images="none")
dt = time.perf_counter() - t
_peak = _peak_mib()
print(json.dumps(dict(seconds=dt, rss=_peak, boxes=_count_yolo({out!r}))))
""",
        "y2c": """
import time, json
from datakit.formats import coco, yolo
t = time.perf_counter()
ds = yolo.read({yolo!r})
coco.write(ds, {out!r}, images="none")
dt = time.perf_counter() - t
_peak = _peak_mib()
print(json.dumps(dict(seconds=dt, rss=_peak, boxes=_count_coco({out!r} + "/val/_annotations.coco.json"))))
""",
    },
    "globox": {
        "c2y": """
import time, json
from globox import AnnotationSet
t = time.perf_counter()
a = AnnotationSet.from_coco({ann!r})
a.save_yolo_v5({out!r})
dt = time.perf_counter() - t
_peak = _peak_mib()
print(json.dumps(dict(seconds=dt, rss=_peak, boxes=_count_yolo({out!r}))))
""",
        "y2c": """
import time, json
from globox import AnnotationSet
t = time.perf_counter()
a = AnnotationSet.from_yolo_v5({yolo!r} + "/labels/val", image_folder={yolo!r} + "/images/val")
a.save_coco({out!r} + ".json", auto_ids=True)
dt = time.perf_counter() - t
_peak = _peak_mib()
print(json.dumps(dict(seconds=dt, rss=_peak, boxes=_count_coco({out!r} + ".json"))))
""",
    },
    "supervision": {
        "c2y": """
import time, json
import supervision as sv
t = time.perf_counter()
d = sv.DetectionDataset.from_coco(images_directory_path={images!r}, annotations_path={ann!r})
d.as_yolo(annotations_directory_path={out!r} + "/labels", data_yaml_path={out!r} + "/data.yaml")
dt = time.perf_counter() - t
_peak = _peak_mib()
print(json.dumps(dict(seconds=dt, rss=_peak, boxes=_count_yolo({out!r}))))
""",
        "y2c": """
import time, json
import supervision as sv
t = time.perf_counter()
d = sv.DetectionDataset.from_yolo(images_directory_path={yolo!r} + "/images/val",
    annotations_directory_path={yolo!r} + "/labels/val", data_yaml_path={yolo!r} + "/data.yaml")
d.as_coco(annotations_path={out!r} + ".json")
dt = time.perf_counter() - t
_peak = _peak_mib()
print(json.dumps(dict(seconds=dt, rss=_peak, boxes=_count_coco({out!r} + ".json"))))
""",
    },
    "fiftyone": {
        "c2y": """
import time, json
import fiftyone as fo
fo.Dataset().delete()  # start the database before the clock
t = time.perf_counter()
d = fo.Dataset.from_dir(dataset_type=fo.types.COCODetectionDataset, data_path={images!r},
    labels_path={ann!r}, label_types="detections", label_field="gt")
d.export(export_dir={out!r}, dataset_type=fo.types.YOLOv5Dataset, label_field="gt",
    export_media=False, split="val")
dt = time.perf_counter() - t
_peak = _peak_mib()
d.delete()
print(json.dumps(dict(seconds=dt, rss=_peak, boxes=_count_yolo({out!r}))))
""",
        "y2c": """
import time, json
import fiftyone as fo
fo.Dataset().delete()
t = time.perf_counter()
d = fo.Dataset.from_dir(dataset_type=fo.types.YOLOv5Dataset, dataset_dir={yolo!r},
    yaml_path="data.yaml", split="val", label_field="gt")
d.export(labels_path={out!r} + ".json", dataset_type=fo.types.COCODetectionDataset,
    label_field="gt", export_media=False)
dt = time.perf_counter() - t
_peak = _peak_mib()
d.delete()
print(json.dumps(dict(seconds=dt, rss=_peak, boxes=_count_coco({out!r} + ".json"))))
""",
    },
}


def run_one(tool: str, task: str, ann: Path, yolo_dir: Path, work: Path) -> dict[str, float]:
    """One timed child run; the output is removed afterwards."""
    out = work / f"{tool}-{task}"
    shutil.rmtree(out, ignore_errors=True)
    if out.with_suffix(".json").exists():
        out.with_suffix(".json").unlink()
    code = COUNT + TOOLS[tool][task].format(
        ann=str(ann), images=str(ann.parent / "val2017"), yolo=str(yolo_dir), out=str(out)
    )
    env = {
        "PYTHONPATH": str(ROOT),
        "FIFTYONE_DO_NOT_TRACK": "true",
        "FIFTYONE_DATABASE_VALIDATION": "false",
        "HF_HUB_OFFLINE": "1",
        "NO_ALBUMENTATIONS_UPDATE": "1",
        "MPLBACKEND": "Agg",
    }
    r = run_isolated(code, env=env)
    shutil.rmtree(out, ignore_errors=True)
    if out.with_suffix(".json").exists():
        out.with_suffix(".json").unlink()
    return r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1× file only, one run each, no FiftyOne at 20×")
    p.add_argument("--repeat", type=int, default=3, help="runs per tool and task (median); default 3")
    p.add_argument("--images", type=int, default=5000, help="images in the 1× file (default 5000)")
    p.add_argument("--fiftyone-20x", action="store_true", help="also run FiftyOne on the 20× file (slow)")
    args = p.parse_args()
    repeat = 1 if args.quick else args.repeat
    scales = [("1×", args.images)] + ([] if args.quick else [("20×", args.images * 20)])
    work = DATA / "out"
    work.mkdir(parents=True, exist_ok=True)
    sections = []
    verdicts = []
    skipped_peers: list[str] = []
    first_scale: dict[tuple[str, str], dict[str, float]] = {}
    for label, n in scales:
        t0 = time.perf_counter()
        ann, yolo_dir = generate(DATA / f"coco_{n}", n)
        gen_s = time.perf_counter() - t0
        n_boxes = len(json.loads(ann.read_text())["annotations"])
        rows = []
        results: dict[tuple[str, str], dict[str, float]] = {}
        for task in ("c2y", "y2c"):
            for tool in TOOLS:
                if tool == "fiftyone" and label != "1×" and not args.fiftyone_20x:
                    continue
                if label != "1×" and tool != "datakit" and first_scale:
                    # Peers more than 3× slower than the fastest peer at 1× cannot be the fastest
                    # peer at 20×; skipping them keeps one run under ~10 minutes.
                    fastest_1x = min(v["seconds"] for (t, k), v in first_scale.items() if k == task and t != "datakit")
                    if first_scale[(tool, task)]["seconds"] > 3 * fastest_1x:
                        skipped_peers.append(f"{tool} {task} at {label}")
                        continue
                reps = repeat if tool == "datakit" or (label == "1×" and tool != "fiftyone") else 1
                runs = [run_one(tool, task, ann, yolo_dir, work) for _ in range(reps)]
                secs = sorted(r["seconds"] for r in runs)
                med = secs[len(secs) // 2]
                # Peak RSS when the conversion ends, before the output is counted (the count loads it).
                results[(tool, task)] = {"seconds": med, "rss": max(r["rss"] for r in runs), "boxes": runs[-1]["boxes"]}
                print(
                    f"{label} {task} {tool}: {med:.2f} s, {results[(tool, task)]['rss']:.0f} MiB, "
                    f"{runs[-1]['boxes']} boxes",
                    flush=True,
                )
        if not first_scale:
            first_scale = dict(results)
        for task, name in (("c2y", "COCO → YOLO"), ("y2c", "YOLO → COCO")):
            dk = results[("datakit", task)]
            peers = [(t, results[(t, task)]) for t in TOOLS if t != "datakit" and (t, task) in results]
            for tool, r in [("datakit", dk), *peers]:
                rows.append([name, tool, r["seconds"], r["rss"], int(r["boxes"]), r["seconds"] / dk["seconds"]])
            if peers:
                fastest_name, fastest = min(peers, key=lambda kv: kv[1]["seconds"])
                speed = fastest["seconds"] / dk["seconds"]
                mem_ok = dk["rss"] <= fastest["rss"]
                verdicts.append(
                    f"- {label} {name}: datakit {dk['seconds']:.2f} s vs fastest peer {fastest_name} "
                    f"{fastest['seconds']:.2f} s → **{speed:.1f}×**; peak RSS {dk['rss']:.0f} vs "
                    f"{fastest['rss']:.0f} MiB"
                    + (
                        f" — target (≥ 2× and no higher RSS): **{'met' if speed >= 2 and mem_ok else 'NOT met'}**"
                        if label == "20×"
                        else ""
                    )
                )
        sections.append(
            f"### {label}: {n:,} images, {n_boxes:,} boxes, 80 categories (generated in {gen_s:.0f} s)\n\n"
            + table(["task", "tool", "median s", "peak RSS MiB", "boxes out", "time / datakit"], rows)
        )
    body = "\n".join(
        [
            "## Converters: COCO ⇄ YOLO (`benchmarks/bench_convert.py`)",
            "",
            f"Machine: {machine()} (a shared VM: timings move with other jobs)  ",
            "Versions: " + versions("numpy", "orjson", "globox", "supervision", "fiftyone", "pycocotools") + "  ",
            f"Median of {repeat} runs per tool at 1× (FiftyOne: 1 run) and of {repeat} datakit runs at 20× "
            "(peers: 1 run each at 20×), each in its own process; time excludes interpreter start-up and "
            "imports; annotations only, no image copies. "
            "FiftyOne's database is started before its clock (its separate mongod process is not in its RSS). "
            "Peak RSS is the child's maximum RSS when the conversion ends, before its output is counted. "
            "Command: `flock /tmp/datakit-bench.lock .venv/bin/python benchmarks/bench_convert.py`"
            + (" --quick" if args.quick else "")
            + ".",
            "",
            *sections,
            "",
            "Verdicts:",
            *verdicts,
            "",
            "FiftyOne runs at 1× only unless `--fiftyone-20x` (at 20× it needs many minutes per run and is "
            "far from the fastest peer at 1×)."
            + (
                f" Not run at 20× (more than 3× slower than the fastest peer at 1×): {', '.join(skipped_peers)}."
                if skipped_peers
                else ""
            ),
        ]
    )
    write_section("convert", body)
    print(body)


if __name__ == "__main__":
    main()
