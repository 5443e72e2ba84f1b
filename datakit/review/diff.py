"""What a reviewer changed on one sample: tags, the label, label tags and boxes, matched by datakit id.

Boxes are matched by their ``datakit_id`` only. A box in FiftyOne without a known id (the reviewer
drew it, or copied one) is *added*; a known id that is gone is *deleted*; a known id whose
relative box differs is *moved*, whose label differs *relabelled*, whose tags differ *retagged*.
The order of the reviewer's boxes is kept.

Examples:
    >>> before = [Box("a#d0", "ball", [0.1, 0.1, 0.1, 0.1]), Box("a#d1", "player", [0.5, 0.5, 0.2, 0.4])]
    >>> after = Edit(tags=["review", "hard"], label=None, label_tags=[],
    ...              boxes=[Box("a#d1", "referee", [0.5, 0.5, 0.2, 0.4]), Box(None, "ball", [0.2, 0.1, 0.1, 0.1])])
    >>> ch = diff_sample("a", ["review"], None, [], before, after)
    >>> ch.tags_added, ch.deleted, ch.relabelled, [b.id for b in ch.added], ch.counts()["boxes_added"]
    (['hard'], ['a#d0'], ['a#d1'], ['a#r0'], 1)

"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datakit.review.labels import new_detection_id, same_box


@dataclass
class Box:
    """A detection as the diff sees it.

    Attributes:
        id: The datakit id (``None``: a box the reviewer added).
        label: Class name.
        box: Relative ``[x, y, w, h]`` (FiftyOne's convention).
        tags: Label tags.

    """

    id: str | None
    label: str | None
    box: list[float]
    tags: list[str] = field(default_factory=list)


@dataclass
class Edit:
    """One sample's state in FiftyOne: sample tags, classification label and its tags, boxes."""

    tags: list[str]
    label: str | None
    label_tags: list[str]
    boxes: list[Box]


@dataclass
class Changes:
    """The difference between a sample and its reviewed state.

    Attributes:
        tags_added: Sample tags the reviewer added. tags_removed: likewise removed.
        label: ``(old, new)`` when the classification label changed, else ``None``.
        label_tags: The new classification label tags when they changed, else ``None``.
        added: Boxes the reviewer drew (with newly minted ids).
        deleted: Ids of boxes the reviewer removed.
        moved: Ids of boxes whose coordinates changed.
        relabelled: Ids of boxes whose label changed.
        retagged: Ids of boxes whose label tags changed.
        boxes: The sample's boxes after review, in the reviewer's order.
        boxes_changed: Whether any box was added, deleted, moved, relabelled or retagged.

    """

    tags_added: list[str] = field(default_factory=list)
    tags_removed: list[str] = field(default_factory=list)
    label: tuple[str | None, str | None] | None = None
    label_tags: list[str] | None = None
    added: list[Box] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    relabelled: list[str] = field(default_factory=list)
    retagged: list[str] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)

    @property
    def boxes_changed(self) -> bool:
        """Any box added, deleted, moved, relabelled or retagged."""
        return bool(self.added or self.deleted or self.moved or self.relabelled or self.retagged)

    @property
    def touched(self) -> bool:
        """Whether the reviewer changed anything on this sample."""
        return bool(self.tags_added or self.tags_removed or self.label or self.label_tags is not None
                    or self.boxes_changed)  # fmt: skip

    def counts(self) -> dict[str, int]:
        """Counts of each kind of change (what ``--pull`` reports, summed over samples)."""
        return {
            "tags_added": len(self.tags_added),
            "tags_removed": len(self.tags_removed),
            "labels_changed": int(self.label is not None),
            "label_tags_changed": int(self.label_tags is not None),
            "boxes_added": len(self.added),
            "boxes_deleted": len(self.deleted),
            "boxes_moved": len(self.moved),
            "boxes_relabelled": len(self.relabelled),
            "boxes_retagged": len(self.retagged),
        }

    def summary(self) -> dict[str, Any]:
        """What changed, for the sample's ``review_changes`` metadata (only the kinds that happened).

        Examples:
            >>> Changes(tags_added=["hard"], label=("7", "1")).summary()
            {'tags_added': ['hard'], 'label': {'from': '7', 'to': '1'}}

        """
        out: dict[str, Any] = {}
        if self.tags_added:
            out["tags_added"] = list(self.tags_added)
        if self.tags_removed:
            out["tags_removed"] = list(self.tags_removed)
        if self.label is not None:
            out["label"] = {"from": self.label[0], "to": self.label[1]}
        if self.label_tags is not None:
            out["label_tags"] = list(self.label_tags)
        for name in ("deleted", "moved", "relabelled", "retagged"):
            ids = getattr(self, name)
            if ids:
                out[f"boxes_{name}"] = list(ids)
        if self.added:
            out["boxes_added"] = [b.id for b in self.added]
        return out


def diff_sample(
    sample_id: str,
    tags: list[str],
    label: str | None,
    label_tags: list[str],
    boxes: list[Box],
    edit: Edit,
) -> Changes:
    """Compare a sample (its tags, label, label tags and boxes with ids) with its reviewed state.

    Examples:
        >>> b = [Box("s#d0", "ball", [0.1, 0.1, 0.1, 0.1])]
        >>> diff_sample("s", [], "7", [], b, Edit([], "7", [], list(b))).touched
        False
        >>> moved = [Box("s#d0", "ball", [0.2, 0.1, 0.1, 0.1])]
        >>> ch = diff_sample("s", [], "7", [], b, Edit([], "1", ["mistake"], moved))
        >>> ch.label, ch.label_tags, ch.moved
        (('7', '1'), ['mistake'], ['s#d0'])

    """
    ch = Changes()
    before = set(tags)
    after = list(dict.fromkeys(edit.tags))
    ch.tags_added = [t for t in after if t not in before]
    now = set(after)
    ch.tags_removed = [t for t in dict.fromkeys(tags) if t not in now]
    if edit.label != label:
        ch.label = (label, edit.label)
    if list(edit.label_tags) != list(label_tags):
        ch.label_tags = list(edit.label_tags)
    known = {b.id: b for b in boxes if b.id is not None}
    taken = set(known)
    seen: set[str] = set()
    for b in edit.boxes:
        if b.id is None or b.id not in known or b.id in seen:
            nid = new_detection_id(sample_id, taken)
            taken.add(nid)
            nb = Box(nid, b.label, list(b.box), list(b.tags))
            ch.added.append(nb)
            ch.boxes.append(nb)
            continue
        seen.add(b.id)
        old = known[b.id]
        if not same_box(old.box, b.box):
            ch.moved.append(b.id)
        if old.label != b.label:
            ch.relabelled.append(b.id)
        if list(old.tags) != list(b.tags):
            ch.retagged.append(b.id)
        ch.boxes.append(Box(b.id, b.label, list(b.box), list(b.tags)))
    ch.deleted = [b.id for b in boxes if b.id is not None and b.id not in seen]
    if not ch.boxes_changed:
        ch.boxes = list(boxes)
    return ch
