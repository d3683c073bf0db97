"""matchConstraints: resource rules, exclusions, selectors, operations, scope."""

from __future__ import annotations

import policy_objects as o

from generator.policy import load_policies
from generator.policy.match import ObjectInfo, plural, rule_matches
from generator.policy.model import ResourceRule

ALWAYS = "validations:\n  - expression: 'true'\n"


def rules(body: str) -> str:
    return "matchConstraints:\n" + body + ALWAYS


def names(ps, obj, ns=None, op="CREATE"):
    return [r.policy for r in ps.evaluate(obj, ns, op)]


def test_plural_mapping():
    assert plural("Deployment") == "deployments"
    assert plural("NetworkPolicy") == "networkpolicies"
    assert plural("Ingress") == "ingresses"
    assert plural("Widget") == "widgets"  # unknown kinds: English plural


def test_rule_fields():
    info = ObjectInfo.of(o.deployment())
    rule = ResourceRule(("apps",), ("v1",), ("deployments",), ("CREATE",))
    assert rule_matches(rule, info, "CREATE")
    assert not rule_matches(rule, info, "UPDATE")
    assert rule_matches(ResourceRule(("*",), ("*",), ("*",), ("*",)), info, "DELETE")
    assert not rule_matches(ResourceRule(("",), ("v1",), ("deployments",), ("*",)), info, "CREATE")
    assert not rule_matches(ResourceRule(("apps",), ("v1",), ("deployments",), ("*",), ("other",)), info, "CREATE")
    assert not rule_matches(ResourceRule(("*",), ("*",), ("*",), ("*",), scope="Cluster"), info, "CREATE")
    ns_info = ObjectInfo.of(o.namespace())
    assert not rule_matches(ResourceRule(("*",), ("*",), ("*",), ("*",), scope="Namespaced"), ns_info, "CREATE")


def test_exclude_and_operations(write_policy):
    spec = rules(
        "  resourceRules:\n"
        "    - {apiGroups: ['apps'], apiVersions: ['v1'], resources: ['*'], operations: ['CREATE']}\n"
        "  excludeResourceRules:\n"
        "    - {apiGroups: ['apps'], apiVersions: ['v1'], resources: ['statefulsets'], operations: ['*']}\n"
    )
    ps = load_policies([write_policy(spec)])
    assert names(ps, o.deployment()) == ["p"]
    assert names(ps, o.deployment(), op="UPDATE") == []
    sts = o.deployment()
    sts["kind"] = "StatefulSet"
    assert names(ps, sts) == []
    assert names(ps, o.pod()) == []


def test_namespace_selector(write_policy):
    spec = rules(
        "  resourceRules:\n"
        "    - {apiGroups: [''], apiVersions: ['v1'], resources: ['pods', 'namespaces'], operations: ['*']}\n"
        "  namespaceSelector:\n"
        "    matchExpressions: [{key: stratops.io/tenant, operator: Exists}]\n"
    )
    ps = load_policies([write_policy(spec)])
    assert names(ps, o.pod(), o.namespace()) == ["p"]
    assert names(ps, o.pod(ns="platform"), o.namespace("platform", None)) == []
    assert names(ps, o.pod(), None) == []  # unknown namespace: no labels, like the Kyverno CLI
    assert names(ps, o.namespace()) == ["p"]  # a Namespace is matched on its own labels
    assert names(ps, o.namespace("platform", None)) == []


def test_object_selector_in_notin(write_policy):
    spec = rules(
        "  resourceRules:\n"
        "    - {apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['*']}\n"
        "  objectSelector:\n"
        "    matchLabels: {stratops.io/tenant: alice}\n"
        "    matchExpressions:\n"
        "      - {key: stratops.io/strategy, operator: In, values: [momentum-btc]}\n"
        "      - {key: skip, operator: DoesNotExist}\n"
        "      - {key: tier, operator: NotIn, values: [system]}\n"
    )
    ps = load_policies([write_policy(spec)])
    assert names(ps, o.pod()) == ["p"]
    assert names(ps, o.pod(pod_labels={**o.labels(), "skip": "1"})) == []
    assert names(ps, o.pod(pod_labels={**o.labels(), "tier": "system"})) == []
    assert names(ps, o.pod(pod_labels=o.labels(strategy="other"))) == []


def test_missing_namespace_defaults_to_target_namespace(write_policy):
    spec = rules(
        "  resourceRules:\n    - {apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['*']}\n"
    )
    ps = load_policies([write_policy(spec)])
    pod = o.pod()
    del pod["metadata"]["namespace"]
    assert ps.evaluate(pod, o.namespace())[0].resource == "v1/Pod/alice/momentum-btc"
    assert ps.evaluate(pod)[0].resource == "v1/Pod/default/momentum-btc"
