"""The GitHub REST calls the CI loop makes, over httpx, each answer parsed into a typed value here
(the rest of the loop never reads a response's keys). The token is sent to the API host only:
an artifact's download redirects to a storage host, which gets no Authorization header.

Everything GitHub answers is treated as input a contributor may have shaped: comment bodies,
artifacts (a run of a pull request's own workflow can upload anything), run metadata. Pages are
bounded, artifacts are streamed to a temporary file under a size cap and read member by member
under another, and every failure is a GitHubError the caller turns into "not reviewed".
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import lzma
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import GitHubError
from ..settings import resolve
from ..settings import table as settings
from ..tls import tls_for

DEFAULT_API = "https://api.github.com"
PAGE = 100
MAX_PAGES = 30  # 3,000 comments or files: beyond that a pull request is not trusted either
# the largest artifact zip downloaded, and the largest file read out of one (a change set of a
# first plan of a million leads is about 100 MB; a zip bomb is stopped at the cap, not in memory)
MAX_ARTIFACT_BYTES: int = settings.MAX_ARTIFACT_BYTES.default
MAX_MEMBER_BYTES: int = settings.MAX_CHANGESET_BYTES.default
MAX_LINE = 1 << 16  # a change-set line is an externId and a few hashes
# what a hostile zip can raise while read (NotImplementedError for an unknown method is a
# RuntimeError; a corrupt stream raises zlib's or lzma's own)
_ZIP_ERRORS = (zipfile.BadZipFile, OSError, RuntimeError, EOFError, zlib.error, lzma.LZMAError)
BOT_LOGIN: str = settings.BOT_LOGIN.default  # who writes the plan comments (GITHUB_TOKEN's)


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    author: str
    by_bot: bool  # the author's account is a bot (user.type "Bot"), not a person
    body: str


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    id: int
    path: str  # the workflow file, e.g. .github/workflows/plan.yml
    event: str  # pull_request, push, workflow_dispatch, ...
    head_branch: str
    head_sha: str
    conclusion: str  # success, failure, ... ("" while it runs)
    pulls: tuple[int, ...]  # the pull requests GitHub links to it (empty for a fork's)


@dataclass(frozen=True, slots=True)
class PullRequest:
    number: int
    head_sha: str
    base_ref: str
    merged: bool


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise GitHubError(f"GitHub answered a {what} that is not a number")
    return value


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise GitHubError(f"GitHub answered {what} that is not an object")
    return value


class GitHub:
    def __init__(
        self,
        token: str,
        repository: str,
        api_url: str = DEFAULT_API,
        transport: httpx.BaseTransport | None = None,
        max_artifact_bytes: int = MAX_ARTIFACT_BYTES,
        max_member_bytes: int = MAX_MEMBER_BYTES,
    ) -> None:
        self.repository = repository
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            timeout=30,
            transport=transport,
            verify=tls_for(),  # the artifacts' download URLs come from the API's answers
        )
        self._transport = transport
        self.max_artifact_bytes = max_artifact_bytes
        self.max_member_bytes = max_member_bytes

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitHub | None:
        """From GitHub Actions' variables; None outside it (no token or no repository)."""
        token, repo = env.get("GITHUB_TOKEN"), env.get("GITHUB_REPOSITORY")
        if not token or not repo:
            return None
        caps = [
            resolve(cap, env=env)
            for cap in (settings.MAX_ARTIFACT_BYTES, settings.MAX_CHANGESET_BYTES)
        ]
        return cls(token, repo, env.get("GITHUB_API_URL") or DEFAULT_API, None, *caps)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as e:
            raise GitHubError(f"GitHub API {method} {path}: {type(e).__name__}") from e
        if response.status_code >= 400:
            message = ""
            with contextlib.suppress(ValueError, AttributeError):
                message = _text(response.json().get("message"))[:200]
            raise GitHubError(
                f"GitHub API {method} {path}: {response.status_code} {message!r}".rstrip()
            )
        try:
            return response.json() if response.content else None
        except ValueError as e:
            raise GitHubError(f"GitHub API {method} {path}: the answer is not JSON") from e

    def _pages(self, path: str) -> Iterator[Any]:
        sep = "&" if "?" in path else "?"
        for page in range(1, MAX_PAGES + 1):
            batch = self._call("GET", f"{path}{sep}per_page={PAGE}&page={page}")
            if not isinstance(batch, list):
                raise GitHubError(f"GitHub API GET {path}: the answer is not a list")
            yield from batch
            if len(batch) < PAGE:
                return
        raise GitHubError(f"GitHub API GET {path}: more than {MAX_PAGES * PAGE} entries")

    # -- pull requests and their comments ---------------------------------------------------

    def comments(self, number: int) -> list[Comment]:
        found = []
        for raw in self._pages(f"/repos/{self.repository}/issues/{number}/comments"):
            c = _mapping(raw, "a comment")
            user = c.get("user") if isinstance(c.get("user"), Mapping) else {}
            assert isinstance(user, Mapping)
            found.append(
                Comment(
                    _int(c.get("id"), "comment id"),
                    _text(user.get("login")),
                    user.get("type") == "Bot",
                    _text(c.get("body")),
                )
            )
        return found

    def update_comment(self, comment_id: int, body: str) -> None:
        self._call(
            "PATCH", f"/repos/{self.repository}/issues/comments/{comment_id}", {"body": body}
        )

    def add_comment(self, number: int, body: str) -> int:
        made = _mapping(
            self._call(
                "POST", f"/repos/{self.repository}/issues/{number}/comments", {"body": body}
            ),
            "a new comment",
        )
        return _int(made.get("id"), "comment id")

    def pulls_for_commit(self, sha: str) -> list[int]:
        """The pull requests a commit on main came from (merged, squashed or rebased)."""
        pulls = self._call("GET", f"/repos/{self.repository}/commits/{sha}/pulls")
        if not isinstance(pulls, list):
            raise GitHubError(f"GitHub API: the pull requests of {sha[:12]} are not a list")
        return [_int(_mapping(p, "a pull request").get("number"), "pull number") for p in pulls]

    def pull(self, number: int) -> PullRequest:
        raw = _mapping(self._call("GET", f"/repos/{self.repository}/pulls/{number}"), "#number")
        head = raw.get("head") if isinstance(raw.get("head"), Mapping) else {}
        base = raw.get("base") if isinstance(raw.get("base"), Mapping) else {}
        assert isinstance(head, Mapping) and isinstance(base, Mapping)
        return PullRequest(
            number,
            _text(head.get("sha")),
            _text(base.get("ref")),
            bool(raw.get("merged_at")) or raw.get("merged") is True,
        )

    def pull_files(self, number: int) -> list[str]:
        """The paths a pull request changes (renames: both names)."""
        names = []
        for raw in self._pages(f"/repos/{self.repository}/pulls/{number}/files"):
            f = _mapping(raw, "a changed file")
            names += [n for n in (_text(f.get("filename")), _text(f.get("previous_filename"))) if n]
        return names

    # -- workflow runs and their artifacts --------------------------------------------------

    def run(self, run_id: int) -> WorkflowRun:
        raw = _mapping(
            self._call("GET", f"/repos/{self.repository}/actions/runs/{run_id}"), "a run"
        )
        pulls = raw.get("pull_requests") if isinstance(raw.get("pull_requests"), list) else []
        assert isinstance(pulls, list)
        return WorkflowRun(
            run_id,
            _text(raw.get("path")).split("@", 1)[0],  # newer answers add @ref
            _text(raw.get("event")),
            _text(raw.get("head_branch")),
            _text(raw.get("head_sha")),
            _text(raw.get("conclusion")),
            tuple(
                p["number"]
                for p in pulls
                if isinstance(p, Mapping) and isinstance(p.get("number"), int)
            ),
        )

    @contextlib.contextmanager
    def artifact(self, run_id: int, name: str) -> Iterator[zipfile.ZipFile | None]:
        """A workflow run's artifact by name, as an open zip in a temporary file (removed on
        exit); None when it is gone or expired. The download stops at `max_artifact_bytes`."""
        listed = _mapping(
            self._call(
                "GET", f"/repos/{self.repository}/actions/runs/{run_id}/artifacts?name={name}"
            )
            or {},
            "the artifacts of a run",
        )
        artifacts = listed.get("artifacts") if isinstance(listed.get("artifacts"), list) else []
        assert isinstance(artifacts, list)
        found = [
            a
            for a in artifacts
            if isinstance(a, Mapping) and a.get("name") == name and not a.get("expired")
        ]
        if not found:
            yield None
            return
        url = _text(found[0].get("archive_download_url"))
        fd, scratch = tempfile.mkstemp(prefix="engage-sync-artifact-", suffix=".zip")
        try:
            with os.fdopen(fd, "wb") as out:
                self._download(url, out, f"artifact {name} of run {run_id}")
            try:
                archive = zipfile.ZipFile(scratch)
            except (*_ZIP_ERRORS, ValueError) as e:
                raise GitHubError(f"artifact {name} of run {run_id} is not a readable zip") from e
            with archive:
                yield archive
        finally:
            with contextlib.suppress(OSError):
                os.unlink(scratch)

    def _download(self, url: str, out: Any, what: str) -> None:
        try:
            with self._http.stream("GET", url, follow_redirects=False) as first:
                if first.status_code in (301, 302, 303, 307, 308):
                    location = first.headers.get("location")
                    if not location:
                        raise GitHubError(f"cannot download {what}: a redirect with no location")
                    # no token to the storage host
                    with (
                        httpx.Client(
                            timeout=60, transport=self._transport, verify=tls_for(location)
                        ) as storage,
                        storage.stream("GET", location) as second,
                    ):
                        self._copy(second, out, what)
                else:
                    self._copy(first, out, what)
        except httpx.HTTPError as e:
            raise GitHubError(f"cannot download {what}: {type(e).__name__}") from e

    def _copy(self, response: httpx.Response, out: Any, what: str) -> None:
        if response.status_code >= 400:
            raise GitHubError(f"cannot download {what}: {response.status_code}")
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_artifact_bytes:
                raise GitHubError(
                    f"{what} is larger than {self.max_artifact_bytes:,} bytes: not read "
                    "(ENGAGE_SYNC_MAX_ARTIFACT_BYTES)"
                )
            out.write(chunk)

    def member_lines(self, archive: zipfile.ZipFile, member: str) -> Iterator[str] | None:
        """The lines of one file of an artifact's zip (at its top or in a folder), read as
        UTF-8 in blocks up to `max_member_bytes` whatever size its header claims; None if
        absent. Errors surface as GitHubError while iterating."""
        return member_lines(archive, member, self.max_member_bytes)

    def member_blob_id(self, archive: zipfile.ZipFile, member: str, sha256: bool = False) -> str:
        """The git blob id the file would have (to compare it with a commit's, byte for byte,
        without holding either); "" when absent or larger than `max_member_bytes`."""
        infos = [i for i in archive.infolist() if i.filename == member]
        if len(infos) != 1 or infos[0].file_size > self.max_member_bytes:
            return ""
        digest = hashlib.sha256() if sha256 else hashlib.sha1()
        digest.update(f"blob {infos[0].file_size}\0".encode())
        size = 0
        try:
            with archive.open(infos[0]) as f:
                while block := f.read(1 << 20):
                    size += len(block)
                    if size > infos[0].file_size:
                        return ""
                    digest.update(block)
        except _ZIP_ERRORS as e:
            raise GitHubError(f"{member} in the artifact cannot be read: {type(e).__name__}") from e
        return digest.hexdigest() if size == infos[0].file_size else ""


