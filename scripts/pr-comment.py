#!/usr/bin/env python3
"""Post the plan on its pull request as one comment, updated in place; find a reviewed checksum.

  pr-comment.py post PLAN.md          create or update the comment carrying the hidden marker
  pr-comment.py reviewed-checksum     print the checksum of the plan reviewed on the pull request
                                      that GITHUB_SHA came from (empty when there is none)

Environment: GITHUB_TOKEN, GITHUB_REPOSITORY (owner/name), PR_NUMBER (post), GITHUB_SHA
(reviewed-checksum), GITHUB_API_URL (default https://api.github.com). Standard library only, so it
runs on any runner's python3.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.error
import urllib.request
from typing import Any

MARKER = "<!-- engage-sync-plan -->"
CHECKSUM = re.compile(r"Plan checksum: `([0-9a-f]{64})`")


def api(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    base = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    request = urllib.request.Request(
        f"{base}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Authorization": f"Bearer {os.environ['GITHUB_TOKEN']}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def comments(repo: str, number: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        batch = api("GET", f"/repos/{repo}/issues/{number}/comments?per_page=100&page={page}")
        found.extend(batch)
        if len(batch) < 100:
            return found
        page += 1


def post(plan_file: str) -> int:
    repo, number = os.environ["GITHUB_REPOSITORY"], os.environ["PR_NUMBER"]
    with open(plan_file, encoding="utf-8") as f:
        body = f.read()
    if MARKER not in body:
        body = f"{MARKER}\n{body}"
    mine = [c for c in comments(repo, number) if MARKER in (c.get("body") or "")]
    if mine:
        api("PATCH", f"/repos/{repo}/issues/comments/{mine[0]['id']}", {"body": body})
        print(f"updated plan comment {mine[0]['id']} on #{number}")
    else:
        created = api("POST", f"/repos/{repo}/issues/{number}/comments", {"body": body})
        print(f"posted plan comment {created['id']} on #{number}")
    return 0


def reviewed_checksum() -> int:
    repo, sha = os.environ["GITHUB_REPOSITORY"], os.environ["GITHUB_SHA"]
    pulls = api("GET", f"/repos/{repo}/commits/{sha}/pulls")
    for pull in pulls:
        for comment in comments(repo, str(pull["number"])):
            match = CHECKSUM.search(comment.get("body") or "")
            if MARKER in (comment.get("body") or "") and match:
                print(match.group(1))
                return 0
    return 0


def main(argv: list[str]) -> int:
    try:
        os.environ["GITHUB_TOKEN"]
        if len(argv) == 2 and argv[0] == "post":
            return post(argv[1])
        if argv == ["reviewed-checksum"]:
            return reviewed_checksum()
    except KeyError as e:
        print(f"pr-comment: {e.args[0]} is not set", file=sys.stderr)
        return 1
    except urllib.error.URLError as e:
        print(f"pr-comment: GitHub API call failed: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"pr-comment: {e}", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
