"""The seed's named degradation presets, at exactly the seed's parameters (experiment log 000).

Each preset reproduces one row of the seed's augmentation sweep: the base pipeline's
``GaussianBlur`` (always applied), the degradation group (wrapped in ``RandomApply(p)`` from
Phase 4 on: ``1 - p`` of samples pass through clean), then ``RandomErasing``. The geometric and
colour steps of the seed's base pipeline (RandomResizedCrop, RandomAffine, RandomPerspective,
ColorJitter) are not degradations and are left to the training recipe; the jersey renderer draws
its own geometry.

The three headline presets:

- ``jpeg_noise_focus`` (Phase 2, #7; best simple config): blur k5 σ 0.1–2.0; JPEG p 0.6 q 15–70;
  noise p 0.5 σ 5–30; erasing p 0.2 area 0.02–0.15.
- ``all_moderate`` (Phase 4, #13): blur k5 σ 0.1–2.0; ``RandomApply(p=0.7)`` of JPEG p 0.55
  q 15–75, pixelate p 0.25 ×0.2–0.7, bilinear p 0.25 ×0.25–0.7, noise p 0.45 σ 5–28, zoom-out
  p 0.35 ×1.1–1.6; erasing p 0.2.
- ``zc_strong_all`` (Phase 6, #17; the seed's final default): blur k7 σ 0.5–3.5;
  ``RandomApply(p=0.85)`` of JPEG p 0.7 q 5–55, pixelate p 0.4 ×0.1–0.5, bilinear p 0.4
  ×0.15–0.55, noise p 0.6 σ 10–40, ``RandomChoice(ZoomIn ×0.5–1.0, ZoomOut ×1.1–2.0)``;
  erasing p 0.3 area 0.02–0.15.

The seed applied these to 224×224 training crops; blur and erasing are in pixels/fractions of
whatever size you feed.

Examples:
    >>> import numpy as np
    >>> t = build_preset("zc_strong_all", seed=0)
    >>> t(image=np.full((96, 96, 3), 128, np.uint8))["image"].shape
    (96, 96, 3)
    >>> PRESETS["jpeg_noise_focus"].jpeg
    (0.6, 15, 70)

"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import albumentations as A

CLEAN = "clean"
"""The no-degradation preset name."""

Prob = float
Range = tuple[float, float]


@dataclass(frozen=True)
class Preset:
    """Parameters of one seed degradation config.

    Attributes:
        name: Preset name.
        phase: Where in the seed's log it comes from.
        random_apply: ``RandomApply`` p around the degradation group, or ``None`` (no wrapper).
        blur: ``(kernel, sigma_min, sigma_max)`` of the always-on GaussianBlur, or ``None``.
        jpeg: ``(p, quality_min, quality_max)`` or ``None``.
        pixelate: ``(p, scale_min, scale_max)`` or ``None``.
        bilinear: ``(p, scale_min, scale_max)`` or ``None``.
        noise: ``(p, sigma_min, sigma_max)`` (0–255 scale) or ``None``.
        zoom_out: ``(p, scale_min, scale_max)`` standalone zoom-out, or ``None``.
        zoom_choice: ``((in_min, in_max), (out_min, out_max))`` for ``RandomChoice(ZoomIn,
            ZoomOut)`` (always applied inside the group), or ``None``.
        erasing: ``(p, area_min, area_max)`` or ``None``.

    """

    name: str
    phase: str
    random_apply: Prob | None = None
    blur: tuple[int, float, float] | None = (5, 0.1, 2.0)
    jpeg: tuple[Prob, int, int] | None = None
    pixelate: tuple[Prob, float, float] | None = None
    bilinear: tuple[Prob, float, float] | None = None
    noise: tuple[Prob, float, float] | None = None
    zoom_out: tuple[Prob, float, float] | None = None
    zoom_choice: tuple[Range, Range] | None = None
    erasing: tuple[Prob, float, float] | None = (0.2, 0.02, 0.15)

    def params(self) -> dict[str, Any]:
        """The parameters as a JSON-friendly dict (recorded in benchmark reports)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def build(self, seed: int | None = None) -> A.Compose:
        """The preset as an ``albumentations.Compose`` (``seed`` for a reproducible stream)."""
        from renderers.albu import load

        A = load()

        from renderers import degradations as D

        group: list[Any] = []
        if self.jpeg:
            group.append(D.jpeg((self.jpeg[1], self.jpeg[2]), self.jpeg[0]))
        if self.pixelate:
            group.append(D.pixelate(self.pixelate[1:], self.pixelate[0]))
        if self.bilinear:
            group.append(D.bilinear_downscale(self.bilinear[1:], self.bilinear[0]))
        if self.noise:
            group.append(D.gaussian_noise(self.noise[1:], self.noise[0]))
        if self.zoom_out:
            group.append(D.ZoomOut(scale=self.zoom_out[1:], p=self.zoom_out[0]))
        if self.zoom_choice:
            zin, zout = self.zoom_choice
            group.append(D.random_choice([D.ZoomIn(scale=zin, p=1.0), D.ZoomOut(scale=zout, p=1.0)]))
        steps: list[Any] = []
        if self.blur:
            steps.append(D.gaussian_blur(self.blur[0], self.blur[1:]))
        if self.random_apply is not None and group:
            steps.append(D.random_apply(group, self.random_apply))
        else:
            steps.extend(group)
        if self.erasing:
            steps.append(D.erasing(self.erasing[1:], self.erasing[0]))
        return A.Compose(steps, seed=seed, strict=True)


