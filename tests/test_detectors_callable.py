"""Any Python callable as a detector: module:function and file.py:function, validated answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from annotators.detectors.base import Boxes
from annotators.detectors.callable import CallableDetector
from annotators.registry import load_callable, resolve_detector
from datakit.errors import DatakitError

IMG = np.zeros((20, 30, 3), np.uint8)


def test_module_and_file_specs_load(tmp_path: Path) -> None:
    f = tmp_path / "my_model.py"
    f.write_text(
        "__version__ = '2.1'\n"
        "def detect(images):\n"
        "    return [{'boxes': [[1, 2, 3, 4]], 'scores': [0.7], 'labels': ['ball']} for _ in images]\n"
    )
    det = CallableDetector(f"{f}:detect")
    assert det.version == "2.1" and det.name.endswith("my_model.py:detect")
    b = det.detect([IMG, IMG], 0.05)
    assert [x.xyxy.tolist() for x in b] == [[[1.0, 2.0, 3.0, 4.0]]] * 2 and b[0].labels == ["ball"]
    assert det.detect([IMG], 0.7)[0].xyxy.shape == (0, 4)  # strictly above the threshold
    assert resolve_detector(f"{f}:detect")[0].name == "callable"
    mod = CallableDetector("annotators.detectors.callable:_example")
    assert mod.detect([IMG], 0.1)[0].xyxy.tolist() == [[0.0, 0.0, 30.0, 20.0]]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ([{"boxes": [[0, 0, 1, 1]], "scores": [0.5]}], "missing labels"),
        ([{"boxes": [[0, 0, 1]], "scores": [0.5], "labels": ["a"]}], r"boxes of shape \(N, 4\)"),
        ([{"boxes": [[0, 0, 1, 1]], "scores": [0.5, 0.4], "labels": ["a"]}], "expected 1 scores and 1 labels"),
        ([{"boxes": [[5, 0, 1, 1]], "scores": [0.5], "labels": ["a"]}], "x1 <= x2"),
        ([{"boxes": [[0, 0, np.nan, 1]], "scores": [0.5], "labels": ["a"]}], "finite"),
        ([{"boxes": [[0, 0, 1, 1]], "scores": [-0.1], "labels": ["a"]}], r"scores in \[0, 1\]"),
        (["nope"], "expected a dict"),
        ([], "returned 0 results for 1 images"),
        (None, "expected a list of dicts"),
    ],
)
def test_wrong_answers_say_what_is_wrong(answer, message: str) -> None:  # type: ignore[no-untyped-def]
    det = CallableDetector(lambda images: answer)
    with pytest.raises(ValueError, match=message):
        det.detect([IMG], 0.05)


def test_empty_answers_and_spec_errors() -> None:
    det = CallableDetector(lambda images: [{"boxes": [], "scores": [], "labels": []} for _ in images])
    assert len(det.detect([IMG], 0.05)[0]) == 0
    assert len(Boxes.empty()) == 0
    for spec, message in [
        ("no_colon", "expected module:function"),
        ("missing_file.py:fn", "no such file"),
        ("json:not_there", "has no attribute"),
        ("json:__doc__", "not callable"),
    ]:
        with pytest.raises(DatakitError, match=message):
            load_callable(spec)
    assert load_callable("json:dumps") is json.dumps
