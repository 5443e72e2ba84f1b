r"""``datakit render``: synthetic jersey numbers (``jersey``), and the ``fonts`` / ``presets`` lists.

Registered through the ``datakit.commands`` entry point (``render = renderers.cli:register``).

Examples::

    datakit render jersey --reference data/jerseys --min-count 50 --target 200 --out data/jerseys
    datakit render jersey --classes 0-99 --per-class 20 --preset zc_strong_all --out synth \\
        --preview synth/sheet.png
    datakit render presets --json
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from datakit.cli import CommandError
from datakit.commands._common import add_common, add_scheduler, emit, format_counts


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``render`` command and its subcommands."""
    p = sub.add_parser("render", help="render synthetic data (jersey-number crops)")
    rsub = p.add_subparsers(dest="render_command", metavar="WHAT")
    rsub.required = True

    j = rsub.add_parser(
        "jersey",
        help="render jersey-number crops into OUT/<split>/synthetic/",
        description="Render synthetic jersey-number crops as a native JSONL dataset. Either fill "
        "rare classes of --reference (classes under --min-count real samples, up to --target), "
        "or render --per-class N for --classes.",
    )
    j.add_argument(
        "--reference", metavar="DATASET", help="reference dataset: class counts and (jersey, number) colour pairs"
    )
    j.add_argument("--classes", metavar="SPEC", help="classes to render: 0-99, 7,23,00 or a mix")
    j.add_argument("--per-class", type=int, metavar="N", help="render N per class (instead of the fill rule)")
    j.add_argument(
        "--min-count", type=int, metavar="N", help="fill classes with fewer real samples than N (default 50)"
    )
    j.add_argument("--target", type=int, metavar="N", help="... up to N samples each (default 200)")
    j.add_argument("--reference-split", default="train", help="split whose real samples are counted (default train)")
    j.add_argument(
        "--colors",
        choices=("auto", "palette", "reference"),
        default="auto",
        help="kit colours: the team palette, or the reference's (jersey, number) pairs "
        "(auto: the reference's when it has colour metadata, else the palette)",
    )
    j.add_argument("--preset", default="clean", help="degradation preset (datakit render presets; default clean)")
    j.add_argument("--fonts", help="comma-separated font names or files (default: all built-in fonts)")
    j.add_argument("--size", default="96", help="crop size: 96, 80x96, or a square range 64-128 (default 96)")
    j.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    j.add_argument("--split", default="train", help="split folder the renders join (default train)")
    j.add_argument(
        "--format", dest="image_format", choices=("png", "jpg"), default="png", help="image format (default png)"
    )
    j.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: CPU count)")
    add_scheduler(j)
    j.add_argument("--preview", metavar="SHEET.png", help="also write a contact sheet of the first renders")
    j.add_argument("--preview-count", type=int, default=64, help="renders on the contact sheet (default 64)")
    j.add_argument("--overwrite", action="store_true", help="replace an existing OUT/<split>/synthetic folder")
    j.add_argument("--dry-run", action="store_true", help="print the plan, render nothing")
    add_common(j, out=True)
    j.set_defaults(func=run_jersey)

    f = rsub.add_parser("fonts", help="list the built-in fonts (checked for digits 0-9) and their licences")
    add_common(f)
    f.set_defaults(func=run_fonts)

    pr = rsub.add_parser("presets", help="list the degradation presets and their parameters")
    add_common(pr)
    pr.set_defaults(func=run_presets)


def parse_size(value: str) -> int | tuple[int, int] | tuple[int, int, str]:
    """``96`` → 96, ``80x96`` → (80, 96), ``64-128`` → (64, 128, "range").

    Examples:
        >>> parse_size("64-128"), parse_size("80x96"), parse_size("96")
        ((64, 128, 'range'), (80, 96), 96)

    """
    v = value.strip().lower()
    try:
        if "-" in v:
            a, b = v.split("-", 1)
            return int(a), int(b), "range"
        if "x" in v:
            a, b = v.split("x", 1)
            return int(a), int(b)
        return int(v)
    except ValueError:
        raise CommandError(f"--size: expected 96, 80x96 or 64-128, got {value!r}") from None


def _progress_bar(total: int) -> Any:
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="crop", file=sys.stderr)


