"""The batch loader (reconcile/loader.py) in-process: the emulator through httpx's WSGI transport,
a fake clock, a real journal. Every answer is recorded; a lost one is settled by looking."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_client import BODY, FakeClock, make

from engage_sync.emulator import Emulator, Settings, default_seed
from engage_sync.engage.client import EngageClient
from engage_sync.engage.upload import Upload
from engage_sync.model import Lead
from engage_sync.reconcile.loader import BatchLoader, batches
from engage_sync.reconcile.report import LeadSetReport
from engage_sync.state import Journal, journal_path, load_state

ACCOUNT, CAMPAIGN = "99990001", 136785


def lead(i: int, phone: str | None = None) -> Lead:
    return Lead.from_mapping(
        {"externId": f"B-{i}", "leadPhone": phone or f"41555{i:05d}"}, "f.yaml", i
    )


def fault(emu: Emulator, kind: str, count: int = 1) -> None:
    with httpx.Client(transport=httpx.WSGITransport(app=emu), base_url="http://e") as http:
        assert http.post("/_emulator/faults", json={"kind": kind, "count": count}).is_success


def load(
    emu: Emulator,
    tmp_path: Path,
    leads: list[Lead],
    size: int,
    in_flight: int | None = None,
    clock: FakeClock | None = None,
    **options: str,
) -> tuple[LeadSetReport, Any]:
    client = make(emu, clock or FakeClock())  # the emulator in-process, as test_client makes it
    state = load_state(tmp_path / "s.json")
    rep = LeadSetReport(CAMPAIGN, None, len(leads))
    with client, Journal(state) as journal, ThreadPoolExecutor(8) as pool:
        loader = BatchLoader(
            client, journal, ACCOUNT, CAMPAIGN, rep, pool, lookup_delay=0.0, max_in_flight=in_flight
        )
        loader.run(("f.yaml", {**BODY, **options}, b) for b in batches(iter(leads), size))
        journal.fold()
    return rep, load_state(tmp_path / "s.json").campaigns.get(CAMPAIGN)


def records(emu: Emulator) -> list[str]:
    return sorted(r["externId"] for r in emu.store.all_leads(CAMPAIGN))


def test_every_batch_is_posted_and_every_accepted_lead_recorded(
    emu: Emulator, tmp_path: Path
) -> None:
    rep, camp = load(emu, tmp_path, [lead(i) for i in range(10)], size=3)
    assert (rep.posted, rep.accepted, rep.recorded, rep.failed) == (10, 10, 10, 0)
    assert sorted(camp.leads) == sorted(f"B-{i}" for i in range(10)) and not camp.in_doubt
    assert records(emu) == sorted(f"B-{i}" for i in range(10))


def test_a_refused_batch_is_failed_not_in_doubt(emu: Emulator, tmp_path: Path) -> None:
    fault(emu, "failed")
    rep, camp = load(emu, tmp_path, [lead(i) for i in range(4)], size=2)
    assert rep.failed == 2 and rep.recorded == 2 and not rep.ok
    assert len(camp.leads) == 2 and not camp.in_doubt


def test_a_lost_answer_is_settled_by_looking_not_by_posting_again(
    emu: Emulator, tmp_path: Path
) -> None:
    fault(emu, "lost")  # stored, then the connection drops before the answer
    rep, camp = load(emu, tmp_path, [lead(i) for i in range(3)], size=3)
    assert rep.recorded == 3 and rep.found_after_lost == 3 and rep.ok
    assert records(emu) == ["B-0", "B-1", "B-2"]  # once each: nothing was posted twice
    assert not camp.in_doubt


def test_batches_sharing_a_phone_are_never_in_flight_together(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under REMOVE_ALL_EXISTING the later of two leads with one phone must win, as it does when
    posting one batch at a time: their batches never fly together, whatever else does."""
    flying: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    most = 0
    lock = threading.Lock()
    real = EngageClient.load_leads

    def watched(self: EngageClient, account: str, campaign: int, body: Upload) -> Any:
        nonlocal most
        phones = [x["leadPhone"] for x in body.body()["uploadLeads"]]
        with lock:
            if set(phones) & set(flying):
                overlaps.append(tuple(phones))
            flying.extend(phones)
            most = max(most, len(flying))
        time.sleep(0.05)  # a real server's latency: the others are sent meanwhile
        try:
            return real(self, account, campaign, body)
        finally:
            with lock:
                for p in phones:
                    flying.remove(p)

    monkeypatch.setattr(EngageClient, "load_leads", watched)
    shared = [lead(1, "4155550199"), *(lead(i) for i in range(2, 6)), lead(6, "4155550199")]
    load(emu, tmp_path, shared, size=1, in_flight=8, duplicateHandling="REMOVE_ALL_EXISTING")
    assert most > 2 and overlaps == []  # several flew together, never the two of one phone
    on_phone = [
        r["externId"]
        for r in emu.store.all_leads(CAMPAIGN)
        if r["lead"]["leadPhone"] == "4155550199"
    ]
    assert on_phone == ["B-6"]


