"""Video to frame samples: exact frame indices, one forward pass, events, skip-similar, resumable.

``datakit extract-frames`` runs :func:`extract_frames`; the pieces are importable on their own:
:func:`probe` (the frame index, from packets), :func:`plan_frames` and :func:`seek_runs` (which
frames, and where to seek), :func:`load_events` (the events file), :func:`extract_video` (one
video, a pure function of a picklable task).

Examples:
    >>> from datakit.video import Selection
    >>> Selection(fps=2.0).fps
    2.0

"""

from __future__ import annotations

from datakit.video.events import Event, load_events, parse_events
from datakit.video.extract import VideoResult, VideoTask, extract_video
from datakit.video.frames import FramesReport, extract_frames, write_dataset
from datakit.video.index import VideoIndex, probe
from datakit.video.plan import DEFAULT_EVERY, DEFAULT_MAX_FRAMES, FramePlan, Selection, plan_frames, seek_runs

__all__ = [
    "DEFAULT_EVERY",
    "DEFAULT_MAX_FRAMES",
    "Event",
    "FramePlan",
    "FramesReport",
    "Selection",
    "VideoIndex",
    "VideoResult",
    "VideoTask",
    "extract_frames",
    "extract_video",
    "load_events",
    "parse_events",
    "plan_frames",
    "probe",
    "seek_runs",
    "write_dataset",
]
