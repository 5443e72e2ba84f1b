r"""Large native JSONL files through pyarrow's multi-threaded JSON reader, checked column by column.

The file is cut into pieces of about 8 MiB at line starts. pyarrow parses each piece on every
core into an Arrow table, on a thread of its own, while this thread checks the piece before it
column by column and builds its Python values; a second thread scans the bytes for line ends and
the text ``null``. A row whose Arrow values could differ from what ``orjson`` reads, or
whose values need more than a look, is read again from its own line with orjson and decided by
the exact per-row check (:func:`~datakit.formats.jsonl.rows.check_row`), so the result (samples,
skips and their reasons) is the one the line-by-line path gives. Values are taken as they are by
the same rule table (:data:`~datakit.formats.jsonl.rows.AS_IS`) the bulk orjson path uses. Such
rows are those with:

- a field other than ``image``, ``prefix``, ``suffix``, ``metadata``, ``source`` and ``tags``
  (an id, detections, a size, a ``label``, unknown keys...),
- an image path with a folder, a backslash or a colon, or an empty, ``.`` or ``..`` path,
- a label that is empty, blank, padded with whitespace, not a string or not a declared class; a
  prompt that is not a string; a source that is not one of :data:`~datakit.sample.SOURCES`; tags that are not a list
  of strings,
- metadata that is not an object of strings, booleans, integers and finite non-integral numbers
  with every key the file's metadata objects use (Arrow fills an absent key with null, reads
  ``2`` as ``2.0`` in a column that also holds ``2.5``, and takes ``NaN``, which JSON and orjson
  do not),
- the text ``null`` anywhere on the line, when the file has a field for which ``null`` and an
  absent key mean different things (``source``, ``label``, unknown keys).

A piece goes to the orjson path when pyarrow refuses it (a line that is not JSON, a field whose
type changes between rows, a key given twice...), when a line does not start with ``{`` (blank
lines), when its row count differs from its line count, or when most of its
rows need the per-row check anyway. When that happens to the first piece, or pyarrow is not
installed, :func:`parse` returns ``None`` and the caller parses the whole file with orjson (in
parallel processes); a later piece is parsed with orjson in this process.

A metadata object read column-wise lists its keys in the order the file first used them (JSON
objects are unordered; the values are exactly those orjson reads). Arrow arrays are turned into
numpy arrays through their buffers: pyarrow's own numpy conversions import pandas, which costs
more than the whole check. Image paths go from Arrow's string buffers straight into a packed
:class:`~datakit.columns.StringColumn` (no ``str`` per row). Memory stays at a few pieces: the
scanner runs one piece ahead, each piece's pages of the mapped file are handed back once it is
checked, and pyarrow's pool releases what it kept when the file is done.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import orjson

from datakit.columns import Categorical, StringColumn
from datakit.formats.jsonl.chunks import BOM, Chunk, assemble_natives, drop, parse_bytes
from datakit.formats.jsonl.rows import AS_IS, NULL_IS_ABSENT, ODD_PATH, FileContext, check_flagged, tags_as_is

if TYPE_CHECKING:
    import mmap
    from collections.abc import Callable, Generator, Iterator

    import pyarrow as pa

    File = bytes | mmap.mmap  # a whole file
    Data = File | memoryview  # a file or a piece of one

_COLUMNWISE = frozenset({"image", "metadata", "tags", *AS_IS})
_NO_TAGS: tuple[str, ...] = ()
_PIECE_BYTES = 8 * 2**20
_MOSTLY_FLAGGED = 0.25
"""Above this share of rows for the per-row check, the orjson path (in parallel processes) is faster."""
_BLOCK_BYTES = 4 * 2**20
_SCAN_BYTES = 16 * 2**20


def _line_bounds(data: Data) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)`` byte offsets of every line (``ends`` exclude the newline)."""
    buf = np.frombuffer(data, np.uint8)
    ends = np.concatenate(
        [np.flatnonzero(buf[a : a + _SCAN_BYTES] == 10) + a for a in range(0, len(buf), _SCAN_BYTES)]
        or [np.zeros(0, np.int64)]
    )
    if data[-1:] != b"\n":
        ends = np.append(ends, len(buf))
    starts = np.empty_like(ends)
    starts[:1] = 0
    starts[1:] = ends[:-1] + 1
    return starts, ends


