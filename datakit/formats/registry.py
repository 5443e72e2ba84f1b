r"""The format registry: one :class:`Format` description per format, the single place a format is declared.

A format module (``datakit/formats/<name>.py`` or a package ``datakit/formats/<name>/``) ends with
a module-level ``FORMAT = Format(...)`` stanza naming its reader, writer, detection rules (each
with an explicit priority), the options ``datakit convert`` exposes for it and what it cannot hold.
:func:`formats` finds every stanza with :func:`pkgutil.iter_modules` over :mod:`datakit.formats`
(modules whose name starts with ``_`` are helpers and are not imported), plus ``Format`` objects
published by other packages under the ``datakit.formats`` entry-point group. Nothing is imported
before the registry is first asked, so ``import datakit`` stays light; format modules keep heavy
imports (pycocotools, pyarrow, ...) inside their functions.

:func:`detect`, :func:`get`, ``datakit convert`` (its ``--from``/``--to`` choices, options and
help), :meth:`Dataset.read <datakit.dataset.Dataset.read>` / ``write`` / ``from_<name>`` /
``to_<name>`` and the tests all read this registry: adding a format is adding its module.

Examples:
    >>> [f.name for f in formats()]
    ['coco', 'hf', 'imagefolder', 'jsonl', 'voc', 'yolo']
    >>> get("ultralytics").name, [o.cli_flag for o in get("yolo").write_options]
    ('yolo', ['--strict', '--full-image-boxes'])
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "data.yaml").write_text("names: [ball]\n")
    >>> detect(d)
    'yolo'

"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

READ_COMMON = ("classes", "strict")
"""Keyword options every reader takes (``convert`` maps ``--classes`` and ``--lenient`` to them)."""
WRITE_COMMON = ("images", "strict")
"""Keyword options every writer takes (``convert`` maps ``--image-mode`` and ``--lenient`` to them)."""


@dataclass(frozen=True)
class Option:
    """One format-specific keyword option of a reader or writer, as the CLI shows it.

    Args:
        name: The keyword argument of ``read``/``write`` (``layout``).
        help: One line for ``--help``.
        type: ``str``, ``int``, ``float`` or ``bool``. A ``bool`` with default ``False`` is a
            flag (``--plain``); with default ``None`` a pair ``--x`` / ``--no-x``.
        default: The reader's/writer's own default (a test checks they agree); used only in help.
        choices: Allowed values, when the option is one of a few words.
        flag: The CLI flag; default ``--`` + ``name`` with dashes.
        requires: Another option of the same format this one needs (``prompt`` needs ``plain``).

    Examples:
        >>> Option("layout", "file layout", choices=("roboflow", "coco"), flag="--coco-layout").cli_flag
        '--coco-layout'
        >>> Option("full_image_boxes", "boxes", type=bool).cli_flag
        '--full-image-boxes'

    """

    name: str
    help: str
    type: type = str
    default: Any = None
    choices: tuple[str, ...] | None = None
    flag: str | None = None
    requires: str | None = None

    @property
    def cli_flag(self) -> str:
        """The flag ``datakit convert`` uses."""
        return self.flag or "--" + self.name.replace("_", "-")


EXACT = Option(
    "exact",
    "refuse a box outside its image or a declared size its image header contradicts, instead of fixing it",
    type=bool,
    default=False,
    flag="--strict",
)
"""The box formats' read and write option: fix (clip, count) or refuse what breaks the box rules."""


@dataclass(frozen=True)
class Detect:
    """One detection rule: ``test(folder)`` says the folder is in this format.

    Rules of every format run in order of ``priority`` (highest first; ties by format name);
    the first that holds names the format. ``says`` tells the user what the rule looks for.
    """

    priority: int
    test: Callable[[Path], bool]
    says: str


