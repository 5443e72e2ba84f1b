"""Decode the planned frames of one video and write them as images, resumably.

Decoding is PyAV's (FFmpeg through its C API): packets are demuxed once for the frame index
(:mod:`datakit.video.index`), each run of wanted frames is reached by one keyframe seek, and
frames are decoded forward; only kept frames are converted to pixels. H.264 frames no wanted
frame depends on cost (almost) nothing: disposable ones are not sent to the decoder, reference
ones only as their slice headers (:mod:`datakit.video.h264refs`, planned once per video for
sparse selections). OpenCV's
``VideoCapture`` was measured beside it (1080p H.264, 300 frames): ``grab()`` decodes at about
the same speed, but it converts every ``read()`` frame, gives no packet timestamps, and its
``CAP_PROP_POS_FRAMES`` seek is inexact on variable-frame-rate files, so frame indices could not
be exact.

**Decoder threads.** The wanted frames are cut at keyframes into chunks of about equal work
(:func:`~datakit.video.plan.split_runs`, :data:`CHUNKS_PER_THREAD` per thread); ``decoders``
threads, each with its own container and a single-threaded decoder, take the chunks in frame
order and seek to each chunk's keyframe. PyAV releases the GIL while decoding, so on 1080p H.264
(quiet 2-core VM) two such threads decoded the file in 4.2 s where one container with FFmpeg's
frame threads took 5.4 s. Each thread also encodes its kept frames
(:func:`~datakit.video.encode.encode_frame`: JPEG straight from the YUV planes, which releases
the GIL too). ``--skip-similar`` compares each frame with the last kept one, so it runs on one
thread (one container with FFmpeg's frame threads and a pool of encoder threads), as does
``decoders=1``. Both ways give byte-identical images and the same journal.

Every decision (kept, or skipped as similar) is appended to a journal
``<out>/.datakit-frames/<key>.jsonl`` after its image is in place (images are written
atomically), in frame order also with several decoder threads: the journaling thread holds back
the lines of later chunks until the earlier ones are complete (a ``kill -9`` then costs at most
about one chunk per thread of rewritten images). A rerun reads the journal and decodes only
the frames still missing; an image written just before a ``kill -9`` but not journaled is
rewritten under the same name, so no frame is ever duplicated. :func:`extract_video` is a pure
function of a picklable :class:`VideoTask`: one task per video, ready for a process pool.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from datakit.atomic import atomic_write_bytes
from datakit.errors import FormatError, Skip
from datakit.video.decode import decode_runs, open_video, packet_filter, reference_cuts
from datakit.video.encode import encode_frame
from datakit.video.index import VideoIndex
from datakit.video.plan import FramePlan, Selection, auto_decoders, is_sparse, split_runs

JOURNAL_DIR = ".datakit-frames"
"""Hidden folder under the dataset root holding one journal per video."""

CUT_DISTANCE = 0.4
"""Total-variation distance of the colour histograms of consecutive frames that marks a scene cut."""

_INFLIGHT = 8
_DONE: Future[None] = Future()
_DONE.set_result(None)


@dataclass(frozen=True)
class VideoTask:
    """Everything :func:`extract_video` needs for one video (picklable).

    Attributes:
        video: The video path as given.
        video_meta: The ``video`` metadata value (relative to the root when inside it).
        key: The video's folder name under ``frames/`` and its journal name.
        index: The frame index from :func:`~datakit.video.index.probe`.
        plan: The frames to take (:func:`~datakit.video.plan.plan_frames`).
        selection: The options (their fingerprint guards a resumed run).
        out: The dataset root.
        split: Split of every frame, or ``None`` (images go to ``unsplit/``).
        image_format: ``"jpg"`` or ``"png"``.
        quality: JPEG quality (1–100).
        lenient: Count frames that do not decode (a truncated file) instead of failing.
        progress: Show a tqdm bar.
        writers: Encoder/writer threads of the one-thread decoder (``0``: encode on the decoding thread).
        decoders: Decoder threads for this video (``0``: automatic, see :func:`auto_decoders`;
            ``1``: one container with FFmpeg's frame threads). ``skip_similar`` always uses one.
        cores: CPU cores this video may use when ``decoders`` is automatic (``0``: all of this
            process's; a caller running several videos at once gives each its share).

    """

    video: str
    video_meta: str
    key: str
    index: VideoIndex
    plan: FramePlan
    selection: Selection
    out: str
    split: str | None = None
    image_format: str = "jpg"
    quality: int = 95
    lenient: bool = False
    progress: bool = False
    writers: int = 2
    decoders: int = 0
    cores: int = 0

    @property
    def folder(self) -> str:
        """Image folder relative to the root: ``<split or unsplit>/frames/<key>``."""
        return f"{self.split or 'unsplit'}/frames/{self.key}"

    def header(self) -> dict[str, Any]:
        """The journal's first line: what a resumed run must match."""
        st = os.stat(self.video)
        return {
            "video": os.path.abspath(self.video), "video_meta": self.video_meta, "key": self.key,
            "size": st.st_size, "mtime_ns": st.st_mtime_ns, "split": self.split,
            "format": self.image_format, "quality": self.quality, "options": self.selection.fingerprint(),
        }  # fmt: skip


@dataclass
class VideoResult:
    """What one video gave.

    Attributes:
        video: The video as given.
        key: Its folder name.
        rows: One dict per kept frame (``image``, ``metadata``, ``width``, ``height``, ``split``), in frame order.
        planned: Frames the plan asked for.
        event_frames: Of those, frames taken for an event.
        written: Images written by this run.
        resumed: Frames found done in the journal.
        skipped_similar: Regular frames skipped as too similar to the last kept one.
        scene_cuts: Scene cuts seen (with ``skip_similar``).
        seeks: Keyframe seeks made.
        decoded: Frames decoded.
        not_decoded: Disposable frames (H.264, referenced by no other frame) not sent to the decoder.
        cut: Reference frames no wanted frame needs, sent to the decoder as slice headers only
            (:mod:`datakit.video.h264refs`).
        decoders: Decoder threads this run used (``0`` when nothing was left to decode).
        selected: Regular + event frames the options selected before the cap.
        capped: Frames the cap removed.
        skips: Frames (or events) counted as skipped with ``lenient``.

    """

    video: str
    key: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    planned: int = 0
    event_frames: int = 0
    written: int = 0
    resumed: int = 0
    skipped_similar: int = 0
    scene_cuts: int = 0
    seeks: int = 0
    decoded: int = 0
    not_decoded: int = 0
    cut: int = 0
    decoders: int = 0
    selected: int = 0
    capped: int = 0
    skips: list[Skip] = field(default_factory=list)


def read_journal(path: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]], bool]:
    r"""``(header, decisions, done)`` of a journal; a torn last line (a ``kill -9``) is ignored.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "v.jsonl"
        >>> _ = p.write_bytes(b'{"video": "v.mp4"}\n{"i": 0, "kept": true}\n{"i": 3, "ke')
        >>> h, rows, done = read_journal(p)
        >>> h["video"], [r["i"] for r in rows], done
        ('v.mp4', [0], False)

    """
    if not path.is_file():
        return None, [], False
    header: dict[str, Any] | None = None
    rows: list[dict[str, Any]] = []
    done = False
    for line in path.read_bytes().split(b"\n"):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            break  # the torn tail of a killed run; everything after it is rewritten
        if header is None:
            header = obj
        elif obj.get("done"):
            done = True
        else:
            rows.append(obj)
    return header, rows, done


