"""The few API calls the cluster commands make: server-side apply, readiness of Flux objects, reconcile requests.

Server-side apply with one field manager, as `kubectl apply --server-side` and Flux itself do.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client, config, dynamic

FIELD_MANAGER = "stratops-cluster"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"  # what `flux reconcile` sets


class Kube:
    def __init__(self, kubeconfig: Path):
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
        self.api = client.ApiClient(configuration)
        self._dynamic: dynamic.DynamicClient | None = None

    @property
    def dynamic(self) -> dynamic.DynamicClient:
        if self._dynamic is None:
            self._dynamic = dynamic.DynamicClient(self.api)
        return self._dynamic

    def ready(self) -> bool:
        """The API server's /readyz says ok."""
        url = self.api.configuration.host + "/readyz"
        try:
            response = self.api.rest_client.pool_manager.request("GET", url, timeout=5, retries=False)
        except urllib3.exceptions.HTTPError:
            return False
        return response.status == 200 and response.data.strip() == b"ok"

    def apply(self, docs: list[dict[str, Any]], parallel: int = 1) -> None:
        """Server-side apply DOCS, PARALLEL at a time (independent objects only, such as a set of CRDs)."""
        with ThreadPoolExecutor(parallel) as pool:
            list(pool.map(self._apply_one, docs))

    def _apply_one(self, doc: dict[str, Any]) -> None:
        resource = self._resource(doc)
        namespace = doc["metadata"].get("namespace") if resource.namespaced else None
        resource.server_side_apply(
            body=doc,
            name=doc["metadata"]["name"],
            namespace=namespace,
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )

    def _resource(self, doc: dict[str, Any]):
        try:
            return self.dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        except dynamic.exceptions.ResourceNotFoundError:
            self.dynamic.resources.invalidate_cache()  # a CRD applied a moment ago
            return self.dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])

    def established(self, crds: list[dict[str, Any]]) -> bool:
        """Every CRD in CRDS serves its kinds (condition Established), so controllers can map them."""
        for crd in crds:
            current = self.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd["metadata"]["name"])
            if (condition(current, "Established") or {}).get("status") != "True":
                return False
        self.dynamic.resources.invalidate_cache()
        return True

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return (
                self._resource({"apiVersion": api_version, "kind": kind}).get(name=name, namespace=namespace).to_dict()
            )
        except dynamic.exceptions.NotFoundError:
            return None

    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        try:
            items = self._resource({"apiVersion": api_version, "kind": kind}).get(namespace=namespace).to_dict()
        except dynamic.exceptions.NotFoundError:
            return []
        return items.get("items", [])

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete the object (its finalizers still run); False when there was none."""
        try:
            self._resource({"apiVersion": api_version, "kind": kind}).delete(name=name, namespace=namespace)
        except dynamic.exceptions.NotFoundError:
            return False
        return True

    def request_reconcile(self, api_version: str, kind: str, name: str, namespace: str) -> str:
        """Annotate the object with a fresh requestedAt, as `flux reconcile` does; returns the token."""
        token = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        patch = {"metadata": {"annotations": {REQUESTED_AT: token}}}
        resource = self._resource({"apiVersion": api_version, "kind": kind})
        resource.patch(body=patch, name=name, namespace=namespace, content_type="application/merge-patch+json")
        return token


def load_documents(paths: list[Path]) -> list[dict[str, Any]]:
    """libyaml's loader when present: Kyverno's CRDs alone are 5 MiB of YAML."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs = []
    for path in paths:
        docs += [d for d in yaml.load_all(path.read_text(), Loader=loader) if d]
    return docs


def condition(obj: dict[str, Any] | None, kind: str = "Ready") -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def is_ready(obj: dict[str, Any] | None) -> bool:
    """Flux's readiness: Ready=True for the object's current generation."""
    cond = condition(obj)
    if not cond or cond.get("status") != "True":
        return False
    return (obj.get("status") or {}).get("observedGeneration", -1) >= obj["metadata"].get("generation", 0)
