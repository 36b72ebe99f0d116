"""reconcile/donotcall.py: the Sweeper against an in-memory Engage (search by phone, cancel), a
real journal and state in tmp_path; Engage's own opt-outs (`engage_opt_outs`). The phones'
forms and keys are in test_donotcall.py; the whole apply in test_donotcall_e2e.py."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from engage_sync.donotcall.keys import PhoneKey
from engage_sync.donotcall.registry import Origin, Registry
from engage_sync.engage.answers import ActionResult
from engage_sync.engage.leads import LeadAction, LeadRecord, phone_key
from engage_sync.errors import ApiError
from engage_sync.model import Lead
from engage_sync.optouts import DateSource, OptOutRules, ledger
from engage_sync.reconcile.donotcall import (
    DoNotCallReport,
    Stop,
    Sweeper,
    engage_opt_outs,
)
from engage_sync.state import Journal, State, journal_path
from engage_sync.state.replay import replay

ACCOUNT = "99990001"
PHONE = "+14155550100"  # E.164, as a Stop holds it
OTHER = "+14155550199"
KEY = PhoneKey(b"a test key of enough length", "secret")
DAY = date(2026, 3, 2)


def record(
    lead_id: int, campaign: int, phone: str = "4155550100", state: str = "READY", eid: str = ""
) -> LeadRecord:
    return LeadRecord(
        lead_id, eid or f"L-{lead_id}", campaign, phone_key(phone), state, False, phones=(phone,)
    )


class Leads:
    """Engage's records of one account: a search by phone matches the digits of any form sent;
    a cancel makes a record CANCELLED. `refuse` fails the cancels, `ignore` answers them yet
    changes nothing, `fail_search` fails the n-th search (1-based) and after."""

    def __init__(self, records: Iterable[LeadRecord]) -> None:
        self.records = {r.lead_id: r for r in records}
        self.searches: list[tuple[list[str], list[int] | None]] = []
        self.acts: list[tuple[int, LeadAction, list[int]]] = []
        self.refuse = self.ignore = False
        self.fail_search = 0
        self.page_size = 1000

    def search_phones(
        self,
        account: str,
        numbers: Sequence[str],
        campaigns: Sequence[int] | None = None,
        states: Sequence[str] | None = None,
        chunk: int = 0,
    ) -> list[LeadRecord]:
        self.searches.append((list(numbers), list(campaigns) if campaigns is not None else None))
        if self.fail_search and len(self.searches) >= self.fail_search:
            raise ApiError("leadSearch: HTTP 503 for +14155550100")
        keys = {phone_key(n) for n in numbers}
        return [
            r
            for r in self.records.values()
            if phone_key(r.phones[0]) in keys
            and (campaigns is None or r.campaign_id in campaigns)
            and (states is None or r.state in states)
        ]

    def search_states(
        self, account: str, states: Sequence[str], campaigns: Sequence[int] | None = None
    ) -> list[LeadRecord]:
        self.searches.append((list(states), list(campaigns) if campaigns is not None else None))
        return list(self.records.values())  # the filtering is the caller's to do

    def search_states_at_most(
        self, account: str, states: Sequence[str], campaigns: Sequence[int] | None, pages: int
    ) -> list[LeadRecord] | None:
        """As `search_states`, in pages of `page_size` records: each page a search, and one
        more for the empty page that ends it (`fail_search` fails the read)."""
        if self.fail_search:
            raise ApiError("leadSearch: HTTP 503")
        records = self.search_states(account, states, campaigns)
        return None if -(-len(records) // self.page_size) + 1 > pages else records

    def act(
        self, account: str, campaign: int, action: LeadAction, lead_ids: Sequence[int]
    ) -> ActionResult:
        self.acts.append((campaign, action, list(lead_ids)))
        if self.refuse:
            raise ApiError("leadAction: HTTP 500")
        if not self.ignore:
            for i in lead_ids:
                self.records[i] = replace(self.records[i], state="CANCELLED")
        return ActionResult(True, len(lead_ids))


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(State(tmp_path / "s.json")) as opened:
        yield opened


def sweeper(journal: Journal, records: Iterable[LeadRecord], **kw: Any) -> tuple[Sweeper, Leads]:
    leads = Leads(records)
    rules = OptOutRules(scope=kw.pop("scope", "account"))
    client = SimpleNamespace(leads=leads)
    return Sweeper(client, journal, rules, kw.pop("key", KEY), **kw), leads  # type: ignore[arg-type]


def stop(phone: str = PHONE, source: str | None = "IVR") -> Stop:
    return Stop(phone, DAY, DateSource.LEAD_SET, source)


# -- a sweep ---------------------------------------------------------------------------------------
class Accounts:
    """Several accounts' records: each call goes to its account's `Leads`."""

    def __init__(self, by_account: dict[str, Leads]) -> None:
        self.by_account = by_account

    def search_phones(self, account: str, *args: Any, **kwargs: Any) -> list[LeadRecord]:
        return self.by_account[account].search_phones(account, *args, **kwargs)

    def search_states_at_most(self, account: str, *args: Any) -> list[LeadRecord] | None:
        return self.by_account[account].search_states_at_most(account, *args)

    def act(self, account: str, *args: Any) -> ActionResult:
        return self.by_account[account].act(account, *args)


def test_a_phone_stopped_in_one_account_is_still_stopped_in_the_next(journal: Journal) -> None:
    """An apply of lead sets in two accounts sweeps the repository's phones in each (a thread
    an account). The phones one account's sweep stopped were taken as stopped everywhere: the
    other account's records with them were left dialable."""
    mine, theirs = Leads([record(1, 7)]), Leads([record(2, 9)])
    rules = OptOutRules(scope="account")
    client = SimpleNamespace(leads=Accounts({ACCOUNT: mine, "99990002": theirs}))
    sw = Sweeper(client, journal, rules, KEY)  # type: ignore[arg-type]
    sw.expect([stop()], [ACCOUNT, "99990002"])
    assert sw.sweep(ACCOUNT, [stop()]) == set()
    theirs.refuse = True  # its cancel fails: that account is not done with the phone
    assert sw.sweep("99990002", [stop()]) == {PHONE}
    # not recorded as stopped (which would block it and end the retries) until both confirm
    assert journal.state.do_not_call.done == {} and sw.report.stopped == 0
    theirs.refuse = False
    assert sw.sweep("99990002", [stop()]) == set()
    assert mine.records[1].state == theirs.records[2].state == "CANCELLED"
    assert sw.done == {PHONE} and list(journal.state.do_not_call.done) == [KEY.digest(PHONE)]
    assert sw.report.stopped == 1
    assert sorted(line["leadIds"][0] for line in journal.state.evidence) == [1, 2]
    searched = len(theirs.searches)
    assert sw.sweep("99990002", [stop()]) == set() and len(theirs.searches) == searched  # done


