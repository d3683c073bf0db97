"""Strategy status, logs and restart from the real API server of the shared control plane (tests/cluster/plane.py).

Two probe strategies are deployed through the fleet (commit → Flux → HelmRelease → Deployment → pod on kwok's
node). kwok moves a pod to Running and Ready and nothing else: the states a kubelet would report after a crash
(OOMKilled, CrashLoopBackOff, restart counts) are written the way kwok leaves room for, by marking the pod with
the `kwok.x-k8s.io/status=custom` annotation (kwok then disregards it) and patching its status subresource as
a kubelet does. The controllers react to that status for real (the Deployment loses its available replica).
Container output is what kwok's kubelet server reads from the file a `Logs` object names; the API server
fetches it from there as it would from a kubelet.

Not produced here: an API server failing with a 5xx (a real 401 stands for an API error). The row's `revision`
and `sync` as deploys go through the cluster: test_cluster_e2e.py::test_sync_follows_deploys_in_the_cluster.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kubernetes import client as k8s

from generator.cli import main
from generator.cluster import controlplane
from generator.cluster.kube import Kube, condition, is_ready
from generator.fleet import Fleet
from generator.render import strategy_dir
from generator.service.kube_status import FAILED_REASONS, KubeStatus, cluster_status
from tests.cluster.plane import STRATEGIES, TENANT, Plane, shared_plane, stratops
from tests.service.conftest import make_client
from tests.service.service_helpers import auth
from tests.support import write_spec

pytestmark = [pytest.mark.timeout(900), pytest.mark.xdist_group("cluster-kube-status")]

STATUS_PROBE, RESTART_PROBE = "status-probe", "restart-probe"
CUSTOM_STATUS = {"kwok.x-k8s.io/status": "custom"}  # kwok's --disregard-status-with-annotation-selector


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Plane:
    """The shared plane with the two probe strategies deployed and Ready.

    pytest may set a module fixture up again when xdist interleaves other modules' tests: the probes are then
    already there (and the status probe's pod may carry a crash written by a test), so they are not redeployed.
    """
    plane = shared_plane()
    kube = plane.kube()
    probes = (STATUS_PROBE, RESTART_PROBE)
    if all(is_ready(kube.get(*controlplane.HELMRELEASE, n, TENANT)) for n in probes):
        return plane
    specs = tmp_path_factory.mktemp("probes")
    for name in probes:
        spec = write_spec(specs / name, name=name, tenant=TENANT)
        stratops("deploy", str(spec), "--repo", str(plane.fleet), "--no-push")
    plane.reconcile()
    for name in probes:
        plane.wait(f"{name} Ready", lambda n=name: is_ready(kube.get(*controlplane.HELMRELEASE, n, TENANT)))
        plane.wait(f"{name} has a Running pod", lambda n=name: _running_pod(kube, n) is not None)
    return plane


@pytest.fixture(scope="module")
def kube(plane: Plane) -> KubeStatus:
    return KubeStatus.connect(str(plane.kubeconfig))


@pytest.fixture(scope="module")
def fleet(plane: Plane) -> Fleet:
    return Fleet(plane.fleet)


def test_running_strategy_with_an_earlier_oom_kill(plane: Plane, kube: KubeStatus, fleet: Fleet):
    pod = _pods(plane.kube(), STATUS_PROBE)[0]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    killed = _terminated("OOMKilled", 137, now - dt.timedelta(minutes=5), now - dt.timedelta(seconds=2))
    _set_container_status(plane, pod, restarts=2, state={"running": {"startedAt": _iso(now)}}, last=killed, ready=True)
    _set_ready_condition(plane, pod, True, now)

    row = kube.status(TENANT, STATUS_PROBE, fleet)
    assert row["state"] == "Running" and row["ready"] is True, row
    assert row["restarts"] == 2 and row["oom_killed"] is True and row["last_termination_reason"] == "OOMKilled"
    assert row["replicas"] == {"desired": 1, "available": 1}
    assert row["helmrelease"]["reason"] in ("InstallSucceeded", "UpgradeSucceeded"), row
    assert row["last_heartbeat"] == now.timestamp()  # the newest time the API server reports: the Ready transition


def test_crash_loop_takes_the_replica_out_of_the_deployment(plane: Plane, kube: KubeStatus, fleet: Fleet):
    pod = _pods(plane.kube(), STATUS_PROBE)[0]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    waiting = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}}
    crashed = _terminated("Error", 1, now - dt.timedelta(seconds=30), now - dt.timedelta(seconds=20))
    _set_container_status(plane, pod, restarts=7, state=waiting, last=crashed, ready=False)
    _set_ready_condition(plane, pod, False, now)
    # the ReplicaSet and Deployment controllers take the pod's readiness from the status just written
    plane.wait(
        "the Deployment has no available replica",
        lambda: kube.status(TENANT, STATUS_PROBE, fleet)["replicas"]["available"] == 0,
    )

    row = kube.status(TENANT, STATUS_PROBE, fleet)
    assert row["state"] == "CrashLoopBackOff" and row["ready"] is False and row["restarts"] == 7, row
    assert row["oom_killed"] is False and row["last_termination_reason"] == "Error"
    assert "CrashLoopBackOff" in row["message"]
    assert row["replicas"] == {"desired": 1, "available": 0}


def test_restart_deletes_the_pods_and_the_deployment_makes_new_ones(plane: Plane, kube: KubeStatus):
    api = plane.kube()
    before = api.get("apps/v1", "Deployment", RESTART_PROBE, TENANT)
    old = _running_pod(api, RESTART_PROBE)
    fleet = Fleet(plane.fleet)
    head = fleet.head()
    url = f"/v1/tenants/{TENANT}/strategies/{RESTART_PROBE}/restart"
    with make_client(fleet, kube=kube) as client:
        assert client.post(url, headers=auth("alice")).status_code == 403  # another tenant's strategy
        got = client.post(url, headers=auth(None))
        assert got.status_code == 202, got.text
        assert got.json()["deleted_pods"] == [old["metadata"]["name"]]
        plane.wait(
            "a new pod Running in place of the deleted one",
            lambda: (
                [p["metadata"]["uid"] for p in _pods(api, RESTART_PROBE) if _is_running(p)]
                not in ([], [old["metadata"]["uid"]])
            ),
        )
        plane.wait(
            "the deleted pod gone",
            lambda: old["metadata"]["uid"] not in [p["metadata"]["uid"] for p in _pods(api, RESTART_PROBE)],
        )

        def state() -> str:
            rows = client.get(f"/v1/tenants/{TENANT}/strategies", headers=auth(None)).json()
            return {r["name"]: r["status"]["state"] for r in rows}[RESTART_PROBE]

        # the Deployment counts the new pod available a moment after the pod runs
        plane.wait("the strategy Running again", lambda: state() == "Running")
    after = api.get("apps/v1", "Deployment", RESTART_PROBE, TENANT)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]  # the Deployment was not changed
    assert after["spec"] == before["spec"]
    assert fleet.head() == head  # no commit
    (new,) = [p for p in _pods(api, RESTART_PROBE) if _is_running(p)]
    assert new["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    assert new["spec"]["nodeName"] == controlplane.NODE_NAME


def test_logs_come_from_the_pod_through_the_api_server(plane: Plane, kube: KubeStatus, tmp_path: Path):
    api = plane.kube()
    pod = _pods(api, STATUS_PROBE)[0]
    now = dt.datetime.now(dt.UTC)
    record = {"ts": _iso(now - dt.timedelta(seconds=5)), "level": "error", "msg": "on_start raised"}
    log = tmp_path / "executor.log"  # the CRI log format a kubelet's runtime writes
    log.write_text(
        _cri_line(now - dt.timedelta(hours=2), "booted two hours ago")
        + _cri_line(now - dt.timedelta(seconds=6), "booting")
        + _cri_line(now - dt.timedelta(seconds=5), json.dumps(record))
        + _cri_line(now - dt.timedelta(seconds=4), "plain after")
    )
    api.apply(
        [
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "Logs",
                "metadata": {"name": pod["metadata"]["name"], "namespace": TENANT},
                "spec": {"logs": [{"containers": ["executor"], "logsFile": str(log)}]},
            }
        ]
    )
    url = f"/v1/tenants/{TENANT}/strategies/{STATUS_PROBE}/logs"
    with make_client(Fleet(plane.fleet), kube=kube) as client:

        def lines(**params: Any) -> list[dict[str, Any]]:
            got = client.get(url, params=params, headers=auth(None))
            assert got.status_code == 200, got.text
            assert got.json()["source"] == "kubernetes"
            return got.json()["lines"]

        plane.wait("kwok serves the pod's log", lambda: len(lines(since="1h")) == 3, timeout=60)
        recent = lines(since="1h", limit=50)
        assert [line["text"] for line in recent] == ["booting", json.dumps(record), "plain after"]
        assert recent[1]["level"] == "error"
        assert [line["text"] for line in lines(limit=1)] == ["plain after"]  # tailLines
        assert lines(limit=10)[0]["text"] == "booted two hours ago"  # without since: everything
        assert client.get(url, headers=auth("alice")).status_code == 403


def test_failed_release_and_absent_strategy(plane: Plane, kube: KubeStatus, fleet: Fleet):
    """A HelmRelease made by hand (not in the fleet) whose values the chart's schema refuses: helm-controller fails
    the install for real."""
    api = plane.kube()
    name = "broken-probe"
    api.apply([_broken_release(plane, name)])
    try:
        plane.wait("the install fails", lambda: kube.status(TENANT, name, fleet)["state"] == "Failed")
        row = kube.status(TENANT, name, fleet)
        assert row["helmrelease"]["reason"] in FAILED_REASONS and row["ready"] is False, row
        assert row["message"].startswith("Helm install failed"), row
        assert row["replicas"] == {"desired": 0, "available": 0}
        listing = kube.statuses(TENANT, fleet)
        assert listing[f"{TENANT}/{name}"]["state"] == "Failed"
        assert all(listing[f"{TENANT}/{s}"]["state"] == "Running" for s in STRATEGIES), listing
    finally:
        api.delete(*controlplane.HELMRELEASE, name, TENANT)
    assert kube.status(TENANT, "nothing-here", fleet)["state"] == "Absent"


def test_the_fleet_view_and_the_status_cli(plane: Plane, kube: KubeStatus, fleet: Fleet):
    view = cluster_status(kube, fleet)
    assert view["kind"] == "RuntimeStatus" and view["source"] == "kubernetes" and view["revision"] == fleet.head()
    for name in STRATEGIES:
        assert view["strategies"][f"{TENANT}/{name}"]["state"] == "Running", view
        revision = fleet.history(strategy_dir(TENANT, name), limit=1)[0].sha  # their folders no test changes
        assert view["strategies"][f"{TENANT}/{name}"]["revision"] == revision, view
    assert view["feed"]["state"] == "Running" and view["sink"]["state"] == "Running", view

    args = ["status", str(plane.fleet), "--source", "kubernetes", "--kubeconfig", str(plane.kubeconfig)]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["strategies"][f"{TENANT}/{STRATEGIES[0]}"]["state"] == "Running"
    plain = CliRunner().invoke(main, args)
    assert plain.exit_code == 0 and f"{TENANT}/{STRATEGIES[0]}" in plain.output and "Running" in plain.output
    missing = CliRunner().invoke(main, [*args[:-1], str(plane.folder / "no-kubeconfig")])
    assert missing.exit_code == 2 and "Kubernetes configuration" in missing.output


def test_api_errors_are_an_unknown_state_not_an_exception(plane: Plane, fleet: Fleet):
    """The real API server refusing an unknown credential (401), and nothing listening at all."""
    configuration = k8s.Configuration()
    configuration.host = plane.kube().api.configuration.host
    configuration.ssl_ca_cert = plane.kube().api.configuration.ssl_ca_cert
    configuration.api_key = {"authorization": "Bearer not-a-token"}
    refused = KubeStatus(k8s.ApiClient(configuration))
    row = refused.status(TENANT, STRATEGIES[0], fleet)
    assert row["state"] == "Unknown" and "401" in row["message"], row
    assert refused.statuses(TENANT, fleet)["*"]["state"] == "Unknown"
    assert refused.logs(TENANT, STRATEGIES[0], None, 10)["message"].startswith("Kubernetes API: HTTP 401")
    unreachable = KubeStatus(k8s.ApiClient(k8s.Configuration(host="http://127.0.0.1:9")))
    unreachable.core.api_client.configuration.retries = 0
    assert unreachable.status(TENANT, "x", fleet)["state"] == "Unknown"


# --- helpers -----------------------------------------------------------------------------------


def _pods(api: Kube, name: str) -> list[dict[str, Any]]:
    pods = api.list("v1", "Pod", namespace=TENANT)
    mine = [p for p in pods if (p["metadata"].get("labels") or {}).get("app.kubernetes.io/instance") == name]
    return [p for p in mine if not p["metadata"].get("deletionTimestamp")]


def _is_running(pod: dict[str, Any]) -> bool:
    return pod["status"].get("phase") == "Running" and (condition(pod) or {}).get("status") == "True"


def _running_pod(api: Kube, name: str) -> dict[str, Any] | None:
    return next((p for p in _pods(api, name) if _is_running(p)), None)


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cri_line(moment: dt.datetime, text: str) -> str:
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S.%fZ')} stdout F {text}\n"


def _terminated(reason: str, code: int, started: dt.datetime, finished: dt.datetime) -> dict[str, Any]:
    times = {"startedAt": _iso(started), "finishedAt": _iso(finished)}
    return {"terminated": {"exitCode": code, "reason": reason, **times, "containerID": "containerd://0a1b"}}


def _set_container_status(plane: Plane, pod: dict[str, Any], restarts: int, state, last, ready: bool) -> None:
    """Take the pod from kwok (the custom-status annotation), then write its container status as a kubelet would."""
    core = k8s.CoreV1Api(plane.kube().api)
    name = pod["metadata"]["name"]
    core.patch_namespaced_pod(name, TENANT, {"metadata": {"annotations": CUSTOM_STATUS}})
    (container,) = pod["spec"]["containers"]
    status = {
        "name": container["name"],
        "image": container["image"],
        "imageID": "",
        "ready": ready,
        "started": ready,
        "restartCount": restarts,
        "state": _only(state),
        "lastState": _only(last),
    }
    core.patch_namespaced_pod_status(name, TENANT, {"status": {"containerStatuses": [status]}})


def _only(state: dict[str, Any]) -> dict[str, Any]:
    """A container state with one of running/waiting/terminated: a strategic merge patch drops the others."""
    return {kind: state.get(kind) for kind in ("running", "waiting", "terminated")}


def _set_ready_condition(plane: Plane, pod: dict[str, Any], ready: bool, moment: dt.datetime) -> None:
    core = k8s.CoreV1Api(plane.kube().api)
    value = "True" if ready else "False"
    conditions = [
        {"type": kind, "status": value, "lastTransitionTime": _iso(moment)} for kind in ("Ready", "ContainersReady")
    ]
    core.patch_namespaced_pod_status(pod["metadata"]["name"], TENANT, {"status": {"conditions": conditions}})


def _broken_release(plane: Plane, name: str) -> dict[str, Any]:
    """A release as the fleet writes them, with a `resources.cpu` the chart's values.schema.json refuses."""
    fleet_release = plane.kube().get(*controlplane.HELMRELEASE, STRATEGIES[0], TENANT)
    # no valuesFrom, and no install retries: the failure stays (Flux's default)
    spec = {k: v for k, v in fleet_release["spec"].items() if k not in ("valuesFrom", "install", "upgrade")}
    spec.update(releaseName=name, values={"resources": {"cpu": "a lot", "memory": "256Mi"}})
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": TENANT},
        "spec": spec,
    }
