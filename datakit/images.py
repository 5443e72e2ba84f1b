"""Image access: the one place datakit reads image files.

Everything that looks at pixels or sizes (``validate``, ``dedup``, the annotators, the renderers,
header sizes for YOLO/COCO) goes through this module, so every caller sees the same pixels:

* **Files**: only regular files are opened (a named pipe or ``/dev/zero`` is refused before it
  is opened), at most :func:`max_image_bytes` bytes are read (``DATAKIT_MAX_IMAGE_BYTES``,
  default 512 MiB), and an image larger than :func:`max_pixels` pixels is refused from its
  header, before decoding (``DATAKIT_MAX_PIXELS``, default Pillow's own
  ``Image.MAX_IMAGE_PIXELS``, 89,478,485 px: a 30000×30000 "decompression bomb" PNG is a clear
  per-image error, not a Pillow traceback). Both raise :class:`ImageReadError`.
* **Orientation**: the EXIF orientation tag is applied, as ``ImageOps.exif_transpose``, OpenCV's
  ``imread`` and every trainer do: a phone JPEG stored 64×48 with orientation 6 is 48×64 in
  :func:`image_size` (read from the header) and in :func:`load_image`.
* **Modes** (:func:`to_rgb`): 16-bit images (``I;16``, ``I;16B``, ``I`` and 16-bit RGB PNGs) are
  scaled to 8 bits by their high byte (``v >> 8``, as Pillow does for 16-bit RGB); images with
  alpha (``RGBA``, ``LA``, ``PA``, palette or grey with a transparent colour) are composited on
  :data:`BACKGROUND` (white); palette, ``CMYK`` (``R = (255 - C) * (255 - K) / 255``), ``L``,
  ``1`` and the rest convert to RGB as Pillow does.

Examples:
    >>> import tempfile, pathlib, numpy as np
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> Image.fromarray(np.full((2, 3), 40000, dtype=np.uint16)).save(d / "a.png")
    >>> load_image(d / "a.png").getpixel((0, 0))  # not clipped to white
    (156, 156, 156)

"""

from __future__ import annotations

import io
import os
import re
import stat
import warnings
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

from datakit.errors import DatakitError

if TYPE_CHECKING:
    from datakit.paths import RootGuard

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")

BACKGROUND = (255, 255, 255)
"""RGB colour that transparent pixels are composited on (white, as image viewers show them)."""

MAX_PIXELS_ENV = "DATAKIT_MAX_PIXELS"
"""Environment variable overriding :func:`max_pixels` (``0`` turns the check off)."""

MAX_IMAGE_BYTES_ENV = "DATAKIT_MAX_IMAGE_BYTES"
"""Environment variable overriding :func:`max_image_bytes`."""

DEFAULT_MAX_PIXELS = 89_478_485
"""Pillow's ``Image.MAX_IMAGE_PIXELS`` default (about 9459×9459)."""

DEFAULT_MAX_IMAGE_BYTES = 512 * 1024 * 1024

