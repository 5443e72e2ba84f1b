r"""Native JSONL: a superset of Roboflow's multimodal JSONL, in the seed's folder layout.

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
``info`` dict.

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

import contextlib
import math
import mmap
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import orjson

from datakit.atomic import atomic_dir, atomic_write, atomic_write_bytes
from datakit.builder import _NO_TAGS, DatasetBuilder, NativeRow, paused_gc
from datakit.columns import Categorical
from datakit.errors import FormatError, PathEscapeError, Skip, SkipLog
from datakit.paths import relpath_from, safe_relpath
from datakit.sample import SOURCES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from datakit.dataset import Dataset

MANIFEST = "datakit.json"
ANNOTATIONS = "annotations.jsonl"
SEED_PROMPT = "What number is on this basketball jersey? Reply with just the number, nothing else."
"""The seed's VLM fine-tuning prompt, the default ``prefix`` for plain rows."""

_KNOWN = frozenset(
    {"image", "prefix", "suffix", "label", "detections", "source", "metadata", "tags", "id",
     "width", "height", "split"}
)  # fmt: skip
_PLAIN = frozenset({"image", "prefix", "suffix", "label"})
_SOURCE_FOLDERS = {"synthetic": "synthetic", "pseudo": "pseudo"}


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


def _read_manifest(root: Path) -> dict[str, Any]:
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


def _as_label(value: Any) -> tuple[str | None, str | None]:
    """``(label, error)`` from a JSON value; ints become strings (``23`` → ``"23"``)."""
    if value is None:
        return None, None
    if isinstance(value, str):
        if not value.strip():
            return None, "empty label"
        return value, None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value), None
    return None, f"expected label to be a string, got {type(value).__name__} {value!r}"


def _parse_detections(
    raw: Any, class_set: frozenset[str] | None
) -> tuple[
    list[tuple[str | None, tuple[float, float, float, float], float | None, dict[str, Any] | None]] | None, str | None
]:
    if not isinstance(raw, list):
        return None, f"expected detections to be a list, got {type(raw).__name__}"
    out = []
    for k, d in enumerate(raw):
        if not isinstance(d, dict):
            return None, f"detection {k}: expected an object, got {type(d).__name__}"
        label, err = _as_label(d.get("label"))
        if err:
            return None, f"detection {k}: {err}"
        if class_set is not None and label is not None and label not in class_set:
            return None, f"detection {k}: label {label!r} is not a declared class"
        box = d.get("bbox")
        if not isinstance(box, list) or len(box) != 4:
            return None, f"detection {k}: expected bbox [x1, y1, x2, y2], got {box!r}"
        try:
            x1, y1, x2, y2 = (float(v) for v in box)
        except (TypeError, ValueError):
            return None, f"detection {k}: expected bbox of 4 numbers, got {box!r}"
        if not (math.isfinite(x1 + y1 + x2 + y2) and x1 <= x2 and y1 <= y2):
            return None, f"detection {k}: expected finite bbox with x1 <= x2 and y1 <= y2, got {box!r}"
        score = d.get("score")
        if score is not None:
            if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
                return None, f"detection {k}: expected score in [0, 1] or null, got {score!r}"
            score = float(score)
        attrs = d.get("attributes")
        if attrs is not None and not isinstance(attrs, dict):
            return None, f"detection {k}: expected attributes to be an object"
        out.append((label, (x1, y1, x2, y2), score, attrs))
    return out, None


