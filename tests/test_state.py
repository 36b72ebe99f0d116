"""State file: versioned, atomic, PII-free, stable; journal replay and in-doubt leads; the lock."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Served

from engage_sync import leadsets
from engage_sync.config import load_config
from engage_sync.errors import LockError, StateError
from engage_sync.model import Lead
from engage_sync.state import (
    DamagedJournal,
    State,
    journal_path,
    load_state,
    recover_state,
    render_state,
    save_state,
)
from engage_sync.state.journal import Journal
from engage_sync.state.lock import StateLock, force_unlock, lock_path, read_lock
from engage_sync.workspace import read_sources

REPO = Path(__file__).resolve().parent.parent


def lead(eid: str, **fields: str | int) -> Lead:
    return Lead.from_mapping({"externId": eid, **fields}, "f.yaml", 1)


ADA = lead(
    "1001",
    leadPhone="4155550100",
    firstName="Ada",
    email="ada@example.com",
    address1="1 Main St",
    extendedLeadData={"plan": "gold"},
)  # type: ignore[arg-type]


def test_missing_state_is_empty(tmp_path: Path) -> None:
    state = load_state(tmp_path / "s.json")
    assert (state.lineage, state.serial, state.campaigns, state.exists) == (None, 0, {}, False)


def test_round_trip_keeps_hashes_and_bumps_serial(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json")
    state.campaign(136785).record(ADA)
    save_state(state)
    again = load_state(tmp_path / "s.json")
    assert again.serial == 1 and again.lineage == state.lineage
    assert again.campaigns[136785].hash_of("1001") == ADA.digest
    assert again.campaigns[136785].changed_fields(ADA) == ()
    edited = lead(
        "1001",
        leadPhone="4155550100",
        firstName="Grace",
        email="ada@example.com",
        address1="1 Main St",
        extendedLeadData={"plan": "gold"},
    )  # type: ignore[arg-type]
    assert again.campaigns[136785].changed_fields(edited) == ("firstName",)
    fewer = lead("1001", leadPhone="4155550100", firstName="Ada")
    assert again.campaigns[136785].changed_fields(fewer) == (
        "address1",
        "email",
        "extendedLeadData.plan",
    )
    save_state(again)
    assert load_state(tmp_path / "s.json").serial == 2


def test_state_holds_no_lead_values(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json")
    state.campaign(136785).record(ADA)
    save_state(state)
    text = (tmp_path / "s.json").read_text()
    for value in ("4155550100", "Ada", "ada@example.com", "1 Main St", "gold"):
        assert value not in text
    assert "1001" in text


def test_rendering_is_byte_identical_and_sorted(tmp_path: Path) -> None:
    def build() -> str:
        state = State(tmp_path / "s.json", lineage="fixed", serial=3)
        for eid in ("b", "a", "c"):
            state.campaign(2).record(lead(eid, leadPhone="4155550100"))
        state.campaign(1).record(lead("z", leadPhone="4155550101"))
        return render_state(state)

    first = build()
    assert first == build()
    data = json.loads(first)
    assert list(data["campaigns"]) == ["1", "2"]
    assert list(data["campaigns"]["2"]["leads"]) == ["a", "b", "c"]
    assert first.count("\n") > 10  # one lead per line keeps git diffs small


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "state file is corrupt"),
        (
            '{"format_version": 99, "lineage": "x", "serial": 1, "campaigns": {}}',
            "format_version 99 is not supported",
        ),
        ('{"lineage": "x"}', "not an engage-sync state file"),
        (
            '{"format_version": 1, "lineage": "x", "serial": 1, '
            '"campaigns": {"1": {"leads": {"a": 5}}}}',
            "state file is corrupt",
        ),
        (
            '{"format_version": 1, "lineage": "x", "serial": "one", "campaigns": {}}',
            "state file is corrupt",
        ),
    ],
)
def test_bad_state_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(content)
    with pytest.raises(StateError, match=message):
        load_state(path)


def test_a_damaged_byte_in_the_state_is_an_error_at_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    state = State(path)
    state.campaign(136785).record(ADA)
    save_state(state)
    good = path.read_bytes()

    def where(at: int) -> str:
        line, column = good[:at].count(b"\n") + 1, at - good.rfind(b"\n", 0, at)
        return f"{path}:{line}:{column}"

    for at, byte, why in (
        (good.index(b'"serial"') + 8, b";", "Expecting ':' delimiter"),
        (good.index(b'"1001"') + 10, b"\xff", "a byte that is not UTF-8"),
        (good.index(b"{"), b"\0", "Expecting value"),
    ):
        path.write_bytes(good[:at] + byte + good[at + 1 :])
        with pytest.raises(StateError) as e:
            load_state(path)
        assert str(e.value).startswith(f"{where(at)}: state file is corrupt ({why}"), str(e.value)
        assert "git checkout -- " in str(e.value) and "--look-first all" in str(e.value)
    for truncated in (b"", good[: len(good) // 2], b"\0" * len(good)):  # never taken as empty
        path.write_bytes(truncated)
        with pytest.raises(StateError, match="state file is corrupt"):
            load_state(path)


def test_failed_write_leaves_the_old_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = State(tmp_path / "s.json")
    state.campaign(1).record(ADA)
    save_state(state)
    before = (tmp_path / "s.json").read_bytes()
    state.campaign(1).record(lead("2", leadPhone="4155550101"))

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StateError, match="No space left on device"):
        save_state(state)
    assert (tmp_path / "s.json").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temporary file left behind


def test_journal_acks_survive_a_crash_and_begin_without_answer_is_in_doubt(tmp_path: Path) -> None:
    state = load_state(tmp_path / "s.json")
    journal = Journal(state).__enter__()
    b1 = journal.begin(7, ["a", "b"])
    journal.ack(b1, 7, [lead("a", leadPhone="4155550100"), lead("b", leadPhone="4155550101")], "f")
    journal.begin(7, ["c"])  # the process dies here, before Engage answers
    journal.__exit__()
    with journal_path(state).open("ab") as f:
        f.write(b'{"ack": true, "batch": 2, "camp')  # a torn last line
    recovered = load_state(tmp_path / "s.json")
    assert sorted(recovered.campaigns[7].leads) == ["a", "b"]
    assert recovered.campaigns[7].in_doubt == {"c"}


def crashed_journal(path: Path) -> Path:
    """A journal an apply left: a batch accepted, one in flight (Engage took it, no answer was
    written), another accepted, a removal; nothing folded."""
    state = load_state(path)
    journal = Journal(state).__enter__()
    one = journal.begin(7, ["a"])  # line 2
    journal.ack(one, 7, [lead("a", leadPhone="4155550100")], "f")  # line 3
    journal.begin(7, ["c"])  # line 4
    three = journal.begin(7, ["b"])  # line 5
    journal.ack(three, 7, [lead("b", leadPhone="4155550101")], "f")  # line 6
    journal.forget(7, ["old"])  # line 7
    journal.__exit__()
    return journal_path(state)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"campaign":7', b'"campaign":8'),  # still JSON: only the checksum tells
        (b'"entries":{', b'"entries"{'),  # not JSON any more
    ],
)
def test_a_damaged_journal_line_stops_loading_naming_it_and_loses_nothing_after_it(
    tmp_path: Path, old: bytes, new: bytes
) -> None:
    path = tmp_path / "s.json"
    journal = crashed_journal(path)
    lines = journal.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(old, new, 1)  # the ack of batch 1, in the middle
    journal.write_bytes(b"\n".join(lines))
    with pytest.raises(DamagedJournal) as e:
        load_state(path)
    message = str(e.value)
    assert message.startswith(f"{journal}:3: damaged line (")
    assert "could post those leads again" in message
    assert "The 4 intact line(s) after it are kept" in message
    assert "`engage-sync state recover`" in message
    state, damaged = recover_state(path)  # what recover folds: every line that reads
    assert damaged == (3,)
    camp = state.campaigns[7]
    assert sorted(camp.leads) == ["b"]  # acked after the damaged line: kept
    assert camp.in_doubt == {"a", "c"}  # a's answer is lost, c's never came
    assert camp.removed == {"old"} and 8 not in state.campaigns


def test_a_journal_whose_first_line_is_damaged_is_recovered_from_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    journal = crashed_journal(path)
    journal.write_bytes(b"{" + journal.read_bytes()[2:])  # its head: whose, from which serial
    with pytest.raises(DamagedJournal, match=r"journal:1: damaged line \("):
        load_state(path)
    state, damaged = recover_state(path)
    assert damaged == (1,) and state.lineage  # a lineage of its own: there was no state
    assert sorted(state.campaigns[7].leads) == ["a", "b"] and state.campaigns[7].in_doubt == {"c"}


def test_a_journal_line_without_checksum_that_is_not_a_record_is_damage_too(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.json"
    lines = [
        {"journal": 2, "lineage": "x", "base_serial": 0},
        {"begin": True, "batch": 1, "campaign": 7, "ids": ["a"]},
        {"ack": True, "batch": 1, "campaign": 7},  # written before checksums, its entries lost
        {"begin": True, "batch": 2, "campaign": 7, "ids": ["b"]},
    ]
    journal_path(State(path)).write_text("".join(json.dumps(r) + "\n" for r in lines))
    with pytest.raises(DamagedJournal, match=r"journal:3: damaged line \(not a journal record"):
        load_state(path)
    state, damaged = recover_state(path)
    assert damaged == (3,) and state.campaigns[7].in_doubt == {"a", "b"}


def test_a_whole_last_journal_line_that_is_damaged_is_an_error_not_a_tear(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    state = load_state(path)
    with Journal(state) as journal:
        journal.begin(7, ["c"])  # sent; a crash after it leaves the line whole
    data = journal_path(state).read_bytes()
    journal_path(state).write_bytes(data.replace(b'"ids":["c"]', b'"ids":["d"]'))
    with pytest.raises(DamagedJournal, match=r"s\.json\.journal:2: damaged line \(its checksum"):
        load_state(path)
    journal_path(state).write_bytes(data[:-9])  # cut short: never sent, nothing in doubt
    assert load_state(path).campaigns == {}


def test_a_damaged_journal_already_folded_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    saved = crashed_journal(path).read_bytes()
    state = load_state(path)
    save_state(state)  # folded; then a crash before the journal was removed, and a bad disk
    journal_path(state).write_bytes(saved.replace(b'"campaign":7', b'"campaign":8', 2))
    assert load_state(path).serial == 1


def test_state_recover_folds_a_damaged_journal_and_the_next_apply_posts_nobody_twice(
    workspace: Path, run: Any, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in {**served.env("api-token"), "ENGAGE_SYNC_LOOKUP_DELAY": "0"}.items():
        monkeypatch.setenv(k, v)
    assert run("apply", "--auto-approve").code == 0  # Engage holds every declared lead
    posted = len(served.loader_posts())
    state_file = workspace / "engage-sync.state.json"
    state_file.unlink()  # as if that apply had crashed before its fold: only its journal is left
    (source,) = [
        s
        for s in read_sources((), load_config(cwd=workspace))[0]
        if s.meta.path.endswith("spring-renewals.yaml")
    ]
    first, second, third = list(leadsets.stream(source))[:3]
    state = load_state(state_file)
    journal = Journal(state).__enter__()
    cid, body = source.meta.campaign.id, source.meta.options.body()
    for lead_ in (first, second, third):
        number = journal.begin(cid, [lead_.extern_id])
        if lead_ is not second:  # the second was in flight: Engage took it, no answer written
            journal.ack(number, cid, [lead_], source.meta.path, body)
    journal.__exit__()
    kept = journal_path(state)
    lines = kept.read_bytes().split(b"\n")
    assert json.loads(lines[3])["ids"] == [second.extern_id]
    lines[3] = lines[3].replace(second.extern_id.encode(), b"R-9999")  # still JSON
    kept.write_bytes(b"\n".join(lines))

    r = run("plan")
    assert r.code == 1 and r.out == ""
    assert r.err.startswith(f"error: {kept.name}:4: damaged line (its checksum"), r.err
    assert "`engage-sync state recover`" in r.err
    r = run("state", "recover")
    assert r.code == 0, r.err
    assert "damaged line(s) 4 skipped" in r.out and f"{kept.name}.damaged" in r.out
    assert not kept.exists()
    recovered = load_state(state_file).campaigns[cid]
    assert first.extern_id in recovered.leads and third.extern_id in recovered.leads
    assert second.extern_id in recovered.in_doubt  # with every lead the sets would post
    r = run("apply", "--auto-approve")
    assert r.code == 0, r.err
    assert len(served.loader_posts()) == posted  # found in Engage and recorded, none posted
    r = run("plan")
    assert r.out.splitlines()[-1].startswith("Plan: 0 to create, 0 to update, 0 to replace")
    assert run("state", "recover").out.endswith("nothing to recover (no damaged journal line)\n")


def test_fold_writes_state_and_removes_journal(tmp_path: Path) -> None:
    state = load_state(tmp_path / "s.json")
    with Journal(state) as journal:
        b = journal.begin(7, ["a"])
        journal.ack(b, 7, [lead("a", leadPhone="4155550100")], "f")
        journal.fold()
    assert not journal_path(state).exists()
    assert load_state(tmp_path / "s.json").campaigns[7].hash_of("a") is not None


def test_a_journal_already_folded_is_ignored(tmp_path: Path) -> None:
    state = load_state(tmp_path / "s.json")
    journal = Journal(state).__enter__()
    b = journal.begin(7, ["a"])
    journal.ack(b, 7, [lead("a", leadPhone="4155550100")], "f")
    saved = journal_path(state).read_bytes()
    journal.fold()
    journal_path(state).write_bytes(saved)  # crash between the state rename and the unlink
    again = load_state(tmp_path / "s.json")
    assert again.serial == 1 and sorted(again.campaigns[7].leads) == ["a"]


def test_journal_of_another_state_is_refused(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json")
    save_state(state)
    journal_path(state).write_text('{"journal": 1, "lineage": "other", "base_serial": 1}\n')
    with pytest.raises(StateError, match="another state"):
        load_state(tmp_path / "s.json")


def test_second_lock_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    with StateLock(tmp_path / "s.json", "apply") as first:
        assert first.info is not None
        with pytest.raises(LockError) as e, StateLock(tmp_path / "s.json", "apply"):
            pass
        assert f"pid {os.getpid()} on {socket.gethostname()}" in str(e.value)
        assert first.info.id in str(e.value)
    assert not lock_path(tmp_path / "s.json").exists()


def test_lock_timeout_waits_then_fails(tmp_path: Path) -> None:
    with (
        StateLock(tmp_path / "s.json", "apply"),
        pytest.raises(LockError, match="--lock-timeout"),
        StateLock(tmp_path / "s.json", "apply", timeout=0.3),
    ):
        pass


def test_lock_of_a_dead_process_is_reported_and_force_unlock_removes_it(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    lock_path(tmp_path / "s.json").write_text(
        json.dumps(
            {
                "id": "abc123",
                "host": socket.gethostname(),
                "pid": pid,
                "started": "2026-01-01T00:00:00Z",
                "operation": "apply",
            }
        )
    )
    with (
        pytest.raises(LockError, match=r"no longer running.*force-unlock abc123"),
        StateLock(tmp_path / "s.json", "apply"),
    ):
        pass
    with pytest.raises(LockError, match="not abc"):
        force_unlock(tmp_path / "s.json", "abc")
    assert force_unlock(tmp_path / "s.json", "abc123").pid == pid
    assert read_lock(lock_path(tmp_path / "s.json")) is None
    with pytest.raises(LockError, match="not locked"):
        force_unlock(tmp_path / "s.json", "abc123")


def test_interrupted_apply_keeps_the_batch_in_flight_in_doubt(tmp_path: Path) -> None:
    state = load_state(tmp_path / "s.json")
    with Journal(state) as journal:
        done = journal.begin(7, ["a"])
        journal.ack(done, 7, [lead("a", leadPhone="4155550100")], "f")
        refused = journal.begin(7, ["r"])
        journal.fail(refused, 7)
        journal.begin(7, ["b", "c"])  # Ctrl-C here: no answer
        journal.fold()
    folded = load_state(tmp_path / "s.json")
    assert folded.campaigns[7].in_doubt == {"b", "c"}
    assert sorted(folded.campaigns[7].leads) == ["a"]


def test_removals_round_trip_one_per_line_and_replay_from_the_journal(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json")
    camp = state.campaign(5)
    for eid in ("a", "b", "c"):
        camp.record(Lead.from_mapping({"externId": eid, "leadPhone": "4155550100"}, "f", 1))
    save_state(state)
    with Journal(state) as journal:
        n = journal.act(5, "CANCEL_LEADS", [(11, "b"), (12, "c")])
        journal.acted(n, True, 2)
        journal.forget(5, ["c", "b"])
    # a crash before the fold: the journal alone brings the removal back
    again = load_state(tmp_path / "s.json")
    assert sorted(again.campaign(5).leads) == ["a"] and again.campaign(5).removed == {"b", "c"}
    save_state(again)
    text = (tmp_path / "s.json").read_text()
    assert '      "removed": [\n        "b",\n        "c"\n      ],' in text
    reloaded = load_state(tmp_path / "s.json")
    assert reloaded.campaign(5).removed == {"b", "c"}
    # declared and loaded again later: owned again, no longer a removal
    reloaded.campaign(5).record(Lead.from_mapping({"externId": "b", "leadPhone": "1"}, "f", 1))
    assert reloaded.campaign(5).removed == {"c"}


V1 = Path(__file__).parent / "data" / "state-v1"  # written by engage-sync 0.1.0 (state format 1)


def bundled_leads() -> dict[tuple[int, str], Lead]:
    sink = leadsets.Sink()
    found = {}
    for name in ("spring-renewals.yaml", "webinar-followup.yaml"):
        source = leadsets.load_source(REPO / "leadsets" / name, {}, sink)
        assert source is not None
        for each in leadsets.iter_leads(source, sink):
            found[(source.meta.campaign.id, each.extern_id)] = each
    return found


def test_a_version_1_state_and_journal_are_read_as_version_2(tmp_path: Path) -> None:
    for name in ("state.json", "state.json.journal"):
        shutil.copy(V1 / name, tmp_path / name)
    state = load_state(tmp_path / "state.json")
    assert state.version == 1 and state.serial == 1
    declared = bundled_leads()
    recorded = {(cid, eid) for cid, c in state.campaigns.items() for eid in c.leads}
    # the version-1 file holds all but one lead of each file; its journal acked W-2005
    assert recorded == set(declared) - {(136785, "R-1004")}
    for (cid, eid), each in declared.items():
        if (cid, eid) in recorded:
            camp = state.campaigns[cid]
            assert camp.hash_of(eid) == each.digest, eid  # the same hash, fewer bits
            assert camp.changed_fields(each) == (), eid
    camp = state.campaigns[136790]
    assert camp.in_doubt == {"never-answered"} and camp.removed == {"gone-1"}
    changed = lead("W-2001", leadPhone="4155550100")
    assert set(camp.changed_fields(changed)) >= {"leadPhone", "firstName"}
    save_state(state)
    text = (tmp_path / "state.json").read_text()
    assert json.loads(text)["format_version"] == 3
    again = load_state(tmp_path / "state.json")
    assert again.version == 3
    assert {c: again.campaigns[c].leads for c in again.campaigns} == {
        c: state.campaigns[c].leads for c in state.campaigns
    }


def test_a_malformed_version_1_entry_is_a_clear_error(tmp_path: Path) -> None:
    data = json.loads((V1 / "state.json").read_text())
    data["campaigns"]["136785"]["leads"]["R-1001"] = "d2d89bb158e2061d 600cb9c1 92"
    (tmp_path / "s.json").write_text(json.dumps(data))
    with pytest.raises(StateError, match="state file is corrupt"):
        load_state(tmp_path / "s.json")


def test_a_lead_costs_under_40_bytes_of_state(tmp_path: Path) -> None:
    """The bench's lead shape (issue #13: a state that fits in git at a million leads)."""
    state = State(tmp_path / "s.json", lineage="fixed")
    camp = state.campaign(136785)
    for i in range(2000):
        camp.record(
            lead(
                f"E{i:08d}",
                leadPhone=f"2{i:09d}",
                firstName="Ada",
                lastName="Lovelace",
                email=f"user{i}@example.com",
                city="Springfield",
                state="IL",
                zip="62701",
                extendedLeadData={"plan": "gold"},  # type: ignore[arg-type]
            )
        )
    body = render_state(state).encode()
    assert len(body) / 2000 <= 40
    assert len(body.splitlines()) > 2000  # still one line per lead


