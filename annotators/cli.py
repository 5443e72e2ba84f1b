"""``datakit annotate PATH --with NAME --out DIR``: write the dataset with new metadata fields.

The annotator comes from :mod:`annotators.registry` (``vlm``, ``color``, ``ocr`` and any plug-in
registered there); its options are declared by its entry and parsed here generically. With
``--on-boxes [LABELS]`` every detection box (of those labels) is annotated from its crop and the
answers go to the box's attributes. Results go to a checkpoint (default
``DIR/_annotate/<name>.jsonl``, which dataset readers ignore) batch by batch; rerunning the same
command after a crash or ``kill -9`` continues where it stopped. The annotated dataset is then
written to ``DIR`` (images hard-linked by default). With ``--scheduler local:N|tcp://HOST:PORT``
(or ``DATAKIT_SCHEDULER``) the batches run on Dask workers, each building the annotator once;
this process keeps the checkpoint, so the output equals a local run's (``--resources GPU=1``
sends the tasks to workers started with that resource).
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from annotators import registry
from datakit.commands._common import add_common, add_scheduler, emit, format_counts, parse_classes

CHECKPOINT_DIR = "_annotate"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``annotate`` command."""
    names = ", ".join(e.name for e in registry.entries("annotator"))
    p = sub.add_parser("annotate", help=f"annotate metadata with an annotator ({names}; resumable)")
    p.add_argument("path", help="dataset folder or annotation file")
    p.add_argument("--with", dest="annotator", required=True, metavar="NAME", help=f"which annotator: {names}")
    p.add_argument("--format", help="input format (detected when absent)")
    p.add_argument("--batch-size", type=int, help="items per batch (default: the annotator's)")
    p.add_argument(
        "--on-boxes",
        nargs="?",
        const="",
        metavar="LABELS",
        help="annotate each detection box's crop (only boxes with these labels, comma-separated, if given); "
        "answers go to the box attributes",
    )
    p.add_argument(
        "--prefix", default="", help="prefix for the written metadata keys (e.g. color_ to keep two annotators apart)"
    )
    retry = "annotate again samples whose recorded status is error"
    add_run_options(p, f"OUT/{CHECKPOINT_DIR}/<annotator>.jsonl", retry)
    registry.add_arguments(p, "annotator")
    add_common(p, out=True, out_required=True, in_place=True)
    p.set_defaults(func=run)


def add_run_options(p: argparse.ArgumentParser, checkpoint: str, retry_help: str) -> None:
    """The options every checkpointed, resumable run takes: checkpoint, restart, images, progress, cluster."""
    p.add_argument("--checkpoint", help=f"checkpoint file (default {checkpoint})")
    p.add_argument("--restart", action="store_true", help="discard the checkpoint and start over")
    p.add_argument("--retry-errors", action="store_true", help=retry_help)
    p.add_argument(
        "--images",
        default="link",
        choices=("copy", "link", "none"),
        help="how images reach OUT (default: hard links, copying across file systems)",
    )
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    add_cluster_options(p)


def add_cluster_options(p: argparse.ArgumentParser) -> None:
    """Add ``--scheduler`` and ``--resources`` (Dask worker resources each task needs)."""
    add_scheduler(p)
    p.add_argument(
        "--resources",
        metavar="NAME=N[,...]",
        help="Dask worker resources each task needs, e.g. GPU=1 for workers started with --resources GPU=1 "
        "(tcp:// schedulers only)",
    )


def parse_resources(text: str | None) -> dict[str, float] | None:
    """``"GPU=1,MEM=2"`` → ``{"GPU": 1.0, "MEM": 2.0}`` (``None`` when not given).

    Raises:
        CommandError: A part that is not ``NAME=NUMBER`` with a positive number.

    Examples:
        >>> parse_resources("GPU=1"), parse_resources(None)
        ({'GPU': 1.0}, None)

    """
    from datakit.cli import CommandError

    if not text:
        return None
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        try:
            amount = float(value)
        except ValueError:
            amount = -1.0
        if not sep or not name.strip() or not amount > 0:
            raise CommandError(f"--resources {text!r}: expected NAME=NUMBER[,NAME=NUMBER] with numbers > 0")
        out[name.strip()] = amount
    return out


