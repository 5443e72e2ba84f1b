"""Audit numbers against an independent pandas/scipy computation, and the ``datakit audit`` CLI."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency

from datakit import Dataset, Sample
from datakit.audit import audit
from datakit.cli import main

JERSEY = ["white", "red", "blue", "black", "yellow", "green", "orange", "navy"]


def make(n: int = 1500, seed: int = 0) -> tuple[Dataset, pd.DataFrame]:
    rng = random.Random(seed)
    samples, rows = [], []
    for i in range(n):
        split = rng.choices(["train", "valid", "test"], [0.7, 0.15, 0.15])[0]
        source = "synthetic" if split == "train" and rng.random() < 0.4 else "real"
        pool = JERSEY if source == "synthetic" else ["white"] * 5 + JERSEY[1:5] + ["navy"]
        md: dict = {}
        if rng.random() < 0.9:
            md["jersey_color"] = rng.choice(pool)
        if rng.random() < 0.8:
            md["number_color"] = rng.choice(["black", "white", "red", "yellow"])
        md["border"] = rng.random() < 0.97
        label = str(rng.choices(range(12), weights=[60, 40, 30, 20, 10, 8, 6, 5, 4, 3, 2, 1])[0])
        samples.append(Sample(f"{i}.jpg", label=label, split=split, source=source, metadata=md))
        rows.append({"split": split, "source": source, "label": label, **md})
    return Dataset.from_samples(samples, "."), pd.DataFrame(rows)


@pytest.fixture(scope="module")
def data() -> tuple[Dataset, pd.DataFrame, dict]:
    ds, df = make()
    return ds, df, audit(ds, by=("split", "source"), min_class_count=50)


def _group(df: pd.DataFrame, name: str) -> pd.DataFrame:
    if name == "all":
        return df
    if "/" in name:
        sp, so = name.split("/")
        return df[(df["split"] == sp) & (df["source"] == so)]
    col = "split" if name in ("train", "valid", "test") else "source"
    return df[df[col] == name]


def test_required_keys(data) -> None:  # type: ignore[no-untyped-def]
    _, _, a = data
    for k in ("groups", "fields", "degenerate_fields", "absent_values", "shifts", "class_balance"):
        assert k in a
    assert {"all", "train", "valid", "test", "real", "synthetic", "train/real", "train/synthetic"} <= set(a["groups"])
    assert "valid/synthetic" not in a["groups"]  # empty combinations are not groups


@pytest.mark.parametrize("field", ["jersey_color", "number_color", "border"])
def test_counts_percent_coverage_match_pandas(data, field: str) -> None:  # type: ignore[no-untyped-def]
    _, df, a = data
    info = a["fields"][field]
    for g, meta in a["groups"].items():
        sub = _group(df, g)
        assert meta["samples"] == len(sub)
        vals = sub[field].dropna()
        if field == "border":
            vals = vals.map(lambda v: "true" if v else "false")
        vc = vals.value_counts()
        assert info["counts"][g] == {k: int(v) for k, v in vc.items()}
        for k, v in vc.items():
            assert info["percent"][g][k] == pytest.approx(100 * v / len(vals), abs=1e-3)
        cov = info["coverage"][g]
        assert (cov["annotated"], cov["samples"]) == (len(vals), len(sub))
    sub = df.dropna(subset=[field])
    bc = pd.crosstab(sub["label"], sub[field].map(lambda v: ("true" if v else "false") if field == "border" else v))
    for lab, row in bc.iterrows():
        assert info["by_class"][lab] == {k: int(v) for k, v in row.items() if v}


def test_shifts_match_scipy(data) -> None:  # type: ignore[no-untyped-def]
    _, df, a = data
    checked = 0
    for s in a["shifts"]:
        if s["field"] != "jersey_color":
            continue
        ga, gb = _group(df, s["a"]), _group(df, s["b"])
        t = (
            pd.concat(
                [
                    ga["jersey_color"].dropna().value_counts().rename("a"),
                    gb["jersey_color"].dropna().value_counts().rename("b"),
                ],
                axis=1,
            )
            .fillna(0)
            .T
        )
        t = t.loc[:, t.sum() > 0].to_numpy()
        chi2, p, dof, _ = chi2_contingency(t, correction=False)
        assert s["p_value"] == pytest.approx(p, rel=1e-6, abs=1e-300)
        assert s["chi2"] == pytest.approx(chi2, rel=1e-5)
        assert s["dof"] == dof
        assert s["jsd"] == pytest.approx(jensenshannon(t[0] / t[0].sum(), t[1] / t[1].sum(), base=2), abs=1e-5)
        assert s["cramers_v"] == pytest.approx(math.sqrt(chi2 / t.sum()), abs=1e-5)
        checked += 1
    levels = {s["level"] for s in a["shifts"]}
    assert levels == {"split", "source", "split×source"}
    assert checked == 3 + 1 + 6  # splits pairwise, real/synthetic, the 4 combinations pairwise
    real_vs_synth = next(s for s in a["shifts"] if s["field"] == "jersey_color" and s["level"] == "source")
    assert real_vs_synth["p_value"] < 1e-6  # the synthetic palette is truly different


def test_degenerate_and_absent_values_match_pandas(data) -> None:  # type: ignore[no-untyped-def]
    _, df, a = data
    share = df["border"].mean()
    assert share >= 0.95
    deg = {d["field"]: d for d in a["degenerate_fields"]}
    assert set(deg) == {"border"}
    assert deg["border"]["value"] == "true" and deg["border"]["share"] == pytest.approx(share, abs=1e-6)
    for field in ("jersey_color", "number_color"):
        sets = {s: set(df[df["split"] == s][field].dropna()) for s in ("train", "valid", "test")}
        train_only = {v for v in sets["train"] if v not in sets["valid"] or v not in sets["test"]}
        eval_only = (sets["valid"] | sets["test"]) - sets["train"]
        got = a["absent_values"][field]
        assert set(got["in_train_not_eval"]) == train_only
        assert set(got["in_eval_not_train"]) == eval_only
        for v, d in got["in_train_not_eval"].items():
            assert d["train"] == int((df[df["split"] == "train"][field] == v).sum())
            assert d["absent_from"] == [s for s in ("valid", "test") if v not in sets[s]]
    assert "orange" in a["absent_values"]["jersey_color"]["in_train_not_eval"]  # synthetic-only colour


def test_class_balance_matches_pandas(data) -> None:  # type: ignore[no-untyped-def]
    _, df, a = data
    for g in ("all", "train", "valid/real"):
        vc = _group(df, g)["label"].value_counts()
        b = a["class_balance"]["groups"][g]
        assert (b["max"], b["min"], b["classes"]) == (vc.max(), vc.min(), len(vc))
        assert b["ratio"] == pytest.approx(vc.max() / vc.min(), abs=1e-4)
        assert set(b["under_threshold"]) == set(vc[vc < 50].index)
    assert a["class_balance"]["all"] == a["class_balance"]["groups"]["all"]


def test_combination_matrix_matches_pandas(data) -> None:  # type: ignore[no-untyped-def]
    _, df, a = data
    combo = a["combinations"]["jersey_color x number_color"]["counts"]
    ct = pd.crosstab(df["jersey_color"], df["number_color"])
    for j, row in ct.iterrows():
        assert combo[j] == {k: int(v) for k, v in row.items() if v}


def test_seed_imbalance_ratio() -> None:
    from datakit.audit import class_balance

    labels = ["8"] * 257 + ["2"] * 217 + ["6"] * 4 + ["46"] * 5
    b = class_balance(labels, threshold=50)
    assert round(b["ratio"], 1) == 64.2 and b["max_class"] == "8" and b["min_class"] == "6"
    assert b["under_threshold"] == {"6": 4, "46": 5}


def test_unannotated_dataset_has_no_fields_but_still_balances() -> None:
    ds = Dataset.from_samples(
        [Sample("a.jpg", label="1", split="train"), Sample("b.jpg", label="1", split="valid")], "."
    )
    a = audit(ds)
    assert a["fields"] == {} and a["degenerate_fields"] == [] and a["class_balance"]["all"]["ratio"] == 1.0


def _write(root: Path, ds: Dataset) -> None:
    ds.save(root, images="none")


@pytest.mark.slow
def test_cli_writes_json_html_and_plots(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ds, df = make(600, seed=3)
    ds = ds.with_column(
        "metadata.color_jersey_color",
        [c if i % 4 else "white" for i, c in enumerate(ds.column("metadata.jersey_color"))],
    )
    root = tmp_path / "ds"
    _write(root, ds)
    out = tmp_path / "audit"
    rc = main(
        [
            "audit",
            str(root),
            "--out",
            str(out),
            "--fields",
            "jersey_color,number_color,border",
            "--by",
            "split,source",
            "--agreement",
            "jersey_color:color_jersey_color",
            "--json",
        ]
    )
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    a = json.loads((out / "audit.json").read_text())
    assert payload["fields"].keys() == a["fields"].keys() == {"jersey_color", "number_color", "border"}
    assert a["degenerate_fields"][0]["field"] == "border"
    ag = a["agreement"]["jersey_color vs color_jersey_color"]
    assert ag["per_value"]["white"]["b_says"] > ag["per_value"]["white"]["a_says"]  # the biased one shows
    html = (out / "report.html").read_text()
    assert "Degenerate fields" in html and "border" in html and "jersey_color_distribution.png" in html
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert {
        "jersey_color_distribution.png",
        "jersey_color_by_class.png",
        "annotation_coverage.png",
        "jersey_color_x_number_color_combinations.png",
        "border_distribution.png",
    } <= set(pngs)
    assert all((out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    # numbers in audit.json are those of the API on the reloaded dataset
    import datakit

    assert a["fields"]["jersey_color"]["counts"]["train"] == {
        k: int(v) for k, v in df[df["split"] == "train"]["jersey_color"].value_counts().items()
    }
    assert len(datakit.load(root)) == 600


def test_cli_bad_options_are_one_line_errors(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ds, _ = make(20)
    root = tmp_path / "ds"
    _write(root, ds)
    assert main(["audit", str(root), "--out", str(tmp_path / "o"), "--by", "spilt"]) == 1
    assert "unknown grouping field 'spilt'" in capsys.readouterr().err
    assert main(["audit", str(root), "--out", str(tmp_path / "o"), "--fields", "shirt"]) == 1
    assert "shirt" in capsys.readouterr().err
    assert main(["audit", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 1
    with pytest.raises(SystemExit):
        main(["audit", str(root), "--out", str(tmp_path / "o"), "--agreement", "nocolon"])


def test_no_plots_and_human_summary(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ds, _ = make(200, seed=5)
    root = tmp_path / "ds"
    _write(root, ds)
    out = tmp_path / "o"
    assert main(["audit", str(root), "--out", str(out), "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert "degenerate: border" in text and "imbalance" in text
    assert sorted(p.name for p in out.iterdir()) == ["audit.json", "report.html"]
    assert np.isfinite(json.loads((out / "audit.json").read_text())["shifts"][0]["jsd"])


def test_encode_keeps_true_apart_from_one_and_merges_true_with_its_name() -> None:
    from datakit.audit.stats import encode

    codes, names = encode([True, 1, None, "a", "true"])
    assert names == ["true", "1", "a"] and codes.tolist() == [0, 1, -1, 2, 0]
    codes, names = encode([[1, 2], None, [1, 2], {"b": 1, "a": 2}])
    assert codes.tolist() == [0, -1, 0, 1] and names[0] == "[1,2]"


def test_values_missing_from_a_source_match_pandas(data) -> None:  # type: ignore[no-untyped-def]
    _, df, a = data
    for field in ("jersey_color", "number_color"):
        by_source = a["absent_values"][field]["by_source"]
        sets = {s: df[df["source"] == s][field].dropna().value_counts() for s in ("real", "synthetic")}
        expected = {v for v in set(sets["real"].index) ^ set(sets["synthetic"].index)}
        assert set(by_source) == expected
        for v, d in by_source.items():
            owner = "real" if v in sets["real"].index else "synthetic"
            assert d == {
                "present_in": {owner: int(sets[owner][v])},
                "absent_from": [{"real": "synthetic", "synthetic": "real"}[owner]],
            }
    assert "orange" in a["absent_values"]["jersey_color"]["by_source"]  # synthetic palette only
