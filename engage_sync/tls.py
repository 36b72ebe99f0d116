"""The TLS settings each HTTP client is made with, built once per process.

httpx builds a new SSL context for every client it makes, and loading certifi's roots into it
costs about 35 ms of CPU each time: more than the rest of a short command's HTTP. The contexts
here are built on first use and shared (an `ssl.SSLContext` is safe to share between clients and
threads once configured).
"""

from __future__ import annotations

import ssl
from functools import lru_cache
from urllib.parse import urlsplit

import httpx


def tls_for(*urls: str) -> ssl.SSLContext:
    """The context a client that speaks to exactly these URLs' origins verifies servers with.

    Any https URL among them (or any other scheme) gets what httpx verifies against by default:
    certifi's roots, hostnames checked. Only a client every one of whose URLs is plain http gets
    a context that trusts no certificate: it speaks TLS to no one (engage-sync follows no
    redirects), and were it ever to, verification would fail rather than pass. That spares the
    emulator's users, and the test suite's hundreds of commands, the roots they never use.
    A caller that cannot name every origin its client will reach passes no URL: verified.
    """
    if urls and all(urlsplit(url).scheme == "http" for url in urls):
        return _trusting_nothing()
    return _verified()


@lru_cache(maxsize=1)
def _verified() -> ssl.SSLContext:
    return httpx.create_ssl_context()


@lru_cache(maxsize=1)
def _trusting_nothing() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, hostnames checked
    return context
