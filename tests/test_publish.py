"""`datakit publish`: staged shards and card, upload to a stand-in Hub on 127.0.0.1, resume, retries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import datakit
from datakit.cli import main
from datakit.hub import PublishError, publish
from tests.conftest import make_image, write_jsonl
from tests.hub_server import HubServer


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")  # the stand-in Hub speaks LFS, not Xet


def _dataset(root: Path, n: int = 12) -> Path:
    for split in ("train", "valid"):
        rows = []
        for i in range(n if split == "train" else n // 3):
            name = f"{split}_{i}.png"
            make_image(root / split / name, size=(16 + i, 20), color=(i * 9 % 255, 40, 200))
            row = {"image": name, "label": str(i % 3), "metadata": {"video": "a.mp4", "frame_index": i}}
            if split == "train" and i % 4 == 0:
                row |= {"source": "synthetic", "metadata": {"preset": "zc_strong_all", "font": "Anton"}}
            if split == "train" and i % 4 == 1:
                row |= {"source": "pseudo", "detections": [{"label": "ball", "bbox": [1, 2, 5, 6], "score": 0.14}],
                        "metadata": {"detector": "hog", "threshold": 0.05}}
            rows.append(row)
        write_jsonl(root / split / "annotations.jsonl", rows)
    return root


def _load_back(folder: Path, cache: Path):
    import datasets

    return datasets.load_dataset(str(folder), cache_dir=str(cache))


def test_dry_run_lists_files_and_writes_a_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds_path = _dataset(tmp_path / "ds")
    stage = tmp_path / "stage"
    rc = main(["publish", str(ds_path), "--repo", "me/jerseys", "--dry-run", "--out", str(stage), "--json",
               "--license", "cc-by-4.0"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    paths = [f["path"] for f in out["files"]]
    assert out["dry_run"] is True and paths[-1] == "README.md"
    assert sorted(p.split("-")[0] for p in paths[:-1]) == ["data/train", "data/valid"]
    card = (stage / "README.md").read_text()
    header = card.split("---")[1]
    for p in paths[:-1]:
        assert p in header  # configs name each shard exactly
    assert "license: cc-by-4.0" in header and "image-classification" in header and "object-detection" in header
    assert "| train | 6 | 3 | 3 |" in card  # provenance per split: real / synthetic / pseudo
    assert "`preset`: zc_strong_all (3)" in card and "`detector`: hog (3)" in card
    loaded = _load_back(stage, tmp_path / "cache")
    assert loaded["train"].num_rows == 12 and loaded["valid"].num_rows == 4


def test_publish_round_trip_and_rerun_uploads_nothing(tmp_path: Path, online: None) -> None:
    ds = datakit.load(_dataset(tmp_path / "ds"))
    with HubServer(tmp_path / "hub") as hub:
        r = publish(ds, "me/jerseys", endpoint=hub.endpoint, token="hf_secret", max_shard_bytes=300,
                    files_per_commit=2)
        shards = [f.path_in_repo for f in r.files if f.path_in_repo != "README.md"]
        assert len(shards) > 2 and r.commits == -(-len(shards) // 2) + 1
        assert sorted(hub.uploaded_paths()) == sorted([*shards, "README.md"])
        auth = {h.get("authorization") or h.get("Authorization") for m, p, h in hub.requests if "/commit/" in p}
        assert auth == {"Bearer hf_secret"}
        loaded = _load_back(hub.repo_dir("me/jerseys"), tmp_path / "cache")
        train = loaded["train"]
        assert train.num_rows == 12 and loaded["valid"].num_rows == 4
        src = {s.id: s for s in ds}
        for row in train:
            s = src[row["id"]]
            assert row["image"].size == (s.width or row["image"].size[0], 20)
            assert train.features["label"].int2str(row["label"]) == s.label
            assert row["source"] == s.source
        again = publish(ds, "me/jerseys", endpoint=hub.endpoint, token="hf_secret", max_shard_bytes=300)
        assert again.uploaded == ["README.md"] and sorted(again.already_there) == sorted(shards)


def test_interrupted_publish_resumes_without_resending(tmp_path: Path, online: None) -> None:
    ds = datakit.load(_dataset(tmp_path / "ds"))
    waits: list[float] = []
    with HubServer(tmp_path / "hub") as hub:
        hub.commit_limit = 1  # the hub goes down after the first shard's commit
        with pytest.raises(PublishError, match=r"me/jerseys: data/\w+-[0-9a-f]{16}\.parquet: .*500.* after 2 attempts"):
            publish(ds, "me/jerseys", endpoint=hub.endpoint, max_shard_bytes=300, files_per_commit=1, attempts=2,
                    sleep=waits.append)
        first = hub.uploaded_paths()
        assert len(first) == 1 and len(waits) == 1
        hub.commit_limit = None
        r = publish(ds, "me/jerseys", endpoint=hub.endpoint, max_shard_bytes=300, files_per_commit=1)
        assert r.already_there == first and first[0] not in r.uploaded
        everything = hub.uploaded_paths()
        assert len(everything) == len(set(everything))  # nothing sent twice
        assert _load_back(hub.repo_dir("me/jerseys"), tmp_path / "cache")["train"].num_rows == 12


def test_retry_after_is_honoured(tmp_path: Path, online: None) -> None:
    ds = datakit.load(_dataset(tmp_path / "ds", n=3))
    waits: list[float] = []
    with HubServer(tmp_path / "hub") as hub:
        hub.fail("POST", r"/commit/", 429, times=2, **{"Retry-After": "7"})
        r = publish(ds, "me/jerseys", endpoint=hub.endpoint, sleep=waits.append)
        assert waits == [7.0, 7.0] and r.retries == 2
        assert "README.md" in hub.uploaded_paths()


def test_changed_dataset_replaces_stale_shards(tmp_path: Path, online: None) -> None:
    root = _dataset(tmp_path / "ds")
    ds = datakit.load(root)
    with HubServer(tmp_path / "hub") as hub:
        publish(ds, "me/jerseys", endpoint=hub.endpoint)
        first = {f.name for f in (hub.repo_dir("me/jerseys") / "data").iterdir()}
        smaller = ds.filter(split="valid")
        r = publish(smaller, "me/jerseys", endpoint=hub.endpoint)
        assert any(p.startswith("data/train-") for p in r.deleted)
        assert sorted(f"data/{n}" for n in first) == sorted(r.deleted)  # every old shard is gone ...
        now = sorted(f"data/{f.name}" for f in (hub.repo_dir("me/jerseys") / "data").iterdir())
        assert now == [f.path_in_repo for f in r.files[:-1]]  # ... and only the new ones remain
        loaded = _load_back(hub.repo_dir("me/jerseys"), tmp_path / "cache")
        assert list(loaded) == ["valid"] and loaded["valid"].num_rows == 4


def test_cli_never_prints_or_writes_the_token(tmp_path: Path, online: None, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    root = _dataset(tmp_path / "ds", n=3)
    token_file = tmp_path / "token"
    token_file.write_text("hf_very_secret_token\n")
    with HubServer(tmp_path / "hub") as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        rc = main(["publish", str(root), "--repo", "me/j", "--token-file", str(token_file), "--out",
                   str(tmp_path / "stage"), "--json"])
        assert rc == 0
        captured = capsys.readouterr()
        assert "hf_very_secret_token" not in captured.out + captured.err
        for f in (tmp_path / "stage").rglob("*"):
            if f.is_file():
                assert b"hf_very_secret_token" not in f.read_bytes()
        assert any(h.get("authorization") == "Bearer hf_very_secret_token" for _, _, h in hub.requests)
        assert json.loads(captured.out)["commits"] == 2


def test_cli_errors_are_one_line(tmp_path: Path, online: None, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root = _dataset(tmp_path / "ds", n=3)
    assert main(["publish", str(root), "--repo", "not a repo", "--dry-run"]) == 1
    assert "expected OWNER/NAME" in capsys.readouterr().err
    with HubServer(tmp_path / "hub") as hub:
        hub.fail("POST", r"/api/repos/create", 403, times=1)
        assert main(["publish", str(root), "--repo", "me/j", "--endpoint", hub.endpoint]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("datakit publish: error: me/j:") and "403" in err[0]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["publish", str(root), "--repo", "me/j"]) == 1
    assert "HF_HUB_OFFLINE" in capsys.readouterr().err
