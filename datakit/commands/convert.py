"""``datakit convert SRC --to FORMAT --out DIR``: move a dataset between formats.

Formats, their aliases, options and help all come from :mod:`datakit.formats.registry`: a new
format module adds its ``--to``/``--from`` name and its options here without a change to this file.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from datakit.commands._common import add_common, emit, format_counts, format_skips, parse_classes

if TYPE_CHECKING:
    from datakit.formats.registry import Format, Option

_DEST = "format_option__"


def _format_options() -> dict[str, list[tuple[Format, str, Option]]]:
    """CLI flag → every (format, ``"read"``/``"write"``, option) that declares it."""
    from datakit.formats import registry

    out: dict[str, list[tuple[Format, str, Option]]] = {}
    for fmt in registry.formats():
        for which, options in (("read", fmt.read_options), ("write", fmt.write_options)):
            for opt in options:
                out.setdefault(opt.cli_flag, []).append((fmt, which, opt))
    return out


def _dest(flag: str) -> str:
    return _DEST + flag.lstrip("-").replace("-", "_")


def _scope(owners: list[tuple[Format, str, Option]]) -> str:
    """Where a flag applies, for its help: ``coco input, --to coco or yolo``."""
    inputs = list(dict.fromkeys(f.name for f, w, _ in owners if w == "read"))
    outputs = list(dict.fromkeys(f.name for f, w, _ in owners if w == "write"))
    where = [f"{', '.join(inputs)} input"] if inputs else []
    where += [f"--to {', '.join(outputs)}"] if outputs else []
    return "; ".join(where)


def _add_option(group: argparse._ArgumentGroup, flag: str, owners: list[tuple[Format, str, Option]]) -> None:
    dest = _dest(flag)
    opt = owners[0][2]
    default = f" (default: {opt.default})" if opt.default not in (None, False) else ""
    help_text = f"{_scope(owners)}: {opt.help}{default}"
    if opt.type is bool and opt.default is None:
        group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=help_text)
    elif opt.type is bool:
        group.add_argument(flag, dest=dest, action="store_const", const=not opt.default, default=None, help=help_text)
    else:
        group.add_argument(
            flag, dest=dest, type=opt.type, choices=opt.choices, default=None, metavar=opt.name.upper(), help=help_text
        )


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``convert`` command, with every registered format's options."""
    from datakit.formats import registry

    fmts = registry.formats()
    names = [f.name for f in fmts]
    listing = "\n".join(
        f"  {f.name}{' (' + ', '.join(f.aliases) + ')' if f.aliases else ''}: {f.summary}"
        + (f"\n      cannot hold: {', '.join(f.cannot_hold)}" if f.cannot_hold else "")
        for f in fmts
    )
    p = sub.add_parser(
        "convert",
        help=f"convert a dataset between {', '.join(names)}",
        description="Read SRC (format detected unless --from) and write it as --to under --out. "
        "What the target format cannot hold is listed in the summary.",
        epilog=f"formats:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("src", help="dataset folder or file (a COCO JSON file, a YOLO data.yaml, ...)")
    p.add_argument("--to", required=True, help=f"target format: {', '.join(names)}")
    p.add_argument("--from", dest="src_format", help="source format (detected when absent)")
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
    group = p.add_argument_group("format options (declared by each format in datakit.formats)")
    for flag, owners in _format_options().items():
        _add_option(group, flag, owners)
    add_common(p, out=True, out_required=True)
    p.set_defaults(func=run)


def _split_options(args: argparse.Namespace, src: Format, target: Format) -> tuple[dict[str, Any], dict[str, Any]]:
    """The format options the user gave, as (reader options, writer options).

    A flag given on the command line must be taken by the source format's reader or the target
    format's writer; otherwise the command fails naming the formats that take it.
    """
    from datakit.cli import CommandError

    read: dict[str, Any] = {}
    write: dict[str, Any] = {}
    given: list[tuple[Format, Option]] = []
    for flag, owners in _format_options().items():
        value = getattr(args, _dest(flag), None)
        if value is None:
            continue
        used = False
        for fmt, which, opt in owners:
            if (which, fmt.name) in (("read", src.name), ("write", target.name)):
                (read if which == "read" else write)[opt.name] = value
                given.append((fmt, opt))
                used = True
        if not used:
            raise CommandError(f"{flag} only applies to {_scope(owners)}")
    for fmt, opt in given:
        if opt.requires is not None and opt.requires not in read and opt.requires not in write:
            need = next(o for o in (*fmt.read_options, *fmt.write_options) if o.name == opt.requires)
            raise CommandError(f"{opt.cli_flag} needs {need.cli_flag}")
    return read, write


def run(args: argparse.Namespace) -> int:
    """Read, write, report."""
    import datakit
    from datakit.cli import CommandError
    from datakit.formats import registry

    try:
        target_fmt = registry.get(args.to)
    except ValueError:
        raise CommandError(f"unknown target format {args.to!r}; expected one of {registry.names()}") from None
    target = target_fmt.name
    src_fmt = registry.get(args.src_format or registry.detect(args.src))
    src_format = src_fmt.name
    read_options, write_options = _split_options(args, src_fmt, target_fmt)
    strict = not args.lenient
    classes = parse_classes(args.classes)
    if classes is not None:
        read_options["classes"] = classes
    ds = datakit.load(args.src, format=src_format, strict=strict, **read_options)
    result = target_fmt.write(ds, args.out, images=args.image_mode, strict=strict, **write_options)
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
