"""The seams other code builds on: no private Dataset access, no mutation, one registration point per format."""

from __future__ import annotations

import ast
import inspect
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from conftest import make_image

import datakit
from datakit import Dataset, Detection, Sample
from datakit.cli import main
from datakit.formats import registry

REPO = Path(__file__).resolve().parent.parent
SCANNED = ("datakit", "renderers", "annotators", "recipes")
ALLOWED = {"datakit/dataset.py", "datakit/builder.py"}


def _dataset_private_names() -> set[str]:
    """Every private attribute and method of :class:`Dataset`, read from its source."""
    tree = ast.parse((REPO / "datakit" / "dataset.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Dataset")
    names: set[str] = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


PRIVATE = _dataset_private_names()


def private_uses(source: str, names: set[str] = PRIVATE) -> list[tuple[int, str]]:
    """``(line, text)`` of every ``x._name`` (``x`` not ``self``/``cls``) and ``getattr(x, "_name")``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in names:
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append((node.lineno, f"{ast.unparse(node.value)}.{node.attr}"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "delattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in names
        ):
            found.append((node.lineno, f"{node.func.id}(..., {node.args[1].value!r})"))
    return found


def test_the_scan_knows_the_dataset_private_names() -> None:
    assert {"_labels", "_dets", "_images", "_widths", "_metadata", "_sample"} <= PRIVATE
    assert "columns" not in PRIVATE and "__init__" not in PRIVATE
    src = "def f(ds):\n    x = ds._labels\n    setattr(ds, '_widths', 1)\n    return self._labels, ds.columns.labels\n"
    assert private_uses(src) == [(2, "ds._labels"), (3, "setattr(..., '_widths')")]


def test_no_private_dataset_access_outside_dataset_and_builder() -> None:
    """Formats, commands and plug-ins use ``ds.columns``, ``detections_table()``, ``replace()``, ..."""
    offenders = []
    for top in SCANNED:
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel in ALLOWED:
                continue
            for line, text in private_uses(path.read_text(encoding="utf-8")):
                offenders.append(f"{rel}:{line}: {text}")
    assert offenders == [], "private Dataset attributes used outside dataset.py/builder.py:\n" + "\n".join(offenders)


# ----------------------------------------------------------------------------- no mutation
def _rich(root: Path) -> Dataset:
    for name, size in (("a.jpg", (64, 48)), ("b.png", (32, 40)), ("c.jpg", (20, 30)), ("d.jpg", (24, 24))):
        make_image(root / name, size=size)
    return Dataset.from_samples(
        [
            Sample("a.jpg", label="7", split="train", tags=["t"], metadata={"kit": "red"}, prompt="N?",
                   detections=[Detection("ball", (1, 2, 10, 12), 0.5, {"track": 3})]),
            Sample("b.png", label="9", split="train", source="synthetic", detections=[Detection("player", (0, 0, 5, 5))]),
            Sample("c.jpg", label="7", split="valid", metadata={"kit": "blue"}),
            Sample("d.jpg", label="9", split="test", width=24, height=24),
        ],
        root,
        classes=["7", "9", "ball", "player"],
    )  # fmt: skip


def _snapshot(ds: Dataset) -> bytes:
    c = ds.columns
    state: dict[str, Any] = {
        "samples": [vars(s) for s in ds],
        "widths": c.widths.tolist(), "heights": c.heights.tolist(),
        "labels": (c.labels.codes.tolist(), list(c.labels.values)),
        "det": (c.detections.offsets.tolist(), c.detections.boxes.tolist(), c.detections.labels.values),
        "classes": ds.classes, "info": ds.info, "skipped": ds.skipped, "root": str(ds.root),
    }  # fmt: skip
    return pickle.dumps(state)


def test_operations_leave_the_input_unchanged(tmp_path: Path) -> None:
    ds = _rich(tmp_path / "src")
    before = _snapshot(ds)
    ds.take([1, 0])
    ds.filter(label="7")
    ds.filter(lambda s: s.source == "real")
    ds[1:3]
    for name, values in (
        ("label", ["1", "2", None, "3"]), ("split", ["test"] * 4), ("source", ["pseudo"] * 4),
        ("prompt", ["P"] * 4), ("tags", [["x"]] * 4), ("metadata.kit", ["green", None, None, "x"]),
    ):  # fmt: skip
        ds.with_column(name, values)
    ds.replace(labels=datakit.columns.Categorical.from_values(["0"] * 4), classes=["0"], info={"x": 1})
    ds.split(ratios=(0.5, 0.5), names=("train", "valid"), seed=0)
    Dataset.concat([ds, ds])
    ds.map(lambda s: s)
    assert ds.image_size(0) == (64, 48) and ds.image_sizes().tolist()[1] == [32, 40]
    assert ds[0].width is None  # a size read from a header is cached privately, not written to the columns
    for fmt in registry.formats():
        images = "none" if fmt.name != "hf" else "copy"
        ds.write(tmp_path / f"out_{fmt.name}", fmt.name, images=images)
    assert _snapshot(ds) == before


def test_columns_are_read_only_views(tmp_path: Path) -> None:
    ds = _rich(tmp_path)
    c = ds.columns
    with pytest.raises(ValueError, match="read-only"):
        c.widths[0] = 5
    with pytest.raises(AttributeError):
        c.images = []  # type: ignore[misc]
    t = ds.detections_table()
    with pytest.raises(ValueError, match="read-only"):
        t["xyxy"][0, 0] = 99.0
    assert t["sample"].tolist() == [0, 1] and t["label"] == ["ball", "player"]


# ----------------------------------------------------------------------------- the format registry
def test_every_format_declares_what_convert_and_the_tests_need() -> None:
    names = registry.names()
    assert {"coco", "hf", "imagefolder", "jsonl", "voc", "yolo"} <= set(names)
    for fmt in registry.formats():
        rp = inspect.signature(fmt.read).parameters
        wp = inspect.signature(fmt.write).parameters
        for common in registry.READ_COMMON:
            assert common in rp, f"{fmt.name}.read does not take {common}="
        for common in registry.WRITE_COMMON:
            assert common in wp, f"{fmt.name}.write does not take {common}="
        for params, options in ((rp, fmt.read_options), (wp, fmt.write_options)):
            for opt in options:
                assert opt.name in params, f"{fmt.name}: option {opt.name} is not a keyword of its function"
                assert params[opt.name].default == opt.default, f"{fmt.name}: {opt.name} default disagrees"
        assert fmt.summary and (fmt.detect or fmt.suffixes), fmt.name
        assert all(isinstance(r.priority, int) and r.says for r in fmt.detect)
        assert callable(getattr(Dataset, f"from_{fmt.name}")) and fmt.module.startswith("datakit.formats.")
    rules = registry.detection_rules()
    assert [r.priority for r, _ in rules] == sorted((r.priority for r, _ in rules), reverse=True)


def test_every_public_format_module_registers_itself() -> None:
    """A module under datakit/formats without ``_`` is a format and ends with a FORMAT stanza."""
    import pkgutil

    import datakit.formats

    public = {m.name for m in pkgutil.iter_modules(datakit.formats.__path__) if not m.name.startswith("_")}
    assert public - {"registry"} == set(registry.names())
    assert {f.module for f in registry.formats()} == {f"datakit.formats.{n}" for n in registry.names()}


def test_every_format_has_a_round_trip_test() -> None:
    text = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_formats_*.py"))
    missing = [n for n in registry.names() if f"def test_{n}_round_trip" not in text]
    assert missing == []


def test_to_and_from_shims_come_from_the_registry(tmp_path: Path) -> None:
    ds = Dataset.from_samples([Sample("a.jpg", label="7", split="train", width=8, height=8)], tmp_path)
    for name in registry.names():
        assert f"to_{name}" in dir(ds)
    r = ds.to_voc(tmp_path / "v", images="none")
    assert r.samples == 1 and len(Dataset.from_voc(tmp_path / "v")) == 1
    with pytest.raises(AttributeError):
        ds.to_nothing  # noqa: B018
    with pytest.raises(AttributeError):
        Dataset.from_nothing  # noqa: B018


def test_a_format_registered_at_run_time_is_a_convert_target(
    seed_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``convert`` has no per-format code: a new Format brings its name, options and help."""
    from datakit.formats._common import WriteResult

    calls: list[dict[str, Any]] = []

    def write(ds: Dataset, out: str | Path, *, images: str = "copy", strict: bool = True, shout: bool = False) -> Any:
        calls.append({"n": len(ds), "images": images, "strict": strict, "shout": shout})
        return WriteResult(out=Path(out), samples=len(ds))

    def read(path: str | Path, *, classes: list[str] | None = None, strict: bool = False) -> Dataset:
        raise NotImplementedError

    fake = registry.Format(
        "fakefmt", "a test format", read, write, aliases=("fake-format",),
        write_options=(registry.Option("shout", "write loudly", type=bool, default=False),),
    )  # fmt: skip
    registry.register(fake)
    try:
        rc = main(["convert", str(seed_dataset), "--to", "fake-format", "--shout", "--lenient",
                   "--out", str(tmp_path / "o"), "--json"])  # fmt: skip
        out = json.loads(capsys.readouterr().out)
        assert rc == 0 and out["to"] == "fakefmt" and out["samples"] == 9
        assert calls == [{"n": 9, "images": "copy", "strict": False, "shout": True}]
        rc = main(["convert", str(seed_dataset), "--to", "coco", "--shout", "--out", str(tmp_path / "c")])
        assert rc == 1 and "--shout only applies to --to fakefmt" in capsys.readouterr().err
        with pytest.raises(SystemExit):
            main(["convert", "--help"])
        assert "fakefmt (fake-format): a test format" in capsys.readouterr().out
        with pytest.raises(ValueError, match="already used"):
            registry.register(fake)
    finally:
        registry.unregister("fakefmt")
    with pytest.raises(ValueError, match="unknown format 'fakefmt'"):
        registry.get("fakefmt")


def test_detect_follows_explicit_priorities(tmp_path: Path) -> None:
    """A VOC folder has class-like folders too; its rule outranks ImageFolder's."""
    make_image(tmp_path / "JPEGImages" / "a.jpg")
    (tmp_path / "Annotations").mkdir()
    assert registry.detect(tmp_path) == "imagefolder"  # no XML yet: class folder "JPEGImages"
    (tmp_path / "Annotations" / "a.xml").write_text("<annotation/>")
    assert registry.detect(tmp_path) == "voc"
    order = [f.name for _, f in registry.detection_rules()]
    assert order.index("voc") < order.index("imagefolder") and order[0] == "jsonl"
