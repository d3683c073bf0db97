"""`stratops policy test DIR`: every folder is run and reported, errors do not stop the run, the exit code
comes at the end; --json and --junit reports; context:, userinfo: and exceptions: in test files."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from xml.etree import ElementTree as ET

from click.testing import CliRunner
from policy_helpers import PODS_RULE, policy_yaml

from generator.policy.commands import policy

POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}, labels: {{app: web}}}}
spec:
  containers: [{{name: app, image: nginx}}]
"""


def folder(
    root: Path, name: str, spec: str, results: str, extra: str = "", files: dict[str, str] | None = None
) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "policy.yaml").write_text(policy_yaml(name, PODS_RULE + textwrap.dedent(spec)))
    pods = [POD.format(name="good", ns="default"), POD.format(name="bad", ns="team")]
    (d / "resources.yaml").write_text("---".join(pods))
    for fname, text in (files or {}).items():
        (d / fname).write_text(textwrap.dedent(text))
    (d / "kyverno-test.yaml").write_text(
        "apiVersion: cli.kyverno.io/v1alpha1\nkind: Test\nmetadata: {name: " + name + "}\n"
        "policies: [policy.yaml]\nresources: [resources.yaml]\n"
        + textwrap.dedent(extra)
        + "results:\n"
        + textwrap.indent(textwrap.dedent(results), "")
    )
    return d


NS_RULE = """
validations:
  - expression: "object.metadata.namespace == 'default'"
"""


def test_all_folders_run_and_exit_code_comes_last(tmp_path: Path):
    folder(
        tmp_path,
        "a-broken",
        "validations:\n  - expression: 'object.nosuch('\n",
        "- {policy: a-broken, resources: [good], result: pass}\n",
    )
    folder(tmp_path, "b-mismatch", NS_RULE, "- {policy: b-mismatch, resources: [bad], result: pass}\n")
    folder(
        tmp_path,
        "c-fine",
        NS_RULE,
        "- {policy: c-fine, resources: [good], result: pass}\n- {policy: c-fine, resources: [bad], result: fail}\n",
    )
    result = CliRunner().invoke(policy, ["test", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "CEL compile error" in result.output  # a-broken reported...
    assert "Want pass, got fail" in result.output  # ...and b-mismatch, c-fine still ran
    assert result.output.count("Loading test") == 3
    assert "Test Summary: 2 tests passed and 2 tests failed" in result.output


def test_json_and_junit_reports(tmp_path: Path):
    folder(
        tmp_path / "t",
        "c-fine",
        NS_RULE,
        "- {policy: c-fine, resources: [good], result: pass}\n- {policy: c-fine, resources: [bad], result: pass}\n",
    )
    folder(
        tmp_path / "t",
        "d-broken",
        "validations: [{expression: '[1, \"a\"].size() > 0'}]\n",
        "- {policy: d-broken, resources: [good], result: pass}\n",
    )
    junit = tmp_path / "report.xml"
    result = CliRunner().invoke(policy, ["test", str(tmp_path / "t"), "--json", "--junit", str(junit)])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert (report["passed"], report["failed"]) == (1, 2)
    fine, broken = report["tests"]
    assert [r["RESULT"] for r in fine["results"]] == ["Pass", "Fail"]
    assert fine["results"][1]["RESOURCE"] == "v1/Pod/team/bad"
    assert "does not match previous type" in broken["error"]
    root = ET.parse(junit).getroot()
    assert root.get("tests") == "2" and root.get("failures") == "2"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["c-fine", "d-broken"]
    assert suites[0].findall("testcase")[1].find("failure").get("message").startswith("Want pass, got fail")
    assert suites[1].find("error") is not None


def test_context_userinfo_and_exceptions(tmp_path: Path):
    spec = """
    variables:
      - name: cm
        expression: "resource.Get('v1', 'configmaps', 'default', 'allowed')"
    validations:
      - expression: "object.metadata.name in variables.cm.data.names.split(',')"
      - expression: "request.userInfo.username == 'alice'"
    """
    context = """
    apiVersion: cli.kyverno.io/v1alpha1
    kind: Context
    metadata: {name: c}
    spec:
      resources:
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: allowed, namespace: default}, data: {names: 'good,other'}}
    """
    user = """
    apiVersion: cli.kyverno.io/v1alpha1
    kind: UserInfo
    metadata: {name: u}
    userInfo: {username: alice}
    """
    exception = """
    apiVersion: policies.kyverno.io/v1
    kind: PolicyException
    metadata: {name: team-ok}
    spec:
      policyRefs: [{name: ctx, kind: ValidatingPolicy}]
      matchConditions: [{name: team, expression: "object.metadata.namespace == 'team'"}]
    """
    files = {"context.yaml": context, "user.yaml": user, "exception.yaml": exception}
    extra = "context: context.yaml\nuserinfo: user.yaml\nexceptions: [exception.yaml]\n"
    folder(
        tmp_path,
        "ctx",
        spec,
        "- {policy: ctx, resources: [good], result: pass}\n- {policy: ctx, resources: [bad], result: skip}\n",
        extra,
        files,
    )
    result = CliRunner().invoke(policy, ["test", str(tmp_path)])
    assert result.exit_code == 0, result.output
    # without the user the second validation fails: userinfo is not ignored
    (tmp_path / "ctx" / "user.yaml").write_text(textwrap.dedent(user).replace("alice", "mallory"))
    result = CliRunner().invoke(policy, ["test", str(tmp_path)])
    assert result.exit_code == 1 and "Want pass, got fail" in result.output
    # without the context, resource.Get is an error naming the function, not a silent default
    (tmp_path / "ctx" / "kyverno-test.yaml").write_text(
        (tmp_path / "ctx" / "kyverno-test.yaml").read_text().replace("context: context.yaml\n", "")
    )
    result = CliRunner().invoke(policy, ["test", str(tmp_path)])
    assert "resource.Get is not available offline" in result.output


def test_unsupported_test_fields_are_named(tmp_path: Path):
    folder(tmp_path, "j", NS_RULE, "- {policy: j, resources: [good], result: pass}\n", "jsonPayloads: [p.json]\n")
    result = CliRunner().invoke(policy, ["test", str(tmp_path)])
    assert result.exit_code == 1
    assert "jsonPayloads: is not supported by the offline engine" in result.output
