"""Realistic objects as the strategy-executor chart renders them, for policy tests and fixtures."""

from __future__ import annotations

import copy
from typing import Any

TENANT = "alice"
STRATEGY = "momentum-btc"


def namespace(
    name: str = TENANT, tenant: str | None = TENANT, max_cpu: str | None = "2", max_memory: str | None = "4Gi"
) -> dict[str, Any]:
    labels = {"kubernetes.io/metadata.name": name}
    if tenant is not None:
        labels["stratops.io/tenant"] = tenant
    annotations = {}
    if max_cpu is not None:
        annotations["stratops.io/max-cpu"] = max_cpu
    if max_memory is not None:
        annotations["stratops.io/max-memory"] = max_memory
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
    }


def labels(tenant: str = TENANT, strategy: str = STRATEGY) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "strategy-executor",
        "app.kubernetes.io/instance": strategy,
        "app.kubernetes.io/version": "0.1.0",
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/part-of": "stratops",
        "stratops.io/tenant": tenant,
        "stratops.io/strategy": strategy,
    }


def pod_spec(persistent: bool = True, strategy: str = STRATEGY) -> dict[str, Any]:
    state = (
        {"name": "state", "persistentVolumeClaim": {"claimName": f"{strategy}-state"}}
        if persistent
        else {"name": "state", "emptyDir": {}}
    )
    return {
        "automountServiceAccountToken": False,
        "serviceAccountName": strategy,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "executor",
                "image": "ghcr.io/stratops/executor:0.1.0",
                "imagePullPolicy": "IfNotPresent",
                "args": ["python", "-m", "executor", "--config", "/etc/stratops/executor.json"],
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "resources": {
                    "requests": {"cpu": "250m", "memory": "256Mi"},
                    "limits": {"cpu": "250m", "memory": "256Mi"},
                },
                "livenessProbe": {"httpGet": {"path": "/livez", "port": "http"}},
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
                "volumeMounts": [
                    {"name": "code", "mountPath": "/opt/stratops/code", "readOnly": True},
                    {"name": "config", "mountPath": "/etc/stratops", "readOnly": True},
                    {"name": "tmp", "mountPath": "/tmp"},
                    {"name": "state", "mountPath": "/var/lib/stratops/state"},
                ],
            }
        ],
        "volumes": [
            {"name": "code", "configMap": {"name": f"{strategy}-code"}},
            {"name": "config", "configMap": {"name": f"{strategy}-config"}},
            {"name": "tmp", "emptyDir": {}},
            state,
        ],
    }


def pod(
    name: str = STRATEGY,
    ns: str = TENANT,
    spec: dict[str, Any] | None = None,
    pod_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": pod_labels if pod_labels is not None else labels(),
        },
        "spec": spec if spec is not None else pod_spec(),
    }


def deployment(
    name: str = STRATEGY,
    ns: str = TENANT,
    spec: dict[str, Any] | None = None,
    pod_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    tl = pod_labels if pod_labels is not None else labels()
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels()},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "strategy-executor",
                    "app.kubernetes.io/instance": STRATEGY,
                }
            },
            "template": {
                "metadata": {"labels": tl, "annotations": {"stratops.io/code-sha256": "0" * 64}},
                "spec": spec if spec is not None else pod_spec(),
            },
        },
    }


def cronjob(
    name: str = STRATEGY,
    ns: str = TENANT,
    spec: dict[str, Any] | None = None,
    pod_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    tl = pod_labels if pod_labels is not None else labels()
    pspec = copy.deepcopy(spec if spec is not None else pod_spec(persistent=False))
    pspec["restartPolicy"] = "OnFailure"
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": ns, "labels": labels()},
        "spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": {"metadata": {"labels": tl}, "spec": pspec}}},
        },
    }
