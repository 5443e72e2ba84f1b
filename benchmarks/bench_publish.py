"""`datakit publish --dry-run` on 100,000 jersey crops: shards with embedded images and the card.

Peer: `datasets` writing the same crops as parquet with embedded image bytes (`Dataset.from_dict`,
`cast_column("image", Image())`, `embed_table_storage`, `to_parquet`), which is what
`push_to_hub` does before it uploads. Each tool runs in its own process; peak RSS is measured per
process at 25,000 and 100,000 crops to show whether memory stays flat.

    flock /tmp/datakit-bench.lock .venv/bin/python benchmarks/bench_publish.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _report

CACHE = Path(tempfile.gettempdir()) / "datakit-bench-publish"


def build(root: Path, n: int) -> Path:
    """``n`` distinct JPEG crops (600 drawings, one pixel changed per crop) in train/valid/test."""
    from PIL import Image, ImageDraw

    if (root / "done").is_file():
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(0)
    bases = []
    for k in range(600):
        img = Image.new("RGB", (48, 64), tuple(rng.randrange(256) for _ in range(3)))
        d = ImageDraw.Draw(img)
        d.text((10, 20), str(k % 100), fill=tuple(rng.randrange(256) for _ in range(3)))
        bases.append(img)

    def crop(i: int) -> bytes:
        img = bases[i % len(bases)].copy()
        img.putpixel((i % 48, (i // 48) % 64), (i % 256, (i // 256) % 256, 7))  # every crop distinct
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        return buf.getvalue()

    rows: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for i in range(n):
        split = "train" if i % 10 < 8 else "valid" if i % 10 == 8 else "test"
        name = f"{i:06d}.jpg"
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / split / name).write_bytes(crop(i))
        rows[split].append(json.dumps({"image": name, "prefix": "What number?", "suffix": str(i % 100)}))
    for split, lines in rows.items():
        (root / split / "annotations.jsonl").write_text("\n".join(lines) + "\n")
    (root / "done").write_text("")
    return root


DATAKIT = """
import json, sys, time, datakit
from datakit.hub import publish
t0 = time.perf_counter()
ds = datakit.load({root!r})
r = publish(ds, "me/jerseys", dry_run=True, staging={stage!r})
print(json.dumps({{"s": time.perf_counter() - t0, "files": len(r.files), "bytes": sum(f.size for f in r.files)}}))
"""

PEER = """
import json, os, time
t0 = time.perf_counter()
import datasets
from datasets.table import embed_table_storage
root = {root!r}
paths, labels, splits = [], [], []
for split in ("train", "valid", "test"):
    for line in open(os.path.join(root, split, "annotations.jsonl")):
        row = json.loads(line)
        paths.append(os.path.join(root, split, row["image"])); labels.append(row["suffix"]); splits.append(split)
names = sorted(set(labels), key=int)
os.makedirs({stage!r}, exist_ok=True)
total = 0
for split in ("train", "valid", "test"):
    idx = [i for i, s in enumerate(splits) if s == split]
    feats = datasets.Features({{"image": datasets.Image(), "label": datasets.ClassLabel(names=names)}})
    d = datasets.Dataset.from_dict({{"image": [paths[i] for i in idx], "label": [labels[i] for i in idx]}}, features=feats)
    d = d.with_format("arrow").map(embed_table_storage, batched=True, features=feats)
    out = os.path.join({stage!r}, split + ".parquet")
    d.to_parquet(out)
    total += os.path.getsize(out)
print(json.dumps({{"s": time.perf_counter() - t0, "files": 3, "bytes": total}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10,000 and 2,500 crops instead of 100,000 and 25,000")
    args = ap.parse_args()
    sizes = (2_500, 10_000) if args.quick else (25_000, 100_000)
    repeat = 3
    t_gen = time.perf_counter()
    roots = {n: build(CACHE / f"crops-{n}", n) for n in sizes}
    t_gen = time.perf_counter() - t_gen
    rows = []
    figures: dict[tuple[str, int], dict[str, float]] = {}
    load0 = os.getloadavg()[0]
    for n, root in roots.items():
        for tool, code in (("datakit publish --dry-run", DATAKIT), ("datasets embed + to_parquet", PEER)):
            times, rss = [], []
            for _ in range(repeat):
                stage = Path(tempfile.mkdtemp(prefix="bench-publish-"))
                try:
                    r = _report.run_isolated(code.format(root=str(root), stage=str(stage / "s")),
                                             env={"HF_DATASETS_CACHE": str(stage / "cache")})
                finally:
                    shutil.rmtree(stage, ignore_errors=True)
                times.append(r["s"])
                rss.append(r["peak_rss_mb"])
            med = sorted(times)[len(times) // 2]
            figures[(tool, n)] = {"s": med, "rss": max(rss), "files": r["files"], "mib": r["bytes"] / 2**20}
    big, small = sizes[1], sizes[0]
    for (tool, n), f in figures.items():
        ratio = figures[("datasets embed + to_parquet", n)]["s"] / figures[("datakit publish --dry-run", n)]["s"]
        rows.append([tool, f"{n:,}", f["s"], f["rss"], f["files"], f["mib"], ratio if tool.startswith("datakit") else 1.0])
    dk_big, dk_small = figures[("datakit publish --dry-run", big)], figures[("datakit publish --dry-run", small)]
    body = f"""## Publish: `datakit publish --dry-run` of {big:,} jersey crops (`benchmarks/bench_publish.py`)

Machine: {_report.machine()} (shared with other jobs while measured)

Versions: {_report.versions("datakit", "pyarrow", "datasets", "huggingface-hub", "pillow")}

Input: {big:,} and {small:,} distinct JPEG crops 48×64 (80/10/10 train/valid/test, seed-style rows), generated in {t_gen:.1f} s (cached). Each tool in its own process, load to finished shards, median of {repeat} runs; load average {load0:.1f} before. The peer embeds the same images with `datasets` and writes one parquet file per split (what `push_to_hub` does before uploading; datakit also writes the card and names shards by content). Command: `flock /tmp/datakit-bench.lock .venv/bin/python benchmarks/bench_publish.py{' --quick' if args.quick else ''}`.

{_report.table(["tool", "crops", "s", "peak RSS MiB", "files", "MiB written", "peer/datakit"], rows)}

Targets:
- `publish --dry-run` of {big:,} crops ≤ 60 s: **{"met" if dk_big["s"] <= 60 else "not met"}** ({dk_big["s"]:.1f} s)
- flat memory: peak RSS {dk_small["rss"]:.0f} MiB at {small:,} crops → {dk_big["rss"]:.0f} MiB at {big:,} (rows stream into each shard in row groups of at most 32 MiB of image bytes)
"""
    _report.write_section("publish", body)
    print(body)


if __name__ == "__main__":
    main()
