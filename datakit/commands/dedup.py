"""``datakit dedup PATH``: exact and near duplicates, duplicate rows, label conflicts and leaks."""

from __future__ import annotations

import argparse
import sys

from datakit.commands._common import add_common, add_scheduler, emit, parse_classes


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``dedup`` command."""
    from datakit.dedup import (
        DEFAULT_MAX_RESIDUAL,
        DEFAULT_MIN_COLOUR,
        DEFAULT_MIN_COSINE,
        DEFAULT_MIN_LOCAL,
        DEFAULT_MIN_SCORE,
        DEFAULT_RADIUS,
    )

    p = sub.add_parser(
        "dedup",
        help="find exact/near duplicate images, duplicate rows, label conflicts and split leaks",
        description="Find duplicates and hygiene problems; with --apply write a cleaned copy "
        "(with a log of every removed row) under --out.",
    )
    p.add_argument("path", help="dataset folder or annotation file")
    p.add_argument("--format", help="input format (detected when absent)")
    p.add_argument("--classes", help="declared classes: comma-separated or a file, one per line")
    p.add_argument("--report", help="write the JSON report here")
    p.add_argument(
        "--method",
        choices=("phash", "embedding"),
        default="phash",
        help="near-duplicate method (default phash; embedding uses EfficientNet-Lite0)",
    )
    for flag, kind, default, what in (
        ("--radius", int, DEFAULT_RADIUS, "perceptual-hash candidate radius in bits of 64"),
        ("--min-score", float, DEFAULT_MIN_SCORE, "least aligned thumbnail correlation for phash near duplicates"),
        ("--min-cosine", float, DEFAULT_MIN_COSINE, "least embedding cosine of --method embedding candidates"),
        ("--min-colour", float, DEFAULT_MIN_COLOUR, "least correlation of the 8x8 colour layouts of near duplicates"),
        ("--max-residual", float, DEFAULT_MAX_RESIDUAL,
         "largest worst-window RGB difference (grey levels, 64x64 view) of near duplicates"),
        ("--min-local", float, DEFAULT_MIN_LOCAL, "least local correlation (64x64 view) of near duplicates"),
    ):
        p.add_argument(flag, type=kind, default=default, help=f"{what} (default {default})")
    p.add_argument("--apply", action="store_true", help="write the cleaned dataset under --out")
    p.add_argument(
        "--fix-leaks",
        action="store_true",
        help="with --apply: keep the train copy of every cross-split cluster, drop eval copies",
    )
    p.add_argument(
        "--keep",
        default=None,
        help="keep order inside a cluster, from labeled,real,resolution,train (default labeled,real,train,resolution)",
    )
    p.add_argument(
        "--images", choices=("copy", "link"), default="copy", help="how --apply places images (default copy)"
    )
    p.add_argument("--workers", type=int, default=None, help="decoding processes (default: CPU count)")
    add_scheduler(p)
    p.add_argument("--partitions", type=int, default=1,
                   help="split the hash index into N parts (a power of two), each task holding 1/N of it (default 1)")
    p.add_argument("--query-blocks", type=int, default=1,
                   help="with --partitions: cut the 8-byte query hashes into B blocks too (N*B tasks; default 1)")
    add_common(p, out=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load, find, report, and optionally apply."""
    import datakit
    from datakit.cli import CommandError
    from datakit.dedup import apply, find_duplicates, parse_keep, write_clean

    if args.apply and not args.out:
        raise CommandError("--apply needs --out DIR (the cleaned dataset is written there)")
    if args.out and not args.apply:
        raise CommandError("--out is only used with --apply")
    if args.fix_leaks and not args.apply:
        raise CommandError("--fix-leaks needs --apply --out DIR")
    if args.workers is not None and args.workers < 1:
        raise CommandError(f"--workers must be at least 1, got {args.workers}")
    try:
        keep = parse_keep(args.keep)
    except ValueError as e:
        raise CommandError(f"--keep: {e}") from None
    options: dict[str, object] = {}
    classes = parse_classes(args.classes)
    if classes is not None:
        options["classes"] = classes
    ds = datakit.load(args.path, format=args.format, **options)
    progress = sys.stderr.isatty() and not args.json
    report = find_duplicates(
        ds, method=args.method, radius=args.radius, min_score=args.min_score,
        min_cosine=args.min_cosine,
        min_colour=args.min_colour, max_residual=args.max_residual,
        min_local=args.min_local, workers=args.workers, scheduler=args.scheduler, partitions=args.partitions,
        query_blocks=args.query_blocks, progress=progress,
    )  # fmt: skip
    if args.report:
        report.save(args.report)
    payload = {"path": str(args.path), "method": args.method, "summary": report.summary}
    if args.report:
        payload["report"] = str(args.report)
    s = report.summary
    lines = [
        f"{args.path}: {s['samples']} samples, {s['images']} images ({args.method})",
        f"exact duplicates: {s['exact_groups']} groups ({s['exact_duplicate_images']} extra images)",
        f"near duplicates:  {s['near_groups']} groups ({s['near_duplicate_images']} extra images)",
        f"annotation rows:  {s['annotation_rows']} images with several rows; {s['empty_label_rows']} empty-label rows",
        f"label conflicts:  {s['label_conflicts']}",
        f"leaks:            {s['leaks']} groups across splits ({s['leaked_images']} images)",
    ]
    if s["unreadable_images"]:
        lines.append(f"unreadable:       {s['unreadable_images']} images (listed in the report)")
    if s["skipped_rows"]:
        lines.append(f"skipped rows:     {s['skipped_rows']} (refused by the reader; listed in the report)")
    if args.report:
        lines.append(f"report: {args.report}")
    if args.apply:
        clean, removals = apply(ds, report, keep=keep, fix_leaks=args.fix_leaks)
        write_clean(clean, removals, args.out, images=args.images, report=report)
        by_reason: dict[str, int] = {}
        for r in removals:
            key = r.reason.split(" of ")[0].split(":")[0]
            by_reason[key] = by_reason.get(key, 0) + 1
        payload["applied"] = {"out": str(args.out), "samples": len(clean), "removed": len(removals),
                              "removed_by_reason": by_reason, "log": f"{args.out}/_dedup_log.jsonl"}  # fmt: skip
        lines.append(f"applied: {len(clean)} samples kept, {len(removals)} rows removed → {args.out} "
                     f"(log: {args.out}/_dedup_log.jsonl)")  # fmt: skip
    emit(args, payload, "\n".join(lines))
    return 0
