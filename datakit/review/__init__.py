"""Review in the FiftyOne App, and bring the reviewer's edits back (extra ``review``).

* :func:`datakit.review.build.to_fiftyone` builds a persistent FiftyOne dataset from a datakit
  dataset: absolute file paths, the label as a ``Classification``, detections as ``Detections``
  (normalised boxes, confidence, attributes), every metadata key as a field, tags, ``source``,
  and a saved view ``review_queue`` in selection order.
* :func:`datakit.review.pull.pull` reads the FiftyOne dataset back and merges what changed into
  the source dataset by datakit id — the ``datakit_id`` field of every sample and the
  ``datakit_id`` attribute of every detection — never by position or FiftyOne's label ids.
* :mod:`datakit.review.labels` and :mod:`datakit.review.diff` are the pure parts (ids, box
  conversion, diffing) and need no FiftyOne.

``fiftyone`` is imported only inside the functions that talk to it: ``import datakit.review``
stays light.

Examples:
    >>> from datakit.review.labels import mint_detection_ids
    >>> mint_detection_ids("train/a.jpg", [None, {"datakit_id": "x"}])
    ['train/a.jpg#d0', 'x']

"""

from __future__ import annotations

DATAKIT_ID = "datakit_id"
"""Name of the sample field and of the detection attribute that carry datakit ids into FiftyOne."""

QUEUE_VIEW = "review_queue"
"""Name of the saved view holding the review queue in selection order."""

__all__ = ["DATAKIT_ID", "QUEUE_VIEW"]
