"""The do-not-call set as plans see it (donotcall/registry.py, workspace): validate warns at the
blocked lead, plan shows it in text, markdown and JSON without a phone, and a seal is read again
when the set changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import write

from engage_sync.donotcall.keys import PhoneKey
from engage_sync.donotcall.registry import IN_STATE, Origin, Registry
from engage_sync.model import Lead

LEADS = (
    "campaign: 136785\n"
    "options: {duplicateHandling: RETAIN_ALL, timeZoneOption: NPA_NXX, dialPriority: NORMAL}\n"
    "leads:\n"
    '  - {externId: "A-1", leadPhone: "3035550142"}\n'
    '  - {externId: "A-2", leadPhone: "3035550143"}\n'
    '  - {externId: "A-3", leadPhoneE164: "+442079460018"}\n'
)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENGAGE_SYNC_PHONE_KEY", raising=False)
    write(tmp_path / "engage-sync.yaml", 'account: "99990001"\n')
    write(tmp_path / "leadsets" / "a.yaml", LEADS)
    write(
        tmp_path / "leadsets" / "dnc.yaml",
        'doNotCall:\n  - {phone: "(303) 555-0142", requested: 2026-11-20, source: IVR}\n'
        "doNotCallFile: dnc.csv\n",
    )
    write(tmp_path / "leadsets" / "dnc.csv", "phone,requested\n+44 20 7946 0018,2026-11-21\n")
    return tmp_path


def outputs(repo: Path) -> str:
    return "".join(p.read_text() for p in (repo / "out").iterdir())


def test_validate_warns_at_each_blocked_lead(repo: Path, run: Any) -> None:
    r = run("validate")
    assert r.code == 0, r.err
    assert (
        "leadsets/a.yaml:4: leadPhone: warning: on the do-not-call set (leadsets/dnc.yaml:2): "
        "plan blocks it, apply never loads it"
    ) in r.err
    assert "leadsets/a.yaml:6: leadPhone: warning: on the do-not-call set (leadsets/dnc.csv:2)" in (
        r.err
    )
    assert "a.yaml:5" not in r.err


def test_plan_shows_blocked_leads_as_their_own_kind_without_a_phone(repo: Path, run: Any) -> None:
    r = run("plan")
    assert r.code == 0, r.err
    assert "  x A-1  leadsets/a.yaml:4  (do not call: leadsets/dnc.yaml:2; never loaded)" in r.out
    assert "Plan: 1 to create, 0 to update, 0 to replace, 0 to remove, 2 blocked (do not call)" in (
        r.out
    )
    (repo / "out").mkdir()
    r = run("plan", "--out", "out/p.json", "--out", "out/p.md", "--changes-out", "out/c.tsv")
    assert r.code == 0, r.err
    doc = json.loads((repo / "out" / "p.json").read_text())
    assert doc["summary"]["blocked"] == 2 and doc["leadsets"][0]["blocked"] == 2
    assert doc["changes"][0] == {
        "action": "blocked",
        "campaignId": 136785,
        "doNotCall": "leadsets/dnc.yaml:2",
        "externId": "A-1",
        "file": "leadsets/a.yaml",
        "line": 4,
    }
    md = (repo / "out" / "p.md").read_text()
    row = (
        "| blocked | `A-1` | `leadsets/a.yaml:4` | do not call: leadsets/dnc.yaml:2; never loaded |"
    )
    assert row in md
    assert "136785\tblocked\tA-3\t\tdo-not-call\t" in (repo / "out" / "c.tsv").read_text()
    text = outputs(repo) + r.out + r.err
    for phone in ("3035550142", "303) 555", "+13035550142", "2079460018", "7946"):
        assert phone not in text


def test_a_business_removal_does_not_block_its_phone(repo: Path, run: Any) -> None:
    (repo / "leadsets" / "dnc.yaml").unlink()
    write(
        repo / "leadsets" / "a.yaml",
        LEADS.replace('"A-1"', '"A-9"')  # the business removal's phone, under another id
        + "removed:\n"
        '  - {externId: "A-1", leadPhone: "3035550142", optOut: false}\n'
        '  - {externId: "A-0", leadPhone: "+1 303 555 0143"}\n',
    )
    r = run("plan")
    assert r.code == 0, r.err
    assert "  x A-2  leadsets/a.yaml:5  (do not call: leadsets/a.yaml:9; never loaded)" in r.out
    assert "  + A-9  leadsets/a.yaml:4\n" in r.out and "1 blocked" in r.out


def test_a_hash_in_the_state_blocks_with_its_key_and_only_with_it() -> None:
    key = PhoneKey.new_salt()
    registry = Registry("US", key, {key.digest("+13035550142")})
    mine = Lead.from_mapping({"externId": "x", "leadPhone": "3035550142"}, "f", 1)
    theirs = Lead.from_mapping({"externId": "y", "leadPhone": "3035550199"}, "f", 2)
    assert registry.blocked_by(mine) is IN_STATE and registry.blocked_by(theirs) is None
    assert Registry("US", PhoneKey.new_salt(), registry.hashes).blocked_by(mine) is None
    # a phone listed in the repository explains its hash: the fingerprint does not change once
    # an apply records it
    listed = Registry("US", key, ())
    listed.add("+13035550142", Origin("dnc.yaml", 2, None, None))
    recorded = Registry("US", key, {key.digest("+13035550142")})
    recorded.add("+13035550142", Origin("dnc.yaml", 2, None, None))
    assert listed.fingerprint() == recorded.fingerprint() != ""
    assert Registry().fingerprint() == ""


def test_a_seal_expects_the_tombstones_phones_stopped_and_nothing_else() -> None:
    """What a seal records (`after_stops`) is the set the next plan builds once the apply has
    stopped the tombstones' phones, which the plan held in clear; any other stop (a phone
    Engage held, another run's) is a set the campaign was not checked against."""
    tomb, other = "+13035550142", "+13035550199"
    key = PhoneKey.new_salt()
    planned = Registry("US", key, ())
    planned.add(tomb, Origin("a.yaml", 9, None, "tombstone"), False)
    expected = planned.after_stops()
    assert expected == Registry("US", key, {key.digest(tomb)}).fingerprint() != ""
    assert expected != Registry("US", key, {key.digest(tomb), key.digest(other)}).fingerprint()
    assert expected != Registry("US", key, ()).fingerprint()  # the stop did not happen
    planned.add(other, Origin("dnc.yaml", 2, None, None))  # a listed phone: a set of its own
    assert planned.after_stops() != expected
    nothing = Registry("US", None, ())
    assert nothing.after_stops() == nothing.fingerprint() == ""


