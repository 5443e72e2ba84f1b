"""Which frames to take, and how to reach them in one forward pass.

:func:`plan_frames` turns a :class:`Selection` (every N frames, N per second, event times with a
window, a time range, a cap) into sorted frame indices for one :class:`~datakit.video.index.VideoIndex`.
:func:`seek_runs` groups those indices into runs: each run starts at a keyframe and is decoded
forward; a new run (a seek) starts only when the next wanted frame's keyframe lies beyond the
last wanted frame, i.e. when the gap holds a whole keyframe interval that seeking skips.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field

import numpy as np

from datakit.errors import FormatError, Skip
from datakit.video.events import Event
from datakit.video.index import VideoIndex

DEFAULT_MAX_FRAMES = 1000
"""Frames per video unless ``max_frames`` says otherwise (the SoccerTrack plan wants 500–1,000)."""

DEFAULT_EVERY = 30
"""Every 30th frame (about 1.2 s at 25 fps) when nothing else is asked for."""


@dataclass(frozen=True)
class Selection:
    """What to take from each video (validated on construction).

    Attributes:
        every: Every N-th frame (from the first frame in the range).
        fps: Frames per second of video time (the frame on screen at each tick).
        start: Seconds where the range starts (default: the first frame).
        end: Seconds where the range ends, exclusive (default: the end of the video).
        max_frames: At most this many frames per video (``0``: no cap). When the regular frames
            (``every``/``fps``) would exceed it, they are thinned evenly; event frames count first.
        events: Event times to take frames at.
        events_file: The events file (for messages).
        window: Seconds either side of each event to also take frames from.
        per_event: Frames per event, spread evenly over ``[t - window, t + window]``.
        skip_similar: Skip a regular frame whose 64-bit perceptual hash is within this many
            bits of the last kept frame's (``None``: keep all); never across a scene cut.
        lenient: Count events past the end of a video as skips instead of failing.

    Examples:
        >>> Selection(every=30).every, Selection().every
        (30, 30)
        >>> Selection(every=0)
        Traceback (most recent call last):
        ...
        ValueError: --every must be at least 1, got 0

    """

    every: int | None = None
    fps: float | None = None
    start: float | None = None
    end: float | None = None
    max_frames: int = DEFAULT_MAX_FRAMES
    events: tuple[Event, ...] = ()
    events_file: str | None = None
    window: float = 0.0
    per_event: int | None = None
    skip_similar: int | None = None
    lenient: bool = False

    def __post_init__(self) -> None:
        if self.every is not None and self.fps is not None:
            raise ValueError("use --every or --fps, not both")
        if self.every is None and self.fps is None and not self.events:
            object.__setattr__(self, "every", DEFAULT_EVERY)
        if self.every is not None and self.every < 1:
            raise ValueError(f"--every must be at least 1, got {self.every}")
        if self.fps is not None and not (self.fps > 0 and np.isfinite(self.fps)):
            raise ValueError(f"--fps must be a positive number, got {self.fps}")
        if self.max_frames < 0:
            raise ValueError(f"--max-frames must be 0 (no cap) or more, got {self.max_frames}")
        for name in ("start", "end"):
            v = getattr(self, name)
            if v is not None and not (v >= 0 and np.isfinite(v)):
                raise ValueError(f"--{name} must be a non-negative number of seconds, got {v}")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"--end ({self.end}) must be after --start ({self.start})")
        if not (self.window >= 0 and np.isfinite(self.window)):
            raise ValueError(f"--window must be a non-negative number of seconds, got {self.window}")
        if self.per_event is None:
            object.__setattr__(self, "per_event", 1 if self.window == 0 else 3)
        elif self.per_event < 1:
            raise ValueError(f"--per-event must be at least 1, got {self.per_event}")
        if self.skip_similar is not None and not 0 <= self.skip_similar <= 64:
            raise ValueError(f"--skip-similar is a distance in bits of 64, got {self.skip_similar}")

    def fingerprint(self) -> dict[str, object]:
        """The options that decide which frames are taken (a resumed run must match them)."""
        return {
            "every": self.every, "fps": self.fps, "start": self.start, "end": self.end,
            "max_frames": self.max_frames, "window": self.window, "per_event": self.per_event,
            "skip_similar": self.skip_similar,
            "events": [[e.index, e.time_s, e.frame, e.label] for e in self.events],
        }  # fmt: skip


@dataclass
class FramePlan:
    """The frames to take from one video.

    Attributes:
        indices: Wanted frame indices, ascending, unique.
        regular: Per index, whether it came from ``every``/``fps`` (only those may be skipped as similar).
        events: Per index, the event it was taken for (``None`` for regular frames).
        selected: How many regular frames the options selected before the cap.
        capped: How many regular frames the cap removed.
        skips: Events skipped with ``lenient`` (past the end of the video).

    """

    indices: np.ndarray
    regular: np.ndarray
    events: list[Event | None]
    selected: int = 0
    capped: int = 0
    skips: list[Skip] = field(default_factory=list)


def _range(index: VideoIndex, sel: Selection) -> tuple[int, int]:
    """First and last+1 frame index inside ``[start, end)``; raises past the end."""
    ts = index.timestamps
    duration = index.duration_s
    if sel.start is not None and sel.start >= duration:
        raise FormatError(index.path, None, f"--start {sel.start:g} s is past the end of the video ({duration:.3f} s)")
    lo = 0 if sel.start is None else int(np.searchsorted(ts, sel.start - 1e-6, side="left"))
    hi = index.n_frames if sel.end is None else int(np.searchsorted(ts, sel.end - 1e-6, side="left"))
    return lo, max(hi, lo)


def plan_frames(index: VideoIndex, sel: Selection) -> FramePlan:
    """The frames ``sel`` takes from the video ``index`` describes.

    Raises:
        FormatError: ``--start`` past the end, or an event past the end (unless ``lenient``):
            the message names the events file and the event.

    Examples:
        >>> from fractions import Fraction
        >>> ix = VideoIndex("v.mp4", np.arange(100) * 40, np.array([0, 50]), Fraction(1, 1000), 8, 8, "h264")
        >>> plan_frames(ix, Selection(every=25)).indices.tolist()
        [0, 25, 50, 75]
        >>> plan_frames(ix, Selection(fps=5, start=1.0, end=2.0)).indices.tolist()
        [25, 30, 35, 40, 45]
        >>> p = plan_frames(ix, Selection(every=1, max_frames=10))
        >>> p.indices.tolist()[:3], p.selected, p.capped
        ([0, 11, 22], 100, 90)

    """
    lo, hi = _range(index, sel)
    ts = index.timestamps
    if sel.every is not None:
        regular = np.arange(lo, hi, sel.every, dtype=np.int64)
    elif sel.fps is not None and hi > lo:
        # Frame i is taken when a tick t0 + k/fps falls in [ts[i], ts[i+1]): computed per frame,
        # so a rate above the video's takes each frame once and never builds a tick per microsecond.
        t0 = float(ts[lo])
        t1 = float(ts[hi - 1]) + index.frame_duration if hi == index.n_frames else float(ts[hi])
        starts = ts[lo:hi]
        ends = np.append(ts[lo + 1 : hi], t1) if hi > lo + 1 else np.array([t1])
        first_tick = np.ceil((starts - t0) * sel.fps - 1e-6)
        next_tick = np.ceil((ends - t0) * sel.fps - 1e-6)
        regular = (lo + np.flatnonzero(next_tick > first_tick)).astype(np.int64)
    else:
        regular = np.zeros(0, dtype=np.int64)
    skips: list[Skip] = []
    event_of: dict[int, Event] = {}
    duration = index.duration_s
    k = sel.per_event or 1
    offsets = np.linspace(-sel.window, sel.window, k) if k > 1 else np.zeros(1)
    for ev in sel.events:
        if ev.frame is not None:
            if ev.frame >= index.n_frames:
                reason = f"frame {ev.frame} is past the end of {index.path} ({index.n_frames} frames)"
                _past(index, sel, ev, reason, skips)
                continue
            t = float(ts[ev.frame])
        else:
            t = float(ev.time_s or 0.0)
            if t >= duration:
                _past(index, sel, ev, f"time {t:.3f} s is past the end of {index.path} ({duration:.3f} s)", skips)
                continue
        for off in offsets:
            tt = min(max(t + float(off), 0.0), duration - 1e-6)
            i = index.frame_at(tt)
            if i < lo or i >= hi:
                continue
            event_of.setdefault(i, ev)
    event_idx = np.array(sorted(event_of), dtype=np.int64)
    regular = np.setdiff1d(regular, event_idx, assume_unique=True)
    selected = len(regular) + len(event_idx)
    capped = 0
    if sel.max_frames and len(regular) + len(event_idx) > sel.max_frames:
        room = max(sel.max_frames - len(event_idx), 0)
        if room == 0:
            capped, regular = len(regular), regular[:0]
        else:
            keep = np.unique(np.round(np.linspace(0, len(regular) - 1, room)).astype(np.int64))
            capped, regular = len(regular) - len(keep), regular[keep]
    indices = np.union1d(regular, event_idx).astype(np.int64)
    is_regular = np.isin(indices, regular)
    events = [event_of.get(int(i)) for i in indices]
    return FramePlan(indices, is_regular, events, selected, capped, skips)


def _past(index: VideoIndex, sel: Selection, ev: Event, reason: str, skips: list[Skip]) -> None:
    file = sel.events_file or "<events>"
    if not sel.lenient:
        raise FormatError(file, ev.where, reason)
    skips.append(Skip(file, ev.where, reason))


def seek_runs(index: VideoIndex, indices: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Group wanted ``indices`` into ``(keyframe, frames)`` runs, each decoded forward from its keyframe.

    A run ends where the next wanted frame's keyframe comes after the last wanted frame plus one:
    a seek then skips at least one frame's decoding; otherwise decoding on is no dearer.

    Examples:
        >>> from fractions import Fraction
        >>> ix = VideoIndex("v.mp4", np.arange(300), np.array([0, 100, 200]), Fraction(1, 25), 8, 8, "h264")
        >>> [(k, f.tolist()) for k, f in seek_runs(ix, np.array([5, 50, 99, 100, 150, 250]))]
        [(0, [5, 50, 99, 100, 150]), (200, [250])]

    """
    runs: list[tuple[int, list[int]]] = []
    last = -2
    for w in indices.tolist():
        k = index.keyframe_before(w) if index.exact else 0
        if not runs or k > last + 1:
            runs.append((k, [w]))
        else:
            runs[-1][1].append(w)
        last = w
    return [(k, np.asarray(f, dtype=np.int64)) for k, f in runs]


