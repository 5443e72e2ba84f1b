r"""RF-DETR on a datakit detection dataset: the SoccerTrack plan's two phases, small-object mAP first.

The dataset is exported with datakit's own COCO writer to the Roboflow layout RF-DETR reads
(``RUN/coco/{train,valid,test}/_annotations.coco.json``), then ``rfdetr`` trains in two phases
(plan ``004``, section 3): phase 1 with the DINOv2 encoder frozen (``freeze_encoder``) at
``--lr``; phase 2 from phase 1's EMA weights with everything trainable at ``lr / 10``. The knobs
are the ball notes' (``001``): model size, resolution, batch size with gradient accumulation,
lr, weight decay, gradient clip 0.1, AMP on CUDA. ``--ball-weight 3.0`` draws training images
that hold a ball 3× as often as the others (the plan's weighted sampler).

Every validation epoch is scored with pycocotools against the exported ``valid`` file: mAP,
mAP@0.5, mAP@0.75, small/medium/large mAP and per-class AP, one entry per epoch in
``RUN/metrics.json``. The best checkpoint (``RUN/best.pth``, RF-DETR's checkpoint format) is the
epoch with the highest **small-object** mAP (overall mAP breaks ties, and stands in when the valid
split has no small objects); ``RUN/model.onnx`` is its ONNX export (RF-DETR's exporter), checked
to run in ONNX Runtime.

Offline by default: without ``--weights`` the model starts from random weights
(``pretrain_weights=None``); ``--weights PATH`` loads a local RF-DETR checkpoint. ``--resume``
continues a killed run: a finished phase is skipped, the running one resumes from Lightning's
``last.ckpt`` (optimizer, EMA and schedule included).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from recipes import _training as T
from recipes._training import RecipeError

SIZES = ("nano", "small", "medium", "base", "large")
_VALID_ALIASES = ("valid", "val", "validation")


@dataclass
class DetectorConfig:
    """Every option of a detector run (``RUN/config.json``)."""

    data: str
    out: str
    size: str = "nano"
    weights: str | None = None
    resolution: int | None = None
    batch_size: int = 2
    grad_accum: int = 16
    lr: float = 1e-4
    lr_encoder: float | None = None
    weight_decay: float = 1e-4
    grad_clip: float = 0.1
    amp: bool = True
    phase1_epochs: int = 10
    phase2_epochs: int = 40
    ball_weight: float | None = None
    ball_class: str = "ball"
    multi_scale: bool = True
    workers: int = 2
    seed: int = 0
    device: str = "auto"
    resume: bool = False

    def check(self) -> None:
        """Reject impossible values with a one-line error."""
        if self.size not in SIZES:
            raise RecipeError(f"--size: expected one of {', '.join(SIZES)}, got {self.size!r}")
        for name in ("batch_size", "grad_accum"):
            if getattr(self, name) < 1:
                raise RecipeError(f"--{name.replace('_', '-')}: expected at least 1, got {getattr(self, name)}")
        if self.phase1_epochs < 0 or self.phase2_epochs < 0 or self.phase1_epochs + self.phase2_epochs < 1:
            raise RecipeError("--phase1-epochs/--phase2-epochs: expected 0 or more each, at least 1 in all")
        if self.ball_weight is not None and self.ball_weight <= 0:
            raise RecipeError(f"--ball-weight: expected a positive weight, got {self.ball_weight}")


def model_class(size: str) -> Any:
    """The ``rfdetr`` class for ``--size``."""
    import rfdetr

    return getattr(rfdetr, {"nano": "RFDETRNano", "small": "RFDETRSmall", "medium": "RFDETRMedium",
                            "base": "RFDETRBase", "large": "RFDETRLarge"}[size])  # fmt: skip


def export_dataset(cfg: DetectorConfig, coco_dir: Path) -> tuple[list[str], dict[str, int]]:
    """Write the dataset in the Roboflow COCO layout; returns the class names and split counts.

    Raises:
        RecipeError: No detections, or no train / valid split.

    """
    import datakit

    try:
        ds = datakit.load(cfg.data)
    except (OSError, ValueError) as e:
        raise RecipeError(f"{cfg.data}: {str(e).splitlines()[0]}") from None
    splits = ds.column("split")
    if any(s in _VALID_ALIASES[1:] for s in splits):
        ds = ds.with_column("split", ["valid" if s in _VALID_ALIASES else s for s in splits])
    counts = ds.count_by("split")
    for need in ("train", "valid"):
        if not counts.get(need):
            raise RecipeError(f"{cfg.data}: no {need} split (found {sorted(str(k) for k in counts)})")
    if not len(ds.detections_table()["label"]):
        raise RecipeError(f"{cfg.data}: the dataset has no detection boxes")
    result = ds.to_coco(coco_dir, images="link")  # hard links (a copy across file systems)
    if result.skipped:
        raise RecipeError(f"{cfg.data}: {len(result.skipped)} samples could not be exported ({result.skipped[0]})")
    with open(coco_dir / "train" / "_annotations.coco.json", encoding="utf-8") as f:
        train = json.load(f)
    return [c["name"] for c in label_categories(train)], {str(k): v for k, v in counts.items()}


def label_categories(coco: dict[str, Any]) -> list[dict[str, Any]]:
    """The categories in RF-DETR's label order (it drops unannotated grouping categories)."""
    from rfdetr.datasets.coco import annotated_category_ids, filter_parent_categories

    return filter_parent_categories(coco["categories"], annotated_category_ids(coco))


