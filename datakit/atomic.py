r"""Atomic writes: a crash leaves the old files or the new ones, never half of one, never a mix.

Three tools, from one file to a whole tree:

- :func:`atomic_write` (and :func:`atomic_write_bytes`, :func:`atomic_write_text`): one file,
  written beside its target and moved over it with one ``os.replace``.
- :func:`atomic_dir`: a new folder, built under a temporary name beside it and swapped in.
- :class:`Transaction`: several files of an existing folder (an in-place save rewrites every
  annotation file of a dataset, and drops the ones a re-split no longer needs). Each new file is
  staged beside its target; the transaction is committed by one ``os.replace`` of its journal
  (the list of renames and removals), then applied. :func:`recover`, which every load and every
  transaction runs first, rolls a committed journal forward and removes the staged files of one
  that was not committed, so after ``kill -9`` at any point the folder holds exactly the old
  files or exactly the new ones.

New files and folders get the modes the umask gives (``0o666`` / ``0o777`` less the umask);
a file that replaces another keeps the mode of the one it replaces.

Temporaries are named for datakit and for what they belong to: ``.NAME.datakit-….tmp`` beside
the file or folder ``NAME``, ``.datakit-txn-….json`` and ``.datakit-journal.json`` at a
transaction's root. While a process works on one, it holds an advisory lock on it
(``flock``); a temporary folder nobody holds is left by a run that died, and the next
:func:`atomic_dir` into the same output removes it, saying so in one line (logger
``datakit``).

The environment variable ``DATAKIT_FAULT_STEP=k`` makes the process ``os._exit`` at the
``k``-th step of a write (each staged file, the commit, each rename and removal): the tests use
it to stop a save at every point, as ``kill -9`` would.

Examples:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "old.txt").write_text("old")
    >>> with Transaction(root) as tx:
    ...     tx.write_bytes("train/a.txt", b"new")
    ...     tx.remove("old.txt")
    >>> sorted(p.name for p in root.rglob("*"))
    ['a.txt', 'train']
    >>> recover(root)  # nothing to finish
    0

"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, stale folders are judged by age
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("datakit")

JOURNAL = ".datakit-journal.json"
"""A committed transaction at its root: present only between the commit and the end of applying it."""
_INTENT_PREFIX = ".datakit-txn-"
_TAG = "datakit"
_LEGACY_AGE_S = 3600.0
"""Temporary folders of datakit versions that did not lock them are stale after this long."""


# ----------------------------------------------------------------------------- modes and locks
def umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux ``/proc``).

    Examples:
        >>> 0 <= umask() <= 0o777
        True

    """
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _file_mode(target: Path) -> int:
    """The mode a file written to ``target`` gets: the replaced file's, else what the umask gives."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~umask()


def _lock(fd: int, *, block: bool = True) -> bool:
    """Take an exclusive advisory lock on ``fd``; ``False`` when another process holds it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _lock_dir(path: Path) -> int | None:
    """Open folder ``path`` and take its lock (waiting for another holder); the fd to close, if any."""
    if fcntl is None:
        return None
    fd = os.open(path, os.O_RDONLY)
    _lock(fd)
    return fd


