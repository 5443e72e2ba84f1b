"""One registration point for annotators and detectors: name → factory and the options it takes.

Every annotator (``datakit annotate --with NAME``) and detector (``datakit pseudo-label
--detector NAME``) is an :class:`Entry`: a name, a lazily imported factory (``"module:attr"``, so
``import annotators`` loads no model library), and the :class:`Option` list the factory accepts.
The CLI adds every declared option to its parser, rejects an option given for another entry, and
passes the given ones to the factory as keyword arguments; an unknown name is an error that lists
the known ones. A plug-in registers itself with :func:`register` (in its own module, or from a
script before calling :func:`datakit.cli.main`).

Examples:
    >>> sorted(e.name for e in entries("annotator"))
    ['color', 'ocr', 'vlm']
    >>> get("annotator", "colour")
    Traceback (most recent call last):
    ...
    annotators.registry.UnknownName: unknown annotator 'colour'; known: color, ocr, vlm
    >>> e = register(Entry("annotator", "const", "annotators.base:Annotator",
    ...                    options=(Option("value", help="what to answer"),)))
    >>> e.options[0].option_flag, unregister("annotator", "const").name
    ('--value', 'const')

"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datakit.errors import DatakitError

KINDS: tuple[str, ...] = ("annotator", "detector")
"""What can be registered."""


class UnknownName(DatakitError, KeyError):
    """No annotator or detector of that name (the message lists the known ones)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class OptionError(DatakitError, ValueError):
    """An option was given for an entry that does not take it."""


@dataclass(frozen=True)
class Option:
    """One keyword argument of a factory, exposed as a CLI flag.

    Attributes:
        name: The factory's keyword argument (``min_confidence``).
        type: Converts the command-line string (``float``, ``int``, ``str``; ``bool`` makes a
            switch that takes no value).
        help: One line for ``--help``; say what the factory's default is.
        choices: Allowed values, when the set is closed.
        flag: The flag (default ``--`` + ``name`` with dashes).

    """

    name: str
    type: Callable[[str], Any] = str
    help: str = ""
    choices: tuple[Any, ...] | None = None
    flag: str | None = None

    @property
    def dest(self) -> str:
        """The argparse destination (shared by every entry declaring the same flag)."""
        return "opt_" + self.option_flag[2:].replace("-", "_")

    @property
    def option_flag(self) -> str:
        """The flag as typed on the command line."""
        return self.flag or "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Entry:
    """A registered annotator or detector.

    Attributes:
        kind: ``annotator`` or ``detector``.
        name: The name used on the command line.
        factory: ``"module:attr"`` (imported on first use) or a callable returning the object.
            Detector factories take the ``--detector`` value (``nano``, a path, ``mod:fn``) as
            first positional argument.
        options: The keyword arguments the factory accepts from the CLI.
        help: One line for listings.
        aliases: Other names that select this entry.

    """

    kind: str
    name: str
    factory: str | Callable[..., Any]
    options: tuple[Option, ...] = ()
    help: str = ""
    aliases: tuple[str, ...] = field(default=())

    def load(self) -> Callable[..., Any]:
        """The factory itself (imports its module)."""
        if callable(self.factory):
            return self.factory
        module, _, attr = self.factory.partition(":")
        return getattr(importlib.import_module(module), attr)

    def build(self, *args: Any, **kwargs: Any) -> Any:
        """Call the factory."""
        return self.load()(*args, **kwargs)


_REGISTRY: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}


def register(entry: Entry, *, replace: bool = False) -> Entry:
    """Add an entry; its name and aliases must be new unless ``replace``.

    Raises:
        ValueError: Unknown kind, a name already taken, or a flag declared with another type.

    """
    if entry.kind not in KINDS:
        raise ValueError(f"expected kind in {KINDS}, got {entry.kind!r}")
    table = _REGISTRY[entry.kind]
    for n in (entry.name, *entry.aliases):
        other = _lookup(entry.kind, n)
        if other is not None and other.name != entry.name and not replace:
            raise ValueError(f"{entry.kind} name {n!r} is already taken by {other.name!r}")
        if other is not None and other.name == entry.name and not replace:
            raise ValueError(f"{entry.kind} {entry.name!r} is already registered (pass replace=True)")
    for o in entry.options:
        for e in table.values():
            for p in e.options:
                if p.option_flag == o.option_flag and p.type is not o.type and e.name != entry.name:
                    raise ValueError(f"flag {o.option_flag} is declared by {e.name!r} with another type")
    table[entry.name] = entry
    return entry


