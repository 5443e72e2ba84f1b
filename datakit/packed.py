"""Packed columns: many short strings (or JSON objects) in one byte buffer sliced by offsets.

A million image paths as Python ``str`` objects cost about 70 bytes each and a million metadata
dicts several hundred; packed, a path costs its UTF-8 bytes plus an 8-byte offset and a metadata
object its JSON text. Values are decoded when read (``col[i]``, iteration, :meth:`tolist`), and
selecting rows (:meth:`take`) moves bytes with numpy, never creating a Python object per row.
Only numpy and orjson are needed (pyarrow stays optional).

Examples:
    >>> s = StringColumn.from_values(["a.jpg", "b/ü.png", ""])
    >>> len(s), s[1], s[-1], s.tolist() == ["a.jpg", "b/ü.png", ""]
    (3, 'b/ü.png', '', True)
    >>> s.take([1, 1]) == ["b/ü.png", "b/ü.png"], s.is_unique(), s.take([0, 0]).is_unique()
    (True, True, False)
    >>> m = MetadataColumn.from_values([{"c": "red", "n": 2}, None, {}])
    >>> m[0], m[1], m[2], list(m.take([0]))
    ({'c': 'red', 'n': 2}, None, None, [{'c': 'red', 'n': 2}])

"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np
import orjson

_BLOCK = 65536
"""Rows decoded per step, so no step holds a whole column's worth of objects."""
_GATHER_BYTES = 2**21
"""Bytes gathered (or hashed) per step: the step's index array is 8 bytes per byte moved."""
_ERRORS = "surrogatepass"
"""Strings with lone surrogates (file names decoded with ``surrogateescape``) survive packing."""


