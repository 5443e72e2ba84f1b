"""Model-backed and classical annotators and detectors: VLM, colour, OCR; RF-DETR, HOG, any callable.

Every annotator and detector is registered by name in :mod:`annotators.registry` (what ``datakit
annotate --with`` and ``datakit pseudo-label --detector`` read). Run an annotator with
:func:`annotators.base.annotate`, a detector with :func:`annotators.pseudo.pseudo_label` (sliced,
batched, resumable; :mod:`annotators.slicing`). Heavy libraries (torch, transformers, rfdetr,
sahi, rapidocr) load only with the annotator or detector that needs them.
"""
