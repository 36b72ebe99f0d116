"""`engage-sync init`: scaffold a lead-set repository with settings, an example, CI and hooks."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from ..errors import EngageSyncError, ExitCode
from ..leadsets.schema import schema_path

# Files shared with engage-sync's own repository: one source, carried in the wheel (see
# pyproject.toml) and read from the checkout when running from source.
SHARED = (
    ".github/workflows/plan.yml",
    ".github/workflows/apply.yml",
    ".github/workflows/drift.yml",
    "scripts/ci-install.sh",
    "scripts/ci-plan.sh",
    "scripts/ci-apply.sh",
    "scripts/ci-drift.sh",
)
EXECUTABLE = (".sh", ".py")

CONFIG = """\
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

GITIGNORE = """\
# engage-sync: the lock and journal are per run; the state file itself is committed
engage-sync.state.json.lock
engage-sync.state.json.journal
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


def _shared(name: str) -> bytes:
    packaged = resources.files("engage_sync") / "scaffold" / name
    if packaged.is_file():
        return packaged.read_bytes()
    return (Path(__file__).resolve().parents[2] / name).read_bytes()


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--account", default="00000000", show_default=True, help="Engage account id.")
def init(directory: Path, account: str) -> int:
    """Scaffold a lead-set repository: settings, an example lead set, workflows, scripts, hooks."""
    files: dict[str, bytes] = {name: _shared(name) for name in SHARED}
    files["schemas/leadset.schema.json"] = schema_path().read_bytes()  # for editors, offline
    files["engage-sync.yaml"] = CONFIG.format(account=account).encode()
    files["leadsets/example.yaml"] = EXAMPLE.encode()
    files[".gitignore"] = GITIGNORE.encode()
    files[".pre-commit-config.yaml"] = PRE_COMMIT.encode()
    written, kept = [], []
    try:
        for name in sorted(files):
            target = directory / name
            if target.exists():
                kept.append(name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[name])
            if name.endswith(EXECUTABLE):
                target.chmod(0o755)
            written.append(name)
    except OSError as e:
        raise EngageSyncError(f"{directory}: cannot write: {e.strerror}") from e
    for name in written:
        click.echo(f"  created {name}")
    for name in kept:
        click.echo(f"  kept existing {name}")
    click.echo(
        f"Scaffolded {directory}. Next: set `account` in engage-sync.yaml, replace "
        "leadsets/example.yaml with your lead sets, `engage-sync validate`, then add the "
        "RINGCENTRAL_CLIENT_ID, RINGCENTRAL_CLIENT_SECRET and RINGCENTRAL_JWT secrets to a "
        "protected `engage-production` environment."
    )
    return ExitCode.OK
