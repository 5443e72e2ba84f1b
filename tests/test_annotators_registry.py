"""The one registration point: names, declared options parsed generically, box-level annotators from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotators import registry
from annotators.base import Annotator, Result, annotate
from datakit import Dataset, Sample
from datakit.cli import main
from datakit.sample import Detection


class BoxArea(Annotator):
    """A box-level annotator: the crop's size and the box it came from."""

    name, fields = "boxarea", ("area", "label_seen")

    def __init__(self, *, scale: float = 1.0, batch_size: int = 4) -> None:
        self.scale = scale
        self.batch_size = batch_size

    def config(self):  # type: ignore[no-untyped-def]
        return {**super().config(), "scale": self.scale}

    def predict(self, prepared, items):  # type: ignore[no-untyped-def]
        out = []
        for it in items:
            w, h = it.image.size
            assert it.box is not None and len(it.detections) == 1
            out.append(Result(it.id, "ok", {"area": w * h * self.scale, "label_seen": it.detections[0].label}))
        return out


@pytest.fixture
def boxarea():  # type: ignore[no-untyped-def]
    e = registry.register(
        registry.Entry(
            "annotator",
            "boxarea",
            BoxArea,
            options=(registry.Option("scale", float, help="multiply the area"),),
        )
    )
    yield e
    registry.unregister("annotator", "boxarea")


def _boxes_dataset(root: Path) -> Path:
    root.mkdir()
    img = np.zeros((60, 80, 3), np.uint8)
    img[10:30, 10:20] = (200, 30, 40)  # a red "player"
    img[5:25, 50:70] = (20, 30, 80)  # a navy one
    Image.fromarray(img).save(root / "f0.png")
    Image.fromarray(img[:, ::-1].copy()).save(root / "f1.png")
    ds = Dataset.from_samples(
        [
            Sample(
                "f0.png",
                detections=[
                    Detection("player", (10, 10, 20, 30), 0.9),
                    Detection("ball", (40, 40, 44, 44), 0.3),
                    Detection("player", (50, 5, 70, 25), 0.8),
                ],
            ),
            Sample("f1.png"),
        ],
        root,
    )
    ds.save(root)
    return root


def test_unknown_annotator_lists_the_known_ones(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    root = _boxes_dataset(tmp_path / "ds")
    rc = main(["annotate", str(root), "--with", "colour", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err
    assert "unknown annotator 'colour'" in err and "color, ocr, vlm" in err
    with pytest.raises(registry.UnknownName, match="known: .*hog"):
        registry.resolve_detector("yolo")


def test_registry_refuses_taken_names_and_mismatched_flags(boxarea) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.Entry("annotator", "boxarea", BoxArea))
    with pytest.raises(ValueError, match="another type"):
        registry.register(registry.Entry("annotator", "x", BoxArea, options=(registry.Option("scale", int),)))
    assert registry.get("annotator", "boxarea") is boxarea


def test_plug_in_options_are_parsed_and_checked_generically(boxarea, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    root = _boxes_dataset(tmp_path / "ds")
    # --scale belongs to boxarea only; --min-confidence belongs to ocr only
    rc = main(["annotate", str(root), "--with", "color", "--scale", "2", "--out", str(tmp_path / "o")])
    assert rc == 1 and "--scale applies to annotator boxarea, not 'color'" in capsys.readouterr().err
    rc = main(["annotate", str(root), "--with", "boxarea", "--min-confidence", "0.5", "--out", str(tmp_path / "o")])
    assert rc == 1 and "--min-confidence applies to annotator ocr" in capsys.readouterr().err


def test_box_level_plug_in_from_the_cli_writes_box_attributes(boxarea, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import datakit

    root = _boxes_dataset(tmp_path / "ds")
    out = tmp_path / "out"
    args = ["annotate", str(root), "--with", "boxarea", "--scale", "2", "--on-boxes", "player"]
    rc = main([*args, "--out", str(out), "--json", "--no-progress"])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["boxes"] == 2 and payload["statuses"] == {"ok": 2}
    ds = datakit.load(out)
    t = ds.detections_table()
    attrs = {int(s): a for s, a in zip(t["sample"], t["attributes"], strict=True) if a}
    got = [a for a in t["attributes"]]
    assert got[0] == {"area": 400.0, "label_seen": "player", "boxarea_status": "ok"}  # 10x20 crop, scale 2
    assert got[1] is None  # the ball was not selected
    assert got[2]["area"] == 800.0
    assert list(attrs) == [0]
    assert ds.column("metadata.boxarea_status") == [None, None]  # nothing written at sample level
    rows = [json.loads(x) for x in (out / "_annotate" / "boxarea.jsonl").read_text().splitlines()]
    assert rows[0]["_checkpoint"]["boxes"] == ["player"] and rows[0]["_checkpoint"]["scale"] == 2.0
    assert sorted(r["id"] for r in rows[1:]) == ["f0.png#box0", "f0.png#box2"]
    # a rerun resumes every box from the checkpoint
    rc = main([*args, "--out", str(out), "--json", "--no-progress"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["resumed"] == 2


def test_colour_annotator_on_detection_crops(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import datakit

    root = _boxes_dataset(tmp_path / "ds")
    out = tmp_path / "out"
    rc = main(["annotate", str(root), "--with", "color", "--on-boxes", "--prefix", "c_", "--out", str(out), "--no-progress"])
    assert rc == 0
    assert "3 boxes annotated with color" in capsys.readouterr().out
    attrs = datakit.load(out).detections_table()["attributes"]
    assert attrs[0]["c_jersey_color"] == "red" and attrs[2]["c_jersey_color"] == "navy"
    assert all(a["c_status"] in ("ok", "invalid_value") for a in attrs)


def test_items_carry_the_sample_detections() -> None:
    seen = []

    class Boxes(Annotator):
        name, fields, needs_image = "boxes", ("n",), False

        def predict(self, prepared, items):  # type: ignore[no-untyped-def]
            seen.extend(it.detections for it in items)
            return [Result(it.id, "ok", {"n": len(it.detections)}) for it in items]

    ds = Dataset.from_samples([Sample("a.jpg", detections=[Detection("player", (0, 0, 4, 4), 0.5)]), Sample("b.jpg")], ".")
    run = annotate(ds, Boxes(), progress=False)
    assert [r.values["n"] for r in run.results.values()] == [1, 0]
    assert seen[0][0].label == "player" and seen[0][0].score == 0.5


def test_box_outside_the_image_is_an_error_result(tmp_path: Path) -> None:
    Image.new("RGB", (10, 10)).save(tmp_path / "a.png")
    ds = Dataset.from_samples([Sample("a.png", detections=[Detection("p", (20, 20, 30, 30)), Detection("p", (0, 0, 5, 5))])], tmp_path)
    run = annotate(ds, BoxArea(), boxes=True, progress=False)
    assert run.results["a.png#box0"].status == "error" and "no pixels" in run.results["a.png#box0"].problems["image"]
    assert run.results["a.png#box1"].values["area"] == 25
    out = run.apply(ds)
    assert out.detections_table()["attributes"][0] == {"boxarea_status": "error"}


def test_no_private_dataset_access_in_annotators() -> None:
    import re

    pat = re.compile(r"\b(?!self\b)\w+\._(labels|dets|images|ids|splits|sources|prompts|origins|tags|metadata|widths|heights|id_index|sample)\b")
    root = Path(__file__).resolve().parents[1] / "annotators"
    hits = [f"{p}:{n}" for p in root.rglob("*.py") for n, line in enumerate(p.read_text().splitlines(), 1) if pat.search(line)]
    assert hits == []
