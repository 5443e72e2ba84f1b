"""Demo stage: a short jersey-classifier run (``datakit train jersey``) on the demo's curated set, on CPU.

Standalone: ``.venv/bin/python scripts/demo_train.py --out demo_out [--data demo_out/annotated]``
(without ``--data`` it builds the demo's raw jersey set first). In ``make demo``, :func:`stage`
runs after the render stage on the curated (deduplicated, annotated, synthetic-filled) dataset.
A few epochs at 48 px with EfficientNet-Lite0's packaged ImageNet weights: enough to show every
artefact of the recipe, not a trained model.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys
from collections.abc import Callable
from typing import Any


def stage(
    out: pathlib.Path, run: Callable[..., Any], data_path: pathlib.Path, epochs: int = 3
) -> dict[str, pathlib.Path]:
    """Train the jersey classifier for ``epochs`` epochs on ``data_path`` into ``out/train_jersey``."""
    run_dir = out / "train_jersey"
    shutil.rmtree(run_dir, ignore_errors=True)  # a demo run starts fresh (--resume continues a killed one)
    print("== Train the jersey OCR project's classifier on the curated set (CPU, a few epochs, small crops)")
    options = ["--epochs", str(epochs), "--image-size", "48", "--batch-size", "64", "--workers", "2",
               "--device", "cpu", "--warmup-epochs", "1", "--plot-interval", "1"]  # fmt: skip
    run("train", "jersey", str(data_path), "--out", str(run_dir), *options)
    best = _best_epoch(run_dir)
    return {
        "classifier run": run_dir,
        "classifier ONNX (EMA weights)": run_dir / "model.onnx",
        "labels mapping": run_dir / "labels_mapping.json",
        "training metrics": run_dir / "metrics.json",
        "accuracy / loss curves": run_dir / "training_history",
        "best-epoch confusion matrix": run_dir / f"epoch_{best:03d}" / "confusion_matrix.png",
    }


def _best_epoch(run_dir: pathlib.Path) -> int:
    import json

    return int(json.loads((run_dir / "metrics.json").read_text())["best_epoch"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="demo_out", help="folder for everything the demo writes")
    ap.add_argument("--data", help="dataset to train on (default: build the demo's jersey set)")
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    out = pathlib.Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from demo import build_dataset, run

    data = pathlib.Path(args.data).resolve() if args.data else build_dataset(out / "jerseys")
    for name, path in stage(out, run, data, epochs=args.epochs).items():
        print(f"{name + ':':32} {path}")


if __name__ == "__main__":
    main()
