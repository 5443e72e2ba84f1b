"""Training throughput: the jersey recipe's loader alone, its training step, and an RF-DETR Nano step.

Peer for the loader: the seed's torchvision v2 tensor pipeline with the same parameters
(RandomResizedCrop, RandomAffine, RandomPerspective, ColorJitter, GaussianBlur) in front of the
same degradations, normalisation and erasing — what the recipe replaced with OpenCV ops drawing
torchvision's parameters (`recipes/augment.py`).

Rows: loader images/s (1 process, and the DataLoader with N workers), end-to-end training images/s
(loader + forward/backward/AdamW/EMA, ResNet18 at 224 px; AMP bf16 + channels-last on CUDA), the
model step alone, and RF-DETR Nano's training step time (Lightning ``fit`` with validation off).

    flock /tmp/datakit-bench.lock .venv/bin/python benchmarks/bench_train.py            # CPU
    .venv/bin/python benchmarks/bench_train.py --device cuda                             # a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks._report import machine, table, versions, write_section  # noqa: E402

NORM = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def make_crops(root: Path, n: int) -> list[str]:
    """``n`` jersey-sized JPEG crops (80×96, noise + a block), like real detector crops."""
    from PIL import Image

    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = rng.integers(0, 255, (96, 80, 3), dtype=np.uint8)
        img[30:70, 20:60] = rng.integers(0, 255, 3, dtype=np.uint8)
        p = root / f"{i:05d}.jpg"
        Image.fromarray(img).save(p, quality=90)
        paths.append(str(p))
    return paths


class TorchvisionTransform:
    """The seed's pipeline on torchvision v2 tensors (the peer)."""

    def __init__(self, size: int, preset: str) -> None:
        import dataclasses

        from torchvision.transforms import v2 as T

        from renderers.presets import get_preset

        p = get_preset(preset)
        assert p is not None and p.blur and p.erasing
        self.geo = T.Compose([
            T.RandomResizedCrop(size, antialias=True),
            T.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.85, 1.15)),
            T.RandomPerspective(distortion_scale=0.2, p=0.3),
            T.ColorJitter(0.2, 0.2, 0.2, 0.1),
            T.GaussianBlur(p.blur[0], (p.blur[1], p.blur[2])),
        ])  # fmt: skip
        self.degrade = dataclasses.replace(p, blur=None, erasing=None).build()
        self.erase = T.RandomErasing(p=p.erasing[0], scale=(p.erasing[1], p.erasing[2]), value=0)

    def __call__(self, image: Any, seed: int) -> Any:
        import torch
        from torchvision.transforms.v2 import functional as F

        from renderers.degradations import apply_seeded

        torch.manual_seed(seed)
        x = self.geo(F.pil_to_tensor(image))
        arr = apply_seeded(self.degrade, np.ascontiguousarray(x.permute(1, 2, 0).numpy()), seed)
        x = F.normalize(torch.from_numpy(arr).permute(2, 0, 1).float().div_(255), *NORM)
        return self.erase(x)


def loader_rate(paths: list[str], transform: Any, workers: int, batch: int, seconds: float) -> float:
    """Images/s of a DataLoader over the crops (decode + transform + collate), after a warm-up batch."""
    import torch

    from recipes.classifier_data import CropDataset, EpochSampler, SplitData

    ds = CropDataset(SplitData(paths, [0] * len(paths)), transform, seed=0)
    sampler = EpochSampler(len(paths), 0)
    opts: dict[str, Any] = {"num_workers": workers}
    if workers:
        opts.update(persistent_workers=True, prefetch_factor=4)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, sampler=sampler, **opts)  # type: ignore[arg-type]
    n, t0, epoch = 0, None, 0
    while True:
        sampler.set_epoch(epoch)
        for x, _ in loader:
            if t0 is None:
                t0 = time.perf_counter()
                continue
            n += x.shape[0]
            if time.perf_counter() - t0 > seconds:
                return n / (time.perf_counter() - t0)
        epoch += 1


