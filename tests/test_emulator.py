"""The emulator, over a real loopback socket: every endpoint and shape engage-sync relies on."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import httpx
import jsonschema
import pytest
from conftest import DATA, Served, start_emulator, stop_emulator, wait_until, write

from engage_sync.emulator import Emulator, Settings, default_seed
from engage_sync.emulator.http import HttpError
from engage_sync.emulator.server import Address, received, serve

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACCOUNT = "99990001"
LOADER = f"/voice/api/v1/admin/accounts/{ACCOUNT}/campaigns/136785/leadLoader/direct"
SEARCH = f"/voice/api/v1/admin/accounts/{ACCOUNT}/campaignLeads/leadSearch"
ACTIONS = f"/voice/api/v1/admin/accounts/{ACCOUNT}/campaignLeads/actions"
BODY = {
    "description": "Spring",
    "dialPriority": "NORMAL",
    "duplicateHandling": "RETAIN_ALL",
    "timeZoneOption": "NPA_NXX",
    "listState": "ACTIVE",
}


def rc_token(
    origin: str, secret: str = "emulator-client-secret", assertion: str = "emulator-jwt-assertion"
) -> httpx.Response:
    return httpx.post(
        f"{origin}/restapi/oauth/token",
        auth=("emulator-client-id", secret),
        data={"grant_type": JWT_GRANT, "assertion": assertion},
    )


def login(origin: str) -> dict[str, Any]:
    rc = rc_token(origin).json()["access_token"]
    r = httpx.post(
        f"{origin}/api/auth/login/rc/accesstoken?includeRefresh=true",
        data={"rcAccessToken": rc, "rcTokenType": "Bearer"},
    )
    assert r.status_code == 200
    result: dict[str, Any] = r.json()
    return result


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def token(served: Served) -> str:
    return str(login(served.origin)["accessToken"])


def post_leads(
    served: Served, token: str, leads: list[dict[str, Any]], path: str = LOADER, **options: Any
) -> httpx.Response:
    return httpx.post(
        f"{served.origin}{path}",
        headers=bearer(token),
        json={**BODY, **options, "uploadLeads": leads},
        timeout=10,
    )


def test_jwt_grant_checks_client_grant_type_and_assertion(served: Served) -> None:
    ok = rc_token(served.origin)
    assert ok.status_code == 200
    assert set(ok.json()) >= {"access_token", "expires_in", "refresh_token", "token_type"}
    assert rc_token(served.origin, secret="wrong").status_code == 401
    assert rc_token(served.origin, assertion="wrong").status_code == 400
    bad_grant = httpx.post(
        f"{served.origin}/restapi/oauth/token",
        auth=("emulator-client-id", "emulator-client-secret"),
        data={"grant_type": "password", "assertion": "emulator-jwt-assertion"},
    )
    assert bad_grant.status_code == 400


def test_exchange_answers_the_documented_shape_via_form_or_query(served: Served) -> None:
    body = login(served.origin)
    assert body["tokenType"] == "Bearer" and body["mainAccountId"] == ACCOUNT
    assert body["agentDetails"][0]["accountId"] == ACCOUNT
    assert isinstance(body["refreshToken"], str)
    rc = rc_token(served.origin).json()["access_token"]
    by_query = httpx.post(
        f"{served.origin}/api/auth/login/rc/accesstoken",
        params={"rcAccessToken": rc, "rcTokenType": "Bearer"},
    )
    assert by_query.status_code == 200
    bogus = httpx.post(
        f"{served.origin}/api/auth/login/rc/accesstoken", data={"rcAccessToken": "nope"}
    )
    assert bogus.status_code == 401


def test_exchange_allows_five_a_minute(served: Served) -> None:
    rc = rc_token(served.origin).json()["access_token"]
    codes = [
        httpx.post(
            f"{served.origin}/api/auth/login/rc/accesstoken", data={"rcAccessToken": rc}
        ).status_code
        for _ in range(6)
    ]
    assert codes == [200] * 5 + [429]


def test_refresh_rotates_both_tokens(served: Served) -> None:
    first = login(served.origin)
    r = httpx.post(
        f"{served.origin}/api/auth/token/refresh",
        data={"refresh_token": first["refreshToken"], "rcTokenType": "Bearer"},
    )
    assert r.status_code == 200
    second = r.json()
    assert second["accessToken"] != first["accessToken"]
    assert second["refreshToken"] != first["refreshToken"]
    again = httpx.post(
        f"{served.origin}/api/auth/token/refresh", data={"refresh_token": first["refreshToken"]}
    )
    assert again.status_code == 401  # the old refresh token is spent
    accounts = httpx.get(
        f"{served.base_url}/api/v1/admin/accounts", headers=bearer(second["accessToken"])
    )
    assert accounts.status_code == 200


def test_expired_access_token_gets_plain_jwt_is_expired(served: Served) -> None:
    assert served.emulator is not None and served.clock is not None
    served.emulator.settings.token_ttl = 0.2
    served.clock.stop()  # however long the login takes, the token is fresh until moved on
    token = login(served.origin)["accessToken"]
    served.clock.advance(0.3)
    r = httpx.get(f"{served.base_url}/api/v1/admin/accounts", headers=bearer(token))
    assert r.status_code == 401 and r.text == "Jwt is expired"
    assert r.headers["content-type"].startswith("text/plain")


def test_legacy_api_token_and_missing_auth(served: Served) -> None:
    url = f"{served.base_url}/api/v1/admin/accounts"
    ok = httpx.get(url, headers={"X-Auth-Token": "emulator-legacy-api-token"})
    assert ok.status_code == 200 and ok.json()[0]["accountId"] == ACCOUNT
    assert httpx.get(url, headers={"X-Auth-Token": "wrong"}).status_code == 401
    assert httpx.get(url).status_code == 401


def test_dial_groups_and_campaigns_shapes(served: Served, token: str) -> None:
    base = f"{served.base_url}/api/v1/admin/accounts/{ACCOUNT}"
    groups = httpx.get(f"{base}/dialGroups", headers=bearer(token)).json()
    assert isinstance(groups, list) and groups[0]["isActive"] is True
    assert {"dialGroupId", "dialGroupName", "dialGroupDesc", "dialMode", "isActive"} <= set(
        groups[0]
    )
    campaigns = httpx.get(f"{base}/dialGroups/4200/campaigns", headers=bearer(token)).json()
    assert [c["isActive"] for c in campaigns] == [1, 0]  # 0/1 integers, not booleans
    assert campaigns[0]["dialGroup"] == {"id": 4200, "description": "Event follow-up"}
    children = httpx.get(f"{base}/dialGroups/withChildren", headers=bearer(token)).json()
    assert [len(g["campaigns"]) for g in children] == [2, 2]
    paged = httpx.get(
        f"{base}/dialGroups", params={"page": 1, "maxRows": 1}, headers=bearer(token)
    ).json()
    assert [g["dialGroupId"] for g in paged] == [4200]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/voice/api/v1/admin/accounts/12345/dialGroups", "ACCOUNT_NOT_FOUND"),
        (
            f"/voice/api/v1/admin/accounts/{ACCOUNT}/dialGroups/999/campaigns",
            "DIAL_GROUP_NOT_FOUND",
        ),
    ],
)
def test_unknown_account_or_dial_group_is_404_with_error_body(
    served: Served, token: str, path: str, code: str
) -> None:
    r = httpx.get(f"{served.origin}{path}", headers=bearer(token))
    assert r.status_code == 404
    assert set(r.json()) == {"errorCode", "generalMessage", "details", "requestUri", "timestamp"}
    assert r.json()["errorCode"] == code


def test_unknown_campaign_is_404(served: Served, token: str) -> None:
    r = post_leads(
        served,
        token,
        [{"externId": "1", "leadPhone": "4155550100"}],
        path=LOADER.replace("136785", "999"),
    )
    assert r.status_code == 404 and r.json()["errorCode"] == "CAMPAIGN_NOT_FOUND"


def test_loader_answers_the_full_result_and_one_list_per_call(served: Served, token: str) -> None:
    r = post_leads(served, token, [{"externId": "1", "leadPhone": "4155550100"}])
    result = r.json()
    spec = json.loads((DATA / "engage_schemas.json").read_text())
    result_schema = {
        **spec["components"]["schemas"]["LeadListProcessingResult"],
        "components": spec["components"],
    }
    jsonschema.Draft4Validator(result_schema).validate(result)
    assert set(result) >= set(result_schema["properties"]) - {"uploadFileName"}
    assert (result["processingResult"], result["processingStatus"]) == (
        "OK",
        "DEFAULT_NOT_A_FAILURE",
    )
    post_leads(served, token, [{"externId": "2", "leadPhone": "4155550101"}], description="Two")
    lists = served.get("/_emulator/lists")
    assert [x["description"] for x in lists] == ["Spring", "Two"]
    assert {lead["listId"] for lead in served.leads(136785)} == {x["listId"] for x in lists}


def test_older_documented_loader_path_is_accepted(served: Served, token: str) -> None:
    old = f"/voice/api/admin/accounts/{ACCOUNT}/campaigns/136785/loader/direct"
    assert (
        post_leads(
            served, token, [{"externId": "1", "leadPhone": "4155550100"}], path=old
        ).status_code
        == 200
    )


def test_request_shape_is_checked_against_the_official_schema(served: Served, token: str) -> None:
    r = post_leads(served, token, [], dialPriority="SOMETIMES")
    assert r.status_code == 400 and "dialPriority" in r.json()["generalMessage"]
    r = post_leads(served, token, [{"externId": 5, "leadPhone": "4155550100"}])
    assert r.status_code == 400 and "uploadLeads/0/externId" in r.json()["generalMessage"]


def test_rejected_rows_carry_the_externid(served: Served, token: str) -> None:
    r = post_leads(
        served,
        token,
        [
            {"externId": "ok", "leadPhone": "4155550100"},
            {"externId": "nophone"},
            {"externId": "short", "leadPhone": "41555"},
            {"externId": "empty", "leadPhone": "4155550102", "city": ""},
        ],
    )
    result = r.json()
    assert result["leadsAccepted"] == 1 and result["leadsInserted"] == 1
    assert [(row["rowData"][0], row["message"]) for row in result["rejectedRows"]] == [
        ("nophone", "leadPhone is required"),
        ("short", "Invalid phone number"),
        ("empty", "empty value for city"),
    ]


def test_all_rejected_is_200_failed(served: Served, token: str) -> None:
    result = post_leads(served, token, [{"externId": "x", "leadPhone": "1"}]).json()
    assert (result["processingResult"], result["processingStatus"]) == (
        "Failed",
        "NO_LEADS_PASSED_VALIDATION",
    )


@pytest.mark.parametrize(
    ("mode", "phones_kept", "inserted", "deleted"),
    [
        ("RETAIN_ALL", ["old", "a", "b"], 2, 0),
        ("REMOVE_ALL_EXISTING", ["b"], 1, 2),
        ("REMOVE_FROM_LIST", ["old"], 0, 0),
    ],
)
def test_duplicate_handling_by_lead_phone(
    served: Served, token: str, mode: str, phones_kept: list[str], inserted: int, deleted: int
) -> None:
    post_leads(served, token, [{"externId": "old", "leadPhone": "4155550100"}])
    result = post_leads(
        served,
        token,
        [
            {"externId": "a", "leadPhone": "4155550100"},
            {"externId": "b", "leadPhone": "4155550100"},
        ],
        duplicateHandling=mode,
    ).json()
    assert (result["leadsInserted"], result["deletedCount"]) == (inserted, deleted)
    assert [lead["externId"] for lead in served.leads(136785)] == phones_kept


def test_duplicates_are_decided_by_phone_not_externid(served: Served, token: str) -> None:
    post_leads(served, token, [{"externId": "same", "leadPhone": "4155550100"}])
    post_leads(
        served,
        token,
        [{"externId": "same", "leadPhone": "4155550101"}],
        duplicateHandling="REMOVE_ALL_EXISTING",
    )
    assert len(served.leads(136785)) == 2


def test_max_leads_per_call(served: Served, token: str) -> None:
    assert served.emulator is not None
    served.emulator.settings.max_leads_per_call = 2
    leads = [{"externId": str(i), "leadPhone": f"415555010{i}"} for i in range(3)]
    r = post_leads(served, token, leads)
    assert r.status_code == 400 and r.json()["errorCode"] == "TOO_MANY_LEADS"
    assert post_leads(served, token, leads[:2]).status_code == 200


@pytest.mark.parametrize(
    ("limits", "scale", "sent", "ok"),
    [(((3, 1.0), (100, 60.0)), 1.0, 4, 3), (((100, 1.0), (5, 60.0)), 1.0, 6, 5)],
)
def test_rate_limits_in_both_windows(
    served: Served, token: str, limits: Any, scale: float, sent: int, ok: int
) -> None:
    assert served.emulator is not None
    served.emulator.settings.loader_limits = limits
    # windows fifty times as long (3 per 50 s): the calls fall in one however slow the machine
    served.emulator.settings.rate_scale = scale / 50
    codes = [post_leads(served, token, []).status_code for _ in range(sent)]
    assert codes.count(429) == sent - ok and codes[:ok].count(429) == 0
    assert served.get("/_emulator/stats")["loader429"] == sent - ok


def test_rate_scale_runs_the_same_pacing_faster(served: Served, token: str) -> None:
    assert served.emulator is not None and served.clock is not None
    served.emulator.settings.loader_limits = ((2, 10.0),)
    served.emulator.settings.rate_scale = 50.0  # 2 per 0.2 s
    served.clock.stop()  # the three calls come at one moment, however slow the machine
    assert [post_leads(served, token, []).status_code for _ in range(3)] == [200, 200, 429]
    served.clock.advance(1.0)  # a tenth of the unscaled window: only the scaled one is over
    assert post_leads(served, token, []).status_code == 200


@pytest.mark.parametrize("kind", ["500", "503", "429"])
def test_injected_status_faults_then_recovery(served: Served, token: str, kind: str) -> None:
    served.fault(kind, count=2)
    codes = [
        post_leads(served, token, [{"externId": "1", "leadPhone": "4155550100"}]).status_code
        for _ in range(3)
    ]
    assert codes == [int(kind), int(kind), 200]
    assert len(served.leads()) == 1


def test_injected_failed_and_reject(served: Served, token: str) -> None:
    leads = [{"externId": str(i), "leadPhone": f"415555010{i}"} for i in range(3)]
    served.fault("failed")
    failed = post_leads(served, token, leads).json()
    assert (failed["processingResult"], failed["processingStatus"]) == ("Failed", "GENERAL_FAILURE")
    assert served.leads() == []
    served.fault("reject", rows=2)
    partial = post_leads(served, token, leads).json()
    assert [row["rowData"][0] for row in partial["rejectedRows"]] == ["0", "1"]
    assert [lead["externId"] for lead in served.leads()] == ["2"]


def test_injected_hang_and_drop(served: Served, token: str) -> None:
    served.fault("hang")
    with pytest.raises(httpx.ReadTimeout):
        post_leads_timeout(served, token, 0.5)
    served.fault("drop")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        post_leads(served, token, [{"externId": "1", "leadPhone": "4155550100"}])
    assert served.leads() == []
    assert served.get("/_emulator/faults") == []


def test_a_stall_past_the_clients_timeout_still_stores_the_leads(
    served: Served, token: str
) -> None:
    """A slow server, not a broken one: the client gives up, the load happens all the same."""
    httpx.post(
        f"{served.origin}/_emulator/faults", json={"kind": "stall", "seconds": 1.0}, timeout=10
    )
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{served.origin}{LOADER}",
            headers=bearer(token),
            json={**BODY, "uploadLeads": [{"externId": "1", "leadPhone": "4155550100"}]},
            timeout=0.2,
        )
    wait_until(lambda: len(served.leads()) == 1)
    assert served.get("/_emulator/faults") == []


@pytest.mark.parametrize("endpoint", ["loader", "search", "actions"])
def test_an_expired_fault_expires_the_token_the_call_carries(
    served: Served, token: str, endpoint: str
) -> None:
    spec = {"kind": "expired", "endpoint": endpoint}
    httpx.post(f"{served.origin}/_emulator/faults", json=spec, timeout=10)
    if endpoint == "loader":
        r = post_leads(served, token, [{"externId": "1", "leadPhone": "4155550100"}])
    elif endpoint == "search":
        r = httpx.post(f"{served.origin}{SEARCH}", headers=bearer(token), json={}, timeout=10)
    else:
        r = httpx.put(
            f"{served.origin}{ACTIONS}?leadAction=CANCEL_LEADS",
            headers=bearer(token),
            json={"campaignLeadSearchCriteria": {"leadIds": [1]}},
            timeout=10,
        )
    assert (r.status_code, r.text) == (401, "Jwt is expired")
    again = post_leads(served, token, [])  # no fault left: the token itself has expired
    assert (again.status_code, again.text) == (401, "Jwt is expired")
    assert served.leads() == []


def post_leads_timeout(served: Served, token: str, timeout: float) -> httpx.Response:
    return httpx.post(
        f"{served.origin}{LOADER}",
        headers=bearer(token),
        json={**BODY, "uploadLeads": []},
        timeout=timeout,
    )


def test_fault_controls(served: Served) -> None:
    assert httpx.post(f"{served.origin}/_emulator/faults", json={"kind": "fire"}).status_code == 400
    served.fault("500", count=3)
    assert served.get("/_emulator/faults") == [{"kind": "500", "remaining": 3, "rows": 1}]
    httpx.delete(f"{served.origin}/_emulator/faults")
    assert served.get("/_emulator/faults") == []


def test_lead_search_by_each_criterion_with_paging(served: Served, token: str) -> None:
    post_leads(
        served,
        token,
        [{"externId": f"S{i}", "leadPhone": f"415555010{i}", "firstName": "Ada"} for i in range(5)],
    )
    url = f"{served.base_url}/api/v1/admin/accounts/{ACCOUNT}/campaignLeads/leadSearch"

    def search(criteria: dict[str, Any], **params: int) -> list[dict[str, Any]]:
        r = httpx.post(url, json=criteria, params=params, headers=bearer(token))
        assert r.status_code == 200
        result: list[dict[str, Any]] = r.json()
        return result

    everything = search({"campaignIds": [136785]})
    assert len(everything) == 5
    first = everything[0]
    assert {
        "leadId",
        "externId",
        "campaignId",
        "listId",
        "leadPhone",
        "leadState",
        "firstName",
    } <= set(first)
    assert [x["externId"] for x in search({"externIds": ["S1", "S3"]})] == ["S1", "S3"]
    assert [x["externId"] for x in search({"leadIds": [first["leadId"]]})] == ["S0"]
    assert [x["externId"] for x in search({"leadPhoneNumbers": ["4155550102"]})] == ["S2"]
    assert [x["externId"] for x in search({"campaignIds": [136785]}, page=1, maxRows=2)] == [
        "S2",
        "S3",
    ]
    assert search({"campaignIds": [136790]}) == []


def test_request_log_redacts_tokens(served: Served, token: str) -> None:
    post_leads(served, token, [{"externId": "1", "leadPhone": "4155550100"}])
    log = json.dumps(served.get("/_emulator/requests"))
    assert token not in log and "emulator-client-secret" not in log
    assert "emulator-jwt-assertion" not in log
    assert '"path": "/restapi/oauth/token"' in log and "[redacted]" in log


def test_documented_example_bodies_are_accepted(served: Served, token: str) -> None:
    # the guide's own example sends auxData as numbers; the spec says strings: the emulator (like
    # engage-sync, which always sends text) follows the spec, and the guide's text-valued
    # example passes
    example = {
        "description": "Loaded via API",
        "dialPriority": "IMMEDIATE",
        "duplicateHandling": "REMOVE_FROM_LIST",
        "listState": "ACTIVE",
        "timeZoneOption": "NPA_NXX",
        "uploadLeads": [
            {
                "externId": "1",
                "leadPhone": "6505550100",
                "title": "Mr",
                "firstName": "John",
                "lastName": "Doe",
                "address1": "123 Main St",
                "city": "San Mateo",
                "state": "CA",
                "zip": "94403",
                "email": "john@example.com",
                "auxData1": "500",
                "extendedLeadData": {"important": "data"},
            }
        ],
        "dncTags": [],
    }
    r = httpx.post(f"{served.origin}{LOADER}", headers=bearer(token), json=example)
    assert r.status_code == 200 and r.json()["leadsInserted"] == 1


def test_seed_file_replaces_the_demo_account(tmp_path: Path) -> None:
    seed = write(
        tmp_path / "seed.yaml",
        """
