r"""Reading a native JSONL dataset: find its files, parse each (orjson or pyarrow), build the Dataset.

Examples:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "train").mkdir()
    >>> _ = (root / "train" / "annotations.jsonl").write_bytes(b'\xef\xbb\xbf{"image": "a.jpg", "suffix": "7"}\n')
    >>> _ = (root / "valid").mkdir(), (root / "valid" / "annotations.jsonl").write_bytes(b"")
    >>> ds = read(root)
    >>> ds.images, [(s.file, s.reason) for s in ds.skipped]  # a byte order mark is skipped
    (['train/a.jpg'], [('valid/annotations.jsonl', 'the annotation file has no rows')])

"""

from __future__ import annotations

import contextlib
import mmap
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from datakit.builder import DatasetBuilder, paused_gc
from datakit.errors import FormatError, SkipLog
from datakit.formats.jsonl.chunks import Chunk, parse_range
from datakit.formats.jsonl.rows import FileContext

if TYPE_CHECKING:
    from collections.abc import Iterator

    from datakit.dataset import Dataset

MANIFEST = "datakit.json"
"""The optional manifest at a dataset root: ``classes`` and the dataset's ``info`` dict."""
EMPTY_FILE = "the annotation file has no rows"
"""The skip reason recorded for an annotation file without a single row (0 bytes, or blank lines)."""
PARALLEL_MIN_BYTES = 32 * 2**20
"""Files this large are parsed by orjson in parallel processes (when pyarrow does not take them)."""
ARROW_MIN_BYTES = 16 * 2**20
"""Files this large are parsed by pyarrow (:mod:`datakit.formats.jsonl.arrow`)."""


