"""Benchmark: deploys through `stratops serve` with 50 concurrent clients, on a repo of 1,000 strategies.

.venv/bin/python tests/bench/bench_service.py [--deploys N] [--clients 50]

The repo is filled with 1,000 strategies (10 tenants) in one commit through the Fleet object-db API. The
baseline is the same kind of deploys through `actions.deploy`, one after another in this process; the
service run sends the deploys from 50 concurrent HTTP clients to a real `stratops serve` subprocess
(uvicorn), which queues them for its single commit writer. Each deploy is a real change of an existing
strategy. Figures: deploys/s, p50 and p99 latency as the client sees it, and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from generator import actions  # noqa: E402
from generator.render import folder_files, strategy_dir  # noqa: E402
from generator.service.tokens import add_token  # noqa: E402
from generator.spec import strategy_from_document  # noqa: E402
from tests.service.service_helpers import free_port, spec, start_server  # noqa: E402
from tests.support import AUTHOR, new_fleet  # noqa: E402

TENANTS = [f"tenant-{i:02d}" for i in range(10)]
PER_TENANT = 100


def document(tenant: str, name: str, window: int) -> dict:
    doc = spec(name, tenant)
    doc["spec"]["spec"]["params"] = {"window": window}
    return doc


def filled_fleet(workdir: Path):
    fleet = new_fleet(workdir / "fleet", tuple(TENANTS), quota=("64", "128Gi", 10 * PER_TENANT))
    changes: dict[PurePosixPath, dict[str, bytes] | None] = {}
    for tenant in TENANTS:
        for i in range(PER_TENANT):
            strategy = strategy_from_document(document(tenant, f"s{i:03d}", 20)["spec"])
            changes[strategy_dir(tenant, strategy.name)] = folder_files(strategy)
    with fleet.lock():
        fleet.commit_folders(changes, "bulk: 1,000 strategies", AUTHOR)
    return fleet


def targets(deploys: int, offset: int) -> list[tuple[str, str, int]]:
    """(tenant, name, window): spread over tenants and strategies, each a new params value."""
    return [(TENANTS[n % len(TENANTS)], f"s{(n // len(TENANTS)) % PER_TENANT:03d}", offset + n) for n in range(deploys)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def baseline(fleet, deploys: int) -> dict:
    latencies = []
    started = time.perf_counter()
    for tenant, name, window in targets(deploys, 1000):
        t0 = time.perf_counter()
        strategy = strategy_from_document(document(tenant, name, window)["spec"])
        assert actions.deploy(fleet, strategy, AUTHOR).commit
        latencies.append(time.perf_counter() - t0)
    return summary(latencies, time.perf_counter() - started)


async def _service_run(base: str, tokens: dict[str, str], deploys: int, clients: int) -> tuple[list[float], float]:
    work = asyncio.Queue()
    for item in targets(deploys, 5000):
        work.put_nowait(item)
    latencies: list[float] = []

    async def client_loop(client: httpx.AsyncClient) -> None:
        while not work.empty():
            tenant, name, window = work.get_nowait()
            t0 = time.perf_counter()
            response = await client.put(
                f"/v1/tenants/{tenant}/strategies/{name}",
                json=document(tenant, name, window),
                headers={"Authorization": f"Bearer {tokens[tenant]}"},
            )
            assert response.status_code == 200 and response.json()["changed"], response.text
            latencies.append(time.perf_counter() - t0)

    async with httpx.AsyncClient(base_url=base, timeout=600, limits=httpx.Limits(max_connections=clients)) as c:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(c) for _ in range(clients)))
        return latencies, time.perf_counter() - started


def service(fleet, workdir: Path, deploys: int, clients: int) -> dict:
    tokens_file = workdir / "tokens.yaml"
    tokens_file.write_text(json.dumps({"defaults": {"rate_per_s": 10000, "burst": 10000, "max_strategies": 1000}}))
    tokens = {t: add_token(tokens_file, t) for t in TENANTS}
    port = free_port()
    proc = start_server(fleet.path, tokens_file, port, workdir / "serve.log")
    try:
        latencies, wall = asyncio.run(_service_run(f"http://127.0.0.1:{port}", tokens, deploys, clients))
    finally:
        proc.terminate()
        proc.wait(60)
    return summary(latencies, wall)


def summary(latencies: list[float], wall: float) -> dict:
    return {
        "deploys": len(latencies),
        "wall_s": wall,
        "per_s": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=200)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        t0 = time.perf_counter()
        fleet = filled_fleet(workdir)
        print(f"filled 1,000 strategies in one commit: {time.perf_counter() - t0:.1f} s")
        base = baseline(fleet, args.deploys)
        served = service(fleet, workdir, args.deploys, args.clients)
        commits = int(fleet.repo.git.rev_list("--count", "main"))
        assert commits == 2 + 2 * args.deploys, f"expected {2 + 2 * args.deploys} commits, found {commits}"
    print(f"{'run':<36}{'deploys':>8}{'wall s':>9}{'deploys/s':>11}{'p50 ms':>9}{'p99 ms':>9}")
    for label, r in (("actions.deploy, serial (baseline)", base), (f"stratops serve, {args.clients} clients", served)):
        print(
            f"{label:<36}{r['deploys']:>8}{r['wall_s']:>9.1f}{r['per_s']:>11.2f}{r['p50_ms']:>9.0f}{r['p99_ms']:>9.0f}"
        )
    print(f"throughput ratio service/baseline: {served['per_s'] / base['per_s']:.2f}x")


if __name__ == "__main__":
    main()
