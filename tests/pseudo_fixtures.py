"""Synthetic video-frame datasets and a deterministic callable detector for the pseudo-label tests.

Frames are drawn (no video codec needed) and written as a native JSONL dataset whose samples
carry ``metadata.video``, ``frame_index``, ``timestamp_s`` and ``fps``, like ``extract-frames``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

GHOST_FRAME = 5
"""The frame holding a white 'sock' far from the ball's path."""


def ball_at(t: int) -> tuple[int, int]:
    """The ball's centre in frame ``t``: a parabola."""
    return 30 + 14 * t, int(200 - 30 * t + 2.5 * t * t)


def blobs(images: list[np.ndarray]) -> list[dict]:
    """White blobs are balls, red blobs players; the score is how full the blob's box is."""
    import cv2

    out = []
    for im in images:
        boxes, scores, labels = [], [], []
        for label, mask in (
            ("ball", (im > 200).all(axis=2)),
            ("player", (im[..., 0] > 150) & (im[..., 1] < 80) & (im[..., 2] < 80)),
        ):
            _, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
            for x, y, w, h, area in stats[1:].tolist():
                boxes.append([x, y, x + w, y + h])
                scores.append(round(0.08 + 0.9 * area / (w * h), 6))
                labels.append(label)
        out.append({"boxes": np.asarray(boxes, float).reshape(-1, 4), "scores": np.asarray(scores), "labels": labels})
    return out


def slow_blobs(images: list[np.ndarray]) -> list[dict]:
    """:func:`blobs`, 0.15 s per call (for the kill -9 test)."""
    time.sleep(0.15)
    return blobs(images)


def frames_dataset(root: Path, n: int = 12, *, video: str = "match.mp4", corrupt: int | None = None, split: str | None = None) -> Path:
    """``n`` frames of one video: a ball on a parabola, two red players, a ghost ball in :data:`GHOST_FRAME`."""
    import cv2
    from PIL import Image

    from datakit import Dataset, Sample

    folder = root / "unsplit" / "frames"
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for t in range(n):
        im = np.full((240, 320, 3), (40, 110, 40), np.uint8)
        cv2.rectangle(im, (60 + t, 120), (80 + t, 170), (200, 30, 30), -1)
        cv2.rectangle(im, (230, 60), (250, 110), (200, 30, 30), -1)
        cx, cy = ball_at(t)
        if 0 <= cx < 320 and 0 <= cy < 240:
            cv2.circle(im, (cx, cy), 4, (255, 255, 255), -1)
        if t == GHOST_FRAME:
            cv2.circle(im, (290, 225), 4, (255, 255, 255), -1)  # a white sock
        name = f"unsplit/frames/f{t:05d}.png"
        Image.fromarray(im).save(root / name)
        samples.append(
            Sample(name, split=split, metadata={"video": video, "frame_index": t, "timestamp_s": t / 25, "fps": 25.0})
        )
    if corrupt is not None:
        (root / samples[corrupt].image).write_bytes(b"not a png")
    Dataset.from_samples(samples, root).save(root)
    return root
