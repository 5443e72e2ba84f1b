"""Distribution audits: per-group value counts, coverage, degenerate fields, absent values, shifts.

Everything is computed on integer codes with ``numpy.bincount``, so a million samples take well
under a second per field; scipy is imported only for the chi-square test.

Examples:
    >>> from datakit import Dataset, Sample
    >>> ds = Dataset.from_samples(
    ...     [Sample(f"{i}.jpg", label=str(i % 2), split="train" if i < 6 else "valid",
    ...             metadata={"jersey_color": "white" if i % 3 else "red", "border": True})
    ...      for i in range(9)], ".")
    >>> a = audit(ds, by=("split",))
    >>> a["fields"]["jersey_color"]["counts"]["train"]
    {'white': 4, 'red': 2}
    >>> [d["field"] for d in a["degenerate_fields"]]
    ['border']

"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np

from datakit.dataset import field_name
from datakit.vocab import METADATA_FIELDS

if TYPE_CHECKING:
    from datakit.dataset import Dataset

EVAL_SPLITS = ("valid", "val", "validation", "test")
NONE_NAME = "(none)"


def value_name(v: Any) -> str:
    """How a field value is named in an audit: ``True`` → ``true``, others ``str``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def encode(values: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    """Integer codes (``-1`` for ``None``) and the value names they index.

    Examples:
        >>> codes, names = encode(["red", None, True, "red", "true"])
        >>> codes.tolist(), names
        ([0, -1, 1, 0, 1], ['red', 'true'])

    """
    try:
        keys = [k for k in dict.fromkeys(values) if k is not None]
        types = set(map(type, values))
        if bool in types and types & {int, float, complex}:
            raise TypeError("True and 1 would collide")  # take the careful path below
        lookup: dict[Any, int] = {k: i for i, k in enumerate(keys)}
        lookup[None] = -1
        codes = np.fromiter(map(lookup.__getitem__, values), dtype=np.int32, count=len(values))
        raw_names = [value_name(k) for k in keys]
    except TypeError:  # unhashable values (lists, dicts) or mixed bool/number: one by one
        import orjson

        index: dict[Any, int] = {}
        codes = np.fromiter(
            (
                -1
                if v is None
                else index.setdefault(
                    (
                        type(v) is bool,
                        orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode() if isinstance(v, (list, dict)) else v,
                    ),
                    len(index),
                )
                for v in values
            ),
            dtype=np.int32,
            count=len(values),
        )
        raw_names = [value_name(v) for (_, v) in index]
    names: list[str] = []
    where: dict[str, int] = {}
    remap = np.empty(len(raw_names) + 1, dtype=np.int32)
    remap[-1] = -1
    for k, n in enumerate(raw_names):  # True and "true" are one value
        if n not in where:
            where[n] = len(names)
            names.append(n)
        remap[k] = where[n]
    if len(names) != len(raw_names):
        codes = remap[codes]
    return codes, names


# --------------------------------------------------------------------------- groups
def field_codes(ds: Dataset, field: str) -> tuple[np.ndarray, list[str]]:
    """:func:`encode` for one field of ``ds``; core fields reuse their categorical codes.

    Examples:
        >>> from datakit import Dataset, Sample
        >>> ds = Dataset.from_samples([Sample("a.jpg", source="synthetic"), Sample("b.jpg")], ".")
        >>> codes, names = field_codes(ds, "source")
        >>> [names[c] for c in codes]
        ['synthetic', 'real']

    """
    ds_cols = ds.columns
    cats = {"split": ds_cols.splits, "label": ds_cols.labels, "prompt": ds_cols.prompts, "source": ds_cols.sources}
    if field in cats:
        col = cats[field]
        codes, names = col.codes.copy(), [str(v) for v in col.values]
        if field == "source" and (codes < 0).any():  # unset means the default, real
            if "real" not in names:
                names.append("real")
            codes[codes < 0] = names.index("real")
        return codes, names
    return encode(field_column(ds, field))


def field_column(ds: Dataset, field: str) -> list[Any]:
    """``ds.column`` of a core field or a metadata key (see :func:`~datakit.dataset.field_name`)."""
    return ds.column(field_name(field))


Level = tuple[str, np.ndarray, list[str]]


def build_groups(ds: Dataset, by: Sequence[str]) -> tuple[dict[str, dict[str, Any]], list[Level]]:
    """Groups of samples for each level: every ``by`` field alone, their combination, and ``all``.

    Returns:
        ``(groups, levels)``: ``groups`` maps a group name to ``{"level", "samples", "filter"}``;
        ``levels`` holds ``(level_name, group_code_per_sample, group_names)``.

    """
    n = len(ds)
    groups: dict[str, dict[str, Any]] = {"all": {"level": "all", "samples": n, "filter": {}}}
    levels: list[tuple[str, np.ndarray, list[str]]] = [("all", np.zeros(n, dtype=np.int32), ["all"])]
    per_field: list[tuple[np.ndarray, list[str]]] = []
    for f in by:
        codes, names = field_codes(ds, f)
        names = [*names, NONE_NAME]
        codes = np.where(codes < 0, len(names) - 1, codes).astype(np.int32)
        per_field.append((codes, names))
    specs: list[tuple[str, list[int]]] = [(f, [k]) for k, f in enumerate(by)]
    if len(by) > 1:
        specs.append(("×".join(by), list(range(len(by)))))
    for level, members in specs:
        if len(members) == 1:
            codes, names = per_field[members[0]]
            combo = codes
            labels = [[nm] for nm in names]
        else:
            combo = np.zeros(n, dtype=np.int64)
            for k in members:
                combo = combo * len(per_field[k][1]) + per_field[k][0]
            present = np.unique(combo)
            labels = []
            for c in present.tolist():
                parts = []
                for k in reversed(members):
                    size = len(per_field[k][1])
                    parts.append(per_field[k][1][c % size])
                    c //= size
                labels.append(parts[::-1])
            combo = np.searchsorted(present, combo).astype(np.int32)
        counts = np.bincount(combo, minlength=len(labels))
        keep = np.flatnonzero(counts)
        remap = np.full(len(labels), -1, dtype=np.int32)
        remap[keep] = np.arange(len(keep), dtype=np.int32)
        gnames = []
        for k in keep.tolist():
            name = "/".join(labels[k])
            if name in groups:
                name = f"{level}={name}"
            flt = {by[m]: labels[k][j] for j, m in enumerate(members)}
            groups[name] = {"level": level, "samples": int(counts[k]), "filter": flt}
            gnames.append(name)
        levels.append((level, remap[combo], gnames))
    return groups, levels


def _counts(gcodes: np.ndarray, n_groups: int, vcodes: np.ndarray, k: int) -> np.ndarray:
    """``(n_groups, k + 1)`` counts; column 0 counts unannotated samples."""
    flat = gcodes.astype(np.int64) * (k + 1) + (vcodes + 1)
    return np.bincount(flat, minlength=n_groups * (k + 1)).reshape(n_groups, k + 1)


def _pct(a: float, b: float) -> float:
    return round(100.0 * float(a) / float(b), 4) if b else 0.0


# --------------------------------------------------------------------------- statistics
def shift(counts_a: np.ndarray, counts_b: np.ndarray) -> dict[str, Any]:
    """Chi-square test of homogeneity, Jensen–Shannon distance and Cramér's V of two count vectors.

    Values absent from both are dropped. The chi-square has no continuity correction. With fewer
    than two values present the distributions are identical (p = 1, distances 0).

    Examples:
        >>> r = shift(np.array([50, 50]), np.array([90, 10]))
        >>> round(r["jsd"], 3), r["p_value"] < 1e-6, round(r["cramers_v"], 3)
        (0.383, True, 0.436)

    """
    a = np.asarray(counts_a, dtype=np.float64)
    b = np.asarray(counts_b, dtype=np.float64)
    keep = (a + b) > 0
    a, b = a[keep], b[keep]
    n_a, n_b = float(a.sum()), float(b.sum())
    out: dict[str, Any] = {"n_a": int(n_a), "n_b": int(n_b)}
    if n_a == 0 or n_b == 0:
        return {**out, "chi2": None, "dof": None, "p_value": None, "jsd": None, "cramers_v": None}
    p, q = a / n_a, b / n_b
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    jsd = math.sqrt(max(0.0, (kl_p + kl_q) / 2))
    if len(a) < 2:
        return {**out, "chi2": 0.0, "dof": 0, "p_value": 1.0, "jsd": 0.0, "cramers_v": 0.0}
    from scipy.stats import chi2_contingency

    res = chi2_contingency(np.stack([a, b]), correction=False)
    chi2 = float(res[0])
    v = math.sqrt(chi2 / ((n_a + n_b) * (min(2, len(a)) - 1)))
    return {
        **out,
        "chi2": round(chi2, 6),
        "dof": int(res[2]),
        "p_value": float(res[1]),
        "jsd": round(jsd, 6),
        "cramers_v": round(v, 6),
    }


def class_balance(labels: Sequence[str | None], threshold: int = 50) -> dict[str, Any] | None:
    """Imbalance of labels: max/min count ratio and the classes under ``threshold`` samples.

    Examples:
        >>> class_balance(["8"] * 257 + ["6"] * 4 + ["2"] * 60)["ratio"]
        64.25

    """
    codes, names = encode(labels)
    return _balance(np.bincount(codes[codes >= 0], minlength=len(names)), names, threshold)


def _balance(counts: np.ndarray, names: list[str], threshold: int) -> dict[str, Any] | None:
    present = [(names[k], int(c)) for k, c in enumerate(counts.tolist()) if c > 0]
    if not present:
        return None
    from datakit.dataset import sort_labels

    order = {n: i for i, n in enumerate(sort_labels(n for n, _ in present))}
    present.sort(key=lambda t: (-t[1], order[t[0]]))
    hi, lo = present[0], present[-1]
    return {
        "classes": len(present),
        "labeled": int(sum(c for _, c in present)),
        "max": hi[1], "max_class": hi[0], "min": lo[1], "min_class": lo[0],
        "ratio": round(hi[1] / lo[1], 4),
        "threshold": threshold,
        "under_threshold": {n: c for n, c in sorted(present, key=lambda t: (t[1], order[t[0]])) if c < threshold},
    }  # fmt: skip


def agreement(a: Sequence[Any], b: Sequence[Any]) -> dict[str, Any]:
    """Agreement of two annotators on one field, overall and per value.

    Only samples both annotated are compared. Per value ``v``: how often each annotator said
    ``v``, how often both did, ``agreement`` (both / either: Jaccard), and the share of one
    annotator's ``v`` answers the other confirms. Cohen's kappa corrects the overall rate for chance.

    Examples:
        >>> r = agreement(["true"] * 4, ["true", "false", "false", "false"])
        >>> r["per_value"]["true"]["a_confirmed_by_b"], r["per_value"]["false"]["a_says"]
        (0.25, 0)

    """
    if len(a) != len(b):
        raise ValueError(f"expected two columns of equal length, got {len(a)} and {len(b)}")
    both_present = [
        (value_name(x), value_name(y)) for x, y in zip(a, b, strict=True) if x is not None and y is not None
    ]
    n = len(both_present)
    values = sorted({v for pair in both_present for v in pair})
    idx = {v: i for i, v in enumerate(values)}
    conf = np.zeros((len(values), len(values)), dtype=np.int64)
    for x, y in both_present:
        conf[idx[x], idx[y]] += 1
    agree = int(np.trace(conf))
    row, col = conf.sum(1), conf.sum(0)
    pe = float((row * col).sum()) / (n * n) if n else 0.0
    po = agree / n if n else 0.0
    kappa = (po - pe) / (1 - pe) if n and pe < 1 else (1.0 if n else None)
    per_value = {}
    for v, i in idx.items():
        sa, sb, both = int(row[i]), int(col[i]), int(conf[i, i])
        per_value[v] = {
            "a_says": sa, "b_says": sb, "both": both,
            "agreement": round(both / (sa + sb - both), 4) if sa + sb - both else None,
            "a_confirmed_by_b": round(both / sa, 4) if sa else None,
            "b_confirmed_by_a": round(both / sb, 4) if sb else None,
        }  # fmt: skip
    return {
        "samples": len(a),
        "compared": n,
        "agreed": agree,
        "overall": round(po, 4) if n else None,
        "cohen_kappa": None if kappa is None else round(kappa, 4),
        "per_value": per_value,
        "confusion": {v: {w: int(conf[i, j]) for w, j in idx.items() if conf[i, j]} for v, i in idx.items()},
    }


# --------------------------------------------------------------------------- the audit
def default_fields(ds: Dataset, limit: int = 50) -> list[str]:
    """The seed's fields that are present, else every scalar metadata key with ≤ ``limit`` values."""
    ds_cols = ds.columns
    present = ds.metadata_keys()
    seed = [f for f in METADATA_FIELDS if f in present]
    if seed:
        return seed
    keys: dict[str, set[Any]] = {}
    for md in ds_cols.metadata:
        if md:
            for k, v in md.items():
                s = keys.setdefault(k, set())
                if len(s) <= limit and isinstance(v, (str, bool, int)):
                    s.add(v)
                elif not isinstance(v, (str, bool, int)) and v is not None:
                    s.add(object())  # not scalar: never a default field
    return sorted(k for k, s in keys.items() if 0 < len(s) <= limit and all(isinstance(v, (str, bool, int)) for v in s))


def audit(
    ds: Dataset,
    *,
    fields: Sequence[str] | None = None,
    by: Sequence[str] = ("split", "source"),
    min_class_count: int = 50,
    degenerate_threshold: float = 0.95,
    agreements: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Audit the distribution of metadata fields across groups of samples.

    Args:
        ds: The dataset.
        fields: Metadata keys to audit (default: :func:`default_fields`).
        by: Grouping fields (``split``, ``source``, ``label`` or a metadata key); each alone and
            their combination form the groups, plus ``all``.
        min_class_count: Classes with fewer labeled samples are listed in ``class_balance``.
        degenerate_threshold: A field whose most common value covers at least this share of its
            annotated samples is degenerate (unreliable: the seed's ``border=true`` for 100%).
        agreements: Pairs of fields to compare value by value (two annotators on one field).

    Returns:
        A JSON-serialisable dict with ``groups``, ``fields``, ``degenerate_fields``,
        ``absent_values``, ``shifts``, ``class_balance``, ``combinations`` and ``agreement``.

    Raises:
        ValueError: Bad thresholds or an unknown grouping field.

    """
    if not 0 < degenerate_threshold <= 1:
        raise ValueError(f"expected 0 < degenerate_threshold <= 1, got {degenerate_threshold}")
    if min_class_count < 0:
        raise ValueError(f"expected min_class_count >= 0, got {min_class_count}")
    fields = [f.removeprefix("metadata.") for f in (fields if fields is not None else default_fields(ds))]
    groups, levels = build_groups(ds, by)
    n = len(ds)
    label_codes, label_names = field_codes(ds, "label")
    from datakit.dataset import sort_labels

    label_order = sort_labels(label_names)
    split_codes, split_names = field_codes(ds, "split")
    source_codes, source_names = field_codes(ds, "source")
    train = "train" if "train" in split_names else None
    evals = [s for s in split_names if s in EVAL_SPLITS]

    encoded: dict[str, tuple[np.ndarray, list[str]]] = {}
    out_fields: dict[str, Any] = {}
    degenerate: list[dict[str, Any]] = []
    absent: dict[str, Any] = {}
    shifts: list[dict[str, Any]] = []
    for f in fields:
        vcodes, vnames = encode(ds.column(f"metadata.{f}"))
        encoded[f] = (vcodes, vnames)
        k = len(vnames)
        overall = np.bincount(vcodes[vcodes >= 0], minlength=k)
        order = sorted(range(k), key=lambda j: (-int(overall[j]), vnames[j]))
        values = [vnames[j] for j in order]
        counts_out: dict[str, dict[str, int]] = {}
        pct_out: dict[str, dict[str, float]] = {}
        coverage: dict[str, dict[str, Any]] = {}
        per_level: dict[str, np.ndarray] = {}
        for level, gcodes, gnames in levels:
            c = _counts(gcodes, len(gnames), vcodes, k)
            per_level[level] = c
            for g, name in enumerate(gnames):
                annotated = int(c[g, 1:].sum())
                counts_out[name] = {vnames[j]: int(c[g, j + 1]) for j in order if c[g, j + 1]}
                pct_out[name] = {vnames[j]: _pct(c[g, j + 1], annotated) for j in order if c[g, j + 1]}
                samples = groups[name]["samples"]
                coverage[name] = {"annotated": annotated, "samples": samples, "percent": _pct(annotated, samples)}
        # value × class counts (annotated, labeled samples)
        ok = (vcodes >= 0) & (label_codes >= 0)
        bc = np.bincount(label_codes[ok].astype(np.int64) * k + vcodes[ok], minlength=len(label_names) * k)
        bc = bc.reshape(len(label_names), k) if k else bc.reshape(len(label_names), 0)
        li = {nm: i for i, nm in enumerate(label_names)}
        by_class = {
            lab: {vnames[j]: int(bc[li[lab], j]) for j in order if bc[li[lab], j]}
            for lab in label_order
            if bc[li[lab]].any()
        }
        annotated_all = int(overall.sum())
        top = order[0] if order else None
        share = float(overall[top]) / annotated_all if annotated_all and top is not None else None
        top_name = None if top is None else vnames[top]
        entry = {
            "values": values,
            "annotated": annotated_all,
            "coverage": coverage,
            "counts": counts_out,
            "percent": pct_out,
            "by_class": by_class,
            "top_value": top_name,
            "top_share": None if share is None else round(share, 6),
        }
        out_fields[f] = entry
        if share is not None and top_name is not None and share >= degenerate_threshold:
            in_groups = [
                g
                for g, cnt in counts_out.items()
                if g != "all" and cnt and max(cnt.values()) / sum(cnt.values()) >= degenerate_threshold
            ]
            degenerate.append(
                {
                    "field": f,
                    "value": top_name,
                    "share": round(share, 6),
                    "annotated": annotated_all,
                    "distinct_values": k,
                    "threshold": degenerate_threshold,
                    "groups": in_groups,
                    "reason": f"{top_name!r} is {100 * share:.1f}% of {annotated_all} annotated samples: unreliable",
                }
            )
        if train is not None and evals:
            t = split_names.index(train)
            oks = split_codes >= 0
            sc = _counts(split_codes[oks], len(split_names), vcodes[oks], k)[:, 1:]
            train_only, eval_only = {}, {}
            for j in order:
                in_train = int(sc[t, j])
                missing = [e for e in evals if sc[split_names.index(e), j] == 0]
                if in_train and missing:
                    train_only[vnames[j]] = {"train": in_train, "absent_from": missing}
                present_eval = {e: int(sc[split_names.index(e), j]) for e in evals if sc[split_names.index(e), j]}
                if present_eval and not in_train:
                    eval_only[vnames[j]] = present_eval
            absent[f] = {"in_train_not_eval": train_only, "in_eval_not_train": eval_only}
        if len(source_names) > 1:  # the seed's "navy only in real data": values one source lacks
            sc = _counts(source_codes, len(source_names), vcodes, k)[:, 1:]
            partial = {}
            for j in order:
                have = {source_names[s]: int(sc[s, j]) for s in range(len(source_names)) if sc[s, j]}
                lack = [source_names[s] for s in range(len(source_names)) if not sc[s, j] and sc[s].any()]
                if have and lack:
                    partial[vnames[j]] = {"present_in": have, "absent_from": lack}
            absent.setdefault(f, {"in_train_not_eval": {}, "in_eval_not_train": {}})["by_source"] = partial
        for level, _, gnames in levels[1:]:
            c = per_level[level]
            for ga, gb in combinations(range(len(gnames)), 2):
                s = shift(c[ga, 1:], c[gb, 1:])
                if s["chi2"] is None:
                    continue
                shifts.append({"field": f, "level": level, "a": gnames[ga], "b": gnames[gb], **s})

    combos: dict[str, Any] = {}
    colour = [f for f in fields if f.endswith("color")]
    for fa, fb in combinations(colour, 2):
        (ca, na), (cb, nb) = encoded[fa], encoded[fb]
        okb = (ca >= 0) & (cb >= 0)
        flat = ca[okb].astype(np.int64) * len(nb) + cb[okb]
        m = np.bincount(flat, minlength=len(na) * len(nb)).reshape(len(na), len(nb))
        combos[f"{fa} x {fb}"] = {
            "rows": fa,
            "columns": fb,
            "counts": {
                na[i]: {nb[j]: int(m[i, j]) for j in range(len(nb)) if m[i, j]} for i in range(len(na)) if m[i].any()
            },
        }

    balance: dict[str, Any] = {"threshold": min_class_count, "groups": {}}
    for _level, gcodes, gnames in levels:
        okl = label_codes >= 0
        c = np.bincount(
            gcodes[okl].astype(np.int64) * len(label_names) + label_codes[okl], minlength=len(gnames) * len(label_names)
        ).reshape(len(gnames), len(label_names))
        for g, name in enumerate(gnames):
            balance["groups"][name] = _balance(c[g], label_names, min_class_count)
    balance["all"] = balance["groups"].get("all")

    agree = {}
    for fa, fb in agreements:
        agree[f"{fa} vs {fb}"] = agreement(field_column(ds, fa), field_column(ds, fb))

    return {
        "samples": n,
        "by": list(by),
        "groups": groups,
        "fields": out_fields,
        "degenerate_fields": degenerate,
        "absent_values": absent,
        "shifts": shifts,
        "class_balance": balance,
        "combinations": combos,
        "agreement": agree,
    }
