"""End to end, loader calls in flight together: the installed `engage-sync apply` against an
`engage-sync emulator` that takes its time to answer, as the real loader does."""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import (
    TWO_ACCOUNTS,
    Served,
    engage_sync,
    load_json,
    served_is_idle,
    spawn_engage_sync,
    start_emulator,
    stop_emulator,
    wait_until,
    write,
)

pytestmark = pytest.mark.e2e
CAMPAIGN = 136785


@pytest.fixture
def slow() -> Iterator[Served]:
    served = start_emulator("--latency", "0.4")
    try:
        yield served
    finally:
        stop_emulator(served)


def leadset(repo: Path, rows: list[tuple[str, str]], handling: str = "REMOVE_ALL_EXISTING") -> None:
    lines = [
        f"campaign: {CAMPAIGN}",
        'account: "99990001"',
        "options:",
        f"  duplicateHandling: {handling}",
        "  timeZoneOption: NPA_NXX",
        "  dialPriority: NORMAL",
        "leads:",
    ]
    lines += [f'  - {{externId: "{eid}", leadPhone: "{phone}"}}' for eid, phone in rows]
    write(repo / "leadsets" / "a.yaml", "\n".join(lines) + "\n")


def rows(n: int) -> list[tuple[str, str]]:
    return [(f"L{i:03d}", f"41555{i:05d}") for i in range(n)]


def apply(repo: Path, emu: Served, *args: str) -> Any:
    return engage_sync(
        "apply",
        "--auto-approve",
        "--batch-size",
        "1",
        *args,
        env={**emu.env("api-token"), "ENGAGE_SYNC_LOOKUP_DELAY": "0.05"},
        cwd=repo,
    )


def loader_log(emu: Served) -> list[dict[str, Any]]:
    return [r for r in emu.get("/_emulator/requests") if r["path"].endswith("/direct")]


def overlapping(log: list[dict[str, Any]], latency: float) -> int:
    """The most loader calls whose answers came within one latency of each other: in flight
    together (each answer came `latency` after its arrival)."""
    times = sorted(r["t"] for r in log)
    return max(sum(1 for u in times if t <= u < t + latency * 0.9) for t in times)


def test_batches_fly_together_and_each_lead_is_posted_once(tmp_path: Path, slow: Served) -> None:
    leadset(tmp_path, rows(12))
    r = apply(tmp_path, slow, "--report-json", "report.json")
    assert r.code == 0, r.err
    log = loader_log(slow)
    assert Counter(x["body"]["uploadLeads"][0]["externId"] for x in log) == Counter(
        eid for eid, _ in rows(12)
    )
    assert overlapping(log, 0.4) >= 2  # not one at a time
    assert slow.get("/_emulator/stats")["loader429"] == 0
    report = load_json(tmp_path / "report.json")["leadsets"][0]
    assert (report["posted"], report["accepted"], report["recorded"]) == (12, 12, 12)


def test_leads_sharing_a_phone_are_never_in_flight_together_and_the_last_one_wins(
    tmp_path: Path, slow: Served
) -> None:
    shared = "2125550100"
    declared = [("A-1", shared), ("A-2", shared), *rows(6), ("A-3", shared)]
    leadset(tmp_path, declared)
    r = apply(tmp_path, slow)
    assert r.code == 0, r.err
    stored = {x["externId"] for x in slow.leads(CAMPAIGN) if x["lead"]["leadPhone"] == shared}
    assert stored == {"A-3"}  # REMOVE_ALL_EXISTING: the last one declared
    log = loader_log(slow)
    sent = {x["body"]["uploadLeads"][0]["externId"]: x for x in log}
    # each answered (t) before the next with that phone arrived (its answer minus the latency)
    assert sent["A-1"]["t"] <= sent["A-2"]["t"] - 0.4 + 0.05
    assert sent["A-2"]["t"] <= sent["A-3"]["t"] - 0.4 + 0.05


