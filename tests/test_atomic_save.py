"""In-place saves are one atomic step across files; modes follow the umask; stale temporaries go.

The crash tests stop a real process at every step of an in-place save (``DATAKIT_FAULT_STEP=k``
makes it ``os._exit`` there, which skips every ``finally`` and ``atexit`` as ``kill -9`` does),
then load the folder: it must hold exactly the old dataset or exactly the new one, and nothing
of the save may be left behind.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import datakit
from datakit import atomic
from datakit.atomic import Transaction, atomic_dir, atomic_write_bytes, recover
from datakit.formats import jsonl

REPO = Path(__file__).parent.parent


def _make(root: Path, n: int = 600) -> Path:
    """A JSONL-only dataset in train/valid/test with a synthetic part and a manifest."""
    files: dict[str, list[str]] = {}
    for i in range(n):
        split = ("train", "train", "valid", "test")[i % 4]
        rel = f"{split}/synthetic/annotations.jsonl" if i % 10 == 0 else f"{split}/annotations.jsonl"
        row: dict[str, Any] = {"image": f"{i:05d}.jpg", "prefix": "P", "suffix": str(i % 7), "metadata": {"k": i}}
        files.setdefault(rel, []).append(json.dumps(row))
    for rel, rows in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("\n".join(rows) + "\n")
    (root / "datakit.json").write_text(json.dumps({"classes": [str(c) for c in range(7)]}))
    (root / "train" / "00000.jpg").write_bytes(b"not an image")  # something that is not annotations
    return root


# The new dataset: re-split (valid and every synthetic file disappear, samples move between
# train and test), relabelled, with a new manifest.
RESPLIT = """
import sys, datakit
ds = datakit.load(sys.argv[1])
splits = ["test" if i % 3 == 0 else "train" for i in range(len(ds))]
labels = [str((int(x) + 1) % 7) for x in ds.column("label")]
new = ds.with_column("split", splits).with_column("label", labels).with_column("source", ["real"] * len(ds))
new = new.replace(info={"generation": 2})
new.save()
"""


def _snapshot(root: Path) -> tuple[Any, ...]:
    ds = datakit.load(root)
    samples = sorted((s.image, s.label, s.split, s.source, s.prompt, json.dumps(s.metadata)) for s in ds)
    return samples, ds.classes, ds.info, [x.to_dict() for x in ds.skipped]


def _leftovers(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob(".*"))


def _save(root: Path, fault: int | None) -> int:
    env = {**os.environ, "DATAKIT_FAULT_STEP": str(fault) if fault else ""}
    return subprocess.run([sys.executable, "-c", RESPLIT, str(root)], env=env, cwd=REPO, check=False).returncode


@pytest.mark.slow
def test_a_save_stopped_at_any_step_leaves_the_old_or_the_new_dataset(tmp_path: Path) -> None:
    base = _make(tmp_path / "base")
    old = _snapshot(base)
    done = tmp_path / "done"
    shutil.copytree(base, done)
    assert _save(done, None) == 0
    new = _snapshot(done)
    assert new != old and not _leftovers(done)
    assert not (done / "valid").exists() and not (done / "test" / "synthetic").exists()  # emptied folders go
    assert (done / "train" / "00000.jpg").is_file()  # a folder with other files stays
    outcomes = []
    k = 1
    while True:
        root = tmp_path / f"k{k}"
        shutil.copytree(base, root)
        rc = _save(root, k)
        if rc == 0:  # k is past the last step: the save ran through
            assert _snapshot(root) == new
            break
        assert rc == 86, f"step {k}: the save failed with {rc}"
        got = _snapshot(root)  # loading finishes or undoes the interrupted save
        assert got in (old, new), f"stopped at step {k}: a mix of the old and the new dataset"
        assert not _leftovers(root), f"step {k}: {_leftovers(root)}"
        assert _snapshot(root) == got  # stable
        outcomes.append("old" if got == old else "new")
        shutil.rmtree(root)
        k += 1
    assert "old" in outcomes and "new" in outcomes and k > 8, outcomes
    assert outcomes == sorted(outcomes, key=lambda o: o == "new"), outcomes  # old until the commit, new after


@pytest.mark.slow
def test_kill_9_during_a_large_in_place_save(tmp_path: Path) -> None:
    base = _make(tmp_path / "base", n=60_000)
    old = _snapshot(base)
    done = tmp_path / "done"
    shutil.copytree(base, done)
    assert _save(done, None) == 0
    new = _snapshot(done)
    for delay in (0.05, 0.3, 0.6, 0.9):
        root = tmp_path / f"d{delay}"
        shutil.copytree(base, root)
        p = subprocess.Popen([sys.executable, "-c", RESPLIT, str(root)], cwd=REPO)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        assert _snapshot(root) in (old, new)
        assert not _leftovers(root)


def test_a_failed_save_rolls_back_and_the_next_save_recovers(tmp_path: Path) -> None:
    root = _make(tmp_path / "ds", n=40)
    before = _snapshot(root)

    def failing_save() -> None:
        with Transaction(root) as tx:
            tx.write_bytes("train/annotations.jsonl", b"")
            tx.remove("valid/annotations.jsonl")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        failing_save()
    assert _snapshot(root) == before and not _leftovers(root)
    # A transaction that died before its commit: its staged files are listed in its intent file.
    (root / "train" / ".annotations.jsonl.datakit-stage-1-ab.tmp").write_text("half")
    (root / ".datakit-txn-1-ab.json").write_text("train/.annotations.jsonl.datakit-stage-1-ab.tmp\n")
    ds = datakit.load(root)
    assert not _leftovers(root)
    ds.save()  # and a save runs through
    assert _snapshot(root) == before


def test_a_committed_journal_is_rolled_forward(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "r"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.txt").write_text("old")
    (root / "a" / ".x.txt.stage.tmp").write_text("new")
    (root / "gone.txt").write_text("stale")
    journal = {"txid": "9-ff", "renames": [["a/.x.txt.stage.tmp", "a/x.txt"]], "removes": ["gone.txt"]}
    (root / atomic.JOURNAL).write_text(json.dumps(journal))
    with caplog.at_level(logging.WARNING, logger="datakit"):
        assert recover(root) == 1
    assert (root / "a" / "x.txt").read_text() == "new" and not (root / "gone.txt").exists()
    assert sorted(p.name for p in root.rglob("*")) == ["a", "x.txt"]
    assert "interrupted after its commit" in caplog.text
    assert recover(root) == 0


def test_transaction_refuses_paths_outside_its_root(tmp_path: Path) -> None:
    with Transaction(tmp_path) as tx:
        for bad in ("../x", "/etc/x", ""):
            with pytest.raises(ValueError, match="inside the transaction's root"):
                tx.remove(bad)


# ----------------------------------------------------------------------------- permissions
def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_new_files_and_folders_follow_the_umask(mask: int, tmp_path: Path, seed_dataset: Path) -> None:
    old = os.umask(mask)
    try:
        out = jsonl.write(datakit.load(seed_dataset), tmp_path / "out")
        atomic_write_bytes(tmp_path / "report.json", b"{}")
    finally:
        os.umask(old)
    assert atomic.umask() == old
    assert _mode(out) == 0o777 & ~mask
    assert _mode(out / "train") == 0o777 & ~mask
    assert _mode(out / "train" / "annotations.jsonl") == 0o666 & ~mask
    assert _mode(out / "datakit.json") == 0o666 & ~mask if (out / "datakit.json").exists() else True
    assert _mode(tmp_path / "report.json") == 0o666 & ~mask


def test_in_place_save_keeps_each_files_mode(tmp_path: Path) -> None:
    root = _make(tmp_path / "ds", n=40)
    os.chmod(root / "train" / "annotations.jsonl", 0o644)
    os.chmod(root / "test" / "annotations.jsonl", 0o640)
    os.chmod(root / "datakit.json", 0o604)
    old = os.umask(0o077)  # would give 0600 to a new file
    try:
        datakit.load(root).save()
        atomic_write_bytes(root / "datakit.json", (root / "datakit.json").read_bytes())
    finally:
        os.umask(old)
    assert _mode(root / "train" / "annotations.jsonl") == 0o644
    assert _mode(root / "test" / "annotations.jsonl") == 0o640
    assert _mode(root / "datakit.json") == 0o604


def test_replaced_output_folder_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir(mode=0o750)
    os.chmod(out, 0o750)
    with atomic_dir(out) as tmp:
        (tmp / "a").write_text("x")
    assert _mode(out) == 0o750 and (out / "a").is_file()


# ----------------------------------------------------------------------------- stale temporaries
def test_stale_temporaries_of_a_killed_run_are_removed_and_said(
    tmp_path: Path, seed_dataset: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ours = tmp_path / ".out.datakit-4242-deadbeef.tmp"
    (ours / "train").mkdir(parents=True)
    (ours / "train" / "big.bin").write_bytes(b"x" * 1000)
    legacy = tmp_path / ".out.k2j4h5g6.tmp"  # what datakit before this release left
    legacy.mkdir()
    os.utime(legacy, (time.time() - 7200, time.time() - 7200))
    live = tmp_path / ".out.datakit-99-cafe.tmp"  # another run still writing: locked
    live.mkdir()
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    other = tmp_path / ".other.datakit-1-ab.tmp"  # beside another output: not this run's business
    other.mkdir()
    try:
        with caplog.at_level(logging.WARNING, logger="datakit"):
            jsonl.write(datakit.load(seed_dataset), tmp_path / "out")
    finally:
        os.close(fd)
    assert not ours.exists() and not legacy.exists()
    assert live.exists() and other.exists()
    lines = [r.getMessage() for r in caplog.records if "stale" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("removed 2 stale temporary item(s)"), lines


def test_a_killed_convert_leaves_a_recognisable_temporary_the_next_run_removes(tmp_path: Path, seed_dataset: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    script = f"""
import os, datakit
from datakit.formats import jsonl
from datakit.atomic import atomic_dir
with atomic_dir({str(work / "out")!r}) as tmp:
    (tmp / "partial").write_text("x")
    os._exit(9)
