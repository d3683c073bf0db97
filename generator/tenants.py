"""What the fleet repo says about a tenant: its namespace (labels, caps) and the policies that apply.

The namespace object lives at infrastructure/tenants/<tenant>/namespace.yaml;
its annotations `stratops.io/max-cpu` and `stratops.io/max-memory` are the caps
that both the spec check and the cluster policies read.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from . import fleet as fleet_mod
from .fleet import MAIN_BRANCH, Fleet
from .policy import PolicySet, load_policies
from .spec import Caps
from .yamlio import load_one

TENANT_LABEL = "stratops.io/tenant"
MAX_CPU = "stratops.io/max-cpu"
MAX_MEMORY = "stratops.io/max-memory"


def namespace_path(tenant: str) -> str:
    return f"infrastructure/tenants/{tenant}/namespace.yaml"


def default_namespace(tenant: str, caps: Caps | None = None) -> dict[str, Any]:
    """A tenant namespace as `stratops tenant add` writes it, with the default caps."""
    caps = caps or Caps()
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": tenant,
            "labels": {TENANT_LABEL: tenant, "pod-security.kubernetes.io/enforce": "restricted"},
            "annotations": {MAX_CPU: caps.max_cpu, MAX_MEMORY: caps.max_memory},
        },
    }


def tenant_namespace(fleet: Fleet, tenant: str, rev: str = MAIN_BRANCH) -> dict[str, Any]:
    data = fleet.read_file(namespace_path(tenant), rev)
    if data is None:
        return default_namespace(tenant)
    doc = load_one(data.decode(), namespace_path(tenant))
    return doc if isinstance(doc, dict) else default_namespace(tenant)


def tenant_caps(fleet: Fleet, tenant: str) -> Caps:
    annotations = (tenant_namespace(fleet, tenant).get("metadata") or {}).get("annotations") or {}
    defaults = Caps()
    return Caps(
        max_cpu=str(annotations.get(MAX_CPU, defaults.max_cpu)),
        max_memory=str(annotations.get(MAX_MEMORY, defaults.max_memory)),
    )


def fleet_policies(fleet: Fleet, rev: str = MAIN_BRANCH):
    """The fleet's policies/ as a loaded PolicySet (None if the fleet has none)."""
    root = fleet_mod.materialize(fleet, "policies", rev)
    return _load_policies(str(root / "policies")) if root else None


@lru_cache(maxsize=8)
def _load_policies(directory: str) -> PolicySet:
    """Keyed by the materialized tree's path, which names its git tree id: a cache hit is the same content."""
    return load_policies([Path(directory)])
