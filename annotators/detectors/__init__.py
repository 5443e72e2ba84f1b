"""Detectors for pseudo-labeling: one small interface (:mod:`annotators.detectors.base`), one module each.

``rfdetr`` (RF-DETR by size or checkpoint), ``hog`` (OpenCV's people detector) and ``callable``
(any Python function). They are registered by name in :mod:`annotators.registry`; import the
module you need, heavy libraries load only there.
"""
