"""The Engage client, fast and deterministic: the emulator in-process via httpx's WSGI transport."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from engage_sync.emulator import Emulator, Settings, default_seed
from engage_sync.engage.answers import ActionResult, Campaign, DialGroup, LoadResult
from engage_sync.engage.auth import AuthMode, Credentials, check_url, credentials_from_env
from engage_sync.engage.client import EngageClient, RedactingFilter, backoff
from engage_sync.engage.hosts import ENGAGE_HOSTS, check_host
from engage_sync.errors import AnswerLost, ApiError, AuthError, ConfigError, TransientApiError
from engage_sync.ratelimit import SlidingWindows, parse_limits
from engage_sync.settings.ci_vars import CI_VARIABLES

JWT = Credentials(
    AuthMode.JWT,
    "emulator-jwt-assertion",
    "emulator-client-id",
    "emulator-client-secret",
    "http://127.0.0.1",
)
ACCOUNT = "99990001"
BODY = {
    "description": "t",
    "dialPriority": "NORMAL",
    "duplicateHandling": "RETAIN_ALL",
    "timeZoneOption": "NPA_NXX",
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[Emulator]:
    e = Emulator(default_seed(), Settings(), clock=clock)
    yield e
    e.store.close()


def make(emu: Emulator, clock: FakeClock, creds: Credentials = JWT, **kw: Any) -> EngageClient:
    return EngageClient(
        "http://127.0.0.1/voice",
        creds,
        transport=httpx.WSGITransport(app=emu),
        sleep=clock.sleep,
        clock=clock,
        **kw,
    )


def mocked(handler: Any, clock: FakeClock) -> EngageClient:
    """A client whose every request goes to `handler` (an httpx.MockTransport)."""
    return EngageClient(
        "https://engage.example/voice",
        Credentials(AuthMode.API_TOKEN, "t"),
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock,
    )


def lead(i: int) -> dict[str, str]:
    return {"externId": f"L{i}", "leadPhone": f"415555{i:04d}"}


def test_jwt_login_happens_once_for_many_calls(emu: Emulator, clock: FakeClock) -> None:
    with make(emu, clock) as client:
        for _ in range(5):
            client.dial_groups_with_campaigns(ACCOUNT)
        assert client.tokens.logins == 1
    assert emu.stats["exchangeCalls"] == 1


def test_token_is_refreshed_before_it_expires(emu: Emulator, clock: FakeClock) -> None:
    with make(emu, clock) as client:
        client.request("GET", "/api/v1/admin/accounts")
        clock.now += 280  # past the 300 s lifetime minus the margin
        client.request("GET", "/api/v1/admin/accounts")
        assert (client.tokens.logins, client.tokens.refreshes) == (1, 1)


def test_jwt_is_expired_refreshes_once_and_retries(emu: Emulator, clock: FakeClock) -> None:
    emu.settings.token_ttl = 10
    with make(emu, clock) as client:
        client.request("GET", "/api/v1/admin/accounts")
        clock.now += 20
        assert isinstance(client.request("GET", "/api/v1/admin/accounts"), list)
        assert client.tokens.refreshes == 1


def test_expired_ready_access_token_is_a_clear_error(emu: Emulator, clock: FakeClock) -> None:
    emu.settings.token_ttl = 10
    token = emu.mint_access_token()
    clock.now += 20
    creds = Credentials(AuthMode.ACCESS_TOKEN, token)
    with make(emu, clock, creds) as client, pytest.raises(AuthError, match="has expired") as e:
        client.request("GET", "/api/v1/admin/accounts")
    assert token not in str(e.value)


def test_api_token_is_sent_as_x_auth_token(emu: Emulator, clock: FakeClock) -> None:
    creds = Credentials(AuthMode.API_TOKEN, "emulator-legacy-api-token")
    with make(emu, clock, creds) as client:
        assert client.request("GET", "/api/v1/admin/accounts")[0]["accountId"] == ACCOUNT
    assert emu.stats["exchangeCalls"] == 0


def test_wrong_credentials_are_not_retried(emu: Emulator, clock: FakeClock) -> None:
    creds = Credentials(
        AuthMode.JWT, "wrong", "emulator-client-id", "emulator-client-secret", "http://127.0.0.1"
    )
    with make(emu, clock, creds) as client, pytest.raises(AuthError, match="credentials refused"):
        client.request("GET", "/api/v1/admin/accounts")


@pytest.mark.parametrize("kind", ["500", "503", "429", "drop"])
def test_transient_failures_of_repeatable_calls_are_retried_with_backoff(
    emu: Emulator, clock: FakeClock, kind: str
) -> None:
    from engage_sync.emulator.app import Fault

    with make(emu, clock) as client:
        client.load_leads(ACCOUNT, 136785, {**BODY, "uploadLeads": [lead(1)]})
        emu.faults.append(Fault(kind, 2, endpoint="search"))
        (found,) = client.leads.search(ACCOUNT, 136785, ["L1"])
        assert found.extern_id == "L1"
        assert client.stats["retries"] == 2


def test_a_loader_call_answered_429_is_handed_back_and_holds_every_call(
    emu: Emulator, clock: FakeClock
) -> None:
    """A 429 means the server did nothing: the loader gets it back at once (reconcile/loader.py
    journals the batch as not sent and sends it again), and the endpoint's windows hold every
    call for the wait the server asked."""
    from engage_sync.emulator.app import Fault

    emu.faults.append(Fault("429", 1))
    with make(emu, clock) as client:
        with pytest.raises(TransientApiError) as refused:
            client.load_leads(ACCOUNT, 136785, {**BODY, "uploadLeads": [lead(1)]})
        assert refused.value.status == 429 and not refused.value.may_have_acted
        assert client.stats["throttled"] == 1 and client.stats["retries"] == 0
        assert client.pacer("loader", ACCOUNT).wait_time() > 0  # held for the backoff
        clock.sleep(client.pacer("loader", ACCOUNT).wait_time())
        result = client.load_leads(ACCOUNT, 136785, {**BODY, "uploadLeads": [lead(1)]})
        assert result.inserted == 1


def test_a_search_answered_429_is_retried_after_the_wait_the_server_asked(
    emu: Emulator, clock: FakeClock
) -> None:
    from engage_sync.emulator.app import Fault

    emu.faults.append(Fault("429", 2, endpoint="search"))
    with make(emu, clock) as client:
        assert client.leads.search(ACCOUNT, 136785, ["L1"]) == []
        assert client.stats["throttled"] == 2 and client.stats["retries"] == 2


def test_a_client_remembers_the_calls_of_an_earlier_run_in_wall_clock_time(
    emu: Emulator, clock: FakeClock
) -> None:
    wall = FakeClock()
    wall.now = 1_800_000_000.0  # a wall clock far from the monotonic one
    with make(emu, clock, wall=wall, loader_limits=((2, 10.0),)) as client:
        client.remember({("loader", ACCOUNT): [wall.now - 1.0, wall.now - 0.5]})
        pacer = client.pacer("loader", ACCOUNT)
        assert 8.5 < pacer.wait_time() <= 9.5  # the older call leaves the window in 9 s (+margin)
        recent = client.recent_calls()[("loader", ACCOUNT)]
        assert recent == pytest.approx([wall.now - 1.0, wall.now - 0.5])


@pytest.mark.parametrize("kind", ["500", "503", "drop", "lost"])
def test_a_loader_answer_that_may_hide_a_load_is_never_posted_again_blindly(
    emu: Emulator, clock: FakeClock, kind: str
) -> None:
    from engage_sync.emulator.app import Fault
    from engage_sync.errors import AnswerLost

    emu.faults.append(Fault(kind, 10))
    with make(emu, clock, max_retries=3) as client, pytest.raises(AnswerLost):
        client.load_leads(ACCOUNT, 136785, {**BODY, "uploadLeads": [lead(1)]})
    assert emu.stats["loaderCalls"] == 1
    assert len(emu.store.all_leads(136785)) == (1 if kind == "lost" else 0)


def test_retries_are_bounded(emu: Emulator, clock: FakeClock) -> None:
    from engage_sync.emulator.app import Fault

    emu.faults.append(Fault("503", 10, endpoint="search"))
    with make(emu, clock, max_retries=3) as client, pytest.raises(TransientApiError, match="503"):
        client.leads.search(ACCOUNT, 136785, ["L1"])
    assert emu.stats["leadSearchCalls"] == 4


def test_other_4xx_are_not_retried(emu: Emulator, clock: FakeClock) -> None:
    with make(emu, clock) as client, pytest.raises(ApiError, match="404") as e:
        client.load_leads(ACCOUNT, 999, {**BODY, "uploadLeads": [lead(1)]})
    assert not isinstance(e.value, TransientApiError)
    assert client.stats["retries"] == 0


def test_retry_after_is_honoured() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "7"}, json={})
        return httpx.Response(200, json=[])

    clock = FakeClock()
    with mocked(handler, clock) as client:
        client.request("GET", "/api/v1/admin/accounts")
    assert clock.slept == [7.0]


def test_backoff_grows_exponentially_with_jitter() -> None:
    for attempt in range(1, 8):
        caps = [backoff(attempt) for _ in range(50)]
        assert all(0 <= c <= min(30.0, 0.5 * 2 ** (attempt - 1)) for c in caps)
        assert len(set(caps)) > 1


def test_pacing_keeps_under_both_windows(emu: Emulator, clock: FakeClock) -> None:
    with make(emu, clock, loader_limits=((3, 10.0), (5, 60.0))) as client:
        for i in range(7):
            client.load_leads(ACCOUNT, 136785, {**BODY, "uploadLeads": [lead(i)]})
    emu.settings.loader_limits = ((3, 10.0), (5, 60.0))
    assert emu.stats["loader429"] == 0
    assert clock.now - 1000 >= 60  # the 6th call had to wait for the 60 s window


def test_server_limits_match_client_pacing_with_no_429(emu: Emulator, clock: FakeClock) -> None:
    emu.settings.loader_limits = ((3, 10.0), (5, 60.0))
    with make(emu, clock, loader_limits=((3, 10.0), (5, 60.0))) as client:
        for i in range(12):
            client.load_leads(ACCOUNT, 136785, {**BODY, "uploadLeads": [lead(i)]})
    assert emu.stats["loader429"] == 0 and emu.stats["loaderCalls"] == 12


def test_sliding_windows_wait_time() -> None:
    clock = FakeClock()
    windows = SlidingWindows(((2, 10.0),), clock=clock)
    assert windows.try_acquire() and windows.try_acquire()
    assert not windows.try_acquire()
    assert windows.wait_time() == pytest.approx(10.0)
    clock.now += 10.0
    assert windows.try_acquire()


@pytest.mark.parametrize("text", ["30/10,120/60", " 5 / 60 "])
def test_parse_limits(text: str) -> None:
    assert parse_limits(text)[0][0] in (30, 5)


@pytest.mark.parametrize("text", ["", "0/10", "x/y", "5/0"])
def test_parse_limits_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_limits(text)


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        (
            {
                "RINGCENTRAL_CLIENT_ID": "i",
                "RINGCENTRAL_CLIENT_SECRET": "s",
                "RINGCENTRAL_JWT": "j",
            },
            AuthMode.JWT,
        ),
        ({"ENGAGE_ACCESS_TOKEN": "t"}, AuthMode.ACCESS_TOKEN),
        ({"ENGAGE_API_TOKEN": "t"}, AuthMode.API_TOKEN),
    ],
)
def test_exactly_one_kind_of_credentials(env: dict[str, str], mode: AuthMode) -> None:
    assert credentials_from_env(env).mode is mode


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "no Engage credentials: set RINGCENTRAL_CLIENT_ID"),
        (
            {"ENGAGE_ACCESS_TOKEN": "t", "ENGAGE_API_TOKEN": "u"},
            "several kinds of credentials are set (ENGAGE_ACCESS_TOKEN, ENGAGE_API_TOKEN)",
        ),
        (
            {"RINGCENTRAL_CLIENT_ID": "i", "RINGCENTRAL_JWT": "j"},
            "JWT credentials are incomplete: RINGCENTRAL_CLIENT_SECRET not set",
        ),
    ],
)
def test_missing_or_several_credentials_are_one_clear_error(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as e:
        credentials_from_env(env)
    assert message in str(e.value)
    for secret in env.values():
        assert f"={secret}" not in str(e.value)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://engage.ringcentral.com/voice", True),
        ("http://127.0.0.1:8089/voice", True),
        ("http://localhost:1/voice", True),
        ("http://[::1]:1/voice", True),
        ("http://engage.ringcentral.com/voice", False),
        ("http://10.0.0.1/voice", False),
        ("ftp://x/voice", False),
    ],
)
def test_plain_http_only_for_loopback(url: str, ok: bool) -> None:
    if ok:
        check_url(url, "ENGAGE_BASE_URL")
    else:
        with pytest.raises(ConfigError):
            check_url(url, "ENGAGE_BASE_URL")


def test_credentials_repr_hides_secrets() -> None:
    assert "emulator-jwt-assertion" not in repr(JWT) and "secret" not in repr(JWT).replace(
        "secret=[redacted]", ""
    )


def test_redacting_filter_scrubs_every_known_secret() -> None:
    record = logging.LogRecord("x", logging.INFO, "f", 1, "token %s and %s", ("abc", "xyz"), None)
    f = RedactingFilter(("abc",))
    f.add("xyz")
    f.filter(record)
    assert record.getMessage() == "token [redacted] and [redacted]"


def test_calls_count_from_their_answer_so_slow_answers_never_overrun_the_server() -> None:
    clock = FakeClock()
    windows = SlidingWindows(((2, 10.0),), clock=clock)
    first = windows.try_acquire(pending=True)
    assert first is not None
    clock.now += 3.0  # the first call took 3 s to answer: the server saw it at some point inside
    windows.completed(first)
    second = windows.try_acquire(pending=True)
    assert second is not None
    windows.completed(second)
    # the next call may go 10 s after the first *answer* (t=13), not 10 s after its send (t=10)
    assert clock.now + windows.wait_time() == pytest.approx(1013.0)


def test_calls_seen_to_arrive_count_from_their_arrival_and_in_flight_ones_hold_a_slot() -> None:
    clock = FakeClock()
    windows = SlidingWindows(((2, 10.0),), clock=clock)
    first = windows.try_acquire(pending=True)
    second = windows.try_acquire(pending=True)
    assert first is not None and second is not None
    assert windows.wait_time() == float("inf")  # both in flight: only an answer frees a slot
    clock.now += 0.1
    windows.arrived(first)  # fully sent at t=0.1: the server counts it then
    clock.now += 5.0
    windows.completed(first)  # answered at t=5.1: changes nothing, it arrived at t=0.1
    assert windows.wait_time() == pytest.approx(5.0)  # its slot frees at t=10.1
    windows.completed(second)
    assert clock.now + windows.wait_time() == pytest.approx(1010.1)
    assert windows.burst == 2


def test_tokens_minted_during_the_run_are_handed_to_the_redactor(
    emu: Emulator, clock: FakeClock
) -> None:
    seen: list[str] = []
    with make(emu, clock) as client:
        client.tokens.on_secret = seen.append
        client.request("GET", "/api/v1/admin/accounts")
    # the RingCentral access and refresh tokens, the Engage access and refresh tokens
    assert len(seen) == 4
    assert all(token in emu.tokens for token in seen)


def test_campaigns_come_from_one_call_or_fall_back_to_one_per_dial_group() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path.endswith("/withChildren"):
            return httpx.Response(404, json={"errorCode": "NOT_FOUND"})
        if request.url.path.endswith("/dialGroups"):
            return httpx.Response(200, json=[{"dialGroupId": 7, "dialGroupName": "G"}])
        return httpx.Response(200, json=[{"campaignId": 1, "campaignName": "C", "isActive": 1}])

    with mocked(handler, FakeClock()) as client:
        groups = client.dial_groups_with_campaigns("42")
    assert groups == [DialGroup(7, "G", None, (Campaign(1, "C", True),))]
    assert [p.rsplit("/accounts/42", 1)[1] for p in calls] == [
        "/dialGroups/withChildren",
        "/dialGroups",
        "/dialGroups/7/campaigns",
    ]


def test_campaigns_in_one_call_when_served(emu: Emulator, clock: FakeClock) -> None:
    with make(emu, clock, Credentials(AuthMode.API_TOKEN, "emulator-legacy-api-token")) as client:
        groups = client.dial_groups_with_campaigns(ACCOUNT)
    assert [c.campaign_id for g in groups for c in g.campaigns] == [
        136785,
        136792,
        136790,
        136799,
    ]
    assert client.stats["requests"] == 1


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Invalid phone number 415-555-0100", "Invalid phone number [redacted]"),
        ("bad email ada@example.com here", "bad email [redacted] here"),
        ("Invalid phone number (415) 555 0100.", "Invalid phone number [redacted]."),
        (
            "batch of 500 refused: HTTP 400: 501 leads in one call",
            "batch of 500 refused: HTTP 400: 501 leads in one call",
        ),
        ("Jwt is expired", "Jwt is expired"),
    ],
)
def test_messages_from_engage_are_scrubbed_of_phones_and_emails(
    message: str, expected: str
) -> None:
    from engage_sync.reconcile import scrub

    assert scrub(message) == expected


# -- lead search and actions ----------------------------------------------------------------------
from engage_sync.engage.leads import LeadAction  # noqa: E402
from engage_sync.errors import UnsafeAction  # noqa: E402


def loaded(client: EngageClient, *leads: dict[str, str], campaign: int = 136785) -> None:
    client.load_leads(ACCOUNT, campaign, {**BODY, "uploadLeads": list(leads)})


def test_search_pages_past_a_clamped_max_rows_and_filters_rows(
    emu: Emulator, clock: FakeClock
) -> None:
    emu.settings.search_max_rows = 2
    client = make(emu, clock, search_page_size=500)
    loaded(client, *[{"externId": "A", "leadPhone": f"415555010{i}"} for i in range(5)])
    loaded(client, lead(1))
    loaded(client, {"externId": "A", "leadPhone": "4155550100"}, campaign=136792)
    found = client.leads.search(ACCOUNT, 136785, ["A"])
    assert len(found) == 5 and {r.extern_id for r in found} == {"A"}
    assert {r.campaign_id for r in found} == {136785}
    pages = [r for r in emu.requests if r["path"].endswith("/leadSearch")]
    assert [r["query"]["page"] for r in pages] == ["0", "1", "2", "3"]
    assert all(r["query"]["maxRows"] == "500" for r in pages)


def test_search_filters_on_the_client_when_the_server_ignores_extern_ids(
    emu: Emulator, clock: FakeClock
) -> None:
    emu.settings.ignore_extern_ids = True
    client = make(emu, clock)
    loaded(client, lead(1), lead(2), lead(3))
    assert [r.extern_id for r in client.leads.search(ACCOUNT, 136785, ["L2"])] == ["L2"]


def test_search_stops_when_a_server_ignores_paging() -> None:
    clock = FakeClock()
    row = {"leadId": 1, "externId": "A", "campaignId": 5, "leadPhone": "1", "leadState": "READY"}
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url.params.get("page")))
        return httpx.Response(200, json=[row])  # the same page, whatever was asked

    found = mocked(handler, clock).leads.search("1", 5, ["A"])
    assert [r.lead_id for r in found] == [1] and calls == ["0", "1"]


def test_search_is_paced_within_its_own_limits(emu: Emulator, clock: FakeClock) -> None:
    client = make(emu, clock, search_chunk=1)
    client.leads.search(ACCOUNT, 136785, [f"L{i}" for i in range(40)])
    assert emu.stats.get("leadSearch429", 0) == 0 and emu.stats["leadSearchCalls"] == 40
    assert clock.now - 1000.0 >= 20  # 40 calls at 15 per 10 s and 60 per 30 s


@pytest.mark.parametrize(
    ("campaign", "ids"),
    [(0, [1]), (True, [1]), (136785, []), (136785, ["1"]), (136785, [True])],
)
def test_actions_with_wide_criteria_are_refused_before_sending(
    campaign: Any, ids: list[Any]
) -> None:
    clock = FakeClock()
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"success": True})

    with pytest.raises(UnsafeAction, match="one campaign and lead ids"):
        mocked(handler, clock).leads.act("1", campaign, LeadAction.CANCEL, ids)
    assert sent == []


def test_an_action_answered_success_false_is_a_failure(emu: Emulator, clock: FakeClock) -> None:
    client = make(emu, clock)
    loaded(client, lead(1))
    (record,) = client.leads.search(ACCOUNT, 136785, ["L1"])
    emu.faults.append(Fault("unsuccessful", 1, endpoint="actions"))
    with pytest.raises(ApiError, match="success: false"):
        client.leads.act(ACCOUNT, 136785, LeadAction.CANCEL, [record.lead_id])
    result = client.leads.act(ACCOUNT, 136785, LeadAction.CANCEL, [record.lead_id])
    assert result.success is True and result.count == 1
    (after,) = client.leads.search(ACCOUNT, 136785, ["L1"])
    assert after.state == "CANCELLED" and not after.dialable


def test_any_2xx_is_an_answer() -> None:
    clock = FakeClock()
    result = {"leadsSupplied": 1, "leadsAccepted": 1, "processingResult": "OK"}
    created = mocked(lambda r: httpx.Response(201, json=result), clock)
    assert created.load_leads("1", 5, {**BODY, "uploadLeads": [lead(1)]}) == LoadResult(
        "OK", supplied=1, accepted=1
    )
    empty = mocked(lambda r: httpx.Response(204), clock)
    assert empty.leads.act("1", 5, LeadAction.CANCEL, [1]) == ActionResult()
    with pytest.raises(TransientApiError, match="no result body"):
        empty.load_leads("1", 5, {**BODY, "uploadLeads": [lead(1)]})


def test_an_encoded_body_is_sent_as_json_as_httpx_would_send_it() -> None:
    """The loader's bodies are encoded when their batch is made (engage/upload.py): the same
    bytes and headers as httpx's `json=`, and the answer read against the rows sent."""
    from engage_sync.engage.upload import Upload

    seen: list[httpx.Request] = []
    result = {"leadsSupplied": 2, "leadsAccepted": 1, "processingResult": "OK"}
    result["rejectedRows"] = [{"rowData": ["L2", "Zoë"], "message": "bad row for Zoë"}]

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append(r)
        return httpx.Response(200, json=result)

    rows = [lead(1), {**lead(2), "firstName": "Zoë"}]
    answer = mocked(handler, FakeClock()).load_leads("1", 5, Upload.of(BODY, rows))
    want = httpx.Request("POST", "https://engage.example/", json={**BODY, "uploadLeads": rows})
    (sent,) = seen
    assert sent.content == want.read()
    assert sent.headers["content-type"] == want.headers["content-type"] == "application/json"
    assert sent.headers["content-length"] == want.headers["content-length"]
    assert answer.accepted == 1 and answer.rejected[0].extern_ids == ("L2",)
    assert "Zoë" not in answer.rejected[0].message  # a value the call carried: redacted


