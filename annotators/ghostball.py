"""The ghost-ball check: ball detections far off every short trajectory are tagged, never deleted.

A detector at a low threshold also finds "balls" in white socks, boots and pitch lines. A real
ball moves on a smooth path: over a few consecutive frames of one video its centre follows a
parabola in time (``x(t)``, ``y(t)`` quadratic in the frame index; gravity makes ``y`` quadratic,
and short windows keep ``x`` close to it too). For each window of ``window`` consecutive frames
(by ``metadata.frame_index`` within one ``metadata.video``; windows overlap by half) the
trajectory with the most frames is found by RANSAC over triples of detections from three
different frames (deterministic, seeded), then refitted by least squares on its inliers; it must
be supported by ``min_support`` frames. Each detection of the class gets ``ghost_residual`` (its
pixel distance to the nearest trajectory of a window holding it) in its attributes; a residual
above ``max_residual`` also sets ``ghost_suspect: true`` and tags the sample ``ghost_suspect``.
Detections in windows where no trajectory is found are left unjudged (counted as untracked).

Examples:
    >>> from datakit import Dataset, Sample
    >>> from datakit.sample import Detection
    >>> def ball(x, y):
    ...     return Detection("ball", (x - 3, y - 3, x + 3, y + 3), 0.2)
    >>> frames = [Sample(f"f{t}.jpg", metadata={"video": "m.mp4", "frame_index": t},
    ...                  detections=[ball(10 + 5 * t, 100 - 8 * t + t * t)] + ([ball(300, 40)] if t == 4 else []))
    ...           for t in range(9)]
    >>> out, report = check_trajectories(Dataset.from_samples(frames, "."), "ball")
    >>> report["checked"], report["suspects"], out[4].tags
    (10, 1, ['ghost_suspect'])
    >>> out[4].detections[1].attributes["ghost_suspect"], out[4].detections[0].attributes["ghost_residual"]
    (True, 0.0)

"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from datakit.dataset import Dataset

TAG = "ghost_suspect"
"""Attribute key and sample tag of a suspect detection."""


def _quad_through(t: np.ndarray, v: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Values at ``at`` (C,) of the parabolas through 3 points each: ``t``, ``v`` are (I, 3); returns (I, C)."""
    t0, t1, t2 = t[:, 0:1], t[:, 1:2], t[:, 2:3]
    x = at[None, :]
    l0 = (x - t1) * (x - t2) / ((t0 - t1) * (t0 - t2))
    l1 = (x - t0) * (x - t2) / ((t1 - t0) * (t1 - t2))
    l2 = (x - t0) * (x - t1) / ((t2 - t0) * (t2 - t1))
    return l0 * v[:, 0:1] + l1 * v[:, 1:2] + l2 * v[:, 2:3]


def _fit_window(
    t: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    *,
    tol: float,
    min_support: int,
    iterations: int,
    rng: np.random.Generator,
) -> np.ndarray | None:
    """Residual of every candidate to the window's best trajectory, or ``None`` when there is none."""
    frames = np.unique(t)
    if len(frames) < max(3, min_support):
        return None
    c = len(t)
    # Triples of candidates from three distinct frames.
    picks = np.stack([rng.choice(frames, size=3, replace=False) for _ in range(iterations)])
    idx = np.empty_like(picks, dtype=np.int64)
    for k in range(3):
        for n, f in enumerate(picks[:, k]):
            choices = np.flatnonzero(t == f)
            idx[n, k] = choices[rng.integers(len(choices))]
    tt = t[idx]
    res = np.hypot(_quad_through(tt, cx[idx], t) - cx[None, :], _quad_through(tt, cy[idx], t) - cy[None, :])  # (I, C)
    inlier = res <= tol
    # Support: distinct frames with an inlier (one detection per frame counts).
    frame_of = np.searchsorted(frames, t)
    support = np.zeros((iterations, len(frames)), dtype=bool)
    rows, cols = np.nonzero(inlier)
    support[rows, frame_of[cols]] = True
    n_support = support.sum(1)
    cost = np.where(inlier, res, tol).sum(1)
    best = int(np.lexsort((cost, -n_support))[0])
    if n_support[best] < min_support:
        return None
    # Refit by least squares on the best inliers, one (the closest) per frame.
    keep = []
    for f in np.unique(frame_of[inlier[best]]):
        members = np.flatnonzero((frame_of == f) & inlier[best])
        keep.append(members[np.argmin(res[best, members])])
    sel = np.asarray(keep)
    px = np.polyfit(t[sel], cx[sel], 2)
    py = np.polyfit(t[sel], cy[sel], 2)
    out = np.hypot(np.polyval(px, t) - cx, np.polyval(py, t) - cy)
    return out if len(out) == c else None


