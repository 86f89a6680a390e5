"""A local stand-in for the Hugging Face hub's file API, so the real ``huggingface_hub`` client runs offline.

It serves folders as model repositories, the way the hub answers the client (huggingface_hub 2.x):

- ``GET /api/models/{repo}/revision/{rev}``: the model info (``sha``, ``siblings``);
- ``GET /api/models/{repo}/tree/{rev}?recursive=…``: the files, with ``lfs`` for large ones;
- ``HEAD|GET /{repo}/resolve/{rev}/{path}``: a small file itself (``ETag`` = git blob id,
  ``X-Repo-Commit``); a large (LFS) file is a 302 to the "CDN" (a second listener, another origin,
  as the hub's cas-bridge is) with ``X-Linked-Etag`` (its sha256) and ``X-Linked-Size``;
- ``GET /cdn/{sha256}`` on the CDN: the bytes, honouring ``Range`` (206).

Errors carry the hub's ``X-Error-Code`` (``RepoNotFound``, ``GatedRepo``), so the client raises its own
exception types. Bodies can be throttled (bytes/s) so a download takes seconds, and weight downloads
can be cut after N bytes (a lost connection). Every body byte sent is counted per path, with the
``Range`` starts asked for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from huggingface_hub import constants

LFS_OVER = 1_000_000  # files above this size are stored in LFS (as the hub does for large tokenizers)
PIECE = 64 * 1024


@dataclass
class RepoFiles:
    folder: Path
    commit: str
    files: dict[str, dict[str, Any]]  # path -> size, oid, sha256 (LFS) or None


def _index(folder: Path, repo_id: str) -> RepoFiles:
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        rel = path.relative_to(folder).as_posix()
        oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        lfs = (
            hashlib.sha256(data).hexdigest() if len(data) > LFS_OVER or rel.endswith(".safetensors") else None
        )
        files[rel] = {"size": len(data), "oid": oid, "sha256": lfs}
    return RepoFiles(folder, hashlib.sha1(repo_id.encode()).hexdigest(), files)


@dataclass
class FakeHub:
    repos: dict[str, Path]
    rate: float | None = None  # bytes/s per response body; None: as fast as it goes
    gated: set[str] = field(default_factory=set)
    drop_after: int = 0  # a weight file's body is cut after this many bytes (a lost connection) …
    drops: int = 0  # … this many times
    served: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # path -> body bytes sent
    ranges: list[tuple[str, int]] = field(default_factory=list)  # (path, first byte) of Range requests
    order: list[str] = field(default_factory=list)  # paths whose bodies were sent, in order

    def __post_init__(self) -> None:
        self._repos = {repo: _index(folder, repo) for repo, folder in self.repos.items()}
        self._by_sha = {
            info["sha256"]: (repo, path)
            for repo, files in self._repos.items()
            for path, info in files.files.items()
            if info["sha256"]
        }
        self._lock = threading.Lock()
        self._servers = [ThreadingHTTPServer(("127.0.0.1", 0), self._handler()) for _ in range(2)]
        for server in self._servers:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True, name="fake hub").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def cdn(self) -> str:
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}"

    def weight_bytes(self) -> int:
        """Body bytes sent of weight files (what "before any weight is fetched" must keep at zero)."""
        return sum(n for path, n in self.served.items() if path.endswith(".safetensors"))

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- the handler ------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                return

            def do_HEAD(self) -> None:
                hub._route(self, body=False)

            def do_GET(self) -> None:
                hub._route(self, body=True)

        return Handler

    def _route(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(urlsplit(h.path).path)
        parts = path.strip("/").split("/")
        try:
            if parts[:2] == ["api", "models"]:
                repo = "/".join(parts[2:4])
                self._api(h, repo, parts[4:])
            elif parts[0] == "cdn":
                repo, rel = self._by_sha[parts[1]]
                self._send_file(h, repo, rel, body)
            elif len(parts) >= 5 and parts[2] == "resolve":
                self._resolve(h, "/".join(parts[:2]), "/".join(parts[4:]), body)
            else:
                self._error(h, 404, "EntryNotFound")
        except (BrokenPipeError, ConnectionResetError):
            return

    def _api(self, h: BaseHTTPRequestHandler, repo: str, rest: list[str]) -> None:
        files = self._repos.get(repo)
        if files is None:
            self._error(h, 401, "RepoNotFound", "Repository not found")
            return
        if rest[:1] == ["revision"]:
            gated = "manual" if repo in self.gated else False
            siblings = [{"rfilename": p} for p in files.files]
            info = {"id": repo, "sha": files.commit, "private": False, "gated": gated, "siblings": siblings}
            self._json(h, info)
        elif rest[:1] == ["tree"]:
            entries = []
            for rel, info in files.files.items():
                entry: dict[str, Any] = {
                    "type": "file",
                    "path": rel,
                    "size": info["size"],
                    "oid": info["oid"],
                }
                if info["sha256"]:
                    entry["lfs"] = {"oid": info["sha256"], "size": info["size"], "pointerSize": 134}
                entries.append(entry)
            self._json(h, entries)
        else:
            self._error(h, 404, "EntryNotFound")

    def _resolve(self, h: BaseHTTPRequestHandler, repo: str, rel: str, body: bool) -> None:
        files = self._repos.get(repo)
        if files is None:
            self._error(h, 401, "RepoNotFound", "Repository not found")
            return
        if repo in self.gated:
            self._error(h, 403, "GatedRepo", "Access to this model is restricted: you must accept its terms")
            return
        info = files.files.get(rel)
        if info is None:
            self._error(h, 404, "EntryNotFound", "Entry not found", commit=files.commit)
            return
        if info["sha256"]:
            h.send_response(302)
            h.send_header("Location", f"{self.cdn}/cdn/{info['sha256']}")
            h.send_header("X-Linked-Etag", f'"{info["sha256"]}"')
            h.send_header("X-Linked-Size", str(info["size"]))
            h.send_header("ETag", f'"{info["oid"]}"')
            h.send_header("X-Repo-Commit", files.commit)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        self._send_file(h, repo, rel, body)

    def _send_file(self, h: BaseHTTPRequestHandler, repo: str, rel: str, body: bool) -> None:
        files = self._repos[repo]
        info = files.files[rel]
        size = info["size"]
        start = 0
        wanted = h.headers.get("Range")
        if wanted and wanted.startswith("bytes="):
            start = int(wanted[6:].split("-")[0])
            with self._lock:
                self.ranges.append((rel, start))
        h.send_response(206 if start else 200)
        h.send_header("Content-Length", str(size - start))
        h.send_header("Accept-Ranges", "bytes")
        if start:
            h.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        h.send_header("ETag", f'"{info["sha256"] or info["oid"]}"')
        h.send_header("X-Repo-Commit", files.commit)
        h.end_headers()
        if not body:
            return
        cut = None
        with self._lock:
            self.order.append(rel)
            if rel.endswith(".safetensors") and self.drops > 0:
                cut, self.drops = self.drop_after, self.drops - 1
        with open(files.folder / rel, "rb") as f:
            f.seek(start)
            sent, began = 0, time.monotonic()
            while piece := f.read(PIECE):
                if cut is not None and sent + len(piece) > cut:
                    piece = piece[: cut - sent]
                h.wfile.write(piece)
                sent += len(piece)
                with self._lock:
                    self.served[rel] += len(piece)
                if cut is not None and sent >= cut:
                    h.wfile.flush()
                    h.connection.shutdown(socket.SHUT_RDWR)
                    return
                if self.rate:
                    ahead = began + sent / self.rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)

    def _json(self, h: BaseHTTPRequestHandler, data: Any) -> None:
        raw = json.dumps(data).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(raw)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(raw)

    def _error(
        self, h: BaseHTTPRequestHandler, status: int, code: str, message: str = "", commit: str = ""
    ) -> None:
        raw = json.dumps({"error": message or code}).encode()
        h.send_response(status)
        h.send_header("X-Error-Code", code)
        if message:
            h.send_header("X-Error-Message", message)
        if commit:
            h.send_header("X-Repo-Commit", commit)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(raw)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(raw)


@contextlib.contextmanager
def serving(repos: dict[str, Path], cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A ``FakeHub`` that this process's hub client talks to, with its cache at ``cache``, online
    (the suite runs with HF_HUB_OFFLINE=1), with no planned GPU figure or fit table from outside."""
    with FakeHub(repos) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HUB_CACHE", str(cache))
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the client's HTTP session reads it
        monkeypatch.delenv("JARVIS_PLAY_GPU_FREE_GIB", raising=False)
        monkeypatch.delenv("JARVIS_PLAY_FIT_TABLE", raising=False)
        yield hub
