"""state/file.py: the campaign's transitions, a malformed entry, the file's edge cases and an
atomic write (the round trip, versions and corrupt bytes are in test_state.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from engage_sync.errors import StateError
from engage_sync.model import Lead
from engage_sync.optouts.ledger import ledger_path
from engage_sync.state.file import (
    CampaignState,
    MalformedEntry,
    State,
    read_state,
    render_state,
    save_state,
    write_atomic,
)


def lead(eid: str, phone: str = "4155550100", **fields: str) -> Lead:
    return Lead.from_mapping({"externId": eid, "leadPhone": phone, **fields}, "f.yaml", 1)


def owned(camp: CampaignState, *eids: str) -> CampaignState:
    for eid in eids:
        camp.record(lead(eid))
    return camp


def test_every_transition_that_changes_the_leads_drops_the_seal() -> None:
    for change in (
        lambda c: c.accept({}),
        lambda c: c.doubt(["x"]),
        lambda c: c.forget(["a"]),
        lambda c: c.drop(["a"]),
        lambda c: c.retarget("acct@engage"),
    ):
        camp = owned(CampaignState(), "a")
        camp.seal = {"leads": 1}
        change(camp)
        assert camp.seal is None


def test_forget_remembers_a_removal_and_drop_does_not() -> None:
    camp = owned(CampaignState(), "a", "b")
    camp.doubt(["a", "b"])
    camp.note_requested({"a": "2026-01-02"})
    camp.acted({"a": {"action": "CANCEL_LEADS"}})
    camp.forget(["a"])
    camp.drop(["b"])
    assert camp.count() == 0 and camp.in_doubt == set()
    assert camp.removed == {"a"}  # a tombstone carried out: nothing left to do for it
    assert camp.requested == {} and camp.acts == {}
    camp.record(lead("a"))  # declared again later: owned again, no longer a removal
    assert camp.removed == set() and camp.owns("a")


def test_settle_takes_leads_out_of_doubt_without_owning_them() -> None:
    camp = CampaignState()
    camp.doubt(["a", "b", ""])  # an empty externId is never in doubt
    assert camp.in_doubt == {"a", "b"}
    camp.settle(["a"])
    assert camp.in_doubt == {"b"} and not camp.owns("a")


def test_an_earlier_request_date_wins_and_a_later_one_is_ignored() -> None:
    camp = CampaignState()
    camp.note_requested({"a": "2026-03-01", "b": "2026-03-01"})
    assert camp.earlier_requests({"a": "2026-02-01", "b": "2026-04-01", "c": "2026-05-01"}) == {
        "a": "2026-02-01",
        "c": "2026-05-01",
    }
    camp.note_requested({"a": "2026-02-01", "b": "2026-04-01"})
    assert camp.requested == {"a": "2026-02-01", "b": "2026-03-01"}


def test_retarget_to_another_account_drops_what_was_owned_but_keeps_the_opt_outs() -> None:
    camp = owned(CampaignState(target="one@engage"), "a")
    camp.forget(["gone"])
    camp.note_requested({"p": "2026-01-01"})
    camp.acted({"p": {"action": "CANCEL_LEADS"}})
    camp.options = {"listState": "ACTIVE"}
    camp.retarget("one@engage")  # the same target: nothing dropped
    assert camp.owns("a") and camp.options == {"listState": "ACTIVE"}
    camp.retarget("two@engage")
    assert camp.target == "two@engage" and camp.count() == 0 and camp.fieldsets == {}
    assert camp.removed == set() and camp.options is None
    assert camp.requested == {"p": "2026-01-01"} and list(camp.acts) == ["p"]


def test_a_state_without_a_target_takes_the_first_one_and_keeps_its_leads() -> None:
    camp = owned(CampaignState(), "a")
    camp.retarget("one@engage")
    assert camp.target == "one@engage" and camp.owns("a")


def test_fieldsets_are_numbered_in_order_and_reused_for_the_same_names() -> None:
    camp = CampaignState(fieldsets={"0": ("leadPhone",), "x": ("email",)})
    assert camp.fieldset_id(("leadPhone",)) == "0"
    assert camp.fieldset_id(("leadPhone", "firstName")) == "1"
    assert camp.fieldset_id(("email",)) == "x"
    assert camp.fieldset_id(("leadPhone", "firstName")) == "1"


def test_spilled_leads_are_owned_counted_and_listed_in_extern_id_order() -> None:
    camp = owned(CampaignState(), "b", "d", "a")
    camp.spill(["b", "d", "missing"])
    camp.record(lead("c"))
    camp.record(lead("d", "4155550199"))  # recorded again after the spill: the new entry wins
    assert sorted(camp.leads) == ["a", "c", "d"]
    assert camp.owns("b") and camp.count() == 4
    entries = dict(camp.entries())
    assert list(entries) == ["a", "b", "c", "d"]
    assert entries["d"] == camp.leads["d"]
    camp.forget(["b"])
    camp.drop(["d"])
    assert not camp.owns("b") and not camp.owns("d") and camp.count() == 2
    assert [eid for eid, _ in camp.entries()] == ["a", "c"]


def test_a_spilled_state_renders_as_the_same_state_held_in_memory(tmp_path: Path) -> None:
    def build(spill: bool) -> str:
        state = State(tmp_path / "s.json", lineage="x")
        camp = owned(state.campaign(1), *(f"L{i:03d}" for i in range(30)))
        if spill:
            camp.spill([f"L{i:03d}" for i in range(0, 30, 2)])
        return render_state(state)

    assert build(spill=True) == build(spill=False)
    assert len(json.loads(build(spill=True))["campaigns"]["1"]["leads"]) == 30


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("abcdefgh 0", "not three parts"),
        ("abc!efgh 0 AB", "not base64 hashes"),
        ("abcdefgh 9 AB", "field set '9' is not in the file"),
        ("abcdefgh 0 A", "1 field codes for 1 fields"),  # a phone has two
    ],
)
def test_a_malformed_entry_names_the_lead_and_what_is_wrong(entry: str, why: str) -> None:
    camp = CampaignState(leads={"E1": entry}, fieldsets={"0": ("leadPhone",)})
    with pytest.raises(MalformedEntry) as e:
        camp.changed_fields(lead("E1"))
    assert str(e.value) == f"the state entry of lead 'E1' is malformed ({why})"
    assert e.value.extern_id == "E1" and isinstance(e.value, StateError)


def test_changed_fields_is_empty_for_the_lead_applied_and_names_each_change() -> None:
    camp = CampaignState()
    camp.record(lead("E1", firstName="Ada"))
    assert camp.changed_fields(lead("E1", firstName="Ada")) == ()
    assert camp.changed_fields(lead("E1", "4155550199", lastName="L")) == (
        "firstName",
        "lastName",
        "leadPhone",
    )
    assert camp.hash_of("E1") == lead("E1", firstName="Ada").digest
    assert camp.hash_of("nobody") is None


def state_file(tmp_path: Path, **top: object) -> Path:
    data = {"format_version": 3, "lineage": "x", "serial": 1, "campaigns": {}, **top}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("top", "why"),
    [
        ({"settings": []}, "settings: not an object"),
        ({"baseUrl": 5}, "baseUrl: not a string"),
        ({"campaigns": {"1": {"leads": {}, "target": 7}}}, "campaign 1: target: not a string"),
        ({"campaigns": {"1": {"files": []}}}, "no 'leads'"),
        ({"campaigns": {"one": {"leads": {}}}}, "invalid literal"),
        ({"campaigns": []}, "'list' object has no attribute 'items'"),
    ],
)
def test_a_state_file_not_as_written_is_corrupt_naming_what(
    tmp_path: Path, top: dict[str, object], why: str
) -> None:
    path = state_file(tmp_path, **top)
    with pytest.raises(StateError) as e:
        read_state(path)
    assert str(e.value).startswith(f"{path}: state file is corrupt (not what engage-sync writes: ")
    assert why in str(e.value)


@pytest.mark.parametrize("top", [[], {"format_version": 3}, "3"])
def test_a_json_file_that_is_not_a_state_is_refused(tmp_path: Path, top: object) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(top))
    with pytest.raises(StateError) as e:
        read_state(path)
    assert str(e.value).startswith(
        (f"{path}: not an engage-sync state file", f"{path}: state file is corrupt")
    )


def test_a_state_that_cannot_be_read_is_an_error_not_an_empty_state(tmp_path: Path) -> None:
    (tmp_path / "s.json").mkdir()
    with pytest.raises(StateError, match=r"s\.json: cannot read state: Is a directory"):
        read_state(tmp_path / "s.json")


def test_what_a_file_records_besides_leads_reads_back(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json", base_url="https://engage.example", settings={"a": 1})
    camp = owned(state.campaign(7), "a")
    camp.forget(["gone"])
    camp.note_requested({"p": "2026-01-01"})
    camp.acted({"p": {"action": "CANCEL_LEADS", "leadIds": [1]}})
    camp.target, camp.seal, camp.options = "acct@engage", {"leads": 1}, {"listState": "ACTIVE"}
    camp.files.add("f.yaml")
    state.campaign(8)  # empty: not written
    save_state(state)
    again = read_state(tmp_path / "s.json")
    assert (again.base_url, again.settings, list(again.campaigns)) == (
        "https://engage.example",
        {"a": 1},
        [7],
    )
    back = again.campaigns[7]
    assert (back.target, back.seal, back.options, back.files) == (
        "acct@engage",
        {"leads": 1},
        {"listState": "ACTIVE"},
        {"f.yaml"},
    )
    assert back.removed == {"gone"} and back.requested == {"p": "2026-01-01"}
    assert back.acts == {"p": [{"action": "CANCEL_LEADS", "leadIds": [1]}]}
    assert render_state(again) == (tmp_path / "s.json").read_text()


def test_save_appends_the_evidence_to_the_ledger_once_then_clears_it(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json")
    state.evidence.append({"externId": "a", "requested": "2026-01-01"})
    save_state(state)
    save_state(state)
    lines = ledger_path(tmp_path / "s.json").read_text().splitlines()
    assert len(lines) == 1 and '"externId":"a"' in lines[0].replace(" ", "")
    assert state.evidence == [] and state.serial == 2 and state.exists


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    write_atomic(path, b"old")

    def pieces() -> Iterator[bytes]:
        yield b"new, first half"
        raise RuntimeError("the process is stopped here")

    with pytest.raises(RuntimeError):
        write_atomic(path, pieces())
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_a_write_into_a_place_that_is_not_a_directory_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StateError, match=r"file/s\.json: cannot write state: "):
        write_atomic(tmp_path / "file" / "s.json", b"{}")
