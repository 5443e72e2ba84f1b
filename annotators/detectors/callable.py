"""Any Python function as a detector: ``module:function`` or ``path/to/file.py:function``.

The function is called with a list of RGB ``uint8`` arrays ``(H, W, 3)`` and returns one dict per
image: ``boxes`` (``(N, 4)`` absolute-pixel xyxy), ``scores`` (``(N,)`` in ``[0, 1]``) and
``labels`` (``N`` class names). With slicing it receives slices and datakit maps the boxes back
to the frame. A wrong answer (length, shape, a score outside ``[0, 1]``) fails the batch with a
message naming the function and the image.

Examples:
    >>> import numpy as np
    >>> det = CallableDetector("annotators.detectors.callable:_example")
    >>> det.detect([np.zeros((10, 20, 3), np.uint8)], threshold=0.05)[0].xyxy.tolist()
    [[0.0, 0.0, 20.0, 10.0]]

"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from annotators.detectors.base import Boxes, Detector


def _example(images: list[np.ndarray]) -> list[dict[str, Any]]:
    """A whole-image box per image (for the doctest)."""
    return [{"boxes": [[0, 0, im.shape[1], im.shape[0]]], "scores": [0.9], "labels": ["frame"]} for im in images]


class CallableDetector(Detector):
    """Wrap a function (or a ``module:function`` spec) as a :class:`Detector`.

    Args:
        fn: The function, or its spec (``pkg.mod:detect``, ``my_model.py:detect``).
        batch_size: Images per call.
        version: Written to ``metadata.detector_version`` (default: the function's
            ``__version__`` attribute or its module's, else empty).

    """

    def __init__(self, fn: str | Callable[[list[np.ndarray]], Any], *, batch_size: int = 8, version: str | None = None):
        from annotators.registry import load_callable

        self.spec = fn if isinstance(fn, str) else f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', fn)}"
        self.fn = load_callable(fn) if isinstance(fn, str) else fn
        self.name = self.spec
        if version is None:
            mod = __import__("sys").modules.get(getattr(self.fn, "__module__", ""), None)
            version = str(getattr(self.fn, "__version__", None) or getattr(mod, "__version__", "") or "")
        self.version = version
        self.batch_size = int(batch_size)

    def detect(self, images: Sequence[np.ndarray], threshold: float) -> list[Boxes]:
        """Call the function on the batch, validate every answer and keep scores above ``threshold``."""
        out = self.fn(list(images))
        try:
            out = list(out)
        except TypeError:
            raise ValueError(f"detector {self.spec}: expected a list of dicts, got {type(out).__name__}") from None
        if len(out) != len(images):
            raise ValueError(f"detector {self.spec}: returned {len(out)} results for {len(images)} images")
        boxes = [Boxes.from_output(o, f"detector {self.spec}: image {k}") for k, o in enumerate(out)]
        return [b.keep(b.scores > threshold) for b in boxes]
