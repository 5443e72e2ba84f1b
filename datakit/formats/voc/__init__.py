r"""Pascal VOC: ``Annotations/<id>.xml``, ``JPEGImages/<id>.jpg`` and ``ImageSets/Main/<split>.txt``.

**Layout.** A VOC folder (``VOCdevkit/VOC2007``, or what ``datakit convert --to voc`` writes)
holds one XML file per image in ``Annotations/``, the images in ``JPEGImages/`` and split lists
in ``ImageSets/Main/``. FiftyOne's ``VOCDetectionDataset`` layout (``labels/*.xml`` beside
``data/``) is read too. An XML file names its image (``<filename>``, relative to the image
folder; without it the image of the same stem), its size (``<size><width>``/``<height>``) and
its objects (``<object><name>``, ``<bndbox>``, ``<difficult>``, ``<truncated>``, ...).

**Pixel convention.** VOC coordinates are 1-based, inclusive pixel indices (the devkit's): a box
whose first pixel column is the image's first has ``xmin = 1``, and ``xmax = W`` reaches the last
column. datakit's boxes are continuous absolute-pixel xyxy, so reading maps
``(xmin, ymin, xmax, ymax)`` to ``(xmin - 1, ymin - 1, xmax, ymax)`` and writing maps back,
rounded to whole pixels. This is what ``supervision.DetectionDataset.from_pascal_voc`` reads
(it subtracts 1 from ``xmin``/``ymin`` only); FiftyOne's ``VOCDetectionDataset`` importer reads
the numbers as they stand, so its boxes start one pixel right of and below ours.

**Splits.** ``ImageSets/Main/<name>.txt`` lists image ids (XML stems), one per line: ``train`` →
split ``train``, ``val`` → ``valid``, ``test`` → ``test``, any other name as is. ``trainval.txt``
(the union of train and val) is ignored when ``train.txt`` or ``val.txt`` exists; alone, its ids
get split ``train``. Per-class files (``dog_train.txt``, two columns) are not split lists and are
ignored. An XML in no list has no split. Writing lists every split (``valid`` as ``val.txt``) and
``trainval.txt`` when there is a train or val split.

**Objects.** ``<name>`` is the label; ``<difficult>``, ``<truncated>``, ``<occluded>``,
``<pose>`` and any other child element are kept as detection attributes (numbers as numbers).
What VOC has no element for (sample label, tags, source, prompt, metadata, scores, other
attributes) is written as JSON in a ``<datakit>`` element, which other readers ignore and this
one reads back, so a datakit → VOC → datakit round trip keeps every field. A ``labels.txt`` at
the root holds the declared classes (written when the dataset declares them).

**Bad input** is skipped and recorded in ``dataset.skipped`` (an error when ``strict``), naming
the XML file and the object: malformed XML (with its line), a missing or non-positive
``<size>``, a missing ``<name>`` or ``<bndbox>``, a coordinate that is not a number, reversed
corners, a class outside ``classes``, a box entirely outside its image, an id in a split list
without an XML file, an id listed in two split lists. A box overhanging its image is clipped and
counted in ``dataset.info["fixes"]`` (an error with ``exact``).

Examples:
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "Annotations").mkdir()
    >>> _ = (d / "Annotations" / "a.xml").write_text(
    ...     "<annotation><filename>a.jpg</filename><size><width>64</width><height>48</height></size>"
    ...     "<object><name>ball</name><difficult>1</difficult>"
    ...     "<bndbox><xmin>11</xmin><ymin>21</ymin><xmax>20</xmax><ymax>30</ymax></bndbox></object>"
    ...     "</annotation>")
    >>> ds = read(d)
    >>> s = ds[0]
    >>> s.image, s.width, s.detections[0].box, s.detections[0].attributes
    ('JPEGImages/a.jpg', 64, (10.0, 20.0, 20.0, 30.0), {'difficult': 1})

"""

from __future__ import annotations

from datakit.formats.voc.layout import (
    EXTRA,
    IMAGE_SETS,
    LABELS_FILE,
    LAYOUTS,
    SPLIT_FROM_FILE,
    SPLIT_TO_FILE,
    STANDARD_ATTRIBUTES,
    looks_like,
)
from datakit.formats.voc.reader import read
from datakit.formats.voc.writer import write

__all__ = [
    "EXTRA",
    "FORMAT",
    "IMAGE_SETS",
    "LABELS_FILE",
    "LAYOUTS",
    "SPLIT_FROM_FILE",
    "SPLIT_TO_FILE",
    "STANDARD_ATTRIBUTES",
    "looks_like",
    "read",
    "write",
]

# ----------------------------------------------------------------- registration (datakit.formats.registry)
from datakit.formats.registry import EXACT, Detect, Format

FORMAT = Format(
    name="voc",
    summary="Pascal VOC: Annotations/<id>.xml, JPEGImages/, ImageSets/Main/<split>.txt (1-based pixels)",
    read=read,
    write=write,
    detect=(Detect(70, looks_like, "Annotations/*.xml"),),
    aliases=("pascal-voc", "pascal_voc"),
    read_options=(
        EXACT,
    ),
    write_options=(
        EXACT,
    ),
    cannot_hold=("sub-pixel box coordinates (rounded to whole pixels)",),
)
