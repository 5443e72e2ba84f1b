r"""Rows parsed from a byte range of a JSONL file with orjson, as column blocks (:class:`Chunk`).

A block of lines is parsed in one go and checked column by column when every line is JSON
(:func:`parse_bulk`), else line by line (:func:`parse_each`, the reference path); both decide
every row that needs more than a look with :func:`~datakit.formats.jsonl.rows.check_row`.

Examples:
    >>> from datakit.formats.jsonl.rows import FileContext
    >>> ctx = FileContext("train/annotations.jsonl", "train", "train", "real", None)
    >>> chunk = parse_bytes(b'{"image": "a.jpg", "suffix": "7"}\n{"image": "b.jpg", "suffix": ""}\n', ctx)
    >>> chunk.images, list(chunk.labels), [(s.line, s.reason) for s in chunk.skips]
    (['train/a.jpg'], ['7'], [(2, 'empty label')])

"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from datakit.builder import NativeRow
from datakit.columns import Categorical, StringColumn
from datakit.errors import Skip
from datakit.formats.jsonl.rows import (
    AS_IS,
    FileContext,
    Row,
    check_flagged,
    check_row,
    label_as_is,
    metadata_as_is,
    plain_name,
)

BOM = b"\xef\xbb\xbf"
"""The UTF-8 byte order mark some editors write at the start of a file; it is skipped."""
_NO_TAGS: tuple[str, ...] = ()


@dataclass
class Chunk:
    """Rows parsed from one byte range of a file (line numbers relative to the range).

    ``skips`` holds the records of dropped rows and the notes about kept ones, in line order.
    """

    images: list[str] | StringColumn
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
        """Undo :meth:`__getstate__`."""
        images = state["images"]
        state["images"] = images.split("\0") if images else []
        state["natives"] = orjson.loads(state["natives"])
        for key in ("labels", "prompts"):
            raw, vocab = state[key]
            state[key] = [vocab[c] for c in np.frombuffer(raw, np.int32).tolist()]
        self.__dict__.update(state)


def parse_range(path: Path, start: int, end: int | None, ctx: FileContext) -> Chunk:
    """Parse the lines in bytes ``[start, end)`` of ``path`` (the whole file when ``end`` is None).

    A byte order mark at the start of the file is skipped.
    """
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read() if end is None else f.read(end - start)
    if start == 0 and data.startswith(BOM):
        data = data[len(BOM) :]
    return parse_bytes(data, ctx)


def parse_bytes(data: bytes, ctx: FileContext) -> Chunk:
    """Parse whole lines of JSONL (line numbers count from the first)."""
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    chunk = parse_lines(lines, ctx)
    chunk.lines = len(lines)
    return chunk


def parse_lines(lines: list[bytes], ctx: FileContext) -> Chunk:
    """Parse and validate lines: in bulk when every line is JSON, else line by line."""
    loads = orjson.loads
    try:
        rows = [loads(raw) for raw in lines]
    except orjson.JSONDecodeError:  # a bad (or blank) line: the exact line-by-line path
        return parse_each(lines, ctx)
    chunk = parse_bulk(rows, ctx)
    return chunk if chunk is not None else parse_each(lines, ctx)


def parse_each(lines: list[bytes], ctx: FileContext) -> Chunk:
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
        r = check_row(row, lineno, len(images), ctx)
        if isinstance(r, Skip):
            skips.append(r)
            continue
        images.append(r[0])
        labels.append(r[1])
        prompts.append(r[2])
        if r[3] is not None:
            natives.append(r[3])
        if r[4] is not None:
            skips.append(r[4])
    return Chunk(images, labels, prompts, natives, skips, len(lines))


_BULK_KEYS = frozenset({"image", "prefix", "suffix", "metadata"})
_EMPTY: dict[str, Any] = {}


def parse_bulk(rows: list[Any], ctx: FileContext) -> Chunk | None:
    """Validate parsed rows column by column; ``None`` when a label or prompt is unhashable.

    Handles the common shapes (``image``, ``prefix``, ``suffix`` and an optional ``metadata``
    object) with a few list comprehensions instead of a dozen Python operations per row; a value
    the rule table (:data:`~datakit.formats.jsonl.rows.AS_IS`) does not take as it is sends its
    row to :func:`~datakit.formats.jsonl.rows.check_row`, so results and skip reasons are exactly
    those of the line-by-line path.
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
        flagged.update(i for i, x in enumerate(images) if type(x) is not str or not plain_name(x))
    class_set = ctx.class_set
    bad_labels = {v for v in label_values if v is not None and not label_as_is(v, class_set)}
    if bad_labels:
        flagged.update(i for i, v in enumerate(labels) if v in bad_labels)
    prompt_ok = AS_IS["prefix"]
    bad_prompts = {v for v in prompt_values if v is not None and not prompt_ok(v, class_set)}
    if bad_prompts:
        flagged.update(i for i, v in enumerate(prompts) if v in bad_prompts)
    with_meta = [i for i, r in enumerate(simple) if "metadata" in r]
    flagged.update(i for i in with_meta if not metadata_as_is(rows[i]["metadata"]))

    prefix = ctx.prefix
    if prefix:
        images = [prefix + x if type(x) is str else x for x in images]
    fixes, skips, dead = check_flagged(sorted(flagged), rows.__getitem__, ctx)
    for i, (image, label, prompt, _, _) in fixes:
        images[i], labels[i], prompts[i] = image, label, prompt
    source = ctx.default_source
    extras = [(i, (source, _NO_TAGS, rows[i]["metadata"])) for i in with_meta if i not in flagged]
    natives = assemble_natives(extras, fixes, dead, ctx)
    if dead:
        images, labels, prompts = (drop(col, dead) for col in (images, labels, prompts))
    return Chunk(images, labels, prompts, natives, skips, len(rows))


def assemble_natives(
    extras: list[tuple[int, tuple[str, tuple[str, ...], Any]]],
    fixes: list[tuple[int, Row]],
    dead: list[int],
    ctx: FileContext,
) -> list[NativeRow]:
    """The native rows of a chunk, positions counted after the ``dead`` rows are dropped.

    ``extras`` lists ``(row, (source, tags, metadata))`` for the good rows whose extra fields
    were read column-wise; ``fixes`` are the rows :func:`~datakit.formats.jsonl.rows.check_flagged` kept.
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


def drop(values: list[Any], dead: list[int]) -> list[Any]:
    """``values`` without the positions in ``dead``."""
    gone = set(dead)
    return [x for i, x in enumerate(values) if i not in gone]
