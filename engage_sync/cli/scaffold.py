"""`engage-sync init`: scaffold a lead-set repository with settings, an example, CI and hooks;
`--upgrade` brings one an older engage-sync scaffolded up to this version."""

from __future__ import annotations

import subprocess
from importlib import resources
from pathlib import Path

import click

from .. import __version__
from ..display import printable
from ..errors import EngageSyncError, ExitCode
from ..gitops import install_lock
from ..leadsets.schema import schema_path

# The workflows, rendered with the version that scaffolds them: they install that release and
# call `engage-sync ci ...`, so a repository holds no copy of the CI logic (it upgrades with the
# package). Files an older engage-sync wrote instead, which `--upgrade` removes:
WORKFLOWS = ("plan.yml", "apply.yml", "drift.yml")
OLD_SCRIPTS = (
    "scripts/ci-install.sh",
    "scripts/ci-plan.sh",
    "scripts/ci-apply.sh",
    "scripts/ci-drift.sh",
    "scripts/pr-comment.py",
)
SCHEMAS = ("leadset.schema.json", "config.schema.json")  # copied to schemas/, for editors
PLACEHOLDER_ACCOUNT = "00000000"

CONFIG = """\
# yaml-language-server: $schema=schemas/config.schema.json
# engage-sync settings. Precedence: flag > environment variable > this file > default.
account: "{account}"          # your Engage (sub-)account id
baseUrl: https://ringcx.ringcentral.com/voice   # or https://engage.ringcentral.com/voice (old name)
leadsets: leadsets
state: engage-sync.state.json
options:                      # defaults for every lead set
  listState: ACTIVE
  dialPriority: NORMAL
  duplicateHandling: REMOVE_ALL_EXISTING
  timeZoneOption: NPA_NXX
rails:                        # apply refuses (exit 3) past these unless --force
  maxUpdateFraction: 0.30
  minAppliedForUpdateRail: 10
  maxCreates: 100000
  maxImmediateLeads: 1000
  maxPruneFraction: 0.30
  minAppliedForPruneRail: 10
optOuts:                      # a tombstone's deadline, in business days (docs/optouts.md)
  deadlineBusinessDays: 10
  country: US                 # whose public holidays are not business days
  timezone: America/New_York  # whose date "today" is
"""

EXAMPLE = """\
# yaml-language-server: $schema=../schemas/leadset.schema.json
# One campaign's leads. Find campaign ids with `engage-sync campaigns`.
campaign: {id: 136785, name: Renewal Outreach}
options:
  description: Example list
leads:
  - externId: "EX-1"
    leadPhone: "(415) 555-0100"
    firstName: Ada
    lastName: Lovelace
    zip: "94105"
"""

# engage-sync's files that belong to one machine (the lock and journal of a run, the recent
# calls the next run's pacing counts): never committed
LOCAL_FILES = (
    "engage-sync.state.json.lock",
    "engage-sync.state.json.journal",
    "engage-sync.state.json.pacing",
)
GITIGNORE = """\
# engage-sync: the lock, journal and pacing memory are one machine's; the state file and the
# evidence ledger (engage-sync.evidence.jsonl) are committed
engage-sync.state.json.lock
engage-sync.state.json.journal
engage-sync.state.json.pacing
plan-output/
apply-output/
drift-output/
.venv/
"""

PRE_COMMIT = """\
repos:
  - repo: local
    hooks:
      - id: engage-sync-validate
        name: engage-sync validate
        entry: engage-sync validate
        language: system
        files: ^(leadsets/.*\\.(ya?ml|json|csv|jsonl|ndjson)|engage-sync\\.yaml)$
        pass_filenames: false
"""


def workflow(name: str) -> bytes:
    """A workflow as this version scaffolds it (the template with the version filled in)."""
    template = resources.files("engage_sync") / "templates" / name
    return template.read_text(encoding="utf-8").replace("@VERSION@", __version__).encode()


def existing_repository(directory: Path) -> str | None:
    """Why `directory` is a repository already (None: a new one). An existing repository gets
    no example lead set: the next plan would load it into the real campaign."""
    if (directory / "engage-sync.yaml").exists():
        return "it has an engage-sync.yaml"
    if (directory / "leadsets").exists():
        return "it has a leadsets folder"
    if directory.is_dir() and _has_commits(directory):
        return "it is a git repository with commits"
    return None


def _has_commits(directory: Path) -> bool:
    try:
        found = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--verify", "--quiet", "HEAD"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):  # no git: nothing says it is a repository
        return False
    return found.returncode == 0


