"""End to end, do not call (issue #30): the installed `engage-sync` against `engage-sync emulator`,
under each duplicateHandling mode: a phone that opted out is never dialled again, in any
campaign, and never written down by engage-sync."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import (
    TWO_ACCOUNTS,
    Served,
    engage_sync,
    spawn_engage_sync,
    start_emulator,
    stop_emulator,
    wait_until,
    write,
)

pytestmark = pytest.mark.e2e
ACCOUNT = "99990001"
CAMPAIGN, OTHER, THIRD = 136785, 136792, 136790
MODES = ("REMOVE_ALL_EXISTING", "RETAIN_ALL", "REMOVE_FROM_LIST")
PHONE = "3035550142"  # the person who opted out, in the forms to look for in every file
FORMS = (PHONE, "+13035550142", "13035550142", "(303) 555-0142", "303-555-0142", "303.555.0142")
UNDIALABLE = ("CANCELLED", "PAUSED", "COMPLETE", "DO-NOT-CALL")


@pytest.fixture
def emu() -> Iterator[Served]:
    served = start_emulator("--hang-seconds", "5")
    try:
        yield served
    finally:
        stop_emulator(served)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write(tmp_path / "engage-sync.yaml", f'account: "{ACCOUNT}"\n')
    return tmp_path


def leadset(
    repo: Path,
    leads: dict[str, str],
    *,
    handling: str,
    campaign: int = CAMPAIGN,
    name: str = "a.yaml",
    removed: str = "",
    first: str = "Ada",
) -> None:
    lines = [
        f"campaign: {campaign}",
        f"options: {{duplicateHandling: {handling}, timeZoneOption: NPA_NXX, "
        "dialPriority: NORMAL}",
        "leads:" if leads else "leads: []",
        *(
            f'  - {{externId: "{eid}", leadPhone: "{phone}", firstName: {first}}}'
            for eid, phone in leads.items()
        ),
    ]
    write(repo / "leadsets" / name, "\n".join(lines) + "\n" + removed)


def apply(repo: Path, emu: Served, *args: str) -> Any:
    return engage_sync(
        "apply",
        "--auto-approve",
        "--max-retries",
        "2",
        *args,
        env={**emu.env("api-token"), "ENGAGE_SYNC_LOOKUP_DELAY": "0.05"},
        cwd=repo,
    )


def digits(text: object) -> str:
    found = re.sub(r"\D", "", str(text or ""))
    return found[1:] if len(found) == 11 and found.startswith("1") else found


def dialable_with(emu: Served, phone: str = PHONE) -> list[dict[str, Any]]:
    return [
        r
        for r in emu.leads()
        if r["leadState"] not in UNDIALABLE
        and digits(r["lead"].get("leadPhone") or r["lead"].get("leadPhoneE164")) == phone
    ]


def by_hand(emu: Served, campaign: int, *leads: dict[str, Any]) -> None:
    emu.post(
        "/_emulator/leads", {"accountId": ACCOUNT, "campaignId": campaign, "leads": list(leads)}
    )


def written(repo: Path) -> str:
    """Every file engage-sync wrote: state, ledger, journal, plans, reports."""
    mine = {"leadsets", "engage-sync.yaml"}
    return "".join(
        p.read_text(encoding="utf-8")
        for p in repo.rglob("*")
        if p.is_file() and p.relative_to(repo).parts[0] not in mine and ".git" not in p.parts
    )


def assert_no_phone(text: str) -> None:
    for form in FORMS:
        assert form not in text, form


@pytest.mark.parametrize("handling", MODES)
def test_a_tombstoned_phone_under_a_new_id_is_blocked_in_every_campaign_and_never_loaded(
    repo: Path, emu: Served, handling: str
) -> None:
    leadset(repo, {"R-1": PHONE, "R-2": "3035550100"}, handling=handling)
    assert apply(repo, emu).code == 0
    # the person opts out: the tombstone does not keep the phone; apply learns it from the
    # records it cancels
    leadset(
        repo, {"R-2": "3035550100"}, handling=handling, removed='removed:\n  - {externId: "R-1"}\n'
    )
    r = apply(repo, emu)
    assert r.code == 0, r.err
    assert dialable_with(emu) == []
    # the next export brings the person back under new ids, here and in another campaign
    leadset(repo, {"R-2": "3035550100", "R-9": "(303) 555-0142"}, handling=handling,
            removed='removed:\n  - {externId: "R-1"}\n')  # fmt: skip
    leadset(repo, {"W-1": "+1 303 555 0142", "W-2": "3035550177"}, handling=handling,
            campaign=OTHER, name="b.yaml")  # fmt: skip
    valid = engage_sync("validate", cwd=repo)
    assert valid.code == 0 and "leadsets/b.yaml:4: leadPhone: warning: on the do-not-call" in (
        valid.err
    )
    (repo / "out").mkdir()
    plan = engage_sync(
        "plan", "--out", "out/plan.md", "--out", "out/plan.json", cwd=repo, env=emu.where()
    )
    assert plan.code == 0, plan.err
    doc = json.loads((repo / "out" / "plan.json").read_text())
    blocked = sorted(c["externId"] for c in doc["changes"] if c["action"] == "blocked")
    assert blocked == ["R-9", "W-1"] and doc["summary"]["blocked"] == 2
    r = apply(repo, emu, "--report-json", "out/report.json")
    assert r.code == 0, r.err
    assert dialable_with(emu) == []
    assert {x["externId"] for x in emu.leads()} == {"R-1", "R-2", "W-2"}  # never loaded
    assert_no_phone(written(repo))


@pytest.mark.parametrize("handling", MODES)
def test_a_listed_phone_is_stopped_in_every_campaign_and_nothing_else_is_touched(
    repo: Path, emu: Served, handling: str
) -> None:
    leadset(repo, {"A-1": "3035550100"}, handling=handling)
    write(
        repo / "leadsets" / "dnc.yaml",
        'doNotCall:\n  - {phone: "(303) 555-0142", requested: 2026-11-20, source: IVR}\n',
    )
    # records loaded by hand, in three campaigns, written three ways; and others
    by_hand(emu, CAMPAIGN, {"externId": "H-1", "leadPhone": "303-555-0142"})
    by_hand(emu, OTHER, {"externId": "H-2", "leadPhone": PHONE})
    by_hand(emu, OTHER, {"externId": "H-3", "leadPhone": "3035550199"})
    by_hand(emu, THIRD, {"externId": "H-4", "leadPhoneE164": "+13035550142"})
    (repo / "out").mkdir()
    plan = engage_sync("plan", "--out", "out/p.txt", "--out", "out/p.json", "--out", "out/p.md",
                       "--changes-out", "out/c.tsv", cwd=repo, env=emu.where())  # fmt: skip
    assert plan.code == 0, plan.err
    assert (
        "  - phone at leadsets/dnc.yaml:2  (IVR; requested 2026-11-20 (lead set)"
        in (repo / "out" / "p.txt").read_text()
    )
    before = {r["leadId"]: r["leadState"] for r in emu.leads()}
    r = apply(repo, emu, "--report-json", "out/report.json")
    assert r.code == 0, r.err
    assert "do not call: 1 phone(s) stopped" in r.out
    assert dialable_with(emu) == []
    after = {r["leadId"]: r["leadState"] for r in emu.leads()}
    changed = {i for i in before if before[i] != after[i]}
    hand = {r["externId"]: r["leadId"] for r in emu.leads()}
    assert changed == {hand["H-1"], hand["H-2"], hand["H-4"]}  # nothing else touched
    ledger = [json.loads(x) for x in (repo / "engage-sync.evidence.jsonl").read_text().splitlines()]
    (line,) = ledger
    assert line["campaigns"] == [CAMPAIGN, THIRD, OTHER] or sorted(line["campaigns"]) == sorted(
        [CAMPAIGN, OTHER, THIRD]
    )
    assert sorted(line["leadIds"]) == sorted([hand["H-1"], hand["H-2"], hand["H-4"]])
    for form in ("303 555 0142", "+1 (303) 555-0142", PHONE, "1.303.555.0142"):
        found = engage_sync("evidence", "--phone", form, cwd=repo)
        assert found.code == 0, found.err
        assert "found no dialable record with it in every campaign of account 99990001" in found.out
    assert engage_sync("evidence", "--phone", "3035550143", cwd=repo).code == 1
    again = engage_sync(
        "plan", "--detailed-exitcode", "--out", "out/p2.json", cwd=repo, env=emu.where()
    )
    assert again.code == 0, again.out
    assert_no_phone(written(repo))


@pytest.mark.parametrize("refresh", [False, True])
@pytest.mark.parametrize("handling", MODES)
def test_an_opt_out_made_in_engage_is_never_revived_and_comes_home(
    repo: Path, emu: Served, handling: str, refresh: bool
) -> None:
    leadset(repo, {"E-1": PHONE, "E-2": "3035550100"}, handling=handling)
    assert apply(repo, emu).code == 0
    # an agent sets the record to DO-NOT-CALL; the next export changes that lead
    emu.post("/_emulator/leads/state", {"phone": PHONE, "leadState": "DO-NOT-CALL"})
    by_hand(emu, OTHER, {"externId": "X-1", "leadPhone": "(303) 555-0142"})
    leadset(repo, {"E-1": PHONE, "E-2": "3035550100"}, handling=handling, first="Grace")
    r = apply(repo, emu, *(["--refresh"] if refresh else []))
    assert r.code == 0, r.out + r.err
    assert dialable_with(emu) == []
    assert [x["leadState"] for x in emu.leads(CAMPAIGN) if x["externId"] == "E-1"] == [
        "DO-NOT-CALL"
    ]
    assert len([x for x in emu.leads(CAMPAIGN) if x["externId"] == "E-2"]) >= 1
    plan = engage_sync("plan", cwd=repo, env=emu.where())
    assert "  x E-1  leadsets/a.yaml:4  (do not call: the state" in plan.out
    drift = engage_sync("ci", "drift", env=emu.env("api-token"), cwd=repo)
    assert drift.code == 2 and "Engage holds 1 phone(s) as do-not-call" in drift.out
    pulled = engage_sync("optouts", "pull", env=emu.env("api-token"), cwd=repo)
    assert pulled.code == 0, pulled.err
    rows = (repo / "leadsets" / "engage-opt-outs.csv").read_text().splitlines()
    assert rows[0] == "phone,requested,source" and rows[1].startswith("+13035550142,")
    assert rows[1].endswith(",engage")
    assert PHONE not in pulled.out + pulled.err
    assert engage_sync("ci", "drift", env=emu.env("api-token"), cwd=repo).code == 0
    blocked = engage_sync("plan", cwd=repo, env=emu.where())
    assert "(do not call: leadsets/engage-opt-outs.csv:2; never loaded)" in blocked.out
    (repo / "leadsets" / "engage-opt-outs.csv").unlink()  # the user's file, not ours
    (repo / "leadsets" / "engage-opt-outs.yaml").unlink()
    assert_no_phone(written(repo))


def test_kill_9_during_the_do_not_call_cancels_then_a_rerun_stops_each_phone_once(
    repo: Path, emu: Served
) -> None:
    phones = [f"30355501{i:02d}" for i in range(40, 44)]
    leadset(repo, {"A-1": "3035550100"}, handling="RETAIN_ALL")
    assert apply(repo, emu).code == 0
    for i, phone in enumerate(phones):
        by_hand(emu, CAMPAIGN, {"externId": f"H-{i}", "leadPhone": phone})
        by_hand(emu, OTHER, {"externId": f"K-{i}", "leadPhone": phone})
    write(
        repo / "leadsets" / "dnc.yaml",
        "doNotCall:\n"
        + "".join(f'  - {{phone: "{p}", requested: 2026-11-2{i}}}\n' for i, p in enumerate(phones)),
    )
    emu.post("/_emulator/faults", {"kind": "hang", "endpoint": "actions"})
    journal = repo / "engage-sync.state.json.journal"
    proc = spawn_engage_sync(
        "apply", "--auto-approve", "--timeout", "30", env=emu.env("api-token"), cwd=repo
    )
    try:
        # the cancel by phone is journaled, then sent (and held by the hang): kill it there
        wait_until(lambda: journal.exists() and '"dncAct":' in journal.read_text())
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    ledger = repo / "engage-sync.evidence.jsonl"
    assert not ledger.exists()  # nothing was confirmed
    # the hung call does nothing when its hang ends (a 504), and the emulator is threaded
    lock = repo / "engage-sync.state.json.lock"
    if lock.exists():
        lock_id = json.loads(lock.read_text())["id"]
        assert engage_sync("force-unlock", lock_id, cwd=repo).code == 0
    r = apply(repo, emu)
    assert r.code == 0, r.err
    assert apply(repo, emu).code == 0  # a further apply adds nothing
    for phone in phones:
        assert dialable_with(emu, phone) == []
    lines = [json.loads(x) for x in ledger.read_text().splitlines()]
    assert len(lines) == 4 and len({x["phone"] for x in lines}) == 4  # each phone once
    # the cancel the killed run sent is in the evidence, answered or not
    assert any(a.get("answered") is False for x in lines for a in x["acts"]) or all(
        x["acts"] for x in lines
    )
    assert len(dialable_with(emu, "3035550100")) == 1
    assert_no_phone(written(repo).replace("3035550100", ""))
    for phone in phones:
        assert phone not in written(repo)


@pytest.mark.parametrize("handling", MODES)
def test_a_lead_whose_new_phone_is_on_the_list_is_never_loaded_and_its_old_record_stops(
    repo: Path, emu: Served, handling: str
) -> None:
    """Convergence campaign, seed 2 (docs/chaos.md): a replacement whose new phone is listed
    left the old phone's record dialable, and `apply --refresh` then took that record for
    `changed` drift and loaded the lead with the listed phone."""
    leadset(repo, {"R-1": "3035550100", "R-2": "3035550101"}, handling=handling)
    assert apply(repo, emu).code == 0
    leadset(repo, {"R-1": PHONE, "R-2": "3035550101"}, handling=handling)  # a new phone ...
    write(
        repo / "leadsets" / "dnc.yaml",
        f'doNotCall:\n  - {{phone: "{PHONE}", requested: 2026-11-20}}\n',
    )
    r = apply(repo, emu)  # ... the person asked not to be called on
    assert r.code == 0, r.err
    assert dialable_with(emu, "3035550100") == []  # the old phone's record stopped too
    said = "1 blocked lead(s) (do not call) had a record dialable: cancelled, and no longer owned"
    assert said in r.out + r.err
    assert dialable_with(emu) == []
    refreshed = apply(repo, emu, "--refresh")
    assert refreshed.code == 0, refreshed.err
    assert dialable_with(emu) == []  # never loaded
    assert [r["externId"] for r in emu.leads() if r["leadState"] not in UNDIALABLE] == ["R-2"]
    final = engage_sync(
        "plan", "--refresh", "--detailed-exitcode", env=emu.env("api-token"), cwd=repo
    )
    assert final.code == 0, final.out + final.err


@pytest.mark.parametrize("handling", MODES)
def test_a_blocked_lead_whose_cancel_failed_after_its_phone_was_stopped_is_cancelled_next_time(
    repo: Path, emu: Served, handling: str
) -> None:
    """Convergence campaign, seed 3003 (docs/chaos.md): the listed phone's stop was done, the
    cancel of the lead's earlier phone's record was not (here it fails; there a kill -9); the
    next apply had "nothing to post" and never cancelled it."""
    leadset(repo, {"R-1": "3035550100", "R-2": "3035550101"}, handling=handling)
    assert apply(repo, emu).code == 0
    leadset(repo, {"R-1": PHONE, "R-2": "3035550101"}, handling=handling)
    write(
        repo / "leadsets" / "dnc.yaml",
        f'doNotCall:\n  - {{phone: "{PHONE}", requested: 2026-11-20}}\n',
    )
    for _ in range(3):  # every try of the cancel (--max-retries 2)
        emu.post("/_emulator/faults", {"kind": "500", "endpoint": "actions"})
    failed = apply(repo, emu)
    assert failed.code != 0 and len(dialable_with(emu, "3035550100")) == 1
    httpx.delete(f"{emu.origin}/_emulator/faults")
    r = apply(repo, emu)
    assert r.code == 0, r.err
    assert dialable_with(emu, "3035550100") == []
    assert [r["externId"] for r in emu.leads() if r["leadState"] not in UNDIALABLE] == ["R-2"]


@pytest.mark.parametrize("handling", MODES)
def test_a_lead_in_doubt_whose_new_phone_is_on_the_list_has_its_landed_record_stopped(
    repo: Path, emu: Served, handling: str
) -> None:
    """Convergence campaign, seed 3003 (docs/chaos.md): a load whose answer was lost landed;
    the lead's phone then changed to a listed one. Blocked, it was never looked up, and not
    owned, its landed record was never stopped: dialable with the earlier phone."""
    leadset(repo, {"R-1": "3035550100", "R-2": "3035550101"}, handling=handling)
    emu.post("/_emulator/faults", {"kind": "lost"})  # stored, then the connection drops
    for _ in range(8):  # and the lookup cannot answer either: the leads stay in doubt
        emu.post("/_emulator/faults", {"kind": "500", "endpoint": "search", "externId": "R-1"})
    # no look first (RETAIN_ALL would look, and that lookup would fail too): posted, in doubt
    first = apply(repo, emu, "--max-retries", "1", "--look-first", "off")
    assert first.code in (1, 4) and "not confirmed" in first.err
    httpx.delete(f"{emu.origin}/_emulator/faults")
    assert len(dialable_with(emu, "3035550100")) == 1  # it landed
    leadset(repo, {"R-1": PHONE, "R-2": "3035550101"}, handling=handling)  # a new phone ...
    write(
        repo / "leadsets" / "dnc.yaml",
        f'doNotCall:\n  - {{phone: "{PHONE}", requested: 2026-11-20}}\n',
    )
    r = apply(repo, emu)  # ... the person asked not to be called on
    assert r.code == 0, r.err
    assert dialable_with(emu, "3035550100") == []  # the landed record stopped
    assert dialable_with(emu) == []  # never loaded
    assert [r["externId"] for r in emu.leads() if r["leadState"] not in UNDIALABLE] == ["R-2"]
    final = engage_sync(
        "plan", "--refresh", "--detailed-exitcode", env=emu.env("api-token"), cwd=repo
    )
    assert final.code == 0, final.out + final.err


# -- two accounts: one caller, one opt-out ------------------------------------------------------
EAST, WEST = "11110001", "22220002"


@pytest.mark.parametrize("handling", MODES)
def test_an_opt_out_held_in_one_account_stops_the_phone_in_every_account_of_the_run(
    tmp_path: Path, handling: str
) -> None:
    """An agent's DO-NOT-CALL in East: the person comes back in East's export and in West's,
    where another team's tool loaded them too. Apply looked up (and swept) only the account
    whose lead it was posting: West loaded the person and kept the other team's record
    dialable, and the phone's hash in the state could never be swept there afterwards."""
    served = start_emulator("--seed", str(write(tmp_path / "seed.yaml", TWO_ACCOUNTS)))
    try:
        repo = tmp_path / "repo"
        for account, campaign, leads in (
            (EAST, 501, {"E-1": "(303) 555-0142", "E-2": "3035550100"}),
            (WEST, 502, {"W-1": "+1 303 555 0142", "W-2": "3035550177"}),
        ):
            name = f"{account}.yaml"
            leadset(repo, leads, handling=handling, campaign=campaign, name=name)
            body = (repo / "leadsets" / name).read_text()
            write(repo / "leadsets" / name, f'account: "{account}"\n' + body)
        # an agent's DO-NOT-CALL in East; another team's record of the person in West
        for account, campaign, eid in ((EAST, 501, "A-1"), (WEST, 502, "T-1")):
            lead = {"externId": eid, "leadPhone": PHONE}
            served.post("/_emulator/leads", {"accountId": account, "campaignId": campaign,
                                             "leads": [lead]})  # fmt: skip
        served.post("/_emulator/leads/state",
                    {"phone": PHONE, "campaignId": 501, "leadState": "DO-NOT-CALL"})  # fmt: skip
        env = {
            "ENGAGE_BASE_URL": served.base_url,
            "ENGAGE_API_TOKEN": "two-accounts-token",
            "ENGAGE_SYNC_LOOKUP_DELAY": "0.05",
            "ENGAGE_SYNC_ALLOWED_HOSTS": served.origin.split("://", 1)[1],
        }
        r = engage_sync("apply", "--auto-approve", "--report-json", "report.json", env=env,
                        cwd=repo)  # fmt: skip
        assert r.code == 0, r.out + r.err
        assert dialable_with(served) == []
        loaded = {x["externId"]: x["leadState"] for x in served.leads()}
        assert "E-1" not in loaded and "W-1" not in loaded  # never loaded, in either account
        assert loaded["T-1"] == "CANCELLED" and loaded["A-1"] == "DO-NOT-CALL"
        assert loaded["E-2"] == loaded["W-2"] == "READY"
        ledger = (repo / "engage-sync.evidence.jsonl").read_text().splitlines()
        west = [json.loads(x) for x in ledger if json.loads(x)["campaigns"] == [502]]
        assert len(west) == 1 and west[0]["leadIds"] == [
            x["leadId"] for x in served.leads() if x["externId"] == "T-1"
        ]
        found = engage_sync("evidence", "--phone", "303-555-0142", cwd=repo)
        assert found.code == 0, found.err
        for account in (EAST, WEST):  # a line for each account it was stopped in
            assert f"found no dialable record with it in every campaign of account {account}" in (
                found.out
            )
        assert (
            "CANCEL_LEADS of Engage lead id(s) " in found.out and " in campaign 502: " in found.out
        )
        again = engage_sync("plan", "--detailed-exitcode", cwd=repo, env=env)
        assert again.code == 0, again.out + again.err  # both blocked, nothing left to do
        assert_no_phone(written(repo))
    finally:
        stop_emulator(served)
