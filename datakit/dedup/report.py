"""The dedup report: groups of image paths per finding, details, and a summary of counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from datakit.atomic import atomic_write_bytes

GROUP_KEYS = ("exact_groups", "near_groups", "annotation_rows", "label_conflicts", "leaks")


@dataclass
class DedupReport:
    """What :func:`datakit.dedup.find_duplicates` found.

    Each of ``exact_groups``, ``near_groups``, ``annotation_rows``, ``label_conflicts`` and
    ``leaks`` is a list of groups, each group a sorted list of image paths relative to the
    dataset root (``annotation_rows`` repeats the path once per row). ``details`` holds, per key,
    one dict per group (labels, splits, scores, rules); ``clusters`` maps every image that has a
    duplicate to its cluster id. ``unreadable`` lists images that could not be read or decoded
    and ``skipped_rows`` the rows the reader refused (a path escaping the root, a bad row), each
    counted in the summary.

    Examples:
        >>> r = DedupReport(root="/data")
        >>> sorted(r.to_dict())[:3]
        ['annotation_rows', 'clusters', 'details']

    """

    root: str
    method: str = "phash"
    settings: dict[str, Any] = field(default_factory=dict)
    exact_groups: list[list[str]] = field(default_factory=list)
    near_groups: list[list[str]] = field(default_factory=list)
    annotation_rows: list[list[str]] = field(default_factory=list)
    label_conflicts: list[list[str]] = field(default_factory=list)
    leaks: list[list[str]] = field(default_factory=list)
    details: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {k: [] for k in GROUP_KEYS})
    clusters: dict[str, str] = field(default_factory=dict)
    unreadable: list[dict[str, str]] = field(default_factory=list)
    empty_label_rows: list[dict[str, Any]] = field(default_factory=list)
    skipped_rows: list[dict[str, Any]] = field(default_factory=list)
    images: int = 0
    samples: int = 0
    timings: dict[str, float] = field(default_factory=dict, compare=False)
    """Seconds spent per stage (not part of the JSON report, which stays reproducible)."""

    @property
    def summary(self) -> dict[str, int]:
        """Counts of groups and of images involved."""
        out = {"samples": self.samples, "images": self.images}
        for k in GROUP_KEYS:
            out[k] = len(getattr(self, k))
        out["exact_duplicate_images"] = sum(len(g) - 1 for g in self.exact_groups)
        out["near_duplicate_images"] = sum(len(g) - 1 for g in self.near_groups)
        out["leaked_images"] = sum(len(g) for g in self.leaks)
        out["empty_label_rows"] = len(self.empty_label_rows)
        out["unreadable_images"] = len(self.unreadable)
        out["skipped_rows"] = len(self.skipped_rows)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what ``--report`` writes)."""
        out: dict[str, Any] = {"root": self.root, "method": self.method, "settings": self.settings}
        for k in GROUP_KEYS:
            out[k] = getattr(self, k)
        out["summary"] = self.summary
        out["details"] = self.details
        out["clusters"] = self.clusters
        out["empty_label_rows"] = self.empty_label_rows
        out["unreadable"] = self.unreadable
        out["skipped_rows"] = self.skipped_rows
        return out

    def save(self, path: str | Path) -> Path:
        """Write the report as indented JSON, atomically."""
        p = Path(path)
        atomic_write_bytes(p, orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
        return p
