"""Serve the emulator on a real socket (standard library threading WSGI server)."""

from __future__ import annotations

import contextlib
import signal
import socket
import struct
import threading
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .app import Emulator
from .guard import Guard


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    # Connections waiting to be accepted. The standard library's 5 is far under the 30 loader
    # calls a client may send at once (each on its own connection: this server speaks HTTP/1.0);
    # past it the kernel drops the handshake and the client's retry comes a second later, so
    # answers stalled by seconds that no real server would add.
    request_queue_size = 128
    clock: Any = None  # the emulator's clock: when each connection was accepted

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept a connection, noting when: a call counts against the rate limits when it
        arrives, not when a busy machine gets round to handling it (the client counts it from
        when its request was sent, later than this)."""
        sock, address = super().get_request()
        stamped = Address(address)
        stamped.arrived = self.clock() if self.clock is not None else None
        return sock, stamped


def received(connection: socket.socket, address: Any, clock: Any) -> float | None:
    """When the request's last bytes reached this machine: the kernel's own record (Linux
    TCP_INFO's tcpi_last_data_recv, in milliseconds ago), else when the connection was
    accepted. A busy emulator holding the GIL may accept and handle a call long after it came;
    a real server counts it when it came."""
    accepted: float | None = getattr(address, "arrived", None)
    if accepted is None or clock is None or not hasattr(socket, "TCP_INFO"):
        return accepted
    if getattr(clock, "stopped", None) is not None:  # a stopped clock (tests'): the kernel's
        return accepted  # "ago" is wall time, and would spread calls made at one moment
    try:
        info = connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        (ago_ms,) = struct.unpack_from("I", info, 52)  # tcpi_last_data_recv
    except (OSError, struct.error):  # pragma: no cover - a kernel without it
        return accepted
    came = float(clock()) - ago_ms / 1000
    return min(accepted, came) if ago_ms < 60_000 else accepted


class Address(tuple):  # type: ignore[type-arg]
    """A client address that also says when its connection was accepted."""

    arrived: float | None = None


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log lives at /_emulator/requests (with tokens redacted)

    def get_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environ()

        def drop() -> None:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()

        environ["emulator.drop"] = drop
        environ["emulator.arrived"] = received(
            self.connection, self.client_address, getattr(self.server, "clock", None)
        )
        return environ


def serve(
    emulator: Emulator,
    host: str,
    port: int,
    allowed_hosts: Iterable[str] = (),
    admin_token: str | None = None,
) -> _Server:
    """Bind (port 0 picks a free one); call serve_forever() on the result. Requests pass the
    guard first (guard.py): loopback Host headers or `allowed_hosts`, no other origin, JSON
    admin posts, and `admin_token` on the admin endpoints when one is given."""
    guarded = Guard(emulator, allowed_hosts, admin_token)
    server = make_server(host, port, guarded, server_class=_Server, handler_class=_Handler)
    server.clock = emulator.clock
    return server


class SignalStop:
    """SIGINT/SIGTERM set an event instead of killing the process; install before announcing."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous = {
            s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)
        }

    def _handle(self, signum: int, frame: object) -> None:
        self.event.set()

    def restore(self) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)


def run_until_signal(server: _Server, stop: SignalStop) -> None:
    """Serve until SIGINT/SIGTERM, then shut down cleanly."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    try:
        stop.event.wait()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        stop.restore()