def _unlock_dir(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def _held_elsewhere(path: Path) -> bool:
    """Whether a live process holds the lock on ``path`` (a file or a folder)."""
    if fcntl is None:
        return time.time() - path.stat().st_mtime < _LEGACY_AGE_S
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return not _lock(fd, block=False)
    finally:
        os.close(fd)  # closing releases the lock taken to look


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_steps = 0


def _step() -> None:
    """Count one step of a write; ``DATAKIT_FAULT_STEP=k`` ends the process at the ``k``-th."""
    global _steps
    fault = os.environ.get("DATAKIT_FAULT_STEP")
    if fault:
        _steps += 1
        if _steps == int(fault):
            os._exit(86)


def _temp_name(name: str, kind: str = "") -> str:
    return f".{name}.{_TAG}{kind}-{os.getpid()}-{secrets.token_hex(4)}.tmp"


# ----------------------------------------------------------------------------- one file
@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success, move it over ``path``.

    The file gets the mode of the file it replaces, or ``0o666`` less the umask when new.

    Args:
        path: Final destination. Its folder is created if missing.
        mode: ``"wb"`` or ``"w"`` (text, UTF-8).

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> with atomic_write(d / "x.txt", "w") as f:
        ...     _ = f.write("hello")
        >>> (d / "x.txt").read_text()
        'hello'

    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / _temp_name(path.name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        _lock(fd)  # held until closed: a live temporary is never taken for a stale one
        os.fchmod(fd, _file_mode(path))
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


# ----------------------------------------------------------------------------- one folder
def clean_stale(path: str | Path) -> int:
    """Remove the temporary folders and files an interrupted datakit run left beside ``path``.

    A temporary of datakit's (``.NAME.datakit….tmp``) is stale when no live process holds its
    lock; one of an older datakit (``.NAME.XXXXXXXX.tmp``, ``.NAME.old-PID``) when it is over an
    hour old. Says how many it removed, in one line on the ``datakit`` logger.

    Returns:
        How many were removed.

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> (d / ".out.datakit-1-ab12cd34.tmp").mkdir()  # nobody holds it
        >>> clean_stale(d / "out"), sorted(p.name for p in d.iterdir())
        (1, [])

    """
    path = Path(path)
    parent, name = path.parent, path.name
    ours = re.compile(rf"^\.{re.escape(name)}\.{_TAG}(-[a-z]+)?-\d+-[0-9a-f]+\.tmp$")
    legacy = re.compile(rf"^\.{re.escape(name)}\.([a-z0-9_]{{8}}\.tmp|old-\d+)$")
    removed: list[str] = []
    with contextlib.suppress(OSError):
        entries = list(os.scandir(parent))
        for e in entries:
            if ours.match(e.name):
                stale = not _held_elsewhere(Path(e.path))
            elif legacy.match(e.name):
                stale = time.time() - e.stat(follow_symlinks=False).st_mtime > _LEGACY_AGE_S
            else:
                continue
            if not stale:
                continue
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(e.path)
            removed.append(e.name)
    if removed:
        log.warning(
            "removed %d stale temporary item(s) an interrupted datakit run left beside %s: %s",
            len(removed), path, ", ".join(sorted(removed)),
        )  # fmt: skip
    return len(removed)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory under a temporary name, then swap it into place.

    An existing directory at ``path`` is replaced only once the new one is complete. The new
    directory gets the mode of the one it replaces, or ``0o777`` less the umask. Stale
    temporaries an interrupted run left beside ``path`` are removed first (see
    :func:`clean_stale`); the one being built is locked while this runs.

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()) / "out"
        >>> with atomic_dir(d) as tmp:
        ...     _ = (tmp / "a.txt").write_text("x")
        >>> sorted(p.name for p in d.iterdir())
        ['a.txt']

    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path)
    try:
        dir_mode = path.stat().st_mode & 0o7777
    except OSError:
        dir_mode = 0o777 & ~umask()
    tmp = path.parent / _temp_name(path.name)
    tmp.mkdir(mode=0o700)
    fd = _lock_dir(tmp)
    try:
        os.chmod(tmp, dir_mode)
        yield tmp
        if path.exists():
            old = path.parent / _temp_name(path.name, "-old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        _unlock_dir(fd)


# ----------------------------------------------------------------------------- several files
class Transaction:
    """Replace and remove several files under ``root`` as one atomic step.

    Stage new files with :meth:`open` or :meth:`write_bytes`, mark files to go with
    :meth:`remove`, then :meth:`commit` (a ``with`` block commits when it ends without an
    error, and discards what it staged when it does not). Until the commit, ``root`` holds the
    old files; from it on, the new ones (a crash after the commit is finished by the next
    :func:`recover`). Folders left empty by a removal are removed too. Paths are relative to
    ``root`` and use ``/``.

    One transaction at a time per root: a second waits for the first (an advisory lock on the
    root folder, released by the OS when a process dies).

    Args:
        root: The folder the transaction writes under (it must exist).

    Raises:
        ValueError: A path that is absolute or leaves ``root``.

    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._renames: list[tuple[str, str]] = []
        self._removes: list[str] = []
        self._done = False
        self._root_fd = _lock_dir(self.root)  # waits for another process's transaction on this root
        try:
            _recover_locked(self.root)
            self._txid = f"{os.getpid()}-{secrets.token_hex(4)}"
            self._intent = self.root / f"{_INTENT_PREFIX}{self._txid}.json"
            self._intent_f = open(self._intent, "x", encoding="utf-8")  # noqa: SIM115 - held until the end
        except BaseException:
            _unlock_dir(self._root_fd)
            raise

    def __enter__(self) -> Transaction:
        """Return the transaction."""
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        """Commit when the block ended normally, else discard what was staged."""
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def _target(self, rel: str) -> Path:
        parts = Path(rel).parts
        if Path(rel).is_absolute() or ".." in parts or not parts:
            raise ValueError(f"expected a path inside the transaction's root, got {rel!r}")
        return self.root / rel

    @contextlib.contextmanager
    def open(self, rel: str) -> Iterator[IO[bytes]]:
        """Stage a new version of ``root/rel``: a binary file to write, put in place at the commit."""
        target = self._target(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        stage = target.parent / _temp_name(target.name, "-stage")
        stage_rel = stage.relative_to(self.root).as_posix()
        # Recorded before it exists: an uncommitted transaction's staged files can all be found.
        self._intent_f.write(stage_rel + "\n")
        self._intent_f.flush()
        fd = os.open(stage, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        _lock(fd)
        os.fchmod(fd, _file_mode(target))
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        self._renames.append((stage_rel, Path(rel).as_posix()))
        _step()

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Stage ``data`` as the new ``root/rel``."""
        with self.open(rel) as f:
            f.write(data)

    def remove(self, rel: str) -> None:
        """Remove ``root/rel`` at the commit (and its folders, when that leaves them empty)."""
        self._target(rel)
        self._removes.append(Path(rel).as_posix())

    def commit(self) -> None:
        """Commit (one ``os.replace`` of the journal), apply, and end the transaction."""
        import json

        if self._done:
            raise RuntimeError("the transaction has already ended")
        self._done = True
        try:
            journal = {"txid": self._txid, "renames": self._renames, "removes": self._removes}
            tmp = self.root / f"{_INTENT_PREFIX}{self._txid}.commit"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(journal, f)
                f.flush()
                os.fsync(f.fileno())
            for folder in {Path(s).parent for s, _ in self._renames}:
                _fsync_dir(self.root / folder)
            os.replace(tmp, self.root / JOURNAL)  # the commit point
            _fsync_dir(self.root)
            _step()
            _apply(self.root, journal)
        finally:
            self._close()

    def abort(self) -> None:
        """Discard every staged file; ``root`` keeps its old files."""
        if self._done:
            return
        self._done = True
        try:
            for stage, _ in self._renames:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.root / stage)
            _discard_intent(self.root, self._intent)
        finally:
            self._close()

    def _close(self) -> None:
        with contextlib.suppress(OSError):
            self._intent_f.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._intent)
        _unlock_dir(self._root_fd)


