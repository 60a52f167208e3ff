"""A small fake of the Hugging Face Hub HTTP API, for tests that must not touch the network.

Stdlib only (``http.server.ThreadingHTTPServer``); blobs are kept on disk in a temp dir, refs and
trees in memory. It speaks enough of the Hub protocol for the installed ``huggingface_hub`` (2.4)
and ``transformers`` (5.24) clients: ``create_repo``, ``upload_folder``/``upload_file``/
``create_commit``, ``create_branch``/``create_tag``, ``list_repo_refs``/``list_repo_commits``/
``list_repo_tree``/``list_repo_files``, ``repo_info``/``model_info``, ``hf_hub_download``,
``snapshot_download``, ``push_to_hub`` and ``from_pretrained`` (also with ``revision=``).

Usage (see ``tests/test_hub_server.py`` for a complete pytest fixture)::

    from hub_server import FakeHub, configure_hf_clients   # tests/ is on sys.path under pytest

    def test_something(tmp_path, monkeypatch):
        with FakeHub(tmp_path / "hub") as hub:               # starts on 127.0.0.1:<free port>
            configure_hf_clients(monkeypatch, hub.endpoint, tmp_path / "hf_home")
            ...                                               # use huggingface_hub / transformers
            assert hub.list_files("user/repo") == [".gitattributes", "config.json"]

``FakeHub`` itself changes no global state: ``configure_hf_clients`` does the patching (env vars
AND the values that huggingface_hub / transformers already read at import time), through
``monkeypatch`` so that everything is undone after the test.

Protocol notes (what the client expects, learned from reading the client code):

* ``HEAD/GET {endpoint}/{repo_id}/resolve/{revision}/{path}`` must answer ``X-Repo-Commit`` and an
  ``ETag`` (git blob sha1 for regular files, sha256 for LFS files, which also get
  ``X-Linked-Etag``/``X-Linked-Size``).  404s carry ``X-Error-Code`` (``RepoNotFound``,
  ``RevisionNotFound``, ``EntryNotFound``) which the client maps to its exception classes.
* No ``X-Xet-*`` header and no ``Link: <...>; rel="xet-auth"`` header is ever sent, so downloads
  never go through xet.
* ``POST /api/{type}s/{repo}/preupload/{rev}`` answers ``uploadMode: "regular"`` for every file by
  default (``upload_mode="regular"``): file contents then travel base64-encoded inside the NDJSON
  body of ``POST /api/{type}s/{repo}/commit/{rev}``; neither LFS nor xet is used, whatever the size.
  The client accepts this for any size.  With ``upload_mode="lfs"`` or ``"auto"`` (the real Hub's
  rule: LFS patterns of ``.gitattributes`` or > 10 MB) the server answers ``"lfs"``: the installed
  client then uploads through **xet** whenever ``hf_xet`` is importable (it is in this venv), which
  this fake does not implement; set ``huggingface_hub.constants.HF_HUB_DISABLE_XET = True``
  (``configure_hf_clients(..., disable_xet=True)``) to make it use the LFS "basic" transfer that is
  implemented here (batch -> PUT -> verify).
* Commits are atomic: the whole NDJSON payload is validated and applied to a copy of the tree, and
  the branch ref moves only at the end, under a lock.  ``parentCommit`` mismatches give 412.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import itertools
import json
import os
import posixpath
import shutil
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

__all__ = ["FakeHub", "Fault", "RequestRecord", "configure_hf_clients", "no_retry_sleep", "git_blob_sha1"]

FAKE_USER = "fake-user"
FAKE_TOKEN = "hf_fake_token_for_tests"
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024  # the real Hub refuses regular (non-LFS) files above 10 MB

REPO_TYPE_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_API_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_TYPES = {"datasets": "dataset", "spaces": "space"}

# Same content as the .gitattributes the real Hub puts in the initial commit of a new repo (abridged).
DEFAULT_GITATTRIBUTES = b"""\
*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.bz2 filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.ftz filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.joblib filter=lfs diff=lfs merge=lfs -text
*.lfs.* filter=lfs diff=lfs merge=lfs -text
*.mlmodel filter=lfs diff=lfs merge=lfs -text
*.model filter=lfs diff=lfs merge=lfs -text
*.msgpack filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.npz filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.ot filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pb filter=lfs diff=lfs merge=lfs -text
*.pickle filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.rar filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
saved_model/**/* filter=lfs diff=lfs merge=lfs -text
*.tar.* filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.tflite filter=lfs diff=lfs merge=lfs -text
*.tgz filter=lfs diff=lfs merge=lfs -text
*.wasm filter=lfs diff=lfs merge=lfs -text
*.xz filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
*tfevents* filter=lfs diff=lfs merge=lfs -text
"""


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob (what the Hub reports as ETag/oid of a regular file)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class _File:
    size: int
    sha256: str  # content hash = key in the blob store
    git_oid: str  # git blob sha1 of the content (regular) or of the LFS pointer (lfs)
    lfs: bool = False

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.git_oid

    @property
    def pointer_size(self) -> int:
        return len(_lfs_pointer(self.sha256, self.size))


@dataclass
class _Commit:
    oid: str
    parents: list[str]
    files: dict[str, _File]
    title: str
    message: str
    date: str
    author: str = FAKE_USER


@dataclass
class _Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    commits: dict[str, _Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    prs: dict[int, str] = field(default_factory=dict)  # refs/pr/<n> -> commit oid
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def url_prefix(self) -> str:
        return REPO_TYPE_PREFIXES[self.repo_type] + self.repo_id


class _HubError(Exception):
    def __init__(
        self, status: int, message: str, code: str | None = None, headers: dict | None = None, extra: dict | None = None
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}
        self.extra = extra or {}  # more fields of the JSON error body


# ---------------------------------------------------------------------------------- fault injection


@dataclass
class Fault:
    """A rule that makes matching requests fail. Created by :meth:`FakeHub.fail_next`."""

    method: str | None = None
    path_contains: str | None = None
    status: int = 500
    skip: int = 0  # let that many matching requests through first
    times: int | None = 1  # how many matching requests to fail; None = all of them (until cleared)
    body: str = "Injected failure (FakeHub)"
    drop_connection: bool = False  # close the socket without answering instead of sending `status`
    truncate_body: int | None = None  # answer normally but close the socket after that many body bytes
    predicate: Callable[[RequestRecord], bool] | None = None
    matched: int = 0  # matching requests seen so far
    triggered: int = 0  # requests actually failed

    def _matches(self, rec: RequestRecord) -> bool:
        if self.method is not None and rec.method.upper() != self.method.upper():
            return False
        if self.path_contains is not None and self.path_contains not in rec.path:
            return False
        if self.predicate is not None and not self.predicate(rec):
            return False
        return True

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.triggered >= self.times


@dataclass
class RequestRecord:
    method: str
    path: str  # percent-decoded path, without query string
    query: str
    status: int | None = None
    handled: bool = True  # False if no route matched (the server answered 404)


# ------------------------------------------------------------------------------------------- server


class FakeHub:
    """In-process fake of the Hugging Face Hub HTTP API. Use as a context manager.

    Args:
        root: directory for blob storage (created if needed). ``None`` = a temp dir removed on stop.
        upload_mode: what ``preupload`` answers: ``"regular"`` (default; every file inline in the
            commit, no LFS/xet), ``"lfs"`` (every non-empty file via LFS) or ``"auto"`` (like the real
            Hub: ``.gitattributes`` LFS patterns or > 10 MB).  LFS needs ``HF_HUB_DISABLE_XET``.
        token: if set, write requests and reads of private repos need ``Authorization: Bearer <token>``.
        user: the user name returned by ``whoami`` and used as namespace for ``create_repo("name")``.
        host: interface to bind (default ``127.0.0.1``); ``port=0`` picks a free port.
    """

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        *,
        upload_mode: str = "regular",
        token: str | None = None,
        user: str = FAKE_USER,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        if upload_mode not in ("regular", "lfs", "auto"):
            raise ValueError(f"upload_mode must be 'regular', 'lfs' or 'auto', got {upload_mode!r}")
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="fakehub-")) if root is None else Path(root)
        self.blob_dir = self.root / "blobs"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.upload_mode = upload_mode
        self.token = token
        self.user = user
        self._host, self._port = host, port
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._lock = threading.RLock()  # guards _repos, faults, request log
        self._faults: list[Fault] = []
        self.requests: list[RequestRecord] = []
        self.server_errors: list[str] = []  # tracebacks of exceptions raised while handling requests
        self._counter = itertools.count()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()  # open client sockets, closed on stop()

    # -------------------------------------------------------------------------------- lifecycle

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeHub is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        if self._server is not None:
            return self
        hub = self

        class Handler(_Handler):
            fake_hub = hub

        server = _Server((self._host, self._port), Handler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="FakeHub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            # Cut keep-alive connections too: their handler threads would otherwise keep serving
            # (stale) requests from the client's connection pool.
            with self._lock:
                conns, self._connections = list(self._connections), set()
            for conn in conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._thread.join(timeout=10)
            self._server = None
            self._thread = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -------------------------------------------------------------------------- fault injection

    def fail_next(
        self,
        method: str | None = None,
        path_contains: str | None = None,
        status: int = 500,
        *,
        times: int | None = 1,
        skip: int = 0,
        body: str = "Injected failure (FakeHub)",
        drop_connection: bool = False,
        truncate_body: int | None = None,
        predicate: Callable[[RequestRecord], bool] | None = None,
    ) -> Fault:
        """Make the next matching request(s) fail.

        ``path_contains`` is matched against the percent-decoded request path (no query string), e.g.
        ``"/commit/"``, ``"/preupload/"``, ``"/resolve/"``, ``"/info/lfs/objects/batch"``,
        ``"/_fakehub/lfs/upload/"`` (LFS PUT).  ``skip=n`` lets n matching requests through first
        ("fail the (n+1)-th upload"); ``times=None`` fails every matching request until
        :meth:`clear_faults` (needed when the client retries, as ``upload_folder`` does on commits).
        The failing request has no side effect.  ``drop_connection=True`` closes the socket instead of
        answering (a network error for the client); ``truncate_body=n`` sends the real response but
        cuts the connection after n body bytes (a download interrupted midway: the client resumes
        with a ``Range`` request).  ``predicate(record)`` can narrow the match further.
        Returns the :class:`Fault` (see ``.matched`` / ``.triggered``).
        """
        fault = Fault(method, path_contains, status, skip, times, body, drop_connection, truncate_body, predicate)
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail_nth(self, n: int, method: str | None = None, path_contains: str | None = None, **kw) -> Fault:
        """Fail only the n-th (1-based) matching request."""
        return self.fail_next(method, path_contains, skip=n - 1, **kw)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _pick_fault(self, rec: RequestRecord) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.exhausted or not fault._matches(rec):
                    continue
                fault.matched += 1
                if fault.matched <= fault.skip:
                    continue
                fault.triggered += 1
                return fault
        return None

    # ---------------------------------------------------------------- helpers for test assertions

    def _get_repo(self, repo_id: str, repo_type: str = "model") -> _Repo:
        with self._lock:
            repo = self._repos.get((repo_type, repo_id))
        if repo is None:
            raise KeyError(f"No {repo_type} repo {repo_id!r} on the fake hub")
        return repo

    def repo_exists(self, repo_id: str, repo_type: str = "model") -> bool:
        with self._lock:
            return (repo_type, repo_id) in self._repos

    def resolve(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> str | None:
        """Commit oid that ``revision`` (branch, tag, refs/pr/N, or (short) sha) points to, or None."""
        repo = self._get_repo(repo_id, repo_type)
        with repo.lock:
            return self._resolve_rev(repo, revision)

    def list_files(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> list[str]:
        """Sorted paths of all files at ``revision`` (includes the initial ``.gitattributes``)."""
        return sorted(self._commit_at(repo_id, revision, repo_type).files)

    def read_file(self, repo_id: str, path: str, revision: str = "main", repo_type: str = "model") -> bytes:
        entry = self._commit_at(repo_id, revision, repo_type).files.get(path)
        if entry is None:
            raise FileNotFoundError(f"{path!r} not in {repo_id}@{revision}")
        return self._blob_path(entry.sha256).read_bytes()

    def file_info(self, repo_id: str, path: str, revision: str = "main", repo_type: str = "model") -> dict:
        """``{"size", "sha256", "git_oid", "lfs", "etag"}`` of a file, to check how it was stored."""
        e = self._commit_at(repo_id, revision, repo_type).files[path]
        return {"size": e.size, "sha256": e.sha256, "git_oid": e.git_oid, "lfs": e.lfs, "etag": e.etag}

    def branches(self, repo_id: str, repo_type: str = "model") -> dict[str, str]:
        repo = self._get_repo(repo_id, repo_type)
        with repo.lock:
            return dict(repo.branches)

    def commits(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> list[dict]:
        """First-parent history, newest first: ``[{"oid", "title", "message", "parents"}]``."""
        repo = self._get_repo(repo_id, repo_type)
        with repo.lock:
            oid = self._resolve_rev(repo, revision)
            out = []
            while oid is not None:
                c = repo.commits[oid]
                out.append({"oid": c.oid, "title": c.title, "message": c.message, "parents": list(c.parents)})
                oid = c.parents[0] if c.parents else None
            return out

    def create_repo(self, repo_id: str, repo_type: str = "model", private: bool = False) -> None:
        """Server-side seeding (no HTTP): create a repo with its initial ``.gitattributes`` commit."""
        self._create_repo(repo_type, repo_id, private)

    def commit_files(
        self,
        repo_id: str,
        files: dict[str, bytes],
        revision: str = "main",
        repo_type: str = "model",
        message: str = "Seed files",
        delete: Iterable[str] = (),
        lfs: bool | None = None,
    ) -> str:
        """Server-side seeding (no HTTP): commit ``files`` (creating repo/branch as needed). Returns oid."""
        if not self.repo_exists(repo_id, repo_type):
            self._create_repo(repo_type, repo_id, False)
        repo = self._get_repo(repo_id, repo_type)
        with repo.lock:
            if revision not in repo.branches:
                repo.branches[revision] = repo.branches["main"]
            base = repo.commits[repo.branches[revision]]
            new_files = dict(base.files)
            for path in delete:
                new_files.pop(path, None)
            for path, data in files.items():
                use_lfs = lfs if lfs is not None else self._auto_lfs(base.files, path, len(data))
                new_files[path] = self._store_blob(data, lfs=use_lfs and len(data) > 0)
            return self._make_commit(repo, revision, base.oid, new_files, message, "").oid

    def unhandled_requests(self) -> list[RequestRecord]:
        """Requests that matched no route (answered 404): a sign the fake lacks an endpoint."""
        with self._lock:
            return [r for r in self.requests if not r.handled]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # ------------------------------------------------------------------------------ internals

    def _commit_at(self, repo_id: str, revision: str, repo_type: str) -> _Commit:
        repo = self._get_repo(repo_id, repo_type)
        with repo.lock:
            oid = self._resolve_rev(repo, revision)
            if oid is None:
                raise KeyError(f"Revision {revision!r} not found in {repo_id}")
            return repo.commits[oid]

    def _blob_path(self, sha256: str) -> Path:
        return self.blob_dir / sha256

    def _write_blob(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self._blob_path(sha)
        if not path.exists():
            tmp = path.with_name(f"{sha}.{threading.get_ident()}.{next(self._counter)}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return sha

    def _store_blob(self, data: bytes, lfs: bool) -> _File:
        sha = self._write_blob(data)
        git_oid = git_blob_sha1(_lfs_pointer(sha, len(data))) if lfs else git_blob_sha1(data)
        return _File(size=len(data), sha256=sha, git_oid=git_oid, lfs=lfs)

    def _create_repo(self, repo_type: str, repo_id: str, private: bool) -> _Repo:
        with self._lock:
            if (repo_type, repo_id) in self._repos:
                raise _HubError(409, "You already created this repo", headers={"X-Error-Code": "RepoExists"})
            repo = _Repo(repo_type=repo_type, repo_id=repo_id, private=private, created_at=_now())
            files = {".gitattributes": self._store_blob(DEFAULT_GITATTRIBUTES, lfs=False)}
            self._make_commit(repo, "main", None, files, "initial commit", "")
            self._repos[(repo_type, repo_id)] = repo
            return repo

    def _make_commit(
        self, repo: _Repo, ref: str, parent: str | None, files: dict[str, _File], title: str, message: str
    ) -> _Commit:
        """Create the commit object and move ``ref`` (caller holds ``repo.lock``)."""
        seed = json.dumps(
            [
                repo.repo_id,
                parent,
                sorted((p, f.git_oid) for p, f in files.items()),
                title,
                message,
                next(self._counter),
            ]
        )
        oid = hashlib.sha1(seed.encode() + os.urandom(8)).hexdigest()
        commit = _Commit(oid, [parent] if parent else [], files, title, message, _now())
        repo.commits[oid] = commit
        if ref.startswith("refs/pr/"):
            repo.prs[int(ref.split("/")[-1])] = oid
        else:
            repo.branches[ref] = oid
        return commit

    @staticmethod
    def _resolve_rev(repo: _Repo, revision: str | None) -> str | None:
        rev = revision or "main"
        if rev.startswith("refs/heads/"):
            return repo.branches.get(rev[len("refs/heads/") :])
        if rev.startswith("refs/tags/"):
            return repo.tags.get(rev[len("refs/tags/") :])
        if rev.startswith("refs/pr/"):
            try:
                return repo.prs.get(int(rev[len("refs/pr/") :]))
            except ValueError:
                return None
        if rev in repo.branches:
            return repo.branches[rev]
        if rev in repo.tags:
            return repo.tags[rev]
        if 7 <= len(rev) <= 40 and all(c in "0123456789abcdef" for c in rev.lower()):
            matches = [oid for oid in repo.commits if oid.startswith(rev.lower())]
            if len(matches) == 1:
                return matches[0]
        return None

    def _auto_lfs(self, files: dict[str, _File], path: str, size: int) -> bool:
        """Real Hub rule: LFS if > 10 MB or matching a ``filter=lfs`` pattern of ``.gitattributes``."""
        if size >= LFS_SIZE_THRESHOLD:
            return True
        attrs = files.get(".gitattributes")
        if attrs is None:
            return False
        for line in self._blob_path(attrs.sha256).read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) < 2 or line.lstrip().startswith("#") or "filter=lfs" not in parts[1:]:
                continue
            pattern = parts[0]
            if "/" in pattern.strip("/"):
                if fnmatch.fnmatch(path, pattern.lstrip("/").replace("**/", "*")):
                    return True
            elif fnmatch.fnmatch(posixpath.basename(path), pattern):
                return True
        return False

    def _upload_mode_for(self, files: dict[str, _File], path: str, size: int) -> str:
        if size == 0 or self.upload_mode == "regular":
            return "regular"
        if self.upload_mode == "lfs":
            return "lfs"
        return "lfs" if self._auto_lfs(files, path, size) else "regular"


# ------------------------------------------------------------------------------ request handling


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # parallel uploads/downloads open several connections at once


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1.0"
    timeout = 60  # idle keep-alive connections are closed after that
    fake_hub: FakeHub  # set on the per-server subclass

    def setup(self) -> None:
        super().setup()
        with self.fake_hub._lock:
            self.fake_hub._connections.add(self.connection)

    def finish(self) -> None:
        with self.fake_hub._lock:
            self.fake_hub._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    # Silence the default stderr access log.
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self):
        self._handle("GET")

    def do_HEAD(self):
        self._handle("HEAD")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    # ---------------------------------------------------------------------------- plumbing

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self, method: str) -> None:
        hub = self.fake_hub
        split = urlsplit(self.path)
        rec = RequestRecord(method=method, path=unquote(split.path), query=split.query)
        with hub._lock:
            hub.requests.append(rec)
        try:
            self.body = self._read_body() if method in ("POST", "PUT", "DELETE") else b""
        except Exception:
            self.close_connection = True
            return
        self.raw_path = split.path
        self.query = parse_qs(split.query, keep_blank_values=True)
        self.method = method
        self.rec = rec

        fault = hub._pick_fault(rec)
        if fault is not None:
            if fault.drop_connection:
                rec.status = -1
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if fault.truncate_body is None:
                self._send_error(_HubError(fault.status, fault.body))
                return

        try:
            status, headers, body = self._route()
        except _HubError as err:
            self._send_error(err)
            return
        except Exception:
            tb = traceback.format_exc()
            with hub._lock:
                hub.server_errors.append(tb)
            self._send_error(_HubError(500, f"FakeHub internal error:\n{tb}"))
            return
        self._send(status, headers, body, truncate=fault.truncate_body if fault is not None else None)

    def _send(self, status: int, headers: dict[str, str], body: bytes | None, truncate: int | None = None) -> None:
        self.rec.status = status
        body = body or b""
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.method != "HEAD" and body:
            self.wfile.write(body if truncate is None else body[:truncate])
        if truncate is not None:
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _send_error(self, err: _HubError) -> None:
        headers = {"Content-Type": "application/json", "X-Error-Message": err.message.splitlines()[0][:200]}
        if err.code:
            headers["X-Error-Code"] = err.code
        headers.update(err.headers)
        self._send(err.status, headers, json.dumps({"error": err.message, **err.extra}).encode())

    def _json(self, obj: Any, status: int = 200, headers: dict | None = None):
        return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(obj).encode()

    def _body_json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            raise _HubError(400, "Invalid JSON body")

    def _check_auth(self, repo: _Repo | None = None, write: bool = False) -> None:
        hub = self.fake_hub
        if hub.token is None:
            return
        if not write and (repo is None or not repo.private):
            return
        auth = self.headers.get("Authorization") or ""
        if auth != f"Bearer {hub.token}":
            if repo is not None and not write:  # private repo: the Hub hides it
                raise _HubError(401, "Repository not found", "RepoNotFound")
            raise _HubError(401, "Invalid credentials in Authorization header")

    # ------------------------------------------------------------------------------ routing

    def _route(self):
        segs = self.raw_path.split("/")[1:]  # raw (still percent-encoded) segments
        m = self.method
        if segs and segs[-1] == "" and len(segs) > 1:
            segs = segs[:-1]
        if not segs or segs == [""]:
            return 200, {"Content-Type": "text/plain"}, b"FakeHub"

        if segs[0] == "api":
            rest = segs[1:]
            if rest == ["whoami-v2"] and m == "GET":
                return self._whoami()
            if rest == ["validate-yaml"] and m == "POST":
                return self._validate_yaml()
            if rest[:1] == ["telemetry"] or rest == ["agent-harnesses"]:
                return self._json({})
            if rest == ["repos", "create"] and m == "POST":
                return self._create_repo()
            if rest == ["repos", "delete"] and m == "DELETE":
                return self._delete_repo()
            if len(rest) >= 3 and rest[0] in _API_TYPES:
                repo_type = _API_TYPES[rest[0]]
                repo_id = f"{unquote(rest[1])}/{unquote(rest[2])}"
                return self._repo_api(repo_type, repo_id, rest[3:])
        elif segs[0] == "_fakehub":
            if segs[1:3] == ["lfs", "upload"] and len(segs) == 4 and m == "PUT":
                return self._lfs_put(segs[3])
            if segs[1:3] == ["lfs", "verify"] and m == "POST":
                return self._lfs_verify()
        else:
            repo_type = "model"
            if segs[0] in _URL_TYPES and len(segs) >= 3:
                repo_type, segs = _URL_TYPES[segs[0]], segs[1:]
            if len(segs) == 6 and segs[1].endswith(".git") and segs[2:] == ["info", "lfs", "objects", "batch"]:
                if m == "POST":
                    return self._lfs_batch(repo_type, f"{unquote(segs[0])}/{unquote(segs[1][:-4])}")
            if len(segs) >= 5 and segs[2] == "resolve" and m in ("GET", "HEAD"):
                repo_id = f"{unquote(segs[0])}/{unquote(segs[1])}"
                return self._resolve_file(repo_type, repo_id, unquote(segs[3]), unquote("/".join(segs[4:])))

        self.rec.handled = False
        raise _HubError(404, f"FakeHub: no route for {m} {self.raw_path}")

    def _repo_api(self, repo_type: str, repo_id: str, rest: list[str]):
        m = self.method
        write = m in ("POST", "PUT", "DELETE") and rest[:1] != ["paths-info"]
        repo = self._repo(repo_type, repo_id, write=write)
        if not rest and m == "GET":
            return self._repo_info(repo, None)
        action = rest[0]
        arg = unquote(rest[1]) if len(rest) > 1 else None
        if action == "revision" and arg is not None and m == "GET":
            return self._repo_info(repo, arg)
        if action == "tree" and arg is not None and m == "GET":
            return self._tree(repo, arg, unquote("/".join(rest[2:])))
        if action == "paths-info" and arg is not None and m == "POST":
            return self._paths_info(repo, arg)
        if action == "preupload" and arg is not None and m == "POST":
            return self._preupload(repo, arg)
        if action == "commit" and arg is not None and m == "POST":
            return self._commit(repo, arg)
        if action == "branch" and arg is not None and m in ("POST", "DELETE"):
            return self._branch(repo, arg)
        if action == "tag" and arg is not None and m in ("POST", "DELETE"):
            return self._tag(repo, arg)
        if action == "refs" and m == "GET":
            return self._refs(repo)
        if action == "commits" and arg is not None and m == "GET":
            return self._list_commits(repo, arg)
        if action == "settings" and m == "PUT":
            self._check_auth(repo, write=True)
            body = self._body_json()
            if "private" in body:
                repo.private = bool(body["private"])
            return self._json({})
        self.rec.handled = False
        raise _HubError(404, f"FakeHub: no route for {m} {self.raw_path}")

    # ------------------------------------------------------------------------------ lookups

    def _repo(self, repo_type: str, repo_id: str, write: bool | None = None) -> _Repo:
        hub = self.fake_hub
        with hub._lock:
            repo = hub._repos.get((repo_type, repo_id))
        if repo is None:
            raise _HubError(404, "Repository not found", "RepoNotFound")
        self._check_auth(repo, write=self.method in ("POST", "PUT", "DELETE") if write is None else write)
        return repo

    def _commit_for(self, repo: _Repo, revision: str) -> _Commit:
        with repo.lock:
            oid = self.fake_hub._resolve_rev(repo, revision)
            if oid is None:
                raise _HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            return repo.commits[oid]

    # ---------------------------------------------------------------------------- endpoints

    def _whoami(self):
        hub = self.fake_hub
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or (hub.token is not None and auth != f"Bearer {hub.token}"):
            raise _HubError(401, "Invalid credentials in Authorization header")
        return self._json(
            {
                "type": "user",
                "id": "0" * 24,
                "name": hub.user,
                "fullname": "Fake User",
                "email": f"{hub.user}@example.invalid",
                "emailVerified": True,
                "canPay": False,
                "isPro": False,
                "periodEnd": None,
                "avatarUrl": "",
                "orgs": [],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": "fake", "role": "write", "createdAt": _now()},
                },
            }
        )

    def _validate_yaml(self):
        body = self._body_json()
        content = body.get("content") or ""
        try:
            import yaml  # PyYAML is a dependency of huggingface_hub
        except ImportError:  # pragma: no cover
            return self._json({"errors": [], "warnings": []})
        if content.startswith("---"):
            end = content.find("\n---", 3)
            if end != -1:
                try:
                    meta = yaml.safe_load(content[3:end])
                except yaml.YAMLError as exc:
                    raise _HubError(400, f"Invalid YAML in README.md metadata: {exc}")
                if meta is not None and not isinstance(meta, dict):
                    raise _HubError(400, "README.md metadata must be a YAML mapping")
        return self._json({"errors": [], "warnings": []})

    def _create_repo(self):
        hub = self.fake_hub
        self._check_auth(write=True)
        body = self._body_json()
        name = body.get("name")
        if not name:
            raise _HubError(400, "Missing repo name")
        repo_type = body.get("type") or "model"
        if repo_type not in REPO_TYPE_PREFIXES:
            raise _HubError(400, f"Unsupported repo type {repo_type!r}")
        repo_id = f"{body.get('organization') or hub.user}/{name}"
        private = body.get("private")
        if private is None:
            private = body.get("visibility") == "private"
        url = f"{hub.endpoint}/{REPO_TYPE_PREFIXES[repo_type]}{repo_id}"
        try:
            hub._create_repo(repo_type, repo_id, bool(private))
        except _HubError as err:
            err.message = f"You already created this {repo_type} repo: {url}"
            err.extra["url"] = url  # create_repo(exist_ok=True) reads it from the 409 body
            raise
        return self._json({"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self):
        hub = self.fake_hub
        self._check_auth(write=True)
        body = self._body_json()
        repo_id = f"{body.get('organization') or hub.user}/{body.get('name')}"
        key = (body.get("type") or "model", repo_id)
        with hub._lock:
            if key not in hub._repos:
                raise _HubError(404, "Repository not found", "RepoNotFound")
            del hub._repos[key]
        return self._json({})

    def _file_json(self, path: str, f: _File, commit: _Commit | None = None) -> dict:
        d: dict[str, Any] = {"type": "file", "oid": f.git_oid, "size": f.size, "path": path}
        if f.lfs:
            d["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": f.pointer_size}
        if commit is not None:
            d["lastCommit"] = {"id": commit.oid, "title": commit.title, "date": commit.date}
        return d

    @staticmethod
    def _dir_oid(commit: _Commit, path: str) -> str:
        items = sorted((p, f.git_oid) for p, f in commit.files.items() if p.startswith(path + "/"))
        return hashlib.sha1(json.dumps(items).encode()).hexdigest()

    def _dir_json(self, path: str, commit: _Commit, expand: bool) -> dict:
        d: dict[str, Any] = {"type": "directory", "oid": self._dir_oid(commit, path), "size": 0, "path": path}
        if expand:
            d["lastCommit"] = {"id": commit.oid, "title": commit.title, "date": commit.date}
        return d

    def _repo_info(self, repo: _Repo, revision: str | None):
        hub = self.fake_hub
        commit = self._commit_for(repo, revision or "main")
        blobs = self.query.get("blobs", ["false"])[0].lower() in ("1", "true")
        siblings = []
        for path in sorted(commit.files):
            f = commit.files[path]
            sib: dict[str, Any] = {"rfilename": path}
            if blobs:
                sib.update(size=f.size, blobId=f.git_oid)
                if f.lfs:
                    sib["lfs"] = {"size": f.size, "sha256": f.sha256, "pointerSize": f.pointer_size}
            siblings.append(sib)
        card = self._card_data(commit)
        info: dict[str, Any] = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": list(card.get("tags") or []) if isinstance(card.get("tags"), list) else [],
            "siblings": siblings,
            "usedStorage": sum(f.size for f in commit.files.values()),
        }
        if card:
            info["cardData"] = card
        if repo.repo_type == "model":
            info["modelId"] = repo.repo_id
            if card.get("library_name"):
                info["library_name"] = card["library_name"]
            cfg = commit.files.get("config.json")
            if cfg is not None and cfg.size < 1_000_000:
                try:
                    config = json.loads(hub._blob_path(cfg.sha256).read_bytes())
                    info["config"] = {k: config[k] for k in ("architectures", "model_type") if k in config}
                except ValueError:
                    pass
        elif repo.repo_type == "space":
            info.update(sdk="static", runtime={"stage": "NO_APP_FILE", "hardware": {"current": None}})
        return self._json(info)

    def _card_data(self, commit: _Commit) -> dict:
        readme = commit.files.get("README.md")
        if readme is None or readme.size > 1_000_000:
            return {}
        try:
            import yaml

            text = self.fake_hub._blob_path(readme.sha256).read_text()
            if text.startswith("---"):
                end = text.find("\n---", 3)
                meta = yaml.safe_load(text[3:end]) if end != -1 else None
                return meta if isinstance(meta, dict) else {}
        except Exception:
            return {}
        return {}

    def _tree(self, repo: _Repo, revision: str, path: str):
        commit = self._commit_for(repo, revision)
        path = path.strip("/")
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        expand = self.query.get("expand", ["false"])[0].lower() in ("1", "true")
        prefix = path + "/" if path else ""
        if path and path in commit.files:
            raise _HubError(404, f"{path} is a file, not a directory", "EntryNotFound")
        entries: dict[str, dict] = {}
        for fpath in sorted(commit.files):
            if not fpath.startswith(prefix):
                continue
            rel_parts = fpath[len(prefix) :].split("/")
            # intermediate directories
            for depth in range(1, len(rel_parts)):
                if not recursive and depth > 1:
                    break
                dpath = prefix + "/".join(rel_parts[:depth])
                if dpath not in entries:
                    entries[dpath] = self._dir_json(dpath, commit, expand)
            if recursive or len(rel_parts) == 1:
                entries[fpath] = self._file_json(fpath, commit.files[fpath], commit if expand else None)
        if path and not entries:
            raise _HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        return self._json(list(entries.values()), headers={"X-Repo-Commit": commit.oid})

    def _paths_info(self, repo: _Repo, revision: str):
        commit = self._commit_for(repo, revision)
        ctype = self.headers.get("Content-Type") or ""
        if "json" in ctype:
            body = self._body_json()
            paths, expand = body.get("paths", []), bool(body.get("expand"))
        else:
            form = parse_qs(self.body.decode(), keep_blank_values=True)
            paths = form.get("paths", [])
            expand = (form.get("expand", ["false"])[0]).lower() in ("1", "true")
        if isinstance(paths, str):
            paths = [paths]
        out = []
        for p in paths:
            p = p.strip("/")
            if p in commit.files:
                out.append(self._file_json(p, commit.files[p], commit if expand else None))
            elif any(f.startswith(p + "/") for f in commit.files):
                out.append(self._dir_json(p, commit, expand))
        return self._json(out)

    def _preupload(self, repo: _Repo, revision: str):
        hub = self.fake_hub
        create_pr = self.query.get("create_pr", ["0"])[0] in ("1", "true")
        commit = self._commit_for(repo, "main" if create_pr and revision == "main" else revision)
        body = self._body_json()
        files = body.get("files")
        if not isinstance(files, list):
            raise _HubError(400, "Missing 'files'")
        out = []
        for f in files:
            path, size = f.get("path"), int(f.get("size") or 0)
            mode = hub._upload_mode_for(commit.files, path, size)
            item: dict[str, Any] = {"path": path, "uploadMode": mode, "shouldIgnore": False}
            existing = commit.files.get(path)
            if existing is not None:
                # Same oid flavour as the client computes locally for this upload mode.
                if mode == "lfs":
                    item["oid"] = existing.sha256
                else:
                    item["oid"] = (
                        existing.git_oid
                        if not existing.lfs
                        else git_blob_sha1(hub._blob_path(existing.sha256).read_bytes())
                    )
            out.append(item)
        return self._json({"files": out, "commitOid": commit.oid})

    def _commit(self, repo: _Repo, revision: str):
        hub = self.fake_hub
        create_pr = self.query.get("create_pr", ["0"])[0] in ("1", "true")
        lines = [ln for ln in self.body.splitlines() if ln.strip()]
        try:
            items = [json.loads(ln) for ln in lines]
        except ValueError:
            raise _HubError(400, "Invalid NDJSON payload")
        if not items or items[0].get("key") != "header":
            raise _HubError(400, "First line of the commit payload must be the header")
        header = items[0].get("value") or {}
        title = header.get("summary") or ""
        if not title:
            raise _HubError(400, "Commit summary cannot be empty")

        # Phase 1: decode and validate everything, without touching the repo.
        ops: list[tuple[str, str, Any]] = []
        for item in items[1:]:
            key, value = item.get("key"), item.get("value") or {}
            path = (value.get("path") or "").strip("/") if isinstance(value, dict) else ""
            if key in ("file", "lfsFile", "deletedFile", "deletedFolder") and not path:
                raise _HubError(400, f"Missing path in '{key}' operation")
            if key in ("file", "lfsFile") and (".." in path.split("/") or path.startswith(".git/")):
                raise _HubError(400, f"Invalid path {path!r}")
            if key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise _HubError(400, "Only base64 encoding is supported")
                try:
                    data = base64.b64decode(value.get("content") or "", validate=True)
                except ValueError:
                    raise _HubError(400, f"Invalid base64 content for {path}")
                ops.append(("add", path, data))
            elif key == "lfsFile":
                if value.get("algo", "sha256") != "sha256":
                    raise _HubError(400, "Only sha256 LFS oids are supported")
                oid = value.get("oid") or ""
                blob = hub._blob_path(oid)
                if not oid or not blob.exists():
                    raise _HubError(422, f"LFS object {oid} for {path} was not uploaded")
                size = blob.stat().st_size
                if value.get("size") is not None and int(value["size"]) != size:
                    raise _HubError(422, f"LFS object {oid} has size {size}, not {value['size']}")
                ops.append(("lfs", path, _File(size, oid, git_blob_sha1(_lfs_pointer(oid, size)), lfs=True)))
            elif key == "deletedFile":
                ops.append(("del", path, None))
            elif key == "deletedFolder":
                ops.append(("deldir", path, None))
            else:
                raise _HubError(400, f"Unsupported commit operation {key!r}")

        # Phase 2: apply to a copy of the tree and move the ref, all under the repo lock.
        with repo.lock:
            if create_pr:  # open a new PR ref on top of `revision`
                base = self._commit_for(repo, revision)
                ref = f"refs/pr/{max(repo.prs, default=0) + 1}"
            elif revision.startswith("refs/pr/"):
                base = self._commit_for(repo, revision)
                ref = revision
            else:
                branch = revision[len("refs/heads/") :] if revision.startswith("refs/heads/") else revision
                if branch not in repo.branches:
                    if hub._resolve_rev(repo, revision) is not None:
                        raise _HubError(400, f"Cannot commit to {revision}: not a branch")
                    raise _HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
                base = repo.commits[repo.branches[branch]]
                ref = branch
            parent = header.get("parentCommit")
            if parent and parent != base.oid:
                raise _HubError(412, f"A commit has happened since. Parent {parent} is not the head {base.oid}")
            files = dict(base.files)
            for kind, path, payload in ops:
                if kind == "add":
                    files[path] = hub._store_blob(payload, lfs=False)
                elif kind == "lfs":
                    files[path] = payload
                elif kind == "del":
                    if path not in files:
                        raise _HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                    del files[path]
                elif kind == "deldir":
                    doomed = [p for p in files if p.startswith(path + "/")]
                    if not doomed:
                        raise _HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                    for p in doomed:
                        del files[p]
            commit = hub._make_commit(repo, ref, base.oid, files, title, header.get("description") or "")
        commit_url = f"{hub.endpoint}/{repo.url_prefix}/commit/{commit.oid}"
        pr_url = None
        if ref.startswith("refs/pr/"):
            pr_url = f"{hub.endpoint}/{repo.url_prefix}/discussions/{ref.split('/')[-1]}"
        return self._json(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": commit_url,
                "hookOutput": "",
                "pullRequestUrl": pr_url,
            }
        )

    def _branch(self, repo: _Repo, branch: str):
        with repo.lock:
            if self.method == "DELETE":
                if branch not in repo.branches:
                    raise _HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
                if branch == "main":
                    raise _HubError(403, "Cannot delete the default branch")
                del repo.branches[branch]
                return self._json({})
            body = self._body_json()
            if branch in repo.branches:
                raise _HubError(409, f"Reference already exists: refs/heads/{branch}")
            start = body.get("startingPoint") or "main"
            oid = self.fake_hub._resolve_rev(repo, start)
            if oid is None:
                raise _HubError(404, f"Invalid rev id: {start}", "RevisionNotFound")
            repo.branches[branch] = oid
        return self._json({})

    def _tag(self, repo: _Repo, arg: str):
        with repo.lock:
            if self.method == "DELETE":
                if arg not in repo.tags:
                    raise _HubError(404, f"Invalid rev id: {arg}", "RevisionNotFound")
                del repo.tags[arg]
                return self._json({})
            body = self._body_json()
            tag = body.get("tag")
            if not tag:
                raise _HubError(400, "Missing tag name")
            if tag in repo.tags:
                raise _HubError(409, f"Tag {tag} already exists")
            oid = self.fake_hub._resolve_rev(repo, arg)
            if oid is None:
                raise _HubError(404, f"Invalid rev id: {arg}", "RevisionNotFound")
            repo.tags[tag] = oid
        return self._json({})

    def _refs(self, repo: _Repo):
        with repo.lock:
            data = {
                "branches": [
                    {"name": n, "ref": f"refs/heads/{n}", "targetCommit": o} for n, o in sorted(repo.branches.items())
                ],
                "converts": [],
                "tags": [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": o} for n, o in sorted(repo.tags.items())],
            }
            if self.query.get("include_prs"):
                data["pullRequests"] = [
                    {"name": str(n), "ref": f"refs/pr/{n}", "targetCommit": o} for n, o in sorted(repo.prs.items())
                ]
        return self._json(data)

    def _list_commits(self, repo: _Repo, revision: str):
        self._commit_for(repo, revision)
        history = self.fake_hub.commits(repo.repo_id, revision, repo.repo_type)
        out = []
        for c in history:
            commit = repo.commits[c["oid"]]
            out.append(
                {
                    "id": commit.oid,
                    "title": commit.title,
                    "message": commit.message,
                    "authors": [{"user": commit.author, "avatar": ""}],
                    "date": commit.date,
                    "formatted": {"title": commit.title, "message": commit.message},
                }
            )
        return self._json(out)

    # ----------------------------------------------------------------------------- downloads

    def _resolve_file(self, repo_type: str, repo_id: str, revision: str, path: str):
        hub = self.fake_hub
        repo = self._repo(repo_type, repo_id)
        commit = self._commit_for(repo, revision)
        entry = commit.files.get(path)
        if entry is None:
            raise _HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        headers = {
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{entry.etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(posixpath.basename(path))}",
        }
        if entry.lfs:
            headers["X-Linked-Etag"] = f'"{entry.sha256}"'
            headers["X-Linked-Size"] = str(entry.size)
        blob = hub._blob_path(entry.sha256)
        start, end, status = 0, entry.size - 1, 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and "," not in rng and entry.size > 0:
            a, _, b = rng[len("bytes=") :].strip().partition("-")
            try:
                if a == "":  # suffix range: last b bytes
                    start, end = max(0, entry.size - int(b)), entry.size - 1
                else:
                    start, end = int(a), (int(b) if b else entry.size - 1)
            except ValueError:
                raise _HubError(416, f"Invalid range {rng}")
            end = min(end, entry.size - 1)
            if start > end:
                raise _HubError(
                    416, f"Range not satisfiable: {rng}", headers={"Content-Range": f"bytes */{entry.size}"}
                )
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
        length = max(0, end - start + 1)
        headers["Content-Length"] = str(length)
        if self.method == "HEAD":
            return status, headers, b""
        with open(blob, "rb") as fh:
            fh.seek(start)
            data = fh.read(length)
        return status, headers, data

    # ---------------------------------------------------------------------------------- LFS

    def _lfs_batch(self, repo_type: str, repo_id: str):
        hub = self.fake_hub
        repo = self._repo(repo_type, repo_id)
        body = self._body_json()
        if body.get("operation") != "upload":
            raise _HubError(400, "Only the 'upload' LFS operation is supported")
        ref = (body.get("ref") or {}).get("name")
        if ref:
            self._commit_for(repo, ref)
        objects = []
        for obj in body.get("objects") or []:
            oid, size = str(obj.get("oid")), int(obj.get("size") or 0)
            out: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            blob = hub._blob_path(oid)
            if not (blob.exists() and blob.stat().st_size == size):
                out["actions"] = {
                    "upload": {"href": f"{hub.endpoint}/_fakehub/lfs/upload/{oid}", "header": {}},
                    "verify": {"href": f"{hub.endpoint}/_fakehub/lfs/verify", "header": {}},
                }
            objects.append(out)
        return self._json(
            {"transfer": "basic", "objects": objects}, headers={"Content-Type": "application/vnd.git-lfs+json"}
        )

    def _lfs_put(self, oid: str):
        hub = self.fake_hub
        actual = hashlib.sha256(self.body).hexdigest()
        if actual != oid:
            raise _HubError(400, f"sha256 mismatch: expected {oid}, got {actual}")
        hub._write_blob(self.body)
        return 200, {"ETag": f'"{hashlib.md5(self.body).hexdigest()}"'}, b""

    def _lfs_verify(self):
        body = self._body_json()
        blob = self.fake_hub._blob_path(str(body.get("oid")))
        if not blob.exists() or blob.stat().st_size != int(body.get("size") or -1):
            raise _HubError(404, f"LFS object {body.get('oid')} not found")
        return self._json({"success": True})


# ------------------------------------------------------------------------------- client patching


def configure_hf_clients(
    monkeypatch,
    endpoint: str,
    hf_home: str | os.PathLike,
    *,
    token: str = FAKE_TOKEN,
    disable_xet: bool = False,
) -> None:
    """Point huggingface_hub and transformers at ``endpoint`` with a fresh cache, via ``monkeypatch``.

    Env vars alone are not enough: both libraries read them at import time.  This patches:

    * env: ``HF_ENDPOINT``, ``HF_HOME``, ``HF_HUB_CACHE``, ``HF_ASSETS_CACHE``, ``HF_XET_CACHE``,
      ``HF_TOKEN`` (read at call time), ``HF_TOKEN_PATH``, ``HF_HUB_DISABLE_TELEMETRY=1``,
      ``NO_PROXY``; removes ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``/``HUGGING_FACE_HUB_TOKEN``.
    * ``huggingface_hub.constants``: ``ENDPOINT``, ``HUGGINGFACE_CO_URL_TEMPLATE`` (used by
      ``hf_hub_url``), ``HF_HOME``, ``HF_HUB_CACHE``, ``HUGGINGFACE_HUB_CACHE``, ``HF_ASSETS_CACHE``,
      ``HF_XET_CACHE``, ``HF_TOKEN_PATH``, ``HF_STORED_TOKENS_PATH``, ``HF_HUB_OFFLINE=False``,
      ``HF_HUB_DISABLE_TELEMETRY=True`` (and ``HF_HUB_DISABLE_XET`` if ``disable_xet``).
    * ``huggingface_hub.hf_api.api.endpoint``: the module-level ``HfApi()`` behind the functions
      ``huggingface_hub.create_repo/upload_folder/...`` froze ``ENDPOINT`` when it was built.
    * ``huggingface_hub.utils._cache_manager.HF_HUB_CACHE`` (imported by value).
    * ``transformers.utils.hub._hf_api = None``: transformers' lazily built shared ``HfApi`` (used
      by ``push_to_hub``, ``resolve_revision``, tree listings) would keep an old endpoint.
    * ``transformers.utils.hub.HF_MODULES_CACHE`` and ``transformers.dynamic_module_utils.HF_MODULES_CACHE``.

    Not patched (not needed here): ``huggingface_hub.utils._http._HUB_ORIGINS`` (only matters for
    cross-host redirects; the fake serves every file directly).
    """
    import huggingface_hub.constants as hf_constants

    home = Path(hf_home)
    hub_cache = home / "hub"
    hub_cache.mkdir(parents=True, exist_ok=True)
    env = {
        "HF_ENDPOINT": endpoint,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(hub_cache),
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_TOKEN": token,
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_CO_STAGING"):
        monkeypatch.delenv(key, raising=False)
    if disable_xet:
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")

    values = {
        "ENDPOINT": endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(hub_cache),
        "HUGGINGFACE_HUB_CACHE": str(hub_cache),
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
    }
    if disable_xet:
        values["HF_HUB_DISABLE_XET"] = True
    for key, value in values.items():
        monkeypatch.setattr(hf_constants, key, value)

    import huggingface_hub.hf_api as hf_api_module

    monkeypatch.setattr(hf_api_module.api, "endpoint", endpoint)
    try:
        import huggingface_hub.utils._cache_manager as cache_manager

        monkeypatch.setattr(cache_manager, "HF_HUB_CACHE", str(hub_cache), raising=False)
    except ImportError:  # pragma: no cover
        pass

    try:
        import transformers.utils.hub as tf_hub
    except ImportError:  # transformers not installed: nothing more to patch
        return
    monkeypatch.setattr(tf_hub, "_hf_api", None, raising=False)
    modules_cache = str(home / "modules")
    monkeypatch.setattr(tf_hub, "HF_MODULES_CACHE", modules_cache, raising=False)
    try:
        import transformers.dynamic_module_utils as tf_dyn

        monkeypatch.setattr(tf_dyn, "HF_MODULES_CACHE", modules_cache, raising=False)
    except ImportError:  # pragma: no cover
        pass


class _NoSleepTime:
    """Stand-in for the ``time`` module inside ``huggingface_hub.utils._http``: no backoff waits."""

    def __getattr__(self, name):
        return getattr(time, name)

    @staticmethod
    def sleep(_seconds: float) -> None:
        return None


def no_retry_sleep(monkeypatch) -> None:
    """Make huggingface_hub's retries immediate (``http_backoff`` sleeps 1+2+4+8+8 s otherwise, and
    ``http_get`` sleeps 1 s before resuming an interrupted download).

    ``upload_folder`` (with ``hf_xet`` installed) sends the commit with ``retry_on_error=True``: a 5xx
    on the commit is retried 5 times, so a test injecting a persistent failure wants this.
    """
    import huggingface_hub.file_download as hf_file_download
    import huggingface_hub.utils._http as hf_http

    monkeypatch.setattr(hf_http, "time", _NoSleepTime())
    monkeypatch.setattr(hf_file_download, "time", _NoSleepTime())  # http_get: sleep(1) before resuming
