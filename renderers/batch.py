"""Render many crops — serially or on several processes, byte-identically — into a dataset.

Sample ``i`` of a run is drawn from :func:`~renderers.jersey.sample_seed` ``(seed, i)`` alone,
so the images do not depend on the number of workers or on how the work is split.

The output is a native JSONL dataset in the seed's layout: ``OUT/<split>/synthetic/`` with
``annotations.jsonl`` and the images beside, so rendering into a reference dataset's root (or
copying the folder there) makes ``datakit.load(root)`` pick the renders up as ``source:
synthetic`` samples of that split. Rows keep the seed's ``prefix``/``suffix`` shape and carry
every rendering parameter in ``metadata``.

Examples:
    >>> import tempfile, pathlib, datakit
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> job = RenderJob(["7", "23"], JerseyConfig(size=48, fonts=("anton",)), seed=3)
    >>> report = write_dataset(job, out, workers=1)
    >>> ds = datakit.load(out)
    >>> ds.count_by("source"), sorted(ds.column("label")), ds[0].metadata["font"]
    ({'synthetic': 2}, ['23', '7'], 'anton')

"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import orjson

from datakit.atomic import atomic_dir, atomic_write_bytes
from datakit.formats.jsonl import ANNOTATIONS, SEED_PROMPT
from renderers.jersey import JerseyConfig, JerseyRenderer, check_label, sample_seed
from renderers.palettes import ColorSampler

IMAGE_FORMATS = ("png", "jpg")


@dataclass(frozen=True)
class RenderJob:
    """What to render: one label per sample, in order, and how.

    Attributes:
        labels: The label of sample ``i`` at position ``i``.
        config: Renderer configuration.
        colors: Kit sampler (default: the team palette).
        seed: Base seed of the run.
        image_format: ``png`` (lossless: the preset's degradations are kept exactly) or ``jpg``.
        prompt: The rows' ``prefix`` (default: the seed's VLM prompt); ``None`` writes ``label``.

    """

    labels: list[str]
    config: JerseyConfig = field(default_factory=JerseyConfig)
    colors: ColorSampler | None = None
    seed: int = 0
    image_format: str = "png"
    prompt: str | None = SEED_PROMPT

    def __post_init__(self) -> None:
        for lab in self.labels:
            check_label(lab)
        if self.image_format not in IMAGE_FORMATS:
            raise ValueError(f"expected image_format in {IMAGE_FORMATS}, got {self.image_format!r}")
        if self.seed < 0:
            raise ValueError(f"expected a non-negative seed, got {self.seed}")


def image_name(index: int, label: str, image_format: str) -> str:
    """File name of sample ``index`` (``syn_000042_23.png``)."""
    return f"syn_{index:06d}_{label}.{image_format}"


def encode(img: np.ndarray, image_format: str) -> bytes:
    """Encode an RGB uint8 image (PNG level 1, or JPEG quality 95) deterministically."""
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    if image_format == "png":
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    else:
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise ValueError(f"could not encode a {img.shape} image as {image_format}")
    return bytes(buf.tobytes())


# ----------------------------------------------------------------------------- workers
_WORKER: dict[str, Any] = {}


def _init_worker(job: RenderJob, folder: str | None, single_thread: bool = True) -> None:
    if single_thread:
        cv2.setNumThreads(1)  # a pool process: one of several, one thread each
    _WORKER["job"] = job
    _WORKER["renderer"] = JerseyRenderer(job.config, job.colors)
    _WORKER["folder"] = folder


def _render_range(start: int, stop: int, raw: bool = False) -> list[tuple[int, dict[str, Any], Any]]:
    """Render samples ``[start, stop)``; write them when the worker has a folder.

    Each item is ``(index, params, image)``: the encoded bytes, ``None`` once written, or the
    RGB array itself when ``raw``.
    """
    job: RenderJob = _WORKER["job"]
    r: JerseyRenderer = _WORKER["renderer"]
    folder: str | None = _WORKER["folder"]
    out: list[tuple[int, dict[str, Any], Any]] = []
    for i in range(start, stop):
        label = job.labels[i]
        img, params = r.render(label, sample_seed(job.seed, i))
        if raw and folder is None:
            out.append((i, params, img))
            continue
        data = encode(img, job.image_format)
        if folder is not None:
            with open(os.path.join(folder, image_name(i, label, job.image_format)), "wb") as f:
                f.write(data)
            out.append((i, params, None))
        else:
            out.append((i, params, data))
    return out


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(n, a + size)) for a in range(0, n, size)]


def render_iter(
    job: RenderJob,
    *,
    workers: int = 1,
    folder: str | Path | None = None,
    chunk: int = 64,
    progress: Callable[[int], None] | None = None,
    raw: bool = False,
    scheduler: str | None = None,
) -> Iterator[tuple[int, dict[str, Any], Any]]:
    """Yield ``(index, params, image)`` for every sample, in index order.

    Args:
        job: What to render.
        workers: Processes (1: in this process).
        folder: Write each image there (then ``None`` is yielded instead of its bytes).
        chunk: Samples per task sent to a worker.
        progress: Called with the number of samples finished so far.
        raw: Yield RGB uint8 arrays instead of encoded bytes (when no ``folder``).
        scheduler: A Dask scheduler (``local:N``, ``tcp://HOST:PORT``; see :mod:`datakit.parallel`):
            workers of a remote scheduler send the encoded images back and this process writes
            them (workers need no shared file system); a ``local:N`` cluster's workers write them
            themselves, as pool workers do. The files are byte-identical to a local run either way.

    """
    if workers < 1:
        raise ValueError(f"expected workers >= 1, got {workers}")
    from datakit.parallel import plan

    if plan(workers, scheduler).kind == "dask":
        yield from _render_dask(job, scheduler, folder, progress, raw)
        return
    n = len(job.labels)
    ranges = _chunks(n, chunk)
    folder_s = str(folder) if folder is not None else None
    done = 0
    # Build the renderer here first: it checks fonts and preset before any work, and forked
    # workers inherit the imported modules (albumentations imports torch: seconds per process).
    _init_worker(job, folder_s, single_thread=False)
    if workers == 1 or len(ranges) <= 1:
        try:
            for a, b in ranges:
                yield from _render_range(a, b, raw)
                done += b - a
                if progress:
                    progress(done)
        finally:
            _WORKER.clear()
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from datakit.parallel import fork_safe, start_method

    method = start_method()
    ctx = multiprocessing.get_context(method)
    try:
        n_proc = min(workers, len(ranges))
        # workers start lazily, so OpenCV stays single-threaded for the pool's whole life
        with fork_safe(method), ProcessPoolExecutor(n_proc, mp_context=ctx, initializer=_init_worker,
                                                    initargs=(job, folder_s)) as pool:  # fmt: skip
            futures = [pool.submit(_render_range, a, b, raw) for a, b in ranges]
            for fut in futures:  # in submission order: index order
                rows = fut.result()
                yield from rows
                done += len(rows)
                if progress:
                    progress(done)
    finally:
        _WORKER.clear()


def _render_dask(
    job: RenderJob,
    scheduler: str | None,
    folder: str | Path | None,
    progress: Callable[[int], None] | None,
    raw: bool,
) -> Iterator[tuple[int, dict[str, Any], Any]]:
    """:func:`render_iter` on a Dask cluster: tasks of ≥ 100 ms, results in index order."""
    import hashlib
    import pickle
    import time

    from datakit.parallel import executor, ordered_map, plan, task_size, with_state, worker_count

    n = len(job.labels)
    _init_worker(job, None, single_thread=False)  # checks fonts and preset here, before any task
    try:
        _render_range(0, min(n, 1), raw)  # the first sample warms caches: not timed
        t0 = time.perf_counter()
        _render_range(min(n, 1), min(n, 4), raw)  # time three more to size the tasks
        per_item = (time.perf_counter() - t0) / max(1, min(n, 4) - min(n, 1))
    finally:
        _WORKER.clear()
    # A loopback cluster's workers share this file system: they write their images themselves,
    # as pool workers do. Workers of a remote scheduler send the bytes back for this process to write.
    local = plan(scheduler=scheduler).address == "local"
    worker_folder = str(folder) if local and folder is not None and not raw else None
    key = hashlib.sha256(pickle.dumps((job, worker_folder))).hexdigest()
    task = with_state(key, _init_worker, (job, worker_folder, True), _render_range)
    done = 0
    with executor(scheduler=scheduler) as ex:
        size = task_size(n, per_item, worker_count(ex))
        ranges = _chunks(n, size)
        for rows in ordered_map(ex, _run_range, [(task, a, b, raw) for a, b in ranges]):
            for i, params, data in rows:
                if folder is not None and worker_folder is None:
                    with open(os.path.join(folder, image_name(i, job.labels[i], job.image_format)), "wb") as f:
                        f.write(data)
                    data = None
                yield i, params, data
            done += len(rows)
            if progress:
                progress(done)


def _run_range(arg: tuple[Callable[..., Any], int, int, bool]) -> list[tuple[int, dict[str, Any], Any]]:
    task, a, b, raw = arg
    return task(a, b, raw)


def render_images(job: RenderJob, *, workers: int = 1) -> list[np.ndarray]:
    """Render every sample of ``job`` in memory (RGB uint8 arrays, not encoded).

    Examples:
        >>> imgs = render_images(RenderJob(["1", "2"], JerseyConfig(size=32, fonts=("anton",))))
        >>> [im.shape for im in imgs]
        [(32, 32, 3), (32, 32, 3)]

    """
    return [img for _, _, img in render_iter(job, workers=workers, raw=True)]


_TOP_LEVEL = ("label", "width", "height")


def _row(job: RenderJob, i: int, params: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in params.items() if k not in _TOP_LEVEL}
    meta["index"] = i
    meta["base_seed"] = job.seed
    row: dict[str, Any] = {"image": image_name(i, params["label"], job.image_format)}
    if job.prompt is not None:
        row["prefix"] = job.prompt
        row["suffix"] = params["label"]
    else:
        row["label"] = params["label"]
    row.update(source="synthetic", width=params["width"], height=params["height"], metadata=meta)
    return row


@dataclass
class RenderReport:
    """What :func:`write_dataset` wrote."""

    folder: Path
    annotations: Path
    samples: int
    per_class: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "folder": str(self.folder),
            "annotations": str(self.annotations),
            "samples": self.samples,
            "per_class": self.per_class,
        }


def write_dataset(
    job: RenderJob,
    out: str | Path,
    *,
    split: str = "train",
    workers: int = 1,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    scheduler: str | None = None,
) -> RenderReport:
    """Render ``job`` into ``out/<split>/synthetic/`` (images + ``annotations.jsonl``), atomically.

    The folder is built under a temporary name and swapped in when complete.

    Args:
        job: What to render.
        out: Dataset root (it may be the reference dataset's root).
        split: Split folder the renders join.
        workers: Processes.
        overwrite: Replace an existing ``out/<split>/synthetic`` folder.
        progress: Called with the number of samples finished.
        scheduler: A Dask scheduler to render on (see :func:`render_iter`).

    Raises:
        FileExistsError: The synthetic folder exists and ``overwrite`` is false.
        ValueError: A bad split name.

    """
    if not split or "/" in split or "\\" in split or split.startswith((".", "_")):
        raise ValueError(f"expected a plain split folder name, got {split!r}")
    target = Path(out) / split / "synthetic"
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass --overwrite to replace it")
    per_class: dict[str, int] = {}
    for lab in job.labels:
        per_class[lab] = per_class.get(lab, 0) + 1
    with atomic_dir(target) as tmp:
        lines = []
        for i, params, _ in render_iter(job, workers=workers, folder=tmp, progress=progress, scheduler=scheduler):
            lines.append(orjson.dumps(_row(job, i, params)))
        atomic_write_bytes(tmp / ANNOTATIONS, b"\n".join(lines) + (b"\n" if lines else b""))
    return RenderReport(target, target / ANNOTATIONS, len(job.labels), per_class)
