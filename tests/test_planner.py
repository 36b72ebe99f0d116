"""The planner is pure: plain values in, a Plan out."""

from __future__ import annotations

from pathlib import Path

import pytest

from engage_sync.errors import EngageSyncError
from engage_sync.model import CampaignRef, ChangeKind, Desired, Lead, LoadOptions
from engage_sync.planner import plan
from engage_sync.state import State

OPTIONS = LoadOptions(
    (
        ("dialPriority", "NORMAL"),
        ("duplicateHandling", "REMOVE_ALL_EXISTING"),
        ("timeZoneOption", "NPA_NXX"),
    )
)


def lead(eid: str, line: int = 1, **fields: str) -> Lead:
    return Lead.from_mapping({"externId": eid, "leadPhone": "4155550100", **fields}, "f.yaml", line)


def desired(cid: int, *leads: Lead, options: LoadOptions = OPTIONS) -> Desired:
    return Desired(CampaignRef(cid), None, ("f.yaml",), options, list(leads))


def applied(*pairs: tuple[int, Lead]) -> State:
    state = State(Path("s.json"), lineage="L", serial=4)
    for cid, item in pairs:
        state.campaign(cid).record(item)
    return state


def test_create_update_unchanged_orphan() -> None:
    state = applied((1, lead("keep")), (1, lead("edit", firstName="Ada")), (1, lead("gone")))
    result = plan(
        [desired(1, lead("keep"), lead("edit", 7, firstName="Grace"), lead("new", 9))], state
    )
    (ls,) = result.leadsets
    assert [(c.extern_id, c.line) for c in ls.creates] == [("new", 9)]
    assert [(c.extern_id, c.fields) for c in ls.updates] == [("edit", ("firstName",))]
    assert [c.extern_id for c in ls.orphans] == ["gone"]
    assert ls.unchanged == 1
    assert (
        result.count(ChangeKind.CREATE),
        result.count(ChangeKind.UPDATE),
        result.count(ChangeKind.ORPHAN),
        result.unchanged,
    ) == (1, 1, 1, 1)
    assert any("stay dialable in Engage" in w and "prune: true" in w for w in ls.warnings)


def test_nothing_to_do_has_no_changes() -> None:
    state = applied((1, lead("a")))
    result = plan([desired(1, lead("a"))], state)
    assert not result.has_changes


def test_moving_a_lead_to_another_file_or_line_changes_nothing() -> None:
    state = applied((1, lead("a")))
    moved = Lead.from_mapping({"externId": "a", "leadPhone": "4155550100"}, "other.yaml", 99)
    assert not plan([desired(1, moved)], state).has_changes


def test_changed_campaign_id_creates_in_new_and_orphans_in_old() -> None:
    state = applied((1, lead("a")))
    result = plan([desired(2, lead("a"))], state, include_undeclared=True)
    by_id = {ls.campaign.id: ls for ls in result.leadsets}
    assert [c.extern_id for c in by_id[2].creates] == ["a"]
    assert [c.extern_id for c in by_id[1].orphans] == ["a"]


def test_undeclared_campaigns_are_left_out_when_planning_a_subset() -> None:
    state = applied((1, lead("a")))
    assert [ls.campaign.id for ls in plan([desired(2, lead("b"))], state).leadsets] == [2]


def test_a_changed_phone_is_a_replacement_and_other_fields_an_update() -> None:
    state = applied((1, lead("a", firstName="Ada")), (1, lead("b", firstName="Ada")))
    moved = Lead.from_mapping(
        {"externId": "a", "leadPhone": "2125550142", "firstName": "Ada"}, "f", 3
    )
    (ls,) = plan([desired(1, moved, lead("b", firstName="Grace"))], state).leadsets
    assert [(c.kind, c.extern_id, c.fields) for c in ls.replaces] == [
        (ChangeKind.REPLACE, "a", ("leadPhone",))
    ]
    assert [(c.extern_id, c.fields) for c in ls.updates] == [("b", ("firstName",))]
    assert ls.to_load == 2 and ls.has_work


def test_in_doubt_leads_are_named() -> None:
    state = applied((1, lead("a")))
    state.campaign(1).in_doubt.update({"b"})
    (ls,) = plan([desired(1, lead("a"), lead("b"))], state).leadsets
    assert ls.in_doubt == ("b",)
    assert any("may already be in Engage" in w and "b" in w for w in ls.warnings)


def test_checksum_covers_the_changes_not_the_serial_nor_unchanged_leads() -> None:
    state = applied((1, lead("a")))
    base = plan([desired(1, lead("a"), lead("b", firstName="Ada"))], state).checksum
    assert plan([desired(1, lead("a"), lead("b", firstName="Ada"))], state).checksum == base
    assert plan([desired(1, lead("a"), lead("b", firstName="Eve"))], state).checksum != base
    # what apply would do is the same: another apply (serial) or leads that stay unchanged
    # do not make a reviewed plan stale
    state.serial += 1
    assert plan([desired(1, lead("a"), lead("b", firstName="Ada"))], state).checksum == base
    assert plan([desired(1, lead("b", firstName="Ada"), lead("a"))], state).checksum == base
    other = applied((1, lead("a")), (1, lead("c")))  # c becomes an orphan: apply does nothing
    assert plan([desired(1, lead("a"), lead("b", firstName="Ada"))], other).checksum == base
    # the options a lead is posted with are part of the change
    moved = Desired(CampaignRef(1), "123", ("f.yaml",), OPTIONS, [lead("a"), lead("b")])
    assert plan([moved], state).checksum != plan([desired(1, lead("a"), lead("b"))], state).checksum


