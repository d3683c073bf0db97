"""The files of a new fleet repo (DESIGN.md: the fleet repo)."""

from __future__ import annotations

from pathlib import Path

from .assets import CHART_DIR, POLICIES_DIR, TEMPLATES_DIR
from .render import dump_yaml

FLUX_NAMESPACE = "flux-system"


def fleet_files(cluster: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {
        "stratops.yaml": dump_yaml(
            {"apiVersion": "stratops.io/v1", "kind": "Fleet", "cluster": cluster},
            "# Marks this repo as a stratops fleet repo.\n",
        ).encode(),
        "README.md": (TEMPLATES_DIR / "fleet-README.md").read_bytes(),
        "strategies/README.md": b"One folder per strategy (<tenant>/<name>/), written by `stratops deploy`.\n",
    }
    files |= _copy_tree(CHART_DIR, "charts/strategy-executor")
    files |= _policy_files()
    files |= _cluster_files(cluster)
    files["infrastructure/kustomization.yaml"] = dump_yaml(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": ["namespace.yaml"]}
    ).encode()
    files["infrastructure/namespace.yaml"] = dump_yaml(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "stratops-system"}}
    ).encode()
    return files


def _policy_files() -> dict[str, bytes]:
    """The policies plus a kustomization naming only them, so Flux never applies their test fixtures."""
    if not POLICIES_DIR.is_dir():
        return {}
    files = {k: v for k, v in _copy_tree(POLICIES_DIR, "policies").items() if ".kyverno-test" not in k}
    policies = sorted(p.removeprefix("policies/") for p in files if p.endswith(".yaml") and p.count("/") == 2)
    files["policies/kustomization.yaml"] = dump_yaml(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": policies}
    ).encode()
    return files


def _copy_tree(source: Path, prefix: str) -> dict[str, bytes]:
    return {
        f"{prefix}/{p.relative_to(source).as_posix()}": p.read_bytes()
        for p in sorted(source.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _cluster_files(cluster: str) -> dict[str, bytes]:
    """Flux Kustomizations: infrastructure -> policies -> strategies, each waiting for the one before."""
    chain = [("infrastructure", None), ("policies", "infrastructure"), ("strategies", "policies")]
    files = {}
    for name, after in chain:
        spec = {
            "interval": "10m",
            "retryInterval": "1m",
            "timeout": "5m",
            "path": f"./{name}",
            "prune": True,
            "wait": True,
            "sourceRef": {"kind": "GitRepository", "name": FLUX_NAMESPACE},
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
