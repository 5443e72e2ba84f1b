"""Open-licence sports fonts for jersey numbers, each checked for the digits 0–9 when loaded.

Seven faces come from the ``fontpkg-*`` packages of the ``render`` extra (Anton, Oswald, Bebas
Neue, Russo One, Black Ops One, Teko, Fjalla One); the varsity block face Graduate is vendored
under ``renderers/fonts/`` (WOFF2 from npm ``@fontsource/graduate``). All are SIL OFL 1.1; each
font's licence text ships beside it (:attr:`FontSpec.license`).

Examples:
    >>> "graduate" in font_names()
    True
    >>> spec = load_font("graduate")
    >>> spec.style, spec.license.name
    ('varsity', 'OFL-Graduate.txt')

"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from datakit.errors import DatakitError

FONT_DIR = Path(__file__).with_name("fonts")
"""Vendored font files and their licence texts."""

DIGITS = "0123456789"


class FontError(DatakitError):
    """A font cannot be used: missing file, unreadable, or missing a digit glyph."""


@dataclass(frozen=True)
class FontSpec:
    """A checked, loadable font.

    Attributes:
        name: Short name used in metadata and on the command line (``anton``).
        family: Family name (``Anton``).
        style: ``varsity``, ``block``, ``condensed``, ``squared`` or ``stencil``.
        path: The font file (TTF/OTF/WOFF2).
        license: The licence text shipped with the font.
        weight: Weight axis value for a variable font (``None``: the file's default).

    """

    name: str
    family: str
    style: str
    path: Path
    license: Path
    weight: int | None = None


# name -> (family, style, fontpkg family or None, vendored file, vendored licence)
_BUILTIN: dict[str, tuple[str, str, str | None, str | None, str | None]] = {
    "graduate": ("Graduate", "varsity", None, "graduate-latin-400-normal.woff2", "OFL-Graduate.txt"),
    "anton": ("Anton", "condensed", "Anton", None, None),
    "oswald": ("Oswald", "condensed", "Oswald", None, None),  # variable: drawn Bold
    "bebas-neue": ("Bebas Neue", "condensed", "Bebas Neue", None, None),
    "russo-one": ("Russo One", "squared", "Russo One", None, None),
    "black-ops-one": ("Black Ops One", "stencil", "Black Ops One", None, None),
    "teko": ("Teko", "squared", "Teko", None, None),
    "fjalla-one": ("Fjalla One", "block", "Fjalla One", None, None),
}

_WEIGHTS = {"oswald": 700, "teko": 600}  # variable fonts: jersey numbers are bold

DEFAULT_FONTS: tuple[str, ...] = tuple(_BUILTIN)
"""Every built-in font, varsity face first."""


def font_names() -> list[str]:
    """Names of the built-in fonts.

    Examples:
        >>> font_names()[:2]
        ['graduate', 'anton']

    """
    return list(_BUILTIN)


def check_digits(path: str | Path, name: str | None = None, chars: str = DIGITS) -> None:
    """Refuse a font that lacks a glyph (or has an empty glyph) for any of ``chars``.

    Args:
        path: Font file (TTF, OTF, WOFF, WOFF2).
        name: Font name used in the message (default: the file name).
        chars: Characters that must be drawable.

    Raises:
        FontError: The file cannot be read, or a character is missing; the message names the
            font and the glyph.

    Examples:
        >>> check_digits(load_font("anton").path)

    """
    from fontTools.ttLib import TTFont, TTLibError

    label = name or Path(path).name
    try:
        font = TTFont(str(path), lazy=True)
    except (OSError, TTLibError, ValueError, ImportError) as e:
        raise FontError(f"font {label!r} ({path}): cannot be read ({e})") from None
    try:
        cmap = font.getBestCmap() or {}
        glyf = font.get("glyf", None)
        for ch in chars:
            glyph = cmap.get(ord(ch))
            if glyph is None:
                raise FontError(f"font {label!r} ({path}) has no glyph for digit {ch!r}")
            if glyf is not None and glyph in glyf and glyf[glyph].numberOfContours == 0:
                raise FontError(f"font {label!r} ({path}) has an empty glyph for digit {ch!r}")
    finally:
        font.close()


def _resolve(name: str) -> FontSpec:
    family, style, pkg_family, vendored, licence = _BUILTIN[name]
    if vendored is not None:
        path = FONT_DIR / vendored
        lic = FONT_DIR / (licence or "")
    else:
        try:
            import fontpkg
        except ImportError:
            raise FontError(f"font {name!r} needs the fontpkg packages: install datakit[render]") from None
        try:
            path = Path(fontpkg.path(pkg_family, nearest=True))
        except Exception as e:  # fontpkg raises its own FamilyNotInstalled/...
            raise FontError(f"font {name!r}: {e} (pip install fontpkg-{name})") from None
        lic = path.parent.parent / "LICENSE"
    if not path.is_file():
        raise FontError(f"font {name!r}: file not found: {path}")
    if not lic.is_file():
        raise FontError(f"font {name!r}: licence text not found: {lic}")
    return FontSpec(name, family, style, path, lic, _WEIGHTS.get(name))


@functools.cache
def load_font(name: str) -> FontSpec:
    """Resolve a built-in font by name, or a font file by path, and check its digits.

    Args:
        name: A name from :func:`font_names`, or a path to a TTF/OTF/WOFF2 file (its licence
            is then the user's business and ``license`` points at the file itself).

    Returns:
        The checked :class:`FontSpec`.

    Raises:
        FontError: Unknown name, missing file, or a missing digit glyph.

    Examples:
        >>> load_font("teko").family
        'Teko'
        >>> load_font("comic")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        renderers.fonts.FontError: unknown font 'comic'; expected a file or one of graduate, anton, ...

    """
    if name in _BUILTIN:
        spec = _resolve(name)
    else:
        p = Path(name)
        if not p.suffix or not p.is_file():
            raise FontError(f"unknown font {name!r}; expected a file or one of {', '.join(_BUILTIN)}")
        spec = FontSpec(p.stem, p.stem, "custom", p, p)
    check_digits(spec.path, spec.name)
    return spec


def load_fonts(names: list[str] | tuple[str, ...] | None = None) -> list[FontSpec]:
    """Load and check several fonts (default: all built-in fonts).

    Examples:
        >>> [f.name for f in load_fonts(["anton", "graduate"])]
        ['anton', 'graduate']

    """
    names = list(names) if names else list(DEFAULT_FONTS)
    if len(set(names)) != len(names):
        raise FontError(f"font listed twice in {names}")
    return [load_font(n) for n in names]
