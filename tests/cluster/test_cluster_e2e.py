"""End to end on the real control plane: fleet commits → Flux → kube-apiserver → Deployments on a kwok node.

Shared cluster (tests/cluster/plane.py): `stratops init --cluster`, `tenant add`, `stratops cluster up`, the
three examples deployed, every Kustomization and HelmRelease Ready. Pods run on kwok's simulated node, so
everything up to a pod's phase is real and no container starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
import yaml

from generator.cluster import controlplane
from generator.cluster.processes import free_port
from generator.fleet import Fleet
from generator.render import strategy_dir
from generator.service.kube_status import KubeStatus
from tests.cluster.plane import EXAMPLES, STRATEGIES, TENANT, Plane, all_ready, shared_plane, stratops
from tests.service.conftest import make_client
from tests.service.service_helpers import auth
from tests.support import write_spec

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="session")
def plane() -> Plane:
    return shared_plane()


def test_every_flux_object_is_ready_at_the_fleet_head(plane: Plane):
    kube = plane.kube()
    with plane.fleet_head():  # other tests deploy meanwhile: Ready once they are applied
        plane.wait("every Kustomization and HelmRelease Ready", lambda: all_ready(kube, len(STRATEGIES)))
    names = {o["metadata"]["name"] for o in kube.list(*controlplane.KUSTOMIZE)}
    assert names == {"flux-system", "infrastructure", "policies", "strategies"}
    releases = {o["metadata"]["name"] for o in kube.list(*controlplane.HELMRELEASE, namespace=TENANT)}
    assert set(STRATEGIES) <= releases
    source = kube.get(*controlplane.GITREPOSITORY, "flux-system", "flux-system")
    assert source["spec"]["url"].startswith("http://127.0.0.1:")
    head = stratops("cluster", "status", "--state", str(plane.state), "--json").stdout
    assert '"api": true' in head


def test_pods_run_on_the_kwok_node(plane: Plane):
    pods = plane.kube().list("v1", "Pod", namespace=TENANT)
    by_release = {p["metadata"]["labels"].get("app.kubernetes.io/instance"): p for p in pods}
    for name in STRATEGIES:
        pod = by_release[name]
        assert pod["spec"]["nodeName"] == controlplane.NODE_NAME
        assert pod["status"]["phase"] == "Running"


@pytest.mark.parametrize("name", STRATEGIES)
def test_deployment_carries_image_limits_and_security_context(plane: Plane, name: str):
    spec = yaml.safe_load((EXAMPLES / name / "strategy.yaml").read_text())["spec"]
    chart = yaml.safe_load((plane.fleet / "charts/strategy-executor/Chart.yaml").read_text())
    deployment = plane.kube().get("apps/v1", "Deployment", name, TENANT)
    assert deployment["status"].get("availableReplicas") == 1
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod.get("automountServiceAccountToken") is False
    (container,) = [c for c in pod["containers"] if c["name"] == "executor"] or pod["containers"][:1]
    assert container["image"] == f"ghcr.io/stratops/executor:{chart['appVersion']}"
    expected = {"cpu": spec["resources"]["cpu"], "memory": spec["resources"]["memory"]}
    assert container["resources"]["limits"] == expected
    assert container["resources"]["requests"] == expected
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize("name", STRATEGIES)
def test_code_configmap_bytes_equal_the_source(plane: Plane, name: str):
    spec = yaml.safe_load((EXAMPLES / name / "strategy.yaml").read_text())["spec"]
    assert _code_in_cluster(plane, name) == (EXAMPLES / name / spec["code"]["file"]).read_bytes()


def test_rollback_and_sync_follow_deploys_in_the_cluster(plane: Plane, tmp_path):
    """Each deploy is OutOfSync until Flux applies it (Progressing until helm-controller has it Ready), then Synced
    at its revision; an example strategy, whose folder no test changes, stays Synced at its own revision."""
    name, specs = "rollback-probe", tmp_path / "specs"
    first = "from executor import Strategy\n\n\nclass Momentum(Strategy):\n    pass  # first, {commas} \\ é\n"
    second = first.replace("first", "second")
    fleet, other = Fleet(plane.fleet), STRATEGIES[0]
    with make_client(fleet, kube=KubeStatus.connect(str(plane.kubeconfig))) as client:

        def sync(strategy: str) -> dict:
            got = client.get(f"/v1/tenants/{TENANT}/strategies/{strategy}/status", headers=auth(None))
            assert got.status_code == 200, got.text
            return got.json()["sync"]

        def synced_at(revision: str) -> bool:
            seen = sync(other)
            assert seen["status"] != "OutOfSync" and seen["revision"] == other_revision, seen
            return sync(name) == {"status": "Synced", "revision": revision, "message": ""}

        other_revision = _revision(fleet, other)
        plane.wait(f"{other} Synced", lambda: sync(other)["status"] == "Synced")
        revision = _deploy(plane, write_spec(specs, name=name, tenant=TENANT, code=first))
        plane.wait("the first revision Synced", lambda: synced_at(revision))
        assert _code_in_cluster(plane, name) == first.encode()

        spec = write_spec(specs, name=name, tenant=TENANT, code=second)
        stratops("deploy", str(spec), "--repo", str(plane.fleet), "--no-push")
        before, revision = revision, _revision(fleet, name)
        meanwhile = sync(name)  # another test's reconcile may have applied it already
        assert meanwhile["status"] in ("OutOfSync", "Progressing") and meanwhile["revision"] == revision, meanwhile
        assert meanwhile["status"] == "Progressing" or meanwhile["message"] == f"runs {before[:12]}", meanwhile
        plane.reconcile()
        plane.wait("the second revision Synced", lambda: synced_at(revision))
        assert _code_in_cluster(plane, name) == second.encode()

        stratops("rollback", f"{TENANT}/{name}", "--repo", str(plane.fleet), "--no-push")
        plane.reconcile()
        plane.wait("rollback to the first revision", lambda: _code_in_cluster(plane, name) == first.encode())
        plane.wait("the release Ready again", lambda: _release_ready_at_head(plane, name))
        plane.wait("the rollback Synced", lambda: synced_at(_revision(fleet, name)))  # it renders as the first


def test_serve_reads_status_from_the_real_api_server(plane: Plane):
    port = free_port()
    env = {**os.environ, "STRATOPS_ADMIN_TOKEN": "admin-token-0123456789"}
    server = subprocess.Popen(
        [sys.executable, "-m", "generator.cli", "serve", "--repo", str(plane.fleet), "--port", str(port)]
        + ["--status-source", "kubernetes", "--kubeconfig", str(plane.kubeconfig)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/tenants/{TENANT}/strategies/{STRATEGIES[0]}/status"
        headers = {"Authorization": "Bearer admin-token-0123456789"}
        deadline = time.monotonic() + 90  # a loaded CI machine starts it slowly
        while True:
            try:
                response = httpx.get(url, headers=headers, timeout=5)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()  # its stderr ends only when it does
                    raise AssertionError("stratops serve did not answer:\n" + server.stderr.read().decode()) from None
                time.sleep(0.2)
        row = response.json()
        assert response.status_code == 200, row
        assert row["state"] == "Running" and row["ready"] is True, row
        assert row["replicas"] == {"desired": 1, "available": 1}
        assert row["helmrelease"]["reason"] in ("InstallSucceeded", "UpgradeSucceeded"), row
    finally:
        server.terminate()
        server.wait(timeout=30)


# --- helpers -----------------------------------------------------------------------------------


def _deploy(plane: Plane, spec) -> str:
    stratops("deploy", str(spec), "--repo", str(plane.fleet), "--no-push")
    plane.reconcile()
    return _revision(Fleet(plane.fleet), spec.stem)


def _revision(fleet: Fleet, name: str) -> str:
    return fleet.history(strategy_dir(TENANT, name), limit=1)[0].sha


def _code_in_cluster(plane: Plane, name: str) -> bytes | None:
    """The bytes the pod would read: the key its code volume mounts, from the ConfigMap it names."""
    kube = plane.kube()
    deployment = kube.get("apps/v1", "Deployment", name, TENANT)
    if not deployment or not (deployment.get("status") or {}).get("availableReplicas"):
        return None
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "code")
    configmap = kube.get("v1", "ConfigMap", volume["configMap"]["name"], TENANT)
    (item,) = volume["configMap"]["items"]
    return configmap["data"][item["key"]].encode() if configmap else None


def _release_ready_at_head(plane: Plane, name: str) -> bool:
    from generator.cluster.kube import is_ready

    release = plane.kube().get(*controlplane.HELMRELEASE, name, TENANT)
    return is_ready(release)
