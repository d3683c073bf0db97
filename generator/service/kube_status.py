"""Strategy status from Kubernetes, through the official client.

One row per strategy, shaped like the local runtime's status entries (state, ready,
revision, restarts, message), from three objects in the tenant's namespace: the
HelmRelease (Ready condition and message, whether helm-controller reconciled its current
generation; its spec tells the fleet revision it came from, see cluster_revision), the
Deployment (availability) and its pods (restarts, OOMKilled as the last termination
reason, CrashLoopBackOff). `last_heartbeat` is the newest time
Kubernetes reports for the strategy: a pod condition probe or transition, a container
start, or a HelmRelease reconcile.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from ..errors import Problem, UserError
from ..fleet import Fleet
from ..layout import FEED, SINK, SYSTEM_NAMESPACE
from ..render import STRATEGIES_DIR, strategy_dir
from ..runtime import logs as runtime_logs
from .cluster_revision import applied_revision

HELM_GROUP, HELM_VERSION, HELM_PLURAL = "helm.toolkit.fluxcd.io", "v2", "helmreleases"
FAILED_REASONS = {
    "InstallFailed",
    "UpgradeFailed",
    "RollbackFailed",
    "UninstallFailed",
    "ArtifactFailed",
    "InitFailed",
    "GetLastReleaseFailed",
    "RetriesExceeded",
}


class KubeStatus:
    def __init__(self, api: client.ApiClient):
        self.custom = client.CustomObjectsApi(api)
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)

    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None) -> KubeStatus:
        """In-cluster config when running in a pod, else the kubeconfig (KUBECONFIG or ~/.kube/config)."""
        configuration = client.Configuration()
        try:
            if kubeconfig is None and context is None:
                try:
                    config.load_incluster_config(client_configuration=configuration)
                    return cls(client.ApiClient(configuration))
                except ConfigException:
                    pass
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
        except (ConfigException, OSError, TypeError, ValueError) as exc:
            raise UserError(
                "cannot load a Kubernetes configuration",
                [Problem(kubeconfig or "kubeconfig", str(exc), "pass --kubeconfig or set KUBECONFIG")],
            ) from None
        return cls(client.ApiClient(configuration))

    def status(self, tenant: str, name: str, fleet: Fleet) -> dict[str, Any]:
        """The strategy's row; `fleet` (main) names the revision its live HelmRelease was rendered at."""
        try:
            release = self.custom.get_namespaced_custom_object(HELM_GROUP, HELM_VERSION, tenant, HELM_PLURAL, name)
        except ApiException as exc:
            return _absent() if exc.status == 404 else _unreachable(exc)
        except urllib3.exceptions.HTTPError as exc:
            return _unreachable(exc)
        try:
            deployment = self.apps.read_namespaced_deployment(name, tenant)
        except ApiException as exc:
            if exc.status != 404:
                return _unreachable(exc)
            deployment = None
        except urllib3.exceptions.HTTPError as exc:
            return _unreachable(exc)
        try:
            pods = self.core.list_namespaced_pod(tenant, label_selector=_selector(name)).items
        except (ApiException, urllib3.exceptions.HTTPError) as exc:
            return _unreachable(exc)
        return row(release, deployment, pods, _revision(fleet, tenant, release))

    def logs(self, tenant: str, name: str, since: float | None, limit: int) -> dict[str, Any] | None:
        """The executor container's last lines from each of the strategy's pods, oldest pod first."""
        limit = max(1, min(limit, runtime_logs.MAX_LINES))
        options: dict[str, Any] = {"container": "executor", "tail_lines": limit, "limit_bytes": runtime_logs.MAX_SCAN}
        if since is not None:
            options["since_seconds"] = max(1, int(time.time() - since))
        lines: list[runtime_logs.Line] = []
        try:
            pods = self.core.list_namespaced_pod(tenant, label_selector=_selector(name)).items
            for found in sorted(pods, key=lambda p: p.metadata.creation_timestamp or dt.datetime.min):
                text = self.core.read_namespaced_pod_log(found.metadata.name, tenant, **options)
                lines += runtime_logs.parse(text.encode() if isinstance(text, str) else b"")
        except (ApiException, urllib3.exceptions.HTTPError) as exc:
            return {"source": "kubernetes", "lines": [], "message": _unreachable(exc)["message"]}
        if not pods:
            return None
        return {"source": "kubernetes", "lines": [line.as_dict() for line in lines[-limit:]]}

    def restart(self, tenant: str, name: str) -> list[str]:
        """Delete the strategy's pods for its Deployment to recreate them; the Deployment itself is untouched."""
        try:
            pods = self.core.list_namespaced_pod(tenant, label_selector=_selector(name)).items
            for found in pods:
                self.core.delete_namespaced_pod(found.metadata.name, tenant)
        except (ApiException, urllib3.exceptions.HTTPError) as exc:
            if isinstance(exc, ApiException) and exc.status == 404:
                return []
            raise UserError(
                f"cannot restart {tenant}/{name}",
                [Problem("Kubernetes API", _unreachable(exc)["message"], "check the cluster and the service's RBAC")],
            ) from None
        return [p.metadata.name for p in pods]

    def system_deployment(self, name: str) -> dict[str, Any]:
        """State of the market feed or signal sink Deployment in the system namespace."""
        try:
            deployment = self.apps.read_namespaced_deployment(name, SYSTEM_NAMESPACE)
        except ApiException as exc:
            return {"state": "Absent" if exc.status == 404 else "Unknown"}
        except urllib3.exceptions.HTTPError:
            return {"state": "Unknown"}
        desired, available = _replicas(deployment)
        return {"state": "Running" if desired and available >= desired else "Pending", "available": available}

    def statuses(self, tenant: str, fleet: Fleet) -> dict[str, dict[str, Any]]:
        """Every strategy of a tenant, keyed tenant/name, with three list calls."""
        try:
            releases = self.custom.list_namespaced_custom_object(HELM_GROUP, HELM_VERSION, tenant, HELM_PLURAL)
            deployments = self.apps.list_namespaced_deployment(tenant, label_selector="stratops.io/strategy").items
            pods = self.core.list_namespaced_pod(tenant, label_selector="stratops.io/strategy").items
        except ApiException as exc:
            return {} if exc.status == 404 else {"*": _unreachable(exc)}
        except urllib3.exceptions.HTTPError as exc:
            return {"*": _unreachable(exc)}
        by_name = {d.metadata.name: d for d in deployments}
        out = {}
        for release in releases.get("items", []):
            name = release["metadata"]["name"]
            mine = [p for p in pods if (p.metadata.labels or {}).get("app.kubernetes.io/instance") == name]
            out[f"{tenant}/{name}"] = row(release, by_name.get(name), mine, _revision(fleet, tenant, release))
        return out


