"""``annotate`` and ``pseudo-label`` on a Dask LocalCluster: the output equals a clean local run.

A worker that dies mid-batch (the annotator kills its own process once, remembered by a marker
file) and a client killed with ``kill -9`` and rerun both leave a checkpoint and a dataset equal
to a clean local run's: no lost and no duplicated sample.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from annotators import registry
from annotators.base import Annotator, Item, Recipe, Result, annotate
from annotators.cli import parse_resources
from annotators.color import ColorAnnotator
from datakit.cli import main
from datakit.errors import DatakitError
from tests.conftest import write_jsonl

ROOT = Path(__file__).resolve().parents[1]
DIE_MARKER = "DATAKIT_TEST_DIE_MARKER"
DIE_ON = "DATAKIT_TEST_DIE_ON"


class DyingColor(ColorAnnotator):
    """The colour annotator, except that the worker process running item ``$DIE_ON`` dies once."""

    def predict(self, prepared: Any, items: list[Item]) -> list[Result]:
        marker = os.environ.get(DIE_MARKER)
        if marker and not os.path.exists(marker) and any(it.id == os.environ.get(DIE_ON) for it in items):
            Path(marker).write_text(str(os.getpid()))
            os._exit(1)
        time.sleep(0.001 * len(items))  # ~1 ms an item: the run spreads over several tasks
        return super().predict(prepared, items)


def _crops(root: Path, n: int) -> Path:
    """``n`` jersey-like crops (cloth colour + a centre 'number')."""
    from PIL import Image, ImageDraw

    palette = [(200, 30, 40), (20, 40, 160), (240, 240, 240), (20, 20, 20), (30, 140, 60), (250, 200, 0)]
    rows: list[object] = []
    (root / "train").mkdir(parents=True)
    for i in range(n):
        cloth, number = palette[i % 6], palette[(i * 5 + 1) % 6]
        im = Image.new("RGB", (36 + i % 5, 48), cloth)
        ImageDraw.Draw(im).rectangle((12, 14, 24, 36), fill=number)
        name = f"{i}.png"
        im.save(root / "train" / name)
        rows.append({"image": name, "suffix": str(i % 10)})
    write_jsonl(root / "train" / "annotations.jsonl", rows)
    return root


def _outputs(out: Path) -> dict[str, bytes]:
    """Every non-image file under ``out`` (annotations and checkpoints), by relative path."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.suffix in (".jsonl", ".json")
    }


def _rows(ck: Path) -> list[dict]:
    data = ck.read_bytes()
    return [orjson.loads(x) for x in data[: data.rfind(b"\n") + 1].splitlines()[1:]]


@pytest.fixture
def dying_color() -> Iterator[None]:
    """``--with color`` builds :class:`DyingColor` (on the client and on the workers) for one test."""
    original = registry.get("annotator", "color")
    registry.register(
        registry.Entry("annotator", "color", "tests.test_cluster_annotate:DyingColor", help=original.help),
        replace=True,
    )
    try:
        yield
    finally:
        registry.register(original, replace=True)


def test_resources_and_recipes_are_checked(tmp_path: Path) -> None:
    assert parse_resources("GPU=1, MEM=0.5") == {"GPU": 1.0, "MEM": 0.5} and parse_resources("") is None
    for bad in ("GPU", "GPU=0", "=1", "GPU=x"):
        with pytest.raises(DatakitError, match="--resources"):
            parse_resources(bad)
    built = Recipe("annotators.color:ColorAnnotator", batch_size=5).build()
    assert isinstance(built, ColorAnnotator) and built.batch_size == 5
    from datakit import Dataset, Sample

    ds = Dataset.from_samples([Sample("a.png")], tmp_path)
    with pytest.raises(DatakitError, match="cannot be sent to Dask workers"):  # a lambda loader cannot travel
        annotate(ds, ColorAnnotator(), load=lambda d, i: None, scheduler="local:1", progress=False)
    with pytest.raises(DatakitError, match="local:N workers declare none"):  # would wait forever
        annotate(ds, ColorAnnotator(), scheduler="local:1", resources={"GPU": 1}, progress=False)
    with pytest.raises(DatakitError, match="resources"):
        annotate(ds, ColorAnnotator(), resources={"GPU": 1}, progress=False)


class _Unpicklable(Annotator):
    name, fields, needs_image = "unpicklable", ("n",), False

    def __init__(self) -> None:
        self.lock = __import__("threading").Lock()

    def predict(self, prepared: object, items: list[Item]) -> list[Result]:
        return [Result(it.id, "ok", {"n": it.index}) for it in items]


