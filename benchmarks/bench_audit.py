"""Benchmark: `datakit audit` on a 1,000,000-sample dataset with three metadata fields.

Target (issue 6): the whole command (load + audit + audit.json + report.html + plots) ≤ 30 s on
the 2-core machine. Peer: pandas computing the same per-group value counts, coverage and
chi-square tests from the same rows (orjson → DataFrame → crosstab), in its own process.

Run: flock /tmp/datakit-bench.lock .venv/bin/python benchmarks/bench_audit.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, median_time, run_isolated, table, versions, write_section

JERSEY = ["white", "blue", "red", "black", "yellow", "green", "orange", "navy", "maroon", "grey", "purple", "pink"]
NUMBER = ["white", "black", "red", "yellow", "blue", "purple", "green", "maroon", "grey"]
PROMPT = "What number is on this basketball jersey? Reply with just the number, nothing else."


def generate(root: Path, n: int, seed: int = 0) -> None:
    """Seed layout: train/ (real), train/synthetic/, valid/, test/; three metadata fields."""
    rng = random.Random(seed)
    parts = {"train": 0.62, "train/synthetic": 0.28, "valid": 0.05, "test": 0.05}
    for folder, share in parts.items():
        m = int(n * share)
        synth = "synthetic" in folder
        jw = [1] * len(JERSEY) if synth else [53, 15, 10, 12, 9, 0.5, 0, 1, 0.3, 0, 0.1, 0.1]
        if folder != "train" and not synth:
            jw = [w if JERSEY[k] not in ("orange", "grey", "purple", "pink") else 0 for k, w in enumerate(jw)]
        (root / folder).mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(m):
            md = {"jersey_color": rng.choices(JERSEY, jw)[0], "number_color": rng.choice(NUMBER), "border": True}
            if rng.random() < 0.02:
                del md["number_color"]
            lines.append(
                orjson.dumps(
                    {
                        "image": f"{i}.jpg",
                        "prefix": PROMPT,
                        "suffix": str(int(rng.paretovariate(1.2)) % 100),
                        "metadata": md,
                    }
                )
            )
        (root / folder / "annotations.jsonl").write_bytes(b"\n".join(lines) + b"\n")


PANDAS = """
import sys, time, orjson, pathlib
import pandas as pd
from scipy.stats import chi2_contingency
t0 = time.perf_counter()
rows = []
root = pathlib.Path(sys.argv[1])
for f in sorted(root.rglob('annotations.jsonl')):
    split = f.relative_to(root).parts[0]
    source = 'synthetic' if 'synthetic' in f.parts else 'real'
    for line in f.read_bytes().splitlines():
        r = orjson.loads(line)
        md = r.get('metadata') or {}
        rows.append((split, source, r.get('suffix'), md.get('jersey_color'), md.get('number_color'), md.get('border')))
df = pd.DataFrame(rows, columns=['split', 'source', 'label', 'jersey_color', 'number_color', 'border'])
t1 = time.perf_counter()
out = {}
for f in ['jersey_color', 'number_color', 'border']:
    for by in (['split'], ['source'], ['split', 'source']):
        ct = pd.crosstab([df[b] for b in by], df[f])
        cov = df.groupby(by)[f].count()
        for a in range(len(ct)):
            for b in range(a + 1, len(ct)):
                t = ct.iloc[[a, b]]
                t = t.loc[:, t.sum() > 0]
                if t.shape[1] > 1:
                    chi2_contingency(t.to_numpy(), correction=False)
