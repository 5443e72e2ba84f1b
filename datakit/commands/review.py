"""``datakit review DS``: review in the FiftyOne App; ``--pull NAME --out DS2`` brings the edits back."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from datakit.commands._common import add_common, emit, format_counts


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``review`` command."""
    p = sub.add_parser(
        "review",
        help="review a dataset in the FiftyOne App; --pull brings tags and corrected labels back",
        description="Build a persistent FiftyOne dataset (saved view 'review_queue' in selection order) "
        "and start the App on 127.0.0.1; or, with --pull NAME --out DS2, merge what the reviewer did "
        "(sample and label tags, labels, added/deleted/moved/relabelled boxes) back by datakit id. "
        "Needs the 'review' extra (fiftyone).",
    )
    p.add_argument("path", nargs="?", help="dataset folder or annotation file to review")
    p.add_argument(
        "--queue", help="a queue written by 'datakit select' (its samples, in rank order, form review_queue)"
    )
    p.add_argument("--queue-only", action="store_true", help="with --queue: put only the queue's samples in FiftyOne")
    p.add_argument("--name", help="FiftyOne dataset name (default: datakit-<folder name>)")
    p.add_argument("--overwrite", action="store_true", help="rebuild the FiftyOne dataset if the name exists")
    p.add_argument("--port", type=int, default=5151, help="App port (default 5151)")
    p.add_argument("--address", default="127.0.0.1", help="App address (default 127.0.0.1)")
    p.add_argument("--no-launch", action="store_true", help="build the dataset and exit without starting the App")
    p.add_argument("--open", metavar="NAME", help="start the App on an existing review dataset")
    p.add_argument("--pull", metavar="NAME", help="merge the edits of review dataset NAME; writes --out")
    p.add_argument("--from", dest="source", help="with --pull: the dataset to merge into (default: the one reviewed)")
    p.add_argument(
        "--images", choices=("copy", "link", "none"), default="copy", help="with --pull: how images are placed"
    )
    p.add_argument("--delete", metavar="NAME", help="delete review dataset NAME from FiftyOne's database")
    add_common(p, out=True)
    p.set_defaults(func=run)


def _serve(args: argparse.Namespace, name: str, payload: dict, lines: list[str]) -> int:
    import signal

    from datakit.review.build import launch

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # `kill PID` closes the App as Ctrl-C does
    session, url = launch(name, port=args.port, address=args.address, wait=False)
    payload["url"] = url
    lines.append(f"App: {url}  (view 'review_queue'; Ctrl-C to stop)")
    emit(args, payload, "\n".join(lines))
    sys.stdout.flush()
    try:
        session.wait(-1)
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch build / open / pull / delete."""
    from datakit.cli import CommandError

    modes = [m for m in ("pull", "open", "delete") if getattr(args, m)]
    if len(modes) > 1 or (modes and args.path):
        raise CommandError("give a dataset PATH to build, or one of --pull NAME, --open NAME, --delete NAME")
    if not modes and not args.path:
        raise CommandError("expected a dataset PATH (or --pull NAME --out DIR, --open NAME, --delete NAME)")
    if args.port < 1 or args.port > 65535:
        raise CommandError(f"--port must be in 1..65535, got {args.port}")
    if args.pull:
        return _pull(args)
    if args.out:
        raise CommandError("--out is only used with --pull")
    if args.delete:
        from datakit.review.build import import_fiftyone

        fo = import_fiftyone()
        if not fo.dataset_exists(args.delete):
            raise CommandError(f"no FiftyOne dataset named {args.delete!r}")
        fo.delete_dataset(args.delete)
        emit(args, {"deleted": args.delete}, f"deleted FiftyOne dataset {args.delete}")
        return 0
    if args.open:
        return _serve(args, args.open, {"name": args.open}, [f"FiftyOne dataset {args.open}"])
    return _build(args)


def _build(args: argparse.Namespace) -> int:
    import datakit
    from datakit.cli import CommandError
    from datakit.review.build import port_free, queue_order, to_fiftyone

    if args.queue_only and not args.queue:
        raise CommandError("--queue-only needs --queue QUEUE")
    if not args.no_launch and not port_free(args.port, args.address):
        raise CommandError(
            f"port {args.port} on {args.address} is in use (another FiftyOne App?): pass --port N, or --no-launch"
        )
    ds = datakit.load(args.path)
    name = args.name or f"datakit-{Path(args.path).resolve().name}"
    order = None
    indices = None
    missing = 0
    if args.queue:
        q = datakit.load(args.queue)
        qc = q.columns
        ranked = queue_order(qc.ids, [("review",)] * len(q), qc.metadata)
        order = []
        for k in ranked:
            try:
                order.append(ds.index_of(qc.ids[k]))
            except KeyError:
                missing += 1
        if not order:
            raise CommandError(f"{args.queue}: none of its {len(q)} sample ids are in {args.path}")
        if args.queue_only:
            indices = order
    _, stats = to_fiftyone(ds, name, order=order, indices=indices, source=args.path, overwrite=args.overwrite)
    payload = {k: v for k, v in stats.items() if k != "metadata_fields"}
    payload["queue_ids_not_in_dataset"] = missing
    lines = [
        f"FiftyOne dataset {name}: {stats['samples']} samples, {stats['detections']} boxes, "
        f"review_queue {stats['queue']} samples",
        "fields: datakit_id, tags, source, split, label, detections"
        + (f", {', '.join(stats['metadata_fields'].values())}" if stats["metadata_fields"] else ""),
    ]
    if missing:
        lines.append(f"queue: {missing} ids not in {args.path} (left out)")
    if stats["skipped"]:
        lines.append(f"skipped: {len(stats['skipped'])} samples whose image size could not be read, e.g. "
                     f"{stats['skipped'][0]['image']}: {stats['skipped'][0]['reason']}")  # fmt: skip
    lines.append(f"pull the edits back with: datakit review --pull {name} --out DIR")
    if args.no_launch:
        emit(args, payload, "\n".join(lines))
        return 0
    return _serve(args, name, payload, lines)


def _pull(args: argparse.Namespace) -> int:
    from datakit.cli import CommandError
    from datakit.review.pull import pull

    if not args.out:
        raise CommandError("--pull NAME needs --out DIR (the corrected dataset is written there)")
    out, report = pull(args.pull, source=args.source)
    src = Path(report["source"])
    if Path(args.out).resolve() == (src if src.is_dir() else src.parent).resolve():
        out.save(args.out)  # rewrite the reviewed dataset's own annotation files in place
    else:
        out.save(args.out, images=args.images)
    report["out"] = str(args.out)
    changes = {k: report[k] for k in ("tags_added", "tags_removed", "labels_changed", "label_tags_changed",
                                      "boxes_added", "boxes_deleted", "boxes_moved", "boxes_relabelled",
                                      "boxes_retagged") if report[k]}  # fmt: skip
    lines = [
        f"pulled {args.pull}: {report['samples_reviewed']} of {report['samples_in_fiftyone']} samples reviewed "
        f"({report['accepted_unchanged']} accepted unchanged, {report['pseudo_to_real']} pseudo → real)",
        f"changes: {format_counts(changes)}",
        f"wrote {len(out)} samples → {args.out}",
    ]
    if report["unknown_in_fiftyone"]:
        lines.append(f"ignored: {report['unknown_in_fiftyone']} FiftyOne samples without a known datakit_id")
    if report["not_in_fiftyone"]:
        lines.append(f"unchanged: {report['not_in_fiftyone']} samples that were not in FiftyOne")
    emit(args, report, "\n".join(lines))
    return 0
