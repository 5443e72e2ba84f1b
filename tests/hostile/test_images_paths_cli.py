"""Hostile inputs for images, paths and the CLI contract (issue 14: items 2, 3, 6, 7, 10, 11, hangs, typos).

Each row builds a small native JSONL dataset under ``tmp_path`` with one bad thing in it and runs
the command a new user would; see :mod:`._table` for the outcome classes.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ._table import Case, Outcome, run_case


def dataset(root: Path, n: int = 3, extra: dict[str, Callable[[Path], None]] | None = None) -> Path:
    """``root/train/annotations.jsonl`` with ``n`` distinct PNGs, plus ``extra`` images made by callbacks."""
    folder = root / "ds" / "train"
    folder.mkdir(parents=True)
    rows = []
    for k in range(n):
        arr = (np.random.default_rng(k).random((24, 24, 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{k}.png")
        rows.append({"image": f"{k}.png", "label": str(k)})
    for name, make in (extra or {}).items():
        make(folder / name)
        rows.append({"image": name, "label": "9"})
    (folder / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "ds"


def with_rows(root: Path, rows: list[dict[str, object]]) -> Path:
    ds = dataset(root)
    path = ds / "train" / "annotations.jsonl"
    path.write_text(path.read_text() + "".join(json.dumps(r) + "\n" for r in rows))
    return ds


def bomb_png(path: Path, side: int = 30000) -> None:
    """A valid grey PNG of side×side pixels that compresses to well under a megabyte."""
    raw = b"".join(b"\x00" + bytes(side) for _ in range(side // 100))  # a strip, repeated below
    comp = zlib.compressobj(9)
    data = b"".join(comp.compress(raw) for _ in range(100)) + comp.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    ihdr = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def fifo(path: Path) -> None:
    os.mkfifo(path)


def link_to(target: str | Path) -> Callable[[Path], None]:
    return lambda path: path.symlink_to(target)


def secret(root: Path) -> Path:
    """A real PNG outside the dataset root."""
    (root / "outside").mkdir(exist_ok=True)
    p = root / "outside" / "secret.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(p)
    return p


def no_copy_of(content: bytes) -> Callable[[Path, Outcome], None]:
    def check(tmp: Path, _: Outcome) -> None:
        out = tmp / "out"
        copied = [p for p in out.rglob("*") if p.is_file() and p.read_bytes() == content] if out.exists() else []
        assert not copied, f"copied from outside the root: {copied}"

    return check


HOSTNAME = Path("/etc/hostname").read_bytes() if Path("/etc/hostname").is_file() else b""


def _16bit(path: Path, level: int) -> None:
    """A distinct 16-bit grey PNG (its own noise pattern) around ``level``."""
    import cv2

    noise = np.random.default_rng(level).random((20, 20)) * 20000
    cv2.imwrite(str(path.with_suffix(".png")), (level + noise).astype(np.uint16))


def sixteen_bit(root: Path) -> Path:
    folder = root / "ds" / "train"
    folder.mkdir(parents=True)
    rows = []
    for k, level in enumerate((1000, 9000, 20000, 40000)):
        _16bit(folder / f"{k}.png", level)
        rows.append({"image": f"{k}.png", "label": "7"})
    (folder / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "ds"


def _outside_secret(t: Path) -> list[str]:
    ds = dataset(t, extra={"evil.png": link_to(secret(t))})
    return ["convert", str(ds), "--to", "yolo", "--lenient", "--out", str(t / "out")]


def _follow(t: Path) -> list[str]:
    ds = dataset(t, extra={"mine.png": link_to(secret(t))})
    return ["convert", str(ds), "--to", "jsonl", "--follow-symlinks", "--out", str(t / "out")]


def _check_followed(t: Path, _: Outcome) -> None:
    assert (t / "out" / "train" / "mine.png").read_bytes() == (t / "outside" / "secret.png").read_bytes()


def _linked_folder(t: Path) -> list[str]:
    ds = dataset(t)
    secret(t)
    (ds / "train" / "pics").symlink_to(t / "outside")
    rows = (ds / "train" / "annotations.jsonl").read_text() + json.dumps({"image": "pics/secret.png", "label": "1"})
    (ds / "train" / "annotations.jsonl").write_text(rows + "\n")
    return ["convert", str(ds), "--to", "coco", "--lenient", "--out", str(t / "out")]


def _annotate_bomb(t: Path) -> list[str]:
    ds = dataset(t, extra={"bomb.png": bomb_png})
    return ["annotate", str(ds), "--with", "color", "--no-progress", "--json", "--out", str(t / "out")]


def _check_annotate_bomb(t: Path, o: Outcome) -> None:
    payload = json.loads(o.stdout)
    assert payload["statuses"] == {"ok": 3, "error": 1}
    why = [json.loads(line) for line in (t / "out" / "_annotate" / "color.jsonl").read_text().splitlines()]
    bomb = next(r for r in why if r.get("id") == "train/bomb.png")
    assert "30000x30000 = 900,000,000 pixels exceeds the limit" in bomb["problems"]["image"]


def _in_place_split(t: Path) -> list[str]:
    return ["split", str(dataset(t, n=6)), "--ratios", "0.5,0.5", "--names", "train,test", "--stratify", "none",
            "--in-place"]


def _check_in_place(t: Path, _: Outcome) -> None:
    import datakit

    back = datakit.load(t / "ds")
    assert len(back) == 6 and set(back.column("split")) == {"train", "test"}


CASES = [
    # ---- hangs and unbounded reads
    Case("validate: image is a named pipe", lambda t: ["validate", str(dataset(t, extra={"p.png": fifo}))],
         "skip", r"1 unreadable.*p\.png: not a regular file \(a named pipe\)", timeout=30),
    Case("dedup: image is a named pipe", lambda t: ["dedup", str(dataset(t, extra={"p.png": fifo})), "--workers", "1"],
         "skip", r"unreadable:\s+1 images", timeout=30),
    Case("dedup: symlink to /dev/zero", lambda t: ["dedup", str(dataset(t, extra={"z.png": link_to("/dev/zero")})),
                                                   "--workers", "1", "--follow-symlinks"],
         "skip", r"unreadable:\s+1 images", timeout=30),
    Case("validate: symlink to /dev/zero", lambda t: ["validate", str(dataset(t, extra={"z.png": link_to("/dev/zero")})),
                                                      "--follow-symlinks"],
         "skip", r"z\.png: not a regular file \(a character device\)", timeout=30),
    Case("convert: symlink to /dev/zero", lambda t: ["convert", str(dataset(t, extra={"z.png": link_to("/dev/zero")})),
                                                     "--to", "jsonl", "--lenient", "--follow-symlinks",
                                                     "--out", str(t / "out")],
         "skip", r"skipped: 1.*not a regular file", timeout=30),
    # ---- decompression bombs (item 10)
    Case("validate: 30000x30000 PNG bomb", lambda t: ["validate", str(dataset(t, extra={"bomb.png": bomb_png}))],
         "skip", r"bomb\.png: 30000x30000 = 900,000,000 pixels exceeds the limit of 89,478,485"),
    Case("dedup: 30000x30000 PNG bomb", lambda t: ["dedup", str(dataset(t, extra={"bomb.png": bomb_png})),
                                                   "--workers", "1"],
         "skip", r"unreadable:\s+1 images"),
    Case("annotate: 30000x30000 PNG bomb", _annotate_bomb, "ok", check=_check_annotate_bomb),
    # ---- symlinks out of the root (item 11)
    Case("convert: symlink to /etc/hostname is not copied",
         lambda t: ["convert", str(dataset(t, extra={"h.png": link_to("/etc/hostname")})), "--to", "imagefolder",
                    "--lenient", "--out", str(t / "out")],
         "skip", r"h\.png.*outside the dataset root", check=no_copy_of(HOSTNAME)),
    Case("convert: symlinked image out of the root", _outside_secret, "skip",
         r"skipped: 1.*evil\.png.*outside the dataset root",
         check=lambda t, o: no_copy_of((t / "outside" / "secret.png").read_bytes())(t, o)),
    Case("convert: symlinked folder out of the root", _linked_folder, "skip", r"outside the dataset root",
         check=lambda t, o: no_copy_of((t / "outside" / "secret.png").read_bytes())(t, o)),
    Case("convert --to jsonl --strict refuses the escape",
         lambda t: ["convert", str(dataset(t, extra={"e.png": link_to(secret(t))})), "--to", "jsonl",
                    "--out", str(t / "out")],
         "error", r"outside the dataset root"),
    Case("split: symlink out of the root is refused",
         lambda t: ["split", str(dataset(t, extra={"e.png": link_to(secret(t))})), "--out", str(t / "out")],
         "error", r"e\.png.*outside the dataset root.*--follow-symlinks"),
    Case("validate: symlink out of the root", lambda t: ["validate", str(dataset(t, extra={"e.png": link_to(secret(t))}))],
         "skip", r"e\.png: symlink resolves outside the dataset root"),
    Case("dedup: symlink out of the root", lambda t: ["dedup", str(dataset(t, extra={"e.png": link_to(secret(t))})),
                                                      "--workers", "1"],
         "skip", r"unreadable:\s+1 images"),
    Case("convert --follow-symlinks copies it", _follow, "ok", r"4 samples written", check=_check_followed),
    # ---- --out (item 2)
    *[
        Case(f"{cmd}: --out equal to the input", (lambda c: lambda t: [*c(t), "--out", str(t / "ds")])(build),
             "error", r"--out .* is the input")
        for cmd, build in {
            "convert yolo": lambda t: ["convert", str(dataset(t)), "--to", "yolo"],
            "convert jsonl": lambda t: ["convert", str(dataset(t)), "--to", "jsonl"],
            "split": lambda t: ["split", str(dataset(t))],
            "annotate": lambda t: ["annotate", str(dataset(t)), "--with", "color"],
            "dedup": lambda t: ["dedup", str(dataset(t)), "--apply"],
            "audit": lambda t: ["audit", str(dataset(t))],
        }.items()
    ],
    *[
        Case(f"{cmd}: --out inside the input", (lambda c: lambda t: [*c(t), "--out", str(t / "ds" / "out")])(build),
             "error", r"--out .* is inside the input folder")
        for cmd, build in {
            "convert coco": lambda t: ["convert", str(dataset(t)), "--to", "coco"],
            "split": lambda t: ["split", str(dataset(t))],
            "annotate": lambda t: ["annotate", str(dataset(t)), "--with", "color"],
        }.items()
    ],
    Case("convert: --out holding the input", lambda t: ["convert", str(dataset(t)), "--to", "yolo", "--out", str(t)],
         "error", r"holds the input"),
    Case("convert: --out equal to the input through a symlink",
         lambda t: (dataset(t), os.symlink(t / "ds", t / "alias"),
                    ["convert", str(t / "alias"), "--to", "yolo", "--out", str(t / "ds")])[-1],
         "error", r"is the input"),
    Case("split --in-place rewrites the input", _in_place_split, "ok", r"split", check=_check_in_place),
    Case("split: --in-place with --out", lambda t: [*_in_place_split(t), "--out", str(t / "o")], "error",
         r"exclude each other"),
    Case("split: neither --out nor --in-place", lambda t: ["split", str(dataset(t))], "error", r"--in-place"),
    # ---- typos
    Case("split --group metadata.vidoe", lambda t: ["split", str(dataset(t)), "--group", "metadata.vidoe",
                                                    "--out", str(t / "out")],
         "error", r"--group metadata\.vidoe: no sample has this field; known fields: label"),
    Case("split --stratify lable", lambda t: ["split", str(dataset(t)), "--stratify", "lable", "--out", str(t / "o")],
         "error", r"--stratify lable: unknown field"),
    *[
        Case(f"{cmd} --classes /nonexistent.txt", (lambda c: lambda t: [*c(t), "--classes", "/nonexistent.txt"])(build),
             "error", r"--classes /nonexistent\.txt: no such file")
        for cmd, build in {
            "info": lambda t: ["info", str(dataset(t))],
            "validate": lambda t: ["validate", str(dataset(t))],
            "convert": lambda t: ["convert", str(dataset(t)), "--to", "yolo", "--out", str(t / "o")],
            "split": lambda t: ["split", str(dataset(t)), "--out", str(t / "o")],
            "dedup": lambda t: ["dedup", str(dataset(t))],
            "info classes.txt": lambda t: ["info", str(dataset(t)), "--classes", "classes.txt"],
        }.items()
    ],
    # ---- declared sizes (item 7)
    Case("validate: declared size disagrees with the header",
         lambda t: ["validate", str(with_rows(t, [{"image": "0.png", "label": "0", "width": 99, "height": 24}]))],
         "skip", r"declared size differs from the image: 1\n.*train/annotations\.jsonl: id .*declared 99x24, "
                 r"image header says 24x24"),
    Case("validate --strict: declared size disagrees",
         lambda t: ["validate", str(with_rows(t, [{"image": "1.png", "label": "1", "width": 24, "height": 5}])),
                    "--strict"],
         "error", r"declared 24x5, image header says 24x24"),
    # ---- 16-bit PNGs (item 3)
    Case("dedup: four distinct 16-bit PNGs", lambda t: ["dedup", str(sixteen_bit(t)), "--workers", "1"], "ok",
         r"exact duplicates: 0 groups.*near duplicates:\s+0 groups"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile(case: Case, tmp_path: Path) -> None:
    run_case(case, tmp_path)


def test_every_command_that_writes_gets_the_out_check() -> None:
    """A command registered with ``add_common(out=True)`` is covered by the shared check."""
    from datakit.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    writers = [name for name, p in sub.choices.items() if any(a.dest == "out" for a in p._actions)]  # type: ignore[attr-defined]
    assert {"convert", "split", "dedup", "audit", "annotate"} <= set(writers)
    for name in writers:
        p = sub.choices[name]  # type: ignore[attr-defined]
        assert any(a.dest == "follow_symlinks" for a in p._actions), name
