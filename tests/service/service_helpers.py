"""Helpers for the HTTP service tests: tokens, spec bodies, a running `stratops serve` subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support import MOMENTUM, repo_fingerprint

ADMIN = "admin-token-0123456789"
TENANTS = ("alice", "bob")
USERS = ("ann", "rita", "sam")  # users of tenant alice, each with a token of their own
ENV = {
    "STRATOPS_ADMIN_TOKEN": ADMIN,
    "STRATOPS_TENANT_TOKENS": ",".join(
        [f"{t}={t}-token-0123456789" for t in TENANTS] + [f"{u}@alice={u}-alice-token-0123" for u in USERS]
    ),
}


def token(tenant: str) -> str:
    return f"{tenant}-token-0123456789"


def user_auth(user: str) -> dict[str, str]:
    """The token of `user` of tenant alice."""
    return {"Authorization": f"Bearer {user}-alice-token-0123"}


def auth(tenant: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN if tenant is None else token(tenant)}"}


def spec(name: str = "momentum-btc", tenant: str = "alice", code: str = MOMENTUM, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": name, "tenant": tenant},
        "spec": {
            "code": {"inline": code, "class": "Momentum"},
            "subscriptions": ["trades.BTC-USD"],
            "params": {"window": 20},
            "resources": {"cpu": "250m", "memory": "256Mi"},
            **extra,
        },
    }
    return {"spec": body}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(repo: Path, tokens_file: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """A real `stratops serve` process; returns once /healthz answers."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "generator.cli",
                "serve",
                "--repo",
                str(repo),
                "--tokens",
                str(tokens_file),
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=Path(__file__).resolve().parents[2],
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"stratops serve exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"stratops serve did not start: {log.read_text()[-2000:]}")


def repo_state(path: Path) -> str:
    """tests.support.repo_fingerprint minus the service's own state (.git/stratops-service)."""
    return repo_fingerprint(path, ignore=("stratops-cache", "stratops-service"))
