"""The team loop against a contributor who can push branches, comment and open pull requests
but not merge to main (docs/gitops.md, Threat model): each test is one attack the security audit
of issue #29 made, run with real git, the scaffolded workflows' steps, the emulator and a fake
GitHub that knows who wrote each comment and can serve hostile runs and artifacts. The apply
takes its base URL from engage-sync.yaml, as a scaffolded repository does, and a loopback
"attacker" server counts every request that reaches it."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import start_emulator, stop_emulator
from github_fake import FakeGitHub
from test_team_loop import CAMPAIGN, LEADSET, Team, git, leadset

pytestmark = pytest.mark.e2e

STATE = "engage-sync.state.json"


class Attacker:
    """A server on loopback that answers everything and keeps what it was sent."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        attacker = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                attacker.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length).decode("utf-8", "replace"),
                    }
                )
                body = b'{"accessToken": "x", "refreshToken": "y"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def attacker() -> Iterator[Attacker]:
    server = Attacker()
    try:
        yield server
    finally:
        server.close()


class FileTeam(Team):
    """A team whose base URL is in engage-sync.yaml (as `init` writes it), not in the apply
    step's environment; the emulator's host is the one the protected environment allows."""

    def __init__(self, root: Path, served: Any, gh: FakeGitHub) -> None:
        super().__init__(root, served, gh)
        config = self.dev / "engage-sync.yaml"
        config.write_text(
            config.read_text().replace(
                "https://ringcx.ringcentral.com/voice", self.served.base_url, 1
            )
        )
        git(self.dev, "commit", "-qam", "point at our Engage")
        git(self.dev, "push", "-q", "origin", "main")

    def apply_env(self, **extra: str) -> dict[str, str]:
        env = super().apply_env(**extra)
        env.pop("ENGAGE_BASE_URL")  # from engage-sync.yaml, as in a scaffolded repository
        return env

    def target_env(self) -> dict[str, str]:
        env = super().target_env()
        env.pop("ENGAGE_BASE_URL")
        return env


@pytest.fixture
def team(tmp_path: Path, github: FakeGitHub) -> Iterator[FileTeam]:
    served = start_emulator("--latency", "0.02")
    try:
        yield FileTeam(tmp_path, served, github)
    finally:
        stop_emulator(served)


def bootstrap(team: Team, count: int = 10) -> dict[int, str]:
    leads = {i: "Ada" for i in range(1, count + 1)}
    team.open_pr(1, team.write(leads))
    team.plan(1)
    team.merge(1)
    done = team.apply()
    assert done.returncode == 0, done.stdout + done.stderr
    return leads


def push_branch(team: Team, name: str, edit: Any, message: str) -> str:
    """A contributor pushes a branch with one commit on main (they cannot push to main)."""
    git(team.dev, "fetch", "-q", "origin")
    git(team.dev, "checkout", "-q", "-B", "attack", "origin/main")
    edit(team.dev)
    git(team.dev, "commit", "-qam", message)
    git(team.dev, "push", "-q", "-f", "origin", f"HEAD:refs/heads/{name}")
    return git(team.dev, "rev-parse", "HEAD")


def state_commit_message(applied: str) -> str:
    return f"engage-sync: record applied leads [skip ci]\n\nEngage-Sync-Applied: {applied}"


def secrets_seen(attacker: Attacker) -> list[str]:
    return [
        r["headers"].get("Authorization", "") + r["headers"].get("X-Auth-Token", "")
        for r in attacker.requests
    ]


# -- finding 1: rescue branches ----------------------------------------------------------------


def test_a_pushed_rescue_branch_that_changes_the_settings_is_not_restored(
    team: FileTeam, attacker: Attacker
) -> None:
    leads = bootstrap(team)
    main = git(team.dev, "rev-parse", "origin/main")

    def evil(repo: Path) -> None:
        config = repo / "engage-sync.yaml"
        config.write_text(config.read_text().replace(team.served.base_url, f"{attacker.url}/voice"))

    push_branch(
        team, "engage-sync/rescue/20261207T000000Z-424242", evil, state_commit_message(main)
    )
    team.open_pr(2, team.write({**leads, 11: "Cy"}))
    team.plan(2)
    team.merge(2)
    done = team.apply()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "::warning::engage-sync/rescue/20261207T000000Z-424242 was not restored" in done.stdout
    assert "changes engage-sync.yaml besides the state" in done.stdout
    assert attacker.requests == []  # not one token, not one lead
    assert team.served.base_url in team.origin_file("engage-sync.yaml")
    team.check({**leads, 11: "Cy"})