def _open_journal(path: Path, header: dict[str, Any], fresh: bool) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fresh:
        atomic_write_bytes(path, orjson.dumps(header) + b"\n")
    else:  # cut a torn last line so the next append starts on a line of its own
        data = path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            with open(path, "r+b") as f:
                f.truncate(keep)
    return open(path, "ab")


def _colour_hist(thumb: np.ndarray) -> np.ndarray:
    q = (thumb >> 6).astype(np.int64)
    codes = (q[..., 0] << 4) | (q[..., 1] << 2) | q[..., 2]
    return np.bincount(codes.ravel(), minlength=64).astype(np.float64) / codes.size


def _grey(thumb: np.ndarray) -> np.ndarray:
    return thumb[..., 0] * 0.299 + thumb[..., 1] * 0.587 + thumb[..., 2] * 0.114


def _encode_write(path: Path, frame: Any, fmt: str, quality: int) -> None:
    atomic_write_bytes(path, encode_frame(frame, fmt, quality))


def _frame_row(task: VideoTask, i: int, image: str) -> dict[str, Any]:
    ix = task.index
    meta: dict[str, Any] = {
        "video": task.video_meta, "frame_index": int(i),
        "timestamp_s": round(float(ix.timestamps[i]), 6), "fps": round(ix.fps, 6),
    }  # fmt: skip
    k = int(np.searchsorted(task.plan.indices, i))
    ev = task.plan.events[k] if k < len(task.plan.events) and task.plan.indices[k] == i else None
    if ev is not None:
        meta["event"] = ev.label
        meta["event_index"] = ev.index
        if ev.time_s is not None:
            meta["event_time_s"] = round(ev.time_s, 6)
    return {"image": image, "metadata": meta, "width": ix.width, "height": ix.height, "split": task.split}


