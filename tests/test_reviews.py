"""gitops/reviews.py: the plan comment's trailer, written and read in one place, and which merged
pull requests' reviews are believed, against the fake GitHub on loopback (tests/github_fake.py)
with the real client. The threat model's attacks end to end are in test_review_gate.py."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import pytest
from github_fake import FakeGitHub

from engage_sync.changeset import HEADER, Checksum
from engage_sync.gitops.git import Commit
from engage_sync.gitops.github import GitHub
from engage_sync.gitops.reviews import (
    ARTIFACT,
    CHANGES,
    Trailer,
    comment_body,
    find_reviews,
    trailer_of,
    upsert_comment,
)
from engage_sync.render import MARKER

EMPTY = Checksum().hexdigest()  # the checksum of a change set with no items
HEAD = "a" * 40
MERGE = "b" * 40


def test_the_trailer_reads_back_what_it_writes_on_the_last_line_only() -> None:
    trailer = Trailer(EMPTY, 41)
    assert trailer.render() == f"<!-- engage-sync-review checksum={EMPTY} run=41 -->"
    assert trailer_of(f"{MARKER}\nanything at all\n{trailer.render()}\n\n") == trailer
    assert trailer_of(f"{trailer.render()}\nmore text") is None  # not the last line
    assert trailer_of(trailer.render().replace("run=41", "run=041")) is None
    assert trailer_of(trailer.render().replace(EMPTY, EMPTY.upper())) is None
    assert trailer_of(f"x {trailer.render()}") is None  # the whole line, nothing around it


@pytest.mark.parametrize(
    ("run_id", "trailer"),
    [("41", Trailer(EMPTY, 41)), (None, None), ("", None), ("41; rm", None)],
)
def test_a_comment_names_its_run_only_when_there_is_one(
    run_id: str | None, trailer: Trailer | None
) -> None:
    body = comment_body("## engage-sync plan\n", EMPTY, run_id)
    assert body.startswith(f"{MARKER}\n")  # added when the markdown lacks it
    assert trailer_of(body) == trailer


@pytest.fixture
def client(github: FakeGitHub) -> Iterator[GitHub]:
    with GitHub("ghs_fake", "o/r", api_url=github.url) as gh:
        yield gh


def planned(github: FakeGitHub, number: int, run: int, changes: str, body: str) -> None:
    """Pull request `number` merged at HEAD, planned by `run`, whose artifact holds `changes`,
    and the bot's plan comment `body`."""
    github.merged(number, HEAD)
    github.pulls_by_sha[MERGE] = [number]
    github.plan_run(run, number, HEAD)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(CHANGES, changes)
    github.artifacts.setdefault(run, {})[ARTIFACT] = buffer.getvalue()
    github.comment(number, body)


def commits() -> list[Commit]:
    return [Commit(MERGE, ("c" * 40, HEAD), "Merge #7")]


def test_a_review_is_its_trailer_and_artifact_whatever_the_plans_sentences_say(
    github: FakeGitHub, client: GitHub
) -> None:
    # no "Plan checksum" sentence, no summary: the prose is for people, never read back
    planned(github, 7, 41, f"{HEADER}{EMPTY}\n", comment_body("Reworded.", EMPTY, "41"))
    found = find_reviews(client, commits())
    assert found.notes == [] and found.pulls == [7]
    assert [c.checksum for c in found.changesets] == [EMPTY]


def test_a_trailer_whose_checksum_is_not_its_change_sets_is_no_review(
    github: FakeGitHub, client: GitHub
) -> None:
    other = "f" * 64
    planned(github, 7, 41, f"{HEADER}{EMPTY}\n", comment_body("plan", other, "41"))
    found = find_reviews(client, commits())
    assert found.changesets == []
    assert found.notes == [
        f"#7: the change set in run 41 has checksum {EMPTY}, not the {other} its comment "
        "shows: its changes count as not reviewed"
    ]


def test_a_persons_comment_with_a_trailer_is_no_review(github: FakeGitHub, client: GitHub) -> None:
    planned(github, 7, 41, f"{HEADER}{EMPTY}\n", "not a plan")
    github.comment(7, comment_body("plan", EMPTY, "41"), user={"login": "eve", "type": "User"})
    found = find_reviews(client, commits())
    assert found.changesets == []
    assert found.notes == [
        "#7: no plan comment by github-actions[bot] (it changed no lead set?): its changes "
        "count as not reviewed"
    ]


def test_the_bots_one_plan_comment_is_updated_in_place_never_a_persons(
    github: FakeGitHub, client: GitHub
) -> None:
    github.comment(7, comment_body("by eve", EMPTY, "1"), user={"login": "eve", "type": "User"})
    said = upsert_comment(client, 7, comment_body("first", EMPTY, "41"))
    assert said.startswith("posted plan comment")
    said = upsert_comment(client, 7, comment_body("second", EMPTY, "42"))
    assert said.startswith("updated plan comment")
    bodies = [c["body"] for c in github.comments[7]]
    assert len(bodies) == 2 and "by eve" in bodies[0] and "second" in bodies[1]
    assert trailer_of(bodies[1]) == Trailer(EMPTY, 42)