def unregister(kind: str, name: str) -> Entry:
    """Remove an entry (tests and plug-ins that replace one); returns it."""
    return _REGISTRY[kind].pop(get(kind, name).name)


def _lookup(kind: str, name: str) -> Entry | None:
    table = _REGISTRY[kind]
    if name in table:
        return table[name]
    return next((e for e in table.values() if name in e.aliases), None)


def entries(kind: str) -> list[Entry]:
    """The registered entries of one kind, in registration order."""
    return list(_REGISTRY[kind].values())


def get(kind: str, name: str) -> Entry:
    """The entry called ``name`` (or one of its aliases).

    Raises:
        UnknownName: No such entry; the message lists the known names.

    """
    e = _lookup(kind, name)
    if e is None:
        known = ", ".join(sorted(_REGISTRY[kind]))
        raise UnknownName(f"unknown {kind} {name!r}; known: {known}")
    return e


def add_arguments(parser: argparse.ArgumentParser, kind: str) -> None:
    """Add every option declared by the entries of ``kind`` to ``parser`` (once per flag).

    Values default to ``None`` (not given), so :func:`options_from_args` can tell what the user
    asked for; the factory's own defaults apply otherwise.
    """
    group = parser.add_argument_group(f"{kind} options (each applies only to the {kind}s named)")
    seen: dict[str, list[str]] = {}
    first: dict[str, Option] = {}
    for e in entries(kind):
        for o in e.options:
            seen.setdefault(o.option_flag, []).append(e.name)
            first.setdefault(o.option_flag, o)
    for flag, owners in seen.items():
        o = first[flag]
        text = f"[{', '.join(owners)}] {o.help}".strip()
        if o.type is bool:
            group.add_argument(flag, dest=o.dest, action="store_true", default=None, help=text)
        else:
            metavar = o.name.upper() if o.choices is None else None
            group.add_argument(
                flag, dest=o.dest, type=o.type, choices=o.choices, default=None, metavar=metavar, help=text
            )


def _flags(entry: Entry) -> set[str]:
    return {o.option_flag for o in entry.options}


