"""Shared benchmark plumbing: machine/version info, medians, peak RSS, and RESULTS.md sections.

Each benchmark script owns one section of ``benchmarks/RESULTS.md`` (between
``<!-- NAME:start -->`` and ``<!-- NAME:end -->``) and rewrites only that section, under a file
lock, so scripts can run in any order.
"""

from __future__ import annotations

import fcntl
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = (
    "# Benchmark results\n\n"
    "Written by the scripts in `benchmarks/` (each owns one section; rerun a script to refresh it).\n"
    "Medians of repeated runs; ratios are peer time / datakit time (> 1 means datakit is faster).\n"
)


def machine() -> str:
    """One line describing this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def versions(*packages: str) -> str:
    """``name version`` for each installed package, comma-separated."""
    out = []
    for p in packages:
        try:
            out.append(f"{p} {metadata.version(p)}")
        except metadata.PackageNotFoundError:
            out.append(f"{p} (not installed)")
    return ", ".join(out)


def median_time(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls, and the last result."""
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def run_isolated(code: str, python: str = sys.executable, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it must print one JSON object as its last line.

    ``peak_rss_mb`` (the child's max RSS) is added, so peak memory is measured per tool.
    """
    import json

    full = code + "\nimport sys as _s\n_s.stderr.write('PEAK_RSS_KB=%d\\n' % " + HWM_KB_EXPR + ")\n"
    proc = subprocess.run([python, "-c", full], capture_output=True, text=True, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for line in proc.stderr.splitlines():
        if line.startswith("PEAK_RSS_KB="):
            result["peak_rss_mb"] = int(line.split("=", 1)[1]) / 1024
    return result


HWM_KB_EXPR = "int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))"
"""An expression for this process's peak RSS in KiB: ``VmHWM``, the high-water mark of its own
memory map. ``getrusage(RUSAGE_SELF).ru_maxrss`` is not used: on Linux it keeps the RSS the
process had before ``exec``, i.e. a child started by a big benchmark driver reports the driver's
RSS as its own."""


def peak_rss_mb() -> float:
    """Peak RSS of this process so far, in MiB (see :data:`HWM_KB_EXPR`)."""
    return float(eval(HWM_KB_EXPR)) / 1024


def write_section(name: str, body: str) -> None:
    """Replace (or append) section ``name`` of RESULTS.md with ``body``, under a lock."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}\n"
    lock = RESULTS.with_suffix(".lock")
    with open(lock, "w") as lf:
        fcntl.flock(lf, fcntl.LOCK_EX)
        text = RESULTS.read_text() if RESULTS.exists() else HEADER
        if start in text and end in text:
            before, rest = text.split(start, 1)
            after = rest.split(end, 1)[1].lstrip("\n")
            text = before + block + ("\n" + after if after else "")
        else:
            text = text.rstrip("\n") + "\n\n" + block
        tmp = RESULTS.with_suffix(".md.tmp")
        tmp.write_text(text)
        os.replace(tmp, RESULTS)


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)
