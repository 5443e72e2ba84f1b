"""Paths inside a dataset root: relative, normalised, and never escaping the root.

Two rules hold wherever datakit opens or copies a file that a dataset names:

* **No escape through symlinks.** A path is resolved to its real location (symlinks followed)
  and refused when that leaves the dataset root: a symlinked image or folder that points to
  ``/etc`` is a counted skip ("resolves outside the dataset root"), never read or copied. Users
  whose image folders are symlinks on purpose pass ``--follow-symlinks`` (every command), set
  ``DATAKIT_FOLLOW_SYMLINKS=1``, or call :func:`set_follow_symlinks` / pass
  ``follow_symlinks=True``.
* **Regular files only.** A named pipe, a device (``/dev/zero``) or a folder where an image
  should be is refused before it is opened (opening a pipe blocks; reading a device never ends).

:class:`RootGuard` applies both with one ``realpath`` per folder (cached) and one ``lstat`` per
file, so checking 100k images costs milliseconds, not a ``realpath`` per file.
"""

from __future__ import annotations

import os
import posixpath
import stat
import threading
from pathlib import Path, PurePosixPath, PureWindowsPath

from datakit.errors import PathEscapeError

FOLLOW_SYMLINKS_ENV = "DATAKIT_FOLLOW_SYMLINKS"
"""Environment variable: ``1`` lets symlinks lead outside the dataset root (default: refused)."""

_follow_override: bool | None = None


def set_follow_symlinks(value: bool | None) -> None:
    """Set the process-wide default of ``follow_symlinks`` (``None``: back to the environment).

    ``--follow-symlinks`` on the command line calls this with ``True``.

    Examples:
        >>> set_follow_symlinks(True); follow_symlinks_default()
        True
        >>> set_follow_symlinks(None)

    """
    global _follow_override
    _follow_override = value


def follow_symlinks_default() -> bool:
    """Whether symlinks may lead outside the root when a caller does not say (default ``False``)."""
    if _follow_override is not None:
        return _follow_override
    return os.environ.get(FOLLOW_SYMLINKS_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def regular_file_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as an image file, or ``None`` when it is a regular file.

    Follows symlinks (``stat``, never ``open``: a named pipe would block an ``open``).

    Examples:
        >>> regular_file_problem("/nonexistent.png")
        'image not found'
        >>> regular_file_problem("/dev/null")
        'not a regular file (a character device)'
        >>> regular_file_problem("/")
        'not a regular file (a folder)'

    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "image not found"
    except OSError as e:
        return f"cannot read file ({e.strerror or e})"
    return None if stat.S_ISREG(st.st_mode) else f"not a regular file ({_kind(st.st_mode)})"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


class RootGuard:
    """Checks that files named by a dataset stay inside its root once symlinks are resolved.

    Args:
        root: The dataset root.
        follow_symlinks: Allow symlinks that lead outside the root; ``None`` takes
            :func:`follow_symlinks_default`.

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (root / "a.jpg").write_bytes(b"x")
        >>> (root / "b.jpg").symlink_to("/etc/hostname")
        >>> guard = RootGuard(root)
        >>> guard.problem("a.jpg") is None
        True
        >>> guard.problem("b.jpg")
        'symlink resolves outside the dataset root (/etc/hostname); pass --follow-symlinks to allow it'
        >>> RootGuard(root, follow_symlinks=True).problem("b.jpg") is None
        True

    """

    def __init__(self, root: str | Path, follow_symlinks: bool | None = None) -> None:
        self.root = Path(root)
        self.follow = follow_symlinks_default() if follow_symlinks is None else bool(follow_symlinks)
        self._real_root = os.path.realpath(self.root)
        self._dirs: dict[str, str] = {}
        self._lock = threading.Lock()

    def _inside(self, real: str) -> bool:
        r = self._real_root
        return real == r or real.startswith(r.rstrip(os.sep) + os.sep)

    def _real_dir(self, folder: str) -> str:
        real = self._dirs.get(folder)
        if real is None:
            real = os.path.realpath(folder)
            with self._lock:
                self._dirs[folder] = real
        return real

    def real_path(self, rel: str | Path) -> str:
        """The real location of ``rel`` (relative to the root, or absolute under it)."""
        full = os.path.join(self.root, rel)
        folder, name = os.path.split(full)
        real_dir = self._real_dir(folder)
        try:
            is_link = stat.S_ISLNK(os.lstat(full).st_mode)
        except OSError:
            is_link = False
        return os.path.realpath(full) if is_link else os.path.join(real_dir, name)

    def problem(self, rel: str | Path, *, regular: bool = True) -> str | None:
        """Why the file at ``rel`` must not be opened, or ``None`` when it may.

        Args:
            rel: Path relative to the root (an absolute path under the root works too).
            regular: Also require a regular file (see :func:`regular_file_problem`).

        """
        full = os.path.join(self.root, rel)
        if not self.follow:
            real = self.real_path(rel)
            if not self._inside(real):
                return f"symlink resolves outside the dataset root ({real}); pass --follow-symlinks to allow it"
        return regular_file_problem(full) if regular else None

    def check(self, rel: str | Path, *, regular: bool = True) -> Path:
        """``root / rel`` when it may be opened.

        Raises:
            PathEscapeError: It resolves outside the root (the message names the file).
            FileNotFoundError: It does not exist.
            ValueError: It is not a regular file.

        """
        full = Path(os.path.join(self.root, rel))
        why = self.problem(rel, regular=regular)
        if why is None:
            return full
        if why.startswith("symlink"):
            raise PathEscapeError(f"{full}: {why}")
        if why == "image not found":
            raise FileNotFoundError(f"image not found: {full}")
        raise ValueError(f"{full}: {why}")


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


def resolve_inside(root: str | Path, rel: str, *, follow_symlinks: bool | None = None, regular: bool = True) -> Path:
    """Return ``root / rel`` after checking it stays inside ``root``, symlinks resolved.

    ``rel`` must be relative without ``..`` escapes (:func:`safe_relpath`); its real location
    (symlinks followed) must lie under the root's real location unless ``follow_symlinks``; and
    with ``regular`` it must be a regular file (not a pipe, device or folder).

    Raises:
        PathEscapeError: ``rel`` is absolute, climbs out, or resolves outside the root.
        FileNotFoundError: The file does not exist.
        ValueError: Not a regular file.

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (root / "a.jpg").write_bytes(b"x")
        >>> resolve_inside(root, "a.jpg") == root / "a.jpg"
        True
        >>> (root / "etc").symlink_to("/etc")
        >>> resolve_inside(root, "etc/hostname")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        datakit.errors.PathEscapeError: .../etc/hostname: symlink resolves outside the dataset root (/etc/hostname); ...

    """
    return RootGuard(root, follow_symlinks).check(safe_relpath(rel), regular=regular)
