r"""The jersey OCR project's best number classifier (run #21 of its experiment log), trained on a datakit dataset.

Defaults are run #21's: ResNet18 with a new head (ImageNet weights from ``--weights``; without
them EfficientNet-Lite0 with the weights its package ships), cross-entropy with label smoothing
0.1, AdamW lr 5e-4 with warmup then cosine, EMA 0.9999 (warmup 2000 steps), at most 200 epochs
with early stopping on the EMA model's val top-1 (patience 20), no weighted sampler, the
``zc_strong_all`` degradations (see :mod:`recipes.classifier_data` for the transform stack).

A run folder ``RUN`` ends up holding::

    config.json                       the resolved options and the transform parameters
    labels_mapping.json               index → label, the normalisation, the input size
    metrics.json                      per-epoch loss/top-1/top-5, best epoch, per-class accuracy
    model.onnx                        the best epoch's EMA weights (ONNX Runtime checked to 1e-4)
    best.pt                           the same weights as a PyTorch state dict
    training_history/accuracy_history.png, loss_history.png
    epoch_NNN/confusion_matrix.png, sample_predictions.png   (every --plot-interval and the best)
    checkpoint/last.pt                resume state, rewritten after every epoch

Run it as ``python -m recipes.jersey_classifier --data DS --out RUN`` or ``datakit train jersey
DS --out RUN``; ``--resume`` continues a killed run from its last finished epoch.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from recipes import _training as T
from recipes._training import RecipeError

FREE_ON_RESUME = ("out", "resume", "workers", "device", "plot_interval")
"""Options a resumed run may change (everything else must match the checkpoint's run)."""


@dataclass
class JerseyConfig:
    """Every option of a run (``config.json`` holds it, resolved)."""

    data: str
    out: str
    arch: str = "auto"
    weights: str | None = None
    classes: list[str] | None = None
    epochs: int = 200
    batch_size: int = 64
    image_size: int = 224
    workers: int = field(default_factory=lambda: min(8, os.cpu_count() or 1))
    seed: int = 0
    preset: str = "zc_strong_all"
    label_smoothing: float = 0.1
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_epochs: float = 5.0
    ema_decay: float = 0.9999
    ema_warmup_steps: int = 2000
    patience: int = 20
    weighted_sampler: bool = False
    plot_interval: int = 10
    device: str = "auto"
    resume: bool = False

    def check(self) -> None:
        """Reject impossible values with a one-line error."""
        for name in ("epochs", "batch_size", "image_size", "patience", "plot_interval"):
            if getattr(self, name) < 1:
                raise RecipeError(f"--{name.replace('_', '-')}: expected at least 1, got {getattr(self, name)}")
        if self.workers < 0:
            raise RecipeError(f"--workers: expected 0 or more, got {self.workers}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise RecipeError(f"--label-smoothing: expected a value in [0, 1), got {self.label_smoothing}")
        if self.lr <= 0:
            raise RecipeError(f"--lr: expected a positive value, got {self.lr}")
        from renderers.presets import get_preset

        try:
            get_preset(self.preset)
        except ValueError as e:
            raise RecipeError(f"--preset: {e}") from None


def train(cfg: JerseyConfig) -> dict[str, Any]:
    """Train (or resume) a run; returns the summary written to ``metrics.json``."""
    import torch
    from torch import nn

    from recipes import classifier_data as D
    from recipes import classifier_models as M

    cfg.check()
    run = Path(cfg.out)
    arch = M.resolve_arch(cfg.arch, cfg.weights)
    norm = M.NORMALISATION[arch]
    classes, splits, skipped = D.read_splits(cfg.data, cfg.classes)
    if not splits.get("valid") or not splits["valid"].paths:
        raise RecipeError(f"{cfg.data}: no labelled valid split; early stopping and the best epoch need one")
    train_split = splits["train"]
    if len(train_split.paths) < 2:
        raise RecipeError(f"{cfg.data}: fewer than 2 usable train samples after the skips ({skipped.get('train')})")
    device = T.resolve_device(cfg.device)
    cuda = device.type == "cuda"
    torch.manual_seed(cfg.seed)

    train_tf = D.TrainTransform(cfg.image_size, cfg.preset, norm["mean"], norm["std"])
    eval_tf = D.EvalTransform(cfg.image_size, norm["mean"], norm["std"])
    resolved = {**asdict(cfg), "arch": arch, "classes": classes, "transform": train_tf.params}

    saved = T.load_checkpoint(run)
    if saved is not None and not cfg.resume:
        raise RecipeError(f"{run / T.CHECKPOINT}: the run folder has a checkpoint; pass --resume or another --out")
    if saved is not None:
        T.check_resume(run, saved["config"], resolved, FREE_ON_RESUME)
    run.mkdir(parents=True, exist_ok=True)
    T.write_json(run / "config.json", resolved)

    model, weights_note = M.build_model(arch, len(classes), cfg.weights)
    model.to(device)
    if cuda:
        model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    weights = D.class_balanced_weights(train_split.targets) if cfg.weighted_sampler else None
    sampler = D.EpochSampler(len(train_split.paths), cfg.seed, weights)
    loader_opts: dict[str, Any] = {"num_workers": cfg.workers, "pin_memory": cuda}
    if cfg.workers > 0:
        loader_opts.update(persistent_workers=True, prefetch_factor=4)
    train_loader: Any = torch.utils.data.DataLoader(
        D.CropDataset(train_split, train_tf, cfg.seed),  # type: ignore[arg-type]
        batch_size=cfg.batch_size,
        sampler=sampler,
        drop_last=len(train_split.paths) % cfg.batch_size == 1,  # BatchNorm cannot train on one sample
        **loader_opts,
    )
    eval_loaders: dict[str, Any] = {  # test is read once, at the end: no persistent workers for it
        name: torch.utils.data.DataLoader(
            D.CropDataset(s, eval_tf, cfg.seed),  # type: ignore[arg-type]
            batch_size=cfg.batch_size,
            **(loader_opts if name == "valid" else {"num_workers": cfg.workers, "pin_memory": cuda}),
        )
        for name, s in splits.items()
        if name != "train" and s.paths
    }
    steps_per_epoch = len(train_loader)
    total_steps = steps_per_epoch * cfg.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, T.warmup_cosine(round(cfg.warmup_epochs * steps_per_epoch), total_steps)
    )
    ema = T.ModelEMA(model, cfg.ema_decay, cfg.ema_warmup_steps)
    stopper = T.EarlyStopping(patience=cfg.patience)
    amp_dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else None
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    history: list[dict[str, Any]] = []
    start_epoch, stopped = 0, False
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        ema.load_state_dict(saved["ema"])
        stopper.load_state_dict(saved["early_stopping"])
        scaler.load_state_dict(saved["scaler"])
        history, start_epoch, stopped = saved["history"], saved["epoch"] + 1, saved["stopped"]

    for epoch in range(start_epoch, cfg.epochs):
        if stopped:
            break
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        model.train()
        seen = correct = 0
        loss_sum = 0.0
        batches = T.progress(train_loader, total=steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}")
        for x, y in batches:
            x = x.to(device, non_blocking=True, memory_format=torch.channels_last if cuda else torch.preserve_format)
            y = y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
                logits = model(x)
                loss = criterion(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            ema.update(model)
            n = y.numel()
            seen += n
            loss_sum += float(loss.detach()) * n
            correct += int((logits.detach().argmax(1) == y).sum())
        val = evaluate(ema.module, eval_loaders["valid"], device, criterion, amp_dtype)
        stopped = stopper.step(val["top1"], epoch)
        entry = {
            "epoch": epoch,
            "train_loss": loss_sum / max(seen, 1),
            "train_top1": correct / max(seen, 1),
            "val_loss": val["loss"],
            "val_top1": val["top1"],
            "val_top5": val["top5"],
            "lr": optimizer.param_groups[0]["lr"],
            "ema_decay": ema.current_decay(),
            "seconds": time.perf_counter() - t0,
            "images_per_s": seen / max(time.perf_counter() - t0, 1e-9),
        }
        history.append(entry)
        if stopper.improved:
            T.save_state_dict(run / "best.pt", ema.module.state_dict())
        plot = (epoch + 1) % cfg.plot_interval == 0
        if plot:
            epoch_artefacts(run, epoch, ema.module, eval_loaders["valid"], classes, device, val)
        write_history(run, history, classes, stopper, final=False, plots=plot)
        T.save_checkpoint(
            run,
            {
                "config": resolved,
                "epoch": epoch,
                "stopped": stopped or epoch + 1 == cfg.epochs,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "ema": ema.state_dict(),
                "early_stopping": stopper.state_dict(),
                "scaler": scaler.state_dict(),
                "history": history,
            },
        )
        print(
            f"epoch {epoch + 1}/{cfg.epochs}: train loss {entry['train_loss']:.3f} top-1 {entry['train_top1']:.3f}"
            f" | val (EMA) loss {val['loss']:.3f} top-1 {val['top1']:.3f} top-5 {val['top5']:.3f}"
            f" | {entry['images_per_s']:.0f} img/s",
            file=sys.stderr,
        )
    return finish(run, cfg, resolved, classes, splits, skipped, eval_loaders, history, stopper, weights_note, device)


def evaluate(model: Any, loader: Any, device: Any, criterion: Any, amp_dtype: Any) -> dict[str, Any]:
    """Loss, top-1, top-5, predictions and targets of ``model`` over ``loader``."""
    import torch

    model.eval()
    preds, targets, losses = [], [], 0.0
    top5 = 0
    cuda = device.type == "cuda"
    with torch.no_grad():
        for x, y in loader:
            x = x.to(device, non_blocking=True, memory_format=torch.channels_last if cuda else torch.preserve_format)
            y = y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
                logits = model(x).float()
            losses += float(criterion(logits, y)) * y.numel()
            k = min(5, logits.shape[1])
            top5 += int((logits.topk(k, dim=1).indices == y[:, None]).any(1).sum())
            preds.append(logits.argmax(1).cpu())
            targets.append(y.cpu())
    p = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)
    t = torch.cat(targets) if targets else torch.zeros(0, dtype=torch.long)
    n = max(len(t), 1)
    return {
        "loss": losses / n,
        "top1": float((p == t).sum()) / n,
        "top5": top5 / n,
        "pred": p.numpy(),
        "target": t.numpy(),
    }


def per_class_accuracy(result: dict[str, Any], classes: list[str]) -> dict[str, dict[str, Any]]:
    """``{label: {"n": samples, "accuracy": top-1 or None}}`` for every class."""
    out = {}
    for k, label in enumerate(classes):
        mask = result["target"] == k
        n = int(mask.sum())
        out[label] = {"n": n, "accuracy": float((result["pred"][mask] == k).mean()) if n else None}
    return out


def confusion(result: dict[str, Any], num_classes: int) -> Any:
    """The ``num_classes`` × ``num_classes`` count matrix (rows: true)."""
    import numpy as np

    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (result["target"], result["pred"]), 1)
    return m


