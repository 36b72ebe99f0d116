"""Progress lines for logs that are not a terminal (progress.py, cli/common.progress_meter):
done and total, the rate, what remains; never more often than asked. A fake clock, no sleeps."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import Served, engage_sync, write

from engage_sync.model import Lead
from engage_sync.progress import STEP, Meter, count_lines, counted, duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def meter(clock: Clock, interval: float = 5.0) -> tuple[Meter, list[str]]:
    said: list[str] = []
    return Meter(said.append, interval, clock), said


def test_a_known_total_gives_the_share_the_rate_and_the_time_left() -> None:
    clock = Clock()
    m, said = meter(clock)
    m.start("apply", "lead(s) answered", total=503_554)
    clock.now += 4.9
    m.add(40_000)
    assert said == []  # not five seconds yet
    clock.now += 0.1
    m.add(10_000)
    assert said == ["apply: 50,000 of 503,554 lead(s) answered (10%), 10,000/s, about 45 s left"]


def test_never_more_often_than_the_interval() -> None:
    clock = Clock()
    m, said = meter(clock, interval=5.0)
    m.start("apply", "lead(s) answered", total=1_000_000)
    for _ in range(800):  # a call answered every 1/8 s for 100 s
        clock.now += 0.125
        m.add(500)
    assert len(said) == 20  # one line every 5 s, not one an answer
    assert said[-1] == (
        "apply: 400,000 of 1,000,000 lead(s) answered (40%), 4,000/s, about 2 min 30 s left"
    )


def test_reading_tells_what_remains_by_how_far_into_each_file_it_is() -> None:
    clock = Clock()
    m, said = meter(clock)
    m.start("validate", "lead(s) read")
    m.expect("leadsets/a.csv", 600_001)
    m.expect("leadsets/b.yaml", 400_000)
    clock.now += 10.0
    m.add(250_000, "leadsets/a.csv", 250_001)
    assert said == ["validate: 250,000 lead(s) read (25% of the input), 25,000/s, about 30 s left"]


def test_without_a_total_it_says_so() -> None:
    clock = Clock()
    m, said = meter(clock)
    m.start("plan", "lead(s) read")
    clock.now += 6.0
    m.add(3_000, "leadsets/unknown.csv", 3_001)  # a file whose size was not counted
    assert said == ["plan: 3,000 lead(s) read, 500/s, total not known yet"]


def test_a_new_phase_starts_its_count_and_its_clock_again() -> None:
    clock = Clock()
    m, said = meter(clock)
    m.start("apply: reading", "lead(s) read")
    clock.now += 5.0
    m.add(100)
    m.start("apply", "lead(s) answered", total=10)
    clock.now += 5.0
    m.add(5)
    assert said[-1] == "apply: 5 of 10 lead(s) answered (50%), 1/s, about 5 s left"


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0.4, "0 s"), (45, "45 s"), (200, "3 min 20 s"), (3900, "1 h 05 min")],
)
def test_durations_read_as_people_say_them(seconds: float, said: str) -> None:
    assert duration(seconds) == said


def test_counted_leads_pass_through_and_are_all_counted(tmp_path: Path) -> None:
    clock = Clock()
    m, _ = meter(clock)
    m.start("validate", "lead(s) read")
    leads = [
        Lead.from_mapping({"externId": f"E{i}", "leadPhone": "4155550100"}, "f.csv", i + 2)
        for i in range(STEP * 2 + 5)
    ]
    assert list(counted(iter(leads), m)) == leads
    assert m.done == len(leads)
    path = write(tmp_path / "f.csv", "a\nb\nc\n")
    assert count_lines(path) == 4  # three lines and the empty one after the last newline


def rows(n: int) -> str:
    return "externId,leadPhone\n" + "".join(f"E{i},415{i:07d}\n" for i in range(n))


@pytest.fixture
def big(tmp_path: Path) -> Path:
    """A lead set of 30,000 CSV rows: long enough that a log would want to hear of it."""
    write(
        tmp_path / "leadsets" / "big.yaml",
        "campaign: 136785\noptions: {dialPriority: NORMAL, duplicateHandling: RETAIN_ALL, "
        "timeZoneOption: NPA_NXX}\nleadsFile: big.csv\n",
    )
    write(tmp_path / "leadsets" / "big.csv", rows(30_000))
    write(tmp_path / "engage-sync.yaml", 'account: "99990001"\nrails: {maxCreates: 1000000}\n')
    return tmp_path


PROGRESS = re.compile(
    r"progress: (?P<what>validate|plan|apply: reading|apply): [\d,]+ (of 30,000 )?lead\(s\) "
    r"(read|answered) \(\d+%( of the input)?\), [\d,]+/s(, about .+ left)?"
)


@pytest.mark.e2e
def test_a_log_hears_how_far_validate_plan_and_apply_got(big: Path, served: Served) -> None:
    """Off a terminal (the installed command's stderr is a pipe, as in CI), each command says
    how far it got at most every ENGAGE_SYNC_PROGRESS_SECONDS (a thousandth of a second here,
    so that a set this small is heard of); 0 turns it off."""
    often = {"ENGAGE_SYNC_PROGRESS_SECONDS": "0.001"}
    env = {**served.env("api-token"), **often}
    heard: dict[str, list[str]] = {}
    for command in (["validate"], ["plan"], ["apply", "--auto-approve", "--batch-size", "1000"]):
        done = engage_sync(*command, env=env, cwd=big)
        assert done.code == 0, done.err
        for line in done.err.splitlines():
            found = PROGRESS.fullmatch(line)
            if line.startswith("progress: "):
                assert found, line
                heard.setdefault(found["what"], []).append(line)
    assert set(heard) == {"validate", "plan", "apply: reading", "apply"}, heard
    assert any("of 30,000 lead(s) answered" in line for line in heard["apply"])
    quiet = engage_sync("validate", env={"ENGAGE_SYNC_PROGRESS_SECONDS": "0"}, cwd=big)
    assert quiet.code == 0 and "progress:" not in quiet.err
    wrong = engage_sync("validate", env={"ENGAGE_SYNC_PROGRESS_SECONDS": "soon"}, cwd=big)
    assert wrong.code == 1
    assert "ENGAGE_SYNC_PROGRESS_SECONDS must be a number of seconds, not 'soon'" in wrong.err
