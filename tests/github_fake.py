"""A fake GitHub REST API on a real loopback socket: pull-request comments, the pull requests a
commit came from, and workflow-run artifacts whose download redirects to a storage host (which,
as on GitHub, must not be sent the token)."""

from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


class FakeGitHub:
    def __init__(self) -> None:
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.pulls_by_sha: dict[str, list[int]] = {}
        self.artifacts: dict[int, dict[str, bytes]] = {}  # run id -> name -> zip
        self.next_id = 100
        self.calls: list[tuple[str, str]] = []
        self.auth: set[str] = set()
        self.storage_auth: list[str] = []  # Authorization headers the storage host was sent
        self.url = ""

    def upload(self, run_id: int, name: str, folder: Path) -> None:
        """What actions/upload-artifact does with a folder: a zip of its files."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder).as_posix())
        self.artifacts.setdefault(run_id, {})[name] = buffer.getvalue()

    def plan_comment(self, number: int) -> str:
        (comment,) = [c for c in self.comments.get(number, []) if "engage-sync-plan" in c["body"]]
        return str(comment["body"])


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, raw: bytes | None = None) -> None:
            data = raw if raw is not None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            return json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        def do_GET(self) -> None:
            fake.calls.append(("GET", self.path))
            if m := re.fullmatch(r"/_storage/(\d+)/(.+)", self.path):
                fake.storage_auth.append(self.headers.get("Authorization", ""))
                self._send(200, None, fake.artifacts[int(m.group(1))][m.group(2)])
                return
            fake.auth.add(self.headers.get("Authorization", ""))
            if m := re.fullmatch(
                r"/repos/o/r/issues/(\d+)/comments\?per_page=100&page=(\d+)", self.path
            ):
                page = int(m.group(2))
                found = fake.comments.get(int(m.group(1)), [])
                self._send(200, found[(page - 1) * 100 : page * 100])
            elif m := re.fullmatch(r"/repos/o/r/commits/(\w+)/pulls", self.path):
                self._send(200, [{"number": n} for n in fake.pulls_by_sha.get(m.group(1), [])])
            elif m := re.fullmatch(
                r"/repos/o/r/actions/runs/(\d+)/artifacts\?name=(.+)", self.path
            ):
                run, name = int(m.group(1)), m.group(2)
                listed = [
                    {
                        "id": run,
                        "name": name,
                        "expired": False,
                        "archive_download_url": f"{fake.url}/repos/o/r/actions/artifacts/"
                        f"{run}/{name}/zip",
                    }
                    for _ in [0]
                    if name in fake.artifacts.get(run, {})
                ]
                self._send(200, {"total_count": len(listed), "artifacts": listed})
            elif m := re.fullmatch(r"/repos/o/r/actions/artifacts/(\d+)/(.+)/zip", self.path):
                self.send_response(302)
                self.send_header("Location", f"{fake.url}/_storage/{m.group(1)}/{m.group(2)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._send(404, {"message": "Not Found"})

        def do_POST(self) -> None:
            fake.calls.append(("POST", self.path))
            fake.auth.add(self.headers.get("Authorization", ""))
            m = re.fullmatch(r"/repos/o/r/issues/(\d+)/comments", self.path)
            assert m
            fake.next_id += 1
            comment = {"id": fake.next_id, "body": self._body()["body"]}
            fake.comments.setdefault(int(m.group(1)), []).append(comment)
            self._send(201, comment)

        def do_PATCH(self) -> None:
            fake.calls.append(("PATCH", self.path))
            fake.auth.add(self.headers.get("Authorization", ""))
            m = re.fullmatch(r"/repos/o/r/issues/comments/(\d+)", self.path)
            assert m
            body = self._body()["body"]
            for comments in fake.comments.values():
                for c in comments:
                    if c["id"] == int(m.group(1)):
                        c["body"] = body
            self._send(200, {"id": int(m.group(1))})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