def member_lines(archive: zipfile.ZipFile, member: str, limit: int) -> Iterator[str] | None:
    infos = [
        i for i in archive.infolist() if i.filename == member or i.filename.endswith("/" + member)
    ]
    if not infos:
        return None
    if len(infos) > 1:
        raise GitHubError(f"the artifact holds {member} {len(infos)} times: not used")
    return _lines(archive, infos[0], member, limit)


def _lines(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, member: str, limit: int
) -> Iterator[str]:
    size = 0
    try:
        with archive.open(info) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as f:
            while line := f.readline(MAX_LINE):
                size += len(line)
                if size > limit:
                    raise GitHubError(
                        f"{member} in the artifact is larger than {limit:,} characters: not "
                        "read (ENGAGE_SYNC_MAX_CHANGESET_BYTES)"
                    )
                if not line.endswith("\n") and len(line) == MAX_LINE:
                    raise GitHubError(f"{member} in the artifact has a line of over {MAX_LINE:,}")
                yield line.rstrip("\n")
    except UnicodeDecodeError as e:
        raise GitHubError(f"{member} in the artifact is not UTF-8 text") from e
    except _ZIP_ERRORS as e:
        raise GitHubError(f"{member} in the artifact cannot be read: {type(e).__name__}") from e


__all__ = [
    "BOT_LOGIN",
    "Comment",
    "GitHub",
    "PullRequest",
    "WorkflowRun",
    "member_lines",
]