def test_a_rescue_branch_that_marks_an_opt_out_as_done_is_not_restored(team: FileTeam) -> None:
    leads = bootstrap(team)
    main = git(team.dev, "rev-parse", "origin/main")

    def forge(repo: Path) -> None:
        state = json.loads((repo / STATE).read_text())
        state["campaigns"][str(CAMPAIGN)]["removed"] = ["T-0003"]
        del state["campaigns"][str(CAMPAIGN)]["leads"]["T-0003"]
        (repo / STATE).write_text(json.dumps(state, indent=2))

    run = team.runs - 1  # a real apply run (the bootstrap's), whose report holds no such state
    name = f"engage-sync/rescue/20261207T000000Z-{run}"
    push_branch(team, name, forge, state_commit_message(main))
    kept = {k: v for k, v in leads.items() if k != 3}
    team.open_pr(2, team.write(kept, removed=(3,)))  # the person asked not to be called
    team.plan(2)
    team.merge(2)
    done = team.apply()
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"its engage-sync.state.json is not the one run {run} kept" in done.stdout
    rows = [r for r in team.served.leads(CAMPAIGN) if r["externId"] == "T-0003"]
    assert rows and all(r["leadState"] == "CANCELLED" for r in rows)
    team.check(kept, removed=(3,))


def test_a_genuine_rescue_replayed_after_it_was_restored_is_refused_as_stale(
    team: FileTeam,
) -> None:
    leads = bootstrap(team)
    hook = team.origin / "hooks" / "pre-receive"
    hook.write_text(
        '#!/bin/sh\nwhile read o n r; do [ -e "$GIT_DIR/refuse-main" ] && '
        '[ "$r" = refs/heads/main ] && exit 1; done; exit 0\n'
    )
    hook.chmod(0o755)
    team.open_pr(2, team.write({**leads, 11: "Cy"}))
    team.plan(2)
    team.merge(2)
    (team.origin / "refuse-main").touch()
    assert team.apply().returncode == 1  # the state is kept on a rescue branch
    (branch,) = [
        line.split("refs/heads/")[1]
        for line in git(team.dev, "ls-remote", "--heads", "origin").splitlines()
        if "rescue" in line
    ]
    kept = git(team.dev, "ls-remote", "origin", branch).split()[0]
    (team.origin / "refuse-main").unlink()
    restored = team.apply()
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"Restored the state an earlier apply kept on {branch}" in restored.stdout
    git(team.dev, "fetch", "-q", "origin", kept)
    git(team.dev, "push", "-q", "origin", f"{kept}:refs/heads/{branch}")  # replayed
    again = team.apply()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "it is stale" in again.stdout
    team.check({**leads, 11: "Cy"})


# -- finding 2: forged reviews -------------------------------------------------------------------


def test_a_plan_comment_written_by_a_person_is_not_a_review(team: FileTeam) -> None:
    leads = bootstrap(team)
    # pull request 3 is planned (by the workflow) but never reviewed nor merged
    team.open_pr(3, team.write({**leads, 66: "Mallory"}))
    checksum3 = team.plan(3)
    run3 = team.runs - 1
    # pull request 2 carries the same lead; its author writes the "plan comment" themselves,
    # naming #3's run, and no plan of #2 exists
    team.open_pr(2, team.write({**leads, 66: "Mallory"}))
    forged = (
        "<!-- engage-sync-plan -->\nPlan: 0 to create.\n"
        f"Plan checksum: `{checksum3}`\n<!-- engage-sync-run {run3} -->\n"
        f"<!-- engage-sync-review checksum={checksum3} run={run3} -->\n"
    )
    team.gh.comment(2, forged, user={"login": "mallory", "type": "User"})
    team.merge(2)
    stopped = team.apply()
    assert stopped.returncode == 5, stopped.stdout + stopped.stderr
    assert "#2: no plan comment by github-actions[bot]" in stopped.stdout
    assert "campaign 136785: create T-0066 (no reviewed plan shows it)" in stopped.stderr
    assert "T-0066" not in {r["externId"] for r in team.served.leads(CAMPAIGN)}


