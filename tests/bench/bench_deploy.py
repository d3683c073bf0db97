"""Benchmark: deploy latency and 1,000-deploy wall time with 100, 1,000 and 10,000 strategies in the repo.

.venv/bin/python tests/bench/bench_deploy.py [--deploys N] [--sizes 100,1000,10000]

Each deploy is the full path a user takes (`actions.deploy`: render, helm template through the real helm
binary, values and Kubernetes schemas, policies, git commit and work-tree update). The repo is filled in one
commit first. Targets at 10,000: p50 < 300 ms, p99 < 1 s, and a cost per deploy that does not grow linearly
with the repo (the ratio column compares each size with the smallest one).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from generator import actions  # noqa: E402
from generator.render import folder_files, strategy_dir  # noqa: E402
from generator.spec import parse_spec  # noqa: E402
from tests.support import AUTHOR, MOMENTUM, new_fleet  # noqa: E402

STRATEGIES_PER_TENANT = 100


def spec_text(tenant: str, name: str, window: int) -> str:
    code = "".join(f"      {line}\n" if line else "\n" for line in MOMENTUM.splitlines())
    return (
        "apiVersion: stratops.io/v1\nkind: Strategy\n"
        f"metadata: {{name: {name}, tenant: {tenant}}}\n"
        "spec:\n"
        f"  code:\n    class: Momentum\n    inline: |\n{code}"
        '  subscriptions: ["trades.BTC-USD"]\n'
        f"  params: {{window: {window}}}\n"
        "  resources: {cpu: 100m, memory: 128Mi}\n"
    )


def key(i: int) -> tuple[str, str]:
    return f"tenant-{i // STRATEGIES_PER_TENANT:03d}", f"strategy-{i % STRATEGIES_PER_TENANT:03d}"


def filled_fleet(size: int, workdir: Path):
    """A fleet repo holding `size` strategies, added in one plain git commit (the specs are known good)."""
    tenants = tuple(sorted({key(i)[0] for i in range(size)}))
    fleet = new_fleet(workdir / f"fleet-{size}", tenants, quota=("64", "128Gi", STRATEGIES_PER_TENANT))
    for i in range(size):
        strategy = parse_spec(spec_text(*key(i), window=20))
        folder = fleet.path / strategy_dir(strategy.tenant, strategy.name)
        folder.mkdir(parents=True)
        for name, data in folder_files(strategy).items():
            (folder / name).write_bytes(data)
    fleet.repo.git.add("strategies")
    fleet.repo.git.commit("-q", "-m", f"bulk: {size} strategies", f"--author={AUTHOR.name} <{AUTHOR.email}>")
    return fleet


def run_size(size: int, deploys: int, workdir: Path) -> dict:
    started = time.perf_counter()
    fleet = filled_fleet(size, workdir)
    fill_s = time.perf_counter() - started
    latencies, stages = [], {"render": [], "values": [], "kubernetes": [], "policy": []}
    wall = time.perf_counter()
    for n in range(deploys):
        strategy = parse_spec(spec_text(*key(n % size), window=21 + n))  # a real change every time
        t0 = time.perf_counter()
        outcome = actions.deploy(fleet, strategy, AUTHOR)
        latencies.append(time.perf_counter() - t0)
        assert outcome.commit, "every deploy must commit"
        for stage, seconds in outcome.report.timings.items():
            stages[stage].append(seconds)
    wall_s = time.perf_counter() - wall
    commits = int(fleet.repo.git.rev_list("--count", "HEAD"))
    assert commits == deploys + 2, f"expected {deploys + 2} commits, found {commits}"
    assert fleet.repo.git.status("--porcelain") == "", "the work tree must be clean after the run"
    latencies.sort()
    return {
        "size": size,
        "fill_s": fill_s,
        "wall_s": wall_s,
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "stages": {stage: statistics.mean(v) for stage, v in stages.items() if v},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=1000)
    parser.add_argument("--sizes", default="100,1000,10000")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"deploy benchmark: {args.deploys} deploys per repo size, sizes {sizes}")
    print(f"{'strategies':>10} {'fill':>7} {'wall':>8} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6}  time per deploy")
    baseline = None
    with tempfile.TemporaryDirectory(prefix="stratops-bench-") as tmp:
        for size in sizes:
            r = run_size(size, args.deploys, Path(tmp))
            baseline = baseline or r["p50"]
            checks = sum(r["stages"].values())
            parts = ", ".join(f"{k} {v * 1000:.0f}" for k, v in r["stages"].items())
            print(
                f"{size:>10} {r['fill_s']:>6.1f}s {r['wall_s']:>7.1f}s {r['p50'] * 1000:>7.0f} {r['p99'] * 1000:>7.0f}"
                f" {r['p50'] / baseline:>5.2f}x  {parts}; git + rest {(r['p50'] - checks) * 1000:.0f} ms"
            )
    print("targets at 10,000: p50 < 300 ms, p99 < 1 s, ratio far below the 100x growth of the repo")


if __name__ == "__main__":
    main()