accounts:
  - accountId: "42"
    dialGroups:
      - {dialGroupId: 1, dialGroupName: G, campaigns: [{campaignId: 7, campaignName: Seven}]}
credentials: {apiTokens: [my-token]}
settings: {tokenTtl: 60, maxLeadsPerCall: 5}
""",
    )
    served = start_emulator("--seed", str(seed))
    try:
        r = httpx.get(
            f"{served.base_url}/api/v1/admin/accounts/42/dialGroups/1/campaigns",
            headers={"X-Auth-Token": "my-token"},
        )
        assert r.json()[0]["campaignName"] == "Seven"
        demo = httpx.get(
            f"{served.base_url}/api/v1/admin/accounts/{ACCOUNT}/dialGroups",
            headers={"X-Auth-Token": "my-token"},
        )
        assert demo.status_code == 404
    finally:
        assert stop_emulator(served) == 0


def test_bad_seed_is_a_clear_error(tmp_path: Path) -> None:
    from conftest import engage_sync

    seed = write(tmp_path / "seed.yaml", "nothing: here\n")
    r = engage_sync("emulator", "--port", "0", "--seed", str(seed))
    assert r.code == 1 and "a seed needs an `accounts:` list" in r.err and "Traceback" not in r.err


def test_data_file_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "emulator.db"
    served = start_emulator("--data", str(data))
    try:
        token = login(served.origin)["accessToken"]
        assert (
            post_leads(served, token, [{"externId": "keep", "leadPhone": "4155550100"}]).status_code
            == 200
        )
    finally:
        assert stop_emulator(served) == 0
    again = start_emulator("--data", str(data))
    try:
        assert [lead["externId"] for lead in again.leads()] == ["keep"]
    finally:
        stop_emulator(again)


def test_start_prints_base_url_and_credentials_and_stops_on_sigterm() -> None:
    import signal
    import subprocess

    from conftest import ENGAGE_SYNC

    with subprocess.Popen(
        [ENGAGE_SYNC, "emulator", "--port", "0"], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(8)]
        proc.send_signal(signal.SIGTERM)
        rest = proc.stdout.read()
        assert proc.wait(timeout=10) == 0
    assert "listening on http://127.0.0.1:" in lines[0]
    assert lines[2].startswith("export ENGAGE_BASE_URL=http://127.0.0.1:")
    assert lines[2].rstrip().endswith("/voice")
    assert "export RINGCENTRAL_JWT=emulator-jwt-assertion\n" in lines
    assert "emulator stopped" in rest


def test_in_process_transport_reaches_the_same_app() -> None:
    emu = Emulator(default_seed(), Settings())
    with httpx.Client(transport=httpx.WSGITransport(app=emu), base_url="http://emulator") as client:
        r = client.get(
            f"/voice/api/v1/admin/accounts/{ACCOUNT}/dialGroups",
            headers={"X-Auth-Token": "emulator-legacy-api-token"},
        )
    emu.store.close()
    assert r.status_code == 200 and len(r.json()) == 2


def test_a_call_counts_against_the_limits_when_it_arrived() -> None:
    """A busy emulator handles a call later than it arrived; the real server counts it on
    arrival, and so does the emulator (else a client pacing by when it sent would meet 429s
    no server would send)."""
    emu = Emulator(default_seed(), Settings())
    emu.shared.clock = lambda: 20.0  # handled at 20 s
    limits = ((1, 10.0),)
    emu.shared.limit("1", "loader", limits, arrived=0.0)
    with pytest.raises(HttpError):  # arrived 5 s after the first: within its 10 s
        emu.shared.limit("1", "loader", limits, arrived=5.0)
    emu.shared.limit("1", "loader", limits)  # no arrival known: now, 20 s after the first
    assert emu.shared.stats["loader429"] == 1
    emu.store.close()


def test_the_server_takes_every_connection_of_a_burst() -> None:
    seen: list[Any] = []

    class Echo:
        clock = staticmethod(time.monotonic)

        def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
            seen.append(environ.get("emulator.arrived"))
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]

    server = serve(cast(Any, Echo()), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    began = time.monotonic()
    try:
        host, port = server.server_address[:2]
        # more connections at once than the standard library's backlog of 5
        with ThreadPoolExecutor(40) as pool:
            codes = list(
                pool.map(lambda _: httpx.get(f"http://{host}:{port}/x").status_code, range(40))
            )
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert codes == [200] * 40
    assert server.request_queue_size >= 30  # a loader burst waits in the kernel, not dropped
    assert all(began <= t <= time.monotonic() for t in seen), seen


@pytest.mark.skipif(not hasattr(socket, "TCP_INFO"), reason="the kernel's record is Linux's")
def test_a_call_counts_from_when_its_bytes_came_not_when_it_was_accepted() -> None:
    """A busy emulator may accept a connection long after its request came in: the call is
    counted from when the kernel received it, as a real server counts it."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    try:
        client.sendall(b"POST /x HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
        came = time.monotonic()
        time.sleep(0.5)  # the emulator busy elsewhere
        connection, address = listener.accept()
        late = Address(address)
        late.arrived = time.monotonic()
        got = received(connection, late, time.monotonic)
        connection.close()
    finally:
        client.close()
        listener.close()
    assert got is not None and got < late.arrived - 0.3
    assert got <= came + 0.05  # the kernel had it before sendall returned


# -- who may talk to the emulator on a socket (issue #29, finding 7) -------------------------------
ADMIN_TOKEN = "admin-token-0123456789abcdef"


@contextlib.contextmanager
def guarded(settings: Settings | None = None, **options: Any) -> Iterator[tuple[Served, int]]:
    """The emulator on a loopback socket with these guard options: (served, port)."""
    emu = Emulator(default_seed(), settings or Settings())
    server = serve(emu, "127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    port = int(server.server_address[1])
    try:
        yield Served(f"http://127.0.0.1:{port}", emulator=emu), port
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        emu.store.close()


def refused(*args: str) -> str:
    """`engage-sync emulator ARGS`: it must refuse before listening; its error line."""
    from conftest import ENGAGE_SYNC

    with subprocess.Popen(
        [ENGAGE_SYNC, "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("ENGAGE_SYNC_")},
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        try:
            first = proc.stdout.readline()  # empty: it exited without listening
            assert "listening" not in first, f"it listens: {first}"
            assert proc.wait(timeout=30) == 1
            return proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--host", "0.0.0.0"), "reachable from other machines"),
        (("--host", "::"), "reachable from other machines"),
        (("--host", "0.0.0.0", "--allow-remote"), "needs --admin-token"),
        (("--host", "0.0.0.0", "--allow-remote", "--admin-token", "short"), "at least 16"),
        (("--host", "0.0.0.0", "--allow-remote", "--admin-token", ADMIN_TOKEN), "--allowed-host"),
        (("--allowed-host", "emulator.test"), "needs --allow-remote"),
    ],
)
def test_an_address_others_can_reach_needs_allow_remote_and_an_admin_token(
    args: tuple[str, ...], said: str
) -> None:
    assert said in refused(*args)


def test_what_a_remote_emulator_answers_to() -> None:
    from engage_sync.cli.emulator import _reachable_as

    assert _reachable_as("0.0.0.0", True, ADMIN_TOKEN, ("emu.test",), False) == ["emu.test"]
    assert _reachable_as("10.1.2.3", True, ADMIN_TOKEN, (), False) == ["10.1.2.3"]
    assert _reachable_as("::1", False, None, (), True) == []


@pytest.mark.e2e
def test_a_remote_emulator_asks_for_its_admin_token_and_answers_its_named_host() -> None:
    served = start_emulator(
        "--allow-remote", "--admin-token", ADMIN_TOKEN, "--allowed-host", "emulator.test"
    )
    try:
        port = served.origin.rsplit(":", 1)[1]
        assert served.origin == f"http://emulator.test:{port}"  # the banner names that host
        local = f"http://127.0.0.1:{port}"
        named = {"Host": f"emulator.test:{port}"}
        assert httpx.get(f"{local}/_emulator/stats", headers=named).status_code == 401
        wrong = {**named, "Authorization": "Bearer " + "x" * len(ADMIN_TOKEN)}
        assert httpx.get(f"{local}/_emulator/stats", headers=wrong).status_code == 401
        right = {**named, "Authorization": f"Bearer {ADMIN_TOKEN}"}
        assert httpx.get(f"{local}/_emulator/stats", headers=right).status_code == 200
        fault = httpx.post(f"{local}/_emulator/faults", json={"kind": "500"}, headers=right)
        assert fault.status_code == 200
        # the Engage API needs its own credentials, not the admin token
        assert rc_token(local).status_code == 200
        other = {"Host": f"evil.test:{port}", "Authorization": f"Bearer {ADMIN_TOKEN}"}
        assert httpx.get(f"{local}/_emulator/stats", headers=other).status_code == 421
    finally:
        assert stop_emulator(served) == 0


def test_the_admin_token_guards_every_admin_endpoint_and_only_those() -> None:
    with guarded(admin_token=ADMIN_TOKEN) as (served, _):
        for method, path in (("GET", "leads"), ("GET", "requests"), ("DELETE", "faults")):
            r = httpx.request(method, f"{served.origin}/_emulator/{path}")
            assert r.status_code == 401 and r.json()["errorCode"] == "ADMIN_TOKEN_REQUIRED"
        r = httpx.post(f"{served.origin}/_emulator/faults", json={"kind": "500"})
        assert r.status_code == 401
        assert served.emulator is not None and served.emulator.faults == []
        assert login(served.origin)["accessToken"]  # the API itself is not behind it


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:{port}",
        "127.0.0.1:1",
        "127.0.0.1",
        "localhost.evil.example:{port}",
        "::",
        "evil.example@127.0.0.1:{port}",
        "127.0.0.1:{port}/x",
    ],
)
def test_a_host_header_that_names_another_server_is_refused(served: Served, host: str) -> None:
    port = served.origin.rsplit(":", 1)[1]
    header = {"Host": host.format(port=port)}
    for r in (
        httpx.get(f"{served.origin}/_emulator/leads", headers=header),
        rc_token_with(served.origin, header),
    ):
        assert r.status_code == 421 and r.json()["errorCode"] == "HOST_NOT_ALLOWED"


