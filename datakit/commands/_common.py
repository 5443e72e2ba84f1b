"""Helpers shared by CLI commands: common options, checks every command gets, and output.

Every command registered with :func:`add_common` gets ``--json`` and ``--follow-symlinks``; one
that writes files gets ``--out``, and :func:`check_out` (run by :func:`datakit.cli.main` before
the command) refuses an ``--out`` that is the input, lies inside it, or holds it: writing there
would replace the input or make the next load find the output as a new split. A command that
means to rewrite its input declares ``in_place=True`` and gets ``--in-place`` instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

INPUT_ARGS = ("path", "src")
"""Argument names that hold a command's input dataset (checked against ``--out``)."""


def add_common(
    p: argparse.ArgumentParser, *, out: bool = False, out_required: bool = False, in_place: bool = False
) -> None:
    """Add ``--json`` and ``--follow-symlinks`` (and ``--out`` when the command writes files).

    Args:
        p: The command's parser.
        out: The command writes files under ``--out``.
        out_required: ``--out`` must be given (with ``in_place``: unless ``--in-place`` is).
        in_place: Add ``--in-place``: rewrite the input folder itself (``--out`` is then set to it).

    """
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of a summary")
    p.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="read images through symlinks that lead outside the dataset root (refused by default)",
    )
    if out:
        p.add_argument(
            "--out", required=out_required and not in_place, help="output folder (not the input, nor inside it)"
        )
        p.set_defaults(_out_required=out_required)
    if in_place:
        p.set_defaults(_in_place_managed=True)
        p.add_argument(
            "--in-place", action="store_true", help="rewrite the input dataset folder itself instead of --out"
        )


def _input_of(args: argparse.Namespace) -> tuple[str, str] | None:
    for name in INPUT_ARGS:
        value = getattr(args, name, None)
        if isinstance(value, str) and value:
            return name, value
    return None


def check_out(args: argparse.Namespace) -> None:
    """Refuse an ``--out`` that would overwrite or nest in the input; resolve ``--in-place``.

    Run by :func:`datakit.cli.main` for every command before it starts (paths compared once
    resolved, symlinks followed). A folder input refuses ``--out`` equal to it, inside it, or
    holding it; a file input (a COCO JSON, a ``data.yaml``) refuses ``--out`` equal to it or
    holding it.

    Raises:
        CommandError: One of those, or ``--in-place`` combined with ``--out`` or given for an
            input that is not a folder.

    """
    from datakit.cli import CommandError
    from datakit.paths import set_follow_symlinks

    set_follow_symlinks(True if getattr(args, "follow_symlinks", False) else None)
    found = _input_of(args)
    out = getattr(args, "out", None)
    managed = getattr(args, "_in_place_managed", False)
    if getattr(args, "in_place", False):
        if not managed:
            return  # a command with its own --in-place (``select``) handles it
        if out:
            raise CommandError("--in-place and --out exclude each other (--in-place writes to the input folder)")
        if found is None or not Path(found[1]).is_dir():
            raise CommandError("--in-place needs a dataset folder as input")
        args.out = found[1]
        return
    if not out:
        if getattr(args, "_out_required", False) and managed:
            raise CommandError("give --out DIR, or --in-place to rewrite the input folder")
        return
    if found is None:
        return
    value = found[1]
    src = Path(value)
    if not src.exists():
        return  # the command reports the missing input
    real = src.resolve()
    dst = Path(out).resolve()
    hint = " (use --in-place to rewrite it)" if managed else ""
    if dst == real:
        raise CommandError(f"--out {out} is the input {value}: writing there would replace the input{hint}")
    if src.is_dir() and dst.is_relative_to(real):
        raise CommandError(
            f"--out {out} is inside the input folder {value}: the next load would find the output as part "
            "of the dataset; --out must be outside the dataset folder"
        )
    if real.is_relative_to(dst):
        raise CommandError(f"--out {out} holds the input {value}: writing there would replace the input")


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


def looks_like_path(value: str) -> bool:
    """Whether ``value`` reads as a file path rather than a list of names.

    Examples:
        >>> looks_like_path("/nonexistent.txt"), looks_like_path("classes.txt"), looks_like_path("0,1,23")
        (True, True, False)

    """
    if "/" in value or "\\" in value or value.startswith("~"):
        return True
    return "," not in value and Path(value).suffix.lower() in (".txt", ".names", ".csv", ".yaml", ".yml", ".json")


def parse_classes(value: str | None) -> list[str] | None:
    """``--classes`` as a comma-separated list or a file with one class per line.

    Raises:
        CommandError: ``value`` looks like a path (has a ``/`` or a ``.txt``-like suffix) but no
            such file exists, or the list is empty.

    """
    if value is None:
        return None
    from datakit.cli import CommandError

    p = Path(value).expanduser()
    if p.is_file():
        names = [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not names:
            raise CommandError(f"--classes {value}: the file lists no class")
        return names
    if looks_like_path(value):
        raise CommandError(f"--classes {value}: no such file (give a file with one class per line, or a,b,c)")
    names = [c.strip() for c in value.split(",") if c.strip()]
    if not names:
        raise CommandError(f"--classes {value!r}: no class names")
    return names


def require_field(ds: Any, field: str, option: str) -> None:
    """Refuse a field no sample has (a typo such as ``metadata.vidoe``), naming the known ones.

    Args:
        ds: The loaded dataset.
        field: A core field (``label``, ``source``, ...) or ``metadata.<key>``.
        option: The option that named it (``--group``), for the message.

    Raises:
        CommandError: An unknown core field, or a metadata key no sample carries.

    """
    from datakit.cli import CommandError
    from datakit.dataset import COLUMNS

    present = ds.metadata_keys()
    known = [*COLUMNS, *(f"metadata.{k}" for k in present)]
    if field.startswith("metadata."):
        if field.removeprefix("metadata.") in present:
            return
        raise CommandError(f"{option} {field}: no sample has this field; known fields: {', '.join(known)}")
    if field not in COLUMNS:
        raise CommandError(f"{option} {field}: unknown field; known fields: {', '.join(known)}")


def add_scheduler(p: argparse.ArgumentParser) -> None:
    """Add ``--scheduler`` (a Dask scheduler for the per-sample work; see :mod:`datakit.parallel`)."""
    p.add_argument(
        "--scheduler",
        help="run the per-sample work on Dask: local:N (a loopback cluster of N workers) or tcp://HOST:PORT "
        "(default: $DATAKIT_SCHEDULER, else local processes, --workers)",
    )
