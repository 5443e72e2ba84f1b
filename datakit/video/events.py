"""Event files: the timestamps frames are taken at (``extract-frames --events``).

Two shapes are read, both JSON:

* **A list of events** (the SoccerTrack plan's shape), each an object with a label and a time::

      [{"label": "PASS", "position": 1640}, {"label": "DRIVE", "time": "00:07.5"}]

  An object ``{"events": [...]}`` holding such a list is read the same way.
* **SoccerNet** (action spotting ``Labels-v2.json``, ball action spotting ``Labels-ball.json``)::

      {"annotations": [{"gameTime": "1 - 05:23", "label": "PASS", "position": "323400"}]}

The time of an event is taken from the first of these keys present: ``position`` (milliseconds
from the start of the video, a number or a numeric string: SoccerNet's convention), ``time_s`` /
``time`` / ``timestamp`` / ``seconds`` (seconds, or ``"MM:SS"`` / ``"HH:MM:SS"`` with optional
fractions), ``gameTime`` (``"H - MM:SS"``: seconds into half ``H``), ``frame`` (a frame index). The
label is ``label`` (or ``event``, ``type``, ``action``); it may be absent. An optional ``video``
(file name or stem) restricts an event to one of several videos. Every problem names the file and
the event (``Labels-v2.json: annotations[3]: ...``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datakit.errors import FormatError

_SECONDS_KEYS = ("time_s", "time", "timestamp", "seconds")
_LABEL_KEYS = ("label", "event", "type", "action")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")
_GAME_TIME = re.compile(r"^\s*(\d+)\s*-\s*(\d+):(\d{1,2}(?:\.\d*)?)\s*$")


@dataclass(frozen=True)
class Event:
    """One event: where it is in the video and what it is.

    Attributes:
        index: Position in the events file (0-based), for messages and metadata.
        where: ``annotations[3]`` / ``[3]`` / ``events[3]``: how messages name the event.
        label: The event label (``PASS``), or ``None``.
        time_s: Seconds from the start of the video, or ``None`` when the event gives a frame.
        frame: The frame index, when the event gives one instead of a time.
        half: SoccerNet's half (from ``gameTime``), else ``None``.
        video: The video (name or stem) the event belongs to, else ``None`` (every video).

    """

    index: int
    where: str
    label: str | None
    time_s: float | None
    frame: int | None = None
    half: int | None = None
    video: str | None = None

    def applies_to(self, video: str | Path) -> bool:
        """Whether the event belongs to ``video`` (events without a ``video`` belong to all)."""
        if self.video is None:
            return True
        p = Path(video)
        return self.video in (p.name, p.stem, str(video))


def parse_clock(text: str) -> float | None:
    """Seconds from ``"SS.s"``, ``"MM:SS(.fff)"`` or ``"HH:MM:SS(.fff)"``; ``None`` if it is neither.

    Examples:
        >>> parse_clock("05:23"), parse_clock("1:00:01.5"), parse_clock("12.25"), parse_clock("x")
        (323.0, 3601.5, 12.25, None)

    """
    text = text.strip()
    m = _CLOCK.match(text)
    if m:
        h, mm, ss = m.groups()
        return (int(h) if h else 0) * 3600 + int(mm) * 60 + float(ss)
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            v = float(value.strip())
        except ValueError:
            return None
        return v if math.isfinite(v) else None
    return None


def parse_event(obj: Any, index: int, where: str, path: str) -> Event:
    """One event object; raises :class:`FormatError` naming ``path`` and ``where``.

    Examples:
        >>> parse_event({"gameTime": "2 - 01:05", "label": "PASS"}, 0, "annotations[0]", "L.json")
        Event(index=0, where='annotations[0]', label='PASS', time_s=65.0, frame=None, half=2, video=None)
        >>> parse_event({"label": "DRIVE"}, 4, "[4]", "ev.json")
        Traceback (most recent call last):
        ...
        datakit.errors.FormatError: ev.json: [4]: no time: expected position (ms), time (s), gameTime or frame

    """
    if not isinstance(obj, dict):
        raise FormatError(path, where, f"expected an event object, got {type(obj).__name__}")
    label = None
    for key in _LABEL_KEYS:
        if key in obj and obj[key] is not None:
            if not isinstance(obj[key], (str, int)) or isinstance(obj[key], bool):
                raise FormatError(path, where, f"expected {key} to be a string, got {obj[key]!r}")
            label = str(obj[key])
            break
    video = obj.get("video")
    if video is not None and not isinstance(video, str):
        raise FormatError(path, where, f"expected video to be a file name, got {video!r}")
    half = None
    game = obj.get("gameTime")
    game_s = None
    if game is not None:
        m = _GAME_TIME.match(game) if isinstance(game, str) else None
        if m is None:
            raise FormatError(path, where, f"expected gameTime like '1 - 05:23', got {game!r}")
        half = int(m.group(1))
        game_s = int(m.group(2)) * 60 + float(m.group(3))
    time_s: float | None = None
    frame: int | None = None
    if "position" in obj:
        ms = _number(obj["position"])
        if ms is None:
            raise FormatError(path, where, f"expected position in milliseconds, got {obj['position']!r}")
        time_s = ms / 1000.0
    else:
        for key in _SECONDS_KEYS:
            if key in obj:
                v = obj[key]
                s = parse_clock(v) if isinstance(v, str) else _number(v)
                if s is None:
                    raise FormatError(path, where, f"expected {key} in seconds or as MM:SS, got {v!r}")
                time_s = s
                break
        else:
            if game_s is not None:
                time_s = game_s
            elif "frame" in obj:
                f = obj["frame"]
                if not isinstance(f, int) or isinstance(f, bool):
                    raise FormatError(path, where, f"expected frame to be an integer, got {f!r}")
                frame = f
            else:
                raise FormatError(path, where, "no time: expected position (ms), time (s), gameTime or frame")
    if (time_s is not None and time_s < 0) or (frame is not None and frame < 0):
        raise FormatError(path, where, f"negative time {time_s if frame is None else frame}")
    return Event(index, where, label, time_s, frame, half, video)


def parse_events(data: Any, path: str | Path = "<events>") -> list[Event]:
    """Events from parsed JSON in either shape (see the module docstring).

    Examples:
        >>> [e.time_s for e in parse_events([{"label": "PASS", "position": 1640}, {"time": "00:07.5"}])]
        [1.64, 7.5]
        >>> soccernet = {"annotations": [{"gameTime": "1 - 05:23", "label": "GOAL", "position": "323400"}]}
        >>> parse_events(soccernet)[0].time_s, parse_events(soccernet)[0].half
        (323.4, 1)

    """
    path = str(path)
    if isinstance(data, list):
        items: Sequence[Any] = data
        prefix = ""
    elif isinstance(data, dict) and isinstance(data.get("annotations"), list):
        items, prefix = data["annotations"], "annotations"
    elif isinstance(data, dict) and isinstance(data.get("events"), list):
        items, prefix = data["events"], "events"
    else:
        raise FormatError(path, None, "expected a list of events or an object with an 'annotations' or 'events' list")
    return [parse_event(obj, i, f"{prefix}[{i}]", path) for i, obj in enumerate(items)]


def load_events(path: str | Path) -> list[Event]:
    r"""Read an events file; every problem is a :class:`FormatError` naming the file (and event).

    Raises:
        FileNotFoundError: The file is missing.
        FormatError: Not JSON (with the line), not one of the shapes, or a bad event.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "events.json"
        >>> _ = p.write_text('[{"label": "PASS", "position": 2000}]')
        >>> load_events(p)[0].label
        'PASS'
        >>> _ = p.write_text('[{"label": "PASS",\n "position": }]')
        >>> load_events(p)
        Traceback (most recent call last):
        ...
        datakit.errors.FormatError: ...events.json:2: not valid JSON: Expecting value

    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"events file not found: {p}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise FormatError(p, None, "not a UTF-8 text file") from None
    except json.JSONDecodeError as e:
        raise FormatError(p, e.lineno, f"not valid JSON: {e.msg}") from None
    return parse_events(data, p)
