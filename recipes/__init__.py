"""Thin training recipes that read curated datakit datasets and leave the artefacts a user relies on.

- :mod:`recipes.jersey_classifier`: the jersey OCR project's best number classifier (run #21).
- :mod:`recipes.detector`: RF-DETR on the Roboflow COCO export, two phases, small-object mAP.

Both are command-line programs (``datakit train jersey|detector``); importing this package
imports neither torch nor rfdetr.
"""