def test_an_annotator_that_cannot_travel_is_a_clear_error(tmp_path: Path) -> None:
    from datakit import Dataset, Sample

    ds = Dataset.from_samples([Sample("a.png")], tmp_path)
    with pytest.raises(DatakitError, match="unpicklable: cannot be sent to Dask workers"):
        annotate(ds, _Unpicklable(), scheduler="local:1", progress=False)
    assert annotate(ds, _Unpicklable(), progress=False).counts() == {"ok": 1}  # locally it runs


@pytest.mark.slow
def test_annotate_color_survives_a_worker_killed_mid_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dying_color: None
) -> None:
    ds = _crops(tmp_path / "crops", 300)
    argv = ["annotate", str(ds), "--with", "color", "--batch-size", "16", "--json"]
    monkeypatch.delenv("DATAKIT_SCHEDULER", raising=False)
    marker = tmp_path / "died"
    monkeypatch.setenv(DIE_MARKER, str(marker))
    monkeypatch.setenv(DIE_ON, "7x")  # never: the local run is the clean reference
    assert main([*argv, "--out", str(tmp_path / "local")]) == 0
    monkeypatch.setenv(DIE_ON, "train/150.png")  # a batch in the middle of the run
    assert main([*argv, "--scheduler", "local:2", "--out", str(tmp_path / "dask")]) == 0
    assert marker.exists()  # a worker really died mid-batch
    local, dask = _outputs(tmp_path / "local"), _outputs(tmp_path / "dask")
    assert set(local) >= {"train/annotations.jsonl", "_annotate/color.jsonl"}
    assert dask == local  # checkpoint rows and saved dataset byte for byte
    rows = _rows(tmp_path / "dask" / "_annotate" / "color.jsonl")
    ids = [r["id"] for r in rows]
    assert sorted(ids) == sorted(f"train/{i}.png" for i in range(300))  # each sample once: none lost, none twice
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["values"].get("jersey_color") for r in rows} >= {"red", "blue", "white", "black", "green"}


_DETECTOR = """
import os, time
from pathlib import Path

MARKER = {marker!r}
DIE_ON_SHAPE = {die!r}
SLEEP = {sleep!r}


def detect(images):
    out = []
    for im in images:
        h, w = im.shape[:2]
        if (w, h) == tuple(DIE_ON_SHAPE) and not os.path.exists(MARKER):
            Path(MARKER).write_text(str(os.getpid()))
            os._exit(1)
        time.sleep(SLEEP)
        g = float(im[..., 1].mean())
        out.append({{"boxes": [[1, 2, w - 3, h - 1]], "scores": [round(g / 255, 4)], "labels": ["player"]}})
    return out
"""


def _frames(root: Path, n: int) -> Path:
    from PIL import Image

    (root / "train").mkdir(parents=True)
    rows: list[object] = []
    for i in range(n):
        Image.new("RGB", (40 + i, 30), (i * 3 % 256, i * 7 % 256, 90)).save(root / "train" / f"f{i:03d}.png")
        rows.append({"image": f"f{i:03d}.png", "metadata": {"video": "v.mp4", "frame_index": i}})
    write_jsonl(root / "train" / "annotations.jsonl", rows)
    return root


@pytest.mark.slow
def test_pseudo_label_survives_a_worker_killed_mid_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAKIT_SCHEDULER", raising=False)
    frames = _frames(tmp_path / "frames", 40)
    marker = tmp_path / "died"
    det = tmp_path / "det.py"
    det.write_text(_DETECTOR.format(marker=str(marker), die=(40 + 23, 30), sleep=0.01))  # ~4 tasks
    argv = ["pseudo-label", str(frames), "--detector", f"{det}:detect", "--frames-per-batch", "3", "--json"]
    marker.write_text("clean")  # the local reference run never dies
    assert main([*argv, "--out", str(tmp_path / "local")]) == 0
    marker.unlink()
    assert main([*argv, "--scheduler", "local:2", "--out", str(tmp_path / "dask")]) == 0
    assert marker.exists() and marker.read_text() != "clean"  # a worker died on frame 23
    local, dask = _outputs(tmp_path / "local"), _outputs(tmp_path / "dask")
    assert set(local) >= {"train/annotations.jsonl", "_pseudo/pseudo.jsonl"} and dask == local
    ids = [r["id"] for r in _rows(tmp_path / "dask" / "_pseudo" / "pseudo.jsonl")]
    assert sorted(ids) == [f"train/f{i:03d}.png" for i in range(40)]


