"""OCR annotator: rapidocr text recognition on jersey crops, and possible label errors.

Tight jersey crops need no text detection, so only the recognition model runs (``use_det=False``,
about 7× faster than the full pipeline). The recognised text is normalised to digits when
``digits_only`` (``O`` → ``0``, ``I``/``l`` → ``1``; anything else is dropped and noted). A sample
whose OCR reads a different number than its label with confidence ≥ ``min_confidence`` is
tagged ``possible_label_error``: a cheap way to find the rows a human should look at.

Fields written: ``ocr_text``, ``ocr_confidence`` and ``ocr_agrees`` (``True``/``False``, absent
for unlabeled samples or unreadable crops).

Examples:
    >>> normalise_digits("2 3")
    ('23', None)
    >>> normalise_digits("O7")
    ('07', None)
    >>> normalise_digits("#12!")
    ('12', "dropped non-digit characters from '#12!'")

"""

from __future__ import annotations

from typing import Any

import numpy as np

from annotators.base import Annotator, Item, Result
from datakit.images import to_rgb

LABEL_ERROR_TAG = "possible_label_error"
"""Tag added to samples whose OCR confidently disagrees with the label."""

_LOOKALIKE = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "I": "1", "l": "1", "|": "1", "i": "1"})


def normalise_digits(text: str) -> tuple[str, str | None]:
    """Keep the digits of an OCR answer (folding look-alike letters); ``(digits, note)``."""
    t = "".join(text.split()).translate(_LOOKALIKE)
    digits = "".join(ch for ch in t if ch.isdigit())
    note = None if digits == t else f"dropped non-digit characters from {text!r}"
    return digits, note


class OCRAnnotator(Annotator):
    """Read the number on each crop with rapidocr's recogniser and compare it with the label.

    Args:
        batch_size: Crops per batch (checkpoint granularity; recognition runs crop by crop).
        digits_only: Normalise answers to digits (jersey numbers).
        min_confidence: OCR confidence from which a disagreement with the label is flagged.
        params: Extra rapidocr parameters (``{"Rec.model_type": ...}``).

    Examples:
        >>> OCRAnnotator.fields
        ('ocr_text', 'ocr_confidence', 'ocr_agrees')

    """

    name = "ocr"
    fields = ("ocr_text", "ocr_confidence", "ocr_agrees")

    def __init__(
        self,
        *,
        batch_size: int = 32,
        digits_only: bool = True,
        min_confidence: float = 0.9,
        params: dict[str, Any] | None = None,
    ) -> None:
        if not 0 <= min_confidence <= 1:
            raise ValueError(f"expected 0 <= min_confidence <= 1, got {min_confidence}")
        from rapidocr import RapidOCR

        self.batch_size = int(batch_size)
        self.digits_only = bool(digits_only)
        self.min_confidence = float(min_confidence)
        self.params = dict(params or {})
        self.engine = RapidOCR(params={"Global.log_level": "error", **self.params})

    def config(self) -> dict[str, Any]:
        """Identity for checkpoints."""
        return {
            **super().config(), "digits_only": self.digits_only,
            "min_confidence": self.min_confidence, "params": self.params,
        }  # fmt: skip

    def read(self, image: Any) -> tuple[str, float | None]:
        """Raw recognised text and its score (``None`` when the engine gives none)."""
        arr = np.asarray(to_rgb(image) if hasattr(image, "convert") else image)  # every mode, as datakit decodes
        out = self.engine(arr[..., ::-1].copy(), use_det=False, use_cls=False)  # rapidocr wants BGR
        txts = getattr(out, "txts", None) or ()
        scores = getattr(out, "scores", None) or ()
        text = "".join(str(t) for t in txts)
        score = float(min(scores)) if scores else None
        return text, score

    def predict(self, prepared: Any, items: list[Item]) -> list[Result]:
        """Recognise, normalise and compare with the label, crop by crop."""
        out = []
        for it in items:
            raw, score = self.read(it.image)
            text, note = normalise_digits(raw) if self.digits_only else (raw.strip(), None)
            problems = {"ocr_text": note} if note else {}
            if not text:
                problems["answer"] = "no text recognised" if not raw.strip() else f"no digits in {raw!r}"
                out.append(Result(it.id, "unparseable", {}, raw=raw, problems=problems, confidence=score))
                continue
            values: dict[str, Any] = {"ocr_text": text}
            if score is not None:
                values["ocr_confidence"] = round(score, 4)
            tags = []
            if it.label is not None:
                agrees = text == it.label
                values["ocr_agrees"] = agrees
                if not agrees and score is not None and score >= self.min_confidence:
                    tags.append(LABEL_ERROR_TAG)
            out.append(Result(it.id, "ok", values, raw=raw, problems=problems, confidence=score, tags=tags))
        return out