def epoch_artefacts(
    run: Path, epoch: int, model: Any, loader: Any, classes: list[str], device: Any, result: dict[str, Any]
) -> Path:
    """``epoch_NNN/confusion_matrix.png`` and ``sample_predictions.png`` on the valid split."""
    folder = run / f"epoch_{epoch:03d}"
    T.plot_confusion(confusion(result, len(classes)), classes, folder / "confusion_matrix.png",
                     f"valid, epoch {epoch} (top-1 {result['top1']:.3f})")  # fmt: skip
    ds = loader.dataset
    n = min(32, len(ds))
    images = [loader.dataset.transform.resized(ds.load(i)) for i in range(n)]
    titles = [
        f"{classes[int(t)]} → {classes[int(p)]}" for t, p in zip(result["target"][:n], result["pred"][:n], strict=True)
    ]
    correct = [bool(t == p) for t, p in zip(result["target"][:n], result["pred"][:n], strict=True)]
    T.plot_samples(images, titles, correct, folder / "sample_predictions.png")
    return folder


def write_history(run: Path, history: list[dict[str, Any]], classes: list[str], stopper: Any, *, final: bool,
                  extra: dict[str, Any] | None = None, plots: bool = True) -> dict[str, Any]:  # fmt: skip
    """``metrics.json`` and (with ``plots``) the two ``training_history`` plots."""
    summary = {
        "complete": final,
        "epochs_run": len(history),
        "best_epoch": stopper.best_epoch,
        "best_val_top1": stopper.best if math.isfinite(stopper.best) else None,
        "classes": len(classes),
        "history": history,
        **(extra or {}),
    }
    T.write_json(run / "metrics.json", summary)
    if not plots:
        return summary
    T.plot_history(
        history,
        run / "training_history",
        {"accuracy_history": ("val_top1", "val_top5", "train_top1"), "loss_history": ("train_loss", "val_loss")},
    )
    return summary


