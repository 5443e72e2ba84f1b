"""What both recipes share: device choice, the LR schedule, EMA, early stopping, checkpoints and artefacts.

Everything here is plain PyTorch / matplotlib, imported inside the functions that need it, so
``import recipes`` stays light. A run folder holds the artefacts the jersey OCR log's runs had
(``training_history/*.png``, ``epoch_NNN/*.png``, ``metrics.json``, ``config.json``) and one
checkpoint, ``checkpoint/last.pt``, rewritten atomically after every epoch: a run killed at any
point resumes from the last finished epoch with the same schedule, EMA and early-stopping state.

Examples:
    >>> factor = warmup_cosine(warmup_steps=10, total_steps=110)
    >>> round(factor(0), 2), round(factor(10), 2), round(factor(60), 2), round(factor(110), 2)
    (0.1, 1.0, 0.5, 0.0)
    >>> stop = EarlyStopping(patience=2)
    >>> [stop.step(v, epoch) for epoch, v in enumerate([0.5, 0.6, 0.6, 0.55])]
    [False, False, False, True]
    >>> stop.best, stop.best_epoch
    (0.6, 1)

"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datakit.atomic import atomic_write, atomic_write_text
from datakit.errors import DatakitError

CHECKPOINT = Path("checkpoint") / "last.pt"
"""The resumable checkpoint inside a run folder."""


class RecipeError(DatakitError):
    """A recipe cannot run as asked (bad option, incompatible resume, empty split); one line."""


def resolve_device(name: str) -> Any:
    """``cuda``, ``cpu`` or ``auto`` (CUDA when available) as a ``torch.device``.

    Raises:
        RecipeError: ``cuda`` asked for on a machine without it, or an unknown name.

    """
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RecipeError("--device cuda: no CUDA device is available here (use --device cpu or auto)")
    if name not in ("cuda", "cpu"):
        raise RecipeError(f"--device: expected cuda, cpu or auto, got {name!r}")
    return torch.device(name)


def warmup_cosine(warmup_steps: int, total_steps: int, floor: float = 0.0) -> Callable[[int], float]:
    """LR factor per optimizer step: linear warmup from 0.1 to 1, then cosine down to ``floor``."""
    warmup_steps = max(0, int(warmup_steps))
    total_steps = max(int(total_steps), warmup_steps + 1)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return 0.1 + 0.9 * step / warmup_steps
        t = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

    return factor


class ModelEMA:
    """Exponential moving average of a model's weights, with a warmup of the decay.

    The decay after ``n`` updates is ``decay * (1 - exp(-n / warmup_steps))``: the average follows
    the model closely at first and settles to ``decay`` (the jersey OCR log's 0.9999, warmup 2000 steps).
    Buffers (BatchNorm statistics) are copied, not averaged.

    Args:
        model: The model being trained (a ``torch.nn.Module``).
        decay: Final decay.
        warmup_steps: Updates until the decay reaches ~63% of its way to ``decay``.

    """

    def __init__(self, model: Any, decay: float = 0.9999, warmup_steps: int = 2000) -> None:
        import copy

        if not 0.0 <= decay < 1.0:
            raise RecipeError(f"--ema-decay: expected a value in [0, 1), got {decay}")
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = float(decay)
        self.warmup_steps = max(1, int(warmup_steps))
        self.updates = 0

    def current_decay(self) -> float:
        """The decay the next update uses."""
        return self.decay * (1.0 - math.exp(-(self.updates + 1) / self.warmup_steps))

    def update(self, model: Any) -> None:
        """Move the average one step towards ``model``."""
        import torch

        d = self.current_decay()
        self.updates += 1
        with torch.no_grad():
            msd = model.state_dict()
            for k, v in self.module.state_dict().items():
                src = msd[k].detach()
                if v.dtype.is_floating_point:
                    v.mul_(d).add_(src.to(v.dtype), alpha=1.0 - d)
                else:
                    v.copy_(src)

    def state_dict(self) -> dict[str, Any]:
        """Weights and update count (for the checkpoint)."""
        return {"module": self.module.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output."""
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])


@dataclass
class EarlyStopping:
    """Stop when the monitored value (higher is better) has not improved for ``patience`` epochs.

    Attributes:
        patience: Epochs without improvement before stopping.
        min_delta: Least gain that counts as an improvement.
        best: Best value so far (``-inf`` before the first epoch).
        best_epoch: Epoch of ``best`` (``-1`` before the first).
        wait: Epochs since the last improvement.

    """

    patience: int = 20
    min_delta: float = 0.0
    best: float = -math.inf
    best_epoch: int = -1
    wait: int = 0

    def step(self, value: float, epoch: int) -> bool:
        """Record ``value`` for ``epoch``; ``True`` when training should stop."""
        if value > self.best + self.min_delta:
            self.best, self.best_epoch, self.wait = float(value), int(epoch), 0
            return False
        self.wait += 1
        return self.wait >= self.patience

    @property
    def improved(self) -> bool:
        """Whether the last :meth:`step` was a new best."""
        return self.wait == 0

    def state_dict(self) -> dict[str, Any]:
        """The state as a dict (for the checkpoint)."""
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait, "patience": self.patience}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output."""
        self.best, self.best_epoch, self.wait = float(state["best"]), int(state["best_epoch"]), int(state["wait"])


# ----------------------------------------------------------------- checkpoints and run folders
def save_checkpoint(run: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``run/checkpoint/last.pt`` atomically (a kill leaves the old or the new one)."""
    import torch

    path = run / CHECKPOINT
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        torch.save(state, f)
    return path