def test_field_codes_tell_a_changed_phone_from_another_field() -> None:
    state = State(Path("s.json"))
    camp = state.campaign(1)
    camp.record(ADA)
    before = camp.field_hashes("1001")
    assert len(before["leadPhone"]) == 2 and len(before["firstName"]) == 1
    moved = lead("1001", leadPhone="4155550199", firstName="Ada")
    assert "leadPhone" in camp.changed_fields(moved)


def test_the_live_journal_and_its_replay_leave_the_same_state(tmp_path: Path) -> None:
    """One writer: what apply does to the state in memory and what loading its journal after a
    crash does are the same transitions, so the two cannot disagree."""
    path = tmp_path / "s.json"
    state = load_state(path)
    state.campaign(1).record(lead("old", leadPhone="4155550100"))
    state.campaign(1).seal = {"leads": 1}
    save_state(state)
    live = load_state(path)
    with Journal(live) as journal:
        one = journal.begin(1, ["a", "b"])
        journal.ack(one, 1, [lead("a", leadPhone="4155550101")], "f.yaml", {"listState": "ACTIVE"})
        two = journal.begin(1, ["c"])
        journal.fail(two, 1)
        journal.begin(1, ["d"])  # no answer: in doubt
        journal.forget(1, ["old"])
    # the process dies here: nothing folded
    replayed = load_state(path)
    assert render_state(replayed) == render_state(live)
    camp = replayed.campaign(1)
    assert sorted(camp.leads) == ["a"] and camp.removed == {"old"}
    assert camp.in_doubt == {"d"} and camp.seal is None  # b was answered (not accepted)
    assert camp.options == {"listState": "ACTIVE"} and camp.files == {"f.yaml"}


