"""``datakit info PATH``: what a dataset holds, and what was skipped while reading it."""

from __future__ import annotations

import argparse

from datakit.commands._common import add_common, emit, format_counts, format_skips, parse_classes


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``info`` command."""
    p = sub.add_parser("info", help="summarise a dataset: samples per split, source and label")
    p.add_argument("path", help="dataset folder or annotation file")
    from datakit.formats import registry

    p.add_argument("--format", help=f"input format: {', '.join(registry.names())} (detected when absent)")
    p.add_argument("--classes", help="declared classes: comma-separated or a file, one per line")
    p.add_argument("--strict", action="store_true", help="fail on the first bad row instead of skipping it")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load, summarise, print."""
    import datakit

    options = {"strict": args.strict}
    classes = parse_classes(args.classes)
    if classes is not None:
        options["classes"] = classes
    ds = datakit.load(args.path, format=args.format, **options)
    summary = ds.summary()
    summary["path"] = str(args.path)
    human = "\n".join(
        [
            f"{args.path}: {summary['samples']} samples",
            f"splits:  {format_counts(summary['splits'])}",
            f"sources: {format_counts(summary['sources'])}",
            f"labels:  {len(summary['labels'])} distinct — {format_counts(summary['labels'])}"
            + (f"; unlabeled {summary['unlabeled']}" if summary.get("unlabeled") else ""),
            *(
                [f"detections: {summary['detections']} ({format_counts(summary['detection_labels'])})"]
                if summary["detections"]
                else []
            ),
            format_skips(summary["skipped"]),
        ]
    )
    emit(args, summary, human)
    return 0
