r"""Plain ``{"image", "prefix", "suffix"}`` JSONL for VLM fine-tuning (the seed's Roboflow shape).

Examples:
    >>> import pathlib, tempfile
    >>> from datakit import Dataset, Sample
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> ds = Dataset.from_samples([Sample("train/a.jpg", label="23", split="train")], d)
    >>> r = write(ds, d / "vlm", images="none", prompt="Number?")
    >>> (r.out / "train" / "annotations.jsonl").read_text()
    '{"image":"a.jpg","prefix":"Number?","suffix":"23"}\n'
    >>> own = Dataset.from_samples([Sample("train/a.jpg", label="23", split="train", prompt="Kit number?")], d)
    >>> r = write(own, d / "vlm2", images="none")  # no prompt given: each row keeps its own
    >>> (r.out / "train" / "annotations.jsonl").read_text(), r.dropped
    ('{"image":"a.jpg","prefix":"Kit number?","suffix":"23"}\n', {})

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
    lost,
    place_image,
    sample_where,
    split_relpath,
)
from datakit.formats.jsonl import ANNOTATIONS, SEED_PROMPT
from datakit.paths import relpath_from

if TYPE_CHECKING:
    from datakit.dataset import Dataset


def write(
    ds: Dataset,
    out: str | Path,
    *,
    prompt: str | None = None,
    images: str = "copy",
    strict: bool = True,
) -> WriteResult:
    """Write ``<split>/annotations.jsonl`` of plain rows, images beside, atomically.

    Each labeled sample becomes ``{"image", "prefix", "suffix"}`` with ``suffix`` = its label and
    ``prefix`` = its own prompt, or ``prompt`` when given (a sample without a prompt gets
    ``prompt``, else the jersey OCR prompt :data:`~datakit.formats.jsonl.SEED_PROMPT`).
    Unlabeled samples are skipped and reported. ``dropped`` lists only what the rows really lose:
    detections, metadata, tags, source, and the prompts that ``prompt`` replaced by another text.

    Args:
        ds: The dataset.
        out: Output folder (replaced once complete).
        prompt: The prompt written as every row's ``prefix`` (``None``: each sample's own).
        images: ``"copy"``, ``"link"`` (hard links), ``"symlink"`` or ``"none"``.
        strict: Raise on a missing image; otherwise skip that sample and report it.

    Returns:
        What was written, skipped and dropped.

    """
    ds, log, result = begin_write(ds, out, images, strict)
    out = result.out
    c = ds.columns
    labels, prompts, splits = c.labels.tolist(), c.prompts.tolist(), c.splits.tolist()
    labeled = [i for i, v in enumerate(labels) if v is not None]
    kept = ds.take(labeled) if len(labeled) != len(ds) else ds  # skipped samples lose nothing more
    result.dropped = common_losses(
        kept,
        labels=True,
        detections=False,
        metadata=False,
        tags=False,
        source=False,
        prompt=True,
        attributes=False,
    )
    if prompt is not None:
        replaced = sum(1 for i in labeled if prompts[i] not in (None, prompt))
        lost(result.dropped, "prompt (replaced by --prompt)", replaced)
    skips = SkipLog(strict=False)
    files: dict[str, list[bytes]] = {}
    placed: dict[str, str] = {}
    for i in range(len(ds)):
        label = labels[i]
        if label is None:
            skips.add(
                c.origins[i] or c.images[i],
                sample_where(ds, i),
                "no label: a plain row needs a suffix",
                c.images[i],
            )
            continue
        split = splits[i]
        folder = split or ""
        src = c.images[i]
        inner = split_relpath(src, split)
        dst = f"{folder}/{inner}" if folder else inner
        placed.setdefault(dst, src)
        p = prompt if prompt is not None else (prompts[i] or SEED_PROMPT)
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
