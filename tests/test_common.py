"""cli/common.py: the one map from outcomes to exit codes, annotations that no value can break,
outputs written as rendered, and progress lines off a terminal."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from engage_sync.cli.common import annotate, exit_code, progress_meter, write_output
from engage_sync.errors import ConfigError, EngageSyncError, ExitCode, SafetyRailTripped
from engage_sync.progress import Meter


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (None, ExitCode.OK),
        (click.UsageError("no such option"), ExitCode.USAGE),
        (ConfigError("bad"), ExitCode.ERROR),
        (SafetyRailTripped("too many"), ExitCode.RAIL),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED),
        (click.Abort(), ExitCode.INTERRUPTED),
        (click.ClickException("click's own"), ExitCode.ERROR),
        (ValueError("a bug"), ExitCode.INTERNAL),
    ],
)
def test_every_outcome_has_one_exit_code(outcome: BaseException | None, code: ExitCode) -> None:
    assert exit_code(outcome) is code


def test_an_annotation_is_one_line_whatever_its_message_holds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    annotate("error", "100% done\n::error::forged\r")
    out = capsys.readouterr().out
    assert out.startswith("::error::100%25 done") and out.count("\n") == 1
    assert "\n::error::forged" not in out


def test_an_output_file_holds_exactly_what_was_rendered(tmp_path: Path) -> None:
    target = tmp_path / "plan.txt"
    write_output("line\n", str(target))
    assert target.read_text() == "line\n"
    with pytest.raises(EngageSyncError, match="cannot write"):
        write_output("line\n", str(tmp_path / "no-such-folder" / "plan.txt"))


@pytest.mark.parametrize(("value", "on"), [("", True), ("2.5", True), ("0", False), ("-1", False)])
def test_progress_lines_off_a_terminal_every_so_many_seconds(
    monkeypatch: pytest.MonkeyPatch, value: str, on: bool
) -> None:
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    monkeypatch.setenv("ENGAGE_SYNC_PROGRESS_SECONDS", value)
    meter = progress_meter("plan", "lead(s) read")
    assert isinstance(meter, Meter) if on else meter is None


def test_progress_seconds_that_are_no_number_are_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    monkeypatch.setenv("ENGAGE_SYNC_PROGRESS_SECONDS", "soon")
    with pytest.raises(EngageSyncError, match="must be a number of seconds, not 'soon'"):
        progress_meter("plan", "lead(s) read")


def test_on_a_terminal_there_are_no_progress_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert progress_meter("plan", "lead(s) read") is None
