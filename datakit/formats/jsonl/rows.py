r"""The one check of a JSONL row: what every reading path of :mod:`datakit.formats.jsonl` agrees on.

:func:`check_row` decides one parsed row (its values for the columns, or the reason it is
skipped). The column-wise paths (:mod:`~datakit.formats.jsonl.chunks`' bulk path for files
parsed by orjson, :mod:`~datakit.formats.jsonl.arrow` for large files parsed by pyarrow) do not
repeat its rules: they take a value as it is only when :data:`AS_IS` says so, flag every
other row, and hand the flagged rows to :func:`check_flagged`, which runs :func:`check_row`.
So a rule lives here once, and a value that needs more than a look (a label with surrounding
whitespace, a path with a folder, an undeclared class) is always decided by the same code.

Examples:
    >>> ctx = FileContext("train/annotations.jsonl", "train", "train", "real", None)
    >>> check_row({"image": "a.jpg", "suffix": "23"}, 1, 0, ctx)
    ('train/a.jpg', '23', None, None, None)
    >>> check_row({"image": "b.jpg", "suffix": ""}, 2, 1, ctx).reason
    'empty label'
    >>> check_row({"image": "c.jpg", "suffix": " 23 "}, 3, 1, ctx)[:2]  # stripped, with a note
    ('train/c.jpg', '23')
    >>> AS_IS["suffix"](" 23 ", None), AS_IS["suffix"]("23", frozenset({"7"}))
    (False, False)

"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datakit.builder import NativeRow
from datakit.errors import PathEscapeError, Skip
from datakit.paths import safe_relpath
from datakit.sample import SOURCES

KNOWN = frozenset(
    {"image", "prefix", "suffix", "label", "detections", "source", "metadata", "tags", "id",
     "width", "height", "split"}
)  # fmt: skip
"""The top-level keys of a native row; any other key is kept in ``metadata``."""
PLAIN = frozenset({"image", "prefix", "suffix", "label"})
SOURCE_FOLDERS = {"synthetic": "synthetic", "pseudo": "pseudo"}
"""Folder names that set the default ``source`` of the files under them."""
NULL_IS_ABSENT = frozenset({"image", "prefix", "suffix", "metadata", "tags", "id", "width", "height", "split",
                            "detections"})  # fmt: skip
"""Fields that :func:`check_row` reads the same whether they are ``null`` or absent."""


@dataclass(frozen=True)
class FileContext:
    """What every row of one annotation file shares.

    Attributes:
        rel_file: The file, relative to the dataset root (skips name it).
        folder: Its folder relative to the root (``""`` at the root): image paths are relative to it.
        folder_split: The split its top folder names, or ``None`` for a file at the root.
        default_source: ``synthetic``/``pseudo`` under a folder of that name, else ``real``.
        class_set: The declared classes, or ``None``.

    """

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
    def of(cls, path: Path, root: Path, class_set: frozenset[str] | None) -> FileContext:
        """The context of annotation file ``path`` under dataset ``root``."""
        folder = path.parent.relative_to(root).as_posix()
        folder = "" if folder == "." else folder
        parts = folder.split("/") if folder else []
        source = "real"
        for p in parts:
            source = SOURCE_FOLDERS.get(p, source)
        return cls(path.relative_to(root).as_posix(), folder, parts[0] if parts else None, source, class_set)


# ----------------------------------------------------------------------------- the rule table
def plain_name(image: str) -> bool:
    """A bare, non-empty file name: nothing to normalise and nothing that could leave the root."""
    return bool(image) and not any(c in image for c in "/\\:") and image not in (".", "..")


def label_as_is(value: Any, class_set: frozenset[str] | None) -> bool:
    """A label string taken verbatim: non-empty, no surrounding whitespace, a declared class."""
    return (
        type(value) is str
        and value != ""
        and value.strip() == value
        and (class_set is None or value in class_set)
    )


def _prompt_as_is(value: Any, class_set: frozenset[str] | None) -> bool:
    return type(value) is str


def _source_as_is(value: Any, class_set: frozenset[str] | None) -> bool:
    return value in SOURCES


def tags_as_is(value: Any) -> bool:
    """Tags taken as they are: a list of strings."""
    return type(value) is list and all(type(t) is str for t in value)


def metadata_as_is(value: Any) -> bool:
    """Metadata taken as it is: an object (or ``null``, no metadata)."""
    return value is None or type(value) is dict


AS_IS: dict[str, Callable[[Any, frozenset[str] | None], bool]] = {
    "suffix": label_as_is,
    "prefix": _prompt_as_is,
    "source": _source_as_is,
}
"""Field → ``accept(value, class_set)``: whether a non-null value of that field is read as it is.

