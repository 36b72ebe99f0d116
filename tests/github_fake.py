"""A fake GitHub REST API on a real loopback socket: pull-request comments (with their authors:
a token is a person's or the Actions bot's), the pull requests a commit came from, pull requests
and the files they change, workflow runs, and run artifacts whose download redirects to a
storage host (which, as on GitHub, must not be sent the token). Tests can make it hostile: a
person's comment, a run of another workflow, an artifact of any bytes, an API that fails."""

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

BOT = {"login": "github-actions[bot]", "type": "Bot"}
PLAN_WORKFLOW = ".github/workflows/plan.yml"
APPLY_WORKFLOW = ".github/workflows/apply.yml"


def user_of(token: str) -> dict[str, str]:
    """`ghp_<name>` is a person's token; any other (`ghs_...`) is the workflow's, the bot's."""
    if token.startswith("ghp_"):
        return {"login": token[4:], "type": "User"}
    return dict(BOT)


class FakeGitHub:
    def __init__(self) -> None:
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.pulls_by_sha: dict[str, list[int]] = {}
        self.pulls: dict[int, dict[str, Any]] = {}
        self.files: dict[int, list[str]] = {}
        self.runs: dict[int, dict[str, Any]] = {}
        self.artifacts: dict[int, dict[str, bytes]] = {}  # run id -> name -> zip
        self.failing: set[str] = set()  # path prefixes answered with a 500
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

    def plan_run(self, run_id: int, number: int | None, head_sha: str, **more: Any) -> None:
        """The plan workflow's run on a pull request (or by hand on main when `number` is None)."""
        self.runs[run_id] = {
            "id": run_id,
            "path": PLAN_WORKFLOW,
            "event": "pull_request" if number is not None else "workflow_dispatch",
            "head_branch": f"pr-{number}" if number is not None else "main",
            "head_sha": head_sha,
            "conclusion": "success",
            "pull_requests": [{"number": number}] if number is not None else [],
            **more,
        }

    def apply_run(self, run_id: int, head_sha: str, **more: Any) -> None:
        self.runs[run_id] = {
            "id": run_id,
            "path": APPLY_WORKFLOW,
            "event": "push",
            "head_branch": "main",
            "head_sha": head_sha,
            "conclusion": "failure",
            "pull_requests": [],
            **more,
        }

    def merged(self, number: int, head_sha: str, files: list[str] | None = None) -> None:
        self.pulls[number] = {
            "number": number,
            "head": {"sha": head_sha},
            "base": {"ref": "main"},
            "merged_at": "2026-12-07T00:00:00Z",
        }
        self.files[number] = files if files is not None else ["leadsets/team.yaml"]

    def comment(self, number: int, body: str, user: dict[str, str] | None = None) -> None:
        """A comment posted by someone (the bot when `user` is None)."""
        self.next_id += 1
        self.comments.setdefault(number, []).append(
            {"id": self.next_id, "body": body, "user": dict(user or BOT)}
        )

    def plan_comment(self, number: int) -> str:
        (comment,) = [
            c
            for c in self.comments.get(number, [])
            if "engage-sync-plan" in c["body"] and c["user"] == BOT
        ]
        return str(comment["body"])


def _page(items: list[Any], page: int) -> list[Any]:
    return items[(page - 1) * 100 : page * 100]


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

        def _token(self) -> str:
            header = self.headers.get("Authorization", "")
            fake.auth.add(header)
            return header.removeprefix("Bearer ")

        def _failing(self) -> bool:
            if any(self.path.startswith(p) for p in fake.failing):
                self._send(500, {"message": "Server Error"})
                return True
            return False

        def do_GET(self) -> None:
            fake.calls.append(("GET", self.path))
            if m := re.fullmatch(r"/_storage/(\d+)/(.+)", self.path):
                fake.storage_auth.append(self.headers.get("Authorization", ""))
                self._send(200, None, fake.artifacts[int(m.group(1))][m.group(2)])
                return
            self._token()
            if self._failing():
                return
            if m := re.fullmatch(
                r"/repos/o/r/issues/(\d+)/comments\?per_page=100&page=(\d+)", self.path
            ):
                self._send(200, _page(fake.comments.get(int(m.group(1)), []), int(m.group(2))))
            elif m := re.fullmatch(r"/repos/o/r/commits/(\w+)/pulls", self.path):
                self._send(200, [{"number": n} for n in fake.pulls_by_sha.get(m.group(1), [])])
            elif m := re.fullmatch(r"/repos/o/r/pulls/(\d+)", self.path):
                pull = fake.pulls.get(int(m.group(1)))
                self._send(200 if pull else 404, pull or {"message": "Not Found"})
            elif m := re.fullmatch(
                r"/repos/o/r/pulls/(\d+)/files\?per_page=100&page=(\d+)", self.path
            ):
                files = [{"filename": f} for f in fake.files.get(int(m.group(1)), [])]
                self._send(200, _page(files, int(m.group(2))))
            elif m := re.fullmatch(r"/repos/o/r/actions/runs/(\d+)", self.path):
                run = fake.runs.get(int(m.group(1)))
                self._send(200 if run else 404, run or {"message": "Not Found"})
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
            user = user_of(self._token())
            m = re.fullmatch(r"/repos/o/r/issues/(\d+)/comments", self.path)
            assert m
            fake.next_id += 1
            comment = {"id": fake.next_id, "body": self._body()["body"], "user": user}
            fake.comments.setdefault(int(m.group(1)), []).append(comment)
            self._send(201, comment)

        def do_PATCH(self) -> None:
            fake.calls.append(("PATCH", self.path))
            user = user_of(self._token())
            m = re.fullmatch(r"/repos/o/r/issues/comments/(\d+)", self.path)
            assert m
            body = self._body()["body"]
            for comments in fake.comments.values():
                for c in comments:
                    if c["id"] == int(m.group(1)):
                        if c["user"] != user:  # as on GitHub: only the author edits
                            self._send(403, {"message": "Resource not accessible"})
                            return
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