def train_rates(paths: list[str], device_name: str, size: int, batch: int, workers: int, steps: int) -> dict:
    """End-to-end training images/s and the model step alone (synthetic batch), ResNet18."""
    import torch

    from recipes import _training as T
    from recipes.classifier_data import CropDataset, EpochSampler, SplitData, TrainTransform
    from recipes.classifier_models import build_model

    device = torch.device(device_name)
    cuda = device.type == "cuda"
    model, _ = build_model("resnet18", 42, None)
    model.to(device)
    fmt = torch.channels_last if cuda else torch.preserve_format
    if cuda:
        model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4)
    ema = T.ModelEMA(model)
    crit = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    amp = torch.bfloat16 if cuda else None

    def step(x: Any, y: Any) -> None:
        x = x.to(device, non_blocking=True, memory_format=fmt)
        y = y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
            loss = crit(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema.update(model)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 42, (batch,))
    for _ in range(3 if cuda else 1):
        step(x, y)
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step(x, y)
    sync()
    model_rate = steps * batch / (time.perf_counter() - t0)

    tf = TrainTransform(size, "zc_strong_all", *NORM)
    ds = CropDataset(SplitData(paths, [i % 42 for i in range(len(paths))]), tf, seed=0)
    opts: dict[str, Any] = {"num_workers": workers, "pin_memory": cuda}
    if workers:
        opts.update(persistent_workers=True, prefetch_factor=4)
    sampler = EpochSampler(len(paths), 0)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, sampler=sampler, drop_last=True, **opts)  # type: ignore[arg-type]
    it, n, t0, epoch = 0, 0, None, 0
    while it < steps + 2:
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            step(xb, yb)
            it += 1
            if it == 2:
                sync()
                t0 = time.perf_counter()
            elif it > 2:
                n += xb.shape[0]
            if it >= steps + 2:
                break
        epoch += 1
    sync()
    assert t0 is not None
    return {"end_to_end": n / (time.perf_counter() - t0), "model_step": model_rate}


