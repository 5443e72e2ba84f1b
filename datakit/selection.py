"""Active-learning selection: score every sample, then pick a budget of them for human review.

Three criteria, each recorded per sample:

* **uncertainty** (``band=(lo, hi)``): a sample with a detection whose score falls in the band
  scores ``0.5 + 0.5 * closeness``, where closeness is 1 at the band's middle and 0 at its
  edges (the best of its detections); a sample with none scores 0.
* **rarity** (``priority=["ball"]`` or ``"auto"``): the weight of the rarest priority class the
  sample holds (its label, and its detections — only those in the band when a band is given):
  1 for a named class, ``min_count / count`` for ``"auto"`` (inverse frequency, rarest = 1).
* **diversity**: greedy k-center (Sener & Savarese, 2018) on image features. Each step keeps the
  distance of every sample to its nearest chosen (or already reviewed) sample; the diversity
  score is that distance over the current largest one (1 for the point k-center would pick).

Each step picks the available sample with the highest ``uncertainty + rarity + diversity_weight
* diversity`` and records which term contributed most (``selection_reason``). With the default
  weight a band detection of a priority class (score ≥ 1.5) goes before a pure diversity pick
  (≤ 1), and among equally hard samples the one farthest from everything chosen goes first.
Samples tagged ``reviewed`` are never picked; they seed the k-center distances instead, so the
budget goes to what the reviewed set does not cover. ``per_video`` caps the picks sharing one
``metadata.video``. Ties break by a permutation drawn from ``seed``, so a seed gives one result.

Cost: ``O(N * D * (budget + reviewed))`` with features projected to ``dims`` dimensions (a
seeded Gaussian projection, chunked) — linear in samples × budget, no all-pairs matrix.

Examples:
    >>> from datakit import Dataset, Detection, Sample
    >>> ds = Dataset.from_samples([
    ...     Sample("a.jpg", detections=[Detection("ball", (0, 0, 4, 4), 0.15)]),
    ...     Sample("b.jpg", detections=[Detection("player", (0, 0, 4, 4), 0.9)]),
    ...     Sample("c.jpg", detections=[Detection("player", (0, 0, 4, 4), 0.3)]),
    ... ], ".")
    >>> sel = select(ds, 2, band=(0.1, 0.4), priority=["ball"], features=None)
    >>> [ds.images[i] for i in sel.order], sel.reasons
    (['a.jpg', 'c.jpg'], ['rare_class', 'uncertainty'])

"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from datakit.dataset import Dataset

REVIEW_TAG = "review"
"""Tag of the samples a selection puts in the queue."""

REVIEWED_TAG = "reviewed"
"""Tag of samples a human has reviewed (``datakit review --pull`` sets it); never selected again."""

REASONS = ("uncertainty", "rare_class", "diversity")
"""Values of ``selection_reason``."""

_TIE_ORDER = ("rare_class", "uncertainty", "diversity")

FEATURES = ("embedding", "phash", "none")
"""Feature kinds :func:`compute_features` builds."""

META_KEYS = ("selection_rank", "selection_score", "selection_reason", "selection_uncertainty",
             "selection_rarity", "selection_diversity")  # fmt: skip
"""Metadata keys a selection writes on the samples it picks."""


def parse_band(text: str | None) -> tuple[float, float] | None:
    """``"0.1,0.4"`` → ``(0.1, 0.4)``.

    Raises:
        ValueError: Not two numbers with ``0 <= lo < hi <= 1``.

    Examples:
        >>> parse_band("0.1,0.4"), parse_band(None)
        ((0.1, 0.4), None)
        >>> parse_band("0.5,0.2")
        Traceback (most recent call last):
        ...
        ValueError: expected a band LO,HI with 0 <= LO < HI <= 1, got '0.5,0.2'

    """
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"expected a band LO,HI with 0 <= LO < HI <= 1, got {text!r}") from None
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"expected a band LO,HI with 0 <= LO < HI <= 1, got {text!r}")
    return lo, hi


def uncertainty_scores(
    sample: np.ndarray, scores: np.ndarray, n: int, band: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample uncertainty and the number of detections in the band.

    Args:
        sample: ``(M,)`` owning sample of each detection.
        scores: ``(M,)`` detection scores (NaN unknown: never in the band).
        n: Number of samples.
        band: ``(lo, hi)`` inclusive.

    Returns:
        ``(uncertainty (n,) float64, in_band (n,) int64)``.

    Examples:
        >>> u, k = uncertainty_scores(np.array([0, 0, 2]), np.array([0.25, 0.9, 0.1]), 3, (0.1, 0.4))
        >>> u.round(3).tolist(), k.tolist()
        ([1.0, 0.0, 0.5], [1, 0, 1])

    """
    lo, hi = band
    s = np.asarray(scores, dtype=np.float64)
    inside = (s >= lo) & (s <= hi)  # NaN compares False
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    closeness = np.clip(1.0 - np.abs(s - mid) / half, 0.0, 1.0)
    u = np.zeros(n, dtype=np.float64)
    np.maximum.at(u, sample[inside], 0.5 + 0.5 * closeness[inside])
    return u, np.bincount(sample[inside], minlength=n).astype(np.int64)


