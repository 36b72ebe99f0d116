"""The change sets reviewed on the pull requests merged since the last apply.

`ci plan` posts the plan as one pull-request comment that ends with a machine-readable trailer
(`Trailer`): the plan's checksum and the id of the workflow run whose artifact
(`engage-sync-plan`) holds the change set (`changes.tsv`). `ci apply` walks main's commits since
the last apply, asks GitHub which pull requests they came from, and for each one believes a
review only when every link can be checked (docs/gitops.md, Threat model):

- the comment was written by the workflow's bot, not by a person (anyone can comment, and
  anyone can write the trailer's text);
- the trailer is the comment's last line, the only place it is parsed (a campaign name in the
  plan's markdown cannot pose as one);
- the run it names is the plan workflow (its file on main: a pull request that changes that
  file cannot vouch for itself), triggered by `pull_request`, succeeded, for this pull request
  at the head commit that was merged (a plan of an earlier push does not cover a later one);
- the change set in that run's artifact gives the trailer's checksum.

Anything that fails is a note, and that pull request's changes count as not reviewed: apply then
carries out tombstones and names the rest (exit 5). Nothing here raises for a hostile answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..changeset import ChangeSet, parse_changeset_lines
from ..errors import ChangeSetError, GitHubError
from ..render import MARKER  # the first line, for people; the trailer is what counts
from .git import Commit
from .github import BOT_LOGIN, Comment, GitHub

ARTIFACT = "engage-sync-plan"
CHANGES = "changes.tsv"
PLAN_WORKFLOW = ".github/workflows/plan.yml"
# the trailer's one definition: written by `Trailer.render`, read by `trailer_of`, nowhere else
_FORMAT = "<!-- engage-sync-review checksum={checksum} run={run} -->"
_TRAILER = re.compile(
    re.escape(_FORMAT)
    .replace(re.escape("{checksum}"), "(?P<checksum>[0-9a-f]{64})")
    .replace(re.escape("{run}"), "(?P<run>[1-9][0-9]{0,19})")
)


@dataclass(frozen=True, slots=True)
class Trailer:
    """What a plan comment vouches for: the reviewed plan's checksum and the run holding its
    change set. Machine-readable, on the comment's last line; the plan's sentences above it are
    for people and are never read back."""

    checksum: str
    run: int

    def render(self) -> str:
        return _FORMAT.format(checksum=self.checksum, run=self.run)


def trailer_of(body: str) -> Trailer | None:
    """The trailer, when it is the comment's last line; nothing else in a comment is read."""
    lines = body.rstrip().rsplit("\n", 1)
    found = _TRAILER.fullmatch(lines[-1].strip())
    return Trailer(found["checksum"], int(found["run"])) if found else None


def comment_body(plan_markdown: str, checksum: str, run_id: str | None) -> str:
    """The pull-request comment: the markdown plan, then the trailer naming its checksum and
    the run holding its change set (hidden; without a run id, no trailer: nothing to verify)."""
    body = plan_markdown if plan_markdown.startswith(MARKER) else f"{MARKER}\n{plan_markdown}"
    if run_id and run_id.isdigit():
        body = f"{body.rstrip()}\n{Trailer(checksum, int(run_id)).render()}\n"
    return body


def is_plan_comment(comment: Comment, bot: str = BOT_LOGIN) -> bool:
    """A plan comment engage-sync may read or update: the bot's, and it says so."""
    return (
        comment.by_bot
        and comment.author == bot
        and (comment.body.startswith(MARKER) or trailer_of(comment.body) is not None)
    )


def upsert_comment(github: GitHub, number: int, body: str, bot: str = BOT_LOGIN) -> str:
    """The bot's one plan comment on the pull request, created or updated in place (never a
    comment somebody else wrote, whatever it carries). Returns what it did."""
    mine = [c for c in github.comments(number) if is_plan_comment(c, bot)]
    if mine:
        github.update_comment(mine[0].id, body)
        return f"updated plan comment {mine[0].id} on #{number}"
    made = github.add_comment(number, body)
    return f"posted plan comment {made} on #{number}"


