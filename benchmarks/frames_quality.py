"""What the frame benchmark measures on the outputs: JPEG sizes, luma PSNR against the source, and the CPU floor.

Used by ``bench_frames.py``: :func:`reference_frames` decodes the source frames the JPEGs are
compared with, :func:`psnr` scores one JPEG's luma against its frame, :func:`datakit_curve`
maps datakit's ``--quality`` to PSNR and size, :func:`same_frames` checks two tools wrote the
same frames, and :func:`cpu_bound` times what any tool must do at ``--every 1`` (decode every
frame, encode and write it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np


def mean_kib(folder: Path) -> float:
    """Mean size of the JPEGs in ``folder``, KiB."""
    sizes = [p.stat().st_size for p in folder.glob("*.jpg")]
    return sum(sizes) / len(sizes) / 1024 if sizes else float("nan")


PSNR_EVERY = 150
"""Frames whose JPEGs are compared with the decoded source (every 150th: 20 of 3,000)."""


def reference_frames(video: Path, indices: list[int]) -> dict[int, Any]:
    """``{index: (decoded av.VideoFrame, its exact luma)}``: the source the JPEGs are measured against.

    The luma is the decoded Y plane itself, expanded from limited to full range in floating point
    (JFIF's range): no RGB conversion in between, whose own rounding would favour encoders that
    start from the same RGB.
    """
    import av

    want, refs = set(indices), {}
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for i, f in enumerate(c.decode(s)):
            if i in want:
                p = f.planes[0]
                y = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width].astype(np.float64)
                full = f.format.name == "yuvj420p" or f.color_range == 2
                refs[i] = (f, y if full else (y - 16) * 255 / 219)
            if i >= max(indices):
                break
    return refs


def psnr(jpeg: bytes | Path, ref: Any) -> float:
    """Luma PSNR (dB) of a JPEG against the source's exact luma (the JPEG's Y decoded, no RGB step)."""
    import io

    from PIL import Image

    data = jpeg.read_bytes() if isinstance(jpeg, Path) else jpeg
    im = Image.open(io.BytesIO(data))
    im.draft("YCbCr", im.size)
    if im.mode != "YCbCr":
        raise RuntimeError(f"{jpeg if isinstance(jpeg, Path) else 'JPEG'}: not a YCbCr JPEG ({im.mode})")
    mse = float(np.mean((np.asarray(im)[..., 0].astype(np.float64) - ref) ** 2))
    return 10 * float(np.log10(255**2 / max(mse, 1e-12)))


def psnr_dir(folder: Path, refs: dict[int, Any], first: int = 0) -> float:
    """Mean PSNR of ``folder``'s JPEGs of the reference frames (named ``%06d.jpg`` from ``first``)."""
    return sum(psnr(folder / f"{i + first:06d}.jpg", ref) for i, (_, ref) in refs.items()) / len(refs)


def datakit_curve(refs: dict[int, Any], qualities: range, yuv: bool = True) -> dict[int, tuple[float, float]]:
    """``{quality: (mean PSNR, mean KiB)}`` of datakit's encoder on the reference frames (``yuv=False``: its RGB path)."""
    from datakit.video.encode import encode_frame

    curve = {}
    for q in qualities:
        data = [encode_frame(f, "jpg", q, yuv=yuv) for f, _ in refs.values()]
        curve[q] = (sum(psnr(d, ref) for d, (_, ref) in zip(data, refs.values(), strict=True)) / len(data),
                    sum(map(len, data)) / len(data) / 1024)  # fmt: skip
    return curve


def same_frames(a: Path, b: Path, names_a: list[str], names_b: list[str]) -> float:
    """Largest mean absolute pixel difference over pairs of images (same frames: a few levels)."""
    from PIL import Image

    worst = 0.0
    for x, y in zip(names_a, names_b, strict=True):
        ia = np.asarray(Image.open(a / x).convert("RGB"), dtype=np.int16)
        ib = np.asarray(Image.open(b / y).convert("RGB"), dtype=np.int16)
        worst = max(worst, float(np.abs(ia - ib).mean()))
    return worst


def cpu_bound(video: Path, qualities: list[int], out: Path, sample: int = 10) -> tuple[float, dict[int, float]]:
    """CPU seconds to decode every frame (one thread, the cheapest way), and per quality to JPEG-encode one and write it.

    Encoding and writing are timed on every ``sample``-th frame (the planes straight to simplejpeg,
    then one plain file write each: every tool writes its files). Their sum over the cores is a
    floor no implementation on this machine can beat.
    """
    import av
    import simplejpeg

    from datakit.video.encode import full_range_planes

    frames = []
    t0 = time.process_time()
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        for i, f in enumerate(c.decode(s)):
            if i % sample == 0:
                frames.append(f)
    decode = time.process_time() - t0
    planes = [full_range_planes(f) for f in frames]
    enc: dict[int, float] = {}
    for q in qualities:
        t0 = time.process_time()
        for k, (y, u, v) in enumerate(planes):  # the range LUT is left out: a floor, not a cost
            (out / f"{k:06d}.jpg").write_bytes(simplejpeg.encode_jpeg_yuv_planes(y, u, v, quality=q))
        enc[q] = (time.process_time() - t0) / len(planes)
    return decode, enc
