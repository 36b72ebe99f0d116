"""The documentation holds together: every link in the README, docs/, bench/ and the CHANGELOG
leads to a file that exists and, with an anchor, to a heading that exists (GitHub's slugs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = sorted(
    [
        REPO / "README.md",
        REPO / "CHANGELOG.md",
        REPO / "bench" / "README.md",
        *REPO.glob("docs/*.md"),
    ]
)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but - and _ dropped, spaces as -."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def links(page: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8")))


def test_the_pages_exist_and_the_readme_is_short() -> None:
    for page in PAGES:
        assert page.is_file(), page
    assert len((REPO / "README.md").read_text().splitlines()) < 400


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_link_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto: ... not checked (no network)
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no such heading in {dest.name}")
    assert broken == []


def test_the_checker_finds_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("# Top `engage-sync plan [PATH...]`\n\n[a](#top-engage-sync-plan-path)\n")
    assert links(page) == ["#top-engage-sync-plan-path"]
    assert "top-engage-sync-plan-path" in anchors(page)
    assert "missing" not in anchors(page)


def test_user_documentation_carries_no_development_history() -> None:
    for page in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        text = page.read_text(encoding="utf-8")
        for history in (r"issue #\d+", r"\(#\d+\)", "this round", "the run before", "last stop"):
            assert not re.search(history, text, re.I), (page.name, history)


def test_user_documentation_points_to_nothing_outside_the_repository() -> None:
    """commands.md and emulator.md sent readers to a NOTES.md this repository does not hold:
    the API facts a user may need are in docs/design.md ("Where each behaviour comes from")."""
    for page in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        text = page.read_text(encoding="utf-8")
        for outside in ("NOTES.md", "NOTES describes", "../shared", "shared/engage-api"):
            assert outside not in text, (page.name, outside)
