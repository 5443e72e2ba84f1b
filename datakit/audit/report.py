"""Write an audit to a folder: ``audit.json``, PNG plots and a self-contained ``report.html``.

Examples:
    >>> import tempfile, pathlib
    >>> from datakit import Dataset, Sample
    >>> from datakit.audit.stats import audit
    >>> ds = Dataset.from_samples([Sample("a.jpg", split="train", metadata={"border": True})], ".")
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> files = write_report(audit(ds, by=("split",)), out, plots=False)
    >>> sorted(p.name for p in files)
    ['audit.json', 'report.html']

"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import orjson

from datakit.atomic import atomic_write_bytes, atomic_write_text

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}.warn{background:#fff3cd;padding:.6em;border-left:4px solid #e0a800}
img{max-width:100%;border:1px solid #eee;margin:.3em 0}code{background:#f3f3f3;padding:0 3px}
"""


def _table(header: list[str], rows: list[list[Any]]) -> str:
    h = "".join(f"<th>{escape(str(c))}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{h}</tr>{body}</table>"


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e-3 and v else f"{v:.4g}"
    return str(v)


def render_html(a: dict[str, Any], images: list[str]) -> str:
    """The report as one HTML page (``images`` are file names beside it)."""
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>datakit audit</title><style>{_CSS}</style>",
        f"<h1>Dataset audit</h1><p>{a['samples']} samples, grouped by "
        f"<code>{escape(', '.join(a['by']) or 'nothing')}</code>.</p>",
    ]
    parts.append(
        "<h2>Groups</h2>"
        + _table(["group", "level", "samples"], [[g, i["level"], i["samples"]] for g, i in a["groups"].items()])
    )
    parts.append("<h2>Degenerate fields</h2>")
    if a["degenerate_fields"]:
        for d in a["degenerate_fields"]:
            parts.append(
                f"<p class='warn'><b>{escape(d['field'])}</b>: {escape(d['reason'])}. "
                "Do not use it for analysis or stratification.</p>"
            )
    else:
        parts.append("<p>None.</p>")
    parts.append("<h2>Values absent from a split</h2>")
    rows = []
    for f, info in a["absent_values"].items():
        for v, d in info["in_train_not_eval"].items():
            rows.append([f, v, f"train ({d['train']})", ", ".join(d["absent_from"])])
        for v, d in info["in_eval_not_train"].items():
            rows.append([f, v, ", ".join(f"{k} ({n})" for k, n in d.items()), "train"])
        for v, d in info.get("by_source", {}).items():
            have = ", ".join(f"{k} ({n})" for k, n in d["present_in"].items())
            rows.append([f, v, have, ", ".join(d["absent_from"])])
    parts.append(_table(["field", "value", "present in", "absent from"], rows) if rows else "<p>None.</p>")
    cb = a["class_balance"]
    parts.append("<h2>Class balance</h2>")
    brow = [
        [g, b["classes"], b["max_class"], b["max"], b["min_class"], b["min"], b["ratio"], len(b["under_threshold"])]
        for g, b in cb["groups"].items()
        if b
    ]
    parts.append(
        _table(["group", "classes", "largest", "n", "smallest", "n", "max/min", f"< {cb['threshold']}"], brow)
        if brow
        else "<p>No labels.</p>"
    )
    if cb.get("all") and cb["all"]["under_threshold"]:
        parts.append(
            f"<p>Classes under {cb['threshold']} samples: "
            + escape(", ".join(f"{k} ({v})" for k, v in cb["all"]["under_threshold"].items()))
            + "</p>"
        )
    for f, info in a["fields"].items():
        parts.append(f"<h2>Field <code>{escape(f)}</code></h2>")
        groups = list(info["counts"])
        rows = [
            [v] + [f"{info['counts'][g].get(v, 0)} ({info['percent'][g].get(v, 0.0):.1f}%)" for g in groups]
            for v in info["values"]
        ]
        rows.append(
            ["annotated"]
            + [
                f"{info['coverage'][g]['annotated']}/{info['coverage'][g]['samples']} "
                f"({info['coverage'][g]['percent']:.1f}%)"
                for g in groups
            ]
        )
        parts.append(_table(["value", *groups], rows))
        sh = [s for s in a["shifts"] if s["field"] == f]
        if sh:
            parts.append(
                "<h3>Shift between groups</h3>"
                + _table(
                    ["level", "a", "b", "n a", "n b", "chi² p-value", "Jensen–Shannon", "Cramér's V"],
                    [
                        [s["level"], s["a"], s["b"], s["n_a"], s["n_b"], s["p_value"], s["jsd"], s["cramers_v"]]
                        for s in sh
                    ],
                )
            )
        for img in images:
            if img.startswith(f"{f}_"):
                parts.append(f"<img src='{escape(img)}' alt='{escape(img)}'>")
    if a["combinations"]:
        parts.append("<h2>Combinations</h2>")
        for img in images:
            if img.endswith("_combinations.png"):
                parts.append(f"<img src='{escape(img)}' alt='{escape(img)}'>")
    if a.get("agreement"):
        parts.append("<h2>Annotator agreement</h2>")
        for name, ag in a["agreement"].items():
            parts.append(
                f"<h3>{escape(name)}</h3><p>{ag['compared']} compared, overall {_fmt(ag['overall'])}, "
                f"Cohen's κ {_fmt(ag['cohen_kappa'])}</p>"
            )
            header = ["value", "a says", "b says", "both", "agreement", "a confirmed by b", "b confirmed by a"]
            parts.append(
                _table(
                    header,
                    [
                        [
                            v,
                            d["a_says"],
                            d["b_says"],
                            d["both"],
                            d["agreement"],
                            d["a_confirmed_by_b"],
                            d["b_confirmed_by_a"],
                        ]
                        for v, d in ag["per_value"].items()
                    ],
                )
            )
    if "annotation_coverage.png" in images:
        parts.append("<h2>Coverage</h2><img src='annotation_coverage.png' alt='coverage'>")
    return "\n".join(parts) + "\n"


def write_report(a: dict[str, Any], out: str | Path, *, plots: bool = True) -> list[Path]:
    """Write ``audit.json``, the plots (unless ``plots=False``) and ``report.html`` under ``out``.

    Returns:
        The files written.

    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    if plots:
        from datakit.audit.plots import write_plots

        files += write_plots(a, out)
    atomic_write_bytes(out / "audit.json", orjson.dumps(a, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    atomic_write_text(out / "report.html", render_html(a, [p.name for p in files]))
    return sorted([*files, out / "audit.json", out / "report.html"])
