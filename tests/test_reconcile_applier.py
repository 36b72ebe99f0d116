"""reconcile/applier.py: the Applier alone, on a plan made from real files in tmp_path, against the
emulator in-process (httpx's WSGI transport) and a fake clock: what a lead set's campaign must be
before anything is posted, accounts, fail-fast, a server gone, the do-not-call look-ups between
the files and the loader (through a fake Sweeper), and the look-first mode. The whole apply
(plan, gate, ask, seal) is in test_operation.py; end to end in test_apply_e2e.py."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import write
from test_client import FakeClock, make

from engage_sync import workspace
from engage_sync.config import load_config
from engage_sync.emulator import Emulator
from engage_sync.engage import EngageClient
from engage_sync.errors import ApiError
from engage_sync.model import DuplicateHandling
from engage_sync.optouts import OptOutRules
from engage_sync.reconcile.applier import Applier
from engage_sync.reconcile.donotcall import DoNotCallReport, Stop
from engage_sync.reconcile.report import Report
from engage_sync.state import Journal

ACCOUNT = "99990001"
STATE = Path("engage-sync.state.json")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "engage-sync.yaml", "leadsets: leadsets\n")
    return tmp_path


def leadset(
    name: str,
    campaign: str,
    numbers: Sequence[int],
    handling: str = "RETAIN_ALL",
    account: str | None = None,
) -> None:
    text = f"campaign: {campaign}\n"
    if account is not None:
        text += f'account: "{account}"\n'
    text += (
        f"options: {{duplicateHandling: {handling}, dialPriority: NORMAL, "
        "timeZoneOption: NPA_NXX}\nleads:\n"
        + "".join(f'  - {{externId: "L-{i}", leadPhone: "41555501{i:02d}"}}\n' for i in numbers)
    )
    write(Path("leadsets") / f"{name}.yaml", text)


def apply(
    emu: Emulator, client: EngageClient | None = None, account: str | None = ACCOUNT, **kw: Any
) -> Report:
    planned = workspace.build_plan([], load_config(None), STATE)
    client = client or make(emu, FakeClock())
    with client, Journal(planned.state) as journal:
        applier = Applier(client, journal, account, lookup_delay=0.0, **kw)
        report = applier.run(planned.plan, planned.inputs)
        journal.fold()
    return report


def loaded(emu: Emulator, campaign: int) -> list[str]:
    return sorted(r["externId"] for r in emu.store.all_leads(campaign))


# -- the campaign, before anything is posted -------------------------------------------------------
def test_a_lead_set_is_loaded_and_reported_in_plan_order(folder: Path, emu: Emulator) -> None:
    leadset("b", "136790", [3])
    leadset("a", "136785", [1, 2])
    report = apply(emu)
    assert report.ok and not report.stopped_early and not report.server_gone
    assert [(r.campaign_id, r.posted) for r in report.leadsets] == [(136785, 2), (136790, 1)]
    assert loaded(emu, 136785) == ["L-1", "L-2"] and loaded(emu, 136790) == ["L-3"]


def test_no_account_posts_nothing_and_says_where_to_set_one(folder: Path, emu: Emulator) -> None:
    leadset("a", "136785", [1, 2])
    (rep,) = apply(emu, account=None).leadsets
    assert rep.failed == 2 and rep.posted == 0
    assert rep.errors == [
        "no account: set `account:` in the lead set, ENGAGE_ACCOUNT_ID or engage-sync.yaml"
    ]
    assert loaded(emu, 136785) == []


def test_a_lead_sets_own_account_wins_over_the_default(folder: Path, emu: Emulator) -> None:
    leadset("a", "136785", [1], account="12345678")
    (rep,) = apply(emu).leadsets
    assert rep.errors and "account 12345678" in rep.errors[0]
    assert loaded(emu, 136785) == []


def test_a_campaign_the_account_does_not_have_posts_nothing(folder: Path, emu: Emulator) -> None:
    leadset("a", "555", [1, 2])
    (rep,) = apply(emu).leadsets
    assert rep.errors == [f"campaign 555 does not exist in account {ACCOUNT}: nothing posted"]
    assert rep.failed == 2 and not rep.ok


def test_a_campaign_named_otherwise_in_engage_posts_nothing(folder: Path, emu: Emulator) -> None:
    leadset("a", "{id: 136785, name: Winter Outreach}", [1])
    (rep,) = apply(emu).leadsets
    assert rep.errors == [
        "campaign 136785 is named 'Renewal Outreach' in Engage, not 'Winter Outreach': "
        "nothing posted"
    ]
    assert loaded(emu, 136785) == []


def test_an_inactive_campaign_is_loaded_with_a_note(folder: Path, emu: Emulator) -> None:
    leadset("a", "{id: 136799, name: Archived Survey}", [1])
    (rep,) = apply(emu).leadsets
    assert rep.ok and rep.posted == 1
    assert rep.notes == [
        "campaign 136799 is inactive in Engage: its leads are loaded but not dialled until it "
        "is activated"
    ]


def test_campaigns_that_cannot_be_listed_post_nothing(folder: Path, emu: Emulator) -> None:
    leadset("a", "136785", [1])
    client = make(emu, FakeClock())

    def unlisted(account: str) -> Any:
        raise ApiError("dialGroups: HTTP 503")

    client.dial_groups_with_campaigns = unlisted  # type: ignore[method-assign]
    (rep,) = apply(emu, client=client).leadsets
    assert rep.errors == [f"cannot list campaigns of account {ACCOUNT}: dialGroups: HTTP 503"]
    assert rep.failed == 1 and loaded(emu, 136785) == []


def test_an_accounts_campaigns_are_listed_once(folder: Path, emu: Emulator) -> None:
    leadset("a", "136785", [1])
    leadset("b", "136790", [2])
    apply(emu)
    listings = [r for r in emu.requests if "dialGroups" in r["path"]]
    assert len(listings) == 1


# -- accounts, fail-fast, a server gone ------------------------------------------------------------
def test_fail_fast_stops_the_account_after_the_first_lead_set_that_failed(
    folder: Path, emu: Emulator
) -> None:
    leadset("a", "555", [1])
    leadset("b", "136785", [2])
    report = apply(emu, fail_fast=True)
    assert report.stopped_early
    failed, untouched = report.leadsets
    assert not failed.ok and untouched.posted == 0 and untouched.errors == []
    assert loaded(emu, 136785) == []
    # without it, the next lead set is applied all the same
    assert not apply(emu).stopped_early and loaded(emu, 136785) == ["L-2"]


def test_nothing_is_sent_once_the_server_is_gone(folder: Path, emu: Emulator) -> None:
    leadset("a", "136785", [1, 2, 3])
    client = make(emu, FakeClock())
    client._gone = "connection refused 5 times"  # as the client sets it
    report = apply(emu, client=client)
    (rep,) = report.leadsets
    assert report.server_gone and rep.failed == 3 and rep.posted == 0
    assert rep.errors == [], rep.errors
    assert loaded(emu, 136785) == []


def test_accounts_run_apart_each_within_its_own_campaigns(folder: Path, emu: Emulator) -> None:
    leadset("a", "136785", [1])
    leadset("b", "136790", [2], account="12345678")  # an account the emulator does not have
    report = apply(emu)
    ok, refused = report.leadsets
    assert ok.ok and ok.posted == 1
    assert not refused.ok and refused.posted == 0
    assert loaded(emu, 136785) == ["L-1"] and loaded(emu, 136790) == []


# -- do not call between the files and the loader --------------------------------------------------
@dataclass
class FakeSweeper:
    """What the Applier asks of a Sweeper: `held` answers the phones given (E.164) as held in
    Engage, or raises `fails`; `sweep` (and `sweep_everywhere`) records the stops."""

    holds: set[str] = field(default_factory=set)
    fails: ApiError | None = None
    states: tuple[str, ...] = ("DO-NOT-CALL",)
    rules: OptOutRules = field(default_factory=OptOutRules)
    report: DoNotCallReport = field(default_factory=DoNotCallReport)
    done: set[str] = field(default_factory=set)
    swept: list[tuple[str, list[str]]] = field(default_factory=list)
    looked: list[list[str]] = field(default_factory=list)
    accounts: tuple[str, ...] = ()  # set by the applier
    working: set[str] = field(default_factory=set)
    expected: list[tuple[list[str], list[str]]] = field(default_factory=list)
    rechecked: int = 0

    def held(self, account: str, phones: Sequence[str]) -> set[str]:
        self.looked.append(list(phones))
        if self.fails is not None:
            raise self.fails
        return set(self.holds)

    def sweep(self, account: str, stops: Sequence[Stop]) -> set[str]:
        self.swept.append((account, [s.phone for s in stops]))
        return set()

    def sweep_everywhere(self, account: str, stops: Sequence[Stop]) -> set[str]:
        return self.sweep(account, stops)

    def expect(self, stops: Sequence[Stop], accounts: Sequence[str]) -> None:
        self.expected.append(([s.phone for s in stops], sorted(accounts)))

    def finished(self, account: str) -> None:
        self.working.discard(account)

    def recheck(self) -> None:
        self.rechecked += 1

    def skipped(self, leads: int) -> None:
        self.report.skipped += leads


def test_a_lead_whose_phone_engage_holds_as_do_not_call_is_not_loaded(
    folder: Path, emu: Emulator
) -> None:
    leadset("a", "136785", [1, 2, 3])
    sweeper = FakeSweeper(holds={"+14155550102"})
    progress: list[int] = []
    report = apply(emu, sweeper=sweeper, progress=progress.append)
    (rep,) = report.leadsets
    assert loaded(emu, 136785) == ["L-1", "L-3"]
    assert sweeper.looked == [["4155550101", "4155550102", "4155550103"]]
    assert sweeper.swept == [(ACCOUNT, ["+14155550102"])]  # stopped everywhere the scope says
    assert sweeper.report.skipped == 1 and report.do_not_call is sweeper.report
    assert rep.notes[-1].startswith("1 lead(s) not loaded: Engage holds their phone")
    assert rep.notes[-1].endswith(": L-2") and "555" not in rep.notes[-1]
    assert sum(progress) == 3  # the skipped lead counts as answered


def test_a_phone_this_apply_stopped_is_never_loaded_again(folder: Path, emu: Emulator) -> None:
    leadset("a", "136785", [1, 2])
    sweeper = FakeSweeper(done={"+14155550101"})
    (rep,) = apply(emu, sweeper=sweeper).leadsets
    assert loaded(emu, 136785) == ["L-2"]
    assert "stopped their phone (do not call) in every campaign: L-1" in rep.notes[-1]


def test_a_failed_do_not_call_look_up_posts_none_of_its_leads(folder: Path, emu: Emulator) -> None:
    leadset("a", "136785", [1, 2])
    sweeper = FakeSweeper(fails=ApiError("leadSearch: HTTP 503"))
    progress: list[int] = []
    (rep,) = apply(emu, sweeper=sweeper, progress=progress.append).leadsets
    assert loaded(emu, 136785) == []
    assert rep.failed == 2 and rep.errors == [
        "2 lead(s) not posted: the do-not-call look-up failed: leadSearch: HTTP 503"
    ]
    assert sum(progress) == 2


def test_no_do_not_call_state_to_look_for_looks_nothing_up(folder: Path, emu: Emulator) -> None:
    leadset("a", "136785", [1])
    sweeper = FakeSweeper(holds={"+14155550101"}, states=())
    apply(emu, sweeper=sweeper)
    assert sweeper.looked == [] and loaded(emu, 136785) == ["L-1"]


def test_one_look_up_covers_several_batches(
    folder: Path, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engage_sync.reconcile import applier

    monkeypatch.setattr(applier, "LOOKUP_PHONES", 4)
    leadset("a", "136785", range(1, 10))
    sweeper = FakeSweeper()
    apply(emu, sweeper=sweeper, batch_size=2)
    assert [len(p) for p in sweeper.looked] == [4, 4, 1]  # 2 batches, 2 batches, what is left
    assert len(loaded(emu, 136785)) == 9


def test_stops_are_swept_first_in_every_account_the_lead_sets_name(
    folder: Path, emu: Emulator
) -> None:
    leadset("a", "136785", [1], account=ACCOUNT)
    assert apply(emu).ok  # applied: nothing left to do in this account
    leadset("b", "136790", [2], account="12345678")  # its campaign is not there: not posted
    stop = Stop("+14155550177", OptOutRules().today())
    sweeper = FakeSweeper()
    report = apply(emu, account="77777777", sweeper=sweeper, stops=[stop])
    # the lead sets' accounts, with work or not, and the default account
    swept = sorted(a for a, phones in sweeper.swept if phones == [stop.phone])
    assert swept == ["12345678", "77777777", ACCOUNT]
    assert sweeper.report.to_stop == 1 and [r.campaign_id for r in report.leadsets] == [136790]
    # a phone learned mid-run is stopped, and Engage's opt-outs looked up, in the accounts the
    # lead sets name: not in a default account none of them uses (it may not even be reachable)
    assert sweeper.accounts == ("12345678", ACCOUNT)
    # none recorded as stopped before each account the lead sets name has confirmed it (the
    # default account is swept, not waited for); the accounts done
    assert sweeper.expected == [([stop.phone], ["12345678", ACCOUNT])]
    assert sweeper.working == set() and sweeper.rechecked == 1


def test_without_stops_an_account_with_no_work_is_not_visited(folder: Path, emu: Emulator) -> None:
    leadset("a", "136785", [1])
    apply(emu)
    sweeper = FakeSweeper()
    report = apply(emu, sweeper=sweeper)
    assert sweeper.swept == [] and report.leadsets == []


# -- how creates are looked up first -------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "handling", "shared", "want"),
    [
        ("auto", DuplicateHandling.RETAIN_ALL, False, "probe"),  # a second load keeps two
        ("auto", DuplicateHandling.REMOVE_ALL_EXISTING, False, "off"),
        ("auto", DuplicateHandling.REMOVE_ALL_EXISTING, True, "probe"),  # a shared state
        ("all", DuplicateHandling.REMOVE_ALL_EXISTING, False, "all"),
        ("off", DuplicateHandling.RETAIN_ALL, True, "off"),
    ],
)
def test_the_look_first_mode(
    mode: str, handling: DuplicateHandling, shared: bool, want: str
) -> None:
    applier = Applier(None, None, None, look_first=mode, shared_state=shared)  # type: ignore[arg-type]
    ls = SimpleNamespace(options=SimpleNamespace(duplicate_handling=handling))
    assert applier._look_mode(ls) == want  # type: ignore[arg-type]


def test_close_ends_each_accounts_loader_pool() -> None:
    client = SimpleNamespace(pacer=lambda name, account: SimpleNamespace(burst=2))
    applier = Applier(client, None, None)  # type: ignore[arg-type]
    pool = applier._pool("a")
    assert applier._pool("a") is pool and isinstance(pool, ThreadPoolExecutor)
    applier.close()
    with pytest.raises(RuntimeError):
        pool.submit(print)
    assert applier._pool("a") is not pool
    applier.close()
