"""What public clients that met the real server do, end to end against `engage-sync emulator`:
any 2xx, legacy base URLs, the wrong account named, and the current default host."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Served, engage_sync, load_json, start_emulator, stop_emulator

pytestmark = pytest.mark.e2e


@pytest.fixture
def emu() -> Iterator[Served]:
    served = start_emulator("--loader-status", "201")
    try:
        yield served
    finally:
        stop_emulator(served)


def test_a_loader_answering_201_records_its_leads(repo: Path, emu: Served) -> None:
    r = engage_sync("apply", "--auto-approve", env=emu.env("api-token"), cwd=repo)
    assert r.code == 0, r.err
    assert {x["status"] for x in emu.loader_posts()} == {201}
    state = load_json(repo / "engage-sync.state.json")
    assert sum(len(c["leads"]) for c in state["campaigns"].values()) == 11


def test_a_legacy_base_url_ending_in_api_reaches_api_v1(repo: Path, emu: Served) -> None:
    env = {**emu.env("api-token"), "ENGAGE_BASE_URL": f"{emu.origin}/api"}
    r = engage_sync("apply", "--auto-approve", env=env, cwd=repo)
    assert r.code == 0, r.err
    paths = {x["path"] for x in emu.get("/_emulator/requests")}
    assert "/api/v1/admin/accounts/99990001/campaigns/136785/leadLoader/direct" in paths
    assert not any("/api/api/" in p or p.startswith("/voice") for p in paths)


@pytest.mark.parametrize("kind", ["jwt", "api-token"])
def test_the_wrong_account_names_the_ones_these_credentials_can_use(
    repo: Path, emu: Served, kind: str
) -> None:
    env = {**emu.env(kind), "ENGAGE_ACCOUNT_ID": "99990000"}
    r = engage_sync("apply", "--auto-approve", env=env, cwd=repo)
    assert r.code == 1
    assert "account 99990000 is not one these credentials can use: use 99990001" in r.err
    assert emu.loader_posts() == []


def test_without_a_base_url_requests_go_to_ringcx(
    workspace: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise OSError("no network in tests")

    # nothing leaves this machine: the first connection attempt fails before any packet
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("ENGAGE_API_TOKEN", "a-legacy-api-token-value")
    monkeypatch.setenv("ENGAGE_SYNC_MAX_RETRIES", "0")
    r = run("campaigns", "--debug")
    assert r.code == 1
    assert "debug: Engage Voice API at https://ringcx.ringcentral.com/voice" in r.err
    assert "(auth at https://ringcx.ringcentral.com)" in r.err
    assert "engage.ringcentral.com" not in r.err.replace("ringcx.ringcentral.com", "")
