"""Append-only JSONL checkpoints: results survive ``kill -9``; a rerun continues where it stopped.

The first line is a header naming the annotator and its configuration; every later line is one
result (``{"id": ..., "status": ..., ...}``). A batch is written with one ``write`` followed by
``flush`` and ``fsync``, so a crash loses at most the batch in flight. A crash in the middle of a
write can leave a torn last line: :meth:`Checkpoint.open` cuts it off before appending, so the
file never holds half a record and never holds one sample twice.

Examples:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ck.jsonl"
    >>> with Checkpoint.open(p, {"annotator": "color"}) as ck:
    ...     ck.append([{"id": "a", "status": "ok"}])
    >>> with Checkpoint.open(p, {"annotator": "color"}) as ck:
    ...     sorted(ck.done)
    ['a']

"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from datakit.errors import FormatError

HEADER_KEY = "_checkpoint"


class Checkpoint:
    """An open checkpoint file: the results already done, and an :meth:`append` for new ones.

    Use :meth:`open`; the object is a context manager that closes the file.

    Attributes:
        path: The checkpoint file.
        header: The configuration it was started with.
        done: Sample id → the result row recorded for it (the last row wins).
        dropped_bytes: Bytes of a torn last line cut off on open (0 after a clean stop).

    """

    def __init__(
        self, path: Path, header: dict[str, Any], done: dict[str, dict[str, Any]], dropped_bytes: int, handle: Any
    ) -> None:
        self.path = path
        self.header = header
        self.done = done
        self.dropped_bytes = dropped_bytes
        self._f = handle

    @classmethod
    def open(cls, path: str | Path, header: dict[str, Any], *, restart: bool = False) -> Checkpoint:
        """Open (or create) a checkpoint for an annotator with configuration ``header``.

        Args:
            path: Checkpoint file (its folder is created).
            header: JSON-serialisable configuration; a file started with a different one is
                refused, so results of two configurations never mix.
            restart: Discard an existing file and start over.

        Raises:
            FormatError: The file belongs to another configuration, or a complete line is not
                a JSON result (the message names the line).

        Examples:
            >>> import tempfile, pathlib
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "ck.jsonl"
            >>> Checkpoint.open(p, {"annotator": "ocr"}).close()
            >>> Checkpoint.open(p, {"annotator": "vlm"})
            Traceback (most recent call last):
            ...
            datakit.errors.FormatError: ...

        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        want = orjson.loads(orjson.dumps(header))  # normalise (tuples → lists) for comparison
        if restart and path.exists():
            path.unlink()
        done: dict[str, dict[str, Any]] = {}
        dropped = 0
        if path.exists() and path.stat().st_size:
            data = path.read_bytes()
            cut = data.rfind(b"\n") + 1
            dropped = len(data) - cut
            lines = data[:cut].split(b"\n")[:-1]
            got: dict[str, Any] | None = None
            for n, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    raise FormatError(path, n, f"not a JSON checkpoint row: {e}") from None
                if not isinstance(row, dict):
                    raise FormatError(path, n, f"expected a JSON object, got {type(row).__name__}")
                if HEADER_KEY in row:
                    got = row[HEADER_KEY]
                    continue
                if not isinstance(row.get("id"), str):
                    raise FormatError(path, n, "checkpoint row without a string 'id'")
                done[row["id"]] = row
            if got is None:
                raise FormatError(path, 1, "checkpoint without a header line; pass restart=True to start over")
            if got != want:
                raise FormatError(
                    path,
                    1,
                    f"checkpoint was started with {got}, not {want}; use another file or restart",
                )
            if dropped:  # a torn last line from a crash mid-write: cut it before appending
                with open(path, "r+b") as f:
                    f.truncate(cut)
                    f.flush()
                    os.fsync(f.fileno())
            handle = open(path, "ab")  # noqa: SIM115 - closed by close()/__exit__
        else:
            handle = open(path, "wb")  # noqa: SIM115
            handle.write(orjson.dumps({HEADER_KEY: want}) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        return cls(path, want, done, dropped, handle)

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append result rows in one write, then flush and fsync (durable before returning)."""
        rows = list(rows)
        if not rows:
            return
        self._f.write(b"".join(orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n" for r in rows))
        self._f.flush()
        os.fsync(self._f.fileno())
        for r in rows:
            self.done[r["id"]] = r

    def close(self) -> None:
        """Close the file (idempotent)."""
        if not self._f.closed:
            self._f.close()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
