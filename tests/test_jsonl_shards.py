"""Sharded native JSONL: N files per annotation file, discovered on load, processed apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import datakit
from datakit.cli import main
from tests.conftest import make_image, write_jsonl


def _ds(root: Path, n: int = 40) -> Path:
    for split in ("train", "valid"):
        rows = []
        for i in range(n if split == "train" else n // 4):
            make_image(root / split / f"{i}.png", size=(8 + i % 5, 8), color=(i * 5 % 255, 9, 9))
            rows.append({"image": f"{i}.png", "suffix": str(i % 4), "metadata": {"k": i}})
        write_jsonl(root / split / "annotations.jsonl", rows)
    return root


def _rows(ds: datakit.Dataset) -> list[tuple]:
    return sorted(zip(ds.column("id"), ds.column("label"), ds.column("split"), ds.column("metadata.k"), strict=True))


def test_save_in_shards_and_load_back(tmp_path: Path) -> None:
    ds = datakit.load(_ds(tmp_path / "ds"))
    ds.save(tmp_path / "sharded", shards=4)
    files = sorted(p.relative_to(tmp_path / "sharded").as_posix() for p in (tmp_path / "sharded").rglob("*.jsonl"))
    assert files == [f"train/annotations-0000{k}-of-00004.jsonl" for k in range(4)] + [
        f"valid/annotations-0000{k}-of-00004.jsonl" for k in range(4)
    ]
    back = datakit.load(tmp_path / "sharded")
    assert _rows(back) == _rows(ds) and len(back) == 50
    one = datakit.load(tmp_path / "sharded" / "train" / "annotations-00001-of-00004.jsonl")
    assert len(one) == 10  # one shard is a dataset of its own: a worker can process it alone
    back.filter(lambda s: s.metadata["k"] % 2 == 0).save()  # in place: the shard layout is kept
    again = datakit.load(tmp_path / "sharded")
    assert len(again) == 25 and all(p.name.startswith("annotations-") for p in (tmp_path / "sharded").rglob("*.jsonl"))
    again.save(shards=1)  # joins the shards again
    assert sorted(p.name for p in (tmp_path / "sharded" / "train").glob("*.jsonl")) == ["annotations.jsonl"]
    assert _rows(datakit.load(tmp_path / "sharded")) == _rows(again)


def test_convert_takes_shards_and_refuses_bad_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _ds(tmp_path / "ds")
    assert main(["convert", str(root), "--to", "jsonl", "--shards", "3", "--out", str(tmp_path / "o")]) == 0
    assert len(list((tmp_path / "o" / "train").glob("annotations-*-of-00003.jsonl"))) == 3
    capsys.readouterr()
    assert main(["convert", str(root), "--to", "jsonl", "--shards", "0", "--out", str(tmp_path / "p")]) == 1
    assert "shards" in capsys.readouterr().err


@pytest.mark.slow
def test_dedup_across_shards_on_a_cluster_equals_one_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hash on 2 Dask workers, search a 4-part index: the report equals the single-process one."""
    from PIL import Image, ImageDraw

    root = tmp_path / "ds"
    rows = []
    (root / "train").mkdir(parents=True)
    for i in range(200):
        img = Image.new("RGB", (40, 40), (i % 7 * 30, i % 11 * 20, i % 13 * 15))
        ImageDraw.Draw(img).text((5, 10), str(i), fill=(255, 255, 255))
        img.save(root / "train" / f"{i}.png")
        rows.append({"image": f"{i}.png", "suffix": str(i % 9)})
        if i % 8 == 0:
            img.save(root / "train" / f"{i}c.jpg", quality=90)
            rows.append({"image": f"{i}c.jpg", "suffix": str(i % 9)})
    write_jsonl(root / "train" / "annotations.jsonl", rows)
    datakit.load(root).save(tmp_path / "sharded", shards=4)

    def report(*extra: str) -> dict:
        out = tmp_path / f"r{len(list(tmp_path.glob('r*.json')))}.json"
        assert main(["dedup", str(tmp_path / "sharded"), "--report", str(out), *extra]) == 0
        capsys.readouterr()
        return json.loads(out.read_text())

    single = report("--workers", "1")
    cluster = report("--scheduler", "local:2", "--partitions", "4")
    blocked = report("--workers", "2", "--partitions", "2", "--query-blocks", "3")
    assert single["summary"]["near_groups"] + single["summary"]["exact_groups"] >= 20
    for key in ("exact_groups", "near_groups", "label_conflicts", "leaks", "summary"):
        assert single[key] == cluster[key] == blocked[key], key
