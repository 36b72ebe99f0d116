"""Recovery a user can trust, end to end on the installed command against the emulator process:
logins that are throttled say so and wait as the server asks; wrong credentials are the first and
only thing an apply says."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Served, engage_sync, start_emulator, stop_emulator

pytestmark = pytest.mark.e2e


@pytest.fixture
def fast_windows() -> Iterator[Served]:
    """The documented limits ten times faster: 5 token exchanges per 6 s."""
    served = start_emulator("--rate-scale", "10")
    try:
        yield served
    finally:
        stop_emulator(served)


def test_a_throttled_login_says_it_waits_and_for_how_long_then_goes_on(
    repo: Path, fast_windows: Served
) -> None:
    env = fast_windows.env("jwt")
    for _ in range(5):  # five logins: the exchange's window is full
        assert engage_sync("campaigns", env=env, cwd=repo).code == 0
    sixth = engage_sync("campaigns", env=env, cwd=repo)
    assert sixth.code == 0, sixth.err
    assert "Renewal Outreach" in sixth.out
    (said,) = [line for line in sixth.err.splitlines() if "waiting" in line]
    assert said.startswith("engage-sync: ")
    assert re.search(
        r"/api/auth/login/rc/accesstoken: HTTP 429; waiting [1-9]\d*s as the server asked", said
    ), said
    assert fast_windows.get("/_emulator/stats")["exchange429"] == 1


def test_wrong_credentials_are_the_first_and_only_thing_apply_says(
    repo: Path, fast_windows: Served
) -> None:
    env = {**fast_windows.env("jwt"), "RINGCENTRAL_JWT": "not-the-jwt"}
    r = engage_sync("apply", "--auto-approve", env=env, cwd=repo)
    assert r.code == 1
    assert r.out == ""  # no plan printed, then a failure
    assert r.err.splitlines() == [
        "error: credentials refused by /restapi/oauth/token (HTTP 400)"
    ], r.err
    assert fast_windows.loader_posts() == []
