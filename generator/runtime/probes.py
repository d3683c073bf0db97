"""HTTP to an executor's unix socket: probes (like the kubelet's httpGet) and /metrics scrapes."""

from __future__ import annotations

import http.client
import socket


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def get(socket_path: str, path: str, timeout: float = 1.0) -> tuple[int, bytes]:
    """(status, body); status 0 when the executor does not answer (kubelet: probe failure)."""
    conn = _UnixConnection(socket_path, timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return 0, b""
    finally:
        conn.close()


def probe(socket_path: str, path: str, timeout: float = 1.0) -> bool:
    """Success as the kubelet counts it: 200 <= status < 400."""
    return 200 <= get(socket_path, path, timeout)[0] < 400