The column-wise paths evaluate these over a column's distinct values and send every row with
another value to :func:`check_row`. ``image`` is taken as it is when :func:`plain_name` holds
(:data:`ODD_PATH` is the same rule for paths with folders, as a regular expression for Arrow);
tags when :func:`tags_as_is` holds, metadata when :func:`metadata_as_is` does (Arrow adds its own
conditions for reading an object exactly, see :mod:`~datakit.formats.jsonl.arrow`)."""

ODD_PATH = r"^$|^/|/$|//|\\|:|(^|/)\.\.?(/|$)"
"""Image paths :func:`~datakit.paths.safe_relpath` would change or refuse: empty, absolute, with a
backslash, a drive colon, an empty, ``.`` or ``..`` segment, or a trailing slash. Any other path is
already normal: joined to its file's folder it is the root-relative path."""


# ----------------------------------------------------------------------------- the row check
def as_label(value: Any) -> tuple[str | None, str | None]:
    """``(label, error)`` from a JSON value; ints become strings (``23`` → ``"23"``).

    Surrounding whitespace is stripped (``" 23 "`` is ``"23"``); :func:`check_row` notes it.
    """
    if value is None:
        return None, None
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped:
            return None, "empty label"
        return stripped, None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value), None
    return None, f"expected label to be a string, got {type(value).__name__} {value!r}"


def parse_detections(
    raw: Any, class_set: frozenset[str] | None
) -> tuple[
    list[tuple[str | None, tuple[float, float, float, float], float | None, dict[str, Any] | None]] | None, str | None
]:
    """``(detections, error)`` from a row's ``detections`` value."""
    if not isinstance(raw, list):
        return None, f"expected detections to be a list, got {type(raw).__name__}"
    out = []
    for k, d in enumerate(raw):
        if not isinstance(d, dict):
            return None, f"detection {k}: expected an object, got {type(d).__name__}"
        label, err = as_label(d.get("label"))
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


def native_fields(
    row: dict[str, Any],
    pos: int,
    folder_split: str | None,
    default_source: str,
    class_set: frozenset[str] | None,
) -> tuple[NativeRow | None, str | None]:
    """Validate the fields of a native row beyond image/label; ``(native_row, error)``."""
    source = row.get("source", default_source)
    if not _source_as_is(source, None):
        return None, f"expected source in {list(SOURCES)}, got {source!r}"
    tags = row.get("tags") or ()
    if tags and not tags_as_is(tags):
        return None, f"expected tags to be a list of strings, got {tags!r}"
    metadata = row.get("metadata")
    if not metadata_as_is(metadata):
        return None, f"expected metadata to be an object, got {type(metadata).__name__}"
    prompt = row.get("prefix")
    if prompt is not None and not _prompt_as_is(prompt, None):
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
        dets, err = parse_detections(row["detections"], class_set)
        if err is not None:
            return None, err
    if not row.keys() <= KNOWN:  # unknown top-level keys are kept, in metadata
        metadata = {**{k: v for k, v in row.items() if k not in KNOWN}, **(metadata or {})}
    return (pos, split, source, tags, metadata, sid, width, height, dets), None