def test_a_phone_learned_in_one_account_is_swept_and_looked_up_in_every_account_of_the_run(
    journal: Journal,
) -> None:
    """One caller, one opt-out: a phone one account learned (Engage holds it, a tombstone's
    records had it) is stopped in each account of the run, and a look-up for Engage's
    opt-outs asks each; each account's ledger line keeps its own cancels."""
    east = Leads([record(1, 7, state="DO-NOT-CALL")])
    west = Leads([record(2, 9), record(3, 9, phone="4155550101")])
    client = SimpleNamespace(leads=Accounts({ACCOUNT: east, "99990002": west}))
    sw = Sweeper(client, journal, OptOutRules(), KEY)  # type: ignore[arg-type]
    sw.accounts = (ACCOUNT, "99990002")
    assert sw.held("99990002", ["4155550100", "4155550101"]) == {PHONE}  # East's, seen by West
    assert [n for n, _ in west.searches] == [["4155550100", "4155550101"]]
    assert [n for n, _ in east.searches] == [["DO-NOT-CALL", "DO_NOT_CALL"]]  # read whole
    assert sw.sweep_everywhere(ACCOUNT, [stop()]) == set()
    assert west.records[2].state == "CANCELLED" and west.records[3].state == "READY"
    assert east.acts == [] and west.acts == [(9, LeadAction.CANCEL, [2])]
    east_line, west_line = journal.state.evidence
    assert (east_line["account"], east_line["acts"]) == (ACCOUNT, [])
    assert west_line["account"] == "99990002" and west_line["leadIds"] == [2]
    assert [(a["campaign"], a["account"]) for a in west_line["acts"]] == [(9, "99990002")]
    assert journal.state.do_not_call.acts == {}
    searched = len(west.searches)
    assert sw.sweep_everywhere("99990002", [stop()]) == set() and len(west.searches) == searched