def test_a_bot_comment_naming_another_pull_requests_run_is_not_a_review(team: FileTeam) -> None:
    leads = bootstrap(team)
    team.open_pr(3, team.write({**leads, 66: "Mallory"}))
    checksum3 = team.plan(3)
    run3 = team.runs - 1
    team.open_pr(2, team.write({**leads, 66: "Mallory"}))
    # a workflow a contributor changed on their own branch can comment as the bot
    team.gh.comment(
        2, f"<!-- engage-sync-plan -->\n<!-- engage-sync-review checksum={checksum3} run={run3} -->"
    )
    team.merge(2)
    stopped = team.apply()
    assert stopped.returncode == 5, stopped.stdout + stopped.stderr
    assert f"run {run3} planned another pull request" in stopped.stdout
    assert "T-0066" not in {r["externId"] for r in team.served.leads(CAMPAIGN)}


def test_a_pull_request_that_changes_the_plan_workflow_cannot_vouch_for_itself(
    team: FileTeam,
) -> None:
    leads = bootstrap(team)
    team.open_pr(2, team.write({**leads, 11: "Cy"}))
    team.plan(2)
    merged = team.merge(2)
    team.gh.files[2] = [LEADSET, ".github/workflows/plan.yml"]
    stopped = team.apply()
    assert stopped.returncode == 5, stopped.stdout + stopped.stderr
    assert "it changes the plan workflow (.github/workflows/plan.yml)" in stopped.stdout
    assert merged
    # the way forward still works: a plan of main, reviewed, applied by its checksum
    checksum = team.plan(None)
    forward = team.apply(ENGAGE_SYNC_REVIEWED_CHECKSUM=checksum)
    assert forward.returncode == 0, forward.stdout + forward.stderr
    team.check({**leads, 11: "Cy"})


def test_a_campaign_name_that_looks_like_a_checksum_does_not_hijack_the_review(
    team: FileTeam,
) -> None:
    leads = bootstrap(team)
    fake = "0" * 64

    def edit(repo: Path) -> None:
        text = leadset({**leads, 11: "Cy"}).replace(
            f"campaign: {CAMPAIGN}\n",
            f'campaign: {{id: {CAMPAIGN}, name: "Plan checksum: `{fake}`"}}\n',
        )
        (repo / LEADSET).write_text(text)

    team.open_pr(2, edit)
    team.plan(2)
    team.merge(2)
    done = team.apply()
    # the review is found whatever the markdown holds (the emulator then refuses the name,
    # which is not Engage's: a real campaign would have to be named so)
    assert "Reviewed plans: #2. Of this plan's changes 1 were reviewed, 0 were not" in done.stdout


# -- finding 3: the base URL -----------------------------------------------------------------------


def test_a_reviewed_base_url_change_shows_in_the_plan_and_never_reaches_the_new_host(
    team: FileTeam, attacker: Attacker
) -> None:
    leads = bootstrap(team)
    before = team.plan(None)

    def evil(repo: Path) -> None:
        config = repo / "engage-sync.yaml"
        config.write_text(config.read_text().replace(team.served.base_url, f"{attacker.url}/voice"))

    team.open_pr(2, evil)
    checksum = team.plan(2)
    assert checksum != before  # the setting is in the checksum
    comment = team.gh.plan_comment(2)
    assert "engage-sync.yaml changed since the last apply" in comment
    assert f"{attacker.url}/voice" in comment and "baseUrl" in comment
    team.merge(2)
    refused = team.apply()
    assert refused.returncode == 1, refused.stdout + refused.stderr
    host = attacker.url.split("://")[1]
    assert f"Engage base URL: {host} is not a RingCentral host" in refused.stderr
    drift = team.script(team.clone("drift"), "ci-drift.sh", team.apply_env())
    assert drift.returncode == 1, drift.stdout + drift.stderr
    assert attacker.requests == [], secrets_seen(attacker)
    assert len(team.served.leads(CAMPAIGN)) == len(leads)


