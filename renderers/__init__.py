"""renderers: synthetic jersey-number crops for datakit (the ``render`` extra).

Modules: :mod:`~renderers.fonts` (checked sports fonts), :mod:`~renderers.palettes` (team kits,
reference-matched colours), :mod:`~renderers.jersey` (the renderer), :mod:`~renderers.degradations`
and :mod:`~renderers.presets` (the seed's broadcast degradations as albumentations transforms),
:mod:`~renderers.fill` (rare-class fill plans), :mod:`~renderers.batch` (deterministic parallel
rendering into a dataset), :mod:`~renderers.sheet` (contact sheets), :mod:`~renderers.legibility`
(offline OCR read rate) and :mod:`~renderers.cli` (``datakit render``).

Nothing heavy is imported here: ``import renderers`` is instant.

Examples:
    >>> from renderers.jersey import JerseyConfig, JerseyRenderer
    >>> img, params = JerseyRenderer(JerseyConfig(size=64, fonts=("graduate",))).render("23", seed=1)
    >>> img.shape, params["font"]
    ((64, 64, 3), 'graduate')

"""