_STRONG_BLUR = (7, 0.5, 3.5)
_AM: dict[str, Any] = {  # all_moderate's group (Phase 4)
    "jpeg": (0.55, 15, 75), "pixelate": (0.25, 0.2, 0.7), "bilinear": (0.25, 0.25, 0.7),
    "noise": (0.45, 5.0, 28.0),
}  # fmt: skip


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        # Phase 2: no RandomApply wrapper; base blur and erasing.
        Preset("basketball_jersey", "Phase 1-2 #0 augmented baseline", jpeg=(0.5, 20, 75),
               pixelate=(0.3, 0.25, 0.75), bilinear=(0.3, 0.3, 0.75), noise=(0.3, 5.0, 25.0)),
        Preset("mild", "Phase 2 #1", jpeg=(0.3, 30, 80), pixelate=(0.15, 0.4, 0.8),
               bilinear=(0.15, 0.5, 0.8), noise=(0.15, 5.0, 15.0)),
        Preset("aggressive", "Phase 2 #2", jpeg=(0.7, 10, 60), pixelate=(0.5, 0.15, 0.6),
               bilinear=(0.5, 0.2, 0.6), noise=(0.5, 10.0, 30.0)),
        Preset("high_p_mild_int", "Phase 2 #3", jpeg=(0.6, 40, 85), pixelate=(0.4, 0.5, 0.8),
               bilinear=(0.4, 0.5, 0.8), noise=(0.4, 3.0, 12.0)),
        Preset("low_p_strong_int", "Phase 2 #4", jpeg=(0.2, 5, 40), pixelate=(0.15, 0.15, 0.5),
               bilinear=(0.15, 0.2, 0.5), noise=(0.15, 15.0, 35.0)),
        Preset("no_pixelate", "Phase 2 #5", jpeg=(0.5, 20, 75), bilinear=(0.4, 0.25, 0.7),
               noise=(0.3, 5.0, 25.0)),
        Preset("no_bilinear", "Phase 2 #6", jpeg=(0.5, 20, 75), pixelate=(0.4, 0.2, 0.7),
               noise=(0.3, 5.0, 25.0)),
        Preset("jpeg_noise_focus", "Phase 2 #7 (best simple config)", jpeg=(0.6, 15, 70),
               noise=(0.5, 5.0, 30.0)),
        Preset("uniform_moderate", "Phase 2 #8", jpeg=(0.35, 25, 70), pixelate=(0.35, 0.3, 0.7),
               bilinear=(0.35, 0.35, 0.7), noise=(0.35, 5.0, 20.0)),
        # Phase 3: zoom-out ablation.
        Preset("jpeg_noise_zoomout", "Phase 3 #9", jpeg=(0.6, 15, 70), noise=(0.5, 5.0, 30.0),
               zoom_out=(0.3, 1.1, 1.5)),
        Preset("jpeg_noise_zoomout_agg", "Phase 3 #12", jpeg=(0.6, 15, 70), noise=(0.5, 5.0, 30.0),
               zoom_out=(0.5, 1.2, 2.0)),
        # Phase 4-6: RandomApply clean pass-through.
        Preset("all_moderate", "Phase 4 #13 (kitchen sink, 30% clean)", random_apply=0.7, **_AM,
               zoom_out=(0.35, 1.1, 1.6)),
        Preset("all_moderate_zoom_choice", "Phase 5 #14", random_apply=0.7, **_AM,
               zoom_choice=((0.7, 1.0), (1.1, 1.6))),
        Preset("zc_strong_blur", "Phase 6 #15", random_apply=0.7, blur=_STRONG_BLUR,
               jpeg=_AM["jpeg"], pixelate=_AM["pixelate"], bilinear=(0.4, 0.15, 0.55),
               noise=_AM["noise"], zoom_choice=((0.7, 1.0), (1.1, 1.6))),
        Preset("zc_strong_blur_zoom", "Phase 6 #16", random_apply=0.7, blur=_STRONG_BLUR,
               jpeg=_AM["jpeg"], pixelate=_AM["pixelate"], bilinear=(0.4, 0.15, 0.55),
               noise=_AM["noise"], zoom_choice=((0.5, 1.0), (1.1, 2.0))),
        Preset("zc_strong_all", "Phase 6 #17 (the seed's final default)", random_apply=0.85,
               blur=_STRONG_BLUR, jpeg=(0.7, 5, 55), pixelate=(0.4, 0.1, 0.5),
               bilinear=(0.4, 0.15, 0.55), noise=(0.6, 10.0, 40.0),
               zoom_choice=((0.5, 1.0), (1.1, 2.0)), erasing=(0.3, 0.02, 0.15)),
    ]
}  # fmt: skip
"""Every named seed config; ``jpeg_noise_focus``, ``all_moderate`` and ``zc_strong_all`` are the
headline ones."""