@dataclass(frozen=True)
class Format:
    """Everything datakit knows about one dataset format.

    Args:
        name: The name used by ``--to``/``--from`` and ``format=``.
        summary: One line for help texts.
        read: ``read(path, *, classes=None, strict=False, **options) -> Dataset``.
        write: ``write(ds, out, *, images="copy", strict=True, **options) -> WriteResult``.
        detect: Folder rules, each with an explicit priority.
        suffixes: File suffixes this format reads as a single file (``.json``).
        aliases: Other accepted names.
        read_options: Reader options beyond ``classes``/``strict``.
        write_options: Writer options beyond ``images``/``strict``.
        cannot_hold: What a write loses, in words (the writer's summary counts it per sample).

    """

    name: str
    summary: str
    read: Callable[..., Any]
    write: Callable[..., Any]
    detect: tuple[Detect, ...] = ()
    suffixes: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    read_options: tuple[Option, ...] = ()
    write_options: tuple[Option, ...] = ()
    cannot_hold: tuple[str, ...] = ()
    module: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum() or self.name != self.name.lower():
            raise ValueError(f"expected a lowercase format name of letters, digits and _, got {self.name!r}")
        if not self.module:
            object.__setattr__(self, "module", getattr(self.read, "__module__", "") or "")


_EXTRA: dict[str, Format] = {}


@functools.cache
def _discovered() -> tuple[Format, ...]:
    import datakit.formats as package

    found: list[Format] = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.name == "registry":
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        fmt = getattr(module, "FORMAT", None)
        if isinstance(fmt, Format):
            object.__setattr__(fmt, "module", module.__name__)  # the module (or package) that declares it
            found.append(fmt)
    from importlib.metadata import entry_points

    for ep in entry_points(group="datakit.formats"):
        fmt = ep.load()
        if not isinstance(fmt, Format):
            raise TypeError(f"entry point datakit.formats:{ep.name} must be a Format, got {type(fmt).__name__}")
        found.append(fmt)
    return tuple(found)


def register(fmt: Format) -> Format:
    """Add a format at run time (a plug-in or a test); returns it.

    Raises:
        ValueError: Its name or an alias is already taken.

    """
    _check([*formats(), fmt])
    _EXTRA[fmt.name] = fmt
    _lookup.cache_clear()
    return fmt


def unregister(name: str) -> None:
    """Remove a format added with :func:`register`."""
    _EXTRA.pop(name, None)
    _lookup.cache_clear()


def _check(fmts: list[Format]) -> None:
    taken: dict[str, str] = {}
    for f in fmts:
        for n in (f.name, *f.aliases):
            if n in taken:
                raise ValueError(f"format name {n!r} of {f.name!r} is already used by {taken[n]!r}")
            taken[n] = f.name


def formats() -> list[Format]:
    """Every registered format, sorted by name."""
    return sorted([*_discovered(), *_EXTRA.values()], key=lambda f: f.name)


@functools.cache
def _lookup() -> dict[str, Format]:
    fmts = formats()
    _check(fmts)
    return {n: f for f in fmts for n in (f.name, *f.aliases)}


def names() -> list[str]:
    """The registered format names (no aliases), sorted."""
    return [f.name for f in formats()]


def get(name: str) -> Format:
    """The format called ``name`` (or one of its aliases).

    Raises:
        ValueError: Unknown format (the message lists the known ones).

    """
    try:
        return _lookup()[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; expected one of {names()}") from None


def detection_rules() -> list[tuple[Detect, Format]]:
    """Every folder rule, in the order :func:`detect` tries them."""
    rules = [(r, f) for f in formats() for r in f.detect]
    return sorted(rules, key=lambda rf: (-rf[0].priority, rf[1].name))


def detect(path: str | Path) -> str:
    """Name the format of a dataset file (by suffix) or folder (by the registered rules).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FormatError: The format cannot be told (the message says what was looked for).

    """
    from datakit.errors import FormatError

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"dataset not found: {p}")
    if p.is_file():
        suffix = p.suffix.lower()
        for f in formats():
            if suffix in f.suffixes:
                return f.name
        raise FormatError(p, None, f"cannot tell the format from the suffix {p.suffix!r}; pass --from/format=")
    rules = detection_rules()
    for rule, f in rules:
        if rule.test(p):
            return f.name
    looked = ", ".join(dict.fromkeys(r.says for r, _ in rules))
    raise FormatError(p, None, f"cannot tell the format: no {looked} found; pass --from/format=")
