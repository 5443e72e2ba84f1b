"""The jersey classifier's data: splits read from a datakit dataset, the jersey OCR log's transforms, the sampler.

The training transform is run #21's stack from the jersey OCR experiment log, in its order:

1. ``RandomResizedCrop(size)`` (scale 0.08–1.0)
2. ``RandomAffine(degrees=15, translate=0.1, scale=0.85–1.15)``
3. ``RandomPerspective(distortion_scale=0.2, p=0.3)``
4. ``ColorJitter(0.2, 0.2, 0.2, 0.1)``
5. ``GaussianBlur`` at the preset's kernel and sigma (the base pipeline's 5, 0.1–2.0; the jersey OCR log's
   Phase 6 presets such as ``zc_strong_all`` raise it to 7, 0.5–3.5)
6. the preset's degradation group from :mod:`renderers.presets` (``zc_strong_all``: inside
   ``RandomApply(p=0.85)``)
7. ToFloat (0–1), ``Normalize`` (the network's mean/std; ImageNet for ResNet18)
8. ``RandomErasing`` with the preset's p and area (``zc_strong_all``: 0.3, 0.02–0.15)

No horizontal flip (6 and 9). Every random draw of sample ``i`` in epoch ``e`` comes from one
seed derived from ``(seed, e, i)``, so a resumed run sees the same augmented images as an
uninterrupted one, whatever the number of workers.

Examples:
    >>> sample_seed(0, 1, 2) != sample_seed(0, 2, 1)
    True
    >>> s = EpochSampler(4, seed=0)
    >>> s.set_epoch(1)
    >>> sorted(k % 4 for k in s), all(k // 4 == 1 for k in s)
    ([0, 1, 2, 3], True)

"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recipes._training import RecipeError

SPLIT_NAMES: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "valid": ("valid", "val", "validation"),
    "test": ("test",),
}


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of every random draw for sample ``index`` in ``epoch``."""
    return ((int(seed) * 1_000_003 + int(epoch)) * 10_000_019 + int(index)) % (2**62)


@dataclasses.dataclass
class SplitData:
    """One split's samples: absolute image paths and class indices."""

    paths: list[str]
    targets: list[int]


def read_splits(data: str | Path, classes: Sequence[str] | None) -> tuple[list[str], dict[str, SplitData], dict]:
    """Read train/valid/test from a datakit dataset (any format ``datakit.load`` reads).

    ``train`` includes everything under ``train/`` (``train/synthetic/`` too: the loader assigns
    it to ``train``). The class list is ``classes``, else the dataset's declared classes, else the
    sorted train labels. Samples whose label is empty or outside the class list, and samples whose
    image file is missing, are skipped and counted per split and reason; rows the reader skipped
    are counted under ``reader``.

    Returns:
        ``(classes, {split: SplitData}, {split: {reason: count}})``.

    Raises:
        RecipeError: The dataset cannot be read or has no labelled train samples.

    """
    import datakit
    from datakit.dataset import sort_labels

    try:
        ds = datakit.load(data)
    except (OSError, ValueError) as e:
        raise RecipeError(f"{data}: {str(e).splitlines()[0]}") from None
    present = set(ds.splits)
    by_split = {}
    for name, aliases in SPLIT_NAMES.items():
        found = [a for a in aliases if a in present]
        by_split[name] = ds.filter(split=found) if found else None
    train = by_split["train"]
    if train is None or len(train) == 0:
        raise RecipeError(f"{data}: no train split (expected train/ with annotations, splits found: {sorted(present)})")
    if classes is None:
        classes = list(ds.classes) if ds.classes else sort_labels(x for x in train.columns.labels.tolist() if x)
    classes = [str(c) for c in classes]
    if not classes:
        raise RecipeError(f"{data}: the train split has no labels")
    index = {c: i for i, c in enumerate(classes)}
    out: dict[str, SplitData] = {}
    skipped: dict[str, dict[str, int]] = {}
    for name, part in by_split.items():
        if part is None:
            continue
        reasons: Counter[str] = Counter()
        paths, targets = [], []
        for i, label in enumerate(part.columns.labels.tolist()):
            if not label:
                reasons["empty label"] += 1
                continue
            k = index.get(label)
            if k is None:
                reasons[f"label {label!r} not in the class list"] += 1
                continue
            path = part.image_path(i)
            if not path.is_file():
                reasons["image not found"] += 1
                continue
            paths.append(str(path))
            targets.append(k)
        out[name] = SplitData(paths, targets)
        if reasons:
            skipped[name] = dict(reasons.most_common())
    if ds.skipped:  # rows the reader itself refused (an empty-suffix duplicate row, a bad line)
        skipped["reader"] = dict(Counter(s.reason for s in ds.skipped).most_common())
    return classes, out, skipped


class EpochSampler:
    """Indices of one epoch in a seeded order, each encoded as ``epoch * n + index``.

    The dataset decodes the epoch from the key, so the per-sample seeds follow the epoch even in
    persistent worker processes. ``weights`` draws with replacement (a weighted sampler).
    """

    def __init__(self, n: int, seed: int, weights: Sequence[float] | None = None) -> None:
        self.n, self.seed, self.epoch = int(n), int(seed), 0
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s order next."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.weights is None:
            order = rng.permutation(self.n)
        else:
            order = rng.choice(self.n, size=self.n, replace=True, p=self.weights / self.weights.sum())
        base = self.epoch * self.n
        return iter((base + order).tolist())


