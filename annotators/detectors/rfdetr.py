"""RF-DETR (``rfdetr``) as a detector: by size (``nano|small|medium|base``) or from a local checkpoint.

One loading path takes every form: a size name builds ``rfdetr.RFDETRNano()`` (and so on) with
its published weights (downloaded by rfdetr, or found in its cache; offline without them this is
a one-line error that says to pass a checkpoint), a ``.pth``/``.ckpt`` file goes through
``RFDETR.from_checkpoint`` (which infers the size), and an already built model object (what the
tests pass: ``RFDETRNano(pretrain_weights=None, num_classes=2)``) is used as is.

All images of a :meth:`RFDETRDetector.detect` call go through one ``model.predict`` call: rfdetr
resizes each to the model's resolution, stacks them into one batch and runs one forward pass; slices
arrive as views of their frame, so nothing is copied on the way in. ``optimize=True`` switches to
rfdetr's inference-optimised module (``model.inference(compile=False)``). ``backend="onnx"`` exports
the model with rfdetr's own ONNX exporter (dynamic batch) and runs it with ONNX Runtime; the
preprocessing (uint8 → float, bilinear resize without antialiasing, normalisation) and the
postprocessing (rfdetr's ``PostProcess``) are rfdetr's, done once per batch, slices of one size
resized together: the boxes match ``predict`` to float precision (5–10% faster on a 2-core CPU).
``backend="openvino"`` runs the same export on OpenVINO's CPU plugin in float32, one request per
CPU stream (5–10% faster than ``predict`` on a 2-core Xeon).

Examples:
    >>> SIZES["nano"]
    'RFDETRNano'

"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotators.detectors.base import Boxes, Detector

SIZES: dict[str, str] = {"nano": "RFDETRNano", "small": "RFDETRSmall", "medium": "RFDETRMedium", "base": "RFDETRBase"}
"""Size name → rfdetr class."""
BACKENDS = ("torch", "onnx", "openvino")
"""Inference paths: rfdetr's ``predict``, its ONNX export on ONNX Runtime, or on OpenVINO."""
PRECISIONS = ("fp32", "bf16")
"""Arithmetic of the forward pass: float32 (the default: boxes and scores equal SAHI's), or
bfloat16 (``torch``: autocast; ``openvino``: its bf16 inference precision): on a 2-core Xeon with
AMX 1.8× (torch) and 3.4× (openvino) SAHI's frames/s, but scores move, so most boxes no longer
equal float32's to 1e-3 (``bench_pseudo.py`` counts them)."""


