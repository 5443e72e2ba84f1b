"""Dataset formats, one module per format, looked up by name through :mod:`datakit.formats.registry`.

Each format module ends with a ``FORMAT = Format(...)`` stanza (reader, writer, detection rules,
options, what it cannot hold); modules are imported only when the registry is first asked, so
``import datakit`` stays light. :func:`detect` names the format of a path, :func:`get` returns a
:class:`~datakit.formats.registry.Format`. ``FORMATS`` (name → format) and ``ALIASES`` (alias →
name) are built from the registry on first access.

Examples:
    >>> import datakit.formats
    >>> names() == sorted(datakit.formats.FORMATS)
    True
    >>> names()
    ['coco', 'hf', 'imagefolder', 'jsonl', 'voc', 'yolo']
    >>> get("huggingface").name, get("jsonl").module
    ('hf', 'datakit.formats.jsonl')

"""

from __future__ import annotations

from typing import Any

from datakit.formats.registry import Detect, Format, Option, detect, formats, get, names, register

__all__ = ["ALIASES", "FORMATS", "Detect", "Format", "Option", "detect", "formats", "get", "names", "register"]


def __getattr__(name: str) -> Any:
    if name == "FORMATS":
        return {f.name: f for f in formats()}
    if name == "ALIASES":
        return {a: f.name for f in formats() for a in f.aliases}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
