"""Serve the emulator on a real socket (standard library threading WSGI server)."""

from __future__ import annotations

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
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # the request log lives at /_emulator/requests (with tokens redacted)

    def get_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environ()

        def drop() -> None:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.connection.close()

        environ["emulator.drop"] = drop
        return environ


def serve(emulator: Emulator, host: str, port: int) -> _Server:
    """Bind (port 0 picks a free one); call serve_forever() on the result."""
    server = make_server(host, port, emulator, server_class=_Server, handler_class=_Handler)
    return server  # type: ignore[return-value]


def run_until_signal(server: _Server) -> None:
    """Serve until SIGINT/SIGTERM, then shut down cleanly."""
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        for s, h in previous.items():
            signal.signal(s, h)