def test_an_unreviewed_settings_change_holds_back_all_but_the_tombstones(team: FileTeam) -> None:
    leads = bootstrap(team)
    # pushed straight to main (an admin bypassing review): rails loosened and a lead added
    git(team.dev, "fetch", "-q", "origin")
    git(team.dev, "checkout", "-q", "-B", "main", "origin/main")
    config = team.dev / "engage-sync.yaml"
    config.write_text(config.read_text().replace("maxCreates: 100000", "maxCreates: 9999999"))
    (team.dev / LEADSET).write_text(
        leadset({k: v for k, v in leads.items() if k != 2} | {11: "Cy"}, removed=(2,))
    )
    git(team.dev, "commit", "-qam", "straight to main")
    git(team.dev, "push", "-q", "origin", "main")
    stopped = team.apply()
    assert stopped.returncode == 5, stopped.stdout + stopped.stderr
    assert "settings: engage-sync.yaml changed (no reviewed plan shows it)" in stopped.stderr
    rows = {r["externId"]: r for r in team.served.leads(CAMPAIGN)}
    assert "T-0011" not in rows
    assert rows["T-0002"]["leadState"] == "CANCELLED"  # the tombstone never waits


# -- finding 5: hostile artifacts and a failing API -----------------------------------------------


def _zip_with_unknown_method(member: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, text)
    data = bytearray(buffer.getvalue())
    # compression method 99 (AES): Python's zipfile cannot read it
    for offset in (8, data.rfind(b"PK\x01\x02") + 10):
        data[offset : offset + 2] = (99).to_bytes(2, "little")
    return bytes(data)


def test_a_hostile_artifact_makes_the_pull_request_unreviewed_and_the_tombstones_still_run(
    team: FileTeam,
) -> None:
    leads = bootstrap(team)
    kept = {k: v for k, v in leads.items() if k != 4}
    team.open_pr(2, team.write({**kept, 11: "Cy"}, removed=(4,)))
    team.plan(2)
    run = team.runs - 1
    team.gh.artifacts[run]["engage-sync-plan"] = _zip_with_unknown_method("changes.tsv", "x\n")
    team.merge(2)
    done = team.apply()
    assert done.returncode == 5, done.stdout + done.stderr
    assert "changes.tsv in the artifact cannot be read" in done.stdout
    rows = {r["externId"]: r for r in team.served.leads(CAMPAIGN)}
    assert rows["T-0004"]["leadState"] == "CANCELLED" and "T-0011" not in rows


def test_an_artifact_past_its_size_cap_is_not_read(team: FileTeam) -> None:
    leads = bootstrap(team)
    team.open_pr(2, team.write({**leads, 11: "Cy"}))
    team.plan(2)
    team.merge(2)
    done = team.apply(ENGAGE_SYNC_MAX_CHANGESET_BYTES="100")
    assert done.returncode == 5, done.stdout + done.stderr
    assert "is larger than 100 characters: not read" in done.stdout


def test_a_failing_github_api_never_stops_the_tombstones(team: FileTeam) -> None:
    leads = bootstrap(team)
    kept = {k: v for k, v in leads.items() if k != 4}
    team.open_pr(2, team.write({**kept, 11: "Cy"}, removed=(4,)))
    team.plan(2)
    team.merge(2)
    team.gh.failing.add("/repos/o/r/issues/")  # the comments cannot be read
    done = team.apply()
    assert done.returncode == 5, done.stdout + done.stderr
    assert "#2: GitHub API GET /repos/o/r/issues/2/comments" in done.stdout
    rows = {r["externId"]: r for r in team.served.leads(CAMPAIGN)}
    assert rows["T-0004"]["leadState"] == "CANCELLED" and "T-0011" not in rows


def test_ci_apply_refuses_to_run_on_another_branch(team: FileTeam) -> None:
    bootstrap(team)
    refused = team.apply(GITHUB_REF="refs/heads/mallory")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "ci apply runs on main only, and this run is on refs/heads/mallory" in refused.stderr
