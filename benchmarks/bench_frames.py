"""Frame extraction: ``datakit extract-frames`` against the decode floor, FiftyOne and ffmpeg.

Input: a generated 1920×1080 H.264 file (x264 ``superfast``, CRF 23, keyframe every 250 frames,
B-frames, 25 fps) of 3,000 frames — a panning textured pitch with moving players and sensor noise
— generated once into ``benchmarks/_data/frames/``. Measured in one run, on the same file:

* ``--every 30`` and ``--every 1``: datakit's CLI (a fresh process, start-up included) against
  the **decode floor** (a bare PyAV loop over the same frames, one container with FFmpeg's frame
  threads, datakit's own JPEG encoder at q95 + a plain file write for the kept frames, in this
  process), **FiftyOne**
  (``fiftyone.utils.video.sample_video(frames=...)``, the call only, import excluded; it runs
  ``ffmpeg -vf select=eq(n,..)+...``), and an **ffmpeg** ``select`` command line writing the same
  frames (``-q:v 2``), both with the ``ffmpeg`` binary that ``imageio-ffmpeg`` ships.
* ``--events`` with 50 timestamps spread over the file, against decoding just the GOPs that
  hold them (one seek per GOP, decode forward to its last event frame, encode those frames).
* **Output quality.** ffmpeg's ``-q:v 2`` writes smaller, lower-quality JPEGs than datakit's q95,
  so the times are also compared at matched quality: the mean PSNR of each tool's JPEGs against
  the decoded source frames (every 150th frame), datakit at the lowest ``--quality`` whose PSNR
  reaches ffmpeg ``-q:v 2``'s (and FiftyOne with ``-q:v 2``), and ffmpeg at its best quality
  (``-q:v 1 -qmin 1``) against datakit q95. datakit with ``--decoders 1`` (one FFmpeg-threaded
  decoder) shows what the decoder threads give.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks._report import machine, table, versions, write_section  # noqa: E402
from benchmarks.frames_quality import (  # noqa: E402
    PSNR_EVERY,
    cpu_bound,
    datakit_curve,
    mean_kib,
    psnr,
    psnr_dir,
    reference_frames,
    same_frames,
)

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


@dataclass
class Config:
    """One measured command: ``run`` returns its result (or, ``self_timed``, the seconds it measured
    itself); ``after`` reads what it wrote (sizes, PSNR), outside the timing, before the next run."""

    name: str
    run: Callable[[], Any]
    after: Callable[[Any], None] | None = None
    self_timed: bool = False
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        t = sorted(self.times)
        return t[len(t) // 2] if t else float("nan")


def round_robin(configs: list[Config], repeat: int) -> dict[str, float]:
    """Median seconds of each config, run in turn ``repeat`` times (load drift hits all alike)."""
    for _ in range(repeat):
        for c in configs:
            t0 = time.perf_counter()
            result = c.run()
            seconds = result["seconds"] if isinstance(result, dict) and "seconds" in result else result
            c.times.append(float(seconds) if c.self_timed else time.perf_counter() - t0)
            log(f"{c.name}: {c.times[-1]:.2f} s")
            if c.after is not None:
                c.after(result)
    return {c.name: c.median for c in configs}


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


DK_API = """
import json, sys, time
import av, cv2, simplejpeg
import datakit.video.extract, datakit.video.encode
from datakit.cli import main
t0 = time.perf_counter()
code = main(sys.argv[1:])
print(json.dumps({"seconds": time.perf_counter() - t0, "code": code}))
"""


def run_datakit_api(video: Path, *args: str) -> dict:
    """The same command as :func:`run_datakit` as an in-process call timed like FiftyOne's (imports excluded)."""
    out = fresh("datakit") / "ds"
    cmd = [sys.executable, "-c", DK_API, "extract-frames", str(video), "--out", str(out), "--quality", str(QUALITY), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    if proc.returncode:
        raise RuntimeError(proc.stderr)
    payload = json.loads(proc.stdout.strip().splitlines()[-1])
    if payload["code"]:
        raise RuntimeError(f"datakit exited {payload['code']}")
    return payload


def floor(video: Path, kept: list[int]) -> int:
    """Bare PyAV decode to the last kept frame; kept frames JPEG-encoded (datakit's encoder), written."""
    import av

    from datakit.video.encode import encode_frame

    out = fresh("floor")
    want, last, n = set(kept), max(kept), 0
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for i, f in enumerate(c.decode(s)):
            if i in want:
                (out / f"{i:06d}.jpg").write_bytes(encode_frame(f, "jpg", QUALITY))
                n += 1
            if i >= last:
                break
    return n


def gop_floor(video: Path, kept: list[int]) -> int:
    """Decode only the GOPs holding ``kept``: one seek per GOP, forward to its last kept frame."""
    import av

    from datakit.video import probe
    from datakit.video.encode import encode_frame

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
                    (out / f"{i:06d}.jpg").write_bytes(encode_frame(f, "jpg", QUALITY))
                    n += 1
                if i is not None and i >= last:
                    break
    return n


def run_ffmpeg(video: Path, every: int, frames: int | None = None, quality: tuple[str, ...] = ("-q:v", "2")) -> Path:
    out = fresh("ffmpeg")
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(video),
           "-vf", f"select='not(mod(n\\,{every}))'", "-fps_mode", "passthrough", *quality]  # fmt: skip
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


