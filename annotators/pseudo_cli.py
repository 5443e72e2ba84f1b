"""``datakit pseudo-label DS --detector NAME_OR_PATH --out DS2``: detector boxes on every frame, resumable.

The detector is resolved by :func:`annotators.registry.resolve_detector` (``hog``, an RF-DETR size
or checkpoint, ``module:function``); its own options (``--classes``, ``--device``...) come from its
registry entry. Results go to a checkpoint (default ``DS2/_pseudo/pseudo.jsonl``, ignored by the
dataset readers) batch by batch; rerunning the same command after a crash or ``kill -9``
continues where it stopped. ``--scheduler local:N|tcp://HOST:PORT`` (or ``DATAKIT_SCHEDULER``)
runs the frames on Dask workers, each building the detector once (``--resources GPU=1`` for GPU
workers); the checkpoint stays here and the output equals a local run's. The labelled dataset
is written to ``DS2`` as native JSONL (images hard-linked by default); ``datakit convert DS2
--to coco`` exports it with scores.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from annotators import registry
from annotators.cli import add_run_options
from datakit.commands._common import add_common, emit, format_counts

CHECKPOINT_DIR = "_pseudo"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``pseudo-label`` command."""
    names = ", ".join(e.name for e in registry.entries("detector"))
    p = sub.add_parser(
        "pseudo-label",
        help="pseudo-label frames with a detector (RF-DETR, HOG, any callable), sliced, batched, resumable",
        description="Run a detector over every image of a dataset (SAHI-style slicing optional), write the boxes "
        "with their scores as pseudo labels, and resume after an interruption.",
    )
    p.add_argument("path", help="dataset folder or annotation file (e.g. the output of extract-frames)")
    p.add_argument(
        "--detector",
        required=True,
        metavar="NAME_OR_PATH",
        help=f"{names}; nano|small|medium|base or a .pth checkpoint for RF-DETR; module:function or file.py:function",
    )
    p.add_argument("--format", help="input format (detected when absent)")
    p.add_argument("--threshold", type=float, default=0.05, help="keep detections scored above this (default 0.05)")
    p.add_argument("--slice", type=int, metavar="PX", help="slice side in pixels (default: no slicing)")
    p.add_argument("--overlap", type=float, default=0.2, help="slice overlap ratio (default 0.2)")
    p.add_argument("--full-frame", action="store_true", help="also run the full frame (SAHI's standard prediction)")
    p.add_argument(
        "--merge",
        choices=("GREEDYNMM", "NMM", "NMS"),
        help="merge of slice boxes (default SAHI's: GREEDYNMM/IOS, or NMS/IOU below threshold 0.1)",
    )
    p.add_argument("--match-metric", choices=("IOS", "IOU"), help="box match metric for --merge (default IOS)")
    p.add_argument("--match-threshold", type=float, default=0.5, help="match overlap threshold (default 0.5)")
    p.add_argument("--class-agnostic", action="store_true", help="merge boxes across classes")
    p.add_argument("--batch-size", type=int, help="detector inputs (slices) per forward pass (default 8)")
    p.add_argument("--frames-per-batch", type=int, default=4, help="frames per batch and checkpoint write (default 4)")
    p.add_argument(
        "--ball-track", metavar="CLASS", help="tag detections of CLASS far off every short trajectory ghost_suspect"
    )
    p.add_argument("--track-window", type=int, default=9, help="consecutive frames per trajectory fit (default 9)")
    p.add_argument("--max-residual", type=float, default=12.0, help="pixels off the trajectory that are suspect (12)")
    p.add_argument("--min-support", type=int, default=4, help="frames a trajectory must explain (default 4)")
    add_run_options(p, f"OUT/{CHECKPOINT_DIR}/pseudo.jsonl", "try again frames recorded as unreadable")
    registry.add_arguments(p, "detector")
    add_common(p, out=True, out_required=True)
    p.set_defaults(func=run)


def make_detector(args: argparse.Namespace) -> Any:
    """The detector the arguments ask for (registry entry + its declared options)."""
    from datakit.cli import CommandError

    if args.batch_size is not None and args.batch_size < 1:
        raise CommandError(f"--batch-size must be >= 1, got {args.batch_size}")
    try:
        entry, spec = registry.resolve_detector(args.detector)
        options = registry.options_from_args(entry, args)
    except (registry.UnknownName, registry.OptionError) as e:
        raise CommandError(str(e)) from None
    detector = entry.build(spec, **options)
    if args.batch_size:
        detector.batch_size = int(args.batch_size)
    from annotators.base import Recipe

    target, sep, attr = spec.rpartition(":")
    if sep and target.endswith(".py") and Path(target).is_file():  # workers may start elsewhere
        spec = f"{Path(target).resolve()}:{attr}"
    detector.recipe = Recipe(entry.factory, (spec,), options, args.batch_size)  # how Dask workers build it
    return detector


