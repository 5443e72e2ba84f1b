"""``datakit audit PATH --out DIR``: split-by-split distributions of metadata fields, with plots."""

from __future__ import annotations

import argparse

from datakit.commands._common import add_common, emit, format_counts
from datakit.dataset import field_name


def _list(value: str) -> list[str]:
    items = [x.strip() for x in value.split(",") if x.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def _pair(value: str) -> tuple[str, str]:
    a, sep, b = value.partition(":")
    if not sep or not a.strip() or not b.strip():
        raise argparse.ArgumentTypeError(f"expected FIELD_A:FIELD_B, got {value!r}")
    return a.strip(), b.strip()


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``audit`` command."""
    p = sub.add_parser(
        "audit",
        help="audit metadata distributions across splits and sources (audit.json, report.html, plots)",
    )
    p.add_argument("path", help="dataset folder or annotation file")
    p.add_argument("--format", help="input format (detected when absent)")
    p.add_argument(
        "--fields",
        type=_list,
        help="metadata fields to audit (default: jersey_color, number_color, border when present)",
    )
    p.add_argument("--by", type=_list, default=["split", "source"], help="grouping fields (default: split,source)")
    p.add_argument("--min-class-count", type=int, default=50, help="list classes with fewer samples (default 50)")
    p.add_argument(
        "--degenerate", type=float, default=0.95, help="share of one value that makes a field degenerate (default 0.95)"
    )
    p.add_argument(
        "--agreement",
        type=_pair,
        action="append",
        default=[],
        metavar="A:B",
        help="compare two annotators' fields value by value (repeatable)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    add_common(p, out=True, out_required=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load, audit, write the report, summarise."""
    import datakit
    from datakit.audit.report import write_report
    from datakit.audit.stats import audit
    from datakit.cli import CommandError

    ds = datakit.load(args.path, format=args.format)
    needed = [*(args.fields or []), *args.by, *(f for pair in args.agreement for f in pair)]
    keys = [field_name(f) for f in needed]
    present: dict[str, int] = {}
    if any(k.startswith("metadata.") for k in keys):  # one pass over the metadata, only when needed
        present = ds.metadata_keys()

    def exists(f: str) -> bool:
        name = field_name(f)
        return not name.startswith("metadata.") or name.removeprefix("metadata.") in present

    for f in args.by:
        if not exists(f):
            raise CommandError(
                f"{args.path}: unknown grouping field {f!r}; expected split, source, label or a metadata key"
            )
    if args.fields:
        missing = [f for f in args.fields if f.removeprefix("metadata.") not in present]
        if missing:
            raise CommandError(f"{args.path}: no sample has metadata field(s) {missing}; present: {sorted(present)}")
    for fa, fb in args.agreement:
        for f in (fa, fb):
            if not exists(f):
                raise CommandError(f"{args.path}: no sample has metadata field {f!r} (in --agreement)")
    a = audit(
        ds,
        fields=args.fields,
        by=args.by,
        min_class_count=args.min_class_count,
        degenerate_threshold=args.degenerate,
        agreements=args.agreement,
    )
    files = write_report(a, args.out, plots=not args.no_plots)
    lines = [f"{args.path}: {a['samples']} samples, {len(a['groups'])} groups, fields: {', '.join(a['fields']) or '—'}"]
    for f, info in a["fields"].items():
        cov = info["coverage"]["all"]
        top = format_counts(info["counts"]["all"], 8)
        lines.append(f"  {f}: {cov['annotated']}/{cov['samples']} annotated — {top}")
    for d in a["degenerate_fields"]:
        lines.append(f"degenerate: {d['field']} — {d['reason']}")
    for f, info in a["absent_values"].items():
        if info["in_train_not_eval"]:
            lines.append(f"{f}: in train, absent from valid/test: {', '.join(info['in_train_not_eval'])}")
        if info["in_eval_not_train"]:
            lines.append(f"{f}: in valid/test, absent from train: {', '.join(info['in_eval_not_train'])}")
        for v, d in info.get("by_source", {}).items():
            lines.append(f"{f}: {v} only in {', '.join(d['present_in'])}, absent from {', '.join(d['absent_from'])}")
    b = a["class_balance"]["all"]
    if b:
        lines.append(
            f"classes: {b['classes']}, imbalance {b['ratio']:.1f}× (max {b['max_class']} {b['max']}, "
            f"min {b['min_class']} {b['min']}), "
            f"{len(b['under_threshold'])} under {a['class_balance']['threshold']}"
        )
    lines.append(f"wrote {len(files)} files to {args.out}")
    emit(args, {**a, "out": str(args.out), "files": [str(p) for p in files]}, "\n".join(lines))
    return 0
