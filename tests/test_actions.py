"""reconcile/actions.py: the Reconciler against an in-memory Engage (search, cancel, delete),
and the pure look at what a search found (`stale`, `loaded`). What to do per duplicate mode
(`decide`) is in test_reconcile.py; the end-to-end removals in test_removals_e2e.py."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from engage_sync.engage.answers import ActionResult
from engage_sync.engage.leads import LeadAction, LeadRecord
from engage_sync.errors import ApiError
from engage_sync.model import DuplicateHandling, Lead, PruneAction, RemoveReason
from engage_sync.optouts import DateSource, Deadline, OptOutRules, Requested
from engage_sync.reconcile.actions import Intent, Reconciler, loaded, stale, stopped_since
from engage_sync.reconcile.report import LeadSetReport
from engage_sync.state import Journal, State

CID = 7
PHONE = "4155550100"


def record(
    lead_id: int, eid: str, phone: str = PHONE, state: str = "READY", **kw: Any
) -> LeadRecord:
    return LeadRecord(lead_id, eid, CID, phone, state, False, phones=(phone,), **kw)


def lead(eid: str, phone: str = PHONE, **fields: str) -> Lead:
    return Lead.from_mapping({"externId": eid, "leadPhone": phone, **fields}, "f.yaml", 1)


class Leads:
    """Engage's records of one campaign: a cancel makes a record CANCELLED, a delete removes it;
    `refuse` fails every action, `ignore` answers yet changes nothing."""

    def __init__(self, records: Iterable[LeadRecord]) -> None:
        self.records = {r.lead_id: r for r in records}
        self.acts: list[tuple[LeadAction, list[int]]] = []
        self.searches = 0
        self.refuse = self.ignore = self.search_fails = False

    def search(self, account: str, campaign: int, extern_ids: Iterable[str]) -> list[LeadRecord]:
        self.searches += 1
        if self.search_fails:
            raise ApiError("leadSearch: HTTP 503")
        wanted = set(extern_ids)
        return [r for r in self.records.values() if r.extern_id in wanted]

    def act(
        self, account: str, campaign: int, action: LeadAction, lead_ids: Sequence[int]
    ) -> ActionResult:
        self.acts.append((action, list(lead_ids)))
        if self.refuse:
            raise ApiError("leadAction: HTTP 500")
        if not self.ignore:
            for i in lead_ids:
                if action is LeadAction.DELETE:
                    del self.records[i]
                else:
                    self.records[i] = replace(self.records[i], state="CANCELLED")
        return ActionResult(True, len(lead_ids))


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(State(tmp_path / "s.json")) as opened:
        yield opened


def reconciler(
    journal: Journal, records: Iterable[LeadRecord], **kw: Any
) -> tuple[Reconciler, Leads]:
    leads = Leads(records)
    return Reconciler(SimpleNamespace(leads=leads), journal, **kw), leads  # type: ignore[arg-type]


def report() -> LeadSetReport:
    return LeadSetReport(CID, None, 0)


def plan(
    handling: DuplicateHandling = DuplicateHandling.RETAIN_ALL,
    removals: Iterable[tuple[str, RemoveReason]] = (),
    deadlines: dict[str, Deadline] | None = None,
) -> Any:
    """What the Reconciler reads of a LeadSetPlan."""
    return SimpleNamespace(
        campaign=SimpleNamespace(id=CID),
        options=SimpleNamespace(duplicate_handling=handling),
        prune_action=PruneAction.CANCEL,
        removals=[SimpleNamespace(extern_id=e, reason=r, note="") for e, r in removals],
        corrections=[],
        owned_blocked=[],
        deadlines=deadlines or {},
    )


# -- what a search found ---------------------------------------------------------------------------
def test_a_record_with_the_leads_key_but_other_content_is_stale_not_loaded() -> None:
    ada = lead("a", firstName="Ada")
    records = [record(1, "a", content=(("firstName", "Grace"),))]
    assert stale([ada], records) == [ada]
    assert loaded([ada], records) == set()
    shown_alike = [record(1, "a", content=(("firstName", " ada "),))]  # trimmed, case-blind
    assert stale([ada], shown_alike) == [] and loaded([ada], shown_alike) == {ada}


def test_loaded_needs_a_dialable_record_with_the_posted_phone() -> None:
    ada = lead("a")
    assert loaded([ada], [record(1, "a", state="CANCELLED")]) == set()
    assert loaded([ada], [record(1, "a", phone="4155550199")]) == set()
    assert loaded([ada], [record(1, "a", phone="(415) 555-0100")]) == set()  # keys are digits
    assert loaded([ada], [record(1, "a")]) == {ada}
    assert loaded([ada], [record(1, "a")], post_again=frozenset({"a"})) == set()


def test_stopped_since_needs_the_newest_record_stopped_with_the_leads_phone_and_content() -> None:
    ada = lead("a", firstName="Ada")
    mine = {"phone": PHONE, "content": (("firstName", "Ada"),)}
    assert stopped_since([ada], [record(1, "a", state="CANCELLED", loaded="2", **mine)]) == [ada]
    assert stopped_since([ada], []) == []
    for records in (
        [record(1, "a", loaded="2", **mine)],  # dialable: loaded, not stopped
        [record(1, "a", state="CANCELLED", loaded="2", **mine), record(2, "a", loaded="1")],
        [record(1, "a", state="CANCELLED", loaded="2", phone="4155550199")],  # another phone
        [record(1, "a", state="CANCELLED", loaded="2", content=(("firstName", "Grace"),))],
        # the newest is another version's, stopped; the lead's own is older
        [
            record(1, "a", state="CANCELLED", loaded="1", **mine),
            record(2, "a", state="CANCELLED", loaded="2", content=(("firstName", "Bea"),)),
        ],
    ):
        assert stopped_since([ada], records) == [], records


# -- the Reconciler --------------------------------------------------------------------------------
def test_a_stale_record_is_cancelled_before_the_lead_is_posted_again(journal: Journal) -> None:
    rec, engage = reconciler(journal, [record(1, "a"), record(2, "b")])
    rep = report()
    blocked = rec.clear_stale("acct", CID, DuplicateHandling.RETAIN_ALL, [lead("a")], rep)
    assert blocked == set() and engage.acts == [(LeadAction.CANCEL, [1])]
    assert engage.records[1].state == "CANCELLED" and engage.records[2].state == "READY"
    assert rep.cancelled == 1 and rep.errors == []
    act = rec.journal.state.campaign(CID).acts  # updates are no removals: evidence only
    assert act["a"][0]["action"] == "CANCEL_LEADS" and act["a"][0]["answered"] is True


def test_under_remove_all_existing_the_loader_replaces_a_stale_record_with_its_phone_itself(
    journal: Journal,
) -> None:
    """Only a record of the lead with another phone is cancelled first (seed 1146): the
    loader replaces by phone, not by externId."""
    rec, engage = reconciler(journal, [record(1, "a")])
    handling = DuplicateHandling.REMOVE_ALL_EXISTING
    assert rec.clear_stale("acct", CID, handling, [lead("a")], report()) == set()
    assert engage.searches == 1 and engage.acts == []


def test_under_remove_all_existing_a_record_of_the_lead_with_another_phone_is_cancelled(
    journal: Journal,
) -> None:
    rec, engage = reconciler(journal, [record(1, "a", phone="4155559999")])
    handling = DuplicateHandling.REMOVE_ALL_EXISTING
    assert rec.clear_stale("acct", CID, handling, [lead("a")], report()) == set()
    assert engage.acts == [(LeadAction.CANCEL, [1])]


def test_an_update_whose_old_record_cannot_be_cancelled_is_not_loaded(journal: Journal) -> None:
    rec, engage = reconciler(journal, [record(1, "a"), record(2, "b")])
    engage.refuse = True
    rep = report()
    changed = {"a": Intent.UPDATE, "b": Intent.UPDATE}
    blocked = rec.prepare("acct", plan(), {"a": lead("a"), "b": lead("b")}, changed, set(), rep)
    assert blocked == {"a", "b"}
    assert rep.failed == 2 and rep.action_failures == 1
    assert rep.errors == [
        "CANCEL_LEADS of 2 record(s) failed: leadAction: HTTP 500",
        "2 lead(s) not loaded: their earlier records could not be cancelled or deleted, and "
        "loading them would leave two dialable records",
    ]
    assert rec.journal.state.campaign(CID).acts == {}  # refused: nothing carried out


def test_a_record_still_dialable_after_its_cancel_blocks_the_load(journal: Journal) -> None:
    rec, engage = reconciler(journal, [record(1, "a")])
    engage.ignore = True  # answered, not done
    rep = report()
    blocked = rec.prepare("acct", plan(), {"a": lead("a")}, {"a": Intent.UPDATE}, set(), rep)
    assert blocked == {"a"}
    assert "a: a record is still dialable after READY" in rep.errors


def test_a_failed_search_blocks_every_changed_lead_and_acts_on_none(journal: Journal) -> None:
    rec, engage = reconciler(journal, [record(1, "a")])
    engage.search_fails = True
    rep = report()
    changed = {"a": Intent.REPLACE}
    blocked = rec.prepare("acct", plan(), {"a": lead("a")}, changed, set(), rep)
    assert blocked == {"a"} and engage.acts == []
    assert rep.errors == ["lead search failed: leadSearch: HTTP 503"] and rep.failed == 1


def test_actions_go_in_batches_deletes_before_cancels(journal: Journal) -> None:
    records = [record(i, f"e{i}") for i in range(1, 6)]
    records.append(record(9, "e1", phone="4155550199"))  # another phone: cancelled
    rec, engage = reconciler(journal, records, action_batch=2)
    changed = {f"e{i}": Intent.UPDATE for i in range(1, 6)}
    declared = {e: lead(e) for e in changed}
    handling = DuplicateHandling.REMOVE_FROM_LIST
    rep = report()
    assert rec.prepare("acct", plan(handling), declared, changed, set(), rep) == set()
    assert [(a, len(ids)) for a, ids in engage.acts] == [
        (LeadAction.DELETE, 2),
        (LeadAction.DELETE, 2),
        (LeadAction.DELETE, 1),
        (LeadAction.CANCEL, 1),
    ]
    assert rep.deleted == 5 and rep.cancelled == 1 and list(engage.records) == [9]


def test_dedupe_keeps_the_newest_record_with_the_declared_phone(journal: Journal) -> None:
    records = [
        record(1, "a", loaded="2026-01-01"),
        record(2, "a", loaded="2026-03-01"),
        record(3, "a", phone="4155550199", loaded="2026-05-01"),  # newer, another phone
    ]
    rec, engage = reconciler(journal, records)
    rep = report()
    rec.prepare("acct", plan(), {"a": lead("a")}, {}, {"a"}, rep)
    assert sorted(i for _, ids in engage.acts for i in ids) == [1, 3]
    assert rep.corrected == {"duplicate": 1} and rep.cancelled == 2


def test_a_tombstone_is_cancelled_forgotten_and_its_evidence_kept(journal: Journal) -> None:
    day = date(2026, 11, 20)
    deadline = Deadline(Requested(day, DateSource.GIT, "abc"), day, OptOutRules())
    records = [record(1, "r"), record(2, "r", state="CANCELLED")]
    rec, engage = reconciler(journal, records)
    rep = report()
    rec.remove("acct", plan(removals=[("r", RemoveReason.REMOVED)], deadlines={"r": deadline}), rep)
    assert engage.acts == [(LeadAction.CANCEL, [1])]  # the cancelled record is left alone
    state = rec.journal.state
    assert state.campaign(CID).removed == {"r"} and rep.removed == 1
    (evidence,) = state.evidence
    assert (evidence["externId"], evidence["requested"], evidence["commit"]) == (
        "r",
        "2026-11-20",
        "abc",
    )
    assert [a["leadIds"] for a in evidence["acts"]] == [[1]]
    assert state.campaign(CID).requested == {}  # kept until done, then in the ledger


def test_a_tombstone_whose_phone_cannot_be_stopped_stays_to_do(journal: Journal) -> None:
    asked: list[Any] = []

    def stop(stops: list[Any]) -> set[str]:
        asked.extend(stops)
        return {s.phone for s in stops}  # none confirmed

    rec, engage = reconciler(journal, [record(1, "r")], stop_phones=stop)
    rep = report()
    rec.remove("acct", plan(removals=[("r", RemoveReason.REMOVED)]), rep)
    assert [s.phone for s in asked] == ["+14155550100"]
    assert engage.acts == [(LeadAction.CANCEL, [1])]
    assert rec.journal.state.campaign(CID).removed == set() and rep.removed == 0


def test_an_update_engage_holds_as_do_not_call_is_neither_touched_nor_loaded(
    journal: Journal,
) -> None:
    stopped: list[Any] = []

    def stop(stops: list[Any]) -> set[str]:
        stopped.extend(stops)
        return set()

    rec, engage = reconciler(
        journal,
        [record(1, "a", state="DO-NOT-CALL")],
        stop_phones=stop,
        dnc_states=("DO-NOT-CALL",),
        today=date(2026, 12, 1),
    )
    rep = report()
    declared = {"a": lead("a", "4155550199")}
    blocked = rec.prepare("acct", plan(), declared, {"a": Intent.REPLACE}, set(), rep)
    assert blocked == {"a"} and engage.acts == []
    assert sorted(s.phone for s in stopped) == ["+14155550100", "+14155550199"]
    assert {s.requested for s in stopped} == {date(2026, 12, 1)}
    assert rep.notes[0].startswith("1 lead(s) not loaded: Engage holds their record as do-not-call")
    assert rep.failed == 0  # not a failure: Engage's opt-out wins


@pytest.mark.parametrize("handling", [DuplicateHandling.RETAIN_ALL, None])
def test_nothing_wanted_searches_nothing(
    journal: Journal, handling: DuplicateHandling | None
) -> None:
    rec, engage = reconciler(journal, [record(1, "a")])
    assert rec.clear_stale("acct", CID, handling, [], report()) == set()
    assert rec.prepare("acct", plan(), {}, {}, set(), report()) == set()
    assert engage.searches == 0