from engage_sync.emulator.shared import Fault  # noqa: E402


# -- what real clients do (issue #12) -------------------------------------------------------------
def test_tokens_are_renewed_after_four_minutes_as_the_sdks_do(
    emu: Emulator, clock: FakeClock
) -> None:
    with make(emu, clock) as client:
        client.request("GET", "/api/v1/admin/accounts")
        clock.now += 230
        client.request("GET", "/api/v1/admin/accounts")
        assert client.tokens.refreshes == 0
        clock.now += 15  # 245 s: past four minutes
        client.request("GET", "/api/v1/admin/accounts")
        assert client.tokens.refreshes == 1


def test_an_expired_token_in_a_json_body_in_capitals_renews_once(
    emu: Emulator, clock: FakeClock
) -> None:
    emu.settings.token_ttl = 10
    emu.settings.expired_json = True
    with make(emu, clock) as client:
        client.request("GET", "/api/v1/admin/accounts")
        clock.now += 20
        assert isinstance(client.request("GET", "/api/v1/admin/accounts"), list)
        assert client.tokens.refreshes == 1
    expired = [r for r in emu.requests if r["status"] == 401]
    assert len(expired) == 1


def test_a_readable_jwt_is_renewed_before_its_own_exp() -> None:
    import base64
    import json as jsonlib
    import time as timelib

    from engage_sync.engage.auth import jwt_expiry

    payload = base64.urlsafe_b64encode(
        jsonlib.dumps({"exp": int(timelib.time()) + 100}).encode()
    ).rstrip(b"=")
    token = f"eyJhbGciOiJIUzI1NiJ9.{payload.decode()}.sig"
    exp = jwt_expiry(token)
    assert exp is not None and abs(exp - timelib.time() - 100) < 5
    assert jwt_expiry("engage-opaque-token") is None and jwt_expiry("a.!!!.c") is None
    clock = FakeClock()
    answers = iter([{"access_token": "rc"}, {"accessToken": token, "refreshToken": "r"}])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/restapi") or "/api/auth/" in request.url.path:
            return httpx.Response(200, json=next(answers))
        return httpx.Response(200, json=[])

    client = EngageClient(
        "https://ringcx.example/voice",
        JWT,
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock,
    )
    client.request("GET", "/api/v1/admin/accounts")
    # lives 100 s by its claim, not the assumed 300: renewed 60 s before that
    assert client.tokens._expires - clock.now < 101


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://ringcx.ringcentral.com/voice", "https://ringcx.ringcentral.com/voice"),
        ("https://ringcx.ringcentral.com/voice/", "https://ringcx.ringcentral.com/voice"),
        ("https://portal.vacd.biz/api", "https://portal.vacd.biz"),
        ("https://portal.vacd.biz/api/", "https://portal.vacd.biz"),
        ("https://portal.vacd.biz", "https://portal.vacd.biz"),
    ],
)
def test_legacy_base_urls_with_or_without_api(url: str, base: str) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=[])

    client = EngageClient(
        url, Credentials(AuthMode.API_TOKEN, "t"), transport=httpx.MockTransport(handler)
    )
    client.request("GET", "/api/v1/admin/accounts")
    assert seen == [f"{base}/api/v1/admin/accounts"]


