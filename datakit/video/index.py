"""A video's frame index: every frame's timestamp and the keyframes, read without decoding.

:func:`probe` demuxes the first video stream once (packets only: a 1080p file of 3,000 frames
takes tens of milliseconds) and sorts the packet timestamps into presentation order. The
position of a timestamp in that order *is* the frame index, which makes indices exact on
variable-frame-rate files and after a seek, where counting frames (OpenCV's
``CAP_PROP_POS_FRAMES``) or multiplying time by an average rate drifts.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from datakit.errors import FormatError

_EPS = 1e-6


@dataclass(frozen=True)
class VideoIndex:
    """Frame timestamps and keyframes of one video stream.

    Attributes:
        path: The video file.
        pts: Presentation timestamps (stream time base), one per frame, ascending.
        keyframes: Indices of the keyframes (ascending; frame 0 is always one).
        time_base: Seconds per ``pts`` unit.
        width: Frame width in pixels.
        height: Frame height in pixels.
        codec: Decoder name (``h264``).
        exact: Whether timestamps were found on every packet; when not, frames are counted in
            decode order and the file is read from the start (no seeking).
        truncated: Why the file looks cut short (fewer frames than its header declares, or
            data ending early), else ``None``.

    Examples:
        >>> from fractions import Fraction
        >>> ix = VideoIndex("v.mp4", np.array([0, 40, 80, 200]), np.array([0, 2]), Fraction(1, 1000), 64, 48, "h264")
        >>> ix.n_frames, ix.timestamps.tolist(), ix.frame_at(0.1), ix.keyframe_before(3)
        (4, [0.0, 0.04, 0.08, 0.2], 2, 2)

    """

    path: str
    pts: np.ndarray
    keyframes: np.ndarray
    time_base: Fraction
    width: int
    height: int
    codec: str
    exact: bool = True
    truncated: str | None = None
    _pts_list: list[int] = field(init=False, repr=False, compare=False)
    _ts: np.ndarray = field(init=False, repr=False, compare=False)
    _step: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pts_list", [int(p) for p in self.pts])
        ts = (self.pts - self.pts[0]).astype(np.float64) * float(self.time_base)
        ts.setflags(write=False)
        object.__setattr__(self, "_ts", ts)
        object.__setattr__(self, "_step", float(np.median(np.diff(ts))) if len(ts) > 1 else 0.04)

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return len(self.pts)

    @property
    def timestamps(self) -> np.ndarray:
        """Seconds of each frame from the first frame (float64, read-only)."""
        return self._ts

    @property
    def frame_duration(self) -> float:
        """The median spacing of frames in seconds (the last frame is shown this long)."""
        return self._step

    @property
    def duration_s(self) -> float:
        """Seconds from the first frame to the end of the last."""
        return float(self.timestamps[-1]) + self.frame_duration

    @property
    def fps(self) -> float:
        """Average frame rate (frames over duration)."""
        return self.n_frames / self.duration_s if self.duration_s > 0 else 0.0

    def frame_at(self, t: float) -> int:
        """Index of the frame on screen at ``t`` seconds (the last one starting at or before it)."""
        ts = self.timestamps
        return max(0, int(np.searchsorted(ts, t + _EPS, side="right")) - 1)

    def index_of_pts(self, pts: int | None) -> int | None:
        """Frame index of a decoded frame's ``pts``, or ``None`` when it is not a frame of the index."""
        if pts is None:
            return None
        i = bisect.bisect_left(self._pts_list, pts)
        return i if i < len(self._pts_list) and self._pts_list[i] == pts else None

    def keyframe_before(self, i: int) -> int:
        """The last keyframe at or before frame ``i``."""
        k = int(np.searchsorted(self.keyframes, i, side="right")) - 1
        return int(self.keyframes[max(k, 0)])


def probe(path: str | Path) -> VideoIndex:
    """Index the first video stream of ``path`` by demuxing it (no decoding).

    Raises:
        FileNotFoundError: The file is missing.
        FormatError: Empty, not a video, no video stream, or no frames (the message names the file).

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.mp4"
        >>> _ = p.write_bytes(b"not a video")
        >>> probe(p)
        Traceback (most recent call last):
        ...
        datakit.errors.FormatError: ...x.mp4: not a readable video (Invalid data ...: truncated, or not a video file)

    """
    import av

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"video not found: {p}")
    if not p.is_file():
        raise FormatError(p, None, "not a regular file")
    if p.stat().st_size == 0:
        raise FormatError(p, None, "empty file")
    try:
        container = av.open(str(p))
    except av.error.FFmpegError as e:
        raise FormatError(p, None, f"not a readable video ({_reason(e)}: truncated, or not a video file)") from None
    with container:
        if not container.streams.video:
            raise FormatError(p, None, "no video stream")
        stream = container.streams.video[0]
        pts: list[int] = []
        keys: list[int] = []
        missing = 0
        broken = None
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                t = packet.pts if packet.pts is not None else packet.dts
                if t is None:
                    missing += 1
                    t = len(pts)
                pts.append(int(t))
                if packet.is_keyframe:
                    keys.append(int(t))
        except av.error.FFmpegError as e:  # the packets read so far are the index
            broken = f"data ends early ({_reason(e)})"
        declared = stream.frames or 0
        stream_s = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
        container_s = container.duration / 1e6 if container.duration else None
        width, height = stream.codec_context.width, stream.codec_context.height
        codec = stream.codec_context.name
        time_base = stream.time_base or Fraction(1, 1000)
        rate = stream.average_rate or stream.guessed_rate or 25
    if not pts:
        raise FormatError(p, None, "no video frames")
    exact = missing == 0 and len(set(pts)) == len(pts)
    if not exact:
        arr = np.arange(len(pts), dtype=np.int64)
        kf = np.array([0], dtype=np.int64)
        ix = VideoIndex(str(p), arr, kf, 1 / Fraction(rate), width, height, codec, exact=False)
    else:
        arr = np.sort(np.asarray(pts, dtype=np.int64))
        kf = np.searchsorted(arr, np.asarray(sorted(set(keys)), dtype=np.int64)) if keys else np.zeros(0, np.int64)
        if kf.size == 0 or kf[0] != 0:
            kf = np.concatenate([[0], kf]).astype(np.int64)
        ix = VideoIndex(str(p), arr, kf.astype(np.int64), Fraction(time_base), width, height, codec)
    if broken is None and declared > ix.n_frames:
        broken = f"{ix.n_frames} of the {declared} frames its header declares are in the file"
    elif broken is None and not declared:
        declared_s = stream_s if stream_s is not None else container_s
        slack = 0.1 if stream_s is not None else 1.0 + 0.01 * (declared_s or 0.0)
        if declared_s is not None and ix.duration_s < declared_s - slack:
            broken = f"frames cover {ix.duration_s:.2f} s of the {declared_s:.2f} s its header declares"
    if broken is not None:
        ix = dataclasses.replace(ix, truncated=f"truncated: {broken}")
    return ix


def _reason(e: Exception) -> str:
    """FFmpeg's reason without the errno and file name PyAV adds."""
    text = getattr(e, "strerror", None) or str(e)
    return str(text).split(":")[0].strip() if text else type(e).__name__
