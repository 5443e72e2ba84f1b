"""The Arrow path for large JSONL files gives exactly what the line-by-line orjson path gives.

Large files are parsed by pyarrow and checked column by column; rows Arrow could read differently
(a ``null`` where absence means something else, ``2`` read as ``2.0``, ``NaN``, absent metadata
keys...) are re-read with orjson. Each case here is read both ways and every column, every
vocabulary order and every skip is compared; the cases list says which files must take the Arrow
path at all, so a path that silently fell back would fail too.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from datakit import Dataset
from datakit.formats import jsonl
from datakit.formats.jsonl import arrow as _jsonl_arrow
from datakit.formats.jsonl.rows import FileContext

ODD_PATHS = ["sub/a.jpg", "../x.jpg", "../../x.jpg", "/abs.jpg", "", ".", "..", "a\\b.jpg", "c:x.jpg", "./d.jpg", None,
             "a/b/c.jpg", "a//b.jpg", "a/./b.jpg", "a/../b.jpg", "a/", "a/.b.jpg", "..a.jpg", "a..jpg", "a/..b/c.jpg",
             "a/b/..", "sub/", " /x.jpg", "a/b/../../../x.jpg"]  # fmt: skip
PLAIN = [{"image": f"p{i}.jpg", "prefix": "P", "suffix": str(i % 3)} for i in range(4)]

ARROW_CASES: dict[str, list[Any]] = {
    "plain rows": PLAIN,
    "uniform metadata": [
        *PLAIN,
        {"image": "m.jpg", "suffix": "1", "metadata": {"c": "red", "n": 3, "f": 0.25, "b": True}},
    ],
    "metadata keys that vary": [
        *PLAIN,
        {"image": "a.jpg", "metadata": {"c": "red", "n": 1}},
        {"image": "b.jpg", "metadata": {"n": 2}},
        {"image": "c.jpg", "metadata": {"n": 3, "c": "blue"}},
    ],
    "metadata null, empty, nested": [
        *PLAIN,
        {"image": "a.jpg", "metadata": {"c": None}},
        {"image": "b.jpg", "metadata": {}},
        {"image": "c.jpg", "metadata": {"o": {"x": 1}, "l": [1, 2]}},
        {"image": "d.jpg", "metadata": None},
    ],
    "ints and floats in one metadata key": [
        *PLAIN,
        {"image": "a.jpg", "metadata": {"s": 2}},
        {"image": "b.jpg", "metadata": {"s": 2.5}},
        {"image": "c.jpg", "metadata": {"s": 2.0}},
        {"image": "d.jpg", "metadata": {"s": 1e300}},
        {"image": "e.jpg", "metadata": {"s": 2**70}},
    ],
    "strings that look like dates": [
        *PLAIN,
        {"image": "a.jpg", "suffix": "1", "metadata": {"date": "2024-03-01", "t": "2024-03-01T10:00:00"}},
    ],
    "NaN, which JSON does not have": [
        *PLAIN,
        '{"image": "a.jpg", "metadata": {"s": NaN}}',
        '{"image": "b.jpg", "metadata": {"s": 0.5}}',
    ],
    "sources": [
        *PLAIN,
        {"image": "a.jpg", "source": "synthetic"},
        {"image": "b.jpg", "source": "pseudo", "metadata": {"c": "red"}},
        {"image": "c.jpg", "source": "drawn"},
        {"image": "d.jpg", "source": None},
        {"image": "e.jpg", "source": "real"},
    ],
    "tags": [
        *PLAIN,
        {"image": "a.jpg", "tags": ["review", "hard"]},
        {"image": "b.jpg", "tags": []},
        {"image": "c.jpg", "tags": ["x", None]},
        {"image": "d.jpg", "tags": None},
    ],
    "label key": [
        *PLAIN,
        {"image": "a.jpg", "label": "7"},
        {"image": "b.jpg", "label": None, "suffix": "1"},
        {"image": "c.jpg", "label": "2", "suffix": "1"},
        {"image": "d.jpg", "label": "", "prefix": "P"},
    ],
    "unknown keys": [
        *PLAIN,
        {"image": "a.jpg", "foo": 1},
        {"image": "b.jpg", "foo": None},
        {"image": "c.jpg", "bar": "x"},
    ],
    "image paths": [
        *PLAIN,
        *({"image": p, "suffix": "1"} for p in ODD_PATHS),
        {"suffix": "1"},
    ],
    "labels": [
        *PLAIN,
        *(
            {"image": f"l{i}.jpg", "prefix": "P", "suffix": v}
            for i, v in enumerate(["", "  ", "99", None, "x y", "\u00e9"])
        ),
    ],
    "int labels": [{"image": f"i{i}.jpg", "suffix": i % 3 - 1} for i in range(5)],
    "images in folders": [{"image": f"images/{i % 2}/{i}.jpg", "suffix": "1"} for i in range(5)],
    "prompts that are not strings": [{"image": f"i{i}.jpg", "prefix": i, "suffix": "1"} for i in range(3)],
    "native fields": [
        *PLAIN,
        {"image": "a.jpg", "id": "A", "width": 64, "height": 48, "split": "valid"},
        {"image": "b.jpg", "width": 0},
        {"image": "c.jpg", "detections": [{"label": "ball", "bbox": [1, 2, 3, 4], "score": 0.5}]},
        {"image": "d.jpg", "detections": [{"label": "ball", "bbox": [4, 2, 3, 4]}]},
    ],
    "repeated images": [*PLAIN, {"image": "p1.jpg", "suffix": "2"}, {"image": "p1.jpg", "suffix": "2"}],
    "paths that meet once normalised": [*PLAIN, {"image": "x/../p1.jpg", "suffix": "1"}],
    "unicode and escapes": [*PLAIN, '{"image": "\\u00e9t\\u00e9.jpg", "suffix": "\\ud83d\\ude00", "prefix": "a\\"b"}'],
    "CRLF line ends, no final newline": ["\r\n".join(orjson.dumps(r).decode() for r in PLAIN)],
    "NaN as a top-level value": [*PLAIN, '{"image": "a.jpg", "width": NaN}'],
    "the text null inside strings": [*PLAIN, {"image": "null.jpg", "source": "synthetic", "suffix": "1"}],
    "a byte order mark": ["\ufeff" + orjson.dumps(PLAIN[0]).decode(), *PLAIN[1:]],  # skipped, first row kept
    "labels with surrounding whitespace": [*PLAIN, {"image": "w.jpg", "suffix": " 1 "}, {"image": "v.jpg", "suffix": "1\t"}],
}

FALLBACK_CASES: dict[str, list[Any]] = {
    "a line that is not JSON": [*PLAIN, "{broken"],
    "a blank line": [*PLAIN, "", PLAIN[0]],
    "two objects on a line": [*PLAIN, orjson.dumps(PLAIN[0]).decode() * 2],
    "a type that changes": [*PLAIN, {"image": "a.jpg", "suffix": 7}],
    "a key given twice": [*PLAIN, '{"image": "a.jpg", "image": "b.jpg"}'],
    "a row that is not an object": [*PLAIN, [1, 2]],
    "a line starting with a space": [*PLAIN, " " + orjson.dumps(PLAIN[0]).decode()],
}


def _write(path: Path, rows: list[Any]) -> bytes:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    data = "\n".join(lines).encode()
    if b"\r\n" not in data:  # the CRLF case also leaves out the final newline
        data += b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def _read(root: Path, arrow: bool, classes: list[str] | None, monkeypatch: pytest.MonkeyPatch) -> Dataset:
    monkeypatch.setattr(jsonl.reader, "ARROW_MIN_BYTES", 0 if arrow else 2**62)
    return jsonl.read(root, classes=classes, workers=2 if arrow else 1)  # 2: Arrow threads and scans


def _dump(ds: Dataset) -> dict[str, Any]:
    """Every column, typed (``2`` and ``2.0`` differ), with vocabulary orders."""
    d = ds._dets
    return {
        "images": ds._images,
        "ids": ds._ids,
        **{name: (col.tolist(), col.values) for name, col in [
            ("labels", ds._labels), ("splits", ds._splits), ("sources", ds._sources),
            ("prompts", ds._prompts), ("origins", ds._origins)]},
        "tags": ds._tags,
        "metadata": [orjson.dumps(m, option=orjson.OPT_SORT_KEYS) for m in ds._metadata],
        "sizes": (ds._widths.tolist(), ds._heights.tolist()),
        "detections": (d.offsets.tolist(), d.boxes.tolist(), d.labels.tolist(), d.scores.tolist(), d.attributes),
        "skipped": [s.to_dict() for s in ds.skipped],
    }  # fmt: skip


def _compare(
    tmp_path: Path, rows: list[Any], monkeypatch: pytest.MonkeyPatch, classes: list[str] | None = None
) -> bool:
    """Read both ways, assert the same result; return whether the Arrow path took the file.

    The Arrow path takes files however many rows it leaves to the per-row check (by default a
    file mostly made of such rows goes to the orjson path, which is faster for them).
    """
    monkeypatch.setattr(_jsonl_arrow, "_MOSTLY_FLAGGED", 1.0)
    path = tmp_path / "ds" / "train" / "annotations.jsonl"
    data = _write(path, rows)
    ctx = FileContext.of(path, tmp_path / "ds", frozenset(classes) if classes else None)
    took = _jsonl_arrow.parse(data, ctx) is not None
    arrow = _dump(_read(tmp_path / "ds", True, classes, monkeypatch))
    exact = _dump(_read(tmp_path / "ds", False, classes, monkeypatch))
    for key in exact:
        assert arrow[key] == exact[key], key
    return took


@pytest.mark.parametrize("case", list(ARROW_CASES))
def test_arrow_path_matches_the_orjson_path(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    classes = ["0", "1", "2", "7", "x y", "\u00e9"] if case == "labels" else None
    assert _compare(tmp_path, ARROW_CASES[case], monkeypatch, classes), "the Arrow path did not take this file"


@pytest.mark.parametrize("case", list(FALLBACK_CASES))
def test_files_arrow_reads_differently_fall_back(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not _compare(tmp_path, FALLBACK_CASES[case], monkeypatch), "this file must take the orjson path"


def test_the_checks_see_what_they_must(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spot checks of the values both paths agree on (so agreement is not agreement on nothing)."""
    _compare(tmp_path, ARROW_CASES["ints and floats in one metadata key"], monkeypatch)
    ds = _read(tmp_path / "ds", True, None, monkeypatch)
    s = {r.image: r.metadata.get("s") for r in ds if r.metadata}
    assert type(s["train/a.jpg"]) is int and type(s["train/c.jpg"]) is float and s["train/e.jpg"] == 2**70
    _compare(tmp_path, ARROW_CASES["sources"], monkeypatch)
    ds = _read(tmp_path / "ds", True, None, monkeypatch)
    assert {r.image: r.source for r in ds}["train/b.jpg"] == "pseudo"
    assert sorted(s.line for s in ds.skipped) == [7, 8]  # "drawn" and null are not sources
    _compare(tmp_path, ARROW_CASES["strings that look like dates"], monkeypatch)
    ds = _read(tmp_path / "ds", True, None, monkeypatch)
    assert ds[len(ds) - 1].metadata == {"date": "2024-03-01", "t": "2024-03-01T10:00:00"}