def finish(
    run: Path,
    cfg: JerseyConfig,
    resolved: dict[str, Any],
    classes: list[str],
    splits: dict[str, Any],
    skipped: dict[str, Any],
    eval_loaders: dict[str, Any],
    history: list[dict[str, Any]],
    stopper: Any,
    weights_note: dict[str, Any],
    device: Any,
) -> dict[str, Any]:
    """Best-epoch artefacts, test metrics, ONNX export and the final ``metrics.json``."""
    import torch
    from torch import nn

    from recipes import classifier_models as M

    best, _ = M.build_model(resolved["arch"], len(classes), None if resolved["arch"] == "resnet18" else cfg.weights)
    best.load_state_dict(torch.load(run / "best.pt", map_location="cpu", weights_only=True))
    best.to(device).eval()
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    results = {name: evaluate(best, loader, device, criterion, None) for name, loader in eval_loaders.items()}
    epoch_artefacts(run, stopper.best_epoch, best, eval_loaders["valid"], classes, device, results["valid"])
    onnx_path = M.export_onnx(best, run / "model.onnx", cfg.image_size)
    probe = torch.stack([eval_loaders["valid"].dataset[i][0] for i in range(min(8, len(splits["valid"].paths)))])
    diff = M.onnx_max_abs_diff(best, onnx_path, probe)
    if diff > 1e-4:
        raise RecipeError(f"{onnx_path}: ONNX Runtime's logits differ from the EMA model's by {diff:.2e} (> 1e-4)")
    norm = M.NORMALISATION[resolved["arch"]]
    T.write_json(
        run / "labels_mapping.json",
        {
            "index_to_label": {str(i): c for i, c in enumerate(classes)},
            "label_to_index": {c: i for i, c in enumerate(classes)},
            "normalization": {"mean": norm["mean"], "std": norm["std"], "scale": "RGB / 255, then (x - mean) / std"},
            "input_size": [cfg.image_size, cfg.image_size],
            "input_name": "image",
            "output_name": "logits",
            "arch": resolved["arch"],
        },
    )
    extra = {
        "model": weights_note,
        "samples": {name: len(s.paths) for name, s in splits.items()},
        "skipped": skipped,
        "best": {
            name: {"loss": r["loss"], "top1": r["top1"], "top5": r["top5"], "per_class": per_class_accuracy(r, classes)}
            for name, r in results.items()
        },
        "onnx": {"path": "model.onnx", "max_abs_diff": diff},
    }
    return write_history(run, history, classes, stopper, final=True, extra=extra)


