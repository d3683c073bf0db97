"""Benchmark: the real control plane (`stratops cluster`): up cold and warm, idle memory, commit → Ready.

.venv/bin/python -m tests.bench cluster        (options: python tests/bench/bench_cluster.py --help)

- `cluster up` twice on one state folder: the first start after a build (binaries not yet in the page cache,
  a new state folder) and a second one; both start from empty etcd data and new certificates.
- memory: the resident set of every control-plane process, summed, after the fleet is Ready and idle.
- commit → HelmRelease Ready: a code change to one strategy committed by `stratops deploy`, Flux asked to
  reconcile (the requestedAt annotation, as `flux reconcile` does), then polled until the HelmRelease is Ready
  and its Deployment carries the new code digest. With 1 strategy in the fleet, then with 100.
  Baseline: Flux's own interval for the fleet's GitRepository (1m) — what a commit waits for without a request.
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

import yaml  # noqa: E402

from generator import actions  # noqa: E402
from generator.cluster import components, controlplane  # noqa: E402
from generator.cluster.kube import Kube, is_ready  # noqa: E402
from generator.spec import parse_spec  # noqa: E402
from tests.support import AUTHOR  # noqa: E402

TENANT = "bench"
SOURCE_INTERVAL_S = 60.0  # the flux-system GitRepository's interval (generator/cluster/bootstrap.py)


def spec_text(name: str, round_: int) -> str:
    return (
        "apiVersion: stratops.io/v1\nkind: Strategy\n"
        f"metadata: {{name: {name}, tenant: {TENANT}}}\n"
        "spec:\n"
        "  code:\n    class: Momentum\n    inline: |\n"
        "      from executor import Strategy\n\n\n"
        "      class Momentum(Strategy):\n"
        f"          ROUND = {round_}\n"
        '  subscriptions: ["trades.BTC-USD"]\n'
        "  params: {window: 20}\n"
        "  resources: {cpu: 50m, memory: 64Mi}\n"
    )


def rss_mib(pids: dict[str, int]) -> dict[str, float]:
    usage = {}
    for name, pid in pids.items():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        usage[name] = kib / 1024
    return usage


def wait(what: str, predicate, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise SystemExit(f"bench: {what} not after {timeout:.0f}s")


def released(kube: Kube, fleet, name: str) -> bool:
    values = yaml.safe_load(fleet.read_file(f"strategies/{TENANT}/{name}/values.yaml") or b"{}")
    release = kube.get(*controlplane.HELMRELEASE, name, TENANT)
    deployment = kube.get("apps/v1", "Deployment", name, TENANT)
    if not (is_ready(release) and deployment):
        return False
    annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    return annotations.get("stratops.io/code-sha256") == values["code"]["sha256"]


# Where a commit's time goes: the first moment each step of the chain has seen the commit.
PHASES = ("source", "infrastructure", "policies", "strategies", "applied", "ready")


def phase_reached(kube: Kube, fleet, sha: str, generation: int) -> dict[str, bool]:
    """Which steps have the commit SHA: the fleet GitRepository's artifact, each cluster Kustomization's last
    applied revision, the probe HelmRelease's spec (a new generation: kustomize-controller applied it), Ready."""
    source = kube.get(*controlplane.GITREPOSITORY, "flux-system", "flux-system") or {}
    reached = {"source": sha in str(((source.get("status") or {}).get("artifact") or {}).get("revision"))}
    for name in ("infrastructure", "policies", "strategies"):
        applied = (kube.get(*controlplane.KUSTOMIZE, name, "flux-system") or {}).get("status") or {}
        reached[name] = sha in str(applied.get("lastAppliedRevision"))
    release = kube.get(*controlplane.HELMRELEASE, "probe", TENANT) or {"metadata": {}}
    reached["applied"] = release["metadata"].get("generation", 0) > generation
    reached["ready"] = reached["applied"] and released(kube, fleet, "probe")
    return reached