def coco_metrics(ann_file: Path, detections: list[dict[str, Any]], names: dict[int, str]) -> dict[str, Any]:
    """Pycocotools bbox metrics of ``detections`` against ``ann_file``.

    Returns ``map``, ``map_50``, ``map_75``, ``map_small``, ``map_medium``, ``map_large`` (``None``
    where the split has no object of that size) and ``per_class_ap`` (name → AP@[.5:.95]).
    """
    import contextlib
    import io

    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    keys = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large")
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_file))
        if not detections:
            return {**dict.fromkeys(keys, 0.0), "per_class_ap": {n: 0.0 for n in names.values()}, "detections": 0}
        dt = gt.loadRes(detections)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [None if s < 0 else float(s) for s in ev.stats[:6]]
    per_class = {}
    precision = ev.eval["precision"]  # [iou, recall, class, area, maxdet]
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        per_class[names.get(cat_id, str(cat_id))] = float(np.mean(p)) if p.size else None
    return {**dict(zip(keys, stats, strict=True)), "per_class_ap": per_class, "detections": len(detections)}


def selection_score(m: dict[str, Any]) -> tuple[float, float]:
    """Best-checkpoint key: small-object mAP (overall mAP when there are no small objects), then mAP."""
    small = m.get("map_small")
    overall = m.get("map") or 0.0
    return (overall if small is None else small, overall)


def _metrics_callback(run: Path, ann_file: Path, label2cat: dict[int, int], names: dict[int, str], phase: int,
                      epoch_offset: int, state: dict[str, Any], classes: list[str]) -> Any:  # fmt: skip
    """A Lightning callback scoring each validation epoch with pycocotools (see :func:`coco_metrics`)."""
    from pytorch_lightning import Callback

    class CocoMetrics(Callback):
        def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self.dets: list[dict[str, Any]] = []

        def on_validation_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                                    batch_idx: int, dataloader_idx: int = 0) -> None:  # fmt: skip
            for res, tgt in zip(outputs["results"], outputs["targets"], strict=True):
                image_id = int(tgt["image_id"].reshape(-1)[0])
                boxes = res["boxes"].detach().float().cpu()
                scores = res["scores"].detach().float().cpu().tolist()
                labels = res["labels"].detach().cpu().tolist()
                wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0)
                for (x0, y0), (w, h), s, lab in zip(boxes[:, :2].tolist(), wh.tolist(), scores, labels, strict=True):
                    if int(lab) in label2cat:
                        self.dets.append({"image_id": image_id, "category_id": label2cat[int(lab)],
                                          "bbox": [x0, y0, w, h], "score": float(s)})  # fmt: skip

        def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.sanity_checking:
                return
            epoch = epoch_offset + int(trainer.current_epoch)
            m = {"epoch": epoch, "phase": phase, **coco_metrics(ann_file, self.dets, names)}
            history = [h for h in state["history"] if h["epoch"] != epoch] + [m]
            state["history"] = history
            if state.get("best") is None or selection_score(m) > tuple(state["best_score"]):
                model = pl_module._resolve_eval_model()  # the weights this validation scored (EMA once warm)
                sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
                T.save_state_dict(run / "best.pth", {"model": sd, "args": {"class_names": classes}, "epoch": epoch})
                state["best"], state["best_score"] = epoch, list(selection_score(m))
            T.write_json(run / "state.json", state)
            T.write_json(run / "metrics.json", summary(state, classes, final=False))
            print(f"epoch {epoch} (phase {phase}): mAP {_fmt(m['map'])} mAP@0.5 {_fmt(m['map_50'])} "
                  f"small {_fmt(m['map_small'])}; best epoch {state['best']}", file=sys.stderr)  # fmt: skip

    return CocoMetrics()


