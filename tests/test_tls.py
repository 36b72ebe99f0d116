"""Each client's TLS settings: verified against certifi's roots wherever https may be spoken,
built once per process; none loaded for a client that only speaks plain http (the emulator)."""

from __future__ import annotations

import ssl

from engage_sync.engage import EngageClient
from engage_sync.engage.auth import AuthMode, Credentials
from engage_sync.tls import tls_for


def context_of(client: EngageClient) -> ssl.SSLContext:
    context: ssl.SSLContext = client.http._transport._pool._ssl_context  # type: ignore[attr-defined]
    return context


def test_an_https_client_verifies_servers_against_the_roots_built_once_per_process() -> None:
    context = tls_for("https://ringcx.ringcentral.com/voice")
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # certifi's bundle (or SSL_CERT_FILE's)
    assert tls_for("https://api.github.com") is context
    assert tls_for() is context  # a caller that cannot name every origin: verified
    assert tls_for("http://127.0.0.1:8080", "https://platform.ringcentral.com") is context


def test_a_plain_http_client_trusts_no_certificate_so_tls_it_never_speaks_would_fail() -> None:
    context = tls_for("http://127.0.0.1:8080", "http://localhost:9")
    assert context.cert_store_stats()["x509_ca"] == 0
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context is not tls_for("https://127.0.0.1:8080")


def test_a_jwt_exchanged_at_ringcentral_is_verified_even_against_a_local_voice_api() -> None:
    """The JWT goes to the RingCentral server, https by default, through the same client as the
    Voice API calls: a plain-http base URL (the emulator, a port-forward) must not make that
    exchange fail on a context that trusts nothing."""
    jwt = Credentials(AuthMode.JWT, "j", "id", "secret", "https://platform.ringcentral.com")
    local = "http://127.0.0.1:8080"
    assert context_of(EngageClient(local, jwt)) is tls_for("https://platform.ringcentral.com")
    emulated = Credentials(AuthMode.JWT, "j", "id", "secret", "http://127.0.0.1:8080")
    assert context_of(EngageClient(local, emulated)) is tls_for(local)
    token = Credentials(AuthMode.API_TOKEN, "t")
    assert context_of(EngageClient(local, token)) is tls_for(local)
    assert context_of(EngageClient("https://ringcx.ringcentral.com/voice", token)) is tls_for()
