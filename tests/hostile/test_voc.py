"""Hostile Pascal VOC inputs, run as a user would (``datakit convert`` / ``info``); see :mod:`._table`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datakit import Dataset, Detection, Sample
from datakit.formats import voc

from ._table import Case, Outcome, run_case


def _img(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.random.default_rng(0).random((size[1], size[0], 3)) * 255).astype(np.uint8)).save(path)
    return path


def _voc(t: Path, xml: str, name: str = "a") -> Path:
    """``t/voc`` with ``Annotations/<name>.xml`` holding ``xml`` and a 64x48 ``JPEGImages/<name>.jpg``."""
    root = t / "voc"
    _img(root / "JPEGImages" / f"{name}.jpg")
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    (root / "Annotations" / f"{name}.xml").write_text(xml)
    return root


def _ann(objects: str, size: str = "<size><width>64</width><height>48</height></size>") -> str:
    return f"<annotation><filename>a.jpg</filename>{size}{objects}</annotation>"


def _obj(name: str, box: tuple[object, object, object, object]) -> str:
    b = "".join(f"<{k}>{v}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True))
    return f"<object><name>{name}</name><bndbox>{b}</bndbox></object>"


def _out(t: Path) -> Path:
    return t / "out"


def _no_output(t: Path, _: Outcome) -> None:
    assert not _out(t).exists()


def _escaping(t: Path) -> Path:
    root = _voc(t, _ann(_obj("ball", (1, 1, 5, 5))))
    (root / "Annotations" / "b.xml").write_text(_ann("").replace("a.jpg", "../../secret.jpg"))
    return root


def _symlinked(t: Path) -> Path:
    root = _voc(t, _ann(_obj("ball", (1, 1, 5, 5))))
    _img(t / "outside.jpg")
    os.symlink(t / "outside.jpg", root / "JPEGImages" / "b.jpg")
    (root / "Annotations" / "b.xml").write_text(_ann("").replace("a.jpg", "b.jpg"))
    return root


def _check_symlink_not_copied(t: Path, _: Outcome) -> None:
    assert not (_out(t) / "JPEGImages" / "b.jpg").exists()


CASES = [
    Case(
        "malformed XML: one line naming the file and the line",
        build=lambda t: ["convert", _voc(t, "<annotation>\n<size>\n"), "--to", "coco", "--out", _out(t)],
        expect="error",
        match=r"Annotations/a\.xml:3: malformed XML",
        check=_no_output,
    ),
    Case(
        "malformed XML with --lenient: counted skip",
        build=lambda t: ["convert", _voc(t, "<annotation>"), "--to", "coco", "--out", _out(t), "--lenient"],
        expect="skip",
        match=r"skipped: 1\n.*Annotations/a\.xml:1: malformed XML",
    ),
    Case(
        "XML entity expansion is refused (defusedxml)",
        build=lambda t: [
            "info",
            _voc(t, '<!DOCTYPE a [<!ENTITY e "x"><!ENTITY f "&e;&e;">]><annotation>&f;</annotation>'),
            "--strict",
        ],
        expect="error",
        match=r"Annotations/a\.xml: refused XML",
    ),
    Case(
        "missing <size>",
        build=lambda t: [
            "convert",
            _voc(t, _ann(_obj("ball", (1, 1, 5, 5)), size="")),
            "--to",
            "yolo",
            "--out",
            _out(t),
        ],
        expect="error",
        match=r"Annotations/a\.xml: missing <size>",
    ),
    Case(
        "box entirely outside the image, --lenient: the object is a counted skip",
        build=lambda t: [
            "convert",
            _voc(t, _ann(_obj("ball", (100, 100, 120, 130)))),
            "--to",
            "yolo",
            "--out",
            _out(t),
            "--lenient",
        ],
        expect="skip",
        match=r"Annotations/a\.xml object 1: box .* lies entirely outside the 64x48 image",
    ),
    Case(
        "box overhanging the image: clipped and counted",
        build=lambda t: ["convert", _voc(t, _ann(_obj("ball", (0, 1, 70, 48)))), "--to", "coco", "--out", _out(t)],
        expect="ok",
        match=r"1 boxes overhanging their image clipped to it",
    ),
    Case(
        "box overhanging the image, --strict: refused",
        build=lambda t: [
            "convert",
            _voc(t, _ann(_obj("ball", (0, 1, 70, 48)))),
            "--to",
            "coco",
            "--out",
            _out(t),
            "--strict",
        ],
        expect="error",
        match=r"Annotations/a\.xml: object 1: box .* lies outside the 64x48 image",
    ),
    Case(
        "unknown class with --classes",
        build=lambda t: [
            "convert",
            _voc(t, _ann(_obj("dog", (1, 1, 5, 5)))),
            "--classes",
            "ball",
            "--to",
            "yolo",
            "--out",
            _out(t),
        ],
        expect="error",
        match=r"Annotations/a\.xml: object 1: unknown class 'dog' \(not in the declared classes\)",
    ),
    Case(
        "a <filename> escaping the root",
        build=lambda t: ["convert", _escaping(t), "--to", "coco", "--out", _out(t), "--lenient"],
        expect="skip",
        match=r"Annotations/b\.xml: path '\.\./\.\./secret\.jpg' escapes the dataset root",
    ),
    Case(
        "an image symlinked out of the root is not copied into the export",
        build=lambda t: ["convert", _symlinked(t), "--to", "voc", "--out", _out(t), "--lenient"],
        expect="skip",
        match=r"outside the dataset root",
        check=_check_symlink_not_copied,
    ),
    Case(
        "a box outside the image on export, --strict: refused",
        build=lambda t: (
            lambda: voc.write(
                Dataset.from_samples(
                    [Sample("a.jpg", width=8, height=8, detections=[Detection("b", (0, 0, 20, 4))])], t
                ),
                _out(t),
                images="none",
                exact=True,
            )
        ),
        expect="error",
        match=r"lies outside the 8x8 image",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_voc(case: Case, tmp_path: Path) -> None:
    run_case(case, tmp_path)