HEADLINE: tuple[str, ...] = ("jpeg_noise_focus", "all_moderate", "zc_strong_all")
"""The presets the issue names."""


def preset_names() -> list[str]:
    """``clean`` followed by every seed preset name.

    Examples:
        >>> preset_names()[:1], "zc_strong_all" in preset_names()
        (['clean'], True)

    """
    return [CLEAN, *PRESETS]


def get_preset(name: str) -> Preset | None:
    """The :class:`Preset` called ``name`` (``None`` for ``clean``).

    Raises:
        ValueError: Unknown name (the message lists the known ones).

    Examples:
        >>> get_preset("all_moderate").random_apply
        0.7
        >>> get_preset("strong")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: unknown preset 'strong'; expected one of clean, basketball_jersey, mild, ...

    """
    if name == CLEAN:
        return None
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(preset_names())}") from None


def build_preset(name: str, seed: int | None = None) -> A.Compose:
    """An ``albumentations.Compose`` for preset ``name`` — use it as training augmentation.

    ``clean`` gives an empty Compose (identity).

    Args:
        name: A name from :func:`preset_names`.
        seed: Seed of the Compose's own random stream (``None``: unseeded).

    Examples:
        >>> import numpy as np
        >>> img = np.full((8, 8, 3), 50, np.uint8)
        >>> (build_preset("clean")(image=img)["image"] == img).all()
        np.True_

    """
    preset = get_preset(name)
    if preset is None:
        from renderers.albu import load

        A = load()

        return A.Compose([], seed=seed)
    return preset.build(seed)