def class_weights(counts: dict[str, int], priority: Sequence[str] | str | None) -> dict[str, float]:
    """Weight of each class: 1 for named priority classes, inverse frequency for ``"auto"``.

    Examples:
        >>> class_weights({"player": 90, "ball": 10, "ref": 5}, "auto")
        {'player': 0.0556, 'ball': 0.5, 'ref': 1.0}
        >>> class_weights({"player": 90}, ["ball"])
        {'ball': 1.0}

    """
    if priority is None:
        return {}
    if priority == "auto":
        present = {c: n for c, n in counts.items() if n > 0}
        if not present:
            return {}
        least = min(present.values())
        return {c: round(least / n, 4) for c, n in present.items()}
    return {str(c): 1.0 for c in priority}


def project(features: np.ndarray, dims: int, seed: int = 0, chunk: int = 16384) -> np.ndarray:
    """Float32 features, reduced to ``dims`` by a seeded Gaussian projection when wider.

    A Johnson–Lindenstrauss projection keeps pairwise distances to within a few percent at 128
    dimensions, which is what k-center needs, and makes every step ~10× cheaper at 1,280-d.
    Rows are converted ``chunk`` at a time, so memory stays at the output plus one chunk.

    Examples:
        >>> x = np.random.default_rng(0).standard_normal((50, 1280))
        >>> y = project(x, 128)
        >>> y.shape, y.dtype
        ((50, 128), dtype('float32'))
        >>> d0, d1 = np.linalg.norm(x[0] - x[1]), np.linalg.norm(y[0] - y[1])
        >>> bool(abs(d1 / d0 - 1) < 0.2)
        True

    """
    x = np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"expected features of shape (N, D), got {x.shape}")
    if dims <= 0 or dims >= x.shape[1]:
        return x if x.dtype == np.float32 else x.astype(np.float32)
    rng = np.random.default_rng(seed)
    m = (rng.standard_normal((x.shape[1], dims)) / np.sqrt(dims)).astype(np.float32)
    out = np.empty((len(x), dims), dtype=np.float32)
    for a in range(0, len(x), chunk):
        out[a : a + chunk] = x[a : a + chunk].astype(np.float32, copy=False) @ m
    return out


