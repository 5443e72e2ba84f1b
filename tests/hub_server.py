"""A stand-in Hugging Face Hub for tests: the endpoints ``huggingface_hub`` calls to publish a dataset.

It listens on 127.0.0.1 only and speaks what ``HfApi.create_repo``, ``list_repo_tree`` and
``create_commit`` (preupload, LFS batch with the ``basic`` transfer, LFS PUT, NDJSON commit) send.
Committed files land under ``root/<owner>/<name>/`` so a test can read them back with
``datasets.load_dataset``. ``fail(...)`` plans error answers (429 with ``Retry-After``, 500, ...) to
test retries and interrupted publishes; ``requests`` records every call.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse


@dataclass
class _Fault:
    method: str
    pattern: str
    status: int
    times: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Repo:
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    commits: list[dict[str, Any]] = field(default_factory=list)
    private: bool = False


class HubServer:
    """Start with ``with HubServer(tmp_path) as hub:``; ``hub.endpoint`` is its URL."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.repos: dict[str, Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.faults: list[_Fault] = []
        self.commit_limit: int | None = None
        """When set, commits past this many answer 500 (a hub that goes down mid-publish)."""
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.endpoint = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def fail(self, method: str, pattern: str, status: int, times: int = 1, **headers: str) -> None:
        """Answer the next ``times`` requests matching ``method`` and the regex ``pattern`` with ``status``."""
        self.faults.append(_Fault(method, pattern, status, times, headers))

    def repo_dir(self, repo_id: str) -> Path:
        return self.root / repo_id

    def uploaded_commits(self) -> list[dict[str, Any]]:
        return [c for r in self.repos.values() for c in r.commits]

    def uploaded_paths(self) -> list[str]:
        """Paths committed, in order, over every commit of every repo."""
        return [p for r in self.repos.values() for c in r.commits for p in c["paths"]]

    # ------------------------------------------------------------------ handlers
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _fault(self) -> bool:
                with hub.lock:
                    for f in hub.faults:
                        if f.times > 0 and f.method == self.command and re.search(f.pattern, self.path):
                            f.times -= 1
                            self._body()
                            self._send(f.status, {"error": f"planned {f.status}"}, f.headers)
                            return True
                return False

            def _route(self) -> None:
                hub.requests.append((self.command, self.path, dict(self.headers)))
                if self._fault():
                    return
                path = unquote(urlparse(self.path).path)
                m = self.command, path
                if m == ("POST", "/api/repos/create"):
                    return self._create(json.loads(self._body()))
                if m == ("POST", "/api/validate-yaml"):
                    return self._validate_yaml(json.loads(self._body()))
                if r := re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/branch/([^/]+)", path):
                    self._body()
                    return self._send(200, {})
                if r := re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/preupload/([^/]+)", path):
                    return self._preupload(r[1], json.loads(self._body()))
                if r := re.fullmatch(r"/datasets/([^/]+/[^/]+)\.git/info/lfs/objects/batch", path):
                    return self._batch(json.loads(self._body()))
                if r := re.fullmatch(r"/lfs-upload/([0-9a-f]{64})", path):
                    return self._lfs_put(r[1], self._body())
                if r := re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/commit/([^/]+)", path):
                    return self._commit(r[1], self._body())
                if r := re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/tree/([^/]+)(/.*)?", path):
                    return self._tree(r[1])
                self._body()
                self._send(404, {"error": f"stand-in hub: no route for {self.command} {path}"})

            do_GET = do_POST = do_PUT = _route

            def _create(self, body: dict[str, Any]) -> None:
                repo_id = f"{body.get('organization')}/{body['name']}"
                url = {"url": f"{hub.endpoint}/datasets/{repo_id}", "name": repo_id}
                if repo_id in hub.repos:
                    return self._send(409, {"error": "You already created this dataset repo", **url})
                hub.repos[repo_id] = Repo(private=body.get("visibility") == "private" or bool(body.get("private")))
                self._send(200, url)

            def _validate_yaml(self, body: dict[str, Any]) -> None:
                import yaml

                try:
                    header = yaml.safe_load(body["content"].split("---")[1])
                except (IndexError, yaml.YAMLError) as e:
                    return self._send(400, {"errors": [{"message": f"invalid YAML: {e}"}]})
                if not isinstance(header, dict):
                    return self._send(400, {"errors": [{"message": "metadata is not a mapping"}]})
                self._send(200, {"errors": [], "warnings": []})

            def _preupload(self, repo_id: str, body: dict[str, Any]) -> None:
                if repo_id not in hub.repos:
                    return self._send(404, {"error": "Repository not found"})
                files = [
                    {
                        "path": f["path"],
                        "uploadMode": "regular" if f["path"].endswith(".md") else "lfs",
                        "shouldIgnore": False,
                    }
                    for f in body["files"]
                ]
                self._send(200, {"files": files, "commitOid": "0" * 40})

            def _batch(self, body: dict[str, Any]) -> None:
                objects = []
                for o in body["objects"]:
                    obj: dict[str, Any] = {"oid": o["oid"], "size": o["size"]}
                    if o["oid"] not in hub.lfs:
                        obj["actions"] = {"upload": {"href": f"{hub.endpoint}/lfs-upload/{o['oid']}"}}
                    objects.append(obj)
                self._send(200, {"transfer": "basic", "objects": objects})

            def _lfs_put(self, oid: str, data: bytes) -> None:
                if hashlib.sha256(data).hexdigest() != oid:
                    return self._send(400, {"error": "sha256 mismatch"})
                hub.lfs[oid] = data
                self._send(200, {})

            def _commit(self, repo_id: str, body: bytes) -> None:
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self._send(404, {"error": "Repository not found"})
                if hub.commit_limit is not None and len(hub.uploaded_commits()) >= hub.commit_limit:
                    return self._send(500, {"error": "stand-in hub is down"})
                paths, header = [], {}
                staged: dict[str, bytes] = {}
                for line in body.splitlines():
                    item = json.loads(line)
                    key, value = item["key"], item["value"]
                    if key == "header":
                        header = value
                    elif key == "file":
                        staged[value["path"]] = base64.b64decode(value["content"])
                    elif key == "lfsFile":
                        if value["oid"] not in hub.lfs:
                            return self._send(422, {"error": f"LFS object {value['oid']} was never uploaded"})
                        staged[value["path"]] = hub.lfs[value["oid"]]
                    elif key == "deletedFile":
                        repo.files.pop(value["path"], None)
                        (hub.repo_dir(repo_id) / value["path"]).unlink(missing_ok=True)
                for p, data in staged.items():
                    target = hub.repo_dir(repo_id) / p
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                    repo.files[p] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                    paths.append(p)
                oid = hashlib.sha1(body).hexdigest()
                repo.commits.append({"summary": header.get("summary"), "paths": paths, "oid": oid})
                self._send(200, {"commitUrl": f"{hub.endpoint}/datasets/{repo_id}/commit/{oid}", "commitOid": oid,
                                 "pullRequestUrl": None})

            def _tree(self, repo_id: str) -> None:
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self._send(404, {"error": "Repository not found"})
                entries = [
                    {"type": "file", "path": p, "size": f["size"], "oid": f["sha256"][:40],
                     "lfs": None if p.endswith(".md") else {"oid": f["sha256"], "size": f["size"], "pointerSize": 134}}
                    for p, f in sorted(repo.files.items())
                ]
                self._send(200, entries)

        return Handler
