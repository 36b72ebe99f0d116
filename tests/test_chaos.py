"""The convergence campaign's small budget in the suite (docs/chaos.md): a few schedules, among
them the seeds that found divergences, each run end to end on the installed command; and the
campaign's own checker, shown to catch each way the promise can break."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
from chaos_campaign import Edit, Lead, Model, check, draw, report, run_schedule
from conftest import finish, reap, start_emulator, stop_emulator, wait_until
from github_fake import FakeGitHub
from test_team_loop import Team, bootstrap
from workflow_steps import start_step

# the seeds the campaign found divergences with (docs/chaos.md), replayed on every run
SEEDS = (2, 1000, 1008, 1146, 3003, 5008, 5175)
# the team loop's schedules (two merges racing an apply) are a kind of their own: each costs a
# handful of git clones and workflow steps, so the suite runs one
TEAM_SEEDS = (1,)
NAMES = ("Bea", "Cy", "Dee", "Eve")


def seeds(variable: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """ENGAGE_SYNC_CHAOS_SEEDS (ENGAGE_SYNC_CHAOS_TEAM_SEEDS)=FIRST-LAST runs another stretch
    (scripts/chaos.sh is the tool for the first kind)."""
    wanted = os.environ.get(variable)
    if not wanted:
        return default
    first, _, last = wanted.partition("-")
    return tuple(range(int(first), int(last or first) + 1))


@pytest.mark.e2e
@pytest.mark.parametrize("seed", seeds("ENGAGE_SYNC_CHAOS_SEEDS", SEEDS))
def test_a_schedule_of_faults_converges_after_a_clean_apply_refresh(seed: int) -> None:
    outcome = run_schedule(seed)
    assert outcome.ok, report(outcome)


def test_a_seed_draws_the_same_schedule_every_time() -> None:
    assert draw(1234) == draw(1234)
    assert draw(1234) != draw(1235)
    lines = draw(1234).describe()
    assert lines[0].startswith("campaigns 136785 ")
    assert any("apply --batch-size" in line for line in lines)


def record(lead_id: int, extern_id: str, phone: str, state: str = "READY", **more: Any) -> Any:
    lead = {"externId": extern_id, "leadPhone": phone, "firstName": more.pop("name", "Ada")}
    return {
        "leadId": lead_id,
        "campaignId": more.pop("campaign", 136785),
        "externId": extern_id,
        "leadState": state,
        "suppressed": False,
        "lead": lead,
    }


def model() -> Model:
    m = Model()
    for e in (
        Edit("add", 136785, Lead("K85-001", "4155500001", "Ada")),
        Edit("add", 136785, Lead("K85-002", "4155500002", "Ada")),
        Edit("add", 136785, Lead("K85-003", "4155500003", "Ada")),
        Edit("tombstone", 136785, extern_id="K85-003"),
        Edit("dnc", phone="4155500002", what="declared"),
    ):
        m.edit(e)
    return m


def test_the_checker_passes_a_store_that_keeps_the_promise() -> None:
    foreign = record(9, "F-1", "4155600001", campaign=136790)
    rows = [
        record(1, "K85-001", "4155500001"),
        record(2, "K85-002", "4155500002", "CANCELLED"),
        record(3, "K85-003", "4155500003", "CANCELLED"),
        foreign,
    ]
    assert check(model(), rows, {9: foreign}) == []


@pytest.mark.parametrize(
    ("rows", "said"),
    [
        ([record(4, "K85-001", "4155500001")], "K85-001: 2 dialable record(s), want one"),
        ([record(4, "K85-002", "4155500002")], "dialable with a do-not-call phone"),
        ([record(4, "K85-003", "4155500003")], "K85-003: removed, but 1 dialable"),
        ([record(4, "K85-009", "4155500009")], "K85-009: 1 dialable, never declared here"),
    ],
)
def test_the_checker_names_each_way_the_promise_breaks(rows: list[Any], said: str) -> None:
    base = [record(1, "K85-001", "4155500001")]
    problems = check(model(), base + rows, {})
    assert any(said in p for p in problems), problems


def test_the_checker_names_a_wrong_content_and_a_foreign_record_touched() -> None:
    foreign = record(9, "F-1", "4155600001", campaign=136790)
    touched = {**foreign, "leadState": "CANCELLED"}
    problems = check(
        model(), [record(1, "K85-001", "4155500001", name="Bea"), touched], {9: foreign}
    )
    assert any("the dialable record has ('4155500001', 'Bea')" in p for p in problems), problems
    assert any("foreign record 9 (F-1) was changed" in p for p in problems), problems
    assert check(model(), [], {9: foreign})[-1] == "foreign record 9 (F-1) is gone"


def test_a_lead_cancelled_by_hand_may_stay_stopped_but_never_doubles() -> None:
    m = model()
    m.cancelled_by_hand.add((136785, "K85-001"))
    assert check(m, [], {}) == []
    two = [record(1, "K85-001", "4155500001"), record(4, "K85-001", "4155500001")]
    assert check(m, two, {}) == ["campaign 136785: K85-001: 2 dialable record(s), want at most one"]


@pytest.mark.e2e
@pytest.mark.parametrize("seed", seeds("ENGAGE_SYNC_CHAOS_TEAM_SEEDS", TEAM_SEEDS))
def test_two_merges_racing_an_apply_in_the_team_loop_converge(
    seed: int, tmp_path: Path, github: FakeGitHub
) -> None:
    """Two reviewed pull requests, drawn from the seed: one merged and applied, the other
    merged while that apply posts, under a loader fault; then #3's own apply. Engage holds each
    merged lead once, with its merged content, and a fresh apply has nothing to post."""
    rng = random.Random(seed)
    # two loader calls a second, each answered in a fifth of one: the apply takes seconds
    served = start_emulator("--latency", "0.2", "--loader-limits", "2/1")
    try:
        team = Team(tmp_path, served, github)
        leads = bootstrap(team, 12)
        # #2: names among leads 1-5, a tombstone there, adds; #3: names among leads 7-10 (apart
        # in the file, so git merges them without a conflict)
        two = dict(leads)
        for i in rng.sample(range(1, 6), rng.randint(1, 3)):
            two[i] = rng.choice(NAMES)
        removed = (rng.choice([i for i in range(1, 6) if two[i] == "Ada"] or [1]),)
        del two[removed[0]]
        two.update({i: rng.choice(NAMES) for i in range(13, 13 + rng.randint(3, 8))})
        three = dict(leads)
        for i in rng.sample(range(7, 11), rng.randint(1, 3)):
            three[i] = rng.choice(NAMES)
        team.open_pr(2, team.write(two, removed))
        team.plan(2)
        team.open_pr(3, team.write(three))
        team.plan(3)
        team.merge(2)
        fault = rng.choice(("500", "lost", "drop", "429", None))
        if fault is not None:
            served.fault(fault)
        repo = team.clone("apply")
        posts = len(served.loader_posts())
        env = {"GITHUB_ACTIONS": "true", "ENGAGE_SYNC_LOADER_LIMITS": "2/1", **team.apply_env()}
        running = start_step(repo, "apply", env, "--batch-size", str(rng.randint(1, 2)))
        try:
            wait_until(lambda: len(served.loader_posts()) > posts or running.poll() is not None)
            team.merge(3)  # lands while the apply is posting (or just after it ended)
            out, err = finish(running)
        finally:
            reap(running)
        assert running.returncode in (0, 4), out + err
        for _ in range(2):  # #3's own apply (and one more should the first have been partial)
            done = team.apply()
            if done.returncode == 0:
                break
        assert done.returncode == 0, done.stdout + done.stderr
        merged = {i: n for i, n in {**two, **{k: three[k] for k in range(7, 11)}}.items()}
        team.check(merged, removed)
    finally:
        stop_emulator(served)
