"""``datakit publish DS --repo OWNER/NAME``: parquet shards and a dataset card, uploaded to the Hub.

Resumable (content-named shards: a rerun uploads only what the repo lacks), retried on network
errors and 429/5xx (honouring ``Retry-After``), and ``--dry-run`` lists what would be uploaded
without contacting anything. The token comes from ``HF_TOKEN`` or ``--token-file`` and is never
printed. The endpoint is ``HF_ENDPOINT`` (or ``--endpoint``).
"""

from __future__ import annotations

import argparse
import re

from datakit.commands._common import add_common, emit, parse_classes

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(text: str) -> int:
    """``500MB`` → 500,000,000 bytes; ``256MiB``, ``1GB`` and plain byte counts too."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m[2].lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"expected a size such as 500MB or 1GiB, got {text!r}")
    n = int(float(m[1]) * _UNITS[m[2].lower()])
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {text!r}")
    return n


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``publish`` command."""
    p = sub.add_parser(
        "publish",
        help="publish a dataset to the Hugging Face Hub (parquet shards + card; resumable)",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    p.add_argument("path", help="dataset folder or annotation file")
    p.add_argument("--repo", required=True, help="the Hub dataset repo, OWNER/NAME")
    p.add_argument("--format", help="input format (detected when absent)")
    p.add_argument("--classes", help="declared class list (comma-separated or a file, one per line)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--revision", help="branch to commit to (created when missing; default main)")
    p.add_argument("--message", help="commit message")
    p.add_argument("--token-file", help="file whose first line is the Hub token (default: HF_TOKEN)")
    p.add_argument("--endpoint", help="the Hub's URL (default: HF_ENDPOINT, else https://huggingface.co)")
    p.add_argument("--max-shard-size", type=parse_size, help="image bytes per parquet shard (default 256MiB)")
    p.add_argument("--files-per-commit", type=int, default=50, help="shards per commit (default 50)")
    p.add_argument("--license", help="Hub licence id for the card (e.g. apache-2.0, cc-by-4.0)")
    p.add_argument("--audit", help="an audit.json (from datakit audit) to summarise on the card")
    p.add_argument("--dry-run", action="store_true", help="stage the files and list them; upload nothing")
    add_common(p, out=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``datakit publish``."""
    import datakit
    from datakit.cli import CommandError
    from datakit.hub import PublishError, publish, read_token

    if args.files_per_commit < 1:
        raise CommandError(f"--files-per-commit must be at least 1, got {args.files_per_commit}")
    options: dict[str, object] = {}
    classes = parse_classes(args.classes)
    if classes is not None:
        options["classes"] = classes
    ds = datakit.load(args.path, format=args.format, **options)
    try:
        token = None if args.dry_run else read_token(token_file=args.token_file)
        result = publish(
            ds, args.repo, token=token, endpoint=args.endpoint, private=args.private, revision=args.revision,
            message=args.message, dry_run=args.dry_run, max_shard_bytes=args.max_shard_size,
            license=args.license, audit=args.audit, staging=args.out, files_per_commit=args.files_per_commit,
        )  # fmt: skip
    except PublishError as e:
        raise CommandError(str(e)) from None
    payload = result.to_dict()
    total = sum(f.size for f in result.files)
    if result.dry_run:
        lines = [f"dry run: would publish {len(ds)} samples to {args.repo} as {len(result.files)} files "
                 f"({total / 2**20:.1f} MiB); nothing was uploaded"]  # fmt: skip
        lines += [f"  {f.path_in_repo}  {f.size / 2**20:.2f} MiB" for f in result.files[:20]]
        if len(result.files) > 20:
            lines.append(f"  … (+{len(result.files) - 20} more)")
    else:
        lines = [
            f"published {len(ds)} samples to {args.repo}: uploaded {len(result.uploaded)} files, "
            f"{len(result.already_there)} already there, deleted {len(result.deleted)} stale shards, "
            f"{result.commits} commits" + (f", {result.retries} retries" if result.retries else ""),
        ]
    if args.out:
        lines.append(f"staged files: {args.out}")
    emit(args, payload, "\n".join(lines))
    return 0