ORIENTATION_TAG = 0x0112

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation → the transpose that shows the image upright (``ImageOps.exif_transpose``)."""


class ImageReadError(DatakitError, ValueError):
    """An image file datakit refuses to read: too many pixels, too many bytes, not a regular file."""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(float(raw))
    except ValueError:
        raise ImageReadError(f"{name}={raw!r} is not a number") from None


def max_pixels() -> int:
    """Largest ``width × height`` datakit decodes (``DATAKIT_MAX_PIXELS``; ``0`` means no limit).

    Examples:
        >>> max_pixels()
        89478485

    """
    return _env_int(MAX_PIXELS_ENV, DEFAULT_MAX_PIXELS)


def max_image_bytes() -> int:
    """Largest image file datakit reads, in bytes (``DATAKIT_MAX_IMAGE_BYTES``, default 512 MiB)."""
    return _env_int(MAX_IMAGE_BYTES_ENV, DEFAULT_MAX_IMAGE_BYTES)


def oriented_size(width: int, height: int, orientation: int | None) -> tuple[int, int]:
    """``(width, height)`` once EXIF ``orientation`` is applied (5–8 swap the sides).

    Examples:
        >>> oriented_size(64, 48, 6), oriented_size(64, 48, 3), oriented_size(64, 48, None)
        ((48, 64), (64, 48), (64, 48))

    """
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def check_pixels(path: str | Path, width: int, height: int) -> None:
    """Raise :class:`ImageReadError` when ``width × height`` exceeds :func:`max_pixels`.

    Examples:
        >>> check_pixels("bomb.png", 30000, 30000)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        datakit.images.ImageReadError: bomb.png: 30000x30000 = 900,000,000 pixels exceeds the limit ...

    """
    limit = max_pixels()
    if limit > 0 and width * height > limit:
        raise ImageReadError(
            f"{path}: {width}x{height} = {width * height:,} pixels exceeds the limit of {limit:,} "
            f"(a decompression bomb?); raise it with {MAX_PIXELS_ENV}=N"
        )


def _open_regular(path: Path) -> int:
    """A read-only descriptor of the regular file ``path`` (pipes and devices refused unopened)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {path}") from None
    except OSError as e:
        raise ImageReadError(f"{path}: cannot read file ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        from datakit.paths import regular_file_problem

        raise ImageReadError(f"{path}: {regular_file_problem(path)}")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {path}") from None
    except OSError as e:
        raise ImageReadError(f"{path}: cannot read file ({e.strerror or e})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped between stat and open
        os.close(fd)
        raise ImageReadError(f"{path}: not a regular file")
    return fd


def read_image_bytes(path: str | Path, root: str | Path | None = None) -> bytes:
    """The bytes of an image file: a regular file, at most :func:`max_image_bytes` long.

    Args:
        path: The file (absolute, or relative to ``root``).
        root: When given, the file's real location must stay inside it
            (:class:`datakit.paths.RootGuard`; ``--follow-symlinks`` lifts that).

    Raises:
        FileNotFoundError: The file does not exist.
        ImageReadError: Not a regular file, or larger than the cap.
        PathEscapeError: It resolves outside ``root``.

    Examples:
        >>> read_image_bytes("/dev/zero")
        Traceback (most recent call last):
        ...
        datakit.images.ImageReadError: /dev/zero: not a regular file (a character device)

    """
    path = _checked(path, root)
    fd = _open_regular(path)
    try:
        cap = max_image_bytes()
        size = os.fstat(fd).st_size
        if size > cap:
            raise ImageReadError(
                f"{path}: {size:,} bytes exceeds the image size cap of {cap:,}; raise it with {MAX_IMAGE_BYTES_ENV}=N"
            )
        chunks = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 22, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                raise ImageReadError(f"{path}: more than {cap:,} bytes; raise the cap with {MAX_IMAGE_BYTES_ENV}=N")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _checked(path: str | Path, root: str | Path | None) -> Path:
    if root is None:
        return Path(path)
    from datakit.paths import follow_symlinks_default

    return _guard(str(root), follow_symlinks_default()).check(path, regular=False)


@lru_cache(maxsize=8)
def _guard(root: str, follow: bool) -> RootGuard:
    from datakit.paths import RootGuard

    return RootGuard(root, follow)


def _open_pil(data: bytes | IO[bytes], path: Path) -> Image.Image:
    """``Image.open`` with datakit's pixel limit instead of Pillow's warning/error."""
    if isinstance(data, bytes) and data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        check_pixels(path, int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
    except Image.DecompressionBombError as e:
        raise ImageReadError(
            f"{path}: image exceeds the limit of {max_pixels():,} pixels (a decompression bomb?; Pillow: {e}); "
            f"raise it with {MAX_PIXELS_ENV}=N"
        ) from None
    try:
        check_pixels(path, im.width, im.height)
    except ImageReadError:
        im.close()
        raise
    return im


def exif_orientation(im: Image.Image) -> int | None:
    """The EXIF orientation (1–8) of an opened image, read without decoding pixels.

    For PNG only an ``eXIf`` chunk before the pixel data counts (reading one after it would
    decode the image).
    """
    try:
        if im.format == "PNG":
            raw = im.info.get("exif")
            if not raw:
                return None
            exif = Image.Exif()
            exif.load(raw)
        else:
            exif = im.getexif()
        value = exif.get(ORIENTATION_TAG)
    except Exception:  # a broken EXIF block must not make a readable image unreadable
        return None
    return int(value) if isinstance(value, int) and value in range(1, 9) else None


def image_size(path: str | Path, root: str | Path | None = None) -> tuple[int, int]:
    """Return ``(width, height)`` as displayed (EXIF orientation applied), from the header.

    Args:
        path: The image (absolute, or relative to ``root``).
        root: When given, the file must stay inside it (symlinks resolved).

    Raises:
        FileNotFoundError: The file does not exist (the message names it).
        ValueError: The file is not an image Pillow can identify, or is refused
            (:class:`ImageReadError`: not a regular file, too many pixels).

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> Image.new("RGB", (7, 5)).save(p)
        >>> image_size(p)
        (7, 5)
        >>> exif = Image.Exif(); exif[ORIENTATION_TAG] = 6
        >>> Image.new("RGB", (64, 48)).save(p.with_suffix(".jpg"), exif=exif)
        >>> image_size(p.with_suffix(".jpg"))
        (48, 64)

    """
    path = _checked(path, root)
    fd = _open_regular(path)
    try:
        with os.fdopen(os.dup(fd), "rb") as f, _open_pil(f, path) as im:
            return oriented_size(int(im.width), int(im.height), exif_orientation(im))
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None
    finally:
        os.close(fd)


def _to_8bit(im: Image.Image) -> Image.Image:
    """16/32-bit grey (``I;16*``, ``I``) → ``L`` by the high byte of the 16-bit value; ``F`` clipped."""
    if im.mode.startswith("I"):
        a = np.asarray(im)
        a16 = np.clip(a.astype(np.int64), 0, 65535).astype(np.uint16)
        return Image.fromarray((a16 >> 8).astype(np.uint8), "L")
    return im.convert("L")  # "F": Pillow clips to 0..255


def composite(rgba: Image.Image, background: tuple[int, int, int] = BACKGROUND) -> Image.Image:
    """Composite an ``RGBA`` image on ``background``: ``round((c·a + b·(255 - a)) / 255)``.

    Examples:
        >>> composite(Image.new("RGBA", (1, 1), (255, 0, 0, 128)), (0, 0, 255)).getpixel((0, 0))
        (128, 0, 127)

    """
    a = np.asarray(rgba, dtype=np.uint32)
    alpha = a[..., 3:4]
    bg = np.asarray(background, dtype=np.uint32)
    out = (a[..., :3] * alpha + bg * (255 - alpha) + 127) // 255
    return Image.fromarray(out.astype(np.uint8), "RGB")


def to_rgb(im: Image.Image, background: tuple[int, int, int] = BACKGROUND) -> Image.Image:
    """Convert a decoded image of any mode to 8-bit ``RGB`` (see the module docstring for the rules).

    Examples:
        >>> to_rgb(Image.new("CMYK", (1, 1), (0, 255, 0, 51))).getpixel((0, 0))
        (204, 0, 204)
        >>> to_rgb(Image.new("LA", (1, 1), (0, 0))).getpixel((0, 0))  # transparent: background
        (255, 255, 255)

    """
    mode = im.mode
    if mode == "RGB":
        return im
    if mode.startswith("I") or mode == "F":
        return _to_8bit(im).convert("RGB")
    if mode == "CMYK":
        a = np.asarray(im, dtype=np.uint32)
        k = 255 - a[..., 3:4]
        rgb = ((255 - a[..., :3]) * k + 127) // 255
        return Image.fromarray(rgb.astype(np.uint8), "RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        if rgba.getchannel("A").getextrema()[0] == 255:  # fully opaque
            return rgba.convert("RGB")
        return composite(rgba, background)
    return im.convert("RGB")


def _convert(im: Image.Image, mode: str, background: tuple[int, int, int]) -> Image.Image:
    if not mode or im.mode == mode:
        return im
    if mode == "RGB":
        return to_rgb(im, background)
    if mode == "L":
        return _to_8bit(im) if im.mode.startswith("I") or im.mode == "F" else to_rgb(im, background).convert("L")
    if mode == "RGBA":
        if im.mode.startswith("I") or im.mode == "F":
            return _to_8bit(im).convert("RGBA")
        if im.mode == "CMYK":
            return to_rgb(im).convert("RGBA")
        return im.convert("RGBA")
    return to_rgb(im, background).convert(mode)


def decode_image(
    data: bytes,
    mode: str = "RGB",
    *,
    path: str | Path = "<bytes>",
    orient: bool = True,
    background: tuple[int, int, int] = BACKGROUND,
    draft: tuple[int, int] | None = None,
) -> Image.Image:
    """Decode image bytes (see :func:`load_image`; ``draft`` lets a JPEG decode at reduced scale).

    Raises:
        ValueError: The bytes are not a decodable image, or exceed :func:`max_pixels`.

    """
    return decode_sized(data, mode, path=path, orient=orient, background=background, draft=draft)[0]


def decode_sized(
    data: bytes,
    mode: str = "RGB",
    *,
    path: str | Path = "<bytes>",
    orient: bool = True,
    background: tuple[int, int, int] = BACKGROUND,
    draft: tuple[int, int] | None = None,
) -> tuple[Image.Image, tuple[int, int]]:
    """:func:`decode_image`, and the full displayed ``(width, height)`` (a ``draft`` decodes smaller).

    Examples:
        >>> buf = io.BytesIO(); Image.new("RGB", (400, 300)).save(buf, "JPEG")
        >>> im, size = decode_sized(buf.getvalue(), draft=(80, 80))
        >>> im.size, size
        ((200, 150), (400, 300))

    """
    path = Path(path)
    try:
        with _open_pil(data, path) as im:
            orientation = exif_orientation(im) if orient else None
            full = oriented_size(im.width, im.height, orientation)
            if draft is not None and im.format == "JPEG":
                im.draft("RGB" if im.mode != "L" else "L", draft)
            im.load()
            out = _convert(im, mode, background)
            if out is im:
                out = im.copy()
    except ImageReadError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        why = re.sub(r" at 0x[0-9a-fA-F]+", "", str(e))  # Pillow names its reader object: keep messages stable
        raise ValueError(f"{path}: cannot decode image ({why})") from None
    if orientation in _TRANSPOSE:
        out = out.transpose(_TRANSPOSE[orientation])
    return out, full


def reason(error: BaseException) -> str:
    """The reason in an error raised here, without the leading path (for skip lists).

    Examples:
        >>> reason(ImageReadError("/a/b.png: not a regular file (a named pipe)"))
        'not a regular file (a named pipe)'
        >>> reason(FileNotFoundError("image not found: /a/b.png"))
        'image not found'

    """
    if isinstance(error, FileNotFoundError):
        return "image not found"
    text = str(error)
    return text.split(": ", 1)[-1] if ": " in text else text


def load_image(
    path: str | Path,
    mode: str = "RGB",
    *,
    root: str | Path | None = None,
    orient: bool = True,
    background: tuple[int, int, int] = BACKGROUND,
) -> Image.Image:
    """Decode an image into memory, upright, converted to ``mode``.

    Args:
        path: The image (absolute, or relative to ``root``).
        mode: ``"RGB"`` (default, by :func:`to_rgb`), ``"L"``, ``"RGBA"``, any Pillow mode, or
            ``""``/``None`` to keep the file's own mode.
        root: When given, the file's real location must stay inside it (symlinks resolved;
            ``--follow-symlinks`` lifts that).
        orient: Apply the EXIF orientation (default), as ``ImageOps.exif_transpose`` does.
        background: What transparent pixels are composited on (default :data:`BACKGROUND`).

    Raises:
        FileNotFoundError: The file does not exist (the message names it).
        ValueError: The file cannot be decoded (truncated, not an image), or is refused
            (:class:`ImageReadError`; :class:`~datakit.errors.PathEscapeError` with ``root``).

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> Image.new("RGBA", (2, 2), (255, 0, 0, 0)).save(p)
        >>> load_image(p).getpixel((0, 0)), load_image(p, mode="RGBA").getpixel((0, 0))
        ((255, 255, 255), (255, 0, 0, 0))

    """
    data = read_image_bytes(path, root)
    full = Path(path) if root is None else Path(root) / path
    return decode_image(data, mode or "", path=full, orient=orient, background=background)


def verify_image(path: str | Path, root: str | Path | None = None) -> str | None:
    """Fully decode ``path``; return why it is unreadable, or ``None`` when it is fine.

    Truncated files fail here (Pillow refuses truncated images by default), and so do files
    :func:`load_image` refuses (too many pixels, not a regular file, outside ``root``).

    Examples:
        >>> verify_image("/nonexistent.png")
        'image not found'
        >>> verify_image("/dev/null")
        'not a regular file (a character device)'

    """
    try:
        load_image(path, mode="", root=root, orient=False)
    except (FileNotFoundError, ValueError) as e:
        return reason(e)
    return None