def _fmt(v: Any) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def summary(state: dict[str, Any], classes: list[str], *, final: bool) -> dict[str, Any]:
    """What ``metrics.json`` holds."""
    best = next((h for h in state["history"] if h["epoch"] == state.get("best")), None)
    return {
        "complete": final,
        "classes": classes,
        "selection": "map_small (map when the valid split has no small objects), then map",
        "best_epoch": state.get("best"),
        "best": best,
        "history": sorted(state["history"], key=lambda h: h["epoch"]),
        **state.get("extra", {}),
    }


def _weighted_datamodule(base: Any, weight_of: dict[int, float], seed: int) -> Any:
    """An ``RFDETRDataModule`` subclass whose train loader draws images by ``weight_of[image_id]``."""
    import torch

    class Weighted(base):
        def train_dataloader(self) -> Any:
            loader = super().train_dataloader()
            dataset = self._dataset_train  # the COCO dataset RF-DETR built (ids: COCO image ids)
            weights = [weight_of.get(int(i), 1.0) for i in dataset.ids]
            g = torch.Generator().manual_seed(seed)
            sampler = torch.utils.data.WeightedRandomSampler(weights, len(loader.sampler), True, generator=g)
            return torch.utils.data.DataLoader(
                dataset, batch_size=loader.batch_size, sampler=sampler, drop_last=True,
                collate_fn=loader.collate_fn, num_workers=loader.num_workers, pin_memory=loader.pin_memory,
                worker_init_fn=loader.worker_init_fn, persistent_workers=loader.persistent_workers,
            )  # fmt: skip

    return Weighted


def train(cfg: DetectorConfig) -> dict[str, Any]:
    """Export, train both phases, select, export ONNX; returns the final ``metrics.json``."""
    cfg.check()
    run = Path(cfg.out)
    resolved = asdict(cfg)
    saved_cfg = run / "config.json"
    if saved_cfg.is_file():
        if not cfg.resume:
            raise RecipeError(f"{saved_cfg}: the run folder holds a run; pass --resume or another --out")
        T.check_resume(run, json.loads(saved_cfg.read_text()), resolved, ("out", "resume", "workers", "device"))
    run.mkdir(parents=True, exist_ok=True)
    T.write_json(saved_cfg, resolved)
    coco_dir = run / "coco"
    if not (coco_dir / "train" / "_annotations.coco.json").is_file():
        export_dataset(cfg, coco_dir)
    with open(coco_dir / "train" / "_annotations.coco.json", encoding="utf-8") as f:
        train_coco = json.load(f)
    cats = label_categories(train_coco)
    classes = [c["name"] for c in cats]
    label2cat = {i: int(c["id"]) for i, c in enumerate(cats)}
    names = {int(c["id"]): c["name"] for c in train_coco["categories"]}
    state_path = run / "state.json"
    state: dict[str, Any] = json.loads(state_path.read_text()) if state_path.is_file() else {"history": []}
    state.setdefault("extra", {})["sampler"] = _sampler_note(cfg, train_coco)
    device = T.resolve_device(cfg.device)
    phases = [(1, cfg.phase1_epochs, cfg.lr, True), (2, cfg.phase2_epochs, cfg.lr / 10, False)]
    offset = 0
    for phase, epochs, lr, frozen in phases:
        if epochs == 0:
            continue
        done = state.get("phases_done", [])
        if phase not in done:
            _train_phase(cfg, run, coco_dir, phase, epochs, lr, frozen, offset, device, classes, label2cat,
                         names, state, train_coco)  # fmt: skip
            state.setdefault("phases_done", []).append(phase)
            T.write_json(state_path, state)
        offset += epochs
    onnx_path = export_onnx(cfg, run, len(classes))
    state["extra"]["onnx"] = {"path": onnx_path.name, **check_onnx(onnx_path)}
    final = summary(state, classes, final=True)
    T.write_json(run / "metrics.json", final)
    return final


