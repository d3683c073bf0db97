"""Kyverno's autogen for ValidatingPolicy: Pod rules copied onto pod controllers.

Reproduces pkg/cel/policies/vpol/autogen exactly, including its quirks: the CEL is
rewritten by a plain substring replace over the JSON-encoded spec, so `object.spec`
is rewritten but `object.?spec` or `object["spec"]` are not. Two copies are made,
"defaults" (pod template under spec.template) and "cronjobs" (under
spec.jobTemplate.spec.template); both keep the policy's name.
"""

from __future__ import annotations

import json
from typing import Any

from .load import _Ctx, parse_spec
from .model import Policy

ALL_CONTROLLERS = ("daemonsets", "deployments", "jobs", "replicasets", "statefulsets", "cronjobs")
APPS = {"daemonsets", "deployments", "replicasets", "statefulsets"}

# (prefix to find, replacement) per variant; oldObject has its own entries because the
# replace is case-sensitive and "oldObject.spec" does not contain "object.spec".
_TARGETS = {
    "defaults": "spec.template",
    "cronjobs": "spec.jobTemplate.spec.template",
}
# Since Kyverno 1.19 the object's own namespace is left alone (a pod template has none).
_KEEP = "object.metadata.namespace"
_PLACEHOLDER = "\x00KEEP_NAMESPACE\x00"


def applies(policy: Policy) -> bool:
    """True when the policy matches exactly plain v1 Pods, the only shape Kyverno autogens."""
    mc = policy.match_constraints
    if len(mc.resource_rules) != 1 or mc.exclude_resource_rules:
        return False
    rule = mc.resource_rules[0]
    if rule.api_groups != ("",) or rule.api_versions != ("v1",) or rule.resources != ("pods",):
        return False
    if rule.resource_names:
        return False
    return not (mc.object_selector and not mc.object_selector.empty)


def selected_controllers(policy: Policy) -> set[str]:
    if policy.autogen_controllers is None:
        return set(ALL_CONTROLLERS)
    return {c for c in policy.autogen_controllers if c in ALL_CONTROLLERS}  # unknown names ignored


def rewrite(text: str, variant: str) -> str:
    """The byte-substring rewrite Kyverno applies to the JSON-encoded spec."""
    target = _TARGETS[variant]
    text = text.replace(_KEEP, _PLACEHOLDER)
    for root in ("object", "oldObject"):
        text = text.replace(f"{root}.spec", f"{root}.{target}.spec")
        text = text.replace(f"{root}.metadata", f"{root}.{target}.metadata")
    return text.replace(_PLACEHOLDER, _KEEP)


def _rules(controllers: set[str], operations: list[str]) -> list[dict[str, Any]]:
    """One rule per GroupVersion, resources sorted, like Kyverno generates them."""
    rules = []
    apps = sorted(controllers & APPS)
    if apps:
        rules.append({"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": apps, "operations": operations})
    batch = sorted(controllers & {"jobs", "cronjobs"})
    if batch:
        rules.append({"apiGroups": ["batch"], "apiVersions": ["v1"], "resources": batch, "operations": operations})
    return rules


def _copy(policy: Policy, variant: str, controllers: set[str]) -> Policy:
    spec = {k: v for k, v in policy.raw_spec.items() if k not in ("matchConstraints", "autogen")}
    spec = json.loads(rewrite(json.dumps(spec), variant))
    orig = policy.raw_spec["matchConstraints"]
    operations = list(orig["resourceRules"][0].get("operations") or [])
    constraints: dict[str, Any] = {"resourceRules": _rules(controllers, operations)}
    if orig.get("namespaceSelector") is not None:
        constraints["namespaceSelector"] = orig["namespaceSelector"]  # kept since Kyverno 1.19
    spec["matchConstraints"] = constraints
    ctx = _Ctx(policy.source, policy.name)
    return parse_spec(ctx, spec, policy.api_version, variant=variant, controllers=policy.autogen_controllers)


def generate(policy: Policy) -> list[Policy]:
    """The autogen copies of `policy` (possibly none). The original is not included."""
    if policy.variant or not applies(policy):
        return []
    controllers = selected_controllers(policy)
    out = []
    defaults = controllers - {"cronjobs"}
    if defaults:
        out.append(_copy(policy, "defaults", defaults))
    if "cronjobs" in controllers:
        out.append(_copy(policy, "cronjobs", {"cronjobs"}))
    return out