def cluster_status(kube: KubeStatus, fleet: Fleet) -> dict[str, Any]:
    """The whole fleet as `stratops status` shows it, shaped like the local runtime's status.json."""
    strategies: dict[str, dict[str, Any]] = {}
    for tenant in fleet.list_folders(STRATEGIES_DIR, 1):
        rows = kube.statuses(tenant.name, fleet)
        for folder in fleet.list_folders(str(tenant), 1):
            key = f"{tenant.name}/{folder.name}"
            strategies[key] = rows.get(key) or rows.get("*") or _absent()
    return {
        "apiVersion": "stratops.io/v1",
        "kind": "RuntimeStatus",
        "source": "kubernetes",
        "updated": time.time(),
        "revision": fleet.head(),
        "feed": kube.system_deployment(FEED["name"]),
        "sink": kube.system_deployment(SINK["name"]),
        "strategies": strategies,
    }


def _selector(name: str) -> str:
    return f"app.kubernetes.io/name=strategy-executor,app.kubernetes.io/instance={name}"


def _absent() -> dict[str, Any]:
    return {"source": "kubernetes", "state": "Absent", "ready": False, "message": "no HelmRelease in the cluster yet"}


def _unreachable(exc: Exception) -> dict[str, Any]:
    reason = f"HTTP {exc.status} {exc.reason}" if isinstance(exc, ApiException) else type(exc).__name__
    return {"source": "kubernetes", "state": "Unknown", "ready": False, "message": f"Kubernetes API: {reason}"}


