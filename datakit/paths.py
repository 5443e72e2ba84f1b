"""Paths inside a dataset root: relative, normalised, and never escaping the root."""

from __future__ import annotations

import posixpath
from pathlib import Path, PurePosixPath, PureWindowsPath

from datakit.errors import PathEscapeError


def safe_relpath(path: str, base: str = "") -> str:
    """Join ``path`` to ``base`` (both relative to a dataset root) and normalise it.

    Args:
        path: A path as written in an annotation file, relative to ``base``.
        base: The folder, relative to the root, that ``path`` is relative to.

    Returns:
        The POSIX path relative to the dataset root.

    Raises:
        PathEscapeError: ``path`` is absolute, empty, or climbs out of the root with ``..``.

    Examples:
        >>> safe_relpath("x.jpg", "train")
        'train/x.jpg'
        >>> safe_relpath("../images/x.jpg", "train")
        'images/x.jpg'
        >>> safe_relpath("../../x.jpg", "train")
        Traceback (most recent call last):
        ...
        datakit.errors.PathEscapeError: path '../../x.jpg' escapes the dataset root

    """
    if not path:
        raise PathEscapeError("empty image path")
    if path.startswith(("/", "\\")) or PureWindowsPath(path).drive or PurePosixPath(path).is_absolute():
        raise PathEscapeError(f"absolute path {path!r} is not allowed (paths are relative to the dataset root)")
    if posixpath.normpath(path.replace("\\", "/")) == ".":
        raise PathEscapeError(f"path {path!r} names a folder, not a file")
    joined = (
        posixpath.normpath(posixpath.join(base, path.replace("\\", "/")))
        if base
        else posixpath.normpath(path.replace("\\", "/"))
    )
    if joined == ".." or joined.startswith("../") or joined == ".":
        raise PathEscapeError(f"path {path!r} escapes the dataset root")
    return joined


def relpath_from(target: str, folder: str) -> str:
    """Write root-relative ``target`` relative to root-relative ``folder``.

    Examples:
        >>> relpath_from("train/a.jpg", "train")
        'a.jpg'
        >>> relpath_from("images/a.jpg", "train/synthetic")
        '../../images/a.jpg'

    """
    if not folder or folder == ".":
        return target
    return posixpath.relpath(target, folder)


def resolve_inside(root: Path, rel: str) -> Path:
    """Return ``root / rel`` after checking ``rel`` stays inside ``root``."""
    return Path(root) / safe_relpath(rel)
