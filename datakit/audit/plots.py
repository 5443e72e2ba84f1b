"""PNG plots of an audit (matplotlib's object API; no pyplot state, no global backend change).

Examples:
    >>> import tempfile, pathlib
    >>> from datakit import Dataset, Sample
    >>> from datakit.audit.stats import audit
    >>> ds = Dataset.from_samples([Sample("a.jpg", label="1", split="train",
    ...                                   metadata={"jersey_color": "red"})], ".")
    >>> files = write_plots(audit(ds, by=("split",)), pathlib.Path(tempfile.mkdtemp()))
    >>> sorted(p.name for p in files)[:2]
    ['annotation_coverage.png', 'jersey_color_by_class.png']

"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

MAX_GROUPS = 10
MAX_VALUES = 30
MAX_CLASSES = 80


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "field"


def _figure(
    w: float, h: float, *, left: float = 0.8, bottom: float = 0.9, right: float = 0.3, top: float = 0.45
) -> Any:
    """A figure with fixed margins in inches (a constrained layout costs a second text pass)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    fig.subplots_adjust(
        left=min(0.6, left / w), right=1 - min(0.3, right / w), bottom=min(0.6, bottom / h), top=1 - min(0.3, top / h)
    )
    return fig


def _text_in(labels: list[str], size: float = 8.0) -> float:
    """Inches taken by the longest label at font ``size``."""
    return 0.15 + 0.6 * size / 72 * max((len(x) for x in labels), default=1)


def _plot_groups(a: dict[str, Any]) -> list[str]:
    """``all`` and the groups of the first grouping level (the splits, usually)."""
    first = a["by"][0] if a["by"] else None
    names = ["all"] + [g for g, info in a["groups"].items() if info["level"] == first]
    if len(a["by"]) > 1:  # and the combinations (train/real vs train/synthetic), space permitting
        combo = "×".join(a["by"])
        names += [g for g, info in a["groups"].items() if info["level"] == combo]
    return names[:MAX_GROUPS]


def _distribution(a: dict[str, Any], field: str, path: Path) -> None:
    import numpy as np

    info = a["fields"][field]
    values = info["values"][:MAX_VALUES]
    groups = _plot_groups(a)
    fig = _figure(
        max(6.0, 0.45 * len(values) * max(1, len(groups)) / 2 + 3), 4.5, bottom=0.4 + 0.7 * _text_in(values, 10)
    )
    ax = fig.add_subplot()
    x = np.arange(len(values))
    width = 0.8 / max(1, len(groups))
    for k, g in enumerate(groups):
        pct = [info["percent"].get(g, {}).get(v, 0.0) for v in values]
        ax.bar(x + k * width - 0.4 + width / 2, pct, width, label=f"{g} (n={info['coverage'][g]['annotated']})")
    ax.set_xticks(x, values, rotation=45, ha="right")
    ax.set_ylabel("% of annotated samples")
    ax.set_title(f"{field}: distribution by group")
    ax.legend(fontsize=7)
    fig.savefig(path)


def _heatmap(
    rows: list[str],
    cols: list[str],
    counts: dict[str, dict[str, int]],
    title: str,
    xlabel: str,
    ylabel: str,
    path: Path,
    *,
    row_percent: bool = False,
) -> None:
    import numpy as np

    m = np.array([[counts.get(r, {}).get(c, 0) for c in cols] for r in rows], dtype=float)
    if row_percent:  # share of each row, so small classes are as readable as large ones
        m = 100 * m / np.maximum(m.sum(1, keepdims=True), 1)
    fig = _figure(
        max(5.0, 0.45 * len(cols) + 2.5),
        max(3.0, 0.16 * len(rows) + 1.8),
        left=0.45 + _text_in(rows),
        bottom=0.45 + 0.75 * _text_in(cols),
        right=0.2,
    )
    ax = fig.add_subplot()
    im = ax.imshow(m if m.size else np.zeros((1, 1)), aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=7 if len(rows) > 30 else 8)
    if m.size and m.size <= 400:
        top = m.max() or 1
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                if m[i, j]:
                    ax.text(
                        j,
                        i,
                        f"{m[i, j]:.0f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="black" if m[i, j] > top / 2 else "white",
                    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(im, ax=ax)
    fig.savefig(path)


def _coverage(a: dict[str, Any], path: Path) -> None:
    import numpy as np

    fields = list(a["fields"])
    groups = _plot_groups(a)
    fig = _figure(max(6.0, 1.2 * len(fields) + 3), 4.0, bottom=0.6)
    ax = fig.add_subplot()
    x = np.arange(len(fields))
    width = 0.8 / max(1, len(groups))
    for k, g in enumerate(groups):
        pct = [a["fields"][f]["coverage"][g]["percent"] for f in fields]
        ax.bar(x + k * width - 0.4 + width / 2, pct, width, label=g)
    ax.set_xticks(x, fields)
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of samples annotated")
    ax.set_title("annotation coverage")
    ax.legend(fontsize=7)
    fig.savefig(path)


def write_plots(a: dict[str, Any], out: str | Path) -> list[Path]:
    """Write the audit's plots under ``out``; returns the files written.

    One ``<field>_distribution.png`` (value shares per group) and ``<field>_by_class.png``
    (class × value heatmap) per field, ``<a>_x_<b>_combinations.png`` per colour pair
    (jersey × number colour) and ``annotation_coverage.png``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for field, info in a["fields"].items():
        if not info["values"]:
            continue
        p = out / f"{_safe(field)}_distribution.png"
        _distribution(a, field, p)
        files.append(p)
        classes = list(info["by_class"])[:MAX_CLASSES]
        if classes:
            p = out / f"{_safe(field)}_by_class.png"
            _heatmap(
                classes,
                info["values"][:MAX_VALUES],
                info["by_class"],
                f"{field} by class (% of each class)",
                field,
                "class",
                p,
                row_percent=True,
            )
            files.append(p)
    for name, combo in a["combinations"].items():
        rows = [v for v in a["fields"][combo["rows"]]["values"] if v in combo["counts"]][:MAX_VALUES]
        cols = a["fields"][combo["columns"]]["values"][:MAX_VALUES]
        if rows and cols:
            p = out / f"{_safe(combo['rows'])}_x_{_safe(combo['columns'])}_combinations.png"
            _heatmap(rows, cols, combo["counts"], name, combo["columns"], combo["rows"], p)
            files.append(p)
    if a["fields"]:
        p = out / "annotation_coverage.png"
        _coverage(a, p)
        files.append(p)
    return sorted(files)