def test_another_accounts_opt_outs_are_read_whole_while_fresh_and_few_else_searched_for(
    journal: Journal,
) -> None:
    """A look-up in a run of two accounts asks the other account too. Its do-not-call records
    are read whole (a search or a few) and used for ELSEWHERE_S seconds: per batch, searching
    it as well would double the searches, which would then pace the loads. Too many to read
    whole, they are searched for batch by batch. A record's other phones come with it, as a
    search answers them."""
    now = [0.0]
    held = replace(record(1, 7, state="DO-NOT-CALL"), phones=("4155550100", "4155550177"))
    east = Leads([held, record(4, 7, phone="4155550104")])
    west = Leads([])
    client = SimpleNamespace(leads=Accounts({ACCOUNT: east, "99990002": west}))
    sw = Sweeper(client, journal, OptOutRules(), KEY, clock=lambda: now[0])  # type: ignore[arg-type]
    sw.accounts = (ACCOUNT, "99990002")
    assert sw.held("99990002", ["4155550104"]) == set()  # East has it, dialable: not held
    assert sw.held("99990002", ["(415) 555-0100", "4155550199"]) == {PHONE, "+14155550177"}
    assert len(east.searches) == 1  # read once for both
    now[0] = 10.5
    east.records[4] = record(4, 7, phone="4155550104", state="DO-NOT-CALL")  # an agent, since
    assert sw.held("99990002", ["4155550104"]) == {"+14155550104"} and len(east.searches) == 2
    east.fail_search = 1  # a read that fails: raised (the batch is not posted), kept nowhere
    now[0] = 21.0
    with pytest.raises(ApiError):
        sw.held("99990002", ["4155550104"])
    east.fail_search = 0
    assert sw.held("99990002", ["4155550104"]) == {"+14155550104"} and len(east.searches) == 3
    east.records[5] = record(5, 8, phone="4155550105")
    east.page_size = 1  # three records and an empty page: more than ELSEWHERE_PAGES (3)
    now[0] = 32.0
    assert sw.held("99990002", ["4155550104", "4155550199"]) == {"+14155550104"}
    assert east.searches[-1][0] == ["4155550104", "4155550199"]  # searched for, from now on
    assert sw.held("99990002", ["4155550100"]) == {PHONE, "+14155550177"}
    assert east.searches[-1][0] == ["4155550100"] and len(east.searches) == 6


def test_a_confirmation_in_one_account_keeps_the_cancels_sent_in_another(
    journal: Journal,
) -> None:
    """A run cut short sent West's cancel but confirmed nothing; the next run confirms East
    first: West's cancel waits for West's line instead of going with East's (or nowhere)."""
    digest = KEY.digest(PHONE)
    journal.dnc_key(KEY.to_json())
    number = journal.dnc_act(9, LeadAction.CANCEL.value, [(2, digest)], "99990002")
    journal.acted(number, True, 1)
    east = Leads([])
    west = Leads([record(2, 9, state="CANCELLED")])
    client = SimpleNamespace(leads=Accounts({ACCOUNT: east, "99990002": west}))
    sw = Sweeper(client, journal, OptOutRules(), KEY)  # type: ignore[arg-type]
    sw.expect([stop()], [ACCOUNT, "99990002"])
    assert sw.sweep(ACCOUNT, [stop()]) == set()
    assert [a["campaign"] for a in journal.state.do_not_call.acts[digest]] == [9]
    assert journal.state.do_not_call.done == {}
    assert sw.sweep("99990002", [stop()]) == set()
    east_line, west_line = journal.state.evidence
    assert east_line["acts"] == [] and [a["leadIds"] for a in west_line["acts"]] == [[2]]
    assert journal.state.do_not_call.acts == {} and list(journal.state.do_not_call.done) == [digest]
    # the journal replayed (a crash before the state was saved) gives the same
    replayed = State(journal.state.store)
    assert replay(replayed) is True
    assert replayed.evidence == journal.state.evidence and replayed.do_not_call.acts == {}


