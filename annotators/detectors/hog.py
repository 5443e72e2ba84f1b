"""OpenCV's built-in HOG people detector: a real, offline detector for demos and tests.

``cv2.HOGDescriptor_getDefaultPeopleDetector()`` (Dalal–Triggs, 64×128 window) on each image;
boxes are labelled ``person``. The SVM margin of each box is turned into a score with the
logistic function (uncalibrated: 0.5 at the SVM's own decision boundary), so
``--threshold`` works as for any detector. Weak, but it needs no weights and no network.

Examples:
    >>> import numpy as np
    >>> HOGDetector().detect([np.zeros((160, 96, 3), np.uint8)], 0.05)[0].xyxy.shape
    (0, 4)

"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from annotators.detectors.base import Boxes, Detector


class HOGDetector(Detector):
    """People boxes from OpenCV's HOG + linear SVM.

    Args:
        spec: The ``--detector`` value (ignored: there is one HOG model).
        label: Class name of every box.
        hog_scale: Image pyramid step (``detectMultiScale`` ``scale``).
        hog_stride: Window stride in pixels.
        batch_size: Images per :meth:`detect` call.

    """

    name = "hog"

    def __init__(
        self,
        spec: str = "hog",
        *,
        label: str = "person",
        hog_scale: float = 1.05,
        hog_stride: int = 8,
        batch_size: int = 8,
    ) -> None:
        import cv2

        if not hasattr(cv2, "HOGDescriptor"):
            raise RuntimeError(f"OpenCV {cv2.__version__} has no HOGDescriptor (OpenCV 5 dropped it; install opencv<5)")
        if hog_scale <= 1 or hog_stride < 1:
            raise ValueError(f"expected hog_scale > 1 and hog_stride >= 1, got {hog_scale}, {hog_stride}")
        self.version = f"opencv-{cv2.__version__}"
        self.label = label
        self.scale = float(hog_scale)
        self.stride = int(hog_stride)
        self.batch_size = int(batch_size)
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())  # type: ignore[attr-defined]

    def config(self) -> dict[str, Any]:
        """Identity for checkpoints."""
        return {**super().config(), "label": self.label, "scale": self.scale, "stride": self.stride}

    def detect(self, images: Sequence[np.ndarray], threshold: float) -> list[Boxes]:
        """Run ``detectMultiScale`` on every image (grey), keep scores above ``threshold``."""
        import cv2

        out = []
        for im in images:
            h, w = im.shape[:2]
            if h < 128 or w < 64:  # smaller than the detection window
                out.append(Boxes.empty())
                continue
            grey = cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2GRAY)
            rects, weights = self.hog.detectMultiScale(
                grey, winStride=(self.stride, self.stride), padding=(8, 8), scale=self.scale
            )
            if len(rects) == 0:
                out.append(Boxes.empty())
                continue
            r = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
            xyxy = np.column_stack([r[:, 0], r[:, 1], r[:, 0] + r[:, 2], r[:, 1] + r[:, 3]])
            xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
            xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
            scores = 1.0 / (1.0 + np.exp(-np.asarray(weights, dtype=np.float64).reshape(-1)))
            b = Boxes(xyxy, scores, [self.label] * len(r))
            out.append(b.keep(b.scores > threshold))
        return out
