"""datakit.video: decoder threads give the same output as one, and JPEGs straight from YUV keep colours."""

from __future__ import annotations

import collections
import io
import pathlib
import threading
from fractions import Fraction
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

import datakit
from datakit.video import Selection, extract_frames, probe
from datakit.video.encode import encode_frame, full_range_planes
from datakit.video.plan import split_runs
from tests.test_frames import frame_indices, write_video

PATCH = (200, 60, 40)  # a saturated red: BT.601 vs BT.709 or a missing range expansion moves it by 10+ levels


def tree(out: pathlib.Path) -> dict[str, bytes]:
    """Every file under ``out`` (images, journal, annotations) by relative path."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """150 frames, H.264 with B-frames, a keyframe every 12."""
    return write_video(tmp_path_factory.mktemp("v") / "clip.mp4", 150)


@pytest.mark.parametrize("every", [1, 5, 13])
def test_decoder_threads_write_the_same_files_as_one(
    clip: pathlib.Path, tmp_path: pathlib.Path, every: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datakit.video.extract as ex

    real, threads = ex._decode_chunks, collections.defaultdict(set)

    def spy(task: ex.VideoTask, *args: Any) -> None:
        threads[task.decoders].add(threading.current_thread().name)
        real(task, *args)

    monkeypatch.setattr(ex, "_decode_chunks", spy)
    runs = {}
    for k in (1, 2, 3):
        report = extract_frames([clip], tmp_path / f"k{k}", Selection(every=every, max_frames=0), decoders=k)
        runs[k] = (tree(tmp_path / f"k{k}"), report.videos[0])
    assert len(threads[1]) == 0 and len(threads[2]) == 2 and len(threads[3]) == 3  # the split really ran
    one, r1 = runs[1]
    for k in (2, 3):
        files, r = runs[k]
        assert files.keys() == one.keys()
        for name, data in one.items():  # images, the journal line by line, the dataset: byte-identical
            assert files[name] == data, name
        assert r.written == r1.written == len(range(0, 150, every)) and r.decoded >= r1.written
    got = frame_indices(tmp_path / "k2")
    assert [m for m, _ in got] == list(range(0, 150, every)) and all(m == px for m, px in got)


@pytest.mark.parametrize(
    ("selection", "decoders", "used"),
    [
        (Selection(every=1, max_frames=0), 0, 1),  # dense: encoding-bound, one decoder
        (Selection(fps=25, max_frames=0), 0, 1),  # --fps at the file's own rate is just as dense
        (Selection(every=3, max_frames=0), 0, 1),
        (Selection(every=4, max_frames=0), 0, 2),  # sparse: one decoder per core
        (Selection(every=13, max_frames=0), 0, 2),
        (Selection(every=1, max_frames=0), 3, 3),  # asked for: taken as given
        (Selection(every=13, max_frames=0, skip_similar=4), 0, 1),  # compares with the last kept frame
    ],
)
def test_automatic_decoders_follow_the_plan(
    clip: pathlib.Path, tmp_path: pathlib.Path, selection: Selection, decoders: int, used: int
) -> None:
    report = extract_frames([clip], tmp_path / "ds", selection, decoders=decoders, cores=2)
    r = report.videos[0]
    assert r.decoders == used
    assert r.written == len(datakit.load(tmp_path / "ds")) > 0
    again = extract_frames([clip], tmp_path / "ds", selection, decoders=decoders, cores=2).videos[0]
    assert again.written == 0 and again.decoders == 0  # nothing left to decode


def test_split_runs_cut_at_keyframes_and_balance(clip: pathlib.Path) -> None:
    ix = probe(clip)
    wanted = np.arange(150)
    groups = split_runs(ix, wanted, 3)
    assert len(groups) == 3 and np.concatenate(groups).tolist() == wanted.tolist()
    assert all(int(g[0]) in ix.keyframes.tolist() for g in groups)
    sizes = [len(g) for g in groups]
    assert max(sizes) - min(sizes) <= 12  # within one keyframe interval
    assert split_runs(ix, wanted[:5], 3) == [] or len(split_runs(ix, wanted[:5], 3)) == 1


def test_a_failing_decoder_thread_stops_the_run_and_resume_finishes_it(
    clip: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datakit.video.extract as ex

    real = ex._encode_write

    def failing(path: pathlib.Path, frame: object, fmt: str, quality: int) -> None:
        if path.name == "000100.jpg":
            raise OSError(28, "No space left on device", str(path))
        real(path, frame, fmt, quality)

    monkeypatch.setattr(ex, "_encode_write", failing)
    with pytest.raises(OSError, match="No space left"):
        extract_frames([clip], tmp_path / "ds", Selection(every=1, max_frames=0), decoders=2)
    monkeypatch.setattr(ex, "_encode_write", real)
    r = extract_frames([clip], tmp_path / "ds", Selection(every=1, max_frames=0), decoders=2).videos[0]
    assert r.resumed + r.written == 150 and r.resumed > 0 and r.written > 0
    got = frame_indices(tmp_path / "ds")
    assert [m for m, _ in got] == list(range(150)) and all(m == px for m, px in got)


def colour_video(path: pathlib.Path, pix_fmt: str, *, full_range: bool = False, bt709: bool = False) -> pathlib.Path:
    """12 near-lossless frames: mid grey with a planted ``PATCH`` square."""
    w, h = 96, 64
    rgb = np.full((h, w, 3), 128, np.uint8)
    rgb[16:48, 32:80] = PATCH
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        s.options = {"qp": "0", "preset": "veryfast"}
        if full_range:
            s.codec_context.color_range = 2
        if bt709:
            s.codec_context.colorspace = 1
            s.codec_context.color_primaries = 1
            s.codec_context.color_trc = 1
        for _ in range(12):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format=pix_fmt, dst_colorspace="ITU709" if bt709 else "ITU601", dst_color_range=2 if full_range else 1
            )
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def decoded(video: pathlib.Path) -> av.VideoFrame:
    with av.open(str(video)) as c:
        return next(c.decode(video=0))


def jpeg_rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


@pytest.mark.parametrize(
    ("pix_fmt", "full_range", "bt709", "yuv_path"),
    [
        ("yuv420p", False, False, True),  # H.264's usual limited range: expanded by the LUTs
        ("yuv420p", True, False, True),  # full range: planes passed through
        ("yuvj420p", True, False, True),
        ("yuv420p", False, True, False),  # BT.709 matrix: JFIF cannot say so, the RGB path converts
        ("yuv444p", False, False, False),  # not 4:2:0: the RGB path
        ("yuv422p", False, False, False),
    ],
)
def test_jpeg_colours_match_the_planted_patch_and_the_rgb_path(
    tmp_path: pathlib.Path, pix_fmt: str, full_range: bool, bt709: bool, yuv_path: bool
) -> None:
    video = colour_video(tmp_path / "c.mp4", pix_fmt, full_range=full_range, bt709=bt709)
    frame = decoded(video)
    if full_range:
        assert frame.format.name == "yuvj420p" or frame.color_range == 2
    assert (full_range_planes(frame) is not None) == yuv_path
    via_yuv, via_rgb = jpeg_rgb(encode_frame(frame, "jpg", 95)), jpeg_rgb(encode_frame(frame, "jpg", 95, yuv=False))
    assert np.abs(via_yuv - via_rgb).mean() < 1.5
    for img in (via_yuv, via_rgb):
        patch = img[22:42, 40:72].reshape(-1, 3).mean(axis=0)
        assert np.abs(patch - PATCH).max() <= 4, patch
        assert np.abs(img[2:10, 2:30].reshape(-1, 3).mean(axis=0) - 128).max() <= 3
    # the command writes the same colours, with decoder threads
    extract_frames([video], tmp_path / "ds", Selection(every=3), decoders=2)
    ds = datakit.load(tmp_path / "ds")
    assert [s.metadata["frame_index"] for s in ds] == [0, 3, 6, 9]
    img = jpeg_rgb((tmp_path / "ds" / ds[2].image).read_bytes())
    assert np.abs(img[22:42, 40:72].reshape(-1, 3).mean(axis=0) - PATCH).max() <= 4


def test_limited_range_without_expansion_would_be_caught(tmp_path: pathlib.Path) -> None:
    """The planted-patch check above has teeth: no range expansion, or BT.709 planes as JFIF, miss by more."""
    import simplejpeg

    frame = decoded(colour_video(tmp_path / "c.mp4", "yuv420p"))
    raw = [np.ascontiguousarray(np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width])
           for p in frame.planes]  # fmt: skip
    img = jpeg_rgb(bytes(simplejpeg.encode_jpeg_yuv_planes(*raw, quality=95)))
    assert np.abs(img[22:42, 40:72].reshape(-1, 3).mean(axis=0) - PATCH).max() > 7
    frame = decoded(colour_video(tmp_path / "c709.mp4", "yuv420p", bt709=True))
    assert frame.colorspace == 1
    frame.colorspace = 2  # as if the tag were ignored: the planes go to JFIF as BT.601
    img = jpeg_rgb(encode_frame(frame))
    assert np.abs(img[22:42, 40:72].reshape(-1, 3).mean(axis=0) - PATCH).max() > 7


def test_odd_sized_and_non_yuv420_videos_keep_exact_frames(tmp_path: pathlib.Path) -> None:
    for pix_fmt in ("yuv444p", "yuv420p"):
        path = tmp_path / f"{pix_fmt}.mkv"
        with av.open(str(path), "w") as c:
            s = c.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = 130, 97 if pix_fmt == "yuv444p" else 98, pix_fmt
            s.options = {"crf": "10", "preset": "veryfast", "x264-params": "keyint=10:min-keyint=10"}
            s.codec_context.time_base = Fraction(1, 25)
            for i in range(40):
                img = np.zeros((s.height, 130, 3), np.uint8)
                img[:, : 3 * i] = 255
                for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
        out = tmp_path / f"ds_{pix_fmt}"
        extract_frames([path], out, Selection(every=4), decoders=2)
        for smp in datakit.load(out):
            img = np.asarray(Image.open(out / smp.image).convert("L"))
            assert img.shape == (s.height, 130)
            assert abs(int((img[s.height // 2] > 128).sum()) - 3 * smp.metadata["frame_index"]) <= 2