def test_a_group_answered_without_campaigns_is_asked_for_them() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path.rsplit("/accounts/42", 1)[1])
        if request.url.path.endswith("/withChildren"):
            return httpx.Response(
                200,
                json=[
                    {"dialGroupId": 7, "campaigns": [{"campaignId": 1}]},
                    {"dialGroupId": 8},  # no campaigns list at all
                ],
            )
        return httpx.Response(200, json=[{"campaignId": 2, "campaignName": "C"}])

    with mocked(handler, FakeClock()) as client:
        groups = client.dial_groups_with_campaigns("42")
    assert [[c.campaign_id for c in g.campaigns] for g in groups] == [[1], [2]]
    assert calls == ["/dialGroups/withChildren", "/dialGroups/8/campaigns"]


@pytest.mark.parametrize("status", [400, 403, 500])
def test_any_failure_of_with_children_falls_back_to_one_call_per_group(status: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/withChildren"):
            return httpx.Response(status, json={"generalMessage": "no"})
        if request.url.path.endswith("/dialGroups"):
            return httpx.Response(200, json=[{"dialGroupId": 7}])
        return httpx.Response(200, json=[{"campaignId": 1}])

    client = EngageClient(
        "https://e.example/voice",
        Credentials(AuthMode.API_TOKEN, "t"),
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
        max_retries=0,
    )
    assert client.dial_groups_with_campaigns("42")[0].campaigns == (Campaign(1),)


def test_a_403_on_the_main_account_names_the_sub_accounts(emu: Emulator, clock: FakeClock) -> None:
    emu.seed["mainAccountId"] = "99990000"
    with make(emu, clock) as client:
        client.request("GET", "/api/v1/admin/accounts")  # logs in: agentDetails known
        with pytest.raises(ApiError) as e:
            client.dial_groups_with_campaigns("99990000")
    message = str(e.value)
    assert "account 99990000 (99990000 is the main account) is not one these credentials" in message
    assert "use 99990001" in message


def test_the_usable_accounts_come_from_the_api_with_an_api_token(
    emu: Emulator, clock: FakeClock
) -> None:
    creds = Credentials(AuthMode.API_TOKEN, "emulator-legacy-api-token")
    with make(emu, clock, creds) as client, pytest.raises(ApiError, match="use 99990001"):
        client.dial_groups_with_campaigns("12345")


def test_the_pacing_margin_is_3_percent_of_a_window_and_never_under_50_ms() -> None:
    """At the real limits the margin is 0.3 s of 10 s; limits run 10x faster (the emulator, the
    benchmark) keep 50 ms, because the way to the server and scheduling do not speed up."""
    from engage_sync.engage.client import _with_margin

    assert _with_margin(10.0) == pytest.approx(10.3)
    assert _with_margin(60.0) == pytest.approx(61.8)
    assert _with_margin(1.0) == pytest.approx(1.05)


# -- what the server says, redacted where it enters (issue #29, finding 6) -------------------------
ECHO_LEAD = {"externId": "E-1", "leadPhone": "4155550100", "firstName": "Zoë", "lastName": "Núñez"}
ECHO_BODY = {**BODY, "uploadLeads": [ECHO_LEAD]}


def echoing(status: int, as_text: bool = False, **headers: str) -> Any:
    """A server that answers `status` copying the request (headers, then body) into its error."""

    def handler(request: httpx.Request) -> httpx.Response:
        copy = f"{dict(request.headers)} {request.content.decode()}"
        if as_text:
            return httpx.Response(status, text=copy, headers=headers)
        body = {"errorCode": "ECHO", "generalMessage": copy, "request": copy}
        return httpx.Response(status, json=body, headers=headers)

    return handler


def assert_clean(text: str, *secrets: str, longest: int = 400) -> None:
    for leaked in (*secrets, "Zoë", "Zo\\u00eb", "N\\u00fa", "Núñez", "4155550100"):
        assert leaked not in text, (leaked, text)
    assert text.isprintable() and len(text) < longest


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500])
@pytest.mark.parametrize("as_text", [False, True], ids=["json", "text"])
def test_an_error_that_echoes_the_request_reaches_no_exception(status: int, as_text: bool) -> None:
    secret = "api-token-that-must-not-leak"
    client = EngageClient(
        "https://engage.example/voice",
        Credentials(AuthMode.API_TOKEN, secret),
        transport=httpx.MockTransport(echoing(status, as_text)),
        sleep=lambda s: None,
        max_retries=0,
    )
    with client, pytest.raises(ApiError) as e:
        client.request("POST", "/x", json=ECHO_BODY)
    assert_clean(str(e.value), secret)
    assert f"{status}" in str(e.value) or status in (401, 403)
    assert str(e.value).endswith("(ECHO)") or as_text  # the server's code is kept


