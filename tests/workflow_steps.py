"""Run a step of a workflow `engage-sync init` scaffolded (or of this repository's own, which
have the same names and steps), as GitHub Actions would run it: its `run` command in bash, in the
checkout, with the step's literal environment and the values the test stands in for (secrets, the
pull request's number), engage-sync on PATH as after the install step. And whether GitHub would
run a job, or a step, for an event: their `if:` evaluated."""

from __future__ import annotations

import os
import re
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


def the_job(repo: Path, name: str) -> dict[str, Any]:
    """The one job of the workflow `name` in `repo`."""
    workflow = yaml.safe_load((repo / ".github" / "workflows" / name).read_text())
    (job,) = workflow["jobs"].values()
    return dict(job)


def named_step(repo: Path, name: str, title: str) -> tuple[str, dict[str, str]]:
    """A step's command and its literal environment (expressions are the test's to give)."""
    found: dict[str, Any] = next(s for s in the_job(repo, name)["steps"] if s.get("name") == title)
    env = {k: str(v) for k, v in (found.get("env") or {}).items() if "${{" not in str(v)}
    return str(found["run"]), env


def step(repo: Path, command: str) -> tuple[str, dict[str, str]]:
    """The step that runs `engage-sync ci <command>`."""
    return named_step(repo, *STEPS[command])


def run_named_step(
    repo: Path, name: str, title: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Any step of the workflow `name` by its title, in bash -e as GitHub runs a `run:` step;
    `env` stands in for what GitHub gives it (secrets, GITHUB_OUTPUT)."""
    run, literal = named_step(repo, name, title)
    return subprocess.run(
        ["bash", "-e", "-c", run],
        cwd=repo,
        env=user_env({"PATH": os.environ["PATH"], **literal, **env}),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


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


def job_runs(
    repo: Path,
    command: str,
    event_name: str,
    event: dict[str, Any],
    ref: str = "refs/heads/main",
) -> bool:
    """Whether GitHub would run the workflow's job for this event: its `if:` evaluated with
    `github.event_name`, `github.event` and `github.ref` (the expressions it uses: property
    access, string and boolean literals, `==`, `!=`, `!`, `&&`, `||` and parentheses)."""
    job = the_job(repo, STEPS[command][0])
    context = {"github": {"event_name": event_name, "event": event, "ref": ref}}
    return _holds(job.get("if", "true"), context)


def steps_that_run(repo: Path, name: str, outputs: dict[str, dict[str, str]]) -> list[str]:
    """The steps of the workflow `name` GitHub would run (by name, else what they use) when
    every step succeeds and the steps with an id give `outputs` (an `if:` may read
    `steps.<id>.outputs.<name>`; one left out is `success()`, as on GitHub)."""
    context = {"steps": {sid: {"outputs": values} for sid, values in outputs.items()}}
    return [
        str(s.get("name") or s["uses"])
        for s in the_job(repo, name)["steps"]
        if _holds(s.get("if", "success()"), context)
    ]


def _holds(condition: object, context: dict[str, Any]) -> bool:
    text = str(condition).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    return bool(_Expression(text, context).value())


# the status functions, as when every step before succeeded and the run was not cancelled
_STATUS = {"success": True, "always": True, "failure": False, "cancelled": False}


_TOKEN = re.compile(r"\s*(\|\||&&|==|!=|!|\(|\)|'(?:[^']|'')*'|[A-Za-z_][\w.-]*)")


class _Expression:
    """A small recursive-descent reading of GitHub's expression syntax (enough for `if:`; of
    the functions, the status ones)."""

    def __init__(self, text: str, context: dict[str, Any]) -> None:
        self.tokens: list[str] = []
        at = 0
        while at < len(text.rstrip()):
            found = _TOKEN.match(text, at)
            assert found, f"cannot read {text[at:]!r}"
            self.tokens.append(found.group(1))
            at = found.end()
        self.context = context

    def value(self) -> Any:
        result = self._or()
        assert not self.tokens, f"left over: {self.tokens}"
        return result

    def _next(self) -> str:
        return self.tokens.pop(0)

    def _or(self) -> Any:
        left = self._and()
        while self.tokens[:1] == ["||"]:
            self._next()
            right = self._and()
            left = left or right
        return left

    def _and(self) -> Any:
        left = self._compare()
        while self.tokens[:1] == ["&&"]:
            self._next()
            right = self._compare()
            left = left and right
        return left

    def _compare(self) -> Any:
        left = self._unary()
        while self.tokens[:1] in (["=="], ["!="]):
            op = self._next()
            right = self._unary()
            left = (left == right) if op == "==" else (left != right)
        return left

    def _unary(self) -> Any:
        token = self._next()
        if token == "!":
            return not self._unary()
        if token == "(":
            inner = self._or()
            assert self._next() == ")"
            return inner
        if token.startswith("'"):
            return token[1:-1].replace("''", "'")
        if token in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token]
        if token in _STATUS and self.tokens[:2] == ["(", ")"]:
            del self.tokens[:2]
            return _STATUS[token]
        found: Any = self.context
        for part in token.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        return found