def test_a_phone_another_account_failed_to_stop_is_not_recorded_and_is_stopped_next_run(
    journal: Journal,
) -> None:
    """East confirms, West's checking search fails: the phone's hash stays out of the state, so
    nothing blocks it before the next run learns it again, which sweeps West (East again:
    harmless) and records it; West's cancel reaches West's line then."""
    east, west = Leads([record(1, 7)]), Leads([record(2, 9)])
    client = SimpleNamespace(leads=Accounts({ACCOUNT: east, "99990002": west}))
    sw = Sweeper(client, journal, OptOutRules(), KEY)  # type: ignore[arg-type]
    sw.accounts = (ACCOUNT, "99990002")
    west.fail_search = 2  # the search after the cancel
    assert sw.sweep_everywhere(ACCOUNT, [stop(source="engage")]) == {PHONE}
    digest = KEY.digest(PHONE)
    dnc = journal.state.do_not_call
    assert dnc.done == {} and [a["account"] for a in dnc.acts[digest]] == ["99990002"]
    assert sw.report.stopped == sw.report.learned == 0 and len(sw.report.errors) == 1
    assert [line["account"] for line in journal.state.evidence] == [ACCOUNT]
    assert PHONE in sw.done  # no load of this run posts it
    replayed = State(journal.state.store)  # a crash here: the journal folds into the same
    assert replay(replayed) is True
    assert (replayed.do_not_call.done, replayed.do_not_call.acts) == (dnc.done, dnc.acts)
    assert replayed.evidence == journal.state.evidence
    west.fail_search = 0
    again = Sweeper(client, journal, OptOutRules(), KEY)  # type: ignore[arg-type]
    again.accounts = (ACCOUNT, "99990002")
    assert again.sweep_everywhere(ACCOUNT, [stop(source="engage")]) == set()
    assert list(dnc.done) == [digest] and dnc.acts == {}
    assert again.report.stopped == again.report.learned == 1
    west_line = journal.state.evidence[-1]
    assert west_line["account"] == "99990002" and west_line["leadIds"] == []  # cancelled before
    assert [a["leadIds"] for a in west_line["acts"]] == [[2]]


def test_a_record_that_landed_beside_another_accounts_sweep_is_stopped_once_loads_end(
    journal: Journal,
) -> None:
    """West learns the phone while East still loads: East is swept (nothing yet), then a batch
    East checked before lands with the phone. Once every load is answered, East is searched
    again: the record is cancelled, with a line of its own."""
    east, west = Leads([]), Leads([record(2, 9, state="DO-NOT-CALL")])
    client = SimpleNamespace(leads=Accounts({ACCOUNT: east, "99990002": west}))
    sw = Sweeper(client, journal, OptOutRules(), KEY)  # type: ignore[arg-type]
    sw.accounts, sw.working = (ACCOUNT, "99990002"), {ACCOUNT, "99990002"}
    assert sw.sweep_everywhere("99990002", [stop(source="engage")]) == set()
    assert len(journal.state.evidence) == 2 and sw.report.stopped == 1
    east.records[5] = record(5, 7)  # the batch that passed the check before the sweep
    sw.finished("99990002")
    sw.finished(ACCOUNT)
    sw.recheck()
    assert east.records[5].state == "CANCELLED" and east.acts == [(7, LeadAction.CANCEL, [5])]
    line = journal.state.evidence[-1]
    assert (line["account"], line["leadIds"], [a["leadIds"] for a in line["acts"]]) == (
        ACCOUNT,
        [5],
        [[5]],
    )
    assert sw.report.stopped == 1 and journal.state.do_not_call.acts == {}
    # folded into the ledger, in the same second as East's first line: a line of its own
    assert ledger.append(journal.state.store, journal.state.evidence) == 3
    searched = len(east.searches)
    sw.recheck()  # nothing left to look at
    assert len(east.searches) == searched


