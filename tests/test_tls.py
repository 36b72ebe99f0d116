"""Each client's TLS settings: verified against certifi's roots for https, built once."""

from __future__ import annotations

import ssl

from engage_sync.tls import tls_for


def test_an_https_client_verifies_servers_against_the_roots_built_once_per_process() -> None:
    context = tls_for("https://ringcx.ringcentral.com/voice")
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 100  # certifi's bundle, as httpx's default
    assert tls_for("https://api.github.com") is context


def test_a_plain_http_client_trusts_no_certificate_so_tls_it_never_speaks_would_fail() -> None:
    context = tls_for("http://127.0.0.1:8080")
    assert context.cert_store_stats()["x509_ca"] == 0
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context is not tls_for("https://127.0.0.1:8080")
