"""`apply`, `campaigns` and `force-unlock` (cli/apply.py): what an apply's outcome is rendered as
(its exit code, the error that says why, what to do next) from outcomes built by hand, and the
commands in-process under click's CliRunner against the in-process emulator on a loopback
socket. The installed command end to end is in test_apply_e2e.py; the operation behind apply in
test_operation.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clirunner import invoke
from conftest import Served, write

from engage_sync.cli.apply import SHOWN, _held_back, _render, _what_to_do, recorded_what
from engage_sync.cli.common import Context
from engage_sync.errors import (
    ApplyFailed,
    ChecksumMismatch,
    EngageSyncError,
    Interrupted,
    NotReviewed,
    PartialFailure,
    SafetyRailTripped,
)
from engage_sync.model import Plan
from engage_sync.reconcile.donotcall import DoNotCallReport
from engage_sync.reconcile.operation import ApplyOutcome, ApplyRequest
from engage_sync.reconcile.report import LeadSetReport, Report

PLAN = Plan(leadsets=(), lineage=None, serial=0, checksum="c0ffee")


def rep(**counts: Any) -> LeadSetReport:
    return LeadSetReport(136785, "Renewal Outreach", **{"to_post": 0, **counts})


# -- what the state now holds, what to do ---------------------------------------------------------
@pytest.mark.parametrize(
    ("leadsets", "said"),
    [
        ([], "0 lead(s)"),
        ([rep(to_post=3, recorded=3)], "3 lead(s)"),
        ([rep(to_post=3, recorded=0)], "0 lead(s)"),  # wanted, none recorded: still said
        ([rep(to_remove=2, removed=2)], "2 removal(s)"),
        ([rep(to_post=1, recorded=1, removed=1)], "1 lead(s) and 1 removal(s)"),
        ([rep(to_correct=2, corrected={"duplicate": 2})], "2 drift correction(s)"),
        (
            [rep(to_post=1, recorded=1), rep(removed=1, corrected={"reappeared": 1})],
            "1 lead(s) and 1 removal(s) and 1 drift correction(s)",
        ),
    ],
)
def test_what_an_apply_recorded_is_said_in_the_units_it_recorded(
    leadsets: list[LeadSetReport], said: str
) -> None:
    assert recorded_what(Report(leadsets=leadsets)) == said


@pytest.mark.parametrize(
    ("leadset", "steps"),
    [
        (rep(failed=2), ["run apply again to finish what is still missing"]),
        (
            rep(action_failures=1),
            ["a cancel or delete was not confirmed, so someone may still be called"],
        ),
        (
            rep(rejected=[{"externId": "a", "message": "m"}]),
            ["Engage rejected 1 lead(s): fix them in the files"],
        ),
        (
            rep(in_doubt=1, failed=1),
            ["leads in doubt are looked up", "run apply again to finish"],
        ),
    ],
)
def test_a_failed_apply_says_what_to_do_about_each_kind_of_failure(
    leadset: LeadSetReport, steps: list[str]
) -> None:
    said = _what_to_do(Report(leadsets=[leadset]))
    assert said.endswith(".")
    at = [said.index(step) for step in steps]
    assert at == sorted(at) and at[0] == 0  # each said, in this order, the first first
    if "run apply again to finish" not in "".join(steps):
        assert "run apply again to finish" not in said  # no generic retry when it would not help


def test_the_changes_held_back_are_named_up_to_a_limit_and_counted_beyond() -> None:
    lines = [f"136785\tcreate\tL-{i}\th" for i in range(SHOWN + 3)]
    message = _held_back(lines, [])
    assert message.startswith(f"{SHOWN + 3} change(s) on this commit were not in any reviewed plan")
    assert "\n  ... and 3 more\n" in message
    assert _held_back(lines[:2], []).count("\n  ") == 2 and "more" not in _held_back(lines[:2], [])


# -- an outcome rendered --------------------------------------------------------------------------
def render(outcome: ApplyOutcome, checksum: str | None = None) -> int:
    request = ApplyRequest(checksum=checksum, reviewed=[])
    return int(_render(outcome, request, Context()))


@pytest.mark.parametrize(
    ("outcome", "error", "message"),
    [
        (
            ApplyOutcome(PLAN, mismatch=True, nothing_to_do=True),
            ChecksumMismatch,
            "the plan's checksum is c0ffee, not the reviewed beef: the changes it would make "
            "are not the ones reviewed; nothing posted",
        ),
        (
            ApplyOutcome(PLAN, mismatch=True),
            ChecksumMismatch,
            "not the ones reviewed; only tombstones applied",
        ),
        (ApplyOutcome(PLAN, refused=True, nothing_to_do=True), SafetyRailTripped, "nothing posted"),
        (ApplyOutcome(PLAN, refused=True), SafetyRailTripped, "; only tombstones applied. Re-run"),
        (ApplyOutcome(PLAN, held_back=["136785\tcreate\tL-1\th"]), NotReviewed, "1 change(s)"),
        (
            ApplyOutcome(PLAN, Report([rep(to_post=4, recorded=1)], interrupted=True)),
            Interrupted,
            "interrupted: 1 of 4 lead(s) recorded",
        ),
        (
            ApplyOutcome(PLAN, Report([rep(to_post=4, recorded=2)], server_gone="Engage is gone")),
            PartialFailure,
            "Engage is gone; nothing more was sent. 2 of 4 lead(s) recorded",
        ),
        (
            ApplyOutcome(PLAN, Report([rep(to_post=2, recorded=1, failed=1)])),
            PartialFailure,
            "some leads were recorded, others failed",
        ),
        (
            ApplyOutcome(PLAN, Report([rep(to_post=2, failed=2)])),
            ApplyFailed,
            "nothing was recorded",
        ),
        (
            ApplyOutcome(PLAN, Report([rep(to_post=1, failed=1, to_remove=1, removed=1)])),
            PartialFailure,
            "no lead was recorded (only 1 removal(s)); see above",
        ),
        (
            ApplyOutcome(PLAN, Report([rep(action_failures=1, errors=["search failed"])])),
            PartialFailure,
            "a removal was not confirmed",
        ),
        (
            ApplyOutcome(PLAN, Report([], do_not_call=DoNotCallReport(to_stop=1, errors=["x"]))),
            PartialFailure,
            "a do-not-call phone was not confirmed stopped",
        ),
    ],
)
def test_each_outcome_that_is_not_a_success_raises_the_error_that_says_why(
    workspace: Path, outcome: ApplyOutcome, error: type[EngageSyncError], message: str
) -> None:
    with pytest.raises(error) as raised:
        render(outcome, checksum="beef")
    assert message in str(raised.value)


def test_a_success_and_nothing_to_do_are_exit_0_and_a_no_is_exit_1(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert render(ApplyOutcome(PLAN, nothing_to_do=True)) == 0
    assert capsys.readouterr().out == "Nothing to post.\n"
    done = Report([rep(to_post=2, posted=2, accepted=2, inserted=2, recorded=2)])
    assert render(ApplyOutcome(PLAN, done)) == 0
    assert capsys.readouterr().out.splitlines() == [
        "campaign 136785: posted 2, accepted 2, inserted 2, rejected 0, failed 0",
        "Recorded 2 lead(s) in engage-sync.state.json.",
    ]
    assert render(ApplyOutcome(PLAN, cancelled=True)) == 1
    assert capsys.readouterr().out == "Cancelled; nothing posted.\n"


def test_a_report_names_rejected_leads_escaped_and_the_removals(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rejected = [{"externId": "x\n::error::forged", "message": "bad zip"}]
    report = Report(
        [
            rep(to_post=1, posted=1, rejected=rejected, to_remove=2, removed=1, cancelled=3),
        ],
        do_not_call=DoNotCallReport(to_stop=1, stopped=1, cancelled=2, learned=1),
    )
    with pytest.raises(PartialFailure, match=r"no lead was recorded \(only 1 removal\(s\)\)"):
        render(ApplyOutcome(PLAN, report))  # a removal recorded: not "nothing was recorded"
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "do not call: 1 phone(s) stopped (1 listed, 1 found by tombstones or in Engage), "
        "records cancelled 2, leads not loaded 0",
        "campaign 136785: posted 1, accepted 0, inserted 0, rejected 1, failed 0; removed 1 of "
        "2, records cancelled 3, deleted 0",
        "Recorded 0 lead(s) and 1 removal(s) in engage-sync.state.json.",
    ]
    assert "  rejected x\\x0a::error::forged: bad zip" in err.splitlines()
    assert all(not line.startswith("::") for line in err.splitlines())
    assert "Apply did not complete: Engage rejected 1 lead(s)" in err


# -- the commands ---------------------------------------------------------------------------------
def test_apply_with_a_checksum_that_is_not_the_plans_posts_nothing_and_exits_5(
    workspace: Path, served: Served
) -> None:
    r = invoke("apply", "--auto-approve", "--checksum", "beef", env=served.env("api-token"))
    assert r.code == 5 and "Traceback" not in r.err
    assert r.err.splitlines()[-1].startswith("error: the plan's checksum is ")
    assert r.err.splitlines()[-1].endswith(
        ", not the reviewed beef: the changes it would make are not the ones reviewed; "
        "nothing posted"
    )
    assert served.loader_posts() == [] and not (workspace / "engage-sync.state.json").exists()


def test_apply_refused_by_a_rail_says_how_to_go_on_and_exits_3(
    workspace: Path, served: Served
) -> None:
    config = workspace / "engage-sync.yaml"
    config.write_text(config.read_text().replace("maxCreates: 100000", "maxCreates: 5"))
    r = invoke("apply", "--auto-approve", env=served.env("api-token"))
    assert r.code == 3
    assert r.err.splitlines()[-1] == (
        "error: refused by safety rails (see above); nothing posted. Re-run with --force if "
        "this is intended, or change the thresholds under rails: in engage-sync.yaml"
    )
    assert served.loader_posts() == []
    assert invoke("apply", "--auto-approve", "--force", env=served.env("api-token")).code == 0


def test_apply_on_a_terminal_asks_about_removals_too_and_a_no_keeps_everything(
    workspace: Path, served: Served
) -> None:
    env = served.env("api-token")
    assert invoke("apply", "--auto-approve", env=env).code == 0
    spring = workspace / "leadsets" / "spring-renewals.yaml"
    text = spring.read_text()
    at = text.index('  - externId: "R-1002"')
    rest = text[:at] + text[text.index("  - externId:", at + 5) :]
    write(spring, rest + 'removed:\n  - {externId: "R-1002"}\n')  # tombstoned
    before = (workspace / "engage-sync.state.json").read_bytes()
    r = invoke("apply", env=env, input="n\n", terminal=True)
    assert r.code == 1
    assert "Stop calling 1 lead(s) and post 0 lead(s) to Engage? [y/N]: " in r.out
    assert r.out.endswith("Cancelled; nothing posted.\n")
    assert (workspace / "engage-sync.state.json").read_bytes() == before


def test_a_failed_apply_writes_its_report_and_says_what_to_do(
    workspace: Path, served: Served
) -> None:
    served.post("/_emulator/faults", {"kind": "failed", "count": 100})
    (workspace / "out").mkdir()
    r = invoke(
        "apply", "--auto-approve", "--report-json", "out/report.json", env=served.env("api-token")
    )
    assert r.code in (1, 4) and "Traceback" not in r.err
    assert "Apply did not complete: run apply again to finish what is still missing." in r.err
    report = json.loads((workspace / "out" / "report.json").read_text())
    assert report["ok"] is False and report["leadsets"]
    for secret in ("emulator-legacy-api-token", "Lovelace", "4155550100"):
        assert secret not in r.out + r.err + json.dumps(report)


def apply_reporting_nowhere(served: Served) -> Any:
    """`apply --report-json` to a folder that does not exist: exit 1, and no traceback."""
    r = invoke(
        "apply",
        "--auto-approve",
        "--report-json",
        "no/such/dir/report.json",
        env=served.env("api-token"),
    )
    assert r.code == 1 and "Traceback" not in r.err
    return r


def test_a_report_that_cannot_be_written_is_said_after_what_the_apply_did(
    workspace: Path, served: Served
) -> None:
    """The report's error once replaced the apply's own output: the leads were posted and
    recorded, and all the user saw was that a file could not be written."""
    r = apply_reporting_nowhere(served)
    assert "posted" in r.out  # the apply's report, as without --report-json
    assert "no/such/dir/report.json: cannot write: No such file or directory" in r.err
    state = json.loads((workspace / "engage-sync.state.json").read_text())
    assert state["campaigns"]  # what Engage accepted is recorded all the same
    again = invoke("apply", "--auto-approve", env=served.env("api-token"))
    assert again.code == 0 and "Nothing to post." in again.out


def test_a_failed_apply_whose_report_cannot_be_written_says_both(
    workspace: Path, served: Served
) -> None:
    served.post("/_emulator/faults", {"kind": "failed", "count": 100})
    r = apply_reporting_nowhere(served)
    assert "no/such/dir/report.json: cannot write" in r.err  # said, then why the apply failed
    assert r.err.rstrip().endswith("error: nothing was recorded; see above")


def test_campaigns_without_an_account_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served: Served
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENGAGE_ACCOUNT_ID", raising=False)
    env = {k: v for k, v in served.env("api-token").items() if k != "ENGAGE_ACCOUNT_ID"}
    r = invoke("campaigns", env=env)
    assert (r.code, r.out) == (1, "")
    assert r.err == (
        "error: no account: pass --account, set ENGAGE_ACCOUNT_ID or `account:` in "
        "engage-sync.yaml\n"
    )
    assert served.get("/_emulator/requests") == []
    ok = invoke("campaigns", "--account", "99990001", "--format", "json", env=env)
    assert ok.code == 0 and [g["dialGroupId"] for g in json.loads(ok.out)] == [4100, 4200]


def test_force_unlock_of_a_state_not_locked_or_another_id_removes_nothing(
    workspace: Path,
) -> None:
    r = invoke("force-unlock", "abc")
    assert (r.code, r.out) == (1, "")
    assert r.err == "error: engage-sync.state.json.lock: the state is not locked\n"
    lock = workspace / "engage-sync.state.json.lock"
    lock.write_text(
        json.dumps(
            {"id": "held", "pid": 1, "host": "elsewhere", "operation": "apply", "started": "x"}
        )
    )
    other = invoke("force-unlock", "abc")
    assert other.code == 1 and "not abc: nothing removed" in other.err and lock.exists()
    gone = invoke("force-unlock", "held")
    assert gone.code == 0 and gone.out.startswith("Removed lock ") and not lock.exists()