Row = tuple[str, str | None, str | None, "NativeRow | None", "Skip | None"]
"""A kept row: ``(image relative to the root, label, prompt, native fields or None, note or None)``.

A note is a :class:`~datakit.errors.Skip` record about a row that is kept (a label read with its
surrounding whitespace stripped): it is listed with the skips, and the row is not dropped."""


def _whitespace_note(ctx: FileContext, lineno: int, raw: Any, label: str) -> Skip | None:
    if type(raw) is str and raw != label:
        return Skip(ctx.rel_file, lineno, f"label {raw!r} has surrounding whitespace: kept as {label!r}")
    return None


def check_row(row: Any, lineno: int, pos: int, ctx: FileContext) -> Row | Skip:
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
    if plain_name(image):
        rel = ctx.prefix + image
    else:
        try:
            rel = safe_relpath(image, ctx.folder)
        except PathEscapeError as e:
            return Skip(rel_file, lineno, str(e), image)
    note = None
    if "label" in row:
        label, err = as_label(row["label"])
        if err is None and "suffix" in row and row["suffix"] not in (None, row["label"]):
            s, _ = as_label(row["suffix"])
            if s != label:
                err = f"label {row['label']!r} and suffix {row['suffix']!r} disagree"
        if err is None and label is not None:
            note = _whitespace_note(ctx, lineno, row["label"], label)
    else:
        label = row.get("suffix")
        if type(label) is not str or not label or label.strip() != label:  # label_as_is, inlined
            raw = label
            label, err = as_label(raw)
            if err is None and label is not None:
                note = _whitespace_note(ctx, lineno, raw, label)
        else:
            err = None
    if err is not None:
        return Skip(rel_file, lineno, err, rel)
    class_set = ctx.class_set
    if class_set is not None and label is not None and label not in class_set:
        return Skip(rel_file, lineno, f"label {label!r} is not a declared class", rel)
    if row.keys() <= PLAIN and (ctx.folder_split is not None or "split" not in row):
        prompt = row.get("prefix")
        if prompt is not None and type(prompt) is not str:
            return Skip(rel_file, lineno, f"expected prefix to be a string, got {prompt!r}", rel)
        return rel, label, prompt, None, note
    native, err = native_fields(row, pos, ctx.folder_split, ctx.default_source, class_set)
    if err is not None:
        return Skip(rel_file, lineno, err, rel)
    if note is None and native is not None and native[8]:
        padded = [
            d["label"] for d in row["detections"] if type(d.get("label")) is str and d["label"].strip() != d["label"]
        ]
        if padded:
            note = Skip(rel_file, lineno, f"detection label {padded[0]!r} has surrounding whitespace: kept as "
                        f"{padded[0].strip()!r}")  # fmt: skip
    return rel, label, row.get("prefix"), native, note


def check_flagged(
    flagged: list[int], row_at: Callable[[int], Any], ctx: FileContext
) -> tuple[list[tuple[int, Row]], list[Skip], list[int]]:
    """Decide the rows a column-wise path flagged with :func:`check_row`.

    ``flagged`` rows (ascending) are read by ``row_at(row)``, which may raise
    ``orjson.JSONDecodeError``. Returns ``(fixes, records, dead)``: the kept rows' values, the
    skip records (and notes about kept rows), and the rows that are dropped.
    """
    import orjson

    fixes: list[tuple[int, Row]] = []
    skips: list[Skip] = []
    dead: list[int] = []
    for i in flagged:
        try:
            row = row_at(i)
        except orjson.JSONDecodeError as e:
            r: Row | Skip = Skip(ctx.rel_file, i + 1, f"not valid JSON ({e})")
        else:
            r = check_row(row, i + 1, i, ctx)
        if isinstance(r, Skip):
            skips.append(r)
            dead.append(i)
        else:
            if r[4] is not None:
                skips.append(r[4])
            fixes.append((i, r))
    return fixes, skips, dead