"""
    assert subprocess.run([sys.executable, "-c", script], cwd=REPO, check=False).returncode == 9
    [left] = [p.name for p in work.iterdir()]
    assert left.startswith(".out.datakit-") and left.endswith(".tmp")
    proc = subprocess.run(
        [sys.executable, "-m", "datakit.cli", "convert", str(seed_dataset), "--to", "jsonl", "--out", str(work / "out")],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in work.iterdir()) == ["out"]
    assert "removed 1 stale temporary item(s)" in proc.stderr and proc.stderr.count("stale") == 1


def test_a_load_waits_for_a_save_running_in_another_process(tmp_path: Path) -> None:
    """A load during a save reads the state after it, never files half switched."""
    root = _make(tmp_path / "ds", n=40)
    script = f"""
import sys, time
from datakit.atomic import Transaction
with Transaction({str(root)!r}) as tx:
    tx.write_bytes("train/annotations.jsonl", b'{{"image": "new.jpg", "suffix": "1"}}\\n')
    tx.remove("valid/annotations.jsonl")
    print("staged", flush=True)
    time.sleep(1.5)
"""
    p = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "staged"
        ds = datakit.load(root)  # without waiting, this would read the old train file
    finally:
        assert p.wait() == 0
    assert "train/new.jpg" in ds.images and "train/00001.jpg" not in ds.images and "valid/00002.jpg" not in ds.images
