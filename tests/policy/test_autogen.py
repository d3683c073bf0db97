"""Kyverno autogen: Pod policies copied onto controllers, with the exact string rewrite."""

from __future__ import annotations

import policy_objects as o
from policy_helpers import PODS_RULE

from generator.policy import load_policies
from generator.policy.autogen import generate, rewrite
from generator.policy.load import load_policy_objects

CHECK = (
    PODS_RULE
    + """
validations:
  - expression: object.spec.containers.all(c, c.name != 'bad')
    messageExpression: "'bad container in ' + object.metadata.name + ' ns ' + object.metadata.namespace"
"""
)


def statefulset() -> dict:
    d = o.deployment()
    d["kind"] = "StatefulSet"
    return d


def bad(obj: dict) -> dict:
    spec = obj["spec"]
    if "containers" in spec:
        pod_spec = spec
    elif "template" in spec:
        pod_spec = spec["template"]["spec"]
    else:
        pod_spec = spec["jobTemplate"]["spec"]["template"]["spec"]
    pod_spec["containers"][0]["name"] = "bad"
    return obj


def test_rewrite_is_plain_substring_replace():
    text = 'object.spec.x && object.specFoo && oldObject.metadata.name && object.?spec.y && object["spec"]'
    out = rewrite(text, "defaults")
    assert "object.spec.template.spec.x" in out
    assert "object.spec.template.specFoo" in out  # Kyverno's quirk, reproduced
    assert "oldObject.spec.template.metadata.name" in out
    assert "object.?spec.y" in out and 'object["spec"]' in out  # not rewritten
    assert rewrite("object.metadata.namespace", "cronjobs") == "object.metadata.namespace"
    assert rewrite("object.metadata.name", "cronjobs") == "object.spec.jobTemplate.spec.template.metadata.name"
    assert rewrite("namespaceObject.metadata.name", "defaults") == "namespaceObject.metadata.name"


def test_generated_copies_and_constraints(write_policy):
    pol = load_policy_objects([write_policy(CHECK)])[0]
    defaults, cronjobs = generate(pol)
    assert (defaults.name, defaults.variant, cronjobs.variant) == ("p", "defaults", "cronjobs")
    rules = defaults.match_constraints.resource_rules
    assert [(r.api_groups, r.resources) for r in rules] == [
        (("apps",), ("daemonsets", "deployments", "replicasets", "statefulsets")),
        (("batch",), ("jobs",)),
    ]
    assert rules[0].operations == ("CREATE", "UPDATE")
    assert cronjobs.match_constraints.resource_rules[0].resources == ("cronjobs",)
    assert "object.spec.jobTemplate.spec.template.spec.containers" in cronjobs.validations[0].expression


def test_deployment_statefulset_cronjob_evaluated(write_policy):
    ps = load_policies([write_policy(CHECK)])
    for obj in (o.deployment(), statefulset(), o.cronjob(), o.pod()):
        assert [r.status for r in ps.evaluate(obj, o.namespace())] == ["pass"], obj["kind"]
    for obj in (bad(o.deployment()), bad(statefulset()), bad(o.cronjob())):
        (res,) = ps.evaluate(obj, o.namespace())
        assert res.status == "fail" and res.policy == "p"
        # object.metadata.name now reads the pod template's name, which is absent: Kyverno reports
        # the failing messageExpression as the message.
        assert res.message == "failed to evaluate message expression: no such key: name"
    (res,) = ps.evaluate(bad(o.pod()), o.namespace())
    assert res.message == "bad container in momentum-btc ns alice"


def test_controllers_list_selects_and_empty_disables(write_policy):
    only = write_policy(CHECK + "autogen:\n  podControllers:\n    controllers: [deployments, nosuch]\n", "only")
    ps = load_policies([only])
    assert ps.evaluate(bad(o.deployment()), o.namespace())[0].status == "fail"
    assert ps.evaluate(bad(statefulset()), o.namespace()) == []
    assert ps.evaluate(bad(o.cronjob()), o.namespace()) == []
    none = write_policy(CHECK + "autogen:\n  podControllers:\n    controllers: []\n", "none")
    ps = load_policies([none])
    assert ps.evaluate(bad(o.deployment()), o.namespace()) == []
    assert ps.evaluate(bad(o.pod()), o.namespace())[0].status == "fail"


def test_no_autogen_when_rule_is_not_plain_pods(write_policy):
    spec = CHECK.replace('resources: ["pods"]', 'resources: ["pods", "services"]')
    assert generate(load_policy_objects([write_policy(spec)])[0]) == []
    spec = CHECK + "  " + ""  # objectSelector with labels disables autogen too
    spec = CHECK.replace("matchConstraints:", "matchConstraints:\n  objectSelector: {matchLabels: {a: b}}")
    assert generate(load_policy_objects([write_policy(spec, "sel")])[0]) == []


def test_namespace_selector_kept_on_copies(write_policy):
    spec = CHECK.replace(
        "matchConstraints:",
        "matchConstraints:\n  namespaceSelector: {matchLabels: {stratops.io/tenant: alice}}",
    )
    ps = load_policies([write_policy(spec)])
    assert ps.evaluate(bad(o.deployment()), o.namespace())[0].status == "fail"
    assert ps.evaluate(bad(o.deployment(ns="bob")), o.namespace("bob", "bob")) == []
