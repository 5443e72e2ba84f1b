"""Publish a dataset to the Hugging Face Hub: content-named parquet shards, resumable, with retries.

The dataset is written as :func:`datakit.formats.hf.write` writes it (parquet shards with image
bytes embedded), each shard renamed ``data/<split>-<sha256[:16]>.parquet`` after its content, and a
card (:mod:`datakit.hub.card`) whose ``configs`` name those exact files. Publishing then:

1. creates the dataset repo (``exist_ok``; ``private``), and the branch for ``revision``;
2. lists the repo and uploads only the shards it lacks, at most ``files_per_commit`` per commit, so
   an interrupted publish, run again, sends only what is missing;
3. commits the card last, with the removal of datakit shards the new card no longer names, so
   readers switch from the old dataset to the new one in one commit.

Network errors and answers 429/5xx are retried with exponential backoff, honouring ``Retry-After``;
then a :class:`PublishError` names the file. The token (``token``, ``HF_TOKEN`` or a token file) is
passed to ``huggingface_hub`` only: never printed, logged or written.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from datakit.errors import DatakitError

if TYPE_CHECKING:
    from datakit.dataset import Dataset

T = TypeVar("T")
FILES_PER_COMMIT = 50
"""Shards per commit (the Hub advises small commits; one commit holds at most 25,000 LFS files)."""
MAX_FILES_PER_FOLDER = 10_000
"""The Hub refuses folders with more files than this."""
RETRY_STATUS = (429, 500, 502, 503, 504)
_SHARD_RE = re.compile(r"^data/[\w.]+-[0-9a-f]{16}\.parquet$")


class PublishError(DatakitError):
    """A publish step failed for good (after retries); the message names the file."""


@dataclass(frozen=True)
class StagedFile:
    """One file of the publish: where it goes in the repo, where it is here, its sha256 and size."""

    path_in_repo: str
    local: Path
    sha256: str
    size: int


@dataclass
class PublishResult:
    """What a publish did (or, for a dry run, would do)."""

    repo_id: str
    files: list[StagedFile]
    uploaded: list[str] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    commits: int = 0
    dry_run: bool = False
    retries: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no token, no local temporary paths)."""
        return {
            "repo": self.repo_id,
            "dry_run": self.dry_run,
            "files": [{"path": f.path_in_repo, "size": f.size, "sha256": f.sha256} for f in self.files],
            "bytes": sum(f.size for f in self.files),
            "uploaded": self.uploaded,
            "already_there": self.already_there,
            "deleted": self.deleted,
            "commits": self.commits,
            "retries": self.retries,
        }


def shard_name(split: str, sha256: str) -> str:
    """The repo path of a shard: named after its content, so a rerun recognises what the repo has.

    Examples:
        >>> shard_name("train", "ab" * 32)
        'data/train-abababababababab.parquet'

    """
    return f"data/{split}-{sha256[:16]}.parquet"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def stage(
    ds: Dataset,
    folder: str | Path,
    *,
    repo_id: str,
    max_shard_bytes: int | None = None,
    license: str | None = None,
    audit: str | Path | None = None,
) -> list[StagedFile]:
    """Write the files of a publish under ``folder``: content-named shards and the card (last).

    Examples:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> from datakit import Dataset, Sample
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> Image.new("RGB", (8, 8)).save(d / "a.png")
        >>> ds = Dataset.from_samples([Sample("a.png", label="7", split="train")], d)
        >>> [f.path_in_repo.split("-")[0] for f in stage(ds, d / "stage", repo_id="me/jerseys")]
        ['data/train', 'README.md']

    """
    from datakit.formats import hf
    from datakit.hub.card import render_card

    folder = Path(folder)
    options: dict[str, Any] = {"name": repo_id}
    if max_shard_bytes is not None:
        options["max_shard_bytes"] = max_shard_bytes
    hf.write(ds, folder, **options)
    shards: dict[str, list[str]] = {}
    files: list[StagedFile] = []
    for p in sorted((folder / "data").glob("*.parquet")):
        split = p.name.split("-")[0]
        digest = _sha256(p)
        target = folder / shard_name(split, digest)
        p.rename(target)
        shards.setdefault(split, []).append(target.relative_to(folder).as_posix())
        files.append(StagedFile(target.relative_to(folder).as_posix(), target, digest, target.stat().st_size))
    per_folder = len(files)
    if per_folder > MAX_FILES_PER_FOLDER:
        raise PublishError(
            f"{folder / 'data'}: {per_folder} shards in one folder, more than the Hub's {MAX_FILES_PER_FOLDER}; "
            "raise --max-shard-size"
        )
    card = folder / "README.md"
    text = render_card(
        ds, name=repo_id, shards=shards, hf_readme=card.read_text(encoding="utf-8"), license=license,
        audit=Path(audit) if audit else None,
    )  # fmt: skip
    card.write_text(text, encoding="utf-8")
    data = card.read_bytes()
    files.append(StagedFile("README.md", card, hashlib.sha256(data).hexdigest(), len(data)))
    return files


