"""The dataset card a publish writes: Hub metadata, provenance, hygiene and generation parameters.

The YAML header holds what the Hub and ``datasets`` read (``configs`` naming each split's shard files
exactly, ``dataset_info`` with the features, ``license``, ``task_categories``, ``tags``); the body says
where the samples come from: real / synthetic / pseudo counts per split, the dedup and audit summaries
when present, the renderer parameters of synthetic samples and the detector parameters of
pseudo-labels.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from datakit.dataset import Dataset

RENDER_KEYS = ("preset", "font", "renderer", "seed")
"""Metadata keys of synthetic samples summarised on the card (value → count)."""
DETECTOR_KEYS = ("detector", "detector_version", "threshold", "slices")
"""Metadata keys of pseudo-labelled samples summarised on the card."""


def provenance(ds: Dataset) -> dict[str, dict[str, int]]:
    """Samples per split and source (``real``, ``synthetic``, ``pseudo``); unsplit samples count as train.

    Examples:
        >>> from datakit import Dataset, Sample
        >>> ds = Dataset.from_samples([Sample("a.jpg", split="train"), Sample("b.jpg", source="synthetic"),
        ...                            Sample("c.jpg", split="test", source="pseudo")], ".")
        >>> provenance(ds)
        {'train': {'real': 1, 'synthetic': 1}, 'test': {'pseudo': 1}}

    """
    out: dict[str, dict[str, int]] = {}
    for split, source in zip(ds.column("split"), ds.column("source"), strict=True):
        per = out.setdefault(split or "train", {})
        per[source] = per.get(source, 0) + 1
    return out


def parameter_counts(ds: Dataset, source: str, keys: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """For samples of ``source``, how often each value of each metadata key occurs (absent keys left out).

    Examples:
        >>> from datakit import Dataset, Sample
        >>> ds = Dataset.from_samples([Sample("a.png", source="synthetic", metadata={"preset": "zc_strong_all"}),
        ...                            Sample("b.png", source="synthetic", metadata={"preset": "zc_strong_all"})], ".")
        >>> parameter_counts(ds, "synthetic", ("preset", "font"))
        {'preset': {'zc_strong_all': 2}}

    """
    sources = ds.column("source")
    out: dict[str, dict[str, int]] = {}
    for key in keys:
        values = ds.column(f"metadata.{key}")
        c = Counter(str(v) for s, v in zip(sources, values, strict=True) if s == source and v is not None)
        if c:
            out[key] = dict(c.most_common(20))
    return out


def dedup_summary(root: Path) -> dict[str, int] | None:
    r"""Rows removed per reason, from the ``_dedup_log.jsonl`` a ``datakit dedup --apply`` left in ``root``.

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "_dedup_log.jsonl").write_text('{"reason": "exact duplicate of a.jpg"}\n')
        >>> dedup_summary(d)
        {'exact duplicate': 1}

    """
    log = root / "_dedup_log.jsonl"
    if not log.is_file():
        return None
    c: Counter[str] = Counter()
    for line in log.read_bytes().splitlines():
        if line.strip():
            reason = str(orjson.loads(line).get("reason", "unknown"))
            c[reason.split(" of ")[0].split(":")[0]] += 1
    return dict(c)


def audit_summary(path: Path | None) -> dict[str, Any] | None:
    """The headline of an ``audit.json`` (degenerate fields, absent values, shifts), or ``None``."""
    if path is None or not path.is_file():
        return None
    audit = orjson.loads(path.read_bytes())
    return {k: audit[k] for k in ("degenerate_fields", "absent_values", "shifts") if k in audit}


def task_categories(ds: Dataset) -> list[str]:
    """Hub task categories the dataset serves: image classification and/or object detection."""
    tasks = []
    if any(v is not None for v in ds.columns.labels.values):
        tasks.append("image-classification")
    if len(ds.columns.detections):
        tasks.append("object-detection")
    return tasks


def render_card(
    ds: Dataset,
    *,
    name: str,
    shards: dict[str, list[str]],
    hf_readme: str,
    license: str | None = None,
    audit: Path | None = None,
) -> str:
    """The card: ``hf_readme``'s ``dataset_info`` kept, ``configs`` naming each split's ``shards``.

    Args:
        ds: The published dataset.
        name: The repo id, shown in the title and the loading snippet.
        shards: Split → shard paths in the repo.
        hf_readme: The card :func:`datakit.formats.hf.write` wrote (its YAML ``dataset_info`` is reused).
        license: A Hub licence id (``apache-2.0``, ``cc-by-4.0``, ...); ``other`` when absent.
        audit: An ``audit.json`` to summarise.

    """
    import yaml

    header_text = hf_readme.split("---", 2)[1]
    header = yaml.safe_load(header_text)
    header["configs"] = [
        {"config_name": "default", "data_files": [{"split": s, "path": paths} for s, paths in shards.items()]}
    ]
    header["license"] = license or "other"
    header["task_categories"] = task_categories(ds)
    header["tags"] = sorted({*header.get("tags", []), "datakit", "sports"})
    n = len(ds)
    header["size_categories"] = ["n<1K" if n < 1000 else "1K<n<10K" if n < 10_000 else "10K<n<100K"
                                 if n < 100_000 else "100K<n<1M" if n < 1_000_000 else "1M<n<10M"]  # fmt: skip
    body = hf_readme.split("---", 2)[2].lstrip("\n").splitlines()
    body[0] = f"# {name}"
    body = [line.replace(f'load_dataset("{Path(name).name}")', f'load_dataset("{name}")') for line in body]
    lines = ["---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(), "---", *body]
    lines += ["## Provenance", "", "| split | real | synthetic | pseudo |", "|---|---|---|---|"]
    for split, per in provenance(ds).items():
        lines.append(f"| {split} | {per.get('real', 0)} | {per.get('synthetic', 0)} | {per.get('pseudo', 0)} |")
    lines.append("")
    sections = [
        ("Synthetic samples: renderer parameters", parameter_counts(ds, "synthetic", RENDER_KEYS)),
        ("Pseudo-labels: detector parameters", parameter_counts(ds, "pseudo", DETECTOR_KEYS)),
    ]
    for title, params in sections:
        if params:
            lines += [f"## {title}", ""]
            lines += [f"- `{k}`: " + ", ".join(f"{v} ({c})" for v, c in counts.items()) for k, counts in params.items()]
            lines.append("")
    dedup = dedup_summary(ds.root)
    if dedup:
        lines += ["## Dedup", "", "Rows removed by `datakit dedup --apply`, by reason:", ""]
        lines += [f"- {reason}: {count}" for reason, count in dedup.items()]
        lines.append("")
    summary = audit_summary(audit)
    if summary:
        lines += ["## Audit", "", "From `datakit audit`:", "", "```json",
                  orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode(), "```", ""]  # fmt: skip
    return "\n".join(lines)
