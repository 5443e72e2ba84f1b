"""Errors that say where: every problem with input names the file and the line or id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class DatakitError(Exception):
    """Base class of every error datakit raises on purpose."""


class FormatError(DatakitError, ValueError):
    """Bad input in a file, located by line number or record id.

    Args:
        path: The file that holds the bad input.
        where: A 1-based line number, a record id, or ``None`` when the whole file is at fault.
        reason: What is wrong, in a few words.

    Examples:
        >>> str(FormatError("train/annotations.jsonl", 12, "empty label"))
        'train/annotations.jsonl:12: empty label'
        >>> str(FormatError("ann.json", "image id 7", "duplicate image id"))
        'ann.json: image id 7: duplicate image id'

    """

    def __init__(self, path: str | Path, where: int | str | None, reason: str) -> None:
        self.path = str(path)
        self.where = where
        self.reason = reason
        super().__init__(self._message())

    def _message(self) -> str:
        if self.where is None:
            return f"{self.path}: {self.reason}"
        if isinstance(self.where, int):
            return f"{self.path}:{self.where}: {self.reason}"
        return f"{self.path}: {self.where}: {self.reason}"


class PathEscapeError(DatakitError, ValueError):
    """A path that is absolute or leaves the dataset root through ``..``."""


@dataclass(frozen=True)
class Skip:
    """One input record that was skipped, and why.

    Attributes:
        file: The file holding the record, relative to the dataset root when possible.
        line: 1-based line number, or a record id (COCO ids, say); ``None`` for whole files.
        reason: Why it was skipped.
        image: The image the record named, when it named one (lets hygiene tools pair a
            skipped row with its valid twin).

    """

    file: str
    line: int | str | None
    reason: str
    image: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form used by ``info --json`` and reports."""
        out: dict[str, object] = {"file": self.file, "line": self.line, "reason": self.reason}
        if self.image is not None:
            out["image"] = self.image
        return out

    def to_error(self) -> FormatError:
        """Return the equivalent :class:`FormatError` (what ``strict`` mode raises)."""
        return FormatError(self.file, self.line, self.reason)


class SkipLog:
    """Collects skipped records; in strict mode the first skip raises instead.

    Examples:
        >>> log = SkipLog()
        >>> log.add("a.jsonl", 3, "not JSON")
        >>> len(log), log[0].reason
        (1, 'not JSON')
        >>> SkipLog(strict=True).add("a.jsonl", 3, "not JSON")
        Traceback (most recent call last):
        ...
        datakit.errors.FormatError: a.jsonl:3: not JSON

    """

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self._items: list[Skip] = []

    def add(self, file: str, line: int | str | None, reason: str, image: str | None = None) -> None:
        """Record one skip, or raise :class:`FormatError` in strict mode."""
        skip = Skip(file, line, reason, image)
        if self.strict:
            raise skip.to_error()
        self._items.append(skip)

    def extend(self, skips: list[Skip]) -> None:
        """Add skips gathered elsewhere (strict mode raises on the first)."""
        for s in skips:
            self.add(s.file, s.line, s.reason, s.image)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> Skip:
        return self._items[i]

    def __iter__(self):
        return iter(self._items)

    @property
    def items(self) -> list[Skip]:
        """The skips recorded so far, in order."""
        return list(self._items)