ENCODE_COST = 2.5
"""Cost of encoding a kept frame, in frames decoded (1080p: ~6 ms JPEG against ~2.5 ms decode)."""


def split_runs(index: VideoIndex, indices: np.ndarray, parts: int) -> list[np.ndarray]:
    """Cut wanted ``indices`` into at most ``parts`` contiguous groups of about equal work.

    Cuts fall only at keyframes, so each group is decoded from a keyframe seek exactly as it
    would be inside one forward pass (:func:`seek_runs` of a group gives the same frames).
    Work is estimated per keyframe interval: frames decoded up to its last wanted frame, plus
    :data:`ENCODE_COST` per wanted frame. Fewer groups come back when there are fewer keyframe
    intervals holding wanted frames (or the index is not exact: no seeking there).

    Examples:
        >>> from fractions import Fraction
        >>> ix = VideoIndex("v.mp4", np.arange(400), np.array([0, 100, 200, 300]), Fraction(1, 25), 8, 8, "h264")
        >>> [(int(g[0]), int(g[-1]), len(g)) for g in split_runs(ix, np.arange(0, 400, 10), 2)]
        [(0, 190, 20), (200, 390, 20)]
        >>> len(split_runs(ix, np.array([5, 50]), 4))
        1

    """
    if parts <= 1 or len(indices) == 0 or not index.exact:
        return [indices] if len(indices) else []
    key_of = index.keyframes[np.searchsorted(index.keyframes, indices, side="right") - 1]
    starts = np.flatnonzero(np.r_[True, key_of[1:] != key_of[:-1]])  # first wanted frame of each interval
    ends = np.r_[starts[1:], len(indices)]
    cost = (indices[ends - 1] - key_of[starts] + 1) + ENCODE_COST * (ends - starts)
    parts = min(parts, len(starts))
    if parts <= 1:
        return [indices]
    cum = np.cumsum(cost)
    # the interval boundary closest to each 1/parts of the work
    cuts = sorted({int(np.argmin(np.abs(cum - cum[-1] * j / parts))) + 1 for j in range(1, parts)})
    cuts = [c for c in cuts if 0 < c < len(starts)]
    bounds = [0, *[int(starts[c]) for c in cuts], len(indices)]
    return [indices[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def decoder_threads(requested: int = 0) -> int:
    """Decoder threads for ``requested`` (``0``: the CPU cores this process may use).

    Examples:
        >>> decoder_threads(3), decoder_threads(0) >= 1
        (3, True)

    """
    if requested > 0:
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


DENSE_EVERY = 4
"""Wanted frames closer than this on average are encoding-bound: one decoder by default
(bench_frames, 2 cores: two decoders 1.18x one at ``--every 30`` but 0.84x at ``--every 1``, where
a second decoder takes a core from the JPEG encoders)."""


def is_sparse(frames: np.ndarray) -> bool:
    """Whether wanted ``frames`` (ascending) are at least :data:`DENSE_EVERY` apart on average (or fewer than two).

    Examples:
        >>> is_sparse(np.arange(0, 300, 30)), is_sparse(np.arange(0, 300, 2)), is_sparse(np.array([7]))
        (True, False, True)

    """
    return len(frames) < 2 or int(frames[-1]) - int(frames[0]) >= DENSE_EVERY * (len(frames) - 1)


def auto_decoders(frames: np.ndarray, cores: int = 0) -> int:
    """Decoder threads for ``frames`` (ascending indices) when the caller leaves it to datakit.

    Dense selections (a mean step under :data:`DENSE_EVERY`: ``--every 1``, or ``--fps`` at the
    file's own rate) get one decoder; sparser ones one per core (:func:`decoder_threads`).

    Examples:
        >>> auto_decoders(np.arange(0, 3000, 1), cores=2), auto_decoders(np.arange(0, 3000, 30), cores=2)
        (1, 2)

    """
    return decoder_threads(cores) if is_sparse(frames) else 1