def min_sq_distances(x: np.ndarray, centers: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Squared distance of every row of ``x`` to its nearest row of ``centers`` (inf if none).

    Centers are taken ``chunk`` at a time: memory is ``len(x) * chunk`` floats.

    Examples:
        >>> x = np.array([[0.0, 0.0], [3.0, 4.0]], dtype=np.float32)
        >>> min_sq_distances(x, x[:1]).tolist()
        [0.0, 25.0]

    """
    sq = np.einsum("ij,ij->i", x, x)
    best = np.full(len(x), np.inf, dtype=np.float32)
    for a in range(0, len(centers), chunk):
        c = np.asarray(centers[a : a + chunk], dtype=np.float32)
        d = sq[:, None] - 2.0 * (x @ c.T) + np.einsum("ij,ij->i", c, c)[None, :]
        np.minimum(best, d.min(axis=1), out=best)
    return np.maximum(best, 0.0)


def covering_radius(x: np.ndarray, centers: np.ndarray, chunk: int = 256) -> float:
    """Largest distance from a row of ``x`` to its nearest center: what k-center minimises.

    Examples:
        >>> x = np.array([[0.0], [1.0], [10.0]], dtype=np.float32)
        >>> covering_radius(x, x[[0]]), covering_radius(x, x[[0, 2]])
        (10.0, 1.0)

    """
    return float(np.sqrt(min_sq_distances(np.asarray(x, dtype=np.float32), centers, chunk).max(initial=0.0)))


@dataclass
class Selection:
    """What :func:`select` chose and why.

    Attributes:
        order: Selected sample indices, in selection order (rank 1 first).
        scores: Combined score of each pick when it was picked.
        reasons: The criterion that contributed most to each pick (one of :data:`REASONS`).
        uncertainty: ``(N,)`` uncertainty of every sample.
        rarity: ``(N,)`` rarity of every sample.
        diversity: Diversity term of each pick when it was picked (0..1).
        in_band: ``(N,)`` detections in the band per sample.
        eligible: Samples that could be picked (not reviewed, features available).
        params: The parameters, for ``selection.json``.
        excluded: Counts of samples left out and why.
        covering_radius: Largest distance (projected features) from an eligible sample to its
            nearest pick or reviewed sample, after the selection (``None`` without features).

    """

    order: list[int]
    scores: list[float]
    reasons: list[str]
    uncertainty: np.ndarray
    rarity: np.ndarray
    diversity: list[float]
    in_band: np.ndarray
    eligible: int
    params: dict[str, Any]
    excluded: dict[str, int] = field(default_factory=dict)
    covering_radius: float | None = None

    def report(self, ds: Dataset) -> dict[str, Any]:
        """The ``selection.json`` payload: parameters, counts per reason and class.

        Examples:
            >>> from datakit import Dataset, Sample
            >>> ds = Dataset.from_samples([Sample("a.jpg", label="7"), Sample("b.jpg", label="9"),
            ...                            Sample("c.jpg", label="9")], ".")
            >>> r = select(ds, 1, priority="auto", features=None).report(ds)
            >>> r["selected"], r["by_reason"], r["by_label"]
            (1, {'rare_class': 1}, {'7': 1})

        """
        c = ds.columns
        labels = [c.labels[i] for i in self.order]
        det_labels: Counter[str] = Counter()
        d = c.detections
        for i in self.order:
            for k in range(int(d.offsets[i]), int(d.offsets[i + 1])):
                det_labels[str(d.labels[k])] += 1
        videos = Counter(str((c.metadata[i] or {}).get("video")) for i in self.order)
        return {
            "params": self.params,
            "samples": len(ds),
            "eligible": self.eligible,
            "excluded": self.excluded,
            "selected": len(self.order),
            "by_reason": dict(Counter(self.reasons).most_common()),
            "by_label": {("null" if k is None else k): v for k, v in Counter(labels).most_common()},
            "by_detection_label": dict(det_labels.most_common()),
            "by_video": dict(videos.most_common()) if any(k != "None" for k in videos) else {},
            "with_band_detections": int((self.in_band[self.order] > 0).sum()) if self.order else 0,
            "band_samples_total": int((self.in_band > 0).sum()),
            "covering_radius": self.covering_radius,
            "queue": [
                {"id": c.ids[i], "rank": r + 1, "score": round(s, 6), "reason": why}
                for r, (i, s, why) in enumerate(zip(self.order, self.scores, self.reasons, strict=True))
            ],
        }

    def sample_metadata(self, rank: int) -> dict[str, Any]:
        """The ``selection_*`` metadata of the pick at ``rank`` (0-based position in :attr:`order`)."""
        i = self.order[rank]
        return {
            "selection_rank": rank + 1,
            "selection_score": round(self.scores[rank], 6),
            "selection_reason": self.reasons[rank],
            "selection_uncertainty": round(float(self.uncertainty[i]), 6),
            "selection_rarity": round(float(self.rarity[i]), 6),
            "selection_diversity": round(self.diversity[rank], 6),
        }

    def queue(self, ds: Dataset) -> Dataset:
        """The picks as a new dataset, in selection order, tagged ``review`` with ``selection_*`` metadata.

        Examples:
            >>> from datakit import Dataset, Sample
            >>> ds = Dataset.from_samples([Sample("a.jpg", label="7"), Sample("b.jpg", label="9")], ".")
            >>> q = select(ds, 1, features=None, seed=0).queue(ds)
            >>> len(q), q[0].tags, q[0].metadata["selection_rank"]
            (1, ['review'], 1)

        """
        sub = ds.take(self.order)
        c = sub.columns
        tags = [tuple(t) if REVIEW_TAG in t else (*t, REVIEW_TAG) for t in c.tags]
        meta = [{**(m or {}), **self.sample_metadata(r)} for r, m in enumerate(c.metadata)]
        return sub.replace(tags=tags, metadata=meta)

    def tag(self, ds: Dataset) -> tuple[Dataset, int]:
        """The whole dataset with the picks tagged (``--in-place``); a previous queue is cleared.

        Returns:
            ``(dataset, cleared)``: samples that carried ``review`` or ``selection_*`` from an
            earlier run and were not picked again lose them; ``cleared`` counts them.

        """
        c = ds.columns
        tags = list(c.tags)
        meta = list(c.metadata)
        picked = {i: r for r, i in enumerate(self.order)}
        cleared = 0
        for i in range(len(ds)):
            t, m = tags[i], meta[i]
            if i in picked:
                tags[i] = t if REVIEW_TAG in t else (*t, REVIEW_TAG)
                meta[i] = {**(m or {}), **self.sample_metadata(picked[i])}
            elif REVIEW_TAG in t or (m and any(k in m for k in META_KEYS)):
                cleared += 1
                tags[i] = tuple(x for x in t if x != REVIEW_TAG)
                if m:
                    meta[i] = {k: v for k, v in m.items() if k not in META_KEYS} or None
        return ds.replace(tags=tags, metadata=meta), cleared

    def plot(self, path: str | Path) -> Path:
        """Write a histogram PNG: score distributions of all eligible samples vs the picks, and reasons."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from datakit.atomic import atomic_write

        path = Path(path)
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        picks = np.asarray(self.order, dtype=np.int64)
        bins = np.linspace(0, 1, 21)
        for ax, name, values in ((axes[0], "uncertainty", self.uncertainty), (axes[1], "rarity", self.rarity)):
            ax.hist(values, bins=bins, color="#bbbbbb", label="all samples", log=True)
            ax.hist(values[picks], bins=bins, color="#d62728", label="selected", log=True)
            ax.set_title(f"{name} (per sample)")
            ax.set_xlabel(name)
            ax.legend(fontsize=8)
        counts = Counter(self.reasons)
        axes[2].bar(list(REASONS), [counts.get(r, 0) for r in REASONS], color=["#1f77b4", "#ff7f0e", "#2ca02c"])
        axes[2].set_title(f"selected by reason ({len(self.order)})")
        fig.tight_layout()
        with atomic_write(path, "wb") as f:
            fig.savefig(f, format="png", dpi=90)
        plt.close(fig)
        return path


def compute_features(
    ds: Dataset, kind: str, *, progress: Callable[[int], None] | None = None
) -> tuple[np.ndarray | None, list[str | None]]:
    """Image features for diversity: ``embedding`` (EfficientNet-Lite0), ``phash`` (64 hash bits) or ``none``.

    Returns:
        ``(features or None, errors)``; an unreadable image gets ``errors[i]`` and is not selected.

    Examples:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> from datakit import Dataset, Sample
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> Image.new("RGB", (40, 30), (200, 10, 10)).save(d / "a.png")
        >>> ds = Dataset.from_samples([Sample("a.png"), Sample("gone.png")], d)
        >>> f, errors = compute_features(ds, "phash")
        >>> f.shape, errors
        ((2, 64), [None, 'image not found'])

    """
    if kind not in FEATURES:
        raise ValueError(f"expected features in {FEATURES}, got {kind!r}")
    paths = [ds.root / p for p in ds.columns.images]
    if kind == "none":
        return None, [None] * len(ds)
    if kind == "phash":
        from datakit.dedup.hashing import fingerprints

        fp = fingerprints(paths)
        bits = np.unpackbits(fp.codes.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1)
        return bits.astype(np.float32), list(fp.errors)
    from datakit.dedup.embedding import embed_paths

    return embed_paths(paths, progress=progress)


def select(
    ds: Dataset,
    budget: int,
    *,
    band: tuple[float, float] | None = None,
    priority: Sequence[str] | str | None = None,
    features: np.ndarray | None = None,
    feature_errors: Sequence[str | None] | None = None,
    diversity_weight: float = 1.0,
    per_video: int | None = None,
    dims: int = 128,
    seed: int = 0,
) -> Selection:
    """Pick up to ``budget`` samples for review (see the module docstring for the scores).

    Args:
        ds: The dataset (not changed).
        budget: How many samples to pick.
        band: ``(lo, hi)`` detection-score band for uncertainty; ``None`` disables it.
        priority: Class names to favour, ``"auto"`` (inverse frequency), or ``None``.
        features: ``(N, D)`` image features for k-center diversity (``None`` disables it).
        feature_errors: Per sample, why its features are missing (those samples are skipped).
        diversity_weight: Weight of the diversity term.
        per_video: At most this many picks per ``metadata.video`` value.
        dims: Project features to this many dimensions first (0 keeps them as they are).
        seed: Seed of the tie-breaking permutation and of the projection.

    Raises:
        ValueError: A bad budget, weight, cap or feature shape (the message says which).

    """
    n = len(ds)
    if budget < 1:
        raise ValueError(f"expected a budget of at least 1, got {budget}")
    if per_video is not None and per_video < 1:
        raise ValueError(f"expected --per-video of at least 1, got {per_video}")
    if diversity_weight < 0:
        raise ValueError(f"expected a diversity weight >= 0, got {diversity_weight}")
    if features is not None and (np.ndim(features) != 2 or len(features) != n):
        raise ValueError(f"expected features of shape ({n}, D), got {np.shape(features)}")
    c = ds.columns
    table = ds.detections_table()
    det_sample = table["sample"]
    det_scores = table["score"]
    det_labels = c.detections.labels
    rng = np.random.default_rng(seed)
    tiebreak = rng.permutation(n).astype(np.float64) / max(n, 1) * 1e-6

    # --- uncertainty
    if band is not None:
        u, in_band = uncertainty_scores(det_sample, det_scores, n, band)
        lo, hi = band
        det_counted = (det_scores >= lo) & (det_scores <= hi)
    else:
        u, in_band = np.zeros(n), np.zeros(n, dtype=np.int64)
        det_counted = np.ones(len(det_scores), dtype=bool)

    # --- rarity
    counts: Counter[str] = Counter()
    for v, k in c.labels.counts().items():
        if v is not None:
            counts[v] += k
    for v, k in det_labels.counts().items():
        if v is not None:
            counts[v] += k
    weights = class_weights(dict(counts), priority)
    r = np.zeros(n, dtype=np.float64)
    if weights:
        wl = np.array([weights.get(v, 0.0) for v in c.labels.values] + [0.0])
        r = wl[c.labels.codes]
        if len(det_scores):
            wd = np.array([weights.get(v, 0.0) for v in det_labels.values] + [0.0])[det_labels.codes]
            wd = np.where(det_counted, wd, 0.0)
            np.maximum.at(r, det_sample, wd)
    hardness = u + r

    # --- who may be picked
    avail = np.fromiter((REVIEWED_TAG not in t for t in c.tags), dtype=bool, count=n)
    excluded = {"reviewed": int(n - avail.sum())}
    if feature_errors is not None:
        bad = np.fromiter((e is not None for e in feature_errors), dtype=bool, count=n)
        excluded["features_unavailable"] = int((bad & avail).sum())
        avail &= ~bad
    eligible = int(avail.sum())
    reviewed_idx = np.flatnonzero(np.fromiter((REVIEWED_TAG in t for t in c.tags), dtype=bool, count=n))

    videos: np.ndarray | None = None
    if per_video is not None:
        vals = [None if m is None else m.get("video") for m in c.metadata]
        index: dict[Any, int] = {}
        videos = np.fromiter(
            (-1 if v is None else index.setdefault(str(v), len(index)) for v in vals), dtype=np.int64, count=n
        )
        per_count = np.zeros(len(index), dtype=np.int64)

    # --- k-center state
    x: np.ndarray | None = None
    mind: np.ndarray | None = None
    if features is not None and diversity_weight > 0:
        x = project(np.asarray(features), dims, seed=seed)
        # centred: the same distances, with smaller norms for the float32 ``|a|² - 2ab + |b|²``
        mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
        x = x - mean if x is features or not x.flags.writeable else np.subtract(x, mean, out=x)
        sq = np.einsum("ij,ij->i", x, x)
        mind = min_sq_distances(x, x[reviewed_idx]) if len(reviewed_idx) else np.full(n, np.inf, np.float32)

    order: list[int] = []
    scores: list[float] = []
    reasons: list[str] = []
    divs: list[float] = []
    base = hardness + tiebreak
    while len(order) < budget and avail.any():
        if mind is not None:
            finite = np.isfinite(mind)
            if finite[avail].any():
                dist = np.sqrt(np.where(finite, mind, 0.0))
                top = float(dist[avail & finite].max())
                dn = np.where(finite, dist / top if top > 0 else 0.0, 1.0)
            else:
                dn = np.ones(n)
            total = base + diversity_weight * dn
        else:
            dn = np.zeros(n)
            total = base
        i = int(np.argmax(np.where(avail, total, -np.inf)))
        terms = {"uncertainty": float(u[i]), "rare_class": float(r[i]), "diversity": float(diversity_weight * dn[i])}
        reasons.append(max(_TIE_ORDER, key=lambda k: (terms[k], -_TIE_ORDER.index(k))))
        order.append(i)
        scores.append(float(hardness[i] + diversity_weight * dn[i]))
        divs.append(float(dn[i]))
        avail[i] = False
        if videos is not None and videos[i] >= 0:
            per_count[videos[i]] += 1
            if per_count[videos[i]] >= per_video:
                avail &= videos != videos[i]
        if x is not None and mind is not None:
            d = sq - 2.0 * (x @ x[i]) + sq[i]
            np.minimum(mind, np.maximum(d, 0.0), out=mind)

    radius = None
    if mind is not None and order:
        pool = np.fromiter((REVIEWED_TAG not in t for t in c.tags), dtype=bool, count=n)
        if feature_errors is not None:
            pool &= ~np.fromiter((e is not None for e in feature_errors), dtype=bool, count=n)
        radius = float(np.sqrt(mind[pool].max(initial=0.0)))
    params = {
        "budget": budget,
        "band": list(band) if band else None,
        "priority": priority if isinstance(priority, str) or priority is None else list(priority),
        "class_weights": weights,
        "features": None if features is None else list(np.shape(features)),
        "dims": dims,
        "diversity_weight": diversity_weight,
        "per_video": per_video,
        "seed": seed,
    }
    return Selection(order, scores, reasons, u, r, divs, in_band, eligible, params, excluded, radius)
