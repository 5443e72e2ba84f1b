"""``datakit select PATH --budget K --out QUEUE``: pick the samples most worth a human look."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from datakit.commands._common import add_common, emit, format_counts


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``select`` command."""
    p = sub.add_parser(
        "select",
        help="pick a budget of samples for review: uncertainty band, rare classes, k-center diversity",
        description="Score every sample (detections in a confidence band, rare-class priority, "
        "greedy k-center diversity on image features), pick --budget of them and write the review "
        "queue (tag 'review', metadata selection_rank/score/reason) with selection.json and a "
        "histogram PNG. Samples tagged 'reviewed' are never picked.",
    )
    p.add_argument("path", help="dataset folder or annotation file")
    p.add_argument("--format", help="input format (detected when absent)")
    p.add_argument("--budget", type=int, required=True, help="how many samples to pick")
    p.add_argument("--band", help="detection-score band LO,HI for uncertainty, e.g. 0.1,0.4")
    p.add_argument(
        "--priority", help="classes to favour, comma-separated (e.g. ball), or 'auto' (inverse class frequency)"
    )
    p.add_argument(
        "--features",
        default="embedding",
        help="diversity features: embedding (EfficientNet-Lite0, default; phash when torch or the "
        "weights are missing), phash (64-bit perceptual hashes, cheap), none, or an (N, D) .npy file "
        "in dataset order",
    )
    p.add_argument("--diversity", type=float, default=1.0, help="weight of the diversity term (default 1.0)")
    p.add_argument("--per-video", type=int, default=None, help="at most M picks per metadata.video")
    p.add_argument("--dims", type=int, default=128, help="project features to this many dimensions (0: keep)")
    p.add_argument("--seed", type=int, default=0, help="tie-break and projection seed (default 0)")
    p.add_argument(
        "--in-place",
        action="store_true",
        help="tag the picks in the input dataset (native JSONL) instead of writing a queue dataset",
    )
    p.add_argument(
        "--images", choices=("copy", "link", "none"), default="copy", help="how the queue places images (default copy)"
    )
    add_common(p, out=True)
    p.set_defaults(func=run)


def _features(args: argparse.Namespace, ds: Any, progress: bool) -> tuple[Any, Any, str, str | None]:
    import numpy as np

    from datakit.cli import CommandError
    from datakit.selection import FEATURES, compute_features

    kind = args.features
    if kind not in FEATURES:
        f = Path(kind)
        if not f.is_file():
            raise CommandError(f"--features: expected one of {', '.join(FEATURES)} or a .npy file, got {kind!r}")
        try:
            arr = np.load(f, mmap_mode="r")
        except (ValueError, OSError) as e:
            raise CommandError(f"{f}: cannot read features ({e})") from None
        if arr.ndim != 2 or len(arr) != len(ds):
            raise CommandError(f"{f}: expected features of shape ({len(ds)}, D), got {arr.shape}")
        return arr, None, str(f), None
    note = None
    if kind == "embedding":
        try:
            import torch  # noqa: F401

            from datakit.dedup.embedding import weights_path

            weights_path()
        except (ImportError, FileNotFoundError) as e:
            note = f"embedding unavailable ({str(e).splitlines()[0]}); used phash"
            kind = "phash"
    bar = None
    if progress and kind == "embedding":
        from tqdm import tqdm

        bar = tqdm(total=len(ds), unit="img", desc="embedding", file=sys.stderr)
    try:
        feats, errors = compute_features(ds, kind, progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
    return feats, errors, kind, note


def run(args: argparse.Namespace) -> int:
    """Load, score, pick, write the queue (or tag in place), the report and the histogram."""
    import orjson

    import datakit
    from datakit import formats
    from datakit.atomic import atomic_write_bytes
    from datakit.cli import CommandError
    from datakit.selection import parse_band, select

    if not args.in_place and not args.out:
        raise CommandError("--out QUEUE is required (or --in-place to tag the input dataset)")
    try:
        band = parse_band(args.band)
    except ValueError as e:
        raise CommandError(f"--band: {e}") from None
    priority: list[str] | str | None = None
    if args.priority:
        priority = (
            "auto" if args.priority.strip() == "auto" else [c.strip() for c in args.priority.split(",") if c.strip()]
        )
    if args.in_place:
        fmt = args.format or formats.detect(args.path)
        if fmt != "jsonl" or not Path(args.path).is_dir():
            raise CommandError(f"{args.path}: --in-place needs a native JSONL dataset folder (got {fmt}); use --out")
    ds = datakit.load(args.path, format=args.format)
    progress = sys.stderr.isatty() and not args.json
    feats, errors, kind, note = _features(args, ds, progress) if args.diversity > 0 else (None, None, "none", None)
    try:
        sel = select(
            ds, args.budget, band=band, priority=priority, features=feats, feature_errors=errors,
            diversity_weight=args.diversity, per_video=args.per_video, dims=args.dims, seed=args.seed,
        )  # fmt: skip
    except ValueError as e:
        raise CommandError(str(e)) from None
    report = sel.report(ds)
    report["params"]["features"] = kind
    if note:
        report["params"]["features_note"] = note
    if args.in_place:
        tagged, cleared = sel.tag(ds)
        tagged.save(ds.root)
        report["cleared_previous_queue"] = cleared
        target = Path(args.out) if args.out else ds.root
        report["queue_in"] = str(ds.root)
    else:
        target = Path(args.out)
        sel.queue(ds).save(target, images=args.images)
        report["queue_in"] = str(target)
    target.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target / "selection.json", orjson.dumps(report, option=orjson.OPT_INDENT_2))
    sel.plot(target / "selection.png")
    summary = {k: v for k, v in report.items() if k != "queue"}
    summary["report"] = str(target / "selection.json")
    summary["histogram"] = str(target / "selection.png")
    lines = [
        f"{args.path}: {len(ds)} samples, {sel.eligible} eligible "
        f"({report['excluded'].get('reviewed', 0)} already reviewed)",
        f"selected {len(sel.order)} of budget {args.budget} → {report['queue_in']}"
        + (" (tagged in place)" if args.in_place else ""),
        f"by reason: {format_counts(report['by_reason'])}",
        f"by class:  {format_counts(report['by_detection_label'] or report['by_label'])}",
        f"features:  {kind}"
        + (f" — {note}" if note else "")
        + (f"; covering radius {sel.covering_radius:.4g}" if sel.covering_radius is not None else ""),
    ]
    if report["excluded"].get("features_unavailable"):
        lines.append(f"skipped:   {report['excluded']['features_unavailable']} samples whose image could not be read")
    if args.in_place and report.get("cleared_previous_queue"):
        lines.append(f"cleared:   {report['cleared_previous_queue']} samples of an earlier queue")
    lines.append(f"report: {target / 'selection.json'}, histogram: {target / 'selection.png'}")
    emit(args, summary, "\n".join(lines))
    return 0
