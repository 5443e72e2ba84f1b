"""Frames of one video stream from a keyframe seek on, exactly indexed, disposable packets skipped.

:func:`frames_from` yields ``(frame index, frame)`` after a seek to keyframe ``k``, the index read
from each frame's timestamp (:meth:`~datakit.video.index.VideoIndex.index_of_pts`), so indices stay
exact after seeks and on variable-frame-rate files. :func:`packet_filter` lets H.264 packets
that no other frame refers to bypass the decoder unless wanted (:mod:`datakit.video.h264`), and
sends reference pictures no wanted frame needs as slice headers only (:mod:`datakit.video.h264refs`).
``result`` is any object with integer ``seeks``, ``decoded``, ``not_decoded`` and ``cut``
attributes (counters).

Examples:
    >>> import tempfile, pathlib, av, numpy as np
    >>> from datakit.video import probe
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "v.mp4"
    >>> with av.open(str(p), "w") as c:
    ...     s = c.add_stream("mpeg4", rate=10); s.width, s.height = 32, 32
    ...     for i in range(12):
    ...         for pk in s.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 20, np.uint8))):
    ...             c.mux(pk)
    ...     for pk in s.encode():
    ...         c.mux(pk)
    >>> ix = probe(p)
    >>> class Counts:
    ...     seeks = not_decoded = cut = 0
    >>> with av.open(str(p)) as c:
    ...     [i for i, _ in frames_from(c, c.streams.video[0], ix, 0, 0, Counts(), None)][:4]
    [0, 1, 2, 3]

"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from datakit.errors import FormatError
from datakit.video.index import VideoIndex
from datakit.video.plan import seek_runs


def decoded(container: Any, stream: Any, send: Callable[[Any], Any] | None) -> Iterator[Any]:
    """Frames of ``stream`` from the current position, each packet through ``send`` first.

    ``send(packet)`` (:func:`packet_filter`) returns the packet to decode (``packet`` itself, or a
    replacement) or ``None`` to leave it out.
    """
    for packet in container.demux(stream):
        if send is not None and packet.size:
            sent = send(packet)
            if sent is None:
                continue
            if sent is not packet:
                yield from stream.codec_context.decode(sent)
                continue
        yield from packet.decode()


def frames_from(
    container: Any, stream: Any, ix: VideoIndex, k: int, first: int, result: Any, send: Any
) -> Iterator[tuple[int, Any]]:
    """``(index, frame)`` from keyframe ``k`` on (after the caller's seek); frames before ``k`` are dropped.

    A seek that lands past ``first`` (an inexact container index) falls back to decoding from
    the start of the file.
    """
    if not ix.exact:  # frames counted in decode order from the start (no seek was made)
        for count, frame in enumerate(decoded(container, stream, None)):
            yield count, frame
        return
    started = False
    for frame in decoded(container, stream, send):
        i = ix.index_of_pts(frame.pts)
        if i is None or i < k:
            continue  # a leading frame of an open GOP, before the keyframe sought
        if not started and i > first and k > 0:
            container.seek(int(ix.pts[0]), stream=stream, backward=True, any_frame=False)
            result.seeks += 1
            yield from frames_from(container, stream, ix, 0, first, result, send)
            return
        started = True
        yield i, frame


def open_video(path: str) -> Any:
    """``av.open(path)``; a file FFmpeg cannot read is a one-line :class:`FormatError` naming it."""
    import av

    try:
        return av.open(path)
    except av.error.FFmpegError as e:
        raise FormatError(path, None, f"not a readable video ({e})") from None


def decode_runs(
    container: Any, stream: Any, ix: VideoIndex, frames: np.ndarray, result: Any, send: Any, *, seek_first: bool
) -> Iterator[tuple[int, Any]]:
    """``(index, frame)`` of every frame decoded on the way to ``frames``, one forward pass per seek run.

    Each run of :func:`~datakit.video.plan.seek_runs` starts with a seek to its keyframe (the
    first run too when ``seek_first`` or when it starts past frame 0) and ends at its last wanted
    frame; ``result.seeks`` and ``result.decoded`` count them. Corrupt or truncated data ends a
    run early: the frames it did not reach are the caller's to report.
    """
    import av

    for n, (k, run) in enumerate(seek_runs(ix, frames)):
        if n or seek_first or k > 0:
            container.seek(int(ix.pts[k]), stream=stream, backward=True, any_frame=False)
            result.seeks += 1
        last = int(run[-1])
        try:
            for i, frame in frames_from(container, stream, ix, k, int(run[0]), result, send):
                result.decoded += 1
                yield i, frame
                if i >= last:
                    break
        except av.error.FFmpegError:
            continue


def reference_cuts(path: str, ix: VideoIndex, wanted: np.ndarray) -> dict[int, tuple[int, ...]] | None:
    """Reference pictures the ``wanted`` frames do not need (:func:`datakit.video.h264refs.plan_cuts`).

    One pass over the packets (no decoding) up to the last wanted one; ``None`` when the stream is
    not length-prefixed H.264 or is outside the model.
    """
    import av

    from datakit.video.h264 import nal_length_size
    from datakit.video.h264refs import plan_cuts

    if ix.codec != "h264" or not ix.exact or len(wanted) == 0:
        return None
    wanted_pts = set(ix.pts[wanted].tolist())
    with open_video(path) as container:
        stream = container.streams.video[0]
        extradata = stream.codec_context.extradata
        size = nal_length_size(extradata)
        if size is None or extradata is None:
            return None
        try:
            return plan_cuts(bytes(extradata), size, _headers(container, stream, size, wanted_pts), wanted_pts)
        except av.error.FFmpegError:  # a truncated file: the decoders report it; plan nothing
            return None


def _headers(container: Any, stream: Any, size: int, wanted_pts: set[int]) -> Iterator[tuple[int, bytes]]:
    """``(pts, packet)`` up to the last wanted packet, each slice NAL cut to what its header can need.

    Only headers are read, so memory stays small on long videos: a 4K packet of 100 KB becomes
    a few hundred bytes.
    """
    from datakit.video.h264refs import header_view

    left = set(wanted_pts)
    for packet in container.demux(stream):
        if not packet.size or packet.pts is None:
            continue
        yield int(packet.pts), header_view(memoryview(packet), size)
        left.discard(int(packet.pts))
        if not left:
            return


def packet_filter(
    stream: Any, ix: VideoIndex, wanted: np.ndarray, result: Any, cuts: dict[int, tuple[int, ...]] | None = None
) -> Callable[[Any], Any] | None:
    """The packet filter for :func:`decoded`: what goes to the decoder, and how.

    H.264 disposable frames that are not wanted are left out (``result.not_decoded``); reference
    pictures in ``cuts`` (:func:`reference_cuts`) are sent as their slice headers only
    (``result.cut``), with the decoder's error concealment off, which would otherwise repaint them.
    """
    import av

    from datakit.video.h264 import is_disposable, nal_length_size
    from datakit.video.h264refs import cut_packet

    if stream.codec_context.name != "h264" or not ix.exact:
        return None
    size = nal_length_size(stream.codec_context.extradata)
    if size is None:
        return None
    wanted_pts = set(ix.pts[wanted].tolist())
    if cuts:
        stream.codec_context.options = {**stream.codec_context.options, "ec": "0"}

    def send(packet: Any) -> Any:
        if packet.pts is None or packet.pts in wanted_pts or packet.is_keyframe:
            return packet
        if is_disposable(memoryview(packet), size):
            result.not_decoded += 1
            return None
        heads = cuts.get(packet.pts) if cuts else None
        if heads is not None:
            data = cut_packet(memoryview(packet), size, heads)
            if data is not None:
                sent = av.Packet(data)
                sent.pts, sent.dts, sent.time_base = packet.pts, packet.dts, packet.time_base
                result.cut += 1
                return sent
        return packet

    return send