@dataclass
class Reviews:
    """What the merged pull requests' reviews give, and what could not be read."""

    changesets: list[ChangeSet] = field(default_factory=list)
    pulls: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Rules:
    """Who writes plan comments, which workflow plans, and which branch is applied."""

    bot: str = BOT_LOGIN
    plan_workflow: str = PLAN_WORKFLOW
    branch: str = "main"


def find_reviews(github: GitHub, commits: Iterable[Commit], rules: Rules | None = None) -> Reviews:
    """The reviewed change sets of the pull requests the commits came from. A GitHub failure
    makes the pull requests it concerns unreviewed (a note each), never an exception."""
    rules = rules or Rules()
    found = Reviews()
    for commit in commits:
        try:
            numbers = github.pulls_for_commit(commit.sha)
        except GitHubError as e:
            found.notes.append(
                f"commit {commit.sha[:12]}: cannot ask GitHub which pull request it came from "
                f"({e}): its changes count as not reviewed"
            )
            continue
        for number in numbers:
            if number not in found.pulls:
                found.pulls.append(number)
    for number in found.pulls:
        try:
            changeset, why = _review(github, number, rules)
        except (GitHubError, ChangeSetError) as e:
            changeset, why = None, str(e)
        if changeset is None:
            why = why.removeprefix(f"#{number}: ")  # a change-set error names its source
            found.notes.append(f"#{number}: {why}: its changes count as not reviewed")
        else:
            found.changesets.append(changeset)
    return found


def _review(github: GitHub, number: int, rules: Rules) -> tuple[ChangeSet | None, str]:
    """The change set reviewed on one pull request, or None and why not."""
    pull = github.pull(number)
    if not pull.merged or pull.base_ref != rules.branch:
        return None, f"it is not a pull request merged into {rules.branch}"
    trailers = [
        t
        for c in github.comments(number)
        if is_plan_comment(c, rules.bot)
        if (t := trailer_of(c.body))
    ]
    if not trailers:
        return None, f"no plan comment by {rules.bot} (it changed no lead set?)"
    if rules.plan_workflow in github.pull_files(number):
        return None, (
            f"it changes the plan workflow ({rules.plan_workflow}), so its own plan cannot "
            "vouch for it; plan main by hand and apply with that plan's checksum"
        )
    why = ""
    for trailer in reversed(trailers):  # the newest first; any one that checks out will do
        why = _check_run(github, trailer.run, pull.head_sha, number, rules)
        if why:
            continue
        with github.artifact(trailer.run, ARTIFACT) as archive:
            lines = github.member_lines(archive, CHANGES) if archive is not None else None
            if lines is None:
                why = f"the change set of its plan (run {trailer.run}) is gone or expired"
                continue
            changeset = parse_changeset_lines(lines, f"#{number}")
        if changeset.checksum != trailer.checksum:
            why = (
                f"the change set in run {trailer.run} has checksum {changeset.checksum}, not "
                f"the {trailer.checksum} its comment shows"
            )
            continue
        return changeset, ""
    return None, why


def _check_run(github: GitHub, run_id: int, head: str, number: int, rules: Rules) -> str:
    """Why the run a plan comment names is not the plan of this pull request's merged head
    ("" when it is)."""
    run = github.run(run_id)
    if run.path != rules.plan_workflow:
        return f"run {run_id} is not the plan workflow ({rules.plan_workflow})"
    if run.event != "pull_request":
        return f"run {run_id} was not triggered by a pull request"
    if run.pulls and number not in run.pulls:
        return f"run {run_id} planned another pull request"
    if not head or run.head_sha != head:
        return (
            f"its plan (run {run_id}) is of commit {run.head_sha[:12] or '?'}, but the pull "
            f"request merged {head[:12] or '?'}: a later push was never planned"
        )
    if run.conclusion != "success":
        return f"run {run_id} did not succeed ({run.conclusion or 'still running'})"
    return ""
