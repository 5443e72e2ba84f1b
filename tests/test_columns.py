"""Packed columns (datakit/packed.py): strings and metadata in one buffer, read back exactly."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from datakit import Dataset, Sample
from datakit.columns import MetadataColumn, StringColumn
from datakit.formats import jsonl

PATHS = ["a.jpg", "", "b/ü.png", "日本/x.jpg", "bad\udc80name.jpg", "a.jpg", "zz" * 40]


def test_strings_read_back_exactly() -> None:
    s = StringColumn.from_values(PATHS)
    assert len(s) == len(PATHS) and s.tolist() == PATHS and list(s) == PATHS and s == PATHS
    assert [s[i] for i in range(len(PATHS))] == PATHS and s[-1] == PATHS[-1]
    assert s[1:4] == PATHS[1:4] and s[::-2] == PATHS[::-2]
    assert "b/ü.png" in s and "nope" not in s and s.index("日本/x.jpg") == 3 and s.count("a.jpg") == 2
    with pytest.raises(IndexError):
        s[len(PATHS)]
    with pytest.raises(TypeError, match="row 1"):
        StringColumn.from_values(["a", 3])  # type: ignore[list-item]
    assert pickle.loads(pickle.dumps(s)) == PATHS
    assert StringColumn.from_values(np.array(["a", "bé"])) == ["a", "bé"]  # numpy.str_ items
    empty = StringColumn.from_values([])
    assert len(empty) == 0 and empty.tolist() == [] and empty.is_unique()


def test_take_and_concat_move_the_right_bytes() -> None:
    s = StringColumn.from_values(PATHS)
    idx = [6, 0, 0, -1, 2, 4]
    assert s.take(idx) == [PATHS[i] for i in idx]
    assert s.take(np.arange(2, 5)) == PATHS[2:5]  # a contiguous run
    assert s.take([]) == []
    with pytest.raises(IndexError):
        s.take([len(PATHS)])
    rng = np.random.default_rng(0)
    many = [f"{'x' * int(k)}/{i}.jpg" for i, k in enumerate(rng.integers(0, 30, 200_000))]
    big = StringColumn.from_values(many)  # blocks of the gather span several rows each
    perm = rng.permutation(len(many))
    assert big.take(perm).tolist() == [many[i] for i in perm.tolist()]
    blanks = StringColumn.from_values(["", "", "q", ""])
    assert blanks.take([3, 0, 2, 1, 0]) == ["", "", "q", "", ""] and blanks.take([0, 1]) == ["", ""]
    huge = ["y" * (3 * 2**20), "a", "y" * (3 * 2**20 - 1) + "z"]  # rows longer than one gather step
    hs = StringColumn.from_values(huge)
    assert hs.take([2, 1, 0, 2]) == [huge[2], huge[1], huge[0], huge[2]] and hs.is_unique()
    assert not StringColumn.from_values([*huge, huge[0]]).is_unique()
    joined = StringColumn.concat([s, big, StringColumn.from_values(["é"])])
    assert joined == [*PATHS, *many, "é"]


def test_uniqueness_is_exact() -> None:
    assert not StringColumn.from_values(PATHS).is_unique()  # "a.jpg" twice
    assert StringColumn.from_values(PATHS[:5]).is_unique()
    # equal hashes for equal strings, whatever their position or neighbours
    s = StringColumn.from_values(["ab", "abc", "ab", "x" * 17, "x" * 17])
    h = s.hashes()
    assert h[0] == h[2] and h[3] == h[4] and h[0] != h[1]
    # strings equal in their first 8 bytes, or differing only past a word boundary
    assert StringColumn.from_values(["abcdefgh1", "abcdefgh2", "abcdefgh", "abcdefgh\0"]).is_unique()


def test_a_hash_collision_falls_back_to_comparing_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StringColumn, "hashes", lambda self: np.zeros(len(self), dtype=np.uint64))
    assert StringColumn.from_values(["a", "b", "c"]).is_unique()
    assert not StringColumn.from_values(["a", "b", "a"]).is_unique()


META: list[Any] = [
    {"jersey_color": "red", "n": 2, "f": 0.5, "ok": True, "nested": {"l": [1, "x", None]}},
    None,
    {},
    {"t": (1, 2)},  # JSON has no tuple
    {"nan": math.nan},  # nor NaN
    {"np": np.int64(3)},
    {1: "int key"},
    {"big": 2**70},
    {"one": 1.0, "ü": "é"},
]


def test_metadata_reads_back_exactly_json_or_not() -> None:
    m = MetadataColumn.from_values(META)
    got: list[Any] = m.tolist()
    assert got[1] is None and got[2] is None  # an empty dict is no metadata
    assert got[0] == META[0] and got[8] == META[8] and type(got[8]["one"]) is float
    assert got[3] == {"t": (1, 2)} and type(got[3]["t"]) is tuple
    assert math.isnan(got[4]["nan"]) and type(got[5]["np"]) is np.int64 and got[6] == {1: "int key"}
    assert got[7] == {"big": 2**70}
    assert m.present().tolist() == [True, False, False, True, True, True, True, True, True]
    enc = m.encoded([0, 1, 3])
    assert isinstance(enc[0], bytes) and enc[1] is None and enc[2] == {"t": (1, 2)}
    back = pickle.loads(pickle.dumps(m))
    assert back[3] == {"t": (1, 2)} and back[0] == META[0]


def test_metadata_rows_are_fresh_dicts() -> None:
    m = MetadataColumn.from_values([{"a": 1}, {"t": (1,)}])
    first, second = m[0], m[1]
    assert first is not None and second is not None
    first["a"] = 99
    second["t"] = "changed"
    assert m[0] == {"a": 1} and m[1] == {"t": (1,)}


def test_metadata_take_and_concat_keep_python_rows() -> None:
    m = MetadataColumn.from_values(META)
    idx = [3, 0, 3, -1, 1]
    assert m.take(idx).tolist() == [m[i] for i in [3, 0, 3, 8, 1]]
    many = MetadataColumn.from_values([{"i": i} if i % 3 else None for i in range(70_000)] + [{"t": (1,)}])
    assert list(many)[-3:] == [{"i": 69_998}, None, {"t": (1,)}]  # iteration across blocks
    two = MetadataColumn.concat([m, MetadataColumn.from_values([{"t": (9,)}, {"c": "x"}])])
    assert len(two) == len(META) + 2 and two[len(META)] == {"t": (9,)} and two[3] == {"t": (1, 2)}
    assert two[-1] == {"c": "x"}


def test_dataset_columns_are_packed_and_lists_are_converted() -> None:
    ds = Dataset.from_columns(root=".", images=["b.jpg", "a.jpg"], metadata=[{"c": "red"}, None])
    c = ds.columns
    assert isinstance(c.images, StringColumn) and isinstance(c.metadata, MetadataColumn)
    assert c.ids is c.images  # ids equal to the paths share their column
    assert c.images == ["b.jpg", "a.jpg"] and ds.images == ["b.jpg", "a.jpg"] and ds[0].metadata == {"c": "red"}
    dup = Dataset.from_columns(root=".", images=["a.jpg", "a.jpg", "b.jpg"], ids=[None, None, "x"])
    assert dup.columns.ids == ["a.jpg", "a.jpg#2", "x"]
    rep = ds.take([0, 0])
    assert rep.columns.ids == ["b.jpg", "b.jpg#2"] and rep.columns.images == ["b.jpg", "b.jpg"]


def test_operations_keep_metadata_and_leave_the_source_alone() -> None:
    ds = Dataset.from_samples(
        [Sample("a.jpg", metadata={"c": "red", "t": (1, 2)}), Sample("b.jpg"), Sample("c.jpg", metadata={"c": "blue"})],
        ".",
    )
    s = ds[0]
    s.metadata["c"] = "changed"
    md = ds.columns.metadata[0]
    assert md is not None
    md["c"] = "changed"
    assert ds[0].metadata == {"c": "red", "t": (1, 2)}
    assert ds.filter(metadata={"c": "blue"}).images == ["c.jpg"]
    both = Dataset.concat([ds, ds.with_column("metadata.c", [None, "green", None]).filter(metadata={"c": "green"})])
    assert both.column("metadata.c") == ["red", None, "blue", "green"] and both.ids[-1] == "b.jpg#2"
    assert both[0].metadata["t"] == (1, 2) and ds.metadata_keys() == {"c": 2, "t": 1}


def test_jsonl_load_packs_strings_and_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both parse paths give packed columns holding no Python dict for JSON metadata; saving is byte-identical."""
    rows = [
        b'{"image":"img_%d.jpg","prefix":"P","suffix":"%d","metadata":{"jersey_color":"red","border":true}}' % (i, i % 7)
        if i % 3 == 0
        else b'{"image":"\xc3\xbc_%d.jpg","prefix":"P","suffix":"%d"}' % (i, i % 7)
        for i in range(3000)
    ]
    src = tmp_path / "src"
    (src / "train").mkdir(parents=True)
    (src / "train" / "annotations.jsonl").write_bytes(b"\n".join(rows) + b"\n")
    for arrow in (True, False):
        monkeypatch.setattr(jsonl.reader, "ARROW_MIN_BYTES", 0 if arrow else 2**62)
        ds = jsonl.read(src)
        c = ds.columns
        assert isinstance(c.images, StringColumn) and c.ids is c.images
        assert c.images.nbytes < 40 * len(ds)  # ~13 bytes of path + an 8-byte offset per row
        enc = c.metadata.encoded(np.arange(len(ds)))
        assert all(isinstance(e, bytes) for e in enc[::3]) and all(e is None for e in enc[1::3])
        assert ds[3].metadata == {"jersey_color": "red", "border": True} and ds[1].image == "train/ü_1.jpg"
        out = ds.save(tmp_path / f"out{arrow}", images="none")
        assert (out / "train" / "annotations.jsonl").read_bytes() == (src / "train" / "annotations.jsonl").read_bytes()
