"""state/replay.py: reading a journal back into the state, record by record, and what is refused
(a damaged line in the middle, its recovery and a folded journal are in test_state.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engage_sync import jsonl
from engage_sync.errors import StateError
from engage_sync.state import journal_path, replay, salvage
from engage_sync.state.file import State, save_state, v1_fieldset_id


def head(lineage: str = "L", base_serial: int = 0, version: int = 2) -> dict[str, Any]:
    return {"journal": version, "lineage": lineage, "base_serial": base_serial}


def write(state: State, *lines: dict[str, Any]) -> None:
    journal_path(state).write_bytes(b"".join(jsonl.dumps(r) for r in lines))


def test_no_journal_is_nothing_to_replay(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json")
    assert replay(state) is False and salvage(state) == ()
    assert state.campaigns == {} and state.lineage is None


def test_an_empty_journal_is_nothing_to_replay(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json")
    journal_path(state).write_bytes(b"")
    assert replay(state) is False and state.lineage is None


def test_a_journal_without_a_state_gives_the_state_its_lineage(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json")
    write(state, head("mine"), {"begin": True, "batch": 1, "campaign": 7, "ids": ["a"]})
    assert replay(state) is True
    assert state.lineage == "mine" and state.campaigns[7].in_doubt == {"a"}


def test_an_unknown_journal_version_is_refused(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json")
    write(state, head(version=9))
    with pytest.raises(StateError, match=r"s\.json\.journal: unknown journal version 9"):
        replay(state)


def test_a_journal_that_cannot_be_read_is_a_state_error(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json")
    journal_path(state).mkdir()
    with pytest.raises(StateError, match=r"s\.json\.journal: cannot read journal: "):
        replay(state)


def test_each_record_replays_its_change(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json")
    entry = "AAAAAAAA 0 AB"
    write(
        state,
        head(),
        {"retarget": "acct@engage", "campaign": 7},
        {"begin": True, "batch": 1, "campaign": 7, "ids": ["a", "b"]},
        {
            "ack": True,
            "batch": 1,
            "campaign": 7,
            "entries": {"a": entry},
            "fieldsets": {"0": ["leadPhone"]},
            "file": "f.yaml",
            "options": {"listState": "ACTIVE"},
        },
        {"begin": True, "batch": 2, "campaign": 7, "ids": ["r"]},
        {"fail": True, "batch": 2},
        {"requested": True, "campaign": 7, "dates": {"p": "2026-01-01"}},
        {"forget": True, "campaign": 7, "ids": ["old"], "evidence": [{"externId": "old"}]},
    )
    assert replay(state) is True
    camp = state.campaigns[7]
    assert camp.target == "acct@engage" and camp.leads == {"a": entry}
    assert camp.fieldsets == {"0": ("leadPhone",)} and camp.files == {"f.yaml"}
    assert camp.options == {"listState": "ACTIVE"}
    assert camp.in_doubt == set()  # batch 1 was answered (b not accepted), batch 2 refused
    assert camp.requested == {"p": "2026-01-01"} and camp.removed == {"old"}
    assert state.evidence == [{"externId": "old"}]


def act(batch: int, eid: str, at: str) -> dict[str, Any]:
    return {
        "act": True,
        "batch": batch,
        "campaign": 7,
        "leadAction": "CANCEL_LEADS",
        "leadIds": [batch * 10],
        "externIds": [eid],
        "byExternId": {eid: [batch * 10]},
        "at": at,
    }


def test_an_action_sent_without_answer_is_kept_as_evidence_that_it_may_have_happened(
    tmp_path: Path,
) -> None:
    state = State(tmp_path / "s.json")
    write(
        state,
        head(),
        act(1, "answered", "2026-01-01T00:00:00Z"),
        {"acted": True, "batch": 1, "ok": True, "count": 1, "at": "2026-01-01T00:00:05Z"},
        act(2, "refused", "2026-01-01T00:00:10Z"),
        {"acted": True, "batch": 2, "ok": False, "count": None, "at": "2026-01-01T00:00:15Z"},
        act(3, "unanswered", "2026-01-01T00:00:20Z"),
    )
    replay(state)
    acts = state.campaigns[7].acts
    assert acts["answered"] == [
        {"action": "CANCEL_LEADS", "leadIds": [10], "at": "2026-01-01T00:00:05Z", "answered": True}
    ]
    assert acts["unanswered"] == [
        {"action": "CANCEL_LEADS", "leadIds": [30], "at": "2026-01-01T00:00:20Z", "answered": False}
    ]
    assert "refused" not in acts


def test_a_record_that_is_missing_what_it_needs_is_damage_salvage_keeps_the_rest(
    tmp_path: Path,
) -> None:
    state = State(tmp_path / "s.json")
    lines = (
        head(),
        {"forget": True, "campaign": "seven", "ids": ["x"]},  # checksummed, yet not a record
        {"begin": True, "batch": 1, "campaign": 7, "ids": ["a"]},
    )
    write(state, *lines)
    with pytest.raises(StateError, match=r"s\.json\.journal:2: damaged line \(not a journal"):
        replay(state)
    state = State(tmp_path / "s.json")
    damaged = salvage(state)
    assert [d.number for d in damaged] == [2]
    assert list(state.campaigns) == [7] and state.campaigns[7].in_doubt == {"a"}


def test_a_journal_folded_into_the_state_already_changes_nothing(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json", lineage="L")
    save_state(state)  # serial 1
    write(state, head("L", 0), {"begin": True, "batch": 1, "campaign": 7, "ids": ["a"]})
    assert replay(state) is False and state.campaigns == {}
    write(state, head("L", 1), {"begin": True, "batch": 1, "campaign": 7, "ids": ["a"]})
    assert replay(state) is True and state.campaigns[7].in_doubt == {"a"}


def test_a_version_1_journal_without_its_head_is_read_as_version_1(tmp_path: Path) -> None:
    """The head is lost (damaged): the entries' 16 hex characters of hash tell the version."""
    state = State(tmp_path / "s.json")
    fsid = v1_fieldset_id(["leadPhone"])
    ack = {
        "ack": True,
        "batch": 1,
        "campaign": 7,
        "entries": {"a": f"{'ab' * 8} {fsid} 0123"},
        "fieldsets": {fsid: ["leadPhone"]},
    }
    journal_path(state).write_bytes(b"{damaged\n" + jsonl.dumps(ack))
    assert [d.number for d in salvage(state)] == [1]
    (entry,) = state.campaigns[7].leads.values()
    digest, fieldset, codes = entry.split(" ")
    assert len(digest) == 8 and state.campaigns[7].fieldsets[fieldset] == ("leadPhone",)
    assert len(codes) == 2  # a phone's two base64 characters
