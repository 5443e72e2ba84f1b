"""Writing a Dataset as native JSONL: one annotation file per split (and source folder), atomically.

Examples:
    >>> import tempfile, pathlib
    >>> from datakit import Dataset, Sample
    >>> ds = Dataset.from_samples([Sample("a.jpg", label="7", split="train"),
    ...                            Sample("b.jpg", label="9", source="pseudo")], ".")
    >>> sorted(_group_rows(ds))  # an unsplit sample stays at the root, whatever its source
    ['annotations.jsonl', 'train/annotations.jsonl']
    >>> native_row(ds, 1, "")
    {'image': 'b.jpg', 'label': '9', 'source': 'pseudo'}

"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from datakit.atomic import Transaction, atomic_dir
from datakit.errors import FormatError
from datakit.formats.jsonl.reader import MANIFEST, discover
from datakit.formats.jsonl.rows import SOURCE_FOLDERS
from datakit.paths import relpath_from

if TYPE_CHECKING:
    from collections.abc import Iterator

    from datakit.dataset import Dataset

ANNOTATIONS = "annotations.jsonl"
"""The name of the annotation file datakit writes in each folder."""
SEED_PROMPT = "What number is on this basketball jersey? Reply with just the number, nothing else."
"""The jersey OCR project's VLM fine-tuning prompt, the default ``prefix`` for plain rows."""


def _target_file(origin: str | None, split: str | None, source: str) -> str:
    """The annotation file a sample is written to, relative to the root.

    A row goes back to the JSONL file it came from when that file's top folder is its split;
    else to ``<split>/annotations.jsonl`` (``<split>/synthetic/...`` or ``<split>/pseudo/...``
    for those sources), and an unsplit sample to the root's ``annotations.jsonl`` (a top folder
    would be read back as a split).
    """
    if origin is not None and origin.endswith(".jsonl"):  # not a COCO/YOLO file it was read from
        top = origin.split("/", 1)[0] if "/" in origin else None
        if top == split:
            return origin
    if not split:
        return ANNOTATIONS
    if source in ("synthetic", "pseudo"):
        return f"{split}/{source}/{ANNOTATIONS}"
    return f"{split}/{ANNOTATIONS}"


def _folder_source(folder: str) -> str:
    """The ``source`` a row of a file in ``folder`` takes when it names none (see the reader)."""
    source = "real"
    for part in folder.split("/") if folder else []:
        source = SOURCE_FOLDERS.get(part, source)
    return source


def native_row(ds: Dataset, i: int, folder: str) -> dict[str, Any]:
    """The native JSONL row of sample ``i``, with its image relative to ``folder``."""
    return next(_native_rows(ds, [i], folder))


def _native_rows(ds: Dataset, rows: list[int], folder: str, *, encoded: bool = False) -> Iterator[dict[str, Any]]:
    """Native rows for sample indices ``rows`` (columns are decoded once per call, not per row).

    ``encoded``: metadata comes as ``orjson.Fragment`` (its JSON text, for :func:`orjson.dumps`).
    """
    cols = ds.columns
    shared = cols.ids is cols.images
    images = cols.images.take(rows).tolist()
    ids = images if shared else cols.ids.take(rows).tolist()
    tags = cols.tags
    if encoded:
        fragment = orjson.Fragment
        meta: list[Any] = [m if m is None or isinstance(m, dict) else fragment(m) for m in cols.metadata.encoded(rows)]
    else:
        meta = list(cols.metadata.take(rows))
    widths, heights = cols.widths, cols.heights
    label_t = [*cols.labels.values, None]
    prompt_t = [*cols.prompts.values, None]
    source_t = [*cols.sources.values, None]
    label_c, prompt_c, source_c = cols.labels.codes, cols.prompts.codes, cols.sources.codes
    idx = np.asarray(rows, dtype=np.int64)
    d = cols.detections
    has_dets = (d.offsets[idx + 1] > d.offsets[idx]).tolist()
    sized = ((widths[idx] > 0) & (heights[idx] > 0)).tolist()
    default_source = _folder_source(folder)
    pre = folder + "/" if folder else ""
    cut = len(pre)
    for k, i in enumerate(rows):
        image = images[k]
        rel = image[cut:] if pre and image.startswith(pre) else relpath_from(image, folder)
        row: dict[str, Any] = {"image": rel}
        label = label_t[label_c[i]]
        prompt = prompt_t[prompt_c[i]]
        if prompt is not None:
            row["prefix"] = prompt
            row["suffix"] = label
        elif label is not None:
            row["label"] = label
        source = source_t[source_c[i]] or "real"
        if source != default_source:
            row["source"] = source
        if not shared and ids[k] != image:
            row["id"] = ids[k]
        if tags[i]:
            row["tags"] = list(tags[i])
        if meta[k]:
            row["metadata"] = meta[k]
        if sized[k]:
            row["width"], row["height"] = int(widths[i]), int(heights[i])
        if has_dets[k]:
            dets = []
            for j in range(int(d.offsets[i]), int(d.offsets[i + 1])):
                det: dict[str, Any] = {"label": d.labels[j], "bbox": d.boxes[j].tolist()}
                score = d.scores[j]
                if not math.isnan(score):
                    det["score"] = float(score)
                if d.attributes[j]:
                    det["attributes"] = d.attributes[j]
                dets.append(det)
            row["detections"] = dets
        yield row