def class_balanced_weights(targets: Sequence[int]) -> list[float]:
    """Inverse-frequency weights (the jersey OCR log's ``sampler.mode=auto``)."""
    counts = Counter(targets)
    return [1.0 / counts[t] for t in targets]


class TrainTransform:
    """The jersey OCR log's training transform (see the module docstring); ``__call__(image, seed)``.

    The torchvision steps run as their OpenCV equivalents in :mod:`recipes.augment` (same
    sampling rules, a fraction of the cost); the degradations are the preset's albumentations.
    """

    def __init__(self, size: int, preset: str, mean: Sequence[float], std: Sequence[float]) -> None:
        from renderers.presets import get_preset

        p = get_preset(preset)
        self.size = int(size)
        self.blur = p.blur if p is not None and p.blur else (5, 0.1, 2.0)
        self.erasing = p.erasing if p is not None and p.erasing else (0.2, 0.02, 0.15)
        group = dataclasses.replace(p, blur=None, erasing=None) if p is not None else None
        self.degrade = group.build() if group is not None else None
        self.mean = np.asarray(mean, np.float32).reshape(3, 1, 1) * 255.0
        self.std = np.asarray(std, np.float32).reshape(3, 1, 1) * 255.0
        blur, erasing = self.blur, self.erasing
        self.params = {
            "random_resized_crop": {"size": size, "scale": [0.08, 1.0], "ratio": [0.75, 4 / 3]},
            "random_affine": {"degrees": 15, "translate": [0.1, 0.1], "scale": [0.85, 1.15]},
            "random_perspective": {"distortion_scale": 0.2, "p": 0.3},
            "color_jitter": {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.1},
            "gaussian_blur": {"kernel_size": blur[0], "sigma": [blur[1], blur[2]]},
            "degradation_preset": preset,
            "degradation_params": group.params() if group is not None else {},
            "to_float": True,
            "normalize": {"mean": list(mean), "std": list(std)},
            "random_erasing": {"p": erasing[0], "scale": [erasing[1], erasing[2]], "value": 0},
            "horizontal_flip": False,
        }

    def array(self, image: Any, seed: int) -> np.ndarray:
        """The augmented, normalised CHW float32 array of a PIL image."""
        from recipes import augment as A
        from renderers.degradations import apply_seeded

        rng = np.random.default_rng(seed)
        x = np.asarray(image.convert("RGB") if image.mode != "RGB" else image, dtype=np.uint8)
        x = A.random_resized_crop(x, self.size, rng)
        x = A.random_affine(x, rng)
        x = A.random_perspective(x, rng)
        x = A.random_color_jitter(x, rng)
        x = A.random_gaussian_blur(x, rng, self.blur[0], (self.blur[1], self.blur[2]))
        if self.degrade is not None:
            x = apply_seeded(self.degrade, np.ascontiguousarray(x), seed)
        chw = (x.transpose(2, 0, 1).astype(np.float32) - self.mean) / self.std
        return A.random_erasing(chw, rng, self.erasing[0], (self.erasing[1], self.erasing[2]))

    def __call__(self, image: Any, seed: int) -> Any:
        """The augmented, normalised CHW float tensor of a PIL image."""
        import torch

        return torch.from_numpy(np.ascontiguousarray(self.array(image, seed)))


class EvalTransform:
    """Resize to ``size`` × ``size``, ToFloat, Normalize."""

    def __init__(self, size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        self.size, self.mean, self.std = int(size), list(mean), list(std)

    def resized(self, image: Any) -> np.ndarray:
        """The resized uint8 RGB array (what the network sees, before normalisation)."""
        from PIL import Image

        return np.asarray(image.resize((self.size, self.size), Image.Resampling.BILINEAR), dtype=np.uint8)

    def __call__(self, image: Any, seed: int = 0) -> Any:
        """The normalised CHW float tensor."""
        import torch
        from torchvision.transforms.v2 import functional as F

        x = torch.from_numpy(self.resized(image).copy()).permute(2, 0, 1)
        return F.normalize(x.float().div_(255.0), self.mean, self.std)


class CropDataset:
    """A ``torch.utils.data.Dataset`` of (tensor, class index); keys from :class:`EpochSampler`."""

    def __init__(self, split: SplitData, transform: Any, seed: int) -> None:
        self.paths, self.targets = split.paths, split.targets
        self.transform, self.seed = transform, int(seed)

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, i: int) -> Any:
        """Decode image ``i`` (RGB)."""
        from datakit.images import load_image

        try:
            return load_image(self.paths[i])
        except (OSError, ValueError, SyntaxError) as e:
            raise RecipeError(f"{self.paths[i]}: cannot decode image ({e})") from None

    def __getitem__(self, key: int) -> tuple[Any, int]:
        n = len(self.paths)
        epoch, i = divmod(int(key), n)
        return self.transform(self.load(i), sample_seed(self.seed, epoch, i)), self.targets[i]