def options_from_args(entry: Entry, args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments the user gave for ``entry``.

    Raises:
        OptionError: An option declared only by other entries of the same kind was given.

    """
    mine = {o.option_flag for o in entry.options}
    for e in entries(entry.kind):
        for o in e.options:
            if o.option_flag not in mine and getattr(args, o.dest, None) is not None:
                users = sorted(x.name for x in entries(entry.kind) if o.option_flag in _flags(x))
                raise OptionError(f"{o.option_flag} applies to {entry.kind} {', '.join(users)}, not {entry.name!r}")
    out: dict[str, Any] = {}
    for o in entry.options:
        v = getattr(args, o.dest, None)
        if v is not None:
            out[o.name] = v
    return out


def load_callable(spec: str) -> Callable[..., Any]:
    """Import ``module:function`` or ``path/to/file.py:function``.

    Raises:
        DatakitError: The spec has no ``:``, the module or file cannot be imported, or the
            attribute is missing or not callable (the message names the spec).

    Examples:
        >>> load_callable("os.path:basename")("a/b.jpg")
        'b.jpg'
        >>> load_callable("os.path:nope")
        Traceback (most recent call last):
        ...
        datakit.errors.DatakitError: callable 'os.path:nope': module 'os.path' has no attribute 'nope'

    """
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise DatakitError(f"callable {spec!r}: expected module:function or path/to/file.py:function")
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise DatakitError(f"callable {spec!r}: no such file {path}")
            name = f"_datakit_callable_{abs(hash(str(path.resolve())))}"
            mod_spec = importlib.util.spec_from_file_location(name, path)
            if mod_spec is None or mod_spec.loader is None:
                raise DatakitError(f"callable {spec!r}: cannot import {path}")
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules[name] = module
            mod_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except DatakitError:
        raise
    except Exception as e:  # an import error inside the user's module: say which module
        raise DatakitError(f"callable {spec!r}: cannot import {target}: {type(e).__name__}: {e}") from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise DatakitError(f"callable {spec!r}: module {target!r} has no attribute {attr!r}")
    if not callable(fn):
        raise DatakitError(f"callable {spec!r}: {attr!r} is not callable")
    return fn


# ------------------------------------------------------------------ built-in entries
register(
    Entry(
        "annotator",
        "vlm",
        "annotators.vlm:VLMAnnotator",
        options=(
            Option("model", help="VLM hub id or local folder (default HuggingFaceTB/SmolVLM2-2.2B-Instruct)"),
            Option("prompt", help="VLM prompt (default: the jersey project's JSON-mode prompt)"),
            Option("max_new_tokens", int, help="VLM answer budget in tokens (default 32)"),
            Option("device", help="auto (default), cpu, cuda, cuda:N, mps"),
            Option("dtype", choices=("auto", "float32", "float16", "bfloat16"), help="weights dtype (default auto)"),
        ),
        help="vision-language model: jersey_color, number_color, border",
    )
)
register(
    Entry(
        "annotator",
        "color",
        "annotators.color:ColorAnnotator",
        help="offline colour classifier: jersey_color, number_color, border",
    )
)
register(
    Entry(
        "annotator",
        "ocr",
        "annotators.ocr:OCRAnnotator",
        options=(
            Option(
                "min_confidence",
                float,
                help="confidence from which a disagreement with the label is tagged (default 0.9)",
            ),
        ),
        help="rapidocr number reading: ocr_text, ocr_confidence, ocr_agrees",
    )
)
_DEVICE = Option("device", help="auto (default: cuda when present), cpu, cuda, cuda:N")
register(
    Entry(
        "detector",
        "rfdetr",
        "annotators.detectors.rfdetr:RFDETRDetector",
        options=(
            _DEVICE,
            Option("classes", help="class names of the model's outputs in order (player,ball or a file)"),
            Option("resolution", int, help="input resolution (default: the model's)"),
            Option("optimize", bool, help="use rfdetr's inference-optimised model (model.inference())"),
            Option(
                "backend",
                choices=("torch", "onnx", "openvino"),
                help="torch (rfdetr's predict, default), onnx (rfdetr's ONNX export on ONNX Runtime) or "
                "openvino (the same export on OpenVINO, CPU)",
            ),
            Option(
                "precision",
                choices=("fp32", "bf16"),
                help="fp32 (default: scores equal SAHI's) or bf16 (torch, openvino: faster on CPUs with AMX "
                "and on GPUs, but scores move)",
            ),
        ),
        help="RF-DETR: nano|small|medium|base (hub weights) or a local .pth checkpoint",
        aliases=("nano", "small", "medium", "base", "rfdetr-nano", "rfdetr-small", "rfdetr-medium", "rfdetr-base"),
    )
)
register(
    Entry(
        "detector",
        "hog",
        "annotators.detectors.hog:HOGDetector",
        options=(
            Option("label", help="class name written for each box (default person)"),
            Option("hog_scale", float, help="HOG pyramid scale step (default 1.05)"),
            Option("hog_stride", int, help="HOG window stride in pixels (default 8)"),
        ),
        help="OpenCV's built-in HOG people detector (offline, weak but real)",
    )
)
register(
    Entry(
        "detector",
        "callable",
        "annotators.detectors.callable:CallableDetector",
        help="any Python function module:function or path/to/file.py:function",
    )
)


def resolve_detector(value: str) -> tuple[Entry, str]:
    """The detector entry for a ``--detector`` value, and the value passed to its factory.

    ``a.b:fn`` and ``file.py:fn`` select the callable detector; ``*.pth``/``*.ckpt`` files and
    the RF-DETR sizes select RF-DETR; any other registered name selects that entry.

    Raises:
        UnknownName: Nothing matches (the message lists what would).

    Examples:
        >>> [resolve_detector(v)[0].name for v in ("nano", "runs/best.pth", "hog", "my.mod:detect")]
        ['rfdetr', 'rfdetr', 'hog', 'callable']

    """
    e = _lookup("detector", value)
    if e is not None:
        return e, value
    if value.lower().endswith((".pth", ".ckpt", ".pt")):
        return get("detector", "rfdetr"), value
    if ":" in value and not Path(value).exists():
        return get("detector", "callable"), value
    known = ", ".join(sorted(_REGISTRY["detector"]))
    raise UnknownName(
        f"unknown detector {value!r}; known: {known} (RF-DETR also takes nano|small|medium|base or a .pth "
        "checkpoint; the callable detector takes module:function or path/to/file.py:function)"
    )
