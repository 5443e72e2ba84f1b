"""Hugging Face ``datasets`` folders: parquet shards with image bytes embedded, and a dataset card.

Layout: ``data/<split>-NNNNN-of-MMMMM.parquet`` and ``README.md`` whose YAML header holds
``configs:`` (one data-files pattern per split) and ``dataset_info: features:``, so
``datasets.load_dataset(folder)`` reads it offline and the source images may be deleted.

Columns: ``image`` (``Image``, bytes embedded), ``image_path`` (the original relative path),
``id``, ``label`` (``ClassLabel``; -1 when unlabeled), ``objects`` (``bbox`` in COCO
``[x, y, width, height]`` pixels, ``category`` as ``ClassLabel``, ``score`` (NaN when unknown),
``attributes`` as JSON text), ``width``, ``height``, ``source``, ``prompt``, ``tags`` and
``metadata`` (JSON text). The class lists are the stable ones of
:func:`~datakit.formats._common.class_names`.

Examples:
    >>> import pathlib, tempfile
    >>> from PIL import Image
    >>> from datakit import Dataset, Sample
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (4, 4)).save(d / "a.png")
    >>> ds = Dataset.from_samples([Sample("a.png", label="7", split="train")], d)
    >>> r = write(ds, d / "hf")
    >>> sorted(p.name for p in (r.out / "data").iterdir())
    ['train-00000-of-00001.parquet']
    >>> read(r.out, images_dir=d / "x")[0].label
    '7'

"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from datakit.atomic import atomic_dir
from datakit.boxes import from_xyxy, to_xyxy
from datakit.builder import DatasetBuilder
from datakit.errors import FormatError, PathEscapeError, SkipLog
from datakit.formats._checks import export_boxes
from datakit.formats._common import WriteResult, begin_write, class_names, covering_classes, sample_where
from datakit.paths import safe_relpath

if TYPE_CHECKING:
    from datakit.dataset import Dataset

SHARD_BYTES = 256 * 2**20
"""Image bytes per parquet shard before a new shard starts."""
ROW_GROUP_BYTES = 32 * 2**20
"""Image bytes per parquet row group: what a write holds in memory at once."""

_JSON_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_SPLIT_RE = re.compile(r"^\w+(\.\w+)*$")
_COLUMNS = frozenset(
    ("image", "image_path", "id", "label", "objects", "width", "height", "source", "prompt", "tags", "metadata")
)
"""The columns :func:`write` produces; any others are kept in ``metadata`` on reading."""


def _features(labels: list[str], categories: list[str]) -> Any:
    from datasets import ClassLabel, Features, Image, List, Value

    return Features({
        "image": Image(),
        "image_path": Value("string"),
        "id": Value("string"),
        "label": ClassLabel(names=labels),
        "objects": {
            "bbox": List(List(Value("float64"), length=4)),
            "category": List(ClassLabel(names=categories)),
            "score": List(Value("float64")),
            "attributes": List(Value("string")),
        },
        "width": Value("int32"),
        "height": Value("int32"),
        "source": Value("string"),
        "prompt": Value("string"),
        "tags": List(Value("string")),
        "metadata": Value("string"),
    })  # fmt: skip


def _card(
    name: str, splits: list[str], labels: list[str], categories: list[str], features: Any, counts: dict[str, int]
) -> str:
    import datasets
    import yaml

    header = {
        "configs": [{
            "config_name": "default",
            "data_files": [{"split": s, "path": f"data/{s}-*.parquet"} for s in splits],
        }],
        "dataset_info": datasets.DatasetInfo(features=features)._to_yaml_dict(),
        "tags": ["datakit"],
    }  # fmt: skip
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        f"# {name}",
        "",
        "Written by [datakit](https://pypi.org/project/datakit/). Load it with:",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("{name}")',
        "```",
        "",
        "## Splits",
        "",
        *[f"- `{s}`: {counts[s]} samples" for s in splits],
        "",
        "## Class names",
        "",
        "Sample labels (`label`, a `ClassLabel`; -1 means unlabeled):",
        "",
        *([f"{k}. `{c}`" for k, c in enumerate(labels)] or ["(none)"]),
        "",
        "Object categories (`objects.category`; boxes are COCO `[x, y, width, height]` pixels):",
        "",
        *([f"{k}. `{c}`" for k, c in enumerate(categories)] or ["(none)"]),
        "",
    ]
    return "\n".join(lines)


def write(
    ds: Dataset,
    out: str | Path,
    *,
    images: str = "copy",
    strict: bool = True,
    name: str | None = None,
    max_shard_bytes: int = SHARD_BYTES,
    exact: bool = False,
) -> WriteResult:
    """Write ``ds`` as a Hugging Face ``datasets`` folder with image bytes embedded, atomically.

    Samples without a split go to ``train``. Every datakit field has a column, so nothing is
    dropped; image bytes are read from disk and embedded, so the source images may be deleted.
    Every image is checked before it is embedded (an empty, truncated or unreadable file is
    skipped and counted, an error when ``strict``); sizes come from the image headers and boxes
    are clipped to their images (counted).

    Args:
        ds: The dataset.
        out: Output folder (replaced once complete).
        images: Must be ``"copy"`` (embedding is the point of the format); kept for a uniform API.
        strict: Raise on a missing image; otherwise skip that sample and report it.
        name: Dataset name for the card (default: the folder name).
        max_shard_bytes: Image bytes per parquet shard before a new shard starts.
        exact: Raise on a box overhanging its image, or a declared size its image header
            contradicts, instead of clipping the box (or using the header) and counting it.

    Returns:
        What was written.

    Raises:
        FormatError: A missing image (``strict``) or a split name that is not a word.
        ValueError: ``images`` is not ``"copy"``.

    """
    if images not in ("copy", "link"):
        raise ValueError(f"the Hugging Face format embeds image bytes: expected images='copy', got {images!r}")
    ds, log, result = begin_write(ds, out, images, strict, exact=exact)
    out = result.out
    col = ds.columns
    labels = class_names(ds, detections=False)
    categories = class_names(ds, detections=True)
    features = _features(labels, categories)
    schema = features.arrow_schema
    lab_index = {c: k for k, c in enumerate(labels)}
    cat_index = {c: k for k, c in enumerate(categories)}
    groups: dict[str, list[int]] = {}
    for i, sp in enumerate(col.splits.tolist()):
        sp = sp or "train"
        if not _SPLIT_RE.match(sp):
            raise FormatError(
                col.origins[i] or col.images[i],
                sample_where(ds, i),
                f"split name {sp!r} is not valid for Hugging Face (letters, digits, _)",
            )
        groups.setdefault(sp, []).append(i)
    order = {"train": 0, "valid": 1, "validation": 1, "val": 1, "test": 2}
    splits = sorted(groups, key=lambda s: (order.get(s, 3), s))
    d = col.detections
    boxes, keep_box, fixes = export_boxes(ds, exact=exact)
    result.notes += [f"{n} {reason}" for reason, n in fixes.items()]
    xywh = from_xyxy(boxes, "xywh").tolist()
    dl = d.labels.tolist()
    keep_l = keep_box.tolist()
    scores = d.scores.tolist()
    unlabeled_objects = sum(1 for v in dl if v is None)
    if unlabeled_objects:
        result.dropped["detections without a label"] = unlabeled_objects

    def row(i: int) -> dict[str, Any]:
        lo, hi = int(d.offsets[i]), int(d.offsets[i + 1])
        ks = [k for k in range(lo, hi) if dl[k] is not None and keep_l[k]]
        md = col.metadata[i]
        label = col.labels[i]
        path = ds.root / col.images[i]
        return {
            "image": {"bytes": path.read_bytes(), "path": col.images[i]},
            "image_path": col.images[i],
            "id": col.ids[i],
            "label": -1 if label is None else lab_index[label],
            "objects": {
                "bbox": [xywh[k] for k in ks],
                "category": [cat_index[dl[k]] for k in ks],  # type: ignore[index]
                "score": [scores[k] for k in ks],
                "attributes": [orjson.dumps(d.attributes[k]).decode() if d.attributes[k] else "" for k in ks],
            },
            "width": int(col.widths[i]) if col.widths[i] > 0 else None,
            "height": int(col.heights[i]) if col.heights[i] > 0 else None,
            "source": col.sources[i] or "real",
            "prompt": col.prompts[i],
            "tags": list(col.tags[i]),
            "metadata": orjson.dumps(md, option=_JSON_OPTS).decode() if md else None,
        }

    with atomic_dir(out) as tmp:
        (tmp / "data").mkdir()
        for split in splits:
            _write_shards(tmp / "data", split, (row(i) for i in groups[split]), schema, max_shard_bytes)
        card = _card(name or out.name, splits, labels, categories, features, {s: len(groups[s]) for s in splits})
        (tmp / "README.md").write_text(card, encoding="utf-8")
    result.samples = len(ds)
    result.skipped = log.items
    return result


def _write_shards(folder: Path, split: str, rows: Iterator[dict[str, Any]], schema: Any, max_bytes: int) -> None:
    """Stream ``rows`` into ``<split>-KKKKK-of-NNNNN.parquet`` shards of about ``max_bytes`` image bytes.

    Rows go out in row groups of at most :data:`ROW_GROUP_BYTES` image bytes (or 10,000 rows), so
    memory holds one row group, not one shard; a shard exceeds ``max_bytes`` only by one image.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths: list[Path] = []
    writer: Any = None
    batch: list[dict[str, Any]] = []
    batch_bytes = shard_bytes = 0

    def flush() -> None:
        nonlocal batch, batch_bytes
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            batch, batch_bytes = [], 0

    try:
        for r in rows:
            n = len(r["image"]["bytes"])
            if writer is not None and shard_bytes and shard_bytes + n > max_bytes:
                flush()
                writer.close()
                writer = None
            if writer is None:
                paths.append(folder / f".{split}-{len(paths):05d}.parquet")
                writer = pq.ParquetWriter(paths[-1], schema)
                shard_bytes = 0
            batch.append(r)
            batch_bytes += n
            shard_bytes += n
            if batch_bytes >= ROW_GROUP_BYTES or len(batch) >= 10_000:
                flush()
        if writer is not None:
            flush()
    finally:
        if writer is not None:
            writer.close()
    for k, path in enumerate(paths):  # the shard count is known now
        path.rename(folder / f"{split}-{k:05d}-of-{len(paths):05d}.parquet")


