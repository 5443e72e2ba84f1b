"""Image fingerprints: file-byte digests, decoded-pixel digests and 64-bit perceptual hashes.

Each file is read once: its bytes are hashed (the exact-duplicate fast path) and decoded to grey,
JPEGs at a reduced scale (Pillow's ``draft``). The grey image is resized twice, to a 40×40 grid
and to a 32×32 thumbnail. The 32×32 windows of the grid at offsets 2, 4 and 6 are the central
80% of the image moved by -5%, 0 and +5% of each side; their 64-bit DCT hashes (9 per image) let
a copy cropped by up to 10% land near one of them, and the centre ignores the black corners a
small rotation leaves. The thumbnail (1 KiB) is what the near-duplicate check aligns and
correlates. :func:`fingerprints` returns columns (numpy arrays), not one object per image.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError  # noqa: F401  (Image: used by the doctests)

HASH_SIZE = 32
"""Side of the grey thumbnails and of the hashed windows."""

GRID = 40
"""Side of the grid the hashed windows are cut from: a 32-pixel window is the central 80%."""

OFFSETS = (2, 4, 6)
"""Window offsets in the grid: the centre window (4) moved by -5% and +5% of each side."""

VIEWS = len(OFFSETS) ** 2
"""Hashed windows per image; index ``VIEWS // 2`` is the centre."""

CENTER_VIEW = VIEWS // 2

_CHUNK = 1 << 20


def file_digest(path: str | Path) -> str:
    """Hex BLAKE2b digest of a file's bytes (the exact-duplicate fast path).

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
        >>> _ = p.write_bytes(b"abc")
        >>> len(file_digest(p))
        32

    """
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def pixel_digest(path: str | Path) -> str:
    """Hex digest of the decoded pixels: equal for a PNG re-saved as BMP, or new EXIF/text chunks.

    Pixels are compared as displayed (EXIF orientation applied, as :func:`datakit.images.load_image`
    decodes them), in RGB, or RGBA when the image has transparency that is used; 16-bit images
    are compared on their full 16-bit values (two 16-bit PNGs that differ only in the low byte
    are not the same pixels); the size is part of the digest.

    Raises:
        FileNotFoundError: The file is missing.
        ValueError: The file cannot be decoded.

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> im = Image.new("RGB", (4, 3), (1, 2, 3))
        >>> im.save(d / "a.png"); im.save(d / "a.bmp")
        >>> pixel_digest(d / "a.png") == pixel_digest(d / "a.bmp")
        True

    """
    from datakit.images import load_image

    im = load_image(path, mode="")  # upright, in the file's own mode; raises with the path
    h = hashlib.blake2b(digest_size=16)
    if im.mode.startswith("I"):  # 16/32-bit grey: the full values
        mode, data = "I", np.asarray(im).astype("<i4").tobytes()
        h.update(f"{mode}:{im.width}x{im.height}:".encode())
        h.update(data)
        return h.hexdigest()
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    mode = "RGBA" if has_alpha else "RGB"
    px = load_image(path, mode="RGBA") if has_alpha else load_image(path, mode="RGB")
    if has_alpha and px.getchannel("A").getextrema()[0] == 255:  # fully opaque: same as RGB
        px, mode = px.convert("RGB"), "RGB"
    h.update(f"{mode}:{px.width}x{px.height}:".encode())
    h.update(px.tobytes())
    return h.hexdigest()


@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    n = HASH_SIZE
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)


COLOUR = 8
"""Side of the RGB colour layout kept per image (8×8×3 bytes)."""


