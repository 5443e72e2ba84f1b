"""Project-wide promises: offline tests, a light `import datakit`, checked docstrings."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import socket
import subprocess
import sys

import pytest

import datakit


def test_network_guard_refuses_non_loopback() -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(RuntimeError, match="offline"):
            s.connect(("192.0.2.1", 80))  # TEST-NET-1, never routed
        with pytest.raises(RuntimeError, match="offline"):
            s.connect_ex(("example.com", 443))
    finally:
        s.close()


def test_network_guard_allows_loopback() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.socket()
    try:
        c.connect(srv.getsockname())
    finally:
        c.close()
        srv.close()


HEAVY = (
    "torch",
    "transformers",
    "fiftyone",
    "datasets",
    "sahi",
    "rfdetr",
    "albumentations",
    "pandas",
    "scipy",
    "sklearn",
    "matplotlib",
    "cv2",
    "pycocotools",
    "pyarrow",
)


def test_import_datakit_is_light() -> None:
    code = (
        "import sys, datakit, datakit.cli; datakit.cli.build_parser(); "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]", f"heavy modules imported at start-up: {r.stdout}"


def test_core_never_imports_plugins() -> None:
    code = "import sys, datakit, datakit.cli; print([m for m in sys.modules if m.split('.')[0] in ('renderers', 'annotators', 'recipes')])"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def _core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(datakit.__path__, "datakit."))


@pytest.mark.parametrize("name", _core_modules())
def test_docstring_examples_run(name: str) -> None:
    """Every core module shows examples, and they run (command modules are tested through the CLI)."""
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name != "datakit.cli" and not name.startswith("datakit.commands"):
        assert result.attempted > 0, f"{name} has no docstring examples"
