"""matchConstraints: which objects a policy applies to.

Offline there is no discovery API, so kinds are mapped to resource plurals with a
table of common kinds (and the usual English plural rule as a fallback).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import LabelSelector, MatchConstraints, ResourceRule

# kind -> (resource plural, namespaced)
KINDS: dict[str, tuple[str, bool]] = {
    "Pod": ("pods", True),
    "Deployment": ("deployments", True),
    "StatefulSet": ("statefulsets", True),
    "DaemonSet": ("daemonsets", True),
    "ReplicaSet": ("replicasets", True),
    "Job": ("jobs", True),
    "CronJob": ("cronjobs", True),
    "ReplicationController": ("replicationcontrollers", True),
    "Service": ("services", True),
    "ConfigMap": ("configmaps", True),
    "Secret": ("secrets", True),
    "ServiceAccount": ("serviceaccounts", True),
    "PersistentVolumeClaim": ("persistentvolumeclaims", True),
    "Endpoints": ("endpoints", True),
    "Event": ("events", True),
    "LimitRange": ("limitranges", True),
    "ResourceQuota": ("resourcequotas", True),
    "PodTemplate": ("podtemplates", True),
    "NetworkPolicy": ("networkpolicies", True),
    "Ingress": ("ingresses", True),
    "Role": ("roles", True),
    "RoleBinding": ("rolebindings", True),
    "HorizontalPodAutoscaler": ("horizontalpodautoscalers", True),
    "PodDisruptionBudget": ("poddisruptionbudgets", True),
    "Lease": ("leases", True),
    "EndpointSlice": ("endpointslices", True),
    "HelmRelease": ("helmreleases", True),
    "Kustomization": ("kustomizations", True),
    "GitRepository": ("gitrepositories", True),
    "HelmRepository": ("helmrepositories", True),
    "Namespace": ("namespaces", False),
    "Node": ("nodes", False),
    "PersistentVolume": ("persistentvolumes", False),
    "ClusterRole": ("clusterroles", False),
    "ClusterRoleBinding": ("clusterrolebindings", False),
    "CustomResourceDefinition": ("customresourcedefinitions", False),
    "StorageClass": ("storageclasses", False),
    "PriorityClass": ("priorityclasses", False),
    "IngressClass": ("ingressclasses", False),
    "ValidatingPolicy": ("validatingpolicies", False),
    "ClusterPolicy": ("clusterpolicies", False),
    "ValidatingAdmissionPolicy": ("validatingadmissionpolicies", False),
    "MutatingWebhookConfiguration": ("mutatingwebhookconfigurations", False),
    "FlowSchema": ("flowschemas", False),
    "PriorityLevelConfiguration": ("prioritylevelconfigurations", False),
    "APIService": ("apiservices", False),
    "RuntimeClass": ("runtimeclasses", False),
    "CSIDriver": ("csidrivers", False),
    "CSINode": ("csinodes", False),
    "VolumeAttachment": ("volumeattachments", False),
    "CertificateSigningRequest": ("certificatesigningrequests", False),
    "ValidatingAdmissionPolicyBinding": ("validatingadmissionpolicybindings", False),
    "MutatingAdmissionPolicy": ("mutatingadmissionpolicies", False),
    "MutatingAdmissionPolicyBinding": ("mutatingadmissionpolicybindings", False),
    "IPAddress": ("ipaddresses", False),
    "ServiceCIDR": ("servicecidrs", False),
    "DeviceClass": ("deviceclasses", False),
    "ValidatingWebhookConfiguration": ("validatingwebhookconfigurations", False),
}


def plural(kind: str) -> str:
    if kind in KINDS:
        return KINDS[kind][0]
    low = kind.lower()
    if low.endswith("y") and low[-2:-1] not in "aeiou":
        return low[:-1] + "ies"
    if low.endswith(("s", "x", "ch", "sh")):
        return low + "es"
    return low + "s"


def is_namespaced(kind: str) -> bool:
    return KINDS.get(kind, ("", True))[1]  # unknown kinds (CRDs) are usually namespaced


@dataclass(frozen=True)
class ObjectInfo:
    """What matching needs to know about an object, computed once per evaluation."""

    group: str
    version: str
    kind: str
    resource: str
    namespaced: bool
    name: str
    namespace: str
    labels: dict[str, str]

    @classmethod
    def of(cls, obj: dict[str, Any]) -> ObjectInfo:
        api_version = str(obj.get("apiVersion") or "")
        group, _, version = api_version.rpartition("/")
        kind = str(obj.get("kind") or "")
        meta = obj.get("metadata") or {}
        return cls(
            group,
            version,
            kind,
            plural(kind),
            is_namespaced(kind),
            str(meta.get("name") or ""),
            str(meta.get("namespace") or ""),
            dict(meta.get("labels") or {}),
        )


def _in(values: tuple[str, ...], value: str) -> bool:
    return "*" in values or value in values


def rule_matches(rule: ResourceRule, info: ObjectInfo, operation: str) -> bool:
    if not (_in(rule.api_groups, info.group) and _in(rule.api_versions, info.version)):
        return False
    # "pods/*" and "*/*" name subresources; an object itself is never a subresource.
    if not (_in(rule.resources, info.resource) or "*/*" in rule.resources):
        return False
    if not _in(rule.operations, operation):
        return False
    if rule.resource_names and info.name not in rule.resource_names:
        return False
    if rule.scope == "Namespaced" and not info.namespaced:
        return False
    return not (rule.scope == "Cluster" and info.namespaced)


def selector_matches(selector: LabelSelector | None, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics; no selector or an empty one matches everything."""
    if selector is None:
        return True
    if any(labels.get(k) != v for k, v in selector.match_labels):
        return False
    for req in selector.match_expressions:
        present = req.key in labels
        ok = {
            "In": present and labels.get(req.key) in req.values,
            "NotIn": not present or labels.get(req.key) not in req.values,
            "Exists": present,
            "DoesNotExist": not present,
        }[req.operator]
        if not ok:
            return False
    return True


def namespace_labels(info: ObjectInfo, obj: dict[str, Any], namespace: dict[str, Any] | None) -> dict[str, str]:
    """Labels the namespaceSelector is evaluated against (Kubernetes admission rules)."""
    if info.kind == "Namespace" and info.group == "":
        return info.labels  # a Namespace is matched on its own labels
    return dict(((namespace or {}).get("metadata") or {}).get("labels") or {})


def matches(
    mc: MatchConstraints,
    obj: dict[str, Any],
    info: ObjectInfo,
    namespace: dict[str, Any] | None,
    operation: str,
) -> bool:
    if not any(rule_matches(r, info, operation) for r in mc.resource_rules):
        return False
    if any(rule_matches(r, info, operation) for r in mc.exclude_resource_rules):
        return False
    # Cluster-scoped objects (other than Namespaces) are never skipped by a namespaceSelector.
    if (info.namespaced or info.kind == "Namespace") and not selector_matches(
        mc.namespace_selector, namespace_labels(info, obj, namespace)
    ):
        return False
    return selector_matches(mc.object_selector, info.labels)