def _sampler_note(cfg: DetectorConfig, coco: dict[str, Any]) -> dict[str, Any]:
    if cfg.ball_weight is None:
        return {"weighted": False}
    ball_ids = {c["id"] for c in coco["categories"] if c["name"] == cfg.ball_class}
    if not ball_ids:
        raise RecipeError(f"--ball-class: no category {cfg.ball_class!r} in the train split")
    with_ball = {a["image_id"] for a in coco["annotations"] if a["category_id"] in ball_ids}
    return {"weighted": True, "ball_weight": cfg.ball_weight, "images_with_ball": len(with_ball),
            "images": len(coco["images"])}  # fmt: skip


def _train_phase(cfg: DetectorConfig, run: Path, coco_dir: Path, phase: int, epochs: int, lr: float, frozen: bool,
                 offset: int, device: Any, classes: list[str], label2cat: dict[int, int], names: dict[int, str],
                 state: dict[str, Any], train_coco: dict[str, Any]) -> None:  # fmt: skip
    from rfdetr.training import RFDETRDataModule, RFDETRModelModule, build_trainer

    phase_dir = run / f"phase{phase}"
    weights = cfg.weights if phase == 1 else str(run / "phase1" / "last_ema.pth")
    if weights and not Path(weights).is_file():
        raise RecipeError(f"{weights}: weights file not found")
    kwargs: dict[str, Any] = {"pretrain_weights": weights or None, "num_classes": len(classes),
                              "freeze_encoder": frozen}  # fmt: skip
    if cfg.resolution:
        kwargs["resolution"] = cfg.resolution
    model = model_class(cfg.size)(**kwargs)
    resume = phase_dir / "last.ckpt"
    lr_encoder = (cfg.lr_encoder if cfg.lr_encoder is not None else cfg.lr * 1.5) * (lr / cfg.lr)
    tc = model.get_train_config(
        dataset_dir=str(coco_dir), output_dir=str(phase_dir), epochs=epochs, batch_size=cfg.batch_size,
        grad_accum_steps=cfg.grad_accum, lr=lr, lr_encoder=lr_encoder, weight_decay=cfg.weight_decay,
        clip_max_norm=cfg.grad_clip, amp_dtype="auto" if cfg.amp else None, num_workers=cfg.workers,
        seed=cfg.seed, multi_scale=cfg.multi_scale, expanded_scales=cfg.multi_scale, tensorboard=False,
        progress_bar="tqdm" if sys.stderr.isatty() else None, class_names=classes,
        resume=str(resume) if cfg.resume and resume.is_file() else None,
    )  # fmt: skip
    module = RFDETRModelModule(model.model_config, tc)
    dm_class: Any = RFDETRDataModule
    if cfg.ball_weight is not None:
        ball_ids = {c["id"] for c in train_coco["categories"] if c["name"] == cfg.ball_class}
        weight_of = {int(a["image_id"]): float(cfg.ball_weight) for a in train_coco["annotations"]
                     if a["category_id"] in ball_ids}  # fmt: skip
        dm_class = _weighted_datamodule(RFDETRDataModule, weight_of, cfg.seed + phase)
    datamodule = dm_class(model.model_config, tc)
    trainer = build_trainer(tc, model.model_config, accelerator="gpu" if device.type == "cuda" else "cpu")
    ann = coco_dir / "valid" / "_annotations.coco.json"
    callback = _metrics_callback(run, ann, label2cat, names, phase, offset, state, classes)
    trainer.callbacks.append(callback)  # type: ignore[attr-defined]
    trainer.fit(module, datamodule, ckpt_path=tc.resume or None)