def test_checksum_is_the_one_a_change_set_file_gives(tmp_path: Path) -> None:
    from engage_sync.changeset import parse_changeset, write_changeset
    from engage_sync.model import Tombstone

    state = applied((1, lead("a")), (1, lead("gone")), (2, lead("x")))
    want = Desired(
        CampaignRef(1),
        None,
        ("f.yaml",),
        OPTIONS,
        [lead("a", leadPhone="5551112222"), lead("n\tew")],
        tombstones=(Tombstone("gone", "f.yaml", 9),),
    )
    result = plan([want, desired(2, lead("x", firstName="Eve"), lead("y"))], state)
    assert (result.count(ChangeKind.REPLACE), result.count(ChangeKind.REMOVE)) == (1, 1)
    path = tmp_path / "changes.tsv"
    assert write_changeset(result, path) == 5
    changeset = parse_changeset(path.read_text(), str(path))
    assert changeset.checksum == result.checksum and len(changeset.items) == 5
    path.write_text(path.read_text().replace("\tupdate\t", "\tcreate\t"))
    with pytest.raises(EngageSyncError, match="do not give the checksum"):
        parse_changeset(path.read_text(), str(path))


def test_a_tombstone_is_a_removal_until_it_is_recorded() -> None:
    from engage_sync.model import RemoveReason, Tombstone

    state = applied((1, lead("a")), (1, lead("b")))
    want = Desired(
        CampaignRef(1),
        None,
        ("f.yaml",),
        OPTIONS,
        [lead("a")],
        tombstones=(Tombstone("b", "f.yaml", 9), Tombstone("never-loaded", "f.yaml", 10)),
    )
    (ls,) = plan([want], state).leadsets
    assert [(c.extern_id, c.reason, c.line) for c in ls.removals] == [
        ("b", RemoveReason.REMOVED, 9),
        ("never-loaded", RemoveReason.REMOVED, 10),
    ]
    assert ls.orphans == ()  # b is removed, not orphaned
    state.campaign(1).forget(["b", "never-loaded"])
    (ls,) = plan([want], state).leadsets
    assert ls.removals == () and not plan([want], state).has_changes


def test_prune_turns_orphans_into_removals_and_the_checksum_covers_them() -> None:
    from engage_sync.model import PruneAction, RemoveReason

    state = applied((1, lead("a")), (1, lead("gone")))
    off = Desired(CampaignRef(1), None, ("f.yaml",), OPTIONS, [lead("a")])
    on = Desired(CampaignRef(1), None, ("f.yaml",), OPTIONS, [lead("a")], prune=True)
    deleting = Desired(
        CampaignRef(1),
        None,
        ("f.yaml",),
        OPTIONS,
        [lead("a")],
        prune=True,
        prune_action=PruneAction.DELETE,
    )
    (kept,) = plan([off], state).leadsets
    assert [c.extern_id for c in kept.orphans] == ["gone"] and kept.removals == ()
    (pruned,) = plan([on], state).leadsets
    assert [(c.extern_id, c.reason) for c in pruned.removals] == [("gone", RemoveReason.PRUNE)]
    assert pruned.orphans == ()
    checksums = {plan([d], state).checksum for d in (off, on, deleting)}
    assert len(checksums) == 3


def test_the_planner_reads_a_view_of_the_state_and_puts_creates_where_it_is_told() -> None:
    from types import MappingProxyType

    from engage_sync.planner.spool import Spool

    state = applied((1, lead("a")))
    camp = state.campaign(1)
    before = (dict(camp.leads), set(camp.in_doubt), camp.seal)
    made: list[int] = []

    def in_memory(cid: int) -> Spool:
        made.append(cid)
        return Spool(cid, keep=10**9)

    result = plan([desired(1, lead("a"), lead("b"))], state, creates_for=in_memory)
    assert made == [1] and [c.extern_id for c in result.leadsets[0].creates] == ["b"]
    assert (dict(camp.leads), set(camp.in_doubt), camp.seal) == before  # nothing written
    # any read-only mapping will do for the campaigns (typing.Protocol StateView)
    frozen = State(Path("s.json"), lineage="L", serial=4)
    frozen.campaigns = MappingProxyType({1: camp})  # type: ignore[assignment]
    assert plan([desired(1, lead("a"))], frozen).unchanged == 1


def test_a_lead_whose_phone_is_on_the_do_not_call_set_is_blocked_not_loaded() -> None:
    from engage_sync.changeset import plan_items
    from engage_sync.donotcall.registry import Origin, Registry

    registry = Registry()
    registry.add("+14155550100", Origin("leadsets/dnc.yaml", 3, None, "IVR"))
    other = Lead.from_mapping({"externId": "ok", "leadPhone": "4155550199"}, "f.yaml", 4)
    state = applied((1, lead("owned")))
    want = desired(1, lead("owned", 2), lead("new", 3), other)
    result = plan([want], state, do_not_call=registry.blocked_by)
    (ls,) = result.leadsets
    assert [(c.extern_id, c.line, c.before is not None, c.note) for c in ls.blocked] == [
        ("owned", 2, True, "leadsets/dnc.yaml:3"),
        ("new", 3, False, "leadsets/dnc.yaml:3"),
    ]
    assert [c.extern_id for c in ls.creates] == ["ok"]
    assert not ls.updates and not ls.orphans and ls.unchanged == 0
    assert result.count(ChangeKind.BLOCKED) == 2
    # the change set and its checksum carry them, as blocked
    items = list(plan_items(result))
    assert [i.split("\t")[1:3] + i.split("\t")[4:5] for i in items[:2]] == [
        ["blocked", "owned", "do-not-call"],
        ["blocked", "new", "do-not-call"],
    ]
    unblocked = plan([desired(1, lead("owned", 2), lead("new", 3), other)], state)
    assert unblocked.checksum != result.checksum
    assert "4155550100" not in "".join(items)
