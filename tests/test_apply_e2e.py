"""End to end: the installed `engage-sync` command against `engage-sync emulator` on a socket."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from conftest import (
    DATA,
    ENGAGE_SYNC,
    Served,
    engage_sync,
    load_json,
    spawn_engage_sync,
    start_emulator,
    stop_emulator,
    user_env,
    wait_until,
)

pytestmark = pytest.mark.e2e
ALL_IDS = {
    "R-1001",
    "R-1002",
    "R-1003",
    "R-1004",
    "W-2001",
    "W-2002",
    "W-2003",
    "W-2004",
    "W-2005",
    "C-3001",
    "C-3002",
}
TOKEN_PATTERN = re.compile(r"(engage|refresh|rc|rcrefresh)-[A-Za-z0-9_-]{20,}")
SECRETS = ("emulator-client-secret", "emulator-jwt-assertion", "emulator-legacy-api-token")


@pytest.fixture
def emu() -> Iterator[Served]:
    served = start_emulator("--hang-seconds", "3")
    try:
        yield served
    finally:
        stop_emulator(served)


def apply(
    repo: Path, served: Served, *args: str, kind: str = "jwt", env: dict[str, str] | None = None
) -> Any:
    return engage_sync(
        "apply",
        "--auto-approve",
        "--max-retries",
        "3",
        *args,
        env={**served.env(kind), "ENGAGE_SYNC_LOOKUP_DELAY": "0.05", **(env or {})},
        cwd=repo,
    )


def posted_ids(served: Served) -> Counter[str]:
    """How many times each externId reached the loader (from the emulator's request log)."""
    counts: Counter[str] = Counter()
    for request in served.loader_posts():
        if request["status"] == 200:
            counts.update(lead["externId"] for lead in request["body"]["uploadLeads"])
    return counts


def stored_ids(served: Served) -> Counter[str]:
    return Counter(lead["externId"] for lead in served.leads())


def test_first_apply_posts_everything_once_and_the_second_nothing(repo: Path, emu: Served) -> None:
    first = apply(repo, emu)
    assert first.code == 0, first.err
    assert "Recorded 11 lead(s) in engage-sync.state.json." in first.out
    assert "campaign 136790: posted 5, accepted 5, inserted 5, rejected 0, failed 0" in first.out
    assert posted_ids(emu) == Counter(ALL_IDS)
    assert stored_ids(emu) == Counter(ALL_IDS)
    second = apply(repo, emu)
    assert second.code == 0 and "Nothing to post." in second.out
    assert posted_ids(emu) == Counter(ALL_IDS)
    plan = engage_sync("plan", "--detailed-exitcode", cwd=repo, env=emu.where())
    assert plan.code == 0
    assert plan.out.endswith(
        "Plan: 0 to create, 0 to update, 0 to replace, 0 to remove, 0 orphaned, 11 unchanged.\n"
    )


def test_an_edited_lead_is_reposted_alone(repo: Path, emu: Served) -> None:
    assert apply(repo, emu).code == 0
    path = repo / "leadsets" / "spring-renewals.yaml"
    path.write_text(path.read_text().replace("firstName: Grace", "firstName: Amazing Grace"))
    plan = engage_sync("plan", cwd=repo, env=emu.where())
    assert "  ~ R-1002  leadsets/spring-renewals.yaml:19  (firstName)" in plan.out
    assert apply(repo, emu).code == 0
    counts = posted_ids(emu)
    assert counts["R-1002"] == 2 and sum(counts.values()) == 12
    # REMOVE_ALL_EXISTING: Engage keeps one dial record for the phone, the new one
    records = [x for x in emu.leads(136785) if x["externId"] == "R-1002"]
    assert [x["lead"]["firstName"] for x in records] == ["Amazing Grace"]


@pytest.mark.parametrize("kind", ["jwt", "api-token", "access-token"])
def test_every_credential_kind_works(repo: Path, emu: Served, kind: str) -> None:
    env: dict[str, str] = {}
    if kind == "access-token":
        from test_emulator import login

        env["ENGAGE_ACCESS_TOKEN"] = login(emu.origin)["accessToken"]
    r = apply(repo, emu, kind=kind, env=env)
    assert r.code == 0, r.err
    assert stored_ids(emu) == Counter(ALL_IDS)


def test_token_expiry_mid_apply_is_survived(repo: Path) -> None:
    served = start_emulator("--token-ttl", "1", "--latency", "0.25")
    try:
        r = apply(repo, served, "--batch-size", "1")
        assert r.code == 0, r.err
        assert stored_ids(served) == Counter(ALL_IDS)
        log = served.get("/_emulator/requests")
        assert any(x["path"] == "/api/auth/token/refresh" for x in log)
        assert any(x["status"] == 401 for x in log)
        assert sum(1 for x in log if x["path"] == "/api/auth/login/rc/accesstoken") <= 2
    finally:
        stop_emulator(served)


def test_429_and_500_then_success_lose_and_duplicate_nothing(repo: Path, emu: Served) -> None:
    emu.fault("429", count=2)
    emu.fault("500", count=1)
    emu.fault("503", count=1)
    r = apply(repo, emu, "--batch-size", "2", "--max-retries", "5")
    assert r.code == 0, r.err
    assert posted_ids(emu) == Counter(ALL_IDS)
    assert stored_ids(emu) == Counter(ALL_IDS)


def test_dropped_connection_and_hang_are_retried(repo: Path, emu: Served) -> None:
    emu.fault("drop", count=1)
    emu.fault("hang", count=1)
    r = apply(repo, emu, "--timeout", "1")
    assert r.code == 0, r.err
    assert stored_ids(emu) == Counter(ALL_IDS)


def test_persistent_failure_exits_4_and_the_rerun_posts_only_the_rest(
    repo: Path, emu: Served
) -> None:
    # a 503 may come after the server acted: each one is looked up, then posted again, 4 times
    emu.fault("503", count=4)
    r = apply(repo, emu, "--report-json", "report.json")
    assert r.code == 4
    assert "campaign 136785: posted 4, accepted 0, inserted 0, rejected 0, failed 4" in r.out
    assert "batch of 4 not loaded after 4 tries: HTTP 503" in r.err
    report = load_json(repo / "report.json")
    assert report["ok"] is False and report["leadsets"][0]["failed"] == 4
    assert stored_ids(emu) == Counter(ALL_IDS - {"R-1001", "R-1002", "R-1003", "R-1004"})
    searches = [x for x in emu.get("/_emulator/requests") if x["path"].endswith("/leadSearch")]
    assert len(searches) >= 4  # looked before posting again, every time
    plan = engage_sync("plan", cwd=repo, env=emu.where())
    assert "4 to create" in plan.out
    assert "in flight" not in plan.out  # looked up: surely not in Engage, nothing in doubt
    again = apply(repo, emu)
    assert again.code == 0, again.err
    assert stored_ids(emu) == Counter(ALL_IDS)
    assert sum(posted_ids(emu).values()) == 11


def test_processing_failed_is_a_failed_batch(repo: Path, emu: Served) -> None:
    emu.fault("failed", count=1)
    r = apply(repo, emu, "--fail-fast", "--report-json", "report.json")
    assert r.code == 1  # nothing recorded: the first batch failed and --fail-fast stopped
    assert "GENERAL_FAILURE" in r.err
    assert load_json(repo / "report.json")["stoppedEarly"] is True
    assert emu.leads() == []


def test_rejected_rows_are_reported_and_retried_next_time(repo: Path, emu: Served) -> None:
    emu.fault("reject", count=1, rows=2)
    r = apply(repo, emu)
    assert r.code == 4
    assert "rejected R-1001: injected rejection" in r.err
    assert "rejected R-1002: injected rejection" in r.err
    assert "campaign 136785: posted 4, accepted 2, inserted 2, rejected 2, failed 0" in r.out
    state = load_json(repo / "engage-sync.state.json")
    assert sorted(state["campaigns"]["136785"]["leads"]) == ["R-1003", "R-1004"]
    again = apply(repo, emu)
    assert again.code == 0
    assert posted_ids(emu)["R-1001"] == 2 and posted_ids(emu)["R-1003"] == 1
    assert stored_ids(emu) == Counter(ALL_IDS)


def test_kill_9_mid_apply_then_rerun_reposts_no_acknowledged_lead(repo: Path) -> None:
    served = start_emulator("--latency", "0.3")
    try:
        env = served.env("jwt")
        # 4 calls each 30 s: killed while waiting for the window, never after it finished
        slow = {**env, "ENGAGE_SYNC_LOADER_LIMITS": "4/30"}
        proc = spawn_engage_sync("apply", "--auto-approve", "--batch-size", "1", env=slow, cwd=repo)
        wait_until(lambda: len(served.leads()) >= 4)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        acknowledged = {x["externId"] for x in served.leads()}
        assert 4 <= len(acknowledged) < 11
        plan = engage_sync("plan", "--format", "json", cwd=repo)
        assert plan.code == 0, plan.err  # the state and journal load after kill -9
        locked = engage_sync("apply", "--auto-approve", env=env, cwd=repo)
        assert locked.code == 1 and "no longer running" in locked.err
        lock_id = re.search(r"force-unlock (\w+)", locked.err)
        assert lock_id is not None
        unlocked = engage_sync("force-unlock", lock_id.group(1), cwd=repo)
        assert unlocked.code == 0 and unlocked.out.startswith(f"Removed lock {lock_id.group(1)}")
        r = engage_sync("apply", "--auto-approve", env=env, cwd=repo)
        assert r.code == 0, r.err
        counts = posted_ids(served)
        reposted = {eid for eid, n in counts.items() if n > 1}
        assert len(reposted) <= 1  # at most the batch in flight (one lead here) is in doubt
        assert set(counts) == ALL_IDS
        # every lead the server stored before the kill that the client recorded is not re-posted
        assert len(acknowledged & reposted) <= 1
        assert not (repo / "engage-sync.state.json.journal").exists()
    finally:
        stop_emulator(served)


def test_two_concurrent_applies_cannot_both_run(repo: Path) -> None:
    served = start_emulator("--latency", "0.3")
    try:
        tried: list[Any] = []

        def second_apply() -> None:  # while the first holds the lock, asking its question
            assert (repo / "engage-sync.state.json.lock").exists()
            tried.append(apply(repo, served))

        code, out = run_on_terminal(
            ["apply", "--batch-size", "1"], served.env(), repo, b"y\n", second_apply
        )
        (second,) = tried
        assert second.code == 1
        assert "the state is locked by" in second.err and "pid" in second.err
        assert code == 0, out
        assert stored_ids(served) == Counter(ALL_IDS)
        waited = apply(repo, served, "--lock-timeout", "5")
        assert waited.code == 0
    finally:
        stop_emulator(served)


def test_wrong_campaign_name_posts_nothing(repo: Path, emu: Served) -> None:
    for path in (repo / "leadsets").glob("*.yaml"):
        path.write_text(
            path.read_text()
            .replace("name: Renewal Outreach", "name: Renewals")
            .replace("name: Webinar Follow-up", "name: Webinar")
        )
    (repo / "leadsets" / "canada-winback.json").unlink()
    r = apply(repo, emu)
    assert r.code == 1
    assert (
        "campaign 136785 is named 'Renewal Outreach' in Engage, not 'Renewals': nothing posted"
        in r.err
    )
    assert emu.loader_posts() == []
    assert (
        not (repo / "engage-sync.state.json").exists()
        or load_json(repo / "engage-sync.state.json")["campaigns"] == {}
    )


def test_no_secret_in_any_output_with_debug(repo: Path, emu: Served) -> None:
    emu.fault("500", count=1)
    r = engage_sync(
        "--debug",
        "apply",
        "--auto-approve",
        "--report-json",
        "report.json",
        env=emu.env("jwt"),
        cwd=repo,
    )
    assert r.code == 0, r.err
    assert (
        "debug: POST /voice/api/v1/admin/accounts/99990001/campaigns/136785/leadLoader/direct"
        in r.err
    )
    texts = [
        r.out,
        r.err,
        (repo / "report.json").read_text(),
        (repo / "engage-sync.state.json").read_text(),
        engage_sync("plan", "--format", "json", cwd=repo, env=emu.where()).out,
    ]
    for text in texts:
        assert not TOKEN_PATTERN.search(text)
        for secret in SECRETS:
            assert secret not in text
    bad = engage_sync(
        "--debug",
        "campaigns",
        env={**emu.env("jwt"), "RINGCENTRAL_JWT": "wrong-jwt-value"},
        cwd=repo,
    )
    assert bad.code == 1 and "credentials refused" in bad.err
    assert "wrong-jwt-value" not in bad.out + bad.err


def test_every_request_body_validates_against_the_official_schema(repo: Path, emu: Served) -> None:
    assert apply(repo, emu, "--batch-size", "3").code == 0
    spec = json.loads((DATA / "engage_schemas.json").read_text())
    validator = jsonschema.Draft4Validator(
        {
            **spec["components"]["schemas"]["LeadListProcessingRequest"],
            "components": spec["components"],
        }
    )
    bodies = [r["body"] for r in emu.loader_posts()]
    assert len(bodies) == 5
    for body in bodies:
        validator.validate(body)
        for lead in body["uploadLeads"]:
            assert all(v != "" for v in lead.values())  # empty fields are left out
        assert {"dialPriority", "duplicateHandling", "timeZoneOption"} <= set(body)


def test_without_a_terminal_apply_needs_auto_approve(repo: Path, emu: Served) -> None:
    r = engage_sync("apply", env=emu.env(), cwd=repo)
    assert r.code == 1 and "needs --auto-approve" in r.err
    assert emu.loader_posts() == []


def test_missing_credentials_is_one_clear_error(repo: Path, emu: Served) -> None:
    r = engage_sync("apply", "--auto-approve", env={"ENGAGE_BASE_URL": emu.base_url}, cwd=repo)
    assert r.code == 1
    assert r.err.strip().splitlines()[-1].startswith("error: no Engage credentials: set")


def test_plain_http_to_a_remote_host_is_refused(repo: Path, emu: Served) -> None:
    r = apply(repo, emu, env={"ENGAGE_BASE_URL": "http://engage.example.com/voice"})
    assert r.code == 1 and "plain http:// is refused for engage.example.com" in r.err


def test_campaigns_lists_dial_groups_and_campaigns(emu: Served, tmp_path: Path) -> None:
    r = engage_sync("campaigns", env=emu.env("api-token"), cwd=tmp_path)
    assert r.code == 0, r.err
    assert r.out.splitlines() == [
        "dial group 4100 Outbound Sales",
        "    136785  Renewal Outreach  (active)",
        "    136792  Canada Win-back  (active)",
        "dial group 4200 Marketing Callbacks",
        "    136790  Webinar Follow-up  (active)",
        "    136799  Archived Survey  (inactive)",
    ]
    as_json = json.loads(
        engage_sync("campaigns", "--format", "json", env=emu.env(), cwd=tmp_path).out
    )
    assert as_json[0]["campaigns"][0]["campaignId"] == 136785


def test_lead_search_finds_what_apply_loaded(repo: Path, emu: Served) -> None:
    assert apply(repo, emu).code == 0
    r = httpx.post(
        f"{emu.base_url}/api/v1/admin/accounts/99990001/campaignLeads/leadSearch",
        json={"externIds": ["W-2003"]},
        headers={"X-Auth-Token": "emulator-legacy-api-token"},
    )
    (found,) = r.json()
    assert found["leadPhone"] == "2065550133" and found["campaignId"] == 136790


def run_on_terminal(
    args: list[str],
    env: dict[str, str],
    cwd: Path,
    answer: bytes,
    meanwhile: Callable[[], None] | None = None,
) -> tuple[int, str]:
    """Run the installed command with a pseudo-terminal as its stdin/stdout/stderr; `meanwhile`
    runs while it waits for the answer to its question."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [ENGAGE_SYNC, *args],
        cwd=cwd,
        env=user_env(env),
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    output = b""
    answered = False
    while True:
        ready, _, _ = select.select([leader], [], [], 300)  # a bound, not a measurement
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the command exited and closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"[y/N]" in output:
            if meanwhile is not None:
                meanwhile()
            os.write(leader, answer)
            answered = True
    os.close(leader)
    return proc.wait(timeout=300), output.decode("utf-8", "replace")


def test_on_a_terminal_apply_asks_and_shows_progress(repo: Path, emu: Served) -> None:
    code, out = run_on_terminal(["apply", "--batch-size", "2"], emu.env(), repo, b"y\n")
    assert code == 0, out
    assert "Post 11 lead(s) to Engage? [y/N]" in out
    # click's progress bar, its last state; and the plan in colour (a terminal, no NO_COLOR)
    assert "Posting leads" in out and "11/11" in out
    assert "\x1b[32m+ R-1001  leadsets/spring-renewals.yaml:10\x1b[0m" in out
    assert stored_ids(emu) == Counter(ALL_IDS)


def test_on_a_terminal_no_posts_nothing(repo: Path, emu: Served) -> None:
    code, out = run_on_terminal(["apply"], emu.env(), repo, b"n\n")
    assert code == 1 and "Cancelled; nothing posted." in out
    assert emu.loader_posts() == []


def test_a_version_1_state_is_migrated_by_the_next_apply(repo: Path, emu: Served) -> None:
    """A state (and a journal left by a crash) written by engage-sync 0.1.0, format 1."""
    for name in ("state.json", "state.json.journal"):
        (repo / name.replace("state.json", "engage-sync.state.json")).write_bytes(
            (DATA / "state-v1" / name).read_bytes()
        )
    plan = engage_sync("plan", cwd=repo, env=emu.where())
    assert plan.code == 0, plan.err
    assert "Plan: 3 to create, 0 to update, 0 to replace, 0 to remove, 0 orphaned, 8 unchanged" in (
        plan.out
    )
    result = apply(repo, emu)
    assert result.code == 0, result.err
    assert posted_ids(emu) == Counter({"R-1004": 1, "C-3001": 1, "C-3002": 1})
    state = load_json(repo / "engage-sync.state.json")
    assert state["format_version"] == 3 and state["serial"] == 3
    assert not (repo / "engage-sync.state.json.journal").exists()
    again = engage_sync("plan", "--detailed-exitcode", cwd=repo, env=emu.where())
    assert again.code == 0 and "11 unchanged." in again.out
