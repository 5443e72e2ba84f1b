"""Annotator agreement: a biased annotator shows itself per value; checked against pandas."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from annotators.agreement import agreement, field_agreement
from datakit import Dataset, Sample


def test_biased_border_annotator_shows_itself() -> None:
    rng = random.Random(1)
    truthful = [rng.random() < 0.3 for _ in range(400)]
    biased = [True] * 400  # the seed's VLM: border=true for 100% of samples
    r = agreement(biased, truthful)
    assert r["per_value"]["true"]["a_says"] == 400
    assert r["per_value"]["false"]["a_says"] == 0  # never says false
    assert r["per_value"]["false"]["b_confirmed_by_a"] == 0.0
    assert r["per_value"]["true"]["a_confirmed_by_b"] == pytest.approx(sum(truthful) / 400, abs=1e-4)
    assert r["cohen_kappa"] == pytest.approx(0.0, abs=1e-9)


def test_matches_pandas_crosstab() -> None:
    rng = random.Random(7)
    colours = ["white", "red", "blue", "black"]
    a = [rng.choice([*colours, None]) for _ in range(500)]
    b = [x if x is not None and rng.random() < 0.6 else rng.choice([*colours, None]) for x in a]
    r = agreement(a, b)
    df = pd.DataFrame({"a": a, "b": b}).dropna()
    ct = pd.crosstab(df["a"], df["b"])
    n = len(df)
    assert r["compared"] == n
    assert r["overall"] == round(float((df["a"] == df["b"]).mean()), 4)
    po = np.trace(ct.reindex(index=colours, columns=colours, fill_value=0).to_numpy()) / n
    pe = sum(df["a"].value_counts().get(c, 0) * df["b"].value_counts().get(c, 0) for c in colours) / n**2
    assert r["cohen_kappa"] == round((po - pe) / (1 - pe), 4)
    for c in colours:
        both = int(((df["a"] == c) & (df["b"] == c)).sum())
        sa, sb = int((df["a"] == c).sum()), int((df["b"] == c).sum())
        pv = r["per_value"][c]
        assert (pv["a_says"], pv["b_says"], pv["both"]) == (sa, sb, both)
        assert pv["agreement"] == round(both / (sa + sb - both), 4)
        assert r["confusion"][c] == {k: int(v) for k, v in ct.loc[c].items() if v}


def test_field_agreement_on_dataset_columns() -> None:
    ds = Dataset.from_samples(
        [
            Sample(f"{i}.jpg", metadata={"jersey_color": c1, "color_jersey_color": c2})
            for i, (c1, c2) in enumerate([("red", "red"), ("white", "red"), ("white", "white"), ("blue", None)])
        ],
        ".",
    )
    r = field_agreement(ds, "jersey_color", "metadata.color_jersey_color", names=["vlm", "color"])
    assert r["annotators"] == ["vlm", "color"] and r["compared"] == 3 and r["agreed"] == 2


def test_unequal_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="equal length"):
        agreement(["a"], ["a", "b"])


def test_fields_are_named_as_in_the_audit() -> None:
    """Core fields (``prompt`` too) are columns; any other bare name is a metadata key."""
    from datakit.audit.stats import field_column

    ds = Dataset.from_samples(
        [
            Sample("a.jpg", label="7", prompt="P", metadata={"ocr": "7", "prompt": "Q"}),
            Sample("b.jpg", label="8", prompt="P", metadata={"ocr": "3", "prompt": "P"}),
        ],
        ".",
    )
    assert field_agreement(ds, "label", "ocr")["overall"] == 0.5
    assert field_agreement(ds, "prompt", "metadata.prompt")["overall"] == 0.5
    assert field_column(ds, "prompt") == ["P", "P"] and field_column(ds, "ocr") == ["7", "3"]
