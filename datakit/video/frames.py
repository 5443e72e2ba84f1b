"""Videos to a frames dataset: probe and plan every video, extract each, write the native JSONL.

:func:`extract_frames` is what ``datakit extract-frames`` runs. It checks every input first
(probing is cheap: packets only), so a missing or unreadable video, a bad events file or an event
past the end fails before anything is written (or, with ``lenient``, is a counted skip). Then
each video is one :class:`~datakit.video.extract.VideoTask`, and the dataset is written from the
journals of every video extracted into the root so far: rerunning a command, or adding videos
with a second one, leaves one row per frame.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datakit.errors import DatakitError, FormatError, Skip
from datakit.video.events import Event
from datakit.video.extract import JOURNAL_DIR, VideoResult, VideoTask, extract_video, read_journal
from datakit.video.index import probe
from datakit.video.plan import Selection, plan_frames

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_HALF_NAME = re.compile(r"^(\d+)[_.\-]")


@dataclass
class FramesReport:
    """The outcome of :func:`extract_frames`.

    Attributes:
        out: The dataset root.
        videos: One :class:`VideoResult` per video extracted by this call.
        samples: Rows of the written dataset (every video extracted into the root so far).
        skips: Videos or events skipped with ``lenient``, and frames that did not decode.

    """

    out: Path
    videos: list[VideoResult] = field(default_factory=list)
    samples: int = 0
    skips: list[Skip] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Totals for the CLI's ``--json``."""
        v = self.videos
        return {
            "out": str(self.out), "samples": self.samples, "videos": len(v),
            "planned": sum(r.planned for r in v), "event_frames": sum(r.event_frames for r in v),
            "written": sum(r.written for r in v),
            "resumed": sum(r.resumed for r in v), "skipped_similar": sum(r.skipped_similar for r in v),
            "scene_cuts": sum(r.scene_cuts for r in v), "capped": sum(r.capped for r in v),
            "decoded": sum(r.decoded for r in v), "not_decoded": sum(r.not_decoded for r in v),
            "cut": sum(r.cut for r in v),
            "seeks": sum(r.seeks for r in v),
            "skipped": len(self.skips),
        }  # fmt: skip


def events_for(
    video: str | Path, events: Sequence[Event], half: int | None, events_file: str | None
) -> tuple[Event, ...]:
    """The events that belong to ``video``: its ``video`` field, and SoccerNet's half.

    Events of several halves go to the video whose file name starts with the half
    (``1_224p.mkv``), or to the half given; otherwise it is an error (which half is this video?).

    Examples:
        >>> evs = [Event(0, "[0]", "PASS", 1.0, half=1), Event(1, "[1]", "GOAL", 2.0, half=2)]
        >>> [e.label for e in events_for("game/2_224p.mkv", evs, None, "L.json")]
        ['GOAL']
        >>> [e.label for e in events_for("match.mp4", evs, 1, "L.json")]
        ['PASS']

    """
    mine = [e for e in events if e.applies_to(video)]
    halves = sorted({e.half for e in mine if e.half is not None})
    if half is None and len(halves) > 1:
        m = _HALF_NAME.match(Path(video).name)
        if m is None:
            names = ", ".join(map(str, halves))
            raise FormatError(events_file or "<events>", None, f"events of halves {names}: pass --half N for "
                              f"{Path(video).name} (SoccerNet names halves 1_*.mkv, 2_*.mkv)")  # fmt: skip
        half = int(m.group(1))
    if half is not None:
        mine = [e for e in mine if e.half is None or e.half == half]
    return tuple(mine)


def _video_meta(video: str | Path, root: Path) -> str:
    p = Path(video).resolve()
    try:
        return p.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(video)


def _keys(out: Path) -> dict[str, str]:
    """Video (absolute path) → key of the journals already under ``out``."""
    keys: dict[str, str] = {}
    jdir = out / JOURNAL_DIR
    if jdir.is_dir():
        for p in sorted(jdir.glob("*.jsonl")):
            header, _, _ = read_journal(p)
            if header and isinstance(header.get("video"), str):
                keys[header["video"]] = p.stem
    return keys


def _new_key(video: str | Path, taken: set[str]) -> str:
    base = _SAFE.sub("_", Path(video).stem).strip("._") or "video"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    return key