def _gather(buf: np.ndarray, offsets: np.ndarray, idx: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The bytes of rows ``idx`` of a packed buffer, and their new offsets (vectorised, in blocks)."""
    starts = offsets[idx]
    lengths = offsets[idx + 1] - starts
    out_offsets = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out_offsets[1:])
    total = int(out_offsets[-1])
    if len(idx) and idx[-1] - idx[0] == len(idx) - 1 and np.array_equal(idx, np.arange(idx[0], idx[-1] + 1)):
        lo = int(offsets[idx[0]])
        return buf[lo : lo + total].tobytes(), out_offsets  # consecutive rows: one slice
    out = np.empty(total, dtype=np.uint8)
    a = 0
    while a < len(idx):
        # rows up to about _GATHER_BYTES of output (at least one row, however long)
        b = int(np.searchsorted(out_offsets, out_offsets[a] + _GATHER_BYTES, side="right")) - 1
        b = min(max(b, a + 1), len(idx))
        lo, hi = int(out_offsets[a]), int(out_offsets[b])
        if hi > lo:
            # byte k of the block comes from its row's start plus its position within the row
            src = np.repeat(starts[a:b] - out_offsets[a:b], lengths[a:b]) + np.arange(lo, hi)
            out[lo:hi] = buf[src]
        a = b
    return out.tobytes(), out_offsets


class PackedBuilder:
    """Appends packed blocks into one growing buffer, so building never holds the column twice.

    Examples:
        >>> b = PackedBuilder()
        >>> b.append(StringColumn.from_values(["a", "bc"])); b.append(StringColumn.from_values(["d"]))
        >>> StringColumn(*b.build()).tolist()
        ['a', 'bc', 'd']

    """

    __slots__ = ("data", "objects", "offsets", "rows")

    def __init__(self) -> None:
        self.data = bytearray()
        self.offsets: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
        self.objects: dict[int, dict[str, Any]] = {}
        self.rows = 0

    def append(self, block: _Packed) -> None:
        """Add the rows of ``block`` (its Python-object rows too, for metadata)."""
        self.offsets.append(block._offsets[1:] + len(self.data))
        self.data += block._data
        for i, md in getattr(block, "_objects", {}).items():
            self.objects[self.rows + i] = md
        self.rows += len(block)

    def build(self) -> tuple[bytearray, np.ndarray]:
        """``(data, offsets)`` of every row so far; the builder is left empty."""
        data, offsets = self.data, np.concatenate(self.offsets)
        self.data, self.offsets, self.rows = bytearray(), [np.zeros(1, dtype=np.int64)], 0
        return data, offsets


class _Packed:
    """Byte buffer + ``int64`` offsets: row ``i`` is ``data[offsets[i]:offsets[i+1]]``."""

    __slots__ = ("_data", "_offsets")

    def __init__(self, data: bytes | bytearray, offsets: np.ndarray) -> None:
        """Take ``data`` (a ``bytearray`` is kept as it is, not copied: the caller gives it up)."""
        offsets = np.asarray(offsets, dtype=np.int64)
        if offsets.ndim != 1 or not len(offsets) or offsets[0] != 0 or offsets[-1] != len(data):
            raise ValueError(f"expected offsets from 0 to {len(data)}, got {len(offsets)} offsets")
        offsets.flags.writeable = False
        self._data = data if isinstance(data, (bytes, bytearray)) else bytes(data)
        self._offsets = offsets

    @property
    def offsets(self) -> np.ndarray:
        """``(n + 1,)`` int64 byte offsets (read-only)."""
        return self._offsets

    @property
    def data(self) -> bytes | bytearray:
        """The packed bytes of every row."""
        return self._data

    @property
    def nbytes(self) -> int:
        """Memory held: the bytes and the offsets."""
        return len(self._data) + self._offsets.nbytes

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def _index(self, i: int) -> int:
        n = len(self)
        i = int(i)
        if not -n <= i < n:
            raise IndexError(f"row {i} out of range for {n} rows")
        return i % n

    def _raw(self, i: int) -> bytes:
        i = self._index(i)
        return bytes(self._data[self._offsets[i] : self._offsets[i + 1]])

    def _take_raw(self, idx: Sequence[int] | np.ndarray) -> tuple[bytes, np.ndarray]:
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        n = len(self)
        if len(idx) and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"indices out of range for {n} rows")
        idx = idx % max(n, 1)
        return _gather(np.frombuffer(self._data, np.uint8), self._offsets, idx)

    @staticmethod
    def _concat_raw(parts: Sequence[_Packed]) -> tuple[bytes, np.ndarray]:
        offsets = [np.zeros(1, dtype=np.int64)]
        base = 0
        for p in parts:
            offsets.append(p._offsets[1:] + base)
            base += len(p._data)
        return b"".join(p._data for p in parts), np.concatenate(offsets)


class StringColumn(_Packed, Sequence[str]):
    """A read-only column of strings packed as UTF-8 (``Sequence[str]``; ``==`` a list works).

    Examples:
        >>> s = StringColumn.from_values(["x", "yz"])
        >>> s[0:2], "yz" in s, s.index("yz"), s == ["x", "yz"], s.offsets.tolist()
        (['x', 'yz'], True, 1, True, [0, 1, 3])

    """

    __slots__ = ("_ascii",)

    def __init__(self, data: bytes | bytearray, offsets: np.ndarray) -> None:
        super().__init__(data, offsets)
        self._ascii = self._data.isascii()

    @classmethod
    def from_values(cls, items: Iterable[str]) -> StringColumn:
        """Pack strings (a :class:`StringColumn` is returned as it is).

        Raises:
            TypeError: An item is not a ``str`` (the message names its position).

        """
        if isinstance(items, StringColumn):
            return items
        values = items if isinstance(items, list) else list(items)
        if not all(type(v) is str for v in values):
            bad = next((k for k, v in enumerate(values) if not isinstance(v, str)), None)
            if bad is not None:
                raise TypeError(f"expected strings, got {type(values[bad]).__name__} at row {bad}")
            values = [str(v) for v in values]  # str subclasses (numpy.str_...) as plain str
        joined = "".join(values)
        offsets = np.zeros(len(values) + 1, dtype=np.int64)
        if joined.isascii():
            np.cumsum(np.fromiter(map(len, values), np.int64, len(values)), out=offsets[1:])
            return cls(joined.encode("ascii"), offsets)
        encoded = [v.encode("utf-8", _ERRORS) for v in values]
        np.cumsum(np.fromiter(map(len, encoded), np.int64, len(encoded)), out=offsets[1:])
        return cls(b"".join(encoded), offsets)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        """Row ``i`` as a ``str``; a slice gives a ``list`` (use :meth:`take` for a column)."""
        if isinstance(i, slice):
            return self.take(np.arange(len(self))[i]).tolist()
        return self._raw(i).decode("utf-8", _ERRORS)

    def _blocks(self) -> Iterator[list[str]]:
        offsets, data = self._offsets, self._data
        for a in range(0, len(self), _BLOCK):
            offs = offsets[a : a + _BLOCK + 1]
            lo = int(offs[0])
            if self._ascii:  # one decode per block, then slices of one str
                text = data[lo : int(offs[-1])].decode("ascii")
                rel = (offs - lo).tolist()
                yield [text[x:y] for x, y in itertools.pairwise(rel)]
            else:
                pos = offs.tolist()
                yield [data[x:y].decode("utf-8", _ERRORS) for x, y in itertools.pairwise(pos)]

    def __iter__(self) -> Iterator[str]:
        for block in self._blocks():
            yield from block

    def tolist(self) -> list[str]:
        """Every row as a ``str``."""
        return [s for block in self._blocks() for s in block]

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and any(value in block for block in self._blocks())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StringColumn):
            return bool(np.array_equal(self._offsets, other._offsets)) and self._data == other._data
        if isinstance(other, (list, tuple)):
            return len(other) == len(self) and self.tolist() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        head = ", ".join(repr(s) for s in self[:3])
        return f"StringColumn([{head}{', ...' if len(self) > 3 else ''}], rows={len(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (StringColumn, (bytes(self._data), np.asarray(self._offsets)))

    def take(self, idx: Sequence[int] | np.ndarray) -> StringColumn:
        """Rows ``idx`` (negative indices count from the end), gathered with numpy."""
        return StringColumn(*self._take_raw(idx))

    @staticmethod
    def concat(parts: Sequence[StringColumn]) -> StringColumn:
        """The rows of every part, in order."""
        return StringColumn(*_Packed._concat_raw(parts))

    def hashes(self) -> np.ndarray:
        """A 64-bit hash of every row (equal strings hash equal), computed with numpy.

        Rows are grouped by byte length; each group is read as a ``(rows, words)`` matrix of
        64-bit words, every word mixed and weighted by its position, and the row's sum mixed
        again: a few passes over the bytes, not a Python call per row.
        """
        n = len(self)
        lengths = np.diff(self._offsets)
        out = np.empty(n, dtype=np.uint64)
        buf = np.frombuffer(self._data, np.uint8)
        with np.errstate(over="ignore"):
            for length in np.unique(lengths).tolist():
                rows = np.flatnonzero(lengths == length)
                width = -(-length // 8) * 8
                step = max(1, _GATHER_BYTES // max(length, 1))
                for a in range(0, len(rows), step):
                    r = rows[a : a + step]
                    mat = np.zeros((len(r), max(width, 8)), dtype=np.uint8)
                    if length and r[-1] - r[0] == len(r) - 1:  # consecutive rows: one slice of the buffer
                        lo = int(self._offsets[r[0]])
                        mat[:, :length] = buf[lo : lo + len(r) * length].reshape(len(r), length)
                    elif length:
                        mat[:, :length] = buf[self._offsets[r][:, None] + np.arange(length)]
                    words = _mix(mat.view(np.uint64))  # every word mixed, then weighted by position
                    powers = np.cumprod(np.full(words.shape[1], 0x9E3779B97F4A7C15, dtype=np.uint64))
                    h = (words * powers).sum(axis=1, dtype=np.uint64) ^ np.uint64(length)
                    out[r] = _mix(h)
        return out

    def is_unique(self) -> bool:
        """Whether no string repeats (vectorised; exact: a hash collision is checked row by row)."""
        n = len(self)
        if n < 2:
            return True
        h = np.sort(self.hashes())
        if (h[1:] != h[:-1]).all():
            return True
        return len(set(self.tolist())) == n


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise (``uint64`` arithmetic wraps)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


class MetadataColumn(_Packed, Sequence[dict[str, Any] | None]):
    """A read-only column of optional metadata dicts, each packed as its JSON text.

    ``col[i]`` decodes a fresh dict (``None`` for no metadata; an empty dict is stored as
    ``None``). A value JSON cannot hold exactly (a tuple, a NaN, a numpy number, a non-string key)
    keeps its row as the Python object itself, so every value reads back as it was given.

    Examples:
        >>> m = MetadataColumn.from_values([{"t": (1, 2)}, {"c": "red"}])
        >>> m[0], m[1], m.count_present()
        ({'t': (1, 2)}, {'c': 'red'}, 2)

    """

    __slots__ = ("_objects",)

    def __init__(
        self, data: bytes | bytearray, offsets: np.ndarray, objects: dict[int, dict[str, Any]] | None = None
    ) -> None:
        super().__init__(data, offsets)
        self._objects = objects or {}

    @classmethod
    def from_values(cls, items: Iterable[dict[str, Any] | None], *, json_exact: bool = False) -> MetadataColumn:
        """Pack optional dicts (a :class:`MetadataColumn` is returned as it is).

        ``json_exact``: the dicts were just parsed from JSON, so their JSON text reads back
        exactly and the round-trip check is skipped.

        Raises:
            TypeError: An item is neither a dict nor ``None``.

        """
        if isinstance(items, MetadataColumn):
            return items
        values = items if isinstance(items, list) else list(items)
        n = len(values)
        rows = [i for i, md in enumerate(values) if md]  # most rows of most datasets carry none
        if n - len(rows) != values.count(None):  # empty dicts (no metadata), or something else
            bad = next((i for i, md in enumerate(values) if not md and md is not None and type(md) is not dict), None)
            if bad is not None:
                raise TypeError(f"expected a dict or None as metadata, got {type(values[bad]).__name__} at row {bad}")
        dumps, loads = orjson.dumps, orjson.loads
        lengths = np.zeros(n, dtype=np.int64)
        sizes: list[int] = []
        chunks: list[bytes] = []
        batch: list[bytes] = []
        objects: dict[int, dict[str, Any]] = {}
        if json_exact and all(type(values[i]) is dict for i in rows):  # the load path: a comprehension per batch
            for a in range(0, len(rows), 1024):  # orjson's bytes keep 4 KiB each until joined
                encoded = [dumps(values[i]) for i in rows[a : a + 1024]]
                sizes.extend(map(len, encoded))
                chunks.append(b"".join(encoded))
            rows_done: list[int] = []
        else:
            rows_done = rows
        for i in rows_done:
            md = values[i]
            if not isinstance(md, dict):
                raise TypeError(f"expected a dict or None as metadata, got {type(md).__name__} at row {i}")
            try:
                b = dumps(md)
                exact = json_exact or _same(loads(b), md)
            except (TypeError, orjson.JSONEncodeError):
                exact = False
            if not exact:
                objects[i] = md
                sizes.append(0)
                continue
            batch.append(b)
            sizes.append(len(b))
            if len(batch) >= 1024:  # orjson's bytes keep 4 KiB each until joined
                chunks.append(b"".join(batch))
                batch.clear()
        chunks.append(b"".join(batch))
        if rows:
            lengths[np.asarray(rows, dtype=np.int64)] = sizes
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(b"".join(chunks), offsets, objects)

    @classmethod
    def empty(cls, n: int) -> MetadataColumn:
        """``n`` rows without metadata."""
        return cls(b"", np.zeros(n + 1, dtype=np.int64))

    @overload
    def __getitem__(self, i: int) -> dict[str, Any] | None: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any] | None]: ...
    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any] | None] | None:
        """Row ``i`` decoded (a new dict each time), or ``None``; a slice gives a ``list``."""
        if isinstance(i, slice):
            return list(self.take(np.arange(len(self))[i]))
        i = self._index(i)
        raw = self._data[self._offsets[i] : self._offsets[i + 1]]
        if raw:
            return orjson.loads(raw)
        obj = self._objects.get(i)
        return None if obj is None else dict(obj)

    def __iter__(self) -> Iterator[dict[str, Any] | None]:
        data, loads, objects = self._data, orjson.loads, self._objects
        for base in range(0, len(self), _BLOCK):
            pos = self._offsets[base : base + _BLOCK + 1].tolist()
            for k, (a, b) in enumerate(itertools.pairwise(pos)):
                if a != b:
                    yield loads(data[a:b])
                elif objects:
                    obj = objects.get(base + k)
                    yield None if obj is None else dict(obj)
                else:
                    yield None

    def tolist(self) -> list[dict[str, Any] | None]:
        """Every row decoded."""
        return list(self)

    def encoded(self, idx: Sequence[int] | np.ndarray) -> list[bytes | dict[str, Any] | None]:
        """Rows ``idx`` as their JSON text (``bytes``), without decoding; ``None`` for no metadata.

        A row JSON cannot hold exactly comes back as its dict. Writers embed the bytes as they are
        (``orjson.Fragment``), which spares a decode and an encode per row.
        """
        data, offsets, objects = self._data, self._offsets, self._objects
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        out: list[bytes | dict[str, Any] | None] = []
        for i, a, b in zip(idx.tolist(), offsets[idx].tolist(), offsets[idx + 1].tolist(), strict=True):
            out.append(bytes(data[a:b]) if a != b else objects.get(i))
        return out

    def present(self) -> np.ndarray:
        """Boolean mask of the rows that carry metadata."""
        m = np.diff(self._offsets) > 0
        if self._objects:
            m[np.fromiter(self._objects, np.int64, len(self._objects))] = True
        return m

    def count_present(self) -> int:
        """How many rows carry metadata."""
        return int(np.count_nonzero(self.present()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (MetadataColumn, list, tuple)):
            return len(other) == len(self) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MetadataColumn(rows={len(self)}, with_metadata={self.count_present()})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (MetadataColumn, (bytes(self._data), np.asarray(self._offsets), self._objects))

    def take(self, idx: Sequence[int] | np.ndarray) -> MetadataColumn:
        """Rows ``idx`` (negative indices count from the end), gathered with numpy."""
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        data, offsets = self._take_raw(idx)
        objects: dict[int, dict[str, Any]] = {}
        if self._objects:
            n = len(self)
            has = np.zeros(n, dtype=bool)
            has[np.fromiter(self._objects, np.int64, len(self._objects))] = True
            src = idx % max(n, 1)
            for p in np.flatnonzero(has[src]).tolist():
                objects[p] = self._objects[int(src[p])]
        return MetadataColumn(data, offsets, objects)

    @staticmethod
    def concat(parts: Sequence[MetadataColumn]) -> MetadataColumn:
        """The rows of every part, in order."""
        objects: dict[int, dict[str, Any]] = {}
        base = 0
        for p in parts:
            objects.update({base + i: md for i, md in p._objects.items()})
            base += len(p)
        return MetadataColumn(*_Packed._concat_raw(parts), objects)


def _same(a: Any, b: Any) -> bool:
    """``a == b`` with types compared too (``1`` is not ``1.0`` or ``True``, a tuple not a list)."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
