"""User mistakes give one clear message (and exit 2 from the CLI), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from policy_helpers import PODS_RULE

from generator.policy import PolicyError, load_policies
from generator.policy.commands import policy

OK = PODS_RULE + "validations:\n  - expression: 'true'\n"


def err(paths) -> str:
    with pytest.raises(PolicyError) as exc:
        load_policies(paths)
    return str(exc.value)


def test_unknown_spec_field_names_file_and_field(write_policy):
    path = write_policy(OK + "validationActionz: [Deny]\n")
    msg = err([path])
    assert str(path) in msg and "spec.validationActionz" in msg and "unknown field" in msg


def test_unknown_nested_field(write_policy):
    path = write_policy(OK.replace("operations:", "operationz:"))
    assert "spec.matchConstraints.resourceRules[0].operationz: unknown field" in err([path])


def test_bad_api_version_and_values(write_policy):
    assert "unsupported 'policies.kyverno.io/v2'" in err([write_policy(OK, api_version="policies.kyverno.io/v2")])
    assert "spec.failurePolicy" in err([write_policy(OK + "failurePolicy: Sometimes\n", "f")])
    assert "unknown action 'Block'" in err([write_policy(OK + "validationActions: [Block]\n", "a")])
    assert "spec.matchConstraints: required" in err([write_policy("validations: []\n", "m")])


@pytest.mark.parametrize("version", ["v1", "v1beta1", "v1alpha1"])
def test_all_versions_load(write_policy, version):
    ps = load_policies([write_policy(OK, api_version=f"policies.kyverno.io/{version}")])
    assert ps.names == ["p"]


def test_bad_yaml_and_missing_file(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: ValidatingPolicy\n  spec: [\n")
    assert "invalid YAML" in err([bad])
    assert "no such file or directory" in err([tmp_path / "nope.yaml"])
    other = tmp_path / "cm.yaml"
    other.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert "no ValidatingPolicy found" in err([other])


def test_duplicate_policy_names(tmp_path: Path, write_policy):
    a = write_policy(OK)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "again.yaml").write_text(a.read_text())
    assert "already defined" in err([tmp_path])


def test_bad_cel_names_policy_expression_and_position(write_policy):
    path = write_policy(PODS_RULE + "validations:\n  - expression: object.spec.containers.all(c, c.name ==)\n")
    msg = err([path])
    assert "policy 'p'" in msg and "spec.validations[0].expression" in msg
    assert "object.spec.containers.all(c, c.name ==)" in msg
    assert "at 1:" in msg  # line:column from the CEL parser
    msg = err([write_policy(PODS_RULE + "validations:\n  - expression: nosuchfn(object)\n", "u")])
    assert "undeclared reference to 'nosuchfn'" in msg


def test_cli_usage_errors_exit_2(tmp_path: Path, write_policy):
    bad = write_policy(PODS_RULE + "validations:\n  - expression: '1 +'\n")
    manifest = tmp_path / "m.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: []}\n")
    result = CliRunner().invoke(policy, ["apply", "-p", str(bad), "-r", str(manifest)])
    assert result.exit_code == 2 and "CEL compile error" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(policy, ["apply", "-p", str(tmp_path / "missing"), "-r", str(manifest)])
    assert result.exit_code == 2 and "no such file or directory" in result.output
    result = CliRunner().invoke(policy, ["test", str(tmp_path / "missing")])
    assert result.exit_code == 2


def test_kyverno_test_file_is_strict(tmp_path: Path, write_policy):
    # A broken test file is reported (exit 1 at the end, as `kyverno test`), not a usage error.
    write_policy(OK)
    test = tmp_path / "kyverno-test.yaml"
    test.write_text("apiVersion: cli.kyverno.io/v1alpha1\nkind: Test\npolicies: [p.yaml]\nresourcez: []\n")
    result = CliRunner().invoke(policy, ["test", str(tmp_path)])
    assert result.exit_code == 1 and "resourcez: unknown field" in result.output
    test.write_text(
        "apiVersion: cli.kyverno.io/v1alpha1\nkind: Test\npolicies: [p.yaml]\n"
        "results: [{policy: p, resources: [a], result: pass, verdict: x}]\n"
    )
    result = CliRunner().invoke(policy, ["test", str(tmp_path)])
    assert result.exit_code == 1 and "results[0].verdict: unknown field" in result.output
    test.write_text("apiVersion: cli.kyverno.io/v1alpha1\nkind: Test\npolicies: [missing.yaml]\n")
    result = CliRunner().invoke(policy, ["test", str(tmp_path)])
    assert result.exit_code == 1 and "missing.yaml: no such file" in result.output
