"""The annotator interface: statuses, checkpoints, resume, and a real kill -9 mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest

from annotators.base import STATUSES, Annotations, Annotator, Result, annotate
from annotators.checkpoint import Checkpoint
from datakit import Dataset, FormatError, Sample


class Recorder(Annotator):
    """Answers ``red`` for even rows, garbage for odd rows; records what it was asked."""

    name, fields, needs_image = "rec", ("jersey_color",), False

    def __init__(self, batch_size: int = 3, fail_on: set[str] | None = None) -> None:
        self.batch_size = batch_size
        self.seen: list[str] = []
        self.fail_on = fail_on or set()

    def predict(self, prepared, items):
        if any(it.id in self.fail_on for it in items):
            raise RuntimeError("model exploded")
        self.seen += [it.id for it in items]
        return [
            Result(it.id, "ok", {"jersey_color": "red"}, raw="red")
            if it.index % 2 == 0
            else Result(it.id, "unparseable", raw="???", problems={"answer": "no JSON"})
            for it in items
        ]


def _ds(n: int = 10) -> Dataset:
    return Dataset.from_samples([Sample(f"{i}.jpg", label=str(i)) for i in range(n)], ".")


def test_result_rejects_unknown_status() -> None:
    with pytest.raises(ValueError, match="expected status"):
        Result("a", "fine")
    assert STATUSES == ("ok", "unparseable", "invalid_value", "error")


def test_statuses_values_and_raw_are_kept_and_applied() -> None:
    ds = _ds(4)
    run = annotate(ds, Recorder(), progress=False)
    assert run.counts() == {"ok": 2, "unparseable": 2}
    assert run.results["1.jpg"].raw == "???"
    out = run.apply(ds)
    assert out.column("metadata.jersey_color") == ["red", None, "red", None]
    assert out.column("metadata.rec_status") == ["ok", "unparseable", "ok", "unparseable"]
    prefixed = run.apply(ds, prefix="vlm_")
    assert prefixed.column("metadata.vlm_jersey_color")[0] == "red"
    assert prefixed.column("metadata.vlm_status")[1] == "unparseable"


def test_resume_skips_done_ids(tmp_path: Path) -> None:
    ds = _ds(10)
    ck = tmp_path / "ck.jsonl"
    first = Recorder()
    annotate(ds.take(range(4)), first, checkpoint=ck, progress=False)
    assert first.seen == ["0.jpg", "1.jpg", "2.jpg", "3.jpg"]
    second = Recorder()
    run = annotate(ds, second, checkpoint=ck, progress=False)
    assert second.seen == [f"{i}.jpg" for i in range(4, 10)]
    assert run.resumed == 4 and len(run.results) == 10
    assert list(run.results) == ds.ids
    rows = [orjson.loads(x) for x in ck.read_bytes().splitlines()]
    ids = [r["id"] for r in rows[1:]]
    assert len(ids) == len(set(ids)) == 10


def test_checkpoint_refuses_other_configuration(tmp_path: Path) -> None:
    ck = tmp_path / "ck.jsonl"
    annotate(_ds(2), Recorder(), checkpoint=ck, progress=False)

    class Other(Recorder):
        name = "other"

    with pytest.raises(FormatError, match="checkpoint was started with"):
        annotate(_ds(2), Other(), checkpoint=ck, progress=False)
    run = annotate(_ds(2), Other(), checkpoint=ck, restart=True, progress=False)
    assert run.resumed == 0 and run.counts() == {"ok": 1, "unparseable": 1}


def test_checkpoint_cuts_torn_last_line(tmp_path: Path) -> None:
    ck = tmp_path / "ck.jsonl"
    with Checkpoint.open(ck, {"a": 1}) as c:
        c.append([{"id": "x", "status": "ok"}, {"id": "y", "status": "ok"}])
    with open(ck, "ab") as f:
        f.write(b'{"id": "z", "sta')  # a crash in the middle of a write
    with Checkpoint.open(ck, {"a": 1}) as c:
        assert sorted(c.done) == ["x", "y"]
        assert c.dropped_bytes == len(b'{"id": "z", "sta')
        c.append([{"id": "z", "status": "ok"}])
    lines = ck.read_bytes().splitlines()
    assert [orjson.loads(x).get("id") for x in lines] == [None, "x", "y", "z"]


def test_checkpoint_bad_complete_line_names_the_line(tmp_path: Path) -> None:
    ck = tmp_path / "ck.jsonl"
    ck.write_bytes(b'{"_checkpoint": {"a": 1}}\nnot json\n')
    with pytest.raises(FormatError, match=r"ck.jsonl.*2"):
        Checkpoint.open(ck, {"a": 1})


def test_missing_image_is_an_error_result_not_a_crash(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "a.png")
    ds = Dataset.from_samples([Sample("a.png"), Sample("missing.png")], tmp_path)

    class Sizes(Annotator):
        name, fields = "size", ("w",)

        def predict(self, prepared, items):
            return [Result(it.id, "ok", {"w": it.image.size[0]}) for it in items]

    run = annotate(ds, Sizes(), progress=False)
    assert run.results["a.png"].status == "ok" and run.results["a.png"].values == {"w": 8}
    bad = run.results["missing.png"]
    assert bad.status == "error" and "missing.png" in bad.problems["image"]


def test_failed_batch_marks_error_and_retry(tmp_path: Path) -> None:
    ds = _ds(6)
    ck = tmp_path / "ck.jsonl"
    run = annotate(ds, Recorder(batch_size=2, fail_on={"2.jpg"}), checkpoint=ck, progress=False)
    assert run.results["2.jpg"].status == "error" and run.results["3.jpg"].status == "error"
    assert "model exploded" in run.results["2.jpg"].problems["model"]
    assert run.results["4.jpg"].status == "ok"
    again = Recorder(batch_size=2)
    annotate(ds, again, checkpoint=ck, progress=False)
    assert again.seen == []  # errors are kept unless asked
    retry = Recorder(batch_size=2)
    run = annotate(ds, retry, checkpoint=ck, retry_errors=True, progress=False)
    assert retry.seen == ["2.jpg", "3.jpg"]
    assert run.results["2.jpg"].status == "ok"


def test_broken_model_fails_fast() -> None:
    ds = _ds(30)
    with pytest.raises(RuntimeError, match="exploded"):
        annotate(ds, Recorder(batch_size=1, fail_on={f"{i}.jpg" for i in range(30)}), progress=False)


def test_annotations_apply_adds_tags() -> None:
    ds = _ds(2)
    a = Annotations(
        "ocr", ("ocr_text",), {"0.jpg": Result("0.jpg", "ok", {"ocr_text": "5"}, tags=["possible_label_error"])}
    )
    out = a.apply(ds)
    assert out[0].tags == ["possible_label_error"] and out[1].tags == []
    assert out.column("metadata.ocr_status") == ["ok", None]


_SLOW = textwrap.dedent(
    """
    import sys, time
    from annotators.base import Annotator, Result, annotate
    from datakit import Dataset, Sample

    class Slow(Annotator):
        name, fields, needs_image, batch_size = "slow", ("n",), False, 4
        def predict(self, prepared, items):
            time.sleep(0.15)
            return [Result(it.id, "ok", {"n": it.index}, raw=str(it.index)) for it in items]

    ds = Dataset.from_samples([Sample(f"{i}.jpg") for i in range(int(sys.argv[2]))], ".")
    run = annotate(ds, Slow(), checkpoint=sys.argv[1], progress=False)
    print(run.resumed, len(run.results))
    """
)


@pytest.mark.slow
def test_kill_9_mid_run_loses_at_most_one_batch_and_never_duplicates(tmp_path: Path) -> None:
    script = tmp_path / "slow.py"
    script.write_text(_SLOW)
    ck = tmp_path / "ck.jsonl"
    n = 80
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, str(script), str(ck), str(n)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ck.exists() and ck.read_bytes().count(b"\n") >= 1 + 3 * 4:
            break
        time.sleep(0.02)
    t_kill = ck.read_bytes().count(b"\n") - 1
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    data = ck.read_bytes()
    rows = [orjson.loads(x) for x in data[: data.rfind(b"\n") + 1].splitlines()[1:]]
    done = [r["id"] for r in rows]
    assert len(done) == len(set(done))  # never a duplicate
    assert 12 <= len(done) < n
    assert len(done) >= t_kill  # fsynced batches are never lost; at most the one in flight
    out = subprocess.run(
        [sys.executable, str(script), str(ck), str(n)], env=env, capture_output=True, text=True, check=True
    )
    resumed, total = map(int, out.stdout.split())
    assert resumed == len(done) and total == n
    rows = [orjson.loads(x) for x in ck.read_bytes().splitlines()[1:]]
    ids = [r["id"] for r in rows]
    assert sorted(ids) == sorted(f"{i}.jpg" for i in range(n))  # each sample exactly once
    assert all(r["values"]["n"] == int(r["id"].split(".")[0]) for r in rows)


def test_every_registered_annotator_and_detector_has_a_test_file() -> None:
    from annotators import registry

    here = Path(__file__).parent
    names = [e.name for e in registry.entries("annotator")]
    assert {"vlm", "color", "ocr"} <= set(names)
    for name in names:
        assert (here / f"test_annotators_{name}.py").is_file(), f"annotator {name!r} has no test file"
    detectors = [e.name for e in registry.entries("detector")]
    assert {"rfdetr", "hog", "callable"} <= set(detectors)
    for name in detectors:
        assert (here / f"test_detectors_{name}.py").is_file(), f"detector {name!r} has no test file"


def test_resume_annotates_again_samples_whose_image_changed(tmp_path: Path) -> None:
    from PIL import Image

    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        Image.new("RGB", (8 + i, 8), colour).save(tmp_path / f"{i}.png")
    ds = Dataset.from_samples([Sample(f"{i}.png") for i in range(3)], tmp_path)

    class Widths(Annotator):
        name, fields, batch_size = "width", ("w",), 2

        def __init__(self) -> None:
            self.seen: list[str] = []

        def predict(self, prepared, items):
            self.seen += [it.id for it in items]
            return [Result(it.id, "ok", {"w": it.image.size[0]}) for it in items]

    ck = tmp_path / "ck.jsonl"
    annotate(ds, Widths(), checkpoint=ck, progress=False)
    Image.new("RGB", (30, 8), (9, 9, 9)).save(tmp_path / "1.png")  # the image is replaced
    again = Widths()
    run = annotate(ds, again, checkpoint=ck, progress=False)
    assert again.seen == ["1.png"]
    assert (run.resumed, run.stale) == (2, 1)
    assert run.results["1.png"].values == {"w": 30}
    third = Widths()
    assert annotate(ds, third, checkpoint=ck, progress=False).resumed == 3 and third.seen == []