def _apply(root: Path, journal: dict[str, Any]) -> None:
    """Apply a committed journal; every step may already have been done (a roll forward)."""
    for stage, target in journal["renames"]:
        with contextlib.suppress(FileNotFoundError):  # already applied before a crash
            os.replace(root / stage, root / target)
        _step()
    folders: set[Path] = set()
    for rel in journal["removes"]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(root / rel)
        folders.update(p for p in Path(rel).parents if p != Path("."))
        _step()
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):  # not empty: images or other files stay
            os.rmdir(root / folder)
    for folder in {Path(t).parent for _, t in journal["renames"]} | {Path(".")}:
        _fsync_dir(root / folder)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(root / JOURNAL)


def _discard_intent(root: Path, intent: Path) -> int:
    """Remove the staged files an uncommitted transaction lists, then its intent file."""
    n = 0
    with contextlib.suppress(FileNotFoundError), open(intent, encoding="utf-8") as f:
        for line in f.read().splitlines():
            name = line.strip()
            if name and ".." not in Path(name).parts and not Path(name).is_absolute():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(root / name)
                    n += 1
    with contextlib.suppress(FileNotFoundError):
        os.unlink(intent)
    return n


def _pending(root: Path) -> list[str]:
    try:
        return [e.name for e in os.scandir(root) if e.name == JOURNAL or e.name.startswith(_INTENT_PREFIX)]
    except OSError:
        return []


