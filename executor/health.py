"""HTTP probes and metrics: /livez /readyz /startupz /metrics /drainz."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from executor.metrics import ExecutorMetrics


@dataclass
class Health:
    """Probe state, written by the event loop and the watchdog, read by the HTTP thread."""

    started: bool = False
    live: bool = True
    failed_reason: str = ""
    live_reason: str = ""
    draining: bool = False
    drained: threading.Event = field(default_factory=threading.Event)

    @property
    def ready(self) -> bool:
        return self.started and self.live and not self.failed_reason and not self.draining

    def snapshot(self) -> dict[str, object]:
        return {
            "started": self.started,
            "live": self.live,
            "ready": self.ready,
            "failed": self.failed_reason or None,
            "liveReason": self.live_reason or None,
            "draining": self.draining,
        }


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        path = self.path.split("?", 1)[0]
        route = {
            "/livez": self._livez,
            "/readyz": self._readyz,
            "/startupz": self._startupz,
            "/metrics": self._metrics,
            "/drainz": self._drainz,
        }.get(path)
        if route is None:
            self._send(404, {"error": "not found"})
            return
        route()

    do_POST = do_GET  # noqa: N815 - preStop hooks may use either verb

    def _livez(self) -> None:
        h = self.server.health
        self._send(200 if h.live else 503, h.snapshot())

    def _readyz(self) -> None:
        h = self.server.health
        self._send(200 if h.ready else 503, h.snapshot())

    def _startupz(self) -> None:
        h = self.server.health
        self._send(200 if h.started or h.failed_reason else 503, h.snapshot())

    def _metrics(self) -> None:
        body = generate_latest(self.server.metrics.registry)
        self._raw(200, body, CONTENT_TYPE_LATEST)

    def _drainz(self) -> None:
        ok = self.server.drain()
        self._send(200 if ok else 503, {"drained": ok, **self.server.health.snapshot()})

    def _send(self, code: int, body: dict[str, object]) -> None:
        self._raw(code, json.dumps(body).encode() + b"\n", "application/json")

    def _raw(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence access log
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    health: Health
    metrics: ExecutorMetrics
    drain: Callable[[], bool]


class _UnixServer(socketserver.ThreadingUnixStreamServer):
    """The same endpoints on a unix socket: reachable from the host even inside a private network namespace."""

    daemon_threads = True
    health: Health
    metrics: ExecutorMetrics
    drain: Callable[[], bool]


def start_http(
    host: str,
    port: int,
    health: Health,
    metrics: ExecutorMetrics,
    drain: Callable[[], bool],
    unix_socket: str | None = None,
    listen_fd: int | None = None,
) -> _Server | _UnixServer:
    if listen_fd is not None:  # a listening unix socket made by the runtime: no path the executor could replace
        server: _Server | _UnixServer = _UnixServer(None, _Handler, bind_and_activate=False)
        server.socket.close()
        server.socket = socket.socket(fileno=listen_fd)
    elif unix_socket:  # the caller removes a stale socket file: the audit guard forbids it here
        server = _UnixServer(unix_socket, _Handler)
    else:
        server = _Server((host, port), _Handler)
    server.health, server.metrics, server.drain = health, metrics, drain
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
