"""Console test support: a real `stratops serve` on a temp fleet repo with two tenants, and a real headless Chromium.

The browser is Debian's chromium (`make browser` installs it) driven by the playwright package;
no browser is downloaded. Without a chromium the browser tests skip and say why.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import needs
from tests.support import new_fleet

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "console"
TOKENS = {"alice": "sto_alice-console-test-token", "bob": "sto_bob-console-test-token"}
REVIEWER = "rita@alice"  # a user of tenant alice (the other tokens are the tenants' own)
TOKENS[REVIEWER] = "sto_rita-console-test-token"
ADMIN_TOKEN = "sto_admin-console-test-token"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("STRATOPS_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class Server:
    url: str
    repo: Path

    def api(self, tenant: str) -> httpx.Client:
        """A client with the tenant's token ("admin": the admin token)."""
        token = ADMIN_TOKEN if tenant == "admin" else TOKENS[tenant]
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`stratops serve` as a subprocess on a fresh fleet repo; tokens for alice, bob and admin from the environment."""
    repo = tmp_path_factory.mktemp("console") / "fleet"
    new_fleet(repo)
    port = _free_port()
    env = {
        **os.environ,
        "STRATOPS_TENANT_TOKENS": ",".join(f"{t}={tok}" for t, tok in TOKENS.items()),
        "STRATOPS_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    env.pop("STRATOPS_TOKENS", None)
    log = (tmp_path_factory.mktemp("console-log") / "serve.log").open("w+")
    cmd = [sys.executable, "-m", "generator.cli", "serve", "--repo", str(repo), "--host", "127.0.0.1"]
    cmd += ["--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield Server(url, repo)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_healthy(url: str, proc: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"stratops serve exited with {proc.returncode}:\n{log.read()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail("stratops serve did not answer /healthz within 30 s")


@contextmanager
def run_up(repo: Path, fast: bool = True) -> Iterator[subprocess.Popen]:
    """A real `stratops up` on the repo, stopped with SIGTERM at the end.

    `fast`: the feed sends 500 messages/s (a pass over the bundled sample in ~45 s, on the sample's own clock);
    otherwise the default speed, `recorded`: the sample's pace, re-stamped to the wall clock.
    """
    log = (repo.parent / "up.log").open("w")
    cmd = [sys.executable, "-m", "generator.cli", "up", str(repo)]
    cmd += ["--feed-speed", "fixed", "--feed-rate", "500"] if fast else []
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = chromium_path()
    if executable is None:
        needs.missing("no chromium", "run `make browser` (apt-get install chromium) or set STRATOPS_CHROMIUM")
    sync_api = needs.module("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
