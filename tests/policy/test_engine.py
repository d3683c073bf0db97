"""Evaluation semantics: messages, actions, matchConditions, errors, lazy variables, CEL library."""

from __future__ import annotations

from pathlib import Path

import policy_objects as o
import pytest
from click.testing import CliRunner
from policy_helpers import PODS_RULE, POLICIES

from generator.policy import PolicyResult, load_policies
from generator.policy.commands import policy


def one(write_policy, body: str, obj=None, ns=None, name: str = "p") -> PolicyResult:
    ps = load_policies([write_policy(PODS_RULE + body, name)])
    (res,) = ps.evaluate(obj or o.pod(), ns or o.namespace())
    return res


def test_public_api_shape():
    ps = load_policies([POLICIES])
    results = ps.evaluate(o.deployment(), o.namespace())
    assert len(results) == 12 and all(isinstance(r, PolicyResult) for r in results)
    r = results[0]
    assert r.resource == "apps/v1/Deployment/alice/momentum-btc"
    assert r.status == "pass" and r.actions == ("Deny",)
    with pytest.raises(AttributeError):
        r.status = "fail"  # frozen


def test_realistic_objects_pass_and_bad_one_is_named():
    ps = load_policies([POLICIES])
    for obj in (o.pod(), o.deployment(), o.cronjob()):
        assert {r.status for r in ps.evaluate(obj, o.namespace())} == {"pass"}
    d = o.deployment()
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "docker.io/evil:1"
    failed = [r for r in ps.evaluate(d, o.namespace()) if r.status == "fail"]
    assert [r.policy for r in failed] == ["restrict-image-registries"]
    assert "docker.io/evil:1" in failed[0].message


def test_message_expression_message_and_default(write_policy):
    body = "validations:\n  - expression: 'false'\n    messageExpression: \"'pod ' + object.metadata.name\"\n"
    assert one(write_policy, body).message == "pod momentum-btc"
    body = (
        "validations:\n  - expression: 'false'\n    message: static\n    messageExpression: \"1/0 == 1 ? 'x' : ''\"\n"
    )
    # Kyverno's ValidatingPolicy engine reports the messageExpression error instead of `message`
    assert one(write_policy, body).message == "failed to evaluate message expression: division by zero"
    body = "validations:\n  - expression: 'false'\n    message: static\n    messageExpression: \"''\"\n"
    assert one(write_policy, body).message == "CEL expression validation failed at index 0"  # empty: default
    body = "validations:\n  - expression: 'true'\n  - expression: 'false'\n"
    assert one(write_policy, body).message == "CEL expression validation failed at index 1"


def test_first_failing_validation_wins(write_policy):
    body = "validations:\n  - {expression: 'false', message: first}\n  - {expression: 'false', message: second}\n"
    assert one(write_policy, body).message == "first"


def test_audit_vs_deny(tmp_path: Path, write_policy):
    fail = PODS_RULE + "validations:\n  - {expression: 'false', message: nope}\n"
    audit = write_policy(fail + "validationActions: [Audit]\n", "audit")
    manifest = tmp_path / "m.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\nspec: {containers: []}\n")
    result = CliRunner().invoke(policy, ["apply", "-p", str(audit), "-r", str(manifest)])
    assert result.exit_code == 0, result.output
    assert "FAIL  audit v1/Pod/x/a [Audit]: nope" in result.output
    deny = write_policy(fail, "deny")
    result = CliRunner().invoke(policy, ["apply", "-p", str(deny), "-r", str(manifest)])
    assert result.exit_code == 1 and "[Deny]" in result.output
    assert load_policies([audit]).evaluate(o.pod())[0].actions == ("Audit",)


def test_match_conditions_skip_and_failure_policy(write_policy):
    cond = "matchConditions:\n  - {name: only-bob, expression: \"object.metadata.namespace == 'bob'\"}\n"
    body = cond + "validations:\n  - expression: 'false'\n"
    res = one(write_policy, body)
    assert res.status == "skip" and "only-bob" in res.message
    broken = "matchConditions:\n  - {name: broken, expression: 'object.nope == 1'}\n"
    assert one(write_policy, broken + "validations:\n  - expression: 'false'\n").status == "error"
    ignore = broken + "failurePolicy: Ignore\nvalidations:\n  - expression: 'false'\n"
    assert one(write_policy, ignore, name="i").status == "skip"