def export_onnx(cfg: DetectorConfig, run: Path, num_classes: int) -> Path:
    """Export ``RUN/best.pth`` to ``RUN/model.onnx`` with RF-DETR's exporter."""
    import shutil

    kwargs: dict[str, Any] = {"pretrain_weights": str(run / "best.pth"), "num_classes": num_classes}
    if cfg.resolution:
        kwargs["resolution"] = cfg.resolution
    model = model_class(cfg.size)(**kwargs)
    out = run / "onnx"
    path = Path(model.export(output_dir=str(out), format="onnx", verbose=False))
    target = run / "model.onnx"
    tmp = target.with_suffix(".onnx.tmp")
    shutil.copyfile(path, tmp)
    os.replace(tmp, target)
    return target


def check_onnx(path: Path) -> dict[str, Any]:
    """Run the exported model once in ONNX Runtime; returns its input and output shapes."""
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    outs = sess.run(None, {inp.name: np.zeros(shape, np.float32)})
    ok = all(np.isfinite(o).all() for o in outs)
    if not ok:
        raise RecipeError(f"{path}: ONNX Runtime produced non-finite outputs")
    shapes = {o.name: list(v.shape) for o, v in zip(sess.get_outputs(), outs, strict=True)}
    return {"input": {inp.name: shape}, "outputs": shapes}


# ----------------------------------------------------------------- command line
def add_options(p: argparse.ArgumentParser) -> None:
    """The recipe's options (shared by ``python -m`` and ``datakit train detector``)."""
    d = DetectorConfig(data="", out="")
    p.add_argument("--size", default=d.size, choices=SIZES, help="RF-DETR size (default nano)")
    p.add_argument("--weights", help="local RF-DETR checkpoint to start from (default: random init, offline)")
    p.add_argument("--resolution", type=int, help="input side, a multiple of 32 for nano-medium (default: the model's)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="physical batch (default 2)")
    p.add_argument("--grad-accum", type=int, default=d.grad_accum, help="gradient accumulation steps (default 16)")
    p.add_argument("--lr", type=float, default=d.lr, help="phase-1 lr; phase 2 uses lr/10 (default 1e-4)")
    p.add_argument("--lr-encoder", type=float, help="encoder lr (default 1.5 × lr)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help="default 1e-4")
    p.add_argument("--grad-clip", type=float, default=d.grad_clip, help="max gradient norm (default 0.1)")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="full fp32 on CUDA (CPU is always fp32)")
    p.add_argument("--phase1-epochs", type=int, default=d.phase1_epochs, help="encoder frozen (default 10)")
    p.add_argument("--phase2-epochs", type=int, default=d.phase2_epochs, help="all trainable at lr/10 (default 40)")
    p.add_argument("--ball-weight", type=float, help="sample images with a ball this much more often (plan: 3.0)")
    p.add_argument("--ball-class", default=d.ball_class, help="the ball's class name (default ball)")
    p.add_argument("--no-multi-scale", dest="multi_scale", action="store_false", help="one training scale")
    p.add_argument("--workers", type=int, default=d.workers, help="loader processes (default 2)")
    p.add_argument("--seed", type=int, default=d.seed, help="default 0")
    p.add_argument("--device", default=d.device, choices=("auto", "cuda", "cpu"), help="default auto")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of a summary")


def run_args(args: argparse.Namespace, data: str) -> int:
    """Train and print the summary (or ``--json``)."""
    names = set(DetectorConfig.__dataclass_fields__) - {"data", "out"}
    result = train(DetectorConfig(data=data, out=args.out, **{k: getattr(args, k) for k in names}))
    if args.json:
        sys.stdout.write(json.dumps({"out": args.out, **{k: v for k, v in result.items() if k != "history"}}) + "\n")
        return 0
    b = result["best"] or {}
    sys.stdout.write(
        f"trained {len(result['history'])} epochs; best epoch {result['best_epoch']}: small mAP "
        f"{_fmt(b.get('map_small'))}, mAP {_fmt(b.get('map'))}, mAP@0.5 {_fmt(b.get('map_50'))}\n"
        f"artefacts: {args.out} (best.pth, model.onnx, metrics.json, phase1/, phase2/, coco/)\n"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m recipes.detector --data DS --out RUN [options]``."""
    data_help = "dataset with detections and train/valid splits"
    return T.module_main("detector", __doc__ or "", data_help, add_options, run_args, argv)


if __name__ == "__main__":
    sys.exit(main())