pd.crosstab(df['jersey_color'], df['number_color'])
df['label'].value_counts()
t2 = time.perf_counter()
print(__import__('json').dumps({'load_s': t1 - t0, 'stats_s': t2 - t1, 'total_s': t2 - t0}))
"""

DATAKIT = """
import sys, time
t0 = time.perf_counter()
import datakit
from datakit.audit.stats import audit
from datakit.audit.report import write_report
ds = datakit.load(sys.argv[1])
t1 = time.perf_counter()
a = audit(ds, by=('split', 'source'))
t2 = time.perf_counter()
write_report(a, sys.argv[2])
t3 = time.perf_counter()
print(__import__('json').dumps({'load_s': t1 - t0, 'stats_s': t2 - t1, 'report_s': t3 - t2, 'total_s': t3 - t0}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100,000 samples, one repeat")
    ap.add_argument("--samples", type=int)
    ap.add_argument("--generate", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate:  # child mode: keep the generator's memory out of the measured processes
        generate(Path(args.generate), args.samples)
        return
    n = args.samples or (100_000 if args.quick else 1_000_000)
    repeat = 1 if args.quick else 3
    env = {**os.environ, "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1"}
    tmp = Path(tempfile.mkdtemp(prefix="bench_audit_"))
    try:
        t = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate", str(tmp / "ds"), "--samples", str(n)], check=True)
        gen_s = time.perf_counter() - t
        size = sum(p.stat().st_size for p in (tmp / "ds").rglob("*.jsonl")) / 2**20
        datakit_exe = str(Path(sys.executable).with_name("datakit"))

        def cli() -> None:
            subprocess.run(
                [datakit_exe, "audit", str(tmp / "ds"), "--out", str(tmp / "out")],
                check=True,
                env=env,
                capture_output=True,
            )

        cli_s, _ = median_time(cli, repeat=repeat)
        parts = [
            run_isolated(
                DATAKIT.replace("sys.argv[1]", repr(str(tmp / "ds"))).replace("sys.argv[2]", repr(str(tmp / "out2")))
            )
            for _ in range(repeat)
        ]
        peer = [run_isolated(PANDAS.replace("sys.argv[1]", repr(str(tmp / "ds")))) for _ in range(repeat)]

        def med(rs: list[dict], k: str) -> float:
            return sorted(r[k] for r in rs)[len(rs) // 2]

        dk_stats, pd_stats = med(parts, "stats_s"), med(peer, "stats_s")
        rows = [
            ["datakit audit (CLI, end to end)", "", "", "", cli_s, "", 1.0],
            [
                "datakit (in process)",
                med(parts, "load_s"),
                dk_stats,
                med(parts, "report_s"),
                med(parts, "total_s"),
                med(parts, "peak_rss_mb"),
                1.0,
            ],
            [
                "pandas crosstab + scipy (same stats, no report)",
                med(peer, "load_s"),
                pd_stats,
                "",
                med(peer, "total_s"),
                med(peer, "peak_rss_mb"),
                med(peer, "total_s") / med(parts, "total_s"),
            ],
        ]
        files = sorted(p.name for p in (tmp / "out").iterdir())
        body = "\n".join(
            [
                f"## Audit: `datakit audit` on {n:,} samples with three metadata fields (`benchmarks/bench_audit.py`)",
                "",
                f"Machine: {machine()} (a shared VM: timings move with other jobs)  ",
                f"Versions: {versions('datakit', 'numpy', 'scipy', 'matplotlib', 'pandas', 'orjson')}  ",
                f"Input: {n:,} seed-layout rows ({size:.0f} MiB JSONL; train real/synthetic, valid, test; jersey_color, "
                f"number_color, border), generated in {gen_s:.1f} s; grouped by split, source and split×source; "
                f"median of {repeat} run(s), each tool in its own process.",
                "",
                table(
                    ["tool", "load s", "stats s", "report + plots s", "total s", "peak RSS MiB", "peer/datakit"], rows
                ),
                "",
                f"Output: {len(files)} files ({', '.join(files)}).",
                "",
                "Targets:",
                f"- `datakit audit` on {n:,} samples ≤ 30 s: **{'met' if cli_s <= 30 else 'NOT met'}** ({cli_s:.1f} s)"
                + ("" if n >= 1_000_000 else " — quick run, not the 1,000,000-sample target"),
                f"- statistics alone vs pandas crosstab: datakit {dk_stats:.2f} s, pandas {pd_stats:.2f} s "
                f"({pd_stats / dk_stats:.1f}×)",
            ]
        )
        write_section("audit", body)
        print(body)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