def extract_video(task: VideoTask) -> VideoResult:
    """Decode and write the planned frames of one video, continuing from its journal.

    Raises:
        FormatError: The journal belongs to other options or a changed video, or (without
            ``lenient``) a planned frame could not be decoded (a truncated or corrupt file).

    Examples:
        >>> import tempfile, pathlib, av, numpy as np
        >>> from datakit.video import probe, plan_frames, Selection
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> with av.open(str(d / "v.mp4"), "w") as c:
        ...     s = c.add_stream("mpeg4", rate=10); s.width, s.height = 32, 32
        ...     for i in range(20):
        ...         for p in s.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 10, np.uint8))):
        ...             c.mux(p)
        ...     for p in s.encode():
        ...         c.mux(p)
        >>> ix = probe(d / "v.mp4"); sel = Selection(every=5)
        >>> task = VideoTask(str(d / "v.mp4"), "v.mp4", "v", ix, plan_frames(ix, sel), sel, str(d / "out"))
        >>> r = extract_video(task)
        >>> [row["metadata"]["frame_index"] for row in r.rows], r.written
        ([0, 5, 10, 15], 4)
        >>> extract_video(task).written
        0

    """
    out = Path(task.out)
    result = VideoResult(task.video, task.key, planned=len(task.plan.indices),
                         event_frames=sum(e is not None for e in task.plan.events),
                         selected=task.plan.selected, capped=task.plan.capped, skips=list(task.plan.skips))  # fmt: skip
    jpath = out / JOURNAL_DIR / f"{task.key}.jsonl"
    header = task.header()
    old_header, decisions, done = read_journal(jpath)
    if old_header is not None:
        _check_header(jpath, old_header, header)
    folder = out / task.folder
    kept: dict[int, dict[str, Any]] = {}
    settled: set[int] = set()
    last_hash: int | None = None
    for d in decisions:
        i = int(d["i"])
        if d.get("kept"):
            if "row" not in d or not (out / d["image"]).is_file():
                continue  # deleted since: extract it again
            kept[i] = d
            last_hash = d.get("hash", last_hash)
        else:
            result.skipped_similar += d.get("skipped") == "similar"
        settled.add(i)
    result.resumed = len(kept)
    todo = np.array([i for i in task.plan.indices.tolist() if i not in settled], dtype=np.int64)
    if done and todo.size == 0:
        result.rows = [kept[i]["row"] for i in sorted(kept)]
        return result
    if folder.is_dir():
        for stale in folder.glob(".*.tmp"):  # half-written images of a killed run
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    journal = _open_journal(jpath, header, fresh=old_header is None)
    try:
        similar = task.selection.skip_similar is not None  # compares with the last kept frame: one thread
        threads_n = 1 if similar else task.decoders or auto_decoders(todo, task.cores)
        cuts = reference_cuts(task.video, task.index, todo) if is_sparse(todo) else None
        if threads_n < 2 or not _decode_split(task, todo, threads_n, kept, journal, result, cuts):
            result.decoders = 1
            _decode(task, todo, kept, last_hash, journal, result, cuts)
        journal.write(orjson.dumps({"done": True}) + b"\n")
        journal.flush()
        os.fsync(journal.fileno())
    finally:
        journal.close()
    result.rows = [kept[i]["row"] for i in sorted(kept)]
    return result


def _check_header(jpath: Path, old: dict[str, Any], new: dict[str, Any]) -> None:
    if old.get("video") != new["video"]:
        raise FormatError(jpath, None, f"journal of another video ({old.get('video')}); use another --out")
    if (old.get("size"), old.get("mtime_ns")) != (new["size"], new["mtime_ns"]):
        raise FormatError(new["video"], None, "changed since its frames were extracted here; use another --out")
    for k in ("options", "split", "format", "quality"):
        if old.get(k) != new[k]:
            raise FormatError(jpath, None, f"frames of this video were extracted with other {k} "
                              f"({old.get(k)!r}); rerun with the same options or use another --out")  # fmt: skip


