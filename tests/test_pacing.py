"""The pacing memory (state/pacing.py): the calls of the last runs on this machine count against
the next run's windows, so two applies back to back meet no 429."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import engage_sync, load_json, start_emulator, stop_emulator

from engage_sync.state import pacing_path, read_pacing, write_pacing
from engage_sync.state.pacing import KEEP_SECONDS

NOW = 1_800_000_000.0
KEY = ("https://ringcx.ringcentral.com/voice", "12345678", "loader")


def test_calls_written_are_read_back_and_stale_ones_dropped(tmp_path: Path) -> None:
    path = pacing_path(tmp_path / "engage-sync.state.json")
    assert path.name == "engage-sync.state.json.pacing"
    write_pacing(path, {KEY: [NOW - KEEP_SECONDS - 1, NOW - 30.5, NOW - 2.25]}, now=NOW)
    assert read_pacing(path, now=NOW) == {KEY: [NOW - 30.5, NOW - 2.25]}
    assert read_pacing(path, now=NOW + KEEP_SECONDS) == {}  # all of them stale by then


def test_a_run_keeps_the_calls_of_other_services_and_accounts(tmp_path: Path) -> None:
    path = tmp_path / "s.json.pacing"
    other = ("http://127.0.0.1:8089/voice", "99990001", "search")
    write_pacing(path, {KEY: [NOW - 5.0], other: [NOW - 4.0]}, now=NOW)
    write_pacing(path, {KEY: [NOW - 1.0]}, now=NOW)  # this run's own replace its earlier ones
    assert read_pacing(path, now=NOW) == {KEY: [NOW - 1.0], other: [NOW - 4.0]}
    assert not list(tmp_path.glob(".s.json.pacing.*"))  # written through a temporary file


@pytest.mark.parametrize(
    "damaged",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"version": 2, "calls": {}}',
        b'{"version": 1, "calls": {"h": {"a": {"loader": "soon"}}}}',
        b'{"version": 1, "calls": {"h": ["a"]}}',
    ],
)
def test_a_damaged_file_is_ignored_with_a_debug_note(
    tmp_path: Path, damaged: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.json.pacing"
    path.write_bytes(damaged)
    with caplog.at_level("INFO", logger="engage_sync.pacing"):
        assert read_pacing(path, now=NOW) == {}
    assert f"{path}: ignored, pacing starts from empty windows" in caplog.text
    write_pacing(path, {KEY: [NOW - 1.0]}, now=NOW)  # and the next run writes a good one
    assert read_pacing(path, now=NOW) == {KEY: [NOW - 1.0]}


def test_times_that_are_not_numbers_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "s.json.pacing"
    target, account, kind = KEY
    doc = {"version": 1, "calls": {target: {account: {kind: [NOW - 1, "x", None, 1e400]}}}}
    path.write_text(json.dumps(doc).replace("1e+400", "1e400"))
    assert read_pacing(path, now=NOW) == {KEY: [NOW - 1]}


@pytest.mark.e2e
def test_two_applies_back_to_back_meet_no_429(repo: Path) -> None:
    """Issue #31: a second apply within a minute met a wall of 429s, because its pacing started
    from empty windows. Limits of 2 calls a second and 3 in 6 s, one lead a call: the first
    apply fills the 6 s window, the second must wait for it (the emulator says how many 429s
    it sent)."""
    for other in (repo / "leadsets").glob("*"):
        other.unlink()
    served = start_emulator("--loader-limits", "2/1,3/6")
    try:
        env = {**served.env("api-token"), "ENGAGE_SYNC_LOADER_LIMITS": "2/1,3/6"}
        lead_set = repo / "leadsets" / "a.yaml"
        lead_set.write_text(leads(0, 3))
        first = engage_sync("apply", "--auto-approve", "--batch-size", "1", env=env, cwd=repo)
        assert first.code == 0, first.out + first.err
        memory = load_json(repo / "engage-sync.state.json.pacing")
        (kinds,) = memory["calls"][served.base_url].values()
        assert len(kinds["loader"]) == 3
        lead_set.write_text(leads(0, 6))
        second = engage_sync(
            "apply",
            "--auto-approve",
            "--batch-size",
            "1",
            "--report-json",
            "r.json",
            env=env,
            cwd=repo,
        )
        assert second.code == 0, second.out + second.err
        stats = served.get("/_emulator/stats")
        assert stats["loader429"] == 0 and stats["loaderCalls"] == 6
        (campaign,) = load_json(repo / "r.json")["leadsets"]
        assert (campaign["posted"], campaign["recorded"], campaign["throttled"]) == (3, 3, 0)
        assert "429" not in second.err
    finally:
        stop_emulator(served)


def leads(start: int, end: int) -> str:
    return (
        "campaign: 136785\noptions: {dialPriority: NORMAL, duplicateHandling: RETAIN_ALL, "
        "timeZoneOption: NPA_NXX}\nleads:\n"
        + "".join(
            f'  - {{externId: "P-{i}", leadPhone: "41555{i:05d}"}}\n' for i in range(start, end)
        )
    )
