"""Frame extraction: ``datakit extract-frames`` against the decode floor, FiftyOne and ffmpeg.

Input: a generated 1920×1080 H.264 file (x264 ``superfast``, CRF 23, keyframe every 250 frames,
B-frames, 25 fps) of 3,000 frames — a panning textured pitch with moving players and sensor noise
— generated once into ``benchmarks/_data/frames/``. Measured in one run, on the same file:

* ``--every 30`` and ``--every 1``: datakit's CLI (a fresh process, start-up included) against
  the **decode floor** (a bare PyAV loop over the same frames, ``to_ndarray`` + ``cv2.imencode``
  JPEG q95 + a plain file write for the kept frames, in this process), **FiftyOne**
  (``fiftyone.utils.video.sample_video(frames=...)``, the call only, import excluded; it runs
  ``ffmpeg -vf select=eq(n,..)+...``), and an **ffmpeg** ``select`` command line writing the same
  frames (``-q:v 2``), both with the ``ffmpeg`` binary that ``imageio-ffmpeg`` ships.
* ``--events`` with 50 timestamps spread over the file, against decoding just the GOPs that
  hold them (one seek per GOP, decode forward to its last event frame, encode those frames).

``--quick`` limits ``--every 1`` to the first 600 frames (``--end 24``; ffmpeg stops there too,
FiftyOne's select still reads the file to its end, as it does for its users).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks._report import machine, table, versions, write_section  # noqa: E402

CACHE = HERE / "_data" / "frames"
W, H, N, FPS, GOP = 1920, 1080, 3000, 25, 250
QUALITY = 95


def ensure_video(n: int = N) -> Path:
    """The cached benchmark video (generated on first use; a few minutes on 2 cores)."""
    import av
    import numpy as np

    path = CACHE / f"pitch_{W}x{H}_{n}.mp4"
    if path.is_file():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    t0 = time.time()
    rng = np.random.default_rng(0)
    span = W + 2000
    tex = np.kron(rng.integers(0, 40, (H // 4, span // 4), dtype=np.uint8), np.ones((4, 4), np.uint8))
    pitch = np.zeros((H, span, 3), np.uint8)
    pitch[..., 1] = 90 + tex
    pitch[..., 0] = 30 + tex // 2
    pitch[..., 2] = 20
    for x in range(0, span, 300):
        pitch[:, x : x + 6] = 230
    noise = [rng.integers(0, 6, (H, W, 3), dtype=np.uint8) for _ in range(5)]
    with av.open(str(tmp), "w") as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"preset": "superfast", "crf": "23", "x264-params": f"keyint={GOP}:min-keyint={GOP}"}
        for i in range(n):
            off = (i * 3) % 2000
            img = pitch[:, off : off + W] + noise[i % 5]
            for k in range(22):
                x = int(960 + 800 * np.sin(i / 50 + k))
                y = int(540 + 400 * np.cos(i / 70 + 2 * k))
                img[y - 30 : y + 30, x - 10 : x + 10] = (200 * (k % 2), 30, 200 * (1 - k % 2))
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    os.replace(tmp, path)
    print(f"generated {path} in {time.time() - t0:.0f} s", file=sys.stderr)
    return path


def ffmpeg_bin() -> Path:
    """A folder holding ``ffmpeg`` for FiftyOne's PATH: imageio-ffmpeg's binary behind a shim.

    FiftyOne (through ``eta``) passes ``-vsync 0``, an option FFmpeg 7 removed; imageio-ffmpeg
    ships FFmpeg 9, so the shim spells it ``-fps_mode passthrough`` (same meaning) and execs the
    binary. Without it FiftyOne's fast path fails and it falls back to a reader needing ``ffprobe``.
    """
    import imageio_ffmpeg

    d = CACHE / "bin"
    d.mkdir(parents=True, exist_ok=True)
    shim = d / "ffmpeg"
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    script = f"""#!/bin/bash
args=()
while [ $# -gt 0 ]; do
  if [ "$1" = "-vsync" ]; then
    case "$2" in 0|passthrough) m=passthrough;; 1|cfr) m=cfr;; 2|vfr) m=vfr;; *) m=auto;; esac
    args+=(-fps_mode "$m"); shift 2
  else
    args+=("$1"); shift
  fi