def read_token(token: str | None = None, token_file: str | Path | None = None) -> str | None:
    """The token to publish with: ``token``, else the first line of ``token_file``, else ``HF_TOKEN``.

    Examples:
        >>> read_token("hf_abc")
        'hf_abc'

    """
    if token:
        return token
    if token_file is not None:
        p = Path(token_file)
        if not p.is_file():
            raise PublishError(f"{p}: token file not found")
        lines = p.read_text(encoding="utf-8").split()
        if not lines:
            raise PublishError(f"{p}: token file is empty")
        return lines[0]
    return os.environ.get("HF_TOKEN") or None


def _retry_after(error: BaseException) -> float | None:
    response = getattr(error, "response", None)
    value = None if response is None else response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def _transient(error: BaseException) -> bool:
    status = _status(error)
    if status is not None:
        return status in RETRY_STATUS
    name = type(error).__name__
    return isinstance(error, (ConnectionError, TimeoutError)) or name.endswith(
        ("ConnectError", "TimeoutException", "NetworkError", "RemoteProtocolError", "ReadTimeout")
    )


def _short(error: BaseException) -> str:
    status = _status(error)
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"HTTP {status}: {text}" if status is not None and str(status) not in text else text


class _Retrier:
    """Calls a step again on transient failures: ``Retry-After`` when given, else 2^k × base seconds."""

    def __init__(self, attempts: int, base_wait: float, max_wait: float, sleep: Callable[[float], None]) -> None:
        self.attempts, self.base_wait, self.max_wait, self.sleep = attempts, base_wait, max_wait, sleep
        self.retries = 0

    def __call__(self, what: str, step: Callable[[], T]) -> T:
        for k in range(self.attempts):
            try:
                return step()
            except Exception as e:
                if not _transient(e) or k == self.attempts - 1:
                    tries = f" after {k + 1} attempts" if k else ""
                    raise PublishError(f"{what}: {_short(e)}{tries}") from None
                wait = _retry_after(e)
                self.sleep(min(self.max_wait, self.base_wait * 2**k) if wait is None else min(wait, 600.0))
                self.retries += 1
        raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def _online(endpoint: str) -> Iterator[None]:
    """Let ``huggingface_hub`` send requests for this publish, whatever its import-time offline flag.

    ``HF_HUB_DISABLE_XET`` is read now too (``huggingface_hub`` reads it at import): set, uploads take
    the LFS protocol instead of Xet (a server that speaks only LFS, like the tests' stand-in Hub).
    """
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE, constants.HF_HUB_DISABLE_XET
    constants.HF_HUB_OFFLINE = False
    constants.HF_HUB_DISABLE_XET = os.environ.get("HF_HUB_DISABLE_XET", "").lower() in ("1", "true", "yes", "on")
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE, constants.HF_HUB_DISABLE_XET = saved


