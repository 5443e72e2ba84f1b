"""Helpers shared by CLI commands: common options and output."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson


def add_common(p: argparse.ArgumentParser, *, out: bool = False, out_required: bool = False) -> None:
    """Add ``--json`` (and ``--out`` when the command writes files)."""
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of a summary")
    if out:
        p.add_argument("--out", required=out_required, help="output folder")


def emit(args: argparse.Namespace, payload: dict[str, Any], human: str) -> None:
    """Print ``payload`` as one JSON object with ``--json``, else the human summary."""
    if getattr(args, "json", False):
        sys.stdout.write(orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
    else:
        sys.stdout.write(human.rstrip("\n") + "\n")


def format_counts(counts: dict[str, int], limit: int = 12) -> str:
    """``a 3, b 2, … (+N more)`` for a summary line."""
    items = list(counts.items())
    text = ", ".join(f"{k} {v}" for k, v in items[:limit])
    if len(items) > limit:
        text += f", … (+{len(items) - limit} more)"
    return text or "—"


def format_skips(skipped: list[dict[str, Any]], limit: int = 10) -> str:
    """Summary lines for skipped records."""
    if not skipped:
        return "skipped: 0"
    lines = [f"skipped: {len(skipped)}"]
    for s in skipped[:limit]:
        where = f":{s['line']}" if isinstance(s.get("line"), int) else (f" {s['line']}" if s.get("line") else "")
        lines.append(f"  {s['file']}{where}: {s['reason']}")
    if len(skipped) > limit:
        lines.append(f"  … (+{len(skipped) - limit} more; use --json for all)")
    return "\n".join(lines)


def parse_classes(value: str | None) -> list[str] | None:
    """``--classes`` as a comma-separated list or a file with one class per line."""
    if value is None:
        return None
    from pathlib import Path

    p = Path(value)
    if p.is_file():
        return [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [c.strip() for c in value.split(",") if c.strip()]
