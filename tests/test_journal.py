"""state/journal.py: what each record does live, that a record with nothing new writes no line,
and that a fold changes the file only when something was recorded (crash and replay of the
journal are in test_state.py, its reading back in test_replay.py)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from engage_sync.errors import StateError
from engage_sync.model import Lead
from engage_sync.state import Journal, journal_path, load_state, read_state, save_state
from engage_sync.state.file import State


def lead(eid: str) -> Lead:
    return Lead.from_mapping({"externId": eid, "leadPhone": "4155550100"}, "f.yaml", 1)


def records(state: State) -> list[dict[str, object]]:
    """The journal's lines, their checksums set aside."""
    return [json.loads(line) for line in journal_path(state).read_text().splitlines()]


def saved(tmp_path: Path) -> State:
    state = State(tmp_path / "s.json")
    state.campaign(7).record(lead("a"))
    save_state(state)
    return load_state(tmp_path / "s.json")


def test_the_first_line_names_the_state_and_the_serial_it_starts_from(tmp_path: Path) -> None:
    state = saved(tmp_path)
    with Journal(state):
        pass
    (head,) = records(state)
    assert (head["journal"], head["lineage"], head["base_serial"]) == (2, state.lineage, 1)


def test_a_fold_with_nothing_recorded_leaves_the_state_file_as_it_was(tmp_path: Path) -> None:
    state = saved(tmp_path)
    before = (tmp_path / "s.json").read_bytes()
    with Journal(state) as journal:
        batch = journal.begin(7, ["b"])
        journal.fail(batch, 7)  # refused: nothing owned, nothing in doubt
        journal.forget(7, [])  # nothing to forget: no line
        assert not journal.changed
        journal.fold()
    assert (tmp_path / "s.json").read_bytes() == before and not journal_path(state).exists()


def test_a_fold_writes_the_state_when_a_batch_is_left_in_doubt_or_seals_changed(
    tmp_path: Path,
) -> None:
    state = saved(tmp_path)
    with Journal(state) as journal:
        journal.begin(7, ["b"])  # no answer
        assert journal.changed
        journal.fold()
    assert read_state(state.store).campaigns[7].in_doubt == {"b"}
    state = load_state(state.store)
    with Journal(state) as journal:
        journal.fold(seals=True)
    assert read_state(state.store).serial == 3


def test_an_earlier_runs_journal_is_folded_before_a_new_one_starts(tmp_path: Path) -> None:
    state = saved(tmp_path)
    with Journal(state) as journal:
        batch = journal.begin(7, ["b"])
        journal.ack(batch, 7, [lead("b")], "f.yaml")
    # the run died before its fold; the next loads the state (replaying it) and starts a journal
    again = load_state(state.store)
    with Journal(again):
        pass
    on_disk = read_state(state.store)
    assert on_disk.serial == 2 and on_disk.campaigns[7].owns("b")
    assert [r.get("base_serial") for r in records(again)] == [2]  # a fresh journal, one line


def test_a_journal_that_cannot_be_opened_is_a_state_error(tmp_path: Path) -> None:
    state = State(tmp_path / "gone" / "s.json")  # its directory was removed
    with pytest.raises(StateError, match=r"gone/s\.json\.journal: cannot write journal: "):
        Journal(state).__enter__()


def test_the_same_target_or_an_known_request_date_writes_no_line(tmp_path: Path) -> None:
    state = saved(tmp_path)
    with Journal(state) as journal:
        journal.retarget(7, "acct@engage")
        journal.retarget(7, "acct@engage")
        journal.requested(7, {"p": "2026-03-01"})
        journal.requested(7, {"p": "2026-04-01"})  # later than known: nothing new
        journal.requested(7, {"p": "2026-02-01"})
        journal.dnc_key({"salt": "x"})
        journal.dnc_key({"salt": "y"})  # the key is set once
    kinds = [k for r in records(state)[1:] for k in ("retarget", "requested", "dncKey") if k in r]
    assert kinds == ["retarget", "requested", "requested", "dncKey"]
    assert state.campaigns[7].requested == {"p": "2026-02-01"}
    assert state.do_not_call.key == {"salt": "x"}


def test_an_answered_action_is_evidence_and_a_failed_one_is_not(tmp_path: Path) -> None:
    state = saved(tmp_path)
    with Journal(state) as journal:
        done = journal.act(7, "CANCEL_LEADS", [(11, "a"), (12, "a")])
        journal.acted(done, True, 2)
        failed = journal.act(7, "DELETE_LEADS", [(13, "b")])
        journal.acted(failed, False)
    (act,) = state.campaigns[7].acts["a"]
    assert act["action"] == "CANCEL_LEADS" and act["leadIds"] == [11, 12]
    assert act["answered"] is True and "b" not in state.campaigns[7].acts


