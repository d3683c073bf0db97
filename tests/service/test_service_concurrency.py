"""200 concurrent deploys from 20 tenants through a real `stratops serve`: each one lands exactly once."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import httpx
import pytest

from generator.fleet import Fleet
from generator.service.tokens import add_token
from tests.service.service_helpers import free_port, spec, start_server
from tests.support import new_fleet

TENANTS = [f"t{i:02d}" for i in range(20)]
PER_TENANT = 10


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return new_fleet(tmp_path / "fleet", tuple(TENANTS))


@pytest.fixture
def server(fleet: Fleet, tmp_path: Path):
    tokens_file = tmp_path / "tokens.yaml"
    tokens_file.write_text("defaults: {rate_per_s: 1000, burst: 1000}\n")
    tokens = {t: add_token(tokens_file, t) for t in TENANTS}
    port = free_port()
    proc = start_server(fleet.path, tokens_file, port, tmp_path / "serve.log")
    yield f"http://127.0.0.1:{port}", tokens
    proc.terminate()
    proc.wait(30)


async def _deploy_all(base: str, tokens: dict[str, str]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=httpx.Limits(max_connections=200)) as client:
        calls = [
            client.put(
                f"/v1/tenants/{t}/strategies/s{i}",
                json=spec(f"s{i}", t),
                headers={"Authorization": f"Bearer {tokens[t]}", "Idempotency-Key": f"{t}-s{i}"},
            )
            for t in TENANTS
            for i in range(PER_TENANT)
        ]
        return await asyncio.gather(*calls)


def test_200_concurrent_deploys_land_exactly_once(server, fleet: Fleet):
    base, tokens = server
    root = fleet.head()  # the fleet with its tenants, before any deploy
    responses = asyncio.run(_deploy_all(base, tokens))
    assert [r.status_code for r in responses] == [200] * 200, [r.text for r in responses if r.status_code != 200][:3]
    commits = {r.json()["commit"] for r in responses}
    assert len(commits) == 200  # one commit per request

    log = fleet.repo.git.log(f"{root}..main", "--format=%H %s").splitlines()
    assert len(log) == 200
    assert {line.split()[0] for line in log} == commits
    subjects = sorted(line.split(" ", 1)[1] for line in log)
    assert subjects == sorted(f"deploy {t}/s{i}" for t in TENANTS for i in range(PER_TENANT))
    assert len(Fleet(fleet.path).list_folders("strategies", 2)) == 200
    subprocess.run(["git", "-C", str(fleet.path), "fsck", "--strict", "--no-dangling"], check=True)
    assert fleet.repo.git.status("--porcelain") == ""

    # Retrying every request with its Idempotency-Key replays the answers: nothing new in git.
    again = asyncio.run(_deploy_all(base, tokens))
    assert [r.json()["commit"] for r in again] == [r.json()["commit"] for r in responses]
    assert all(r.headers.get("idempotent-replayed") == "true" for r in again)
    assert len(fleet.repo.git.log(f"{root}..main", "--format=%H").splitlines()) == 200
