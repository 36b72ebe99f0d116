"""errors.py: each failure knows its exit code from the one table (README: Exit codes)."""

from __future__ import annotations

import errno

import pytest

from engage_sync import errors
from engage_sync.errors import ExitCode


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.ConfigError, ExitCode.ERROR),
        (errors.StateError, ExitCode.ERROR),
        (errors.ApiError, ExitCode.ERROR),
        (errors.SafetyRailTripped, ExitCode.RAIL),
        (errors.PartialFailure, ExitCode.PARTIAL),
        (errors.ChecksumMismatch, ExitCode.NOT_REVIEWED),
        (errors.NotReviewed, ExitCode.NOT_REVIEWED),
        (errors.Interrupted, ExitCode.INTERRUPTED),
    ],
)
def test_each_failure_has_its_exit_code(
    error: type[errors.EngageSyncError], code: ExitCode
) -> None:
    assert error("x").exit_code is code


def test_the_exit_codes_are_the_documented_numbers() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4, 5, 6, 64, 70, 130]


def test_a_validation_failure_counts_the_problems_it_did_not_keep() -> None:
    failed = errors.ValidationFailed(["a", "b"], more_errors=3, more_warnings=1)
    assert str(failed) == "6 problem(s) found" and failed.problems == ["a", "b"]
    assert failed.totals == {}


def test_a_full_scratch_disk_says_what_to_do() -> None:
    said = str(errors.ScratchError.from_os(OSError(errno.ENOSPC, "No space left on device")))
    assert "No space left on device" in said and "TMPDIR" in said


def test_an_answer_of_429_is_known_not_to_have_acted() -> None:
    lost = errors.AnswerLost("lost")
    throttled = errors.TransientApiError("busy", 429, retry_after=2.0, may_have_acted=False)
    assert lost.may_have_acted and not throttled.may_have_acted
    assert (throttled.status, throttled.retry_after, throttled.connect_failed) == (429, 2.0, False)