def run(args: argparse.Namespace) -> int:
    """Load, label (resumably), check ghost balls, write, summarise."""
    import datakit
    from annotators.cli import parse_resources, write_dataset
    from annotators.pseudo import pseudo_label
    from annotators.slicing import SlicePlan
    from datakit.cli import CommandError

    if not 0 <= args.threshold < 1:
        raise CommandError(f"--threshold must be in [0, 1), got {args.threshold}")
    if args.match_metric and not args.merge:
        raise CommandError("--match-metric needs --merge")
    try:
        plan = SlicePlan(
            size=args.slice, overlap=args.overlap, full_frame=args.full_frame, merge=args.merge,
            match_metric=args.match_metric, match_threshold=args.match_threshold, class_agnostic=args.class_agnostic,
        )  # fmt: skip
    except ValueError as e:
        raise CommandError(str(e)) from None
    if args.slice is None and (args.full_frame or args.merge):
        raise CommandError("--full-frame and --merge apply with --slice PX")
    ds = datakit.load(args.path, format=args.format)
    out = Path(args.out)
    default_ck = out / CHECKPOINT_DIR / "pseudo.jsonl"
    checkpoint = Path(args.checkpoint) if args.checkpoint else default_ck
    resources = parse_resources(args.resources)
    track = {"window": args.track_window, "max_residual": args.max_residual, "min_support": args.min_support}
    with make_detector(args) as detector:
        result = pseudo_label(
            ds, detector, plan=plan, threshold=args.threshold, frames_per_batch=args.frames_per_batch,
            checkpoint=checkpoint, restart=args.restart, retry_errors=args.retry_errors,
            progress=False if args.no_progress else None, ball_track=args.ball_track, track_options=track,
            scheduler=args.scheduler, resources=resources,
        )  # fmt: skip
        name, version = detector.name, detector.version
    write_dataset(result.dataset, out, args.images, None if args.checkpoint else default_ck.parent, keep=CHECKPOINT_DIR)
    final_ck = (out / CHECKPOINT_DIR / checkpoint.name) if not args.checkpoint else checkpoint
    ann = result.annotations
    slices = sorted({int(r.values.get("slices") or 1) for r in ann.results.values() if r.status == "ok"})
    labelled = sum(1 for s in result.dataset.column("source") if s == "pseudo")
    payload = {
        "path": str(args.path), "out": str(out), "detector": name, "detector_version": version,
        "threshold": args.threshold, "plan": plan.describe(), "slices_per_frame": slices,
        "frames": len(ds), "statuses": result.counts, "labelled": labelled, "boxes": result.boxes,
        "resumed": ann.resumed, "labelled_now": len(ann.results) - ann.resumed,
        "unreadable": len(result.errors), "errors": result.errors, "ghost": result.ghost,
        "checkpoint": str(final_ck),
    }  # fmt: skip
    how = f" ({args.slice} px slices, overlap {args.overlap}{', + full frame' if args.full_frame else ''})"
    lines = [
        f"{args.path}: {len(ds)} frames pseudo-labelled with {name} ({version or 'no version'}) → {out}",
        f"statuses: {format_counts(result.counts)}; frames with boxes (source pseudo): {labelled}",
        f"boxes above {args.threshold}: {format_counts(result.boxes)}",
        f"detector inputs per frame: {', '.join(map(str, slices)) or '—'}"
        + (how if args.slice else ""),
        f"resumed from checkpoint: {ann.resumed}, labelled now: {payload['labelled_now']}",
    ]  # fmt: skip
    if result.errors:
        first = next(iter(result.errors.items()))
        lines.append(f"unreadable frames: {len(result.errors)} (e.g. {first[0]}: {first[1]})")
    if result.ghost:
        g = result.ghost
        lines.append(
            f"ghost-ball check ({g['class']}): {g['checked']} boxes, {g['suspects']} tagged ghost_suspect, "
            f"{g['untracked']} without a trajectory, {g['no_video']} without video/frame_index"
        )
    lines.append(f"export: datakit convert {out} --to coco --out DIR (scores kept); checkpoint {final_ck}")
    emit(args, payload, "\n".join(lines))
    return 0
