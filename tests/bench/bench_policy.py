"""Benchmark: the offline policy engine against the real kyverno CLI.

`make bench AREAS=policy`:
1. every policy in policies/ on the same 1,000 rendered Deployments, by the engine in this process and
   by one `kyverno apply` process (target: engine >= 10x faster), results compared;
2. the differential run: generated workloads x CEL programs (fresh hypothesis seeds, >= 20,000
   cases) through `kyverno apply` and the engine, disagreements listed.
"""

from __future__ import annotations

import copy
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "policy"))

import differential  # noqa: E402
import kyverno_cli  # noqa: E402
import policy_objects as o  # noqa: E402

from generator.policy import load_policies  # noqa: E402

N = 1000
DIFFERENTIAL_BATCHES = int(os.environ.get("STRATOPS_BENCH_DIFF_BATCHES", "5"))
PROGRAMS_PER_BATCH = 40  # x 120 objects = 4,800 cases per batch


def deployments(n: int) -> list[dict]:
    out = []
    for i in range(n):
        d = copy.deepcopy(o.deployment(name=f"strategy-{i:04d}"))
        d["spec"]["template"]["metadata"]["labels"]["stratops.io/strategy"] = f"strategy-{i:04d}"
        if i % 10 == 0:  # every tenth violates two policies: messages are computed too
            c = d["spec"]["template"]["spec"]["containers"][0]
            c["image"], c["securityContext"]["privileged"] = "docker.io/evil:1", True
        out.append(d)
    return out


def values_file(folder: Path, namespace: dict) -> Path:
    """The tenant Namespace for kyverno apply: labels for namespaceSelector, the object for namespaceObject."""
    name = namespace["metadata"]["name"]
    values = {
        "apiVersion": "cli.kyverno.io/v1alpha1",
        "kind": "Values",
        "metadata": {"name": "values"},
        "namespaces": [namespace],
        "namespaceSelector": [{"name": name, "labels": namespace["metadata"]["labels"]}],
    }
    path = folder / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def speed(folder: Path) -> None:
    kyverno = kyverno_cli.kyverno()
    objs, ns = deployments(N), o.namespace()
    resources = folder / "deployments.yaml"
    resources.write_text(yaml.safe_dump_all(objs))
    values = values_file(folder, ns)

    t0, c0 = time.perf_counter(), time.process_time()
    policies = load_policies([ROOT / "policies"], numbers_as_float=True)
    results = [r for d in objs for r in policies.evaluate(d, ns)]
    engine_s, engine_cpu = time.perf_counter() - t0, time.process_time() - c0
    engine = {(r.policy, r.resource.split("/")[-1]): r.status for r in results}

    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [str(kyverno), "apply", str(ROOT / "policies"), "--resource", str(resources), "--values-file", str(values)]
        + ["--policy-report", "--output-format", "json"],
        capture_output=True,
        text=True,
    )
    kyverno_s = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    kyverno_cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    want = differential.parse_report(proc.stdout)
    cli = {(p, key.split("/")[-1]): s for (p, key), s in want.items()}
    differ = sum(cli.get(k) != v for k, v in engine.items()) + len(set(cli) - set(engine))
    print(f"policies: {len(policies)} ({len(policies.compiled)} with autogen copies), {N} Deployments")
    for who, wall, cpu, n in (
        ("engine (load, compile, evaluate; in process)", engine_s, engine_cpu, len(results)),
        ("kyverno apply (one process, same files)", kyverno_s, kyverno_cpu, len(cli)),
    ):
        print(f"{who}: {wall:.2f} s wall, {cpu:.2f} s CPU, {n} results")
    print(
        f"ratio kyverno / engine: {kyverno_s / engine_s:.1f}x wall, {kyverno_cpu / engine_cpu:.1f}x CPU "
        f"(target >= 10x: {'met' if kyverno_s >= 10 * engine_s else 'MISSED'})"
    )
    print(f"results differing between the two: {differ}")


def differential_run(folder: Path) -> None:
    kyverno = kyverno_cli.kyverno()
    cases = 0
    disagreements: list[str] = []
    started = time.perf_counter()
    for batch in range(DIFFERENTIAL_BATCHES):
        seed = random.randrange(2**32)
        expressions, objects = differential.draw_cases(PROGRAMS_PER_BATCH, seed)
        found = differential.compare(kyverno, folder / f"batch{batch}", expressions, objects)
        cases += len(expressions) * len(objects)
        disagreements += [f"seed {seed}: {line}" for line in found]
        print(
            f"  batch {batch + 1}/{DIFFERENTIAL_BATCHES} (seed {seed}): {len(expressions)} programs x "
            f"{len(objects)} objects, {len(found)} disagreements",
            flush=True,
        )
    print(f"differential: {cases} cases in {time.perf_counter() - started:.0f} s, {len(disagreements)} disagreements")
    for line in disagreements[:30]:
        print("  " + line)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-policy-") as tmp:
        speed(Path(tmp))
        differential_run(Path(tmp))


if __name__ == "__main__":
    main()