def _recover_locked(root: Path) -> int:
    """:func:`recover` for a caller that holds the root's lock."""
    import json

    names = _pending(root)
    if not names:
        return 0
    n = 0
    committed = None
    if JOURNAL in names:
        try:
            journal = json.loads((root / JOURNAL).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            from datakit.errors import FormatError

            raise FormatError(root / JOURNAL, None, f"cannot finish an interrupted save: {e}") from None
        committed = journal.get("txid")
        _apply(root, journal)
        log.warning("finished a save of %s that was interrupted after its commit", root)
        n += 1
    for name in names:
        if name.startswith(_INTENT_PREFIX):
            if name.endswith(".commit"):  # a journal being written, never committed
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(root / name)
                continue
            staged = _discard_intent(root, root / name)
            if name == f"{_INTENT_PREFIX}{committed}.json":  # the committed one: its files are in place
                continue
            log.warning("undid a save of %s that was interrupted before its commit (%d staged file(s) removed)",
                        root, staged)  # fmt: skip
            n += 1
    return n


def recover(root: str | Path) -> int:
    """Finish or undo the transactions on ``root`` that a crash interrupted.

    A committed one is rolled forward (its remaining renames and removals are done); the staged
    files of one that was not committed are removed, leaving the old files. A transaction still
    running in another process is waited for. Cheap when there is nothing to do (one listing of
    ``root``). Each recovery is said in one line on the ``datakit`` logger.

    Returns:
        How many transactions were finished or undone.

    Raises:
        datakit.errors.FormatError: A committed journal that cannot be read.

    """
    root = Path(root)
    if not _pending(root):
        return 0
    fd = _lock_dir(root)
    try:
        return _recover_locked(root)
    finally:
        _unlock_dir(fd)


@contextlib.contextmanager
def reading(root: str | Path) -> Iterator[None]:
    """Read the files under ``root`` as one consistent state: never half of a save.

    Finishes or undoes an interrupted transaction first (:func:`recover`), then holds a shared
    lock on ``root`` while the block runs, so a :class:`Transaction` of another process waits
    until the read is done, and a read waits for a running transaction to end.

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> with reading(root):
        ...     sorted(root.iterdir())
        []

    """
    root = Path(root)
    while True:
        recover(root)
        fd: int | None = None
        if fcntl is not None:
            try:
                fd = os.open(root, os.O_RDONLY)
            except OSError:  # not a folder we can open: nothing to lock
                fd = None
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_SH)
        if JOURNAL in _pending(root):  # a save committed and died between the two looks
            _unlock_dir(fd)
            continue
        try:
            yield
        finally:
            _unlock_dir(fd)
        return


__all__ = [
    "JOURNAL",
    "Transaction",
    "atomic_dir",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "clean_stale",
    "reading",
    "recover",
    "umask",
]
