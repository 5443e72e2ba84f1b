r"""YOLO detection in the Ultralytics layout: ``images/<split>``, ``labels/<split>``, ``data.yaml``.

Every label file holds one ``class cx cy w h`` line per object, normalised to [0, 1]; the class
ids index the one ``names`` list of ``data.yaml``, shared by every split. Reading takes image
sizes from file headers (never decoding pixels). Writing gives every image a label file (empty
when it has no objects), and can write a classification dataset as classification-as-detection:
one full-image box ``<class> 0.5 0.5 1.0 1.0`` per image (the Pokémon / K210 case).

Examples:
    >>> import pathlib, tempfile
    >>> from datakit import Dataset, Sample
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> ds = Dataset.from_samples([Sample("a.jpg", label="0001", split="train", width=8, height=8)], d)
    >>> r = write(ds, d / "yolo", images="none")
    >>> (r.out / "labels" / "train" / "a.txt").read_text()
    '0 0.500000 0.500000 1.000000 1.000000\n'

"""

from __future__ import annotations

from pathlib import Path

from datakit.formats.registry import EXACT, Detect, Format, Option
from datakit.formats.yolo.layout import COORD_TOLERANCE, IO_THREADS, YAML_NAMES, find_yaml, label_path
from datakit.formats.yolo.reader import read
from datakit.formats.yolo.writer import write

__all__ = ["COORD_TOLERANCE", "FORMAT", "IO_THREADS", "YAML_NAMES", "find_yaml", "label_path", "read", "write"]


def _detect_yaml(path: Path) -> bool:
    """A ``data.yaml`` (or ``dataset.yaml``) at the top of the folder."""
    return find_yaml(path) is not None


FORMAT = Format(
    name="yolo",
    summary="Ultralytics YOLO: images/<split>/, labels/<split>/*.txt, data.yaml with names",
    read=read,
    write=write,
    detect=(Detect(90, _detect_yaml, "data.yaml"),),
    suffixes=(".yaml", ".yml"),
    aliases=("ultralytics",),
    read_options=(
        EXACT,
    ),
    write_options=(
        EXACT,
        Option(
            "full_image_boxes",
            "write each sample's label as a full-image box (classification as detection); "
            "--no-full-image-boxes never does, even for a label-only dataset",
            type=bool,
            default=None,
        ),
    ),
    cannot_hold=(
        "metadata",
        "tags",
        "source",
        "prompt",
        "detection scores",
        "detection attributes",
        "sample labels (unless written as full-image boxes)",
    ),
)
