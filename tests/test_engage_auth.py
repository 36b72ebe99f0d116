"""engage/auth.py: the TokenSource against a RingCentral and an Engage answering through an
httpx.MockTransport: which calls a login and a refresh make, what each failure becomes, and
that no secret reaches an error. (Logins and retries through the whole client, against the
emulator, are in test_client.py.)"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest

from engage_sync.engage.auth import (
    ENGAGE_TOKEN_LIFETIME,
    REFRESH_MARGIN,
    AuthMode,
    Credentials,
    TokenSource,
    credentials_from_env,
)
from engage_sync.errors import ApiError, AuthError, ConfigError, TransientApiError

JWT = Credentials(AuthMode.JWT, "the-jwt", "client-id", "client-secret", "https://rc.example")
RC_TOKEN = "/restapi/oauth/token"
LOGIN = "/api/auth/login/rc/accesstoken"
REFRESH = "/api/auth/token/refresh"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Servers:
    """RingCentral and Engage: each path answers as `answers` says (a status, or a callable)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, list[str]]]] = []
        self.issued = 0
        self.answers: dict[str, Callable[[], httpx.Response]] = {
            RC_TOKEN: lambda: httpx.Response(200, json={"access_token": "rc-access"}),
            LOGIN: self.engage_token,
            REFRESH: self.engage_token,
        }

    def engage_token(self) -> httpx.Response:
        self.issued += 1
        return httpx.Response(
            200,
            json={
                "accessToken": f"engage-{self.issued}",
                "refreshToken": f"refresh-{self.issued}",
                "agentDetails": [{"accountId": "99990001"}],
            },
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.url.path, parse_qs(request.content.decode())))
        return self.answers[request.url.path]()

    @property
    def paths(self) -> list[str]:
        return [p for p, _ in self.calls]


def source(servers: Servers, creds: Credentials = JWT) -> tuple[TokenSource, Clock]:
    clock = Clock()
    http = httpx.Client(transport=httpx.MockTransport(servers))
    return TokenSource(creds, http, "https://engage.example/voice", clock=clock), clock


def test_a_login_trades_the_jwt_for_an_engage_token_once() -> None:
    servers = Servers()
    tokens, _ = source(servers)
    assert tokens.headers() == {"Authorization": "Bearer engage-1"}
    assert tokens.headers() == {"Authorization": "Bearer engage-1"}
    assert servers.paths == [RC_TOKEN, LOGIN]
    rc_form, login_form = servers.calls[0][1], servers.calls[1][1]
    assert rc_form["assertion"] == ["the-jwt"]
    assert login_form == {"rcAccessToken": ["rc-access"], "rcTokenType": ["Bearer"]}
    assert tokens.account_ids == ["99990001"] and tokens.logins == 1


def test_the_token_is_refreshed_a_minute_before_it_expires() -> None:
    servers = Servers()
    tokens, clock = source(servers)
    tokens.headers()
    clock.now += ENGAGE_TOKEN_LIFETIME - REFRESH_MARGIN - 1
    assert tokens.headers() == {"Authorization": "Bearer engage-1"}
    clock.now += 1
    assert tokens.headers() == {"Authorization": "Bearer engage-2"}
    assert servers.paths == [RC_TOKEN, LOGIN, REFRESH]
    assert servers.calls[2][1]["refresh_token"] == ["refresh-1"]


def test_a_refused_refresh_logs_in_again() -> None:
    servers = Servers()
    tokens, _ = source(servers)
    tokens.headers()
    servers.answers[REFRESH] = lambda: httpx.Response(401)
    tokens.expired()
    assert tokens.headers() == {"Authorization": "Bearer engage-2"}
    assert servers.paths == [RC_TOKEN, LOGIN, REFRESH, RC_TOKEN, LOGIN]
    assert (tokens.logins, tokens.refreshes) == (2, 0)