def _decode(data: bytes, path: str | Path = "<bytes>") -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Decode image bytes to grey and RGB uint8 arrays (JPEGs at reduced scale).

    Decoded by :func:`datakit.images.decode_sized`: upright, every mode to 8-bit RGB (16-bit
    scaled, transparency composited on :data:`datakit.images.BACKGROUND`); the size returned is
    the full displayed size.
    """
    from datakit.images import decode_sized

    rgb_im, size = decode_sized(data, "RGB", path=path, draft=(GRID * 2, GRID * 2))
    rgb = np.asarray(rgb_im, dtype=np.uint8)
    return np.asarray(rgb_im.convert("L"), dtype=np.uint8), rgb, size


def _resize(grey: np.ndarray, side: int) -> np.ndarray:
    import cv2

    return cv2.resize(grey, (side, side), interpolation=cv2.INTER_AREA)


def _windows(grid: np.ndarray) -> np.ndarray:
    """The ``VIEWS`` 32×32 windows of a ``(..., 40, 40)`` grid, as ``(..., VIEWS, 32, 32)``."""
    n = HASH_SIZE
    return np.stack([grid[..., y : y + n, x : x + n] for y in OFFSETS for x in OFFSETS], axis=-3)


def thumbnails(path: str | Path) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Decode ``path`` into a 32×32 grey thumbnail and the 9 hashed 32×32 windows.

    Returns:
        ``(whole (32, 32), views (9, 32, 32), width, height)``, uint8, with the full image's size.

    Raises:
        FileNotFoundError: The file is missing.
        ValueError: The file cannot be decoded.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> Image.new("RGB", (90, 60), (10, 200, 30)).save(p)
        >>> whole, views, w, h = thumbnails(p)
        >>> whole.shape, views.shape, (w, h)
        ((32, 32), (9, 32, 32), (90, 60))

    """
    from datakit.images import read_image_bytes

    path = Path(path)
    data = read_image_bytes(path)  # a regular file, at most the byte cap; raises with the path
    try:
        grey, _, (w, h) = _decode(data, path)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"{path}: cannot decode image ({e})") from None
    return _resize(grey, HASH_SIZE), _windows(_resize(grey, GRID)), w, h


def _low_dct(windows: np.ndarray) -> np.ndarray:
    """The 8×8 low-frequency DCT coefficients of ``(..., 32, 32)`` windows, flat: ``(..., 64)``."""
    m = _dct_matrix()[:8]
    d = m @ windows.astype(np.float32) @ m.T
    return d.reshape(*windows.shape[:-2], 64)


def _bits(low: np.ndarray) -> np.ndarray:
    """64-bit hashes of ``(..., 64)`` coefficients: each above the median of the 63 AC ones."""
    bits = low > np.median(low[..., 1:], axis=-1, keepdims=True)
    return np.packbits(bits, axis=-1).view(">u8")[..., 0].astype(np.uint64)


def phash_from_thumbnail(thumb: np.ndarray) -> int:
    """64-bit DCT perceptual hash of a 32×32 grey thumbnail (bits: low frequencies > median).

    Examples:
        >>> t = np.random.default_rng(0).random((32, 32)) * 200
        >>> phash_from_thumbnail(t) == phash_from_thumbnail(t * 0.9 + 5)
        True

    """
    return int(_bits(_low_dct(np.asarray(thumb))))


def phash(path: str | Path) -> int:
    """64-bit perceptual hash of the centre (central 80%) of the image at ``path``.

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> noise = (np.random.default_rng(0).random((16, 16)) * 255).astype("uint8")
        >>> im = Image.fromarray(noise).resize((256, 256), Image.Resampling.BICUBIC)
        >>> im.save(d / "a.png"); im.resize((128, 128)).save(d / "b.jpg", quality=60)
        >>> bin(phash(d / "a.png") ^ phash(d / "b.jpg")).count("1") <= 6
        True

    """
    return phash_from_thumbnail(thumbnails(path)[1][CENTER_VIEW])


@dataclass
class Fingerprints:
    """Fingerprints of many files, as columns (row ``i`` is file ``i``).

    Attributes:
        digests: ``(N, 16)`` uint8 BLAKE2b digests of the file bytes (zeros when unreadable).
        views: ``(N, 9)`` uint64 hashes of the shifted central windows (centre: column 4).
        thumbs: ``(N, 32, 32)`` uint8 grey thumbnails of the whole images.
        colours: ``(N, 8, 8, 3)`` uint8 RGB layouts of the whole images.
        sizes: ``(N, 2)`` int32 width and height (-1 when unreadable).
        reduced: ``(N,)`` bool, decoded at a reduced scale (a JPEG): its thumbnail is close to,
            not equal to, that of the same pixels stored losslessly.
        errors: Why each file could not be read, else ``None``.

    """

    digests: np.ndarray
    views: np.ndarray
    thumbs: np.ndarray
    colours: np.ndarray
    sizes: np.ndarray
    reduced: np.ndarray
    errors: list[str | None]

    def __len__(self) -> int:
        """Number of files."""
        return len(self.errors)

    @property
    def codes(self) -> np.ndarray:
        """``(N,)`` uint64 hashes of the centre windows."""
        return self.views[:, CENTER_VIEW]