def _missing_ignores(target: Path) -> list[str]:
    """engage-sync's one-machine files an existing .gitignore does not name."""
    try:
        lines = {line.strip().lstrip("/") for line in target.read_text("utf-8").splitlines()}
    except (OSError, UnicodeDecodeError):
        return []
    return [name for name in LOCAL_FILES if name not in lines]


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--account",
    default=None,
    help="Engage account id [default: a placeholder, 00000000, to replace in engage-sync.yaml].",
)
@click.option(
    "--upgrade",
    is_flag=True,
    help="Rewrite the workflows and the schemas an older engage-sync scaffolded (local edits to "
    "them are replaced), remove its CI scripts and add its missing lines to .gitignore; "
    "settings and lead sets are never touched.",
)
def init(directory: Path, account: str | None, upgrade: bool) -> ExitCode:
    """Scaffold a lead-set repository: settings, an example lead set, workflows, hooks.

    In an existing repository (one with engage-sync.yaml or a leadsets folder, or a git
    repository with commits) no example lead set is added, and only what is missing or out of
    date is reported."""
    existing = existing_repository(directory)
    first = not (directory / "engage-sync.yaml").exists()  # scaffolded now, not upgraded
    said, outdated = _write(directory, account, existing, upgrade, first)
    # the hashed lock is the user's (`engage-sync lock` writes it, from the index): never
    # written or rewritten here, but one that pins another release is said to be
    lock = directory / install_lock.DEFAULT_PATH
    if lock.is_file():
        said.append(f"  kept existing {install_lock.DEFAULT_PATH}")
    stale = _stale_lock(lock, directory)
    for line in said:
        click.echo(line)
    if outdated:
        click.echo(
            f"{directory} is out of date for engage-sync {__version__}: "
            + "; ".join(outdated)
            + f". `engage-sync init --upgrade {directory}` does it (settings and lead sets "
            "are never touched)."
        )
        if stale:
            click.echo(f"Then: {stale}.")
        return ExitCode.OK
    if stale:
        click.echo(f"Next: {stale}.")
        return ExitCode.OK
    if first:
        click.echo(_next_steps(directory, account, existing, locked=lock.is_file()))
    elif not said:
        click.echo(f"{directory} is up to date with engage-sync {__version__}: nothing to do.")
    return ExitCode.OK


def _write(
    directory: Path, account: str | None, existing: str | None, upgrade: bool, first: bool
) -> tuple[list[str], list[str]]:
    """Write what is missing (and, with `upgrade`, what is out of date). Returns what was done
    and what is out of date."""
    managed: dict[str, bytes] = {f".github/workflows/{n}": workflow(n) for n in WORKFLOWS}
    for name in SCHEMAS:  # for editors, offline
        managed[f"schemas/{name}"] = schema_path(name).read_bytes()
    files: dict[str, bytes] = dict(managed)
    files["engage-sync.yaml"] = CONFIG.format(account=account or PLACEHOLDER_ACCOUNT).encode()
    if existing is None:
        files["leadsets/example.yaml"] = EXAMPLE.encode()
    files[".gitignore"] = GITIGNORE.encode()
    files[".pre-commit-config.yaml"] = PRE_COMMIT.encode()
    said: list[str] = []
    outdated: list[str] = []
    try:
        for name in sorted(files):
            target = directory / name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(files[name])
                said.append(f"  created {name}")
            elif name in managed and target.read_bytes() != files[name]:
                if upgrade:
                    target.write_bytes(files[name])
                    said.append(f"  upgraded {name}")
                else:
                    outdated.append(f"replace {name} (this version's differs)")
            elif name == ".gitignore" and _missing_ignores(target):
                missing = _missing_ignores(target)
                if upgrade or first:
                    with target.open("a", encoding="utf-8") as f:
                        f.write(_appended(target, missing))
                    said.append(f"  added {', '.join(missing)} to .gitignore")
                else:
                    outdated.append(f"add {', '.join(missing)} to .gitignore")
            elif existing is None:
                said.append(f"  kept existing {name}")
        for name in OLD_SCRIPTS:
            target = directory / name
            if target.is_file() and b"engage-sync" in target.read_bytes():
                if upgrade:
                    target.unlink()
                    said.append(f"  removed {name} (its logic is `engage-sync ci` now)")
                else:
                    outdated.append(f"remove {name} (its logic is `engage-sync ci` now)")
    except OSError as e:
        raise EngageSyncError(f"{directory}: cannot write: {e.strerror}") from e
    return said, outdated


def _stale_lock(lock: Path, directory: Path) -> str | None:
    """What to do when the install lock pins another release than this one (None: nothing)."""
    if not lock.is_file():
        return None
    pinned = install_lock.pinned_version(lock)
    if pinned == __version__:
        return None
    return (
        f"{install_lock.DEFAULT_PATH} pins "
        + (f"engage-sync {printable(pinned)}" if pinned else "no engage-sync")
        + f", and the workflows install from it: once engage-sync {__version__} is on "
        f"the index they install from, run `engage-sync lock` in {directory} to pin it"
    )


def _appended(target: Path, lines: list[str]) -> str:
    """The lines to append to a .gitignore, on a line of their own."""
    ends = target.read_bytes().endswith(b"\n") or not target.stat().st_size
    return ("" if ends else "\n") + "".join(f"{line}\n" for line in lines)


def _next_steps(
    directory: Path, account: str | None, existing: str | None, locked: bool = False
) -> str:
    steps = [] if account else ["set `account` in engage-sync.yaml"]
    if existing is None:
        steps.append(
            "replace leadsets/example.yaml with your lead sets (it is for trying the emulator: "
            "delete it before your first commit)"
        )
    else:
        steps.append(f"put your lead sets in leadsets/ (no example is added: {existing})")
    steps.append("`engage-sync validate`")
    return (
        f"Scaffolded {directory}. Next: "
        + ", ".join(steps)
        + ", then add the RINGCENTRAL_CLIENT_ID, RINGCENTRAL_CLIENT_SECRET and RINGCENTRAL_JWT "
        "secrets to a protected `engage-production` environment and push (docs/gitops.md, "
        '"Bootstrap a new repository").'
        + (
            ""
            if locked
            else f" Once engage-sync {__version__} is on the index the workflows install "
            f"from, run `engage-sync lock` in {directory}: it pins that release and every "
            "package it needs by hash, and the workflows then install from that lock."
        )
    )
