"""Image access: sizes from file headers (no pixel decoding), lazy loading, full verification."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")


def image_size(path: str | Path) -> tuple[int, int]:
    """Return ``(width, height)`` read from the file header, without decoding pixels.

    Raises:
        FileNotFoundError: The file does not exist (the message names it).
        ValueError: The file is not an image Pillow can identify.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> Image.new("RGB", (7, 5)).save(p)
        >>> image_size(p)
        (7, 5)

    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            return int(im.width), int(im.height)
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None


def load_image(path: str | Path, mode: str = "RGB") -> Image.Image:
    """Decode an image into memory (converted to ``mode``; ``None`` keeps the file's mode).

    Raises:
        FileNotFoundError: The file does not exist (the message names it).
        ValueError: The file cannot be decoded (truncated, not an image).

    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert(mode) if mode and im.mode != mode else im.copy()
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"{path}: cannot decode image ({e})") from None


def verify_image(path: str | Path) -> str | None:
    """Fully decode ``path``; return why it is unreadable, or ``None`` when it is fine.

    Truncated files fail here (Pillow refuses truncated images by default).
    """
    try:
        load_image(path, mode="")
    except FileNotFoundError:
        return "image not found"
    except ValueError as e:
        return str(e).split(": ", 1)[-1]
    return None
