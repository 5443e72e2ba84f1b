"""Jersey and number colours: real team kits, and sampling matched to a reference dataset.

Every colour carries a name from :data:`datakit.vocab.COLORS` (the seed's 13-colour VLM
vocabulary), so rendered metadata compares directly with VLM-annotated real data.

The default palette is built from real basketball team colour schemes: each team contributes a
home kit (white jersey, team-colour number), an away kit (team-colour jersey) and some an
alternate kit, with the team's trim as an outline where the team uses one. Sampling is uniform
over kits. :class:`ColorSampler.from_pairs` instead samples ``(jersey_color, number_color)``
name pairs with the frequencies of a reference dataset, then picks a kit with that pair (or a
shade of the named colours, with a contrasting outline when the pair lacks contrast).

Examples:
    >>> import random
    >>> kit = ColorSampler().sample(random.Random(0))
    >>> kit.jersey_color in COLORS and kit.number_color in COLORS
    True

"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import accumulate

from datakit.vocab import COLOR_RGB, COLORS

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Kit:
    """One jersey colour scheme.

    Attributes:
        team: Where the colours come from (a scheme id, or ``reference``).
        jersey: Jersey RGB.
        jersey_color: Its vocabulary name.
        number: Number fill RGB.
        number_color: Its vocabulary name.
        outline: Outline (trim) RGB, or ``None`` for a one-colour number.
        outline_color: Its vocabulary name, or ``None``.

    """

    team: str
    jersey: RGB
    jersey_color: str
    number: RGB
    number_color: str
    outline: RGB | None = None
    outline_color: str | None = None

    def __post_init__(self) -> None:
        for field, name in (("jersey_color", self.jersey_color), ("number_color", self.number_color)):
            if name not in COLORS:
                raise ValueError(f"kit {self.team!r}: expected {field} in {COLORS}, got {name!r}")
        if (self.outline is None) != (self.outline_color is None):
            raise ValueError(f"kit {self.team!r}: outline and outline_color must both be set or both None")
        if self.outline_color is not None and self.outline_color not in COLORS:
            raise ValueError(f"kit {self.team!r}: expected outline_color in {COLORS}, got {self.outline_color!r}")


_WHITE: tuple[RGB, str] = ((245, 245, 242), "white")
_BLACK: tuple[RGB, str] = ((22, 22, 26), "black")

# Team colour schemes (primary, secondary, trim-or-None, kits), approximating real professional
# basketball teams' published colours. Kits: "h" home (white jersey, primary number, secondary
# trim), "a" away (primary jersey, white number, secondary trim), "a2" away with secondary
# number, "alt" (secondary jersey, primary number).
_TEAMS: dict[str, tuple[tuple[RGB, str], tuple[RGB, str], bool, str]] = {
    "purple-gold": (((85, 37, 130), "purple"), ((253, 185, 39), "yellow"), True, "h a2 alt"),
    "green-white": (((0, 122, 51), "green"), _WHITE, False, "h a"),
    "red-black": (((206, 17, 65), "red"), _BLACK, True, "h a alt"),
    "blue-orange": (((0, 107, 182), "blue"), ((245, 132, 38), "orange"), True, "h a"),
    "royal-yellow": (((29, 66, 138), "blue"), ((255, 199, 44), "yellow"), False, "h a2 alt"),
    "black-red": (_BLACK, ((152, 0, 46), "maroon"), True, "h a"),
    "black-white": (_BLACK, _WHITE, False, "h a"),
    "black-silver": (_BLACK, ((196, 206, 212), "grey"), False, "h a"),
    "royal-navy": (((0, 83, 188), "blue"), ((0, 43, 92), "navy"), True, "h a"),
    "navy-gold": (((13, 34, 64), "navy"), ((255, 198, 39), "yellow"), True, "h a a2"),
    "wine-gold": (((134, 0, 56), "maroon"), ((253, 187, 48), "yellow"), True, "h a2"),
    "purple-orange": (((29, 17, 96), "purple"), ((229, 95, 32), "orange"), False, "h a a2"),
    "navy-green": (((12, 35, 64), "navy"), ((120, 190, 32), "green"), True, "h a"),
    "sky-orange": (((0, 125, 195), "blue"), ((239, 59, 36), "orange"), True, "h a"),
    "teal-purple": (((0, 120, 140), "teal"), ((29, 17, 96), "purple"), True, "h a"),
    "navy-red": (((0, 22, 65), "navy"), ((200, 16, 46), "red"), True, "h a alt"),
    "navy-blue": (((18, 23, 63), "navy"), ((93, 118, 169), "blue"), False, "h a"),
    "red-yellow": (((200, 16, 46), "red"), ((253, 227, 0), "yellow"), False, "h a"),
    "forest-cream": (((0, 71, 27), "green"), ((240, 235, 210), "white"), False, "h a"),
    "blue-red": (((29, 66, 138), "blue"), ((200, 16, 46), "red"), True, "h a alt"),
    "purple-grey": (((91, 43, 130), "purple"), ((99, 113, 122), "grey"), False, "h a"),
    "red-black-2": (((224, 58, 62), "red"), _BLACK, False, "h a"),
    "blue-red-2": (((0, 107, 182), "blue"), ((237, 23, 76), "red"), True, "h a"),
    "navy-red-2": (((0, 43, 92), "navy"), ((227, 24, 55), "red"), False, "h a"),
    "orange-navy": (((247, 105, 0), "orange"), ((0, 32, 91), "navy"), True, "h a"),
    "grey-red": (((110, 110, 115), "grey"), ((200, 16, 46), "red"), False, "a alt"),
    "pink-black": (((236, 120, 170), "pink"), _BLACK, False, "a"),
    "teal-white": (((0, 128, 128), "teal"), _WHITE, False, "a"),
}


def _team_kits() -> tuple[Kit, ...]:
    kits = []
    for team, (primary, secondary, trim, kinds) in _TEAMS.items():
        for kind in kinds.split():
            if kind == "h":
                jersey, number, outline = _WHITE, primary, secondary if trim else None
            elif kind == "a":
                jersey, number, outline = primary, _WHITE, secondary if trim else None
            elif kind == "a2":
                jersey, number, outline = primary, secondary, _WHITE if trim else None
            else:  # alt
                jersey, number, outline = secondary, primary, _WHITE if trim else None
            if outline is not None and (outline[1] == jersey[1] or outline[1] == number[1]):
                outline = _BLACK if jersey[1] != "black" and number[1] != "black" else _WHITE
            if outline is None and contrast(jersey[0], number[0]) < 2.0:
                outline = _WHITE if luminance(number[0]) < 0.3 else _BLACK  # trim makes it readable
            kits.append(
                Kit(f"{team}/{kind}", jersey[0], jersey[1], number[0], number[1],
                    outline[0] if outline else None, outline[1] if outline else None)
            )  # fmt: skip
    return tuple(kits)


def luminance(rgb: RGB) -> float:
    """Relative luminance (WCAG) of an sRGB colour, in [0, 1].

    Examples:
        >>> round(luminance((255, 255, 255)), 3), luminance((0, 0, 0))
        (1.0, 0.0)

    """

    def lin(c: float) -> float:
        c /= 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = rgb
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def contrast(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio of two colours (1 = none, 21 = black on white).

    Examples:
        >>> round(contrast((255, 255, 255), (0, 0, 0)))
        21

    """
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