def _decode(
    task: VideoTask,
    todo: np.ndarray,
    kept: dict[int, dict[str, Any]],
    last_hash: int | None,
    journal: IO[bytes],
    result: VideoResult,
    cuts: dict[int, tuple[int, ...]] | None = None,
) -> None:

    from datakit.dedup.hashing import phash_from_thumbnail

    ix, plan = task.index, task.plan
    regular = dict(zip(plan.indices.tolist(), plan.regular.tolist(), strict=True))
    similar = task.selection.skip_similar
    ext = "png" if task.image_format == "png" else "jpg"
    pending: collections.deque[tuple[int, Future[None] | None, dict[str, Any]]] = collections.deque()
    bar = None
    if task.progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=Path(task.video).name, unit="frame", leave=False)

    def settle(block: bool) -> None:
        while pending and (block or len(pending) > _INFLIGHT or pending[0][1] is None or pending[0][1].done()):
            i, fut, line = pending.popleft()
            if fut is not None:
                fut.result()
                kept[i] = line
            journal.write(orjson.dumps(line) + b"\n")
            journal.flush()
            if bar is not None:
                bar.update(1)

    prev_hist: np.ndarray | None = None
    cut = False
    got: set[int] = set()
    want = set(todo.tolist())
    with ThreadPoolExecutor(max(1, task.writers)) as pool, open_video(task.video) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        send = packet_filter(stream, ix, todo, result, cuts)
        for i, frame in decode_runs(container, stream, ix, todo, result, send, seek_first=False):
            thumb = None
            if similar is not None:
                thumb = frame.reformat(width=32, height=32, format="rgb24", interpolation="AREA").to_ndarray()
                hist = _colour_hist(thumb)
                if prev_hist is not None and 0.5 * float(np.abs(hist - prev_hist).sum()) > CUT_DISTANCE:
                    cut = True
                    result.scene_cuts += 1
                prev_hist = hist
            if i in want:
                got.add(i)
                h = phash_from_thumbnail(_grey(thumb)) if thumb is not None else None
                if (h is not None and similar is not None and regular.get(i) and last_hash is not None
                        and not cut and bin(h ^ last_hash).count("1") <= similar):  # fmt: skip
                    dist = bin(h ^ last_hash).count("1")
                    pending.append((i, None, {"i": i, "skipped": "similar", "d": dist, "hash": h}))
                    result.skipped_similar += 1
                else:
                    if h is not None:
                        last_hash, cut = h, False
                    rel = f"{task.folder}/{i:06d}.{ext}"
                    if task.writers > 0:
                        fut = pool.submit(_encode_write, Path(task.out) / rel, frame, ext, task.quality)
                    else:
                        _encode_write(Path(task.out) / rel, frame, ext, task.quality)
                        fut = _DONE
                    line = {"i": i, "kept": True, "image": rel, "hash": h, "row": _frame_row(task, i, rel)}
                    pending.append((i, fut, line))
                    result.written += 1
                settle(False)
        settle(True)  # frames not reached (corrupt or truncated data) are reported below
    if bar is not None:
        bar.close()
    _check_missing(task, todo, got, result)


def _check_missing(task: VideoTask, todo: np.ndarray, got: set[int], result: VideoResult) -> None:
    missing = [i for i in todo.tolist() if i not in got]
    if missing:
        reason = f"{len(missing)} planned frames did not decode (from frame {missing[0]}): file truncated or corrupt"
        if not task.lenient:
            raise FormatError(task.video, f"frame {missing[0]}", reason)
        result.skips.append(Skip(task.video, f"frame {missing[0]}", reason))


def _decode_chunks(task: VideoTask, chunks: list[np.ndarray], take: Callable[[], int | None],
                   stop: threading.Event, put: Callable[[tuple[str, int, Any]], None],
                   counts: VideoResult, cuts: dict[int, tuple[int, ...]] | None = None) -> None:  # fmt: skip
    """One decoder thread: its own container; takes chunks in order, writes each kept frame."""
    ix = task.index
    ext = "png" if task.image_format == "png" else "jpg"
    with open_video(task.video) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1  # the parallelism is the threads; FFmpeg's frame threads cost more here
        send = packet_filter(stream, ix, np.concatenate(chunks), counts, cuts)
        started = False
        while (j := take()) is not None:
            want = set(chunks[j].tolist())
            # frames not reached (corrupt or truncated data) are reported by the caller
            for i, frame in decode_runs(container, stream, ix, chunks[j], counts, send, seek_first=started):
                if stop.is_set():
                    return
                if i in want:
                    rel = f"{task.folder}/{i:06d}.{ext}"
                    _encode_write(Path(task.out) / rel, frame, ext, task.quality)
                    put(("line", j, {"i": i, "kept": True, "image": rel, "hash": None,
                                     "row": _frame_row(task, i, rel)}))  # fmt: skip
            started = True
            put(("chunk", j, None))