def test_runtime_error_and_non_bool(write_policy):
    res = one(write_policy, "validations:\n  - expression: object.spec.nosuchfield == 1\n")
    assert res.status == "error" and "nosuchfield" in res.message
    res = one(write_policy, "validations:\n  - expression: \"'text'\"\n")
    assert res.status == "error" and "bool" in res.message


@pytest.mark.parametrize(
    "call",
    [
        "resource.Get('v1', 'configmaps', 'alice', 'x')",
        "http.Get('https://example.invalid')",
        "globalContext.Get('entry', '')",
        "image.GetMetadata('ghcr.io/stratops/executor:0.1.0')",
    ],
)
def test_cluster_functions_are_reported_offline(write_policy, call):
    res = one(write_policy, f'validations:\n  - expression: "{call} != null"\n')
    assert res.status == "error" and "not available offline" in res.message


def test_variables_are_lazy(write_policy):
    body = (
        "variables:\n  - {name: broken, expression: 'object.nope'}\n"
        "  - {name: name, expression: object.metadata.name}\n"
        "validations:\n  - {expression: \"variables.name == 'other'\", message: first}\n"
        "  - expression: variables.broken == 1\n"
    )
    assert one(write_policy, body).message == "first"  # `broken` never evaluated
    body = body.replace("== 'other'", "== 'momentum-btc'")
    res = one(write_policy, body, name="q")
    assert res.status == "error" and "variable 'broken'" in res.message


@pytest.mark.parametrize(
    "expr",
    [
        "quantity('250m').compareTo(quantity('0.25')) == 0",
        "quantity('1') == quantity('1000m')",
        "quantity('256Mi').isLessThan(quantity('1Gi'))",
        "quantity('2').isGreaterThan(quantity('1500m'))",
        "quantity('1Gi').add(quantity('1Gi')).asInteger() == 2147483648",
        "quantity('1').sub(1).asInteger() == 0",
        "quantity('1').add(2).asInteger() == 3",
        "quantity('250m').asApproximateFloat() == 0.25",
        "isQuantity('4Gi') && !isQuantity('four')",
        "'ghcr.io/stratops/x:1'.find('[a-z]+') == 'ghcr'",
        "'a1b22c333'.findAll('[0-9]+') == ['1', '22', '333']",
        "'a1b22c333'.findAll('[0-9]+', 2) == ['1', '22']",
        "'abc'.matches('^a.c$')",
        "[1, 2, 3].sum() == 6 && [3, 1].min() == 1 && [3, 1].max() == 3 && [1, 2].isSorted()",
        "sets.contains([1, 2], [2]) && sets.intersects([1], [1, 3]) && sets.equivalent([1, 2], [2, 1])",
        "'A,B'.lowerAscii().split(',') == ['a', 'b'] && ['a', 'b'].join('-') == 'a-b'",
        "image('ghcr.io/stratops/executor:0.1.0').registry() == 'ghcr.io'",
        "image('nginx').repository() == 'library/nginx' && image('nginx').tag() == 'latest'",
        "isImage('nginx:1') && !parseImageReference('ghcr.io/a/b:1').containsDigest()",
        "cel.bind(c, object.spec.containers[0], c.name == 'executor')",
        "object.spec.?nodeSelector.orValue({}).size() == 0",
        "math.round(2.5) == 3.0 && base64.encode(b'a') == 'YQ=='",
        "object.spec.securityContext.runAsUser == 10001",
    ],
)
def test_kubernetes_cel_library(write_policy, expr):
    res = one(write_policy, "validations:\n  - expression: " + repr(expr).replace("\\'", "''") + "\n")
    assert res.status == "pass", res.message


def test_quantity_errors_are_errors(write_policy):
    res = one(write_policy, "validations:\n  - expression: quantity('lots').sign() == 1\n")
    assert res.status == "error" and "quantit" in res.message


def test_numbers_as_float_like_kyverno_cli(tmp_path: Path, write_policy):
    path = write_policy(
        PODS_RULE + "validations:\n  - expression: type(object.spec.securityContext.runAsUser) == double\n"
    )
    assert load_policies([path], numbers_as_float=True).evaluate(o.pod())[0].status == "pass"
    assert load_policies([path]).evaluate(o.pod())[0].status == "fail"  # admission keeps int64


def test_compiled_once(write_policy):
    from generator.policy import cel_env

    load_policies([POLICIES])
    before = len(cel_env._cache)
    load_policies([POLICIES])
    assert len(cel_env._cache) == before