@pytest.mark.slow
def test_client_killed_with_kill_9_resumes_on_the_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAKIT_SCHEDULER", raising=False)
    frames = _frames(tmp_path / "frames", 60)
    det = tmp_path / "slow.py"
    det.write_text(_DETECTOR.format(marker=str(tmp_path / "never"), die=(0, 0), sleep=0.06))
    argv = ["pseudo-label", str(frames), "--detector", f"{det}:detect", "--frames-per-batch", "2", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "local"), "--json"]) == 0
    out = tmp_path / "dask"
    ck = out / "_pseudo" / "pseudo.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "import sys; from datakit.cli import main; sys.exit(main(sys.argv[1:]))"
    cmd = [sys.executable, "-c", code, *argv, "--scheduler", "local:2", "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if ck.exists() and ck.read_bytes().count(b"\n") >= 1 + 10:
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # the client only; its workers notice and exit
        proc.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of that run is left
    assert proc.returncode == -signal.SIGKILL
    done = [r["id"] for r in _rows(ck)]
    assert len(done) == len(set(done)) and 10 <= len(done) < 60  # killed mid-run, whole rows only
    assert main([*argv, "--scheduler", "local:2", "--out", str(out), "--json"]) == 0
    got = _rows(ck)
    assert sorted(r["id"] for r in got) == [f"train/f{i:03d}.png" for i in range(60)]  # each frame exactly once
    assert {r["id"]: r for r in got} == {r["id"]: r for r in _rows(tmp_path / "local" / "_pseudo" / "pseudo.jsonl")}
    ann = "train/annotations.jsonl"
    assert (out / ann).read_bytes() == (tmp_path / "local" / ann).read_bytes()


@pytest.mark.slow
def test_annotate_on_boxes_on_a_cluster_matches_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Box items (crops of each player box) travel as the batch's rows; the worker crops them itself."""
    monkeypatch.delenv("DATAKIT_SCHEDULER", raising=False)
    ds = _crops(tmp_path / "crops", 30)
    ann = ds / "train" / "annotations.jsonl"
    rows = [orjson.loads(x) for x in ann.read_bytes().splitlines()]
    for r in rows:
        r["detections"] = [{"label": "player", "bbox": [2, 2, 30, 40]}, {"label": "ball", "bbox": [5, 5, 9, 9]}]
    write_jsonl(ann, rows)
    argv = ["annotate", str(ds), "--with", "color", "--on-boxes", "player", "--batch-size", "4", "--json"]
    assert main([*argv, "--out", str(tmp_path / "local")]) == 0
    assert main([*argv, "--scheduler", "local:2", "--out", str(tmp_path / "dask")]) == 0
    local, dask = _outputs(tmp_path / "local"), _outputs(tmp_path / "dask")
    assert dask == local
    ids = [r["id"] for r in _rows(tmp_path / "dask" / "_annotate" / "color.jsonl")]
    assert sorted(ids) == sorted(f"train/{i}.png#box0" for i in range(30))  # player boxes only, each once


class _Flaky(Annotator):
    """Fails every batch holding an id in ``fail_on`` (no recipe: the object itself travels, pickled)."""

    name, fields, needs_image = "flaky", ("n",), False

    def __init__(self, fail_on: set[str], batch_size: int = 2) -> None:
        self.fail_on, self.batch_size = fail_on, batch_size

    def predict(self, prepared: Any, items: list[Item]) -> list[Result]:
        if any(it.id in self.fail_on for it in items):
            raise ValueError("model broke on " + ",".join(sorted(it.id for it in items if it.id in self.fail_on)))
        return [Result(it.id, "ok", {"n": it.index}, raw=str(it.index)) for it in items]


@pytest.mark.slow
def test_model_failures_on_workers_are_recorded_or_raised_as_locally(tmp_path: Path) -> None:
    from datakit import Dataset, Sample

    ds = Dataset.from_samples([Sample(f"{i}.jpg") for i in range(12)], tmp_path)
    flaky = _Flaky({"3.jpg", "8.jpg"})
    local = annotate(ds, flaky, checkpoint=tmp_path / "a.jsonl", progress=False)
    dask = annotate(ds, flaky, checkpoint=tmp_path / "b.jsonl", scheduler="local:1", progress=False)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert local.counts() == dask.counts() == {"ok": 8, "error": 4}  # two failed batches of two
    assert dask.results["3.jpg"].problems == {"model": "ValueError: model broke on 3.jpg"}
    with pytest.raises(ValueError, match="model broke"):  # a broken model still stops the run, same error
        annotate(ds, _Flaky({f"{i}.jpg" for i in range(12)}), scheduler="local:1", progress=False)