def commit_to_ready(state: Path, fleet, kube: Kube, rounds: int, start: int) -> tuple[list[float], list[dict]]:
    latencies, breakdowns = [], []
    for n in range(rounds):
        release = kube.get(*controlplane.HELMRELEASE, "probe", TENANT) or {"metadata": {}}
        generation = release["metadata"].get("generation", 0)
        t0 = time.monotonic()
        outcome = actions.deploy(fleet, parse_spec(spec_text("probe", start + n)), AUTHOR)
        assert outcome.commit, "every round must commit"
        controlplane.reconcile(state)
        seen: dict[str, float] = {}
        while "ready" not in seen:
            if time.monotonic() - t0 > 600:
                raise SystemExit(f"bench: commit → Ready not after 600 s (reached: {sorted(seen)})")
            now = time.monotonic() - t0
            for phase, done in phase_reached(kube, fleet, outcome.commit, generation).items():
                if done:
                    seen.setdefault(phase, now)
            time.sleep(0.1)
        latencies.append(seen["ready"])
        breakdowns.append(seen)
    return latencies, breakdowns


def print_breakdown(breakdowns: list[dict]) -> None:
    """The median moment each step saw the commit (s after the commit); '-' when skipped by a sampled poll."""
    cells = []
    for phase in PHASES:
        times = [b[phase] for b in breakdowns if phase in b]
        cells.append(f"{phase} {statistics.median(times):.1f}" if times else f"{phase} -")
    print("           median s after the commit: " + ", ".join(cells))


def fleet_ready(kube: Kube, size: int) -> bool:
    releases = kube.list(*controlplane.HELMRELEASE, namespace=TENANT)
    return len(releases) >= size - 1 and all(is_ready(r) for r in releases)


def fill(fleet, count: int) -> None:
    for i in range(count):
        actions.deploy(fleet, parse_spec(spec_text(f"filler-{i:03d}", 0)), AUTHOR)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="commits measured per fleet size")
    parser.add_argument("--sizes", default="1,100", help="strategies in the fleet while measuring")
    parser.add_argument("--one-start", action="store_true", help="start the cluster once (no cold/warm pair)")
    args = parser.parse_args(argv)
    components.require()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="stratops-bench-cluster-") as tmp:
        fleet = actions.init(Path(tmp) / "fleet", "bench", AUTHOR)
        from generator.tenants import add_tenant  # noqa: PLC0415

        add_tenant(fleet, TENANT, "64", "128Gi", max(sizes) + 10, AUTHOR, push=False)
        state = Path(tmp) / "state"
        ups = []
        for label in ("cold",) if args.one_start else ("cold", "warm"):
            up = controlplane.up(state, fleet.path, say=lambda _: None)
            ups.append((label, up.up_seconds))
            if label == "cold" and not args.one_start:
                controlplane.down(state, say=lambda _: None)
        print("cluster up (etcd, kube-apiserver, controller-manager, scheduler, kwok, git, Flux; flux-system Ready):")
        for label, seconds in ups:
            print(f"  {label:5} {seconds:6.1f} s")
        try:
            kube = Kube(up.kubeconfig)
            time.sleep(10)
            usage = rss_mib(up.pids)
            print(f"idle memory: {sum(usage.values()):.0f} MiB resident in total")
            for name, mib in sorted(usage.items(), key=lambda kv: -kv[1]):
                print(f"  {name:24} {mib:6.0f} MiB")
            print(
                f"commit → HelmRelease Ready ({args.rounds} commits each;"
                f" baseline: source interval {SOURCE_INTERVAL_S:.0f} s)"
            )
            print(f"{'strategies':>10} {'p50 s':>7} {'p99 s':>7} {'p50/interval':>13}")
            deployed, round_ = 0, 1
            for size in sizes:
                t0 = time.monotonic()
                fill(fleet, size - 1 - deployed)
                filled = time.monotonic() - t0
                if size - 1 > deployed:
                    controlplane.reconcile(state)
                    ready = wait("the fleet Ready", lambda n=size: fleet_ready(kube, n), 900)
                    added = size - 1 - deployed
                    print(f"{'':>10} ({added} more committed in {filled:.0f} s, all Ready {ready:.0f} s later)")
                deployed = size - 1
                latencies, breakdowns = commit_to_ready(state, fleet, kube, args.rounds, round_)
                round_ += args.rounds
                p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
                print(f"{size:>10} {p50:>7.1f} {p99:>7.1f} {p50 / SOURCE_INTERVAL_S:>12.2f}x", flush=True)
                print_breakdown(breakdowns)
        finally:
            controlplane.down(state, say=lambda _: None)
    print("target: p50 well under Flux's interval (a reconcile request, not a poll)")


if __name__ == "__main__":
    main()
