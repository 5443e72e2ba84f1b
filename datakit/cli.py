"""The ``datakit`` command line.

Every command takes a dataset path, writes outputs under ``--out``, prints a short human summary
(or one JSON object with ``--json``), exits 0 on success and non-zero with a one-line error naming
the file (and line or id) on bad input.

Core commands live in :mod:`datakit.commands`; packages that build on datakit (``renderers``,
``annotators``) add theirs through the ``datakit.commands`` entry-point group, so the core never
imports them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from datakit import __version__
from datakit.errors import DatakitError


def core_commands() -> list[str]:
    """Module names under :mod:`datakit.commands`; each exposes ``register(subparsers)``."""
    import pkgutil

    import datakit.commands

    return sorted(m.name for m in pkgutil.iter_modules(datakit.commands.__path__) if not m.name.startswith("_"))


class CommandError(DatakitError):
    """A command failed for a reason the user can fix; printed as one line."""


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser with every core and plug-in command registered.

    Given the command line, a core command registers alone: its run then skips importing every
    other command and scanning the installed packages for plug-ins (about 0.1 s of each run).
    """
    parser = argparse.ArgumentParser(
        prog="datakit",
        description="Dataset engineering for sports computer vision.",
    )
    parser.add_argument("--version", action="version", version=f"datakit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    core = core_commands()
    first = argv[0].replace("-", "_") if argv else ""
    if first in core:
        importlib.import_module(f"datakit.commands.{first}").register(sub)
        return parser
    for name in core:
        importlib.import_module(f"datakit.commands.{name}").register(sub)
    for ep in sorted(entry_points(group="datakit.commands"), key=lambda e: e.name):
        if ep.name in sub.choices:
            continue
        try:
            register = ep.load()
        except ImportError as e:  # the plug-in package or one of its extras is missing
            p = sub.add_parser(ep.name, help=f"(unavailable: {e})")
            p.set_defaults(func=_unavailable(ep.name, str(e)))
            continue
        register(sub)
    return parser


def _unavailable(name: str, why: str):
    def run(args: argparse.Namespace) -> int:
        raise CommandError(f"command {name!r} is not available: {why} (install datakit[all])")

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 bad input, 2 bad usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        from datakit.commands._common import check_out

        check_out(args)  # --out never the input nor inside it, for every command
        return int(args.func(args) or 0)
    except (DatakitError, FileNotFoundError, NotADirectoryError, ValueError, KeyError) as e:
        msg = str(e) if not isinstance(e, KeyError) else str(e.args[0] if e.args else e)
        print(f"datakit {args.command}: error: {msg.splitlines()[0] if msg else type(e).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"datakit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
