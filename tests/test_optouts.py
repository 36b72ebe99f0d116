"""Opt-out deadlines and evidence (issue #22), unit by unit: the business-day calendar, where a
request date comes from, what git knows of a line, the ledger, and the journal's part in it."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import dated_git

from engage_sync.config import load_config
from engage_sync.errors import ConfigError
from engage_sync.model import Lead
from engage_sync.optouts import (
    BusinessCalendar,
    DateSource,
    Deadline,
    OptOutRules,
    Pending,
    Requested,
    Status,
    ledger,
    ledger_path,
    requested_dates,
)
from engage_sync.optouts.history import blame
from engage_sync.state import load_state, save_state
from engage_sync.state.journal import Journal

US = BusinessCalendar("US")
D = date.fromisoformat


# -- the calendar ----------------------------------------------------------------------------------
def test_business_days_skip_weekends_public_holidays_and_closures() -> None:
    # Fri 20 Nov 2026 -> Wed 2 Dec: Thanksgiving (Thu 26) and two weekends are not counted
    assert US.count(D("2026-11-20"), D("2026-12-02")) == 7
    assert BusinessCalendar(None).count(D("2026-11-20"), D("2026-12-02")) == 8  # weekends only
    closed = BusinessCalendar("US", closed=frozenset({D("2026-11-27")}))
    assert closed.count(D("2026-11-20"), D("2026-12-02")) == 6
    assert US.add(D("2026-11-20"), 10) == D("2026-12-07")
    assert US.count(D("2026-12-02"), D("2026-11-20")) == -7
    assert US.count(D("2026-12-02"), D("2026-12-02")) == 0
    assert not US.is_business_day(D("2026-11-26"))  # Thanksgiving Day
    assert BusinessCalendar(None).is_business_day(D("2026-11-26"))


def test_a_subdivision_has_its_own_holidays() -> None:
    # Cesar Chavez Day (31 March) is a California holiday, not a federal one
    assert BusinessCalendar("US").is_business_day(D("2027-03-31"))
    assert not BusinessCalendar("US", "CA").is_business_day(D("2027-03-31"))


def rules(**kw: object) -> OptOutRules:
    return OptOutRules.of(kw)


def deadline(requested: str, today: str, **kw: object) -> Deadline:
    return Deadline(Requested(D(requested), DateSource.LEAD_SET), D(today), rules(**kw))


@pytest.mark.parametrize(
    ("requested", "today", "ago"),
    [
        ("2026-12-04", "2026-12-04", "today"),
        ("2026-12-05", "2026-12-04", "today"),  # dated ahead by a time zone
        ("2026-12-04", "2026-12-06", "2 days ago (no business day since)"),  # Friday, Sunday
        ("2026-12-04", "2026-12-05", "1 day ago (no business day since)"),
        ("2026-12-04", "2026-12-07", "1 business day ago"),  # Friday, Monday
    ],
)
def test_a_request_of_friday_planned_on_sunday_is_not_today(
    requested: str, today: str, ago: str
) -> None:
    said = deadline(requested, today).describe()
    assert said.startswith(f"requested {requested} (lead set), {ago}; due 2026-12-18"), said


def test_a_deadline_is_ok_then_soon_then_due_today_then_overdue() -> None:
    assert deadline("2026-11-20", "2026-11-30").status is Status.OK  # 5 left
    soon = deadline("2026-11-20", "2026-12-02")
    assert (soon.due, soon.elapsed, soon.left, soon.status) == (D("2026-12-07"), 7, 3, Status.SOON)
    assert soon.describe() == (
        "requested 2026-11-20 (lead set), 7 business days ago; due 2026-12-07, 3 business days left"
    )
    assert deadline("2026-11-20", "2026-12-07").describe().endswith("due 2026-12-07, due today")
    late = deadline("2026-11-20", "2026-12-09")
    assert late.status is Status.OVERDUE and late.left == -2
    assert late.describe().endswith("due 2026-12-07: PAST ITS DEADLINE by 2 business days")
    # a Saturday after a Friday deadline is past it, though no business day has passed
    assert deadline("2026-11-20", "2026-12-04", deadlineBusinessDays=9).status is Status.SOON
    assert deadline("2026-11-20", "2026-12-05", deadlineBusinessDays=9).status is Status.OVERDUE
    assert deadline("2026-11-20", "2026-12-02", warnWithinBusinessDays=2).status is Status.OK


def test_today_is_the_configured_zones_date_or_the_one_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENGAGE_SYNC_TODAY", "2026-12-24")
    assert rules().today() == D("2026-12-24")
    monkeypatch.setenv("ENGAGE_SYNC_TODAY", "soon")
    with pytest.raises(ConfigError, match="ENGAGE_SYNC_TODAY='soon' is not a date"):
        rules().today()
    late_evening = datetime(2026, 12, 3, 2, 30, tzinfo=timezone.utc)  # 21:30 in New York
    assert rules(timezone="America/New_York").date_of(late_evening) == D("2026-12-02")
    assert rules().date_of(late_evening) == D("2026-12-03")


# -- where a request date comes from --------------------------------------------------------------
def test_the_file_wins_then_the_earlier_of_state_and_git_then_today() -> None:
    pending = [
        Pending("in-file", "a.yaml", 3, D("2026-11-02")),
        Pending("state-earlier", "a.yaml", 4, None),
        Pending("git-earlier", "a.yaml", 5, None),
        Pending("nothing", "a.yaml", 6, None),
        Pending("bad-state", "a.yaml", 7, None),
    ]
    recorded = {"state-earlier": "2026-11-01", "git-earlier": "2026-11-20", "bad-state": "x"}
    asked: list[tuple[str, list[int]]] = []

    def known(file: str, lines: object) -> dict[int, tuple[str, date]]:
        asked.append((file, list(lines)))  # type: ignore[call-overload]
        return {n: ("c" * 40, D("2026-11-10")) for n in (3, 4, 5, 7)}

    found = requested_dates(pending, recorded, known, D("2026-12-02"))
    assert asked == [("a.yaml", [3, 4, 5, 6, 7])]  # one look at git a file
    assert found["in-file"] == Requested(D("2026-11-02"), DateSource.LEAD_SET, "c" * 40)
    assert found["state-earlier"] == Requested(D("2026-11-01"), DateSource.STATE, "c" * 40)
    assert found["git-earlier"] == Requested(D("2026-11-10"), DateSource.GIT, "c" * 40)
    assert found["nothing"] == Requested(D("2026-12-02"), DateSource.FIRST_SEEN, None)
    assert found["bad-state"].source is DateSource.GIT


# -- what git knows of a line ---------------------------------------------------------------------
def test_blame_dates_committed_lines_by_their_author_date(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    dated_git(repo, "init", "-q", "-b", "main")
    f = repo / "a.yaml"
    f.write_text("one\n")
    dated_git(repo, "add", "a.yaml")
    dated_git(repo, "commit", "-qm", "1", when="2026-11-02T23:30:00-05:00")  # 3 Nov in UTC
    f.write_text("one\ntwo\n")
    dated_git(repo, "commit", "-qam", "2", when="2026-11-20T12:00:00+00:00")
    second = dated_git(repo, "rev-parse", "HEAD")
    f.write_text("one\ntwo\nthree\n")  # not committed: git knows nothing of it
    utc = blame(f, [1, 2, 3], ZoneInfo("UTC"))
    assert utc[2] == (second, D("2026-11-20")) and utc[1][1] == D("2026-11-03")
    assert 3 not in utc
    assert blame(f, [1], ZoneInfo("America/New_York"))[1][1] == D("2026-11-02")
    assert blame(tmp_path / "nowhere.yaml", [1], ZoneInfo("UTC")) == {}
    outside = tmp_path / "plain"
    outside.mkdir()
    (outside / "a.yaml").write_text("one\n")
    assert blame(outside / "a.yaml", [1], ZoneInfo("UTC")) == {}


def test_a_shallow_clone_does_not_date_lines_older_than_its_history(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    dated_git(origin, "init", "-q", "-b", "main")
    f = origin / "a.yaml"
    for i, day in enumerate(("2026-10-01", "2026-11-01", "2026-11-20"), start=1):
        f.write_text("".join(f"line{n}\n" for n in range(1, i + 1)))
        dated_git(origin, "add", "a.yaml")
        dated_git(origin, "commit", "-qm", str(i), when=f"{day}T12:00:00+00:00")
    clone = tmp_path / "clone"
    dated_git(tmp_path, "clone", "-q", "--depth", "2", f"file://{origin}", str(clone))
    found = blame(clone / "a.yaml", [1, 2, 3], ZoneInfo("UTC"))
    # line 1 (October) and line 2 are attributed to the cut-off commit: not to be trusted
    assert {n: d for n, (_, d) in found.items()} == {3: D("2026-11-20")}


# -- the ledger -----------------------------------------------------------------------------------
def entry(eid: str, requested: str = "2026-11-20", **more: object) -> dict[str, object]:
    return {"campaign": 5, "externId": eid, "requested": requested, **more}


def test_the_ledger_appends_each_removal_once_and_never_glues_to_a_torn_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.evidence.jsonl"
    assert ledger.append(path, [entry("a"), entry("b")]) == 2
    assert ledger.append(path, [entry("a", confirmed="later"), entry("c")]) == 1
    assert ledger.append(path, [entry("a", "2027-01-04")]) == 1  # asked again: another one
    with path.open("ab") as f:
        f.write(b'{"campaign":5,"externId":"d","requ')  # a crash mid-write
    assert [e["externId"] for e in ledger.read(path)] == ["a", "b", "c", "a"]  # torn: skipped
    assert ledger.append(path, [entry("e")]) == 1
    lines = path.read_bytes().split(b"\n")
    assert lines[-2].startswith(b'{"campaign":5,"externId":"e"')
    assert b'"externId":"d"' not in path.read_bytes()  # the torn line is dropped, not kept
    assert [(e["externId"], e["requested"]) for e in ledger.read(path)] == [
        ("a", "2026-11-20"),
        ("b", "2026-11-20"),
        ("c", "2026-11-20"),
        ("a", "2027-01-04"),
        ("e", "2026-11-20"),
    ]
    assert list(ledger.read(tmp_path / "none.jsonl")) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [(b"2026-11-20", b"2026-11-21"), (b'"campaign":5', b'"campaign"5')],  # JSON, then not
)
def test_a_damaged_ledger_line_is_an_error_at_its_line_and_nothing_after_it_is_lost(
    tmp_path: Path, old: bytes, new: bytes
) -> None:
    path = tmp_path / "x.evidence.jsonl"
    ledger.append(path, [entry("a"), entry("b"), entry("c")])
    good = path.read_bytes()
    lines = good.split(b"\n")
    lines[1] = lines[1].replace(old, new, 1)
    path.write_bytes(b"\n".join(lines))
    damaged = path.read_bytes()
    for attempt in (lambda: list(ledger.read(path)), lambda: ledger.append(path, [entry("d")])):
        with pytest.raises(ledger.DamagedLedger) as e:
            attempt()
        message = str(e.value)
        assert message.startswith(f"{path}:2: damaged line (")
        assert "the 1 intact line(s) after the damaged one are kept" in message
        assert f"`git log -p -- {path}`" in message
        assert path.read_bytes() == damaged  # nothing written
    path.write_bytes(good)  # the line restored from git: everything reads again
    assert [e["externId"] for e in ledger.read(path)] == ["a", "b", "c"]


def test_evidence_on_a_damaged_ledger_says_where_with_no_traceback(
    workspace: Path, run: Any
) -> None:
    path = workspace / "engage-sync.evidence.jsonl"
    ledger.append(path, [entry("a"), entry("b")])
    path.write_bytes(path.read_bytes().replace(b'"externId":"a"', b'"externId":"A"'))
    r = run("evidence")
    assert r.code == 1 and r.out == "" and "Traceback" not in r.err
    assert r.err.startswith(
        "error: engage-sync.evidence.jsonl:1: damaged line (its checksum does not match)\n"
    )


def test_a_ledger_written_before_checksums_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "x.evidence.jsonl"
    old = [json.dumps(entry(eid), sort_keys=True, separators=(",", ":")) for eid in "abd"]
    # an older engage-sync ended a torn line and appended after it; the line came whole later
    path.write_text(f"{old[0]}\n{old[2][:30]}\n{old[1]}\n{old[2]}\n")
    assert [e["externId"] for e in ledger.read(path)] == ["a", "b", "d"]
    assert ledger.append(path, [entry("e")]) == 1
    assert [e["externId"] for e in ledger.read(path)] == ["a", "b", "d", "e"]
    assert "crc32" not in next(ledger.read(path)) and "crc32" in path.read_text()


def test_the_ledger_sits_beside_the_state() -> None:
    assert ledger_path(Path("r/engage-sync.state.json")) == Path("r/engage-sync.evidence.jsonl")
    assert ledger_path(Path("prod.json")) == Path("prod.evidence.jsonl")
    assert ledger_path(Path("state")) == Path("state.evidence.jsonl")


def lead(eid: str) -> Lead:
    return Lead.from_mapping({"externId": eid, "leadPhone": "4155550100"}, "f", 1)


def removal(eid: str, acts: list[dict[str, object]]) -> dict[str, object]:
    d = deadline("2026-11-20", "2026-12-02")
    return ledger.entry(5, eid, d, acts, datetime(2026, 12, 2, 18, 0, tzinfo=timezone.utc))


def test_a_removal_reaches_the_ledger_once_whatever_crashes_when(tmp_path: Path) -> None:
    state = load_state(tmp_path / "s.json")
    for eid in ("a", "b"):
        state.campaign(5).record(lead(eid))
    save_state(state)
    path = ledger_path(state.path)
    with Journal(state) as journal:
        n = journal.act(5, "CANCEL_LEADS", [(11, "b"), (12, "b")])
        journal.acted(n, True, 2)
        acts = state.campaign(5).acts["b"]
        journal.forget(5, ["b"], [removal("b", acts)])
    assert not path.exists()  # a crash before the fold: the journal holds it
    again = load_state(state.path)
    assert again.evidence and again.campaign(5).removed == {"b"}
    # the fold appends to the ledger, then replaces the state: a crash between the two
    ledger.append(path, again.evidence)
    third = load_state(state.path)  # the old state, and the journal replayed again
    assert third.evidence == again.evidence
    save_state(third)
    assert load_state(state.path).evidence == []  # folded: the journal is not replayed again
    entries = list(ledger.read(path))
    assert len(path.read_text().splitlines()) == 1
    (only,) = entries
    assert only["acts"][0]["leadIds"] == [11, 12] and only["acts"][0]["answered"] is True
    assert only["businessDays"] == 7 and only["met"] is True and only["due"] == "2026-12-07"


def test_what_a_run_cut_short_sent_is_kept_for_the_evidence(tmp_path: Path) -> None:
    state = load_state(tmp_path / "s.json")
    state.campaign(5).record(lead("a"))
    save_state(state)
    with Journal(state) as journal:
        journal.requested(5, {"a": "2026-11-21"})
        journal.act(5, "CANCEL_LEADS", [(11, "a")])  # killed before the answer
    again = load_state(state.path)
    camp = again.campaign(5)
    assert camp.requested == {"a": "2026-11-21"}
    (sent,) = camp.acts["a"]
    assert sent["leadIds"] == [11] and sent["answered"] is False and sent["at"]
    save_state(again)  # kept in the state until the removal is done
    saved = json.loads(state.path.read_text())["campaigns"]["5"]
    assert saved["requested"] == {"a": "2026-11-21"} and saved["acts"]["a"][0]["leadIds"] == [11]
    kept = load_state(state.path).campaign(5)
    assert kept.acts == camp.acts and kept.requested == camp.requested
    kept.forget(["a"])
    assert kept.acts == {} and kept.requested == {}


def test_a_failed_action_is_no_evidence(tmp_path: Path) -> None:
    state = load_state(tmp_path / "s.json")
    state.campaign(5).record(lead("a"))
    save_state(state)
    with Journal(state) as journal:
        n = journal.act(5, "CANCEL_LEADS", [(11, "a")])
        journal.acted(n, False)
    assert "a" not in state.campaign(5).acts
    assert "a" not in load_state(state.path).campaign(5).acts


# -- settings -------------------------------------------------------------------------------------
def test_opt_out_settings_are_read_and_checked_at_their_lines(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "optOuts:\n  country: NO\n  closed: [2026-12-24]\n  timezone: Europe/Oslo\n"
        "  deadlineBusinessDays: 5\n"
    )
    rules = load_config(str(good)).opt_outs
    assert rules.calendar.country == "NO" and rules.deadline == 5  # Norway, not false
    assert rules.calendar.closed == frozenset({D("2026-12-24")})
    assert load_config(str(good)).opt_outs.zone == ZoneInfo("Europe/Oslo")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "optOuts:\n  country: XX\n  timezone: Mars/Olympus\n  closed: [2026-02-30]\n"
        "  warnWithinBusinessDays: -1\n"
    )
    with pytest.raises(ConfigError) as e:
        load_config(str(bad))
    text = str(e.value)
    assert "bad.yaml:2: optOuts.country: 'XX' is not a country the holidays library knows" in text
    assert "bad.yaml:3: optOuts.timezone: 'Mars/Olympus' is not an IANA time zone" in text
    assert "bad.yaml:4: optOuts.closed.0: '2026-02-30' is not a date" in text
    assert "bad.yaml:5: optOuts.warnWithinBusinessDays: -1 is less than the minimum" in text
    defaults = OptOutRules()
    assert (defaults.deadline, defaults.warn_within, defaults.calendar.country) == (10, 3, "US")
