"""End to end, opt-outs with a deadline and evidence (issue #22): the installed `engage-sync`
in a real git repository, against `engage-sync emulator`."""

from __future__ import annotations

import csv
import io
import json
import signal
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    Served,
    dated_git,
    engage_sync,
    load_json,
    spawn_engage_sync,
    start_emulator,
    stop_emulator,
    wait_until,
    write,
)

pytestmark = pytest.mark.e2e
CAMPAIGN = 136785
ACCOUNT = "99990001"
PEOPLE = {  # every value here is lead data that must never reach the state or the ledger
    f"R-{i}": {
        "leadPhone": f"41555501{i % 100:02d}",
        "firstName": f"Firstname{i}",
        "lastName": f"Lastname{i}",
        "email": f"person{i}@example.org",
    }
    for i in range(1001, 1007)
}
SETTINGS = f'account: "{ACCOUNT}"\noptOuts:\n  closed: [2026-12-24]  # the office is shut\n'


def leadset(repo: Path, ids: list[str], removed: dict[str, str | None] | None = None) -> Path:
    lines = [
        f"campaign: {CAMPAIGN}",
        "options: {duplicateHandling: REMOVE_ALL_EXISTING, timeZoneOption: NPA_NXX, "
        "dialPriority: NORMAL}",
        "leads:" if ids else "leads: []",
    ]
    for eid in ids:
        p = PEOPLE[eid]
        lines.append(
            f'  - {{externId: "{eid}", leadPhone: "{p["leadPhone"]}", firstName: '
            f'{p["firstName"]}, lastName: {p["lastName"]}, email: "{p["email"]}"}}'
        )
    if removed:
        lines.append("removed:")
        for eid, day in removed.items():
            when = f", requested: {day}" if day else ""
            lines.append(f'  - {{externId: "{eid}"{when}, reason: "asked on the phone"}}')
    return write(repo / "leadsets" / "a.yaml", "\n".join(lines) + "\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write(tmp_path / "engage-sync.yaml", SETTINGS)
    dated_git(tmp_path, "init", "-q", "-b", "main")
    return tmp_path


@pytest.fixture
def emu() -> Iterator[Served]:
    served = start_emulator("--hang-seconds", "5")
    try:
        yield served
    finally:
        stop_emulator(served)


def plan(repo: Path, today: str, *args: str) -> Any:
    return engage_sync("plan", *args, env={"ENGAGE_SYNC_TODAY": today}, cwd=repo)


def apply(repo: Path, emu: Served, *args: str) -> Any:
    return engage_sync(
        "apply",
        "--auto-approve",
        *args,
        env={**emu.env("api-token"), "ENGAGE_SYNC_LOOKUP_DELAY": "0.05"},
        cwd=repo,
    )


def test_the_plan_counts_business_days_across_a_weekend_and_a_holiday(repo: Path) -> None:
    ids = list(PEOPLE)
    leadset(repo, ids)
    dated_git(repo, "add", "-A")
    dated_git(repo, "commit", "-qm", "leads")
    leadset(repo, ids[:3], {"R-1004": "2026-12-18", "R-1005": None})
    dated_git(repo, "add", "-A")
    dated_git(repo, "commit", "-qm", "opt-outs", when="2026-12-22T15:00:00+00:00")
    leadset(repo, ids[:3], {"R-1004": "2026-12-18", "R-1005": None, "R-1006": None})
    # Monday 28 December. Since Friday the 18th: 21, 22, 23 (the 24th is closed, the 25th is
    # Christmas Day, then a weekend) and the 28th: 4 business days; the 10th is 6 January
    # (1 January is New Year's Day)
    text = plan(repo, "2026-12-28")
    assert text.code == 0, text.err
    assert (
        "  - R-1004  leadsets/a.yaml:8  (removed; requested 2026-12-18 (lead set), 4 business "
        "days ago; due 2027-01-06, 6 business days left)"
    ) in text.out
    # no date in the file: the day git says the line was committed (Tuesday 22 December)
    assert (
        "  - R-1005  leadsets/a.yaml:9  (removed; requested 2026-12-22 (git), 2 business days "
        "ago; due 2027-01-08, 8 business days left)"
    ) in text.out
    # not committed yet, never applied: first seen today
    assert "R-1006  leadsets/a.yaml:10  (removed; requested 2026-12-28 (first seen)" in text.out
    out = repo / "out"
    out.mkdir()
    both = plan(repo, "2027-01-04", "--out", "out/plan.md", "--out", "out/plan.json")
    assert both.code == 0, both.err
    md = (out / "plan.md").read_text()
    assert (
        "| remove | `R-1004` | `leadsets/a.yaml:8` | removed; requested 2026-12-18 (lead set), 8 "
        "business days ago; due 2027-01-06, 2 business days left |"
    ) in md
    assert "- :warning: campaign 136785: 1 opt-out(s) due within 3 business day(s): R-1004 " in md
    doc = load_json(out / "plan.json")
    assert doc["summary"]["optOuts"] == {"pending": 3, "dueSoon": 1, "overdue": 0}
    (r1004,) = [c for c in doc["changes"] if c["externId"] == "R-1004"]
    assert r1004["optOut"] == {
        "requested": "2026-12-18",
        "requestedFrom": "lead set",
        "commit": r1004["optOut"]["commit"],
        "due": "2027-01-06",
        "businessDaysElapsed": 8,
        "businessDaysLeft": 2,
        "deadline": "soon",
    }
    assert len(r1004["optOut"]["commit"]) == 40
    # the deadline is no part of what a reviewer approves: the checksum is the same any day
    later = json.loads(plan(repo, "2027-01-05", "--format", "json").out)
    assert later["checksum"] == doc["checksum"]


def test_a_deadline_passed_fails_the_plan_and_the_daily_drift_check(
    repo: Path, emu: Served
) -> None:
    ids = list(PEOPLE)[:3]
    leadset(repo, ids)
    assert apply(repo, emu).code == 0
    leadset(repo, ids[:2], {"R-1003": "2026-12-18"})
    assert plan(repo, "2027-01-06", "--detailed-exitcode").code == 2  # due today: changes
    late = plan(repo, "2027-01-07", "--detailed-exitcode")
    assert late.code == 6, late.err
    assert (
        "error: opt-out past its deadline: campaign 136785 R-1003: requested 2026-12-18 (lead "
        "set), 11 business days ago; due 2027-01-06: PAST ITS DEADLINE by 1 business day; "
        "apply now"
    ) in late.out
    assert plan(repo, "2027-01-07").code == 0  # without the flag the plan is only shown
    drift = engage_sync(
        "ci",
        "drift",
        env={**emu.env("api-token"), "ENGAGE_SYNC_TODAY": "2027-01-07"},
        cwd=repo,
    )
    assert drift.code == 6, drift.err
    assert "error: campaign 136785 R-1003: requested 2026-12-18" in drift.out
    assert "::error::an opt-out is past its deadline" in drift.out
    report = load_json(repo / "drift-output" / "drift.json")
    assert report["summary"]["optOuts"]["overdue"] == 1
    assert report["optOuts"][0]["externId"] == "R-1003"
    # apply shows the plan it carries out: the late opt-out is being cancelled, not an error
    done = engage_sync(
        "apply",
        "--auto-approve",
        env={**emu.env("api-token"), "ENGAGE_SYNC_TODAY": "2027-01-07"},
        cwd=repo,
    )
    assert done.code == 0, done.err
    assert (
        "overdue: opt-out past its deadline: campaign 136785 R-1003: requested 2026-12-18 (lead "
        "set), 11 business days ago; due 2027-01-06: PAST ITS DEADLINE by 1 business day; "
        "cancelling it now, first"
    ) in done.out
    assert "error" not in done.out + done.err


def lead_ids(emu: Served, eid: str) -> list[int]:
    return sorted(r["leadId"] for r in emu.leads(CAMPAIGN) if r["externId"] == eid)


def utc(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def test_evidence_names_the_records_cancelled_and_the_search_that_confirmed_it(
    repo: Path, emu: Served
) -> None:
    ids = list(PEOPLE)[:3]
    leadset(repo, ids)
    assert apply(repo, emu).code == 0
    asked = (datetime.now(timezone.utc) - timedelta(days=3)).date().isoformat()
    leadset(repo, ids[:2], {"R-1003": asked})
    dated_git(repo, "add", "-A")
    dated_git(repo, "commit", "-qm", "R-1003 opted out")
    r = apply(repo, emu)
    assert r.code == 0, r.err
    cancelled = lead_ids(emu, "R-1003")
    shown = engage_sync("evidence", "--extern-id", "R-1003", cwd=repo)
    assert shown.code == 0, shown.err
    (entry,) = json.loads(
        engage_sync("evidence", "--extern-id", "R-1003", "--format", "json", cwd=repo).out
    )["removals"]
    (act,) = entry["acts"]
    assert act["action"] == "CANCEL_LEADS" and act["leadIds"] == cancelled and act["answered"]
    # the ledger's times are UTC and its days are dates in optOuts.timezone: each says which
    answered = act["at"].replace("T", " ").replace("Z", " UTC")
    assert f"CANCEL_LEADS of Engage lead id(s) {cancelled[0]}: answered {answered}" in shown.out
    confirmed = entry["confirmed"].replace("T", " ").replace("Z", " UTC")
    assert f"a search at {confirmed} found no dialable record" in shown.out
    assert f"R-1003: stopped {entry['confirmed'][:10]} (UTC), " in shown.out
    assert shown.out.endswith(
        "1 removal(s) from engage-sync.evidence.jsonl. Days are dates in UTC "
        "(optOuts.timezone); times are UTC.\n"
    )
    assert entry["requested"] == asked and entry["requestedFrom"] == "lead set"
    assert entry["met"] is True and entry["businessDays"] <= 3
    # the confirming search is a real one: after the cancel, in the emulator's request log
    requests = emu.get("/_emulator/requests")
    cancel_at = max(x["t"] for x in requests if x["path"].endswith("/actions"))
    searches = [
        x["t"] for x in requests if x["path"].endswith("/leadSearch") and x["t"] > cancel_at
    ]
    assert any(abs(utc(entry["confirmed"]) - int(t)) <= 1 for t in searches)
    head = dated_git(repo, "rev-parse", "HEAD")
    assert entry["commit"] == head and f"tombstoned in commit {head}" in shown.out
    missing = engage_sync("evidence", "--extern-id", "R-1001", cwd=repo)
    assert missing.code == 1
    assert "no removal of R-1001 is recorded in engage-sync.evidence.jsonl" in missing.err


def test_each_removal_is_listed_once_after_a_kill_9_during_the_actions_and_a_rerun(
    repo: Path, emu: Served
) -> None:
    ids = list(PEOPLE)
    leadset(repo, ids)
    assert apply(repo, emu).code == 0
    first_ids = {eid: lead_ids(emu, eid) for eid in ids[2:]}
    leadset(repo, ids[:2], dict.fromkeys(ids[2:]))
    emu.post("/_emulator/faults", {"kind": "hang", "endpoint": "actions"})
    journal = repo / "engage-sync.state.json.journal"
    proc = spawn_engage_sync(
        "apply", "--auto-approve", "--timeout", "30", env=emu.env("api-token"), cwd=repo
    )
    try:
        # the hang fault struck: the cancel is in the emulator, sent and journaled, unanswered
        wait_until(lambda: emu.get("/_emulator/faults") == [])
        assert journal.exists() and proc.poll() is None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    ledger = repo / "engage-sync.evidence.jsonl"
    assert not ledger.exists()  # nothing was confirmed
    # the hung cancel answers 504 later, having done nothing: the rerun need not wait for it
    lock = repo / "engage-sync.state.json.lock"
    if lock.exists():
        lock_id = json.loads(lock.read_text())["id"]
        assert engage_sync("force-unlock", lock_id, cwd=repo).code == 0
    r = apply(repo, emu)
    assert r.code == 0, r.err
    assert apply(repo, emu).code == 0  # a further apply adds nothing
    today = datetime.now(timezone.utc).date().isoformat()
    exported = engage_sync(
        "evidence", "--format", "csv", "--since", today, "--until", today, cwd=repo
    )
    assert exported.code == 0, exported.err
    every = list(csv.DictReader(io.StringIO(exported.out)))
    rows = [row for row in every if not row["externId"].startswith("phone #")]
    assert sorted(row["externId"] for row in rows) == ids[2:]  # each once
    # and each tombstone's phone, stopped everywhere (do not call), once
    assert len(every) - len(rows) == 4
    assert len(ledger.read_text().splitlines()) == 8
    for row in rows:
        # the records cancelled by the run that was killed are named, answered or not
        assert set(map(int, row["leadIds"].split())) >= set(first_ids[row["externId"]])
        # the killed run recorded the date it first saw them; the rerun counted from it
        assert row["met"] == "yes" and row["requestedFrom"] == "state"
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    none = engage_sync("evidence", "--format", "csv", "--since", tomorrow, cwd=repo)
    assert none.out.splitlines() == [none.out.splitlines()[0]]  # the header alone
    # no lead data in the ledger nor the state: every value of the test data is looked for
    kept = ledger.read_text() + (repo / "engage-sync.state.json").read_text()
    for person in PEOPLE.values():
        for value in person.values():
            assert value not in kept, value
    assert "asked on the phone" not in kept  # the reason stays in git