def publish(
    ds: Dataset,
    repo_id: str,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool = False,
    revision: str | None = None,
    message: str | None = None,
    dry_run: bool = False,
    max_shard_bytes: int | None = None,
    license: str | None = None,
    audit: str | Path | None = None,
    staging: str | Path | None = None,
    files_per_commit: int = FILES_PER_COMMIT,
    attempts: int = 6,
    base_wait: float = 1.0,
    max_wait: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> PublishResult:
    """Publish ``ds`` to the dataset repo ``repo_id`` (see the module docstring for the steps).

    Args:
        ds: The dataset.
        repo_id: ``OWNER/NAME``.
        token: A Hub token (default: ``HF_TOKEN``); never printed or written.
        endpoint: The Hub's URL (default: ``HF_ENDPOINT``, else ``https://huggingface.co``).
        private: Create the repo private.
        revision: The branch to commit to (created when missing; default ``main``).
        message: Commit message (default: ``Publish <n> samples with datakit``).
        dry_run: Stage the files and list them; contact nothing.
        max_shard_bytes: Image bytes per parquet shard (default: the HF writer's 256 MiB).
        license: Hub licence id for the card.
        audit: An ``audit.json`` whose summary goes on the card.
        staging: Folder for the staged files (kept); default a temporary folder, removed after.
        files_per_commit: Shards per commit.
        attempts: Tries per step before giving up.
        base_wait: First backoff wait in seconds (doubles each try, capped at ``max_wait``).
        max_wait: Longest backoff wait.
        sleep: Waits between tries (tests pass a recorder).

    Returns:
        What was uploaded, found already there and deleted.

    Raises:
        PublishError: A step failed after retries, or offline mode is set (the message names the file).

    Examples:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> from datakit import Dataset, Sample
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> Image.new("RGB", (8, 8)).save(d / "a.png")
        >>> ds = Dataset.from_samples([Sample("a.png", label="7", split="train")], d)
        >>> r = publish(ds, "me/jerseys", dry_run=True)
        >>> r.dry_run, [f.path_in_repo[:10] for f in r.files]
        (True, ['data/train', 'README.md'])

    """
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id):
        raise PublishError(f"repo id {repo_id!r}: expected OWNER/NAME")
    if files_per_commit < 1:
        raise ValueError(f"files_per_commit must be at least 1, got {files_per_commit}")
    own_staging = staging is None
    folder = Path(tempfile.mkdtemp(prefix=".datakit-publish-")) / "stage" if own_staging else Path(staging)  # type: ignore[arg-type]
    try:
        files = stage(ds, folder, repo_id=repo_id, max_shard_bytes=max_shard_bytes, license=license, audit=audit)
        result = PublishResult(repo_id, files, dry_run=dry_run)
        if dry_run:
            result.uploaded = [f.path_in_repo for f in files]
            return result
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
            raise PublishError(f"{repo_id}: HF_HUB_OFFLINE is set; unset it to publish (or use --dry-run)")
        endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
        retry = _Retrier(attempts, base_wait, max_wait, sleep)
        with _online(endpoint):
            _upload(result, endpoint, token, private, revision, message or f"Publish {len(ds)} samples with datakit",
                    files_per_commit, retry)  # fmt: skip
        result.retries = retry.retries
        return result
    finally:
        if own_staging:
            shutil.rmtree(folder.parent, ignore_errors=True)


def _upload(
    result: PublishResult,
    endpoint: str,
    token: str | None,
    private: bool,
    revision: str | None,
    message: str,
    files_per_commit: int,
    retry: _Retrier,
) -> None:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.hf_api import RepoFile

    api = HfApi(endpoint=endpoint, token=token)
    repo_id = result.repo_id
    kind = "dataset"
    retry(repo_id, lambda: api.create_repo(repo_id, repo_type=kind, private=private, exist_ok=True))
    if revision not in (None, "main"):
        retry(f"{repo_id}@{revision}", lambda: api.create_branch(repo_id, branch=revision, repo_type=kind,
                                                                 exist_ok=True))  # fmt: skip

    def listing() -> dict[str, str | None]:
        entries = api.list_repo_tree(repo_id, repo_type=kind, revision=revision, recursive=True)
        return {e.path: (e.lfs.sha256 if e.lfs else None) for e in entries if isinstance(e, RepoFile)}

    remote = retry(repo_id, listing)
    shards = [f for f in result.files if f.path_in_repo != "README.md"]
    todo = [f for f in shards if remote.get(f.path_in_repo) != f.sha256]
    result.already_there = [f.path_in_repo for f in shards if f not in todo]
    for start in range(0, len(todo), files_per_commit):
        batch = todo[start : start + files_per_commit]
        note = f"{message} (shards {start + 1}-{start + len(batch)} of {len(todo)})"
        what = ", ".join(f.path_in_repo for f in batch[:3]) + (" …" if len(batch) > 3 else "")

        def commit(batch: list[StagedFile] = batch, note: str = note) -> Any:
            ops = [CommitOperationAdd(f.path_in_repo, str(f.local)) for f in batch]
            return api.create_commit(repo_id, ops, commit_message=note, repo_type=kind, revision=revision)

        retry(f"{repo_id}: {what}", commit)
        result.commits += 1
        result.uploaded += [f.path_in_repo for f in batch]
    wanted = {f.path_in_repo for f in result.files}
    stale = sorted(p for p in remote if _SHARD_RE.match(p) and p not in wanted)
    card = next(f for f in result.files if f.path_in_repo == "README.md")

    def final() -> Any:
        ops: list[Any] = [CommitOperationAdd("README.md", str(card.local))]
        ops += [CommitOperationDelete(p) for p in stale]
        return api.create_commit(repo_id, ops, commit_message=message, repo_type=kind, revision=revision)

    retry(f"{repo_id}: README.md", final)
    result.commits += 1
    result.uploaded.append("README.md")
    result.deleted = stale
