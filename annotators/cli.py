"""``datakit annotate PATH --with vlm|color|ocr --out DIR``: write the dataset with new metadata fields.

Results go to a checkpoint (default ``DIR/_annotate/<name>.jsonl``, which dataset readers ignore)
batch by batch; rerunning the same command after a crash or ``kill -9`` continues where it
stopped. The annotated dataset is then written to ``DIR`` (images hard-linked by default).
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from datakit.commands._common import add_common, emit, format_counts

ANNOTATORS = ("vlm", "color", "ocr")
CHECKPOINT_DIR = "_annotate"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``annotate`` command."""
    p = sub.add_parser("annotate", help="annotate metadata with a VLM, the colour or the OCR annotator (resumable)")
    p.add_argument("path", help="dataset folder or annotation file")
    p.add_argument("--with", dest="annotator", required=True, choices=ANNOTATORS, help="which annotator")
    p.add_argument("--model", help="VLM hub id or local folder (default HuggingFaceTB/SmolVLM2-2.2B-Instruct)")
    p.add_argument("--format", help="input format (detected when absent)")
    p.add_argument("--batch-size", type=int, help="items per batch (default: the annotator's)")
    p.add_argument("--device", default="auto", help="VLM device: auto, cpu, cuda, cuda:N, mps")
    p.add_argument(
        "--dtype", default="auto", choices=("auto", "float32", "float16", "bfloat16"), help="VLM weights dtype"
    )
    p.add_argument("--max-new-tokens", type=int, default=32, help="VLM answer budget in tokens (default 32)")
    p.add_argument("--prompt", help="VLM prompt (default: the seed's JSON-mode prompt)")
    p.add_argument(
        "--min-confidence",
        type=float,
        default=0.9,
        help="OCR: confidence from which a disagreement with the label is tagged (default 0.9)",
    )
    p.add_argument(
        "--prefix", default="", help="prefix for the written metadata keys (e.g. color_ to keep two annotators apart)"
    )
    p.add_argument("--checkpoint", help=f"checkpoint file (default OUT/{CHECKPOINT_DIR}/<annotator>.jsonl)")
    p.add_argument("--restart", action="store_true", help="discard the checkpoint and start over")
    p.add_argument("--retry-errors", action="store_true", help="annotate again samples whose recorded status is error")
    p.add_argument(
        "--images",
        default="link",
        choices=("copy", "link", "none"),
        help="how images reach OUT (default: hard links, copying across file systems)",
    )
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    add_common(p, out=True, out_required=True)
    p.set_defaults(func=run)


def make_annotator(args: argparse.Namespace) -> Any:
    """The annotator the arguments ask for."""
    from datakit.cli import CommandError

    if args.batch_size is not None and args.batch_size < 1:
        raise CommandError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.annotator != "vlm" and (args.model or args.prompt):
        raise CommandError(f"--model/--prompt apply to --with vlm, not --with {args.annotator}")
    bs = {"batch_size": args.batch_size} if args.batch_size else {}
    if args.annotator == "color":
        from annotators.color import ColorAnnotator

        return ColorAnnotator(**bs)
    if args.annotator == "ocr":
        from annotators.ocr import OCRAnnotator

        return OCRAnnotator(min_confidence=args.min_confidence, **bs)
    from annotators.vlm import DEFAULT_MODEL, PROMPT, VLMAnnotator

    return VLMAnnotator(
        args.model or DEFAULT_MODEL,
        prompt=args.prompt or PROMPT,
        max_new_tokens=args.max_new_tokens,
        device=args.device,
        dtype=args.dtype,
        **bs,
    )


def _write(ds: Any, out: Path, images: str, checkpoint_dir: Path | None) -> None:
    """Write ``ds`` to ``out`` atomically, carrying the checkpoint folder across the swap."""
    from datakit.formats import jsonl

    if out.exists() and out.resolve() == ds.root.resolve():
        jsonl.write(ds, out)
        return
    staging = out.parent / f".{out.name}.annotate-{os.getpid()}"
    jsonl.write(ds, staging, images=images)
    if checkpoint_dir is not None and checkpoint_dir.is_dir():
        os.replace(checkpoint_dir, staging / CHECKPOINT_DIR)
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
    with make_annotator(args) as annotator:
        result = annotate(
            ds,
            annotator,
            checkpoint=checkpoint,
            restart=args.restart,
            retry_errors=args.retry_errors,
            progress=False if args.no_progress else None,
        )
    annotated = result.apply(ds, prefix=args.prefix)
    _write(annotated, out, args.images, None if args.checkpoint else default_ck.parent)
    final_ck = (out / CHECKPOINT_DIR / checkpoint.name) if not args.checkpoint else checkpoint
    counts = result.counts()
    tags = dict(Counter(t for r in result.results.values() for t in r.tags))
    payload = {
        "path": str(args.path), "out": str(out), "annotator": args.annotator,
        "fields": [f"{args.prefix}{f}" for f in result.fields], "samples": len(ds),
        "statuses": counts, "resumed": result.resumed, "stale": result.stale,
        "annotated_now": len(result.results) - result.resumed,
        "checkpoint": str(final_ck), "tags": tags,
    }  # fmt: skip
    human = "\n".join([
        f"{args.path}: {len(ds)} samples annotated with {args.annotator} → {out}",
        f"statuses: {format_counts(counts)}",
        f"resumed from checkpoint: {result.resumed}, annotated now: {payload['annotated_now']}"
        + (f" ({result.stale} because their image changed)" if result.stale else ""),
        *([f"tags: {format_counts(tags)}"] if tags else []),
        f"fields: {', '.join(payload['fields'])}; raw answers in {final_ck}",
    ])  # fmt: skip
    emit(args, payload, human)
    return 0
