"""The files of a new fleet repo (DESIGN.md: the fleet repo), laid out for Flux.

clusters/<cluster>/ holds three Flux Kustomizations applied in order —
infrastructure -> policies -> strategies — each waiting for the one before.
infrastructure/ has no kustomization.yaml of its own: Flux generates one that
takes every sub-folder with a kustomization.yaml (system/, tenants/<t>/), so
`stratops tenant add` only adds a folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .assets import CHART_DIR, POLICIES_DIR, TEMPLATES_DIR
from .render import dump_yaml

FLUX_NAMESPACE = "flux-system"
SYSTEM_NAMESPACE = "stratops-system"
SYSTEM_DIR = "infrastructure/system"
TENANTS_DIR = "infrastructure/tenants"
EXECUTOR_IMAGE = "ghcr.io/stratops/executor"
FEED = {"name": "market-feed", "port": 5556, "args": ["stratops", "feed", "--bind", "tcp://*:5556", "--loop"]}
SINK = {
    "name": "signal-sink",
    "port": 5557,
    "metrics_port": 9102,  # Prometheus /metrics (docs/cluster.md: Metrics)
    "args": ["stratops", "sink", "--bind", "tcp://*:5557", "--no-follow", "--metrics-port", "9102"],
}
RESTRICTED_PSA = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}
_KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"


@dataclass(frozen=True)
class Images:
    """Where the executor image comes from: its repository, a pull Secret, and the registry prefixes the
    restrict-image-registries policy allows (default: the repository's own folder)."""

    repository: str = EXECUTOR_IMAGE
    pull_secret: str | None = None
    registries: tuple[str, ...] = ()

    def allowed(self) -> tuple[str, ...]:
        return self.registries or (self.repository.rsplit("/", 1)[0] + "/",)


def fleet_files(
    cluster: str, source_url: str | None = None, source_secret: str | None = None, images: Images | None = None
) -> dict[str, bytes]:
    images = images or Images()
    marker: dict[str, Any] = {"apiVersion": "stratops.io/v1", "kind": "Fleet", "cluster": cluster}
    if source_url:  # where Flux fetches this repo from (each tenant's GitRepository uses it)
        marker["source"] = {"url": source_url, **({"secretName": source_secret} if source_secret else {})}
    files: dict[str, bytes] = {
        "stratops.yaml": dump_yaml(marker, "# Marks this repo as a stratops fleet repo.\n").encode(),
        "README.md": (TEMPLATES_DIR / "fleet-README.md").read_bytes(),
        "strategies/README.md": b"One folder per strategy (<tenant>/<name>/), written by `stratops deploy`.\n",
        f"{TENANTS_DIR}/README.md": b"One folder per tenant (namespace, quota, limits, network), written by "
        b"`stratops tenant add`.\n",
        ".githooks/pre-commit": (TEMPLATES_DIR / "pre-commit").read_bytes(),
        ".github/workflows/stratops-check.yaml": (TEMPLATES_DIR / "stratops-check.yaml").read_bytes(),
    }
    files |= _copy_tree(CHART_DIR, "charts/strategy-executor")
    files |= _policy_files()
    files |= _cluster_files(cluster)
    files |= _system_files(images)
    return _with_images(files, images)


_DEFAULT_REPOSITORY = f"  repository: {EXECUTOR_IMAGE}\n"
_DEFAULT_PULL_SECRETS = "imagePullSecrets: []\n"
_DEFAULT_REGISTRIES = """      expression: "['ghcr.io/stratops/']"\n"""


def _with_images(files: dict[str, bytes], images: Images) -> dict[str, bytes]:
    """The fleet's copies of the chart defaults and of the registry policy, set to `images` (validated names:
    nothing here needs quoting beyond JSON's)."""
    if images == Images():
        return files
    values, policy = (
        "charts/strategy-executor/values.yaml",
        "policies/restrict-image-registries/restrict-image-registries.yaml",
    )
    secrets = [images.pull_secret] if images.pull_secret else []
    replacements = {
        values: [
            (_DEFAULT_REPOSITORY, f"  repository: {json.dumps(images.repository)}\n"),
            (_DEFAULT_PULL_SECRETS, f"imagePullSecrets: {json.dumps(secrets)}\n"),
        ],
        policy: [(_DEFAULT_REGISTRIES, f"      expression: {json.dumps(_cel_list(images.allowed()))}\n")],
    }
    out = dict(files)
    for path, pairs in replacements.items():
        text = out[path].decode()
        for old, new in pairs:
            if old not in text:
                raise RuntimeError(f"{path} no longer holds {old.strip()!r}: update layout._with_images")
            text = text.replace(old, new, 1)
        out[path] = text.encode()
    return out


def _cel_list(prefixes: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{p}'" for p in prefixes) + "]"


def kustomization(resources: list[str], namespace: str | None = None) -> bytes:
    doc: dict[str, Any] = {"apiVersion": _KUSTOMIZE_API, "kind": "Kustomization"}
    if namespace:
        doc["namespace"] = namespace
    doc["resources"] = resources
    return dump_yaml(doc).encode()


def dump_all(docs: list[dict[str, Any]], header: str = "") -> bytes:
    return (header + "---\n".join(dump_yaml(d) for d in docs)).encode()


def _policy_files() -> dict[str, bytes]:
    """The policies plus a kustomization naming only them, so Flux never applies their test fixtures."""
    if not POLICIES_DIR.is_dir():
        return {}
    files = {k: v for k, v in _copy_tree(POLICIES_DIR, "policies").items() if ".kyverno-test" not in k}
    policies = sorted(p.removeprefix("policies/") for p in files if p.endswith(".yaml") and p.count("/") == 2)
    files["policies/kustomization.yaml"] = kustomization(policies)
    return files


def _copy_tree(source: Path, prefix: str) -> dict[str, bytes]:
    return {
        f"{prefix}/{p.relative_to(source).as_posix()}": p.read_bytes()
        for p in sorted(source.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


# --- clusters/<cluster>/ ---------------------------------------------------------------


def _cluster_files(cluster: str) -> dict[str, bytes]:
    """Flux Kustomizations: infrastructure -> policies -> strategies, each waiting for the one before."""
    health = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": c["name"], "namespace": SYSTEM_NAMESPACE}
        for c in (FEED, SINK)
    ]
    chain = [
        ("infrastructure", None, {"healthChecks": health, "timeout": "5m"}),
        # Kyverno must be installed first (docs/cluster.md); the policies are ready when Kyverno compiled them.
        ("policies", "infrastructure", {"wait": True, "timeout": "2m"}),
        # Every HelmRelease must become Ready; one failing release does not stop the others being applied.
        ("strategies", "policies", {"wait": True, "timeout": "10m"}),
    ]
    files = {}
    for name, after, health_spec in chain:
        spec: dict[str, Any] = {
            "interval": "10m",
            "retryInterval": "1m",
            "path": f"./{name}",
            "prune": True,
            # The platform's own identity (flux bootstrap binds it to cluster-admin): needed under
            # --default-service-account, which would otherwise apply these as flux-system's `default`.
            "serviceAccountName": "kustomize-controller",
            "sourceRef": {"kind": "GitRepository", "name": FLUX_NAMESPACE},
            **health_spec,
        }
        if after:
            spec["dependsOn"] = [{"name": after}]
        doc = {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": name, "namespace": FLUX_NAMESPACE},
            "spec": spec,
        }
        files[f"clusters/{cluster}/{name}.yaml"] = dump_yaml(doc).encode()
    return files


# --- infrastructure/system: namespace, market feed, signal sink -------------------------


def _system_files(images: Images) -> dict[str, bytes]:
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": SYSTEM_NAMESPACE, "labels": {"app.kubernetes.io/part-of": "stratops", **RESTRICTED_PSA}},
    }
    files = {
        f"{SYSTEM_DIR}/namespace.yaml": dump_yaml(namespace).encode(),
        f"{SYSTEM_DIR}/kustomization.yaml": kustomization(
            ["namespace.yaml", "market-feed.yaml", "signal-sink.yaml", "networkpolicy.yaml"], SYSTEM_NAMESPACE
        ),
        f"{SYSTEM_DIR}/networkpolicy.yaml": dump_all(_system_network_policies()),
    }
    for component, header in (
        (FEED, "# Market data over ZeroMQ PUB; executors subscribe.\n"),
        (SINK, "# Collects signals from executors (ZeroMQ PULL).\n"),
    ):
        files[f"{SYSTEM_DIR}/{component['name']}.yaml"] = dump_all(_component(component, images), header)
    return files


def executor_image(repository: str = EXECUTOR_IMAGE) -> str:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    return f"{repository}:{chart['appVersion']}"


def _component(component: dict[str, Any], images: Images) -> list[dict[str, Any]]:
    """A Deployment and a Service from the executor image, hardened like a strategy pod."""
    name, port = component["name"], component["port"]
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "stratops"}
    container = {
        "name": name.split("-")[1],
        "image": executor_image(images.repository),
        "command": component["args"],
        "ports": [{"name": "zmq", "containerPort": port, "protocol": "TCP"}]
        + (
            [{"name": "metrics", "containerPort": component["metrics_port"], "protocol": "TCP"}]
            if "metrics_port" in component
            else []
        ),
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "readinessProbe": {"tcpSocket": {"port": "zmq"}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": "zmq"}, "periodSeconds": 10},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},  # one publisher / one collector: never two at once
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    **({"imagePullSecrets": [{"name": images.pull_secret}]} if images.pull_secret else {}),
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "zmq", "port": port, "targetPort": "zmq", "protocol": "TCP"}],
        },
    }
    return [deployment, service]


def _system_network_policies() -> list[dict[str, Any]]:
    """Feed and sink accept connections only from tenant namespaces, on their own port; the sink's metrics
    port is open to scrapers, as the executors' http port is."""
    tenants = {"namespaceSelector": {"matchExpressions": [{"key": "stratops.io/tenant", "operator": "Exists"}]}}
    policies = []
    for component in (FEED, SINK):
        policies.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"{component['name']}-from-tenants"},
                "spec": {
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": component["name"]}},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": [tenants], "ports": [{"port": component["port"], "protocol": "TCP"}]}]
                    + ([{"ports": [{"port": "metrics", "protocol": "TCP"}]}] if "metrics_port" in component else []),
                },
            }
        )
    return policies