def test_a_token_another_call_renewed_already_is_not_renewed_again() -> None:
    servers = Servers()
    tokens, _ = source(servers)
    old = tokens.headers()["Authorization"]
    tokens.expired(old)  # the first call to see the 401 renews
    tokens.expired(old)  # the second saw the same old token refused: uses the new one
    assert servers.paths.count(REFRESH) == 1
    assert tokens.headers() == {"Authorization": "Bearer engage-2"}


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (401, AuthError, f"credentials refused by {RC_TOKEN} (HTTP 401)"),
        (400, AuthError, f"credentials refused by {RC_TOKEN} (HTTP 400)"),
        (503, TransientApiError, f"{RC_TOKEN}: HTTP 503"),
        (302, ApiError, f"{RC_TOKEN}: HTTP 302"),
    ],
)
def test_a_refused_login_is_an_error_naming_the_call_and_no_secret(
    status: int, error: type[Exception], message: str
) -> None:
    servers = Servers()
    servers.answers[RC_TOKEN] = lambda: httpx.Response(status, text="the-jwt client-secret")
    tokens, _ = source(servers)
    with pytest.raises(error) as e:
        tokens.headers()
    assert str(e.value) == message
    assert LOGIN not in servers.paths


def test_a_throttled_login_says_when_to_try_again() -> None:
    servers = Servers()
    servers.answers[LOGIN] = lambda: httpx.Response(429, headers={"Retry-After": "12"})
    tokens, _ = source(servers)
    with pytest.raises(TransientApiError) as e:
        tokens.headers()
    assert e.value.retry_after == 12.0 and e.value.status == 429


def test_an_answer_that_is_not_json_is_an_api_error() -> None:
    servers = Servers()
    servers.answers[LOGIN] = lambda: httpx.Response(200, text="<html>maintenance</html>")
    tokens, _ = source(servers)
    with pytest.raises(ApiError, match=f"^{LOGIN}: answer is not JSON$"):
        tokens.headers()


def test_a_server_out_of_reach_is_transient_and_names_the_host_only() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = httpx.Client(transport=httpx.MockTransport(down))
    tokens = TokenSource(JWT, http, "https://engage.example/voice", clock=Clock())
    with pytest.raises(TransientApiError) as e:
        tokens.headers()
    assert str(e.value) == "cannot reach rc.example: ConnectError"


def test_every_token_minted_is_handed_over_to_be_redacted() -> None:
    servers = Servers()
    servers.answers[RC_TOKEN] = lambda: httpx.Response(
        200, json={"access_token": "rc-access", "refresh_token": "rc-refresh"}
    )
    tokens, clock = source(servers)
    seen: list[str] = []
    tokens.on_secret = seen.append
    tokens.headers()
    clock.now += ENGAGE_TOKEN_LIFETIME
    tokens.headers()
    assert seen == ["rc-access", "rc-refresh", "engage-1", "refresh-1", "engage-2", "refresh-2"]


def test_a_ready_token_and_an_api_token_are_sent_as_given_and_never_renewed() -> None:
    servers = Servers()
    ready, _ = source(servers, Credentials(AuthMode.ACCESS_TOKEN, "ready"))
    assert ready.headers() == {"Authorization": "Bearer ready"}
    with pytest.raises(AuthError, match="ENGAGE_ACCESS_TOKEN tokens last 5 minutes"):
        ready.expired()
    api, _ = source(servers, Credentials(AuthMode.API_TOKEN, "legacy"))
    assert api.headers() == {"X-Auth-Token": "legacy"}
    assert servers.calls == []


def test_jwt_credentials_may_name_their_server_but_only_over_https() -> None:
    env = {
        "RINGCENTRAL_CLIENT_ID": "id",
        "RINGCENTRAL_CLIENT_SECRET": "s3cret",
        "RINGCENTRAL_JWT": "eyJ.jwt.x",
    }
    assert credentials_from_env(env).rc_server == "https://platform.ringcentral.com"
    named = credentials_from_env({**env, "RINGCENTRAL_SERVER_URL": "https://rc.example/"})
    assert named.rc_server == "https://rc.example"
    with pytest.raises(ConfigError, match="RINGCENTRAL_SERVER_URL: plain http:// is refused"):
        credentials_from_env({**env, "RINGCENTRAL_SERVER_URL": "http://rc.example"})
    assert "eyJ" not in repr(named) and "s3cret" not in repr(named)
    assert named.secrets == ("eyJ.jwt.x", "s3cret")  # what the log's redaction masks
