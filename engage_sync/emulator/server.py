"""Serve the emulator on a real socket (standard library threading WSGI server)."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .app import Emulator


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


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
        return environ


def serve(emulator: Emulator, host: str, port: int) -> _Server:
    """Bind (port 0 picks a free one); call serve_forever() on the result."""
    server = make_server(host, port, emulator, server_class=_Server, handler_class=_Handler)
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