TEAM_KITS: tuple[Kit, ...] = _team_kits()
"""The default palette: home, away and alternate kits of real team colour schemes."""


def _shade(rng: random.Random, name: str, spread: int = 14) -> RGB:
    r, g, b = COLOR_RGB[name]
    return (
        max(0, min(255, r + rng.randint(-spread, spread))),
        max(0, min(255, g + rng.randint(-spread, spread))),
        max(0, min(255, b + rng.randint(-spread, spread))),
    )


class ColorSampler:
    """Draw a :class:`Kit` per sample: uniform over a palette, or matched to reference pairs.

    Args:
        kits: The palette (default :data:`TEAM_KITS`).
        pairs: ``{(jersey_color, number_color): count}`` from a reference; when given, pairs are
            drawn with these frequencies instead of uniformly over kits.
        outline_p: For a reference pair that no kit has, the chance of a trim outline (pairs
            that lack contrast always get one).

    Examples:
        >>> import random
        >>> s = ColorSampler(pairs={("white", "black"): 3, ("blue", "white"): 1})
        >>> sorted({s.sample(random.Random(i)).jersey_color for i in range(40)})
        ['blue', 'white']

    """

    def __init__(
        self,
        kits: Iterable[Kit] | None = None,
        pairs: Mapping[tuple[str, str], int] | None = None,
        outline_p: float = 0.35,
    ) -> None:
        self.kits = tuple(kits) if kits is not None else TEAM_KITS
        if not self.kits:
            raise ValueError("expected at least one kit in the palette")
        if not 0.0 <= outline_p <= 1.0:
            raise ValueError(f"expected outline_p in [0, 1], got {outline_p}")
        self.outline_p = outline_p
        self.pairs: dict[tuple[str, str], int] | None = None
        if pairs is not None:
            clean = {}
            for (j, n), c in pairs.items():
                if j not in COLORS or n not in COLORS:
                    raise ValueError(f"expected colour names from {COLORS}, got ({j!r}, {n!r})")
                if c > 0:
                    clean[(j, n)] = int(c)
            if not clean:
                raise ValueError("expected at least one (jersey_color, number_color) pair with a count > 0")
            self.pairs = dict(sorted(clean.items()))
        self._pair_keys = list(self.pairs) if self.pairs else []
        self._pair_cum = list(accumulate(self.pairs.values())) if self.pairs else []
        self._by_pair: dict[tuple[str, str], list[Kit]] = {}
        for kit in self.kits:
            self._by_pair.setdefault((kit.jersey_color, kit.number_color), []).append(kit)

    @property
    def mode(self) -> str:
        """``reference`` when sampling reference pairs, else ``palette``."""
        return "reference" if self.pairs else "palette"

    def sample(self, rng: random.Random) -> Kit:
        """Draw one kit with ``rng`` (deterministic for a given generator state)."""
        if not self.pairs:
            return self.kits[rng.randrange(len(self.kits))]
        x = rng.randrange(self._pair_cum[-1])
        jn, nn = self._pair_keys[bisect_right(self._pair_cum, x)]  # first cumulative count > x
        matching = self._by_pair.get((jn, nn))
        if matching:
            return matching[rng.randrange(len(matching))]
        jersey, number = _shade(rng, jn), _shade(rng, nn)
        outline: RGB | None = None
        oname: str | None = None
        need = contrast(jersey, number) < 2.0
        if need or rng.random() < self.outline_p:
            dark = luminance(number) > 0.3  # light number: dark trim, and vice versa
            oname = "black" if dark else "white"
            if oname in (jn, nn):
                oname = "navy" if dark else "yellow"
            outline = _shade(rng, oname, 6)
        return Kit("reference", jersey, jn, number, nn, outline, oname)


def pairs_from_metadata(
    metadata: Iterable[Mapping[str, object] | None],
) -> tuple[dict[tuple[str, str], int], int]:
    """Count ``(jersey_color, number_color)`` pairs in metadata dicts.

    Returns:
        ``(pairs, unusable)``: the counts, and how many rows had no usable pair (missing field,
        or a name outside :data:`datakit.vocab.COLORS`, such as the VLM's ``unknown``).

    Examples:
        >>> pairs_from_metadata([{"jersey_color": "white", "number_color": "black"},
        ...                      {"jersey_color": "white", "number_color": "unknown"}, None])
        ({('white', 'black'): 1}, 2)

    """
    pairs: dict[tuple[str, str], int] = {}
    bad = 0
    colors = frozenset(COLORS)
    for md in metadata:
        j = md.get("jersey_color") if md else None
        n = md.get("number_color") if md else None
        if isinstance(j, str) and isinstance(n, str) and j in colors and n in colors:
            pairs[(j, n)] = pairs.get((j, n), 0) + 1
        else:
            bad += 1
    return pairs, bad