def fingerprints(paths: Sequence[str | Path]) -> Fingerprints:
    """Byte digest, 9 window hashes, thumbnail and size of each file; errors are recorded, not raised.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> Image.new("RGB", (40, 30), (200, 10, 10)).save(p)
        >>> fp = fingerprints([p, "/nonexistent.png"])
        >>> fp.views.shape, fp.thumbs.shape, fp.sizes.tolist(), fp.errors
        ((2, 9), (2, 32, 32), [[40, 30], [-1, -1]], [None, 'image not found'])

    """
    n = len(paths)
    digests = np.zeros((n, 16), dtype=np.uint8)
    thumbs = np.zeros((n, HASH_SIZE, HASH_SIZE), dtype=np.uint8)
    grids = np.zeros((n, GRID, GRID), dtype=np.uint8)
    reduced = np.zeros(n, dtype=bool)
    colours = np.zeros((n, COLOUR, COLOUR, 3), dtype=np.uint8)
    sizes = np.full((n, 2), -1, dtype=np.int32)
    errors: list[str | None] = [None] * n
    from datakit.images import ImageReadError, read_image_bytes, reason

    for i, path in enumerate(paths):
        try:
            data = read_image_bytes(path)  # regular files only, at most the byte cap
        except (FileNotFoundError, ImageReadError) as e:
            errors[i] = reason(e)
            continue
        except OSError as e:
            errors[i] = f"cannot read file ({e.strerror or e})"
            continue
        digests[i] = np.frombuffer(hashlib.blake2b(data, digest_size=16).digest(), dtype=np.uint8)
        try:
            grey, rgb, size = _decode(data, path)
        except ImageReadError as e:  # too many pixels
            errors[i] = reason(e)
            continue
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            errors[i] = reason(e) if str(e).startswith(str(path)) else f"cannot decode image ({e})"
            continue
        thumbs[i] = _resize(grey, HASH_SIZE)
        grids[i] = _resize(grey, GRID)
        colours[i] = _resize(rgb, COLOUR)
        sizes[i] = size
        reduced[i] = grey.shape[::-1] != size
    views = _bits(_low_dct(_windows(grids))) if n else np.zeros((0, VIEWS), dtype=np.uint64)
    bad = [i for i, e in enumerate(errors) if e is not None]
    views[bad] = 0
    return Fingerprints(digests, views.reshape(n, VIEWS), thumbs, colours, sizes, reduced, errors)


@dataclass(frozen=True)
class Fingerprint:
    """The fingerprint of one file (see :class:`Fingerprints` for many).

    Attributes:
        digest: Hex BLAKE2b of the file bytes (``""`` when unreadable).
        phash: 64-bit perceptual hash of the centre (0 when unreadable).
        views: The 9 hashes of the shifted central windows (``phash`` is ``views[4]``).
        thumb: 32×32 uint8 grey thumbnail of the whole image (``None`` when unreadable).
        width: Image width (-1 when unreadable).
        height: Image height (-1 when unreadable).
        error: Why the file could not be read, else ``None``.

    """

    digest: str
    phash: int
    views: tuple[int, ...]
    thumb: np.ndarray | None
    width: int
    height: int
    error: str | None = None


def fingerprint(path: str | Path) -> Fingerprint:
    """Byte digest, perceptual hashes, thumbnail and size of one image; errors are returned.

    Examples:
        >>> fingerprint("/nonexistent.png").error
        'image not found'

    """
    fp = fingerprints([path])
    if fp.errors[0] is not None:
        digest = fp.digests[0].tobytes().hex() if fp.digests[0].any() else ""
        return Fingerprint(digest, 0, (), None, -1, -1, fp.errors[0])
    views = tuple(int(v) for v in fp.views[0])
    w, h = (int(x) for x in fp.sizes[0])
    return Fingerprint(fp.digests[0].tobytes().hex(), views[CENTER_VIEW], views, fp.thumbs[0], w, h)
