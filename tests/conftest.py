"""Test-wide guards and fixtures: offline by construction, fixtures generated in the tests."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

for _k, _v in {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "FIFTYONE_DO_NOT_TRACK": "true",
    "FIFTYONE_DATABASE_VALIDATION": "false",
    "NO_ALBUMENTATIONS_UPDATE": "1",
    "MPLBACKEND": "Agg",
}.items():
    os.environ.setdefault(_k, _v)

SEED_PROMPT = "What number is on this basketball jersey? Reply with just the number, nothing else."


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:
        return True  # AF_UNIX paths and the like never leave the machine
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: refuse


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise RuntimeError(f"test tried to open a network connection to {address!r}; tests run offline")
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_loopback(address):
        raise RuntimeError(f"test tried to open a network connection to {address!r}; tests run offline")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True, scope="session")
def _scratch_tempdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Send ``tempfile`` folders (doctests, libraries, subprocesses) into pytest's base folder.

    With ``tmp_path_retention_policy = "failed"`` a passing run then leaves nothing in ``/tmp``.
    """
    scratch = str(tmp_path_factory.mktemp("scratch"))
    old_dir, old_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = scratch
    os.environ["TMPDIR"] = scratch
    yield
    tempfile.tempdir = old_dir
    if old_env is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = old_env


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that opens a socket beyond loopback."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


def write_jsonl(path: Path, rows: list[object]) -> Path:
    """Write rows (dicts are JSON-encoded; strings are written as raw lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path


def make_image(path: Path, size: tuple[int, int] = (32, 48), color: tuple[int, int, int] = (200, 30, 30)) -> Path:
    """A small solid image (format from the suffix)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


@pytest.fixture
def seed_dataset(tmp_path: Path) -> Path:
    """A jersey-crop dataset in the seed's layout (train/valid/test + train/synthetic)."""
    root = tmp_path / "jerseys"
    rows = {
        "train": [("t1.jpg", "23"), ("t2.jpg", "7"), ("t3.jpg", "23"), ("t4.jpg", "10")],
        "valid": [("v1.jpg", "23"), ("v2.jpg", "7")],
        "test": [("e1.jpg", "10")],
        "train/synthetic": [("s1.png", "6"), ("s2.png", "6")],
    }
    for folder, items in rows.items():
        for i, (name, _) in enumerate(items):
            make_image(root / folder / name, size=(40 + i, 60), color=(10 * i, 100, 200))
        write_jsonl(
            root / folder / "annotations.jsonl",
            [{"image": n, "prefix": SEED_PROMPT, "suffix": lab} for n, lab in items],
        )
    return root