def _class_names(feature: Any) -> list[str]:
    from datasets import ClassLabel

    while not isinstance(feature, ClassLabel):
        inner = getattr(feature, "feature", None)
        if inner is None:
            return []
        feature = inner
    return list(feature.names)


def _data_files(root: Path) -> list[tuple[str, Path]]:
    """``(split, parquet file)`` pairs from the card's ``configs:`` or the ``data/`` file names."""
    import yaml

    found: list[tuple[str, Path]] = []
    card = root / "README.md"
    if card.is_file():
        text = card.read_text(encoding="utf-8")
        if text.startswith("---"):
            try:
                header = yaml.safe_load(text.split("---", 2)[1]) or {}
            except yaml.YAMLError as e:
                raise FormatError(card, None, f"dataset card header is not valid YAML ({e})") from None
            for cfg in header.get("configs") or []:
                files = cfg.get("data_files") if isinstance(cfg, dict) else None
                for entry in files or []:
                    if isinstance(entry, dict):
                        pats = entry.get("path")
                        for pat in pats if isinstance(pats, list) else [pats]:
                            for p in sorted(root.glob(str(pat))):
                                found.append((str(entry.get("split", "train")), p))
                break  # the first config (the default)
    if not found:
        for p in sorted(root.rglob("*.parquet")):
            found.append((p.name.split("-", 1)[0], p))
    if not found:
        raise FormatError(root, None, "no parquet shards found (expected data/<split>-*.parquet)")
    return found


