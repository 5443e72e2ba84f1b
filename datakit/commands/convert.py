"""``datakit convert SRC --to FORMAT --out DIR``: move a dataset between formats."""

from __future__ import annotations

import argparse
from typing import Any

from datakit.commands._common import add_common, emit, format_counts, format_skips, parse_classes


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``convert`` command."""
    p = sub.add_parser(
        "convert",
        help="convert a dataset between jsonl, coco, yolo, imagefolder and hf",
        description="Read SRC (format detected unless --from) and write it as --to under --out. "
        "What the target format cannot hold is listed in the summary.",
    )
    p.add_argument("src", help="dataset folder or file (a COCO JSON file, a YOLO data.yaml, ...)")
    p.add_argument("--to", required=True, help="target format: jsonl, coco, yolo, imagefolder or hf")
    p.add_argument("--from", dest="src_format", help="source format (detected when absent)")
    p.add_argument("--images", help="COCO input: folder the file_name paths are relative to")
    p.add_argument(
        "--image-mode",
        choices=("copy", "link", "symlink", "none"),
        default="copy",
        help="how images reach --out: copy (default), hard link, symlink, or none",
    )
    p.add_argument("--classes", help="declared classes: comma-separated or a file, one per line")
    p.add_argument(
        "--lenient", action="store_true", help="skip bad records (counted and listed) instead of failing on the first"
    )
    p.add_argument(
        "--plain", action="store_true", help='jsonl: write plain {"image","prefix","suffix"} rows for VLM fine-tuning'
    )
    p.add_argument("--prompt", help="jsonl --plain: the prefix of every row (default: the seed's prompt)")
    p.add_argument(
        "--coco-layout",
        choices=("roboflow", "coco"),
        help="coco: <split>/_annotations.coco.json (roboflow, default) or "
        "annotations/instances_<split>.json + <split>/ (coco)",
    )
    boxes = p.add_mutually_exclusive_group()
    boxes.add_argument(
        "--full-image-boxes",
        dest="full_image_boxes",
        action="store_true",
        default=None,
        help="yolo: write each sample's label as a full-image box (classification as detection)",
    )
    boxes.add_argument(
        "--no-full-image-boxes",
        dest="full_image_boxes",
        action="store_false",
        help="yolo: never write full-image boxes, even for a label-only dataset",
    )
    add_common(p, out=True, out_required=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read, write, report."""
    import datakit
    from datakit import formats
    from datakit.cli import CommandError

    target = formats.ALIASES.get(args.to, args.to)
    if target not in formats.FORMATS:
        raise CommandError(f"unknown target format {args.to!r}; expected one of {sorted(formats.FORMATS)}")
    if (args.plain or args.prompt is not None) and target != "jsonl":
        raise CommandError("--plain and --prompt only apply to --to jsonl")
    if args.prompt is not None and not args.plain:
        raise CommandError("--prompt needs --plain")
    if args.coco_layout is not None and target != "coco":
        raise CommandError("--coco-layout only applies to --to coco")
    if args.full_image_boxes is not None and target != "yolo":
        raise CommandError("--full-image-boxes / --no-full-image-boxes only apply to --to yolo")
    src_format = args.src_format or formats.detect(args.src)
    src_format = formats.ALIASES.get(src_format, src_format)
    if args.images is not None and src_format != "coco":
        raise CommandError("--images only applies to COCO input")
    strict = not args.lenient
    options: dict[str, Any] = {"strict": strict}
    classes = parse_classes(args.classes)
    if classes is not None:
        options["classes"] = classes
    if args.images is not None:
        options["images"] = args.images
    ds = datakit.load(args.src, format=src_format, **options)
    if target == "jsonl" and args.plain:
        from datakit.formats import _plain
        from datakit.formats.jsonl import SEED_PROMPT

        result = _plain.write(ds, args.out, prompt=args.prompt or SEED_PROMPT, images=args.image_mode, strict=strict)
    elif target == "jsonl":
        from datakit.formats._common import begin_write

        ds, log, result = begin_write(ds, args.out, args.image_mode, strict)
        mode = "link" if args.image_mode in ("link", "symlink") else args.image_mode
        result.out = ds.save(args.out, images=mode)
        result.samples = len(ds)
        result.skipped = log.items
    elif target == "yolo":
        result = formats.get("yolo").write(
            ds, args.out, images=args.image_mode, strict=strict, full_image_boxes=args.full_image_boxes
        )
    elif target == "coco":
        result = formats.get("coco").write(
            ds, args.out, images=args.image_mode, strict=strict, layout=args.coco_layout or "roboflow"
        )
    else:
        result = formats.get(target).write(ds, args.out, images=args.image_mode, strict=strict)
    read_skips = [s.to_dict() for s in ds.skipped]
    write_skips = [s.to_dict() for s in result.skipped]
    payload = {
        "src": str(args.src),
        "from": src_format,
        "to": target,
        **result.to_dict(),
        "read_skipped": read_skips,
        "skipped": read_skips + write_skips,
    }
    lines = [
        f"{args.src} ({src_format}) → {result.out} ({target}): {result.samples} samples written",
        f"not held by {target} (dropped): {format_counts(result.dropped)}"
        if result.dropped
        else f"nothing dropped: {target} holds every field present",
        *[f"note: {n}" for n in result.notes],
        format_skips(payload["skipped"]),
    ]
    emit(args, payload, "\n".join(lines))
    return 0