def _native_fields(
    row: dict[str, Any],
    pos: int,
    folder_split: str | None,
    default_source: str,
    class_set: frozenset[str] | None,
) -> tuple[NativeRow | None, str | None]:
    """Validate the fields of a native row beyond image/label; ``(native_row, error)``."""
    source = row.get("source", default_source)
    if source not in SOURCES:
        return None, f"expected source in {list(SOURCES)}, got {source!r}"
    tags = row.get("tags") or ()
    if tags and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
        return None, f"expected tags to be a list of strings, got {tags!r}"
    metadata = row.get("metadata")
    if metadata is not None and type(metadata) is not dict:
        return None, f"expected metadata to be an object, got {type(metadata).__name__}"
    prompt = row.get("prefix")
    if prompt is not None and type(prompt) is not str:
        return None, f"expected prefix to be a string, got {prompt!r}"
    sid = row.get("id")
    if sid is not None:
        if isinstance(sid, bool) or not isinstance(sid, str | int):
            return None, f"expected id to be a string or integer, got {sid!r}"
        sid = str(sid)
    width, height = row.get("width"), row.get("height")
    for name, v in (("width", width), ("height", height)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
            return None, f"expected {name} to be a positive integer, got {v!r}"
    split = folder_split if folder_split is not None else row.get("split")
    if split is not None and type(split) is not str:
        return None, f"expected split to be a string, got {split!r}"
    dets = None
    if row.get("detections") is not None:
        dets, err = _parse_detections(row["detections"], class_set)
        if err is not None:
            return None, err
    if not row.keys() <= _KNOWN:  # unknown top-level keys are kept, in metadata
        metadata = {**{k: v for k, v in row.items() if k not in _KNOWN}, **(metadata or {})}
    return (pos, split, source, tags, metadata, sid, width, height, dets), None


@dataclass(frozen=True)
class _FileContext:
    """What every row of one annotation file shares."""

    rel_file: str
    folder: str
    folder_split: str | None
    default_source: str
    class_set: frozenset[str] | None

    @property
    def prefix(self) -> str:
        """What turns an image path without folders into a path relative to the root."""
        return self.folder + "/" if self.folder else ""

    @classmethod
    def of(cls, path: Path, root: Path, class_set: frozenset[str] | None) -> _FileContext:
        folder = path.parent.relative_to(root).as_posix()
        folder = "" if folder == "." else folder
        parts = folder.split("/") if folder else []
        source = "real"
        for p in parts:
            source = _SOURCE_FOLDERS.get(p, source)
        return cls(path.relative_to(root).as_posix(), folder, parts[0] if parts else None, source, class_set)


@dataclass
class _Chunk:
    """Rows parsed from one byte range of a file (line numbers relative to the range)."""

    images: list[str]
    labels: list[str | None] | Categorical
    prompts: list[str | None] | Categorical
    natives: list[NativeRow]
    skips: list[Skip]
    lines: int
    # Columns for every row (the Arrow path reads them column-wise); else defaults and natives.
    sources: Categorical | None = None
    tags: list[tuple[str, ...]] | None = None
    metadata: list[dict[str, Any] | None] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Compact form for the trip back from a worker process.

        Pickling a million short strings one by one costs more than parsing them: images travel
        as one NUL-joined string, labels and prompts as int32 codes plus their vocabulary.
        """
        state = dict(self.__dict__)
        state["images"] = "\0".join(self.images)
        # Native rows hold JSON values only (they were parsed from JSON): orjson carries them
        # several times faster than pickle; tuples come back as lists, which the builder takes.
        state["natives"] = orjson.dumps(self.natives)
        for key in ("labels", "prompts"):
            vocab: dict[str | None, int] = {}
            codes = np.fromiter((vocab.setdefault(v, len(vocab)) for v in state[key]), np.int32, len(state[key]))
            state[key] = (codes.tobytes(), list(vocab))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        images = state["images"]
        state["images"] = images.split("\0") if images else []
        state["natives"] = orjson.loads(state["natives"])
        for key in ("labels", "prompts"):
            raw, vocab = state[key]
            state[key] = [vocab[c] for c in np.frombuffer(raw, np.int32).tolist()]
        self.__dict__.update(state)


def _parse_range(path: Path, start: int, end: int | None, ctx: _FileContext) -> _Chunk:
    """Parse the lines in bytes ``[start, end)`` of ``path`` (the whole file when ``end`` is None)."""
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read() if end is None else f.read(end - start)
    return _parse_bytes(data, ctx)


def _parse_bytes(data: bytes, ctx: _FileContext) -> _Chunk:
    """Parse whole lines of JSONL (line numbers count from the first)."""
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    chunk = _parse_lines(lines, ctx)
    chunk.lines = len(lines)
    return chunk


def _plain_name(image: str) -> bool:
    """A bare, non-empty file name: nothing to normalise and nothing that could leave the root."""
    return bool(image) and not any(c in image for c in "/\\:") and image not in (".", "..")


_Row = tuple[str, str | None, str | None, "NativeRow | None"]
"""A valid row: ``(image relative to the root, label, prompt, native fields or None)``."""


def _check_row(row: Any, lineno: int, pos: int, ctx: _FileContext) -> _Row | Skip:
    """Validate one parsed row: its values for the columns, or the reason it is skipped.

    ``pos`` is the position the row takes in its chunk when it is kept (native rows record it).
    """
    rel_file = ctx.rel_file
    if type(row) is not dict:
        return Skip(rel_file, lineno, f"expected a JSON object, got {type(row).__name__}")
    image = row.get("image")
    if type(image) is not str or not image:
        reason = "row has no image" if image in (None, "") else f"expected image to be a path string, got {image!r}"
        return Skip(rel_file, lineno, reason)
    # Fast path for the common plain file name; everything else is normalised and checked.
    if _plain_name(image):
        rel = ctx.prefix + image
    else:
        try:
            rel = safe_relpath(image, ctx.folder)
        except PathEscapeError as e:
            return Skip(rel_file, lineno, str(e), image)
    if "label" in row:
        label, err = _as_label(row["label"])
        if err is None and "suffix" in row and row["suffix"] not in (None, row["label"]):
            s, _ = _as_label(row["suffix"])
            if s != label:
                err = f"label {row['label']!r} and suffix {row['suffix']!r} disagree"
    else:
        label = row.get("suffix")
        if type(label) is str and label and not label.isspace():
            err = None
        else:
            label, err = _as_label(label)
    if err is not None:
        return Skip(rel_file, lineno, err, rel)
    class_set = ctx.class_set
    if class_set is not None and label is not None and label not in class_set:
        return Skip(rel_file, lineno, f"label {label!r} is not a declared class", rel)
    if row.keys() <= _PLAIN and (ctx.folder_split is not None or "split" not in row):
        prompt = row.get("prefix")
        if prompt is not None and type(prompt) is not str:
            return Skip(rel_file, lineno, f"expected prefix to be a string, got {prompt!r}", rel)
        return rel, label, prompt, None
    native, err = _native_fields(row, pos, ctx.folder_split, ctx.default_source, class_set)
    if err is not None:
        return Skip(rel_file, lineno, err, rel)
    return rel, label, row.get("prefix"), native


def _parse_lines(lines: list[bytes], ctx: _FileContext) -> _Chunk:
    """Parse and validate lines: in bulk when every line is JSON, else line by line."""
    loads = orjson.loads
    try:
        rows = [loads(raw) for raw in lines]
    except orjson.JSONDecodeError:  # a bad (or blank) line: the exact line-by-line path
        return _parse_each(lines, ctx)
    chunk = _parse_bulk(rows, ctx)
    return chunk if chunk is not None else _parse_each(lines, ctx)


def _parse_each(lines: list[bytes], ctx: _FileContext) -> _Chunk:
    """The reference path: one line at a time (blank lines are skipped without a record)."""
    skips: list[Skip] = []
    images: list[str] = []
    labels: list[str | None] = []
    prompts: list[str | None] = []
    natives: list[NativeRow] = []
    loads = orjson.loads
    for lineno, raw in enumerate(lines, 1):
        if len(raw) < 8 and not raw.strip():
            continue
        try:
            row = loads(raw)
        except orjson.JSONDecodeError as e:
            skips.append(Skip(ctx.rel_file, lineno, f"not valid JSON ({e})"))
            continue
        r = _check_row(row, lineno, len(images), ctx)
        if isinstance(r, Skip):
            skips.append(r)
            continue
        images.append(r[0])
        labels.append(r[1])
        prompts.append(r[2])
        if r[3] is not None:
            natives.append(r[3])
    return _Chunk(images, labels, prompts, natives, skips, len(lines))


_BULK_KEYS = frozenset({"image", "prefix", "suffix", "metadata"})
_EMPTY: dict[str, Any] = {}


def _parse_bulk(rows: list[Any], ctx: _FileContext) -> _Chunk | None:
    """Validate parsed rows column by column; ``None`` when a label or prompt is unhashable.

    Handles the common shapes (``image``, ``prefix``, ``suffix`` and an optional ``metadata``
    object) with a few list comprehensions instead of a dozen Python operations per row; any row
    whose values need more than a look (a path with a folder, an empty or non-string label, an
    undeclared class, a non-string prompt or non-object metadata) goes through :func:`_check_row`,
    so results and skip reasons are exactly those of the line-by-line path.
    """
    keys = _BULK_KEYS
    # Rows of other shapes (tags, detections, a source...) take the exact per-row check.
    odd = [i for i, r in enumerate(rows) if type(r) is not dict or not r.keys() <= keys]
    simple = rows
    if odd:
        simple = list(rows)
        for i in odd:
            simple[i] = _EMPTY
    try:
        images = [r.get("image") for r in simple]
        labels = [r.get("suffix") for r in simple]
        prompts = [r.get("prefix") for r in simple]
        label_values, prompt_values = set(labels), set(prompts)
    except TypeError:  # an unhashable label or prompt (a list, an object): line by line
        return None
    flagged: set[int] = set(odd)
    # One scan of all paths; only when something looks unusual, a look at each.
    lined = "\n" + "\n".join(images) + "\n" if set(map(type, images)) == {str} else None
    if lined is None or any(m in lined for m in ("/", "\\", ":", "\n\n", "\n.\n", "\n..\n")):
        flagged.update(i for i, x in enumerate(images) if type(x) is not str or not _plain_name(x))
    class_set = ctx.class_set
    bad_labels = {
        v
        for v in label_values
        if v is not None
        and (type(v) is not str or not v or v.isspace() or (class_set is not None and v not in class_set))
    }
    if bad_labels:
        flagged.update(i for i, v in enumerate(labels) if v in bad_labels)
    if any(v is not None and type(v) is not str for v in prompt_values):
        flagged.update(i for i, v in enumerate(prompts) if v is not None and type(v) is not str)
    with_meta = [i for i, r in enumerate(simple) if "metadata" in r]
    flagged.update(i for i in with_meta if type(rows[i]["metadata"]) is not dict and rows[i]["metadata"] is not None)

    prefix = ctx.prefix
    if prefix:
        images = [prefix + x if type(x) is str else x for x in images]
    fixes, skips, dead = _check_flagged(sorted(flagged), rows.__getitem__, ctx)
    for i, (image, label, prompt, _) in fixes:
        images[i], labels[i], prompts[i] = image, label, prompt
    source = ctx.default_source
    extras = [(i, (source, _NO_TAGS, rows[i]["metadata"])) for i in with_meta if i not in flagged]
    natives = _natives(extras, fixes, dead, ctx)
    if dead:
        images, labels, prompts = (_drop(col, dead) for col in (images, labels, prompts))
    return _Chunk(images, labels, prompts, natives, skips, len(rows))


def _check_flagged(
    flagged: list[int], row_at: Callable[[int], Any], ctx: _FileContext
) -> tuple[list[tuple[int, _Row]], list[Skip], list[int]]:
    """Decide the rows a column-wise path flagged with the exact per-row check.

    ``flagged`` rows (ascending) are read by ``row_at(row)``, which may raise
    ``orjson.JSONDecodeError``. Returns ``(fixes, skips, dead)``: the kept rows' values, the
    skips, and the rows that are dropped.
    """
    fixes: list[tuple[int, _Row]] = []
    skips: list[Skip] = []
    dead: list[int] = []
    for i in flagged:
        try:
            row = row_at(i)
        except orjson.JSONDecodeError as e:
            r: _Row | Skip = Skip(ctx.rel_file, i + 1, f"not valid JSON ({e})")
        else:
            r = _check_row(row, i + 1, i, ctx)
        if isinstance(r, Skip):
            skips.append(r)
            dead.append(i)
        else:
            fixes.append((i, r))
    return fixes, skips, dead


def _natives(
    extras: list[tuple[int, tuple[str, tuple[str, ...], Any]]],
    fixes: list[tuple[int, _Row]],
    dead: list[int],
    ctx: _FileContext,
) -> list[NativeRow]:
    """The native rows of a chunk, positions counted after the ``dead`` rows are dropped.

    ``extras`` lists ``(row, (source, tags, metadata))`` for the good rows whose extra fields
    were read column-wise; ``fixes`` are the rows :func:`_check_flagged` kept.
    """
    split = ctx.folder_split
    natives: list[tuple[int, NativeRow]] = [
        (i, (i, split, so, tg, md, None, None, None, None)) for i, (so, tg, md) in extras
    ]
    fixed: list[tuple[int, NativeRow]] = [(i, r[3]) for i, r in fixes if r[3] is not None]
    if fixed:
        natives = sorted(natives + fixed, key=lambda t: t[0])
    if not dead:
        return [nat for _, nat in natives]
    shift = np.searchsorted(np.asarray(dead), [i for i, _ in natives]).tolist()
    return [(i - k, *nat[1:]) for (i, nat), k in zip(natives, shift, strict=True)]


def _drop(values: list[Any], dead: list[int]) -> list[Any]:
    gone = set(dead)
    return [x for i, x in enumerate(values) if i not in gone]


_PARALLEL_MIN_BYTES = 32 * 2**20
_ARROW_MIN_BYTES = 16 * 2**20


def _byte_ranges(path: Path, parts: int) -> list[tuple[int, int | None]]:
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
    """The file's bytes mapped read-only, pages loaded at once where the OS can (Linux)."""
    populate = getattr(mmap, "MAP_POPULATE", 0)
    if populate and hasattr(mmap, "MAP_SHARED"):
        return mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED | populate, prot=mmap.PROT_READ)
    return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def _parse_file(path: Path, ctx: _FileContext, workers: int) -> Iterator[_Chunk]:
    """Parse one file: with pyarrow when it is large, else (or when pyarrow refuses it) with orjson.

    The orjson path runs in parallel processes when the file is large and that is safe. Chunks
    come in file order; the first is parsed by this process while the workers parse the others,
    and is handed over (to be added to the columns) before waiting for them.
    """
    import multiprocessing
    import threading

    size = path.stat().st_size
    if size >= _ARROW_MIN_BYTES:
        from datakit.formats import _jsonl_arrow

        with open(path, "rb") as f:
            data = _mapped(f)
            try:
                chunks = _jsonl_arrow.parse(data, ctx, threads=workers > 1)
                if chunks is not None:
                    yield from chunks
                    return
            finally:
                with contextlib.suppress(BufferError):  # a view still alive: unmapped when it goes
                    data.close()
    parts = min(workers, max(1, size // (_PARALLEL_MIN_BYTES // 2)))
    ranges = _byte_ranges(path, parts) if parts >= 2 and size >= _PARALLEL_MIN_BYTES else []
    if (
        len(ranges) < 2
        or threading.active_count() > 1  # forking a threaded process is not safe
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        yield _parse_range(path, 0, None, ctx)
        return
    mp = multiprocessing.get_context("fork")
    with mp.Pool(len(ranges) - 1) as pool:
        rest = pool.starmap_async(_parse_range, [(path, a, b, ctx) for a, b in ranges[1:]])
        yield _parse_range(path, ranges[0][0], ranges[0][1], ctx)
        yield from rest.get()


def _read_file(
    path: Path,
    root: Path,
    b: DatasetBuilder,
    log: SkipLog,
    class_set: frozenset[str] | None,
    workers: int,
) -> None:
    ctx = _FileContext.of(path, root, class_set)
    first_line = 0
    for chunk in _parse_file(path, ctx, workers):
        b.extend_rows(
            chunk.images, chunk.labels, chunk.prompts, chunk.natives,
            split=ctx.folder_split, source=ctx.default_source, origin=ctx.rel_file,
            sources=chunk.sources, tags=chunk.tags, metadata=chunk.metadata,
        )  # fmt: skip
        for sk in chunk.skips:
            line = sk.line + first_line if isinstance(sk.line, int) else sk.line
            log.add(sk.file, line, sk.reason, sk.image)
        first_line += chunk.lines


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
    detections or fields.

    Args:
        path: Dataset folder or ``.jsonl`` file.
        classes: Declared class list; overrides the manifest's.
        strict: Raise :class:`~datakit.errors.FormatError` on the first bad row instead.
        workers: CPU cores for one large file; default: all. Files of 16 MiB or more are
            parsed in pieces by pyarrow's multi-threaded JSON reader (all on one thread when
            ``workers=1``) and checked column by column, with exactly the results of the
            line-by-line path; a file whose first piece pyarrow refuses (a line that is not
            JSON, say) is parsed with orjson, in ``workers`` processes over byte ranges when it
            is 32 MiB or more.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FormatError: No annotation file, a bad manifest, or (``strict``) any bad row.

    """
    root, files = discover(path)
    manifest = _read_manifest(root)
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


# ----------------------------------------------------------------------------- writing
def _target_file(origin: str | None, split: str | None, source: str) -> str:
    """The annotation file a sample is written to, relative to the root."""
    if origin is not None and origin.endswith(".jsonl"):  # not a COCO/YOLO file it was read from
        top = origin.split("/", 1)[0] if "/" in origin else None
        if top == split:
            return origin
    base = f"{split}/" if split else ""
    if source in ("synthetic", "pseudo"):
        return f"{base}{source}/{ANNOTATIONS}"
    return f"{base}{ANNOTATIONS}"


def native_row(ds: Dataset, i: int, folder: str) -> dict[str, Any]:
    """The native JSONL row of sample ``i``, with its image relative to ``folder``."""
    return next(_native_rows(ds, [i], folder))


def _native_rows(ds: Dataset, rows: list[int], folder: str) -> Iterator[dict[str, Any]]:
    """Native rows for sample indices ``rows`` (columns are decoded once, not per row)."""
    images, ids, tags, meta = ds._images, ds._ids, ds._tags, ds._metadata
    label_t = [*ds._labels.values, None]
    prompt_t = [*ds._prompts.values, None]
    source_t = [*ds._sources.values, None]
    label_c, prompt_c, source_c = ds._labels.codes, ds._prompts.codes, ds._sources.codes
    idx = np.asarray(rows, dtype=np.int64)
    d = ds._dets
    has_dets = (d.offsets[idx + 1] > d.offsets[idx]).tolist()
    sized = ((ds._widths[idx] > 0) & (ds._heights[idx] > 0)).tolist()
    pre = folder + "/" if folder else ""
    cut = len(pre)
    for k, i in enumerate(rows):
        image = images[i]
        rel = image[cut:] if pre and image.startswith(pre) else relpath_from(image, folder)
        row: dict[str, Any] = {"image": rel}
        label = label_t[label_c[i]]
        prompt = prompt_t[prompt_c[i]]
        if prompt is not None:
            row["prefix"] = prompt
            row["suffix"] = label
        elif label is not None:
            row["label"] = label
        source = source_t[source_c[i]]
        if source is not None and source != "real":
            row["source"] = source
        if ids[i] is not image and ids[i] != image:
            row["id"] = ids[i]
        if tags[i]:
            row["tags"] = list(tags[i])
        if meta[i]:
            row["metadata"] = meta[i]
        if sized[k]:
            row["width"], row["height"] = int(ds._widths[i]), int(ds._heights[i])
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


def _group_rows(ds: Dataset) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    origins, splits, sources = ds._origins, ds._splits, ds._sources
    cache: dict[tuple[int, int, int], str] = {}
    for i, key in enumerate(zip(origins.codes.tolist(), splits.codes.tolist(), sources.codes.tolist(), strict=True)):
        target = cache.get(key)
        if target is None:
            o, sp, so = key
            target = cache[key] = _target_file(
                origins.values[o] if o >= 0 else None,
                splits.values[sp] if sp >= 0 else None,
                sources.values[so] if so >= 0 else "real",
            )
        groups.setdefault(target, []).append(i)
    return groups


def _write_annotations(ds: Dataset, out: Path) -> list[str]:
    dumps = orjson.dumps
    written = []
    for target, rows in sorted(_group_rows(ds).items()):
        folder = target.rsplit("/", 1)[0] if "/" in target else ""
        with atomic_write(out / target, "wb") as f:
            buf = []
            for row in _native_rows(ds, rows, folder):
                buf.append(dumps(row, option=orjson.OPT_SERIALIZE_NUMPY))
                if len(buf) >= 65536:
                    f.write(b"\n".join(buf) + b"\n")
                    buf.clear()
            if buf:
                f.write(b"\n".join(buf) + b"\n")
        written.append(target)
    manifest: dict[str, Any] = {}
    if ds.classes is not None:
        manifest["classes"] = ds.classes
    if ds.info:
        manifest["info"] = ds.info
    if manifest:
        atomic_write_bytes(
            out / MANIFEST,
            orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY),
        )
    return written


def _place_image(src: Path, dst: Path, mode: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if mode == "link":
        try:
            os.link(src, dst)
            return
        except OSError:
            pass  # another filesystem: fall back to a copy
    shutil.copy2(src, dst)


def write(ds: Dataset, path: str | Path, *, images: str = "copy") -> Path:
    """Write ``ds`` as a native JSONL dataset under ``path``, atomically.

    Rows go back to the annotation file they came from (``train/synthetic/annotations.jsonl``
    stays there); new samples go to ``<split>/annotations.jsonl`` (``<split>/synthetic/...``
    for synthetic samples). Rows that had a ``prefix`` keep the Roboflow shape
    (``prefix``/``suffix``).

    Args:
        ds: The dataset.
        path: Output folder. When it is the dataset's own root, the annotation files are
            rewritten in place (each atomically) and images stay where they are; the root then
            holds exactly ``ds``, so an annotation file none of whose rows are left in ``ds``
            (say, after ``ds.filter(source="synthetic")``) is emptied. To add samples to a
            root without touching its other files, save them to a new folder and move it in.
        images: For a new folder: ``"copy"`` the images, ``"link"`` (hard links, copying across
            file systems) or ``"none"`` (write annotations only).

    Returns:
        The output folder.

    Raises:
        FileNotFoundError: An image to copy is missing (the message names it).

    """
    if images not in ("copy", "link", "none"):
        raise ValueError(f"expected images='copy', 'link' or 'none', got {images!r}")
    out = Path(path)
    if out.exists() and out.resolve() == ds.root.resolve():
        stale: set[str] = set()
        with contextlib.suppress(FormatError):
            stale = {p.relative_to(out).as_posix() for p in discover(out)[1]}
        written = _write_annotations(ds, out)
        for rel in sorted(stale - set(written)):  # files whose samples were all removed
            atomic_write_bytes(out / rel, b"")
        return out
    with atomic_dir(out) as tmp:
        if images != "none":
            for rel in dict.fromkeys(ds._images):
                src = ds.root / rel
                if not src.is_file():
                    raise FileNotFoundError(f"image not found: {src}")
                _place_image(src, tmp / rel, images)
        _write_annotations(ds, tmp)
    return out


def plain_rows(ds: Dataset, prompt: str = SEED_PROMPT) -> Iterator[dict[str, str]]:
    """Roboflow ``{"image", "prefix", "suffix"}`` rows for VLM fine-tuning (labeled samples only).

    Image paths are relative to the dataset root.
    """
    for i in range(len(ds)):
        label = ds._labels[i]
        if label is not None:
            yield {"image": ds._images[i], "prefix": prompt, "suffix": label}
