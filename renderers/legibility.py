"""Legibility: an independent offline OCR (rapidocr, recognition only) reads the renders.

rapidocr 3.10 ships PP-OCR ONNX models in its wheel; on a tight crop recognition alone
(``use_det=False, use_cls=False``) reads the number. A render counts as read when the OCR's text,
stripped of spaces, equals the label exactly.

Examples:
    >>> from renderers.jersey import JerseyRenderer, JerseyConfig
    >>> img, _ = JerseyRenderer(JerseyConfig(size=96, fonts=("anton",), occlusion_p=0)).render("23", 5)
    >>> OcrReader().read(img)
    '23'

"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class OcrReader:
    """Recognition-only rapidocr, created lazily (the ``render`` extra installs it)."""

    def __init__(self) -> None:
        self._engine: Any = None

    def _get(self) -> Any:
        if self._engine is None:
            import logging

            from rapidocr import RapidOCR

            self._engine = RapidOCR()
            logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        return self._engine

    def read(self, image: np.ndarray) -> str:
        """The text rapidocr recognises in an RGB uint8 crop (``""`` when nothing)."""
        res = self._get()(image, use_det=False, use_cls=False)
        return "".join(res.txts or ()).replace(" ", "").strip()


@dataclass
class ReadReport:
    """Read rate over a set of renders, with the misreads and per-group rates."""

    total: int = 0
    read: int = 0
    misreads: list[tuple[str, str]] = field(default_factory=list)
    by_group: dict[str, list[int]] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Fraction read correctly (0 when empty)."""
        return self.read / self.total if self.total else 0.0

    def group_rates(self) -> dict[str, float]:
        """Read rate per group (e.g. per font)."""
        return {g: ok / n for g, (ok, n) in sorted(self.by_group.items())}


def read_rate(
    images: Iterable[np.ndarray],
    labels: Iterable[str],
    groups: Iterable[str] | None = None,
    reader: OcrReader | None = None,
) -> ReadReport:
    """OCR every image and compare with its label.

    Args:
        images: RGB uint8 crops.
        labels: Expected text of each.
        groups: Optional group name of each (font, preset...) for :meth:`ReadReport.group_rates`.
        reader: An :class:`OcrReader` to reuse.

    """
    reader = reader or OcrReader()
    rep = ReadReport()
    group_iter = iter(groups) if groups is not None else None
    for img, lab in zip(images, labels, strict=True):
        text = reader.read(img)
        ok = text == lab
        rep.total += 1
        rep.read += ok
        if not ok:
            rep.misreads.append((lab, text))
        if group_iter is not None:
            g = next(group_iter)
            cell = rep.by_group.setdefault(g, [0, 0])
            cell[0] += ok
            cell[1] += 1
    return rep
