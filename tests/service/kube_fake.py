"""A FAKE Kubernetes API server for the status tests (the only faked part of the system).

It is a real HTTP server that the official `kubernetes` client talks to over HTTP. The
objects it serves are shaped like responses recorded from a kind cluster running Flux
2.x (helm-controller v1) with a stratops fleet: a HelmRelease, its Deployment and pods,
trimmed to the fields that matter. Unknown paths answer a Kubernetes `Status` 404.
"""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

COMMIT = "5e1c0d4a2f3b"


def helmrelease(name: str, ready: str = "True", reason: str = "UpgradeSucceeded", message: str = "") -> dict[str, Any]:
    message = (
        message or f"Helm upgrade succeeded for release alice/{name}.v3 with chart strategy-executor@0.1.0+{COMMIT}"
    )
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {
            "name": name,
            "namespace": "alice",
            "generation": 3,
            "resourceVersion": "48211",
            "uid": "0b7d8a8e-6f43-4c1e-9a7f-1f0e7d2c9b11",
            "creationTimestamp": "2026-11-20T10:02:11Z",
            "labels": {
                "app.kubernetes.io/managed-by": "stratops",
                "stratops.io/tenant": "alice",
                "stratops.io/strategy": name,
                "kustomize.toolkit.fluxcd.io/name": "strategies",
                "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
            },
            "finalizers": ["finalizers.fluxcd.io"],
        },
        "spec": {
            "interval": "10m",
            "releaseName": name,
            "chart": {
                "spec": {
                    "chart": "./charts/strategy-executor",
                    "reconcileStrategy": "Revision",
                    "sourceRef": {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"},
                }
            },
        },
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": ready,
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": "2026-11-20T10:05:42Z",
                    "observedGeneration": 3,
                },
                {
                    "type": "Released",
                    "status": ready,
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": "2026-11-20T10:05:42Z",
                    "observedGeneration": 3,
                },
            ],
            "history": [
                {
                    "chartName": "strategy-executor",
                    "chartVersion": f"0.1.0+{COMMIT}",
                    "configDigest": "sha256:1f3a2b",
                    "digest": "sha256:9c8d7e",
                    "firstDeployed": "2026-11-20T10:02:14Z",
                    "lastDeployed": "2026-11-20T10:05:40Z",
                    "name": name,
                    "namespace": "alice",
                    "status": "deployed" if ready == "True" else "failed",
                    "version": 3,
                }
            ],
            "lastAttemptedConfigDigest": "sha256:1f3a2b",
            "lastAttemptedGeneration": 3,
            "lastAttemptedReleaseAction": "upgrade",
            "lastAttemptedRevision": f"0.1.0+{COMMIT}",
            "lastHandledReconcileAt": "2026-11-20T10:05:30.124512Z",
            "observedGeneration": 3,
            "storageNamespace": "alice",
        },
    }


def deployment(name: str, available: int, namespace: str = "alice") -> dict[str, Any]:
    labels = {
        "app.kubernetes.io/name": "strategy-executor",
        "app.kubernetes.io/instance": name,
        "stratops.io/tenant": namespace,
        "stratops.io/strategy": name,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generation": 3,
            "labels": labels,
            "creationTimestamp": "2026-11-20T10:02:15Z",
            "uid": "6a1f",
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {k: labels[k] for k in list(labels)[:2]}},
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "executor", "image": "ghcr.io/stratops/executor:0.1.0"}]},
            },
        },
        "status": {
            "observedGeneration": 3,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": available,
            "availableReplicas": available,
            "unavailableReplicas": 1 - available,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if available else "False",
                    "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                    "message": "Deployment has minimum availability.",
                    "lastUpdateTime": "2026-11-20T10:05:51Z",
                    "lastTransitionTime": "2026-11-20T10:05:51Z",
                },
            ],
        }
        if available
        else {"observedGeneration": 3, "replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1},
    }