def extract_frames(
    videos: Sequence[str | Path],
    out: str | Path,
    selection: Selection,
    *,
    split: str | None = None,
    image_format: str = "jpg",
    quality: int = 95,
    half: int | None = None,
    lenient: bool = False,
    progress: bool = False,
    writers: int = 2,
    decoders: int = 0,
    cores: int = 0,
    mapper: Callable[..., Any] = map,
) -> FramesReport:
    """Extract frames from ``videos`` into the dataset at ``out`` (native JSONL), resumably.

    Args:
        videos: Video files.
        out: Dataset root; created if missing. An existing folder must be a frames dataset
            (it holds ``.datakit-frames/``) or empty: nothing else there is overwritten.
        selection: Which frames (:class:`~datakit.video.plan.Selection`); its events apply to
            every video unless they name one (see :func:`events_for`).
        split: Split of every frame (images under ``<split>/frames/``), default none (``unsplit/``).
        image_format: ``"jpg"`` or ``"png"``.
        quality: JPEG quality, 1–100.
        half: SoccerNet half whose events to use.
        lenient: Count bad videos, events past the end and undecodable frames as skips.
        progress: tqdm bars (the CLI turns them on for a terminal).
        writers: JPEG/PNG encoder threads per video with one decoder thread (``0``: encode on the
            decoding thread).
        decoders: Decoder threads per video (``0``: automatic, one per core for sparse selections
            and one for dense ones, see :func:`~datakit.video.plan.auto_decoders`; ``1``: one
            container with FFmpeg's frame threads); see :mod:`datakit.video.extract`.
        cores: CPU cores each video may use with automatic ``decoders`` (``0``: all; give each
            its share when ``mapper`` runs several videos at once in one machine).
        mapper: ``map``-like callable running the per-video tasks (a process pool's ``map``).

    Returns:
        A :class:`FramesReport`.

    Raises:
        FormatError: A bad video or event (without ``lenient``), a journal of other options.
        DatakitError: ``out`` holds something that is not a frames dataset.

    Examples:
        >>> import tempfile, pathlib, av, numpy as np, datakit
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> with av.open(str(d / "clip.mp4"), "w") as c:
        ...     s = c.add_stream("mpeg4", rate=25); s.width, s.height = 32, 32
        ...     for i in range(50):
        ...         for p in s.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 5, np.uint8))):
        ...             c.mux(p)
        ...     for p in s.encode():
        ...         c.mux(p)
        >>> r = extract_frames([d / "clip.mp4"], d / "frames", Selection(every=10))
        >>> r.samples, datakit.load(d / "frames")[1].metadata["frame_index"]
        (5, 10)

    """
    if image_format not in ("jpg", "png"):
        raise ValueError(f"expected image format jpg or png, got {image_format!r}")
    if not 1 <= quality <= 100:
        raise ValueError(f"--quality must be 1..100, got {quality}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / JOURNAL_DIR).is_dir())):
        raise DatakitError(f"{out}: exists and is not a frames dataset (no {JOURNAL_DIR}/); pick a new --out")
    report = FramesReport(out)
    keys = _keys(out)
    taken = set(keys.values())
    tasks: list[VideoTask] = []
    unique = {os.path.abspath(v): v for v in reversed(list(videos))}  # a video given twice is extracted once
    for video in [v for v in videos if unique.get(os.path.abspath(v)) is v]:
        try:
            index = probe(video)
            if index.truncated is not None:
                if not lenient:
                    raise FormatError(video, None, index.truncated)
                report.skips.append(Skip(str(video), None, f"{index.truncated}; the readable frames were used"))
            sel = dataclasses.replace(
                selection, events=events_for(video, selection.events, half, selection.events_file), lenient=lenient
            )
            plan = plan_frames(index, sel)
        except (FormatError, FileNotFoundError) as e:
            if not lenient:
                raise
            report.skips.append(Skip(str(video), None, str(e)))
            continue
        absolute = os.path.abspath(video)
        key = keys.get(absolute) or _new_key(video, taken)
        taken.add(key)
        keys[absolute] = key
        tasks.append(VideoTask(str(video), _video_meta(video, out), key, index, plan, sel, str(out),
                               split, image_format, quality, lenient, progress, writers, decoders, cores))  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / JOURNAL_DIR).mkdir(exist_ok=True)
    try:
        for result in mapper(extract_video, tasks):
            report.videos.append(result)
            report.skips.extend(result.skips)
    finally:
        report.samples = write_dataset(out)
    return report


def write_dataset(out: Path) -> int:
    """Write ``out``'s annotation files from every journal under it; returns the row count.

    Examples:
        >>> import tempfile, pathlib
        >>> write_dataset(pathlib.Path(tempfile.mkdtemp()))
        0

    """
    from datakit.builder import DatasetBuilder

    b = DatasetBuilder()
    jdir = out / JOURNAL_DIR
    for p in sorted(jdir.glob("*.jsonl")) if jdir.is_dir() else []:
        header, decisions, _ = read_journal(p)
        if header is None:
            continue
        seen: set[int] = set()
        for d in sorted((d for d in decisions if d.get("kept")), key=lambda d: int(d["i"])):
            i = int(d["i"])
            if i in seen or not (out / d["image"]).is_file():
                continue
            seen.add(i)
            row = d.get("row")
            if not isinstance(row, dict):
                continue
            b.add(row["image"], split=row["split"], source="real", metadata=row["metadata"],
                  width=row["width"], height=row["height"])  # fmt: skip
    ds = b.build(out)
    if len(ds) or any(out.glob("*.jsonl")) or any(out.glob("*/annotations.jsonl")):
        ds.save(out)
    return len(ds)
