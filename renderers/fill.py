"""Rare-class fill: which classes to render and how many, from a reference dataset's counts.

The seed's rule: every class with fewer than 50 real training samples is topped up with
synthetic renders to 200 (``target - count`` each). Counting uses the reference's real samples
of one split (``train``; all real samples when the reference has no such split), so synthetic
rows already in the reference never count as real data.

Examples:
    >>> plan_fill({"7": 120, "6": 4, "46": 5}, min_count=50, target=200)
    {'6': 196, '46': 195}
    >>> parse_class_spec("0-3,23,00")
    ['0', '1', '2', '3', '23', '00']

"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from renderers.jersey import check_label
from renderers.palettes import pairs_from_metadata

if TYPE_CHECKING:
    from datakit.dataset import Dataset


def parse_class_spec(spec: str) -> list[str]:
    """Parse ``0-99``, ``7,23,00`` or a mix into jersey-number class names, in order.

    Ranges give plain numbers (``0-3`` → 0, 1, 2, 3); write ``00`` explicitly.

    Raises:
        ValueError: A part that is not a number or ``A-B`` range with ``A <= B``, a class that
            is not a 1–3 digit number, or a class listed twice.

    Examples:
        >>> parse_class_spec("8-10")
        ['8', '9', '10']

    """
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if "-" in part:
            a, _, b = part.partition("-")
            if not (a.strip().isdigit() and b.strip().isdigit()) or int(a) > int(b):
                raise ValueError(f"expected a class range like 0-99, got {part!r}")
            out.extend(str(k) for k in range(int(a), int(b) + 1))
        else:
            out.append(part)
    if not out:
        raise ValueError(f"expected at least one class in {spec!r}")
    for c in out:
        check_label(c)
    seen: set[str] = set()
    for c in out:
        if c in seen:
            raise ValueError(f"class {c!r} listed twice in {spec!r}")
        seen.add(c)
    return out


def _rows(ds: Dataset, split: str | None) -> list[int]:
    """Indices of real samples in ``split`` (all real samples if the split is absent)."""
    sources = ds.column("source")
    real = [i for i, s in enumerate(sources) if s in ("real", None)]
    if split is None:
        return real
    splits = ds.column("split")
    in_split = [i for i in real if splits[i] == split]
    return in_split if in_split else real


def reference_counts(ds: Dataset, split: str | None = "train") -> dict[str, int]:
    """Real samples per label in ``split`` of a reference dataset (label ``None`` not counted).

    Examples:
        >>> from datakit import Dataset, Sample
        >>> ds = Dataset.from_samples([Sample("a.jpg", label="7", split="train"),
        ...     Sample("b.jpg", label="7", split="train", source="synthetic")], root=".")
        >>> reference_counts(ds)
        {'7': 1}

    """
    counts: dict[str, int] = {}
    labels = ds.column("label")
    for i in _rows(ds, split):
        lab = labels[i]
        if lab is not None:
            counts[lab] = counts.get(lab, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def reference_pairs(ds: Dataset, split: str | None = "train") -> tuple[dict[tuple[str, str], int], int]:
    """``(jersey_color, number_color)`` pair counts over the same rows, and the unusable rows.

    Examples:
        >>> from datakit import Dataset, Sample
        >>> ds = Dataset.from_samples([Sample("a.jpg", label="7", split="train",
        ...     metadata={"jersey_color": "white", "number_color": "red"})], root=".")
        >>> reference_pairs(ds)
        ({('white', 'red'): 1}, 0)

    """
    jersey, number = ds.column("metadata.jersey_color"), ds.column("metadata.number_color")
    rows = _rows(ds, split)
    return pairs_from_metadata({"jersey_color": jersey[i], "number_color": number[i]} for i in rows)


def plan_fill(
    counts: Mapping[str, int],
    *,
    classes: list[str] | None = None,
    min_count: int | None = 50,
    target: int | None = 200,
    per_class: int | None = None,
) -> dict[str, int]:
    """How many renders each class gets.

    Args:
        counts: Real samples per class (from :func:`reference_counts`; empty without a reference).
        classes: Classes to consider (default: the classes in ``counts``). A listed class absent
            from ``counts`` has 0 real samples.
        min_count: Fill classes with fewer than this many real samples.
        target: ... up to this many (real + synthetic).
        per_class: Instead: exactly this many renders for every class considered.

    Returns:
        ``{class: renders}`` for classes that get at least one render, in class order
        (``classes`` order when given, else sorted by number).

    Raises:
        ValueError: Inconsistent options (both or neither of ``per_class`` and a fill rule,
            ``target < min_count``, negative numbers).

    Examples:
        >>> plan_fill({}, classes=["1", "2"], per_class=3)
        {'1': 3, '2': 3}

    """
    pool = list(classes) if classes is not None else sorted(counts, key=lambda c: (len(c), c))
    if per_class is not None:
        if per_class <= 0:
            raise ValueError(f"expected a positive per-class count, got {per_class}")
        return {c: per_class for c in pool}
    if min_count is None or target is None:
        raise ValueError("expected either per_class, or both min_count and target")
    if min_count < 1 or target < 1:
        raise ValueError(f"expected positive min_count and target, got {min_count} and {target}")
    if target < min_count:
        raise ValueError(f"expected target >= min_count, got target {target} < min_count {min_count}")
    plan = {}
    for c in pool:
        have = int(counts.get(c, 0))
        if have < min_count:
            plan[c] = target - have
    return plan