def _as_strings(t: pa.DataType) -> pa.DataType:
    """``t`` with every timestamp (Arrow infers them from ISO-8601 strings) read as a string."""
    import pyarrow as pa

    if pa.types.is_timestamp(t):
        return pa.string()
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_as_strings(f.type)) for f in t])
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(_as_strings(t.value_type)))
    return t


def _read_table(data: Data, threads: bool = True) -> pa.Table | None:
    import pyarrow as pa
    import pyarrow.json as pj

    read = pj.ReadOptions(use_threads=threads, block_size=_BLOCK_BYTES)
    try:
        table = pj.read_json(pa.py_buffer(data), read_options=read)
        schema = pa.schema([f.with_type(_as_strings(f.type)) for f in table.schema])
        if schema != table.schema:  # strings that look like dates: read them again as strings
            parse = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
            table = pj.read_json(pa.py_buffer(data), read_options=read, parse_options=parse)
    except (pa.ArrowException, ValueError):  # not JSON lines pyarrow takes; ValueError: bad UTF-8
        return None
    return table


def _numbers(col: pa.ChunkedArray, dtype: type) -> np.ndarray:
    """The values of a numeric column as a numpy array (undefined where the column is null)."""
    size = np.dtype(dtype).itemsize
    parts: list[np.ndarray] = [
        np.frombuffer(c.buffers()[1], dtype, count=len(c), offset=c.offset * size) for c in col.chunks if len(c)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def _bools(col: pa.ChunkedArray) -> np.ndarray:
    """A boolean column without nulls as a numpy array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return _numbers(pc.cast(col, pa.uint8()), np.uint8).view(bool)


def _valid(col: pa.ChunkedArray) -> np.ndarray:
    return _bools(col.is_valid())


def _string(s: str) -> pa.StringScalar:
    """An Arrow string scalar (``pa.scalar`` would import pandas)."""
    import pyarrow as pa

    b = s.encode()
    offsets = pa.py_buffer(np.array([0, len(b)], dtype=np.int32))
    return pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(b)])[0]


def _take(col: pa.ChunkedArray, rows: np.ndarray) -> list[Any]:
    import pyarrow as pa

    idx = np.ascontiguousarray(rows, dtype=np.int64)
    return col.take(pa.Array.from_buffers(pa.int64(), len(idx), [None, pa.py_buffer(idx)])).to_pylist()


def _categorical(
    col: pa.ChunkedArray | None, n: int, flagged: np.ndarray, bad: Callable[[str], bool], *, ints: bool = False
) -> Categorical:
    """A string column as codes (``-1`` for null); flags non-strings and ``bad`` values.

    ``ints``: integers are read as their decimal strings (labels: ``23`` is ``"23"``).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if col is None or pa.types.is_null(col.type):
        return Categorical.constant(None, n)
    if ints and pa.types.is_int64(col.type):
        col = pc.cast(col, pa.string())
    if not pa.types.is_string(col.type):
        flagged |= _valid(col)
        return Categorical.constant(None, n)
    vocab = pc.unique(col).drop_null()
    index = pc.index_in(col, value_set=vocab)
    codes = np.where(_valid(index), _numbers(index, np.int32), -1).astype(np.int32)
    values: list[str] = vocab.to_pylist()
    bad_codes = [k for k, v in enumerate(values) if bad(v)]
    if bad_codes:
        flagged |= np.isin(codes, bad_codes)
    return Categorical(codes, values)


def _metadata(col: pa.ChunkedArray | None, flagged: np.ndarray) -> list[dict[str, Any] | None]:
    """The metadata objects Arrow reads exactly (else ``None``); flags the other rows with metadata."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(flagged)
    if col is None or pa.types.is_null(col.type):
        return [None] * n
    has = _valid(col)
    if not pa.types.is_struct(col.type):
        flagged |= has
        return [None] * n
    ok = has.copy()
    for k, field in enumerate(col.type):
        t = field.type
        child = pc.struct_field(col, [k])
        if pa.types.is_string(t) or pa.types.is_boolean(t) or pa.types.is_int64(t):
            ok &= _valid(child)
        elif pa.types.is_float64(t):
            v = _numbers(child, np.float64)
            with np.errstate(invalid="ignore"):
                ok &= _valid(child) & np.isfinite(v) & (v != np.floor(v))
        else:  # nested objects, lists, keys that are always null: the exact path
            ok[:] = False
    flagged |= has & ~ok
    meta: list[dict[str, Any] | None] = [None] * n
    rows = np.flatnonzero(ok)
    for i, md in zip(rows.tolist(), _take(col, rows), strict=True):
        meta[i] = md or None
    return meta


def _tags(col: pa.ChunkedArray | None, flagged: np.ndarray) -> list[tuple[str, ...]]:
    """The tags of every row; flags rows whose tags are not a list of strings."""
    import pyarrow as pa

    n = len(flagged)
    tags = [_NO_TAGS] * n
    if col is None or pa.types.is_null(col.type):
        return tags
    has = _valid(col)
    if not (pa.types.is_list(col.type) and pa.types.is_string(col.type.value_type)):
        flagged |= has
        return tags
    rows = np.flatnonzero(has)
    for i, tg in zip(rows.tolist(), _take(col, rows), strict=True):
        if not tags_as_is(tg):  # a null in the list
            flagged[i] = True
        elif tg:
            tags[i] = tuple(tg)
    return tags


def _null_positions(data: Data) -> np.ndarray:
    """Byte offsets of every occurrence of the text ``null``.

    Vectorised: the bytes are read as 4-byte words at each of the 4 offsets and compared with
    ``null`` (several times faster than ``find`` in a loop when many lines hold it).
    """
    buf = np.frombuffer(data, np.uint8)
    word = np.frombuffer(b"null", np.uint32)[0]
    hits = [np.zeros(0, np.int64)]
    for a in range(0, len(buf), _SCAN_BYTES):
        seg = buf[a : a + _SCAN_BYTES + 3]
        for k in range(4):
            m = (len(seg) - k) // 4
            found = np.flatnonzero(seg[k : k + 4 * m].view(np.uint32) == word)
            if len(found):
                hits.append(found * 4 + (a + k))
    return np.concatenate(hits)


def _submit(pool: ThreadPoolExecutor | None, fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """``fn(*args)`` on ``pool``'s thread, or here and now without a pool."""
    if pool is not None:
        return pool.submit(fn, *args)
    done: Future[Any] = Future()
    done.set_result(fn(*args))
    return done


def _patched(cat: Categorical, fixes: list[tuple[int, str | None]]) -> Categorical:
    """``cat`` with the rows of ``fixes`` set to their values."""
    index = {v: k for k, v in enumerate(cat.values)}
    for i, v in fixes:
        cat.codes[i] = -1 if v is None else index.setdefault(v, len(index))
    return Categorical(cat.codes, list(index))


def _dropped(cat: Categorical, dead: list[int]) -> Categorical:
    return Categorical(np.delete(cat.codes, dead), cat.values)


def _strings(col: pa.ChunkedArray) -> StringColumn:
    """A string column's values packed straight from its Arrow buffers (no ``str`` per row).

    A null reads as ``""`` (its row is flagged for the per-row check, which decides it).
    """
    parts = []
    for c in col.chunks:
        if not len(c):
            continue
        _, offsets_buf, data_buf = c.buffers()
        offs = np.frombuffer(offsets_buf, np.int32, count=len(c) + 1, offset=c.offset * 4).astype(np.int64)
        data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
        lo, hi = int(offs[0]), int(offs[-1])
        parts.append(StringColumn(data[lo:hi].tobytes(), offs - lo))
    if len(parts) == 1:
        return parts[0]
    return StringColumn.concat(parts) if parts else StringColumn.from_values([])


class _Columns(NamedTuple):
    images: StringColumn
    labels: Categorical
    prompts: Categorical
    sources: Categorical
    tags: list[tuple[str, ...]]
    metadata: list[dict[str, Any] | None]
    flagged: np.ndarray


def _columns(table: pa.Table, ends: np.ndarray, nulls: np.ndarray, ctx: FileContext) -> _Columns | None:
    """Every row's values read column-wise, and the rows the exact per-row check must decide.

    ``ends`` are the lines' end offsets and ``nulls`` the offsets of the text ``null``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    cols = {name: table.column(name) for name in table.column_names}
    image = cols.get("image")
    if image is None or not pa.types.is_string(image.type):
        return None
    odd = pc.match_substring_regex(image, ODD_PATH)
    flagged = _bools(pc.or_kleene(odd, pc.is_null(image)))
    for name, col in cols.items():
        if name not in _COLUMNWISE:
            flagged |= _valid(col)
    if not cols.keys() <= NULL_IS_ABSENT:  # a line with "null" on it: the per-row check
        flagged[np.searchsorted(ends, nulls)] = True
    class_set = ctx.class_set
    labels, prompts, sources = (
        _categorical(cols.get(name), n, flagged, _rejects(name, class_set), ints=name == "suffix")
        for name in ("suffix", "prefix", "source")
    )
    tags = _tags(cols.get("tags"), flagged)
    metadata = _metadata(cols.get("metadata"), flagged)
    if ctx.prefix:
        image = pc.binary_join_element_wise(_string(ctx.prefix), image, _string(""))
    return _Columns(_strings(image), labels, prompts, sources, tags, metadata, flagged)


def _rejects(name: str, class_set: frozenset[str] | None) -> Callable[[str], bool]:
    """Whether a value of field ``name`` is not taken as it is (:data:`~datakit.formats.jsonl.rows.AS_IS`)."""
    accept = AS_IS[name]
    return lambda v: not accept(v, class_set)


def _cuts(data: File, piece: int, start: int = 0) -> list[int]:
    """Offsets that cut ``data[start:]`` into pieces of about ``piece`` bytes at line starts."""
    size = len(data)
    cuts = [start]
    while cuts[-1] + piece < size:
        nl = data.find(b"\n", cuts[-1] + piece)
        if nl < 0 or nl + 1 >= size:
            break
        cuts.append(nl + 1)
    return [*cuts, size]


def _scan(data: File, a: int, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(starts, ends, nulls)`` of bytes ``[a, b)``, relative to ``a``."""
    view = memoryview(data)[a:b]
    return (*_line_bounds(view), _null_positions(view))


def _piece(table: pa.Table, piece: Data, starts: np.ndarray, ends: np.ndarray, nulls: np.ndarray,
           ctx: FileContext) -> Chunk | None:  # fmt: skip
    """The chunk of one piece (line numbers relative to it), or ``None`` for the orjson path."""
    import pyarrow as pa

    if table.num_rows != len(starts) or not (np.frombuffer(piece, np.uint8)[starts] == ord("{")).all():
        return None  # a blank line, or one that does not start an object
    try:
        cols = _columns(table, ends, nulls, ctx)
    except pa.ArrowException:  # a column Arrow cannot check: the orjson path decides
        return None
    if cols is None or np.count_nonzero(cols.flagged) > _MOSTLY_FLAGGED * len(starts):
        return None

    def row_at(i: int) -> Any:
        return orjson.loads(piece[starts[i] : ends[i]])

    fixes, skips, dead = check_flagged(np.flatnonzero(cols.flagged).tolist(), row_at, ctx)
    images, tags, metadata = cols.images, cols.tags, cols.metadata
    if fixes:  # rare: rows the per-row check kept with other values
        paths = images.tolist()
        for i, r in fixes:
            paths[i] = r[0]
        images = StringColumn.from_values(paths)
    labels = _patched(cols.labels, [(i, r[1]) for i, r in fixes])
    prompts = _patched(cols.prompts, [(i, r[2]) for i, r in fixes])
    sources = cols.sources
    natives = assemble_natives([], fixes, dead, ctx)
    if dead:
        tags, metadata = (drop(col, dead) for col in (tags, metadata))
        images = images.take(np.delete(np.arange(len(images)), dead))
        labels, prompts, sources = (_dropped(cat, dead) for cat in (labels, prompts, sources))
    return Chunk(images, labels, prompts, natives, skips, len(starts), sources=sources, tags=tags, metadata=metadata)


def parse(data: File, ctx: FileContext, *, threads: bool = True) -> Iterator[Chunk] | None:
    r"""Parse a whole JSONL file's bytes into chunks, or ``None`` when it takes the orjson path.

    ``threads``: pyarrow on every core, and the parse and byte scans on threads beside this one
    (else all in turn, on one core). A byte order mark at the start is skipped. Chunks come one
    per piece, line numbers relative to it; the
    first is parsed before this returns, the others as the iterator is consumed (pyarrow parses
    the next piece while the caller takes one in), so ``data`` must stay readable until then.

    Examples:
        >>> ctx = FileContext("train/annotations.jsonl", "train", "train", "real", None)
        >>> rows = [b'{"image": "%d.jpg", "suffix": "7"}' % i for i in range(4)]
        >>> [chunk] = parse(b"\n".join([*rows, b'{"image": "x.jpg", "suffix": ""}']), ctx)
        >>> chunk.images[:2], chunk.labels.tolist()[:2], [(s.line, s.reason) for s in chunk.skips]
        (['train/0.jpg', 'train/1.jpg'], ['7', '7'], [(5, 'empty label')])
        >>> parse(b'{"image": "a.jpg"}\n\n{"image": "b.jpg"}\n', ctx) is None  # a blank line
        True

    """
    start = len(BOM) if data[: len(BOM)] == BOM else 0
    if importlib.util.find_spec("pyarrow") is None or data[start : start + 1] != b"{":
        return None
    pools: list[ThreadPoolExecutor | None] = [ThreadPoolExecutor(1), ThreadPoolExecutor(1)] if threads else [None, None]
    chunks = _parse(data, start, ctx, threads, *pools)
    first = next(chunks)
    if first is None:
        _shutdown(pools)
        return None
    return _then(first, chunks, pools)


def _then(first: Chunk, rest: Generator[Chunk | None], pools: list[ThreadPoolExecutor | None]) -> Iterator[Chunk]:
    try:
        yield first
        for chunk in rest:
            if chunk is not None:
                yield chunk
    finally:
        rest.close()
        _shutdown(pools)


def _shutdown(pools: list[ThreadPoolExecutor | None]) -> None:
    """Stop the threads, and hand the memory pyarrow's pool kept for reuse back to the OS."""
    import pyarrow as pa

    for pool in pools:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    pa.default_memory_pool().release_unused()


def _parse(
    data: File,
    start: int,
    ctx: FileContext,
    threads: bool,
    parser: ThreadPoolExecutor | None,
    scanner: ThreadPoolExecutor | None,
) -> Generator[Chunk | None]:
    """Chunks piece by piece; ``None`` first when the first piece takes the orjson path."""
    view = memoryview(data)
    ranges = list(itertools.pairwise(_cuts(data, _PIECE_BYTES, start)))
    # The scanner runs one piece ahead, no more: a mapped file's pages become resident as they are
    # read, and each piece's pages are given back once it is done (see _release).
    scans = [_submit(scanner, _scan, data, a, b) for a, b in ranges[:2]]
    table = _submit(parser, _read_table, view[ranges[0][0] : ranges[0][1]], threads)
    for k, (a, b) in enumerate(ranges):
        this = table.result()
        if k + 1 < len(ranges):  # pyarrow parses the next piece while this one is checked
            table = _submit(parser, _read_table, view[ranges[k + 1][0] : ranges[k + 1][1]], threads)
        piece = view[a:b]
        starts, ends, nulls = scans[k].result()
        scans[k] = None  # type: ignore[call-overload]
        if k + 2 < len(ranges):
            scans.append(_submit(scanner, _scan, data, *ranges[k + 2]))
        chunk = _piece(this, piece, starts, ends, nulls, ctx) if this is not None else None
        del this
        if chunk is None:
            if k == 0:
                yield None
                return
            chunk = parse_bytes(bytes(piece), ctx)
        del piece, starts, ends, nulls
        _release(data, a, b)
        yield chunk


def _release(data: File, a: int, b: int) -> None:
    """Drop bytes ``[a, b)`` of a mapped file from this process's resident memory.

    The pages stay in the OS page cache and come back on the next read (the mapping is read-only
    and file-backed, so nothing is lost): a 1 GB file then costs one piece of resident memory, not
    its whole size.
    """
    import mmap

    advise = getattr(data, "madvise", None)
    dontneed = getattr(mmap, "MADV_DONTNEED", None)
    if advise is None or dontneed is None:
        return
    lo = a - a % mmap.PAGESIZE
    with contextlib.suppress(OSError, ValueError):
        advise(dontneed, lo, b - lo)
