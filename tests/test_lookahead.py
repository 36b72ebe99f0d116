"""The do-not-call look-up apply makes first, while it reads each account's campaigns
(reconcile/lookahead.py, issue #34): it covers the phones of apply's first look-up, and answers
only for phones it covers, fresh; otherwise they are looked up as before."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from conftest import write
from test_client import FakeClock
from test_operation import ACCOUNT, Hooks, folder, leads, run  # noqa: F401 (fixtures)

from engage_sync.emulator import Emulator
from engage_sync.model import (
    CampaignRef,
    Change,
    ChangeKind,
    Lead,
    LeadSetPlan,
    LoadOptions,
    Plan,
)
from engage_sync.optouts import OptOutRules
from engage_sync.reconcile import lookahead
from engage_sync.reconcile.lookahead import (
    FRESH_S,
    ROWS_AT_MOST,
    LookAhead,
    first_phones,
    look_ahead,
)


def lead(eid: str, phone: str) -> Lead:
    return Lead.from_mapping({"externId": eid, "leadPhone": phone}, "f", 1)


def test_the_first_phones_come_batch_by_batch_as_apply_asks_for_them() -> None:
    rows = [lead(f"L{i}", f"415555{i:04d}") for i in range(10)]
    wanted = {f"L{i}" for i in range(10) if i != 3}
    # batches of 2 wanted leads, at least 3 phones: two whole batches (4 phones)
    assert first_phones(rows, wanted, 2, 3) == [
        "4155550000",
        "4155550001",
        "4155550002",
        "4155550004",
    ]
    assert len(first_phones(rows, wanted, 4, 100)) == 9  # the wanted leads end first
    several = [lead("A", "4155550000|4155550001")]
    assert first_phones(several, {"A"}, 1, 1) == ["4155550000", "4155550001"]


def test_no_look_ahead_when_the_first_leads_are_far_into_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lookahead, "ROWS_AT_MOST", 5)
    rows = [lead(f"L{i}", f"415555{i:04d}") for i in range(10)]
    assert first_phones(rows, {"L8"}, 1, 1) == []


class CountedCreates(Sequence[Change]):
    """A plan's creates (a spool in apply) that count how many were taken."""

    def __init__(self, n: int) -> None:
        self.n, self.taken = n, 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):  # type: ignore[no-untyped-def, override]
        raise AssertionError("a spool is walked, not indexed")

    def __iter__(self) -> Iterator[Change]:
        for i in range(self.n):
            self.taken += 1
            yield Change(ChangeKind.CREATE, 136785, f"L{i}", "f", i + 2)


def test_a_first_apply_of_many_creates_takes_only_those_the_first_rows_can_hold() -> None:
    """Issue #34: the look-ahead made a tuple and a set of every create (most of a first apply's
    peak memory at a million leads); it reads ROWS_AT_MOST rows at most, so it takes one more
    create than that (`left` cannot reach 0 early), not all of them."""
    creates = CountedCreates(10 * ROWS_AT_MOST)
    ls = LeadSetPlan(CampaignRef(136785), ACCOUNT, ("f",), LoadOptions(), creates, (), (), 0, 0)
    plan = Plan((ls,), None, 0, "checksum")
    ahead = look_ahead(plan, [], OptOutRules(), None, None, 500, 1000)  # type: ignore[arg-type]
    assert ahead is not None
    ahead.close()
    assert creates.taken == ROWS_AT_MOST + 1


def answered(found: set[str], clock: FakeClock, fail: bool = False) -> LookAhead:
    def search(account: str, phones: Sequence[str]) -> set[str]:
        if fail:
            raise RuntimeError("the search failed")
        return found

    ahead = LookAhead(ACCOUNT, lambda: ["4155550000", "4155550001"], search, clock)
    ahead.close()
    return ahead


def test_it_answers_for_the_phones_it_covers_while_fresh() -> None:
    clock = FakeClock()
    ahead = answered({"+14155550001"}, clock)
    assert ahead.held(ACCOUNT, ["4155550001"]) == {"+14155550001"}
    assert ahead.held(ACCOUNT, ["4155550001", "4155550009"]) is None  # not covered
    assert ahead.held("11110001", ["4155550001"]) is None  # another account
    clock.sleep(FRESH_S + 1)
    assert ahead.held(ACCOUNT, ["4155550001"]) is None  # stale: looked up again
    assert answered(set(), FakeClock(), fail=True).held(ACCOUNT, ["4155550000"]) is None


def test_the_first_look_up_is_asked_while_the_campaigns_are_read(
    folder: Path,  # noqa: F811
    emu: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading the campaigns waits until the look-up has been asked (an event, not a time):
    were it asked only after them, this would wait for ever; and the phone Engage holds as
    do-not-call among the first leads is not loaded, with no second look-up."""
    from engage_sync.engage.campaign_leads import CampaignLeads
    from engage_sync.engage.client import EngageClient

    write(folder / "leadsets" / "a.yaml", leads(1, 2))
    with emu.store.transaction() as store:  # a record of L-2's phone, held as do-not-call
        listed = store.new_list(ACCOUNT, 136785, "by hand", "2026-01-01", {})
        store.insert_leads(
            ACCOUNT, 136785, listed, [{"externId": "OLD", "leadPhone": "4155550102"}]
        )
        ids = [r["leadId"] for r in store.all_leads(136785)]
        store.set_state(ids, "DO-NOT-CALL", None)
    asked = threading.Event()
    searches: list[Sequence[str]] = []
    real_search = CampaignLeads.search_phones

    def search_phones(self: CampaignLeads, account: str, phones: Sequence[str], *a, **k):  # type: ignore[no-untyped-def]
        if k.get("states"):  # a look-up (a sweep searches every record of a phone)
            searches.append(phones)
            asked.set()
        return real_search(self, account, phones, *a, **k)

    real_authenticate = EngageClient.authenticate

    def authenticate(self: EngageClient, *a, **k) -> None:  # type: ignore[no-untyped-def]
        assert asked.wait(60), "the look-up was not asked before the campaigns were read"
        real_authenticate(self, *a, **k)

    monkeypatch.setattr(CampaignLeads, "search_phones", search_phones)
    monkeypatch.setattr(EngageClient, "authenticate", authenticate)
    outcome = run(emu, Hooks())
    assert outcome.report.ok, outcome.report.as_dict()
    assert len(searches) == 1 and sorted(searches[0]) == ["4155550101", "4155550102"]
    records = {r["externId"]: r["leadState"] for r in emu.store.all_leads(136785)}
    assert "L-1" in records and "L-2" not in records  # never loaded over the opt-out