_SHARD_RE = re.compile(r"^(?P<stem>.+)-\d{5}-of-\d{5}\.jsonl$")


def shard_name(target: str, k: int, n: int) -> str:
    """Shard ``k`` of ``n`` of the annotation file ``target``.

    Examples:
        >>> shard_name("train/annotations.jsonl", 2, 4)
        'train/annotations-00002-of-00004.jsonl'
        >>> shard_name("train/annotations-00001-of-00008.jsonl", 0, 2)  # re-sharding renames
        'train/annotations-00000-of-00002.jsonl'

    """
    m = _SHARD_RE.match(target)
    stem = m["stem"] if m else target.removesuffix(".jsonl")
    return f"{stem}-{k:05d}-of-{n:05d}.jsonl"


def _shard(groups: dict[str, np.ndarray], shards: int | None) -> dict[str, np.ndarray]:
    """Each annotation file's rows cut into ``shards`` contiguous files (empty ones left out)."""
    if shards is None:
        return groups
    merged: dict[str, list[np.ndarray]] = {}
    for target, rows in groups.items():  # shards of one file (a re-shard) gather again first
        m = _SHARD_RE.match(target)
        merged.setdefault(f"{m['stem']}.jsonl" if m else target, []).append(rows)
    out: dict[str, np.ndarray] = {}
    for target, parts in merged.items():
        rows = np.sort(np.concatenate(parts))
        step = -(-len(rows) // shards)
        for k in range(shards):
            part = rows[k * step : (k + 1) * step]
            if len(part):
                out[shard_name(target, k, shards)] = part
    return out


def _group_rows(ds: Dataset, shards: int | None = None) -> dict[str, np.ndarray]:
    """Annotation file → the ascending indices of the samples written to it (int64 arrays).

    Vectorised: rows are grouped by their (origin, split, source) codes with one stable sort, and
    the target file is worked out once per distinct triple.
    """
    cols = ds.columns
    origins, splits, sources = cols.origins, cols.splits, cols.sources
    n = len(ds)
    if not n:
        return {}
    key = (origins.codes.astype(np.int64) + 1) * (len(splits.values) + 1)
    key += splits.codes + 1
    key *= len(sources.values) + 1
    key += sources.codes + 1
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(uniq)))[:-1]
    by_target: dict[str, list[np.ndarray]] = {}
    for i0, rows in sorted(zip(first.tolist(), np.split(order, bounds), strict=True)):  # files in row order
        o, sp, so = int(origins.codes[i0]), int(splits.codes[i0]), int(sources.codes[i0])
        target = _target_file(
            origins.values[o] if o >= 0 else None,
            splits.values[sp] if sp >= 0 else None,
            sources.values[so] if so >= 0 else "real",
        )
        by_target.setdefault(target, []).append(rows)
    groups = {t: parts[0] if len(parts) == 1 else np.sort(np.concatenate(parts)) for t, parts in by_target.items()}
    return _shard(groups, shards)


_WRITE_BATCH = 1024
"""Rows serialised between two writes: orjson's ``bytes`` keep a 4 KiB allocation each, so a
batch of 65,536 would hold 256 MiB."""


def _write_rows(ds: Dataset, rows: np.ndarray, folder: str, f: Any) -> None:
    """Write the native rows of samples ``rows`` to ``f``, a batch at a time (memory stays flat)."""
    dumps = orjson.dumps
    option = orjson.OPT_SERIALIZE_NUMPY
    for a in range(0, len(rows), _WRITE_BATCH):
        native = _native_rows(ds, rows[a : a + _WRITE_BATCH].tolist(), folder, encoded=True)
        batch = [dumps(row, option=option) for row in native]
        batch.append(b"")
        f.write(b"\n".join(batch))


def _manifest(ds: Dataset) -> bytes | None:
    manifest: dict[str, Any] = {}
    if ds.classes is not None:  # declared classes, then any label present outside them: a reload keeps every row
        from datakit.formats._common import class_names

        manifest["classes"] = class_names(ds)
    if ds.info:
        manifest["info"] = ds.info
    if not manifest:
        return None
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def _write_annotations(ds: Dataset, out: Path, shards: int | None = None) -> list[str]:
    """Write every annotation file (and the manifest) into a new folder ``out``."""
    written = []
    for target, rows in sorted(_group_rows(ds, shards).items()):
        folder = target.rsplit("/", 1)[0] if "/" in target else ""
        path = out / target
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            _write_rows(ds, rows, folder, f)
            f.flush()
            os.fsync(f.fileno())  # on disk before the folder is swapped in
        written.append(target)
    manifest = _manifest(ds)
    if manifest is not None:
        with open(out / MANIFEST, "wb") as f:
            f.write(manifest)
            f.flush()
            os.fsync(f.fileno())
    return written