def test_a_wait_message_holds_nothing_the_server_echoed() -> None:
    secret = "api-token-that-must-not-leak"
    waits: list[str] = []
    client = EngageClient(
        "https://engage.example/voice",
        Credentials(AuthMode.API_TOKEN, secret),
        transport=httpx.MockTransport(echoing(503, **{"Retry-After": "5"})),
        sleep=lambda s: None,
        max_retries=2,
    )
    client.on_wait = waits.append
    with client, pytest.raises(TransientApiError):
        client.request("POST", "/x", json=ECHO_BODY)
    assert len(waits) == 2
    for said in waits:
        assert_clean(said, secret)
        assert "waiting 5s as the server asked" in said


def test_the_log_holds_no_token_the_server_echoed(
    emu: Emulator, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    from engage_sync.emulator.shared import Fault

    with make(emu, clock) as client:
        client.load_leads(ACCOUNT, 136785, {**BODY, "uploadLeads": [lead(1)]})
        emu.faults.append(Fault("echo", 1, endpoint="search"))
        with caplog.at_level(logging.INFO, logger="engage_sync"):
            client.leads.search(ACCOUNT, 136785, ["L1"])
    assert "HTTP 500" in caplog.text
    for token in emu.tokens:
        assert token not in caplog.text


def test_a_loaders_messages_and_rejected_rows_carry_no_lead_value() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        sent = request.content.decode()
        return httpx.Response(
            200,
            json={
                "processingResult": "OK",
                "message": f"loaded {sent}",
                "rejectedRows": [
                    {"message": "bad phone 4155550100 for Zoë Núñez", "rowData": ["E-1", "Zoë"]},
                    {"message": f"{sent}"},
                ],
            },
        )

    body = {**ECHO_BODY, "uploadLeads": [ECHO_LEAD, {**ECHO_LEAD, "externId": "E-2"}]}
    with mocked(handler, FakeClock()) as client:
        result = client.load_leads("1", 2, body)
    assert_clean(repr(result), longest=1000)
    first, second = result.rejected
    assert first.extern_ids == ("E-1",)  # what a rejected row is matched by, and nothing else
    assert first.message == "bad phone [redacted] for [redacted] [redacted]"
    assert second.extern_ids == () and result.message.startswith("loaded ")


@pytest.mark.parametrize(
    "rows", ["not a list", ["not a row"], [{"rowData": "not a list"}], [{}, {}]], ids=repr
)
def test_rejected_rows_of_another_shape_are_a_lost_answer_that_echoes_nothing(rows: Any) -> None:
    """The leads may be loaded: apply looks them up rather than take them as rejected."""

    def handler(request: httpx.Request) -> httpx.Response:
        echoed = request.content.decode()
        body = {"processingResult": "OK", "rejectedRows": echoed if rows == "not a list" else rows}
        return httpx.Response(200, json=body)

    with mocked(handler, FakeClock()) as client, pytest.raises(AnswerLost) as e:
        client.load_leads("1", 2, ECHO_BODY)
    assert str(e.value).startswith("leadLoader/direct") and "rejectedRows" in str(e.value)
    assert_clean(str(e.value))


def test_an_unsuccessful_actions_message_is_redacted(emu: Emulator, clock: FakeClock) -> None:
    from engage_sync.engage.leads import LeadAction

    def handler(request: httpx.Request) -> httpx.Response:
        said = "cannot cancel for leaked-api-token\n::error::forged"
        return httpx.Response(200, json={"success": False, "errorMessage": said})

    with mocked(handler, clock) as client:
        client.redactor.add("leaked-api-token")
        with pytest.raises(ApiError) as e:
            client.leads.act("1", 2, LeadAction.CANCEL, [3])
    assert str(e.value).endswith("cannot cancel for [redacted] ::error::forged")


@pytest.mark.parametrize("bad", ["engage-ok\n::error::forged", "with space", "", 42, "é" * 3])
def test_a_minted_token_that_is_not_one_is_refused_and_never_announced(bad: object) -> None:
    announced: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/restapi/oauth/token":
            return httpx.Response(200, json={"access_token": "rc-token-ok"})
        return httpx.Response(200, json={"accessToken": bad, "refreshToken": "r\nx"})

    client = EngageClient(
        "https://engage.example/voice",
        Credentials(AuthMode.JWT, "jwt", "id", "secret", "https://rc.example"),
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
    )
    client.on_secret = announced.append
    with client, pytest.raises(AuthError, match="accessToken"):
        client.authenticate()
    assert announced == ["rc-token-ok"]


@pytest.mark.parametrize("marker", CI_VARIABLES)
def test_every_ci_service_makes_a_loopback_host_need_naming(marker: str) -> None:
    """One list of CI variables for both promises (settings/ci_vars.py): on a service that sets
    only its own variable (CodeBuild's CODEBUILD_BUILD_ID, Codefresh's CF_BUILD_ID, ...) a
    loopback Engage host must be named, as lead values are refused there."""
    env = {marker: "true"}
    with pytest.raises(ConfigError, match=r"ENGAGE_SYNC_ALLOWED_HOSTS=127\.0\.0\.1:8089"):
        check_host("http://127.0.0.1:8089/voice", "ENGAGE_BASE_URL", ENGAGE_HOSTS, env)
    check_host("http://127.0.0.1:8089/voice", "ENGAGE_BASE_URL", ENGAGE_HOSTS, {marker: "0"})
    named = {marker: "true", "ENGAGE_SYNC_ALLOWED_HOSTS": "127.0.0.1:8089"}
    check_host("http://127.0.0.1:8089/voice", "ENGAGE_BASE_URL", ENGAGE_HOSTS, named)