def discover(path: str | Path) -> tuple[Path, list[Path]]:
    """Return ``(root, jsonl_files)`` for a dataset folder or a single JSONL file.

    Hidden files and folders, and names starting with ``_``, are not annotation files. Files are
    ordered root first, then ``train``, ``valid``, ``test``, then other folders.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FormatError: A folder without any ``.jsonl`` file.

    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset not found: {path}")
    if path.is_file():
        return path.parent, [path]
    files = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        for name in sorted(filenames):
            if name.endswith(".jsonl") and not name.startswith((".", "_")):
                files.append(Path(dirpath) / name)
    if not files:
        raise FormatError(path, None, "no .jsonl annotation file found under this folder")
    order = {"train": 0, "valid": 1, "val": 1, "validation": 1, "test": 2}

    def key(p: Path) -> tuple[int, str]:
        rel = p.relative_to(path).as_posix()
        return (order.get(rel.split("/", 1)[0], 3) if "/" in rel else -1, rel)

    return path, sorted(files, key=key)


def read_manifest(root: Path) -> dict[str, Any]:
    """The root's ``datakit.json`` as a dict (``{}`` when there is none).

    Raises:
        FormatError: Not JSON, not an object, or ``classes`` not a list of strings.

    """
    p = root / MANIFEST
    if not p.is_file():
        return {}
    try:
        data = orjson.loads(p.read_bytes())
    except orjson.JSONDecodeError as e:
        raise FormatError(p, None, f"not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise FormatError(p, None, f"expected a JSON object, got {type(data).__name__}")
    classes = data.get("classes")
    if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise FormatError(p, "classes", "expected a list of class-name strings")
    return data


def byte_ranges(path: Path, parts: int) -> list[tuple[int, int | None]]:
    """Split ``path`` into ``parts`` byte ranges that start at line beginnings."""
    size = path.stat().st_size
    cuts = [0]
    with open(path, "rb") as f:
        for k in range(1, parts):
            f.seek(max(size * k // parts, cuts[-1]))
            f.readline()
            pos = f.tell()
            if pos >= size:
                break
            cuts.append(pos)
    return [(a, b) for a, b in zip(cuts, [*cuts[1:], None], strict=True)]


def _mapped(f: BinaryIO) -> mmap.mmap:
    """The file's bytes mapped read-only.

    Pages are not loaded up front (``MAP_POPULATE`` would make the whole file resident at once);
    the pyarrow path reads the file piece by piece and gives each piece's pages back when done.
    """
    return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def parse_file(path: Path, ctx: FileContext, workers: int) -> Iterator[Chunk]:
    """Parse one file: with pyarrow when it is large, else (or when pyarrow refuses it) with orjson.

    The orjson path runs in parallel processes when the file is large and that is safe. Chunks
    come in file order; the first is parsed by this process while the workers parse the others,
    and is handed over (to be added to the columns) before waiting for them.
    """
    import multiprocessing
    import threading

    size = path.stat().st_size
    if size >= ARROW_MIN_BYTES:
        from datakit.formats.jsonl import arrow

        with open(path, "rb") as f:
            data = _mapped(f)
            try:
                chunks = arrow.parse(data, ctx, threads=workers > 1)
                if chunks is not None:
                    yield from chunks
                    return
            finally:
                with contextlib.suppress(BufferError):  # a view still alive: unmapped when it goes
                    data.close()
    parts = min(workers, max(1, size // (PARALLEL_MIN_BYTES // 2)))
    ranges = byte_ranges(path, parts) if parts >= 2 and size >= PARALLEL_MIN_BYTES else []
    if (
        len(ranges) < 2
        or threading.active_count() > 1  # forking a threaded process is not safe
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        yield parse_range(path, 0, None, ctx)
        return
    mp = multiprocessing.get_context("fork")
    with mp.Pool(len(ranges) - 1) as pool:
        rest = pool.starmap_async(parse_range, [(path, a, b, ctx) for a, b in ranges[1:]])
        yield parse_range(path, ranges[0][0], ranges[0][1], ctx)
        yield from rest.get()


def _read_file(
    path: Path,
    root: Path,
    b: DatasetBuilder,
    log: SkipLog,
    class_set: frozenset[str] | None,
    workers: int,
) -> None:
    ctx = FileContext.of(path, root, class_set)
    first_line = 0
    rows = 0
    for chunk in parse_file(path, ctx, workers):
        b.extend_rows(
            chunk.images, chunk.labels, chunk.prompts, chunk.natives,
            split=ctx.folder_split, source=ctx.default_source, origin=ctx.rel_file,
            sources=chunk.sources, tags=chunk.tags, metadata=chunk.metadata, json_exact=True,
        )  # fmt: skip
        rows += len(chunk.images) + len(chunk.skips)
        for sk in chunk.skips:
            line = sk.line + first_line if isinstance(sk.line, int) else sk.line
            log.add(sk.file, line, sk.reason, sk.image)
        first_line += chunk.lines
    if not rows:  # 0 bytes or blank lines only: a file emptied by mistake, not an empty dataset
        log.add(ctx.rel_file, None, EMPTY_FILE)


def read(
    path: str | Path,
    *,
    classes: list[str] | None = None,
    strict: bool = False,
    workers: int | None = None,
) -> Dataset:
    """Read a native JSONL dataset (a folder in the seed's layout, or one ``.jsonl`` file).

    Bad rows are skipped and recorded in ``dataset.skipped`` as (file, line, reason): a line that
    is not JSON, a row without an image, an absolute or escaping image path, an empty label, a
    label outside the declared classes (``classes`` or the root's ``datakit.json``), malformed
    detections or fields. An annotation file without a single row is recorded too (line
    ``None``), and so is a label read with its surrounding whitespace stripped (the row is kept).
    An in-place save that a crash interrupted is finished (or undone) first, and a save running
    in another process is waited for (:func:`datakit.atomic.reading`).

    Args:
        path: Dataset folder or ``.jsonl`` file.
        classes: Declared class list; overrides the manifest's.
        strict: Raise :class:`~datakit.errors.FormatError` on the first bad row instead.
        workers: CPU cores for one large file; default: all. Files of 16 MiB or more are
            parsed in 8 MiB pieces by pyarrow's multi-threaded JSON reader (all on one thread when
            ``workers=1``) and checked column by column, with exactly the results of the
            line-by-line path; a file whose first piece pyarrow refuses (a line that is not
            JSON, say) is parsed with orjson, in ``workers`` processes over byte ranges when it
            is 32 MiB or more.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FormatError: No annotation file, a bad manifest, or (``strict``) any bad row.

    """
    from datakit.atomic import reading

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"dataset not found: {p}")
    with reading(p if p.is_dir() else p.parent):  # never half of an in-place save
        root, files = discover(p)
        manifest = read_manifest(root)
        if classes is None:
            classes = manifest.get("classes")
        class_set = frozenset(classes) if classes is not None else None
        b = DatasetBuilder()
        log = SkipLog(strict=strict)
        n_workers = os.cpu_count() or 1 if workers is None else workers
        with paused_gc():
            for f in files:
                _read_file(f, root, b, log, class_set, n_workers)
            info = manifest.get("info")
            return b.build(root, classes=classes, skipped=log.items, info=info if isinstance(info, dict) else None)