def _save_in_place(ds: Dataset, out: Path, shards: int | None = None) -> None:
    """Rewrite the annotation files of ``out`` (``ds``'s own root) in one transaction."""
    with Transaction(out) as tx:  # recovers an interrupted save first
        stale: set[str] = set()
        with contextlib.suppress(FormatError):
            stale = {p.relative_to(out).as_posix() for p in discover(out)[1]}
        written = set()
        for target, rows in sorted(_group_rows(ds, shards).items()):
            folder = target.rsplit("/", 1)[0] if "/" in target else ""
            with tx.open(target) as f:
                _write_rows(ds, rows, folder, f)
            written.add(target)
        manifest = _manifest(ds)
        if manifest is not None:
            tx.write_bytes(MANIFEST, manifest)
        for rel in sorted(stale - written):  # files whose samples are all gone (a re-split, a filter)
            tx.remove(rel)


def _place_image(src: Path, dst: Path, mode: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if mode == "link":
        try:
            os.link(src, dst)
            return
        except OSError:
            pass  # another filesystem: fall back to a copy
    shutil.copy2(src, dst)


def write(ds: Dataset, path: str | Path, *, images: str = "copy", shards: int | None = None) -> Path:
    """Write ``ds`` as a native JSONL dataset under ``path``, atomically.

    Rows go back to the annotation file they came from (``train/synthetic/annotations.jsonl``
    stays there); new samples go to ``<split>/annotations.jsonl`` (``<split>/synthetic/...``
    for synthetic samples), unsplit ones to the root's ``annotations.jsonl``. Rows that had a
    ``prefix`` keep the Roboflow shape (``prefix``/``suffix``). Reading the output back gives
    the same samples (splits, sources and all).

    Args:
        ds: The dataset.
        path: Output folder. When it is the dataset's own root, the annotation files are
            rewritten in place as one transaction (:class:`datakit.atomic.Transaction`: a crash
            at any point leaves the old files or the new ones) and images stay where they are;
            the root then holds exactly ``ds``, so an annotation file none of whose rows are left
            in ``ds`` (say, after ``ds.filter(source="synthetic")`` or a re-split) is removed,
            with its folder when nothing else is left in it. To add samples to a root without
            touching its other files, save them to a new folder and move it in.
        images: For a new folder: ``"copy"`` the images, ``"link"`` (hard links, copying across
            file systems) or ``"none"`` (write annotations only).
        shards: Cut every annotation file into this many files of contiguous rows,
            ``<name>-00000-of-0000N.jsonl`` (readers discover them like any annotation file, so a
            cluster can read, process and write them apart). ``None`` keeps the files as they are
            (a sharded dataset stays sharded); ``1`` joins shards again.

    Returns:
        The output folder.

    Raises:
        FileNotFoundError: An image to copy is missing (the message names it).

    """
    if images not in ("copy", "link", "none"):
        raise ValueError(f"expected images='copy', 'link' or 'none', got {images!r}")
    if shards is not None and not 1 <= shards <= 99_999:
        raise ValueError(f"expected shards in 1..99999, got {shards}")
    if shards == 1:
        shards = None
        ds = _unshard(ds)
    out = Path(path)
    if out.exists() and out.resolve() == ds.root.resolve():
        _save_in_place(ds, out, shards)
        return out
    with atomic_dir(out) as tmp:
        if images != "none":
            from datakit.paths import RootGuard

            guard = RootGuard(ds.root)  # inside the root once symlinks resolve, and a regular file
            for rel in dict.fromkeys(ds.columns.images):
                src = guard.check(rel)
                _place_image(src, tmp / rel, images)
        _write_annotations(ds, tmp, shards)
    return out


def _unshard(ds: Dataset) -> Dataset:
    """``ds`` with rows read from shard files pointed back at the file the shards were cut from."""
    from datakit.columns import Categorical

    origins = ds.columns.origins
    values = [f"{m['stem']}.jsonl" if (m := _SHARD_RE.match(v)) else v for v in origins.values]
    if values == origins.values:
        return ds
    return ds.replace(origins=Categorical.concat([Categorical(origins.codes, values)]))


def plain_rows(ds: Dataset, prompt: str = SEED_PROMPT) -> Iterator[dict[str, str]]:
    """Roboflow ``{"image", "prefix", "suffix"}`` rows for VLM fine-tuning (labeled samples only).

    Image paths are relative to the dataset root.
    """
    cols = ds.columns
    values, codes, images = cols.labels.values, cols.labels.codes.tolist(), cols.images
    for i, c in enumerate(codes):
        if c >= 0:
            yield {"image": images[i], "prefix": prompt, "suffix": values[c]}