def row(
    release: dict[str, Any], deployment: client.V1Deployment | None, pods: list[client.V1Pod], revision: str | None
) -> dict[str, Any]:
    """`revision`: the fleet commit the live HelmRelease's spec was rendered at (None: none of the recent ones)."""
    status = release.get("status") or {}
    ready = _condition(status.get("conditions") or [], "Ready")
    generation = (release.get("metadata") or {}).get("generation")
    containers = [c for p in pods for c in (p.status.container_statuses or [])] if pods else []
    terminated = [c.last_state.terminated for c in containers if c.last_state and c.last_state.terminated]
    waiting = [c.state.waiting.reason for c in containers if c.state and c.state.waiting]
    desired, available = _replicas(deployment)
    release_ready = ready.get("status") == "True"
    out = {
        "source": "kubernetes",
        "state": _state(ready, deployment, waiting, desired, available),
        "ready": release_ready and desired > 0 and available >= desired,
        "revision": revision,
        "restarts": sum(c.restart_count or 0 for c in containers),
        "message": ready.get("message", "waiting for the HelmRelease to be reconciled"),
        "oom_killed": any(t.reason == "OOMKilled" for t in terminated),
        "last_termination_reason": terminated[-1].reason if terminated else None,
        "replicas": {"desired": desired, "available": available},
        "helmrelease": {
            **{k: ready.get(k) for k in ("status", "reason", "message")},
            "generation": generation,
            "observed_generation": status.get("observedGeneration"),
            # helm-controller finished with the spec as it is now: Ready (or not) speaks of this generation
            "reconciled": generation is not None
            and status.get("observedGeneration") == generation
            and ready.get("observedGeneration", generation) == generation,
        },
        "last_heartbeat": _heartbeat(status, pods),
    }
    if waiting:
        out["message"] = f"{out['message']}; container waiting: {', '.join(sorted(set(waiting)))}"
    return out


def _condition(conditions: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next((c for c in conditions if c.get("type") == kind), {})


def _replicas(deployment: client.V1Deployment | None) -> tuple[int, int]:
    if deployment is None:
        return 0, 0
    desired = deployment.spec.replicas if deployment.spec and deployment.spec.replicas is not None else 1
    return desired, (deployment.status.available_replicas or 0) if deployment.status else 0


def _state(ready: dict[str, Any], deployment: Any, waiting: list[str], desired: int, available: int) -> str:
    if deployment is not None and deployment.metadata.deletion_timestamp is not None:
        return "Terminating"
    if "CrashLoopBackOff" in waiting:
        return "CrashLoopBackOff"
    if ready.get("status") == "False" and ready.get("reason") in FAILED_REASONS:
        return "Failed"
    if ready.get("status") == "True" and desired > 0 and available >= desired:
        return "Running"
    return "Pending"


def _revision(fleet: Fleet, tenant: str, release: dict[str, Any]) -> str | None:
    return applied_revision(fleet, strategy_dir(tenant, release["metadata"]["name"]), release.get("spec"))


def _heartbeat(status: dict[str, Any], pods: list[client.V1Pod]) -> float | None:
    times = [_epoch(c.get("lastTransitionTime")) for c in status.get("conditions") or []]
    times.append(_epoch(status.get("lastHandledReconcileAt")))
    for pod in pods:
        for cond in pod.status.conditions or []:
            times += [_epoch(cond.last_probe_time), _epoch(cond.last_transition_time)]
        for c in pod.status.container_statuses or []:
            times.append(_epoch(c.state.running.started_at if c.state and c.state.running else None))
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _epoch(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value.timestamp() if isinstance(value, dt.datetime) else None
