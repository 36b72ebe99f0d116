"""gitops/github.py: the few GitHub REST calls the loop makes, against httpx's MockTransport
(in-process): answers parsed at the border, hostile shapes refused as GitHubError, pages
followed, artifacts downloaded without the token past a redirect and under a size cap."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable

import httpx
import pytest

from engage_sync.errors import GitHubError
from engage_sync.gitops.github import GitHub

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, **caps: int) -> GitHub:
    return GitHub(
        "ghs_token", "o/r", "https://api.github.test", httpx.MockTransport(handler), **caps
    )


def zipped(**files: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_comments_are_read_page_after_page_and_bots_told_from_people() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        first = page == 1
        users = [{"login": "github-actions[bot]", "type": "Bot"}] * (100 if first else 1)
        if not first:
            users = [{"login": "eve", "type": "User"}]
        base = 0 if first else 100
        return httpx.Response(
            200, json=[{"id": base + i, "body": "b", "user": u} for i, u in enumerate(users)]
        )

    with client(handler) as gh:
        found = gh.comments(7)
    assert len(found) == 101 and found[0].by_bot and found[0].author == "github-actions[bot]"
    assert (found[-1].author, found[-1].by_bot) == ("eve", False)


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (httpx.Response(404, json={"message": "Not Found"}), "404 'Not Found'"),
        (httpx.Response(200, content=b"<html>"), "the answer is not JSON"),
        (httpx.Response(200, json={"number": 1}), "are not a list"),
    ],
)
def test_an_answer_of_the_wrong_shape_is_a_github_error(answer: httpx.Response, said: str) -> None:
    with client(lambda request: answer) as gh, pytest.raises(GitHubError, match=said):
        gh.pulls_for_commit("a" * 40)


def test_a_run_is_parsed_at_the_border_and_junk_in_it_dropped() -> None:
    run = {
        "path": ".github/workflows/plan.yml@refs/heads/main",
        "event": "pull_request",
        "head_branch": "pr-7",
        "head_sha": "h" * 40,
        "conclusion": None,
        "pull_requests": [{"number": 7}, {"number": "8"}, "9"],
    }
    with client(lambda request: httpx.Response(200, json=run)) as gh:
        parsed = gh.run(41)
    assert parsed.path == ".github/workflows/plan.yml"  # the @ref newer answers add is cut
    assert (parsed.conclusion, parsed.pulls) == ("", (7,))


def test_an_artifact_is_fetched_past_its_redirect_without_the_token() -> None:
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.host] = request.headers.get("Authorization")
        if request.url.path.endswith("/artifacts"):
            listed = [
                {"name": "plan", "expired": True, "archive_download_url": "https://x.test/old"},
                {"name": "plan", "archive_download_url": "https://api.github.test/zip"},
            ]
            return httpx.Response(200, json={"artifacts": listed})
        if request.url.host == "api.github.test":
            return httpx.Response(302, headers={"location": "https://storage.test/blob"})
        return httpx.Response(200, content=zipped(**{"changes.tsv": "one\ntwo\n"}))

    with client(handler) as gh, gh.artifact(41, "plan") as archive:
        assert archive is not None
        lines = gh.member_lines(archive, "changes.tsv")
        assert lines is not None and [line.rstrip("\n") for line in lines] == ["one", "two"]
        assert gh.member_lines(archive, "plan.json") is None
    assert seen == {"api.github.test": "Bearer ghs_token", "storage.test": None}


def test_an_artifact_larger_than_the_cap_is_not_read() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/artifacts"):
            url = "https://api.github.test/zip"
            return httpx.Response(
                200, json={"artifacts": [{"name": "plan", "archive_download_url": url}]}
            )
        return httpx.Response(200, content=zipped(**{"changes.tsv": "x" * 5000}))

    with (
        client(handler, max_artifact_bytes=1000) as gh,
        pytest.raises(GitHubError, match="larger than 1,000 bytes"),
        gh.artifact(41, "plan"),
    ):
        pass


def test_no_artifact_of_that_name_is_none() -> None:
    answer = httpx.Response(200, content=json.dumps({"artifacts": []}).encode())
    with client(lambda request: answer) as gh, gh.artifact(41, "plan") as archive:
        assert archive is None
