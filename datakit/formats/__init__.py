"""Dataset formats, one module per format, looked up by name.

Each format module provides ``read(path, **options) -> Dataset`` and
``write(dataset, out, **options)``. Modules are imported only when first used, so
``import datakit`` stays light.

Examples:
    >>> sorted(FORMATS)[:1]
    ['jsonl']
    >>> get("jsonl").__name__
    'datakit.formats.jsonl'
"""

from __future__ import annotations

import importlib
from types import ModuleType

FORMATS: dict[str, str] = {
    "jsonl": "datakit.formats.jsonl",
}
"""Format name → module path."""


def get(name: str) -> ModuleType:
    """The module implementing format ``name``.

    Raises:
        ValueError: Unknown format (the message lists the known ones).
    """
    try:
        module = FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; expected one of {sorted(FORMATS)}") from None
    return importlib.import_module(module)
