"""What a new user met in their first week (issue #31), with the installed command against the
emulator: a campaign declared in two files is one campaign, and an apply limited to some
paths never removes what it did not read."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, Served, engage_sync, start_emulator, stop_emulator, write

pytestmark = pytest.mark.e2e

CAMPAIGN = 136785
OPTIONS = "  duplicateHandling: REMOVE_ALL_EXISTING\n  timeZoneOption: NPA_NXX\n"


def leadset(first: int, count: int, priority: str = "NORMAL", prune: bool = False) -> str:
    rows = "".join(
        f'  - {{externId: "L-{i:04d}", leadPhone: "41555{i:05d}"}}\n'
        for i in range(first, first + count)
    )
    return (
        f"campaign: {CAMPAIGN}\noptions:\n{OPTIONS}  dialPriority: {priority}\n"
        + ("prune: true\n" if prune else "")
        + f"leads:\n{rows}"
    )


def repo(tmp_path: Path) -> Path:
    write(tmp_path / "engage-sync.yaml", "account: '99990001'\n")
    return tmp_path


def test_two_files_of_one_campaign_with_other_options_are_an_error_at_both_places(
    tmp_path: Path,
) -> None:
    root = repo(tmp_path)
    write(root / "leadsets" / "can.yaml", leadset(1, 3, "IMMEDIATE"))
    write(root / "leadsets" / "extra.yaml", leadset(100, 3, "NORMAL"))
    checked = engage_sync("validate", cwd=root)
    assert checked.code == 1, checked.out + checked.err
    lines = [line for line in checked.err.splitlines() if ": options: " in line]
    assert [line.split(":", 2)[:2] for line in lines] == [
        ["leadsets/can.yaml", "2"],
        ["leadsets/extra.yaml", "2"],
    ]
    assert 'leadsets/extra.yaml:2 with options dialPriority: "NORMAL"' in lines[0]
    assert 'leadsets/can.yaml:2 with options dialPriority: "IMMEDIATE"' in lines[1]
    planned = engage_sync("plan", cwd=root)
    assert planned.code == 1 and "nothing planned" in planned.err


def test_an_apply_limited_to_one_file_never_prunes_what_another_file_declares(
    tmp_path: Path, emulator_process: Served
) -> None:
    root = repo(tmp_path)
    env = emulator_process.env("api-token")
    write(root / "leadsets" / "can.yaml", leadset(1, 5, prune=True))
    write(root / "leadsets" / "extra.yaml", leadset(100, 20, prune=True))
    first = engage_sync("apply", "--auto-approve", env=env, cwd=root)
    assert first.code == 0, first.out + first.err
    # one lead of can.yaml changes, and only that file is applied
    write(root / "leadsets" / "can.yaml", leadset(1, 5, prune=True).replace("L-0001", "L-0009"))
    planned = engage_sync("plan", "leadsets/can.yaml", cwd=root, env=emulator_process.where())
    assert planned.code == 0, planned.err
    assert "0 orphaned" in planned.out and "to remove" in planned.out
    assert "1 to create, 0 to update, 0 to replace, 0 to remove" in planned.out
    assert "this plan reads only the paths given" in planned.out
    assert f"prune is on for campaign(s) {CAMPAIGN}" in planned.out
    limited = engage_sync("apply", "--auto-approve", "leadsets/can.yaml", env=env, cwd=root)
    assert limited.code == 0, limited.out + limited.err
    live = {
        r["externId"]
        for r in emulator_process.leads(CAMPAIGN)
        if r["leadState"] == "READY" and not r["suppressed"]
    }
    assert {f"L-{i:04d}" for i in range(100, 120)} <= live  # extra.yaml's leads stay
    # the whole folder: L-0001 (no file declares it any more) is pruned, and nothing else
    full = engage_sync("apply", "--auto-approve", env=env, cwd=root)
    assert full.code == 0, full.out + full.err
    assert "- L-0001" in full.out
    again = engage_sync("plan", "--detailed-exitcode", cwd=root, env=emulator_process.where())
    assert again.code == 0, again.out + again.err


# -- item 1: the state knows where it loaded ------------------------------------------------------

REAL_ACCOUNT = "12345678"  # README step 1's `init --account`
REAL_SEED = f"""\
accounts:
  - accountId: "{REAL_ACCOUNT}"
    accountName: Production
    dialGroups:
      - dialGroupId: 1
        dialGroupName: Outbound
        campaigns: [{{campaignId: {CAMPAIGN}, campaignName: Renewal Outreach}}]