def test_with_no_key_a_seal_keeps_the_set_as_it_is_and_makes_no_key() -> None:
    """No key to hash with (none made yet, or the state's cannot be had): the tombstones'
    hashes cannot be known, so the seal keeps the set as it is (the next plan reads the
    campaign whole), and no key is made here: apply's check that the state's key can be had
    (operation._stops) must still see none."""
    key = PhoneKey.new_salt()
    unusable = Registry("US", None, {key.digest("+13035550100")})
    unusable.add("+13035550142", Origin("a.yaml", 9, None, "tombstone"), False)
    assert unusable.after_stops() == unusable.fingerprint() != ""
    assert unusable.key is None


def test_a_sealed_campaign_is_read_again_when_the_do_not_call_set_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_operation import Hooks, run

    from engage_sync import workspace
    from engage_sync.config import load_config
    from engage_sync.emulator import Emulator, Settings, default_seed
    from engage_sync.state import load_state

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENGAGE_SYNC_PHONE_KEY", raising=False)
    write(tmp_path / "engage-sync.yaml", 'account: "99990001"\nleadsets: leadsets\n')
    write(tmp_path / "leadsets" / "a.yaml", LEADS)
    emu = Emulator(default_seed(), Settings(rate_scale=1000.0))
    try:
        assert run(emu, Hooks()).report.ok
        state = tmp_path / "engage-sync.state.json"
        assert load_state(state).campaigns[136785].seal is not None
        planned = workspace.build_plan((), load_config(None), state)
        assert planned.skipped == {136785}  # sealed: not read
        write(
            tmp_path / "leadsets" / "dnc.yaml",
            "doNotCall:\n  - {phone: '303 555 0143', requested: 2026-11-20}\n",
        )
        planned = workspace.build_plan((), load_config(None), state)
        assert planned.skipped == frozenset()  # another do-not-call set: read again
        (ls,) = planned.plan.leadsets
        assert [c.extern_id for c in ls.blocked] == ["A-2"]
        outcome = run(emu, Hooks())
        assert outcome.report.ok and outcome.report.do_not_call.stopped == 1
        live = [r for r in emu.store.all_leads(None) if r["leadState"] == "READY"]
        assert sorted(r["externId"] for r in live) == ["A-1", "A-3"]
        # the phone is now recorded: the set's fingerprint is what the new seal holds
        again = workspace.build_plan((), load_config(None), state)
        assert [c.extern_id for c in again.plan.leadsets[0].blocked] == ["A-2"]
    finally:
        emu.store.close()


def test_a_list_alone_is_stopped_in_the_default_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_operation import Hooks, run

    from engage_sync.emulator import Emulator, Settings, default_seed

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENGAGE_SYNC_PHONE_KEY", raising=False)
    write(tmp_path / "engage-sync.yaml", "leadsets: leadsets\n")
    write(
        tmp_path / "leadsets" / "dnc.yaml",
        "doNotCall:\n  - {phone: '303 555 0143', requested: 2026-11-20}\n",
    )
    emu = Emulator(default_seed(), Settings(rate_scale=1000.0))
    try:
        with emu.store.transaction() as store:
            listed = store.new_list("99990001", 136790, "by hand", "2026-12-01T00:00:00Z", {})
            store.insert_leads(
                "99990001", 136790, listed, [{"externId": "X", "leadPhone": "3035550143"}]
            )
        outcome = run(emu, Hooks())  # the default account: run() passes it
        assert outcome.report.ok and outcome.report.do_not_call.stopped == 1
        assert [r["leadState"] for r in emu.store.all_leads(None)] == ["CANCELLED"]
    finally:
        emu.store.close()
