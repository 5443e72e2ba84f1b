"""``datakit validate PATH``: read every row and decode every image; report what is wrong."""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor

from datakit.commands._common import add_common, emit, format_skips, parse_classes


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``validate`` command."""
    p = sub.add_parser("validate", help="check every row and decode every image")
    p.add_argument("path", help="dataset folder or annotation file")
    p.add_argument("--format", help="input format (detected when absent)")
    p.add_argument("--classes", help="declared classes: comma-separated or a file, one per line")
    p.add_argument("--strict", action="store_true", help="exit non-zero on any skipped row or bad image")
    p.add_argument("--workers", type=int, default=4, help="threads decoding images (default 4)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load (strictly if asked), decode every image, print the findings."""
    from tqdm import tqdm

    import datakit
    from datakit.cli import CommandError
    from datakit.images import verify_image

    options: dict[str, object] = {"strict": args.strict}
    classes = parse_classes(args.classes)
    if classes is not None:
        options["classes"] = classes
    ds = datakit.load(args.path, format=args.format, **options)
    images = list(dict.fromkeys(ds.images))
    bad_images = []
    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        results = pool.map(lambda rel: verify_image(ds.root / rel), images)
        for rel, why in zip(
            images, tqdm(results, total=len(images), desc="decoding", unit="img", disable=None), strict=True
        ):
            if why is not None:
                bad_images.append({"image": rel, "reason": why})
    skipped = [s.to_dict() for s in ds.skipped]
    payload = {
        "path": str(args.path),
        "samples": len(ds),
        "images": len(images),
        "bad_images": bad_images,
        "skipped": skipped,
        "ok": not bad_images and not skipped,
    }
    lines = [f"{args.path}: {len(ds)} samples, {len(images)} images decoded, {len(bad_images)} unreadable"]
    lines += [f"  {b['image']}: {b['reason']}" for b in bad_images[:10]]
    if len(bad_images) > 10:
        lines.append(f"  … (+{len(bad_images) - 10} more; use --json for all)")
    lines.append(format_skips(skipped))
    if args.strict and bad_images:
        first = bad_images[0]
        raise CommandError(f"{first['image']}: {first['reason']} ({len(bad_images)} unreadable image(s))")
    emit(args, payload, "\n".join(lines))
    return 0
