"""The emulator's WSGI application (emulator/app.py) called in-process through httpx's WSGI
transport, no socket: the settings a seed gives, how a path is routed (the legacy base URL, the
versioned and unversioned loader, an account the token does not reach), the error body, the
request log, and the inspection and fault controls under /_emulator/. Each endpoint's behaviour
over a real socket is in test_emulator.py; the store behind them in test_emulator_store.py."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import Clock

from engage_sync.emulator import Emulator, Settings, default_seed
from engage_sync.emulator.shared import Token

ACCOUNT = "99990001"
ADMIN = f"/voice/api/v1/admin/accounts/{ACCOUNT}"
LEGACY = {"X-Auth-Token": "emulator-legacy-api-token"}
LIST = {
    "description": "Spring",
    "dialPriority": "NORMAL",
    "duplicateHandling": "RETAIN_ALL",
    "timeZoneOption": "NPA_NXX",
    "listState": "ACTIVE",
}


def make(settings: Settings | None = None, seed: dict[str, Any] | None = None) -> Emulator:
    return Emulator(seed or default_seed(), settings or Settings())


@pytest.fixture
def emu() -> Iterator[Emulator]:
    e = make()
    yield e
    e.store.close()


def client(emu: Emulator) -> httpx.Client:
    return httpx.Client(transport=httpx.WSGITransport(app=emu), base_url="http://emulator")


def post_leads(emu: Emulator, *leads: dict[str, Any], path: str = "") -> httpx.Response:
    path = path or f"{ADMIN}/campaigns/136785/leadLoader/direct"
    with client(emu) as c:
        return c.post(path, headers=LEGACY, json={**LIST, "uploadLeads": list(leads)})


# -- settings ------------------------------------------------------------------------------------
def test_a_seeds_settings_take_the_type_of_the_default_and_others_are_ignored() -> None:
    s = Settings.from_seed(
        {
            "tokenTtl": "60",
            "rateScale": 2,
            "maxLeadsPerCall": "10",
            "ignoreExternIds": 1,
            "loaderStatus": "201",
            "loaderLimits": [["3", "1.5"], [9, 60]],
            "somethingElse": "kept out",
        }
    )
    assert (s.token_ttl, s.rate_scale, s.max_leads_per_call) == (60.0, 2.0, 10)
    assert s.ignore_extern_ids is True and s.loader_status == 201
    assert s.loader_limits == ((3, 1.5), (9, 60.0))
    assert not hasattr(s, "somethingElse") and Settings.from_seed({}) == Settings()


# -- routing -------------------------------------------------------------------------------------
def test_an_unknown_path_is_a_404_with_the_engage_error_body(emu: Emulator) -> None:
    with client(emu) as c:
        r = c.get("/nowhere", headers=LEGACY)
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["errorCode"] == "NOT_FOUND" and body["requestUri"] == "/nowhere"
    assert body["generalMessage"] == body["details"] == "no such endpoint: GET /nowhere"
    assert body["timestamp"].endswith(".000+0000")


def test_a_legacy_base_url_without_voice_and_a_trailing_slash_reach_the_same_endpoint(
    emu: Emulator,
) -> None:
    with client(emu) as c:
        voiced = c.get(f"{ADMIN}/dialGroups", headers=LEGACY)
        legacy = c.get(f"/api/v1/admin/accounts/{ACCOUNT}/dialGroups/", headers=LEGACY)
    assert voiced.status_code == legacy.status_code == 200
    assert voiced.json() == legacy.json()
    assert [g["dialGroupId"] for g in voiced.json()] == [4100, 4200]


def test_the_account_list_names_the_accounts_a_credential_reaches(emu: Emulator) -> None:
    with client(emu) as c:
        r = c.get("/voice/api/v1/admin/accounts", headers=LEGACY)
        nobody = c.get("/voice/api/v1/admin/accounts")
    assert r.status_code == 200 and [a["accountId"] for a in r.json()] == [ACCOUNT]
    assert nobody.status_code == 401


def test_an_account_of_the_seed_the_token_does_not_reach_is_403() -> None:
    seed = default_seed()
    other = copy.deepcopy(seed["accounts"][0]) | {"accountId": "99990002"}
    seed["accounts"].append(other)
    emu = make(seed=seed)
    emu.tokens["only-the-first"] = Token("engage", time.monotonic() + 3600, (ACCOUNT,))
    bearer = {"Authorization": "Bearer only-the-first"}
    try:
        with client(emu) as c:
            mine = c.get(f"{ADMIN}/dialGroups", headers=bearer)
            theirs = c.get("/voice/api/v1/admin/accounts/99990002/dialGroups", headers=bearer)
            listed = c.get("/voice/api/v1/admin/accounts", headers=bearer)
    finally:
        emu.store.close()
    assert mine.status_code == 200
    assert theirs.status_code == 403 and theirs.json()["errorCode"] == "FORBIDDEN"
    assert [a["accountId"] for a in listed.json()] == [ACCOUNT]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"{ADMIN}/campaigns/136785/leadLoader/direct", 200),  # the versioned API's name
        (f"/voice/api/admin/accounts/{ACCOUNT}/campaigns/136785/loader/direct", 200),  # older
        (f"{ADMIN}/campaigns/136785/loader/direct", 404),  # neither mixed with the other
        (f"/voice/api/admin/accounts/{ACCOUNT}/campaigns/136785/leadLoader/direct", 404),
    ],
)
def test_the_loader_answers_on_each_apis_own_path_only(
    emu: Emulator, path: str, status: int
) -> None:
    assert post_leads(emu, {"externId": "A", "leadPhone": "4155550100"}, path=path).status_code == (
        status
    )


def test_the_loader_answers_with_the_status_the_settings_give() -> None:
    emu = make(Settings(loader_status=201))
    try:
        r = post_leads(emu, {"externId": "A", "leadPhone": "4155550100"})
    finally:
        emu.store.close()
    assert r.status_code == 201 and r.json()["leadsInserted"] == 1


def test_the_accounts_other_endpoints_are_on_the_versioned_api_and_their_method_only(
    emu: Emulator,
) -> None:
    with client(emu) as c:
        unversioned = c.get(f"/voice/api/admin/accounts/{ACCOUNT}/dialGroups", headers=LEGACY)
        wrong_method = c.post(f"{ADMIN}/dialGroups", headers=LEGACY, json={})
        campaigns = c.get(f"{ADMIN}/dialGroups/4200/campaigns", headers=LEGACY)
        children = c.get(f"{ADMIN}/dialGroups/withChildren", headers=LEGACY)
    assert unversioned.status_code == wrong_method.status_code == 404
    assert [x["campaignId"] for x in campaigns.json()] == [136790, 136799]
    assert [x["isActive"] for x in campaigns.json()] == [1, 0]
    assert campaigns.json()[0]["dialGroup"]["id"] == 4200
    assert [len(g["campaigns"]) for g in children.json()] == [2, 2]


def test_dial_groups_page_when_asked_and_refuse_a_bad_page(emu: Emulator) -> None:
    with client(emu) as c:
        second = c.get(f"{ADMIN}/dialGroups", params={"page": 1, "maxRows": 1}, headers=LEGACY)
        past = c.get(f"{ADMIN}/dialGroups", params={"page": 5, "maxRows": 1}, headers=LEGACY)
        bad = c.get(f"{ADMIN}/dialGroups", params={"page": "x"}, headers=LEGACY)
        negative = c.get(f"{ADMIN}/dialGroups", params={"maxRows": 0}, headers=LEGACY)
    assert [g["dialGroupId"] for g in second.json()] == [4200] and past.json() == []
    assert bad.status_code == negative.status_code == 400
    assert bad.json()["generalMessage"] == "page and maxRows must be whole numbers"


def test_a_429_says_when_to_come_back_in_whole_seconds_at_least_one() -> None:
    clock = Clock()
    clock.stop()  # the window is still open at the second call however slow the machine
    emu = Emulator(default_seed(), Settings(loader_limits=((1, 0.2),)), clock=clock)
    try:
        post_leads(emu, {"externId": "A", "leadPhone": "4155550100"})
        r = post_leads(emu, {"externId": "B", "leadPhone": "4155550101"})
    finally:
        emu.store.close()
    assert r.status_code == 429 and r.headers["retry-after"] == "1"


# -- the request log -----------------------------------------------------------------------------
def test_the_log_keeps_api_calls_with_secrets_redacted_and_not_the_admin_calls(
    emu: Emulator,
) -> None:
    with client(emu) as c:
        c.post(
            "/api/auth/login/rc/accesstoken",
            params={"includeRefresh": "true", "rcAccessToken": "in-the-query"},
            data={"clientName": "a tool", "password": "hunter2-secret"},
        )
        post_leads(emu, {"externId": "A", "leadPhone": "4155550100"})
        c.get("/_emulator/stats")
        log = c.get("/_emulator/requests").json()
    login, load = log
    assert login["query"] == {"includeRefresh": "true", "rcAccessToken": "[redacted]"}
    assert login["body"] == {"clientName": "a tool", "password": "[redacted]"}
    assert login["status"] == 401 and "hunter2" not in str(log) and "in-the-query" not in str(log)
    assert load["method"] == "POST" and load["status"] == 200
    assert load["body"]["uploadLeads"] == [{"externId": "A", "leadPhone": "4155550100"}]
    with client(emu) as c:
        assert c.delete("/_emulator/requests").json() == {"cleared": True}
        assert c.get("/_emulator/requests").json() == []


# -- inspection and faults -----------------------------------------------------------------------
def test_leads_inserted_by_hand_are_listed_apart_and_by_campaign(emu: Emulator) -> None:
    post_leads(emu, {"externId": "A", "leadPhone": "4155550100"})
    by_hand = {
        "accountId": ACCOUNT,
        "campaignId": 136790,
        "leads": [{"externId": "H-1", "leadPhone": "4155550101"}],
    }
    with client(emu) as c:
        inserted = c.post("/_emulator/leads", json=by_hand).json()
        every = c.get("/_emulator/leads").json()
        second = c.get("/_emulator/leads", params={"campaignId": 136790}).json()
        lists = c.get("/_emulator/lists").json()
    assert inserted["inserted"] == 1 and inserted["listId"] == lists[-1]["listId"]
    assert [r["externId"] for r in every] == ["A", "H-1"]
    assert [(r["externId"], r["listDescription"]) for r in second] == [("H-1", "loaded by hand")]
    assert [x["description"] for x in lists] == ["Spring", "loaded by hand"]


def test_lead_states_set_by_id_or_by_phone_in_one_campaign(emu: Emulator) -> None:
    post_leads(emu, {"externId": "A", "leadPhone": "4155550100"})
    by_hand = {"accountId": ACCOUNT, "campaignId": 136790}
    with client(emu) as c:
        c.post(
            "/_emulator/leads",
            json=by_hand | {"leads": [{"externId": "B", "leadPhone": "(415) 555-0100"}]},
        )
        a = c.get("/_emulator/leads").json()[0]["leadId"]
        by_id = c.post("/_emulator/leads/state", json={"leadIds": [a], "suppressed": True})
        by_phone = c.post(
            "/_emulator/leads/state",
            json={"phone": "+14155550100", "campaignId": 136790, "leadState": "complete"},
        )
        rows = {r["externId"]: r for r in c.get("/_emulator/leads").json()}
        not_an_object = c.post("/_emulator/leads/state", json=[a])
    assert by_id.json() == {"changed": 1} and by_phone.json() == {"changed": 1}
    assert (rows["A"]["leadState"], rows["A"]["suppressed"]) == ("READY", True)
    assert (rows["B"]["leadState"], rows["B"]["suppressed"]) == ("COMPLETE", False)
    assert not_an_object.status_code == 400
    assert not_an_object.json()["generalMessage"] == "a JSON object is expected"


def test_faults_are_added_listed_with_their_endpoint_and_cleared(emu: Emulator) -> None:
    with client(emu) as c:
        c.post("/_emulator/faults", json={"kind": "500", "count": 2})
        listed = c.post("/_emulator/faults", json={"kind": "hang", "endpoint": "search"}).json()
        bad_endpoint = c.post("/_emulator/faults", json={"kind": "500", "endpoint": "everywhere"})
        bad_kind = c.post("/_emulator/faults", json={})
        cleared = c.delete("/_emulator/faults").json()
    assert listed == [
        {"kind": "500", "remaining": 2, "rows": 1},
        {"kind": "hang", "remaining": 1, "rows": 1, "endpoint": "search"},
    ]
    assert bad_endpoint.status_code == bad_kind.status_code == 400
    assert (
        bad_endpoint.json()["generalMessage"] == "endpoint must be one of loader, search, actions"
    )
    assert bad_kind.json()["errorCode"] == "BAD_FAULT" and cleared == []


def test_an_injected_fault_strikes_the_next_call_then_the_endpoint_recovers(emu: Emulator) -> None:
    with client(emu) as c:
        c.post("/_emulator/faults", json={"kind": "503"})
        failed = post_leads(emu, {"externId": "A", "leadPhone": "4155550100"})
        ok = post_leads(emu, {"externId": "A", "leadPhone": "4155550100"})
        stats = c.get("/_emulator/stats").json()
    assert failed.status_code == 503 and ok.status_code == 200
    assert stats["loaderCalls"] == 2


def test_an_unknown_admin_path_is_a_404(emu: Emulator) -> None:
    with client(emu) as c:
        r = c.get("/_emulator/nothing")
    assert r.status_code == 404
    assert r.json()["generalMessage"] == "no such emulator endpoint: /_emulator/nothing"


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/_emulator/leads/state", {"leadIds": ["x"]}, "leadIds must be a whole number, not 'x'"),
        ("/_emulator/leads/state", {"leadIds": 7}, "leadIds must be a list"),
        (
            "/_emulator/leads/state",
            {"phone": "4155550100", "campaignId": "one"},
            "campaignId must be a whole number, not 'one'",
        ),
        ("/_emulator/faults", {"kind": "500", "count": "many"}, "count must be a whole number"),
        ("/_emulator/faults", {"kind": "500", "rows": None}, "rows must be a whole number"),
        ("/_emulator/faults", ["500"], "a JSON object is expected"),
        ("/_emulator/leads", {"campaignId": "abc"}, "campaignId must be a whole number"),
        ("/_emulator/leads", {"campaignId": 5, "leads": ["A"]}, "leads must be a list of JSON"),
        ("/_emulator/leads", [1], "a JSON object is expected"),
    ],
)
def test_an_admin_request_with_a_value_of_the_wrong_type_is_a_400_that_names_it(
    emu: Emulator, path: str, body: Any, message: str
) -> None:
    """Not an exception out of the application (a 500 and a traceback in the server's log)."""
    with client(emu) as c:
        r = c.post(path, json=body)
        assert c.get("/_emulator/faults").json() == [] and c.get("/_emulator/lists").json() == []
    assert r.status_code == 400 and r.json()["errorCode"] == "BAD_REQUEST"
    assert r.json()["generalMessage"].startswith(message)


def test_a_campaign_filter_on_the_lead_listing_that_is_no_number_is_a_400(emu: Emulator) -> None:
    with client(emu) as c:
        r = c.get("/_emulator/leads", params={"campaignId": "all"})
    assert r.status_code == 400
    assert r.json()["generalMessage"] == "campaignId must be a whole number, not 'all'"
