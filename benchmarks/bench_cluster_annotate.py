"""Benchmark: ``datakit annotate --with color`` locally vs on a Dask ``LocalCluster`` (``--scheduler local:2``).

5,000 and 20,000 rendered jersey crops (``bench_annotate.render_crops``: sports fonts, shading, blur, JPEG)
are written as files; each command runs as a user runs it (a fresh ``datakit`` process, decode,
annotate, checkpoint, dataset written with ``--images none``), timed wall-clock, median of 3.
The local run is annotate's only local mode (one process: decoding in a thread one batch ahead of
the numpy classifier; annotate has no ``--workers``). The cluster run includes starting and
closing the 2-worker cluster. Both outputs (checkpoint and annotations) are compared byte for byte.

Run: flock /tmp/datakit-bench.lock .venv/bin/python benchmarks/bench_cluster_annotate.py [--sizes 5000,20000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, table, versions, write_section
from bench_annotate import render_crops, write_dataset

DATAKIT = str(Path(sys.executable).with_name("datakit"))


def _run(ds: Path, out: Path, extra: list[str]) -> float:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    cmd = [DATAKIT, "annotate", str(ds), "--with", "color", "--images", "none", "--out", str(out), "--json", *extra]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "DATAKIT_SCHEDULER": ""})
    return time.perf_counter() - t0


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.jsonl"))}


def _measure(tmp: Path, n: int, repeat: int) -> tuple[list[list[object]], float, bool]:
    blobs, truth = render_crops(n)
    ds = tmp / f"crops{n}"
    write_dataset(ds, blobs, truth)
    modes = {"local (one process)": [], "--scheduler local:2": ["--scheduler", "local:2"]}
    times: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(repeat):  # interleaved, so a load spike hits both
        for m, extra in modes.items():
            times[m].append(_run(ds, tmp / f"{n}{m.replace(' ', '_')}", extra))
    identical = _files(tmp / f"{n}local_(one_process)") == _files(tmp / f"{n}--scheduler_local:2")
    med = {m: statistics.median(t) for m, t in times.items()}
    rows: list[list[object]] = [[n, m, med[m], n / med[m], ", ".join(f"{t:.2f}" for t in times[m])] for m in modes]
    return rows, med["--scheduler local:2"] / med["local (one process)"], identical


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="5000,20000", help="crop counts, comma-separated")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-annotate-"))
    try:
        rows: list[list[object]] = []
        notes = []
        for n in (int(x) for x in args.sizes.split(",")):
            r, ratio, identical = _measure(tmp, n, args.repeat)
            rows += r
            notes.append(f"{n} crops: cluster / local time **{ratio:.2f}×**, outputs byte-identical: "
                         f"**{'yes' if identical else 'NO'}**")
        body = "\n".join([
            "## cluster annotate: `annotate --with color` locally vs `--scheduler local:2`",
            "",
            f"Machine: {machine()} — shared with other jobs and loaded while measured; "
            "treat the figures as indicative.",
            f"Versions: {versions('dask', 'distributed', 'numpy', 'opencv-python-headless', 'pillow')}",
            "Input: rendered jersey crops (JPEG files); whole `datakit annotate` commands (process start, "
            f"decode, annotate, checkpoint, write), median of {args.repeat}, interleaved. The cluster time "
            "includes starting and closing the 2-worker LocalCluster (about a second).",
            "",
            table(["crops", "run", "seconds", "crops/s", "all runs (s)"], rows),
            "",
            *(f"- {x}" for x in notes),
        ])  # fmt: skip
        print(body)
        write_section("cluster_annotate", body)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
