"""Every format × every format, through datakit: what the target holds survives, the rest is counted.

The formats come from the registry (:mod:`datakit.formats.registry`), so a new format joins the
matrix by being registered. Three datasets go through every pair: label-only (classification),
detection-only and both. For each pair ``A → B`` the dataset datakit reads back from ``A`` is
written as ``B`` and read back; then for each kind of annotation (sample labels, detections):

- it survives with the same values (labels as a multiset, boxes to 0.01 px), or
- the writer counted it as dropped (``result.dropped``) or skipped the samples holding it, or
- it was turned into the other kind on purpose and said so (YOLO's classification as detection:
  one full-image box per label).

A sample is never lost without being counted in ``result.skipped``.
"""

from __future__ import annotations

import inspect
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import make_image

from datakit import Dataset, Detection, Sample
from datakit.formats import registry

NAMES = registry.names()
CASES = ("labels", "detections", "both")

_SIZES = [(64, 48), (40, 40), (50, 30), (80, 60)]
_LABELS = ["23", "7", "23", "10"]
_BOXES = [
    [("ball", (2, 3, 12, 15)), ("player", (30, 10, 50, 40))],
    [("player", (8, 5, 30, 25))],
    [],
    [("ball", (60, 20, 79, 39)), ("referee", (10, 10, 40, 50))],
]
_SPLITS = ["train", "train", "valid", "valid"]


def _base(root: Path, case: str) -> Dataset:
    samples = []
    for k, (size, label, boxes, split) in enumerate(zip(_SIZES, _LABELS, _BOXES, _SPLITS, strict=True)):
        rel = f"{split}/img{k}.{'png' if k % 2 else 'jpg'}"
        make_image(root / rel, size=size, color=(40 * k, 90, 200 - 30 * k))
        samples.append(
            Sample(
                rel,
                label=label if case != "detections" else None,
                split=split,
                width=size[0],
                height=size[1],
                detections=[Detection(n, b) for n, b in boxes] if case != "labels" else [],
            )
        )
    return Dataset.from_samples(samples, root)


def _read(name: str, path: Path, scratch: Path) -> Dataset:
    fmt = registry.get(name)
    extra: dict[str, Any] = {}
    if "images_dir" in inspect.signature(fmt.read).parameters:
        extra["images_dir"] = scratch
    return fmt.read(path, **extra)


def _labels(ds: Dataset) -> Counter[str]:
    return Counter(v for v in ds.column("label") if v is not None)


def _boxes(ds: Dataset) -> Counter[tuple[str, tuple[float, ...]]]:
    t = ds.detections_table()
    return Counter(
        (str(lab), tuple(round(float(v), 2) for v in box)) for lab, box in zip(t["label"], t["xyxy"], strict=True)
    )


_SOURCES: dict[tuple[str, str], Dataset | None] = {}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("matrix")


def _source(scratch: Path, name: str, case: str) -> Dataset:
    """The dataset datakit reads back from ``case`` written as format ``name`` (cached per module)."""
    key = (name, case)
    if key not in _SOURCES:
        base = _base(scratch / f"base-{case}", case)
        out = scratch / f"src-{case}-{name}"
        r = registry.get(name).write(base, out)
        if r.samples == 0:  # the format holds none of it (detections in ImageFolder): counted, no source
            assert len(r.skipped) == len(base)
            _SOURCES[key] = None
        else:
            _SOURCES[key] = _read(name, out, scratch / f"src-{case}-{name}-x")
    src = _SOURCES[key]
    if src is None:
        pytest.skip(f"{name} holds nothing of a {case} dataset (every sample skipped and counted)")
    return src


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("target", NAMES)
@pytest.mark.parametrize("source", NAMES)
def test_round_trip_pair(scratch: Path, source: str, target: str, case: str) -> None:
    src = _source(scratch, source, case)
    out = scratch / f"{case}-{source}-to-{target}"
    result = registry.get(target).write(src, out)
    lost_samples = len(result.skipped)
    assert result.samples == len(src) - lost_samples, result.to_dict()
    if result.samples == 0:  # e.g. detection-only into ImageFolder: every sample skipped, each counted
        assert lost_samples == len(src) and all(s.reason for s in result.skipped)
        return
    back = _read(target, out, scratch / f"{case}-{source}-to-{target}-x")
    assert len(back) == result.samples, f"{source} → {target}: {len(back)} samples read back, {result.samples} written"
    assert back.skipped == [], f"{source} → {target}: datakit cannot read its own {target} export: {back.skipped}"

    dropped = result.dropped
    full_image = any("classification as detection" in n for n in result.notes)
    # Sample labels.
    want_labels = _labels(src)
    got_labels = _labels(back)
    if want_labels and got_labels != want_labels:
        if full_image:
            assert Counter(lab for lab, _ in _boxes(back).elements()) == want_labels
        else:
            lost = sum(want_labels.values()) - sum(got_labels.values())
            assert dropped.get("label", 0) + lost_samples >= lost > 0 and not (got_labels - want_labels), (
                f"{source} → {target}: labels {dict(want_labels)} came back as {dict(got_labels)}, "
                f"dropped {dropped}, skipped {lost_samples}"
            )
    # Detections.
    want_boxes = _boxes(src)
    got_boxes = _boxes(back)
    if full_image:
        return
    if want_boxes and got_boxes != want_boxes:
        lost = sum(want_boxes.values()) - sum(got_boxes.values())
        assert dropped.get("detections", 0) >= lost > 0 or lost_samples, (
            f"{source} → {target}: boxes {sorted(want_boxes)} came back as {sorted(got_boxes)}, dropped {dropped}"
        )
        assert not (got_boxes - want_boxes), f"{source} → {target}: boxes changed: {sorted(got_boxes - want_boxes)}"
    elif not want_boxes:
        assert not got_boxes or full_image


def test_matrix_covers_the_registry() -> None:
    # The matrix is built from the registry: every registered format is a source and a target.
    assert set(NAMES) == {f.name for f in registry.formats()} and {"coco", "yolo", "jsonl", "hf"} <= set(NAMES)


def test_coco_label_only_export_is_honest_and_readable(tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    ds = _base(tmp_path / "b", "labels")
    r = registry.get("coco").write(ds, tmp_path / "c")
    # Labels are declared as categories and said to be a datakit extension, not "nothing dropped".
    assert any("sample labels written as the image keys" in n for n in r.notes)
    coco = COCO(str(tmp_path / "c" / "train" / "_annotations.coco.json"))
    assert [c["name"] for c in coco.loadCats(sorted(coco.getCatIds()))] == ["7", "10", "23"]
    back = registry.get("coco").read(tmp_path / "c")
    assert _labels(back) == _labels(ds) and back.classes == ["7", "10", "23"]
    # ... and the native export of that reads back every sample (the class list covers labels).
    registry.get("jsonl").write(back, tmp_path / "j")
    assert len(registry.get("jsonl").read(tmp_path / "j")) == 4


def test_hf_both_kinds_come_back_through_jsonl(tmp_path: Path) -> None:
    ds = _base(tmp_path / "b", "both")
    registry.get("hf").write(ds, tmp_path / "h")
    back = registry.get("hf").read(tmp_path / "h", images_dir=tmp_path / "x")
    assert set(back.classes or []) == {"23", "7", "10", "ball", "player", "referee"}
    registry.get("jsonl").write(back, tmp_path / "j")
    again = registry.get("jsonl").read(tmp_path / "j")
    assert len(again) == 4 and again.skipped == [] and _boxes(again) == _boxes(ds)
