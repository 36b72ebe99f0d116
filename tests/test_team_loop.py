"""The GitOps loop as a team runs it, with real git: a bare origin, fresh (shallow) clones as the
workflows' checkouts, the steps of the workflows `engage-sync init` scaffolds (`engage-sync ci
...`), the emulator as a separate process and a fake GitHub API. Every lead set here uses
`duplicateHandling: RETAIN_ALL`, where loading a lead twice leaves two dialable records."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Served, engage_sync, finish, reap, start_emulator, stop_emulator, wait_until
from github_fake import FakeGitHub
from workflow_steps import run_step, start_step

pytestmark = pytest.mark.e2e

CAMPAIGN = 136785
HEAD = f"campaign: {CAMPAIGN}\noptions:\n  duplicateHandling: RETAIN_ALL\n"
LEADSET = "leadsets/team.yaml"
LEDGER = "engage-sync.evidence.jsonl"


def lead(i: int, name: str = "Ada") -> str:
    return f'  - {{externId: "T-{i:04d}", leadPhone: "41555{i:05d}", firstName: {name}}}\n'


def leadset(leads: dict[int, str], removed: tuple[int, ...] = ()) -> str:
    text = HEAD + "leads:\n" + "".join(lead(i, n) for i, n in sorted(leads.items()))
    if removed:
        text += "removed:\n" + "".join(f'  - {{externId: "T-{i:04d}"}}\n' for i in removed)
    return text


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


class Team:
    """Developers opening and merging pull requests, and the workflows that run on them."""

    def __init__(self, root: Path, served: Served, gh: FakeGitHub) -> None:
        self.root, self.served, self.gh = root, served, gh
        self.origin = root / "origin.git"
        self.url = f"file://{self.origin}"
        self.runs = 1000
        self.clones = 0
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.origin)], check=True)
        seed = root / "seed"
        assert engage_sync("init", str(seed), "--account", "99990001").code == 0
        (seed / "leadsets" / "example.yaml").unlink()
        (seed / "leadsets" / ".keep").write_text("")
        git(seed, "init", "-q", "-b", "main")
        self._identity(seed)
        git(seed, "remote", "add", "origin", self.url)
        git(seed, "add", "-A")
        git(seed, "commit", "-q", "-m", "scaffold")
        git(seed, "push", "-q", "origin", "main")
        self.dev = self.clone("dev", shallow=False)
        self.leads: dict[int, str] = {}

    @staticmethod
    def _identity(repo: Path) -> None:
        git(repo, "config", "user.name", "Dev")
        git(repo, "config", "user.email", "dev@example.com")

    def clone(self, name: str = "", shallow: bool = True) -> Path:
        self.clones += 1
        dest = self.root / f"{name or 'run'}-{self.clones}"
        depth = ["--depth", "1"] if shallow else []
        subprocess.run(
            ["git", "clone", "-q", *depth, "--branch", "main", self.url, str(dest)], check=True
        )
        return dest

    def gh_env(self) -> dict[str, str]:
        return {
            "GITHUB_TOKEN": "ghs_fake",
            "GITHUB_REPOSITORY": "o/r",
            "GITHUB_API_URL": self.gh.url,
        }

    def script(
        self, repo: Path, name: str, env: dict[str, str], *args: str
    ) -> subprocess.CompletedProcess[str]:
        """The workflow step that runs `engage-sync ci <command>` (name: ci-<command>.sh)."""
        command = name.removeprefix("ci-").removesuffix(".sh")
        return run_step(repo, command, {"GITHUB_ACTIONS": "true", **env}, *args)

    # -- a developer ---------------------------------------------------------------------------

    def open_pr(self, number: int, edit: Callable[[Path], None], base: str = "origin/main") -> None:
        git(self.dev, "fetch", "-q", "origin")
        git(self.dev, "checkout", "-q", "-B", f"pr-{number}", base)
        edit(self.dev)
        git(self.dev, "add", "-A")
        git(self.dev, "commit", "-q", "-m", f"change {number}")
        git(self.dev, "push", "-q", "-f", "origin", f"pr-{number}")

    def write(self, leads: dict[int, str], removed: tuple[int, ...] = ()) -> Callable[[Path], None]:
        def edit(repo: Path) -> None:
            (repo / LEADSET).write_text(leadset(leads, removed))

        return edit

    def merge(self, number: int, conflict: str | None = None) -> str:
        git(self.dev, "fetch", "-q", "origin")
        git(self.dev, "checkout", "-q", "-B", "main", "origin/main")
        extra = ["-X", conflict] if conflict else []
        git(
            self.dev,
            "merge",
            "-q",
            "--no-ff",
            *extra,
            f"origin/pr-{number}",
            "-m",
            f"Merge #{number}",
        )
        git(self.dev, "push", "-q", "origin", "main")
        sha = git(self.dev, "rev-parse", "HEAD")
        self.gh.pulls_by_sha[sha] = [number]
        self.gh.merged(number, git(self.dev, "rev-parse", f"origin/pr-{number}"))
        return sha

    # -- the workflows -----------------------------------------------------------------------

    def plan(self, number: int | None) -> str:
        """The plan workflow: the pull request merged into main (GitHub's test merge), or main
        itself (workflow_dispatch); then its artifact uploaded. Returns the checksum."""
        repo = self.clone("plan", shallow=False)
        self._identity(repo)
        env = {**self.gh_env(), **self.target_env(), "GITHUB_RUN_ID": str(self.runs)}
        head = git(repo, "rev-parse", "HEAD")
        if number is not None:
            git(repo, "fetch", "-q", "origin", f"pr-{number}")
            head = git(repo, "rev-parse", "FETCH_HEAD")
            git(repo, "merge", "-q", "--no-ff", "FETCH_HEAD", "-m", "test merge")
            env["PR_NUMBER"] = str(number)
        done = self.script(repo, "ci-plan.sh", env)
        assert done.returncode == 0, done.stdout + done.stderr
        self.gh.plan_run(self.runs, number, head)
        self.gh.upload(self.runs, "engage-sync-plan", repo / "plan-output")
        self.runs += 1
        return str(json.loads((repo / "plan-output" / "plan.json").read_text())["checksum"])

    def target_env(self) -> dict[str, str]:
        """Where the apply job sends (the plan job aims at the same account and server: the
        state records where each campaign was loaded)."""
        return self.served.where()

    def apply_env(self, **extra: str) -> dict[str, str]:
        return {
            **self.gh_env(),
            **self.served.env("jwt"),
            "GITHUB_RUN_ID": str(self.runs),
            "GITHUB_REF_NAME": "main",
            "ENGAGE_SYNC_PUSH_BACKOFF": "0.1",
            **extra,
        }

    def apply(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """The apply workflow: its step, then its report kept as the run's artifact."""
        repo = self.clone("apply")
        run, env = self.runs, self.apply_env(**extra)
        self.runs += 1
        done = self.script(repo, "ci-apply.sh", env, *args)
        self.gh.apply_run(run, git(repo, "rev-parse", "HEAD"))
        if (repo / "apply-output").is_dir():
            self.gh.upload(run, "engage-sync-apply-report", repo / "apply-output")
        return done

    # -- what is true afterwards ---------------------------------------------------------------

    def origin_state(self) -> dict[str, Any]:
        return dict(json.loads(self.origin_file("engage-sync.state.json")))

    def origin_file(self, name: str) -> str:
        shown = subprocess.run(
            ["git", "--git-dir", str(self.origin), "show", f"main:{name}"],
            capture_output=True,
            text=True,
            check=True,
        )
        return shown.stdout

    def main_log(self) -> list[str]:
        git(self.dev, "fetch", "-q", "origin")
        return git(self.dev, "log", "--format=%s", "origin/main").splitlines()

    def check(self, declared: dict[int, str], removed: tuple[int, ...] = ()) -> None:
        """Engage holds one dialable record per declared lead, with its content, and none for
        a removed one; the shared state records every one; a fresh apply posts nothing."""
        rows = self.served.leads(CAMPAIGN)
        live = [
            r
            for r in rows
            if r["leadState"] not in ("CANCELLED", "PAUSED", "COMPLETE") and not r["suppressed"]
        ]
        by_id: dict[str, list[dict[str, Any]]] = {}
        for r in live:
            by_id.setdefault(r["externId"], []).append(r)
        want = {f"T-{i:04d}" for i in declared}
        assert set(by_id) == want, sorted(set(by_id) ^ want)
        doubled = sorted(k for k, v in by_id.items() if len(v) != 1)
        assert doubled == [], f"{len(doubled)} lead(s) dialable more than once: {doubled[:5]}"
        for i, name in declared.items():
            assert by_id[f"T-{i:04d}"][0]["lead"]["firstName"] == name, i
        state = self.origin_state()["campaigns"][str(CAMPAIGN)]
        assert set(state["leads"]) == want
        assert {f"T-{i:04d}" for i in removed} <= set(state.get("removed", []))
        posts = len(self.served.loader_posts())
        again = self.apply()
        assert again.returncode == 0, again.stdout + again.stderr
        assert "Nothing to post." in again.stdout
        assert len(self.served.loader_posts()) == posts


@pytest.fixture
def team(tmp_path: Path, github: FakeGitHub) -> Iterator[Team]:
    served = start_emulator("--latency", "0.05")
    try:
        yield Team(tmp_path, served, github)
    finally:
        stop_emulator(served)


def bootstrap(team: Team, count: int = 40) -> dict[int, str]:
    """The team's first pull request: `count` leads, reviewed, merged, applied."""
    leads = {i: "Ada" for i in range(1, count + 1)}
    team.open_pr(1, team.write(leads))
    team.plan(1)
    team.merge(1)
    done = team.apply()
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Recorded {count} lead(s)" in done.stdout
    return leads


def test_a_merge_that_lands_while_apply_runs_does_not_lose_the_state(
    tmp_path: Path,
    github: FakeGitHub,
) -> None:
    # a loader of two calls a second answering in a second: the apply's ten calls take seconds
    # (with the documented limits all ten would fly at once and be done before a merge lands)
    served = start_emulator("--latency", "1.0", "--loader-limits", "2/1")
    try:
        team = Team(tmp_path, served, github)
        leads = bootstrap(team, 10)
        more = {**leads, **{i: "Bea" for i in range(11, 41)}}
        team.open_pr(2, team.write(more))
        team.plan(2)
        team.open_pr(3, team.write({**leads, 1: "Cy"}))  # reviewed on the same main as #2
        team.plan(3)
        team.merge(2)
        repo = team.clone("apply")
        posts = len(served.loader_posts())
        env = {"GITHUB_ACTIONS": "true", "ENGAGE_SYNC_LOADER_LIMITS": "2/1", **team.apply_env()}
        running = start_step(repo, "apply", env, "--batch-size", "3")
        try:
            wait_until(lambda: len(served.loader_posts()) > posts)
            assert running.poll() is None, "the apply ended before a merge could race it"
            team.merge(3)  # lands while the apply is posting
            out, err = finish(running)
        finally:
            reap(running)
        assert running.returncode == 0, out + err
        assert "Recorded 30 lead(s)" in out
        # the state commit went on top of the merge that landed meanwhile, not lost
        assert team.main_log()[:2] == ["engage-sync: record applied leads [skip ci]", "Merge #3"]
        assert len(team.origin_state()["campaigns"][str(CAMPAIGN)]["leads"]) == 40
        final = team.apply()  # #3's own apply: its reviewed change set composes
        assert final.returncode == 0, final.stdout + final.stderr
        assert "Recorded 1 lead(s)" in final.stdout
        team.check({**more, 1: "Cy"})
    finally:
        stop_emulator(served)


def test_two_pull_requests_reviewed_on_one_main_are_applied_in_turn(team: Team) -> None:
    leads = bootstrap(team)
    two = {**leads, 1: "Zoe", 2: "Zoe"}
    team.open_pr(2, team.write(two))
    team.plan(2)
    three = {**{k: v for k, v in leads.items() if k != 40}, 41: "Cy", 42: "Cy"}
    team.open_pr(3, team.write(three, removed=(40,)))
    team.plan(3)
    team.merge(2)
    first = team.apply()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Reviewed plans: #2. Of this plan's changes 2 were reviewed, 0 were not" in first.stdout
    team.merge(3)  # git merges both edits; #3 was reviewed before #2 was applied
    second = team.apply()
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Of this plan's changes 3 were reviewed, 0 were not" in second.stdout
    merged = {**{k: v for k, v in two.items() if k != 40}, 41: "Cy", 42: "Cy"}
    team.check(merged, removed=(40,))


def test_two_reviews_that_change_the_same_lead_differently_stop_and_name_it(team: Team) -> None:
    leads = bootstrap(team)
    team.open_pr(2, team.write({**leads, 5: "Zed"}))
    team.plan(2)
    team.open_pr(3, team.write({**leads, 5: "Yan", 41: "Cy"}))
    team.plan(3)
    team.merge(2)
    assert team.apply().returncode == 0
    team.merge(3, conflict="theirs")  # the conflict resolved to #3's version of T-0005
    stopped = team.apply()
    assert stopped.returncode == 5, stopped.stdout + stopped.stderr
    assert "campaign 136785: update T-0005 (#3 reviewed other content for it)" in stopped.stderr
    assert "Yan" not in stopped.stdout + stopped.stderr  # names, never values
    # what was reviewed as it is was carried out: T-0041
    rows = {r["externId"]: r for r in team.served.leads(CAMPAIGN)}
    assert "T-0041" in rows and rows["T-0005"]["lead"]["firstName"] == "Zed"
    # the way forward: a plan on main, reviewed, applied with its checksum
    checksum = team.plan(None)
    forward = team.apply(ENGAGE_SYNC_REVIEWED_CHECKSUM=checksum)
    assert forward.returncode == 0, forward.stdout + forward.stderr
    team.check({**leads, 5: "Yan", 41: "Cy"})


def test_two_pull_requests_merged_before_one_apply_are_both_carried_out(team: Team) -> None:
    leads = bootstrap(team)
    team.open_pr(2, team.write({**leads, 41: "Cy"}))
    team.plan(2)
    team.open_pr(3, team.write({**leads, 3: "Eve"}))
    team.plan(3)
    team.merge(2)
    team.merge(3)  # the pending apply of #2 was cancelled by GitHub: one run for both
    done = team.apply()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "their pull requests: #2, #3" in done.stdout
    team.check({**leads, 41: "Cy", 3: "Eve"})


def test_a_commit_pushed_after_the_plan_comment_is_not_applied(team: Team) -> None:
    leads = bootstrap(team)
    reviewed = {**leads, 41: "Cy"}
    team.open_pr(2, team.write(reviewed))
    team.plan(2)
    # pushed to the pull request after its plan was posted, merged before anyone re-planned:
    # an edit, a new lead and a tombstone
    late = {**{k: v for k, v in reviewed.items() if k != 7}, 1: "Mallory", 42: "Mallory"}
    git(team.dev, "checkout", "-q", "pr-2")
    (team.dev / LEADSET).write_text(leadset(late, removed=(7,)))
    git(team.dev, "commit", "-q", "-am", "late edit")
    git(team.dev, "push", "-q", "origin", "pr-2")
    team.merge(2)
    stopped = team.apply()
    assert stopped.returncode == 5, stopped.stdout + stopped.stderr
    # the plan reviewed an earlier head: none of the pull request counts as reviewed
    assert "a later push was never planned: its changes count as not reviewed" in stopped.stdout
    for named in ("update T-0001", "create T-0042", "create T-0041"):
        assert f"campaign 136785: {named} (no reviewed plan shows it)" in stopped.stderr
    assert "Mallory" not in stopped.stdout + stopped.stderr
    rows = {r["externId"]: r for r in team.served.leads(CAMPAIGN)}
    assert "T-0041" not in rows and "T-0042" not in rows
    assert rows["T-0001"]["lead"]["firstName"] == "Ada"
    assert rows["T-0007"]["leadState"] == "CANCELLED"  # a tombstone never waits for a review
    # what was carried out is in the shared state
    state = team.origin_state()["campaigns"][str(CAMPAIGN)]
    assert "T-0041" not in state["leads"] and "T-0007" in state["removed"]
    # and so is its evidence, in the same commit
    lines = [json.loads(line) for line in team.origin_file(LEDGER).splitlines()]
    # the removal's line, and its phone's (every tombstone stops its phone too: do not call)
    (evidence,) = [x for x in lines if "externId" in x]
    assert len(lines) == 2 and sum("phone" in x for x in lines) == 1
    assert evidence["externId"] == "T-0007" and evidence["acts"][0]["leadIds"]
    assert evidence["requestedFrom"] == "git"  # the late commit added the tombstone's line
    changed = git(team.origin, "show", "--name-only", "--format=", "main").split()
    assert sorted(changed) == [LEDGER, "engage-sync.state.json"]
    # the next merge's apply still refuses the unreviewed rest; the way forward applies it
    assert team.apply().returncode == 5
    checksum = team.plan(None)
    forward = team.apply(ENGAGE_SYNC_REVIEWED_CHECKSUM=checksum)
    assert forward.returncode == 0, forward.stdout + forward.stderr
    team.check(late, removed=(7,))


def test_an_apply_that_fails_before_posting_leaves_the_state_untouched(team: Team) -> None:
    leads = bootstrap(team)
    team.open_pr(2, team.write({**leads, 41: "Cy"}))
    team.plan(2)
    team.merge(2)
    before = team.main_log()
    failed = team.apply(RINGCENTRAL_JWT="wrong")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert team.main_log() == before  # no state commit, no serial bump
    fixed = team.apply()  # the secret fixed: the same reviewed plan still applies
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    team.check({**leads, 41: "Cy"})


REFUSE_MAIN = """#!/bin/sh
while read old new ref; do
  if [ "$ref" = "refs/heads/main" ] && [ -e "$GIT_DIR/refuse-main" ]; then
    echo "main is locked"; exit 1
  fi
  if [ -e "$GIT_DIR/refuse-all" ]; then echo "down"; exit 1; fi
done
"""


def five_more_merged_with_a_refusing_origin(team: Team) -> dict[int, str]:
    """Bootstrapped, an origin that refuses pushes once told to, and a reviewed PR adding five
    leads merged: returns the leads the first PR declared."""
    leads = bootstrap(team)
    hook = team.origin / "hooks" / "pre-receive"
    hook.write_text(REFUSE_MAIN)
    hook.chmod(0o755)
    team.open_pr(2, team.write({**leads, **{i: "Cy" for i in range(41, 46)}}))
    team.plan(2)
    team.merge(2)
    return leads


def test_a_state_that_cannot_be_pushed_is_kept_and_restored_by_the_next_apply(team: Team) -> None:
    leads = five_more_merged_with_a_refusing_origin(team)
    (team.origin / "refuse-main").touch()
    lost = team.apply()
    assert lost.returncode == 1, lost.stdout + lost.stderr
    assert "Recorded 5 lead(s)" in lost.stdout
    assert "::error::the state could not be pushed to main" in lost.stdout
    assert "git fetch origin engage-sync/rescue/" in lost.stdout
    branches = git(team.dev, "ls-remote", "--heads", "origin", "engage-sync/rescue/*")
    assert branches.count("refs/heads/engage-sync/rescue/") == 1
    (team.origin / "refuse-main").unlink()
    posts = len(team.served.loader_posts())
    restored = team.apply()
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "Restored the state an earlier apply kept on engage-sync/rescue/" in restored.stdout
    assert len(team.served.loader_posts()) == posts  # nothing loaded again
    assert git(team.dev, "ls-remote", "--heads", "origin", "engage-sync/rescue/*") == ""
    team.check({**leads, **{i: "Cy" for i in range(41, 46)}})


def test_a_state_lost_with_no_rescue_branch_is_resolved_by_looking_not_loading(
    team: Team,
) -> None:
    leads = five_more_merged_with_a_refusing_origin(team)
    (team.origin / "refuse-all").touch()  # GitHub down: no state commit, no rescue branch
    lost = team.apply()
    assert lost.returncode == 1 and "Recorded 5 lead(s)" in lost.stdout
    assert "report folder (apply-output/engage-sync.state.json" in lost.stdout
    (team.origin / "refuse-all").unlink()
    posts = len(team.served.loader_posts())
    again = team.apply()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "5 lead(s) the state did not hold were already in Engage" in again.stderr
    assert len(team.served.loader_posts()) == posts  # looked up, recorded, not posted again
    team.check({**leads, **{i: "Cy" for i in range(41, 46)}})
