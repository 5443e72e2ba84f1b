"""``datakit validate PATH``: read every row and decode every image; report what is wrong.

Besides rows the reader refused, it reports images that cannot be decoded or are refused (a
symlink out of the root, a pipe or device, more pixels than ``DATAKIT_MAX_PIXELS``), and rows
whose declared ``width``/``height`` disagree with the image header (EXIF orientation applied),
each named by its annotation file and sample id.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from datakit.commands._common import add_common, add_scheduler, emit, format_skips, parse_classes


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``validate`` command."""
    p = sub.add_parser("validate", help="check every row and decode every image")
    p.add_argument("path", help="dataset folder or annotation file")
    p.add_argument("--format", help="input format (detected when absent)")
    p.add_argument("--classes", help="declared classes: comma-separated or a file, one per line")
    p.add_argument("--strict", action="store_true", help="exit non-zero on any skipped row or bad image")
    p.add_argument("--workers", type=int, default=4, help="threads decoding images (default 4)")
    add_scheduler(p)
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load (strictly if asked), decode every image, print the findings."""
    from tqdm import tqdm

    import datakit
    from datakit.cli import CommandError
    options: dict[str, object] = {"strict": args.strict}
    classes = parse_classes(args.classes)
    if classes is not None:
        options["classes"] = classes
    ds = datakit.load(args.path, format=args.format, **options)
    cols = ds.columns
    images = list(dict.fromkeys(cols.images))
    bad_images = []
    sizes: dict[str, tuple[int, int]] = {}
    for rel, (why, size) in zip(
        images, tqdm(_checked(ds.root, images, args), total=len(images), desc="decoding", unit="img", disable=None),
        strict=True,
    ):
        if why is not None:
            bad_images.append({"image": rel, "reason": why})
        elif size is not None:
            sizes[rel] = size
    mismatches = _size_mismatches(ds, sizes)
    skipped = [s.to_dict() for s in ds.skipped]
    payload = {
        "path": str(args.path),
        "samples": len(ds),
        "images": len(images),
        "bad_images": bad_images,
        "size_mismatches": mismatches,
        "skipped": skipped,
        "ok": not bad_images and not skipped and not mismatches,
    }
    lines = [f"{args.path}: {len(ds)} samples, {len(images)} images decoded, {len(bad_images)} unreadable"]
    lines += [f"  {b['image']}: {b['reason']}" for b in bad_images[:10]]
    if len(bad_images) > 10:
        lines.append(f"  … (+{len(bad_images) - 10} more; use --json for all)")
    lines.append(f"declared size differs from the image: {len(mismatches)}")
    lines += [f"  {_where(m)}: {m['reason']}" for m in mismatches[:10]]
    if len(mismatches) > 10:
        lines.append(f"  … (+{len(mismatches) - 10} more; use --json for all)")
    lines.append(format_skips(skipped))
    if args.strict and bad_images:
        first = bad_images[0]
        raise CommandError(f"{first['image']}: {first['reason']} ({len(bad_images)} unreadable image(s))")
    if args.strict and mismatches:
        first = mismatches[0]
        raise CommandError(f"{_where(first)}: {first['reason']} ({len(mismatches)} size mismatch(es))")
    emit(args, payload, "\n".join(lines))
    return 0


def _checked(root: Path, images: list[str], args: argparse.Namespace) -> Any:
    """``_check_image`` of every image, in order: threads here, or batches on a Dask cluster."""
    from datakit.parallel import executor, ordered_map, plan

    if plan(args.workers, args.scheduler).kind != "dask":
        with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
            yield from pool.map(lambda rel: _check_image(root, rel), images)
        return
    batches = [(root, images[a : a + 256]) for a in range(0, len(images), 256)]  # ~1 ms per image: tasks of >= 100 ms
    with executor(scheduler=args.scheduler) as ex:
        for part in ordered_map(ex, _check_batch, batches):
            yield from part


def _check_batch(arg: tuple[Path, list[str]]) -> list[tuple[str | None, tuple[int, int] | None]]:
    root, rels = arg
    return [_check_image(root, rel) for rel in rels]


def _check_image(root: Path, rel: str) -> tuple[str | None, tuple[int, int] | None]:
    """Why ``rel`` is unreadable (else ``None``) and its displayed size from the header."""
    from datakit.images import image_size, verify_image

    why = verify_image(rel, root=root)
    if why is not None:
        return why, None
    try:
        return None, image_size(rel, root=root)
    except (FileNotFoundError, ValueError) as e:
        return str(e).split(": ", 1)[-1], None


def _size_mismatches(ds: Any, sizes: dict[str, tuple[int, int]]) -> list[dict[str, Any]]:
    """Rows whose declared width/height differ from the header (declared ``-1``: not declared)."""
    cols = ds.columns
    widths, heights = cols.widths, cols.heights
    out: list[dict[str, Any]] = []
    for i in np.flatnonzero((widths >= 0) | (heights >= 0)).tolist():
        rel = cols.images[i]
        size = sizes.get(rel)
        if size is None:
            continue
        declared = (int(widths[i]), int(heights[i]))
        if (declared[0] >= 0 and declared[0] != size[0]) or (declared[1] >= 0 and declared[1] != size[1]):
            out.append({
                "file": cols.origins[i] or rel,
                "id": cols.ids[i],
                "image": rel,
                "declared": list(declared),
                "header": list(size),
                "reason": f"declared {declared[0]}x{declared[1]}, image header says {size[0]}x{size[1]}"
                + (" (EXIF orientation applied)" if declared == size[::-1] else ""),
            })  # fmt: skip
    return out


def _where(m: dict[str, Any]) -> str:
    return f"{m['file']}: id {m['id']}"