def test_a_short_apply_uses_the_burst_the_limits_allow(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 calls a 10 s window and 120 a minute: 30 calls fly together (the pool's threads all
    busy at once), not the two or three the long window's average of two a second allowed."""
    flying = most = 0
    lock = threading.Lock()
    real = EngageClient.load_leads

    def watched(self: EngageClient, account: str, campaign: int, body: Upload) -> Any:
        nonlocal flying, most
        with lock:
            flying += 1
            most = max(most, flying)
        time.sleep(0.05)  # a real server's latency: the others are sent meanwhile
        try:
            return real(self, account, campaign, body)
        finally:
            with lock:
                flying -= 1

    monkeypatch.setattr(EngageClient, "load_leads", watched)
    rep, camp = load(emu, tmp_path, [lead(i) for i in range(30)], size=1)
    assert rep.recorded == 30 and rep.errors == [] and len(camp.leads) == 30
    assert most == 8  # every thread of the pool (the burst is 30)


def test_a_batch_waits_for_the_windows_before_it_is_journaled(tmp_path: Path) -> None:
    """Only calls on their way are ever in doubt: a batch waiting for a window is neither
    journaled nor submitted until the windows admit it."""
    clock = FakeClock()
    emu = Emulator(default_seed(), Settings(), clock=clock)
    client = make(emu, clock)
    pacer = client.pacer("loader", ACCOUNT)
    for _ in range(pacer.burst):  # the short window is full
        pacer.try_acquire()
    state = load_state(tmp_path / "s.json")
    rep = LeadSetReport(CAMPAIGN, None, 1)
    try:
        with client, Journal(state) as journal, ThreadPoolExecutor(2) as pool:
            loader = BatchLoader(client, journal, ACCOUNT, CAMPAIGN, rep, pool, lookup_delay=0.0)
            loader._until_admitted()
            assert '"begin"' not in journal_path(state).read_text()  # nothing journaled meanwhile
            assert 10.0 <= sum(clock.slept) <= 11.0  # waited for the short window, once
            loader.run([("f.yaml", dict(BODY), [lead(1)])])
            journal.fold()
    finally:
        emu.store.close()
    assert rep.recorded == 1 and rep.errors == []


def throttled_load(
    tmp_path: Path, leads: list[Lead], answered_429: int, **client: Any
) -> tuple[LeadSetReport, Any, list[set[str]]]:
    """Load `leads` in one batch while the loader answers 429 `answered_429` times; returns the
    report, the state's campaign and, for each wait the loader made, the leads in doubt then."""
    clock = FakeClock()
    emu = Emulator(default_seed(), Settings(), clock=clock)
    fault(emu, "429", answered_429)
    api = make(emu, clock, **client)
    state = load_state(tmp_path / "s.json")
    rep = LeadSetReport(CAMPAIGN, None, len(leads))
    doubts: list[set[str]] = []
    sleep = clock.sleep

    def waiting(seconds: float) -> None:  # what a crash during the wait would leave
        doubts.append(set(state.campaign(CAMPAIGN).in_doubt))
        sleep(seconds)

    api.sleep = waiting
    try:
        with api, Journal(state) as journal, ThreadPoolExecutor(2) as pool:
            loader = BatchLoader(api, journal, ACCOUNT, CAMPAIGN, rep, pool, lookup_delay=0.0)
            loader.run([("f.yaml", dict(BODY), leads)])
            journal.fold()
        return rep, load_state(tmp_path / "s.json").campaigns.get(CAMPAIGN), doubts
    finally:
        emu.store.close()


def test_a_batch_answered_429_is_sent_again_never_in_doubt_and_posted_once(
    tmp_path: Path,
) -> None:
    rep, camp, doubts = throttled_load(tmp_path, [lead(1), lead(2)], answered_429=2)
    assert doubts and all(d == set() for d in doubts)  # waiting, none of it was in doubt
    assert (rep.posted, rep.recorded, rep.throttled, rep.failed) == (2, 2, 2, 0)
    assert rep.ok and sorted(camp.leads) == ["B-1", "B-2"] and not camp.in_doubt
    assert rep.notes == [
        "2 loader call(s) were answered 429 (too many requests): Engage did nothing with them, "
        "and they were sent again once it allowed"
    ]


def test_a_batch_answered_429_past_the_retries_is_refused_not_posted_nor_in_doubt(
    tmp_path: Path,
) -> None:
    rep, camp, _ = throttled_load(tmp_path, [lead(1), lead(2)], answered_429=10, max_retries=2)
    assert (rep.posted, rep.recorded, rep.throttled, rep.failed) == (0, 0, 3, 2)
    assert rep.errors == [
        "batch of 2 refused: answered 429 (too many requests) 3 times; nothing loaded, run "
        "apply again later"
    ]
    assert camp is None or not camp.in_doubt
