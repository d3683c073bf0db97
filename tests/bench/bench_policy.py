"""Benchmark: every policy in policies/ on 1,000 rendered Deployments (target < 2 s, one core).

.venv/bin/python tests/bench/bench_policy.py
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "policy"))

import policy_objects as o  # noqa: E402

from generator.policy import load_policies  # noqa: E402

N = 1000


def deployments(n: int) -> list[dict]:
    out = []
    for i in range(n):
        d = o.deployment(name=f"strategy-{i:04d}")
        d = copy.deepcopy(d)
        d["spec"]["template"]["metadata"]["labels"]["stratops.io/strategy"] = f"strategy-{i:04d}"
        out.append(d)
    return out


def main() -> None:
    t0 = time.perf_counter()
    policies = load_policies([ROOT / "policies"])
    load_s = time.perf_counter() - t0
    objs, ns = deployments(N), o.namespace()
    t0 = time.perf_counter()
    results = [r for d in objs for r in policies.evaluate(d, ns)]
    eval_s = time.perf_counter() - t0
    statuses = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "error", "skip")}
    print(f"policies: {len(policies)} ({len(policies.compiled)} with autogen copies)")
    print(f"load + compile: {load_s * 1000:.0f} ms")
    print(
        f"evaluate {N} Deployments: {eval_s:.3f} s ({eval_s / N * 1000:.2f} ms per Deployment, "
        f"{len(results)} results, {statuses})"
    )
    print(f"target < 2 s: {'met' if eval_s < 2 else 'MISSED'}")
    for d in objs[::10]:  # every tenth violates two policies: the exact (message) path runs too
        c = d["spec"]["template"]["spec"]["containers"][0]
        c["image"], c["securityContext"]["privileged"] = "docker.io/evil:1", True
    t0 = time.perf_counter()
    results = [r for d in objs for r in policies.evaluate(d, ns)]
    bad_s = time.perf_counter() - t0
    fails = sum(r.status == "fail" for r in results)
    print(f"evaluate {N} Deployments, 10% violating: {bad_s:.3f} s ({fails} failures)")


if __name__ == "__main__":
    main()