def pod(name: str, restarts: int, last_reason: str | None, waiting: str | None = None) -> dict[str, Any]:
    state = (
        {"waiting": {"reason": waiting, "message": "back-off 40s restarting failed container"}}
        if waiting
        else {"running": {"startedAt": "2026-11-20T10:31:07Z"}}
    )
    last = (
        {
            "terminated": {
                "exitCode": 137,
                "reason": last_reason,
                "startedAt": "2026-11-20T10:20:01Z",
                "finishedAt": "2026-11-20T10:31:05Z",
                "containerID": "containerd://4be1",
            }
        }
        if last_reason
        else {}
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{name}-7c9f6d5b8-x2kqz",
            "namespace": "alice",
            "labels": {
                "app.kubernetes.io/name": "strategy-executor",
                "app.kubernetes.io/instance": name,
                "stratops.io/tenant": "alice",
                "stratops.io/strategy": name,
                "pod-template-hash": "7c9f6d5b8",
            },
        },
        "spec": {"containers": [{"name": "executor", "image": "ghcr.io/stratops/executor:0.1.0"}]},
        "status": {
            "phase": "Running",
            "conditions": [
                {
                    "type": "Initialized",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": "2026-11-20T10:05:45Z",
                },
                {
                    "type": "Ready",
                    "status": "False" if waiting else "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": "2026-11-20T10:31:12Z",
                },
            ],
            "containerStatuses": [
                {
                    "name": "executor",
                    "ready": not waiting,
                    "restartCount": restarts,
                    "image": "ghcr.io/stratops/executor:0.1.0",
                    "imageID": "ghcr.io/stratops/executor@sha256:ab",
                    "started": not waiting,
                    "state": state,
                    "lastState": last,
                }
            ],
        },
    }


def not_found(kind: str, name: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'{kind} "{name}" not found',
        "reason": "NotFound",
        "details": {"name": name, "kind": kind},
        "code": 404,
    }


class FakeKubeAPI:
    """Serves `objects`: {(api path prefix, namespace, plural): [objects]}. Records every request path."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self.requests: list[str] = []
        self.methods: list[tuple[str, str]] = []  # (method, path) of every request
        self.pod_logs: dict[str, str] = {}  # pod name -> its executor container's output
        self.fail_with: int | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                fake.requests.append(self.path)
                fake.methods.append(("GET", self.path))
                path = urlparse(self.path).path
                if path.endswith("/log") and "/pods/" in path and not fake.fail_with:
                    text = fake.pod_logs.get(path.split("/")[-2])
                    self._send(200 if text is not None else 404, text or "", "text/plain")
                    return
                status, body = fake.answer(self.path)
                self._send(status, json.dumps(body), "application/json")

            def do_DELETE(self) -> None:  # noqa: N802
                fake.methods.append(("DELETE", self.path))
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body = fake.answer(self.path)
                if status == 200:
                    fake.remove(self.path)
                self._send(status, json.dumps(body), "application/json")

            def do_PATCH(self) -> None:  # noqa: N802 - recorded so a test can prove none is sent
                fake.methods.append(("PATCH", self.path))
                self._send(405, "{}", "application/json")

            do_PUT = do_POST = do_PATCH  # noqa: N815

            def _send(self, status: int, text: str, media: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def remove(self, raw: str) -> None:
        parts = urlparse(raw).path.strip("/").split("/")
        at = parts.index("namespaces")
        prefix, (namespace, plural, name) = "/".join(parts[:at]), parts[at + 1 : at + 4]
        items = self.objects.get((prefix, namespace, plural), [])
        items[:] = [o for o in items if o["metadata"]["name"] != name]

    def add(self, prefix: str, namespace: str, plural: str, obj: dict[str, Any]) -> None:
        self.objects.setdefault((prefix, namespace, plural), []).append(copy.deepcopy(obj))

    def answer(self, raw: str) -> tuple[int, dict[str, Any]]:
        if self.fail_with:
            return self.fail_with, {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": "etcdserver: request timed out",
                "reason": "InternalError",
                "code": self.fail_with,
            }
        url = urlparse(raw)
        parts = url.path.strip("/").split("/")
        prefix = "/".join(parts[: parts.index("namespaces")]) if "namespaces" in parts else ""
        rest = parts[parts.index("namespaces") + 1 :] if "namespaces" in parts else []
        if len(rest) < 2:
            return 404, not_found("path", url.path)
        namespace, plural, *name = rest
        items = self.objects.get((prefix, namespace, plural), [])
        if name:
            found = [o for o in items if o["metadata"]["name"] == name[0]]
            return (200, found[0]) if found else (404, not_found(plural, name[0]))
        selector = parse_qs(url.query).get("labelSelector", [""])[0]
        items = [o for o in items if _matches(o["metadata"].get("labels", {}), selector)]
        kind = (items[0]["kind"] if items else plural.capitalize().rstrip("s")) + "List"
        return 200, {"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "48300"}, "items": items}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, sep, value = term.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True
