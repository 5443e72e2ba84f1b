r"""Plain ``{"image", "prefix", "suffix"}`` JSONL for VLM fine-tuning (the seed's Roboflow shape).

Examples:
    >>> import pathlib, tempfile
    >>> from datakit import Dataset, Sample
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> ds = Dataset.from_samples([Sample("train/a.jpg", label="23", split="train")], d)
    >>> r = write(ds, d / "vlm", images="none", prompt="Number?")
    >>> (r.out / "train" / "annotations.jsonl").read_text()
    '{"image":"a.jpg","prefix":"Number?","suffix":"23"}\n'

"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from datakit.atomic import atomic_dir
from datakit.errors import SkipLog
from datakit.formats._common import (
    WriteResult,
    begin_write,
    common_losses,
    place_image,
)
from datakit.formats.coco import split_relpath
from datakit.formats.jsonl import ANNOTATIONS, SEED_PROMPT
from datakit.paths import relpath_from

if TYPE_CHECKING:
    from datakit.dataset import Dataset


def write(
    ds: Dataset,
    out: str | Path,
    *,
    prompt: str | None = SEED_PROMPT,
    images: str = "copy",
    strict: bool = True,
) -> WriteResult:
    """Write ``<split>/annotations.jsonl`` of plain rows, images beside, atomically.

    Each labeled sample becomes ``{"image", "prefix", "suffix"}`` with ``suffix`` = its label and
    ``prefix`` = ``prompt`` (``None`` keeps each sample's own prompt, else the seed's prompt).
    Unlabeled samples are skipped and reported; other fields are listed as dropped.

    Args:
        ds: The dataset.
        out: Output folder (replaced once complete).
        prompt: The prompt written as every row's ``prefix``.
        images: ``"copy"``, ``"link"`` (hard links), ``"symlink"`` or ``"none"``.
        strict: Raise on a missing image; otherwise skip that sample and report it.

    Returns:
        What was written, skipped and dropped.

    """
    ds, log, result = begin_write(ds, out, images, strict)
    out = result.out
    result.dropped = common_losses(
        ds,
        labels=True,
        detections=False,
        metadata=False,
        tags=False,
        source=False,
        prompt=prompt is None,
        attributes=False,
    )
    skips = SkipLog(strict=False)
    files: dict[str, list[bytes]] = {}
    placed: dict[str, str] = {}
    for i in range(len(ds)):
        label = ds._labels[i]
        if label is None:
            skips.add(
                ds._origins[i] or ds._images[i],
                f"sample {ds._ids[i]}",
                "no label: a plain row needs a suffix",
                ds._images[i],
            )
            continue
        split = ds._splits[i]
        folder = split or ""
        src = ds._images[i]
        inner = split_relpath(src, split)
        dst = f"{folder}/{inner}" if folder else inner
        placed.setdefault(dst, src)
        p = prompt if prompt is not None else (ds._prompts[i] or SEED_PROMPT)
        row = {"image": relpath_from(dst, folder), "prefix": p, "suffix": label}
        files.setdefault(f"{folder}/{ANNOTATIONS}" if folder else ANNOTATIONS, []).append(orjson.dumps(row))
        result.samples += 1
    with atomic_dir(out) as tmp:
        for rel, rows in sorted(files.items()):
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(b"\n".join(rows) + b"\n")
        if images != "none":
            for dst, src in placed.items():
                place_image(ds.root / src, tmp / dst, images)
    result.skipped = log.items + skips.items
    return result
