"""The parallel seam: local pools and a Dask LocalCluster on 127.0.0.1 give the same results."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from datakit.parallel import SchedulerError, executor, ordered_map, plan, task_size, with_state


def _square(x: int) -> int:
    return x * x


def _die_once(arg: tuple[str, int]) -> int:
    """Kill this worker process the first time item 3 runs (a marker file remembers)."""
    marker, x = arg
    if x == 3 and not os.path.exists(marker):
        Path(marker).write_text("died")
        os._exit(1)
    return x * 10


def test_plan_parses_schedulers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAKIT_SCHEDULER", raising=False)
    assert plan(workers=1).kind == "serial" and plan(workers=3).kind == "processes"
    assert plan(scheduler="local:2").address == "local"
    assert plan(scheduler="tcp://10.0.0.5:8786").address == "tcp://10.0.0.5:8786"
    monkeypatch.setenv("DATAKIT_SCHEDULER", "local:3")
    assert plan().workers == 3 and plan().kind == "dask"
    for bad in ("local:0", "dask", "http://x:1", "local:two"):
        with pytest.raises(SchedulerError, match="scheduler"):
            plan(scheduler=bad)


def test_task_size_keeps_tasks_long_enough() -> None:
    for n, spi, workers in [(10_000, 0.0001, 2), (1_000_000, 0.0001, 8), (50_000, 0.002, 2), (300, 0.01, 2)]:
        size = task_size(n, spi, workers)
        assert size * spi >= 0.1  # every task runs at least 100 ms ...
        assert size * spi <= 0.4 or n / size >= 4 * workers  # ... and no longer than needed to spread the work
    assert task_size(10_000, 0.0001, 2) == 1250  # 8 tasks of 125 ms: 4 per worker
    assert task_size(100, 1.0, 2) == 4 and task_size(10, 0.5, 4) == 1  # slow items: few per task
    assert task_size(0, 1.0, 2) == 1


def test_with_state_runs_init_once_per_key() -> None:
    calls: list[str] = []
    f = with_state("a", calls.append, ("x",), _square)
    assert [f(2), f(3)] == [4, 9] and calls == ["x"]
    g = with_state("b", calls.append, ("y",), _square)
    assert g(1) == 1 and calls == ["x", "y"]


def test_local_pool_and_serial_agree() -> None:
    with executor(workers=2) as ex:
        assert list(ordered_map(ex, _square, range(50), window=3)) == [x * x for x in range(50)]
    with executor(workers=1) as ex:
        assert ex is None


@pytest.mark.slow
def test_dask_local_cluster_reruns_a_killed_worker_task(tmp_path: Path) -> None:
    """A worker dies mid-run: Dask reruns its task elsewhere and the ordered result equals a clean run."""
    marker = str(tmp_path / "marker")
    with executor(scheduler="local:2") as ex:
        assert ex is not None
        client = ex._client  # type: ignore[attr-defined]
        addresses = {w for w in client.scheduler_info()["workers"]}
        assert all(a.startswith("tcp://127.0.0.1:") for a in addresses)  # loopback only
        out = list(ordered_map(ex, _die_once, [(marker, x) for x in range(8)]))
    assert Path(marker).read_text() == "died"  # a worker really died
    assert out == [x * 10 for x in range(8)]


def _worker_view(_: int) -> tuple[bool, str, bool]:
    import sys

    import dask

    return (dask.config.get("distributed.worker.profile.enabled"), dask.config.get("distributed.admin.tick.interval"),
            "tabnanny" in sys.modules)  # fmt: skip


@pytest.mark.slow
def test_local_cluster_workers_are_quiet_and_inherit_preloaded_modules() -> None:
    """local:N workers run with LOCAL_CLUSTER_CONFIG (profiler off, 1 s ticks) and fork after ``preload``."""
    import subprocess
    import sys

    # a fresh single-threaded interpreter, so the workers fork (and tabnanny, which nothing imports, is not loaded)
    here = str(Path(__file__).parent)
    code = (
        f"import sys; sys.path.insert(0, {here!r}); from test_parallel import _worker_view; "
        "from datakit.parallel import executor, ordered_map\n"
        "if __name__ == '__main__':\n"
        "    assert 'tabnanny' not in sys.modules\n"
        "    with executor(scheduler='local:2', preload=('tabnanny',)) as ex:\n"
        "        print(sorted(set(ordered_map(ex, _worker_view, range(4)))))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[(False, '1s', True)]"


@pytest.mark.slow
def test_render_on_a_dask_cluster_is_byte_identical(tmp_path: Path) -> None:
    from datakit.cli import main

    argv = ["render", "jersey", "--classes", "0-9", "--per-class", "3", "--size", "48", "--seed", "3"]
    assert main([*argv, "--workers", "1", "--out", str(tmp_path / "local")]) == 0
    assert main([*argv, "--scheduler", "local:2", "--out", str(tmp_path / "dask")]) == 0
    local = sorted((tmp_path / "local" / "train" / "synthetic").iterdir())
    dask = sorted((tmp_path / "dask" / "train" / "synthetic").iterdir())
    assert [p.name for p in local] == [p.name for p in dask] and len(local) == 31  # 30 crops + annotations
    for a, b in zip(local, dask, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


@pytest.mark.slow
def test_render_through_a_scheduler_address_sends_the_images_back(tmp_path: Path) -> None:
    """``tcp://``: workers need no shared file system; the client writes the same bytes."""
    from distributed import LocalCluster

    from datakit.cli import main

    argv = ["render", "jersey", "--classes", "0-4", "--per-class", "2", "--size", "48", "--seed", "5"]
    assert main([*argv, "--workers", "1", "--out", str(tmp_path / "local")]) == 0
    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                      silence_logs=40) as cluster:  # fmt: skip
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        assert main([*argv, "--scheduler", address, "--out", str(tmp_path / "remote")]) == 0
    local = sorted((tmp_path / "local" / "train" / "synthetic").iterdir())
    remote = sorted((tmp_path / "remote" / "train" / "synthetic").iterdir())
    assert [p.name for p in local] == [p.name for p in remote] and len(local) == 11
    for a, b in zip(local, remote, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_local_workers_fork_only_from_a_single_threaded_process() -> None:
    """Forked workers inherit imports (a fast start); a process running threads spawns them instead."""
    import threading

    from datakit.parallel import start_method

    assert start_method() == ("fork" if threading.active_count() == 1 else "spawn")
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert start_method() == "spawn"
    finally:
        stop.set()
        t.join()


@pytest.mark.slow
def test_dedup_and_validate_on_a_dask_cluster_match_local(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from PIL import Image, ImageDraw

    from datakit.cli import main
    from tests.conftest import write_jsonl

    root = tmp_path / "ds"
    rows = []
    for i in range(300):  # two blocks of fingerprints; every 10th image re-saved as a near copy
        img = Image.new("RGB", (40, 40), (i % 7 * 30, i % 11 * 20, i % 13 * 15))
        ImageDraw.Draw(img).text((5, 10), str(i % 50), fill=(255, 255, 255))
        name = f"{i}.png"
        (root / "train").mkdir(parents=True, exist_ok=True)
        img.save(root / "train" / name)
        if i % 10 == 0:
            img.save(root / "train" / f"{i}_copy.jpg", quality=95)
            rows.append({"image": f"{i}_copy.jpg", "suffix": str(i % 50)})
        rows.append({"image": name, "suffix": str(i % 50)})
    write_jsonl(root / "train" / "annotations.jsonl", rows)

    def run(*argv: str) -> dict:
        assert main(list(argv)) == 0
        return json.loads(capsys.readouterr().out)

    local = run("dedup", str(root), "--workers", "2", "--report", str(tmp_path / "a.json"), "--json")
    dask = run("dedup", str(root), "--scheduler", "local:2", "--report", str(tmp_path / "b.json"), "--json")
    assert local["summary"] == dask["summary"] and local["summary"]["near_groups"] + local["summary"]["exact_groups"] >= 25
    a, b = json.loads((tmp_path / "a.json").read_text()), json.loads((tmp_path / "b.json").read_text())
    assert a["near_groups"] == b["near_groups"] and a["exact_groups"] == b["exact_groups"]
    v_local = run("validate", str(root), "--json")
    v_dask = run("validate", str(root), "--scheduler", "local:2", "--json")
    assert v_local == v_dask and v_local["images"] == 330


@pytest.mark.slow
def test_extract_frames_on_a_dask_cluster_matches_local(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One task per video on 2 Dask workers: the same frames, rows and bytes as one process."""
    import av
    import numpy as np

    from datakit.cli import main

    videos = []
    for v in range(3):
        path = tmp_path / f"v{v}.mp4"
        with av.open(str(path), "w") as c:
            s = c.add_stream("mpeg4", rate=10)
            s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
            for i in range(30):
                arr = np.full((48, 64, 3), (i * 8 + v * 40) % 256, np.uint8)
                for pkt in s.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                    c.mux(pkt)
            for pkt in s.encode():
                c.mux(pkt)
        videos.append(str(path))
    argv = ["extract-frames", *videos, "--every", "7", "--format", "png"]
    assert main([*argv, "--out", str(tmp_path / "local")]) == 0
    assert main([*argv, "--scheduler", "local:2", "--out", str(tmp_path / "dask")]) == 0
    capsys.readouterr()
    local = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.png"))
    dask = sorted(p.relative_to(tmp_path / "dask") for p in (tmp_path / "dask").rglob("*.png"))
    assert local == dask and len(local) == 15
    for rel in local:
        assert (tmp_path / "local" / rel).read_bytes() == (tmp_path / "dask" / rel).read_bytes()
    rows = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("annotations.jsonl"))
    for rel in rows:
        a = (tmp_path / "local" / rel).read_text().replace(str(tmp_path / "local"), "")
        b = (tmp_path / "dask" / rel).read_text().replace(str(tmp_path / "dask"), "")
        assert a == b