done
exec "{exe}" "${{args[@]}}"
"""
    if shim.is_symlink() or not shim.exists() or shim.read_text() != script:
        shim.unlink(missing_ok=True)
        shim.write_text(script)
        shim.chmod(0o755)
    return d


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def timed(name: str, fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        log(f"{name}: {times[-1]:.2f} s")
    times.sort()
    return times[len(times) // 2], result


def fresh_dir(name: str) -> Path:
    return Path(tempfile.gettempdir()) / "datakit-bench-frames" / name


def fresh(name: str) -> Path:
    d = fresh_dir(name)
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def run_datakit(video: Path, *args: str) -> dict:
    out = fresh("datakit") / "ds"
    code = "import sys; from datakit.cli import main; sys.exit(main(sys.argv[1:]))"
    cmd = [sys.executable, "-c", code, "extract-frames", str(video), "--out", str(out), "--json",
           "--quality", str(QUALITY), *args]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    if proc.returncode:
        raise RuntimeError(proc.stderr)
    payload = json.loads(proc.stdout)
    payload["dir"] = str(out / "unsplit/frames" / video.stem)
    return payload


def floor(video: Path, kept: list[int]) -> int:
    """Bare PyAV decode to the last kept frame; kept frames converted, JPEG-encoded, written."""
    import av
    import cv2

    out = fresh("floor")
    want, last, n = set(kept), max(kept), 0
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for i, f in enumerate(c.decode(s)):
            if i in want:
                buf = cv2.imencode(".jpg", f.to_ndarray(format="bgr24"), [cv2.IMWRITE_JPEG_QUALITY, QUALITY])[1]
                (out / f"{i:06d}.jpg").write_bytes(buf.tobytes())
                n += 1
            if i >= last:
                break
    return n


def gop_floor(video: Path, kept: list[int]) -> int:
    """Decode only the GOPs holding ``kept``: one seek per GOP, forward to its last kept frame."""
    import av
    import cv2

    from datakit.video import probe

    ix = probe(video)
    out = fresh("gops")
    groups: dict[int, list[int]] = {}
    for j in sorted(kept):
        groups.setdefault(ix.keyframe_before(j), []).append(j)
    n = 0
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for k, frames in groups.items():
            c.seek(int(ix.pts[k]), stream=s)
            want, last = set(frames), frames[-1]
            for f in c.decode(s):
                i = ix.index_of_pts(f.pts)
                if i in want:
                    buf = cv2.imencode(".jpg", f.to_ndarray(format="bgr24"), [cv2.IMWRITE_JPEG_QUALITY, QUALITY])[1]
                    (out / f"{i:06d}.jpg").write_bytes(buf.tobytes())
                    n += 1
                if i is not None and i >= last:
                    break
    return n


def run_ffmpeg(video: Path, every: int, frames: int | None = None) -> Path:
    out = fresh("ffmpeg")
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(video),
           "-vf", f"select='not(mod(n\\,{every}))'", "-fps_mode", "passthrough", "-q:v", "2"]  # fmt: skip
    if frames is not None:
        cmd += ["-frames:v", str(frames)]
    subprocess.run([*cmd, str(out / "%06d.jpg")], check=True)
    return out


FO_CODE = """
import json, sys, time
import fiftyone.utils.video as fouv
frames, out_opts = json.loads(sys.argv[3]), json.loads(sys.argv[4])
kwargs = {} if out_opts is None else {"out_opts": out_opts}
t0 = time.perf_counter()
# frames=None: every frame, FiftyOne's own path for that (`ffmpeg -i V %06d.jpg`); a list: its select path
fouv.sample_video(sys.argv[1], sys.argv[2] + "/%06d.jpg", frames=frames, **kwargs)
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def run_fiftyone(video: Path, kept: list[int], every_frame: bool = False, out_opts: list[str] | None = None) -> float:
    out = fresh("fiftyone")
    env = {**os.environ, "PATH": f"{ffmpeg_bin()}:{os.environ['PATH']}", "FIFTYONE_DO_NOT_TRACK": "true",
           "FIFTYONE_DATABASE_VALIDATION": "false"}  # fmt: skip
    frames = json.dumps(None if every_frame else [i + 1 for i in kept])  # FiftyOne numbers frames from 1
    proc = subprocess.run([sys.executable, "-c", FO_CODE, str(video), str(out), frames, json.dumps(out_opts)],
                          capture_output=True, text=True, env=env)  # fmt: skip
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    got = len(list(out.glob("*.jpg")))  # (every_frame: all frames of the file)
    if got != len(kept):
        raise RuntimeError(f"FiftyOne wrote {got} frames, expected {len(kept)}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["seconds"])


def med(fn: Callable[[], float], repeat: int) -> float:
    """Median of ``repeat`` timings a function reports itself."""
    values = sorted(fn() for _ in range(repeat))
    return values[len(values) // 2]


def mean_kib(folder: Path) -> float:
    """Mean size of the JPEGs in ``folder``, KiB."""
    sizes = [p.stat().st_size for p in folder.glob("*.jpg")]
    return sum(sizes) / len(sizes) / 1024 if sizes else float("nan")


def same_frames(a: Path, b: Path, names_a: list[str], names_b: list[str]) -> float:
    """Largest mean absolute pixel difference over pairs of images (same frames: a few levels)."""
    import numpy as np
    from PIL import Image

    worst = 0.0
    for x, y in zip(names_a, names_b, strict=True):
        ia = np.asarray(Image.open(a / x).convert("RGB"), dtype=np.int16)
        ib = np.asarray(Image.open(b / y).convert("RGB"), dtype=np.int16)
        worst = max(worst, float(np.abs(ia - ib).mean()))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="--every 1 over the first 600 frames only")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement for --every 30 and --events")
    ap.add_argument("--repeat1", type=int, default=1, help="runs per measurement for --every 1 (slow)")
    args = ap.parse_args()
    video = ensure_video()
    from datakit.video import probe

    ix = probe(video)
    n = ix.n_frames
    load0 = os.getloadavg()
    t_start = time.time()
    rows, checks = [], {}

    # --every 30 -------------------------------------------------------------------------------
    kept30 = list(range(0, n, 30))
    t_dk30, dk30 = timed("datakit every 30", lambda: run_datakit(video, "--every", "30"), args.repeat)
    t_fl30, _ = timed("floor every 30", lambda: floor(video, kept30), args.repeat)
    t_ff30, ff30 = timed("ffmpeg every 30", lambda: run_ffmpeg(video, 30), args.repeat)
    fo30 = sorted(run_fiftyone(video, kept30) for _ in range(args.repeat))[args.repeat // 2]
    log(f"FiftyOne every 30: {fo30:.2f} s")
    assert dk30["samples"] == len(kept30) == len(list(ff30.glob("*.jpg")))
    names = [f"{i:06d}.jpg" for i in kept30]
    checks["every30_vs_ffmpeg"] = same_frames(
        Path(dk30["dir"]), ff30, names[::25], [f"{k + 1:06d}.jpg" for k in range(0, len(kept30), 25)]
    )

    # --every 1 --------------------------------------------------------------------------------
    n1 = 600 if args.quick else n
    kept1 = list(range(n1))
    extra = ["--end", str(n1 / FPS)] if args.quick else []
    t_dk1, dk1 = timed(
        "datakit every 1", lambda: run_datakit(video, "--every", "1", "--max-frames", "0", *extra), args.repeat1
    )
    kib = {"datakit": mean_kib(Path(dk1["dir"]))}
    q90 = ["--every", "1", "--max-frames", "0", "--quality", "90", *extra]
    t_dk1q, dk1q = timed("datakit every 1 at quality 90", lambda: run_datakit(video, *q90), args.repeat1)
    kib["datakit_q90"] = mean_kib(Path(dk1q["dir"]))
    t_fl1, _ = timed("floor every 1", lambda: floor(video, kept1), args.repeat1)
    kib["floor"] = mean_kib(fresh_dir("floor"))
    t_ff1, ff1 = timed("ffmpeg every 1", lambda: run_ffmpeg(video, 1, n1 if args.quick else None), args.repeat1)
    kib["ffmpeg"] = mean_kib(ff1)
    # FiftyOne's select path builds eq(n,0)+eq(n,1)+...; FFmpeg 9 refuses such a filter for 600 frames,
    # and FiftyOne then falls back to a reader needing ffprobe (not shipped): every frame goes through its
    # all-frames path instead, on the full file only.
    fo1 = med(lambda: run_fiftyone(video, kept1, every_frame=True), args.repeat1) if not args.quick else float("nan")
    kib["fiftyone"] = mean_kib(fresh_dir("fiftyone"))
    log(f"FiftyOne every 1: {fo1:.2f} s")
    fo1q = (
        med(lambda: run_fiftyone(video, kept1, every_frame=True, out_opts=["-q:v", "2"]), args.repeat1)
        if not args.quick
        else float("nan")
    )
    kib["fiftyone_q2"] = mean_kib(fresh_dir("fiftyone"))
    log(f"FiftyOne every 1 at -q:v 2: {fo1q:.2f} s")
    assert dk1["samples"] == n1 == len(list(ff1.glob("*.jpg")))
    checks["every1_vs_ffmpeg"] = same_frames(Path(dk1["dir"]), ff1, [f"{i:06d}.jpg" for i in (0, n1 // 2, n1 - 1)],
                                             [f"{i + 1:06d}.jpg" for i in (0, n1 // 2, n1 - 1)])  # fmt: skip

    # --events: 50 timestamps ----------------------------------------------------------------------
    dur = ix.duration_s
    times = [round((k + 0.37) * dur / 50, 3) for k in range(50)]
    ev_path = CACHE / "events50.json"
    ev_path.write_text(
        json.dumps([{"label": "PASS" if k % 2 else "DRIVE", "position": int(t * 1000)} for k, t in enumerate(times)])
    )
    kept_ev = sorted({ix.frame_at(t) for t in times})
    t_dkev, dkev = timed("datakit events", lambda: run_datakit(video, "--events", str(ev_path)), args.repeat)
    t_gop, _ = timed("GOP floor events", lambda: gop_floor(video, kept_ev), args.repeat)
    t_flev, _ = timed("floor events", lambda: floor(video, kept_ev), 1)
    assert dkev["samples"] == len(kept_ev)
    elapsed = time.time() - t_start
    load1 = os.getloadavg()

    r30, r1, rev = t_dk30 / t_fl30, t_dk1 / t_fl1, t_dkev / t_gop
    rows = [
        ["--every 30", len(kept30), t_dk30, t_fl30, f"{r30:.2f}×", fo30, f"{fo30 / t_dk30:.2f}×", t_ff30, f"{t_ff30 / t_dk30:.2f}×"],
        [f"--every 1{' (first 600)' if args.quick else ''}", n1, t_dk1, t_fl1, f"{r1:.2f}×", fo1, f"{fo1 / t_dk1:.2f}×", t_ff1, f"{t_ff1 / t_dk1:.2f}×"],
    ]  # fmt: skip
    q_rows = [
        [f"datakit --every 1 (JPEG q{QUALITY})", t_dk1, kib["datakit"], 1.0],
        ["datakit --every 1 --quality 90", t_dk1q, kib["datakit_q90"], t_dk1q / t_dk1],
        [f"decode floor (cv2 JPEG q{QUALITY})", t_fl1, kib["floor"], t_fl1 / t_dk1],
        ["ffmpeg `-q:v 2`", t_ff1, kib["ffmpeg"], t_ff1 / t_dk1],
        ["FiftyOne sample_video, its default JPEG quality", fo1, kib["fiftyone"], fo1 / t_dk1],
        ["FiftyOne sample_video, `out_opts=['-q:v', '2']`", fo1q, kib["fiftyone_q2"], fo1q / t_dk1],
    ]
    ev_rows = [
        [
            "datakit --events (50 timestamps)",
            len(kept_ev),
            t_dkev,
            dkev["per_video"][0]["seeks"],
            f"{dkev['decoded']} (+{dkev['not_decoded']} disposable B-frames not decoded)",
        ],
        ["decode just the GOPs holding them (PyAV)", len(kept_ev), t_gop, "", ""],
        ["decode from the start to the last event (PyAV)", len(kept_ev), t_flev, "", ""],
    ]
    ok = lambda b: "met" if b else "NOT met"  # noqa: E731
    body = f"""## Frames: `datakit extract-frames` (`benchmarks/bench_frames.py{" --quick" if args.quick else ""}`)

Machine: {machine()}
Versions: {versions("datakit", "av", "opencv-python-headless", "fiftyone", "imageio-ffmpeg", "numpy")}
Input: {video.name}: {W}×{H} H.264 (x264 superfast, CRF 23, keyframe every {GOP}, B-frames), {n} frames at {FPS} fps,
{video.stat().st_size / 2**20:.0f} MiB. JPEG quality {QUALITY} for datakit and the floor, `-q:v 2` for ffmpeg, FiftyOne's
default. datakit: the CLI in a fresh process (start-up, probing and the JSONL included); floor: a bare PyAV loop
decoding to the last kept frame, `to_ndarray` + `cv2.imencode` + a plain write of the kept frames; FiftyOne:
`fiftyone.utils.video.sample_video` (the call, import excluded): with `frames=[...]` at every 30 (it runs
`ffmpeg -vf select=eq(n,…)+…`), with no frames at every 1 (its all-frames path, `ffmpeg -i V %06d.jpg`: its select
expression for thousands of frames is refused by FFmpeg 9, and its fallback reader needs `ffprobe`, which
imageio-ffmpeg does not ship); FiftyOne passes `-vsync 0`, removed in FFmpeg 7, so a shim on its PATH spells it
`-fps_mode passthrough`. ffmpeg: `ffmpeg -i V -vf "select='not(mod(n,N))'" -fps_mode passthrough -q:v 2 %06d.jpg` with imageio-ffmpeg's
binary. Median of {args.repeat} runs (--every 1: {args.repeat1}). Same frames: largest mean absolute difference between
datakit's and ffmpeg's JPEGs of the same frame {max(checks.values()):.2f} levels (different JPEG encoders; a
neighbouring frame differs by far more). Shared 2-core VM, load average {load0[0]:.1f} at start, {load1[0]:.1f} at
end: absolute times move with other jobs. Total {elapsed:.0f} s.

{table(["selection", "frames", "datakit s", "floor s", "datakit / floor", "FiftyOne s", "FiftyOne / datakit", "ffmpeg s", "ffmpeg / datakit"], rows)}

`--every 1` by output quality (mean JPEG size of the {n1} frames; FiftyOne's default is FFmpeg's low default quality):

{table(["tool", "s", "mean JPEG KiB", "time / datakit"], q_rows)}

{table(["events run", "frames", "s", "seeks", "frames decoded"], ev_rows)}

Targets:
- `--every 30` within 1.25× of the decode floor: **{ok(r30 <= 1.25)}** ({r30:.2f}×); `--every 1`: **{ok(r1 <= 1.25)}** ({r1:.2f}×)
- ≥ 2× faster than FiftyOne: **{ok(fo30 / t_dk30 >= 2 and fo1 / t_dk1 >= 2)}** ({fo30 / t_dk30:.2f}× at every 30, {fo1 / t_dk1:.2f}× at every 1 against its default quality, {fo1q / t_dk1q:.2f}× with both near 90: FiftyOne `-q:v 2` against datakit `--quality 90`)
- no slower than ffmpeg `select`: **{ok(t_ff30 >= t_dk30 and t_ff1 >= t_dk1)}** ({t_ff30 / t_dk30:.2f}× and {t_ff1 / t_dk1:.2f}×)
- `--events` (50 timestamps) ≤ 1.1× decoding just their GOPs: **{ok(rev <= 1.1)}** ({t_dkev:.2f} s vs {t_gop:.2f} s: {rev:.2f}×)
"""
    write_section("frames", body)
    print(body)


if __name__ == "__main__":
    main()
