"""Benchmark: `stratops check` on a fleet repo, and what pushing to a remote adds to a deploy.

.venv/bin/python tests/bench/bench_gitops.py [--sizes 10,40] [--deploys 5]

check: the full check (build, render with the real helm, schemas, policies, quotas) of a repo with N
strategies, against `--changed-since` with one strategy changed (a pull request's usual shape).
push: a deploy into a clone of a local bare remote (commit + push) against the same deploy with no
remote, and a deploy from a stale clone (push rejected, fetch, rebase with the check re-run, push).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from generator import actions, tenants  # noqa: E402
from generator.check import check_repo  # noqa: E402
from generator.fleet import Fleet  # noqa: E402
from tests.support import AUTHOR, FLEET_URL, new_fleet, write_spec  # noqa: E402


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _deploy(fleet: Fleet, specs: Path, name: str) -> actions.Outcome:
    return actions.deploy(fleet, actions.load_strategy(fleet, write_spec(specs / name, name=name)), AUTHOR)


def bench_check(sizes: list[int], work: Path) -> None:
    print("check: size | full s | ms/strategy | changed-since s | ratio full/changed")
    for size in sizes:
        fleet = actions.init(work / f"check-{size}", "local", AUTHOR, FLEET_URL)
        tenants.add_tenant(fleet, "alice", "100", "200Gi", size + 1, AUTHOR, "2", "4Gi")
        for i in range(size):
            _deploy(fleet, work / f"specs-{size}", f"s{i:03d}")
        started = time.perf_counter()
        full = check_repo(fleet)
        full_s = time.perf_counter() - started
        assert full.ok, [str(f) for f in full.errors]
        values = fleet.path / "strategies/alice/s000/values.yaml"
        values.write_text(values.read_text().replace('"window": 20', '"window": 21'))
        started = time.perf_counter()
        changed = check_repo(fleet, changed_since="HEAD")
        changed_s = time.perf_counter() - started
        assert changed.ok
        per = full_s / size * 1000
        print(f"  {size:5d} | {full_s:6.2f} | {per:11.0f} | {changed_s:15.2f} | {full_s / changed_s:6.1f}x")


def bench_push(deploys: int, work: Path) -> None:
    seed = new_fleet(work / "seed", ("alice",), quota=("100", "200Gi", 1000))
    bare = work / "remote.git"
    _git(work, "clone", "-q", "--bare", str(seed.path), str(bare))
    local = new_fleet(work / "local", ("alice",), quota=("100", "200Gi", 1000))
    _git(work, "clone", "-q", str(bare), str(work / "pusher"))
    pusher = Fleet(work / "pusher")
    times: dict[str, list[float]] = {"no remote": [], "push": [], "stale clone (rebase)": []}
    for i in range(deploys):
        for label, fleet in (("no remote", local), ("push", pusher)):
            started = time.perf_counter()
            outcome = _deploy(fleet, work / f"specs-{label[:2]}", f"p{i:03d}")
            times[label].append(time.perf_counter() - started)
            assert outcome.commit and (label == "no remote" or outcome.pushed)
        stale = work / f"stale-{i}"
        _git(work, "clone", "-q", str(bare), str(stale))
        _deploy(pusher, work / "specs-mv", f"m{i:03d}")  # the remote moves on
        started = time.perf_counter()
        outcome = _deploy(Fleet(stale), work / "specs-st", f"r{i:03d}")
        times["stale clone (rebase)"].append(time.perf_counter() - started)
        assert outcome.pushed
    base = statistics.median(times["no remote"])
    print("deploy: case | median ms | ratio to no remote")
    for label, values in times.items():
        median = statistics.median(values)
        print(f"  {label:22s} | {median * 1000:9.0f} | {median / base:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,40")
    parser.add_argument("--deploys", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_check([int(s) for s in args.sizes.split(",")], Path(tmp))
        bench_push(args.deploys, Path(tmp))


if __name__ == "__main__":
    main()