def check_trajectories(
    ds: Dataset,
    label: str,
    *,
    window: int = 9,
    max_residual: float = 12.0,
    min_support: int = 4,
    iterations: int = 64,
    seed: int = 0,
) -> tuple[Dataset, dict[str, Any]]:
    """Tag detections of ``label`` that lie far off every short trajectory.

    Args:
        ds: Frames with ``metadata.video`` and ``metadata.frame_index``.
        label: The ball class.
        window: Consecutive frames per trajectory fit.
        max_residual: Pixels from the trajectory beyond which a detection is suspect.
        min_support: Frames a trajectory must explain.
        iterations: RANSAC draws per window.
        seed: Seed of the (local) random generator.

    Returns:
        The dataset with attributes and tags set (a new one), and a report: ``checked``,
        ``suspects``, ``untracked``, ``no_video`` (detections on frames without video/frame
        index), ``videos``, and the settings.

    Raises:
        ValueError: Bad settings.

    """
    from datakit.columns import DetectionColumns

    if window < 3 or min_support < 3 or min_support > window or max_residual <= 0 or iterations < 1:
        raise ValueError(
            f"expected window >= min_support >= 3, max_residual > 0, iterations >= 1; got window={window}, "
            f"min_support={min_support}, max_residual={max_residual}, iterations={iterations}"
        )
    rng = np.random.default_rng(seed)
    table = ds.detections_table()
    rows = np.flatnonzero(np.asarray([lab == label for lab in table["label"]], dtype=bool))
    owner = table["sample"][rows]
    xy = table["xyxy"][rows]
    cx_all, cy_all = (xy[:, 0] + xy[:, 2]) / 2, (xy[:, 1] + xy[:, 3]) / 2
    videos = ds.column("metadata.video")
    findex = ds.column("metadata.frame_index")
    residual = np.full(len(rows), np.inf)
    tracked = np.zeros(len(rows), dtype=bool)
    no_video = 0
    by_video: dict[str, list[tuple[int, int]]] = {}
    for i, (v, f) in enumerate(zip(videos, findex, strict=True)):
        if v is not None and isinstance(f, int | float) and not isinstance(f, bool):
            by_video.setdefault(str(v), []).append((int(f), i))
    rows_of_sample: dict[int, list[int]] = {}
    for n, i in enumerate(owner.tolist()):
        rows_of_sample.setdefault(i, []).append(n)
    in_video = set()
    for frames in by_video.values():
        frames.sort()
        step = max(1, window // 2)
        starts = list(range(0, max(1, len(frames) - window + 1), step))
        if starts[-1] + window < len(frames):
            starts.append(len(frames) - window)
        for s in starts:
            members = [n for _, i in frames[s : s + window] for n in rows_of_sample.get(i, [])]
            if not members:
                continue
            m = np.asarray(members)
            in_video.update(members)
            t = np.asarray([findex[owner[n]] for n in members], dtype=np.float64)
            t -= t.min()
            r = _fit_window(
                t, cx_all[m], cy_all[m], tol=max_residual, min_support=min_support, iterations=iterations, rng=rng
            )
            if r is None:
                continue
            tracked[m] = True
            residual[m] = np.minimum(residual[m], r)
    no_video = len(rows) - len(in_video)
    d = ds.columns.detections
    attrs = list(d.attributes)
    tags = [list(t) for t in ds.columns.tags]
    suspects = 0
    for n, row in enumerate(rows.tolist()):
        if not tracked[n]:
            continue
        a = dict(attrs[row] or {})
        a["ghost_residual"] = round(float(residual[n]), 2)
        a.pop(TAG, None)
        if residual[n] > max_residual:
            a[TAG] = True
            suspects += 1
            i = int(owner[n])
            if TAG not in tags[i]:
                tags[i].append(TAG)
        attrs[row] = a
    out = ds.replace(detections=DetectionColumns(d.offsets, d.boxes, d.labels, d.scores, attrs))
    out = out.with_column("tags", tags)
    report = {
        "class": label, "videos": len(by_video), "checked": len(rows), "tracked": int(tracked.sum()),
        "suspects": suspects, "untracked": int(len(rows) - tracked.sum() - no_video), "no_video": int(no_video),
        "window": window, "max_residual": max_residual, "min_support": min_support,
    }  # fmt: skip
    return out, report
