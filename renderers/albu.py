"""albumentations for rendering: imported offline, and without its PyTorch bridge unless torch is loaded.

``import albumentations`` does two things rendering does not want:

* it asks PyPI for a newer version (a network call) unless ``NO_ALBUMENTATIONS_UPDATE`` is set;
  :func:`load` sets it (``setdefault``: a value of your own is kept);
* its ``albumentations.pytorch`` bridge (``ToTensorV2``) imports torch: about 1 s and 300 MB in
  every process that renders (each pool worker too, when workers are spawned), measured on a
  2-core Xeon (``python -X importtime -c "import albumentations"``: 1.6 s, 1.1 s of it torch).

:func:`load` skips the bridge when torch is not imported yet, the one case where it costs
anything. Nothing else changes: every transform is there, and ``import albumentations.pytorch``
afterwards imports the bridge as usual (only the top-level alias ``albumentations.ToTensorV2`` is
absent; import it from ``albumentations.pytorch``). When torch is already loaded, or
albumentations already imported, the import is the ordinary one.

Examples:
    >>> A = load()
    >>> A.Compose([A.HorizontalFlip(p=1.0)]).__class__.__name__
    'Compose'
    >>> import os; os.environ["NO_ALBUMENTATIONS_UPDATE"]
    '1'

"""

from __future__ import annotations

import os
import sys
from types import ModuleType

_BRIDGE = "albumentations.pytorch"


def load() -> ModuleType:
    """The ``albumentations`` module, imported as described above."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    if "albumentations" in sys.modules or "torch" in sys.modules or _BRIDGE in sys.modules:
        import albumentations

        return albumentations
    sys.modules[_BRIDGE] = None  # type: ignore[assignment]  # albumentations skips a bridge it cannot import
    try:
        import albumentations
    finally:
        if sys.modules.get(_BRIDGE, 0) is None:
            del sys.modules[_BRIDGE]
    return albumentations