def rc_token_with(origin: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{origin}/restapi/oauth/token",
        auth=("emulator-client-id", "emulator-client-secret"),
        data={"grant_type": JWT_GRANT, "assertion": "emulator-jwt-assertion"},
        headers=headers,
    )


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "127.0.0.2:{port}"]
)
def test_loopback_names_with_the_port_are_answered(served: Served, host: str) -> None:
    port = served.origin.rsplit(":", 1)[1]
    r = httpx.get(f"{served.origin}/_emulator/stats", headers={"Host": host.format(port=port)})
    assert r.status_code == 200


def test_a_request_without_a_host_header_is_refused(served: Served) -> None:
    host, port = served.origin.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=120) as conn:  # a bound
        conn.sendall(b"GET /_emulator/stats HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 421 ")


@pytest.mark.parametrize(
    "content",
    [
        {"content": b'{"kind": "500"}', "headers": {"Content-Type": "text/plain"}},
        {"data": {"kind": "500"}},  # a form, as a page's <form> posts it
        {"content": b'{"kind": "500"}'},  # no Content-Type at all
        {"content": b'{"kind": "500"}', "headers": {"Content-Type": "application/jsonx"}},
    ],
    ids=["text/plain", "form", "none", "jsonx"],
)
def test_an_admin_post_that_is_not_json_is_refused(served: Served, content: Any) -> None:
    r = httpx.post(f"{served.origin}/_emulator/faults", **content)
    assert r.status_code == 415 and r.json()["errorCode"] == "JSON_REQUIRED"
    assert served.get("/_emulator/faults") == []
    typed = {"Content-Type": "Application/JSON; charset=utf-8"}
    ok = httpx.post(f"{served.origin}/_emulator/faults", content=b'{"kind": "500"}', headers=typed)
    assert ok.status_code == 200 and len(served.get("/_emulator/faults")) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_request_from_another_origin_is_refused(served: Served, headers: dict[str, str]) -> None:
    r = httpx.post(f"{served.origin}/_emulator/faults", json={"kind": "500"}, headers=headers)
    assert r.status_code == 403 and r.json()["errorCode"] == "CROSS_ORIGIN"
    assert httpx.get(f"{served.origin}/_emulator/requests", headers=headers).status_code == 403
    assert served.get("/_emulator/faults") == []
    same = {"Origin": served.origin, "Sec-Fetch-Site": "same-origin"}
    ok = httpx.post(f"{served.origin}/_emulator/faults", json={"kind": "500"}, headers=same)
    assert ok.status_code == 200


def test_the_request_log_keeps_the_last_n_requests() -> None:
    with guarded(Settings(request_log=3)) as (served, _):
        for n in range(5):
            httpx.get(f"{served.base_url}/api/v1/admin/accounts/{n}/dialGroups")
        kept = served.get("/_emulator/requests")
        assert [r["path"].split("/")[-2] for r in kept] == ["2", "3", "4"]
        assert served.get("/_emulator/stats")["requestsDropped"] == 2


def test_the_request_log_size_comes_from_the_seed_or_the_command_line() -> None:
    assert Settings.from_seed({"requestLog": 7}).request_log == 7
    assert Settings().request_log == 10_000
    served = start_emulator("--request-log", "1")
    try:
        for _ in range(3):
            rc_token(served.origin)
        assert len(served.get("/_emulator/requests")) == 1
        assert served.get("/_emulator/stats")["requestsDropped"] == 2
    finally:
        stop_emulator(served)