def run_jersey(args: argparse.Namespace) -> int:
    """Plan, render, write, report."""
    import datakit
    from renderers.batch import RenderJob, render_images, write_dataset
    from renderers.fill import parse_class_spec, plan_fill, reference_counts, reference_pairs
    from renderers.fonts import FontError, load_fonts
    from renderers.jersey import JerseyConfig
    from renderers.palettes import ColorSampler
    from renderers.presets import get_preset
    from renderers.sheet import write_sheet

    if not args.out and not args.dry_run:
        raise CommandError("--out is required (the dataset root the renders go under)")
    if args.reference is None and args.classes is None:
        raise CommandError("expected --reference DATASET (fill rare classes) or --classes SPEC --per-class N")
    if args.per_class is not None and (args.min_count is not None or args.target is not None):
        raise CommandError("--per-class renders N per class; it cannot be combined with --min-count/--target")
    if args.reference is None and args.per_class is None:
        raise CommandError("without --reference there are no real counts to fill: give --per-class N")
    if args.colors == "reference" and args.reference is None:
        raise CommandError("--colors reference needs --reference DATASET")
    if args.workers < 1:
        raise CommandError(f"--workers: expected >= 1, got {args.workers}")
    if args.preview_count < 1:
        raise CommandError(f"--preview-count: expected >= 1, got {args.preview_count}")
    try:
        get_preset(args.preset)
        classes = parse_class_spec(args.classes) if args.classes is not None else None
    except ValueError as e:
        raise CommandError(str(e)) from None

    counts: dict[str, int] = {}
    skipped_classes: list[str] = []
    colors = ColorSampler()
    color_info: dict[str, Any] = {"mode": "palette"}
    if args.reference is not None:
        ref = datakit.load(args.reference)
        counts = reference_counts(ref, args.reference_split)
        if classes is None:
            from renderers.jersey import check_label

            usable = {}
            for c, n in counts.items():
                try:
                    usable[check_label(c)] = n
                except ValueError:
                    skipped_classes.append(c)
            counts = usable
        if args.colors in ("auto", "reference"):
            pairs, unusable = reference_pairs(ref, args.reference_split)
            if pairs:
                colors = ColorSampler(pairs=pairs)
                color_info = {
                    "mode": "reference",
                    "pairs": len(pairs),
                    "rows_used": sum(pairs.values()),
                    "rows_without_colors": unusable,
                }
            elif args.colors == "reference":
                raise CommandError(
                    f"{args.reference}: no sample has jersey_color/number_color metadata from the 13-colour "
                    "vocabulary; annotate it first (datakit annotate) or use --colors palette"
                )
            else:
                color_info = {"mode": "palette", "reason": "reference has no jersey_color/number_color metadata"}
    try:
        plan = plan_fill(
            counts,
            classes=classes,
            min_count=args.min_count if args.min_count is not None else 50,
            target=args.target if args.target is not None else 200,
            per_class=args.per_class,
        )
        fonts = [s.strip() for s in args.fonts.split(",") if s.strip()] if args.fonts else None
        specs = load_fonts(fonts)
        config = JerseyConfig(fonts=tuple(s.name if s.style != "custom" else str(s.path) for s in specs),
                              size=parse_size(args.size), preset=args.preset)  # fmt: skip
    except (ValueError, FontError) as e:
        raise CommandError(str(e)) from None
    labels = [c for c, n in plan.items() for _ in range(n)]
    payload: dict[str, Any] = {
        "out": args.out,
        "reference": args.reference,
        "plan": plan,
        "samples": len(labels),
        "classes_filled": len(plan),
        "classes_not_renderable": skipped_classes,
        "colors": color_info,
        "preset": args.preset,
        "fonts": [s.name for s in specs],
        "seed": args.seed,
    }
    if args.dry_run or not labels:
        payload["written"] = False
        human = f"plan: {len(labels)} renders for {len(plan)} classes — {format_counts(plan)}" + (
            "" if labels else "\nnothing to render (every class has enough samples)"
        )
        emit(args, payload, human)
        return 0
    job = RenderJob(labels, config, colors, seed=args.seed, image_format=args.image_format)
    bar = _progress_bar(len(labels))
    try:
        report = write_dataset(
            job, args.out, split=args.split, workers=args.workers, overwrite=args.overwrite,
            progress=(lambda n: bar.update(n - bar.n)) if bar is not None else None, scheduler=args.scheduler,
        )  # fmt: skip
    except (FileExistsError, ValueError) as e:
        raise CommandError(str(e)) from None
    finally:
        if bar is not None:
            bar.close()
    payload.update(report.as_dict(), written=True)
    if args.preview:
        n = min(args.preview_count, len(labels))
        sheet_job = RenderJob(labels[:n], config, colors, seed=args.seed, image_format="png")
        try:
            write_sheet(args.preview, render_images(sheet_job, workers=1), labels[:n])
        except ValueError as e:
            raise CommandError(f"--preview: {e}") from None
        payload["preview"] = args.preview
    colour_line = f"colours: {color_info['mode']}" + (f" ({color_info['reason']})" if "reason" in color_info else "")
    if color_info["mode"] == "reference":
        colour_line += (
            f" ({color_info['pairs']} pairs from {color_info['rows_used']} rows; "
            f"{color_info['rows_without_colors']} rows without colours)"
        )
    human = "\n".join(
        [
            f"rendered {report.samples} crops for {len(plan)} classes into {report.folder}",
            f"classes: {format_counts(plan)}",
            colour_line,
            f"preset: {args.preset}; fonts: {', '.join(payload['fonts'])}; seed {args.seed}",
            *([f"not renderable (not a 1-3 digit number): {', '.join(skipped_classes)}"] if skipped_classes else []),
            *([f"preview: {args.preview}"] if args.preview else []),
        ]
    )
    emit(args, payload, human)
    return 0


def run_fonts(args: argparse.Namespace) -> int:
    """List the built-in fonts, each checked for digits 0-9."""
    from renderers.fonts import load_fonts

    specs = load_fonts()
    rows = [
        {"name": s.name, "family": s.family, "style": s.style, "path": str(s.path), "license": str(s.license)}
        for s in specs
    ]
    human = "\n".join(f"{s.name:14s} {s.style:10s} {s.family} ({s.path.name}; licence {s.license})" for s in specs)
    emit(args, {"fonts": rows}, human)
    return 0


def run_presets(args: argparse.Namespace) -> int:
    """List the degradation presets with their parameters."""
    from renderers.presets import HEADLINE, PRESETS

    rows = {name: p.params() for name, p in PRESETS.items()}
    lines = ["clean             no degradation"]
    for name, p in PRESETS.items():
        star = "*" if name in HEADLINE else " "
        lines.append(f"{name:24s}{star} {p.phase}")
    emit(args, {"presets": {"clean": {}, **rows}, "headline": list(HEADLINE)}, "\n".join(lines))
    return 0