def make_annotator(args: argparse.Namespace) -> Any:
    """The annotator the arguments ask for, built by its registry entry with the options given.

    Raises:
        CommandError: An unknown annotator (listing the known ones), an option of another
            annotator, or a bad ``--batch-size``.

    """
    from datakit.cli import CommandError

    if args.batch_size is not None and args.batch_size < 1:
        raise CommandError(f"--batch-size must be >= 1, got {args.batch_size}")
    try:
        entry = registry.get("annotator", args.annotator)
        options = registry.options_from_args(entry, args)
    except (registry.UnknownName, registry.OptionError) as e:
        raise CommandError(str(e)) from None
    annotator = entry.build(**options)
    if args.batch_size:
        annotator.batch_size = int(args.batch_size)
    from annotators.base import Recipe

    annotator.recipe = Recipe(entry.factory, (), options, args.batch_size)  # how Dask workers build it
    return annotator


def write_dataset(ds: Any, out: Path, images: str, checkpoint_dir: Path | None, keep: str = CHECKPOINT_DIR) -> None:
    """Write ``ds`` to ``out`` atomically, carrying the checkpoint folder (as ``out/keep``) across the swap."""
    from datakit.formats import jsonl

    if out.exists() and out.resolve() == ds.root.resolve():
        jsonl.write(ds, out)
        return
    staging = out.parent / f".{out.name}.annotate-{os.getpid()}"
    jsonl.write(ds, staging, images=images)
    if checkpoint_dir is not None and checkpoint_dir.is_dir():
        os.replace(checkpoint_dir, staging / keep)
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)


def run(args: argparse.Namespace) -> int:
    """Load, annotate (resumably), write, summarise."""
    import datakit
    from annotators.base import annotate

    ds = datakit.load(args.path, format=args.format)
    out = Path(args.out)
    default_ck = out / CHECKPOINT_DIR / f"{args.annotator}.jsonl"
    checkpoint = Path(args.checkpoint) if args.checkpoint else default_ck
    boxes: bool | list[str] | None = None
    resources = parse_resources(args.resources)
    if args.on_boxes is not None:
        boxes = parse_classes(args.on_boxes) if args.on_boxes.strip() else True
    with make_annotator(args) as annotator:
        result = annotate(
            ds,
            annotator,
            checkpoint=checkpoint,
            restart=args.restart,
            retry_errors=args.retry_errors,
            progress=False if args.no_progress else None,
            boxes=boxes,
            scheduler=args.scheduler,
            resources=resources,
        )
    annotated = result.apply(ds, prefix=args.prefix)
    write_dataset(annotated, out, args.images, None if args.checkpoint else default_ck.parent)
    final_ck = (out / CHECKPOINT_DIR / checkpoint.name) if not args.checkpoint else checkpoint
    counts = result.counts()
    tags = dict(Counter(t for r in result.results.values() for t in r.tags))
    unit = "boxes" if boxes else "samples"
    payload = {
        "path": str(args.path), "out": str(out), "annotator": args.annotator,
        "fields": [f"{args.prefix}{f}" for f in result.fields], "samples": len(ds),
        "boxes": len(result.results) if boxes else None,
        "statuses": counts, "resumed": result.resumed, "stale": result.stale,
        "annotated_now": len(result.results) - result.resumed,
        "checkpoint": str(final_ck), "tags": tags,
    }  # fmt: skip
    count = len(result.results) if boxes else len(ds)
    where = "box attributes" if boxes else "fields"
    human = "\n".join([
        f"{args.path}: {count} {unit} annotated with {args.annotator} → {out}",
        f"statuses: {format_counts(counts)}",
        f"resumed from checkpoint: {result.resumed}, annotated now: {payload['annotated_now']}"
        + (f" ({result.stale} because their image changed)" if result.stale else ""),
        *([f"tags: {format_counts(tags)}"] if tags else []),
        f"{where}: {', '.join(payload['fields'])}; raw answers in {final_ck}",
    ])  # fmt: skip
    emit(args, payload, human)
    return 0