def test_forget_keeps_the_evidence_for_the_ledger(tmp_path: Path) -> None:
    state = saved(tmp_path)
    with Journal(state) as journal:
        journal.forget(7, ["a", "a"], [{"externId": "a", "requested": "2026-01-01"}])
    assert state.evidence == [{"externId": "a", "requested": "2026-01-01"}]
    assert records(state)[1]["ids"] == ["a"] and state.campaigns[7].removed == {"a"}


def test_threads_writing_at_once_leave_whole_lines_and_distinct_batches(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json")
    with Journal(state) as journal:

        def post(campaign: int) -> None:
            for i in range(50):
                batch = journal.begin(campaign, [f"{campaign}-{i}"])
                journal.ack(batch, campaign, [lead(f"{campaign}-{i}")], "f.yaml")

        threads = [threading.Thread(target=post, args=(c,)) for c in (1, 2, 3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    begun = [r["batch"] for r in records(state) if "begin" in r]
    assert sorted(begun) == list(range(1, 151))
    replayed = load_state(state.store)  # every line reads back, nothing in doubt
    assert {c: replayed.campaigns[c].count() for c in (1, 2, 3)} == {1: 50, 2: 50, 3: 50}
    assert all(not replayed.campaigns[c].in_doubt for c in (1, 2, 3))


def test_a_cancel_for_an_update_leaves_the_lead_to_load_again_until_a_load_succeeds(
    tmp_path: Path,
) -> None:
    """Seed 5008 (docs/chaos.md): the update's cancel is kept, so a plan loads the lead again
    even if its file goes back to the recorded content; its successful load clears it."""
    state = saved(tmp_path)
    with Journal(state) as journal:
        done = journal.act(7, "CANCEL_LEADS", [(11, "a")], replacing={"a"})
        journal.acted(done, True, 1)
        assert journal.changed  # what Engage did is saved, though no lead was recorded
        journal.fold()
    again = load_state(tmp_path / "s.json")
    assert again.campaigns[7].reloading() == {"a"} and again.campaigns[7].seal is None
    with Journal(again) as journal:
        batch = journal.begin(7, ["a"])
        journal.ack(batch, 7, [lead("a")], "f.yaml", {})
    assert again.campaigns[7].reloading() == set() and "a" not in again.campaigns[7].acts


def test_a_journal_replayed_after_a_crash_keeps_an_updates_cancel_in_mind(
    tmp_path: Path,
) -> None:
    state = saved(tmp_path)
    journal = Journal(state).__enter__()
    journal.act(7, "CANCEL_LEADS", [(11, "a")], replacing={"a"})  # sent; then kill -9
    journal.__exit__()  # the file closed, not folded: as a crash leaves it
    replayed = load_state(tmp_path / "s.json")  # folds the journal left behind
    assert replayed.campaigns[7].reloading() == {"a"}
    assert replayed.campaigns[7].acts["a"][0]["answered"] is False


def test_a_phones_line_takes_its_cancels_from_the_state_when_it_is_written(tmp_path: Path) -> None:
    """Do not call in several accounts: a line takes this account's cancels, and, on the line
    that completes the phone, every one left. They are read under the journal's lock, so a
    cancel another account's thread has answered meanwhile is in the line or kept, never lost."""
    with Journal(State(tmp_path / "s.json")) as journal:
        for account, lead in (("A", 1), ("B", 2)):
            journal.acted(journal.dnc_act(7, "CANCEL_LEADS", [(lead, "h1")], account), True, 1)
        line = {"phone": "h1", "requested": "2026-12-01", "acts": []}
        journal.dnc_done({}, [{**line, "account": "A"}], account="A", here=["h1"])
        (a_line,) = journal.state.evidence
        assert [x["leadIds"] for x in a_line["acts"]] == [[1]]
        assert [x["account"] for x in journal.state.do_not_call.acts["h1"]] == ["B"]
        journal.acted(journal.dnc_act(9, "CANCEL_LEADS", [(3, "h1")], "C"), True, 1)
        done = {"h1": ["2026-12-01", "lead set", "2026-12-08T00:00:00Z"]}
        journal.dnc_done(done, [{**line, "account": "B"}], account="B", here=["h1"])
        b_line = journal.state.evidence[-1]
        assert sorted(x["account"] for x in b_line["acts"]) == ["B", "C"]  # the last takes all
        assert journal.state.do_not_call.acts == {} and list(journal.state.do_not_call.done) == [
            "h1"
        ]