def rfdetr_step(work: Path, device_name: str, resolution: int, steps: int) -> dict:
    """Median RF-DETR Nano training step (batch 2) over ``steps`` steps, via Lightning with validation off."""
    from PIL import Image
    from pytorch_lightning import Callback
    from rfdetr import RFDETRNano
    from rfdetr.training import RFDETRDataModule, RFDETRModelModule, build_trainer

    from datakit import Dataset, Detection, Sample

    rng = np.random.default_rng(0)
    samples = []
    for split in ("train", "valid"):
        (work / "src" / split).mkdir(parents=True, exist_ok=True)
        for i in range(8):
            img = np.full((360, 640, 3), (40, 120, 40), np.uint8)
            x, y = int(rng.integers(10, 560)), int(rng.integers(10, 280))
            img[y : y + 60, x : x + 30] = (200, 50, 50)
            bx, by = int(rng.integers(10, 620)), int(rng.integers(10, 340))
            img[by : by + 8, bx : bx + 8] = 255
            rel = f"{split}/{i}.jpg"
            Image.fromarray(img).save(work / "src" / rel)
            dets = [Detection("player", (x, y, x + 30, y + 60)), Detection("ball", (bx, by, bx + 8, by + 8))]
            samples.append(Sample(rel, split=split, width=640, height=360, detections=dets))
    Dataset.from_samples(samples, work / "src").to_coco(work / "coco")
    model = RFDETRNano(pretrain_weights=None, num_classes=2, resolution=resolution)
    tc = model.get_train_config(dataset_dir=str(work / "coco"), output_dir=str(work / "out"), epochs=100,
                                batch_size=2, grad_accum_steps=1, num_workers=0, multi_scale=False,
                                expanded_scales=False, tensorboard=False, progress_bar=None)  # fmt: skip
    times: list[float] = []

    class Timer(Callback):
        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
            self.t = time.perf_counter()

        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            if device_name == "cuda":
                import torch

                torch.cuda.synchronize()
            times.append(time.perf_counter() - self.t)

    trainer = build_trainer(tc, model.model_config, accelerator="gpu" if device_name == "cuda" else "cpu",
                            max_steps=steps + 2, limit_val_batches=0)  # fmt: skip
    trainer.callbacks.append(Timer())  # type: ignore[attr-defined]
    trainer.fit(RFDETRModelModule(model.model_config, tc), RFDETRDataModule(model.model_config, tc))
    kept = times[2:] or times
    return {"median_s": statistics.median(kept), "steps": len(kept), "all_s": [round(t, 2) for t in times]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--seconds", type=float, default=8.0, help="time per loader measurement")
    args = ap.parse_args()
    import torch

    cuda = args.device == "cuda"
    workers = min(16, os.cpu_count() or 1) if cuda else 2
    batch = 256 if cuda else 16
    steps = 60 if cuda else 4
    load0 = os.getloadavg()
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dk_bench_train_") as tmp:
        work = Path(tmp)
        paths = make_crops(work / "crops", 2048 if cuda else 512)
        from recipes.classifier_data import TrainTransform

        ours = TrainTransform(224, "zc_strong_all", *NORM)
        peer = TorchvisionTransform(224, "zc_strong_all")
        torch.set_num_threads(1)  # the loader rows measure one core per process
        rows_loader = {
            "recipe (OpenCV ops), 1 process": loader_rate(paths, ours, 0, 32, args.seconds),
            "seed's torchvision v2 pipeline, 1 process": loader_rate(paths, peer, 0, 32, args.seconds),
            f"recipe, DataLoader {workers} workers": loader_rate(paths, ours, workers, 32, args.seconds),
        }
        torch.set_num_threads(os.cpu_count() or 1)
        tr = train_rates(paths, args.device, 224, batch, workers, steps)
        rf = rfdetr_step(work / "rf", args.device, 384 if cuda else 256, 5 if not cuda else 30)
    total = time.perf_counter() - t_all
    load1 = os.getloadavg()
    ratio = rows_loader["recipe (OpenCV ops), 1 process"] / rows_loader["seed's torchvision v2 pipeline, 1 process"]
    rows = [[k, v, ""] for k, v in rows_loader.items()]
    rows[0][2] = f"{ratio:.1f}× the torchvision pipeline"
    rows += [
        [f"training end to end (loader {workers} workers + ResNet18 step, batch {batch})", tr["end_to_end"], ""],
        [f"ResNet18 step alone (synthetic batch {batch}{', AMP bf16, channels-last' if cuda else ''})",
         tr["model_step"], ""],
    ]  # fmt: skip
    target = tr["end_to_end"] >= 1600
    feeds = rows_loader[f"recipe, DataLoader {workers} workers"] >= tr["model_step"]
    gpu_line = (
        f"- ResNet18 224 px AMP ≥ 1,600 training images/s end to end: **{'met' if target else 'NOT met'}** "
        f"({tr['end_to_end']:,.0f}/s)"
        if cuda
        else "- ResNet18 224 px AMP ≥ 1,600 training images/s: not measured — no GPU in this session (run `--device cuda`)"
    )
    body = f"""## Training throughput (`benchmarks/bench_train.py --device {args.device}`)

Machine: {machine()}; device {args.device}{" (" + torch.cuda.get_device_name() + ")" if cuda else " (no GPU in this session)"}
Versions: {versions("torch", "torchvision", "albumentations", "opencv-python-headless", "rfdetr", "pytorch-lightning")}
Input: {len(paths)} JPEG crops 80×96 decoded per sample; transforms at 224 px with `zc_strong_all`; loader rows with one
torch thread per process, {args.seconds:.0f} s each after a warm-up batch. RF-DETR Nano: random init, batch 2,
{384 if cuda else 256} px, 640×360 images, validation off, median of the steps after 2 warm-up steps. Shared 2-core VM
(load average {load0[0]:.1f} at start, {load1[0]:.1f} at end); total {total:.0f} s.

{table(["what", "images/s", "note"], rows)}

RF-DETR Nano training step ({args.device}): **{rf["median_s"]:.2f} s** median over {rf["steps"]} steps (batch 2).

Targets:
{gpu_line}
- loader not the bottleneck: **{"met" if feeds else "NOT met"}** (loader {rows_loader[f"recipe, DataLoader {workers} workers"]:,.0f}/s vs model step {tr["model_step"]:,.0f}/s)
"""
    write_section("train", body)
    print(body)
    print(json.dumps({"loader": rows_loader, "train": tr, "rfdetr": rf}, indent=1))


if __name__ == "__main__":
    main()