def test_kill_9_with_batches_in_flight_then_a_rerun_loads_everything(tmp_path: Path) -> None:
    served = start_emulator("--latency", "1.0")
    try:
        # 40 calls: the loader's first window takes 30, the other 10 wait for the next one and
        # are in flight together while the first 30 are answered, a second in which the kill
        # lands (with 30, all were answered within milliseconds of each other, and the apply
        # could end between two looks at the journal)
        leadset(tmp_path, rows(40))
        env = {**served.env("api-token"), "ENGAGE_SYNC_LOOKUP_DELAY": "0.05"}
        proc = spawn_engage_sync(
            "apply", "--auto-approve", "--batch-size", "1", env=env, cwd=tmp_path
        )
        journal = tmp_path / "engage-sync.state.json.journal"

        def in_flight() -> int:
            if not journal.exists():
                return 0
            records = [json.loads(x) for x in journal.read_text().splitlines() if x.strip()]
            begun = {r["batch"] for r in records if "begin" in r}
            answered = {r["batch"] for r in records if "ack" in r or "fail" in r}
            return len(begun - answered) if answered else 0

        wait_until(lambda: in_flight() >= 2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        wait_until(lambda: served_is_idle(served))  # the calls in flight land in it
        plan = engage_sync("plan", cwd=tmp_path, env=served.where())
        assert "in flight when an earlier apply stopped" in plan.out
        lock = tmp_path / "engage-sync.state.json.lock"
        lock_id = json.loads(lock.read_text())["id"]
        assert engage_sync("force-unlock", lock_id, cwd=tmp_path).code == 0
        again = engage_sync(
            "apply", "--auto-approve", "--batch-size", "5", env=env, cwd=tmp_path, timeout=120
        )
        assert again.code == 0, again.err
        # a request cut by the kill mid-body reached the emulator without one: it loaded nothing
        posted = Counter(
            lead["externId"]
            for x in loader_log(served)
            if x["body"] is not None
            for lead in x["body"]["uploadLeads"]
        )
        assert set(posted) == {eid for eid, _ in rows(40)}
        assert max(posted.values()) <= 2
        stored = Counter(x["externId"] for x in served.leads(CAMPAIGN))
        assert stored == Counter(eid for eid, _ in rows(40))
        assert (
            engage_sync("plan", "--detailed-exitcode", cwd=tmp_path, env=served.where()).code == 0
        )
    finally:
        stop_emulator(served)


def test_a_persistent_500_on_one_batch_while_others_succeed(tmp_path: Path, slow: Served) -> None:
    leadset(tmp_path, rows(10), handling="RETAIN_ALL")
    httpx.post(
        f"{slow.origin}/_emulator/faults",
        json={"kind": "500", "count": 20, "externId": "L004"},
    )
    r = apply(tmp_path, slow, "--report-json", "report.json")
    assert r.code == 4
    assert "batch of 1 not loaded after 4 tries: HTTP 500" in r.err
    state = load_json(tmp_path / "engage-sync.state.json")
    assert sorted(state["campaigns"][str(CAMPAIGN)]["leads"]) == [
        eid for eid, _ in rows(10) if eid != "L004"
    ]
    report = load_json(tmp_path / "report.json")["leadsets"][0]
    assert (report["posted"], report["recorded"], report["failed"]) == (10, 9, 1)


def test_fail_fast_sends_nothing_new_and_waits_for_what_is_in_flight(
    tmp_path: Path, slow: Served
) -> None:
    # 40 calls: the first 30 fly at once (the short window's burst); the rest would wait ten
    # seconds for that window, and the failure comes back long before
    leadset(tmp_path, rows(40))
    httpx.post(f"{slow.origin}/_emulator/faults", json={"kind": "failed", "externId": "L001"})
    r = apply(tmp_path, slow, "--fail-fast")
    assert r.code == 4
    log = loader_log(slow)
    assert len(log) < 40  # stopped sending
    state = load_json(tmp_path / "engage-sync.state.json")
    recorded = set(state["campaigns"][str(CAMPAIGN)]["leads"])
    # every call answered OK was recorded, including those still in flight at the failure
    ok = {x["body"]["uploadLeads"][0]["externId"] for x in log} - {"L001"}
    assert recorded == ok
    assert not (tmp_path / "engage-sync.state.json.journal").exists()


def test_accounts_load_in_parallel_each_within_its_own_limits(tmp_path: Path) -> None:
    seed = write(tmp_path / "seed.yaml", TWO_ACCOUNTS)
    served = start_emulator("--seed", str(seed), "--latency", "0.2", "--loader-limits", "3/1,6/3")
    try:
        for account, campaign in (("11110001", 501), ("22220002", 502)):
            body = "\n".join(
                [
                    f"campaign: {campaign}",
                    f'account: "{account}"',
                    "options: {duplicateHandling: RETAIN_ALL, timeZoneOption: NPA_NXX, "
                    "dialPriority: NORMAL}",
                    "leads:",
                    *[
                        f'  - {{externId: "{account}-{i}", leadPhone: "41555{i:05d}"}}'
                        for i in range(12)
                    ],
                ]
            )
            write(tmp_path / "leadsets" / f"{account}.yaml", body + "\n")
        env = {
            "ENGAGE_BASE_URL": served.base_url,
            "ENGAGE_API_TOKEN": "two-accounts-token",
            "ENGAGE_SYNC_LOADER_LIMITS": "3/1,6/3",
            # the suite runs with CI=true: a loopback host must be named (engage/hosts.py)
            "ENGAGE_SYNC_ALLOWED_HOSTS": served.origin.split("://", 1)[1],
        }
        r = engage_sync("apply", "--auto-approve", "--batch-size", "1", env=env, cwd=tmp_path)
        assert r.code == 0, r.err
        assert served.get("/_emulator/stats")["loader429"] == 0
        log = loader_log(served)
        by_account = {
            a: sorted(x["t"] for x in log if f"/accounts/{a}/" in x["path"])
            for a in ("11110001", "22220002")
        }
        assert all(len(times) == 12 for times in by_account.values())
        east, west = by_account["11110001"], by_account["22220002"]
        # in parallel: each account's calls span the same stretch of time, not one after the other
        assert west[0] < east[-1] and east[0] < west[-1]
        # and together they went faster than one account's limits allow (6 per 3 s)
        assert max(east[-1], west[-1]) - min(east[0], west[0]) < 24 / 6 * 3 - 1
    finally:
        stop_emulator(served)
