r"""Native JSONL: a superset of Roboflow's multimodal JSONL, in the jersey OCR project's folder layout.

Layout: ``<root>/<split>/annotations.jsonl`` with images beside (or anywhere under the root);
every ``*.jsonl`` under the root is read, so ``train/synthetic/annotations.jsonl`` joins
``train``. A single ``.jsonl`` file can be read too (its folder is the root).

A row is ``{"image": "x.jpg", "prefix": "<prompt>", "suffix": "23"}`` (Roboflow: the suffix is
the label) or a native row with any of::

    {"image": "x.jpg", "label": "23", "source": "synthetic", "tags": ["review"], "id": "...",
     "metadata": {...}, "width": 96, "height": 96, "split": "train",
     "detections": [{"label": "ball", "bbox": [x1, y1, x2, y2], "score": 0.9,
                     "attributes": {...}}]}

Boxes are absolute-pixel xyxy. Image paths are relative to the JSONL file's folder and must stay
inside the root. Default ``source`` is ``synthetic`` / ``pseudo`` for files under a folder of that
name, else ``real``; a row's own ``source`` wins. Unknown top-level keys are kept in ``metadata``.
The optional ``datakit.json`` manifest at the root declares ``classes`` and keeps the dataset's
``info`` dict. A ``null`` label is no label; a label's surrounding whitespace is stripped (noted);
a UTF-8 byte order mark is skipped; an annotation file without rows is reported.

The package's modules meet through small public surfaces:

- :mod:`~datakit.formats.jsonl.rows`: the one row check (:func:`~.rows.check_row`) and the rule
  table the column-wise paths take values by (:data:`~.rows.AS_IS`);
- :mod:`~datakit.formats.jsonl.chunks`: lines parsed by orjson into column blocks (:class:`~.chunks.Chunk`);
- :mod:`~datakit.formats.jsonl.arrow`: large files parsed by pyarrow and checked column-wise;
- :mod:`~datakit.formats.jsonl.reader`: :func:`read`, file discovery and the manifest;
- :mod:`~datakit.formats.jsonl.writer`: :func:`write` (in place: one atomic transaction).

Examples:
    >>> import tempfile, pathlib, json
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "train").mkdir()
    >>> _ = (root / "train" / "annotations.jsonl").write_text(
    ...     json.dumps({"image": "a.jpg", "prefix": "What number?", "suffix": "23"}) + "\n"
    ...     + json.dumps({"image": "b.jpg", "prefix": "What number?", "suffix": ""}) + "\n")
    >>> ds = read(root)
    >>> ds[0].image, ds[0].label, ds[0].split
    ('train/a.jpg', '23', 'train')
    >>> [(s.line, s.reason) for s in ds.skipped]
    [(2, 'empty label')]

"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from datakit.formats.jsonl.reader import EMPTY_FILE, MANIFEST, discover, read, read_manifest
from datakit.formats.jsonl.writer import ANNOTATIONS, SEED_PROMPT, native_row, plain_rows, write

if TYPE_CHECKING:
    from datakit.dataset import Dataset

__all__ = [
    "ANNOTATIONS",
    "EMPTY_FILE",
    "FORMAT",
    "MANIFEST",
    "SEED_PROMPT",
    "discover",
    "export",
    "native_row",
    "plain_rows",
    "read",
    "read_manifest",
    "write",
]

# ----------------------------------------------------------------- registration (datakit.formats.registry)
def export(
    ds: Dataset,
    out: str | Path,
    *,
    images: str = "copy",
    strict: bool = True,
    plain: bool = False,
    prompt: str | None = None,
    shards: int | None = None,
) -> WriteResult:
    """Write ``ds`` as native JSONL (or plain VLM rows) and say what was written: ``convert --to jsonl``.

    Args:
        ds: The dataset.
        out: Output folder.
        images: ``"copy"``, ``"link"``, ``"symlink"`` (written as hard links) or ``"none"``.
        strict: Raise on a missing image; otherwise skip that sample and report it.
        plain: Write plain ``{"image", "prefix", "suffix"}`` rows (:func:`datakit.formats._plain.write`).
        prompt: With ``plain``: every row's ``prefix`` (default: each row keeps its own prompt;
            rows without one get the jersey OCR prompt, :data:`SEED_PROMPT`).
        shards: Cut every annotation file into this many shard files (see :func:`write`).

    Raises:
        ValueError: ``prompt`` without ``plain``.

    """
    from datakit.formats import _plain
    from datakit.formats._common import begin_write

    if prompt is not None and not plain:
        raise ValueError("--prompt needs --plain")
    if shards is not None and plain:
        raise ValueError("--shards applies to native JSONL, not --plain")
    if plain:
        return _plain.write(ds, out, prompt=prompt, images=images, strict=strict)
    ds, log, result = begin_write(ds, out, images, strict)
    result.out = write(ds, out, images="link" if images in ("link", "symlink") else images, shards=shards)
    result.samples = len(ds)
    result.skipped = log.items
    return result


def _detect_manifest(path: Path) -> bool:
    """A ``datakit.json`` manifest at the top of the folder."""
    return (path / MANIFEST).is_file()


def _detect_files(path: Path) -> bool:
    """Any ``.jsonl`` file under the folder (where :func:`read` looks)."""
    for _, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        if any(f.endswith(".jsonl") and not f.startswith((".", "_")) for f in filenames):
            return True
    return False


from datakit.formats._common import WriteResult  # noqa: E402
from datakit.formats.registry import Detect, Format, Option  # noqa: E402

FORMAT = Format(
    name="jsonl",
    summary="native JSONL (a superset of Roboflow's multimodal JSONL): <split>/annotations.jsonl",
    read=read,
    write=export,
    detect=(
        Detect(100, _detect_manifest, "datakit.json"),
        Detect(50, _detect_files, ".jsonl"),
    ),
    suffixes=(".jsonl",),
    write_options=(
        Option(
            "plain", 'write plain {"image","prefix","suffix"} rows for VLM fine-tuning', type=bool, default=False
        ),
        Option(
            "prompt",
            "with --plain: the prefix of every row (default: each row's own prompt, else the jersey OCR prompt)",
            requires="plain",
        ),
        Option("shards", "cut every annotation file into N shard files (<name>-00000-of-0000N.jsonl)", type=int),
    ),
    cannot_hold=(),
)
