"""Shared vocabularies: the seed's 13 jersey colours, used by renderers, annotators and audits.

Examples:
    >>> len(COLORS), COLORS[0]
    (13, 'white')
    >>> nearest_color((20, 30, 90))
    'navy'

"""

from __future__ import annotations

COLORS: tuple[str, ...] = (
    "white", "black", "red", "blue", "navy", "yellow", "green",
    "purple", "orange", "grey", "maroon", "teal", "pink",
)  # fmt: skip
"""The seed's VLM colour vocabulary (jersey_color / number_color answers must be one of these)."""

COLOR_RGB: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 245),
    "black": (20, 20, 20),
    "red": (200, 30, 40),
    "blue": (30, 90, 200),
    "navy": (20, 30, 80),
    "yellow": (250, 210, 30),
    "green": (20, 130, 60),
    "purple": (100, 40, 140),
    "orange": (245, 120, 20),
    "grey": (128, 128, 128),
    "maroon": (110, 20, 35),
    "teal": (0, 128, 128),
    "pink": (240, 130, 180),
}
"""A representative sRGB value per colour name (rendering defaults, nearest-colour naming)."""

METADATA_FIELDS: tuple[str, ...] = ("jersey_color", "number_color", "border")
"""Metadata keys of the seed's VLM annotation, shared by the renderer's metadata."""


def nearest_color(rgb: tuple[int, int, int]) -> str:
    """The vocabulary name whose representative RGB is closest (plain Euclidean in sRGB)."""
    r, g, b = rgb
    return min(
        COLOR_RGB, key=lambda k: (COLOR_RGB[k][0] - r) ** 2 + (COLOR_RGB[k][1] - g) ** 2 + (COLOR_RGB[k][2] - b) ** 2
    )
