"""Image fingerprints: file-byte digests, decoded-pixel digests and 64-bit perceptual hashes.

Decoding is most of the cost, so fingerprints decode JPEGs at a reduced scale (Pillow's
``draft``), and every function here works on one file so a process pool can spread the work.
A fingerprint holds a byte digest, a 64-bit DCT hash of the central 80% of the image (robust to
crops of up to 10% and to the black corners a small rotation leaves) and a 32×32 grey thumbnail
(1 KiB) that the near-duplicate check aligns and correlates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

HASH_SIZE = 32
"""Side of the grey thumbnails."""

CENTER = 0.8
"""Share of each side the perceptual hash looks at (the centre of the image)."""

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

    Pixels are compared as stored (EXIF orientation is not applied), in RGB, or RGBA when the
    image has transparency that is used; the size is part of the digest.

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
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
            mode = "RGBA" if has_alpha else "RGB"
            px = im.convert(mode) if im.mode != mode else im
            if has_alpha and px.getextrema()[3][0] == 255:  # fully opaque: same as RGB
                px, mode = px.convert("RGB"), "RGB"
            h = hashlib.blake2b(digest_size=16)
            h.update(f"{mode}:{px.width}x{px.height}:".encode())
            h.update(px.tobytes())
            return h.hexdigest()
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"{path}: cannot decode image ({e})") from None


@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    n = HASH_SIZE
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)


def _open_grey(path: Path) -> Image.Image:
    with Image.open(path) as im:
        if im.format == "JPEG":
            im.draft("L", (HASH_SIZE * 4, HASH_SIZE * 4))
        if im.mode in ("RGBA", "LA", "PA", "P"):
            im = im.convert("RGBA")
            flat = Image.new("RGB", im.size, (0, 0, 0))
            flat.paste(im, mask=im.getchannel("A"))
            im = flat
        return im.convert("L") if im.mode != "L" else im.copy()


def thumbnails(path: str | Path) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Decode ``path`` into two 32×32 uint8 grey thumbnails: the whole image and its centre.

    Returns:
        ``(whole, centre, width, height)`` with the full image's size.

    Raises:
        FileNotFoundError: The file is missing.
        ValueError: The file cannot be decoded.
    """
    path = Path(path)
    try:
        with Image.open(path) as probe:
            w, h = probe.size
        g = _open_grey(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"{path}: cannot decode image ({e})") from None
    size = (HASH_SIZE, HASH_SIZE)
    whole = g.resize(size, Image.Resampling.BOX)
    gw, gh = g.size
    mx, my = gw * (1 - CENTER) / 2, gh * (1 - CENTER) / 2
    centre = g.resize(size, Image.Resampling.BOX, box=(mx, my, gw - mx, gh - my))
    return np.asarray(whole, dtype=np.uint8), np.asarray(centre, dtype=np.uint8), w, h


def phash_from_thumbnail(thumb: np.ndarray) -> int:
    """64-bit DCT perceptual hash of a 32×32 grey thumbnail (bits: low frequencies > median).

    Examples:
        >>> t = np.random.default_rng(0).random((32, 32)) * 200
        >>> phash_from_thumbnail(t) == phash_from_thumbnail(t * 0.9 + 5)
        True
    """
    m = _dct_matrix()
    d = m @ thumb.astype(np.float32) @ m.T
    low = d[:8, :8].reshape(-1)
    bits = low > np.median(low[1:])
    return int(np.packbits(bits).view(">u8")[0])


def phash(path: str | Path) -> int:
    """64-bit perceptual hash of the centre of the image at ``path``.

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> noise = (np.random.default_rng(0).random((16, 16)) * 255).astype("uint8")
        >>> im = Image.fromarray(noise).resize((256, 256), Image.Resampling.BICUBIC)
        >>> im.save(d / "a.png"); im.resize((128, 128)).save(d / "b.jpg", quality=60)
        >>> bin(phash(d / "a.png") ^ phash(d / "b.jpg")).count("1") <= 6
        True
    """
    return phash_from_thumbnail(thumbnails(path)[1])


@dataclass(frozen=True)
class Fingerprint:
    """What one pass over a file yields.

    Attributes:
        digest: BLAKE2b of the file bytes (``""`` when unreadable).
        phash: 64-bit perceptual hash of the centre (0 when unreadable).
        thumb: 32×32 uint8 grey thumbnail of the whole image (``None`` when unreadable).
        width: Image width (-1 when unreadable).
        height: Image height (-1 when unreadable).
        error: Why the file could not be read, else ``None``.
    """

    digest: str
    phash: int
    thumb: np.ndarray | None
    width: int
    height: int
    error: str | None = None


def fingerprint(path: str | Path) -> Fingerprint:
    """Byte digest, perceptual hash, thumbnail and size of one image; errors are returned.

    Examples:
        >>> fingerprint("/nonexistent.png").error
        'image not found'
    """
    try:
        digest = file_digest(path)
    except FileNotFoundError:
        return Fingerprint("", 0, None, -1, -1, "image not found")
    except OSError as e:
        return Fingerprint("", 0, None, -1, -1, f"cannot read file ({e.strerror or e})")
    try:
        whole, centre, w, h = thumbnails(path)
    except (FileNotFoundError, ValueError) as e:
        return Fingerprint(digest, 0, None, -1, -1, str(e).split(": ", 1)[-1])
    return Fingerprint(digest, phash_from_thumbnail(centre), whole, w, h)
