"""Change sets: what a reviewer approved, how reviews compose, and what a plan keeps of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from engage_sync.changeset import (
    ChangeSet,
    cover,
    describe,
    extern_id,
    is_tombstone,
    only,
    parse_changeset,
    plan_items,
    write_changeset,
)
from engage_sync.errors import ChangeSetError
from engage_sync.model import CampaignRef, ChangeKind, Desired, Lead, LoadOptions, Tombstone
from engage_sync.planner import plan
from engage_sync.state import State

OPTIONS = LoadOptions((("duplicateHandling", "RETAIN_ALL"),))


def lead(eid: str, **fields: str) -> Lead:
    return Lead.from_mapping({"externId": eid, "leadPhone": "4155550100", **fields}, "f.yaml", 1)


def want(*leads: Lead, removed: tuple[str, ...] = (), account: str | None = None) -> Desired:
    tombstones = tuple(Tombstone(e, "f.yaml", 9) for e in removed)
    return Desired(CampaignRef(7), account, ("f.yaml",), OPTIONS, list(leads), tombstones)


def state_of(*leads: Lead) -> State:
    state = State(Path("s.json"), lineage="L", serial=3)
    for x in leads:
        state.campaign(7).record(x)
    return state


def reviewed(desired: Desired, state: State, source: str) -> ChangeSet:
    p = plan([desired], state)
    return ChangeSet(p.checksum, frozenset(plan_items(p)), source)


BASE = state_of(lead("a"), lead("b"), lead("c"))


def test_two_reviews_of_one_main_compose_after_either_is_applied() -> None:
    one = want(lead("a", firstName="Ada"), lead("b"), lead("c"))
    two = want(lead("a"), lead("b"), lead("c"), lead("d"), removed=())
    r1, r2 = reviewed(one, BASE, "#1"), reviewed(two, BASE, "#2")
    after_one = state_of(lead("a", firstName="Ada"), lead("b"), lead("c"))
    merged = want(lead("a", firstName="Ada"), lead("b"), lead("c"), lead("d"))
    coverage = cover(plan([merged], after_one), [r1, r2])
    assert coverage.complete and len(coverage.reviewed) == 1  # d; a is done already
    assert [extern_id(i) for i in coverage.not_in_plan] == ["a"]


def test_the_same_lead_changed_by_two_reviews_is_named_not_applied() -> None:
    r1 = reviewed(want(lead("a", firstName="Ada"), lead("b"), lead("c")), BASE, "#1")
    r2 = reviewed(want(lead("a", firstName="Eve"), lead("b"), lead("c")), BASE, "#2")
    after_one = state_of(lead("a", firstName="Ada"), lead("b"), lead("c"))
    main = plan([want(lead("a", firstName="Eve"), lead("b"), lead("c"))], after_one)
    coverage = cover(main, [r1, r2])
    (line,) = coverage.unreviewed
    assert describe(line, [r1, r2]) == "campaign 7: update a (#1, #2 reviewed other content for it)"
    kept = only(main, coverage.reviewed)
    assert kept.count(ChangeKind.UPDATE) == 0


def test_options_and_account_are_part_of_what_was_reviewed() -> None:
    r = reviewed(want(lead("a"), lead("b"), lead("c"), lead("d")), BASE, "#1")
    other = plan([want(lead("a"), lead("b"), lead("c"), lead("d"), account="123")], BASE)
    coverage = cover(other, [r])
    assert [describe(i) for i in coverage.unreviewed] == [
        "campaign 7: create d (no reviewed plan shows it)"
    ]


def test_only_keeps_every_tombstone_and_nothing_unreviewed() -> None:
    main = plan([want(lead("a", firstName="Z"), lead("b"), lead("d"), removed=("c",))], BASE)
    coverage = cover(main, [])
    assert sorted(is_tombstone(i) for i in coverage.unreviewed) == [False, False, True]
    kept = only(main, coverage.reviewed)
    (ls,) = kept.leadsets
    assert [c.extern_id for c in ls.removals] == ["c"]
    assert not (ls.creates or ls.updates or ls.replaces)


def test_a_change_set_file_round_trips_and_refuses_what_is_not_one(tmp_path: Path) -> None:
    odd = "a\\b\tc\nd"  # a backslash, a tab and a newline: one item, one line all the same
    main = plan([want(lead("a"), lead(odd), lead("b", firstName="Bo"), lead("c"))], BASE)
    path = tmp_path / "changes.tsv"
    assert write_changeset(main, path) == 2
    assert len(path.read_text().splitlines()) == 3
    changeset = parse_changeset(path.read_text(), "file")
    assert changeset.checksum == main.checksum
    assert sorted(extern_id(i) for i in changeset.items) == [odd, "b"]
    with pytest.raises(ChangeSetError, match="no header line"):
        parse_changeset("7\tcreate\tx\t\tH\tK\n", "f")
    header = path.read_text().splitlines()[0]
    with pytest.raises(ChangeSetError, match="f:2: not a change-set item"):
        parse_changeset(f"{header}\nnot an item\n", "f")
    with pytest.raises(ChangeSetError, match="do not give the checksum"):
        parse_changeset(path.read_text().rsplit("\n", 2)[0] + "\n", "f")  # cut short