def ffmpeg_sample_psnr(video: Path, refs: dict[int, Any], quality: tuple[str, ...]) -> float:
    """Mean PSNR of ffmpeg's JPEGs of the reference frames (every ``PSNR_EVERY``-th; mjpeg is intra-only,
    so a frame's JPEG is the same as in a full run)."""
    out = run_ffmpeg(video, PSNR_EVERY, len(refs), quality)
    return sum(psnr(out / f"{k + 1:06d}.jpg", ref) for k, (_, ref) in enumerate(refs.values())) / len(refs)


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
    checks: dict[str, float] = {}
    n1 = 600 if args.quick else n

    # output quality: each encoder against the decoded source (ffmpeg's on the same frames, sampled) --------
    refs = reference_frames(video, list(range(0, n1, PSNR_EVERY)))
    curve = datakit_curve(refs, range(70, 100))
    rgb95 = datakit_curve(refs, range(QUALITY, QUALITY + 1), yuv=False)[QUALITY]
    best = ("-q:v", "1", "-qmin", "1")
    dbs = {"ffmpeg": ffmpeg_sample_psnr(video, refs, ("-q:v", "2")), "ffmpeg_best": ffmpeg_sample_psnr(video, refs, best)}
    # datakit at the lowest quality whose PSNR reaches ffmpeg -q:v 2's (never below it)
    q_match = min((q for q, (db, _) in curve.items() if db >= dbs["ffmpeg"]), default=max(curve))
    log(f"ffmpeg -q:v 2: {dbs['ffmpeg']:.2f} dB; datakit --quality {q_match}: {curve[q_match][0]:.2f} dB")
    kib: dict[str, float] = {}
    last: dict[str, Any] = {}

    def keep(name: str, first: int = 0, dk: bool = False, where: str | None = None) -> Callable[[Any], None]:
        def after(result: Any) -> None:
            folder = Path(result["dir"]) if dk else result if isinstance(result, Path) else fresh_dir(where or name)
            kib[name] = mean_kib(folder)
            if len(list(folder.glob("*.jpg"))) >= n1:
                dbs[name] = psnr_dir(folder, refs, first)
            last[name] = result

        return after

    # --every 30 -------------------------------------------------------------------------------
    kept30 = list(range(0, n, 30))
    names30 = [f"{i:06d}.jpg" for i in kept30]

    def check30(ff: Path) -> None:
        checks["every30_vs_ffmpeg"] = same_frames(Path(last["dk30"]["dir"]), ff, names30[::25],
                                                  [f"{k + 1:06d}.jpg" for k in range(0, len(kept30), 25)])  # fmt: skip
        if len(list(ff.glob("*.jpg"))) != len(kept30):
            raise RuntimeError("ffmpeg wrote another number of frames")

    configs30 = [
        Config("dk30", lambda: run_datakit(video, "--every", "30"), keep("dk30", dk=True)),
        Config("ff30", lambda: run_ffmpeg(video, 30), check30),
        Config("dk30m", lambda: run_datakit(video, "--every", "30", "--quality", str(q_match))),
        Config("dk30s", lambda: run_datakit(video, "--every", "30", "--decoders", "1")),
        Config("dk30api", lambda: run_datakit_api(video, "--every", "30"), self_timed=True),
        Config("dk30mapi", lambda: run_datakit_api(video, "--every", "30", "--quality", str(q_match)), self_timed=True),
        Config("fl30", lambda: floor(video, kept30)),
        Config("fo30", lambda: run_fiftyone(video, kept30), self_timed=True),
        Config("fo30q", lambda: run_fiftyone(video, kept30, out_opts=["-q:v", "2"]), self_timed=True),
    ]  # fmt: skip
    t30 = round_robin(configs30, args.repeat)
    rounds = {c.name: ", ".join(f"{t:.1f}" for t in c.times) for c in configs30}
    dk30 = last["dk30"]
    t_dk30, t_dk30m, t_dk30s, t_fl30, t_ff30, fo30, fo30q, t_api30, t_api30m = (
        t30[k] for k in ("dk30", "dk30m", "dk30s", "fl30", "ff30", "fo30", "fo30q", "dk30api", "dk30mapi")
    )
    if dk30["samples"] != len(kept30):
        raise RuntimeError(f"datakit wrote {dk30['samples']} frames, expected {len(kept30)}")

    # --every 1 --------------------------------------------------------------------------------
    kept1 = list(range(n1))
    extra = ["--end", str(n1 / FPS)] if args.quick else []
    every1 = ["--every", "1", "--max-frames", "0", *extra]
    cap = n1 if args.quick else None

    def check1(ff: Path) -> None:
        keep("ffmpeg", first=1)(ff)
        checks["every1_vs_ffmpeg"] = same_frames(Path(last["datakit"]["dir"]), ff,
                                                 [f"{i:06d}.jpg" for i in (0, n1 // 2, n1 - 1)],
                                                 [f"{i + 1:06d}.jpg" for i in (0, n1 // 2, n1 - 1)])  # fmt: skip

    configs1 = [
        Config("datakit", lambda: run_datakit(video, *every1), keep("datakit", dk=True)),
        Config("ffmpeg", lambda: run_ffmpeg(video, 1, cap), check1),
        Config("datakit_match", lambda: run_datakit(video, *every1, "--quality", str(q_match)), keep("datakit_match", dk=True)),
        Config("ffmpeg_best", lambda: run_ffmpeg(video, 1, cap, best), keep("ffmpeg_best", first=1)),
        Config("datakit_d1", lambda: run_datakit(video, *every1, "--decoders", "1")),
        Config("datakit_q90", lambda: run_datakit(video, *every1, "--quality", "90"), keep("datakit_q90", dk=True)),
        Config("floor", lambda: floor(video, kept1), keep("floor")),
    ]  # fmt: skip
    if not args.quick:
        # FiftyOne's select path builds eq(n,0)+eq(n,1)+...; FFmpeg 9 refuses such a filter for 600 frames,
        # and FiftyOne then falls back to a reader needing ffprobe (not shipped): every frame goes through
        # its all-frames path instead, on the full file only.
        configs1 += [
            Config("fiftyone", lambda: run_fiftyone(video, kept1, every_frame=True), keep("fiftyone", first=1), True),
            Config("fiftyone_q2", lambda: run_fiftyone(video, kept1, every_frame=True, out_opts=["-q:v", "2"]),
                   keep("fiftyone_q2", first=1, where="fiftyone"), True),
        ]  # fmt: skip
    t1 = round_robin(configs1, args.repeat1)
    rounds.update({c.name: ", ".join(f"{t:.1f}" for t in c.times) for c in configs1})
    for k in ("fiftyone", "fiftyone_q2"):
        t1.setdefault(k, float("nan"))
    t_dk1, t_dk1m, t_dk1s, t_dk1q, t_fl1, t_ff1, t_ff1b, fo1, fo1q = (
        t1[k] for k in ("datakit", "datakit_match", "datakit_d1", "datakit_q90", "floor", "ffmpeg", "ffmpeg_best",
                        "fiftyone", "fiftyone_q2")
    )  # fmt: skip
    if last["datakit"]["samples"] != n1:
        raise RuntimeError(f"datakit wrote {last['datakit']['samples']} frames, expected {n1}")

    # the CPU floor of --every 1: decoding every frame + encoding it, spread perfectly over the cores ----
    low = datakit_curve(refs, range(5, 70, 5))
    fo_db = dbs.get("fiftyone", float("nan"))
    q_fo = min((q for q, (db, _) in sorted({**low, **curve}.items()) if db >= fo_db), default=QUALITY)
    dec_cpu, enc_cpu = cpu_bound(video, sorted({q_fo, q_match, QUALITY}), fresh("bound"))
    cores_n = len(os.sched_getaffinity(0))
    bound = {q: (dec_cpu + n1 * enc_cpu[q]) / cores_n for q in enc_cpu}
    bound_rows = [
        [f"FiftyOne default ({fo_db:.1f} dB) ↔ datakit --quality {q_fo}", q_fo, dec_cpu, n1 * enc_cpu[q_fo], bound[q_fo], fo1, fo1 / bound[q_fo]],
        [f"`-q:v 2` ({dbs['ffmpeg']:.1f} dB) ↔ --quality {q_match}", q_match, dec_cpu, n1 * enc_cpu[q_match], bound[q_match], fo1q, fo1q / bound[q_match]],
    ]  # fmt: skip
    r_def, r_q2 = bound_rows[0][-1], bound_rows[1][-1]

    def reach(r: float, t_dk: float | None, q: int) -> str:
        if r < 2:
            return f"out of reach of any implementation here (FiftyOne takes {r:.2f}× the floor)"
        ours = f"; datakit takes {t_dk / bound[q]:.2f}× it, {t_dk:.1f} s against {bound[q]:.1f} s" if t_dk else ""
        return f"within reach only in principle (FiftyOne takes {r:.2f}× the floor{ours})"

    # --events: 50 timestamps ----------------------------------------------------------------------
    dur = ix.duration_s
    times = [round((k + 0.37) * dur / 50, 3) for k in range(50)]
    ev_path = CACHE / "events50.json"
    ev_path.write_text(
        json.dumps([{"label": "PASS" if k % 2 else "DRIVE", "position": int(t * 1000)} for k, t in enumerate(times)])
    )
    kept_ev = sorted({ix.frame_at(t) for t in times})
    tev = round_robin([
        Config("dkev", lambda: run_datakit(video, "--events", str(ev_path)), lambda r: last.update(dkev=r)),
        Config("gop", lambda: gop_floor(video, kept_ev)),
    ], args.repeat)  # fmt: skip
    t_dkev, t_gop = tev["dkev"], tev["gop"]
    t_flev = round_robin([Config("flev", lambda: floor(video, kept_ev))], 1)["flev"]
    dkev = last["dkev"]
    if dkev["samples"] != len(kept_ev):
        raise RuntimeError(f"datakit wrote {dkev['samples']} event frames, expected {len(kept_ev)}")
    elapsed = time.time() - t_start
    load1 = os.getloadavg()

    r30, r1, rev = t_dk30 / t_fl30, t_dk1 / t_fl1, t_dkev / t_gop
    rows = [
        ["--every 30", len(kept30), t_dk30, t_fl30, f"{r30:.2f}×", fo30, f"{fo30 / t_dk30:.2f}×", t_ff30, f"{t_ff30 / t_dk30:.2f}×"],
        [f"--every 1{' (first 600)' if args.quick else ''}", n1, t_dk1, t_fl1, f"{r1:.2f}×", fo1, f"{fo1 / t_dk1:.2f}×", t_ff1, f"{t_ff1 / t_dk1:.2f}×"],
    ]  # fmt: skip
    q_rows = [
        [f"datakit --every 1 (JPEG q{QUALITY})", t_dk1, kib["datakit"], dbs["datakit"], 1.0],
        [f"datakit --every 1 --quality {q_match} (PSNR matched to ffmpeg `-q:v 2`)", t_dk1m, kib["datakit_match"], dbs["datakit_match"], t_dk1m / t_dk1],
        ["datakit --every 1 --quality 90", t_dk1q, kib["datakit_q90"], dbs["datakit_q90"], t_dk1q / t_dk1],
        [f"datakit --every 1 --decoders 1 (q{QUALITY})", t_dk1s, kib["datakit"], dbs["datakit"], t_dk1s / t_dk1],
        [f"decode floor (datakit's JPEG encoder, q{QUALITY})", t_fl1, kib["floor"], dbs.get("floor", float("nan")), t_fl1 / t_dk1],
        ["ffmpeg `-q:v 2`", t_ff1, kib["ffmpeg"], dbs["ffmpeg"], t_ff1 / t_dk1],
        ["ffmpeg `-q:v 1 -qmin 1` (its best)", t_ff1b, kib["ffmpeg_best"], dbs["ffmpeg_best"], t_ff1b / t_dk1],
        ["FiftyOne sample_video, its default JPEG quality", fo1, kib.get("fiftyone", float("nan")), dbs.get("fiftyone", float("nan")), fo1 / t_dk1],
        ["FiftyOne sample_video, `out_opts=['-q:v', '2']`", fo1q, kib.get("fiftyone_q2", float("nan")), dbs.get("fiftyone_q2", float("nan")), fo1q / t_dk1],
    ]  # fmt: skip
    curve_rows = [[q, curve[q][0], curve[q][1]] for q in (70, 75, 80, 85, 90, 95, 99) if q in curve]
    if q_match not in (70, 75, 80, 85, 90, 95, 99):
        curve_rows = sorted([*curve_rows, [q_match, *curve[q_match]]])
    # matched-quality verdicts (both sides at the same PSNR, or datakit's higher)
    m_ff = t_ff1 / t_dk1m
    m_ff30 = t_ff30 / t_dk30m
    m_fo = fo1q / t_dk1m
    m_fo30 = fo30q / t_dk30m
    best_vs_95 = t_ff1b / t_dk1
    ev_rows = [
        [
            "datakit --events (50 timestamps)",
            len(kept_ev),
            t_dkev,
            dkev["per_video"][0]["seeks"],
            f"{dkev['decoded']} (+{dkev['not_decoded']} disposable B-frames not decoded; "
            f"{dkev.get('cut', 0)} of the decoded sent as slice headers only)",
        ],
        ["decode just the GOPs holding them (PyAV)", len(kept_ev), t_gop, "", ""],
        ["decode from the start to the last event (PyAV)", len(kept_ev), t_flev, "", ""],
    ]
    dec_rows = [
        ["--every 30", t_dk30s, t_dk30, f"{t_dk30s / t_dk30:.2f}×", rounds["dk30s"], rounds["dk30"]],
        ["--every 1", t_dk1s, t_dk1, f"{t_dk1s / t_dk1:.2f}×", rounds["datakit_d1"], rounds["datakit"]],
    ]
    spread = "; ".join(f"{label} {rounds[k]}" for k, label in [
        ("dk30", "datakit"), ("dk30m", f"datakit q{q_match}"), ("dk30s", "datakit --decoders 1"), ("fl30", "floor"),
        ("ff30", "ffmpeg"), ("fo30", "FiftyOne"), ("fo30q", "FiftyOne -q:v 2")])  # fmt: skip
    ok = lambda b: "met" if b else "NOT met"  # noqa: E731
    cores = len(os.sched_getaffinity(0))
    body = f"""## Frames: `datakit extract-frames` (`benchmarks/bench_frames.py{" --quick" if args.quick else ""}`)

Machine: {machine()}
Versions: {versions("datakit", "av", "simplejpeg", "opencv-python-headless", "fiftyone", "imageio-ffmpeg", "numpy")}
Input: {video.name}: {W}×{H} H.264 (x264 superfast, CRF 23, keyframe every {GOP}, B-frames), {n} frames at {FPS} fps,
{video.stat().st_size / 2**20:.0f} MiB. JPEG quality {QUALITY} for datakit and the floor, `-q:v 2` for ffmpeg, FiftyOne's
default, unless a row says otherwise. datakit: the CLI in a fresh process (start-up, probing and the JSONL included),
{cores} decoder threads (one per core, each its own container and a keyframe-aligned share of the frames), H.264
frames no kept frame needs not decoded (disposable ones) or sent as slice headers only (reference ones: at every 30,
{dk30['decoded']} frames decoded, {dk30['cut']} of them cut, {dk30['not_decoded']} not sent), JPEGs
encoded straight from the YUV planes (simplejpeg, limited range expanded by a LUT); floor: a bare PyAV loop (one
container, FFmpeg's frame threads) decoding to the last kept frame, datakit's JPEG encoder + a plain write of the kept
frames; FiftyOne:
`fiftyone.utils.video.sample_video` (the call, import excluded): with `frames=[...]` at every 30 (it runs
`ffmpeg -vf select=eq(n,…)+…`), with no frames at every 1 (its all-frames path, `ffmpeg -i V %06d.jpg`: its select
expression for thousands of frames is refused by FFmpeg 9, and its fallback reader needs `ffprobe`, which
imageio-ffmpeg does not ship); FiftyOne passes `-vsync 0`, removed in FFmpeg 7, so a shim on its PATH spells it
`-fps_mode passthrough`. ffmpeg: `ffmpeg -i V -vf "select='not(mod(n,N))'" -fps_mode passthrough -q:v 2 %06d.jpg` with imageio-ffmpeg's
binary. Median of {args.repeat} runs (--every 1: {args.repeat1}), the commands of each selection run in turn, so that
the load of other jobs drifts over all of them alike. Same frames: largest mean absolute difference between
datakit's and ffmpeg's JPEGs of the same frame {max(checks.values()):.2f} levels (different JPEG encoders; a
neighbouring frame differs by far more). PSNR: luma, mean over {len(refs)} frames (every {PSNR_EVERY}th) of each tool's
JPEG (its Y decoded directly) against the decoded source's Y plane, range-expanded in floating point (an RGB step in
between adds its own rounding: datakit's RGB path, `to_ndarray("bgr24")` + `cv2.imencode`, scores {rgb95[0]:.2f} dB at
q{QUALITY} ({rgb95[1]:.0f} KiB) here, against {curve[QUALITY][0]:.2f} dB for the YUV path). Shared {cores}-core VM, load average {load0[0]:.1f} at start,
{load1[0]:.1f} at end: absolute times move with other jobs. Total {elapsed:.0f} s.

{table(["selection", "frames", "datakit s", "floor s", "datakit / floor", "FiftyOne s", "FiftyOne / datakit", "ffmpeg s", "ffmpeg / datakit"], rows)}

`--every 1` by output quality (mean JPEG size of the {n1} frames; FiftyOne's default is FFmpeg's low default quality):

{table(["tool", "s", "mean JPEG KiB", "luma PSNR dB", "time / datakit"], q_rows)}

datakit's encoder by `--quality` (the {len(refs)} PSNR frames, in process): ffmpeg `-q:v 2` is {dbs["ffmpeg"]:.2f} dB,
so `--quality {q_match}` ({curve[q_match][0]:.2f} dB) is the lowest datakit quality at or above it; ffmpeg's best,
`-q:v 1 -qmin 1`, is {dbs["ffmpeg_best"]:.2f} dB against datakit q{QUALITY}'s {dbs["datakit"]:.2f} dB.

{table(["--quality", "luma PSNR dB", "mean KiB"], curve_rows)}

Both as in-process calls, imports excluded (datakit's CLI `main()` against FiftyOne's `sample_video()`), `--every 30`:
datakit {t_api30:.2f} s (q{QUALITY}) against FiftyOne's {fo30:.2f} s: **{fo30 / t_api30:.2f}×**; datakit `--quality {q_match}`
{t_api30m:.2f} s against FiftyOne `-q:v 2` {fo30q:.2f} s: **{fo30q / t_api30m:.2f}×** (rounds: {rounds["dk30api"]}; {rounds["dk30mapi"]}).

What any tool could do at `--every 1` on these {cores} cores: decoding all {n1} frames on one thread (FFmpeg's cheapest
way) takes {dec_cpu:.1f} s of CPU, and encoding them from the YUV planes at the matched quality and writing the files the
rest (timed on every 10th frame; no range LUT); split perfectly over the cores, that sum is a floor no implementation
here can beat. FiftyOne's time over that floor is the most any implementation could gain on it:

{table(["FiftyOne's output ↔ datakit at equal PSNR", "--quality", "decode CPU s", "encode + write CPU s", "floor s (÷ cores)", "FiftyOne s", "FiftyOne / floor"], bound_rows)}

At matched quality (`--quality {q_match}` against `-q:v 2`):

{table(["selection", "datakit s", "ffmpeg -q:v 2 s", "ffmpeg / datakit", "FiftyOne -q:v 2 s", "FiftyOne / datakit"], [["--every 30", t_dk30m, t_ff30, f"{m_ff30:.2f}×", fo30q, f"{m_fo30:.2f}×"], [f"--every 1{' (first 600)' if args.quick else ''}", t_dk1m, t_ff1, f"{m_ff:.2f}×", fo1q, f"{m_fo:.2f}×"]])}

Decoder threads (`--decoders 1`: one container with FFmpeg's frame threads and two encoder threads):

{table(["selection", "--decoders 1 s", f"default ({cores}) s", "speed-up", "--decoders 1 rounds (s)", "default rounds (s)"], dec_rows)}

Every round of `--every 30` (seconds, in run order; the spread is the shared machine): {spread}.

{table(["events run", "frames", "s", "seeks", "frames decoded"], ev_rows)}

Targets:
- `--every 30` within 1.25× of the decode floor: **{ok(r30 <= 1.25)}** ({r30:.2f}×); `--every 1`: **{ok(r1 <= 1.25)}** ({r1:.2f}×)
- ≥ 2× faster than FiftyOne, as configured (datakit q{QUALITY} against FiftyOne's default quality): **{ok(fo30 / t_dk30 >= 2 and fo1 / t_dk1 >= 2)}** ({fo30 / t_dk30:.2f}× at every 30, {fo1 / t_dk1:.2f}× at every 1); at matched quality (datakit `--quality {q_match}` against FiftyOne `-q:v 2`): **{ok(m_fo30 >= 2 and m_fo >= 2)}** ({m_fo30:.2f}× and {m_fo:.2f}×)
- ≥ 2× FiftyOne at every 30 as in-process calls (imports excluded on both sides): **{ok(fo30 / t_api30 >= 2)}** ({fo30 / t_api30:.2f}× as configured, {fo30q / t_api30m:.2f}× at matched quality); at every 1, 2× is, against FiftyOne's default quality, {reach(r_def, None, q_fo)}, and against `-q:v 2`, {reach(r_q2, t_dk1m, q_match)} (the CPU-floor table)
- no slower than ffmpeg `select`, as configured (datakit q{QUALITY}, {dbs["datakit"]:.1f} dB, against `-q:v 2`, {dbs["ffmpeg"]:.1f} dB): **{ok(t_ff30 >= t_dk30 and t_ff1 >= t_dk1)}** ({t_ff30 / t_dk30:.2f}× and {t_ff1 / t_dk1:.2f}×); at matched quality (`--quality {q_match}` against `-q:v 2`): **{ok(m_ff30 >= 1 and m_ff >= 1)}** ({m_ff30:.2f}× and {m_ff:.2f}×); datakit q{QUALITY} against ffmpeg's best quality `-q:v 1 -qmin 1` ({dbs["ffmpeg_best"]:.1f} dB) at every 1: **{ok(best_vs_95 >= 1)}** ({best_vs_95:.2f}×)
- `--events` (50 timestamps) ≤ 1.1× decoding just their GOPs: **{ok(rev <= 1.1)}** ({t_dkev:.2f} s vs {t_gop:.2f} s: {rev:.2f}×)
"""
    write_section("frames", body)
    print(body)


if __name__ == "__main__":
    main()
