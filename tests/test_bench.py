"""The benchmark harness keeps working (its --quick mode); it asserts no timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, untraced_env


@pytest.mark.slow
def test_quick_benchmark_runs_and_writes_every_measurement(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "run.py"),
            "--quick",
            "--out",
            str(out),
            "--data",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=1800,  # a bound, not a measurement (13 minutes seen on a loaded machine)
        # not under the suite's coverage: it measures speed, and tracing every line costs it
        # more than half the suite's time on two cores; the other tests cover what it runs
        env=untraced_env(),
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text())
    cells = {(r["format"], r["leads"], r["scenario"]) for r in doc["plan"]}
    assert cells == {
        (f, n, s)
        for f in ("yaml", "yaml8", "csv", "jsonl")
        for n in (1_000, 5_000)
        for s in ("empty", "steady")
    }
    for row in doc["plan"]:
        assert row["plan_s"] > 0 and row["floor_s"] > 0 and row["plan_rss_mb"] > 0
        assert row["ratio"] > 0
    assert len(doc["growth"]) == 8
    apply = doc["apply"]
    assert apply["requests"] == 50 and apply["first_posted"] == 1_000
    assert apply["changed"] > 0 and apply["posted"] == apply["changed"]
    assert isinstance(apply["http_429"], int) and apply["of_ceiling"] > 0
    assert [a["real_latency_s"] for a in doc["apply_by_latency"]] == [0.005, 1.0]
    for a in doc["apply_by_latency"]:
        assert a["first_posted"] == 1_000 and a["posted"] == a["changed"] > 0
    refresh = doc["refresh"]
    assert refresh["leads"] == 1_000 and refresh["drift"] == 0 and refresh["unmanaged"] == 0
    assert refresh["searches"] >= 3 and refresh["http_429"] == 0
    assert "plan/floor" in result.stdout and "calls/s of a" in result.stdout
    assert "refresh of 1,000 owned leads" in result.stdout
    dnc = doc["dnc_lookups"]
    assert [d["leads"] for d in dnc] == [1_000, 2_000]
    for d in dnc:  # one look-up for two batches with them, none without; as many loader calls
        calls = d["with_lookups"]["loader_calls"]
        assert d["with_lookups"]["lookups"] == (calls + 1) // 2 > 0
        assert d["without_lookups"]["lookups"] == 0
        assert d["without_lookups"]["loader_calls"] == d["with_lookups"]["loader_calls"]
    assert "do-not-call look-ups in an apply of 2,000 new leads" in result.stdout
    first = doc["issue13"]
    assert {(r["leads"], r["format"]) for r in first["first_plans"]} == {
        (n, f) for n in (2_000, 5_000) for f in ("text", "markdown", "json")
    }
    assert first["ci"]["one_pass_s"] > 0 and first["ci"]["three_passes_s"] > 0
    assert first["state_bytes_per_lead"] > 0
    inc = doc["incremental"]
    assert inc["leads"] == 2_000 and inc["state_bytes_per_lead"] <= 40  # a size, not a time
    for key in ("incremental_steady_s", "full_steady_s", "one_changed_s", "steady_floor_s"):
        assert inc[key] > 0
    # issue #34: phones written (415) 555-0100, read in part too (the bench checks that)
    assert inc["one_changed_formatted_s"] > 0 and inc["one_changed_formatted_over_floor"] > 0
    assert "incremental steady 2,000" in result.stdout
    for burst in doc["burst"]:  # every lead posted once; the time is for reading
        assert burst["calls"] == 60 and burst["posted_once"] and burst["of_allowed"] > 0
        assert burst["apply_s"] > 0 and burst["plan_s"] > 0 and burst["of_floor"] > 0
    assert [b["latency_s"] for b in doc["burst"]] == [1.0, 3.0]
    ledger = doc["evidence_ledger"]
    assert ledger["removals"] == 500 and 100 < ledger["bytes_per_removal"] < 1_000
    assert ledger["append_at_full_s"] > 0 and ledger["append_at_tenth_s"] > 0
    lean = doc["lean_apply"]  # issue #34: the figures are for reading; the reads are counts
    assert lean["leads"] == 2_000 and lean["apply_over_plan_rss"] > 0
    assert lean["first_parsed"] == lean["steady_parsed"] == 2  # the plan, then the apply
    # and the first rows once more, by the do-not-call look-ahead (lookahead.ROWS_AT_MOST)
    assert lean["first_prefix"] <= 1 and lean["steady_prefix"] <= 1
    assert lean["state_write_peak_mb"] > 0
    assert "lean apply of 2,000 new leads" in result.stdout
    accounts = doc["accounts"]
    for run in (accounts["one_account"], accounts["two_accounts"]):
        # every lead loaded once; a 429 is a measurement (a loaded machine's scheduling can
        # cost one, which is retried after Retry-After), never a pass or a fail
        assert run["loaded"] == accounts["leads"] and isinstance(run["http_429"], int)
    # each account is searched: its own look-ups, and the other's (its opt-outs read whole)
    assert set(accounts["two_accounts"]["searches"]) == {"11110001", "22220002"}


def test_ideal_schedule_respects_both_windows() -> None:
    sys.path.insert(0, str(REPO / "bench"))
    from run import ideal_seconds

    assert ideal_seconds(1, [(30, 10.0)]) == 0.0
    assert ideal_seconds(30, [(30, 10.0), (120, 60.0)]) == 0.0
    assert ideal_seconds(31, [(30, 10.0), (120, 60.0)]) == 10.0
    assert ideal_seconds(121, [(30, 10.0), (120, 60.0)]) == 60.0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux's VmHWM")
def test_a_measured_process_reports_its_own_peak_not_its_parents() -> None:
    """Linux keeps getrusage's ru_maxrss across exec: a measurement spawned by a parent holding
    200 MB said 200 MB however little it used (every apply and plan of a run read 408 MB)."""
    held = bytearray(200 * 2**20)
    held[::4096] = b"\1" * len(held[::4096])  # resident, not only reserved
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "measure.py"), "floor-csv", os.devnull],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,  # a bound, not a measurement
    ).stdout
    assert len(held) and json.loads(out.splitlines()[-1])["peak_rss_mb"] < 100