class _OpenVINO:
    """rfdetr's ONNX export compiled by OpenVINO for the CPU in float32 (no reduced precision).

    OpenVINO would run bfloat16 on CPUs with AMX unless told otherwise; float32 keeps the boxes
    and scores those of ``predict``. A batch is cut into one request per CPU stream, run at once.
    """

    def __init__(self, path: str, device: str, precision: str = "fp32") -> None:
        if device != "cpu":
            raise ValueError(f"backend openvino runs on the CPU; got device {device!r} (use onnx or torch on a GPU)")
        import openvino as ov

        core = ov.Core()
        hint = "bf16" if precision == "bf16" else "f32"
        config = {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "THROUGHPUT"}
        self.model = core.compile_model(path, "CPU", config)
        self.streams = max(1, int(self.model.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self.queue = ov.AsyncInferQueue(self.model, self.streams)

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(boxes, logits)`` of a ``(B, 3, R, R)`` batch, the ONNX model's two outputs."""
        parts = np.array_split(np.arange(len(x)), min(self.streams, len(x)))
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}

        def done(request: Any, k: int) -> None:
            out[k] = (request.get_output_tensor(0).data.copy(), request.get_output_tensor(1).data.copy())

        self.queue.set_callback(done)
        for k, idx in enumerate(parts):
            self.queue.start_async({0: np.ascontiguousarray(x[idx])}, k)
        self.queue.wait_all()
        return (np.concatenate([out[k][0] for k in range(len(parts))]),
                np.concatenate([out[k][1] for k in range(len(parts))]))  # fmt: skip


def _classes(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None or not isinstance(value, str):
        return None if value is None else [str(v) for v in value]
    p = Path(value)
    if p.is_file():
        return [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    names = [c.strip() for c in value.split(",") if c.strip()]
    if not names:
        raise ValueError(f"--classes {value!r}: no class names")
    return names


def pick_device(device: str = "auto") -> str:
    """``cuda`` when a GPU is present, else ``cpu`` (or ``device`` as given)."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(model: str | Any, *, device: str = "cpu", resolution: int | None = None) -> tuple[Any, str]:
    """Build an RF-DETR model from a size name, a checkpoint path or a model object; ``(model, model_id)``.

    Raises:
        FileNotFoundError: A checkpoint path that does not exist.
        RuntimeError: The weights cannot be obtained (offline, no cache) or the file is not an
            RF-DETR checkpoint; the message names the model.

    """
    if not isinstance(model, str):
        return model, type(model).__name__
    import rfdetr

    extra: dict[str, Any] = {"device": device}
    if resolution:
        extra["resolution"] = int(resolution)
    name = model.lower().removeprefix("rfdetr-")
    if name in SIZES:
        try:
            return getattr(rfdetr, SIZES[name])(**extra), name
        except Exception as e:
            first = str(e).splitlines()[0] if str(e) else ""
            raise RuntimeError(
                f"cannot load RF-DETR {model!r} weights: {type(e).__name__}: {first} "
                "(offline: pass a local .pth checkpoint)"
            ) from None
    path = Path(model).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"RF-DETR checkpoint not found: {path} (or use nano, small, medium, base)")
    try:
        return rfdetr.RFDETR.from_checkpoint(str(path), **extra), str(path)
    except Exception as e:
        raise RuntimeError(f"{path}: not a loadable RF-DETR checkpoint: {type(e).__name__}: {e}") from None


class RFDETRDetector(Detector):
    """RF-DETR boxes with class names.

    Args:
        model: ``nano|small|medium|base`` (``rfdetr-`` prefix allowed), a ``.pth`` checkpoint,
            or an rfdetr model object.
        classes: Class names of the model's outputs by class id (``player,ball``, a list, or a
            file with one name per line); default: the names the model carries.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``.
        resolution: Input resolution (default: the model's).
        optimize: Use rfdetr's inference-optimised module.
        backend: ``torch`` (rfdetr's ``predict``), ``onnx`` (rfdetr's ONNX export run by ONNX
            Runtime) or ``openvino`` (the same export on OpenVINO, CPU, float32), the last two with
            rfdetr's pre- and postprocessing.
        batch_size: Images (slices) per forward pass.
        precision: ``fp32`` (default) or ``bf16`` (see :data:`PRECISIONS`; not with ``onnx``).

    Raises:
        ValueError: An unknown backend or precision, or ``bf16`` with ``onnx``.

    """

    name = "rfdetr"

    def __init__(
        self,
        model: str | Any = "nano",
        *,
        classes: str | Sequence[str] | None = None,
        device: str = "auto",
        resolution: int | None = None,
        optimize: bool = False,
        backend: str = "torch",
        batch_size: int = 8,
        precision: str = "fp32",
    ) -> None:
        import rfdetr

        if backend not in BACKENDS:
            raise ValueError(f"expected backend {', '.join(BACKENDS)}, got {backend!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"expected precision {', '.join(PRECISIONS)}, got {precision!r}")
        if precision == "bf16" and backend == "onnx":
            raise ValueError("precision bf16 needs backend torch or openvino (ONNX Runtime runs the export in float32)")
        self.precision = precision

        self.device = pick_device(device)
        self.model, self.model_id = load_model(model, device=self.device, resolution=resolution)
        self.classes = _classes(classes)
        self.version = f"rfdetr-{getattr(rfdetr, '__version__', '?')}"
        self.batch_size = int(batch_size)
        self.optimized = bool(optimize)
        self.backend = backend
        self.session: Any = None
        self._onnx_dir: Any = None
        if self.optimized:
            self.model.inference(compile=False)
        if backend != "torch":
            self._export_onnx()

    def _export_onnx(self) -> None:
        """Export with rfdetr's ONNX exporter (dynamic batch) into a temporary folder; open a session on it."""
        import tempfile

        self._onnx_dir = tempfile.TemporaryDirectory(prefix="datakit-rfdetr-onnx-")
        path = self.model.export(output_dir=self._onnx_dir.name, dynamic_batch=True, verbose=False)
        if self.backend == "openvino":
            self.session = _OpenVINO(str(path), self.device, self.precision)
            return
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if self.device.startswith("cuda") else None
        self.session = ort.InferenceSession(str(path), opts, providers=providers or ["CPUExecutionProvider"])
        self._input = self.session.get_inputs()[0].name

    def config(self) -> dict[str, Any]:
        """Identity for checkpoints: model, classes, resolution."""
        return {
            **super().config(), "model": self.model_id, "classes": self.classes,
            "resolution": int(self.model.model.resolution), "optimized": self.optimized, "backend": self.backend,
            **({"precision": self.precision} if self.precision != "fp32" else {}),
        }  # fmt: skip

    def names(self, class_ids: np.ndarray, given: Any) -> list[str]:
        """Class names for ``class_ids``: ``--classes`` first, then the model's own names, else the id."""
        given = list(given) if given is not None else [""] * len(class_ids)
        out = []
        for cid, name in zip(class_ids.tolist(), given, strict=True):
            if self.classes is not None and 0 <= cid < len(self.classes):
                out.append(self.classes[cid])
            else:
                out.append(str(name) if name else str(cid))
        return out

    def _class_table(self) -> dict[int, str]:
        """Class id → name the way ``predict`` maps them (COCO sparse ids for pretrained COCO models)."""
        from rfdetr.assets.coco_classes import COCO_CLASS_NAMES, COCO_CLASSES

        names = list(self.model.class_names)
        slots = int(getattr(getattr(self.model.model, "args", None), "num_classes", len(names)))
        if slots > len(names) and names == list(COCO_CLASS_NAMES):
            return {cid: names[i] for i, cid in enumerate(COCO_CLASSES) if i < len(names)}
        table = dict(enumerate(names))
        table[slots] = "__background__"
        return table

    def _preprocess(self, images: Sequence[np.ndarray]) -> Any:
        """The input transform of rfdetr's predict for a whole batch: ``(B, 3, R, R)`` float32, normalised."""
        import torch
        import torchvision.transforms.functional as F

        res = int(self.model.model.resolution)
        batch = torch.empty((len(images), 3, res, res), dtype=torch.float32)
        groups: dict[tuple[int, ...], list[int]] = {}
        for k, im in enumerate(images):
            groups.setdefault(im.shape, []).append(k)
        scale = torch.tensor(255, dtype=torch.float32)
        for idx in groups.values():
            u8 = torch.stack([torch.from_numpy(images[k]).permute(2, 0, 1) for k in idx])
            batch[idx] = F.resize(u8.to(torch.float32).div_(scale), [res, res], antialias=False)
        return F.normalize(batch, self.model.means, self.model.stds)

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The exported model's raw ``(boxes, logits)`` for a preprocessed ``(B, 3, R, R)`` batch (onnx, openvino)."""
        if isinstance(self.session, _OpenVINO):
            return self.session.run(batch)
        dets, logits = self.session.run(None, {self._input: batch})
        return dets, logits

    def _detect_fast(self, images: Sequence[np.ndarray], threshold: float) -> list[Boxes]:
        import torch

        dets, logits = self.forward(self._preprocess(images).numpy())
        preds = {"pred_boxes": torch.from_numpy(dets), "pred_logits": torch.from_numpy(logits)}
        sizes = torch.tensor([im.shape[:2] for im in images])
        results = self.model.model.postprocess(preds, target_sizes=sizes, score_threshold=threshold)
        table = self._class_table()
        out = []
        for r in results:
            keep = r["scores"] > threshold
            ids = r["labels"][keep].numpy().astype(np.int64)
            given = [table.get(int(c), "") for c in ids.tolist()]
            out.append(
                Boxes(r["boxes"][keep].float().numpy(), r["scores"][keep].float().numpy(), self.names(ids, given))
            )
        return out

    def detect(self, images: Sequence[np.ndarray], threshold: float) -> list[Boxes]:
        """One batched forward pass over ``images``; boxes in each image's own pixels."""
        import torch

        if not images:
            return []
        if self.session is not None:
            return self._detect_fast(images, threshold)
        bf16 = torch.autocast(self.device.split(":")[0], torch.bfloat16, enabled=self.precision == "bf16")
        with torch.inference_mode(), bf16:
            dets = self.model.predict(list(images), threshold=threshold, include_source_image=False)
        out = []
        for d in dets:
            ids = np.asarray(d.class_id if d.class_id is not None else [], dtype=np.int64)
            out.append(Boxes(np.asarray(d.xyxy), np.asarray(d.confidence), self.names(ids, d.data.get("class_name"))))
        return out

    def close(self) -> None:
        """Drop the model (and the exported ONNX file)."""
        self.model = None
        self.session = None
        if getattr(self, "_onnx_dir", None) is not None:
            self._onnx_dir.cleanup()
            self._onnx_dir = None
