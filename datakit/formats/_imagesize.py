"""Image sizes from the first bytes of PNG, JPEG, GIF, BMP and WebP files, without Pillow.

Reading a YOLO dataset needs the size of every image to turn normalised boxes into pixels.
Opening each file with Pillow costs ~100 µs of Python; this parser reads a few hundred bytes and
falls back to Pillow only for layouts it does not know (TIFF, WebP, exotic JPEGs).

Sizes are as displayed: the EXIF orientation tag (a JPEG's APP1 segment, a PNG's ``eXIf`` chunk
before the pixel data) is read from the header and orientations 5–8 swap width and height, as
``ImageOps.exif_transpose``, OpenCV's ``imread`` and the trainers do. Only regular files are
opened (a named pipe would block an ``open``; see :mod:`datakit.images`).
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Callable
from pathlib import Path

from datakit.images import ImageReadError, oriented_size
from datakit.images import image_size as _pil_image_size

_HEAD = 512


def tiff_orientation(tiff: bytes) -> int | None:
    """The orientation tag (0x0112) of the first IFD of a TIFF/EXIF block, or ``None``.

    Examples:
        >>> ifd = struct.pack("<HHHIHH", 1, 0x0112, 3, 1, 6, 0)  # one entry: orientation 6
        >>> tiff_orientation(b"II*" + bytes(1) + struct.pack("<I", 8) + ifd)
        6

    """
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return None
    end = "<" if tiff[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack(end + "I", tiff[4:8])
        (count,) = struct.unpack(end + "H", tiff[ifd : ifd + 2])
        for k in range(min(count, 512)):
            at = ifd + 2 + 12 * k
            tag, kind = struct.unpack(end + "HH", tiff[at : at + 4])
            if tag == 0x0112 and kind == 3:
                (value,) = struct.unpack(end + "H", tiff[at + 8 : at + 10])
                return int(value) if 1 <= value <= 8 else None
    except struct.error:
        return None
    return None


def _jpeg_size(read: Callable[[int], bytes], head: bytes) -> tuple[int, int] | None:
    """Walk JPEG markers to the first SOFn segment (``read(n)`` returns the next bytes).

    The size is as displayed: an APP1 ``Exif`` orientation of 5–8 met on the way swaps it.
    """
    data = head
    pos = 2
    orientation: int | None = None
    while True:
        while len(data) < pos + 9:
            more = read(4096)
            if not more:
                return None
            data += more
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker == 0xE1 and orientation is None:  # APP1: EXIF
            while len(data) < pos + 2 + length:
                more = read(max(4096, pos + 2 + length - len(data)))
                if not more:
                    return None
                data += more
            segment = data[pos + 4 : pos + 2 + length]
            if segment[:6] == b"Exif\x00\x00":
                orientation = tiff_orientation(segment[6:])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return oriented_size(int(w), int(h), orientation)
        pos += 2 + length
        if pos > 16 * 1024 * 1024:
            return None


def _png_orientation(fd: int, head: bytes) -> int | None:
    """Orientation from an ``eXIf`` chunk before ``IDAT`` (chunks walked with ``pread``)."""
    pos = 8
    for _ in range(64):
        header = head[pos : pos + 8] if pos + 8 <= len(head) else os.pread(fd, 8, pos)
        if len(header) < 8:
            return None
        length, kind = struct.unpack(">I4s", header)
        if kind in (b"IDAT", b"IEND"):
            return None
        if kind == b"eXIf":
            body = os.pread(fd, min(length, 1 << 16), pos + 8)
            return tiff_orientation(body[6:] if body[:6] == b"Exif\x00\x00" else body)
        pos += 12 + length
    return None


def fast_image_size(path: str | Path) -> tuple[int, int]:
    """Return ``(width, height)`` of an image from its header.

    Args:
        path: Image file.

    Returns:
        ``(width, height)`` in pixels, as displayed (EXIF orientation applied).

    Raises:
        FileNotFoundError: The file does not exist (the message names it).
        ValueError: The file is not a readable image, or not a regular file (the message names it).

    Examples:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.jpg"
        >>> Image.new("RGB", (31, 17)).save(p)
        >>> fast_image_size(p)
        (31, 17)

    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a pipe must not block
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {path}") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: not a readable image (a folder)") from None
    size: tuple[int, int] | None = None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            from datakit.paths import regular_file_problem

            raise ImageReadError(f"{path}: {regular_file_problem(path)}")
        head = os.read(fd, _HEAD)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
            size = oriented_size(int(w), int(h), _png_orientation(fd, head))
        elif head[:2] == b"\xff\xd8":
            size = _jpeg_size(lambda n: os.read(fd, n), head)
        elif head[:6] in (b"GIF87a", b"GIF89a"):
            w, h = struct.unpack("<HH", head[6:10])
            size = (int(w), int(h))
        elif head[:2] == b"BM" and len(head) >= 26:
            w, h = struct.unpack("<ii", head[18:26])
            size = (abs(int(w)), abs(int(h)))
    except IsADirectoryError:
        raise ValueError(f"{path}: not a readable image (a folder)") from None
    except struct.error:
        size = None  # a truncated header: Pillow decides
    finally:
        os.close(fd)
    if size is not None and size[0] > 0 and size[1] > 0:
        return size
    return _pil_image_size(path)