def test_a_sweep_of_an_account_that_is_not_loading_is_not_looked_at_again(
    journal: Journal,
) -> None:
    """East's loads are done; the default account (no lead set names it: swept for listed
    phones only) is still loading: a phone learned in West is looked at again in neither."""
    east, west = Leads([]), Leads([record(2, 9, state="DO-NOT-CALL")])
    default = Leads([record(8, 4)])
    client = SimpleNamespace(leads=Accounts({ACCOUNT: east, "99990002": west, "55550005": default}))
    sw = Sweeper(client, journal, OptOutRules(), KEY)  # type: ignore[arg-type]
    sw.accounts, sw.working = (ACCOUNT, "99990002"), {"99990002", "55550005"}
    assert sw.sweep_everywhere("99990002", [stop(source="engage")]) == set()
    searched = len(east.searches)
    sw.recheck()
    assert len(east.searches) == searched == 1
    assert default.searches == [] and default.records[8].state == "READY"


def test_a_sweep_cancels_the_phones_dialable_records_in_every_campaign_and_records_the_phone(
    journal: Journal,
) -> None:
    records = [
        record(1, 7),
        record(2, 8, phone="(415) 555-0100"),  # another form of the same phone
        record(3, 8, state="CANCELLED"),  # not dialable: left alone
        record(4, 7, phone="4155550101"),  # another phone
    ]
    sw, leads = sweeper(journal, records)
    assert sw.sweep(ACCOUNT, [stop()]) == set()
    assert sorted((cid, ids) for cid, _, ids in leads.acts) == [(7, [1]), (8, [2])]
    assert {a for _, a, _ in leads.acts} == {LeadAction.CANCEL}
    assert leads.records[4].state == "READY"
    assert len(leads.searches) == 2  # the search, then the check after the cancels
    assert (sw.report.stopped, sw.report.cancelled, sw.report.errors) == (1, 2, [])
    assert sw.done == {PHONE}
    dnc = journal.state.do_not_call
    digest = KEY.digest(PHONE)
    assert list(dnc.done) == [digest] and dnc.done[digest][:2] == ["2026-03-02", "lead set"]
    (line,) = journal.state.evidence
    assert line["phone"] == digest and line["keyId"] == KEY.ident
    assert (line["campaigns"], line["leadIds"], line["scope"]) == ([7, 8], [1, 2], "account")
    assert line["source"] == "IVR" and line["due"] == "2026-03-16"  # ten business days
    assert line["met"] is (OptOutRules().today() <= date(2026, 3, 16))
    assert PHONE not in journal_path(journal.state).read_text(encoding="utf-8")  # keyed hashes only


def test_a_phone_with_no_dialable_record_is_recorded_after_one_search(journal: Journal) -> None:
    sw, leads = sweeper(journal, [record(1, 7, state="DO-NOT-CALL")])
    assert sw.sweep(ACCOUNT, [stop()]) == set()
    assert leads.acts == [] and len(leads.searches) == 1  # nothing cancelled: nothing to check
    assert sw.report.stopped == 1 and sw.report.cancelled == 0


def test_a_phone_this_run_stopped_is_not_swept_again(journal: Journal) -> None:
    sw, leads = sweeper(journal, [record(1, 7)])
    sw.sweep(ACCOUNT, [stop()])
    searches = len(leads.searches)
    assert sw.sweep(ACCOUNT, [stop()]) == set()
    assert len(leads.searches) == searches and sw.report.stopped == 1