CHUNKS_PER_THREAD = 4
"""Chunks of work per decoder thread: threads take them in frame order and run at most one chunk
per other thread ahead of the chunk being journaled (the journal is in frame order)."""


def _decode_split(
    task: VideoTask,
    todo: np.ndarray,
    threads_n: int,
    kept: dict[int, dict[str, Any]],
    journal: IO[bytes],
    result: VideoResult,
    cuts: dict[int, tuple[int, ...]] | None = None,
) -> bool:
    """Decode ``todo`` on ``threads_n`` threads; this thread journals in frame order.

    Returns ``False`` (nothing done) when the frames do not split into two chunks or more.
    """
    chunks = split_runs(task.index, todo, threads_n * CHUNKS_PER_THREAD)
    if len(chunks) < 2:
        return False
    threads_n = result.decoders = min(threads_n, len(chunks))
    bar = None
    if task.progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=Path(task.video).name, unit="frame", leave=False)
    messages: queue.SimpleQueue[tuple[str, int, Any]] = queue.SimpleQueue()
    stop = threading.Event()
    counts = [VideoResult(task.video, task.key) for _ in range(threads_n)]
    turn = threading.Condition()
    state = {"next": 0, "journaling": 0}  # next chunk to hand out; the chunk being journaled

    def take() -> int | None:
        # A thread does not run more than threads_n - 1 chunks ahead of the one being journaled,
        # so at most that many chunks of written images wait for their journal lines.
        with turn:
            while not stop.is_set() and state["next"] >= state["journaling"] + threads_n:
                turn.wait(0.1)
            if stop.is_set() or state["next"] >= len(chunks):
                return None
            state["next"] += 1
            return state["next"] - 1

    def work(c: VideoResult) -> None:
        try:
            _decode_chunks(task, chunks, take, stop, messages.put, c, cuts)
        except BaseException as e:  # handed to the journaling thread, which raises it
            messages.put(("error", -1, e))
        finally:
            messages.put(("end", -1, None))

    threads = [threading.Thread(target=work, args=(c,), name=f"datakit-decode-{n}", daemon=True)
               for n, c in enumerate(counts)]  # fmt: skip
    got: set[int] = set()
    waiting: dict[int, list[dict[str, Any]]] = collections.defaultdict(list)
    finished: set[int] = set()
    current = 0
    error: BaseException | None = None

    def journal_line(line: dict[str, Any]) -> None:
        journal.write(orjson.dumps(line) + b"\n")
        journal.flush()
        kept[line["i"]] = line
        got.add(line["i"])
        result.written += 1
        if bar is not None:
            bar.update(1)

    import cv2

    cv2_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # one decoder thread per core already: OpenCV's own pool only spins (its LUTs)
    try:
        for t in threads:
            t.start()
        ended = 0
        while ended < len(threads):
            kind, j, value = messages.get()
            if kind == "line":
                if j == current:
                    journal_line(value)
                else:
                    waiting[j].append(value)
            elif kind == "chunk":
                finished.add(j)
                while current in finished:  # the chunk journaling waits on is complete: move on
                    current += 1
                    for line in waiting.pop(current, []):
                        journal_line(line)
                with turn:
                    state["journaling"] = current
                    turn.notify_all()
            elif kind == "error":
                error = error or value
                stop.set()
                with turn:
                    turn.notify_all()
            else:
                ended += 1
    finally:
        stop.set()
        for t in threads:
            t.join()
        cv2.setNumThreads(cv2_threads)
        if bar is not None:
            bar.close()
    for c in counts:
        result.seeks += c.seeks
        result.decoded += c.decoded
        result.not_decoded += c.not_decoded
        result.cut += c.cut
    if error is not None:
        raise error
    _check_missing(task, todo, got, result)
    return True
