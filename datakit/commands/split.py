"""``datakit split PATH --ratios 0.7,0.15,0.15 --seed S --out DIR``: stratified, grouped splits."""

from __future__ import annotations

import argparse

from datakit.commands._common import add_common, emit, format_counts, format_skips, parse_classes, require_field


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``split`` command."""
    p = sub.add_parser(
        "split",
        help="assign train/valid/test splits: stratified, grouped, deterministic",
        description="Re-split a dataset (existing splits are replaced) and write it as native "
        "JSONL with <split>/annotations.jsonl under --out.",
    )
    p.add_argument("path", help="dataset folder or file")
    p.add_argument("--format", help="input format (detected when absent)")
    p.add_argument("--ratios", default="0.7,0.15,0.15", help="one ratio per split (default 0.7,0.15,0.15)")
    p.add_argument("--names", default="train,valid,test", help="split names (default train,valid,test)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--stratify", default="label", help="field to stratify by: label (default), source, metadata.<key>, or none"
    )
    p.add_argument("--group", help="field whose equal values share a split, e.g. metadata.video")
    p.add_argument(
        "--image-mode", choices=("copy", "link", "none"), default="copy", help="how images reach --out (default copy)"
    )
    p.add_argument("--classes", help="declared classes: comma-separated or a file, one per line")
    p.add_argument("--lenient", action="store_true", help="skip bad records instead of failing")
    add_common(p, out=True, out_required=True, in_place=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load, split, save, report."""
    import datakit
    from datakit.cli import CommandError
    from datakit.splits import parse_ratios, split

    names = [x.strip() for x in args.names.split(",") if x.strip()]
    try:
        ratios = parse_ratios(args.ratios, len(names))
    except ValueError as e:
        raise CommandError(f"--ratios: {e}") from None
    options: dict[str, object] = {"strict": not args.lenient}
    classes = parse_classes(args.classes)
    if classes is not None:
        options["classes"] = classes
    if args.in_place:
        from datakit import formats

        if formats.detect(args.path) != "jsonl":
            raise CommandError(f"--in-place rewrites a native JSONL dataset; {args.path} is not one (use --out)")
    ds = datakit.load(args.path, format=args.format, **options)
    stratify = None if args.stratify in ("none", "") else args.stratify
    if stratify is not None:
        require_field(ds, stratify, "--stratify")
    if args.group:
        require_field(ds, args.group, "--group")
    try:
        result = split(ds, ratios=ratios, names=names, seed=args.seed, stratify=stratify, group=args.group)
    except KeyError as e:
        raise CommandError(str(e.args[0] if e.args else e)) from None
    split_ds = result.dataset
    copied: list[dict[str, object]] = []
    if not args.in_place and args.image_mode != "none":  # what is copied is checked: empty, truncated, escaping
        from datakit.errors import SkipLog
        from datakit.formats._checks import check_images

        log = SkipLog(strict=not args.lenient)
        keep = check_images(split_ds, log)[0]
        if not keep.all():
            split_ds = split_ds.take(keep.nonzero()[0])
        copied = [s.to_dict() for s in log.items]
    out = split_ds.save(args.out, images="none" if args.in_place else args.image_mode)
    payload = {
        "path": str(args.path),
        "out": str(out),
        "ratios": list(ratios),
        "seed": args.seed,
        "stratify": stratify,
        "group": args.group,
        "classes": result.dataset.classes,
        **result.to_dict(),
        "skipped": [s.to_dict() for s in ds.skipped] + copied,
    }
    lines = [
        f"{args.path} → {out}: {len(ds)} samples split {format_counts(result.counts)} (seed {args.seed})",
        *[f"  {nm}: {format_counts(per, limit=8)}" for nm, per in result.per_split.items()],
    ]
    if args.group:
        lines.append(f"groups: {result.groups} by {args.group}; straddling splits: {result.straddling}")
    if result.rare:
        lines.append(f"rare (fewer samples than splits, all in {names[0]}): {format_counts(result.rare)}")
    lines.append(format_skips(payload["skipped"]))
    emit(args, payload, "\n".join(lines))
    return 0