def test_scope_campaign_searches_and_cancels_only_the_lead_sets_campaigns(
    journal: Journal,
) -> None:
    sw, leads = sweeper(
        journal, [record(1, 7), record(2, 8)], scope="campaign", campaigns={ACCOUNT: {7}}
    )
    sw.sweep(ACCOUNT, [stop()])
    assert [c for _, c in leads.searches] == [[7], [7]]
    assert [(cid, ids) for cid, _, ids in leads.acts] == [(7, [1])]
    assert leads.records[2].state == "READY"
    assert journal.state.evidence[0]["scope"] == [7]
    # an account the lead sets do not name has no campaign in scope
    assert sw.scope("other") == set()


def test_a_failed_search_stops_nothing_and_says_so_without_the_phone(journal: Journal) -> None:
    sw, leads = sweeper(journal, [record(1, 7)])
    leads.fail_search = 1
    assert sw.sweep(ACCOUNT, [stop(), stop(OTHER)]) == {PHONE, OTHER}
    assert leads.acts == [] and sw.done == set() and not journal.state.do_not_call.done
    (error,) = sw.report.errors
    assert error.startswith("do-not-call search failed") and "5550100" not in error
    assert not sw.report.ok


def test_a_refused_cancel_leaves_the_phone_unrecorded(journal: Journal) -> None:
    sw, leads = sweeper(journal, [record(1, 7), record(2, 7, phone="4155550199")])
    leads.refuse = True
    assert sw.sweep(ACCOUNT, [stop(), stop(OTHER)]) == {PHONE, OTHER}  # one cancel, both phones
    assert sw.report.cancelled == 0 and sw.report.stopped == 0
    # the check after it still runs, and finds the records dialable
    assert sw.report.errors[0] == "cancel of 2 do-not-call record(s) failed: leadAction: HTTP 500"
    assert len(sw.report.errors) == 3
    assert not journal.state.do_not_call.done


def test_a_record_still_dialable_after_the_cancel_fails_its_phone(journal: Journal) -> None:
    sw, leads = sweeper(journal, [record(1, 7), record(2, 8, phone="4155550199")])
    leads.ignore = True
    assert sw.sweep(ACCOUNT, [stop(), stop(OTHER)]) == {PHONE, OTHER}
    assert len(sw.report.errors) == 2
    assert "campaign 7" in sw.report.errors[0] and "still dialable" in sw.report.errors[0]
    assert sw.report.stopped == 0 and sw.done == set()


def test_a_failed_checking_search_records_nothing(journal: Journal) -> None:
    sw, leads = sweeper(journal, [record(1, 7)])
    leads.fail_search = 2
    assert sw.sweep(ACCOUNT, [stop()]) == {PHONE}
    assert sw.report.cancelled == 1 and sw.report.stopped == 0
    assert sw.report.errors[0].startswith("do-not-call checking search failed")
    assert not journal.state.do_not_call.done


def test_owned_records_cancelled_by_a_sweep_are_forgotten(journal: Journal) -> None:
    leads = [
        Lead.from_mapping({"externId": e, "leadPhone": "4155550111"}, "f.yaml", 1)
        for e in ("L-1", "L-9")
    ]
    journal.ack(journal.begin(7, ["L-1", "L-9"]), 7, leads, "f.yaml")
    camp = journal.state.campaigns[7]
    assert camp.owns("L-1")
    sw, _ = sweeper(journal, [record(1, 7, eid="L-1"), record(2, 8, eid="L-1")])
    sw.sweep(ACCOUNT, [stop()])
    assert not camp.owns("L-1") and camp.owns("L-9")
    assert 8 not in journal.state.campaigns  # a campaign the state never held is not made


def test_a_stop_asked_for_today_meets_its_deadline(journal: Journal) -> None:
    sw, _ = sweeper(journal, [record(1, 7)])
    today = OptOutRules().today()
    sw.sweep(ACCOUNT, [Stop(PHONE, today, DateSource.FIRST_SEEN, "engage")])
    (line,) = journal.state.evidence
    assert line["met"] is True and line["businessDays"] == 0
    assert line["requestedFrom"] == "first seen" and line["requested"] == today.isoformat()


