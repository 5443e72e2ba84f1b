"""Stratified, grouped, deterministic train/valid/test splits.

Samples are stratified by a field (the label by default; for a detection dataset without sample
labels, the rarest object class in each image), optionally grouped so that samples sharing a
group value (same video, same near-duplicate cluster) land in the same split, and assigned with
a local ``random.Random(seed)`` so the same input and seed always give the same split.

Examples:
    >>> from datakit import Dataset, Sample
    >>> ds = Dataset.from_samples([Sample(f"{i}.jpg", label=str(i % 2)) for i in range(20)], ".")
    >>> r = split(ds, ratios=(0.5, 0.5), names=("train", "test"), seed=1)
    >>> r.dataset.count_by("split")
    {'test': 10, 'train': 10}
    >>> r.per_split["train"]
    {'0': 5, '1': 5}

"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from datakit.dataset import Dataset

DEFAULT_NAMES = ("train", "valid", "test")


@dataclass
class SplitResult:
    """A split dataset and what happened.

    Attributes:
        dataset: The input with its ``split`` column set (and the stable class list).
        counts: Samples per split.
        per_split: Split → stratum value → samples.
        rare: Strata with fewer samples (or groups) than splits, placed whole in the first split.
        groups: Number of groups (equal to the number of samples without ``group``).
        straddling: Groups found in more than one split afterwards (always 0; reported as proof).
        unassigned: Samples with no stratum value (``None``), split like any other stratum.

    """

    dataset: Dataset
    counts: dict[str, int]
    per_split: dict[str, dict[str, int]]
    rare: dict[str, int] = field(default_factory=dict)
    groups: int = 0
    straddling: int = 0
    unassigned: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``datakit split --json``."""
        return {
            "counts": self.counts,
            "per_split": self.per_split,
            "rare": self.rare,
            "groups": self.groups,
            "straddling_groups": self.straddling,
            "unassigned": self.unassigned,
        }


def parse_ratios(text: str | Sequence[float], n_names: int | None = None) -> tuple[float, ...]:
    """Ratios from ``"0.7,0.15,0.15"`` (or ``"70,15,15"``), normalised to sum to 1.

    Raises:
        ValueError: Not numbers, a negative ratio, all zero, or not one per split name.

    Examples:
        >>> parse_ratios("70,15,15")
        (0.7, 0.15, 0.15)

    """
    try:
        vals = [float(x) for x in (text.split(",") if isinstance(text, str) else text)]
    except ValueError:
        raise ValueError(f"expected comma-separated numbers for ratios, got {text!r}") from None
    if not vals or any(v < 0 or not math.isfinite(v) for v in vals) or sum(vals) <= 0:
        raise ValueError(f"expected non-negative ratios with a positive sum, got {text!r}")
    if n_names is not None and len(vals) != n_names:
        raise ValueError(f"expected {n_names} ratios (one per split name), got {len(vals)}")
    total = sum(vals)
    return tuple(round(v / total, 12) for v in vals)


def strata(ds: Dataset, by: str | None = "label") -> list[str | None]:
    """The stratum of every sample: the value of field ``by``.

    For ``label`` on a dataset whose samples have no label but have objects, the stratum is the
    rarest object class in the image (so rare classes are spread over the splits).
    """
    ds_cols = ds.columns
    if by is None:
        return [None] * len(ds)
    if by == "label" and not (ds_cols.labels.codes >= 0).any() and len(ds_cols.detections):
        d = ds_cols.detections
        freq = np.bincount(d.labels.codes[d.labels.codes >= 0], minlength=len(d.labels.values))
        out: list[str | None] = []
        codes = d.labels.codes.tolist()
        offs = d.offsets.tolist()
        for i in range(len(ds)):
            cs = [c for c in codes[offs[i] : offs[i + 1]] if c >= 0]
            out.append(d.labels.values[min(cs, key=lambda c: (freq[c], c))] if cs else None)
        return out
    return [None if v is None else str(v) for v in ds.column(by)]


def _targets(total: int, ratios: Sequence[float]) -> list[int]:
    """Integer counts summing to ``total``, by largest remainder."""
    raw = [total * r for r in ratios]
    base = [math.floor(x) for x in raw]
    rest = total - sum(base)
    order = sorted(range(len(ratios)), key=lambda k: (-(raw[k] - base[k]), k))
    for k in order[:rest]:
        base[k] += 1
    return base


