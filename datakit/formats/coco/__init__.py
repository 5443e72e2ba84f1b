"""COCO detection JSON: one file, or the Roboflow / RF-DETR layout of one file per split.

Reading takes the JSON file (images resolved against ``images`` or else the JSON's folder), or a
folder holding ``_annotations.coco.json`` (split ``None``) and/or ``<split>/_annotations.coco.json``
with images beside each file. Writing produces that folder layout: one
``<split>/_annotations.coco.json`` per split (``_annotations.coco.json`` at the top for samples
without a split) with the images copied beside it.

Nothing is lost on a COCO → datakit → COCO round trip:

- ``info``, ``licenses``, the full ``categories`` table (non-contiguous ids, ``supercategory``)
  and unknown top-level keys live in ``dataset.info["coco"]``; category names are the classes.
- Each image's id is kept as ``metadata["coco_id"]``; its other keys (``license``,
  ``coco_url``, ...) are kept in ``metadata``. Images without annotations are samples without
  detections.
- Each annotation's id is kept as ``attributes["coco_id"]``; ``iscrowd``, ``area``,
  ``segmentation`` (polygons or RLE) and any other key stay in the detection ``attributes``;
  ``score`` becomes the detection score.
- Sample labels (classification) are written as the image key ``label`` and declared in
  ``categories``; COCO tools ignore that key, datakit reads it back (the summary says so).

The rules of :mod:`datakit.formats._checks` hold on both sides: a box overhanging its image is
clipped and counted (``exact=True``, ``convert --strict``: an error), one entirely outside is a
bad record; a segmentation ``pycocotools`` could not decode (a polygon of fewer than 3 points,
RLE whose counts do not cover the image) is a bad record on reading (``strict``: an error, else
the segmentation is removed and counted, the box kept) and on writing; a duplicate annotation id
is an error (``strict``) or renumbered on export (counted). Attributes named like the keys the
writer owns (``id``, ``image_id``, ``category_id``, ``bbox``; ``score`` when the box has one) are
written as ``attr_<key>`` (counted) and read back under their own name.

Examples:
    >>> import json, pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "ann.json").write_text(json.dumps({
    ...     "images": [{"id": 7, "file_name": "a.jpg", "width": 64, "height": 48}],
    ...     "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [4, 4, 10, 20]}],
    ...     "categories": [{"id": 3, "name": "ball"}]}))
    >>> ds = read(d / "ann.json")
    >>> ds[0].detections[0].label, ds[0].detections[0].box, ds[0].metadata["coco_id"]
    ('ball', (4.0, 4.0, 14.0, 24.0), 7)

"""

from __future__ import annotations

from pathlib import Path

from datakit.formats.coco.layout import COCO_FILE, discover
from datakit.formats.coco.reader import read
from datakit.formats.coco.writer import write
from datakit.formats.registry import EXACT, Detect, Format, Option

__all__ = ["COCO_FILE", "FORMAT", "discover", "read", "write"]


def _detect_layout(path: Path) -> bool:
    """A Roboflow ``_annotations.coco.json`` (top or split folders) or ``annotations/instances_*.json``."""
    if (path / COCO_FILE).is_file() or any((c / COCO_FILE).is_file() for c in path.iterdir() if c.is_dir()):
        return True
    return any((path / "annotations").glob("instances_*.json"))


def _detect_one_json(path: Path) -> bool:
    """Exactly one ``*.json`` file at the top of the folder."""
    return len(list(path.glob("*.json"))) == 1


FORMAT = Format(
    name="coco",
    summary="COCO JSON: Roboflow <split>/_annotations.coco.json, or annotations/instances_<split>.json",
    read=read,
    write=write,
    detect=(
        Detect(80, _detect_layout, "_annotations.coco.json or annotations/instances_*.json"),
        Detect(40, _detect_one_json, "single *.json"),
    ),
    suffixes=(".json",),
    aliases=("roboflow-coco",),
    read_options=(
        Option("images", "folder the file_name paths are relative to"),
        EXACT,
    ),
    write_options=(
        EXACT,
        Option(
            "layout",
            "<split>/_annotations.coco.json (roboflow, default) or "
            "annotations/instances_<split>.json + <split>/ (coco)",
            choices=("roboflow", "coco"),
            default="roboflow",
            flag="--coco-layout",
        ),
    ),
    cannot_hold=(),
)