def check_run(run: str | Path) -> list[str]:
    """Problems with a finished run folder (an empty list when every artefact is there and valid).

    Checks that the plots open as PNG images, that ``model.onnx`` runs in ONNX Runtime with one
    logit per class of ``labels_mapping.json``, and that ``metrics.json`` names a best epoch
    whose ``epoch_NNN`` plots exist.
    """
    import json

    from PIL import Image

    run = Path(run)
    problems: list[str] = []
    try:
        metrics = json.loads((run / "metrics.json").read_text())
        mapping = json.loads((run / "labels_mapping.json").read_text())
        config = json.loads((run / "config.json").read_text())
    except (OSError, ValueError) as e:
        return [f"cannot read the run's JSON files ({e})"]
    if not metrics.get("complete"):
        problems.append("metrics.json: the run is not complete")
    classes = config.get("classes") or []
    if [mapping["index_to_label"].get(str(i)) for i in range(len(classes))] != classes:
        problems.append("labels_mapping.json: index_to_label does not match the run's classes")
    best = metrics.get("best_epoch", -1)
    pngs = [
        run / "training_history" / "accuracy_history.png",
        run / "training_history" / "loss_history.png",
        run / f"epoch_{best:03d}" / "confusion_matrix.png",
        run / f"epoch_{best:03d}" / "sample_predictions.png",
    ]
    for png in pngs:
        try:
            with Image.open(png) as im:
                im.verify()
                if im.format != "PNG":
                    problems.append(f"{png}: not a PNG")
        except (OSError, ValueError) as e:
            problems.append(f"{png}: {e}")
    try:
        import numpy as np
        import onnxruntime as ort

        sess = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
        side = mapping["input_size"]
        out = sess.run(None, {"image": np.zeros((2, 3, side[0], side[1]), np.float32)})[0]
        if out.shape != (2, len(classes)):
            problems.append(f"model.onnx: expected logits of shape (2, {len(classes)}), got {out.shape}")
    except Exception as e:
        problems.append(f"model.onnx: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    return problems


# ----------------------------------------------------------------- command line
def add_options(p: argparse.ArgumentParser) -> None:
    """The recipe's options (shared by ``python -m`` and ``datakit train jersey``)."""
    d = JerseyConfig(data="", out="")
    p.add_argument("--arch", default=d.arch, help="auto (ResNet18 with --weights, else EfficientNet-Lite0), "
                   "resnet18 or efficientnet_lite0")  # fmt: skip
    p.add_argument("--weights", help="local ImageNet state dict (torchvision resnet18-*.pth) for ResNet18")
    p.add_argument("--classes", help="class list: comma-separated or a file, one per line (default: the dataset's)")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"maximum epochs (default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"default {d.batch_size}")
    p.add_argument(
        "--image-size", type=int, default=d.image_size, help=f"input side in pixels (default {d.image_size})"
    )
    p.add_argument("--workers", type=int, default=d.workers, help=f"loader processes (default {d.workers})")
    p.add_argument("--seed", type=int, default=d.seed, help="default 0")
    p.add_argument("--preset", default=d.preset, help=f"degradation preset (default {d.preset})")
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing, help="default 0.1")
    p.add_argument("--lr", type=float, default=d.lr, help="peak AdamW learning rate (default 5e-4)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help="AdamW weight decay (default 0.01)")
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs, help="LR warmup (default 5)")
    p.add_argument("--ema-decay", type=float, default=d.ema_decay, help="default 0.9999")
    p.add_argument("--ema-warmup-steps", type=int, default=d.ema_warmup_steps, help="default 2000")
    p.add_argument("--patience", type=int, default=d.patience, help="early-stopping patience in epochs (default 20)")
    p.add_argument("--weighted-sampler", action="store_true", help="inverse-frequency class sampling (off in run #21)")
    p.add_argument("--plot-interval", type=int, default=d.plot_interval, help="epoch_NNN plots every N epochs")
    p.add_argument("--device", default=d.device, choices=("auto", "cuda", "cpu"), help="default auto")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of a summary")


