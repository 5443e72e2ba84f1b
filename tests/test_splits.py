"""Splits: stratified, deterministic, grouped without straddling, rare classes, stable class ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import datakit
from datakit import Dataset, Detection, Sample
from datakit.cli import main
from datakit.splits import parse_ratios, split


def _ds(per_class: dict[str, int], **meta_fn) -> Dataset:  # type: ignore[no-untyped-def]
    samples = []
    for c, n in per_class.items():
        for k in range(n):
            md = {key: fn(c, k) for key, fn in meta_fn.items()}
            samples.append(Sample(f"{c}/{k}.jpg", label=c, metadata=md))
    return Dataset.from_samples(samples, ".")


def test_stratified_per_class_ratios() -> None:
    ds = _ds({"0001": 100, "0002": 40, "0003": 20})
    r = split(ds, ratios=(0.7, 0.15, 0.15), seed=0)
    assert r.counts == {"train": 112, "valid": 24, "test": 24}
    assert r.per_split["train"] == {"0001": 70, "0002": 28, "0003": 14}
    assert r.per_split["valid"] == {"0001": 15, "0002": 6, "0003": 3}
    assert r.per_split["test"] == {"0001": 15, "0002": 6, "0003": 3}
    assert r.dataset.classes == ["0001", "0002", "0003"]  # stable mapping: 0001 → id 0


def test_deterministic_by_seed() -> None:
    ds = _ds({"a": 30, "b": 30})
    one = split(ds, seed=7).dataset.column("split")
    two = split(ds, seed=7).dataset.column("split")
    other = split(ds, seed=8).dataset.column("split")
    assert one == two and one != other


def test_groups_never_straddle() -> None:
    ds = _ds({"a": 60, "b": 45}, video=lambda c, k: f"{c}-{k // 5}", dup_cluster=lambda c, k: k % 7 or None)
    r = split(ds, seed=3, group="metadata.video")
    assert r.straddling == 0 and r.groups == 21
    by_video: dict[str, set[str]] = {}
    for v, s in zip(r.dataset.column("metadata.video"), r.dataset.column("split"), strict=True):
        by_video.setdefault(v, set()).add(s)
    assert all(len(s) == 1 for s in by_video.values())
    assert set(r.counts.values()) != {0} and r.counts["valid"] > 0 and r.counts["test"] > 0
    # A dedup cluster id: None means the sample is its own group.
    r2 = split(ds, seed=3, group="metadata.dup_cluster")
    assert r2.straddling == 0 and r2.groups == 6 + 16  # 6 clusters + 16 samples without one


def test_rare_classes_go_to_train_and_are_reported() -> None:
    ds = _ds({"common": 20, "rare": 2, "single": 1})
    r = split(ds, seed=1)
    assert r.rare == {"rare": 2, "single": 1}
    assert r.per_split["train"]["rare"] == 2 and r.per_split["train"]["single"] == 1
    assert "rare" not in r.per_split["valid"]


def test_stratify_by_metadata_and_none() -> None:
    ds = _ds({"x": 40}, color=lambda c, k: "red" if k < 20 else "white")
    r = split(ds, ratios=(0.5, 0.5), names=("train", "test"), stratify="metadata.color", seed=2)
    assert r.per_split["train"] == {"red": 10, "white": 10}
    r = split(ds, ratios=(0.5, 0.5), names=("train", "test"), stratify=None, seed=2)
    assert r.counts == {"train": 20, "test": 20}
    with pytest.raises(KeyError, match="unknown field"):
        split(ds, stratify="colour")


def test_detection_dataset_stratifies_by_rarest_object() -> None:
    samples = [
        Sample(
            f"{k}.jpg",
            detections=[Detection("player", (0, 0, 1, 1))] + ([Detection("ball", (0, 0, 1, 1))] if k % 4 == 0 else []),
        )
        for k in range(40)
    ]
    r = split(Dataset.from_samples(samples, "."), ratios=(0.5, 0.5), names=("train", "test"), seed=0)
    assert r.per_split["train"] == {"player": 15, "ball": 5}
    assert r.per_split["test"] == {"player": 15, "ball": 5}


def test_parse_ratios_errors() -> None:
    assert parse_ratios("7,1.5,1.5") == (0.7, 0.15, 0.15)
    with pytest.raises(ValueError, match="comma-separated"):
        parse_ratios("a,b")
    with pytest.raises(ValueError, match="non-negative"):
        parse_ratios("1,-1")
    with pytest.raises(ValueError, match="expected 3 ratios"):
        parse_ratios("1,1", 3)


def test_split_cli(seed_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["split", str(seed_dataset), "--ratios", "0.5,0.5", "--names", "train,test", "--seed", "4", "--json"]
    out = tmp_path / "s"
    rc = main([*args, "--out", str(out)])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["counts"] == {"train": 5, "test": 4}
    assert payload["rare"] == {}
    back = datakit.load(out)
    assert back.count_by("split") == {"train": 5, "test": 4}
    assert json.loads((out / "datakit.json").read_text())["classes"] == ["6", "7", "10", "23"]
    assert back.count_by("source") == {"real": 7, "synthetic": 2}
    # Same seed, same answer.
    main([*args, "--out", str(tmp_path / "s2")])
    capsys.readouterr()
    assert datakit.load(tmp_path / "s2").column("split") == back.column("split")
    rc = main(["split", str(seed_dataset), "--ratios", "1,2", "--out", str(tmp_path / "bad")])
    assert rc == 1 and "expected 3 ratios" in capsys.readouterr().err
    # no sample of the seed dataset has metadata.video: a typo-like field is an error now (issue 14)
    rc = main(["split", str(seed_dataset), "--group", "metadata.video", "--out", str(tmp_path / "g")])
    err = capsys.readouterr().err
    assert rc == 1 and "--group metadata.video: no sample has this field" in err and "known fields:" in err
    rc = main(["split", str(seed_dataset), "--group", "source", "--out", str(tmp_path / "g")])
    assert rc == 0 and "straddling splits: 0" in capsys.readouterr().out
