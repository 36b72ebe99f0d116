"""Run a step of a workflow `engage-sync init` scaffolded, as GitHub Actions would run it: its
`run` command in bash, in the checkout, with the step's literal environment and the values the
test stands in for (secrets, the pull request's number), engage-sync on PATH as after the
install step."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml
from conftest import BIN, user_env

# the step each CI command is run by, per workflow
STEPS = {
    "plan": ("plan.yml", "Validate and plan"),
    "apply": ("apply.yml", "Apply and commit the state"),
    "drift": ("drift.yml", "Check for drift"),
}


def step(repo: Path, command: str) -> tuple[str, dict[str, str]]:
    """The step's command and its literal environment (expressions are the test's to give)."""
    name, title = STEPS[command]
    workflow = yaml.safe_load((repo / ".github" / "workflows" / name).read_text())
    (job,) = workflow["jobs"].values()
    found: dict[str, Any] = next(s for s in job["steps"] if s.get("name") == title)
    env = {k: str(v) for k, v in (found.get("env") or {}).items() if "${{" not in str(v)}
    return str(found["run"]), env


def step_env(repo: Path, command: str, env: dict[str, str]) -> dict[str, str]:
    _, literal = step(repo, command)
    path = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    return user_env({"PATH": path, **literal, **env})


def run_step(
    repo: Path, command: str, env: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    run, _ = step(repo, command)
    return subprocess.run(
        ["bash", "-e", "-c", " ".join([run, *args])],
        cwd=repo,
        env=step_env(repo, command, env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start_step(repo: Path, command: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    run, _ = step(repo, command)
    return subprocess.Popen(
        ["bash", "-e", "-c", " ".join([run, *args])],
        cwd=repo,
        env=step_env(repo, command, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