credentials: {{clientId: id, clientSecret: secret, jwt: a-jwt, apiTokens: [real-token]}}
"""


def readme_step(number: int) -> list[str]:
    """The shell lines of the README's "A first real use" step `number`, comments dropped."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## A first real use", 1)[1].split("\n## ", 1)[0]
    step = section.split(f"\n{number}. ", 1)[1].split(f"\n{number + 1}. ", 1)[0]
    block = step.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def walk_step_2(lines: list[str], served: Served, cwd: Path) -> dict[str, str]:
    """Step 2 as a user types it, on the emulator's own port; returns the environment it set."""
    env: dict[str, str] = {}
    for line in lines:
        if line.startswith("engage-sync emulator"):
            continue  # started by the test (on a free port)
        if line.startswith("export "):
            for assignment in line.split()[1:]:
                name, value = assignment.split("=", 1)
                env[name] = value.replace("127.0.0.1:8089", served.origin.split("://", 1)[1])
            continue
        # the suite runs with CI=true, where a loopback host must be named (a user's shell: not)
        env["ENGAGE_SYNC_ALLOWED_HOSTS"] = served.origin.split("://", 1)[1]
        for command in line.split("&&"):
            argv = command.split()[1:]
            if argv == ["apply"]:  # on a terminal the user answers "yes"
                argv.append("--auto-approve")
            done = engage_sync(*argv, env=env, cwd=cwd)
            assert done.code == 0, done.out + done.err
    return env


@pytest.mark.parametrize("scratch", [True, False], ids=["as-written", "without-scratch-state"])
def test_the_readme_steps_1_and_2_then_the_real_account_gets_every_lead(
    tmp_path: Path, emulator_process: Served, scratch: bool
) -> None:
    step_1 = readme_step(1)
    assert step_1[0] == f"engage-sync init my-leads --account {REAL_ACCOUNT}"
    made = engage_sync(*step_1[0].split()[1:], cwd=tmp_path)
    assert made.code == 0, made.err
    root = tmp_path / "my-leads"
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    step_2 = readme_step(2)
    assert any("ENGAGE_SYNC_STATE=" in line for line in step_2)  # the README uses a scratch state
    if not scratch:  # a user who skipped that line: the state must still know where it loaded
        step_2 = [line for line in step_2 if "ENGAGE_SYNC_STATE" not in line]
    walk_step_2(step_2, emulator_process, root)
    example = {r["externId"] for r in emulator_process.leads(CAMPAIGN)}
    assert example, "step 2 loaded nothing into the emulator"
    # a new shell, the real account: the base URL is a second emulator standing in for Engage
    real = start_emulator("--seed", str(write(tmp_path / "real.yaml", REAL_SEED)))
    try:
        env = {
            "ENGAGE_BASE_URL": real.base_url,
            "ENGAGE_API_TOKEN": "real-token",
            "ENGAGE_SYNC_ALLOWED_HOSTS": real.origin.split("://", 1)[1],
        }
        planned = engage_sync("plan", env=env, cwd=root)
        assert planned.code == 0, planned.err
        assert f"{len(example)} to create, 0 to update" in planned.out
        moved = "the last apply loaded this campaign into account 99990001 at"
        assert (moved in planned.out) is not scratch
        applied = engage_sync("apply", "--auto-approve", env=env, cwd=root)
        assert applied.code == 0, applied.out + applied.err
        assert {r["externId"] for r in real.leads(CAMPAIGN)} == example
        again = engage_sync("plan", "--detailed-exitcode", env=env, cwd=root)
        assert again.code == 0, again.out + again.err
        # and the emulator's account, planned again, is where the state no longer points
        back = engage_sync("plan", env=walk_env(emulator_process), cwd=root)
        assert f"{len(example)} to create" in back.out or scratch
    finally:
        stop_emulator(real)


