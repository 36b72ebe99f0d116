"""One small exception tree; each class knows its exit code, from the one table below (the
CLI's `exit_code` maps any outcome through it; README: Exit codes)."""

from __future__ import annotations

import enum
from typing import Any


class ExitCode(enum.IntEnum):
    """Every exit code engage-sync uses, and the only place their numbers are written."""

    OK = 0  # done, also when there was nothing to do
    ERROR = 1  # an error before anything was posted (or with nothing recorded)
    CHANGES = 2  # plan --detailed-exitcode: there are changes (or drift)
    RAIL = 3  # apply refused by a safety rail
    PARTIAL = 4  # apply recorded some changes (leads, removals), others failed
    NOT_REVIEWED = 5  # the plan is not the reviewed one, or holds changes no review showed
    OVERDUE = 6  # plan --detailed-exitcode, ci drift: an opt-out is past its deadline
    USAGE = 64  # an unknown flag or command, a bad value
    INTERNAL = 70  # a bug: the traceback is printed
    INTERRUPTED = 130  # Ctrl-C


class EngageSyncError(Exception):
    """An expected failure: printed as one clear message, no traceback."""

    exit_code = ExitCode.ERROR


class ConfigError(EngageSyncError):
    """Bad settings, flags or environment."""


class InputError(EngageSyncError):
    """A lead-set file (or its leadsFile) cannot be read at all."""


class ValidationFailed(EngageSyncError):
    """One or more problems in the lead sets; `problems` holds those kept (leadsets/problems.py:
    the first 10,000 of each severity), `more_errors` and `more_warnings` count the rest."""

    def __init__(
        self,
        problems: list[Any],
        more_errors: int = 0,
        more_warnings: int = 0,
        totals: dict[Any, int] | None = None,
    ) -> None:
        super().__init__(f"{len(problems) + more_errors + more_warnings} problem(s) found")
        self.problems = problems
        self.more_errors = more_errors
        self.more_warnings = more_warnings
        self.totals = totals or {}  # how many times each was found (problems.group)


class ScratchError(EngageSyncError):
    """A temporary file a large plan keeps its creates or duplicate checks in cannot be written."""

    @classmethod
    def from_os(cls, e: OSError) -> ScratchError:
        import tempfile

        return cls(
            f"cannot write a temporary file in {tempfile.gettempdir()}: {e.strerror}; a plan of "
            "many leads keeps its creates and duplicate checks there (free some space, or set "
            "TMPDIR to a folder with room)"
        )


class StateError(EngageSyncError):
    """The state file is corrupt, of an unknown version, or cannot be written."""


class LockError(EngageSyncError):
    """Another run holds the state lock."""


class ApiError(EngageSyncError):
    """Engage answered with an error that retrying will not fix."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientApiError(ApiError):
    """A failure worth retrying (429, 5xx, timeout, dropped connection).

    `may_have_acted` is False only when the server surely did nothing: the connection was never
    made, or it answered 429. Anything else (a 5xx, a timeout or a dropped connection after the
    request went out) may have been carried out, and a call that is not safe to repeat (the
    loader) must be resolved by looking, not by sending it again (issue #11).
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
        may_have_acted: bool = True,
    ) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after
        self.may_have_acted = may_have_acted
        self.connect_failed = False  # the connection was refused: the server may be gone


class ServerGone(ApiError):
    """The server stopped answering (several connections refused in a row): nothing more is
    sent in this run."""


class AnswerLost(TransientApiError):
    """A call that is not safe to repeat was sent and got no answer that can be trusted."""


class UnsafeAction(ApiError):
    """A lead action whose criteria could reach beyond the records meant: never sent."""


class AuthError(ApiError):
    """Credentials were refused. `rejected`: the Authorization header the server refused."""

    def __init__(
        self, message: str, status: int | None = None, rejected: str | None = None
    ) -> None:
        super().__init__(message, status)
        self.rejected = rejected


class SafetyRailTripped(EngageSyncError):
    """A safety rail refuses the apply unless --force."""

    exit_code = ExitCode.RAIL


class ApplyFailed(EngageSyncError):
    """Apply did not complete, and recorded nothing: `report` says what failed."""

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class PartialFailure(ApplyFailed):
    """Apply recorded some leads but others failed, or a removal was not confirmed."""

    exit_code = ExitCode.PARTIAL


class ChecksumMismatch(EngageSyncError):
    """The plan differs from the one that was reviewed."""

    exit_code = ExitCode.NOT_REVIEWED


class ChangeSetError(EngageSyncError):
    """A change-set file that is not one, or whose items do not give its checksum."""


class NotReviewed(ChecksumMismatch):
    """Main's plan holds changes no reviewed plan showed (they were not applied)."""


class GitError(EngageSyncError):
    """A git command the CI loop needs failed."""


class GitHubError(EngageSyncError):
    """The GitHub API refused or could not be reached."""


class PipError(EngageSyncError):
    """pip could not download the packages `engage-sync lock` pins, or the lock cannot be
    written."""


class StateNotSaved(EngageSyncError):
    """Apply recorded leads, but the state could not be pushed: it was kept elsewhere."""


class Interrupted(EngageSyncError):
    """Ctrl-C: what was recorded is kept (the journal), the rest can be applied again."""

    exit_code = ExitCode.INTERRUPTED
