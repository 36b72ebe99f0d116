"""End to end: a server that echoes the request in its errors (issue #29, finding 6). After an
apply by the installed command, no token, no credential and no lead value it sent is on stdout,
stderr or in the apply report; in GitHub Actions each token minted is masked first."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import ENGAGE_SYNC, Served, engage_sync, user_env, write

pytestmark = pytest.mark.e2e
CREDENTIALS = ("emulator-client-secret", "emulator-jwt-assertion", "emulator-legacy-api-token")
PEOPLE = """\
campaign: {id: 136785, name: Renewal Outreach}
options: {description: Renewals, duplicateHandling: REMOVE_ALL_EXISTING, timeZoneOption: NPA_NXX,
          dialPriority: NORMAL}
leads:
  - {externId: P-1, leadPhone: "4155550100", firstName: Zoë, lastName: Núñez-Ortega,
     email: zoe@example.com, city: Québec, extendedLeadData: {plan: platinum}}
  - {externId: P-2, leadPhone: "2125550142", firstName: Al, lastName: Lovelace,
     address1: 12 Byron Road, zip: "94105"}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository of two leads whose values are easy to look for, in and out of ASCII."""
    write(tmp_path / "engage-sync.yaml", 'account: "99990001"\nleadsets: leadsets\n')
    write(tmp_path / "leadsets" / "people.yaml", PEOPLE)
    return tmp_path


def echo_everything(served: Served, endpoint: str = "loader") -> None:
    """Every call to `endpoint` answers a 500 that copies its headers and body."""
    served.post("/_emulator/faults", {"kind": "echo", "count": 1000, "endpoint": endpoint})


def lead_values(served: Served) -> set[str]:
    """Every value of every lead the loader was sent (the externIds aside: plans show them)."""
    values: set[str] = set()
    for request in served.loader_posts():
        for lead in request["body"]["uploadLeads"]:
            for name, value in lead.items():
                if name == "externId":
                    continue
                if isinstance(value, dict):
                    values.update(str(v) for v in value.values())
                else:
                    values.add(str(value))
    return values


def leaked(text: str, secrets: set[str], values: set[str]) -> list[str]:
    found = [s for s in secrets if s in text]
    found += [
        v
        for v in values
        for form in (v, json.dumps(v)[1:-1])  # as it is, and as JSON escapes it
        if re.search(rf"(?<![^\W_]){re.escape(form)}(?![^\W_])", text, re.IGNORECASE)
    ]
    return sorted(found)


def minted(served: Served) -> set[str]:
    assert served.emulator is not None
    return set(served.emulator.tokens)


def apply(repo: Path, served: Served, kind: str, **env: str) -> Any:
    return engage_sync(
        "--debug",
        "apply",
        "--auto-approve",
        "--max-retries",
        "1",
        "--report-json",
        "report.json",
        env={**served.env(kind), "ENGAGE_SYNC_LOOKUP_DELAY": "0", **env},
        cwd=repo,
    )


@pytest.mark.parametrize("kind", ["jwt", "api-token"])
def test_an_error_that_echoes_the_request_leaks_no_token_and_no_lead(
    repo: Path, served: Served, kind: str
) -> None:
    echo_everything(served)
    done = apply(repo, served, kind)
    assert done.code != 0
    report = (repo / "report.json").read_text(encoding="utf-8")
    values = lead_values(served)
    assert {"Zoë", "Núñez-Ortega", "Al", "zoe@example.com", "4155550100"} <= values
    secrets = minted(served) | set(CREDENTIALS)
    assert (kind != "jwt") or any(t.startswith("engage-") for t in secrets)
    for where, text in (("stdout", done.out), ("stderr", done.err), ("report", report)):
        assert leaked(text, secrets, values) == [], where
    assert "HTTP 500" in done.err  # the error is still said, without what it echoed
    assert "::add-mask::" not in done.out  # outside GitHub Actions nothing is announced


def test_a_lead_search_that_echoes_leaks_nothing_either(repo: Path, served: Served) -> None:
    echo_everything(served, "search")
    done = engage_sync(
        "--debug", "plan", "--refresh-only", env=served.env("jwt"), cwd=repo, timeout=120
    )
    secrets = minted(served) | set(CREDENTIALS)
    assert leaked(done.out + done.err, secrets, set()) == []
    assert "HTTP 500" in done.err


def test_in_github_actions_each_minted_token_is_masked_before_it_could_be_printed(
    repo: Path, served: Served
) -> None:
    echo_everything(served)
    env = user_env({**served.env("jwt"), "GITHUB_ACTIONS": "true", "ENGAGE_SYNC_LOOKUP_DELAY": "0"})
    done = subprocess.run(  # one stream, in the order it was written, as the runner sees it
        [ENGAGE_SYNC, "--debug", "apply", "--auto-approve", "--max-retries", "1"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=120,
    )
    lines = done.stdout.splitlines()
    tokens = minted(served)
    assert {t.split("-")[0] for t in tokens} >= {"rc", "engage", "refresh"}
    for token in tokens:
        said = [i for i, line in enumerate(lines) if token in line]
        assert said, f"{token[:8]}... was never masked"
        assert lines[said[0]] == f"::add-mask::{token}", lines[said[0]]
        assert len(said) == 1  # and it is printed nowhere else