def test_learned_phones_are_counted_apart(journal: Journal) -> None:
    sw, _ = sweeper(journal, [])
    sw.sweep(ACCOUNT, [stop(source="tombstone"), stop(OTHER, source="engage")])
    sw.sweep(ACCOUNT, [stop("+14155550123", source="IVR")])
    assert (sw.report.stopped, sw.report.learned) == (3, 2)


def test_the_hash_key_is_made_once_and_journalled_before_the_first_hash(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENGAGE_SYNC_PHONE_KEY", raising=False)
    sw, _ = sweeper(journal, [], key=None)
    key = sw.hash_key()
    assert key.kind == "salt" and sw.hash_key() is key
    assert journal.state.do_not_call.key == key.to_json()
    monkeypatch.setenv("ENGAGE_SYNC_PHONE_KEY", "s" * 16)
    sw2, _ = sweeper(journal, [], key=None)
    assert sw2.hash_key().kind == "secret"


def test_the_report_as_a_dict() -> None:
    report = DoNotCallReport(to_stop=3, stopped=2, cancelled=4, learned=1, skipped=5)
    assert report.ok
    assert report.as_dict() == {
        "toStop": 3,
        "stopped": 2,
        "cancelled": 4,
        "learned": 1,
        "skipped": 5,
        "errors": [],
    }


# -- Engage's own opt-outs -------------------------------------------------------------------------
def test_held_takes_the_look_ahead_answer_when_it_covers_the_phones(journal: Journal) -> None:
    answers: list[set[str] | None] = [{PHONE}, None]
    ahead = SimpleNamespace(held=lambda account, phones: answers.pop(0))
    sw, leads = sweeper(journal, [record(1, 7, state="DO-NOT-CALL")], ahead=ahead)
    assert sw.held(ACCOUNT, ["4155550100"]) == {PHONE} and leads.searches == []
    assert sw.held(ACCOUNT, ["4155550100"]) == {PHONE}  # not covered: searched now
    assert len(leads.searches) == 1


def test_held_searches_in_the_do_not_call_states_of_the_scope(journal: Journal) -> None:
    records = [
        record(1, 7, state="DO-NOT-CALL"),
        record(2, 8, phone="4155550199", state="DO-NOT-CALL"),
    ]
    sw, _ = sweeper(journal, records, scope="campaign", campaigns={ACCOUNT: {7}})
    assert sw.held(ACCOUNT, ["4155550100", "4155550199"]) == {PHONE}
    sw.states = ("PAUSED",)
    assert sw.held(ACCOUNT, ["4155550100"]) == set()


def registry(*listed: str) -> Registry:
    reg = Registry("US")
    for phone in listed:
        reg.add(phone, Origin("dnc.yaml", 1, None, None))
    return reg


def test_engage_opt_outs_are_the_do_not_call_records_no_list_names() -> None:
    records = [
        record(1, 7, state="DO_NOT_CALL"),  # the guide's spelling
        record(2, 7, phone="4155550199", state="DO-NOT-CALL"),  # listed already
        record(3, 8, phone="4155550123", state="DO-NOT-CALL"),
        record(4, 7, phone="4155550124", state="READY"),
    ]
    leads = Leads(records)
    client: Any = SimpleNamespace(leads=leads)
    found = engage_opt_outs(client, ACCOUNT, registry(OTHER))
    assert found == {PHONE, "+14155550123"}
    assert leads.searches[0] == (["DO-NOT-CALL", "DO_NOT_CALL"], None)
    assert engage_opt_outs(client, ACCOUNT, registry(), campaigns=[8]) == {"+14155550123"}
    assert leads.searches[-1][1] == [8]
    assert engage_opt_outs(client, ACCOUNT, registry(), states=("READY",)) == {"+14155550124"}