@pytest.mark.parametrize("seed", range(12))
def test_random_rows_match(seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random mixes of every field and odd value, several hundred rows each."""
    rng = random.Random(seed)
    pools: dict[str, list[Any]] = {
        "image": ["a.jpg", "b.png", "sub/c.jpg", "../d.jpg", "", None, "e f.jpg", "null.jpg", "s/./x.jpg", "s//y.jpg"],
        "suffix": ["1", "2", "", " ", None, "23", "null"],
        "prefix": ["P", "Q", None],
        "source": ["real", "synthetic", "pseudo", "bad", None],
        "tags": [["a"], [], ["a", "b"], None],
        "label": ["1", None],
        "id": ["x", None],
        "metadata": [None, {}, {"c": "red"}, {"c": None}, {"n": 1}, {"f": 0.5}, {"f": 2.0}, {"f": 3},
                     {"c": "blue", "n": 2, "b": False}, {"d": "2024-01-02"}, {"o": {"k": 1}}],
        "foo": [1, None],
    }  # fmt: skip
    weights = {"image": 1.0, "suffix": 0.9, "prefix": 0.7, "metadata": 0.5}
    fields = [f for f in pools if rng.random() < 0.7 or f in weights]
    rows = []
    for i in range(400):
        row = {}
        for f in fields:
            if rng.random() < weights.get(f, 0.1):
                v = rng.choice(pools[f])
                row[f] = f"{i}{v}" if f == "image" and v and rng.random() < 0.5 else v
        rows.append(row)
    assert _compare(tmp_path, rows, monkeypatch, classes=["1", "2", "23"] if seed % 3 == 0 else None)


def test_large_file_load_takes_the_arrow_path(tmp_path: Path) -> None:
    """Over the size threshold ``jsonl.read`` uses it, with no pandas import on the way."""
    import subprocess
    import sys

    rows = [{"image": f"{i}.jpg", "prefix": "P", "suffix": str(i % 5)} for i in range(2000)]
    path = tmp_path / "ds" / "train" / "annotations.jsonl"
    _write(path, rows)
    script = f"""
import sys
from datakit.formats import jsonl
from datakit.formats.jsonl import arrow as _jsonl_arrow
jsonl.reader.ARROW_MIN_BYTES = 1024
calls = []
parse = _jsonl_arrow.parse
_jsonl_arrow.parse = lambda data, ctx, **kw: calls.append(1) or parse(data, ctx, **kw)
ds = jsonl.read({str(tmp_path / "ds")!r})
print(len(ds), calls, "pandas" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2000", "[1]", "False"]


def test_date_like_strings_stay_strings_in_arrow() -> None:
    """Arrow infers timestamps from ISO-8601 strings; the table is read again with them as strings."""
    import pyarrow as pa

    data = b'{"image": "2024-01-01", "metadata": {"d": "2024-01-01T10:00:00"}, "tags": ["2024-01-02"]}\n'
    table = _jsonl_arrow._read_table(data)
    assert table is not None
    assert table.schema.field("image").type == pa.string()
    assert table.schema.field("metadata").type == pa.struct([("d", pa.string())])
    assert table.schema.field("tags").type.value_type == pa.string()
    assert table.column("image").to_pylist() == ["2024-01-01"]


def test_files_mostly_for_the_per_row_check_take_the_orjson_path(tmp_path: Path) -> None:
    rows = [*PLAIN, *({"image": f"{i}.jpg", "id": str(i)} for i in range(4))]  # ids: per-row rows
    path = tmp_path / "train" / "annotations.jsonl"
    ctx = FileContext.of(path, tmp_path, None)
    assert _jsonl_arrow.parse(_write(path, rows), ctx) is None
    assert _jsonl_arrow.parse(_write(path, PLAIN * 4 + rows[4:5]), ctx) is not None


def test_int_labels_and_folders_are_read_column_wise(tmp_path: Path) -> None:
    """Common shapes must not all go to the per-row check (which would send them to orjson)."""
    path = tmp_path / "train" / "annotations.jsonl"
    ctx = FileContext.of(path, tmp_path, None)
    for case in ("int labels", "images in folders"):
        chunks = _jsonl_arrow.parse(_write(path, ARROW_CASES[case]), ctx)
        assert chunks is not None, case
    assert next(chunks).images[:2] == ["train/images/0/0.jpg", "train/images/1/1.jpg"]


def test_one_thread_gives_the_same_chunk(tmp_path: Path) -> None:
    """``workers=1``: pyarrow on one thread and the byte scans inline, not on a second thread."""
    path = tmp_path / "train" / "annotations.jsonl"
    ctx = FileContext.of(path, tmp_path, None)
    plain = [{"image": f"q{i}.jpg", "suffix": "1"} for i in range(30)]
    data = _write(path, [*plain, *ARROW_CASES["sources"]])
    ones, twos = _jsonl_arrow.parse(data, ctx, threads=False), _jsonl_arrow.parse(data, ctx, threads=True)
    assert ones is not None and twos is not None
    [one], [two] = ones, twos
    for field in ("images", "natives", "tags", "metadata", "lines"):
        assert getattr(one, field) == getattr(two, field), field
    assert [s.to_dict() for s in one.skips] == [s.to_dict() for s in two.skips]
    assert one.labels.tolist() == two.labels.tolist() and one.sources.tolist() == two.sources.tolist()


@pytest.mark.parametrize("piece", [64, 400])
def test_pieces_and_a_piece_pyarrow_refuses(piece: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large files are read in pieces; a later piece pyarrow refuses is read with orjson alone."""
    monkeypatch.setattr(_jsonl_arrow, "_PIECE_BYTES", piece)
    rows: list[Any] = [{"image": f"r{i}.jpg", "prefix": "P", "suffix": str(i % 4)} for i in range(40)]
    rows[30] = "{broken"
    rows[33] = {"image": "t.jpg", "suffix": "", "tags": ["x"]}
    rows[12] = {"image": "m.jpg", "suffix": "1", "metadata": {"c": "red"}, "source": "synthetic"}
    assert _compare(tmp_path, rows, monkeypatch)
    ds = _read(tmp_path / "ds", True, None, monkeypatch)
    assert [(s.line, s.reason.split(" (")[0]) for s in ds.skipped] == [(31, "not valid JSON"), (34, "empty label")]
    assert len(ds) == 38 and ds["train/m.jpg"].source == "synthetic"
    data = (tmp_path / "ds" / "train" / "annotations.jsonl").read_bytes()
    ctx = FileContext.of(tmp_path / "ds" / "train" / "annotations.jsonl", tmp_path / "ds", None)
    chunks = _jsonl_arrow.parse(data, ctx)
    assert chunks is not None
    lines = [c.lines for c in chunks]
    assert len(lines) > 2 and sum(lines) == 40
    assert _jsonl_arrow.parse(b'{"broken\n' + data, ctx) is None  # the first piece decides for the file
