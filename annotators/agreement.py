"""Agreement between two annotators on one field (VLM vs colour), value by value.

A biased annotator shows itself here: if the VLM says ``border=true`` for every crop, the
``true`` row has a low agreement with the other annotator while ``false`` is never used by the
VLM at all. The computation itself lives in :func:`datakit.audit.stats.agreement` (numpy only)
so ``datakit audit --agreement A:B`` can report it too; this module adds the dataset helpers.

Examples:
    >>> r = agreement(["red", "red", "white", "blue"], ["red", "white", "white", None])
    >>> r["compared"], r["overall"], r["per_value"]["red"]["agreement"]
    (3, 0.6667, 0.5)

"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from datakit.audit.stats import agreement
from datakit.dataset import field_name

if TYPE_CHECKING:
    from datakit.dataset import Dataset

__all__ = ["agreement", "field_agreement"]


def field_agreement(ds: Dataset, field_a: str, field_b: str, *, names: Sequence[str] | None = None) -> dict[str, Any]:
    """Agreement of two metadata fields of ``ds`` (``jersey_color`` vs ``color_jersey_color``).

    Args:
        ds: The dataset.
        field_a: First field: a core field (``label``...) or a metadata key (``metadata.`` prefix
            optional).
        field_b: Second field.
        names: Display names for the two annotators (default: the field names).

    Examples:
        >>> from datakit import Dataset, Sample
        >>> ds = Dataset.from_samples([Sample("a.jpg", metadata={"x": "red", "y": "red"}),
        ...                            Sample("b.jpg", metadata={"x": "red", "y": "blue"})], ".")
        >>> field_agreement(ds, "x", "y")["overall"]
        0.5

    """
    out = agreement(ds.column(field_name(field_a)), ds.column(field_name(field_b)))
    out["annotators"] = list(names) if names is not None else [field_a, field_b]
    return out
