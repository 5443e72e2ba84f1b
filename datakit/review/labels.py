"""Pure helpers of the FiftyOne bridge: stable detection ids, box conversion, field names and values.

Detection ids: a detection keeps the id in its ``datakit_id`` attribute when it has one (a pulled
dataset stores them on every reviewed sample); otherwise the id is minted from the sample id
and the detection's position, ``<sample id>#d<k>``. Minting is deterministic, so a sample nobody
touched gets the same ids on every build without storing them, and its saved row stays the same
byte for byte.

Examples:
    >>> to_relative((10, 20, 30, 60), 100, 200)
    [0.1, 0.1, 0.2, 0.2]
    >>> to_absolute([0.1, 0.1, 0.2, 0.2], 100, 200)
    (10.0, 20.0, 30.0, 60.0)

"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from datakit.review import DATAKIT_ID

RESERVED_FIELDS = frozenset({
    "id", "_id", "filepath", "tags", "metadata", "media_type", "created_at", "last_modified_at",
    "label", "detections", "source", "split", DATAKIT_ID, "frames", "_dataset_id", "_media_type",
})  # fmt: skip
"""Sample fields the bridge writes itself; a metadata key with one of these names gets ``md_``."""

DETECTION_BUILTINS = frozenset({
    "id", "_id", "_cls", "label", "bounding_box", "confidence", "tags", "attributes", "mask", "mask_path",
    "index", DATAKIT_ID,
})  # fmt: skip
"""Attributes of a FiftyOne ``Detection`` that a datakit attribute may not overwrite."""

_FIELD_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def mint_detection_ids(sample_id: str, attributes: Sequence[dict[str, Any] | None]) -> list[str]:
    """Stable ids of one sample's detections: the stored ``datakit_id``, else ``<sample id>#d<k>``.

    A minted id that collides with another of the sample's ids gets ``+1``, ``+2``, ...

    Examples:
        >>> mint_detection_ids("a.jpg", [None, None])
        ['a.jpg#d0', 'a.jpg#d1']
        >>> mint_detection_ids("a.jpg", [{"datakit_id": "a.jpg#d1"}, None])
        ['a.jpg#d1', 'a.jpg#d1+1']

    """
    stored = [a.get(DATAKIT_ID) if a else None for a in attributes]
    taken = {str(s) for s in stored if s is not None}
    out: list[str] = []
    seen: set[str] = set()
    for k, s in enumerate(stored):
        if s is not None and str(s) not in seen:
            out.append(str(s))
            seen.add(str(s))
            continue
        base = f"{sample_id}#d{k}"
        cand, n = base, 0
        while cand in taken or cand in seen:
            n += 1
            cand = f"{base}+{n}"
        out.append(cand)
        seen.add(cand)
    return out


def new_detection_id(sample_id: str, taken: Iterable[str]) -> str:
    """An id for a box the reviewer added: ``<sample id>#r<n>``, the first not taken.

    Examples:
        >>> new_detection_id("a.jpg", ["a.jpg#d0", "a.jpg#r0"])
        'a.jpg#r1'

    """
    used = set(taken)
    n = 0
    while f"{sample_id}#r{n}" in used:
        n += 1
    return f"{sample_id}#r{n}"


def to_relative(box: Sequence[float], width: int, height: int) -> list[float]:
    """Absolute-pixel ``xyxy`` → FiftyOne's relative ``[x, y, w, h]``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height]


def to_absolute(box: Sequence[float], width: int, height: int) -> tuple[float, float, float, float]:
    """FiftyOne's relative ``[x, y, w, h]`` → absolute-pixel ``xyxy``, clipped to the image, 6 decimals.

    Examples:
        >>> to_absolute([-0.1, 0.5, 0.5, 0.9], 100, 100)
        (0.0, 50.0, 40.0, 100.0)

    """
    x, y, w, h = (float(v) for v in box)
    x1 = min(max(x * width, 0.0), float(width))
    y1 = min(max(y * height, 0.0), float(height))
    x2 = min(max((x + w) * width, x1), float(width))
    y2 = min(max((y + h) * height, y1), float(height))
    return (round(x1, 6), round(y1, 6), round(x2, 6), round(y2, 6))


def same_box(a: Sequence[float], b: Sequence[float], tol: float = 1e-7) -> bool:
    """Two relative boxes equal to within ``tol`` (a box the App moved differs by far more).

    Examples:
        >>> same_box([0.1, 0.1, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2 + 1e-12]), same_box([0.1] * 4, [0.2] * 4)
        (True, False)

    """
    return len(a) == len(b) == 4 and all(abs(float(x) - float(y)) <= tol for x, y in zip(a, b, strict=True))


def field_names(keys: Iterable[str], reserved: frozenset[str] = RESERVED_FIELDS) -> dict[str, str]:
    """FiftyOne field name for each metadata key: the key itself when it is a plain name, else ``md_<key>``.

    Examples:
        >>> field_names(["video", "source", "frame index", "2x"])
        {'video': 'video', 'source': 'md_source', 'frame index': 'md_frame_index', '2x': 'md_2x'}

    """
    out: dict[str, str] = {}
    used: set[str] = set(reserved)
    for k in keys:
        name = k if _FIELD_RE.match(k) and k not in reserved else "md_" + re.sub(r"[^A-Za-z0-9_]", "_", k)
        base, n = name, 1
        while name in used:
            n += 1
            name = f"{base}_{n}"
        used.add(name)
        out[k] = name
    return out


def field_kind(values: Iterable[Any]) -> str:
    """The one FiftyOne type that holds every non-null value: ``bool``, ``int``, ``float`` or ``str`` (JSON).

    Examples:
        >>> field_kind([1, None, 2]), field_kind([1, 2.5]), field_kind([True]), field_kind(["a", 1])
        ('int', 'float', 'bool', 'str')

    """
    kinds = set()
    for v in values:
        if v is None:
            continue
        kinds.add("bool" if isinstance(v, bool) else "int" if isinstance(v, int) else
                  "float" if isinstance(v, float) else "str" if isinstance(v, str) else "json")  # fmt: skip
    if kinds == {"bool"}:
        return "bool"
    if kinds == {"int"}:
        return "int"
    if kinds and kinds <= {"int", "float"}:
        return "float"
    return "str"


def coerce(value: Any, kind: str) -> Any:
    """``value`` as a field of ``kind`` holds it (other types as their JSON text).

    Examples:
        >>> coerce(3, "float"), coerce({"a": 1}, "str"), coerce("x", "str"), coerce(None, "int")
        (3.0, '{"a": 1}', 'x', None)

    """
    if value is None:
        return None
    if kind == "float":
        return float(value)
    if kind == "str" and not isinstance(value, str):
        return json.dumps(value, sort_keys=True, default=str)
    return value
