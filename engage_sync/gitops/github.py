"""The GitHub REST calls the CI loop makes, over httpx. The token is sent to the API host only:
an artifact's download redirects to a storage host, which gets no Authorization header."""

from __future__ import annotations

import contextlib
import io
import zipfile
from collections.abc import Mapping
from typing import Any

import httpx

from ..errors import GitHubError

DEFAULT_API = "https://api.github.com"
PAGE = 100


class GitHub:
    def __init__(
        self,
        token: str,
        repository: str,
        api_url: str = DEFAULT_API,
        transport: httpx.BaseTransport | None = None,
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
        )
        self._transport = transport

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitHub | None:
        """From GitHub Actions' variables; None outside it (no token or no repository)."""
        token, repo = env.get("GITHUB_TOKEN"), env.get("GITHUB_REPOSITORY")
        if not token or not repo:
            return None
        return cls(token, repo, env.get("GITHUB_API_URL") or DEFAULT_API)

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
            raise GitHubError(f"GitHub API {method} {path}: {e}") from e
        if response.status_code >= 400:
            message = ""
            with contextlib.suppress(ValueError, AttributeError):
                message = str(response.json().get("message", ""))
            raise GitHubError(
                f"GitHub API {method} {path}: {response.status_code} {message}".rstrip()
            )
        return response.json() if response.content else None

    def _pages(self, path: str) -> list[Any]:
        found: list[Any] = []
        page = 1
        sep = "&" if "?" in path else "?"
        while True:
            batch = self._call("GET", f"{path}{sep}per_page={PAGE}&page={page}")
            found.extend(batch)
            if len(batch) < PAGE:
                return found
            page += 1

    def comments(self, number: int) -> list[dict[str, Any]]:
        return self._pages(f"/repos/{self.repository}/issues/{number}/comments")

    def upsert_comment(self, number: int, marker: str, body: str) -> str:
        """The one comment carrying `marker`, created or updated in place. Returns what it did."""
        mine = [c for c in self.comments(number) if marker in (c.get("body") or "")]
        if mine:
            self._call(
                "PATCH", f"/repos/{self.repository}/issues/comments/{mine[0]['id']}", {"body": body}
            )
            return f"updated plan comment {mine[0]['id']} on #{number}"
        made = self._call(
            "POST", f"/repos/{self.repository}/issues/{number}/comments", {"body": body}
        )
        return f"posted plan comment {made['id']} on #{number}"

    def pulls_for_commit(self, sha: str) -> list[int]:
        """The pull requests a commit on main came from (merged, squashed or rebased)."""
        pulls = self._call("GET", f"/repos/{self.repository}/commits/{sha}/pulls")
        return [int(p["number"]) for p in pulls or ()]

    def run_artifact(self, run_id: int, name: str) -> bytes | None:
        """The zip of a workflow run's artifact by name; None when it is gone or expired."""
        listed = self._call(
            "GET", f"/repos/{self.repository}/actions/runs/{run_id}/artifacts?name={name}"
        )
        found = [
            a
            for a in (listed or {}).get("artifacts", ())
            if a.get("name") == name and not a.get("expired")
        ]
        if not found:
            return None
        url = found[0]["archive_download_url"]
        try:
            first = self._http.get(url, follow_redirects=False)
            if first.status_code in (301, 302, 303, 307, 308):
                with httpx.Client(timeout=60, transport=self._transport) as storage:
                    second = storage.get(first.headers["location"])  # no token to storage
                second.raise_for_status()
                return second.content
            first.raise_for_status()
            return first.content
        except (httpx.HTTPError, KeyError) as e:
            raise GitHubError(f"cannot download artifact {name} of run {run_id}: {e}") from e


def read_from_zip(data: bytes, member: str) -> str | None:
    """One file of an artifact's zip (at its top or in a folder), as text; None if absent."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if info.filename == member or info.filename.endswith("/" + member):
                    return archive.read(info).decode("utf-8")
    except (zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise GitHubError(f"the artifact is not a readable zip: {e}") from e
    return None