def test_phones_stopped_by_do_not_call_survive_a_crash_as_keyed_hashes(tmp_path: Path) -> None:
    from engage_sync.donotcall.keys import PhoneKey
    from engage_sync.optouts.ledger import ledger_path

    path = tmp_path / "engage-sync.state.json"
    state = State(path)
    key = PhoneKey.new_salt()
    digest = key.digest("+13035550142")
    with Journal(state) as journal:
        journal.dnc_key(key.to_json())
        sent = journal.dnc_act(136785, "CANCEL_LEADS", [(500001, digest)])
        journal.acted(sent, True, 1)
        unanswered = journal.dnc_act(136792, "CANCEL_LEADS", [(500002, digest)])
        assert unanswered
        journal.dnc_done(
            {digest: ["2026-11-20", "lead set", "2026-12-01T10:00:00Z"]},
            [{"phone": digest, "requested": "2026-11-20", "acts": []}],
        )
        # killed here: the journal is all there is
    replayed = load_state(path)
    assert replayed.do_not_call.key == key.to_json()
    assert replayed.do_not_call.hashes == {digest}
    # the line took the answered cancel from the state as it was written (the journal's)
    (line,) = replayed.evidence
    assert (line["phone"], line["requested"]) == (digest, "2026-11-20")
    assert [(a["campaign"], a["leadIds"], a["answered"]) for a in line["acts"]] == [
        (136785, [500001], True)
    ]
    save_state(replayed)
    again = load_state(path)
    assert again.do_not_call.done[digest][0] == "2026-11-20"
    text = path.read_text() + ledger_path(path).read_text()
    assert "3035550142" not in text and digest in text
    assert render_state(again) == path.read_text()


def test_a_stopped_phone_whose_owned_records_were_forgotten_replays_after_a_crash(
    tmp_path: Path,
) -> None:
    """Convergence campaign, seed 1000 (docs/chaos.md): a `dncDone` line that forgets owned
    leads was read as a `forget` line without its campaign, so after `kill -9` every apply
    refused to run on a "damaged" journal that was intact."""
    path = tmp_path / "engage-sync.state.json"
    state = State(path)
    state.campaign(136792).record(lead("K-3", leadPhone="3035550142"))
    state.campaign(136792).record(lead("K-4", leadPhone="3035550143"))
    save_state(state)
    live = load_state(path)
    digest = "dc45de3fc148158d11223c6f"
    with Journal(live) as journal:
        journal.dnc_done(
            {digest: ["2026-12-01", "lead set", "2026-12-01T10:00:00Z"]},
            [{"phone": digest, "requested": "2026-12-01", "acts": []}],
            forget={136792: ["K-3"]},
        )
        # killed here: the journal is all there is
    replayed = load_state(path)
    assert sorted(replayed.campaign(136792).leads) == ["K-4"]
    assert replayed.do_not_call.hashes == {digest}
    assert render_state(replayed) == render_state(live)