def save_state_dict(path: Path, state: dict[str, Any]) -> Path:
    """``torch.save`` a state dict atomically."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        torch.save(state, f)
    return path


def load_checkpoint(run: Path) -> dict[str, Any] | None:
    """The run's last checkpoint, or ``None`` when it has none."""
    import torch

    path = run / CHECKPOINT
    if not path.is_file():
        return None
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a truncated file cannot happen (atomic writes) but a foreign one can
        raise RecipeError(f"{path}: cannot read the checkpoint ({e})") from None
    return state


def check_resume(run: Path, saved: dict[str, Any], current: dict[str, Any], free: Sequence[str]) -> None:
    """Refuse to resume ``run`` with a config that changes anything outside ``free``.

    Raises:
        RecipeError: Naming the first differing option.

    """
    for key in sorted(set(saved) | set(current)):
        if key in free:
            continue
        if saved.get(key) != current.get(key):
            raise RecipeError(
                f"{run / 'config.json'}: cannot resume with {key}={current.get(key)!r}; "
                f"the run was started with {saved.get(key)!r}"
            )


def write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as indented JSON, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    raise TypeError(f"cannot write {type(o).__name__} as JSON")


def progress(iterable: Any, *, total: int | None, desc: str) -> Any:
    """A tqdm bar on a TTY (stderr), the bare iterable otherwise."""
    if not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


# ----------------------------------------------------------------- plots
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig: Any, path: Path) -> None:
    plt = _pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def plot_history(history: list[dict[str, Any]], out: Path, curves: dict[str, Sequence[str]]) -> list[Path]:
    """One PNG per entry of ``curves`` (file stem → history keys), epochs on the x axis."""
    plt = _pyplot()
    written = []
    epochs = [h["epoch"] for h in history]
    for stem, keys in curves.items():
        fig, ax = plt.subplots(figsize=(7, 4))
        for key in keys:
            ys = [h.get(key) for h in history]
            if any(y is not None for y in ys):
                ax.plot(epochs, [math.nan if y is None else y for y in ys], marker="o", ms=3, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(stem.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend()
        path = out / f"{stem}.png"
        _save_figure(fig, path)
        written.append(path)
    return written


def plot_confusion(matrix: Any, labels: Sequence[str], path: Path, title: str) -> Path:
    """A row-normalised confusion-matrix heatmap (rows: true class, columns: predicted)."""
    import numpy as np

    plt = _pyplot()
    m = np.asarray(matrix, dtype=np.float64)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    n = len(labels)
    side = min(18.0, max(4.0, 0.28 * n + 2))
    fig, ax = plt.subplots(figsize=(side, side))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ticks = range(n)
    ax.set_xticks(list(ticks), labels=list(labels), rotation=90, fontsize=7)
    ax.set_yticks(list(ticks), labels=list(labels), fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    _save_figure(fig, path)
    return path


def plot_samples(images: Sequence[Any], titles: Sequence[str], correct: Sequence[bool], path: Path) -> Path:
    """A grid of images (HxWx3 uint8) titled ``true → pred``; wrong predictions in red."""
    plt = _pyplot()
    n = max(1, len(images))
    cols = min(8, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.9 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, title, ok in zip(axes.ravel(), images, titles, correct, strict=False):
        ax.imshow(img)
        ax.set_title(title, fontsize=8, color="green" if ok else "red")
    _save_figure(fig, path)
    return path


def module_main(
    name: str,
    doc: str,
    data_help: str,
    add_options: Callable[[argparse.ArgumentParser], None],
    run_args: Callable[[argparse.Namespace, str], int],
    argv: list[str] | None = None,
) -> int:
    """``python -m recipes.NAME --data DS --out RUN [options]``: one-line errors, exit 1 on bad input."""
    p = argparse.ArgumentParser(prog=f"python -m recipes.{name}", description=doc.splitlines()[0])
    p.add_argument("--data", required=True, help=data_help)
    p.add_argument("--out", required=True, help="run folder")
    add_options(p)
    args = p.parse_args(argv)
    try:
        return run_args(args, args.data)
    except (RecipeError, FileNotFoundError, ValueError) as e:
        print(f"{name}: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
