"""One real control plane per test run, shared by every pytest-xdist worker.

The controlling pytest process makes a run folder (STRATOPS_E2E_DIR, inherited by the workers) and stops the
cluster when the whole run ends. The first worker that needs the cluster starts it under a file lock: a fleet
made with `stratops init --cluster`, a tenant, `stratops cluster up`, the three examples deployed and every
Flux object Ready; the other worker then finds it ready (or finds why it failed) in the run folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator.cluster import components, controlplane
from generator.cluster.kube import Kube, condition, is_ready

RUN_DIR_ENV = "STRATOPS_E2E_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"
STRATEGIES = ("ma-crossover", "quote-imbalance", "vwap-breakout")
TENANT = "demo"
CLUSTER = "e2e"
AUTHOR = "Ann Analyst <ann@example.com>"
READY_TIMEOUT = 240.0


def configure(config: pytest.Config) -> None:
    """In the controlling process only: the run folder every worker will share."""
    if hasattr(config, "workerinput"):
        return
    os.environ[RUN_DIR_ENV] = tempfile.mkdtemp(prefix="stratops-e2e-")


def unconfigure(config: pytest.Config) -> None:
    """In the controlling process, once every worker is done: stop the cluster, remove the run folder."""
    folder = os.environ.get(RUN_DIR_ENV)
    if hasattr(config, "workerinput") or not folder:
        return
    controlplane.down(Path(folder) / "state", say=lambda _: None)
    shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Plane:
    folder: Path
    timings: dict[str, float]

    @property
    def fleet(self) -> Path:
        return self.folder / "fleet"

    @property
    def state(self) -> Path:
        return self.folder / "state"

    @property
    def kubeconfig(self) -> Path:
        return controlplane.State(self.state).kubeconfig

    def kube(self) -> Kube:
        return Kube(self.kubeconfig)

    def stratops(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return stratops(*args, check=check)

    def reconcile(self) -> None:
        self.stratops("cluster", "reconcile", "--state", str(self.state))

    @contextmanager
    def fleet_head(self) -> Iterator[None]:
        """Held, across workers, by a test that breaks the fleet's head on purpose until it is Ready again after the
        revert, and by a test that needs the whole fleet Ready or clean meanwhile."""
        with open(self.folder / "fleet-head.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def wait(self, what: str, predicate: Callable[[], bool], timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.5)
        raise AssertionError(f"{what}: not after {timeout:.0f}s\n{flux_report(self.kube())}")


def stratops(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "STRATOPS_AUTHOR": AUTHOR}
    result = subprocess.run([sys.executable, "-m", "generator.cli", *args], capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(
            f"stratops {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def shared_plane() -> Plane:
    absent = components.missing()
    if absent:
        message = f"the control plane's components are not built ({', '.join(absent)}): run `make components`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    folder = Path(os.environ.get(RUN_DIR_ENV) or tempfile.mkdtemp(prefix="stratops-e2e-"))
    os.environ[RUN_DIR_ENV] = str(folder)
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "failed.txt").exists():
            pytest.fail("the shared control plane failed to start:\n" + (folder / "failed.txt").read_text())
        if (folder / "ready.json").exists():
            return Plane(folder, json.loads((folder / "ready.json").read_text()))
        try:
            plane = _start(folder)
        except BaseException as exc:
            (folder / "failed.txt").write_text(str(exc))
            raise
        (folder / "ready.json").write_text(json.dumps(plane.timings))
        return plane


def _start(folder: Path) -> Plane:
    plane = Plane(folder, {})
    started = time.monotonic()
    stratops("init", str(plane.fleet), "--cluster", CLUSTER)
    stratops("tenant", "add", TENANT, "--cpu", "4", "--memory", "8Gi", "--repo", str(plane.fleet))
    stratops("cluster", "up", "--repo", str(plane.fleet), "--state", str(plane.state))
    plane.timings["cluster_up"] = time.monotonic() - started
    for name in STRATEGIES:
        stratops("deploy", str(EXAMPLES / name / "strategy.yaml"), "--repo", str(plane.fleet), "--no-push")
    deployed = time.monotonic()
    plane.reconcile()
    plane.wait("every Kustomization and HelmRelease Ready", lambda: all_ready(plane.kube(), len(STRATEGIES)))
    plane.timings["deploy_to_ready"] = time.monotonic() - deployed
    return plane


def all_ready(kube: Kube, releases: int) -> bool:
    """Every Kustomization, and every HelmRelease the fleet applied (a test may make a failing one by hand)."""
    kustomizations = kube.list(*controlplane.KUSTOMIZE)
    helmreleases = [
        o
        for o in kube.list(*controlplane.HELMRELEASE)
        if "kustomize.toolkit.fluxcd.io/name" in (o["metadata"].get("labels") or {})
    ]
    return (
        len(kustomizations) == 4
        and len(helmreleases) >= releases
        and all(is_ready(o) for o in kustomizations + helmreleases)
    )


def flux_report(kube: Kube) -> str:
    lines = []
    for api_version, kind in (controlplane.GITREPOSITORY, controlplane.KUSTOMIZE, controlplane.HELMRELEASE):
        for obj in kube.list(api_version, kind):
            cond = condition(obj) or {}
            lines.append(
                f"{kind} {obj['metadata']['namespace']}/{obj['metadata']['name']}: "
                f"{cond.get('status')} {cond.get('reason')} {cond.get('message', '')[:300]}"
            )
    return "\n".join(lines) or "no Flux objects"