def walk_env(served: Served) -> dict[str, str]:
    return {**served.where(), "ENGAGE_SYNC_ALLOWED_HOSTS": served.origin.split("://", 1)[1]}


def test_another_account_or_server_changes_the_plan_and_its_checksum(tmp_path: Path) -> None:
    root = repo(tmp_path)
    write(root / "leadsets" / "can.yaml", leadset(1, 3))

    def checksum(**env: str) -> str:
        done = engage_sync("plan", "--format", "json", env=env, cwd=root)
        assert done.code == 0, done.err
        return str(json.loads(done.out)["checksum"])

    here = checksum()
    assert checksum(ENGAGE_ACCOUNT_ID="99990002") != here
    assert checksum(ENGAGE_BASE_URL="https://portal.vacd.biz/voice") != here
    assert checksum(ENGAGE_BASE_URL="https://engage.ringcentral.com/voice") == here  # one service


# -- item 5: two clones, one campaign ----------------------------------------------------------


@pytest.mark.parametrize("handling", ["RETAIN_ALL", "REMOVE_ALL_EXISTING"])
def test_a_second_clone_applying_the_same_leads_finds_them_and_loads_none_twice(
    tmp_path: Path, emulator_process: Served, handling: str
) -> None:
    """RETAIN_ALL would keep two records: apply looks first. Under REMOVE_ALL_EXISTING a second
    load would replace the first, and apply looks first when git tracks the state (then another
    clone's copy may be behind)."""
    env = emulator_process.env("api-token")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    seed = repo(tmp_path / "seed")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=seed, check=True)
    if handling == "REMOVE_ALL_EXISTING":  # a state committed to git, as CI keeps it
        write(seed / "leadsets" / "can.yaml", leadset(1000, 1))
        done = engage_sync("apply", "--auto-approve", env=env, cwd=seed)
        assert done.code == 0, done.out + done.err
    else:
        write(seed / ".gitignore", "engage-sync.state.json*\n")
    subprocess.run([*git, "add", "-A"], cwd=seed, check=True)
    subprocess.run([*git, "commit", "-qm", "start"], cwd=seed, check=True)
    subprocess.run(["git", "push", "-q", str(origin), "main"], cwd=seed, check=True)
    body = leadset(1, 12).replace("REMOVE_ALL_EXISTING", handling)
    if handling == "REMOVE_ALL_EXISTING":
        body += '  - {externId: "L-1000", leadPhone: "4155501000"}\n'
    clones = [tmp_path / "alice", tmp_path / "bob"]
    for clone in clones:  # both merge the same change
        subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
        write(clone / "leadsets" / "can.yaml", body)
    first = engage_sync("apply", "--auto-approve", env=env, cwd=clones[0])
    assert first.code == 0, first.out + first.err
    posts = len(emulator_process.loader_posts())
    # Bob's copy of the state knows nothing of Alice's apply: plain apply, no flags
    second = engage_sync("apply", "--auto-approve", env=env, cwd=clones[1])
    assert second.code == 0, second.out + second.err
    dialable = [
        r["externId"]
        for r in emulator_process.leads(CAMPAIGN)
        if r["leadState"] == "READY" and not r["suppressed"]
    ]
    expected = [f"L-{i:04d}" for i in range(1, 13)]
    expected += ["L-1000"] if handling == "REMOVE_ALL_EXISTING" else []
    assert sorted(dialable) == sorted(expected)  # one record each
    assert len(emulator_process.loader_posts()) == posts  # found, recorded, not posted again
    assert "already in Engage" in second.out + second.err