def config_from_args(args: argparse.Namespace, data: str) -> JerseyConfig:
    """A :class:`JerseyConfig` from parsed options."""
    from datakit.commands._common import parse_classes

    names = {f for f in JerseyConfig.__dataclass_fields__} - {"data", "out", "classes"}
    return JerseyConfig(data=data, out=args.out, classes=parse_classes(args.classes),
                        **{k: getattr(args, k) for k in names})  # fmt: skip


def run_args(args: argparse.Namespace, data: str) -> int:
    """Train and print the summary (or ``--json``)."""
    import json

    summary = train(config_from_args(args, data))
    if args.json:
        payload = {k: v for k, v in summary.items() if k != "history"}
        sys.stdout.write(json.dumps({"out": args.out, **payload}, default=str) + "\n")
        return 0
    best = summary["best"]
    lines = [
        f"trained {summary['epochs_run']} epochs, best epoch {summary['best_epoch']}: "
        f"valid top-1 {best['valid']['top1']:.3f}"
        + (f", test top-1 {best['test']['top1']:.3f}" if "test" in best else ""),
        f"samples: {summary['samples']}",
        "skipped: " + (", ".join(f"{s}: {r}" for s, r in summary["skipped"].items()) or "0"),
        f"artefacts: {args.out} (model.onnx, labels_mapping.json, metrics.json, training_history/, epoch_NNN/)",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m recipes.jersey_classifier --data DS --out RUN [options]``."""
    data_help = "dataset folder (train/ valid/ test/)"
    return T.module_main("jersey_classifier", __doc__ or "", data_help, add_options, run_args, argv)


if __name__ == "__main__":
    sys.exit(main())
