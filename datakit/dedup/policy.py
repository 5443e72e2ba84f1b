"""Which member of a duplicate cluster to keep: an ordered list of preferences.

Criteria, applied in order (ties fall through to the next; the image path breaks final ties):

- ``labeled``: a labeled sample over an unlabeled one;
- ``real``: ``real`` over ``pseudo`` over ``synthetic``;
- ``resolution``: more pixels;
- ``train``: ``train`` over ``valid`` over ``test`` over any other split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CRITERIA = ("labeled", "real", "resolution", "train")
DEFAULT_KEEP = ("labeled", "real", "train", "resolution")
"""The default order of preferences."""

_SOURCE_RANK = {"real": 0, "pseudo": 1, "synthetic": 2}
_SPLIT_RANK = {"train": 0, "valid": 1, "val": 1, "validation": 1, "test": 2}


@dataclass(frozen=True)
class Candidate:
    """What the policy knows about one image of a cluster."""

    image: str
    labeled: bool
    source: str
    pixels: int
    split: str | None


def parse_keep(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Validate a keep order (comma-separated string or list).

    Raises:
        ValueError: An unknown or repeated criterion.

    Examples:
        >>> parse_keep("real,labeled")
        ('real', 'labeled')
        >>> parse_keep("newest")
        Traceback (most recent call last):
        ...
        ValueError: unknown keep criterion 'newest'; expected some of labeled, real, resolution, train

    """
    if value is None:
        return DEFAULT_KEEP
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else [str(v) for v in value]
    items = [v for v in items if v]
    for v in items:
        if v not in CRITERIA:
            raise ValueError(f"unknown keep criterion {v!r}; expected some of {', '.join(CRITERIA)}")
    if len(set(items)) != len(items):
        raise ValueError(f"repeated keep criterion in {items}")
    return tuple(items)


def rank_key(c: Candidate, order: Sequence[str]) -> tuple[object, ...]:
    """Sort key: smaller is better."""
    key: list[object] = []
    for crit in order:
        if crit == "labeled":
            key.append(0 if c.labeled else 1)
        elif crit == "real":
            key.append(_SOURCE_RANK.get(c.source, 3))
        elif crit == "resolution":
            key.append(-c.pixels)
        elif crit == "train":
            key.append(_SPLIT_RANK.get(c.split or "", 3))
    key.append(c.image)
    return tuple(key)


def choose(cands: Sequence[Candidate], order: Sequence[str] = DEFAULT_KEEP) -> Candidate:
    """The candidate to keep.

    Examples:
        >>> a = Candidate("train/a.png", True, "synthetic", 100, "train")
        >>> b = Candidate("valid/b.jpg", True, "real", 50, "valid")
        >>> choose([a, b]).image, choose([a, b], ["train"]).image
        ('valid/b.jpg', 'train/a.png')

    """
    return min(cands, key=lambda c: rank_key(c, order))