def read(
    path: str | Path,
    *,
    images_dir: str | Path | None = None,
    classes: list[str] | None = None,
    strict: bool = False,
) -> Dataset:
    """Read a Hugging Face ``datasets`` folder of parquet shards; embedded images are extracted.

    Image bytes are written once to ``images_dir`` (default ``<path>/_images``) under their
    original relative path, which becomes the dataset root. Columns other than those datakit
    writes are kept in ``metadata``; a ``label`` or ``objects.category`` column must be a
    ``ClassLabel`` (or strings).

    Args:
        path: The folder (``README.md`` + ``data/*.parquet``).
        images_dir: Where to extract the images (the new dataset's root).
        classes: Declared classes (replaces the ``ClassLabel`` names for ``dataset.classes``).
        strict: Raise :class:`~datakit.errors.FormatError` on the first bad row instead.

    Returns:
        The dataset, rooted at ``images_dir``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FormatError: No shards, or (``strict``) a row without image bytes or with an escaping path.

    """
    import pyarrow.parquet as pq
    from datasets import Features

    from datakit.sample import SOURCES

    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"dataset not found: {root}")
    out_root = Path(images_dir) if images_dir is not None else root / "_images"
    log = SkipLog(strict=strict)
    b = DatasetBuilder()
    label_names: list[str] = []
    category_names: list[str] = []
    for split, file in _data_files(root):
        rel_file = file.relative_to(root).as_posix()
        try:
            pf = pq.ParquetFile(file)
        except Exception as e:  # pyarrow raises several error types for a broken file
            raise FormatError(file, None, f"not a readable parquet file ({e})") from None
        schema = pf.schema_arrow
        feats = Features.from_arrow_schema(schema)
        lab_names = _class_names(feats["label"]) if "label" in feats else []
        label_names = label_names or lab_names
        cat_names: list[str] = []
        if "objects" in feats and isinstance(feats["objects"], dict) and "category" in feats["objects"]:
            cat_names = _class_names(feats["objects"]["category"])
        category_names = category_names or cat_names
        for batch in pf.iter_batches(batch_size=512):
            for k, r in enumerate(batch.to_pylist()):
                where = f"row {k} of {rel_file}"
                img = r.get("image") or {}
                data = img.get("bytes") if isinstance(img, dict) else None
                rel_name = r.get("image_path") or (img.get("path") if isinstance(img, dict) else None)
                if not data:
                    log.add(rel_file, where, "row has no embedded image bytes")
                    continue
                if not rel_name:
                    rel_name = f"{split}/{r.get('id') or k}.png"
                try:
                    rel = safe_relpath(str(rel_name))
                except PathEscapeError as e:
                    log.add(rel_file, where, str(e), str(rel_name))
                    continue
                dst = out_root / rel
                if not (dst.is_file() and dst.stat().st_size == len(data)):
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    dst.write_bytes(data)
                lab = r.get("label")
                label = (
                    lab
                    if isinstance(lab, str)
                    else (lab_names[lab] if isinstance(lab, int) and 0 <= lab < len(lab_names) else None)
                )
                dets = []
                objs = r.get("objects") or {}
                cats = objs.get("category") or []
                bxs = objs.get("bbox") or []
                scs = objs.get("score") or [None] * len(bxs)
                ats = objs.get("attributes") or [None] * len(bxs)
                if len(bxs):
                    xyxy = to_xyxy(np.asarray(bxs, dtype=np.float64), "xywh").tolist()
                    for c, box, s, a in zip(cats, xyxy, scs, ats, strict=False):
                        name = c if isinstance(c, str) else (cat_names[c] if 0 <= c < len(cat_names) else str(c))
                        sc = None if s is None or math.isnan(s) else float(s)
                        dets.append((name, tuple(box), sc, orjson.loads(a) if a else None))
                md_raw = r.get("metadata")
                md = orjson.loads(md_raw) if isinstance(md_raw, str) and md_raw else None
                extra = {kk: v for kk, v in r.items() if kk not in _COLUMNS}
                if extra:
                    md = {**extra, **(md or {})}
                src = r.get("source") if r.get("source") in SOURCES else "real"
                b.add(
                    rel,
                    label=label,
                    split=split,
                    source=src,
                    tags=tuple(r.get("tags") or ()),
                    metadata=md,
                    id=r.get("id"),
                    prompt=r.get("prompt"),
                    width=r.get("width"),
                    height=r.get("height"),
                    detections=dets or None,
                )
    ds = b.build(out_root, classes=list(classes) if classes is not None else None, skipped=log.items)
    if classes is not None:
        return ds
    # The class list covers both kinds: sample labels (ClassLabel names first), then object categories.
    c = ds.columns
    present = [v for v in (*c.labels.counts(), *c.detections.labels.counts()) if v is not None]
    declared = list(dict.fromkeys([*label_names, *category_names]))
    return ds.replace(classes=covering_classes(declared or None, present))


# ----------------------------------------------------------------- registration (datakit.formats.registry)
def _detect(path: Path) -> bool:
    """A dataset card ``README.md`` with ``configs:``, or parquet shards (top or ``data/``)."""
    card = path / "README.md"
    if card.is_file() and "configs:" in card.read_text(encoding="utf-8", errors="replace"):
        return True
    return any(path.glob("*.parquet")) or any(path.glob("data/*.parquet"))


from datakit.formats._checks import EXACT  # noqa: E402
from datakit.formats.registry import Detect, Format  # noqa: E402

FORMAT = Format(
    name="hf",
    summary="Hugging Face datasets: data/<split>-*.parquet with embedded images and a README.md card",
    read=read,
    write=write,
    detect=(Detect(60, _detect, "parquet shards or a README.md card with configs:"),),
    suffixes=(".parquet",),
    aliases=("huggingface",),
    write_options=(EXACT,),
    cannot_hold=(),
)