def split(
    ds: Dataset,
    *,
    ratios: Sequence[float] = (0.7, 0.15, 0.15),
    names: Sequence[str] = DEFAULT_NAMES,
    seed: int = 0,
    stratify: str | None = "label",
    group: str | None = None,
) -> SplitResult:
    """Assign every sample to a split, stratified and grouped, deterministically.

    Within each stratum, groups are shuffled with ``random.Random(seed)`` and given, largest
    first, to the split furthest below its target count, so every split gets its ratio of
    every class (to within one group). A stratum with fewer samples than there are splits with
    a non-zero ratio is rare: it goes whole to the first split and is reported. A group whose
    samples have different strata follows its most common stratum.

    Args:
        ds: The dataset (existing splits are ignored and replaced).
        ratios: One ratio per name; normalised to sum to 1.
        names: Split names.
        seed: Seed of the local random generator.
        stratify: Field to stratify by (``label``, ``source``, ``metadata.<key>``...), or ``None``.
        group: Field whose equal values must share a split (``metadata.video``,
            ``metadata.dup_cluster``); samples whose value is ``None`` are their own group.

    Returns:
        The split dataset and a report.

    Raises:
        ValueError: Ratios and names differ in length, or a name repeats.
        KeyError: An unknown field.

    Examples:
        >>> from datakit import Dataset, Sample
        >>> ds = Dataset.from_samples(
        ...     [Sample(f"{i}.jpg", label="a", metadata={"video": i // 4}) for i in range(12)], ".")
        >>> r = split(ds, ratios=(2, 1), names=("train", "test"), group="metadata.video")
        >>> r.counts, r.straddling
        ({'train': 8, 'test': 4}, 0)

    """
    if len(ratios) != len(names):
        raise ValueError(f"expected one ratio per split name, got {len(ratios)} ratios for {list(names)}")
    if len(set(names)) != len(names):
        raise ValueError(f"expected distinct split names, got {list(names)}")
    ratios = parse_ratios(list(ratios))
    rng = random.Random(seed)
    n = len(ds)
    strat = strata(ds, stratify)
    gvals = ds.column(group) if group is not None else [None] * n
    # Groups in first-appearance order; None values are singletons.
    group_of: list[int] = []
    members: list[list[int]] = []
    index: dict[Any, int] = {}
    for i, g in enumerate(gvals):
        if g is None:
            group_of.append(len(members))
            members.append([i])
            continue
        key = repr(g) if isinstance(g, list | dict) else g
        k = index.get(key)
        if k is None:
            k = index[key] = len(members)
            members.append([])
        members[k].append(i)
        group_of.append(k)
    # Stratum of a group: its most common stratum (ties: first seen).
    by_stratum: dict[str | None, list[int]] = {}
    for k, mem in enumerate(members):
        counts: dict[str | None, int] = {}
        for i in mem:
            counts[strat[i]] = counts.get(strat[i], 0) + 1
        s = max(counts, key=lambda v: counts[v])
        by_stratum.setdefault(s, []).append(k)
    active = sum(1 for r in ratios if r > 0)
    first = next(j for j, r in enumerate(ratios) if r > 0)
    assign = np.full(n, -1, dtype=np.int64)
    rare: dict[str, int] = {}
    for s in sorted(by_stratum, key=lambda v: (v is None, str(v))):
        groups = by_stratum[s]
        size = sum(len(members[k]) for k in groups)
        if size < active:
            rare[str(s)] = size
            for k in groups:
                assign[members[k]] = first
            continue
        rng.shuffle(groups)
        groups.sort(key=lambda k: -len(members[k]))  # stable: shuffled order among equal sizes
        target = _targets(size, ratios)
        have = [0] * len(ratios)
        for k in groups:
            m = len(members[k])
            j = max(range(len(ratios)), key=lambda j: (target[j] - have[j], ratios[j], -j))
            have[j] += m
            assign[members[k]] = j
    split_names = [names[j] for j in assign.tolist()]
    out = ds.with_column("split", split_names)
    if out.classes is None:
        from datakit.formats._common import class_names

        cls = class_names(out)
        out.classes = cls or None
    counts_out = {nm: 0 for nm in names}
    per: dict[str, dict[str, int]] = {nm: {} for nm in names}
    for nm, s in zip(split_names, strat, strict=True):
        counts_out[nm] += 1
        key = "null" if s is None else s
        per[nm][key] = per[nm].get(key, 0) + 1
    per = {nm: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for nm, v in per.items()}
    straddling = sum(1 for mem in members if len({split_names[i] for i in mem}) > 1)
    return SplitResult(
        dataset=out,
        counts=counts_out,
        per_split=per,
        rare=rare,
        groups=len(members),
        straddling=straddling,
        unassigned=sum(1 for s in strat if s is None),
    )
